"""People moved onto the DEM grid by area (``geo.population.people_on_dem``) and
counted by commune and status."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject

from deadzone.geo.population import (
    commune_zones,
    people_on_dem,
    subcells_for,
    village_population_from_raster,
)
from deadzone.kernels.population import spread_people, status_sums
from deadzone.model.dem import Dem
from deadzone.model.population import PopulationGrid
from tests.conftest import UTM48, X0, Y0, small_scenario

WGS84 = CRS.from_epsg(4326)


def _dem(rows: int, cols: int, cell_m: float = 100.0, x0: float = X0, y0: float = Y0) -> Dem:
    return Dem(np.zeros((rows, cols), np.float32), Affine(cell_m, 0, x0, 0, -cell_m, y0), UTM48,
               np.zeros((rows, cols), bool), "synthetic")


def _grid(people: np.ndarray, transform: Affine, crs: CRS = UTM48) -> PopulationGrid:
    p = np.asarray(people, dtype=np.float64)
    return PopulationGrid(p, np.ones(p.shape, bool), transform, crs)


def test_hand_computed_offset_coarse_cells() -> None:
    # 200 m population cells shifted 50 m east and south of a 100 m DEM grid: a
    # cell's side overlaps DEM columns by 50, 100, 50 m (shares 1/4, 1/2, 1/4).
    dem = _dem(4, 4)
    pop = _grid([[8.0, 4.0], [0.0, 16.0]], Affine(200, 0, X0 + 50, 0, -200, Y0 - 50))
    r = people_on_dem(pop, dem)
    q = np.array([0.25, 0.5, 0.25])
    want = np.zeros((5, 5))
    want[0:3, 0:3] += 8 * np.outer(q, q)
    want[0:3, 2:5] += 4 * np.outer(q, q)
    want[2:5, 2:5] += 16 * np.outer(q, q)
    np.testing.assert_allclose(r.people, want[:4, :4], atol=1e-12)
    assert r.outside_dem == pytest.approx(want.sum() - want[:4, :4].sum())  # 8 persons
    assert r.outside_dem == pytest.approx(8.0)
    assert r.read_total == 28.0


def test_same_grid_is_a_copy() -> None:
    dem = _dem(3, 5)
    p = np.arange(15, dtype=float).reshape(3, 5)
    r = people_on_dem(_grid(p, dem.transform), dem)
    np.testing.assert_array_equal(r.people, p)
    assert r.outside_dem == 0.0 and r.subcells == 1


def test_finer_cells_land_whole_in_their_dem_cell() -> None:
    # 25 m cells on a 100 m DEM, aligned: each DEM cell is the sum of 4 x 4 cells
    rng = np.random.default_rng(1)
    p = rng.random((40, 40))
    r = people_on_dem(_grid(p, Affine(25, 0, X0, 0, -25, Y0)), _dem(10, 10))
    assert r.subcells == 1
    np.testing.assert_allclose(r.people, p.reshape(10, 4, 10, 4).sum(axis=(1, 3)))


@pytest.mark.parametrize("res_deg", [3 / 3600, 0.5 / 3600, 30 / 3600])
def test_worldpop_lonlat_onto_utm_agrees_with_gdal_sum(res_deg: float) -> None:
    # A 3 arc-second (and finer, coarser) EPSG:4326 raster on a 90 m UTM DEM:
    # total preserved; cell values close to GDAL's area-weighted sum resampling
    # where the DEM is wholly inside the raster.
    rng = np.random.default_rng(2)
    dem = _dem(60, 60, 90.0, x0=X0 + 5_000, y0=Y0 - 5_000)
    w, s, e, n = dem.bounds_lonlat
    pad = 3 * res_deg
    cols = int(np.ceil((e - w + 2 * pad) / res_deg))
    rows = int(np.ceil((n - s + 2 * pad) / res_deg))
    p = rng.gamma(2.0, 3.0, (rows, cols))
    t = Affine(res_deg, 0, w - pad, 0, -res_deg, n + pad)
    r = people_on_dem(_grid(p, t, WGS84), dem)
    assert r.people.sum() + r.outside_dem == pytest.approx(p.sum(), rel=1e-12)
    ref = np.zeros(dem.shape)
    reproject(p, ref, src_transform=t, src_crs=WGS84, dst_transform=dem.transform,
              dst_crs=UTM48, resampling=Resampling.sum)
    inner = (slice(3, -3), slice(3, -3))
    # GDAL's sum weighs by its own overlap approximation: totals agree to 1e-4,
    # cells to 3 % (measured: at most 2.2 %, median 0.1 % at 3 arc-seconds)
    assert r.people[inner].sum() == pytest.approx(ref[inner].sum(), rel=1e-4)
    np.testing.assert_allclose(r.people[inner], ref[inner], rtol=0.03)


def test_other_projected_crs_mercator() -> None:
    # EPSG:3857 raster at 150 m (coarser) and 40 m (finer) over a 100 m UTM DEM
    dem = _dem(30, 30)
    from pyproj import Transformer

    tr = Transformer.from_crs(UTM48.to_wkt(), "EPSG:3857", always_xy=True)
    (wx, ex), (sy, ny) = tr.transform([X0 - 1000, X0 + 4000], [Y0 - 4000, Y0 + 1000])
    for res in (150.0, 40.0):
        cols, rows = int((ex - wx) / res), int((ny - sy) / res)
        p = np.full((rows, cols), 2.0)
        r = people_on_dem(_grid(p, Affine(res, 0, wx, 0, -res, ny), CRS.from_epsg(3857)), dem)
        assert r.people.sum() + r.outside_dem == pytest.approx(p.sum(), rel=1e-12)
        # uniform density: each DEM cell holds density x its area (the Mercator scale
        # factor at 21.7 N is 1/cos(lat) ~ 1.076 per axis)
        density = 2.0 / (res * res)
        k = 1.0 / np.cos(np.radians(dem.bounds_lonlat[1] + 0.0125))
        np.testing.assert_allclose(r.people, density * 100 * 100 * k * k, rtol=0.08)
        assert r.has_data.all()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 12), cols=st.integers(1, 12),
    cell=st.sampled_from([13.0, 40.0, 100.0, 230.0, 770.0]),
    dx=st.floats(-600, 900), dy=st.floats(-900, 600),
    seed=st.integers(0, 2**31 - 1), geographic=st.booleans(),
)
def test_total_is_preserved(rows: int, cols: int, cell: float, dx: float, dy: float,
                            seed: int, geographic: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.gamma(1.0, 10.0, (rows, cols)) * (rng.random((rows, cols)) > 0.3)
    valid = rng.random((rows, cols)) > 0.1
    if geographic:
        deg = cell / 100_000.0
        t = Affine(deg, 0, 105.0 + dx / 100_000.0, 0, -deg, 21.7 + dy / 100_000.0)
        crs = WGS84
    else:
        t = Affine(cell, 0, X0 + dx, 0, -cell, Y0 + dy)
        crs = UTM48
    pop = PopulationGrid(np.where(valid, p, 0.0), valid, t, crs)
    dem = _dem(9, 11) if not geographic else _dem(9, 11, x0=X0 + 10_000, y0=Y0 + 2_000)
    r = people_on_dem(pop, dem)
    assert r.people.min() >= 0.0
    assert r.people.sum() + r.outside_dem == pytest.approx(pop.total, rel=1e-12, abs=1e-9)
    assert r.read_total == pop.total


def test_subcells_from_cell_size_ratio() -> None:
    jj, ii = np.meshgrid(np.arange(3) * 8 * 250.0, np.arange(3) * 8 * 250.0)
    assert subcells_for(jj, -ii, 8, 100.0) == 2  # 250 m on 100 m: ceil(2.5 / 2)
    assert subcells_for(jj, -ii, 8, 150.0) == 1
    assert subcells_for(jj, -ii, 8, 1000.0) == 1
    assert subcells_for(jj, -ii, 8, 1.0) == 64  # capped


def test_spread_people_validates() -> None:
    from deadzone.errors import ParameterError

    lx = np.zeros((2, 2))
    with pytest.raises(ParameterError, match="subcells"):
        spread_people(np.ones((1, 1)), np.ones((1, 1), bool), lattice_x=lx, lattice_y=lx,
                      lattice_step=1, subcells=0, target_transform=(0, 1, 0, -1),
                      target_shape=(2, 2))
    with pytest.raises(ParameterError, match="lattice"):
        spread_people(np.ones((3, 3)), np.ones((3, 3), bool), lattice_x=lx, lattice_y=lx,
                      lattice_step=1, subcells=1, target_transform=(0, 1, 0, -1),
                      target_shape=(2, 2))


def test_status_sums_by_zone() -> None:
    people = np.array([[1.0, 2.0], [4.0, 8.0]])
    status = np.array([[0, 1], [2, 0]])
    zone = np.array([[0, 0], [1, -1]])
    out = status_sums(people, status, zone, n_zones=2, n_status=4)
    np.testing.assert_array_equal(out, [[1, 2, 0, 0], [0, 0, 4, 0], [8, 0, 0, 0]])


def test_commune_zones_on_the_dem_grid() -> None:
    scen = small_scenario()  # 300 x 300 cells of 30 m; C1 the west half, C2 the east
    zone, ids = commune_zones(scen.communes, scen.dem)
    assert ids == ["C1", "C2"]
    assert (zone[:, :150] == 0).all() and (zone[:, 150:] == 1).all()


def test_village_population_from_raster_nearest_within_radius() -> None:
    scen = small_scenario(villages=[(1500.0, 4500.0), (7500.0, 4500.0), (4500.0, 8900.0)])
    vil = scen.villages.copy()
    vil.loc[1, "population"] = 0
    vil.loc[1, "households"] = 0
    vil.loc[2, "population"] = None
    # people at 100 m cells over the DEM: 1 person per cell
    p = np.ones((90, 90))
    pop = _grid(p, Affine(100, 0, X0, 0, -100, Y0))
    out = village_population_from_raster(vil, pop, radius_km=1.0, persons_per_household=4.0)
    assert out["population_source"].tolist() == ["input", "raster", "raster"]
    assert out.loc[0, "population"] == 100  # kept
    # village 1 sits at (7500, 4500): the cells whose centres lie within 1 km, nearest to it
    cx = X0 + 50 + 100 * np.arange(90)
    cy = Y0 - 50 - 100 * np.arange(90)
    xx, yy = np.meshgrid(cx, cy)
    near1 = np.hypot(xx - (X0 + 7500), yy - (Y0 - 4500)) <= 1000
    assert out.loc[1, "population"] == int(near1.sum())
    assert out.loc[1, "households"] == round(int(near1.sum()) / 4.0)
    assert out.loc[2, "households"] == 22  # had households: kept
    assert out.attrs["population_from_raster"] == 2


@pytest.mark.parametrize("res_m,cell_m", [(1000.0, 30.0), (1000.0, 90.0), (100.0, 90.0)])
def test_ghsl_mollweide_uniform_density_stays_uniform(res_m: float, cell_m: float) -> None:
    # GHSL's World Mollweide grid at 105 E is sheared and rotated against UTM 48N;
    # a uniform density must stay uniform cell to cell (1 km cells split in k x k)
    from pyproj import Transformer

    moll = CRS.from_string("ESRI:54009")
    n = int(6000 / cell_m)
    dem = _dem(n, n, cell_m)
    tr = Transformer.from_crs(UTM48.to_wkt(), moll.to_wkt(), always_xy=True)
    xs, ys = tr.transform([X0 - 3000, X0 + 9000, X0 - 3000, X0 + 9000],
                          [Y0 + 3000, Y0 + 3000, Y0 - 9000, Y0 - 9000])
    west, north = np.floor(min(xs) / res_m) * res_m, np.ceil(max(ys) / res_m) * res_m
    cols = int((max(xs) - west) / res_m) + 1
    rows = int((north - min(ys)) / res_m) + 1
    p = np.full((rows, cols), 5.0)
    r = people_on_dem(_grid(p, Affine(res_m, 0, west, 0, -res_m, north), moll), dem)
    # k from the projected edge length (a sheared edge is longer than 1 km)
    assert r.subcells >= max(1, int(np.ceil(res_m / (2 * cell_m))))
    assert r.people.sum() + r.outside_dem == pytest.approx(p.sum(), rel=1e-12)
    inner = r.people[5:-5, 5:-5]
    assert inner.max() / inner.min() - 1 < 0.002
    # density x area, to the projections' own area scale (PROJ's ellipsoidal Mollweide
    # and UTM's scale factor): within 1 %
    assert inner.mean() == pytest.approx(5.0 / res_m**2 * cell_m**2, rel=0.01)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 12),
       radius_km=st.sampled_from([0.3, 1.0, 3.0]))
def test_village_catchments_count_each_cell_once(seed: int, n: int, radius_km: float) -> None:
    # all villages without population: together they get exactly the people of
    # the cells within the radius of some village (each cell once), to rounding
    import geopandas as gpd
    from shapely.geometry import Point

    rng = np.random.default_rng(seed)
    p = rng.gamma(1.0, 3.0, (60, 60))
    pop = _grid(p, Affine(100, 0, X0, 0, -100, Y0))
    xy = rng.uniform(0, 6000, (n, 2))
    vil = gpd.GeoDataFrame({"village_id": [f"V{i}" for i in range(n)], "population": 0,
                            "households": 0},
                           geometry=[Point(X0 + a, Y0 - b) for a, b in xy], crs=UTM48).to_crs(4326)
    out = village_population_from_raster(vil, pop, radius_km=radius_km, persons_per_household=3.5)
    cx, cy = np.meshgrid(X0 + 50 + 100 * np.arange(60), Y0 - 50 - 100 * np.arange(60))
    d = np.min([np.hypot(cx - (X0 + a), cy - (Y0 - b)) for a, b in xy], axis=0)
    # UTM 48N is the villages' zone here: distances agree to well under a metre
    near = d <= 1000 * radius_km
    assert out["population"].sum() == pytest.approx(p[near].sum(), abs=0.5 * n + 1e-6)
    assert (out["population_source"] == "raster").all()


def test_people_line_names_unknown_outside_and_nodata() -> None:
    from deadzone.geo.population import people_line

    p = {"people_total": 412_300.0, "people_covered": 371_000.0, "people_marginal": 12_100.0,
         "people_dead": 28_000.0, "people_unknown": 1_200.0, "people_outside_communes": 300.0,
         "dem_cells_without_data": 1}
    assert people_line(p) == (
        "people (population raster): 412,300; 371,000 in covered cells (90.0%), 12,100 "
        "marginal, 28,000 dead, 1,200 unknown (outside the DEM's data); 300 outside every "
        "commune; 1 DEM cell without population data")
