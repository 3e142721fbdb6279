"""Tests for the synthetic demo province (deadzone.data.demo)."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from deadzone.data import demo
from deadzone.data.demo import demo_scenario
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TOWER_COLUMNS, TOWER_DEFAULTS

LAYERS = ("communes", "villages", "towers", "roads", "backbone")
UTM = 32648


@pytest.fixture(scope="module")
def timed() -> tuple[Scenario, float]:
    start = time.perf_counter()
    scenario = demo_scenario(0)
    return scenario, time.perf_counter() - start


@pytest.fixture(scope="module")
def sc(timed: tuple[Scenario, float]) -> Scenario:
    return timed[0]


@pytest.fixture(scope="module")
def province() -> shapely.Polygon:
    return shapely.box(*demo._province_bounds())


def test_runtime_under_10_s(timed: tuple[Scenario, float]) -> None:
    assert timed[1] < 10.0


def test_same_seed_gives_identical_output(sc: Scenario) -> None:
    again = demo_scenario(0)
    assert again.dem.elevation_m.tobytes() == sc.dem.elevation_m.tobytes()
    assert again.dem.transform == sc.dem.transform
    for layer in LAYERS:
        assert_geodataframe_equal(getattr(again, layer), getattr(sc, layer))
    assert (again.name, again.meta) == (sc.name, sc.meta)


def test_other_seed_differs(sc: Scenario) -> None:
    other = demo_scenario(1)
    assert other.name == "demo-seed1"
    assert other.meta == {"generator": "deadzone.data.demo", "seed": 1}
    assert not np.array_equal(other.dem.elevation_m, sc.dem.elevation_m)
    assert not other.villages.geometry.geom_equals(sc.villages.geometry).all()
    assert not other.communes.geometry.geom_equals(sc.communes.geometry).all()
    assert 700 <= len(other.villages) <= 900
    assert 30 <= len(other.towers) <= 50


def test_scenario_identity(sc: Scenario) -> None:
    assert sc.name == "demo-seed0"
    assert sc.meta == {"generator": "deadzone.data.demo", "seed": 0}
    for layer in LAYERS:
        assert getattr(sc, layer).crs.to_epsg() == 4326


def test_dem_grid(sc: Scenario) -> None:
    dem = sc.dem
    assert dem.shape == (2000, 2000)
    assert dem.elevation_m.dtype == np.float32
    assert dem.crs.to_epsg() == UTM
    assert dem.cell_w_m == dem.cell_h_m == 30.0
    assert dem.void_count == 0
    assert dem.source == "demo"
    t = dem.transform  # (Dem.bounds uses affine's deprecated ``*``)
    assert (t.c, t.f) == (demo.DEM_X_MIN_M, demo.DEM_Y_MAX_M)
    span = 2000 * 30.0
    corners = shapely.points([(t.c, t.f - span), (t.c + span, t.f)])
    corners = gpd.GeoSeries(corners, crs=UTM).to_crs(4326)
    assert 104.55 < corners.x.min() < 104.65 and 105.15 < corners.x.max() < 105.25
    assert 21.85 < corners.y.min() < 21.95 and 22.4 < corners.y.max() < 22.5


def test_dem_elevation_range(sc: Scenario) -> None:
    elev = sc.dem.elevation_m
    assert np.isfinite(elev).all()
    assert 100.0 - 1e-3 <= elev.min() < 150.0
    assert 1900.0 < elev.max() <= 2000.0 + 1e-3
    assert 300.0 < np.median(elev) < 1200.0


def test_dem_is_terrain_not_noise(sc: Scenario) -> None:
    elev = sc.dem.elevation_m.astype(np.float64)
    lag1 = np.corrcoef(elev[:, :-1].ravel(), elev[:, 1:].ravel())[0, 1]
    assert lag1 > 0.99
    dy, dx = np.gradient(elev, 30.0)
    slope_deg = np.degrees(np.arctan(np.hypot(dx, dy)))
    assert 10.0 < slope_deg.mean() < 35.0  # mountainous, not cliffs everywhere


def test_villages_sit_low(sc: Scenario) -> None:
    pts = sc.villages.to_crs(UTM)
    rows, cols, inside = sc.dem.rowcol(pts.geometry.x, pts.geometry.y)
    assert inside.all()
    village_elev = sc.dem.elevation_m[rows, cols]
    assert np.median(village_elev) < np.median(sc.dem.elevation_m)


def test_communes_columns_and_ids(sc: Scenario) -> None:
    c = sc.communes
    assert list(c.columns) == [
        "commune_id", "name", "province", "district", "center_lon", "center_lat", "geometry"
    ]  # fmt: skip
    assert 35 <= len(c) <= 45
    assert c.commune_id.is_unique and c.name.is_unique
    assert c.commune_id.str.fullmatch(r"DZ\d{3}").all()
    assert c.name.str.startswith("Xã ").all()
    assert (c.province == demo.PROVINCE_NAME).all()
    # 6 districts of whole communes, by location: 2 bands x 3 sectors of the seed grid
    assert c.groupby("district").size().to_dict() == {
        "Huyện Tây Bắc": 9, "Huyện Trung Bắc": 6, "Huyện Đông Bắc": 6,
        "Huyện Tây Nam": 9, "Huyện Trung Nam": 6, "Huyện Đông Nam": 6,
    }  # fmt: skip
    by_lat = c.groupby(c.district.str.endswith("Bắc")).center_lat.mean()
    assert by_lat[True] > by_lat[False]  # the "Bắc" (north) districts lie north
    assert c.geometry.is_valid.all()
    assert (c.geom_type == "Polygon").all()


def test_communes_tile_province(sc: Scenario, province: shapely.Polygon) -> None:
    polys = sc.communes.to_crs(UTM).geometry
    union = shapely.union_all(polys.to_numpy())
    assert union.area == pytest.approx(province.area, rel=1e-3)
    assert polys.area.sum() == pytest.approx(union.area, rel=1e-3)  # no overlaps
    assert shapely.symmetric_difference(union, province).area < 1e-3 * province.area


def test_commune_centres_inside_their_commune(sc: Scenario) -> None:
    c = sc.communes
    centres = shapely.points(c[["center_lon", "center_lat"]].to_numpy())
    assert shapely.contains(c.geometry.to_numpy(), centres).all()


def test_villages_columns_and_values(sc: Scenario) -> None:
    v = sc.villages
    assert list(v.columns) == [
        "village_id", "name", "commune_id", "population", "households", "has_grid_power",
        "geometry",
    ]  # fmt: skip
    assert 700 <= len(v) <= 900
    assert v.village_id.is_unique
    assert v.village_id.str.fullmatch(r"V\d{4}").all()
    assert v.name.str.match(r"^(Thôn|Bản) ").all()
    assert not v.duplicated(["commune_id", "name"]).any()
    assert v.population.between(50, 1500).all()
    assert (v.households >= 1).all()
    ratio = v.population / v.households
    assert ratio.between(3.0, 7.5).all()
    assert v.has_grid_power.dtype == bool
    assert 0.05 < 1.0 - v.has_grid_power.mean() < 0.2
    assert (v.geom_type == "Point").all()


def test_each_village_in_exactly_its_commune(sc: Scenario, province: shapely.Polygon) -> None:
    v, c = sc.villages, sc.communes
    joined = gpd.sjoin(v[["village_id", "geometry"]], c[["commune_id", "geometry"]])
    assert joined.village_id.is_unique and len(joined) == len(v)
    assert (joined.commune_id.to_numpy() == v.commune_id.to_numpy()).all()
    assert set(v.commune_id) <= set(c.commune_id)
    utm = v.to_crs(UTM).geometry.to_numpy()
    assert shapely.contains_properly(province, utm).all()


def test_towers_columns_and_values(sc: Scenario, province: shapely.Polygon) -> None:
    t = sc.towers
    assert list(t.columns) == [*TOWER_COLUMNS, "geometry"]
    assert 30 <= len(t) <= 50
    assert t.tower_id.is_unique
    assert t.tower_id.str.fullmatch(r"T\d{3}").all()
    assert set(t.tech) == {"2G", "4G"}
    assert (t.freq_mhz[t.tech == "2G"] == 900.0).all()
    assert t.freq_mhz[t.tech == "4G"].isin([700.0, 1800.0]).all()
    assert (t.eirp_dbm == [TOWER_DEFAULTS[x].eirp_dbm for x in t.tech]).all()
    assert t.height_m.between(20.0, 45.0).all()
    np.testing.assert_allclose(t.lon, t.geometry.x)
    np.testing.assert_allclose(t.lat, t.geometry.y)
    omni = t.azimuth_deg.isna()
    assert (omni == t.beamwidth_deg.isna()).all()
    sector = t[~omni]
    assert 3 <= len(sector) <= 8
    assert (sector.beamwidth_deg == 65.0).all()
    assert sector.tilt_deg.between(2.0, 4.0).all()
    assert sector.azimuth_deg.between(0.0, 360.0).all()
    assert (t.tilt_deg[omni].fillna(0.0) == 0.0).all()
    assert shapely.contains(province, t.to_crs(UTM).geometry.to_numpy()).all()


def test_some_communes_have_no_tower(sc: Scenario) -> None:
    joined = gpd.sjoin(sc.towers[["tower_id", "geometry"]], sc.communes[["commune_id", "geometry"]])
    without = len(sc.communes) - joined.commune_id.nunique()
    assert 4 <= without <= 15


def test_roads_connect_commune_centres(sc: Scenario) -> None:
    r = sc.roads.to_crs(UTM)
    assert list(sc.roads.columns) == ["road_id", "road_class", "geometry"]
    assert r.road_id.is_unique
    assert set(r.road_class) == {"national", "provincial", "commune"}
    assert (r.geom_type == "LineString").all()
    network = shapely.union_all(r.geometry.to_numpy())
    assert shapely.buffer(network, 1.0).geom_type == "Polygon"  # one connected network
    centres = gpd.GeoSeries(
        shapely.points(sc.communes[["center_lon", "center_lat"]].to_numpy()), crs=4326
    ).to_crs(UTM)
    assert (centres.distance(network) < 1.0).all()


def test_backbone_nodes_on_national_road(sc: Scenario) -> None:
    b = sc.backbone
    assert list(b.columns) == ["node_id", "name", "geometry"]
    assert 2 <= len(b) <= 3
    assert b.node_id.is_unique
    national = shapely.union_all(
        sc.roads.to_crs(UTM).geometry[sc.roads.road_class == "national"].to_numpy()
    )
    assert (b.to_crs(UTM).distance(national) < 1.0).all()
    centres = sc.communes[["center_lon", "center_lat"]].to_numpy()
    for x, y in zip(b.geometry.x, b.geometry.y, strict=True):
        assert np.hypot(centres[:, 0] - x, centres[:, 1] - y).min() < 1e-9
