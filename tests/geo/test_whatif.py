"""What-if session: delta bookkeeping and equality with a from-scratch audit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.coverage import compute_coverage
from deadzone.whatif import Session
from tests.conftest import X0, Y0, small_scenario

_RNG = np.random.default_rng(7)
_Z = (100.0 + 120.0 * _RNG.random((160, 160))).astype(np.float32)
_VILLAGES = [(float(a), float(b)) for a, b in _RNG.uniform(100, 4700, size=(30, 2))]
_TOWERS = [
    {"x": 900.0, "y": 900.0},
    {"x": 3800.0, "y": 2500.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
    {"x": 2000.0, "y": 4000.0, "tech": "3G", "freq_mhz": 2100.0, "eirp_dbm": 58.0},
]
MODEL = "knife"
RADIUS_KM = 2.5


def _scenario():
    return small_scenario(z=_Z, villages=_VILLAGES, towers=_TOWERS)


@pytest.fixture(scope="module")
def scenario():
    return _scenario()


def _lonlat(scen, x_m: float, y_m: float) -> tuple[float, float]:
    import geopandas as gpd
    from shapely.geometry import Point

    p = gpd.GeoSeries([Point(X0 + x_m, Y0 - y_m)], crs=scen.dem.crs).to_crs(4326).iloc[0]
    return float(p.x), float(p.y)


def _assert_same_as_scratch(session: Session) -> None:
    scen = session.scenario_now()
    cov = compute_coverage(scen.dem, scen.towers, model=MODEL, radius_km=RADIUS_KM)
    ref = audit(scen, coverage=cov)
    got = session.coverage
    assert list(got.by_tech) == list(cov.by_tech)
    for name in ("best_dbm", "best_server", "second_dbm", "n_servers"):
        np.testing.assert_array_equal(getattr(got.rx, name), getattr(cov.rx, name))
        for t in cov.by_tech:
            np.testing.assert_array_equal(
                getattr(got.by_tech[t], name), getattr(cov.by_tech[t], name)
            )
    a = pd.DataFrame(session.result.villages.drop(columns="geometry"))
    b = pd.DataFrame(ref.villages.drop(columns="geometry"))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(session.result.communes, ref.communes)
    assert session.result.summary["villages_covered"] == ref.summary["villages_covered"]


def test_add_reports_newly_covered_villages(scenario) -> None:
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM)
    before = s.result.villages.copy()
    lon, lat = _lonlat(scenario, 2400.0, 2400.0)
    d = s.add(lon, lat, height_m=40.0, tech="2G", tower_id="NEW-A")
    after = s.result.villages
    flipped = (before["status"] != "covered") & (after["status"] == "covered")
    assert sorted(d.newly_covered["village_id"]) == sorted(after.loc[flipped, "village_id"])
    assert len(d.newly_lost) == 0
    assert d.totals_after["villages_covered"] == d.totals_before["villages_covered"] + len(
        d.newly_covered
    )
    assert d.totals_after["population_covered"] - d.totals_before["population_covered"] == int(
        d.newly_covered["population"].sum()
    )
    # per-commune changes add up to the total change
    assert d.communes["villages_covered_change"].sum() == len(d.newly_covered)
    assert set(d.communes["name"]) <= set(scenario.communes["name"])
    line = d.summary_lines()[0]
    assert line.startswith("covered villages: ") and " → " in line
    assert "NEW-A" in list(s.towers["tower_id"])
    _assert_same_as_scratch(s)
    # removing it again restores the initial statuses exactly
    d2 = s.remove("NEW-A")
    assert sorted(d2.newly_lost["village_id"]) == sorted(d.newly_covered["village_id"])
    assert list(s.result.villages["status"]) == list(before["status"])


def test_bad_edits_raise(scenario) -> None:
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM)
    with pytest.raises(ParameterError, match="no tower"):
        s.remove("nope")
    with pytest.raises(ParameterError, match="cannot edit"):
        s.edit("T0", colour="red")
    with pytest.raises(ParameterError, match="outside the DEM"):
        s.add(0.0, 0.0, height_m=30.0)
    with pytest.raises(ParameterError, match="already exists"):
        s.add(*_lonlat(scenario, 100.0, 100.0), height_m=30.0, tower_id="T1")
    _assert_same_as_scratch(s)


_edit = st.one_of(
    st.tuples(
        st.just("add"),
        st.floats(100, 4700),
        st.floats(100, 4700),
        st.floats(10, 60),
        st.sampled_from(["2G", "4G", "5G"]),
    ),
    st.tuples(st.just("remove"), st.integers(0, 20)),
    st.tuples(st.just("move"), st.integers(0, 20), st.floats(100, 4700), st.floats(100, 4700)),
    st.tuples(
        st.just("edit"),
        st.integers(0, 20),
        st.floats(10, 60),
        st.floats(40, 66),
        st.sampled_from([np.nan, 0.0, 135.0]),
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_edit, min_size=1, max_size=4))
def test_any_edit_sequence_equals_from_scratch(scenario, edits) -> None:
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM)
    _apply(s, scenario, edits)
    _assert_same_as_scratch(s)


def _apply(s: Session, scenario, edits) -> None:
    for e in edits:
        ids = list(s.towers["tower_id"])
        if e[0] == "add":
            s.add(*_lonlat(scenario, e[1], e[2]), height_m=e[3], tech=e[4])
        elif not ids:
            continue
        elif e[0] == "remove":
            s.remove(ids[e[1] % len(ids)])
        elif e[0] == "move":
            s.move(ids[e[1] % len(ids)], *_lonlat(scenario, e[2], e[3]))
        else:
            az = e[4]
            s.edit(
                ids[e[1] % len(ids)],
                height_m=e[2],
                eirp_dbm=e[3],
                azimuth_deg=az,
                beamwidth_deg=np.nan if np.isnan(az) else 65.0,
            )


def test_default_model_itm_edit_matches(scenario) -> None:
    s = Session(scenario, radius_km=2.0)
    s.edit("T1", height_m=45.0, tech="5G", freq_mhz=3500.0)
    s.move("T0", *_lonlat(scenario, 3000.0, 1000.0))
    scen = s.scenario_now()
    cov = compute_coverage(scen.dem, scen.towers, radius_km=2.0)
    np.testing.assert_array_equal(s.coverage.rx.best_dbm, cov.rx.best_dbm)
    ref = audit(scen, coverage=cov)
    assert list(s.result.villages["status"]) == list(ref.villages["status"])


def test_from_no_towers_to_some_and_back() -> None:
    scen = small_scenario(z=_Z, villages=_VILLAGES, towers=[])
    s = Session(scen, model=MODEL, radius_km=RADIUS_KM)
    assert s.result.summary["villages_covered"] == 0 and list(s.coverage.by_tech) == []
    d = s.add(*_lonlat(scen, 2400.0, 2400.0), height_m=40.0, tech="3G")
    assert len(d.newly_covered) == d.totals_after["villages_covered"] > 0
    s.add(*_lonlat(scen, 800.0, 4000.0), height_m=30.0, tech="5G")
    _assert_same_as_scratch(s)
    s.remove("NEW1")
    s.remove("NEW2")
    assert s.result.summary["villages_covered"] == 0 and list(s.coverage.by_tech) == []
    assert np.isnan(s.coverage.rx.best_dbm).all()


def _random_contribs(rng, n: int, shape: tuple[int, int], offset_db: float, step_db: float):
    """Windows of random size and place, values on a ``step_db`` grid (exact ties)."""
    from deadzone.geo.footprint import _Contrib

    out = []
    for i in range(n):
        h, w = int(rng.integers(1, shape[0] + 1)), int(rng.integers(1, shape[1] + 1))
        r0, c0 = int(rng.integers(0, shape[0] - h + 1)), int(rng.integers(0, shape[1] - w + 1))
        win = (np.round(rng.uniform(-110, -80, (h, w)) / step_db) * step_db).astype(np.float32)
        # float32 neighbours: distinct windows whose metrics (minus an RSRP offset,
        # in float64) round to the same stored float32
        nudge = rng.integers(-1, 2, (h, w))
        win = np.where(nudge > 0, np.nextafter(win, np.float32(0)), win)
        win = np.where(nudge < 0, np.nextafter(win, np.float32(-np.inf)), win).astype(np.float32)
        win[rng.random((h, w)) < 0.3] = np.nan
        thr = float(rng.choice([-100.0, -95.5, -90.25]))
        out.append(_Contrib.of(i, win, r0, c0, offset_db, thr))
    return out


def _fold(contribs, shape):
    from deadzone.kernels.coverage import merge_into, new_composite

    comp = new_composite(shape, threshold_dbm=-100.0)
    for c in contribs:
        merge_into(
            comp,
            c.load(),
            c.row_off,
            c.col_off,
            c.index,
            metric_offset_db=c.metric_offset_db,
            threshold_dbm=c.threshold_dbm,
        )
    return comp


def _assert_comp_equal(got, want) -> None:
    for name in ("best_dbm", "best_server", "second_dbm", "n_servers"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize("offset_db", [0.0, 27.781512503836438])
def test_patch_composite_equals_a_fold_in_tower_order(offset_db: float) -> None:
    """Swapping one tower's window in place (cell-by-cell rules + partial refold) is
    bit-identical to folding every window again, with exact ties, the float32
    rounding of an RSRP offset, towers before and after the edited one, and
    cells with zero, one and many servers."""
    from dataclasses import replace

    from deadzone.geo.footprint import _patch_composite

    rng = np.random.default_rng(3)
    shape = (12, 14)
    for it in range(300):
        n = int(rng.integers(1, 6))
        step = (0.5, 5.0, 10.0)[it % 3]  # coarse steps: ties of two and three towers
        cs = _random_contribs(rng, n, shape, offset_db, step)
        i = int(rng.integers(0, n))
        # replace tower i by another window (same index)
        comp = _fold(cs, shape)
        new = replace(_random_contribs(rng, 1, shape, offset_db, step)[0], index=i)
        after = cs[:i] + [new] + cs[i + 1 :]
        _patch_composite(comp, cs[i], new, after)
        _assert_comp_equal(comp, _fold(after, shape))
        # remove tower i: later towers' server indices drop by one first
        comp = _fold(cs, shape)
        comp.best_server[comp.best_server > i] -= 1
        rest = [replace(c, index=k) for k, c in enumerate(cs[:i] + cs[i + 1 :])]
        _patch_composite(comp, cs[i], None, rest)
        _assert_comp_equal(comp, _fold(rest, shape))
        # insert a tower at index i (later towers shift up)
        base = [replace(c, index=k) for k, c in enumerate(cs[:i] + cs[i + 1 :])]
        comp = _fold(base, shape)
        comp.best_server[comp.best_server >= i] += 1
        _patch_composite(comp, None, cs[i], cs)
        _assert_comp_equal(comp, _fold(cs, shape))


def test_edits_equal_from_scratch_with_power_districts_polygons_and_bad_rows() -> None:
    """The whole audit (every village column with its dtype, communes, provinces,
    districts, summary) after edits equals a from-scratch audit, on villages with
    grid power flags, polygon villages, an empty geometry, and a district level."""
    from dataclasses import replace

    from shapely.geometry import Point as P

    scen = _scenario()
    v = scen.villages.copy()
    v["has_grid_power"] = [bool(k % 3) for k in range(len(v))]
    utm = v.geometry.to_crs(scen.dem.crs)
    geom = list(v.geometry)
    for k in (2, 5, 11):  # polygon villages (~150 m squares)
        geom[k] = (
            gpd_series([utm.iloc[k].buffer(75.0, cap_style="square")], scen.dem.crs)
            .to_crs(4326)
            .iloc[0]
        )
    geom[7] = P()  # empty geometry: unknown / invalid_location
    v = v.set_geometry(geom)
    c = scen.communes.copy()
    c["district"] = ["Huyện A", "Huyện B"]
    scen = replace(scen, villages=v, communes=c)
    s = Session(scen, model=MODEL, radius_km=RADIUS_KM)
    s.remove("T2")  # the only 3G tower: technologies change, a full re-audit
    # then edits that re-audit only the villages in reach
    for d in (
        s.add(*_lonlat(scen, 2400.0, 2400.0), height_m=40.0, tech="4G", tower_id="N1"),
        s.edit("T0", height_m=50.0, eirp_dbm=60.0),
        s.move("N1", *_lonlat(scen, 1500.0, 3000.0)),
    ):
        assert 0 < d.villages_reaudited < len(v)
    _assert_same_as_scratch(s)
    scen2 = s.scenario_now()
    ref = audit(
        scen2, coverage=compute_coverage(scen2.dem, scen2.towers, model=MODEL, radius_km=RADIUS_KM)
    )
    got = s.result
    assert got.villages.geometry.equals(ref.villages.geometry)
    pd.testing.assert_frame_equal(got.provinces, ref.provinces)
    assert got.districts is not None
    pd.testing.assert_frame_equal(got.districts, ref.districts)
    assert got.summary == ref.summary


def gpd_series(geoms, crs):
    import geopandas as gpd

    return gpd.GeoSeries(geoms, crs=crs)


def _tight_session(scenario, monkeypatch, n_windows: int) -> Session:
    """A session whose window budget holds about ``n_windows`` of its windows."""
    import deadzone.geo.whatif as wi

    monkeypatch.setattr(wi, "process_rss_bytes", lambda: 0)
    big = 10**12
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=big)
    m = s.memory()
    need = big - m["window_budget_bytes"]
    per = max(w.nbytes for w in s._store._plain.values())  # the largest window
    return Session(scenario, model=MODEL, radius_km=RADIUS_KM,
                   max_memory_bytes=need + m["peak_bytes"] + n_windows * per)


@pytest.mark.parametrize("n_windows", [1, 2])
def test_a_window_budget_smaller_than_the_towers_changes_no_result(scenario, monkeypatch,
                                                                   n_windows: int) -> None:
    """Issue 18 item 1: every tower's window was kept (1,565 adds: 11.7 GB).
    Windows beyond the budget are compressed, then dropped and recomputed
    when an edit needs them; every result equals a from-scratch audit,
    whatever the budget."""
    s = _tight_session(scenario, monkeypatch, n_windows)
    m = s.memory()
    assert 0 < m["windows_kept"] and m["windows_compressed"] > 0
    assert m["window_bytes"] + m["peak_bytes"] <= m["window_budget_bytes"]
    s.move("T0", *_lonlat(scenario, 2300.0, 2200.0))
    s.edit("T1", height_m=50.0, eirp_dbm=63.0)
    s.add(*_lonlat(scenario, 2600.0, 2600.0), height_m=40.0, tech="4G")
    s.remove("T2")
    s.add(*_lonlat(scenario, 1500.0, 3000.0), height_m=35.0, tech="3G")
    m = s.memory()
    assert m["windows_recomputed"] > 0
    if n_windows == 2:
        assert m["windows_decompressed"] > 0  # compressed windows read back
    assert m["window_bytes"] + m["peak_bytes"] <= m["window_budget_bytes"]
    _assert_same_as_scratch(s)


def test_a_budget_too_small_names_the_smallest_that_works(scenario, monkeypatch) -> None:
    import re

    import deadzone.geo.whatif as wi

    monkeypatch.setattr(wi, "process_rss_bytes", lambda: 300_000_000)
    with pytest.raises(ParameterError) as e:
        Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=100_000_000)
    msg = str(e.value)
    assert "300 MB this process" in msg and "\n" not in msg
    smallest = int(re.search(r"--max-memory (\d+)MB", msg).group(1)) * 10**6
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=smallest)
    assert s.memory()["window_budget_bytes"] >= 0


def test_tower_cap(scenario) -> None:
    with pytest.raises(ParameterError, match="has 3 towers; a what-if session holds at most 2"):
        Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_towers=2)
    s = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_towers=4)
    s.add(*_lonlat(scenario, 2400.0, 2400.0), height_m=40.0)
    with pytest.raises(ParameterError, match="holds 4 towers, its most"):
        s.add(*_lonlat(scenario, 1400.0, 2400.0), height_m=40.0)
    s.remove("NEW1")
    s.add(*_lonlat(scenario, 1400.0, 2400.0), height_m=40.0)
    _assert_same_as_scratch(s)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_edit, min_size=1, max_size=4), st.sampled_from([0, 2]))
def test_any_edit_sequence_with_few_windows_kept_equals_from_scratch(scenario, monkeypatch,
                                                                      edits, n_windows) -> None:
    """No window kept, or about two (compressed): every refold decides from
    the block peaks which windows to read back or recompute; the result is
    still a from-scratch audit's."""
    s = _tight_session(scenario, monkeypatch, n_windows)
    m = s.memory()
    assert m["windows_kept"] == 0 if n_windows == 0 else m["windows_compressed"] > 0
    _apply(s, scenario, edits)
    _assert_same_as_scratch(s)
    _assert_session_ranks_true(s)


def _assert_session_ranks_true(s: Session) -> None:
    """The ranks a session keeps are the true ones wherever they claim to know
    them (refolds that read only some windows leave the rest unknown)."""
    from deadzone.geo.footprint import _Contrib

    by_key: dict[str, list] = {}
    for j in range(len(s._slots)):
        for key, c in s._contribs(j).items():
            by_key.setdefault(key, []).append(
                _Contrib.of(c.index, c.load(), c.row_off, c.col_off, c.metric_offset_db,
                            c.threshold_dbm))
    for key, ranks in s._ranks.items():
        comp = s._rx if key == "rx" else s._by_tech[key]
        _assert_ranks_true(comp, ranks, by_key.get(key, []))


def _fold_ranked(contribs, shape, depth: int):
    from deadzone.geo.footprint import merge_ranked, new_ranks
    from deadzone.kernels.coverage import new_composite

    comp = new_composite(shape, threshold_dbm=-100.0)
    ranks = new_ranks(shape, depth)
    for c in contribs:
        merge_ranked(comp, ranks, c.load(), c.row_off, c.col_off, c.index,
                     metric_offset_db=c.metric_offset_db, threshold_dbm=c.threshold_dbm)
    return comp, ranks


def _rank_order(contribs, r: int, c: int) -> list[tuple[np.float32, int]]:
    """Every tower's stored metric at a cell, in rank order (metric down, index up)."""
    out = []
    for t in contribs:
        i, j = r - t.row_off, c - t.col_off
        win = t.load()
        if 0 <= i < win.shape[0] and 0 <= j < win.shape[1] and not np.isnan(win[i, j]):
            out.append((np.float32(np.float64(win[i, j]) - t.metric_offset_db), t.index))
    return sorted(out, key=lambda e: (-float(e[0]), e[1]))


def _assert_ranks_true(comp, ranks, contribs) -> int:
    """Every rank a composite's ranks claim to know is the true one; returns how
    many cells know their ranks to the full depth."""
    from deadzone.kernels.composite import RANK_NONE, RANK_UNKNOWN

    full = 0
    rows, cols = comp.best_dbm.shape
    for r in range(rows):
        for c in range(cols):
            order = _rank_order(contribs, r, c)
            known = 1
            for j in range(1, ranks.depth):
                sid = int(ranks.server[r, c, j - 1])
                if sid == RANK_UNKNOWN:
                    assert (ranks.server[r, c, j - 1:] == RANK_UNKNOWN).all()
                    break
                known += 1
                if sid == RANK_NONE:
                    assert len(order) <= j, (r, c, j, order)
                    break
                assert sid == order[j][1], (r, c, j, order, ranks.server[r, c])
                if j >= 2:
                    assert ranks.dbm[r, c, j - 2] == order[j][0]
            if len(order) >= 2 and order[0][0] == order[1][0]:
                assert known == 1  # best two tied: the ranks are unknown
            full += known == ranks.depth or (known > len(order))
    return full


@pytest.mark.parametrize("depth", [3, 4])
def test_ranks_after_a_fold_and_edits_are_the_true_ranks(depth: int) -> None:
    """The ranks kept below the best hold the true rank order (stored metric
    down, index up) wherever they claim to know it, through a from-scratch
    fold and chains of edits, with ties, an RSRP offset's rounding, removed
    towers (marked, later indices shifted) and cells refolded; the composite
    equals a fold in tower order after every edit."""
    from dataclasses import replace

    from deadzone.geo.footprint import _patch_composite
    from deadzone.kernels.composite import RANK_GONE

    rng = np.random.default_rng(11)
    shape = (10, 12)
    full = 0
    for it in range(60):
        offset = (0.0, 27.781512503836438)[it % 2]
        step = (0.25, 5.0, 0.01)[it % 3]
        cs = _random_contribs(rng, int(rng.integers(2, 8)), shape, offset, step)
        comp, ranks = _fold_ranked(cs, shape, depth)
        _assert_comp_equal(comp, _fold(cs, shape))
        full += _assert_ranks_true(comp, ranks, cs)
        for _ in range(4):
            i = int(rng.integers(0, len(cs)))
            if rng.random() < 0.3 and len(cs) > 1:  # remove tower i
                comp.best_server[comp.best_server > i] -= 1
                gone = ranks.server == i
                ranks.server[ranks.server > i] -= 1
                ranks.server[gone] = RANK_GONE
                rest = [replace(c, index=k) for k, c in enumerate(cs[:i] + cs[i + 1:])]
                _patch_composite(comp, cs[i], None, rest, ranks, old_key=RANK_GONE)
                cs = rest
            else:  # replace tower i
                new = replace(_random_contribs(rng, 1, shape, offset, step)[0], index=i)
                after = cs[:i] + [new] + cs[i + 1:]
                _patch_composite(comp, cs[i], new, after, ranks)
                cs = after
            _assert_comp_equal(comp, _fold(cs, shape))
            _assert_ranks_true(comp, ranks, cs)
    assert full > 60 * shape[0] * shape[1] // 2  # most cells know their ranks after a fold


def test_ranks_spare_the_windows_when_the_best_tower_leaves(scenario, monkeypatch) -> None:
    """With no window kept, taking out a tower that is the best over many cells
    reads no other tower's window: the new best two come from the ranks
    (before: every neighbour's window over those cells was recomputed)."""
    import deadzone.geo.whatif as wi

    monkeypatch.setattr(wi, "process_rss_bytes", lambda: 0)
    big = 10**12
    auto = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=big)
    assert auto.memory()["ranks"] == 1  # every window fits: no ranks by default
    probe = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=big,
                    ranks=wi.RANKS)
    m = probe.memory()
    assert m["ranks"] == wi.RANKS and m["rank_bytes"] > 0
    need = big - m["window_budget_bytes"]
    got = {}
    for ranks in (1, wi.RANKS):
        rank_bytes = m["rank_bytes"] // len(probe._ranks) * (1 + len(wi.TECHS))
        budget = need + m["peak_bytes"] - (rank_bytes if ranks == 1 else 0)
        s = Session(scenario, model=MODEL, radius_km=RADIUS_KM, max_memory_bytes=budget,
                    ranks=ranks)
        assert s.memory()["windows_kept"] == 0 and s.memory()["ranks"] == ranks
        best_t1 = int((s.coverage.rx.best_server == 1).sum())
        assert best_t1 > 100
        s.remove("T1")
        got[ranks] = s.memory()
        _assert_same_as_scratch(s)
        s.edit("T0", eirp_dbm=40.0)  # T0 leaves its cells' best two as well
        _assert_same_as_scratch(s)
    # the removed tower's own window is recomputed (its old values leave the
    # composite); without ranks, its neighbours' too
    # windows that would not all fit (here the grid's ranks outweigh this small
    # scenario's windows, so pretend they are huge): ranks by default
    monkeypatch.setattr(wi.Session, "_windows_bytes", lambda self: 10**15)
    assert Session(scenario, model=MODEL, radius_km=RADIUS_KM,
                   max_memory_bytes=big).memory()["ranks"] == wi.RANKS
    monkeypatch.undo()
    monkeypatch.setattr(wi, "process_rss_bytes", lambda: 0)
    assert got[1]["windows_recomputed"] > 1 and got[1]["cells_refolded"] > 0
    assert got[wi.RANKS]["windows_recomputed"] == 1 and got[wi.RANKS]["cells_refolded"] == 0
