"""Read user files into deadzone's canonical layers.

Every loader takes a path and keyword-only options, maps the file's columns
onto the canonical names of :mod:`deadzone.geo.schema` and returns data in the
CRS the rest of deadzone expects:

* :func:`load_dem` -> :class:`~deadzone.geo.raster.Dem` in a projected metric
  CRS (a UTM zone for geographic rasters such as SRTM ``.hgt`` tiles);
* :func:`load_villages`, :func:`load_communes`, :func:`load_towers` ->
  GeoDataFrames in EPSG:4326.

Column names are auto-detected from the candidate lists below (matching
ignores case, surrounding spaces, ``-``/``.``/space vs ``_`` and Vietnamese
diacritics, so ``"Dân số"`` matches ``dan_so``); any ``*_col`` option overrides
the detection and must name an existing column.

Errors are single lines naming the file, the row (the file's ``line N`` for
CSV, where line 1 is the header; ``feature N`` counted from 1 in other files;
``fid N`` in windowed reads), the id when known and the field, and how many
more rows fail the same check (``; and 4 more lines: 3, 5, 6, 9``).
Recoverable problems (voids filled, geometries repaired, defaults applied, ids
generated, unused columns that look like misspelt ones) are reported as
:class:`~deadzone.errors.DeadzoneWarning` and recorded in the result
(``Dem.void_mask``; ``GeoDataFrame.attrs``: ``source``, ``checksum``,
``repaired``, ``empty_geometries``, ``defaults``, ``reprojected_from``).
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import difflib
import functools
import hashlib
import io
import logging
import math
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import rasterio
import shapely
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Geod, Transformer
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.fill import fillnodata
from rasterio.warp import calculate_default_transform
from rasterio.warp import transform as warp_transform

from deadzone.errors import (
    CRSError,
    DataLoadError,
    DeadzoneWarning,
    ParameterError,
    SchemaError,
)
from deadzone.geo.raster import Dem
from deadzone.geo.schema import TECHS, TOWER_COLUMNS, TOWER_DEFAULTS, TOWER_HEIGHT_MAX_M
from deadzone.kernels.resample import warp_tent

__all__ = [
    "load_dem",
    "load_villages",
    "load_communes",
    "load_towers",
    "assign_communes",
    "file_checksum",
    "DEM_VALID_RANGE_M",
    "PERSONS_PER_HOUSEHOLD",
    "SITE_CLUSTER_RADIUS_M",
    "DEFAULT_SECTOR_BEAMWIDTH_DEG",
    "LON_CANDIDATES",
    "LAT_CANDIDATES",
    "WKT_CANDIDATES",
    "VILLAGE_CANDIDATES",
    "COMMUNE_CANDIDATES",
    "DISTRICT_CANDIDATES",
    "TOWER_CANDIDATES",
    "OPENCELLID_RADIO_TECH",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
_F = TypeVar("_F", bound=Callable[..., Any])

#: Persons per household used to estimate ``households`` when a village file
#: has no households value: ``households = round(population / 3.5)`` (the 2019
#: census average household size, GSO).
PERSONS_PER_HOUSEHOLD: float = 3.5

#: OpenCelliD cells of the same MCC, MNC and technology whose positions lie
#: within this distance (metres, on a UTM projection) of a site's first cell
#: are grouped into one site.
SITE_CLUSTER_RADIUS_M: float = 100.0

#: Horizontal beamwidth (degrees) given to a sector (azimuth known) that has
#: no beamwidth in the file.
DEFAULT_SECTOR_BEAMWIDTH_DEG: float = 65.0

#: Candidate names for longitude / latitude / WKT columns of plain tables.
LON_CANDIDATES: tuple[str, ...] = ("lon", "lng", "long", "longitude", "x", "kinh_do")
LAT_CANDIDATES: tuple[str, ...] = ("lat", "latitude", "y", "vi_do")
WKT_CANDIDATES: tuple[str, ...] = ("wkt", "geometry_wkt", "geometry", "geom", "the_geom")

#: Candidate source columns for the optional ``district`` level (communes and
#: villages), best first: names before codes, as for ``province``.  Files
#: without any of them have no district level (Vietnam since July 2025).
DISTRICT_CANDIDATES: tuple[str, ...] = (
    "district",
    "district_name",
    "ten_huyen",
    "huyen",
    "name_2",
    "district_id",
    "district_code",
    "ma_huyen",
)

#: Candidate source columns for each canonical village column, best first.
VILLAGE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "village_id": ("village_id", "id", "osm_id", "code", "ma_thon", "village_code"),
    "name": ("name", "village_name", "village", "ten_thon", "ten"),
    "commune_id": ("commune_id", "commune_code", "ward_code", "ma_xa", "ward_id"),
    "population": ("population", "pop", "dan_so", "so_dan", "population_total"),
    "households": ("households", "hh", "so_ho", "household", "num_households", "n_households"),
    "has_grid_power": (
        "has_grid_power",
        "grid_power",
        "has_power",
        "electrified",
        "co_dien",
        "dien_luoi",
    ),
    "district": DISTRICT_CANDIDATES,
}

#: Candidate source columns for each canonical commune column, best first.
COMMUNE_CANDIDATES: dict[str, tuple[str, ...]] = {
    "commune_id": (
        "commune_id",
        "ward_code",
        "commune_code",
        "ma_xa",
        "ward_id",
        "gid_3",
        "code",
        "id",
    ),
    "name": ("name", "commune_name", "ward_name", "ten_xa", "ten", "name_3"),
    "province": ("province", "province_name", "ten_tinh", "tinh", "name_1"),
    "district": DISTRICT_CANDIDATES,
}

#: Candidate source columns for each canonical tower column, best first.
TOWER_CANDIDATES: dict[str, tuple[str, ...]] = {
    "tower_id": ("tower_id", "site_id", "id", "cell_id", "bts_id", "ma_tram", "osm_id"),
    "tech": ("tech", "technology", "radio", "rat", "generation", "cong_nghe"),
    "freq_mhz": ("freq_mhz", "frequency_mhz", "freq", "frequency", "tan_so"),
    "eirp_dbm": ("eirp_dbm", "eirp"),
    "height_m": (
        "height_m",
        "height",
        "antenna_height_m",
        "antenna_height",
        "mast_height_m",
        "agl_m",
        "agl",
        "do_cao",
    ),
    "azimuth_deg": ("azimuth_deg", "azimuth", "az"),
    "beamwidth_deg": ("beamwidth_deg", "beamwidth", "hbw"),
    "tilt_deg": ("tilt_deg", "tilt", "downtilt", "downtilt_deg"),
}

#: OpenCelliD ``radio`` value -> deadzone technology.
OPENCELLID_RADIO_TECH: dict[str, str] = {"GSM": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}

_TECH_ALIASES: dict[str, str] = {
    "2g": "2G",
    "gsm": "2G",
    "gprs": "2G",
    "edge": "2G",
    "3g": "3G",
    "umts": "3G",
    "wcdma": "3G",
    "hspa": "3G",
    "hspa+": "3G",
    "4g": "4G",
    "lte": "4G",
    "lte-a": "4G",
    "5g": "5G",
    "nr": "5G",
    "5g nr": "5G",
    "5g-nr": "5G",
}

#: Allowed ranges (inclusive unless noted in ``_RANGE_TEXT``) of tower values.
_TOWER_RANGES: dict[str, tuple[float, float, bool]] = {
    # field: (low, high, low_exclusive)
    "lon": (-180.0, 180.0, False),
    "lat": (-90.0, 90.0, False),
    "freq_mhz": (30.0, 100_000.0, False),
    "eirp_dbm": (-10.0, 90.0, False),
    "height_m": (0.0, TOWER_HEIGHT_MAX_M, True),
    "azimuth_deg": (0.0, 360.0, False),
    "beamwidth_deg": (0.0, 360.0, True),
    "tilt_deg": (-90.0, 90.0, False),
}

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
_MISSING_TOKENS = {"", "na", "n/a", "nan", "null", "none"}
#: Elevations (m) a land DEM can hold; cells outside are voids (undeclared nodata such as
#: -9999 or -3.4e38).  Lowest land: Dead Sea shore, -430 m; highest: Everest, 8,849 m.
#: ITM's surface refractivity leaves its valid 250..400 N-units below about -1,000 m.
DEM_VALID_RANGE_M: tuple[float, float] = (-1000.0, 9000.0)
_TRUE_TOKENS = {"true", "t", "yes", "y", "1", "co", "x"}
_FALSE_TOKENS = {"false", "f", "no", "n", "0", "khong"}
_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_WGS84 = ProjCRS.from_epsg(4326)
_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------- helpers


_PENDING: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "deadzone_pending_warnings", default=None
)


def _defers_warnings(fn: _F) -> _F:
    """Hold the warnings a loader raises until it returns (none if it raises)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _PENDING.get() is not None:
            return fn(*args, **kwargs)
        pending: list[str] = []
        token = _PENDING.set(pending)
        try:
            result = fn(*args, **kwargs)
        finally:
            _PENDING.reset(token)
        for message in pending:
            _warn(message)
        return result

    return wrapper  # type: ignore[return-value]


def _warn(message: str) -> None:
    """Issue a DeadzoneWarning attributed to the first caller outside deadzone.

    Inside a loader decorated with :func:`_defers_warnings` the message is held
    and issued when the loader returns, so an error is never preceded by
    warnings about the same file.
    """
    pending = _PENDING.get()
    if pending is not None:
        pending.append(message)
        return
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, DeadzoneWarning, stacklevel=level)


@contextlib.contextmanager
def _quiet_affine() -> Iterator[None]:
    """Silence affine>=3's "use @" PendingDeprecationWarning raised inside rasterio."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        yield


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def _existing(path: PathLike) -> Path:
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DataLoadError(f"{p}: file not found")
    return p


def _where(
    path: Path,
    row: Any = None,
    ident: Any = None,
    id_field: str | None = None,
    field: str | None = None,
    column: str | None = None,
    row_label: str = "feature",
) -> str:
    """Build the ``file: row N (id 'x'), field 'f' (column 'c')`` prefix."""
    out = f"{path}"
    if row is not None:
        out += f": {row_label} {row}"
        if ident is not None and id_field:
            out += f" ({id_field} {ident!r})"
    if field is not None:
        out += f", field {field!r}" if row is not None else f": field {field!r}"
        if column is not None and column != field:
            out += f" (column {column!r})"
    return out


def _also(shown: Any, label: str, bad: Any, first: int | None = None) -> str:
    """``"; and 4 more lines: 3, 4, 5, 6"``: the rows of ``bad`` other than the one named.

    ``bad`` holds 0-based positions failing the same check, ``first`` the one the
    message names (default ``bad[0]``); ``shown``/``label`` as in :class:`_Raw`.
    """
    bad = np.asarray(bad, dtype=np.int64)
    first = int(bad[0]) if first is None else first
    rest = bad[bad != first]
    if rest.size == 0:
        return ""
    listed = ", ".join(str(int(shown[k])) for k in rest[:5])
    if rest.size > 5:
        listed += ", ..."
    return f"; and {rest.size} more {label if rest.size == 1 else label + 's'}: {listed}"


def _list_rows(rows: Sequence[Any], limit: int = 10) -> str:
    shown = ", ".join(str(r) for r in list(rows)[:limit])
    if len(rows) > limit:
        shown += f", ... ({len(rows)} in all)"
    return shown


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def _norm_name(name: Any) -> str:
    """Normalise a column name: no diacritics, lower case, ``_`` separators."""
    text = str(name).replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.strip().lower()
    return re.sub(r"[\s\-.]+", "_", text)


def _pick(
    columns: Sequence[Any],
    user: str | None,
    candidates: Sequence[str],
    *,
    path: Path,
    option: str,
) -> str | None:
    """Return the column for one role: the user's choice or the first candidate."""
    cols = [c for c in columns]
    if user is not None:
        if user in cols:
            return user
        matches = [c for c in cols if _norm_name(c) == _norm_name(user)]
        if len(matches) == 1:
            return matches[0]
        raise SchemaError(
            f"{path}: column {user!r} given as {option}= not found; "
            f"columns are {[str(c) for c in cols]}"
        )
    by_norm: dict[str, Any] = {}
    for c in cols:
        by_norm.setdefault(_norm_name(c), c)
    for cand in candidates:
        if cand in by_norm:
            return by_norm[cand]
    return None


@dataclass(frozen=True)
class _NearMiss:
    """An unused column that looks like a misspelt candidate of a field."""

    column: str
    field: str
    suggestion: str
    typo: bool  # a misspelling (not ``<name>_<suffix>``): strong evidence


def _near_misses(
    columns: Sequence[Any],
    missing: dict[str, Sequence[str]],
    known: Sequence[str],
) -> list[_NearMiss]:
    """Columns the loader does not use that closely resemble a candidate of a missing field.

    ``missing`` maps each field no column was found for to its candidates;
    ``known`` holds every name the loader reads (a column matching one is used
    or deliberately ignored, never a misspelling).  A column is a near miss of a
    candidate (of at least 4 characters) when, compared as by :func:`_norm_name`,
    they differ only in ``_`` separators, are anagrams of each other (swapped
    letters), or have a :class:`difflib.SequenceMatcher` ratio >= 0.8 and lengths
    within 2 characters (typos); or the column is the candidate plus a
    ``_suffix`` (``population_2024``; weaker evidence).
    """
    known_norm = {_norm_name(k) for k in known}
    out: list[_NearMiss] = []
    for c in columns:
        name = _norm_name(c)
        if not name or name in known_norm:
            continue
        best: tuple[float, str, str, bool] | None = None
        for field, cands in missing.items():
            for cand in cands:
                if len(cand) < 4:
                    continue
                if name.replace("_", "") == cand.replace("_", "") or (
                    len(name) == len(cand) and sorted(name) == sorted(cand)
                ):
                    score, typo = 1.0, True
                elif abs(len(name) - len(cand)) <= 2:
                    score = difflib.SequenceMatcher(None, name, cand).ratio()
                    typo = score >= 0.8
                    if not typo:
                        continue
                elif name.startswith(cand + "_"):
                    score, typo = 0.5, False
                else:
                    continue
                if best is None or score > best[0]:
                    best = (score, field, cand, typo)
        if best is not None:
            out.append(_NearMiss(str(c), best[1], best[2], best[3]))
    return out


def _numeric_column(series: pd.Series) -> bool:
    """True when a column holds at least one value and every present value is a number."""
    missing = _missing_mask(series)
    if missing.all():
        return False
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    ):
        return True
    text = series[~missing].astype(str).str.strip().str.replace(",", ".", regex=False)
    return bool(pd.to_numeric(text, errors="coerce").notna().all())


def _is_missing_value(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    if isinstance(v, str) and v.strip().lower() in _MISSING_TOKENS:
        return True
    return False


def _missing_mask(series: pd.Series) -> npt.NDArray[np.bool_]:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.isna().to_numpy()
    return np.fromiter((_is_missing_value(v) for v in series), dtype=bool, count=len(series))


def _numeric(
    series: pd.Series,
    *,
    path: Path,
    field: str,
    rows: npt.NDArray[Any],
    ids: Sequence[Any] | None = None,
    id_field: str | None = None,
    row_label: str = "feature",
) -> npt.NDArray[np.float64]:
    """Convert a column to float64 (NaN = missing) or raise naming the bad row."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return np.array(series.to_numpy(dtype=np.float64), copy=True)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), copy=True)
    missing = _missing_mask(series)
    text = series.astype(object).where(~missing, None)
    values = pd.to_numeric(
        text.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce"
    ).to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.array(values, copy=True)
    bad = np.flatnonzero(np.isnan(values) & ~missing)
    if bad.size:
        # Name a row holding garbage rather than a decimal-comma number that was left
        # unconverted only because of that garbage (see _decimal_commas).
        comma = [bool(_DECIMAL_COMMA.match(str(series.iloc[k]).strip())) for k in bad]
        i = int(next((k for k, c in zip(bad, comma, strict=True) if not c), bad[0]))
        ident = ids[i] if ids is not None else None
        hint = ""
        if all(comma):
            hint = "; use one decimal separator per column ('.' in a comma-separated file)"
        raise SchemaError(
            f"{_where(path, rows[i], ident, id_field, field, str(series.name), row_label)}"
            f": value {series.iloc[i]!r} is not a number"
            + hint
            + _also(rows, row_label, bad, i)
        )
    return values


def _id_strings(series: pd.Series) -> list[str | None]:
    """Ids as strings (``12.0`` -> ``"12"``); None where missing."""
    out: list[str | None] = []
    for v in series.tolist():
        if _is_missing_value(v):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        elif isinstance(v, (bytes, bytearray)):
            out.append(v.decode("utf-8", "replace").strip())
        else:
            out.append(str(v).strip())
    return out


def _text(series: pd.Series | None, n: int) -> pd.Series:
    """A str column with ``""`` for missing values."""
    if series is None:
        return pd.Series([""] * n, dtype=str)
    vals = ["" if v is None else v for v in _id_strings(series)]
    return pd.Series(vals, dtype=str)


def _infer_text_column(series: pd.Series) -> pd.Series:
    """Give a CSV text column a better type: int, float, bool, or keep str."""
    missing = _missing_mask(series)
    present = series[~missing].astype(str).str.strip()
    if present.empty:
        return series
    lowered = present.str.lower()
    if lowered.isin(["true", "false"]).all():
        if missing.any():
            out = pd.Series(pd.NA, index=series.index, dtype="boolean")
            out[~missing] = (lowered == "true").to_numpy()
            return out
        return (series.astype(str).str.strip().str.lower() == "true").astype(bool)
    # keep codes such as "00123" or "+84..." as text
    if present.str.match(r"^[+-]?0\d").any() or present.str.match(r"^\+").any():
        return series
    nums = pd.to_numeric(present, errors="coerce")
    if nums.isna().any():
        return series
    full = pd.Series(np.nan, index=series.index, dtype=np.float64)
    full[~missing] = nums.to_numpy(dtype=np.float64)
    if (
        not missing.any()
        and np.all(np.mod(full.to_numpy(), 1.0) == 0)
        and present.str.match(r"^[+-]?\d+$").all()
    ):
        return full.astype(np.int64)
    return full


def _to_bool(
    series: pd.Series,
    *,
    path: Path,
    field: str,
    rows: Any,
    ids: Sequence[Any],
    id_field: str,
    row_label: str = "feature",
) -> pd.Series:
    vals: list[Any] = []
    bad: list[int] = []
    for i, v in enumerate(series.tolist()):
        if _is_missing_value(v):
            vals.append(pd.NA)
        elif isinstance(v, (bool, np.bool_)):
            vals.append(bool(v))
        elif isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1):
            vals.append(bool(v))
        else:
            t = _norm_name(v)
            if t in _TRUE_TOKENS:
                vals.append(True)
            elif t in _FALSE_TOKENS:
                vals.append(False)
            else:
                bad.append(i)
                vals.append(pd.NA)
    if bad:
        i = bad[0]
        raise SchemaError(
            f"{_where(path, rows[i], ids[i], id_field, field, str(series.name), row_label)}: "
            f"value {series.iloc[i]!r} is not a yes/no value" + _also(rows, row_label, bad)
        )
    if any(v is pd.NA for v in vals):
        return pd.Series(vals, dtype="boolean")
    return pd.Series(vals, dtype=bool)


def file_checksum(path: PathLike, *, chunk_bytes: int = 1 << 20) -> str:
    """Return the SHA-256 of a file's bytes (hex), read in chunks.

    Parameters
    ----------
    path : str or os.PathLike
        File to hash.
    chunk_bytes : int, optional
        Bytes read per chunk (default 1 MiB).

    Returns
    -------
    str
        64 hexadecimal characters.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> file_checksum(p)[:16]
    'ba7816bf8f01cfea'
    """
    p = _existing(path)
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while chunk := f.read(chunk_bytes):
                h.update(chunk)
    except IsADirectoryError:
        for sub in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(sub.relative_to(p).as_posix().encode())
            h.update(file_checksum(sub).encode())
    except OSError as exc:
        raise DataLoadError(f"{p}: cannot read ({_one_line(exc)})") from None
    return h.hexdigest()


# --------------------------------------------------------------------------- DEM


def _utm_crs(lon: float, lat: float) -> CRS:
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _fill_nearest(values: npt.NDArray[np.float32], todo: npt.NDArray[np.bool_]) -> None:
    """Fill ``todo`` cells in place from the valid 8-neighbours, ring by ring."""
    todo = todo.copy()
    while todo.any():
        rr, cc = np.nonzero(todo)
        r0, r1 = max(rr.min() - 1, 0), min(rr.max() + 2, todo.shape[0])
        c0, c1 = max(cc.min() - 1, 0), min(cc.max() + 2, todo.shape[1])
        v = values[r0:r1, c0:c1]
        t = todo[r0:r1, c0:c1]
        ok = np.pad(~t, 1, constant_values=False)
        vp = np.pad(np.where(t, 0.0, v).astype(np.float64), 1)
        total = np.zeros(v.shape, np.float64)
        count = np.zeros(v.shape, np.int32)
        h, w = v.shape
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                if dr == 1 and dc == 1:
                    continue
                okv = ok[dr : dr + h, dc : dc + w]
                total += np.where(okv, vp[dr : dr + h, dc : dc + w], 0.0)
                count += okv
        newly = t & (count > 0)
        if not newly.any():  # pragma: no cover - only when nothing is valid
            raise ValueError("no valid cell to fill from")
        v[newly] = (total[newly] / count[newly]).astype(values.dtype)
        t[newly] = False


def _fill_voids(elev: npt.NDArray[np.float32], invalid: npt.NDArray[np.bool_]) -> None:
    """Fill ``invalid`` cells in place: GDAL FillNodata, then nearest valid cells."""
    elev[invalid] = np.nan
    filled = fillnodata(
        elev,
        mask=(~invalid).astype(np.uint8),
        max_search_distance=float(_FILL_SEARCH_CELLS),
        smoothing_iterations=0,
    )
    filled = np.asarray(filled, dtype=np.float32)
    remainder = ~np.isfinite(filled)
    if remainder.any():
        _fill_nearest(filled, remainder)
    elev[...] = filled


def _metres_per_unit(crs: CRS) -> float | None:
    """Linear unit of a projected CRS in metres (None if geographic/unknown)."""
    try:
        pc = ProjCRS.from_user_input(crs.to_wkt())
    except Exception:  # pragma: no cover - rasterio already parsed it
        return None
    if not pc.is_projected or not pc.axis_info:
        return None
    return float(pc.axis_info[0].unit_conversion_factor)


@_defers_warnings
def _dem_window(src: Any, bounds_lonlat: tuple[float, float, float, float], p: Path) -> Any:
    """The raster window (whole cells, clipped) covering a lon/lat box."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    w, s_, e, n = (float(v) for v in bounds_lonlat)
    if not (w < e and s_ < n):
        raise ParameterError(f"bounds_lonlat was {bounds_lonlat!r}; expected (W, S, E, N)")
    box = transform_bounds("EPSG:4326", src.crs, w, s_, e, n, densify_pts=21)
    f = from_bounds(*box, transform=src.transform)
    c0, r0 = math.floor(f.col_off), math.floor(f.row_off)
    win = Window(c0, r0, math.ceil(f.col_off + f.width) - c0, math.ceil(f.row_off + f.height) - r0)
    full = Window(0, 0, src.width, src.height)
    if (
        win.col_off >= src.width
        or win.row_off >= src.height
        or win.col_off + win.width <= 0
        or win.row_off + win.height <= 0
    ):
        want = ", ".join(f"{float(v):.5f}" for v in bounds_lonlat)
        have = ", ".join(f"{float(v):.5f}" for v in src.bounds)
        hint = ""
        sb = src.bounds
        if src.crs.is_geographic and not (
            -180.0 <= sb.left <= sb.right <= 360.0 and -90.0 <= sb.bottom <= sb.top <= 90.0
        ):
            hint = "; its coordinates are not degrees: is its CRS wrong?"
        elif (
            not src.crs.is_geographic
            and abs(src.transform.a) < 0.01
            and -180.0 <= sb.left <= sb.right <= 180.0
            and -90.0 <= sb.bottom <= sb.top <= 90.0
        ):
            hint = "; its coordinates and cell size look like degrees: is its CRS wrong?"
        raise DataLoadError(
            f"{p}: does not cover the requested area (lon/lat {want}); the raster covers "
            f"({have}) in {src.crs}{hint}"
        )
    return win.intersection(full)


#: ``fillnodata`` search distance (cells) used by :func:`_fill_voids`.
_FILL_SEARCH_CELLS = 100
#: Extra cells read around a window so that void filling sees what the whole read sees.
_FILL_MARGIN = _FILL_SEARCH_CELLS + 2


@dataclass(frozen=True)
class _DemGrid:
    """The metric grid of a whole raster (from its header only).

    ``transform``/``width``/``height`` describe the whole target grid; a window
    read returns a sub-grid of it.  ``kernel_x``/``kernel_y`` are the radii of
    the bilinear (tent) kernel in source cells: 1, or the downsampling ratio.
    """

    crs: CRS
    warp: bool
    res_m: float
    transform: Affine
    width: int
    height: int
    kernel_x: float
    kernel_y: float


@dataclass(frozen=True)
class _Lattice:
    """Exact source positions at every ``_LATTICE``-th target cell centre of the whole grid.

    ``col_f``/``row_f`` (source pixel coordinates of the whole raster, NaN
    where the projection fails) at target cells ``(i * _LATTICE, j * _LATTICE)``
    for ``i >= i0``, ``j >= j0``.  Cells in between are interpolated
    bilinearly from the four nodes around them (as GDAL's approximate
    transformer does along a row, but anchored to the whole grid, so the
    position of a cell never depends on the window; error about 1e-5 source
    cells for UTM).
    """

    i0: int
    j0: int
    col_f: npt.NDArray[np.float64]
    row_f: npt.NDArray[np.float64]


@dataclass(frozen=True)
class _DemPlan:
    """What to read for one request and where the result lies.

    ``read`` is the source window; ``area`` = (row, col, rows, cols) of the
    cells computed, in the whole target grid; ``keep`` = (row, col, rows,
    cols) of the result inside the computed array; ``lattice`` gives the
    source position of every computed cell (None when no warp is needed).
    """

    read: Any
    transform: Affine
    keep: tuple[int, int, int, int]
    area: tuple[int, int, int, int] = (0, 0, 0, 0)
    lattice: _Lattice | None = None


def _dem_grid(
    src: Any, dst_crs_user: CRS | None, resolution_m: float | None, p: Path
) -> _DemGrid:
    """Target CRS, cell size and origin of a raster's metric grid, from the whole raster.

    A geographic raster goes to the UTM zone of the raster's centre at the
    geodesic size of its native cell there (unless ``dst_crs_user`` /
    ``resolution_m`` say otherwise); a projected raster in metres stays as is
    unless asked to change.  The grid never depends on the window requested.
    """
    crs = src.crs
    t = src.transform
    width, height = src.width, src.height
    unit_m = _metres_per_unit(crs)
    cx, cy = t @ (width / 2.0, height / 2.0)
    if unit_m is None:
        lon_c, lat_c = warp_transform(crs, "EPSG:4326", [cx], [cy])
        lon_c, lat_c = float(lon_c[0]), float(lat_c[0])
        # cell size on the ellipsoid at the centre (geographic units are degrees)
        dx_m = _GEOD.inv(lon_c, lat_c, lon_c + abs(t.a), lat_c)[2]
        dy_m = _GEOD.inv(lon_c, lat_c, lon_c, lat_c + abs(t.e))[2]
        native_m = round(math.sqrt(dx_m * dy_m), 2)
        dst_crs = dst_crs_user or _utm_crs(lon_c, lat_c)
    else:
        dx_m, dy_m = abs(t.a) * unit_m, abs(t.e) * unit_m
        native_m = math.sqrt(dx_m * dy_m)
        if dst_crs_user is not None:
            dst_crs = dst_crs_user
        elif abs(unit_m - 1.0) > 1e-9:
            lon_c, lat_c = warp_transform(crs, "EPSG:4326", [cx], [cy])
            dst_crs = _utm_crs(float(lon_c[0]), float(lat_c[0]))
        else:
            dst_crs = crs
    res = float(resolution_m) if resolution_m is not None else native_m
    warp = (
        unit_m is None
        or dst_crs != crs
        or abs(unit_m - 1.0) > 1e-9
        or (
            resolution_m is not None
            and (abs(abs(t.a) - res) > 1e-9 * res or abs(abs(t.e) - res) > 1e-9 * res)
        )
    )
    if not warp:
        return _DemGrid(crs, False, res, Affine(*t[:6]), width, height, 1.0, 1.0)
    try:
        with _quiet_affine():
            ft, fw, fh = calculate_default_transform(
                crs, dst_crs, width, height, *src.bounds, resolution=(res, res)
            )
    except Exception as exc:
        raise DataLoadError(
            f"{p}: cannot reproject the raster ({src.bounds}) to {dst_crs} ({_one_line(exc)}); "
            "is its CRS right?"
        ) from None
    return _DemGrid(
        CRS.from_user_input(dst_crs),
        True,
        res,
        Affine(*ft[:6]),
        int(fw),
        int(fh),
        max(1.0, res / dx_m),
        max(1.0, res / dy_m),
    )


def _grid_window(
    grid: _DemGrid, bounds_lonlat: tuple[float, float, float, float]
) -> tuple[int, int, int, int] | None:
    """(row, col, rows, cols) of the whole grid's cells covering a lon/lat box (outward)."""
    from rasterio.warp import transform_bounds

    xmin, ymin, xmax, ymax = transform_bounds(
        "EPSG:4326", grid.crs, *(float(v) for v in bounds_lonlat), densify_pts=21
    )
    t = grid.transform
    cols = sorted(((xmin - t.c) / t.a, (xmax - t.c) / t.a))
    rows = sorted(((ymax - t.f) / t.e, (ymin - t.f) / t.e))
    c0 = max(0, math.floor(cols[0]))
    c1 = min(grid.width, math.ceil(cols[1]))
    r0 = max(0, math.floor(rows[0]))
    r1 = min(grid.height, math.ceil(rows[1]))
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, c0, r1 - r0, c1 - c0


#: Spacing (target cells) of the exactly projected lattice; a power of 2, so that
#: the interpolation weights are exact.
_LATTICE = 16


def _lattice(src: Any, grid: _DemGrid, r0: int, c0: int, h: int, w: int) -> _Lattice:
    """The lattice nodes around target cells ``r0..r0+h-1`` x ``c0..c0+w-1``."""
    k = _LATTICE
    i0, i1 = r0 // k, (r0 + h - 1) // k + 1
    j0, j1 = c0 // k, (c0 + w - 1) // k + 1
    t = grid.transform
    x = t.c + (np.arange(j0, j1 + 1, dtype=np.float64) * k + 0.5) * t.a
    y = t.f + (np.arange(i0, i1 + 1, dtype=np.float64) * k + 0.5) * t.e
    xx, yy = np.meshgrid(x, y)
    tr = Transformer.from_crs(
        ProjCRS.from_wkt(grid.crs.to_wkt()), ProjCRS.from_wkt(src.crs.to_wkt()), always_xy=True
    )
    sx, sy = tr.transform(xx, yy)
    sx = np.asarray(sx, dtype=np.float64)
    sy = np.asarray(sy, dtype=np.float64)
    if src.crs.is_geographic and src.bounds.right > 180.0:  # a 0..360 raster
        sx = np.where(sx < src.bounds.left, sx + 360.0, sx)
    st = src.transform
    col_f = (sx - st.c) / st.a
    row_f = (sy - st.f) / st.e
    bad = ~(np.isfinite(col_f) & np.isfinite(row_f))
    col_f[bad] = np.nan
    row_f[bad] = np.nan
    return _Lattice(i0, j0, col_f, row_f)


def _dem_read_plan(
    src: Any,
    grid: _DemGrid,
    bounds_lonlat: tuple[float, float, float, float] | None,
    p: Path,
    *,
    fill_voids: bool,
) -> _DemPlan:
    """The source window to read and the target sub-grid for a request.

    The result is the sub-grid of the whole raster's grid covering
    ``bounds_lonlat`` (whole cells, outward).  The source is read with a
    margin: the resampling kernel's reach, plus the void-filling search
    distance when voids are filled; and the computed target area grows by that
    search distance where it meets the edge of the source footprint (whose
    cells are filled after reprojection), so that every cell gets the value
    the whole read gives it.
    """
    from rasterio.windows import Window

    full = Window(0, 0, src.width, src.height)
    fm = _FILL_MARGIN if fill_voids else 0
    if not grid.warp:
        win = _dem_window(src, bounds_lonlat, p) if bounds_lonlat is not None else full
        rd = Window(win.col_off - fm, win.row_off - fm, win.width + 2 * fm, win.height + 2 * fm)
        rd = rd.intersection(full)
        keep = (
            int(win.row_off - rd.row_off),
            int(win.col_off - rd.col_off),
            int(win.height),
            int(win.width),
        )
        return _DemPlan(rd, Affine(*src.window_transform(win)[:6]), keep)

    tw: tuple[int, int, int, int] | None = (0, 0, grid.height, grid.width)
    if bounds_lonlat is not None:
        tw = _grid_window(grid, bounds_lonlat)
        if tw is None:  # the caller's _dem_window check found some overlap
            raise DataLoadError(
                f"{p}: does not cover the requested area (lon/lat {bounds_lonlat}) once "
                f"reprojected to {grid.crs}"
            )
    assert tw is not None
    r0, c0, h, w = tw
    lat = _lattice(src, grid, r0, c0, h, w)

    def all_inside(lt: _Lattice) -> bool:
        # every cell is a convex combination of its four nodes
        return bool(
            np.all((lt.col_f >= 0) & (lt.col_f < src.width))
            and np.all((lt.row_f >= 0) & (lt.row_f < src.height))
        )

    er0, ec0, eh, ew = r0, c0, h, w
    if fill_voids and (h, w) != (grid.height, grid.width) and not all_inside(lat):
        # cells off the source footprint are filled from their neighbours in the target grid
        er0, ec0 = max(0, r0 - fm), max(0, c0 - fm)
        eh = min(grid.height, r0 + h + fm) - er0
        ew = min(grid.width, c0 + w + fm) - ec0
        lat = _lattice(src, grid, er0, ec0, eh, ew)
    ok = np.isfinite(lat.col_f) & np.isfinite(lat.row_f)
    if not ok.any():
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    kx, ky = math.ceil(grid.kernel_x), math.ceil(grid.kernel_y)
    cmin = max(0, math.floor(float(np.min(lat.col_f[ok])) - 0.5) - kx - fm)
    cmax = min(src.width - 1, math.floor(float(np.max(lat.col_f[ok])) - 0.5) + kx + 1 + fm)
    rmin = max(0, math.floor(float(np.min(lat.row_f[ok])) - 0.5) - ky - fm)
    rmax = min(src.height - 1, math.floor(float(np.max(lat.row_f[ok])) - 0.5) + ky + 1 + fm)
    if cmax < cmin or rmax < rmin:
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    rd = Window(cmin, rmin, cmax - cmin + 1, rmax - rmin + 1)
    transform = grid.transform * Affine.translation(c0, r0)
    return _DemPlan(
        rd,
        Affine(*transform[:6]),
        (r0 - er0, c0 - ec0, h, w),
        (er0, ec0, eh, ew),
        lat,
    )


def load_dem(
    path: PathLike,
    *,
    target_crs: Any = None,
    resolution_m: float | None = None,
    fill_voids: bool = True,
    bounds_lonlat: tuple[float, float, float, float] | None = None,
) -> Dem:
    """Load a terrain raster as a :class:`~deadzone.geo.raster.Dem` in metres.

    Parameters
    ----------
    path : str or os.PathLike
        Any single-band raster rasterio reads: GeoTIFF, SRTM ``.hgt`` (e.g.
        ``N21E105.hgt``), ERDAS, ASCII grid.  Band 1 is elevation in metres.
    target_crs : CRS-like, optional
        Projected CRS for the result (anything ``rasterio.crs.CRS.from_user_input``
        accepts, e.g. ``"EPSG:32648"``).  Default: keep a projected metric CRS;
        reproject a geographic raster to the UTM zone (EPSG:326xx north /
        327xx south) of the whole raster's centre.
    resolution_m : float, optional
        Output cell size in metres when reprojecting (or to resample a
        projected raster).  Default for a geographic raster: the geometric mean
        of the native cell's width and height on the WGS84 ellipsoid at the
        whole raster's centre (3 arc-seconds at 21 N -> about 89 m).  The grid's
        origin is the whole raster's reprojected top-left corner.  Resampling
        is bilinear (a tent kernel widened to the downsampling ratio, as GDAL
        does) at exactly projected positions.
    fill_voids : bool, default True
        Fill nodata cells (the nodata value, NaN, -32768 in an int16 raster
        without a declared nodata, as in SRTM, or any elevation outside
        :data:`DEM_VALID_RANGE_M`, such as an undeclared -9999) with
        ``rasterio.fill.fillnodata`` (100-cell search), then any remainder from
        the nearest valid cells.  Filling happens before any reprojection.
        With ``False`` the voids stay NaN.
    bounds_lonlat : (min_lon, min_lat, max_lon, max_lat), optional
        Read only the window of the raster covering this area (degrees,
        EPSG:4326), so a national DEM is never loaded whole for a province.
        The result is the sub-grid (whole cells, snapped outward) of the grid
        the whole raster gives: same CRS (the UTM zone of the *raster's*
        centre), cell size and origin, and the same value in every cell as
        the whole read (the source is read with a margin covering the
        resampling kernel and the void-fill search), so two windows agree
        wherever they overlap.

    Returns
    -------
    Dem
        ``elevation_m`` float32 in metres; ``void_mask`` marks cells that had
        no source data: filled voids (reprojected with nearest neighbour) and
        cells of the reprojected grid outside the source footprint (filled
        from the nearest valid cells).

    Raises
    ------
    DataLoadError
        Missing file, not a raster, every cell nodata, rotated grid.
    CRSError
        The raster has no CRS, or ``target_crs`` is invalid or not projected.
    ParameterError
        ``resolution_m`` is not a positive number.

    Warns
    -----
    DeadzoneWarning
        When void cells were filled (with their count).

    Examples
    --------
    >>> dem = load_dem("../shared/data/srtm3/N21E105.hgt")  # doctest: +SKIP
    >>> dem.crs.to_epsg(), round(dem.cell_w_m)  # doctest: +SKIP
    (32648, 89)
    """
    p = _existing(path)
    if resolution_m is not None and not (
        isinstance(resolution_m, (int, float)) and math.isfinite(resolution_m) and resolution_m > 0
    ):
        raise ParameterError(f"resolution_m was {resolution_m!r}; expected a positive number")
    dst_crs_user: CRS | None = None
    if target_crs is not None:
        try:
            dst_crs_user = CRS.from_user_input(target_crs)
        except Exception as exc:
            raise CRSError(
                f"target_crs {target_crs!r} is not a valid CRS ({_one_line(exc)})"
            ) from None
        if not dst_crs_user.is_projected:
            raise CRSError(f"target_crs {target_crs!r} is not a projected (metric) CRS")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(p)
        except RasterioIOError as exc:
            raise DataLoadError(f"{p}: not a raster rasterio can read ({_one_line(exc)})") from None
        with src:
            crs = src.crs
            if crs is None or not crs.to_wkt():
                raise CRSError(
                    f"{p}: raster has no CRS; assign one "
                    f"(e.g. gdal_edit.py -a_srs EPSG:4326 {p.name})"
                )
            if src.transform.b != 0 or src.transform.d != 0:
                raise DataLoadError(
                    f"{p}: rotated raster grids are not supported; warp it north-up"
                )
            with _quiet_affine():
                if bounds_lonlat is not None:
                    _dem_window(src, bounds_lonlat, p)  # raises when the raster misses the box
                # The target grid (CRS, cell size, origin) comes from the whole raster's
                # header, so a window read gives exactly the whole read's cells.
                grid = _dem_grid(src, dst_crs_user, resolution_m, p)
                plan = _dem_read_plan(src, grid, bounds_lonlat, p, fill_voids=fill_voids)
            try:
                raw = src.read(1, window=plan.read)
            except RasterioIOError as exc:
                raise DataLoadError(f"{p}: cannot read raster data ({_one_line(exc)})") from None
            nodata = src.nodata
            src_shape = (src.height, src.width)

    elev = raw.astype(np.float32)
    invalid = ~np.isfinite(elev)
    if nodata is not None and not math.isnan(nodata):
        invalid |= raw == np.asarray(nodata).astype(raw.dtype)
    elif nodata is None and raw.dtype == np.int16:
        invalid |= raw == -32768
    lo_m, hi_m = DEM_VALID_RANGE_M
    implausible = ~invalid & ((elev < lo_m) | (elev > hi_m))
    if implausible.any():
        _warn(
            f"{p}: {_plural(int(implausible.sum()), 'cell')} with elevations outside "
            f"{lo_m:g}..{hi_m:g} m (e.g. {float(elev[implausible][0]):g}, an undeclared nodata "
            "value?) treated as voids"
        )
        invalid |= implausible
    if invalid.all():
        raise DataLoadError(
            f"{p}: has no valid elevation cells (all {invalid.size} cells are nodata {nodata})"
        )
    void_mask = invalid.copy()
    n_void = int(invalid.sum())
    if n_void:
        if fill_voids:
            _fill_voids(elev, invalid)
            if not grid.warp:  # a warped DEM says it below, with its own grid's count
                _warn(
                    f"{p}: filled {_plural(n_void, 'void cell')} (nodata {nodata}) from the "
                    "nearest valid cells; they are marked in Dem.void_mask"
                )
        else:
            elev[invalid] = np.nan
            _warn(f"{p}: {_plural(n_void, 'void cell')} left as NaN (fill_voids=False)")

    if not grid.warp:
        r0, c0, h, w = plan.keep
        return Dem(
            elevation_m=np.ascontiguousarray(elev[r0 : r0 + h, c0 : c0 + w], dtype=np.float32),
            transform=Affine(*plan.transform[:6]),
            crs=CRS.from_user_input(crs),
            void_mask=np.ascontiguousarray(void_mask[r0 : r0 + h, c0 : c0 + w], dtype=bool),
            source=str(p),
        )

    assert plan.lattice is not None  # set for every warp plan
    row_off, col_off = int(plan.read.row_off), int(plan.read.col_off)
    ar0, ac0, ah, aw = plan.area
    lat = plan.lattice
    # void mask: nearest source cell (the one containing the target cell's centre)
    out, vm = warp_tent(
        elev, void_mask, lattice_col=lat.col_f, lattice_row=lat.row_f,
        lattice_origin=(lat.i0, lat.j0), lattice_step=_LATTICE, target_origin=(ar0, ac0),
        target_shape=(ah, aw), source_shape=src_shape, window_origin=(row_off, col_off),
        kernel_x=grid.kernel_x, kernel_y=grid.kernel_y,
    )
    outside = ~np.isfinite(out)
    outside_only = outside if fill_voids else outside & ~vm
    if outside.all():
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    if fill_voids and outside.any():
        _fill_voids(out, outside)
    r0, c0, h, w = plan.keep
    out = out[r0 : r0 + h, c0 : c0 + w]
    vm = vm[r0 : r0 + h, c0 : c0 + w]
    outside_only = outside_only[r0 : r0 + h, c0 : c0 + w]
    logger.info(
        "%s: reprojected %s -> %s at %.2f m; %d cells outside the source footprint",
        p,
        crs,
        grid.crs,
        grid.res_m,
        int(outside_only.sum()),
    )
    dem = Dem(
        elevation_m=np.ascontiguousarray(out, dtype=np.float32),
        transform=Affine(*plan.transform[:6]),
        crs=CRS.from_user_input(grid.crs),
        void_mask=np.ascontiguousarray(vm | outside_only, dtype=bool),
        source=str(p),
    )
    if n_void and fill_voids:
        # the grid's data voids as summary.json counts them (dem.data_void_cells)
        n_grid = dem.void_count - int(dem.outside_footprint_mask.sum())
        _warn(
            f"{p}: filled {_plural(n_void, 'void cell')} of the source (nodata {nodata}) from "
            f"the nearest valid cells: {_plural(n_grid, 'cell')} of the {grid.res_m:.4g} m grid "
            "(summary.json dem.data_void_cells); they are marked in Dem.void_mask"
        )
    return dem


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

    path: Path
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


_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")
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
    p = _existing(path)
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
        return _GeomInfo(gs.reset_index(drop=True), [], reprojected_from, assumed)

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


def _attrs(p: Path, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"source": str(p), "checksum": file_checksum(p)}
    out.update(kw)
    return out


# --------------------------------------------------------------------------- communes


@_defers_warnings
def load_communes(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    province_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Load commune (ward) polygons.

    Parameters
    ----------
    path : str or os.PathLike
        GeoPackage, GeoJSON, Shapefile, GeoParquet or any vector file GDAL
        reads, e.g. ``vn_communes_2025.gpkg``.
    id_col, name_col, province_col : str, optional
        Source columns for ``commune_id``, ``name``, ``province``; default
        auto-detected from :data:`COMMUNE_CANDIDATES` (``ward_code`` ->
        ``commune_id``, ``province_name`` -> ``province``).
    district_col : str, optional
        Source column for ``district`` (the admin level between commune and
        province); default auto-detected from :data:`DISTRICT_CANDIDATES`
        (``district``, ``district_name``, ``ten_huyen``, ``huyen``,
        ``name_2``, ``district_id``, ``district_code``, ``ma_huyen``).  A file
        without such a column has no district level: the result then has no
        ``district`` column (as Vietnam's 2025 communes, which have none).
    layer : str or int, optional
        Layer of a multi-layer file (default: the only layer, or one named
        ``communes``).
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        Keep only communes intersecting this box (degrees, EPSG:4326); the
        read uses the file's spatial index.

    Returns
    -------
    GeoDataFrame
        EPSG:4326; ``commune_id``, ``name``, ``province`` (str) first, then
        ``district`` (str, ``""`` where missing) when the file has a district
        column, the file's other columns after them, polygon ``geometry``.  Invalid
        polygons are repaired with ``shapely.make_valid`` (polygonal parts
        kept) and counted in ``.attrs['repaired']``; none are dropped.

    Raises
    ------
    DataLoadError, SchemaError, CRSError

    Examples
    --------
    >>> c = load_communes("../shared/data/vn_admin_2025/vn_communes_2025.gpkg",
    ...                   bbox=(105, 21, 106, 22))  # doctest: +SKIP
    """
    return _load_communes(
        path,
        id_col=id_col,
        name_col=name_col,
        province_col=province_col,
        district_col=district_col,
        layer=layer,
        bbox=bbox,
        allow_empty=False,
    )


def _load_communes(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    province_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    if bbox is not None:
        if len(bbox) != 4 or not all(math.isfinite(float(v)) for v in bbox):
            raise ParameterError(
                f"bbox was {bbox!r}; expected (min_lon, min_lat, max_lon, max_lat)"
            )
        if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
            raise ParameterError(f"bbox was {bbox!r}; min must not exceed max")
    raw = _read_raw(path, layer=layer, kind="communes", bbox=bbox, allow_empty=True)
    p = raw.path
    if bbox is None and len(raw.table) == 0 and not allow_empty:
        raise DataLoadError(f"{p}: has no features")
    cols = list(raw.table.columns)
    c_id = _pick(cols, id_col, COMMUNE_CANDIDATES["commune_id"], path=p, option="id_col")
    c_name = _pick(cols, name_col, COMMUNE_CANDIDATES["name"], path=p, option="name_col")
    c_prov = _pick(
        cols, province_col, COMMUNE_CANDIDATES["province"], path=p, option="province_col"
    )
    c_dist = _pick(
        cols, district_col, COMMUNE_CANDIDATES["district"], path=p, option="district_col"
    )
    ids, generated = _ids(raw, c_id, id_field="commune_id", prefix="row-", warn=True)
    _check_unique(p, ids, raw.shown.tolist(), "commune_id", raw.row_label)
    geo = _geometry(raw, ids=ids, id_field="commune_id", allow_missing=True)
    gs, n_rep, n_empty = _repair(
        geo.geometry, p=p, rows=raw.shown, row_label=raw.row_label, polygonal=True
    )
    gtypes = gs.geom_type.to_numpy()
    bad = np.flatnonzero(
        ~gs.is_empty.to_numpy()
        & ~gs.isna().to_numpy()
        & ~np.isin(gtypes, ["Polygon", "MultiPolygon"])
    )
    if bad.size:
        i = int(bad[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'commune_id', 'geometry', None, raw.row_label)}: "
            f"expected a polygon, got {gtypes[i]}" + _also(raw.shown, raw.row_label, bad)
        )
    n = len(raw.table)
    used = {c for c in (c_id, c_name, c_prov, c_dist) if c is not None} | set(geo.consumed)
    data: dict[str, Any] = {
        "commune_id": pd.Series(ids, dtype=str),
        "name": _text(raw.table[c_name] if c_name else None, n),
        "province": _text(raw.table[c_prov] if c_prov else None, n),
    }
    if c_dist is not None:
        data["district"] = _text(raw.table[c_dist], n)
    data.update(_extras(raw, used, {"commune_id", "name", "province", "district", "geometry"}))
    out = gpd.GeoDataFrame(data, geometry=gs.reset_index(drop=True), crs=4326)
    if bbox is not None:
        keep = out.intersects(shapely.box(*bbox)).to_numpy() | out.geometry.is_empty.to_numpy()
        out = out[keep].reset_index(drop=True)
        if len(out) == 0 and not allow_empty:
            raise DataLoadError(f"{p}: has no features intersecting bbox {tuple(bbox)}")
    out.attrs = _attrs(
        p,
        repaired=n_rep,
        empty_geometries=n_empty,
        defaults={"commune_id": f"generated for {generated} rows"} if generated else {},
        reprojected_from=geo.reprojected_from,
    )
    return out


# --------------------------------------------------------------------------- towers

#: Link-budget columns: EIRP = tx power + antenna gain - feeder loss, used
#: when a tower has no ``eirp_dbm`` but gives its transmitter power.
_BUDGET_CANDIDATES: dict[str, tuple[str, ...]] = {
    "tx_power_dbm": ("tx_power_dbm", "power_dbm", "ptx_dbm", "tx_power"),
    "antenna_gain_dbi": ("antenna_gain_dbi", "gain_dbi", "antenna_gain"),
    "cable_loss_db": ("cable_loss_db", "feeder_loss_db", "cable_loss"),
}
#: Antenna gain (dBi) and feeder loss (dB) assumed when only the transmitter
#: power is given (the basis of ``TOWER_DEFAULTS``).
DEFAULT_ANTENNA_GAIN_DBI: dict[str, float] = {"2G": 15.0, "3G": 18.0, "4G": 18.0, "5G": 18.0}
DEFAULT_CABLE_LOSS_DB = 3.0


def _eirp_from_budget(
    p: Path,
    raw: Any,
    cols: Any,
    ids: Any,
    techs: Any,
    eirp: npt.NDArray[np.float64],
    sources: list[list[str]],
) -> None:
    """Fill missing ``eirp`` in place from tx power, antenna gain and feeder loss."""
    found = {
        field: _pick(cols, None, cands, path=p, option=field)
        for field, cands in _BUDGET_CANDIDATES.items()
    }
    if found["tx_power_dbm"] is None:
        return
    n = len(eirp)
    vals = {
        field: (
            np.full(n, np.nan)
            if c is None
            else _numeric(
                raw.table[c],
                path=p,
                field=field,
                rows=raw.shown,
                ids=ids,
                id_field="tower_id",
                row_label=raw.row_label,
            )
        )
        for field, c in found.items()
    }
    for i in np.flatnonzero(~np.isfinite(eirp) & np.isfinite(vals["tx_power_dbm"])):
        gain = vals["antenna_gain_dbi"][i]
        loss = vals["cable_loss_db"][i]
        if not np.isfinite(gain):
            gain = DEFAULT_ANTENNA_GAIN_DBI[techs[i]]
            sources[i].append("antenna_gain_dbi")
        if not np.isfinite(loss):
            loss = DEFAULT_CABLE_LOSS_DB
            sources[i].append("cable_loss_db")
        eirp[i] = vals["tx_power_dbm"][i] + gain - loss
        if not (-10.0 <= eirp[i] <= 90.0):
            where = _where(p, raw.shown[i], ids[i], "tower_id", "tx_power_dbm", None, raw.row_label)
            raise SchemaError(
                f"{where}: EIRP from the link budget is {eirp[i]:.1f} dBm; expected -10..90 dBm"
            )


# --------------------------------------------------------------------------- villages


#: ``attrs`` key set on a villages table whose empty commune ids went through the
#: spatial join (:func:`assign_communes`, ``load_villages(communes=...)``): those
#: still empty lie in no commune, and joining again would only repeat the work
#: and its warning.
COMMUNES_JOINED = "communes_joined"


@_defers_warnings
def load_villages(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    commune_col: str | None = None,
    population_col: str | None = None,
    households_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    communes: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Load villages (points or polygons) with population.

    Parameters
    ----------
    path : str or os.PathLike
        GeoPackage, GeoJSON, Shapefile, GeoParquet (or any vector file GDAL
        reads), or a CSV (``,``/``;``/tab, UTF-8 with or without BOM) with
        longitude/latitude columns (:data:`LON_CANDIDATES`,
        :data:`LAT_CANDIDATES`, any case) in EPSG:4326 degrees, or a WKT column.
    id_col, name_col, commune_col, population_col, households_col : str, optional
        Source columns; default auto-detected from :data:`VILLAGE_CANDIDATES`.
        A named column that does not exist is an error.
    district_col : str, optional
        Source column for ``district`` (default auto-detected from
        :data:`DISTRICT_CANDIDATES`); absent means the villages carry no
        district (the audit then takes districts from the communes, if any).
    layer : str or int, optional
        Layer of a multi-layer file (default: the only layer, or ``villages``).
    communes : GeoDataFrame, optional
        Commune polygons with ``commune_id`` (as from :func:`load_communes`).
        Villages without a commune id get the commune containing them, else
        the nearest commune within 1 km, else ``""`` (with a warning).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 with ``village_id``, ``name``, ``commune_id`` (str),
        ``population``, ``households`` (int64, persons and households),
        ``has_grid_power`` (bool, only if the file has it), ``district``
        (str, ``""`` where missing; only if the file has it), the file's other
        columns, ``source_row`` (0-based row of the feature in the file) and
        ``geometry`` (kept as given; invalid ones repaired, empty ones kept).
        ``.attrs`` records ``source``, ``checksum``, ``repaired``,
        ``empty_geometries``, ``defaults`` (what was filled and why) and
        ``reprojected_from``.

    Notes
    -----
    * No population column: population 0 (warning).  Missing values: 0
      (warning).  Non-integer values are rounded to the nearest person.
    * No households column / missing values:
      ``round(population / PERSONS_PER_HOUSEHOLD)`` (3.5, the 2019 census
      average household size; warning).
    * No id column: ``"row-<n>"`` (warning).  Duplicated ids are an error.

    Raises
    ------
    DataLoadError, SchemaError, CRSError

    Examples
    --------
    >>> v = load_villages("villages.csv")  # doctest: +SKIP
    >>> list(v.columns[:5])  # doctest: +SKIP
    ['village_id', 'name', 'commune_id', 'population', 'households']
    """
    return _load_villages(
        path,
        id_col=id_col,
        name_col=name_col,
        commune_col=commune_col,
        population_col=population_col,
        households_col=households_col,
        district_col=district_col,
        layer=layer,
        communes=communes,
        allow_empty=False,
    )


def _count_positive_int(
    values: npt.NDArray[np.float64],
    *,
    p: Path,
    raw: _Raw,
    ids: Sequence[str],
    field: str,
    column: str,
) -> None:
    inf = np.flatnonzero(np.isinf(values))
    if inf.size:
        i = int(inf[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'village_id', field, column, raw.row_label)}: "
            f"value {values[i]:g} is not a finite number" + _also(raw.shown, raw.row_label, inf)
        )
    neg = np.flatnonzero(values < 0)
    if neg.size:
        i = int(neg[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'village_id', field, column, raw.row_label)}: "
            f"value {values[i]:g} is negative" + _also(raw.shown, raw.row_label, neg)
        )


#: Village field -> (what a missing column means, the loader option naming a column).
_VILLAGE_MISSING: dict[str, tuple[str, str | None]] = {
    "village_id": ("ids are generated", "id_col= (--village-id-col)"),
    "name": ("villages have no name", "name_col= (--village-name-col)"),
    "commune_id": ("commune ids come from the communes layer", "commune_col="),
    "population": ("population is 0 in every village", "population_col= (--population-col)"),
    "households": (
        "households are estimated from population",
        "households_col= (--households-col)",
    ),
    "has_grid_power": ("grid power is unknown", None),
    "district": ("there is no district level", "district_col="),
}


def _village_near_misses(raw: _Raw, missing: dict[str, Sequence[str]]) -> None:
    """Warn about unused columns that look like a misspelt village column (see _near_misses)."""
    if not missing:
        return
    known = [
        *(c for cands in VILLAGE_CANDIDATES.values() for c in cands),
        *LON_CANDIDATES,
        *LAT_CANDIDATES,
        *WKT_CANDIDATES,
        "source_row",
    ]
    for m in _near_misses(list(raw.table.columns), missing, known):
        effect, option = _VILLAGE_MISSING[m.field]
        how = f"rename it or pass it as {option}" if option else "rename it"
        _warn(
            f"{raw.path}: column {m.column!r} is not used: did you mean {m.suggestion!r}? "
            f"Without it {effect}; {how}"
        )


def _load_villages(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    commune_col: str | None = None,
    population_col: str | None = None,
    households_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    communes: gpd.GeoDataFrame | None = None,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    raw = _read_raw(path, layer=layer, kind="villages", allow_empty=allow_empty)
    p = raw.path
    cols = list(raw.table.columns)
    cand = VILLAGE_CANDIDATES
    c_id = _pick(cols, id_col, cand["village_id"], path=p, option="id_col")
    c_name = _pick(cols, name_col, cand["name"], path=p, option="name_col")
    c_comm = _pick(cols, commune_col, cand["commune_id"], path=p, option="commune_col")
    c_pop = _pick(cols, population_col, cand["population"], path=p, option="population_col")
    c_hh = _pick(cols, households_col, cand["households"], path=p, option="households_col")
    c_grid = _pick(cols, None, cand["has_grid_power"], path=p, option="has_grid_power")
    c_dist = _pick(cols, district_col, cand["district"], path=p, option="district_col")
    n = len(raw.table)
    defaults: dict[str, str] = {}
    found = {
        "village_id": c_id,
        "name": c_name,
        "commune_id": c_comm,
        "population": c_pop,
        "households": c_hh,
        "has_grid_power": c_grid,
        "district": c_dist,
    }
    _village_near_misses(raw, {f: cand[f] for f, c in found.items() if c is None})

    ids, generated = _ids(raw, c_id, id_field="village_id", prefix="row-", warn=True)
    if generated:
        defaults["village_id"] = f"'row-<n>' generated for {generated} rows"
    _check_unique(p, ids, raw.shown.tolist(), "village_id", raw.row_label)

    # population
    if c_pop is None:
        pop = np.zeros(n, dtype=np.float64)
        if n:
            defaults["population"] = "0 (no population column)"
            _warn(
                f"{p}: field 'population': no population column "
                f"(looked for {cand['population']}); population set to 0"
            )
    else:
        pop = _numeric(
            raw.table[c_pop],
            path=p,
            field="population",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
        _count_positive_int(pop, p=p, raw=raw, ids=ids, field="population", column=c_pop)
        miss = ~np.isfinite(pop)
        if miss.any():
            pop[miss] = 0.0
            defaults["population"] = f"0 in {int(miss.sum())} rows without a value"
            _warn(
                f"{p}: field 'population': {_plural(int(miss.sum()), 'row')} without a value "
                f"({raw.row_label}s {_list_rows(raw.shown[miss].tolist(), 5)}) set to 0"
            )
    population = np.rint(pop).astype(np.int64)

    # households
    est = np.rint(population / PERSONS_PER_HOUSEHOLD).astype(np.int64)
    if c_hh is None:
        households = est
        if n:
            defaults["households"] = f"population / {PERSONS_PER_HOUSEHOLD} (no households column)"
            _warn(
                f"{p}: field 'households': no households column; estimated as "
                f"round(population / {PERSONS_PER_HOUSEHOLD})"
            )
    else:
        hh = _numeric(
            raw.table[c_hh],
            path=p,
            field="households",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
        _count_positive_int(hh, p=p, raw=raw, ids=ids, field="households", column=c_hh)
        miss = ~np.isfinite(hh)
        hh[miss] = est[miss]
        households = np.rint(hh).astype(np.int64)
        if miss.any():
            defaults["households"] = (
                f"population / {PERSONS_PER_HOUSEHOLD} in {int(miss.sum())} rows without a value"
            )
            _warn(
                f"{p}: field 'households': {_plural(int(miss.sum()), 'row')} without a value "
                f"estimated as round(population / {PERSONS_PER_HOUSEHOLD})"
            )

    geo = _geometry(raw, ids=ids, id_field="village_id", allow_missing=True)
    gs, n_rep, n_empty = _repair(
        geo.geometry, p=p, rows=raw.shown, row_label=raw.row_label, polygonal=False
    )

    commune_ids = _text(raw.table[c_comm] if c_comm else None, n)
    if communes is not None:
        commune_ids = _join_communes(gs, commune_ids, communes, p=p, defaults=defaults)
    elif n and (commune_ids == "").any():
        k = int((commune_ids == "").sum())
        defaults["commune_id"] = f"'' in {k} rows (no commune column or value, no communes=)"

    data: dict[str, Any] = {
        "village_id": pd.Series(ids, dtype=str),
        "name": _text(raw.table[c_name] if c_name else None, n),
        "commune_id": commune_ids.reset_index(drop=True),
        "population": population,
        "households": households,
    }
    if c_grid is not None:
        data["has_grid_power"] = _to_bool(
            raw.table[c_grid],
            path=p,
            field="has_grid_power",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
    if c_dist is not None:
        data["district"] = _text(raw.table[c_dist], n)
    used = {c for c in (c_id, c_name, c_comm, c_pop, c_hh, c_grid, c_dist) if c is not None}
    used |= set(geo.consumed)
    reserved = set(data) | {"has_grid_power", "district", "source_row", "geometry"}
    data.update(_extras(raw, used, reserved))
    data["source_row"] = raw.rows.astype(np.int64)
    out = gpd.GeoDataFrame(data, geometry=gs.reset_index(drop=True), crs=4326)
    out.attrs = _attrs(
        p,
        repaired=n_rep,
        empty_geometries=n_empty,
        defaults=defaults,
        reprojected_from=geo.reprojected_from,
        **({COMMUNES_JOINED: True} if communes is not None else {}),
    )
    return out


def _set_ids(ids: pd.Series, rows: np.ndarray, values: np.ndarray) -> None:
    """``ids[rows] = str(values)`` in one assignment (row by row cost ~60 us each)."""
    if len(rows):
        ids.iloc[rows.astype(np.int64)] = [str(v) for v in values]


def _join_communes(
    gs: gpd.GeoSeries,
    commune_ids: pd.Series,
    communes: gpd.GeoDataFrame,
    *,
    p: Path,
    defaults: dict[str, str],
    max_distance_m: float = 1000.0,
) -> pd.Series:
    """Fill empty commune ids by point-in-polygon, then nearest within 1 km."""
    if not isinstance(communes, gpd.GeoDataFrame) or "commune_id" not in communes.columns:
        raise ParameterError("communes must be a GeoDataFrame with a 'commune_id' column")
    if communes.crs is None:
        raise CRSError("communes has no CRS; expected EPSG:4326 (use load_communes)")
    ids = commune_ids.reset_index(drop=True).copy()
    need = (ids == "").to_numpy()
    has_geom = ~(gs.isna().to_numpy() | gs.is_empty.to_numpy())
    todo = np.flatnonzero(need & has_geom)
    if todo.size == 0 or len(communes) == 0:
        return ids
    polys = communes[["commune_id", communes.geometry.name]].to_crs(4326).reset_index(drop=True)
    polys = polys[~(polys.geometry.isna() | polys.geometry.is_empty)]
    pts = gpd.GeoDataFrame(
        {"_i": todo}, geometry=gs.iloc[todo].representative_point().to_numpy(), crs=4326
    )
    joined = gpd.sjoin(pts, polys, how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]
    got = joined["commune_id"].notna().to_numpy()
    _set_ids(ids, joined["_i"].to_numpy()[got], joined["commune_id"].to_numpy()[got])
    rest = pts[~got]
    n_near = 0
    if len(rest):
        utm = rest.estimate_utm_crs()
        near = gpd.sjoin_nearest(
            rest.to_crs(utm), polys.to_crs(utm), how="left", max_distance=max_distance_m
        )
        near = near[~near.index.duplicated(keep="first")]
        ok = near["commune_id"].notna().to_numpy()
        _set_ids(ids, near["_i"].to_numpy()[ok], near["commune_id"].to_numpy()[ok])
        n_near = int(ok.sum())
    n_none = int((ids == "").sum())
    n_in = int(got.sum())
    defaults["commune_id"] = (
        f"spatial join: {n_in} inside a commune, {n_near} nearest within "
        f"{max_distance_m:g} m, {n_none} none"
    )
    if n_none:
        _warn(
            f"{p}: field 'commune_id': {_plural(n_none, 'village')} not inside or within "
            f"{max_distance_m:g} m of any commune; commune_id left ''"
        )
    return ids


@_defers_warnings
def assign_communes(
    villages: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    max_distance_m: float = 1000.0,
) -> gpd.GeoDataFrame:
    """Fill villages' empty ``commune_id`` from commune polygons.

    The same rule :func:`load_villages` applies with ``communes=``: the
    commune containing the village's representative point, else the nearest
    within ``max_distance_m``, else ``""`` (with a warning).  Villages that
    already have a commune id keep it.

    Returns
    -------
    GeoDataFrame
        A copy of ``villages``; ``attrs["defaults"]["commune_id"]`` records
        the counts and ``attrs[COMMUNES_JOINED]`` that the join was done.
    """
    out = villages.copy()
    defaults = dict(out.attrs.get("defaults", {}))
    source = Path(str(out.attrs.get("source", "villages")))
    ids = out["commune_id"].fillna("").astype(str).reset_index(drop=True)
    joined = _join_communes(
        out.geometry.to_crs(4326).reset_index(drop=True),
        ids,
        communes,
        p=source,
        defaults=defaults,
        max_distance_m=max_distance_m,
    )
    out["commune_id"] = joined.to_numpy()
    out.attrs["defaults"] = defaults
    out.attrs[COMMUNES_JOINED] = True
    return out


# --------------------------------------------------------------------------- towers


@_defers_warnings
def load_towers(
    path: PathLike,
    *,
    default_tech: str = "4G",
    layer: str | int | None = None,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Load mobile towers (sites) with their radio parameters.

    Parameters
    ----------
    path : str or os.PathLike
        One of

        * a CSV with longitude/latitude columns and optional
          :data:`TOWER_CANDIDATES` columns (``tower_id``, ``tech``,
          ``freq_mhz``, ``eirp_dbm``, ``height_m`` (m above ground),
          ``azimuth_deg``, ``beamwidth_deg``, ``tilt_deg``);
        * an OpenCelliD cell export (``radio, mcc, net|mnc, area|tac,
          cell|cid, unit, lon, lat, range, samples, ...``, any case): cells
          are grouped into sites (same MCC, MNC and technology, within
          :data:`SITE_CLUSTER_RADIUS_M` of the site's first cell on a UTM
          projection, greedy in file order) and one row is kept per
          (site, technology) with ``tower_id`` ``"<mcc>-<mnc>-<tech>-<n>"``
          (n from 1), at the mean position of its cells, plus ``mcc``,
          ``mnc``, ``cells`` (count), ``range_m`` (largest OpenCelliD range)
          and ``samples`` (sum);
        * a GeoJSON / GeoPackage / Shapefile / GeoParquet of points.
    default_tech : {"2G", "3G", "4G", "5G"}, default "4G"
        Technology of towers whose file gives none.
    layer : str or int, optional
        Layer of a multi-layer file.
    columns : mapping of str to str, optional
        The file's column for a field, where its name is none of the
        recognised ones: ``{"height_m": "cao_anten", "tech": "loai"}``; fields
        are the keys of :data:`TOWER_CANDIDATES`.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points with :data:`~deadzone.geo.schema.TOWER_COLUMNS`
        (``lon``/``lat`` degrees, ``freq_mhz`` MHz, ``eirp_dbm`` dBm,
        ``height_m`` m, angles in degrees; ``azimuth_deg`` NaN = omni,
        ``beamwidth_deg`` NaN for omni and 65 for a sector without one,
        ``tilt_deg`` 0 when missing), ``params_source`` (``"file"`` or
        ``"defaults:<fields>"`` naming what came from
        :data:`~deadzone.geo.schema.TOWER_DEFAULTS` / ``default_tech``), the
        file's other columns (plain files only) and ``source_row``.  Missing
        ``tower_id`` -> ``"T<row>"``.

    Raises
    ------
    DataLoadError, SchemaError, CRSError
        Values out of range (``height_m`` in (0, 500], ``eirp_dbm`` -10..90,
        ``freq_mhz`` 30..100000, lon/lat), swapped lon/lat, unknown tech,
        duplicated ids.
    ParameterError
        ``default_tech`` not in :data:`~deadzone.geo.schema.TECHS`.

    Examples
    --------
    >>> t = load_towers(
    ...     "../shared/data/opencellid_lesotho/LesothoCellTowersData.csv"
    ... )  # doctest: +SKIP
    >>> t.tower_id.iloc[0]  # doctest: +SKIP
    '651-1-2G-1'
    """
    return _load_towers(path, default_tech=default_tech, layer=layer, allow_empty=False,
                        columns=columns)


def _is_opencellid(cols: Sequence[Any]) -> bool:
    names = {_norm_name(c) for c in cols}
    return (
        {"radio", "mcc", "lon", "lat"} <= names
        and bool(names & {"net", "mnc"})
        and bool(names & {"cell", "cid"})
    )


def _load_towers(
    path: PathLike,
    *,
    default_tech: str = "4G",
    layer: str | int | None = None,
    allow_empty: bool = False,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    if default_tech not in TECHS:
        raise ParameterError(f"default_tech was {default_tech!r}; expected one of {TECHS}")
    bad = sorted(set(columns or {}) - set(TOWER_CANDIDATES))
    if bad:
        raise ParameterError(f"tower column mapping names unknown field(s) {bad}; "
                             f"fields are {sorted(TOWER_CANDIDATES)}")
    raw = _read_raw(path, layer=layer, kind="towers", allow_empty=allow_empty)
    if raw.geometry is None and _is_opencellid(raw.table.columns) and not columns:
        return _opencellid(raw, allow_empty=allow_empty)
    return _plain_towers(raw, default_tech=default_tech, columns=columns)


def _check_ranges(
    p: Path,
    raw: _Raw,
    ids: Sequence[str],
    values: dict[str, npt.NDArray[np.float64]],
    columns: dict[str, str | None],
) -> None:
    rows, label = raw.shown, raw.row_label
    for field, (lo, hi, lo_excl) in _TOWER_RANGES.items():
        if field not in values:
            continue
        v = values[field]
        present = ~np.isnan(v)  # NaN = missing (default applied); +-inf is out of range
        bad_lo = (v <= lo) if lo_excl else (v < lo)
        bad = np.flatnonzero(present & (bad_lo | (v > hi)))
        if bad.size:
            i = int(bad[0])
            allowed = f"> {lo:g} and <= {hi:g}" if lo_excl else f"{lo:g}..{hi:g}"
            raise SchemaError(
                f"{_where(p, rows[i], ids[i], 'tower_id', field, columns.get(field), label)}"
                f": value {v[i]:g} out of range (allowed {allowed})" + _also(rows, label, bad)
            )


#: Tower fields whose values a planner sets; a misspelt column for one of them,
#: with no column found, would give every tower the default: an error.
_RADIO_FIELDS: tuple[str, ...] = tuple(
    c for c in TOWER_COLUMNS if c not in ("tower_id", "lon", "lat")
)
_UNITS: dict[str, str] = {"freq_mhz": "MHz", "eirp_dbm": "dBm", "height_m": "m"}


def _tower_default_text(field: str, techs: Sequence[str], default_tech: str) -> str:
    """What every tower gets when no column holds ``field``."""
    n = len(techs)
    if field in _UNITS:
        present = [t for t in TECHS if t in set(techs)]
        values = " / ".join(
            f"{t} default {getattr(TOWER_DEFAULTS[t], field):g} {_UNITS[field]}" for t in present
        )
        return f"all {_plural(n, 'tower')} would use the {values}"
    if field == "tech":
        return f"all {_plural(n, 'tower')} would be {default_tech} (the default technology)"
    if field == "azimuth_deg":
        return f"all {_plural(n, 'tower')} would be omnidirectional"
    if field == "beamwidth_deg":
        return f"sectors would get the default {DEFAULT_SECTOR_BEAMWIDTH_DEG:g} deg beamwidth"
    return f"all {_plural(n, 'tower')} would get {field} 0"


def _tower_near_misses(
    raw: _Raw, picked: dict[str, str | None], techs: Sequence[str], default_tech: str
) -> None:
    """Stop on a misspelt radio column; warn about other unused look-alike columns.

    A column such as ``freq_mz`` (for ``freq_mhz``) whose field has no column
    would otherwise leave every tower on the defaults without naming the
    column.  It is an error when the column is a typo of a radio parameter
    (:data:`_RADIO_FIELDS`) and holds values of that kind (numbers; known
    technologies for ``tech``): the planner's values would all be replaced.
    The way on is to rename the column (to the suggestion, or to a name less
    like it to keep it as an extra column).  Other near misses are warnings.
    """
    p, cols = raw.path, list(raw.table.columns)
    budget = {f: _pick(cols, None, c, path=p, option=f) for f, c in _BUDGET_CANDIDATES.items()}
    missing = {f: TOWER_CANDIDATES[f] for f, c in picked.items() if c is None}
    missing |= {f: _BUDGET_CANDIDATES[f] for f, c in budget.items() if c is None}
    if not missing:
        return
    known = [
        *(c for cands in TOWER_CANDIDATES.values() for c in cands),
        *(c for cands in _BUDGET_CANDIDATES.values() for c in cands),
        *LON_CANDIDATES,
        *LAT_CANDIDATES,
        *WKT_CANDIDATES,
        "params_source",
    ]
    errors: list[str] = []
    suggested: list[str] = []
    for m in _near_misses(cols, missing, known):
        col = raw.table[m.column]
        if m.field == "tech":
            present = [v for v in col.tolist() if not _is_missing_value(v)]
            known_tech = (str(v).strip().lower() in _TECH_ALIASES for v in present)
            kind_ok = bool(present) and all(known_tech)
        else:
            kind_ok = _numeric_column(col)
        all_default = not (m.field == "eirp_dbm" and budget["tx_power_dbm"] is not None)
        if m.typo and m.field in _RADIO_FIELDS and kind_ok and all_default:
            errors.append(
                f"column {m.column!r} is not used: did you mean {m.suggestion!r}? Without it "
                f"{_tower_default_text(m.field, techs, default_tech)}"
            )
            suggested.append(repr(m.suggestion))
        else:
            _warn(
                f"{p}: column {m.column!r} is not used: did you mean {m.suggestion!r}? "
                "Rename it to use it"
            )
    if errors:
        to = ", ".join(suggested)
        if len(errors) == 1:
            advice = f"rename the column to {to} (or, to keep it unused, to a name less like it)"
        else:
            advice = (
                f"rename the columns to {to} (or, to keep them unused, to names less like these)"
            )
        raise SchemaError(f"{p}: {'; '.join(errors)}; {advice}")


def _plain_towers(raw: _Raw, *, default_tech: str,
                  columns: Mapping[str, str] | None = None) -> gpd.GeoDataFrame:
    p = raw.path
    label = raw.row_label
    n = len(raw.table)
    cols = list(raw.table.columns)
    cand = TOWER_CANDIDATES
    user = dict(columns or {})
    picked = {k: _pick(cols, user.get(k), v, path=p, option=f"--tower-col {k}")
              for k, v in cand.items()}
    c_id = picked["tower_id"]
    ids, generated = _ids(raw, c_id, id_field="tower_id", prefix="T", warn=False)
    if generated:
        logger.info("%s: generated tower_id 'T<row>' for %d rows", p, generated)
    _check_unique(p, ids, raw.shown.tolist(), "tower_id", raw.row_label)

    # technology
    from_default = np.zeros(n, dtype=bool)
    techs: list[str] = []
    if picked["tech"] is None:
        techs = [default_tech] * n
        from_default[:] = True
    else:
        unknown: list[int] = []
        tech_values = raw.table[picked["tech"]].tolist()
        for i, v in enumerate(tech_values):
            if _is_missing_value(v):
                techs.append(default_tech)
                from_default[i] = True
                continue
            key = str(v).strip().lower()
            if key not in _TECH_ALIASES:
                unknown.append(i)
                continue
            techs.append(_TECH_ALIASES[key])
        if unknown:
            i = unknown[0]
            raise SchemaError(
                f"{_where(p, raw.shown[i], ids[i], 'tower_id', 'tech', picked['tech'], label)}"
                f": value {tech_values[i]!r} is not a known technology (expected one of {TECHS} "
                "or GSM/UMTS/LTE/NR)" + _also(raw.shown, label, unknown)
            )
    _tower_near_misses(raw, picked, techs, default_tech)

    geo = _geometry(raw, ids=ids, id_field="tower_id", allow_missing=False)
    gs = geo.geometry
    types = gs.geom_type.to_numpy()
    missing = (gs.isna() | gs.is_empty).to_numpy()
    not_point = np.flatnonzero(missing | (types != "Point"))
    if not_point.size:
        i = int(not_point[0])
        problem = "has no location" if missing[i] else f"must be a point, got {types[i]}"
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'tower_id', 'geometry', None, label)}: {problem}"
            + _also(raw.shown, label, not_point)
        )
    lon = np.array(gs.x.to_numpy(dtype=np.float64), copy=True)
    lat = np.array(gs.y.to_numpy(dtype=np.float64), copy=True)

    values: dict[str, npt.NDArray[np.float64]] = {"lon": lon, "lat": lat}
    numeric_fields = tuple(f for f in _RADIO_FIELDS if f != "tech")
    for field in numeric_fields:
        c = picked[field]
        if c is None:
            values[field] = np.full(n, np.nan)
        else:
            values[field] = _numeric(
                raw.table[c],
                path=p,
                field=field,
                rows=raw.shown,
                ids=ids,
                id_field="tower_id",
                row_label=raw.row_label,
            )
    _check_ranges(p, raw, ids, values, {k: v for k, v in picked.items()})

    sources: list[list[str]] = [["tech"] if d else [] for d in from_default]
    _eirp_from_budget(p, raw, cols, ids, techs, values["eirp_dbm"], sources)
    for field in ("freq_mhz", "eirp_dbm", "height_m"):
        v = values[field]
        for i in np.flatnonzero(~np.isfinite(v)):
            v[i] = getattr(TOWER_DEFAULTS[techs[i]], field)
            sources[i].append(field)
    az, bw, tilt = values["azimuth_deg"], values["beamwidth_deg"], values["tilt_deg"]
    sector_no_bw = np.isfinite(az) & ~np.isfinite(bw)
    bw[sector_no_bw] = DEFAULT_SECTOR_BEAMWIDTH_DEG
    for i in np.flatnonzero(sector_no_bw):
        sources[i].append("beamwidth_deg")
    bw[~np.isfinite(az)] = np.nan
    tilt[~np.isfinite(tilt)] = 0.0

    file_ps = None
    used_extra: set[str] = set()
    ps_col = _pick(cols, None, ("params_source",), path=p, option="params_source")
    if ps_col is not None:
        file_ps = _id_strings(raw.table[ps_col])
        used_extra.add(ps_col)
    params_source: list[str] = []
    for i, s in enumerate(sources):
        if s:
            params_source.append("defaults:" + ",".join(s))
        elif file_ps is not None and file_ps[i]:
            params_source.append(str(file_ps[i]))
        else:
            params_source.append("file")

    data: dict[str, Any] = {
        "tower_id": pd.Series(ids, dtype=str),
        "lon": lon,
        "lat": lat,
        "tech": pd.Series(techs, dtype=str),
    }
    for field in numeric_fields:
        data[field] = values[field]
    data["params_source"] = pd.Series(params_source, dtype=str)
    used = {c for c in picked.values() if c is not None} | set(geo.consumed) | used_extra
    if raw.geometry is not None:  # lon/lat attribute columns are superseded by the geometry
        used |= {c for c in cols if _norm_name(c) in ("lon", "lat")}
    reserved = set(TOWER_COLUMNS) | {"params_source", "source_row", "geometry"}
    data.update(_extras(raw, used, reserved))
    data["source_row"] = raw.rows.astype(np.int64)
    out = gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    n_def = sum(1 for s in sources if s)
    if n_def:
        counts: dict[str, int] = {}
        for s in sources:
            for f in s:
                counts[f] = counts.get(f, 0) + 1
        fields = ", ".join(f"{f} in {k}" for f, k in counts.items())
        _warn(f"{p.name}: {n_def} of {len(sources)} tower(s) lack radio parameters "
              f"({fields} rows); per-technology defaults used (TOWER_DEFAULTS, recorded "
              "per tower in params_source)")
    out.attrs = _attrs(
        p,
        repaired=0,
        empty_geometries=0,
        defaults=(
            {"params": f"TOWER_DEFAULTS used in {n_def} rows (see params_source)"} if n_def else {}
        )
        | ({"tower_id": f"'T<row>' generated for {generated} rows"} if generated else {}),
        reprojected_from=geo.reprojected_from,
    )
    return out


def _cluster_sites(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], radius_m: float
) -> npt.NDArray[np.int64]:
    """Greedy clustering in input order: join the nearest seed within radius_m."""
    site = np.empty(len(x), dtype=np.int64)
    seeds_x: list[float] = []
    seeds_y: list[float] = []
    grid: dict[tuple[int, int], list[int]] = {}
    for i in range(len(x)):
        gx, gy = int(math.floor(x[i] / radius_m)), int(math.floor(y[i] / radius_m))
        best, best_d = -1, math.inf
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for s in grid.get((gx + dx, gy + dy), ()):
                    d = math.hypot(x[i] - seeds_x[s], y[i] - seeds_y[s])
                    if d <= radius_m and d < best_d:
                        best, best_d = s, d
        if best < 0:
            best = len(seeds_x)
            seeds_x.append(float(x[i]))
            seeds_y.append(float(y[i]))
            grid.setdefault((gx, gy), []).append(best)
        site[i] = best
    return site


def _opencellid(raw: _Raw, *, allow_empty: bool) -> gpd.GeoDataFrame:
    p, label = raw.path, raw.row_label
    cols = list(raw.table.columns)

    def col(*names: str) -> str | None:
        return _pick(cols, None, names, path=p, option=names[0])

    c_radio, c_mcc, c_mnc = col("radio"), col("mcc"), col("net", "mnc")
    c_lon, c_lat = col("lon"), col("lat")
    c_range, c_samples = col("range"), col("samples", "sam")
    if not (c_radio and c_mcc and c_mnc and c_lon and c_lat):  # pragma: no cover
        raise SchemaError(f"{p}: not an OpenCelliD table (radio/mcc/net/lon/lat missing)")

    radios = [
        str(v).strip().upper() if not _is_missing_value(v) else "" for v in raw.table[c_radio]
    ]
    tech = np.array([OPENCELLID_RADIO_TECH.get(r, "") for r in radios], dtype=object)
    unknown = tech == ""
    if unknown.any():
        kinds = sorted({radios[i] or "<empty>" for i in np.flatnonzero(unknown)})
        _warn(
            f"{p}: field 'radio': dropped {_plural(int(unknown.sum()), 'cell')} with radio "
            f"{', '.join(kinds)} (known: {', '.join(OPENCELLID_RADIO_TECH)})"
        )
    mcc = _numeric(raw.table[c_mcc], path=p, field="mcc", rows=raw.shown, row_label=label)
    mnc = _numeric(raw.table[c_mnc], path=p, field="mnc", rows=raw.shown, row_label=label)
    for name, v, c in (("mcc", mcc, c_mcc), ("mnc", mnc, c_mnc)):
        bad = np.flatnonzero(~unknown & ~np.isfinite(v))
        if bad.size:
            i = int(bad[0])
            raise SchemaError(
                f"{_where(p, raw.shown[i], None, None, name, c, label)}: value is missing"
                + _also(raw.shown, label, bad)
            )
    lon, lat = _lonlat_arrays(raw, c_lon, c_lat, ids=None, id_field=None, allow_missing=False)
    rng = (
        _numeric(raw.table[c_range], path=p, field="range", rows=raw.shown, row_label=label)
        if c_range
        else np.full(len(lon), np.nan)
    )
    samples = (
        _numeric(raw.table[c_samples], path=p, field="samples", rows=raw.shown, row_label=label)
        if c_samples
        else np.full(len(lon), np.nan)
    )

    keep = np.flatnonzero(~unknown)
    records: list[dict[str, Any]] = []
    if keep.size:
        lon_k, lat_k = lon[keep], lat[keep]
        utm = _utm_crs(float(np.median(lon_k)), float(np.median(lat_k)))
        to_utm = Transformer.from_crs("EPSG:4326", utm.to_wkt(), always_xy=True)
        x, y = to_utm.transform(lon_k, lat_k)
        x, y = np.asarray(x), np.asarray(y)
        frame = pd.DataFrame(
            {
                "k": np.arange(keep.size),
                "mcc": mcc[keep].astype(np.int64),
                "mnc": mnc[keep].astype(np.int64),
                "tech": tech[keep],
                "order": [TECHS.index(t) for t in tech[keep]],
            }
        )
        for (m_cc, m_nc, _), grp in frame.groupby(["mcc", "mnc", "order"], sort=True):
            k = grp["k"].to_numpy()
            t = str(grp["tech"].iloc[0])
            site = _cluster_sites(x[k], y[k], SITE_CLUSTER_RADIUS_M)
            for s in range(int(site.max()) + 1):
                members = k[site == s]
                src = keep[members]
                records.append(
                    {
                        "tower_id": f"{m_cc}-{m_nc}-{t}-{s + 1}",
                        "lon": float(lon_k[members].mean()),
                        "lat": float(lat_k[members].mean()),
                        "tech": t,
                        "mcc": int(m_cc),
                        "mnc": int(m_nc),
                        "cells": int(members.size),
                        "range_m": float(np.nanmax(rng[src]))
                        if np.isfinite(rng[src]).any()
                        else np.nan,
                        "samples": int(np.nansum(samples[src])),
                        "source_row": int(raw.rows[src[0]]),
                    }
                )
        sites = pd.DataFrame.from_records(records)
        # members lie within 2 x 100 m of each other: the mean of their lon/lat is exact enough
        s_lon = sites["lon"].to_numpy(dtype=np.float64)
        s_lat = sites["lat"].to_numpy(dtype=np.float64)
    elif not allow_empty:
        raise DataLoadError(f"{p}: has no features (no GSM/UMTS/LTE/NR cells)")
    else:
        sites = pd.DataFrame(
            columns=["tower_id", "tech", "mcc", "mnc", "cells", "range_m", "samples", "source_row"]
        )
        s_lon = s_lat = np.zeros(0)

    techs = sites["tech"].astype(str).tolist()
    data: dict[str, Any] = {
        "tower_id": pd.Series(sites["tower_id"].astype(str).tolist(), dtype=str),
        "lon": s_lon,
        "lat": s_lat,
        "tech": pd.Series(techs, dtype=str),
        "freq_mhz": np.array([TOWER_DEFAULTS[t].freq_mhz for t in techs], dtype=np.float64),
        "eirp_dbm": np.array([TOWER_DEFAULTS[t].eirp_dbm for t in techs], dtype=np.float64),
        "height_m": np.array([TOWER_DEFAULTS[t].height_m for t in techs], dtype=np.float64),
        "azimuth_deg": np.full(len(techs), np.nan),
        "beamwidth_deg": np.full(len(techs), np.nan),
        "tilt_deg": np.zeros(len(techs)),
        "params_source": pd.Series(["defaults:freq_mhz,eirp_dbm,height_m"] * len(techs), dtype=str),
        "mcc": sites["mcc"].to_numpy(dtype=np.int64),
        "mnc": sites["mnc"].to_numpy(dtype=np.int64),
        "cells": sites["cells"].to_numpy(dtype=np.int64),
        "range_m": sites["range_m"].to_numpy(dtype=np.float64),
        "samples": sites["samples"].to_numpy(dtype=np.int64),
        "source_row": sites["source_row"].to_numpy(dtype=np.int64),
    }
    out = gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(s_lon, s_lat), crs=4326)
    out.attrs = _attrs(
        p,
        repaired=0,
        empty_geometries=0,
        defaults={"params": f"TOWER_DEFAULTS used for all {len(out)} sites (OpenCelliD)"},
        reprojected_from=None,
        opencellid={
            "cells": int(keep.size),
            "dropped_cells": int(unknown.sum()),
            "sites": len(out),
        },
    )
    return out
