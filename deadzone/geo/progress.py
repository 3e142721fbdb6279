"""Programme progress: compare a baseline audit (or dead-zone list) with a current audit.

A *baseline* is either an audit folder written by ``deadzone audit`` /
``deadzone demo`` (its ``villages.csv``, with ``communes.csv`` for commune
names and provinces), a villages file from such a folder, or a list of
dead-zone villages such as a ministry list (CSV, GeoJSON, GeoPackage, ...)
with an id, a name, a commune, optional ``lon``/``lat`` (or point
geometry) and an optional ``phase`` (e.g. ``"identified 2021-2022"``).  A
list without a ``status`` column means every village on it was dead at
baseline.  The *current* side must be an audit (it needs ``status``).

Matching (one-to-one):

1. by village id (exact, after trimming spaces);
2. fallback for what is left: the same *normalised name* (Unicode NFKD with
   combining marks removed, so Vietnamese diacritics fold: "Thôn Nà Đứa" ->
   "na dua"; ``đ`` -> ``d``; case folded; punctuation and one leading
   settlement word such as thôn/bản/xóm/làng/ấp/buôn/plei dropped), with
   no contradiction and at least one confirmation from (a) the commune
   (same commune id, or same normalised commune name) and (b) the
   great-circle distance between the two points, which must be at most
   ``match_distance_m``.  When several candidates qualify the nearest wins
   (greedy over all pairs by distance); when they cannot be told apart the
   village stays unmatched with the note ``ambiguous``.

Every village of both sides appears exactly once in
:attr:`ProgressResult.villages`; those not matched are also listed, with a
note, in :attr:`ProgressResult.unmatched`.

Transitions (matched villages): ``newly_covered`` (not covered at baseline
-- dead or marginal -- and covered now), ``still_dead`` (not covered then or
now; marginal counts as not covered), ``newly_dead`` (covered then, not
now), ``still_covered``, ``unknown`` (status ``unknown`` on either side,
e.g. outside the DEM); ``unmatched`` otherwise.

Breakdowns: by commune, by province and by baseline phase; also by district
(``progress_by_district.csv``) when both sides carry districts (a
``district`` column in the villages or in the audit's ``communes.csv``).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deadzone.data.io import atomic_path, write_summary_last
from deadzone.data.postgis import PgSource, is_pg_url, read_pg
from deadzone.errors import DataLoadError, ParameterError, SchemaError
from deadzone.model.geodesy import haversine_m

__all__ = [
    "PROGRESS_DISTRICT_FILES",
    "PROGRESS_FILES",
    "TRANSITIONS",
    "ProgressResult",
    "compare_audits",
    "load_audit_villages",
    "normalize_name",
    "write_progress",
]

#: Transition of each village, in report order.
TRANSITIONS: tuple[str, ...] = (
    "newly_covered",
    "still_dead",
    "newly_dead",
    "still_covered",
    "unknown",
    "unmatched",
)
#: Files :func:`write_progress` writes.
PROGRESS_FILES: tuple[str, ...] = (
    "progress_villages.csv",
    "progress_by_commune.csv",
    "progress_by_province.csv",
    "progress_by_phase.csv",
    "unmatched.csv",
    "progress_summary.json",
)
#: Written besides :data:`PROGRESS_FILES` only when both sides have districts.
PROGRESS_DISTRICT_FILES: tuple[str, ...] = ("progress_by_district.csv",)
_STATUSES = ("covered", "marginal", "dead", "unknown")
_NO_PHASE = "(none)"
_NOT_IN_BASELINE = "(not in baseline)"

# Column aliases (lower-cased) for lists that do not follow the audit's names.
_ALIASES: dict[str, tuple[str, ...]] = {
    "village_id": ("village_id", "id", "village_code", "ma_thon", "osm_id"),
    "name": ("name", "village_name", "village", "ten_thon", "ten"),
    "commune_id": ("commune_id", "commune_code", "ma_xa"),
    "commune_name": ("commune_name", "commune", "xa", "ten_xa"),
    "province": ("province", "province_name", "tinh"),
    "district": ("district", "district_name", "ten_huyen", "huyen"),
    "phase": ("phase", "dot", "period", "baseline_phase"),
    "status": ("status",),
    "lon": ("lon", "longitude", "lng"),
    "lat": ("lat", "latitude"),
    "population": ("population", "pop", "dan_so"),
}
_SETTLEMENT_WORDS = frozenset(
    {"thon", "ban", "xom", "lang", "ap", "buon", "plei", "soc", "khom", "to", "khu", "village"}
)
_COMMUNE_WORDS = frozenset({"xa", "phuong", "thi tran", "commune", "ward"})


def normalize_name(text: object, *, drop_words: frozenset[str] = _SETTLEMENT_WORDS) -> str:
    """Fold a place name for matching: no diacritics, case, punctuation or prefix.

    ``"Thôn Nà Đứa"`` and ``"na dua"`` both give ``"na dua"``.  One leading
    word from ``drop_words`` (settlement types: thôn, bản, xóm, ...) is dropped
    when something is left after it.

    Parameters
    ----------
    text : object
        The name (``None``/NaN give ``""``).
    drop_words : frozenset of str
        Normalised leading words to drop.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return _fold(str(text), drop_words)


_NON_WORD = re.compile(r"[^\w]+")


@functools.lru_cache(maxsize=65536)
def _fold(text: str, drop_words: frozenset[str]) -> str:
    s = text.replace("đ", "d").replace("Đ", "D")
    s = unicodedata.normalize("NFKD", s)
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold()
    s = " ".join(_NON_WORD.sub(" ", s).split())
    for w in sorted(drop_words, key=len, reverse=True):
        if s.startswith(w + " ") and len(s) > len(w) + 1:
            s = s[len(w) + 1 :]
            break
    return s


@dataclass
class ProgressResult:
    """Outcome of :func:`compare_audits`.

    Attributes
    ----------
    villages : DataFrame
        One row per village of either side: ``baseline_village_id``,
        ``current_village_id``, ``name``, ``commune_id``, ``commune_name``,
        ``province``, ``phase``, ``baseline_status``, ``current_status``,
        ``match_method`` (``id``/``name``/``none``), ``match_distance_m``,
        ``transition`` and ``side`` (``both``/``baseline``/``current``).
    by_commune, by_province, by_phase : DataFrame
        Transition counts per group; each sums to the totals.
    by_district : DataFrame or None
        Transition counts per (``province``, ``district``) when both sides
        carry districts (``villages`` then has a ``district`` column), else
        None.
    unmatched : DataFrame
        Unmatched villages of both sides with a ``note``.
    summary : dict
        Totals and parameters (the contract of ``progress_summary.json``).
    """

    villages: pd.DataFrame
    by_commune: pd.DataFrame
    by_province: pd.DataFrame
    by_phase: pd.DataFrame
    unmatched: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    by_district: pd.DataFrame | None = None

    def summary_lines(self) -> list[str]:
        """Human summary, e.g. ``dead-zone villages covered since baseline: 2,416/3,924``."""
        s = self.summary

        def frac(a: int, b: int) -> str:
            return f"{a:,}/{b:,} ({100.0 * a / b:.1f}%)" if b else f"{a:,}/{b:,}"

        dz = s["baseline_dead_zone"]
        t = s["transitions"]
        lines = [
            f"dead-zone villages covered since baseline: {frac(t['newly_covered'], dz)}",
            f"dead-zone villages still dead (incl. marginal): {frac(t['still_dead'], dz)}",
            "newly dead since baseline: n/a (the baseline lists dead-zone villages only)"
            if s["baseline"]["kind"] == "list"
            else f"newly dead since baseline: {frac(t['newly_dead'], s['baseline_covered'])}",
            f"matched villages: {s['matched_by_id']:,} by id, {s['matched_by_name']:,} "
            f"by name (of {s['baseline_total']:,} baseline, {s['current_total']:,} current)",
            f"unmatched: {s['unmatched_baseline']:,} baseline, "
            f"{s['unmatched_current']:,} current ({s['unmatched_current_not_covered']:,} of "
            "them not covered)",
        ]
        if t["unknown"]:
            lines.append(f"unknown status on one side: {t['unknown']:,}")
        return lines


# ---------------------------------------------------------------------------
# Loading


def _pick(cols: dict[str, str], key: str) -> str | None:
    for alias in _ALIASES[key]:
        if alias in cols:
            return cols[alias]
    return None


def _read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or any vector file; geometry -> lon/lat of a representative point."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".txt", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            return pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8-sig",
            )
        import geopandas as gpd

        if suffix == ".parquet":
            gdf = gpd.read_parquet(path)
        else:
            kw = {"layer": "villages"} if suffix == ".gpkg" and _has_layer(path) else {}
            gdf = gpd.read_file(path, **kw)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataLoadError(f"{path}: cannot read ({' '.join(str(exc).split())})") from exc
    return _with_lonlat(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)), gdf.geometry)


def _with_lonlat(df: pd.DataFrame, geometry: Any) -> pd.DataFrame:
    """``df`` with ``lon``/``lat`` of the geometry's representative points when it has
    no lon/lat of its own (a table without geometry as it is)."""
    df = df.copy()
    lower = {str(c).lower() for c in df.columns}
    if geometry is not None and not ({"lon", "longitude"} & lower) and len(df):
        geom = geometry.reset_index(drop=True)
        if geom.crs is not None and not geom.crs.equals("EPSG:4326"):
            geom = geom.to_crs(4326)
        ok = ~(geom.isna() | geom.is_empty)
        pts = geom[ok].representative_point()
        df["lon"] = np.nan
        df["lat"] = np.nan
        df.loc[ok.to_numpy(), "lon"] = pts.x.to_numpy()
        df.loc[ok.to_numpy(), "lat"] = pts.y.to_numpy()
    return df


def _has_layer(path: Path) -> bool:
    import pyogrio

    return "villages" in {str(x[0]) for x in pyogrio.list_layers(path)}


def _clean_str(s: pd.Series) -> pd.Series:
    """Trimmed strings as objects; blanks and missing values as ``None``."""
    vals = [None if _missing(x) else str(x).strip() for x in s]
    return pd.Series([x if x else None for x in vals], index=s.index, dtype=object)


def _missing(x: object) -> bool:
    return x is None or (not isinstance(x, str) and bool(pd.isna(x)))


def load_audit_villages(path: str | Path) -> pd.DataFrame:
    """Villages of an audit folder, an audit villages file or a dead-zone list.

    Parameters
    ----------
    path : path
        An audit folder (``villages.csv`` or ``villages.gpkg``, plus
        ``communes.csv`` when present) or one file (CSV, GeoJSON,
        GeoPackage, Shapefile, GeoParquet).

    Returns
    -------
    DataFrame
        Columns ``village_id``, ``name``, ``commune_id``, ``commune_name``,
        ``province``, ``district`` (None without one), ``phase``, ``status``,
        ``lon``, ``lat``,
        ``population`` (missing values as ``None``/NaN), one row per input
        row in input order.  ``attrs["kind"]`` is ``"audit"`` when the input
        has a ``status`` column, else ``"list"`` (every status ``dead``);
        ``attrs["source"]`` is the file read.

    Raises
    ------
    DataLoadError
        Missing or unreadable input.
    SchemaError
        No id and no name column, a duplicated id, a bad status or a
        non-numeric coordinate (the message names the file, row and field).
    """
    communes_csv: Path | None = None
    src: Path | PgSource
    if is_pg_url(path):
        got = read_pg(str(path))
        src = got.source
        raw = _with_lonlat(got.table, got.geometry)
        return _audit_villages(raw, src, communes_csv)
    p = Path(path)
    if p.is_dir():
        from deadzone.geo.export import verify_audit_folder

        verify_audit_folder(p)
        for name in ("villages.csv", "villages.gpkg"):
            if (p / name).is_file():
                src = p / name
                break
        else:
            raise DataLoadError(f"{p}: no villages.csv or villages.gpkg (not an audit folder)")
        if (p / "communes.csv").is_file():
            communes_csv = p / "communes.csv"
    elif p.is_file():
        src = p
    else:
        raise DataLoadError(f"{p}: no such file or folder")
    return _audit_villages(_read_table(src), src, communes_csv)


def _audit_villages(raw: pd.DataFrame, src: Path | PgSource,
                    communes_csv: Path | None) -> pd.DataFrame:
    """:func:`load_audit_villages` on a table already read."""
    cols = {str(c).strip().lower(): c for c in raw.columns}
    n = len(raw)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    for key in (
        "village_id",
        "name",
        "commune_id",
        "commune_name",
        "province",
        "district",
        "phase",
        "status",
    ):
        c = _pick(cols, key)
        out[key] = _clean_str(raw[c]) if c is not None else pd.Series([None] * n, dtype=object)
    if _pick(cols, "village_id") is None and _pick(cols, "name") is None:
        raise SchemaError(
            f"{src}: no village id column (one of {_ALIASES['village_id']}) "
            f"and no name column (one of {_ALIASES['name']})"
        )
    for key in ("lon", "lat", "population"):
        c = _pick(cols, key)
        if c is None:
            out[key] = np.nan
            continue
        vals = pd.to_numeric(raw[c], errors="coerce")
        bad = vals.isna() & _clean_str(raw[c]).notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"{src}: {_row_label(src, i)}: {c}={raw[c].iloc[i]!r} is not a number"
            )
        out[key] = vals.astype(np.float64).to_numpy()
    for key, lo, hi in (("lon", -180.0, 180.0), ("lat", -90.0, 90.0)):
        v = out[key].to_numpy()
        bad_rng = np.isfinite(v) & ((v < lo) | (v > hi))
        if bad_rng.any():
            i = int(np.flatnonzero(bad_rng)[0])
            raise SchemaError(
                f"{src}: {_row_label(src, i)}: {key}={v[i]} is outside "
                f"[{lo:g}, {hi:g}] (expected WGS84 degrees)"
            )
    ids = out["village_id"]
    dup = ids.notna() & ids.duplicated(keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise SchemaError(
            f"{src}: {_row_label(src, i)}: village_id {ids.iloc[i]!r} "
            f"appears {int((ids == ids.iloc[i]).sum())} times; ids must be unique"
        )
    kind = "audit" if _pick(cols, "status") is not None else "list"
    if kind == "list":
        out["status"] = "dead"
    else:
        st = out["status"].map(lambda x: None if x is None else str(x).lower())
        bad = ~st.isin(_STATUSES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SchemaError(
                f"{src}: {_row_label(src, i)}: status={out['status'].iloc[i]!r}"
                f"; expected one of {_STATUSES}"
            )
        out["status"] = st
    if communes_csv is not None:
        out = _attach_communes(out, communes_csv)
    out.attrs["kind"] = kind
    out.attrs["source"] = str(src)
    return out


def _row_label(src: Path | PgSource, i: int) -> str:
    """``line N`` of a CSV as a spreadsheet numbers it (header = line 1), ``row N``
    of a database table, else ``feature N`` counted from 1, as the loaders' messages say."""
    if isinstance(src, PgSource):
        return f"row {i + 1}"
    if src.suffix.lower() in (".csv", ".tsv", ".txt"):
        return f"line {i + 2}"
    return f"feature {i + 1}"


def _attach_communes(v: pd.DataFrame, communes_csv: Path) -> pd.DataFrame:
    """Fill commune names and provinces from an audit's ``communes.csv``."""
    c = pd.read_csv(communes_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    if "commune_id" not in c.columns:
        raise SchemaError(f"{communes_csv}: lacks the column 'commune_id'")
    c = c.drop_duplicates("commune_id").set_index("commune_id")
    v = v.copy()
    key = v["commune_id"]
    if "name" in c.columns:
        names = key.map(c["name"])
        v["commune_name"] = v["commune_name"].where(v["commune_name"].notna(), names)
    if "province" in c.columns:
        prov = key.map(c["province"]).where(lambda s: s != "", None)
        v["province"] = v["province"].where(v["province"].notna(), prov)
    if "district" in c.columns:
        dist = key.map(c["district"]).where(lambda s: s != "", None)
        v["district"] = v["district"].where(v["district"].notna(), dist)
        v["district"] = v["district"].where(v["district"].notna(), None)
    v["commune_name"] = v["commune_name"].where(v["commune_name"].notna(), None)
    v["province"] = v["province"].where(v["province"].notna(), None)
    return v


# ---------------------------------------------------------------------------
# Matching


def _commune_keys(df: pd.DataFrame, rows: np.ndarray) -> dict[int, set[str]]:
    """Commune keys (id and folded name) of the given rows."""
    keys: dict[int, set[str]] = {}
    cids = df["commune_id"].to_numpy(dtype=object)
    cnames = df["commune_name"].to_numpy(dtype=object)
    for r in rows:
        cid, cname = cids[r], cnames[r]
        k: set[str] = set()
        if cid is not None:
            k.add("id:" + str(cid).strip().casefold())
            # A list may put a commune name in its "commune" id-like field.
            k.add("name:" + normalize_name(cid, drop_words=_COMMUNE_WORDS))
        if cname is not None:
            k.add("name:" + normalize_name(cname, drop_words=_COMMUNE_WORDS))
        keys[int(r)] = {x for x in k if x not in ("id:", "name:")}
    return keys


def _match(
    base: pd.DataFrame, cur: pd.DataFrame, match_distance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
    """One-to-one matching; returns cur index per base row (-1), method, distance, notes."""
    nb, nc = len(base), len(cur)
    b2c = np.full(nb, -1, dtype=np.int64)
    method = np.full(nb, "none", dtype=object)
    dist = np.full(nb, np.nan)
    notes: dict[int, str] = {}
    taken = np.zeros(nc, dtype=bool)
    # 1. by id
    cur_ids = {str(v): j for j, v in enumerate(cur["village_id"]) if v is not None}
    for i, v in enumerate(base["village_id"]):
        if v is None:
            continue
        j = cur_ids.get(str(v))
        if j is not None:
            b2c[i], method[i] = j, "id"
            taken[j] = True
    # 2. fallback: normalised name + commune + distance
    # Only rows left after the id pass are folded (the work is per string).
    left_b, free_c = np.flatnonzero(b2c < 0), np.flatnonzero(~taken)
    b_names, c_names = base["name"].to_numpy(dtype=object), cur["name"].to_numpy(dtype=object)
    bn = {int(i): normalize_name(b_names[i]) for i in left_b}
    by_name: dict[str, list[int]] = {}
    for j in free_c:
        s = normalize_name(c_names[j])
        if s:
            by_name.setdefault(s, []).append(int(j))
    bk, ck = _commune_keys(base, left_b), _commune_keys(cur, free_c)
    blon, blat = base["lon"].to_numpy(float), base["lat"].to_numpy(float)
    clon, clat = cur["lon"].to_numpy(float), cur["lat"].to_numpy(float)
    pairs: list[tuple[float, int, int]] = []
    n_cand: dict[int, int] = {}
    for i in np.flatnonzero(b2c < 0):
        cands = by_name.get(bn[i], []) if bn[i] else []
        if not cands:
            notes[int(i)] = "no village with this id or name in the other audit"
            continue
        reject = ""
        for j in cands:
            same_c = bool(bk[i] & ck[j]) if (bk[i] and ck[j]) else None
            d = float(haversine_m(blon[i], blat[i], clon[j], clat[j]))
            near = (d <= match_distance_m) if math.isfinite(d) else None
            if same_c is False:
                reject = f"name matches {cur['village_id'].iloc[j]} but in another commune"
                continue
            if near is False:
                reject = (
                    f"name matches {cur['village_id'].iloc[j]} but {d:,.0f} m away "
                    f"(> {match_distance_m:g} m)"
                )
                continue
            if same_c is None and near is None:
                reject = (
                    f"name matches {cur['village_id'].iloc[j]} but neither commune "
                    "nor location can confirm it"
                )
                continue
            pairs.append((d if math.isfinite(d) else math.inf, int(i), int(j)))
            n_cand[int(i)] = n_cand.get(int(i), 0) + 1
        if int(i) not in n_cand:
            notes[int(i)] = reject
    # Greedy by distance (nearest pairs first); without distance only a unique pair is taken.
    n_back: dict[int, int] = {}
    for _, _, j in pairs:
        n_back[j] = n_back.get(j, 0) + 1
    for d, i, j in sorted(pairs):
        if b2c[i] >= 0 or taken[j]:
            continue
        if not math.isfinite(d) and (n_cand[i] > 1 or n_back[j] > 1):
            notes[i] = "ambiguous: several villages share this name and commune"
            continue
        b2c[i], method[i], dist[i] = j, "name", d if math.isfinite(d) else np.nan
        taken[j] = True
        notes.pop(i, None)
    for i in np.flatnonzero(b2c < 0):
        notes.setdefault(int(i), "candidate taken by a nearer village with the same name")
    # Distance for id matches, for the record.
    idm = method == "id"
    if idm.any():
        j = b2c[idm]
        dist[idm] = haversine_m(blon[idm], blat[idm], clon[j], clat[j])
    return b2c, method, dist, notes


# ---------------------------------------------------------------------------
# Comparison


def _transition(b: str | None, c: str | None) -> str:
    if b is None or c is None:
        return "unmatched"
    if b == "unknown" or c == "unknown":
        return "unknown"
    if b == "covered":
        return "still_covered" if c == "covered" else "newly_dead"
    return "newly_covered" if c == "covered" else "still_dead"


def compare_audits(
    baseline: pd.DataFrame | str | Path,
    current: pd.DataFrame | str | Path,
    *,
    match_distance_m: float = 500.0,
) -> ProgressResult:
    """Compare a baseline audit or dead-zone list with a current audit.

    Parameters
    ----------
    baseline, current : DataFrame or path
        What :func:`load_audit_villages` returns, or a path it accepts.
        ``current`` must carry statuses (an audit).
    match_distance_m : float
        Largest distance (m) between a baseline and a current village matched
        by name (the fallback when ids differ).

    Returns
    -------
    ProgressResult

    Raises
    ------
    ParameterError
        ``match_distance_m`` is negative or not finite.
    SchemaError
        ``current`` has no status column.
    """
    if not (math.isfinite(match_distance_m) and match_distance_m >= 0):
        raise ParameterError(
            f"match_distance_m was {match_distance_m!r}; expected a finite distance >= 0 m"
        )
    base = baseline if isinstance(baseline, pd.DataFrame) else load_audit_villages(baseline)
    cur = current if isinstance(current, pd.DataFrame) else load_audit_villages(current)
    if cur.attrs.get("kind") == "list":
        raise SchemaError(
            f"{cur.attrs.get('source', 'current')}: has no 'status' column; "
            "--current must be an audit (villages.csv from deadzone audit)"
        )
    base = base.reset_index(drop=True)
    cur = cur.reset_index(drop=True)
    # District breakdown only where both sides know districts (a ministry list
    # or a post-2025 audit has none).
    districts = _has_district(base) and _has_district(cur)
    b2c, method, dist, notes = _match(base, cur, match_distance_m)

    matched_c = np.zeros(len(cur), dtype=bool)
    matched_c[b2c[b2c >= 0]] = True
    mb = b2c >= 0
    jb = np.where(mb, b2c, 0)
    only_c = np.flatnonzero(~matched_c)
    nb, nc = len(base), len(only_c)

    def side_b(col: str) -> np.ndarray:
        return base[col].to_numpy(dtype=object)

    def side_c(col: str) -> np.ndarray:
        """Current values aligned with the baseline rows (None where unmatched)."""
        if not len(cur):
            return np.full(nb, None, dtype=object)
        return np.where(mb, cur[col].to_numpy(dtype=object)[jb], None)

    def only(col: str) -> np.ndarray:
        return cur[col].to_numpy(dtype=object)[only_c]

    def stack(first: np.ndarray, second: np.ndarray, rest: np.ndarray) -> np.ndarray:
        # Baseline rows take ``first`` unless missing, then ``second``.
        return np.concatenate([np.where(pd.isna(first), second, first), rest])

    cur_status = side_c("status")
    base_status = side_b("status")
    villages = pd.DataFrame(
        {
            "baseline_village_id": np.concatenate(
                [side_b("village_id"), np.full(nc, None, dtype=object)]
            ),
            "current_village_id": np.concatenate([side_c("village_id"), only("village_id")]),
            "name": stack(side_b("name"), side_c("name"), only("name")),
            # Group by the current audit's commune when matched (ids are the audit's).
            **{
                k: stack(side_c(k), side_b(k), only(k))
                for k in ("commune_id", "commune_name", "province")
            },
            **(
                {"district": stack(side_c("district"), side_b("district"), only("district"))}
                if districts
                else {}
            ),
            "phase": np.concatenate(
                [
                    np.where(pd.isna(side_b("phase")), _NO_PHASE, side_b("phase")),
                    np.full(nc, _NOT_IN_BASELINE, dtype=object),
                ]
            ),
            "baseline_status": np.concatenate([base_status, np.full(nc, None, dtype=object)]),
            "current_status": np.concatenate([cur_status, only("status")]),
            "match_method": np.concatenate([method, np.full(nc, "none", dtype=object)]),
            "match_distance_m": np.concatenate([np.round(dist, 1), np.full(nc, np.nan)]),
            "transition": np.concatenate(
                [
                    np.array(
                        [_transition(b, c) for b, c in zip(base_status, cur_status, strict=True)],
                        dtype=object,
                    ),
                    np.full(nc, "unmatched", dtype=object),
                ]
            ),
            "side": np.concatenate(
                [
                    np.where(mb, "both", "baseline").astype(object),
                    np.full(nc, "current", dtype=object),
                ]
            ),
            **{k: stack(side_c(k), side_b(k), only(k)).astype(np.float64) for k in ("lon", "lat")},
        }
    )
    villages = villages.astype(
        {k: object for k in villages.columns if k not in ("match_distance_m", "lon", "lat")}
    )
    villages = villages.where(villages.notna(), None)
    villages[["match_distance_m", "lon", "lat"]] = villages[
        ["match_distance_m", "lon", "lat"]
    ].astype(np.float64)

    unmatched = villages[villages["side"] != "both"].copy()
    unmatched.insert(
        0,
        "note",
        [
            notes.get(k, "") if s == "baseline" else "not in the baseline"
            for k, s in zip(_baseline_pos(villages, len(base)), unmatched["side"], strict=True)
        ],
    )
    unmatched = unmatched[
        [
            "side",
            "baseline_village_id",
            "current_village_id",
            "name",
            "commune_id",
            "commune_name",
            "province",
            "phase",
            "baseline_status",
            "current_status",
            "lon",
            "lat",
            "note",
        ]
    ]
    unmatched = unmatched.reset_index(drop=True)

    by_commune = _breakdown(villages, ["province", "commune_id", "commune_name"])
    by_province = _breakdown(villages, ["province"])
    by_phase = _breakdown(villages, ["phase"])
    by_district = _breakdown(villages, ["province", "district"]) if districts else None
    summary = _summary(villages, base, cur, match_distance_m)
    summary["districts"] = int(len(by_district)) if by_district is not None else None
    return ProgressResult(
        villages, by_commune, by_province, by_phase, unmatched, summary, by_district
    )


def _has_district(v: pd.DataFrame) -> bool:
    return "district" in v.columns and bool(v["district"].notna().any())


def _baseline_pos(villages: pd.DataFrame, nb: int) -> list[int]:
    """Baseline row number of each unmatched row (-1 for current-only rows)."""
    idx = villages.index[villages["side"] != "both"]
    return [int(k) if k < nb else -1 for k in idx]


def _is_dead_zone(status: pd.Series) -> pd.Series:
    return status.isin(["dead", "marginal"])


def _breakdown(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Transition counts per group; groups of either side, missing keys as ``""``."""
    g = v[keys].astype(object).where(v[keys].notna(), "")
    counts = pd.DataFrame(
        {
            **{k: g[k].astype(str) for k in keys},
            "villages_total": 1,
            "baseline_total": (v["side"] != "current").astype(np.int64),
            "baseline_dead_zone": _is_dead_zone(v["baseline_status"]).astype(np.int64),
            "baseline_covered": (v["baseline_status"] == "covered").astype(np.int64),
            **{t: (v["transition"] == t).astype(np.int64) for t in TRANSITIONS},
            "unmatched_baseline": (v["side"] == "baseline").astype(np.int64),
            "unmatched_current": (v["side"] == "current").astype(np.int64),
        }
    )
    out = counts.groupby(keys, sort=True, dropna=False).sum().reset_index()
    dz = out["baseline_dead_zone"]
    out["covered_since_baseline_pct"] = (100.0 * out["newly_covered"] / dz.where(dz > 0)).round(2)
    return out


def _summary(
    v: pd.DataFrame, base: pd.DataFrame, cur: pd.DataFrame, match_distance_m: float
) -> dict[str, Any]:
    t = {k: int((v["transition"] == k).sum()) for k in TRANSITIONS}
    ub = v["side"] == "baseline"
    uc = v["side"] == "current"
    dz = int(_is_dead_zone(v["baseline_status"]).sum())
    return {
        "baseline": {"source": base.attrs.get("source"), "kind": base.attrs.get("kind")},
        "current": {"source": cur.attrs.get("source"), "kind": cur.attrs.get("kind")},
        "match_distance_m": float(match_distance_m),
        "baseline_total": int(len(base)),
        "current_total": int(len(cur)),
        "baseline_dead_zone": dz,
        "baseline_covered": int((v["baseline_status"] == "covered").sum()),
        "transitions": t,
        "covered_since_baseline_pct": round(100.0 * t["newly_covered"] / dz, 2) if dz else None,
        "matched_by_id": int((v["match_method"] == "id").sum()),
        "matched_by_name": int((v["match_method"] == "name").sum()),
        "unmatched_baseline": int(ub.sum()),
        "unmatched_baseline_dead_zone": int((ub & _is_dead_zone(v["baseline_status"])).sum()),
        "unmatched_current": int(uc.sum()),
        "unmatched_current_not_covered": int((uc & _is_dead_zone(v["current_status"])).sum()),
        "by_phase": {
            str(r["phase"]): {k: int(r[k]) for k in TRANSITIONS}
            for _, r in _breakdown(v, ["phase"]).iterrows()
        },
    }


def write_progress(
    result: ProgressResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write the progress tables and ``progress_summary.json`` atomically.

    Returns
    -------
    dict
        File name -> path written.
    """
    from deadzone.geo.export import check_output_dir

    out = check_output_dir(
        out_dir, (*PROGRESS_FILES, *PROGRESS_DISTRICT_FILES), overwrite=overwrite
    )
    paths: dict[str, Path] = {}
    by_district = result.by_district
    for name, frame in (
        ("progress_villages.csv", result.villages),
        ("progress_by_commune.csv", result.by_commune),
        ("progress_by_province.csv", result.by_province),
        ("progress_by_phase.csv", result.by_phase),
        ("unmatched.csv", result.unmatched),
        *([("progress_by_district.csv", by_district)] if by_district is not None else []),
    ):
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False, encoding="utf-8")
        paths[name] = out / name
    if by_district is None:
        for name in PROGRESS_DISTRICT_FILES:
            (out / name).unlink(missing_ok=True)  # an earlier run's (overwrite was checked)
    # last, with the checksum of every other file (a reader tells a folder an
    # interrupted --overwrite left mixed)
    paths["progress_summary.json"] = write_summary_last(
        out / "progress_summary.json", result.summary, paths.values())
    return paths
