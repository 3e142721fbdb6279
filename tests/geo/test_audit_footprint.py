"""Audit: the DEM's footprint, communes without villages, villages without population."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Point, box

from deadzone.data.loaders import load_dem
from deadzone.errors import DeadzoneWarning
from deadzone.geo.audit import AuditResult, audit
from deadzone.model.dem import outside_footprint
from deadzone.model.scenario import Scenario
from tests.conftest import small_scenario

STEP = 3.0 / 3600.0  # SRTM-3 cell (degrees)
# A 0.1 x 0.3 degree tile near the east edge of UTM zone 48: reprojected, its
# east edge leans ~630 m across the output grid, leaving an empty (filled)
# wedge inside the grid's rectangle at the tile's north-east corner.
LON0, LAT0 = 107.9, 21.5
VOID_ROWS, VOID_COLS = slice(100, 104), slice(60, 64)


def _geographic_dem(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    data = (200 + rng.normal(0, 5, (360, 120))).astype(np.int16)
    data[VOID_ROWS, VOID_COLS] = -32768  # an interior data void (4 x 4 cells)
    path = tmp_path / "geo.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=120, height=360, count=1, dtype="int16",
        crs="EPSG:4326", transform=Affine(STEP, 0, LON0, 0, -STEP, LAT0), nodata=-32768,
    ) as dst:
        dst.write(data, 1)
    return path


def _scenario(tmp_path: Path, villages: dict[str, tuple[float, float]]) -> Scenario:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)  # the void fill
        dem = load_dem(_geographic_dem(tmp_path))
    assert dem.crs.to_epsg() == 32648
    v = gpd.GeoDataFrame(
        {
            "village_id": list(villages),
            "name": list(villages),
            "commune_id": "C1",
            "population": 100,
            "households": 29,
        },
        geometry=[Point(*ll) for ll in villages.values()],
        crs=4326,
    )
    c = gpd.GeoDataFrame(
        {"commune_id": ["C1"], "name": ["Xã A"], "province": ["P"]},
        geometry=[box(LON0 - 0.1, LAT0 - 0.4, LON0 + 0.2, LAT0 + 0.1)],
        crs=4326,
    )
    t = gpd.GeoDataFrame(
        {"tower_id": ["T0"], "tech": ["4G"], "freq_mhz": [1800.0], "eirp_dbm": [61.0],
         "height_m": [30.0], "lon": [107.985], "lat": [21.48]},
        geometry=[Point(107.985, 21.48)], crs=4326,
    )
    return Scenario(dem=dem, communes=c, villages=v, towers=t, name="footprint")


def test_village_just_outside_a_reprojected_geographic_dem_is_outside_dem(
    tmp_path: Path,
) -> None:
    void_lon = LON0 + (VOID_COLS.start + 2) * STEP
    void_lat = LAT0 - (VOID_ROWS.start + 2) * STEP
    s = _scenario(
        tmp_path,
        {
            "out": (108.003, 21.49),  # ~310 m east of the tile, inside the UTM grid
            "in": (107.997, 21.49),  # ~310 m inside the tile
            "void": (void_lon, void_lat),  # on the filled data void
            "far": (108.5, 21.49),  # beyond the grid
        },
    )
    dem = s.dem
    pts = s.villages.to_crs(dem.crs).geometry
    _, _, in_grid = dem.rowcol(pts.x.to_numpy(), pts.y.to_numpy())
    assert in_grid.tolist() == [True, True, True, False]  # the case the bug was about
    r = audit(s, radius_km=5.0)
    v = r.villages.set_index("village_id")
    assert (v.loc["out", "status"], v.loc["out", "reason"]) == ("unknown", "outside_dem")
    assert (v.loc["far", "status"], v.loc["far", "reason"]) == ("unknown", "outside_dem")
    for name in ("in", "void"):
        assert v.loc[name, "status"] in ("covered", "marginal", "dead")
        assert v.loc[name, "reason"] != "outside_dem"
    assert v["on_dem_void"].tolist() == [False, False, True, False]
    assert r.summary["villages_on_dem_void"] == 1
    d = r.summary["dem"]
    assert d["data_void_cells"] + d["outside_footprint_cells"] == d["voids_filled"]
    assert 8 <= d["data_void_cells"] <= 30  # 16 source cells, resampled
    assert d["outside_footprint_cells"] > 1000


def test_outside_footprint_keeps_interior_voids() -> None:
    vm = np.zeros((6, 6), dtype=bool)
    vm[0, :3] = True  # a margin along the top
    vm[1, 0] = True
    vm[3:5, 3:5] = True  # an interior void
    got = outside_footprint(vm)
    assert got.sum() == 4 and got[0, :3].all() and got[1, 0]
    assert not got[3:5, 3:5].any()
    assert not outside_footprint(np.zeros((3, 3), dtype=bool)).any()


def test_communes_without_villages_are_not_in_the_fully_covered_denominator() -> None:
    s = small_scenario(villages=[(2000, 4500)], towers=[{"x": 2000, "y": 4400}])
    r = audit(s, radius_km=4.0)
    assert r.villages["status"].tolist() == ["covered"]
    sm = r.summary
    assert sm["communes_total"] == 2 and sm["communes_with_villages"] == 1
    assert sm["communes_fully_covered"] == 1
    assert "communes fully covered: 1/1 with villages (100.0%); 1 commune has no villages" in (
        r.summary_lines()
    )
    p = r.provinces.iloc[0]
    assert (p["communes_total"], p["communes_with_villages"], p["communes_fully_covered"]) == (
        2, 1, 1,
    )


def test_summary_lines_of_an_old_summary_keep_the_old_wording() -> None:
    s = small_scenario(towers=[{"x": 4500, "y": 4500}])
    r = audit(s, radius_km=8.0)
    old = {k: v for k, v in r.summary.items()
           if k not in ("communes_with_villages", "villages_without_population",
                        "villages_without_households")}
    lines = AuditResult.summary_lines(r.__class__(**{**r.__dict__, "summary": old}))
    assert "communes fully covered: 2/2 (100.0%)" in lines
    assert "population covered: 210/210 (100.0%)" in lines


def test_zero_population_is_counted_warned_and_shown() -> None:
    s = small_scenario(villages=[(4500, 4600), (4400, 4500), (4600, 4500)],
                       towers=[{"x": 4500, "y": 4500}])
    s.villages["population"] = [0, 0, 250_000]
    s.villages["households"] = [0, 0, 71_429]
    with pytest.warns(DeadzoneWarning) as rec:
        r = audit(s, radius_km=4.0)
    msgs = [str(w.message) for w in rec]
    assert any("2 of 3 villages have population 0 (or missing)" in m for m in msgs)
    assert any("1 of 3 villages has population above 100,000" in m and "'V2'" in m
               for m in msgs)
    assert r.summary["villages_without_population"] == 2
    assert r.summary["villages_without_households"] == 2
    assert ("population covered: 250,000/250,000 (100.0%); 2 of 3 villages have no "
            "population (0 or missing)") in r.summary_lines()


def test_no_population_warning_when_every_village_has_people() -> None:
    s = small_scenario(towers=[{"x": 4500, "y": 4500}])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadzoneWarning)
        r = audit(s, radius_km=8.0)
    assert r.summary["villages_without_population"] == 0
    assert not any("no population" in line for line in r.summary_lines())


def test_tower_on_the_filled_margin_is_outside_the_dem(tmp_path: Path) -> None:
    """A tower ~310 m beyond the tile's edge, inside the UTM grid's rectangle, is
    not computed over filled terrain: it is outside the DEM, as villages there are."""
    from deadzone.geo.coverage import towers_on_grid

    s = _scenario(tmp_path, {"in": (107.997, 21.49)})
    t = gpd.GeoDataFrame(
        {"tower_id": ["IN", "MARGIN", "VOIDCELL"], "tech": ["4G"] * 3,
         "freq_mhz": [1800.0] * 3, "eirp_dbm": [61.0] * 3, "height_m": [30.0] * 3},
        geometry=[Point(107.997, 21.49), Point(108.003, 21.49),
                  Point(LON0 + (VOID_COLS.start + 2) * STEP,
                        LAT0 - (VOID_ROWS.start + 2) * STEP)],
        crs=4326,
    )
    pts = t.to_crs(s.dem.crs).geometry
    _, _, in_grid = s.dem.rowcol(pts.x.to_numpy(), pts.y.to_numpy())
    assert in_grid.all()
    g = towers_on_grid(t, s.dem)
    assert g.sites[0] is not None and g.sites[2] is not None  # interior void: computed
    assert g.sites[1] is None
