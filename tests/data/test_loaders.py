"""Tests for deadzone.data.loaders and deadzone.data.io.

Synthetic files are written to ``tmp_path``; the real-data tests read
``../shared/data`` and fail (not skip) when a file is missing.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS

from deadzone.data.io import atomic_path, load_scenario, write_raster, write_scenario
from deadzone.data.loaders import (
    PERSONS_PER_HOUSEHOLD,
    assign_communes,
    file_checksum,
    load_communes,
    load_dem,
    load_towers,
    load_villages,
)
from deadzone.errors import (
    CRSError,
    DataLoadError,
    DeadzoneWarning,
    OutputExistsError,
    ParameterError,
    SchemaError,
)
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TOWER_COLUMNS, TOWER_DEFAULTS


def _real(shared: Path, rel: str) -> Path:
    """A file under ``../shared/data`` (``shared_data`` fixture); fail if missing."""
    p = shared / rel
    if not p.exists():
        pytest.fail(f"real test data missing: {p}")
    return p


# --------------------------------------------------------------------------- factories


def _geotiff(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32648",
    transform: Affine | None = None,
    nodata: float | None = None,
) -> Path:
    transform = transform or Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 2_400_000.0)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "transform": transform,
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def _write_csv(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def _villages_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": ["v1", "v2", "v3"],
            "name": ["Bản Phố", "Nà Hang", "Thôn Đồng"],
            "population": [450, 90, 1200],
            "households": [100, 20, 260],
        },
        geometry=gpd.points_from_xy([105.10, 105.20, 105.30], [21.10, 21.20, 21.30]),
        crs=4326,
    )


VILLAGE_CSV = (
    "Mã thôn,Tên,Dân số,Số hộ,Longitude,LAT\n"
    "v1,Bản Phố,450,100,105.1,21.1\n"
    "v2,Nà Hang,90,20,105.2,21.2\n"
    "v3,Thôn Đồng,1200,260,105.3,21.3\n"
)


def _check_villages(v: gpd.GeoDataFrame) -> None:
    assert list(v.columns[:5]) == ["village_id", "name", "commune_id", "population", "households"]
    assert v.crs.to_epsg() == 4326
    assert v["village_id"].tolist() == ["v1", "v2", "v3"]
    assert v["name"].tolist() == ["Bản Phố", "Nà Hang", "Thôn Đồng"]
    assert v["population"].tolist() == [450, 90, 1200]
    assert v["population"].dtype == np.int64
    assert v["households"].tolist() == [100, 20, 260]
    assert v["source_row"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(v.geometry.x, [105.1, 105.2, 105.3])
    np.testing.assert_allclose(v.geometry.y, [21.1, 21.2, 21.3])


# --------------------------------------------------------------------------- checksum


def test_file_checksum_is_sha256(tmp_path: Path) -> None:
    p = tmp_path / "a.bin"
    p.write_bytes(b"x" * 3_000_001)
    assert file_checksum(p) == hashlib.sha256(b"x" * 3_000_001).hexdigest()
    with pytest.raises(DataLoadError, match="not found"):
        file_checksum(tmp_path / "missing.bin")


# --------------------------------------------------------------------------- DEM


def test_dem_projected_geotiff_loads_unchanged(tmp_path: Path) -> None:
    data = np.arange(20, dtype=np.int16).reshape(4, 5)
    dem = load_dem(_geotiff(tmp_path / "d.tif", data))
    assert isinstance(dem, Dem)
    assert dem.elevation_m.dtype == np.float32
    np.testing.assert_array_equal(dem.elevation_m, data.astype(np.float32))
    assert dem.crs.to_epsg() == 32648
    assert dem.cell_w_m == 30.0 and dem.void_count == 0


def test_dem_geographic_is_reprojected_to_utm(tmp_path: Path) -> None:
    # 3 arc-second grid at 21.5 N, 105.5 E (UTM zone 48 north)
    step = 3.0 / 3600.0
    data = (np.add.outer(np.arange(40), np.arange(40)) * 2.0).astype(np.float32)
    path = _geotiff(
        tmp_path / "geo.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(step, 0, 105.5, 0, -step, 21.5),
    )
    dem = load_dem(path)
    assert dem.crs.to_epsg() == 32648
    assert 85.0 < dem.cell_w_m < 95.0 and dem.cell_w_m == dem.cell_h_m
    assert dem.elevation_m.dtype == np.float32
    assert np.isfinite(dem.elevation_m).all()
    assert 0.0 <= dem.elevation_m.min() and dem.elevation_m.max() <= data.max()
    # south hemisphere -> 327xx; explicit resolution and target CRS
    south = _geotiff(
        tmp_path / "south.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(step, 0, 27.5, 0, -step, -29.5),
    )
    assert load_dem(south).crs.to_epsg() == 32735
    assert load_dem(path, resolution_m=200.0).cell_w_m == 200.0
    assert load_dem(path, target_crs="EPSG:3857").crs.to_epsg() == 3857
    with pytest.raises(CRSError, match="projected"):
        load_dem(path, target_crs="EPSG:4326")
    with pytest.raises(ParameterError, match="resolution_m"):
        load_dem(path, resolution_m=-5)


def test_dem_voids_filled_and_counted(tmp_path: Path) -> None:
    data = np.full((10, 10), 100, dtype=np.int16)
    data[4:6, 4:7] = -9999
    with pytest.warns(DeadzoneWarning, match="filled 6 void cells"):
        dem = load_dem(_geotiff(tmp_path / "v.tif", data, nodata=-9999))
    assert dem.void_count == 6
    assert dem.void_mask[4:6, 4:7].all()
    np.testing.assert_allclose(dem.elevation_m, 100.0)

    srtm_like = np.full((5, 5), 7, dtype=np.int16)
    srtm_like[2, 2] = -32768  # SRTM void without a declared nodata
    with pytest.warns(DeadzoneWarning, match="1 void cell"):
        dem = load_dem(_geotiff(tmp_path / "s.tif", srtm_like))
    assert dem.elevation_m[2, 2] == 7.0 and dem.void_count == 1

    with pytest.warns(DeadzoneWarning, match="left as NaN"):
        raw = load_dem(tmp_path / "v.tif", fill_voids=False)
    assert np.isnan(raw.elevation_m).sum() == 6


def test_dem_voids_beyond_search_distance_use_nearest(tmp_path: Path) -> None:
    data = np.full((3, 260), np.nan, dtype=np.float32)
    data[:, 0] = 42.0
    with pytest.warns(DeadzoneWarning, match="777 void cells"):
        dem = load_dem(_geotiff(tmp_path / "far.tif", data, nodata=float("nan")))
    np.testing.assert_allclose(dem.elevation_m, 42.0)


def test_dem_geographic_voids_filled_before_reprojection(tmp_path: Path) -> None:
    step = 3.0 / 3600.0
    data = np.full((30, 30), 500, dtype=np.int16)
    data[10:14, 10:14] = -32768
    path = _geotiff(
        tmp_path / "g.tif",
        data,
        crs="EPSG:4326",
        transform=Affine(step, 0, 105.5, 0, -step, 21.5),
        nodata=-32768,
    )
    with pytest.warns(DeadzoneWarning, match="16 void cells"):
        dem = load_dem(path)
    np.testing.assert_allclose(dem.elevation_m, 500.0, rtol=1e-6)
    assert dem.void_mask.any() and not dem.void_mask.all()


def test_dem_errors(tmp_path: Path) -> None:
    with pytest.raises(DataLoadError, match="no valid elevation") as exc:
        load_dem(_geotiff(tmp_path / "nd.tif", np.full((3, 3), -1, np.int16), nodata=-1))
    assert "nd.tif" in str(exc.value)
    with pytest.raises(CRSError, match="nocrs.tif"):
        load_dem(_geotiff(tmp_path / "nocrs.tif", np.ones((3, 3), np.float32), crs=None))
    text = tmp_path / "notes.tif"
    text.write_text("this is not a raster\nat all\n")
    with pytest.raises(DataLoadError) as exc:
        load_dem(text)
    assert str(text) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(DataLoadError, match="not found"):
        load_dem(tmp_path / "missing.hgt")


def test_dem_real_srtm_tile(shared_data: Path) -> None:
    path = _real(shared_data, "srtm3/N21E105.hgt")
    t0 = time.perf_counter()
    with pytest.warns(DeadzoneWarning, match="1539 void cells of the source") as rec:
        dem = load_dem(path)
    elapsed = time.perf_counter() - t0
    # the grid's count is the one summary.json reports (data voids, not the margins)
    n_grid = int((dem.void_mask & ~dem.outside_footprint_mask).sum())
    assert any(f"{n_grid} cells of the" in str(r.message) for r in rec)
    assert dem.crs.to_epsg() == 32648
    assert 85.0 < dem.cell_w_m < 95.0
    assert dem.elevation_m.dtype == np.float32 and np.isfinite(dem.elevation_m).all()
    assert -100.0 < dem.elevation_m.min() and dem.elevation_m.max() < 1600.0
    assert dem.void_count >= 1539
    rows, cols = dem.shape
    assert 1150 < rows < 1300 and 1100 < cols < 1250
    assert elapsed < 10.0


# --------------------------------------------------------------------------- villages


def test_villages_csv_vietnamese_headers_and_bom(tmp_path: Path) -> None:
    v = load_villages(_write_csv(tmp_path / "v.csv", VILLAGE_CSV, bom=True), communes=None)
    _check_villages(v)
    assert v["village_id"].dtype == v["name"].dtype  # both str
    assert v.attrs["checksum"] == file_checksum(tmp_path / "v.csv")


def test_villages_csv_semicolon_and_has_grid_power(tmp_path: Path) -> None:
    text = (
        "village_id;name;commune_id;pop;hh;electrified;lng;lat;note\n"
        "007;A;00012;10;2;yes;105.1;21.1;x\n"
        "008;B;00012;20;4;no;105.2;21.2;y\n"
    )
    v = load_villages(_write_csv(tmp_path / "s.csv", text))
    assert v["village_id"].tolist() == ["007", "008"]  # leading zeros kept
    assert v["commune_id"].tolist() == ["00012", "00012"]
    assert v["has_grid_power"].tolist() == [True, False]
    assert v["note"].tolist() == ["x", "y"]


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "parquet"])
def test_villages_vector_formats(tmp_path: Path, fmt: str) -> None:
    gdf = _villages_gdf()
    path = tmp_path / f"v.{fmt}"
    if fmt == "parquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path)
    _check_villages(load_villages(path))


def test_villages_reprojected_and_missing_crs(tmp_path: Path) -> None:
    gdf = _villages_gdf()
    gdf.to_crs(32648).to_file(tmp_path / "utm.gpkg")
    v = load_villages(tmp_path / "utm.gpkg")
    np.testing.assert_allclose(v.geometry.x, [105.1, 105.2, 105.3], atol=1e-9)
    assert v.attrs["reprojected_from"] == "EPSG:32648"

    gdf.to_file(tmp_path / "noprj.shp")
    (tmp_path / "noprj.prj").unlink()
    with pytest.warns(DeadzoneWarning, match="assuming EPSG:4326"):
        _check_villages(load_villages(tmp_path / "noprj.shp"))

    gdf.to_crs(32648).to_file(tmp_path / "utm_noprj.shp")
    (tmp_path / "utm_noprj.prj").unlink()
    with pytest.raises(CRSError, match="utm_noprj.shp"):
        load_villages(tmp_path / "utm_noprj.shp")


def test_villages_defaults_warned_and_recorded(tmp_path: Path) -> None:
    text = "name,lon,lat\nA,105.1,21.1\nB,105.2,21.2\n"
    with pytest.warns(DeadzoneWarning) as rec:
        v = load_villages(_write_csv(tmp_path / "bare.csv", text))
    messages = " | ".join(str(w.message) for w in rec)
    assert "no village_id column" in messages and "no population column" in messages
    assert v["village_id"].tolist() == ["row-0", "row-1"]
    assert v["population"].tolist() == [0, 0]
    assert set(v.attrs["defaults"]) >= {"village_id", "population", "households", "commune_id"}

    text = (
        "id,population,lon,lat,commune_id\na,9,105.1,21.1,c\nb,10,105.2,21.2,c\nc,,105.3,21.3,c\n"
    )
    with pytest.warns(DeadzoneWarning) as rec:
        v = load_villages(_write_csv(tmp_path / "nohh.csv", text))
    assert [str(w.message).split(": ", 1)[1][:20] for w in rec] == [
        "field 'population': ",
        "field 'households': ",
    ]
    pph = PERSONS_PER_HOUSEHOLD
    assert v["households"].tolist() == [round(9 / pph), round(10 / pph), 0]
    assert v["population"].tolist() == [9, 10, 0]
    assert "population" in v.attrs["defaults"]


def test_villages_schema_errors(tmp_path: Path) -> None:
    p = _write_csv(tmp_path / "v.csv", VILLAGE_CSV)
    with pytest.raises(SchemaError, match="'dan_so_2024'.*population_col") as exc:
        load_villages(p, population_col="dan_so_2024")
    assert "v.csv" in str(exc.value)

    head = "id,population,households,commune_id,lon,lat\n"
    dup = head + "a,1,1,c,105,21\nb,1,1,c,105,21\na,1,1,c,105,21\n"
    with pytest.raises(SchemaError) as exc:
        load_villages(_write_csv(tmp_path / "dup.csv", dup))
    msg = str(exc.value)
    assert "dup.csv" in msg and "'a'" in msg and "lines 2, 4" in msg and "village_id" in msg

    bad = "id,population,households,commune_id,lon,lat\na,1,1,c,105,21\nb,many,1,c,105,21\n"
    with pytest.raises(SchemaError) as exc:
        load_villages(_write_csv(tmp_path / "bad.csv", bad))
    msg = str(exc.value)
    assert "bad.csv" in msg and "line 3" in msg and "'b'" in msg and "population" in msg
    assert "'many'" in msg and "\n" not in msg

    swapped = (
        "id,population,households,commune_id,lon,lat\na,1,1,c,21.1,105.1\nb,1,1,c,21.2,105.2\n"
    )
    with pytest.raises(SchemaError, match="swapped"):
        load_villages(_write_csv(tmp_path / "swapped.csv", swapped))

    out = "id,population,households,commune_id,lon,lat\na,1,1,c,105,21\nb,1,1,c,105,95\n"
    with pytest.raises(SchemaError, match=r"line 3 \(village_id 'b'\), field 'lat'"):
        load_villages(_write_csv(tmp_path / "range.csv", out))

    nocoords = "id,population\na,1\n"
    with pytest.raises(SchemaError, match="longitude/latitude"):
        load_villages(_write_csv(tmp_path / "nocoords.csv", nocoords))


@pytest.mark.parametrize(
    "content", ["", "id,population,lon,lat\n", '{"type":"FeatureCollection","features":[]}']
)
def test_villages_empty_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / ("empty.geojson" if content.startswith("{") else "empty.csv")
    path.write_text(content)
    with pytest.raises(DataLoadError, match="has no features"):
        load_villages(path)


def test_loaders_missing_and_unreadable_files(tmp_path: Path) -> None:
    for loader in (load_villages, load_communes, load_towers):
        with pytest.raises(DataLoadError, match="not found"):
            loader(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(DataLoadError, match="junk.gpkg"):
        load_villages(junk)


def test_villages_polygons_repaired_and_empty_kept(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(105.0, 21.0), (105.01, 21.01), (105.01, 21.0), (105.0, 21.01)])
    square = shapely.box(105.1, 21.1, 105.11, 21.11)
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b", "c"], "population": [1, 2, 3], "households": [1, 1, 1]},
        geometry=[bowtie, square, None],
        crs=4326,
    )
    gdf.to_file(tmp_path / "poly.gpkg")
    with pytest.warns(DeadzoneWarning) as rec:
        v = load_villages(tmp_path / "poly.gpkg")
    messages = " | ".join(str(w.message) for w in rec)
    assert "repaired 1 invalid geometry" in messages and "without geometry" in messages
    assert len(v) == 3 and v.attrs["repaired"] == 1 and v.attrs["empty_geometries"] == 1
    assert v.geometry.iloc[0].is_valid and v.geometry.iloc[0].area > 0
    assert v.geometry.iloc[1].equals(square)
    assert v.geometry.iloc[2] is None or v.geometry.iloc[2].is_empty


def test_villages_commune_join(tmp_path: Path) -> None:
    communes = gpd.GeoDataFrame(
        {"commune_id": ["c1", "c2"], "name": ["X", "Y"], "province": ["P", "P"]},
        geometry=[shapely.box(105.0, 21.0, 105.1, 21.1), shapely.box(105.1, 21.0, 105.2, 21.1)],
        crs=4326,
    )
    # inside c1; inside c2; ~550 m east of c2; ~55 km away
    text = (
        "id,population,households,lon,lat\n"
        "a,1,1,105.05,21.05\nb,1,1,105.15,21.05\nc,1,1,105.2053,21.05\nd,1,1,105.7,21.5\n"
    )
    with pytest.warns(DeadzoneWarning, match="1 village not inside or within 1000 m"):
        v = load_villages(_write_csv(tmp_path / "j.csv", text), communes=communes)
    assert v["commune_id"].tolist() == ["c1", "c2", "c2", ""]
    assert "spatial join" in v.attrs["defaults"]["commune_id"]


def test_villages_multilayer_gpkg_needs_layer(tmp_path: Path) -> None:
    gdf = _villages_gdf()
    path = tmp_path / "multi.gpkg"
    gdf.to_file(path, layer="a")
    gdf.to_file(path, layer="b", mode="a")
    with pytest.raises(DataLoadError, match="layer="):
        load_villages(path)
    _check_villages(load_villages(path, layer="b"))


# --------------------------------------------------------------------------- communes


def test_communes_autodetect_repair_and_bbox(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(105.0, 21.0), (105.1, 21.1), (105.1, 21.0), (105.0, 21.1)])
    gdf = gpd.GeoDataFrame(
        {
            "ward_code": ["00001", "00002", "00003"],
            "name": ["Phường A", "Xã B", "Xã C"],
            "province_name": ["Hà Nội", "Hà Nội", "Cao Bằng"],
            "area_km2": [1.0, 2.0, 3.0],
        },
        geometry=[bowtie, shapely.box(105.2, 21.0, 105.3, 21.1), shapely.box(106, 22, 106.1, 22.1)],
        crs=4326,
    )
    gdf.to_file(tmp_path / "c.gpkg")
    with pytest.warns(DeadzoneWarning, match="repaired 1 invalid geometry"):
        c = load_communes(tmp_path / "c.gpkg")
    assert list(c.columns) == ["commune_id", "name", "province", "area_km2", "geometry"]
    assert c["commune_id"].tolist() == ["00001", "00002", "00003"]
    assert c["province"].tolist() == ["Hà Nội", "Hà Nội", "Cao Bằng"]
    assert c.attrs["repaired"] == 1 and c.is_valid.all()
    assert set(c.geom_type) <= {"Polygon", "MultiPolygon"}

    with pytest.warns(DeadzoneWarning):
        sub = load_communes(tmp_path / "c.gpkg", bbox=(104.9, 20.9, 105.25, 21.05))
    assert sub["commune_id"].tolist() == ["00001", "00002"]
    with pytest.raises(SchemaError, match="'ma'.*id_col"):
        load_communes(tmp_path / "c.gpkg", id_col="ma")

    dup = gdf.assign(ward_code=["x", "x", "y"]).iloc[1:].assign(ward_code=["x", "x"])
    dup.to_file(tmp_path / "dup.gpkg")
    with pytest.raises(SchemaError, match="duplicated commune_id 'x' in features 1, 2"):
        load_communes(tmp_path / "dup.gpkg")


def test_communes_real_2025(shared_data: Path) -> None:
    path = _real(shared_data, "vn_admin_2025/vn_communes_2025.gpkg")
    with pytest.warns(DeadzoneWarning, match="repaired 76 invalid geometries"):
        c = load_communes(path)
    assert len(c) == 3321 and c["commune_id"].is_unique
    assert c.attrs["repaired"] == 76
    assert c.is_valid.all() and set(c.geom_type) <= {"Polygon", "MultiPolygon"}
    assert c["province"].nunique() == 34
    assert {"population", "center_lon", "center_lat"} <= set(c.columns)
    with pytest.warns(DeadzoneWarning, match="repaired"):
        tile = load_communes(path, bbox=(105.0, 21.0, 106.0, 22.0))
    assert len(tile) == 293
    assert set(tile["commune_id"]) <= set(c["commune_id"])


# --------------------------------------------------------------------------- towers


def test_towers_plain_csv_with_defaults(tmp_path: Path) -> None:
    text = (
        "site_id,Longitude,Latitude,technology,freq_mhz,eirp_dbm,height,azimuth\n"
        "A,105.1,21.1,LTE,1800,60,35,\n"
        "B,105.2,21.2,gsm,,,,120\n"
        "C,105.3,21.3,,,,40,\n"
    )
    with pytest.warns(DeadzoneWarning, match=r"t\.csv: 2 of 3 tower\(s\) lack radio param"):
        t = load_towers(_write_csv(tmp_path / "t.csv", text), default_tech="3G")
    assert list(t.columns[: len(TOWER_COLUMNS)]) == list(TOWER_COLUMNS)
    assert t["tower_id"].tolist() == ["A", "B", "C"]
    assert t["tech"].tolist() == ["4G", "2G", "3G"]
    assert t["params_source"].tolist() == [
        "file",
        "defaults:freq_mhz,eirp_dbm,height_m,beamwidth_deg",
        "defaults:tech,freq_mhz,eirp_dbm",
    ]
    assert t["freq_mhz"].tolist() == [1800.0, TOWER_DEFAULTS["2G"].freq_mhz, 2100.0]
    assert t["height_m"].tolist() == [35.0, 30.0, 40.0]
    assert np.isnan(t["azimuth_deg"].iloc[0]) and t["azimuth_deg"].iloc[1] == 120.0
    assert t["beamwidth_deg"].iloc[1] == 65.0 and np.isnan(t["beamwidth_deg"].iloc[0])
    assert (t["tilt_deg"] == 0.0).all()
    np.testing.assert_allclose(t["lon"], t.geometry.x)


def test_towers_missing_id_and_geojson(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"height_m": [25.0, 45.0]},
        geometry=gpd.points_from_xy([105.1, 105.2], [21.1, 21.2]),
        crs=4326,
    )
    gdf.to_file(tmp_path / "t.geojson")
    with pytest.warns(DeadzoneWarning, match="2 of 2 tower"):
        t = load_towers(tmp_path / "t.geojson")
    assert t["tower_id"].tolist() == ["T0", "T1"]
    assert t["tech"].tolist() == ["4G", "4G"]
    assert t["lat"].tolist() == [21.1, 21.2]
    assert t["params_source"].iloc[0] == "defaults:tech,freq_mhz,eirp_dbm"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("X,105.1,21.1,4G,1800,60,0", "height_m"),
        ("X,105.1,21.1,4G,1800,60,501", "height_m"),
        ("X,105.1,21.1,4G,1800,95,30", "eirp_dbm"),
        ("X,105.1,21.1,4G,20,60,30", "freq_mhz"),
        ("X,105.1,-91,4G,1800,60,30", "lat"),
        ("X,181,21.1,4G,1800,60,30", "lon"),
        ("X,105.1,21.1,6G,1800,60,30", "tech"),
        ("X,105.1,21.1,4G,high,60,30", "freq_mhz"),
    ],
)
def test_towers_bad_values(tmp_path: Path, row: str, field: str) -> None:
    text = (
        "tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m\nOK,105,21,4G,1800,60,30\n" + row + "\n"
    )
    with pytest.raises(SchemaError) as exc:
        load_towers(_write_csv(tmp_path / "bad.csv", text))
    msg = str(exc.value)
    assert "bad.csv" in msg and "line 3" in msg and "'X'" in msg and f"field '{field}'" in msg


def test_towers_swapped_and_duplicates(tmp_path: Path) -> None:
    swapped = "tower_id,lon,lat\nA,21.1,105.1\nB,21.2,105.2\n"
    with pytest.raises(SchemaError, match="swapped"):
        load_towers(_write_csv(tmp_path / "sw.csv", swapped))
    dup = "tower_id,lon,lat\nA,105.1,21.1\nA,105.2,21.2\n"
    with pytest.raises(SchemaError, match="duplicated tower_id 'A'"):
        load_towers(_write_csv(tmp_path / "dup.csv", dup))
    with pytest.raises(ParameterError, match="default_tech"):
        load_towers(_write_csv(tmp_path / "ok.csv", "lon,lat\n105,21\n"), default_tech="LTE")


def test_towers_opencellid_grouped_into_sites(tmp_path: Path) -> None:
    header = (
        "radio,mcc,net,area,cell,unit,lon,lat,range,samples,"
        "changeable,created,updated,averageSignal\n"
    )
    rows = [
        "GSM,452,4,1,11,0,105.50000,21.50000,1000,3,1,0,0,0",  # site 1
        "GSM,452,4,1,12,0,105.50030,21.50030,1200,2,1,0,0,0",  # ~45 m away: site 1
        "LTE,452,4,2,21,0,105.50010,21.50000,800,5,1,0,0,0",  # same place, other tech
        "GSM,452,4,1,13,0,105.51000,21.50000,900,1,1,0,0,0",  # ~1 km: site 2
        "GSM,452,5,9,31,0,105.50000,21.50000,700,1,1,0,0,0",  # other operator
        "CDMA,452,4,1,41,0,105.50000,21.50000,700,1,1,0,0,0",  # not supported
    ]
    path = _write_csv(tmp_path / "cells.csv", header + "\n".join(rows) + "\n")
    with pytest.warns(DeadzoneWarning, match="dropped 1 cell with radio CDMA"):
        t = load_towers(path)
    assert t["tower_id"].tolist() == ["452-4-2G-1", "452-4-2G-2", "452-4-4G-1", "452-5-2G-1"]
    assert t["cells"].tolist() == [2, 1, 1, 1]
    assert t["samples"].tolist() == [5, 1, 5, 1]
    assert t["range_m"].iloc[0] == 1200.0
    assert t["tech"].tolist() == ["2G", "2G", "4G", "2G"]
    assert (t["params_source"] == "defaults:freq_mhz,eirp_dbm,height_m").all()
    assert t["eirp_dbm"].tolist() == [TOWER_DEFAULTS[x].eirp_dbm for x in t["tech"]]
    assert t["lon"].iloc[0] == pytest.approx(105.50015)
    # each site keeps its member cells' keys, in file order (measurements match on them)
    assert t["cells_keys"].tolist() == [
        "452-4-1-11;452-4-1-12", "452-4-1-13", "452-4-2-21", "452-5-9-31"
    ]


def test_towers_real_opencellid_lesotho(shared_data: Path) -> None:
    path = _real(shared_data, "opencellid_lesotho/LesothoCellTowersData.csv")
    t = load_towers(path)
    assert t.attrs["opencellid"]["cells"] == 1936
    assert t.groupby("tech")["cells"].sum().to_dict() == {"2G": 754, "3G": 1050, "4G": 132}
    assert t["tower_id"].is_unique and t["tower_id"].str.match(r"^651-\d+-[234]G-\d+$").all()
    assert len(t) < 1936 and t.crs.to_epsg() == 4326
    assert t["lat"].between(-31, -28).mean() > 0.95  # a few points lie outside Lesotho
    assert (t["height_m"] == 30.0).all()
    keys = t["cells_keys"].str.split(";")
    assert (keys.str.len() == t["cells"]).all()
    assert keys.iloc[0][0] == "651-1-117-11201"  # the file's first GSM cell (MCC, MNC, TAC, CID)


# --------------------------------------------------------------------------- io


def test_atomic_path_renames_on_success_and_cleans_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".txt"
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_raster(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    tr = Affine(30, 0, 500_000, 0, -30, 2_400_000)
    p = write_raster(tmp_path / "r.tif", arr, tr, "EPSG:32648", nodata=-1.0)
    with rasterio.open(p) as src:
        assert src.profile["compress"] == "deflate" and src.profile["tiled"]
        assert src.dtypes[0] == "float32" and src.nodata == -1.0 and src.crs.to_epsg() == 32648
        np.testing.assert_array_equal(src.read(1), arr)
    with pytest.raises(OutputExistsError, match="r.tif"):
        write_raster(p, arr, tr, "EPSG:32648")
    write_raster(p, arr * 2, tr, "EPSG:32648", overwrite=True)
    with rasterio.open(p) as src:
        assert src.read(1)[0, 1] == 2.0


def _scenario() -> Scenario:
    elev = np.arange(30, dtype=np.float32).reshape(5, 6) * 1.5
    voids = np.zeros((5, 6), dtype=bool)
    voids[1, 2] = True
    dem = Dem(elev, Affine(90, 0, 500_000, 0, -90, 2_400_000), CRS.from_epsg(32648), voids, "x")
    communes = gpd.GeoDataFrame(
        {
            "commune_id": ["00001", "00002"],
            "name": ["Xã Một", "Xã Hai"],
            "province": ["T", "T"],
            "area_km2": [1.5, 2.5],
        },
        geometry=[shapely.box(105.0, 21.0, 105.1, 21.1), shapely.box(105.1, 21.0, 105.2, 21.1)],
        crs=4326,
    )
    villages = gpd.GeoDataFrame(
        {
            "village_id": ["v1", "v2", "v3"],
            "name": ["Bản Phố", "Nà Hang", "Đồng"],
            "commune_id": ["00001", "00002", "00002"],
            "population": [450, 90, 1200],
            "households": [100, 20, 260],
            "has_grid_power": [True, False, True],
            "source_row": [0, 1, 2],
        },
        geometry=[
            shapely.Point(105.05, 21.05),
            shapely.Point(105.15, 21.05),
            shapely.box(105.16, 21.06, 105.17, 21.07),
        ],
        crs=4326,
    )
    towers = gpd.GeoDataFrame(
        {
            "tower_id": ["T1", "T2"],
            "lon": [105.05, 105.12],
            "lat": [21.02, 21.08],
            "tech": ["4G", "2G"],
            "freq_mhz": [1800.0, 900.0],
            "eirp_dbm": [61.0, 55.0],
            "height_m": [30.0, 42.5],
            "azimuth_deg": [np.nan, 120.0],
            "beamwidth_deg": [np.nan, 65.0],
            "tilt_deg": [0.0, 2.0],
            "params_source": ["defaults:freq_mhz,eirp_dbm,height_m", "file"],
            "cells": [3, 1],
            "source_row": [0, 1],
        },
        geometry=gpd.points_from_xy([105.05, 105.12], [21.02, 21.08]),
        crs=4326,
    )
    roads = gpd.GeoDataFrame(
        {"road_id": ["r1"], "road_class": ["national"]},
        geometry=[shapely.LineString([(105.0, 21.0), (105.2, 21.1)])],
        crs=4326,
    )
    backbone = gpd.GeoDataFrame(
        {"node_id": ["n1"], "name": ["POP"]}, geometry=[shapely.Point(105.0, 21.0)], crs=4326
    )
    return Scenario(dem, communes, villages, towers, roads, backbone, name="tiny", meta={"k": 1})


def _assert_layer_equal(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, *, check_dtype: bool) -> None:
    assert list(a.columns) == list(b.columns)
    attrs = [c for c in a.columns if c != a.geometry.name]
    pd.testing.assert_frame_equal(
        pd.DataFrame(a[attrs]).reset_index(drop=True),
        pd.DataFrame(b[attrs]).reset_index(drop=True),
        check_dtype=check_dtype,
    )
    assert a.geometry.reset_index(drop=True).geom_equals(b.geometry.reset_index(drop=True)).all()


def test_write_and_load_scenario_round_trip(tmp_path: Path) -> None:
    s = _scenario()
    paths = write_scenario(s, tmp_path / "sc")
    assert set(paths) == {
        "dem.tif",
        "dem_voids.tif",
        "communes.gpkg",
        "villages.gpkg",
        "villages.csv",
        "towers.csv",
        "towers.gpkg",
        "roads.gpkg",
        "backbone.gpkg",
        "scenario.json",
    }
    assert not [p for p in (tmp_path / "sc").iterdir() if p.name.startswith(".")]
    with rasterio.open(paths["dem.tif"]) as src:
        assert src.dtypes[0] == "float32" and src.profile["compress"] == "deflate"
        assert src.profile["tiled"]
    header = paths["villages.csv"].read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.endswith("lon,lat,wkt") and "Bản Phố" in paths["villages.csv"].read_text("utf-8")

    s2 = load_scenario(tmp_path / "sc")
    np.testing.assert_array_equal(s2.dem.elevation_m, s.dem.elevation_m)
    np.testing.assert_array_equal(s2.dem.void_mask, s.dem.void_mask)
    assert s2.dem.transform == s.dem.transform and s2.dem.crs == s.dem.crs
    for name in ("communes", "villages", "towers", "roads", "backbone"):
        _assert_layer_equal(getattr(s, name), getattr(s2, name), check_dtype=False)
    assert s2.name == "tiny" and s2.meta["k"] == 1 and "loaded_from" in s2.meta

    # the CSV copies (lon/lat, wkt for the polygon) hold the same data as the GeoPackages
    _assert_layer_equal(s2.villages, load_villages(paths["villages.csv"]), check_dtype=True)
    _assert_layer_equal(s2.towers, load_towers(paths["towers.csv"]), check_dtype=True)

    # writing what was loaded and loading it again changes nothing, dtypes included
    write_scenario(s2, tmp_path / "sc2")
    s3 = load_scenario(write_scenario(s2, tmp_path / "sc3"))
    for name in ("communes", "villages", "towers", "roads", "backbone"):
        _assert_layer_equal(getattr(s2, name), getattr(s3, name), check_dtype=True)


def test_write_scenario_refuses_overwrite_and_reads_edited_csv(tmp_path: Path) -> None:
    s = _scenario()
    out = tmp_path / "sc"
    write_scenario(s, out)
    with pytest.raises(OutputExistsError, match="dem.tif"):
        write_scenario(s, out)
    s.roads = None
    write_scenario(s, out, overwrite=True)
    assert not (out / "roads.gpkg").exists()

    # a planner edits the towers CSV: that copy wins over the untouched GeoPackage
    csv = out / "towers.csv"
    csv.write_text(csv.read_text(encoding="utf-8-sig").replace(",42.5,", ",50.0,"), "utf-8")
    s2 = load_scenario(out)
    assert s2.towers.set_index("tower_id").loc["T2", "height_m"] == 50.0
    assert s2.roads is None


def test_towers_eirp_from_link_budget(tmp_path: Path) -> None:
    text = (
        "tower_id,lon,lat,tech,tx_power_dbm,antenna_gain_dbi,cable_loss_db,eirp_dbm\n"
        "A,105.1,21.1,4G,43,17,2,\n"
        "B,105.2,21.2,2G,40,,,\n"
        "C,105.3,21.3,4G,,,,50\n"
    )
    with pytest.warns(DeadzoneWarning, match="antenna_gain_dbi in 1"):
        t = load_towers(_write_csv(tmp_path / "budget.csv", text))
    assert t["eirp_dbm"].tolist() == [58.0, 40.0 + 15.0 - 3.0, 50.0]
    assert "antenna_gain_dbi" in t.loc[1, "params_source"]
    assert "eirp_dbm" not in t.loc[0, "params_source"]
    bad = "tower_id,lon,lat,tech,tx_power_dbm\nA,105.1,21.1,4G,160\n"
    with pytest.raises(SchemaError, match="line 2 .*tx_power_dbm"):
        load_towers(_write_csv(tmp_path / "bad_budget.csv", bad))


def test_dem_window_read_matches_the_full_read(shared_data: Path) -> None:
    import warnings

    srtm = shared_data / "srtm3" / "N21E105.hgt"
    box = (105.2, 21.2, 105.5, 21.4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        part = load_dem(srtm, bounds_lonlat=box, target_crs="EPSG:32648", resolution_m=90.0)
        full = load_dem(srtm, target_crs="EPSG:32648", resolution_m=90.0)
    assert part.shape[0] * part.shape[1] < 0.15 * full.shape[0] * full.shape[1]
    # the window covers the box
    from rasterio.warp import transform_bounds

    xmin, ymin, xmax, ymax = transform_bounds("EPSG:4326", part.crs, *box)
    b = part.bounds
    assert b[0] <= xmin + 90 and b[1] <= ymin + 90 and b[2] >= xmax - 90 and b[3] >= ymax - 90
    # same terrain where both grids sample the same place (within resampling noise)
    x, y = (xmin + xmax) / 2, (ymin + ymax) / 2
    rp, cp, _ = part.rowcol([x], [y])
    rf, cf, _ = full.rowcol([x], [y])
    assert abs(float(part.elevation_m[rp[0], cp[0]]) - float(full.elevation_m[rf[0], cf[0]])) < 60
    with pytest.raises(DataLoadError, match="does not cover"):
        load_dem(srtm, bounds_lonlat=(10.0, 10.0, 11.0, 11.0))


def test_dem_window_of_a_projected_raster_is_an_exact_slice(tmp_path: Path) -> None:
    z = np.arange(200 * 300, dtype=np.float32).reshape(200, 300) % 977 + 100
    tf = Affine(30.0, 0, 500_000.0, 0, -30.0, 2_400_000.0)
    path = write_raster(tmp_path / "p.tif", z, tf, "EPSG:32648")
    full = load_dem(path)
    from rasterio.warp import transform_bounds

    # a lon/lat box around cells rows 50..120, cols 80..200
    x0, y1 = tf @ (80, 50)
    x1, y0 = tf @ (200, 120)
    box = transform_bounds("EPSG:32648", "EPSG:4326", x0, y0, x1, y1)
    part = load_dem(path, bounds_lonlat=box)
    col0 = round((part.transform.c - tf.c) / 30.0)
    row0 = round((tf.f - part.transform.f) / 30.0)
    rows, cols = part.shape
    np.testing.assert_array_equal(part.elevation_m,
                                  full.elevation_m[row0:row0 + rows, col0:col0 + cols])
    assert row0 <= 50 and col0 <= 80 and row0 + rows >= 120 and col0 + cols >= 200


def test_assign_communes_fills_only_missing_ids() -> None:
    communes = gpd.GeoDataFrame(
        {"commune_id": ["A", "B"]},
        geometry=[shapely.box(105.0, 21.0, 105.5, 21.5), shapely.box(105.5, 21.0, 106.0, 21.5)],
        crs=4326,
    )
    villages = gpd.GeoDataFrame(
        {"village_id": ["v1", "v2", "v3", "v4"], "commune_id": ["", "KEEP", "", ""]},
        geometry=[shapely.Point(105.2, 21.2), shapely.Point(105.7, 21.2),
                  shapely.Point(105.7, 21.3), shapely.Point(110.0, 10.0)],
        crs=4326,
    )
    with pytest.warns(DeadzoneWarning, match="not inside or within"):
        out = assign_communes(villages, communes)
    assert out["commune_id"].tolist() == ["A", "KEEP", "B", ""]
    assert "spatial join" in out.attrs["defaults"]["commune_id"]
    assert villages["commune_id"].tolist() == ["", "KEEP", "", ""]  # input untouched
