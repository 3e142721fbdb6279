"""Unlisted settlements from a gridded population raster (deadzone.geo.settlements)."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Geod
from rasterio.crs import CRS
from shapely.geometry import Point, box

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.settlements import (
    SETTLEMENT_COLUMNS,
    SettlementParams,
    StatusGrid,
    cell_area_km2,
    settlement_summary,
    settlement_summary_line,
    unlisted_settlements,
)
from deadzone.model.population import PopulationGrid

STEP = 3.0 / 3600.0  # WorldPop's 3 arc-seconds
NODATA = -99999.0


def write_worldpop(path: Path, people: np.ndarray, west: float, north: float) -> Path:
    """A WorldPop-format GeoTIFF: float32, nodata -99999, EPSG:4326, 3" cells."""
    with rasterio.open(path, "w", driver="GTiff", width=people.shape[1], height=people.shape[0],
                       count=1, dtype="float32", crs="EPSG:4326", nodata=NODATA,
                       transform=Affine(STEP, 0, west, 0, -STEP, north)) as dst:
        dst.write(people.astype(np.float32), 1)
    return path


def read_grid(path: Path) -> PopulationGrid:
    """The GeoTIFF read straight with rasterio (the reader of data/population.py aside)."""
    with rasterio.open(path) as src:
        band = src.read(1, masked=True)
        valid = ~np.ma.getmaskarray(band)
        return PopulationGrid(people=np.where(valid, band.filled(0), 0).astype(np.float64),
                              valid=valid, transform=src.transform, crs=src.crs,
                              source=str(path))


def village(lon: float, lat: float, vid: str = "V1") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"village_id": [vid]}, geometry=[Point(lon, lat)], crs=4326)


def lonlat(grid: PopulationGrid, row: float, col: float) -> tuple[float, float]:
    t = grid.transform
    return t.c + (col + 0.5) * t.a, t.f + (row + 0.5) * t.e


WEST, NORTH = 105.0, 22.0


@pytest.fixture
def hand_made(tmp_path: Path) -> PopulationGrid:
    """200 x 200 cells (~17 x 18 km): four clusters of 3 x 3 cells, nodata in a corner.

    A: 20 people/cell at rows 20-22, cols 20-22 (180 people), a listed village at its centre;
    B: 30 people/cell at rows 150-152, cols 150-152 (270 people), far from it;
    C: 3 people/cell (~350/km^2) at rows 20-22, cols 150-152: too sparse;
    D: 5 people/cell at rows 150-152, cols 20-22 (45 people): too few.
    """
    p = np.zeros((200, 200), dtype=np.float32)
    p[20:23, 20:23] = 20.0
    p[150:153, 150:153] = 30.0
    p[20:23, 150:153] = 3.0
    p[150:153, 20:23] = 5.0
    p[190:, 190:] = NODATA
    return read_grid(write_worldpop(tmp_path / "pop.tif", p, WEST, NORTH))


def test_far_cluster_found_near_sparse_and_small_ones_not(hand_made: PopulationGrid) -> None:
    v = village(*lonlat(hand_made, 21, 21))
    s = unlisted_settlements(hand_made, v)
    assert list(s.columns) == [*SETTLEMENT_COLUMNS, "geometry"]
    assert len(s) == 1
    row = s.iloc[0]
    assert row["settlement_id"] == "U0001"
    assert row["people"] == pytest.approx(270.0)
    assert row["cells"] == 9
    lon, lat = lonlat(hand_made, 151, 151)
    assert (row["lon"], row["lat"]) == (pytest.approx(lon), pytest.approx(lat))
    assert row["nearest_village_id"] == "V1"
    # nearest cell centre (row 150, col 150) to the village (21, 21): 129 cells each way
    g = Geod(ellps="WGS84")
    _, _, d = g.inv(*lonlat(hand_made, 21, 21), *lonlat(hand_made, 150, 150))
    assert row["nearest_village_distance_m"] == pytest.approx(d, rel=0.01)
    # the outline is the 3 x 3 cells dissolved: one polygon of their area
    assert row.geometry.geom_type == "Polygon"
    assert row.geometry.area == pytest.approx(9 * STEP * STEP)
    assert row["area_km2"] == pytest.approx(9 * cell_area_km2(hand_made)[151], rel=1e-3)
    # no status raster: all its people are of unknown coverage
    assert row["people_unknown"] == pytest.approx(270.0)
    assert row["status"] == "unknown"


def test_thresholds_move_the_result(hand_made: PopulationGrid) -> None:
    v = village(*lonlat(hand_made, 21, 21))
    # lower density: the sparse cluster C (~375/km^2) is dense enough, but has 27 people ...
    s = unlisted_settlements(hand_made, v, params=SettlementParams(min_density_per_km2=300))
    assert sorted(s["people"].round(3)) == [270.0]
    # ... and joins when fewer people are needed (so does D)
    s = unlisted_settlements(hand_made, v, params=SettlementParams(min_density_per_km2=300,
                                                                    min_people=20))
    assert sorted(s["people"].round(3)) == [27.0, 45.0, 270.0]
    # fewer people needed: the small cluster D (45) joins
    s = unlisted_settlements(hand_made, v, params=SettlementParams(min_people=40))
    assert sorted(s["people"].round(3)) == [45.0, 270.0]
    # no distance limit: the village's own cluster A is reported too
    s = unlisted_settlements(hand_made, v, params=SettlementParams(min_distance_km=0.0))
    assert sorted(s["people"].round(3)) == [270.0]  # A's nearest cell is at distance 0
    # a distance larger than A-B excludes B as well (~15.8 km)
    s = unlisted_settlements(hand_made, v, params=SettlementParams(min_distance_km=20.0))
    assert len(s) == 0
    assert list(s.columns) == [*SETTLEMENT_COLUMNS, "geometry"]


def test_no_villages_every_cluster_counts(hand_made: PopulationGrid) -> None:
    empty = gpd.GeoDataFrame({"village_id": []}, geometry=[], crs=4326)
    s = unlisted_settlements(hand_made, empty)
    assert sorted(s["people"].round(3)) == [180.0, 270.0]
    assert s["nearest_village_id"].isna().all()
    assert s["settlement_id"].tolist() == ["U0001", "U0002"]  # largest first


def test_eight_connectivity_joins_diagonal_cells(tmp_path: Path) -> None:
    p = np.zeros((50, 50), dtype=np.float32)
    for k in range(6):  # a diagonal line of cells, touching corner to corner only
        p[10 + k, 10 + k] = 20.0
    g = read_grid(write_worldpop(tmp_path / "d.tif", p, WEST, NORTH))
    s = unlisted_settlements(g, village(WEST + 1.0, NORTH - 1.0))
    assert len(s) == 1
    assert s["cells"].iloc[0] == 6
    assert s["people"].iloc[0] == pytest.approx(120.0)


def test_nodata_cells_count_nothing(tmp_path: Path) -> None:
    p = np.full((30, 30), NODATA, dtype=np.float32)
    p[5:8, 5:8] = 30.0
    g = read_grid(write_worldpop(tmp_path / "n.tif", p, WEST, NORTH))
    assert not g.valid[0, 0]
    s = unlisted_settlements(g, village(WEST + 1.0, NORTH - 1.0))
    assert s["people"].tolist() == [pytest.approx(270.0)]


def test_cell_area_follows_latitude_against_pyproj() -> None:
    geod = Geod(ellps="WGS84")
    for lat in (0.0, 22.0, 60.0):
        g = PopulationGrid(people=np.zeros((2, 2)), valid=np.ones((2, 2), bool),
                           transform=Affine(STEP, 0, 105.0, 0, -STEP, lat + STEP),
                           crs=CRS.from_epsg(4326))
        ref, _ = geod.polygon_area_perimeter(*box(105.0, lat, 105.0 + STEP, lat + STEP)
                                             .exterior.xy)
        # the closed form on WGS 84 against PROJ's geodesic polygon area
        assert cell_area_km2(g)[0] == pytest.approx(abs(ref) / 1e6, rel=1e-6)
    utm = PopulationGrid(people=np.zeros((2, 2)), valid=np.ones((2, 2), bool),
                         transform=Affine(100, 0, 500000, 0, -100, 2400000),
                         crs=CRS.from_epsg(32648))
    assert cell_area_km2(utm).tolist() == [pytest.approx(0.01)] * 2


def test_density_threshold_uses_each_cells_own_area(tmp_path: Path) -> None:
    """4 people in a 3" cell: ~465/km^2 at the equator (< 500), ~930/km^2 at 60 N (> 500)."""
    p = np.zeros((20, 20), dtype=np.float32)
    p[5:10, 5:10] = 4.0  # 100 people
    found = {}
    for lat in (0.0, 60.0):
        g = read_grid(write_worldpop(tmp_path / f"l{lat:g}.tif", p, WEST, lat + 10 * STEP))
        found[lat] = len(unlisted_settlements(g, village(WEST + 1.0, lat + 1.0)))
    assert found == {0.0: 0, 60.0: 1}


def test_people_split_by_the_status_raster_people_weighted(hand_made: PopulationGrid) -> None:
    """A 10 m status grid in UTM: covered west of the cluster's middle, dead east of it."""
    v = village(*lonlat(hand_made, 21, 21))
    from pyproj import Transformer

    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    lon, lat = lonlat(hand_made, 151, 151)
    x, y = to_utm.transform(lon, lat)
    n = 200
    t = Affine(10.0, 0, x - 1000.0, 0, -10.0, y + 1000.0)
    codes = np.full((n, n), 2, dtype=np.int8)  # dead (geo.population.STATUS_ORDER)
    # the cluster spans ~129 m either side of x: covered west of x - 60 m, marginal to x - 20 m
    codes[:, : n // 2 - 6] = 0
    codes[:, n // 2 - 6: n // 2 - 2] = 1
    status = StatusGrid(codes=codes, transform=t, crs=CRS.from_epsg(32648))
    row = unlisted_settlements(hand_made, v, status=status).iloc[0]
    parts = [row[f"people_{s}"] for s in ("covered", "marginal", "dead", "unknown")]
    assert sum(parts) == pytest.approx(row["people"])
    assert row["people_covered"] > 0 and row["people_marginal"] > 0 and row["people_dead"] > 0
    assert row["people_unknown"] == 0
    assert row["people_dead"] > row["people"] / 2
    assert row["status"] == "dead"
    # off the status grid: unknown
    far = StatusGrid(codes=codes, transform=Affine(10.0, 0, x + 50_000, 0, -10.0, y),
                     crs=CRS.from_epsg(32648))
    row = unlisted_settlements(hand_made, v, status=far).iloc[0]
    assert row["people_unknown"] == pytest.approx(row["people"])


def test_commune_join(hand_made: PopulationGrid) -> None:
    lon, lat = lonlat(hand_made, 151, 151)
    communes = gpd.GeoDataFrame({"commune_id": ["C1", "C2"]},
                                geometry=[box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01),
                                          box(lon + 0.5, lat, lon + 0.6, lat + 0.1)], crs=4326)
    v = village(*lonlat(hand_made, 21, 21))
    s = unlisted_settlements(hand_made, v, communes=communes)
    assert s["commune_id"].tolist() == ["C1"]
    s = unlisted_settlements(hand_made, v, communes=communes.iloc[1:])
    assert s["commune_id"].tolist() == [None]


def test_projected_raster(tmp_path: Path) -> None:
    """A population raster in UTM (100 m cells): 0.01 km^2 each."""
    p = np.zeros((60, 60))
    p[30:33, 30:33] = 10.0  # 1,000/km^2
    g = PopulationGrid(people=p, valid=np.ones(p.shape, bool),
                       transform=Affine(100, 0, 500_000, 0, -100, 2_430_000),
                       crs=CRS.from_epsg(32648))
    s = unlisted_settlements(g, village(102.0, 10.0))
    assert len(s) == 1
    assert s["area_km2"].iloc[0] == pytest.approx(0.09)
    assert s["density_per_km2"].iloc[0] == pytest.approx(1000.0)
    assert 104.9 < s["lon"].iloc[0] < 105.1 and 21.9 < s["lat"].iloc[0] < 22.0


def test_bad_parameters_and_inputs(hand_made: PopulationGrid) -> None:
    with pytest.raises(ParameterError, match="min_density_per_km2 was 0"):
        SettlementParams(min_density_per_km2=0)
    with pytest.raises(ParameterError, match="min_people was -1"):
        SettlementParams(min_people=-1)
    with pytest.raises(ParameterError, match="min_distance_km was nan"):
        SettlementParams(min_distance_km=math.nan)
    with pytest.raises(SchemaError, match="village_id"):
        unlisted_settlements(hand_made, gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0, 0)],
                                                         crs=4326))


def test_summary_and_line(hand_made: PopulationGrid) -> None:
    s = unlisted_settlements(hand_made, village(*lonlat(hand_made, 21, 21)),
                             params=SettlementParams(min_people=40))
    s["people_dead"] = s["people"]  # as if all were in dead cells
    s["people_unknown"] = 0.0
    entry = settlement_summary(s, SettlementParams(min_people=40), population=hand_made,
                               status_known=True)
    assert entry["settlements"] == 2 and entry["people"] == 315 and entry["people_dead"] == 315
    assert entry["parameters"] == {"min_density_per_km2": 500.0, "min_people": 40.0,
                                   "min_distance_km": 1.0}
    assert settlement_summary_line(entry) == (
        "unlisted settlements: 315 people in 2 unlisted settlements, 315 of them in dead zones")
    entry["status_known"] = False
    assert "coverage is unknown" in settlement_summary_line(entry)
