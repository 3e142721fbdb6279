"""People in covered / marginal / dead cells in the audit's roll-ups and summary."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from affine import Affine

from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams
from deadzone.geo.population import PEOPLE_COLUMNS
from deadzone.model.population import PopulationGrid
from deadzone.model.thresholds import Thresholds
from tests.conftest import UTM48, X0, Y0, small_scenario

PARAMS = EngineParams(model="fspl", radius_km=3.0)


def _scenario(people: np.ndarray | None = None, transform: Affine | None = None):  # noqa: ANN202
    scen = small_scenario(towers=[{"x": 3000.0, "y": 4500.0, "eirp_dbm": 30.0}])
    if people is None:
        people = np.ones(scen.dem.shape)
        transform = scen.dem.transform
    grid = PopulationGrid(people, np.ones(people.shape, bool), transform, UTM48,
                          source="pop.tif", checksum="abc")
    return dataclasses.replace(scen, population=grid)


def test_people_by_status_per_commune_one_person_per_cell() -> None:
    scen = _scenario()
    thr = Thresholds()
    res = audit(scen, params=PARAMS, thresholds=thr)
    level = res.coverage.by_tech["2G"].best_dbm
    covered = level >= thr.covered("2G")
    marginal = ~covered & (level >= thr.marginal("2G"))
    c = res.communes.set_index("commune_id")
    for cid, cols in (("C1", slice(0, 150)), ("C2", slice(150, 300))):
        assert c.loc[cid, "people_raster"] == 300 * 150
        assert c.loc[cid, "people_covered"] == covered[:, cols].sum()
        assert c.loc[cid, "people_marginal"] == marginal[:, cols].sum()
        assert c.loc[cid, "people_dead"] == 300 * 150 - covered[:, cols].sum() - marginal[
            :, cols].sum()
        assert c.loc[cid, "people_unknown"] == 0
    assert 0 < covered.sum() < covered.size  # the test means something
    p = res.summary["population_raster"]
    assert p["people_total"] == 90_000 and p["people_covered"] == covered.sum()
    assert p["people_outside_communes"] == 0 and p["people_outside_dem"] == 0
    assert p["source"] == "pop.tif" and p["sha256"] == "abc"
    prov = res.provinces.set_index("province")
    for col in PEOPLE_COLUMNS:
        assert prov.loc["Lai Châu", col] == pytest.approx(c[col].sum())
    line = next(x for x in res.summary_lines() if x.startswith("people (population raster)"))
    assert line.startswith(f"people (population raster): 90,000; {covered.sum():,} in covered")


def test_no_rasters_gives_the_same_people_figures() -> None:
    scen = _scenario()
    a = audit(scen, params=PARAMS)
    b = audit(scen, params=PARAMS, rasters=False)
    assert b.coverage is None and b.summary["parameters"]["rasters"] is False
    assert a.summary["population_raster"] == b.summary["population_raster"]
    for col in PEOPLE_COLUMNS:
        np.testing.assert_array_equal(a.communes[col], b.communes[col])


def test_without_a_raster_no_people_columns() -> None:
    scen = small_scenario(towers=[{"x": 3000.0, "y": 4500.0, "eirp_dbm": 30.0}])
    res = audit(scen, params=PARAMS)
    assert "population_raster" not in res.summary
    assert not any(c.startswith("people_") for c in res.communes.columns)
    assert not any(c.startswith("people_") for c in res.provinces.columns)
    assert not any(x.startswith("people (") for x in res.summary_lines())


def test_people_outside_communes_and_dem_are_counted() -> None:
    # a 200 m raster reaching 1 km beyond the DEM on every side; communes cover
    # only the DEM: nobody is lost
    cell = 200.0
    n = int((9000 + 2000) / cell)
    people = np.full((n, n), 3.0)
    scen = _scenario(people, Affine(cell, 0, X0 - 1000, 0, -cell, Y0 + 1000))
    res = audit(scen, params=PARAMS, rasters=False)
    p = res.summary["population_raster"]
    assert p["people_read"] == pytest.approx(people.sum())
    assert p["people_total"] + p["people_outside_dem"] == pytest.approx(people.sum(), abs=0.2)
    assert p["people_outside_dem"] == pytest.approx(3.0 * (n * n - 45 * 45), abs=0.2)
    assert res.communes["people_raster"].sum() + p["people_outside_communes"] == pytest.approx(
        p["people_total"], abs=0.2)


def test_whatif_session_people_equal_a_fresh_audit() -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from deadzone.geo.whatif import Session

    scen = _scenario()
    s = Session(scen, params=PARAMS)
    before = s.result.summary["population_raster"]
    assert before == audit(scen, params=PARAMS).summary["population_raster"]
    where = gpd.GeoSeries([Point(X0 + 7500, Y0 - 4500)], crs=UTM48).to_crs(4326)
    lon, lat = where.iloc[0].coords[0]
    s.add(lon, lat, height_m=30.0, tech="2G", freq_mhz=900.0, eirp_dbm=30.0, tower_id="NEW")
    after = s.result.summary["population_raster"]
    assert after["people_covered"] > before["people_covered"]
    fresh = audit(dataclasses.replace(scen, towers=s.towers), params=PARAMS)
    assert after == fresh.summary["population_raster"]
    np.testing.assert_array_equal(s.result.communes["people_covered"],
                                  fresh.communes["people_covered"])


def test_districts_carry_people() -> None:
    scen = _scenario()
    scen.communes["district"] = ["Mường Tè", "Phong Thổ"]
    res = audit(scen, params=PARAMS, rasters=False)
    assert res.districts is not None
    d = res.districts.set_index("district")
    c = res.communes.set_index("commune_id")
    for col in (*PEOPLE_COLUMNS, "people_covered_pct"):
        assert d.loc["Mường Tè", col] == c.loc["C1", col]
    dg = res.districts_with_geometry()
    assert "people_dead" in dg.columns
