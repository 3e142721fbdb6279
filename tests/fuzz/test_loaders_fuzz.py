"""Fuzzing the loaders: random but plausible files load cleanly or fail with one line.

For villages, towers, communes (CSV and GeoJSON) and DEM rasters holding NaN,
inf, empty strings, huge values, odd text and odd encodings, every call either
returns a usable layer or raises a :class:`~deadzone.errors.DeadzoneError`
subclass whose message is one line naming the file.  Any other exception type
(or a warning other than :class:`~deadzone.errors.DeadzoneWarning`, which the
loaders use to report what they fixed) fails the test.  A loaded villages
layer holds every row of the file, in order: nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deadzone.data.loaders import (
    DEM_VALID_RANGE_M,
    load_communes,
    load_dem,
    load_towers,
    load_villages,
)
from deadzone.errors import DeadzoneError, DeadzoneWarning, SchemaError

#: Examples per test; raise for a deeper run: ``DEADZONE_FUZZ_EXAMPLES=2000 pytest tests/fuzz``.
EXAMPLES = int(os.environ.get("DEADZONE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------- values

_SPECIAL = st.sampled_from(
    ["", " ", "NaN", "nan", "inf", "-inf", "Infinity", "NA", "null", "None", "1e308",
     "1e309", "-1e309", "abc", "12,5", " 7 ", "0x10", "1_000", "٣", "−5", "5.", ".5",
     "2e3", "1,234,567", "TRUE", "Không", '"', "'", "\t"]
)  # fmt: skip
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
_NUMBER = st.one_of(
    st.integers(-(10**6), 10**15).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=0, max_value=5000).map(lambda v: f"{v:.3f}"),
)
_CELL = st.one_of(_NUMBER, _SPECIAL, _TEXT)
_LON = st.one_of(st.floats(102.0, 110.0).map(repr), _SPECIAL, _NUMBER)
_LAT = st.one_of(st.floats(8.0, 23.0).map(repr), _SPECIAL, _NUMBER)
_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "cp1258", "utf-16"])
_DELIMITERS = st.sampled_from([",", ";", "\t"])


@contextlib.contextmanager
def _tmpdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dz-fuzz-") as d:
        yield Path(d)


def _write_csv(path: Path, header: list[str], rows: list[list[str]], enc: str, sep: str) -> str:
    """Write a CSV as a spreadsheet would; return the encoding actually used."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    text = buf.getvalue()
    try:
        data = text.encode(enc)
    except UnicodeEncodeError:  # cp1258 cannot hold every character
        enc, data = "utf-8", text.encode("utf-8")
    path.write_bytes(data)
    return enc


def _call(fn, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Run a loader; return (result, None) or (None, DeadzoneError). Other errors propagate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        try:
            got = fn(*args, **kw)
        except DeadzoneError as exc:
            event(f"error: {type(exc).__name__}: {str(exc).split(': ', 1)[-1][:60]}")
            return None, exc
    event("loaded")
    return got, None


def _one_line(exc: DeadzoneError, path: Path) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    assert path.name in msg, msg


# --------------------------------------------------------------------------- tables
#
# Each table is either clean (plausible values, including what agencies'
# files really hold: empty cells, decimals, huge counts, any names, decimal
# commas in ``;`` files, odd encodings) and must load, or has one bad cell
# and must load or fail with a one-line error naming the row.


def _fmt(draw: st.DrawFn, v: float, comma: bool) -> str:
    if comma:  # Excel in a vi-VN locale: every decimal of the file has a comma
        return f"{v:.{draw(st.integers(0, 6))}f}".replace(".", ",")
    return draw(st.sampled_from([repr(v), f"{v:.6f}", f" {v:.2f} "]))


def _count(draw: st.DrawFn, comma: bool) -> str:
    kind = draw(st.sampled_from(["int", "int", "float", "missing", "huge"]))
    if kind == "int":
        return str(draw(st.integers(0, 100_000)))
    if kind == "float":
        return _fmt(draw, draw(st.floats(0, 100_000)), comma)
    if kind == "huge":
        return str(draw(st.integers(10**9, 10**15)))
    return draw(st.sampled_from(["", "NaN", "NA", "null", " "]))


_BAD = st.one_of(
    st.sampled_from(["abc", "inf", "-inf", "1e309", "-5", "12abc", "--1", "0x10", "1,2,3", "٣"]),
    _TEXT.filter(lambda t: t.strip() != "" and t.strip().lower() not in {"nan", "na", "null"}),
)


@st.composite
def _village_table(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str, str, tuple]:
    enc, sep = draw(_ENCODINGS), draw(_DELIMITERS)
    comma = sep != "," and draw(st.booleans())
    n = draw(st.integers(1, 12))
    header = ["village_id", "name", "lon", "lat", "population", "households"]
    rows = []
    for i in range(n):
        vid = draw(st.sampled_from([f"V{i}", f"Thôn-{i}", f"{i:05d}", f"bản {i}"]))
        lon, lat = draw(st.floats(102.0, 110.0)), draw(st.floats(8.0, 23.0))
        rows.append(
            [vid, draw(_TEXT), _fmt(draw, lon, comma), _fmt(draw, lat, comma), _count(draw, comma),
             _count(draw, comma)]
        )  # fmt: skip
    bad: tuple = ()
    if draw(st.booleans()):
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(2, 5))
        rows[i][j] = draw(_BAD)
        bad = (i, header[j])
    return header, rows, enc, sep, bad


def _csv_line(header: list[str], rows: list[list[str]], sep: str, i: int) -> int:
    """Line of the written file (1 = header) on which data record ``i`` starts."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows[:i])
    return len(re.findall(r"\r\n|\r|\n", buf.getvalue())) + 1


def _check_error(err: DeadzoneError, path: Path, bad: tuple, shown: str | bool | None) -> None:
    """One line naming the file; a SchemaError naming rows names the bad one as ``shown``.

    ``shown`` is how the bad row must be named: ``"line N"`` for CSV (the file's
    line, header = line 1), ``"feature N"`` (from 1) for GeoJSON.
    """
    _one_line(err, path)
    assert bad, f"a clean table failed to load: {err}"
    named = re.findall(r"\b(lines?|rows?|features?|fids?):? ([0-9][0-9, ]*)", str(err))
    if isinstance(err, SchemaError) and named and isinstance(shown, str):  # the bad row is named
        label, number = shown.split()
        assert not any(lab.startswith("row") for lab, _ in named), str(err)  # no 0-based rows
        listed = [
            n for lab, nums in named if lab.rstrip("s") == label for n in re.split(r"[, ]+", nums)
        ]
        assert number in listed, (shown, str(err))


@FUZZ
@given(table=_village_table())
def test_villages_csv_load_or_one_line_error(table) -> None:  # noqa: ANN001
    header, rows, enc, sep, bad = table
    with _tmpdir() as d:
        p = d / "villages.csv"
        _write_csv(p, header, rows, enc, sep)
        got, err = _call(load_villages, p)
        if err is not None:
            _check_error(err, p, bad, bad and f"line {_csv_line(header, rows, sep, bad[0])}")
            return
        # every row, in file order, with usable numbers
        assert len(got) == len(rows)
        assert list(got["village_id"]) == [r[0] for r in rows]
        assert list(got["source_row"]) == list(range(len(rows)))
        for col in ("population", "households"):
            assert got[col].dtype == np.int64 and (got[col] >= 0).all()
        assert str(got.crs) == "EPSG:4326"
        if not bad:
            want = [
                round(float(r[4].strip().replace(",", ".")))
                if r[4].strip().lower() not in {"", "nan", "na", "null"} else 0
                for r in rows
            ]  # fmt: skip
            assert list(got["population"]) == want
            assert not (got.geometry.isna() | got.geometry.is_empty).any()


_COUNT_JSON = st.one_of(
    st.none(), st.integers(0, 10**12), st.floats(0, 1e6), st.integers(0, 999).map(str)
)
_BAD_JSON = st.one_of(
    st.booleans(), st.integers(-(10**6), -1), st.floats(allow_nan=False, max_value=-0.5),
    _BAD, st.just([1, 2]), st.just({"a": 1}),
)  # fmt: skip


@st.composite
def _village_features(draw: st.DrawFn) -> tuple[list[dict], tuple]:
    n = draw(st.integers(1, 10))
    feats = []
    for i in range(n):
        geom = draw(
            st.sampled_from(["point", "point", "point", "none", "polygon"])
        )  # polygons: bow ties, self-intersecting
        x, y = draw(st.floats(102.0, 110.0)), draw(st.floats(8.0, 23.0))
        g = {
            "point": {"type": "Point", "coordinates": [x, y]},
            "none": None,
            "polygon": {
                "type": "Polygon",
                "coordinates": [[[x, y], [x + 0.01, y], [x, y + 0.01], [x + 0.01, y + 0.01],
                                 [x, y]]],
            },
        }[geom]  # fmt: skip
        props = {"id": f"V{i}", "name": draw(_TEXT), "population": draw(_COUNT_JSON),
                 "households": draw(_COUNT_JSON)}  # fmt: skip
        feats.append({"type": "Feature", "geometry": g, "properties": props})
    bad: tuple = ()
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        what = draw(st.sampled_from(["population", "households", "coords"]))
        if what == "coords":
            big = draw(st.sampled_from([1e300, -1e300, 200.0, -95.0, 1e6]))
            y = draw(st.floats(-1e6, 1e6))
            feats[i]["geometry"] = {"type": "Point", "coordinates": [big, y]}
            # not lon/lat degrees: a one-line error naming the feature (issue 18
            # item 3, as CSV); -95 with a latitude in range is a valid point
            if not (-180.0 <= big <= 180.0 and -90.0 <= y <= 90.0):
                bad = (i, "geometry")
        else:
            value = draw(_BAD_JSON)
            feats[i]["properties"][what] = value
            # a list turns the whole GDAL field into lists: any row may be the one named
            bad = (None if isinstance(value, list) else i, what)
    return feats, bad


@FUZZ
@given(data=_village_features())
def test_villages_geojson_load_or_one_line_error(data) -> None:  # noqa: ANN001
    features, bad = data
    with _tmpdir() as d:
        p = d / "villages.geojson"
        p.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
        got, err = _call(load_villages, p)
        if err is not None:
            _check_error(err, p, bad, bad and bad[0] is not None and f"feature {bad[0] + 1}")
            return
        assert list(got["village_id"]) == [f"V{i}" for i in range(len(features))]
        assert (got["population"] >= 0).all() and (got["households"] >= 0).all()


# --------------------------------------------------------------------------- towers


@st.composite
def _tower_table(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str, str, tuple]:
    enc, sep = draw(_ENCODINGS), draw(_DELIMITERS)
    comma = sep != "," and draw(st.booleans())
    n = draw(st.integers(1, 8))
    header = ["tower_id", "lon", "lat", "tech", "freq_mhz", "eirp_dbm", "height_m", "azimuth"]
    techs = st.sampled_from(["2G", "LTE", "gsm", "5G NR", "4g", "UMTS", ""])

    def opt(lo: float, hi: float) -> str:
        return "" if draw(st.integers(0, 4)) == 0 else _fmt(draw, draw(st.floats(lo, hi)), comma)

    rows = [
        [f"T{i}", _fmt(draw, draw(st.floats(102.0, 110.0)), comma),
         _fmt(draw, draw(st.floats(8.0, 23.0)), comma), draw(techs), opt(700, 3500),
         opt(-10, 90), opt(1.0, 500), opt(0, 359.9)]
        for i in range(n)
    ]  # fmt: skip
    bad: tuple = ()
    if draw(st.booleans()):
        i, j = draw(st.integers(0, n - 1)), draw(st.integers(1, 7))
        rows[i][j] = draw(
            st.one_of(_BAD, st.sampled_from(["10000", "200", "0", "-1", "6G", "1e12", "400"]))
        )
        bad = (i, header[j])
    return header, rows, enc, sep, bad


@FUZZ
@given(table=_tower_table())
def test_towers_csv_load_or_one_line_error(table) -> None:  # noqa: ANN001
    header, rows, enc, sep, bad = table
    with _tmpdir() as d:
        p = d / "towers.csv"
        _write_csv(p, header, rows, enc, sep)
        got, err = _call(load_towers, p)
        if err is not None:
            _check_error(err, p, bad, bad and f"line {_csv_line(header, rows, sep, bad[0])}")
            return
        assert list(got["tower_id"]) == [r[0] for r in rows]
        for col, lo, hi in (("height_m", 0.0, 500.0), ("eirp_dbm", -10.0, 90.0),
                            ("freq_mhz", 30.0, 100_000.0)):  # fmt: skip
            v = got[col].to_numpy(float)
            assert np.isfinite(v).all() and (v >= lo).all() and (v <= hi).all(), col
        assert np.isfinite(got["lon"]).all() and np.isfinite(got["lat"]).all()


# --------------------------------------------------------------------------- communes


@st.composite
def _commune_features(draw: st.DrawFn) -> tuple[list[dict], tuple]:
    n = draw(st.integers(1, 6))
    feats = []
    for i in range(n):
        kind = draw(st.sampled_from(["poly", "poly", "multi", "none"]))
        k = draw(st.integers(3, 6))
        ring = [[draw(st.floats(104.0, 104.2)), draw(st.floats(21.0, 21.2))] for _ in range(k)]
        ring.append(ring[0])  # random vertex order: often self-intersecting or degenerate
        g = {
            "poly": {"type": "Polygon", "coordinates": [ring]},
            "multi": {"type": "MultiPolygon", "coordinates": [[ring]]},
            "none": None,
        }[kind]
        props = {"commune_id": f"C{i}", "name": draw(_TEXT), "province": "Lai Châu"}
        feats.append({"type": "Feature", "geometry": g, "properties": props})
    bad: tuple = ()
    if draw(st.booleans()):
        i = draw(st.integers(0, n - 1))
        what = draw(st.sampled_from(["point", "line", "duplicate id"]))
        if what == "duplicate id":
            feats[i]["properties"]["commune_id"] = "C0"
            bad = (i, what) if i else ()
        else:
            xy = [104.1, 21.1]
            feats[i]["geometry"] = (
                {"type": "Point", "coordinates": xy}
                if what == "point"
                else {"type": "LineString", "coordinates": [xy, [104.2, 21.2]]}
            )
            bad = (i, what)
    return feats, bad


@FUZZ
@given(data=_commune_features())
def test_communes_geojson_load_or_one_line_error(data) -> None:  # noqa: ANN001
    features, bad = data
    with _tmpdir() as d:
        p = d / "communes.geojson"
        p.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
        got, err = _call(load_communes, p)
        if err is not None:
            _check_error(err, p, bad, bad and f"feature {bad[0] + 1}")
            return
        assert not bad, f"{bad} accepted"
        assert list(got["commune_id"]) == [f"C{i}" for i in range(len(features))]  # none dropped
        present = got.geometry[~(got.geometry.isna() | got.geometry.is_empty)]
        assert set(present.geom_type) <= {"Polygon", "MultiPolygon"}
        assert present.is_valid.all()  # repaired, counted in attrs


# --------------------------------------------------------------------------- DEM

_ELEV = st.one_of(
    st.floats(-500, 9000, width=32),
    st.sampled_from([math.nan, math.inf, -math.inf, -32768.0, -9999.0, 1e30, -1e30, 0.0]),
)


@st.composite
def _raster(draw: st.DrawFn) -> tuple[np.ndarray, str | None, Affine, float | None]:
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from(["float32", "int16"]))
    flat = draw(st.lists(_ELEV, min_size=rows * cols, max_size=rows * cols))
    z = np.array(flat, dtype=np.float64).reshape(rows, cols)
    if dtype == "int16":
        z = np.clip(np.nan_to_num(z, nan=-32768.0), -32768, 32767).astype(np.int16)
    else:
        z = z.astype(np.float32)
    crs = draw(st.sampled_from(["EPSG:32648", "EPSG:4326", None]))
    if crs == "EPSG:4326":
        tr = Affine(0.0008333, 0, 104.5, 0, -0.0008333, 21.5)
    else:
        cell = draw(st.sampled_from([1.0, 30.0, 90.0]))
        tr = Affine(cell, 0, 500_000, 0, -cell, 2_400_000)
    nodata = draw(st.sampled_from([None, -32768.0, -9999.0] + ([math.nan] * (dtype != "int16"))))
    return z, crs, tr, nodata


@FUZZ
@given(raster=_raster())
def test_dem_load_or_one_line_error(raster) -> None:  # noqa: ANN001
    z, crs, tr, nodata = raster
    with _tmpdir() as d:
        p = d / "dem.tif"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(
                p, "w", driver="GTiff", width=z.shape[1], height=z.shape[0], count=1,
                dtype=z.dtype.name, crs=crs, transform=tr, nodata=nodata,
            ) as dst:  # fmt: skip
                dst.write(z, 1)
        got, err = _call(load_dem, p)
        if err is not None:
            _one_line(err, p)
            return
        elev = got.elevation_m
        assert elev.dtype == np.float32 and elev.size > 0
        assert np.isfinite(elev).all()  # voids filled; kernels need finite terrain
        lo, hi = DEM_VALID_RANGE_M  # -9999, 1e30: undeclared nodata, filled too
        assert (elev >= lo).all() and (elev <= hi).all()
        assert got.void_mask.shape == elev.shape
        assert got.crs.is_projected
