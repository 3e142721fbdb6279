"""Reading vector and table files (CSV, GeoJSON, GeoPackage, Parquet, ...) into
one raw table with coordinates, ids and repaired geometries."""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from deadzone.data._tables import (
    _CSV_SUFFIXES,
    _DECIMAL_COMMA,
    _MISSING_TOKENS,
    _PARQUET_SUFFIXES,
    _WGS84,
    LAT_CANDIDATES,
    LON_CANDIDATES,
    WKT_CANDIDATES,
    PathLike,
    _also,
    _id_strings,
    _infer_text_column,
    _list_rows,
    _missing_mask,
    _numeric,
    _one_line,
    _pick,
    _plural,
    _warn,
    _where,
    existing_path,
    file_checksum,
)
from deadzone.data.postgis import PgSource, is_pg_url, read_pg
from deadzone.errors import (
    CRSError,
    DataLoadError,
    SchemaError,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- reading vectors


@dataclass
class _Raw:
    """A file read as attributes + optional geometry.

    ``rows`` are 0-based source positions (``source_row``, generated ids);
    messages name rows by ``shown`` under ``row_label``: the file's line number
    for CSV (``line 2`` is the first data row, as a spreadsheet numbers it), the
    1-based position for other files (``feature 1``), or the GDAL fid for
    windowed reads (``fid N``).
    """

    path: Path | PgSource
    table: pd.DataFrame
    geometry: gpd.GeoSeries | None
    rows: npt.NDArray[np.int64]
    row_label: str = "feature"
    from_csv: bool = False
    csv_text: str | None = None
    csv_sep: str = ","

    @functools.cached_property
    def shown(self) -> npt.NDArray[np.int64]:
        """Row references for messages (computed on first use)."""
        if self.csv_text is not None:
            return _csv_lines(self.csv_text, self.csv_sep, len(self.table))
        if self.row_label == "fid":
            return self.rows
        return self.rows + 1


def _csv_lines(text: str, sep: str, n: int) -> npt.NDArray[np.int64]:
    """File line on which each of the ``n`` data records of a CSV starts.

    Counts lines as editors do (``\\r\\n``, ``\\n`` or ``\\r``), follows quoted
    fields spanning lines and skips blank lines as pandas does; falls back to
    ``record + 2`` (one header line, one line per record) if the records found
    differ in number from the ``n`` pandas read.
    """
    starts: list[int] = []
    reader = csv.reader(
        io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=sep, skipinitialspace=True
    )
    line = 1
    try:
        for record in reader:
            if record:
                starts.append(line)
            line = reader.line_num + 1
    except csv.Error:
        starts = []
    if len(starts) == n + 1:
        return np.asarray(starts[1:], dtype=np.int64)
    return np.arange(2, n + 2, dtype=np.int64)


def _sniff_delimiter(first_line: str) -> str:
    """The delimiter of a CSV header: the most frequent of ``, ; tab |`` (``,`` if none).

    Kept instead of ``csv.Sniffer``: on a one-column header Sniffer picks a
    letter (``"name"`` gives ``"n"``), and on a header alone it can take a
    character of the names for the delimiter; counting the four delimiters
    planners' exports use never does.
    """
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(p: Path) -> tuple[pd.DataFrame, str, str]:
    """The table (all text), the decoded file text and its delimiter."""
    data = p.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    source: Path | io.StringIO = p
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        try:
            # Vietnamese Excel on Windows saves CSV in the Windows-1258 code page, which
            # writes some tones as combining marks: decode, then compose (NFC).
            if encoding == "utf-16":
                raise UnicodeDecodeError("utf-16", b"", 0, 1, "no fallback")
            text = unicodedata.normalize("NFC", data.decode("cp1258"))
        except UnicodeDecodeError:
            raise DataLoadError(
                f"{p}: line {line}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8"
            ) from None
        _warn(
            f"{p}: line {line}: not UTF-8 text (byte {exc.start}); read the file as "
            "Windows-1258 (Vietnamese); save it as UTF-8 to avoid this guess"
        )
        source = io.StringIO(text)
    if not text.strip():
        raise DataLoadError(f"{p}: has no features (empty file)")
    first = text.lstrip("\ufeff").splitlines()[0]
    sep = _sniff_delimiter(first)
    try:
        df = pd.read_csv(
            source,
            sep=sep,
            dtype=str,
            encoding=encoding,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise DataLoadError(f"{p}: has no features (empty file)") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataLoadError(f"{p}: cannot parse CSV ({_one_line(exc)})") from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    if sep != ",":
        _decimal_commas(df, p)
    return df, text, sep


#: Numbers with no decimal separator at all, which do not decide a column's convention.
_NO_SEPARATOR = re.compile(r"^[+-]?(inf|infinity|\d+e[+-]?\d+)$", re.IGNORECASE)


def _decimal_commas(df: pd.DataFrame, p: Path) -> None:
    """Turn ``"21,5"`` into ``"21.5"`` in columns holding only such numbers (in place).

    Only for files not separated by commas (Excel's ``;`` CSV in locales with a
    decimal comma, e.g. vi-VN); a column is converted only when every present
    value is an integer or a decimal-comma number (or a number with no separator,
    such as ``inf`` or ``1e5``) and at least one has a comma.
    """
    for c in df.columns:
        s = df[c]
        present = s.dropna().astype(str).str.strip()
        present = present[~present.str.lower().isin(_MISSING_TOKENS)]  # "", "NaN", "NA", ...
        if present.empty or not present.str.contains(",", regex=False).any():
            continue
        if present.map(lambda v: bool(_DECIMAL_COMMA.match(v) or _NO_SEPARATOR.match(v))).all():
            df[c] = s.map(lambda v: v.replace(",", ".") if isinstance(v, str) else v)
            logger.info("%s: column %r read with a decimal comma", p, c)


def _choose_layer(p: Path, layer: str | int | None, kind: str) -> str | int | None:
    if layer is not None:
        return layer
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:
        raise DataLoadError(f"{p}: not a vector file GDAL can read ({_one_line(exc)})") from None
    if len(layers) <= 1:
        return None
    names = [str(n) for n in layers[:, 0]]
    if kind in names:
        return kind
    raise DataLoadError(f"{p}: has {len(names)} layers ({', '.join(names)}); pass layer=")


def _read_raw(
    path: PathLike,
    *,
    layer: str | int | None,
    kind: str,
    bbox: tuple[float, float, float, float] | None = None,
    allow_empty: bool = False,
) -> _Raw:
    if is_pg_url(path):
        got = read_pg(str(path), bbox_lonlat=bbox)
        rows = np.arange(len(got.table), dtype=np.int64)
        raw = _Raw(got.source, got.table, got.geometry, rows, row_label="row")
        if len(raw.table) == 0 and not allow_empty:
            raise DataLoadError(f"{got.source}: has no rows")
        return raw
    p = existing_path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise DataLoadError(f"{p}: has no features (empty file)")
    suffix = p.suffix.lower()
    geometry: gpd.GeoSeries | None = None
    row_label = "feature"
    rows: npt.NDArray[np.int64]
    if suffix in _CSV_SUFFIXES:
        table, text, sep = _read_csv(p)
        rows = np.arange(len(table), dtype=np.int64)
        raw = _Raw(p, table, None, rows, "line", True, text, sep)
    elif suffix in _PARQUET_SUFFIXES:
        try:
            gdf = gpd.read_parquet(p, bbox=bbox) if bbox else gpd.read_parquet(p)
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            geometry = gdf.geometry
        except ValueError as exc:
            if "geo" not in str(exc).lower():
                raise DataLoadError(f"{p}: cannot read Parquet ({_one_line(exc)})") from None
            table = pd.read_parquet(p)
        except Exception as exc:
            raise DataLoadError(f"{p}: cannot read Parquet ({_one_line(exc)})") from None
        rows = np.arange(len(table), dtype=np.int64)
        raw = _Raw(p, table.reset_index(drop=True), geometry, rows)
    else:
        lyr = _choose_layer(p, layer, kind)
        read_bbox = None
        if bbox is not None:
            read_bbox = tuple(float(v) for v in bbox)
            try:
                info_crs = pyogrio.read_info(p, layer=lyr).get("crs")
            except Exception:
                info_crs = None
            if info_crs and not ProjCRS.from_user_input(info_crs).equals(
                _WGS84, ignore_axis_order=True
            ):
                tr = Transformer.from_crs(_WGS84, ProjCRS.from_user_input(info_crs), always_xy=True)
                read_bbox = tr.transform_bounds(*read_bbox, densify_pts=21)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                df = pyogrio.read_dataframe(
                    p, layer=lyr, bbox=read_bbox, fid_as_index=bbox is not None
                )
        except Exception as exc:
            msg = _one_line(exc)
            raise DataLoadError(f"{p}: not a vector file GDAL can read ({msg})") from None
        if bbox is not None:
            rows = np.asarray(df.index, dtype=np.int64)
            row_label = "fid"
        else:
            rows = np.arange(len(df), dtype=np.int64)
        if isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df.columns:
            geometry = df.geometry.reset_index(drop=True)
            table = pd.DataFrame(df.drop(columns=df.geometry.name)).reset_index(drop=True)
        else:
            table = pd.DataFrame(df).reset_index(drop=True)
        raw = _Raw(p, table, geometry, rows, row_label=row_label)
    if len(raw.table) == 0 and not allow_empty:
        raise DataLoadError(f"{p}: has no features")
    return raw


def _lonlat_arrays(
    raw: _Raw,
    lon_col: str,
    lat_col: str,
    *,
    ids: Sequence[Any] | None,
    id_field: str | None,
    allow_missing: bool,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Numeric lon/lat with the swapped / not-degrees / range checks."""
    p, label = raw.path, raw.row_label
    lon = _numeric(
        raw.table[lon_col], path=p, field="lon", rows=raw.shown, ids=ids, id_field=id_field,
        row_label=raw.row_label,
    )
    lat = _numeric(
        raw.table[lat_col], path=p, field="lat", rows=raw.shown, ids=ids, id_field=id_field,
        row_label=raw.row_label,
    )
    both = np.isfinite(lon) & np.isfinite(lat)
    if both.any():
        alon, alat = np.abs(lon[both]), np.abs(lat[both])
        if np.all(alat > 90.0) and np.all(alon <= 90.0):
            raise SchemaError(
                f"{p}: field 'lat' (column {lat_col!r}) has |lat| > 90 in every row while "
                f"'lon' (column {lon_col!r}) is within +-90: longitude and latitude look swapped"
            )
        if np.all(alat > 90.0) and np.all(alon > 180.0):
            raise CRSError(
                f"{p}: columns {lon_col!r}/{lat_col!r} are not longitude/latitude degrees "
                "(all values out of range); deadzone reads table coordinates as EPSG:4326"
            )
    for name, values, lim in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        bad = np.flatnonzero(~np.isnan(values) & (np.abs(values) > lim))
        if bad.size:
            i = int(bad[0])
            col = lon_col if name == "lon" else lat_col
            raise SchemaError(
                f"{_where(p, raw.shown[i], ids[i] if ids else None, id_field, name, col, label)}"
                f": value {float(values[i])!r} outside {-lim:g}..{lim:g}"
                + _also(raw.shown, label, bad)
            )
    if not allow_missing:
        miss = np.flatnonzero(~both)
        if miss.size:
            i = int(miss[0])
            field = "lon" if not np.isfinite(lon[i]) else "lat"
            raise SchemaError(
                f"{_where(p, raw.shown[i], ids[i] if ids else None, id_field, field, None, label)}"
                ": value is missing" + _also(raw.shown, label, miss)
            )
    return lon, lat


@dataclass
class _GeomInfo:
    geometry: gpd.GeoSeries
    consumed: list[str]
    reprojected_from: str | None = None
    assumed_crs: bool = False


def _geometry(
    raw: _Raw,
    *,
    ids: Sequence[Any] | None,
    id_field: str | None,
    allow_missing: bool,
) -> _GeomInfo:
    """Geometry in EPSG:4326 from the file's geometry, a WKT column or lon/lat."""
    p = raw.path
    if raw.geometry is not None:
        gs = raw.geometry
        reprojected_from = None
        assumed = False
        if gs.crs is None:
            b = gs.total_bounds
            if np.all(np.isfinite(b)) and (
                b[0] >= -180 and b[2] <= 180 and b[1] >= -90 and b[3] <= 90
            ):
                _warn(f"{p}: has no CRS; coordinates lie within lon/lat ranges, assuming EPSG:4326")
                gs = gs.set_crs(4326)
                assumed = True
            else:
                shown = tuple(round(float(v), 3) for v in b)
                raise CRSError(
                    f"{p}: has no CRS and its coordinates (bounds {shown}) "
                    "are not lon/lat degrees; add the CRS (e.g. a .prj file)"
                )
        elif not ProjCRS.from_user_input(gs.crs).equals(_WGS84, ignore_axis_order=True):
            reprojected_from = gs.crs.to_string()
            logger.info("%s: reprojecting from %s to EPSG:4326", p, reprojected_from)
            gs = gs.to_crs(4326)
        else:
            gs = gs.set_crs(4326, allow_override=True)
        gs = gs.reset_index(drop=True)
        _check_degrees(raw, gs, ids=ids, id_field=id_field, crs=reprojected_from or "EPSG:4326")
        return _GeomInfo(gs, [], reprojected_from, assumed)

    cols = list(raw.table.columns)
    wkt_col = _pick(cols, None, WKT_CANDIDATES, path=p, option="wkt")
    lon_col = _pick(cols, None, LON_CANDIDATES, path=p, option="lon")
    lat_col = _pick(cols, None, LAT_CANDIDATES, path=p, option="lat")
    if wkt_col is not None and raw.table[wkt_col].dtype != np.float64:
        text = raw.table[wkt_col]
        missing = _missing_mask(text)
        values = np.array(
            [None if m else str(v) for v, m in zip(text, missing, strict=True)], dtype=object
        )
        geoms = shapely.from_wkt(values, on_invalid="ignore")
        bad = np.flatnonzero(~missing & shapely.is_missing(geoms))
        if bad.size:
            i = int(bad[0])
            ident = ids[i] if ids else None
            raise SchemaError(
                f"{_where(p, raw.shown[i], ident, id_field, 'geometry', wkt_col, raw.row_label)}"
                f": value {str(text.iloc[i])[:60]!r} is not WKT"
                + _also(raw.shown, raw.row_label, bad)
            )
        consumed = [wkt_col] + [c for c in (lon_col, lat_col) if c is not None]
        if missing.any() and lon_col is not None and lat_col is not None:
            lon, lat = _lonlat_arrays(
                raw, lon_col, lat_col, ids=ids, id_field=id_field, allow_missing=True
            )
            fill = missing & np.isfinite(lon) & np.isfinite(lat)
            geoms[fill] = shapely.points(lon[fill], lat[fill])
        gs = gpd.GeoSeries(geoms, crs=4326)
        _check_degrees(raw, gs, ids=ids, id_field=id_field, crs="EPSG:4326", column=wkt_col)
        return _GeomInfo(gs, consumed)
    if lon_col is None or lat_col is None:
        raise SchemaError(
            f"{p}: field 'lon'/'lat': no longitude/latitude columns found "
            f"(looked for {LON_CANDIDATES} and {LAT_CANDIDATES}); columns are {cols}"
        )
    lon, lat = _lonlat_arrays(
        raw, lon_col, lat_col, ids=ids, id_field=id_field, allow_missing=allow_missing
    )
    ok = np.isfinite(lon) & np.isfinite(lat)
    geoms = np.full(len(lon), None, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    return _GeomInfo(gpd.GeoSeries(geoms, crs=4326), [lon_col, lat_col])


def _check_degrees(raw: _Raw, gs: gpd.GeoSeries, *, ids: Sequence[Any] | None,
                   id_field: str | None, crs: str, column: str | None = None) -> None:
    """Every geometry in lon/lat degrees once in EPSG:4326, else one line naming
    the first feature (a point in UTM metres in a file declared EPSG:4326, say):
    caught here, before anything estimates a UTM zone from the whole layer."""
    b = shapely.bounds(np.asarray(gs.values, dtype=object))
    has = ~np.isnan(b).any(axis=1)  # empty geometries have NaN bounds
    ok = (np.isfinite(b).all(axis=1) & (b[:, 0] >= -180.0) & (b[:, 2] <= 180.0)
          & (b[:, 1] >= -90.0) & (b[:, 3] <= 90.0))
    bad = np.flatnonzero(has & ~ok)
    if not bad.size:
        return
    i = int(bad[0])
    ident = ids[i] if ids else None
    x, y = (float(v) for v in b[i, :2])
    where = _where(raw.path, raw.shown[i], ident, id_field, "geometry", column, raw.row_label)
    if crs == "EPSG:4326":
        why = (f"coordinates ({x:.7g}, {y:.7g}) are not lon/lat degrees in EPSG:4326 (metres "
               "of a projected CRS? declare the file's CRS, or fix the feature)")
    else:
        why = (f"coordinates ({x:.7g}, {y:.7g}) after reprojecting from {crs} are not "
               "lon/lat degrees (outside that CRS's area?)")
    raise SchemaError(f"{where}: {why}" + _also(raw.shown, raw.row_label, bad))


def _polygonal(g: Any) -> Any:
    """Keep only the polygonal parts of a geometry (empty polygon if none)."""
    if g is None or g.is_empty or g.geom_type in ("Polygon", "MultiPolygon"):
        return g
    polys: list[Any] = []
    stack = list(shapely.get_parts(g))
    while stack:
        part = stack.pop(0)
        if part.geom_type == "Polygon" and not part.is_empty:
            polys.append(part)
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            stack.extend(shapely.get_parts(part))
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _repair(
    gs: gpd.GeoSeries, *, p: Path, rows: npt.NDArray[Any], row_label: str, polygonal: bool
) -> tuple[gpd.GeoSeries, int, int]:
    """make_valid invalid geometries (never drop); count repaired and empty ones."""
    arr = np.asarray(gs.array, dtype=object).copy()
    empty = shapely.is_missing(arr) | shapely.is_empty(arr)
    invalid = ~empty & ~shapely.is_valid(arr)
    n_rep = int(invalid.sum())
    if n_rep:
        fixed = shapely.make_valid(arr[invalid])
        if polygonal:
            fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        arr[invalid] = fixed
        _warn(
            f"{p}: repaired {_plural(n_rep, 'invalid geometry', 'invalid geometries')} with "
            f"shapely.make_valid ({row_label}s {_list_rows(rows[invalid].tolist(), 5)}); "
            "counted in .attrs['repaired']"
        )
    n_empty = int(empty.sum())
    if n_empty:
        _warn(
            f"{p}: {_plural(n_empty, 'feature')} without geometry kept "
            f"({row_label}s {_list_rows(rows[empty].tolist(), 5)}); "
            "counted in .attrs['empty_geometries']"
        )
    return gpd.GeoSeries(arr, crs=gs.crs), n_rep, n_empty


def _ids(
    raw: _Raw, col: str | None, *, id_field: str, prefix: str, warn: bool
) -> tuple[list[str], int]:
    """Ids as strings; generate ``<prefix><row>`` where missing."""
    n = len(raw.table)
    if col is None:
        ids = [f"{prefix}{r}" for r in raw.rows]
        if warn and n:
            _warn(f"{raw.path}: no {id_field} column; generated ids '{prefix}<row>'")
        return ids, n
    vals = _id_strings(raw.table[col])
    gen = 0
    out: list[str] = []
    for r, v in zip(raw.rows, vals, strict=True):
        if v is None or v == "":
            out.append(f"{prefix}{r}")
            gen += 1
        else:
            out.append(v)
    if gen and warn:
        _warn(f"{raw.path}: {_plural(gen, 'row')} without {id_field}; generated '{prefix}<row>'")
    return out, gen


def _check_unique(
    p: Path, ids: Sequence[str], rows: Sequence[Any], field: str, row_label: str
) -> None:
    s = pd.Series(list(ids))
    dup = s.duplicated(keep=False).to_numpy()
    if dup.any():
        first = s[dup].iloc[0]
        where = [rows[i] for i in np.flatnonzero(s.to_numpy() == first)]
        others = s[dup].nunique() - 1
        more = f" (and {others} more duplicated ids)" if others else ""
        raise SchemaError(
            f"{p}: field {field!r}: duplicated {field} {first!r} in {row_label}s "
            f"{_list_rows(where)}{more}"
        )


def _extras(raw: _Raw, used: set[str], reserved: set[str]) -> dict[str, pd.Series]:
    """Columns not mapped onto canonical ones; renamed ``<name>_orig`` on clashes."""
    out: dict[str, pd.Series] = {}
    for c in raw.table.columns:
        if c in used:
            continue
        s = raw.table[c].reset_index(drop=True)
        if raw.from_csv:
            s = _infer_text_column(s)
        name = str(c)
        while name in reserved or name in out:
            name = f"{name}_orig"
        out[name] = s
    return out


def _attrs(p: Path | PgSource, **kw: Any) -> dict[str, Any]:
    checksum = p.checksum if isinstance(p, PgSource) else file_checksum(p)
    out: dict[str, Any] = {"source": str(p), "checksum": checksum}
    out.update(kw)
    return out


