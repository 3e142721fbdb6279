"""What every loader shares: column matching, value parsing, one-line messages
naming the file, row and field, warnings, constants (candidate column names)."""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import functools
import hashlib
import logging
import math
import os
import re
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import CRS as ProjCRS
from pyproj import Geod

from deadzone.errors import (
    DataLoadError,
    DeadzoneWarning,
    SchemaError,
)
from deadzone.model.schema import TOWER_HEIGHT_MAX_M

logger = logging.getLogger(__name__)

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")

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
def quiet_affine() -> Iterator[None]:
    """Silence affine>=3's "use @" PendingDeprecationWarning raised inside rasterio."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Use `@` matmul", category=PendingDeprecationWarning
        )
        yield


def _one_line(exc: BaseException | str) -> str:
    return " ".join(str(exc).split())


def existing_path(path: PathLike) -> Path:
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
    """:func:`_is_missing_value` of every element, vectorised: None, NaN, NA and
    NaT, and text that is a missing-value token once stripped and lower-cased."""
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.isna().to_numpy()
    mask = series.isna().to_numpy(dtype=bool, na_value=True).copy()
    vals = series.to_numpy(dtype=object)
    is_text = np.fromiter((isinstance(v, str) for v in vals), dtype=bool, count=len(vals))
    text = is_text & ~mask
    if text.any():
        tokens = pd.Series(vals[text], dtype=object).str.strip().str.lower()
        mask[text] = tokens.isin(_MISSING_TOKENS).to_numpy()
    return mask


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
    # a text column of numbers, none missing (the common case): parsed at once; any
    # value that does not parse (a missing token, padding, garbage) takes the path below
    fast = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isnan(fast).any():
        return np.array(fast, copy=True)
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
    values = series.tolist()
    if all(type(v) is str for v in values):  # text (a CSV column): strip, tokens to None
        return [None if (t := v.strip()).lower() in _MISSING_TOKENS else t for v in values]
    out: list[str | None] = []
    for v in values:
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


def cell_key(mcc: Any, mnc: Any, area: Any, cell: Any) -> str:
    """One cell's OpenCelliD key ``"mcc-mnc-area-cell"`` (``"452-4-10123-20567"``).

    Each part is written as a plain integer where it is one (``"04"`` and
    ``4.0`` -> ``"4"``), else as given stripped of spaces; a missing part is
    ``""``.  Towers (``cells_keys``) and measurements (``cell``) build their
    keys here, so the two match.

    Examples
    --------
    >>> cell_key(452, "04", 10123.0, " 20567")
    '452-4-10123-20567'
    """
    return "-".join(_key_part(v) for v in (mcc, mnc, area, cell))


def _key_part(v: Any) -> str:
    if _is_missing_value(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    text = str(v).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return str(int(text))
    return text


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
    p = existing_path(path)
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


