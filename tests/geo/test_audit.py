"""Audit: status, reasons, exact bookkeeping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from deadzone.geo.audit import audit
from deadzone.model.thresholds import Thresholds
from tests.conftest import demo_villages_only, small_scenario


def test_flat_scenario_near_and_far_villages() -> None:
    # 9 km grid; tower in the middle; one village near, one beyond the radius
    s = small_scenario(villages=[(4500, 4600), (100, 100)],
                       towers=[{"x": 4500, "y": 4500}])
    r = audit(s, radius_km=4.0)
    v = r.villages.set_index("village_id")
    assert v.loc["V0", "status"] == "covered"
    assert v.loc["V0", "serving_tower_id"] == "T0"
    assert pd.isna(v.loc["V0", "reason"])
    assert v.loc["V1", "status"] == "dead"
    assert v.loc["V1", "reason"] == "no_tower_in_range"
    assert v.loc["V1", "distance_to_nearest_tower_m"] == pytest.approx(
        np.hypot(4400, 4400), abs=50)


def test_ridge_gives_terrain_blocked_with_named_obstruction() -> None:
    z = np.full((300, 300), 100.0, dtype=np.float32)
    z[:, 160:163] = 1600.0  # a 1,500 m wall 300 m east of the tower
    s = small_scenario(z=z, villages=[(7500, 4500), (3600, 4500)],
                       towers=[{"x": 4500, "y": 4500, "height_m": 20.0, "eirp_dbm": 45.0}])
    r = audit(s, radius_km=8.0)
    v = r.villages.set_index("village_id")
    assert v.loc["V1", "status"] == "covered"
    assert v.loc["V0", "status"] == "dead"
    assert v.loc["V0", "reason"] == "terrain_blocked"
    assert 200 < v.loc["V0", "obstruction_distance_m"] < 500
    assert v.loc["V0", "obstruction_height_m"] == pytest.approx(1600.0)


def test_unknown_villages_are_kept_with_reasons() -> None:
    s = small_scenario(villages=[(4500, 4600), (-5000, 100)], towers=[{"x": 4500, "y": 4500}])
    vil = s.villages.copy()
    vil.loc[len(vil)] = {"village_id": "V2", "name": "Bản trống", "commune_id": "C9",
                         "population": 7, "households": 2, "geometry": None}
    s.villages = vil
    r = audit(s, radius_km=5.0)
    v = r.villages.set_index("village_id")
    assert list(r.villages["village_id"]) == ["V0", "V1", "V2"]
    assert v.loc["V1", "status"] == "unknown" and v.loc["V1", "reason"] == "outside_dem"
    assert v.loc["V2", "status"] == "unknown" and v.loc["V2", "reason"] == "invalid_location"
    # the unlisted commune id still gets its own roll-up row
    assert "C9" in set(r.communes["commune_id"])
    assert r.summary["villages_unknown"] == 2


def test_no_towers_all_dead_no_tower_in_range() -> None:
    s = small_scenario(towers=[])
    r = audit(s)
    assert set(r.villages["status"]) == {"dead"}
    assert set(r.villages["reason"]) == {"no_tower_in_range"}


def test_thresholds_change_status() -> None:
    s = small_scenario(villages=[(4500, 4600)], towers=[{"x": 4500, "y": 4500, "eirp_dbm": -30.0}])
    r = audit(s, radius_km=3.0)
    rx = r.villages.loc[0, "best_rx_dbm"]
    strict = audit(s, coverage=r.coverage, thresholds=Thresholds.uniform(rx + 5))
    loose = audit(s, coverage=r.coverage, thresholds=Thresholds.uniform(rx - 5))
    marginal = audit(s, coverage=r.coverage, thresholds=Thresholds.uniform(rx + 5,
                                                                             marginal_db_below=10))
    assert strict.villages.loc[0, "status"] == "marginal"
    assert loose.villages.loc[0, "status"] == "covered"
    assert marginal.villages.loc[0, "status"] == "marginal"
    assert strict.villages.loc[0, "reason"] == "weak_signal"


def test_lte_status_uses_rsrp() -> None:
    s = small_scenario(villages=[(4500, 4600)], towers=[{"x": 4500, "y": 4500, "tech": "4G",
                                                          "freq_mhz": 1800.0, "eirp_dbm": 61.0}])
    r = audit(s, radius_km=3.0)
    row = r.villages.iloc[0]
    # 10 MHz LTE: RSRP = total - 10 log10(600) = total - 27.78 dB
    assert row["signal_4g_dbm"] == pytest.approx(row["best_rx_dbm"] - 27.78, abs=0.01)


@settings(max_examples=15, deadline=None)
@given(
    pts=st.lists(st.tuples(st.floats(-2000, 11000), st.floats(-2000, 11000)), min_size=1,
                 max_size=40),
    towers=st.lists(st.tuples(st.floats(15, 8985), st.floats(15, 8985)), min_size=0, max_size=3),
)
def test_bookkeeping_every_village_once_and_levels_add_up(pts, towers) -> None:
    s = small_scenario(villages=pts, towers=[{"x": a, "y": b} for a, b in towers])
    r = audit(s, radius_km=4.0)
    assert list(r.villages["village_id"]) == list(s.villages["village_id"])
    assert r.summary["villages_total"] == len(pts)
    statuses = ("covered", "marginal", "dead", "unknown")
    assert sum(r.summary[f"villages_{k}"] for k in statuses) == len(pts)
    for col in ("villages_total", "villages_covered", "villages_dead", "population_total",
                "population_covered", "households_covered"):
        assert r.communes[col].sum() == r.summary[col]
        assert r.provinces[col].sum() == r.summary[col]
    assert (r.villages.loc[r.villages["status"] != "covered", "reason"].notna()).all()
    # not-covered villages by reason, per unit: each level adds up to the one above
    reason_cols = [c for c in r.communes.columns if c.startswith("not_covered_")]
    assert len(reason_cols) == 5
    for t in (r.communes, r.provinces):
        assert (t[reason_cols].sum(axis=1) == t["villages_total"] - t["villages_covered"]).all()
        assert t[reason_cols].sum().sum() == sum(r.summary["reasons"].values())


def test_polygon_village_uses_representative_point() -> None:
    s = small_scenario(villages=[(4500, 4600)], towers=[{"x": 4500, "y": 4500}])
    poly = s.villages.to_crs(32648).geometry.iloc[0].buffer(200)
    s.villages = s.villages.set_geometry(
        s.villages.geometry.__class__([poly], crs=32648).to_crs(4326))
    r = audit(s, radius_km=3.0)
    assert r.villages.loc[0, "status"] == "covered"
    assert r.villages.geometry.iloc[0].geom_type == "Polygon"
    assert isinstance(r.villages.geometry.iloc[0].representative_point(), Point)
    assert r.villages.loc[0, "area_covered_frac"] == 1.0
    assert r.villages.loc[0, "best_rx_in_area_dbm"] >= r.villages.loc[0, "best_rx_dbm"]


def test_polygon_village_partly_covered_fraction() -> None:
    # a village polygon straddling the coverage edge (radius 3 km)
    s = small_scenario(villages=[(4500, 4600)], towers=[{"x": 4500, "y": 4500}])
    from shapely.geometry import box as _box

    poly = _box(500_000 + 6500, 2_400_000 - 5000, 500_000 + 8500, 2_400_000 - 4000)
    s.villages = s.villages.set_geometry(
        s.villages.geometry.__class__([poly], crs=32648).to_crs(4326))
    r = audit(s, radius_km=3.0)
    frac = r.villages.loc[0, "area_covered_frac"]
    assert 0.1 < frac < 0.9
    points = audit(small_scenario(villages=[(4500, 4600)], towers=[{"x": 4500, "y": 4500}]),
                   radius_km=3.0)
    assert np.isnan(points.villages.loc[0, "area_covered_frac"])


def test_write_audit_geoparquet_round_trip(tmp_path) -> None:
    import geopandas as gpd

    from deadzone.geo.export import write_audit

    pts = [(1000.0, 1000.0), (4500.0, 4500.0), (8000.0, 8000.0)]
    r = audit(small_scenario(villages=pts, towers=[{"x": 4500.0, "y": 4500.0}]), radius_km=3.0)
    paths = write_audit(r, tmp_path / "a")
    back = gpd.read_parquet(paths["villages.parquet"])
    assert list(back["village_id"]) == list(r.villages["village_id"])
    assert list(back["status"]) == list(r.villages["status"])
    assert back.crs is not None and back.crs.to_epsg() == 4326
    assert back.geometry.geom_equals(r.villages.geometry).all()


def test_towers_off_the_dem_stop_the_audit_or_warn_when_most_are() -> None:
    """All towers off the DEM: an error naming the towers file (every village
    dead would be a wrong answer); most of them off: the warning says so first."""
    import warnings as _w

    from deadzone.errors import DeadzoneWarning, ParameterError
    from deadzone.geo.coverage import TowerGrid, warn_towers_outside
    from deadzone.kernels.coverage import RadioSite

    site = RadioSite(row=1, col=1, height_m=30.0, freq_mhz=900.0, eirp_dbm=50.0)

    def grid(sites):
        n = len(sites)
        return TowerGrid([f"T{i}" for i in range(n)], ["2G"] * n, sites, np.zeros(n),
                         np.zeros(n), np.zeros(n))

    with pytest.raises(ParameterError, match=r"^towers\.csv: none of the 2 tower\(s\) lies"):
        warn_towers_outside(grid([None, None]), source="towers.csv")
    # towers at (0, 0), the DEM from 10 to 20 m: within a reach of 100 m they are
    # only off its edge (a batch job's window), a warning; beyond 10 m, an error
    with pytest.raises(ParameterError, match="none of the 2"):
        warn_towers_outside(grid([None, None]), bounds=(10.0, 10.0, 20.0, 20.0), reach_m=10.0)
    with pytest.warns(DeadzoneWarning, match="most towers are off the DEM"):
        warn_towers_outside(grid([None, None]), bounds=(10.0, 10.0, 20.0, 20.0), reach_m=100.0)
    with _w.catch_warnings(record=True) as rec:
        _w.simplefilter("always")
        warn_towers_outside(grid([None, None, site]))
        warn_towers_outside(grid([None, site, site]))
        warn_towers_outside(grid([site]))
    msgs = [str(r.message) for r in rec if issubclass(r.category, DeadzoneWarning)]
    assert msgs == [
        "most towers are off the DEM (check their coordinates): 2 of 3 tower(s) outside "
        "the DEM were not computed: T0, T1",
        "1 of 3 tower(s) outside the DEM were not computed: T0",
    ]


def test_api_audit_joins_villages_to_communes_as_the_cli_does() -> None:
    """Issue 16: load_villages + audit() put every village in one commune
    '(unlisted)'; villages without a commune id now get the one that holds them."""

    scen = demo_villages_only(0)
    want = audit(scen, rasters=False)
    bare = scen.villages.copy()
    bare["commune_id"] = ""
    got = audit(type(scen)(dem=scen.dem, communes=scen.communes, villages=bare,
                           towers=scen.towers), rasters=False)
    assert (got.villages["commune_id"] == want.villages["commune_id"]).all()
    cols = ["commune_id", "villages_total", "villages_covered"]
    pd.testing.assert_frame_equal(got.communes[cols].reset_index(drop=True),
                                  want.communes[cols].reset_index(drop=True))


def test_villages_the_cli_joined_are_not_joined_again(monkeypatch) -> None:
    """The CLI joins villages to communes; audit() must not redo that join (and
    repeat its warning) for the villages that lie in no commune."""
    import warnings as _w

    from shapely.geometry import Point

    import deadzone.data.loaders as loaders
    import deadzone.data.villages as villages_mod

    scen = demo_villages_only(0)
    v = scen.villages.copy()
    v["commune_id"] = ""
    g = v.geometry.copy()
    g.iloc[0] = Point(106.5, 20.0)  # far from every commune
    v = v.set_geometry(g)
    calls = []
    orig = villages_mod._join_communes
    monkeypatch.setattr(villages_mod, "_join_communes",
                        lambda *a, **k: calls.append(1) or orig(*a, **k))
    with _w.catch_warnings(record=True) as rec:
        _w.simplefilter("always")
        joined = loaders.assign_communes(v, scen.communes)
        res = audit(type(scen)(dem=scen.dem, communes=scen.communes, villages=joined,
                               towers=scen.towers), rasters=False)
    assert len(calls) == 1
    assert sum("not inside" in str(r.message) for r in rec) == 1
    assert res.villages["commune_id"].iloc[0] == ""
    assert (res.villages["commune_id"].iloc[1:] != "").all()
