"""A programme plan on the demo province: the options' invariants (satellite
only where cheaper per household than every terrestrial option covering the
village, solar sized by hand), and the plan's (every village once, cost
shares adding up to the plan's present value, re-audit equal per year)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deadzone.errors import ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.plan import make_plan, parse_target, reaudit_years
from deadzone.geo.plan_options import plan_options
from deadzone.geo.sites import candidate_sites
from deadzone.geo.whatif import EngineParams
from deadzone.model.plan_costs import PlanCosts
from tests.conftest import demo_villages_only

pytestmark = pytest.mark.slow

PARAMS = EngineParams(model="itm", radius_km=15.0)


@pytest.fixture(scope="module")
def demo():  # noqa: ANN201
    sc = demo_villages_only(0)
    base = audit(sc, params=PARAMS, rasters=False)
    cands = candidate_sites(sc, baseline=base, max_auto=60)
    opts = plan_options(sc, base, cands, params=PARAMS)
    return sc, base, opts


def test_satellite_only_where_cheaper_per_household(demo) -> None:  # noqa: ANN001
    _, base, opts = demo
    tab = opts.table
    hh = np.maximum(base.villages["households"].to_numpy(float)[opts.target_index], 1.0)
    terr = np.flatnonzero(tab["kind"].to_numpy() != "satellite")
    cov = opts.cover
    covered_hh = cov[terr].astype(float) @ hh
    per_hh = tab["npv_vnd"].to_numpy()[terr] / covered_hh
    sats = np.flatnonzero(tab["kind"].to_numpy() == "satellite")
    assert sats.size > 0
    for o in sats:
        (k,) = cov[o].indices
        assert tab["village_id"].iloc[o] == base.villages["village_id"].iloc[opts.target_index[k]]
        over = terr[cov[terr][:, k].toarray().ravel()]
        sat_per_hh = tab["npv_vnd"].iloc[o] / hh[k]
        for j in over:
            assert sat_per_hh < per_hh[np.searchsorted(terr, j)]


def test_solar_sized_as_the_hand_calculation(demo) -> None:  # noqa: ANN001
    _, _, opts = demo
    solar = opts.table[opts.table["power_option"] == "solar"]
    assert len(solar)
    ops = PlanCosts().operations
    for _, r in solar.iterrows():
        load = {"macro": ops.macro_load_w, "small_cell": ops.small_cell_load_w}[r["kind"]]
        e = load * 24 / 1000  # kWh/day
        assert r["pv_kwp"] == pytest.approx(e / (3.6 * 0.75))
        assert r["battery_kwh"] == pytest.approx(e * 2 / (0.8 * 0.95))
    # the 1.2 kW macro site: 28.8 kWh/day -> 10.667 kWp and 75.79 kWh
    macro = solar[solar["kind"] == "macro"]
    if len(macro):
        assert macro["pv_kwp"].iloc[0] == pytest.approx(10.6667, abs=1e-4)
        assert macro["battery_kwh"].iloc[0] == pytest.approx(75.789, abs=1e-3)


def test_budget_plan_reaudits_equal_and_adds_up(demo) -> None:  # noqa: ANN001
    sc, base, opts = demo
    res = make_plan(base, opts, years=3, start_year=2027, budget_per_year_vnd=20e9,
                    objective="households", time_limit_s=10)
    v = res.villages
    assert list(v["village_id"]) == list(base.villages["village_id"])  # every village once
    assert (res.years["spend_vnd"] <= 20e9 * (1 + 1e-9)).all()
    assert v["npv_share_vnd"].sum() == pytest.approx(res.solution.npv_vnd, rel=1e-9)
    assert res.sites["npv_vnd"].sum() == pytest.approx(res.solution.npv_vnd, rel=1e-9)
    assert reaudit_years(sc, res, params=PARAMS) == list(res.years["covered_villages_predicted"])
    planned = v[v["option_id"] != ""]
    assert planned["status_now"].isin(["dead", "marginal"]).all()
    assert (v.loc[v["status_now"] == "covered", "plan_note"] == "already covered").all()
    left = v[v["status_now"].isin(["dead", "marginal"]) & (v["option_id"] == "")]
    assert left["plan_note"].str.len().gt(0).all()
    y = res.years
    assert y["connected_cumulative"].iloc[-1] == len(planned)
    assert y["connected_new"].sum() == len(planned)
    assert (y["mobile_cumulative"] + y["satellite_cumulative"] == y["connected_cumulative"]).all()
    # a village's year is its option's build year
    built = dict(zip(res.sites["option_id"], res.sites["year"], strict=True))
    assert all(built[o] == yr for o, yr in zip(planned["option_id"], planned["year"],
                                                strict=True))
    line = res.summary_lines()[0]
    assert line.startswith(f"by 2029: {len(planned):,}/{opts.target_index.size:,} dead-zone "
                           "villages connected")


def test_target_plan_connects_all_at_least_cost(demo) -> None:  # noqa: ANN001
    _, base, opts = demo
    res = make_plan(base, opts, start_year=2027, target="all by 2028", time_limit_s=10)
    assert res.summary["target_met"] is True
    assert res.years["connected_cumulative"].iloc[-1] == opts.target_index.size
    greedy = make_plan(base, opts, start_year=2027, target="all by 2028", solver="greedy")
    assert res.solution.npv_vnd <= greedy.solution.npv_vnd * (1 + 1e-9)
    assert math.isfinite(res.summary["npv_per_household_vnd"])


def test_parse_target() -> None:
    assert parse_target("all by 2030", n_targets=40, start_year=2027) == (2030, 40)
    assert parse_target("90% by 2029", n_targets=40, start_year=2027) == (2029, 36)
    assert parse_target("12 by 2027", n_targets=40, start_year=2027) == (2027, 12)
    for bad, msg in [("all in 2030", "expected 'all by YEAR'"), ("all by 2026", "before"),
                     ("120% by 2030", r"\(0, 100\]"), ("41 by 2030", "only 40"),
                     ("most by 2030", "expected 'all'")]:
        with pytest.raises(ParameterError, match=msg):
            parse_target(bad, n_targets=40, start_year=2027)


def test_nothing_to_plan_when_every_village_is_covered() -> None:
    from tests.conftest import small_scenario

    sc = small_scenario()  # a tower between two villages 2 km away on flat ground
    p = EngineParams(model="fspl", radius_km=5.0)
    base = audit(sc, params=p, rasters=False)
    assert (base.villages["status"] == "covered").all()
    opts = plan_options(sc, base, candidate_sites(sc, baseline=base), params=p)
    assert opts.n == 0 and opts.target_index.size == 0
    for kw in ({"budget_per_year_vnd": 1e9}, {"target": "all by 2028"}):
        res = make_plan(base, opts, start_year=2027, years=2, **kw)
        assert res.summary["connected"] == 0 == res.summary["dead_zone_villages"]
        assert (res.villages["plan_note"] == "already covered").all()
        assert res.summary_lines()[0].startswith("by 2028: 0/0 dead-zone villages connected")
        assert reaudit_years(sc, res, params=p) == [2, 2]
