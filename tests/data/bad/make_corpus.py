"""Generate the bad-input corpus of issue #8 (deterministic; run from anywhere).

``python tests/data/bad/make_corpus.py`` writes ``base/`` (a tiny valid
scenario: 60 x 60 flat DEM at 30 m in UTM 48N, four villages, two communes,
one tower) with :func:`deadzone.data.io.write_scenario`, then one folder per
bad case holding only the file(s) that differ from ``base/``.  Each case
changes one thing.  ``tests/data/test_bad_inputs.py`` runs ``deadzone audit``
on every case; ``README.md`` documents the outcome of each.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deadzone.data.io import write_scenario  # noqa: E402
from tests.conftest import X0, Y0, small_scenario  # noqa: E402

N = 60  #: DEM rows and columns
CELL_M = 30.0
BASE = HERE / "base"
#: Role -> file name in ``base/``.
BASE_FILES = {
    "dem": "dem.tif",
    "villages": "villages.csv",
    "communes": "communes.geojson",
    "towers": "towers.csv",
}


def _scenario():  # noqa: ANN202
    z = np.full((N, N), 100.0, dtype=np.float32)
    z[:, 40:45] = 140.0  # a ridge east of the tower
    w = N * CELL_M
    villages = [(w * 0.2, w * 0.5), (w * 0.9, w * 0.5), (w * 0.5, w * 0.2), (w * 0.5, w * 0.8)]
    return small_scenario(z=z, villages=villages, towers=[{"x": w / 2, "y": w / 2}], cell_m=CELL_M)


def _write_dem(
    path: Path, z: np.ndarray, *, crs: CRS | None, transform: Affine, nodata: float | None = None
) -> None:
    profile = {
        "driver": "GTiff",
        "width": z.shape[1],
        "height": z.shape[0],
        "count": 1,
        "dtype": z.dtype.name,
        "transform": transform,
        "compress": "deflate",
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)


def _csv_rows(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()


def _write_text(
    path: Path,
    lines: list[str],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
) -> None:
    text = "\n".join(lines) + "\n"
    data = _cp1258(text) if encoding == "cp1258" else text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def _cp1258(text: str) -> bytes:
    """Encode as Windows-1258: precomposed where the code page has it, else base + tone mark."""
    out = bytearray()
    for ch in text:
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", ch)
            out += _cp1258(unicodedata.normalize("NFC", d[:-1])) + d[-1].encode("cp1258")
    return bytes(out)


def _feature(props: dict, geom: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geom}


def _geojson(path: Path, features: list[dict], crs: str | None = None) -> None:
    doc: dict = {"type": "FeatureCollection"}
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    doc["features"] = features
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _edit_csv(lines: list[str], row: int, column: str, value: str) -> list[str]:
    """Replace one cell (row 0 = first data row) of a comma CSV without quotes."""
    head = lines[0].split(",")
    out = list(lines)
    cells = out[row + 1].split(",")
    cells[head.index(column)] = value
    out[row + 1] = ",".join(cells)
    return out


def _drop_column(lines: list[str], column: str) -> list[str]:
    j = lines[0].split(",").index(column)
    return [",".join(c for k, c in enumerate(line.split(",")) if k != j) for line in lines]


def build(out: Path = HERE) -> list[str]:
    """Write ``base/`` and every case folder under ``out``; return the case names."""
    scen = _scenario()
    for p in out.iterdir():
        if p.is_dir() and p.name != "__pycache__":
            shutil.rmtree(p)
    base = out / "base"
    base.mkdir()
    with tempfile.TemporaryDirectory() as tmp:
        write_scenario(scen, tmp)
        shutil.copy(Path(tmp) / "villages.csv", base / "villages.csv")
        shutil.copy(Path(tmp) / "towers.csv", base / "towers.csv")
    z = np.asarray(scen.dem.elevation_m, dtype=np.float32)
    utm = CRS.from_epsg(32648)
    tr = Affine(CELL_M, 0, X0, 0, -CELL_M, Y0)
    _write_dem(base / "dem.tif", z, crs=utm, transform=tr)
    communes = scen.communes.to_crs(4326)
    feats = [
        _feature(
            {"commune_id": r.commune_id, "name": r.name, "province": r.province},
            json.loads(json.dumps(r.geometry.__geo_interface__)),
        )
        for r in communes.itertuples()
    ]
    _geojson(base / "communes.geojson", feats)

    vil = _csv_rows(base / "villages.csv")
    tow = _csv_rows(base / "towers.csv")
    vh = vil[0].split(",")
    vrows = [dict(zip(vh, line.split(","), strict=True)) for line in vil[1:]]

    def case(name: str) -> Path:
        d = out / name
        d.mkdir()
        return d

    # ---- empty files / zero rows
    (case("empty_villages") / "villages.csv").write_bytes(b"")
    (case("empty_towers") / "towers.csv").write_bytes(b"")
    (case("empty_dem") / "dem.tif").write_bytes(b"")
    (case("empty_communes") / "communes.geojson").write_bytes(b"")
    _write_text(case("zero_villages") / "villages.csv", vil[:1], bom=True)
    _write_text(case("zero_towers") / "towers.csv", tow[:1], bom=True)
    _geojson(case("zero_communes") / "communes.geojson", [])

    # ---- CRS
    _write_dem(case("dem_no_crs") / "dem.tif", z, crs=None, transform=tr)
    # towers.csv with UTM metres in the lon/lat columns (wrong CRS for a table)
    lines = list(tow)
    lon = float(tow[1].split(",")[-2])
    lat = float(tow[1].split(",")[-1])
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 32648, always_xy=True).transform(lon, lat)
    lines = _edit_csv(lines, 0, "lon", f"{x:.1f}")
    lines = _edit_csv(lines, 0, "lat", f"{y:.1f}")
    _write_text(case("towers_utm_as_lonlat") / "towers.csv", lines, bom=True)
    # villages GeoJSON in UTM 48N declared by a (legacy) crs member: reprojected
    vfeats_utm = []
    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    for r in vrows:
        vx, vy = to_utm.transform(float(r["lon"]), float(r["lat"]))
        vfeats_utm.append(
            _feature(
                {
                    "village_id": r["village_id"],
                    "name": r["name"],
                    "population": int(r["population"]),
                },
                {"type": "Point", "coordinates": [round(vx, 2), round(vy, 2)]},
            )
        )
    _geojson(
        case("villages_projected_crs") / "villages.geojson",
        vfeats_utm,
        crs="urn:ogc:def:crs:EPSG::32648",
    )
    # a shapefile in UTM metres without its .prj: no CRS, coordinates not degrees
    import geopandas as gpd

    d = case("villages_shp_no_crs")
    g = gpd.GeoDataFrame(
        {
            "village_id": [r["village_id"] for r in vrows],
            "population": [int(r["population"]) for r in vrows],
        },
        geometry=gpd.points_from_xy(
            [f["geometry"]["coordinates"][0] for f in vfeats_utm],
            [f["geometry"]["coordinates"][1] for f in vfeats_utm],
        ),
        crs=None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": intended
        g.to_file(d / "villages.shp", driver="ESRI Shapefile")
    # The .dbf header stamps the day it was written (bytes 1-3: year - 1900, month,
    # day); a fixed date keeps the corpus byte-identical whatever day it is rebuilt.
    with open(d / "villages.dbf", "r+b") as f:
        f.seek(1)
        f.write(bytes([2026 - 1900, 11, 23]))

    # ---- coordinates
    sw = [vil[0]] + [
        ",".join(r[c] if c not in ("lon", "lat") else r["lat" if c == "lon" else "lon"] for c in vh)
        for r in vrows
    ]
    _write_text(case("villages_lonlat_swapped") / "villages.csv", sw, bom=True)
    tl = tow[1].split(",")
    tl[-2], tl[-1] = tl[-1], tl[-2]
    _write_text(case("towers_lonlat_swapped") / "towers.csv", [tow[0], ",".join(tl)], bom=True)
    _write_text(
        case("villages_lat_out_of_range") / "villages.csv",
        _edit_csv(vil, 2, "lat", "95.0"),
        bom=True,
    )
    _write_text(
        case("villages_lon_missing") / "villages.csv", _edit_csv(vil, 1, "lon", ""), bom=True
    )
    # a village 0.5 degree east of the DEM
    _write_text(
        case("village_outside_dem") / "villages.csv",
        _edit_csv(vil, 3, "lon", f"{float(vrows[3]['lon']) + 0.5:.6f}"),
        bom=True,
    )
    # a tower 0.3 degree (about 30 km) east of the DEM, plus the original one
    far = tow[1].split(",")
    far[0] = "T_far"
    far[-2] = f"{lon + 0.3:.6f}"
    _write_text(case("tower_outside_dem") / "towers.csv", [tow[0], tow[1], ",".join(far)], bom=True)
    _write_text(case("only_tower_outside_dem") / "towers.csv", [tow[0], ",".join(far)], bom=True)

    # ---- DEM content
    _write_dem(
        case("dem_all_nodata") / "dem.tif",
        np.full((N, N), -9999.0, np.float32),
        crs=utm,
        transform=tr,
        nodata=-9999.0,
    )
    zv = z.copy()
    zv[10:30, 5:25] = -9999.0
    _write_dem(case("dem_partly_void") / "dem.tif", zv, crs=utm, transform=tr, nodata=-9999.0)
    zn = z.copy()
    zn[35:50, 30:55] = np.nan
    _write_dem(case("dem_nan_voids") / "dem.tif", zn, crs=utm, transform=tr, nodata=np.nan)
    # the same area as a geographic (EPSG:4326) DEM at 1 arc-second
    to_ll = Transformer.from_crs(32648, 4326, always_xy=True)
    w_, s_ = to_ll.transform(X0, Y0 - N * CELL_M)
    e_, n_ = to_ll.transform(X0 + N * CELL_M, Y0)
    step = 1.0 / 3600.0
    cols = int(np.ceil((e_ - w_) / step)) + 2
    rows = int(np.ceil((n_ - s_) / step)) + 2
    zg = np.full((rows, cols), 100.0, dtype=np.float32)
    _write_dem(
        case("dem_geographic") / "dem.tif",
        zg,
        crs=CRS.from_epsg(4326),
        transform=Affine(step, 0, w_ - step, 0, -step, n_ + step),
    )
    # wrong CRS on the DEM: UTM metres labelled EPSG:4326, degrees labelled UTM 48N
    _write_dem(
        case("dem_wrong_crs_geographic") / "dem.tif", z, crs=CRS.from_epsg(4326), transform=tr
    )
    _write_dem(
        case("dem_wrong_crs_projected") / "dem.tif",
        z,
        crs=utm,
        transform=Affine(step, 0, w_, 0, -step, n_),
    )
    (case("dem_not_a_raster") / "dem.tif").write_text("this is not a GeoTIFF\n")

    # ---- geometry
    p0 = [float(vrows[0]["lon"]), float(vrows[0]["lat"])]
    d = 0.002
    mixed = [
        _feature({"village_id": "V0", "population": 100}, {"type": "Point", "coordinates": p0}),
        _feature(
            {"village_id": "V1", "population": 110},
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [float(vrows[1]["lon"]) - d, float(vrows[1]["lat"]) - d],
                        [float(vrows[1]["lon"]) + d, float(vrows[1]["lat"]) - d],
                        [float(vrows[1]["lon"]) + d, float(vrows[1]["lat"]) + d],
                        [float(vrows[1]["lon"]) - d, float(vrows[1]["lat"]) + d],
                        [float(vrows[1]["lon"]) - d, float(vrows[1]["lat"]) - d],
                    ]
                ],
            },
        ),
        _feature(
            {"village_id": "V2", "population": 120},
            {
                "type": "LineString",
                "coordinates": [
                    [float(vrows[2]["lon"]) - d, float(vrows[2]["lat"])],
                    [float(vrows[2]["lon"]) + d, float(vrows[2]["lat"])],
                ],
            },
        ),
        _feature({"village_id": "V3", "population": 130}, None),
    ]
    _geojson(case("villages_mixed_geometry") / "villages.geojson", mixed)
    bow = [
        _feature(
            {"village_id": r["village_id"], "population": int(r["population"])},
            {
                "type": "Polygon",
                "coordinates": [
                    [
                        [float(r["lon"]) - d, float(r["lat"]) - d],
                        [float(r["lon"]) + d, float(r["lat"]) + d],
                        [float(r["lon"]) + d, float(r["lat"]) - d],
                        [float(r["lon"]) - d, float(r["lat"]) + d],
                        [float(r["lon"]) - d, float(r["lat"]) - d],
                    ]
                ],
            },
        )
        for r in vrows
    ]
    _geojson(case("villages_self_intersecting") / "villages.geojson", bow)
    cf = json.loads((base / "communes.geojson").read_text(encoding="utf-8"))["features"]
    ring = cf[0]["geometry"]["coordinates"][0]
    xs = sorted({round(c[0], 9) for c in ring})
    ys = sorted({round(c[1], 9) for c in ring})
    cf_bow = json.loads(json.dumps(cf))
    cf_bow[0]["geometry"]["coordinates"] = [
        [[xs[0], ys[0]], [xs[-1], ys[-1]], [xs[-1], ys[0]], [xs[0], ys[-1]], [xs[0], ys[0]]]
    ]
    _geojson(case("communes_self_intersecting") / "communes.geojson", cf_bow)
    cf_pt = json.loads(json.dumps(cf))
    ring2 = cf[1]["geometry"]["coordinates"][0][:-1]
    centre = [sum(c[k] for c in ring2) / len(ring2) for k in (0, 1)]
    cf_pt[1]["geometry"] = {"type": "Point", "coordinates": centre}  # commune C2 as a point
    _geojson(case("communes_mixed_geometry") / "communes.geojson", cf_pt)

    # ---- ids and columns
    _write_text(
        case("villages_duplicate_ids") / "villages.csv",
        _edit_csv(vil, 2, "village_id", "V0"),
        bom=True,
    )
    _write_text(
        case("towers_duplicate_ids") / "towers.csv",
        [tow[0], tow[1], tow[1].replace(f"{lon}", f"{lon + 0.001}")],
        bom=True,
    )
    cdup = json.loads(json.dumps(cf))
    cdup[1]["properties"]["commune_id"] = "C1"
    _geojson(case("communes_duplicate_ids") / "communes.geojson", cdup)
    _write_text(
        case("villages_no_lonlat") / "villages.csv",
        _drop_column(_drop_column(vil, "lon"), "lat"),
        bom=True,
    )
    _write_text(case("villages_no_id") / "villages.csv", _drop_column(vil, "village_id"), bom=True)
    _write_text(
        case("villages_no_population") / "villages.csv",
        _drop_column(_drop_column(vil, "population"), "households"),
        bom=True,
    )
    _write_text(
        case("towers_no_lonlat") / "towers.csv",
        _drop_column(_drop_column(tow, "lon"), "lat"),
        bom=True,
    )
    _write_text(case("towers_only_position") / "towers.csv", ["lon,lat", f"{lon},{lat}"], bom=False)

    # ---- values
    _write_text(
        case("villages_population_text") / "villages.csv",
        _edit_csv(vil, 1, "population", "khoảng 200"),
        bom=True,
    )
    _write_text(
        case("villages_population_nan") / "villages.csv",
        _edit_csv(vil, 1, "population", "NaN"),
        bom=True,
    )
    _write_text(
        case("villages_population_inf") / "villages.csv",
        _edit_csv(vil, 1, "population", "inf"),
        bom=True,
    )
    _write_text(
        case("villages_population_negative") / "villages.csv",
        _edit_csv(vil, 1, "population", "-5"),
        bom=True,
    )
    _write_text(
        case("villages_lon_inf") / "villages.csv", _edit_csv(vil, 1, "lon", "inf"), bom=True
    )
    _write_text(
        case("towers_height_text") / "towers.csv",
        _edit_csv(tow, 0, "height_m", "ba mươi"),
        bom=True,
    )
    _write_text(
        case("towers_height_nan") / "towers.csv", _edit_csv(tow, 0, "height_m", "nan"), bom=True
    )
    _write_text(
        case("towers_eirp_inf") / "towers.csv", _edit_csv(tow, 0, "eirp_dbm", "inf"), bom=True
    )
    _write_text(
        case("towers_height_10000") / "towers.csv", _edit_csv(tow, 0, "height_m", "10000"), bom=True
    )
    _write_text(
        case("towers_eirp_200") / "towers.csv", _edit_csv(tow, 0, "eirp_dbm", "200"), bom=True
    )
    _write_text(
        case("towers_unknown_tech") / "towers.csv", _edit_csv(tow, 0, "tech", "6G"), bom=True
    )

    # ---- encodings and Excel dialects (Vietnamese names)
    names = ["Thôn Nà Hẩu", "Bản Phìn Hồ", "Thôn Đồng Tâm", "Bản Mường Ẳng"]
    viet = [vil[0]] + [
        ",".join(names[i] if c == "name" else r[c] for c in vh) for i, r in enumerate(vrows)
    ]
    _write_text(case("villages_utf8_bom") / "villages.csv", viet, bom=True)
    _write_text(case("villages_cp1258") / "villages.csv", viet, encoding="cp1258")
    semi = [vil[0].replace(",", ";")] + [
        ";".join(
            (r[c].replace(".", ",") if c in ("lon", "lat") else (names[i] if c == "name" else r[c]))
            for c in vh
        )
        for i, r in enumerate(vrows)
    ]
    _write_text(case("villages_semicolon_decimal_comma") / "villages.csv", semi, bom=True)
    th = tow[0].split(",")
    tsemi = [";".join(th), ";".join(v.replace(".", ",") for v in tow[1].split(","))]
    _write_text(case("towers_semicolon_decimal_comma") / "towers.csv", tsemi, bom=True)

    return sorted(
        p.name for p in out.iterdir() if p.is_dir() and p.name not in ("base", "__pycache__")
    )


if __name__ == "__main__":
    names = build()
    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"wrote base + {len(names)} cases under {HERE} ({total / 1024:.0f} KiB)")
