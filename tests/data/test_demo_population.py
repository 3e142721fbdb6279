"""The demo province's population raster (deadzone.data.demo_population)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from geopandas.testing import assert_geodataframe_equal
from scipy.spatial import cKDTree

from deadzone.data import demo
from deadzone.data.demo import demo_scenario
from deadzone.data.demo_population import HAMLET_COUNT_RANGE
from deadzone.data.io import POPULATION_NODATA, load_scenario, write_scenario
from deadzone.geo.settlements import SettlementParams, cell_area_km2, unlisted_settlements
from deadzone.model.scenario import Scenario


@pytest.fixture(scope="module")
def sc() -> Scenario:
    return demo_scenario(0)


def test_worldpop_grid(sc: Scenario) -> None:
    p = sc.population
    assert p is not None
    assert p.crs.to_epsg() == 4326
    assert p.transform.a == pytest.approx(3 / 3600) and p.transform.e == pytest.approx(-3 / 3600)
    # it covers the DEM's footprint
    west, south, east, north = sc.dem.bounds_lonlat
    t = p.transform
    assert t.c <= west and t.f >= north
    assert t.c + p.shape[1] * t.a >= east and t.f + p.shape[0] * t.e <= south
    assert p.valid.all() and (p.people >= 0).all()


def test_same_seed_same_raster_other_seed_not(sc: Scenario) -> None:
    again = demo_scenario(0)
    assert again.population.people.tobytes() == sc.population.people.tobytes()
    assert again.population.transform == sc.population.transform
    other = demo_scenario(1).population
    assert other.people.shape != sc.population.people.shape or not np.array_equal(
        other.people, sc.population.people)


def test_raster_draws_from_its_own_stream(sc: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of the demo is identical whatever the raster draws (its own stream)."""
    def greedy(rng: np.random.Generator, **kwargs: object) -> object:
        rng.standard_normal(1000)  # draws a different amount than the real generator
        return None

    monkeypatch.setattr(demo, "demo_population", greedy)
    without = demo_scenario(0)
    assert without.population is None
    assert without.dem.elevation_m.tobytes() == sc.dem.elevation_m.tobytes()
    for layer in ("communes", "villages", "towers", "roads", "backbone"):
        assert_geodataframe_equal(getattr(without, layer), getattr(sc, layer))


def test_totals_plausible(sc: Scenario) -> None:
    p = sc.population
    villages = float(sc.villages["population"].sum())
    # villages, plus the dispersed people (<= 20 % of them) and a few hundred per hamlet
    assert villages < p.total < 1.25 * villages
    # the people near each village are about its population: spread over a few hundred m
    t = p.transform
    rows, cols = np.nonzero(p.people > 0)
    lon = t.c + (cols + 0.5) * t.a
    lat = t.f + (rows + 0.5) * t.e
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, sc.dem.crs, always_xy=True).transform(lon, lat)
    v = sc.villages.to_crs(sc.dem.crs)
    vxy = np.column_stack([v.geometry.x, v.geometry.y])
    d, k = cKDTree(vxy).query(np.column_stack([x, y]))
    near = d < 800.0
    per_village = np.bincount(k[near], p.people[rows, cols][near], len(v))
    ratio = per_village / v["population"].to_numpy()
    assert np.median(ratio) == pytest.approx(1.05, abs=0.1)
    # densities: nothing absurd (the densest cell of a 1,500-person village core)
    density = p.people / cell_area_km2(p)[:, None]
    assert density.max() < 20_000


def test_unlisted_hamlets_found_with_the_defaults(sc: Scenario) -> None:
    s = unlisted_settlements(sc.population, sc.villages, communes=sc.communes)
    assert HAMLET_COUNT_RANGE[0] <= len(s) <= HAMLET_COUNT_RANGE[1]
    assert (s["people"] >= 100).all() and (s["people"] <= 800).all()
    assert (s["nearest_village_distance_m"] > 1000.0).all()
    assert s["commune_id"].notna().all()
    # the dispersed population alone never makes a settlement: a lower people bar
    # finds the same hamlets
    more = unlisted_settlements(sc.population, sc.villages,
                                params=SettlementParams(min_people=10))
    assert len(more) == len(s)


def test_scenario_folder_round_trip(sc: Scenario, tmp_path: Path) -> None:
    paths = write_scenario(sc, tmp_path / "s")
    assert "population.tif" in paths
    with rasterio.open(paths["population.tif"]) as src:
        assert src.dtypes[0] == "float32"
        assert src.nodata == POPULATION_NODATA == -99999.0
        assert src.crs.to_epsg() == 4326
    back = load_scenario(tmp_path / "s")
    assert back.population is not None
    assert back.population.transform == pytest.approx(sc.population.transform)
    np.testing.assert_allclose(back.population.people, sc.population.people, rtol=1e-6)
    assert back.population.checksum and back.population.source.endswith("population.tif")
    assert str(paths["population.tif"]) in back.meta["loaded_from"]
    # without a raster no file, and an earlier one is removed on overwrite
    sc.population, kept = None, sc.population
    try:
        write_scenario(sc, tmp_path / "s", overwrite=True)
    finally:
        sc.population = kept
    assert not (tmp_path / "s" / "population.tif").exists()
    assert load_scenario(tmp_path / "s").population is None


def test_nodata_cells_read_as_not_valid(sc: Scenario, tmp_path: Path) -> None:
    paths = write_scenario(sc, tmp_path / "s")
    with rasterio.open(paths["population.tif"], "r+") as dst:
        a = dst.read(1)
        a[:5, :5] = POPULATION_NODATA
        dst.write(a, 1)
    back = load_scenario(tmp_path / "s").population
    assert not back.valid[:5, :5].any() and back.valid[5:, 5:].all()
    assert (back.people[:5, :5] == 0).all()
