"""Site optimizer: backhaul rules, solvers, and predicted == re-audited coverage."""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from deadzone.errors import DeadzoneWarning, ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams, compute_coverage
from deadzone.geo.placement import (
    CostModel,
    PlacementProblem,
    candidate_sites,
    fresnel_clearance,
    optimize,
    site_costs,
    solve_greedy,
    solve_milp,
)
from deadzone.geo.sites import candidate_towers
from tests.conftest import X0, Y0, shared_file, small_scenario

PARAMS = EngineParams(model="knife", radius_km=3.0)


def _pts(xy: list[tuple[float, float]], crs) -> gpd.GeoSeries:  # noqa: ANN001
    return gpd.GeoSeries([Point(X0 + a, Y0 - b) for a, b in xy], crs=crs).to_crs(4326)


# --------------------------------------------------------------------------- backhaul


def _ridge_scenario():
    """Flat 300x300 grid at 30 m with a 400 m wall along column 150 (rows 0-179)."""
    z = np.full((300, 300), 100.0, dtype=np.float32)
    z[:180, 148:152] = 500.0
    s = small_scenario(z=z, towers=[])
    crs = s.dem.crs
    # Fiber node on the west side; a road from it south around the wall's end
    # and back north on the east side.
    s.backbone = gpd.GeoDataFrame(
        {"node_id": ["FN1"], "name": ["Nút quang"]},
        geometry=_pts([(1500.0, 3000.0)], crs),
        crs=4326,
    )
    road = LineString(
        [
            (X0 + 1500, Y0 - 3000),
            (X0 + 1500, Y0 - 5700),
            (X0 + 7500, Y0 - 5700),
            (X0 + 7500, Y0 - 3000),
        ]
    )
    s.roads = gpd.GeoDataFrame(
        {"road_id": ["R1"], "road_class": ["provincial"]}, geometry=[road], crs=crs
    ).to_crs(4326)
    return s


def test_fresnel_clearance_flat_and_blocked() -> None:
    s = _ridge_scenario()
    dem = s.dem
    west = (X0 + 1500.0, Y0 - 1500.0)
    west2 = (X0 + 3000.0, Y0 - 4500.0)
    east = (X0 + 7500.0, Y0 - 3000.0)
    # 2.7 km over flat ground between 30 m masts: wide clearance (F1 ~ 5 m at 8 GHz)
    assert fresnel_clearance(dem, west, 30.0, west2, 30.0, freq_ghz=8.0) > 2.0
    # across the 400 m wall: blocked
    assert fresnel_clearance(dem, west, 30.0, east, 30.0, freq_ghz=8.0) < 0.0
    # masts taller than the wall clear it
    assert fresnel_clearance(dem, west, 500.0, east, 500.0, freq_ghz=8.0) > 0.6


def test_backhaul_microwave_in_sight_fiber_spur_behind_ridge() -> None:
    s = _ridge_scenario()
    cands = candidate_sites(
        s,
        user=gpd.GeoDataFrame(
            {"candidate_id": ["W", "E"]},
            geometry=_pts([(3000.0, 3000.0), (7500.0, 3300.0)], s.dem.crs),
            crs=4326,
        ),
        peaks=False,
        near_dead=False,
        commune_centres=False,
        existing=False,
    )
    cm = CostModel()
    table, bh = site_costs(s, cands, costs=cm)
    w, e = 0, 1
    assert table.loc[w, "backhaul_anchor"] == "microwave"
    assert table.loc[w, "backhaul_to"] == "backbone:FN1"
    assert table.loc[w, "backhaul_vnd"] == cm.microwave_hop_vnd
    # East of the wall there is no line of sight: fiber along the road,
    # 2.7 + 6.0 + 2.4 km of road (the site stands on the road), cheaper than
    # trenching 6 km straight across the wall.
    assert table.loc[e, "backhaul_anchor"] == "fiber"
    assert table.loc[e, "backhaul_to"] == "backbone:FN1"
    assert table.loc[e, "backhaul_length_m"] == pytest.approx(11_100, rel=0.01)
    assert table.loc[e, "backhaul_vnd"] == pytest.approx(11.1 * cm.fiber_vnd_per_km, rel=0.01)
    # W and E cannot relay to each other across the wall
    assert bh.relay_neighbours[w] == [] and bh.relay_neighbours[e] == []
    # Without roads the spur is the straight line x detour factor
    s.roads = None
    table2, _ = site_costs(s, cands, costs=cm)
    d = math.hypot(6000.0, 300.0)
    assert table2.loc[e, "backhaul_length_m"] == pytest.approx(
        d * cm.offroad_detour_factor, rel=0.01
    )


def test_power_grid_or_solar() -> None:
    s = small_scenario(villages=[(1500.0, 1500.0)], towers=[])
    s.villages["has_grid_power"] = [True]
    cands = candidate_sites(
        s,
        user=gpd.GeoDataFrame(
            geometry=_pts([(1600.0, 1500.0), (8000.0, 8000.0)], s.dem.crs), crs=4326
        ),
        peaks=False,
        near_dead=False,
        commune_centres=False,
        existing=False,
    )
    cm = CostModel()
    table, _ = site_costs(s, cands, costs=cm)
    assert list(table["power_option"]) == ["grid", "solar"]
    assert table.loc[0, "power_vnd"] == pytest.approx(
        0.1 * cm.grid_line_vnd_per_km + cm.grid_connection_vnd, rel=0.01
    )
    assert table.loc[1, "power_vnd"] == cm.solar_vnd


# --------------------------------------------------------------------------- solvers


def _feasible(prob: PlacementProblem, k: int | None):  # noqa: ANN202
    """Every selection of at most ``k`` sites with its cheapest backhaul (exhaustive)."""
    sel = [j for j in range(prob.n) if prob.selectable[j]]
    for r in range(len(sel) + 1):
        if k is not None and r > k:
            break
        for combo in itertools.combinations(sel, r):
            modes = _best_modes(prob, combo)
            if modes is not None:
                yield combo, modes


def _brute(prob: PlacementProblem, k: int | None, vnd: float | None) -> float:
    return max((prob.value(list(c)) for c, m in _feasible(prob, k)
                if vnd is None or prob.cost(m) <= vnd + 1e-6), default=0.0)


def _cheapest_at(prob: PlacementProblem, k: int | None, vnd: float | None, value: float) -> float:
    """Least cost of a feasible selection covering at least ``value`` (exhaustive)."""
    costs = [prob.cost(m) for c, m in _feasible(prob, k)
             if prob.value(list(c)) >= value - 1e-9]
    return min((c for c in costs if vnd is None or c <= vnd + 1e-6), default=math.inf)


def _check_cheapest_and_no_idle_site(prob, sol, greedy, k, vnd) -> None:  # noqa: ANN001
    """Equal objectives go to the cheaper plan; no chosen site adds nothing."""
    cost = prob.cost(sol.modes)
    assert cost == pytest.approx(_cheapest_at(prob, k, vnd, sol.value), abs=1e-9)
    if sol.value == greedy.value:
        assert cost <= prob.cost(greedy.modes) + 1e-9
    for j in sol.chosen:
        hub = any(m == "relay" and h == j for i, (m, h) in sol.modes.items() if i != j)
        assert hub or prob.value([i for i in sol.chosen if i != j]) < sol.value, (j, sol)


def _best_modes(prob: PlacementProblem, combo: tuple[int, ...]):  # noqa: ANN202
    """Cheapest feasible backhaul assignment of a selection (exhaustive)."""
    best, best_cost = None, math.inf
    for anchored in itertools.product([False, True], repeat=len(combo)):
        a = {j for j, f in zip(combo, anchored, strict=True) if f}
        modes = {}
        for j in combo:
            if j in a:
                if not math.isfinite(prob.anchor_vnd[j]):
                    break
                modes[j] = ("anchor", -1)
            else:
                via = [k for k in prob.neighbours[j] if k in a]
                if not via:
                    break
                modes[j] = ("relay", via[0])
        else:
            c = prob.cost(modes)
            if c < best_cost:
                best, best_cost = modes, c
    return best


@st.composite
def problems(draw):  # noqa: ANN001, ANN201
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 10))
    dense = np.array(draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))).reshape(n, m)
    w = np.array(draw(st.lists(st.integers(1, 9), min_size=m, max_size=m)), dtype=float)
    base = np.array(draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)), dtype=float)
    anchor = np.array(
        draw(st.lists(st.sampled_from([0.0, 1.0, 3.0, math.inf]), min_size=n, max_size=n))
    )
    nb = [[k for k in range(n) if k != j and draw(st.booleans())] for j in range(n)]
    sym = [sorted(set(nb[j]) | {k for k in range(n) if j in nb[k]}) for j in range(n)]
    return PlacementProblem(sp.csr_matrix(dense), w, base, anchor, 1.0, sym, np.ones(n, dtype=bool))


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 4))
def test_milp_is_optimal_and_never_below_greedy_towers(prob, k) -> None:
    g = solve_greedy(prob, budget_towers=k)
    m = solve_milp(prob, budget_towers=k, time_limit_s=10)
    assert len(g.chosen) <= k and len(m.chosen) <= k
    assert math.isfinite(prob.cost(g.modes)) and math.isfinite(prob.cost(m.modes))
    assert m.value >= g.value
    assert m.value == pytest.approx(_brute(prob, k, None))
    assert m.gap == pytest.approx(0.0, abs=1e-9)
    _check_cheapest_and_no_idle_site(prob, m, g, k, None)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 15))
def test_milp_is_optimal_and_never_below_greedy_money(prob, vnd) -> None:
    g = solve_greedy(prob, budget_vnd=float(vnd))
    m = solve_milp(prob, budget_vnd=float(vnd), time_limit_s=10)
    assert prob.cost(g.modes) <= vnd + 1e-9 and prob.cost(m.modes) <= vnd + 1e-9
    assert m.value >= g.value
    assert m.value == pytest.approx(_brute(prob, None, float(vnd)))
    _check_cheapest_and_no_idle_site(prob, m, g, None, float(vnd))


def test_milp_buys_no_site_that_adds_nothing() -> None:
    """Issue 16: MILP picked 3 sites for what greedy reached with 1 (a site
    covering nothing, another adding nothing).  Site 0 and 2 cover the same
    village, site 1 nothing; the plan is {0, 3}, the cheapest of value 110."""
    dense = np.array([[1, 0], [0, 0], [1, 0], [0, 1]], dtype=bool)
    prob = PlacementProblem(sp.csr_matrix(dense), np.array([100.0, 10.0]),
                            np.array([1.0, 1.0, 3.0, 2.0]), np.zeros(4), 1.0,
                            [[], [], [], []], np.ones(4, dtype=bool))
    for kw in ({"budget_towers": 4}, {"budget_vnd": 10.0}):
        m = solve_milp(prob, time_limit_s=10, **kw)
        assert sorted(m.chosen) == [0, 3], m
        assert m.value == 110.0 and prob.cost(m.modes) == 3.0


def test_relay_needs_an_anchored_chosen_neighbour() -> None:
    # site 1 covers the most but has no backhaul of its own; it can relay via 0.
    cover = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=bool))
    w = np.array([1.0, 10.0, 5.0])
    prob = PlacementProblem(
        cover,
        w,
        np.ones(3),
        np.array([0.0, math.inf, 0.0]),
        1.0,
        [[1], [0], []],
        np.ones(3, dtype=bool),
    )
    for solve in (solve_greedy, solve_milp):
        one = solve(prob, budget_towers=1)
        assert one.chosen == [2] and one.value == 5.0
        two = solve(prob, budget_towers=2)
        assert sorted(two.chosen) == [0, 1] and two.value == 16.0
        assert two.modes[1] == ("relay", 0) and two.modes[0] == ("anchor", -1)


def test_budget_arguments_checked() -> None:
    prob = PlacementProblem(
        sp.csr_matrix((1, 1), dtype=bool),
        np.ones(1),
        np.ones(1),
        np.zeros(1),
        1.0,
        [[]],
        np.ones(1, dtype=bool),
    )
    with pytest.raises(ParameterError, match="exactly one"):
        solve_greedy(prob)
    with pytest.raises(ParameterError, match="exactly one"):
        solve_milp(prob, budget_towers=1, budget_vnd=1.0)


# --------------------------------------------------------------------------- end to end


def _village_grid():
    rng = np.random.default_rng(3)
    z = (100.0 + 40.0 * rng.random((200, 200))).astype(np.float32)
    z[:, 95:100] += 250.0  # a ridge that shadows the east from the west tower
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(40, 2))]
    return small_scenario(z=z, villages=vil, towers=[{"x": 1200.0, "y": 1500.0}])


def _reaudit_count(scen, res) -> int:  # noqa: ANN001
    import pandas as pd

    new = candidate_towers(
        res.candidates.set_index("candidate_id").loc[res.sites["candidate_id"]].reset_index()
    )
    towers = gpd.GeoDataFrame(
        pd.concat([scen.towers, new], ignore_index=True), geometry="geometry", crs=4326
    )
    cov = compute_coverage(scen.dem, towers, model=PARAMS.model, radius_km=PARAMS.radius_km)
    s2 = type(scen)(dem=scen.dem, communes=scen.communes, villages=scen.villages, towers=towers)
    return int(audit(s2, coverage=cov).summary["villages_covered"])


@pytest.mark.parametrize(
    ("solver", "budget"),
    [
        ("greedy", {"budget_towers": 3}),
        ("milp", {"budget_towers": 3}),
        ("milp", {"budget_vnd": 6e9}),
    ],
)
def test_predicted_equals_reaudited(solver, budget) -> None:
    scen = _village_grid()
    res = optimize(
        scen,
        objective="villages",
        solver=solver,
        params=PARAMS,
        candidate_options={"min_spacing_m": 800.0, "max_auto": 40},
        **budget,
    )
    assert res.covered_after > res.covered_before
    assert _reaudit_count(scen, res) == res.covered_after
    if "budget_vnd" in budget:
        assert res.sites["total_vnd"].sum() <= budget["budget_vnd"]
        assert res.solution.cost_vnd == pytest.approx(res.sites["total_vnd"].sum())
    # every chosen site lists the target villages it covers
    assert (res.sites["villages_covered"] > 0).all()
    assert res.sites["new_villages"].sum() == res.covered_after - res.covered_before
    line = res.summary_lines()[0]
    assert line == (f"covered villages: {res.covered_before}/40 → {res.covered_after}/40")


def test_candidates_spacing_exclusion_and_sources() -> None:
    scen = _village_grid()
    base = audit(scen, model=PARAMS.model, radius_km=PARAMS.radius_km)
    no_build = gpd.GeoDataFrame(
        geometry=[box(X0, Y0 - 6000, X0 + 3000, Y0)], crs=scen.dem.crs
    ).to_crs(4326)
    c = candidate_sites(scen, baseline=base, exclude=no_build, min_spacing_m=900.0, max_auto=50)
    assert set(c["source"]) >= {"near_dead", "upgrade"}
    assert set(c["source"]) & {"peak", "ridge"}
    assert c["candidate_id"].is_unique
    auto = c[c["source"] != "upgrade"].to_crs(scen.dem.crs)
    xy = np.column_stack([auto.geometry.x, auto.geometry.y])
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert d.min() >= 900.0
    west = c.to_crs(scen.dem.crs).geometry.x < X0 + 3000
    assert (c.loc[west, "status"] == "excluded").all()
    assert (c.loc[~west, "status"] == "ok").all()
    # an excluded candidate is never chosen
    res = optimize(
        scen, budget_towers=5, objective="population", params=PARAMS, candidates=c, baseline=base
    )
    assert set(res.sites["candidate_id"]).isdisjoint(set(c.loc[west, "candidate_id"]))


def test_real_srtm_tile(shared_data: Path) -> None:
    """A 15 km box of the real SRTM tile with OSM settlements: prediction == re-audit."""
    import pandas as pd

    from deadzone.data.loaders import assign_communes, load_communes, load_dem
    from deadzone.model.scenario import Scenario

    bounds = (105.15, 21.75, 105.30, 21.90)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        dem = load_dem(shared_file(shared_data, "srtm3/N21E105.hgt"), bounds_lonlat=bounds)
        communes = load_communes(
            shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg"), bbox=bounds
        )
        s = gpd.read_file(
            shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson"), bbox=bounds
        )
        s = s[
            s.geometry.x.between(bounds[0], bounds[2]) & s.geometry.y.between(bounds[1], bounds[3])
        ]
        villages = gpd.GeoDataFrame(
            {
                "village_id": [f"OSM{i}" for i in range(len(s))],
                "name": s.get("name", pd.Series([""] * len(s))).fillna("").astype(str).to_numpy(),
                "commune_id": "",
                "population": 200,
                "households": 45,
            },
            geometry=s.geometry.to_numpy(),
            crs=4326,
        )
        villages = assign_communes(villages, communes)
    assert len(villages) >= 10
    at = villages.geometry.iloc[[0, len(villages) // 2]]  # two towers in settlements
    towers = gpd.GeoDataFrame(
        {
            "tower_id": ["T0", "T1"],
            "tech": "4G",
            "freq_mhz": 1800.0,
            "eirp_dbm": 61.0,
            "height_m": 30.0,
            "azimuth_deg": np.nan,
            "beamwidth_deg": np.nan,
            "tilt_deg": 0.0,
        },
        geometry=at.to_numpy(),
        crs=4326,
    )
    scen = Scenario(dem=dem, communes=communes, villages=villages, towers=towers, name="real")
    res = optimize(
        scen,
        budget_towers=3,
        objective="villages",
        solver="milp",
        params=PARAMS,
        candidate_options={"max_auto": 40},
    )
    assert res.covered_after > res.covered_before
    assert res.solution.value == res.covered_after - res.covered_before
    assert _reaudit_count(scen, res) == res.covered_after


def test_milp_keeps_greedy_when_the_solver_stops_without_a_better_answer(monkeypatch) -> None:
    import scipy.optimize
    from scipy.optimize import OptimizeResult

    rng = np.random.default_rng(0)
    cover = sp.csr_matrix(rng.random((12, 30)) < 0.2)
    prob = PlacementProblem(
        cover,
        rng.integers(1, 9, 30).astype(float),
        np.ones(12),
        np.zeros(12),
        1.0,
        [[] for _ in range(12)],
        np.ones(12, dtype=bool),
    )
    g = solve_greedy(prob, budget_towers=3)

    def stopped(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        return OptimizeResult(
            status=1,
            x=None,
            message="time limit reached",
            mip_dual_bound=-(g.value + 7.0),
            success=False,
        )

    monkeypatch.setattr(scipy.optimize, "milp", stopped)
    m = solve_milp(prob, budget_towers=3, time_limit_s=1)
    assert m.chosen == g.chosen and m.value == g.value
    assert m.bound == g.value + 7.0
    assert m.gap == pytest.approx(7.0 / (g.value + 7.0))
    assert "greedy" in m.status


def test_no_fiber_site_means_no_backhaul_and_says_so() -> None:
    s = small_scenario(towers=[], villages=[(1000.0, 1000.0), (5000.0, 5000.0)])
    r = optimize(s, budget_towers=2, params=PARAMS, solver="milp")
    assert len(r.sites) == 0 and r.covered_after == r.covered_before
    assert (r.candidates["backhaul_anchor"] == "none").all()
    assert "no candidate has backhaul" in r.summary_lines()[-1]


@pytest.mark.filterwarnings("ignore:villages. 38 of 40 villages have population 0")
def test_place_says_why_it_stopped_under_budget() -> None:
    """Issue 16: with most populations 0 the population objective stopped at one
    site of five without a word; now the summary says why and what to use."""
    scen = _village_grid()
    vil = scen.villages.copy()
    pop = np.zeros(len(vil), dtype=np.int64)
    pop[:2] = 300  # two villages have people, the rest none recorded
    vil["population"] = pop
    scen = type(scen)(dem=scen.dem, communes=scen.communes, villages=vil, towers=scen.towers)
    res = optimize(scen, objective="population", solver="greedy", params=PARAMS,
                   candidate_options={"min_spacing_m": 800.0, "max_auto": 40}, budget_towers=10)
    assert len(res.sites) < 10
    lines = res.summary_lines()
    zero = next(ln for ln in lines if "count for nothing" in ln)
    assert "have population 0" in zero and "--objective villages" in zero
    stop = next(ln for ln in lines if ln.startswith("stopped after"))
    assert f"stopped after {len(res.sites)} site(s)" in stop
    res_v = optimize(scen, objective="villages", solver="greedy", params=PARAMS,
                     candidate_options={"min_spacing_m": 800.0, "max_auto": 40},
                     budget_towers=len(res.sites))
    assert not any(ln.startswith("stopped after") for ln in res_v.summary_lines())
