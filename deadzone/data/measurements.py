"""Signal measurements (drive tests, crowdsourced samples): :func:`load_measurements`
reads plain tables, OpenCelliD measurement exports and G-NetTrack logs into one
canonical table; :func:`write_measurements` writes it back in each format.

Conventions and sources are in ``docs/MEASUREMENTS.md``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from deadzone.data._tables import (
    _TECH_ALIASES,
    LAT_CANDIDATES,
    LON_CANDIDATES,
    WKT_CANDIDATES,
    PathLike,
    _also,
    _defers_warnings,
    _id_strings,
    _is_missing_value,
    _list_rows,
    _missing_mask,
    _near_misses,
    _norm_name,
    _numeric,
    _pick,
    _plural,
    _warn,
    _where,
    cell_key,
)
from deadzone.data._vectors import _attrs, _check_unique, _geometry, _Raw, _read_raw
from deadzone.data.io import atomic_path
from deadzone.errors import ParameterError, SchemaError
from deadzone.model.schema import MEASUREMENT_COLUMNS, METRICS, TECHS

logger = logging.getLogger(__name__)

#: Formats :func:`load_measurements` detects and :func:`write_measurements` writes.
FORMATS: tuple[str, ...] = ("generic", "opencellid", "gnettrack")

#: ``qc`` values: ``"ok"`` or why a sample must not be used in a fit.  A sample
#: failing several checks gets the first reason of this order.
QC_REASONS: tuple[str, ...] = (
    "ok",
    "no_location",
    "unknown_tech",
    "missing_value",
    "impossible_value",
    "duplicate",
)

#: The audit metric of each technology: the quantity ``measured_dbm`` holds.
TECH_METRIC: dict[str, str] = METRICS

#: Plausible measured values (dBm, inclusive) per metric; a value outside is
#: flagged ``qc="impossible_value"``.  Each range is the 3GPP reporting range
#: widened by a margin for phones that extrapolate past it:
#:
#: * ``rsrp``: -150..-30 (issue #19); TS 36.133 §9.1.4 reports -140..-44 dBm;
#: * ``ss_rsrp``: -160..-30; TS 38.133 §10.1.6 reports SS-RSRP -156..-31 dBm;
#: * ``rscp``: -130..-20; TS 25.133 §9.1.1 reports CPICH RSCP -120..-25 dBm
#:   (-125 with the extended range);
#: * ``rxlev``, ``rssi`` (GSM received level): -120..-20; TS 45.008 §8.1.4
#:   reports RXLEV -110..-48 dBm and TS 27.007 §8.5 ``+CSQ`` -113..-51 dBm.
PLAUSIBLE_DBM: dict[str, tuple[float, float]] = {
    "rsrp": (-150.0, -30.0),
    "ss_rsrp": (-160.0, -30.0),
    "rscp": (-130.0, -20.0),
    "rxlev": (-120.0, -20.0),
    "rssi": (-120.0, -20.0),
}

#: Candidate source columns of a generic measurements table, best first.  The
#: signal roles are tried per row in the order of :data:`_SIGNAL_ORDER` for
#: the row's technology; ``signal`` holds dBm of the technology's audit metric.
MEASUREMENT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "sample_id": ("sample_id", "id", "measurement_id", "sample"),
    "tech": ("tech", "technology", "radio", "rat", "act", "network_type", "networktech"),
    "ss_rsrp": ("ss_rsrp", "ss_rsrp_dbm", "nr_rsrp", "nr_ss_rsrp"),
    "rsrp": ("rsrp", "rsrp_dbm", "lte_rsrp"),
    "rscp": ("rscp", "rscp_dbm"),
    "rxlev": ("rxlev", "rxlev_dbm", "rx_level", "rxlevel"),
    "rssi": ("rssi", "rssi_dbm"),
    "signal": ("measured_dbm", "signal_dbm", "signal", "level", "dbm", "signal_strength"),
    "metric": ("metric",),
    "cell": ("cell", "cell_id", "cellid", "cid", "cgi", "ecgi"),
    "tower_id": ("tower_id", "site_id", "bts_id"),
    "measured_at": ("measured_at", "time", "timestamp", "datetime", "date_time", "measured"),
}
_SIGNAL_ROLES: tuple[str, ...] = ("ss_rsrp", "rsrp", "rscp", "rxlev", "rssi", "signal")
_SIGNAL_ORDER: dict[str, tuple[str, ...]] = {
    "2G": ("rxlev", "rssi", "signal"),
    "3G": ("rscp", "signal"),
    "4G": ("rsrp", "signal"),
    "5G": ("ss_rsrp", "rsrp", "signal"),
    "": ("signal", "rsrp", "ss_rsrp", "rscp", "rxlev", "rssi"),
}
#: Metric a signal role names for a technology (``signal`` is the audit metric).
_ROLE_METRIC: dict[str, str] = {"ss_rsrp": "ss_rsrp", "rsrp": "rsrp", "rscp": "rscp",
                                "rxlev": "rxlev", "rssi": "rssi"}

#: OpenCelliD measurement columns (upload / export CSV), best first.
OPENCELLID_CANDIDATES: dict[str, tuple[str, ...]] = {
    "signal": ("signal",),
    "tech": ("act", "radio"),
    "mcc": ("mcc",),
    "mnc": ("mnc", "net"),
    "area": ("lac", "tac", "area"),
    "cellid": ("cellid", "cell", "cid"),
    "measured_at": ("measured_at", "measured", "timestamp", "time"),
}
#: Quantity OpenCelliD's ``signal`` holds per technology: Android's
#: ``CellSignalStrength*.getDbm()`` (GSM RSSI, WCDMA RSCP, LTE RSRP, NR SS-RSRP).
OPENCELLID_METRIC: dict[str, str] = {"2G": "rssi", "3G": "rscp", "4G": "rsrp", "5G": "ss_rsrp"}

#: ASU -> dBm per technology, as Android's ``getAsuLevel()`` defines ASU (AOSP
#: ``telephony/java/android/telephony/CellSignalStrength{Gsm,Wcdma,Lte,Nr}.java``,
#: after 3GPP TS 27.007 §8.5 ``+CSQ`` and §8.69 ``+CESQ``):
#: ``(slope, offset, lowest ASU, highest ASU, codes meaning "unknown")``,
#: ``dBm = slope * ASU + offset``.
#:
#: * GSM RSSI: ``2 * ASU - 113``, ASU 0..31, 99 unknown (ASU 0 = -113 dBm or less);
#: * WCDMA RSCP: ``ASU - 120``, ASU 0..96, 255 unknown (AOSP's table: 0 = -120 dBm
#:   or less, 96 = -24 dBm or more);
#: * LTE RSRP: ``ASU - 140``, ASU 0..97, 99 / 255 unknown (0 = -140 dBm or less,
#:   97 = -43 dBm or more);
#: * NR SS-RSRP: ``ASU - 140``, ASU 0..97, 99 / 255 unknown: Android's
#:   ``CellSignalStrengthNr.getAsuLevel()`` returns ``dBm + 140`` clamped to
#:   0..97, not the +CESQ ``ss_rsrp`` index (0..127, ``dBm = index - 157``).
ASU_TO_DBM: dict[str, tuple[float, float, int, int, tuple[int, ...]]] = {
    "2G": (2.0, -113.0, 0, 31, (99,)),
    "3G": (1.0, -120.0, 0, 96, (255,)),
    "4G": (1.0, -140.0, 0, 97, (99, 255)),
    "5G": (1.0, -140.0, 0, 97, (99, 255)),
}
_OPENCELLID_ACT: dict[str, str] = {"2G": "GSM", "3G": "UMTS", "4G": "LTE", "5G": "NR"}

#: G-NetTrack Pro log columns (tab-separated ``.txt``); ``Level`` is RSRP (LTE),
#: RSCP (UMTS), RxLev (GSM) or SS-RSRP (NR), in dBm.
GNETTRACK_CANDIDATES: dict[str, tuple[str, ...]] = {
    "signal": ("level",),
    "tech": ("networktech",),
    "mode": ("networkmode",),
    "measured_at": ("timestamp",),
    "cgi": ("cgi",),
    "cellid": ("cellid",),
    "lac": ("lac",),
}
GNETTRACK_METRIC: dict[str, str] = TECH_METRIC
#: The columns :func:`write_measurements` writes for G-NetTrack, in the app's order.
GNETTRACK_COLUMNS: tuple[str, ...] = (
    "Timestamp", "Longitude", "Latitude", "Speed", "Operatorname", "Operator", "CGI",
    "Cellname", "Node", "CellID", "LAC", "NetworkTech", "NetworkMode", "Level", "Qual", "SNR",
)  # fmt: skip
_GNETTRACK_TIME = "%Y.%m.%d_%H.%M.%S"
_GNETTRACK_MODE: dict[str, str] = {"2G": "GSM", "3G": "UMTS", "4G": "LTE", "5G": "NR"}

#: Technology names seen in drive-test logs beyond the towers' aliases.
_MORE_TECH_ALIASES: dict[str, str] = {
    "hsdpa": "3G", "hsupa": "3G", "hspap": "3G", "hsdpa+": "3G", "td-scdma": "3G",
    "tdscdma": "3G", "3g+": "3G", "h+": "3G", "lte+": "4G", "lte_ca": "4G", "lte-ca": "4G",
    "4g+": "4G", "lte-advanced": "4G", "nr_nsa": "5G", "nr_sa": "5G", "nr-nsa": "5G",
    "nr-sa": "5G", "5g_nsa": "5G", "5g_sa": "5G", "5g nsa": "5G", "5g sa": "5G",
    "nr nsa": "5G", "nr sa": "5G",
}  # fmt: skip

_QC_TEXT: dict[str, str] = {
    "no_location": "without a location (missing, or 0, 0: a GPS without a fix)",
    "unknown_tech": "with an unknown technology",
    "missing_value": "without a signal value",
    "impossible_value": "with impossible values (outside the plausible range of their metric, "
    "PLAUSIBLE_DBM)",
    "duplicate": "repeating an earlier sample (same position, technology, cell, time and value)",
}
_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?$")
_GNETTRACK_STAMP = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,2}_\d{1,2}\.\d{1,2}\.\d{1,2}$")
_KEY = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*-\s*(\d+)\s*-\s*(\d+)\s*$")


# --------------------------------------------------------------------------- reading


@_defers_warnings
def load_measurements(
    path: PathLike,
    *,
    towers: pd.DataFrame | None = None,
    tech: str | None = None,
    layer: str | int | None = None,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Load signal measurements (drive tests, crowdsourced samples).

    Parameters
    ----------
    path : str or os.PathLike
        A CSV (``,``/``;``/tab/``|``, decimal commas as the other loaders read
        them), GeoPackage, GeoJSON, Parquet/GeoParquet or any vector file GDAL
        reads.  The format is detected from the columns (any case):

        * ``"opencellid"``: an OpenCelliD measurement export (``lat, lon, mcc,
          mnc|net, lac|tac|area, cellid|cell|cid, signal, measured_at, act|radio``).
          ``signal`` below 0 is dBm; 0 or more is Android ASU, converted per
          technology (:data:`ASU_TO_DBM`).
        * ``"gnettrack"``: a G-NetTrack Pro log (``Timestamp, Longitude,
          Latitude, ..., CGI, ..., CellID, LAC, NetworkTech, NetworkMode, Level,
          ...``); ``Level`` is dBm of the technology's metric.
        * ``"generic"``: longitude/latitude columns (:data:`LON_CANDIDATES`,
          :data:`LAT_CANDIDATES`) or point geometries, and one or more signal
          columns in dBm (:data:`MEASUREMENT_CANDIDATES`: ``rsrp``, ``rscp``,
          ``rxlev``, ``rssi``, ``ss_rsrp``, or ``signal_dbm``/``level``/...
          holding each row's audit metric), with optional ``tech``, ``cell``,
          ``tower_id``, ``measured_at``, ``sample_id`` and ``metric`` columns.
    towers : DataFrame, optional
        Towers (as from :func:`~deadzone.data.loaders.load_towers`) to name
        each sample's serving tower: by the file's ``tower_id``, else by the
        sample's OpenCelliD cell key ``"mcc-mnc-area-cell"`` among the towers'
        ``cells_keys`` (towers loaded from an OpenCelliD cell export).
    tech : {"2G", "3G", "4G", "5G"}, optional
        Technology of the samples whose file gives none (no column, or an
        empty value).  A file with no technology column needs it.
    layer : str or int, optional
        Layer of a multi-layer file.
    columns : mapping of str to str, optional
        The file's column for a field whose column has none of the recognised
        names: ``{"rsrp": "RSRP (dBm)", "measured_at": "gio"}``; fields are the
        keys of the format's candidates (:data:`MEASUREMENT_CANDIDATES`,
        :data:`OPENCELLID_CANDIDATES`, :data:`GNETTRACK_CANDIDATES`).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 points, one row per input row in file order (nothing is
        dropped), with :data:`MEASUREMENT_COLUMNS`:

        * ``sample_id`` (str): the file's id, else ``"S<n>"`` (n: 1-based data row);
        * ``lon``, ``lat`` (float64, degrees; NaN without a location);
        * ``tech`` (str): ``"2G"``/``"3G"``/``"4G"``/``"5G"``, ``""`` when unknown;
        * ``measured_dbm`` (float64, dBm): the technology's audit metric
          (:data:`TECH_METRIC`: 2G received level, 3G RSCP, 4G RSRP, 5G SS-RSRP);
        * ``metric`` (str): the quantity the file held (``"rsrp"``, ``"rscp"``,
          ``"rxlev"``, ``"rssi"``, ``"ss_rsrp"``; ``"rsrp (asu)"`` where
          converted from ASU);
        * ``cell`` (str or None): the serving cell as given
          (``"452-4-10123-20567"`` = mcc-mnc-lac-cid for OpenCelliD);
        * ``tower_id`` (str or None): the serving tower in ``towers`` when
          given and matched; without ``towers``, the file's ``tower_id`` as given;
        * ``measured_at`` (datetime64[ns, UTC], NaT when missing; times
          without a zone are read as UTC);
        * ``qc`` (str): ``"ok"`` or the reason the sample must not be used in
          a fit (:data:`QC_REASONS`);
        * ``source_row`` (int64): the row as messages name it (the file's line
          for CSV, where line 1 is the header; the 1-based feature otherwise).

        ``.attrs``: ``format`` (:data:`FORMATS`), ``qc_counts``
        (``{reason: count}`` for every reason), ``source``, ``checksum``,
        ``reprojected_from``, ``defaults``.  Each non-``ok`` reason is also
        reported by one :class:`~deadzone.errors.DeadzoneWarning`.

    Raises
    ------
    DataLoadError, SchemaError, CRSError
        Unreadable or empty file; no coordinates, no signal column, no
        technology (and no ``tech=``); lon/lat out of range or swapped;
        values that are not numbers or times; duplicated sample ids;
        geometries that are not points.
    ParameterError
        ``tech`` not in :data:`~deadzone.model.schema.TECHS`; unknown fields in
        ``columns``; ``towers`` without ``tower_id``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "drive.csv"
    >>> _ = p.write_text("lon,lat,tech,rsrp,rscp\\n105.8,21.0,LTE,-97,\\n105.9,21.1,3G,,-80\\n")
    >>> m = load_measurements(p)
    >>> m[["sample_id", "tech", "measured_dbm", "metric", "qc"]].values.tolist()
    [['S1', '4G', -97.0, 'rsrp', 'ok'], ['S2', '3G', -80.0, 'rscp', 'ok']]
    """
    if tech is not None and tech not in TECHS:
        raise ParameterError(f"tech was {tech!r}; expected one of {TECHS}")
    if towers is not None and (
        not isinstance(towers, pd.DataFrame) or "tower_id" not in towers.columns
    ):
        raise ParameterError("towers must be a DataFrame with a 'tower_id' column "
                             "(as from load_towers)")
    raw = _read_raw(path, layer=layer, kind="measurements")
    fmt = _detect(raw.table.columns)
    cands = {"generic": MEASUREMENT_CANDIDATES, "opencellid": OPENCELLID_CANDIDATES,
             "gnettrack": GNETTRACK_CANDIDATES}[fmt]
    user = dict(columns or {})
    unknown = sorted(set(user) - set(cands))
    if unknown:
        raise ParameterError(f"measurement column mapping names unknown field(s) {unknown} for "
                             f"the {fmt} format; fields are {sorted(cands)}")
    cols = list(raw.table.columns)
    picked = {k: _pick(cols, user.get(k), v, path=raw.path, option=f"columns[{k!r}]")
              for k, v in cands.items()}
    if fmt == "generic":
        _generic_signal_or_error(raw, picked)
        _warn_near_misses(raw, picked, skip=() if tech is None else ("tech",))
    reader = {"generic": _generic, "opencellid": _opencellid, "gnettrack": _gnettrack}[fmt]
    return _assemble(raw, fmt, picked, reader, tech=tech, towers=towers)


def _detect(columns: Sequence[Any]) -> str:
    names = {_norm_name(c) for c in columns}
    if "level" in names and names & {"networktech", "networkmode"}:
        return "gnettrack"
    if (
        {"mcc", "signal"} <= names
        and names & {"mnc", "net"}
        and names & {"cellid", "cell", "cid"}
    ):
        return "opencellid"
    return "generic"


def _generic_signal_or_error(raw: _Raw, picked: dict[str, str | None]) -> None:
    """No signal column at all: one line naming what was looked for and look-alikes."""
    if any(picked[r] is not None for r in _SIGNAL_ROLES):
        return
    cols = [str(c) for c in raw.table.columns]
    looked = [c for r in _SIGNAL_ROLES for c in MEASUREMENT_CANDIDATES[r]]
    misses = _near_miss_columns(raw, _SIGNAL_ROLES)
    hint = "".join(f"; column {m.column!r} is not used: did you mean {m.suggestion!r}?"
                   for m in misses)
    raise SchemaError(
        f"{raw.path}: field 'measured_dbm': no signal column (looked for {', '.join(looked)}); "
        f"columns are {cols}" + hint
    )


#: Drive-test columns deadzone does not read, never taken for misspelt ones.
_OTHER_KNOWN: tuple[str, ...] = (
    "rsrq", "sinr", "snr", "rssnr", "ecno", "ecio", "rxqual", "qual", "cqi", "pci", "psc",
    "earfcn", "uarfcn", "arfcn", "nrarfcn", "band", "speed", "accuracy", "altitude", "height",
    "operator", "mcc", "mnc", "lac", "tac", "area", "enb", "gnb", "node",
)  # fmt: skip


def _near_miss_columns(raw: _Raw, fields: Sequence[str]) -> list[Any]:
    known = [*(c for v in MEASUREMENT_CANDIDATES.values() for c in v), *LON_CANDIDATES,
             *LAT_CANDIDATES, *WKT_CANDIDATES, *_OTHER_KNOWN]
    return _near_misses(list(raw.table.columns),
                        {f: MEASUREMENT_CANDIDATES[f] for f in fields}, known)


def _warn_near_misses(raw: _Raw, picked: dict[str, str | None], *, skip: Sequence[str]) -> None:
    """Warn about unused columns that look like a misspelt optional column."""
    fields = [f for f in ("sample_id", "tech", "cell", "tower_id", "measured_at", "metric")
              if picked[f] is None and f not in skip]
    for m in _near_miss_columns(raw, fields):
        _warn(f"{raw.path}: column {m.column!r} is not used: did you mean {m.suggestion!r}? "
              f"Without it the samples have no {m.field}; rename it to use it")


class _Parsed:
    """What a format reader hands to :func:`_assemble` (one value per row)."""

    def __init__(self, n: int) -> None:
        self.tech_raw: list[Any] = [None] * n  # the file's technology text (None: no value)
        self.has_tech_column = False
        self.values = np.full(n, np.nan)  # dBm (NaN: missing)
        self.metric = [""] * n
        self.asu_out = np.zeros(n, dtype=bool)  # ASU outside its range
        self.cell: list[str | None] = [None] * n
        self.tower_id: list[str | None] = [None] * n
        self.techs: list[str] | None = None  # set once from tech_raw (and tech=)


# --------------------------------------------------------------------------- the formats


def _tech_of(value: Any) -> str:
    if value is None or _is_missing_value(value):
        return ""
    key = str(value).strip().lower()
    return _TECH_ALIASES.get(key) or _MORE_TECH_ALIASES.get(key) or ""


def _signal(raw: _Raw, col: str, field: str) -> npt.NDArray[np.float64]:
    return _numeric(raw.table[col], path=raw.path, field=field, rows=raw.shown,
                    row_label=raw.row_label)


def _generic(raw: _Raw, picked: dict[str, str | None], techs: Callable[[_Parsed], list[str]],
             out: _Parsed) -> None:
    n = len(raw.table)
    if picked["tech"] is not None:
        out.has_tech_column = True
        out.tech_raw = raw.table[picked["tech"]].tolist()
    values = {r: _signal(raw, c, r if r != "signal" else "measured_dbm")
              for r in _SIGNAL_ROLES if (c := picked[r]) is not None}
    labels = (_id_strings(raw.table[picked["metric"]]) if picked["metric"] else [None] * n)
    tech = techs(out)
    for i in range(n):
        t = tech[i]
        for role in _SIGNAL_ORDER[t]:
            if role in values and np.isfinite(values[role][i]):
                out.values[i] = values[role][i]
                if role == "rsrp" and t == "5G":
                    out.metric[i] = "ss_rsrp"  # RSRP of an NR cell is its SS-RSRP
                else:
                    out.metric[i] = _ROLE_METRIC.get(role) or TECH_METRIC.get(t, "")
                break
        else:
            out.metric[i] = TECH_METRIC.get(t, "")
        if labels[i]:
            out.metric[i] = str(labels[i])
    out.cell = _id_strings(raw.table[picked["cell"]]) if picked["cell"] else [None] * n
    out.tower_id = (_id_strings(raw.table[picked["tower_id"]]) if picked["tower_id"]
                    else [None] * n)
    out.cell = [c or None for c in out.cell]
    out.tower_id = [c or None for c in out.tower_id]


def _opencellid(raw: _Raw, picked: dict[str, str | None], techs: Callable[[_Parsed], list[str]],
                out: _Parsed) -> None:
    n = len(raw.table)
    if picked["tech"] is not None:
        out.has_tech_column = True
        out.tech_raw = raw.table[picked["tech"]].tolist()
    tech = techs(out)
    sig = _signal(raw, picked["signal"], "signal")  # type: ignore[arg-type]
    for i in range(n):
        v, t = sig[i], tech[i]
        if not np.isfinite(v):
            out.metric[i] = OPENCELLID_METRIC.get(t, "")
            continue
        if v < 0:  # dBm
            out.values[i] = v
            out.metric[i] = OPENCELLID_METRIC.get(t, "")
            continue
        out.metric[i] = f"{OPENCELLID_METRIC[t]} (asu)" if t else "asu"
        if not t:
            continue  # ASU of an unknown technology: no conversion
        slope, offset, lo, hi, unknown = ASU_TO_DBM[t]
        if v in unknown:
            continue  # "unknown": measured_dbm stays NaN (qc missing_value)
        out.values[i] = slope * v + offset
        out.asu_out[i] = not (lo <= v <= hi and float(v).is_integer())
    parts = [_id_strings(raw.table[c]) if (c := picked[k]) else [None] * n
             for k in ("mcc", "mnc", "area", "cellid")]
    for i, (mcc, mnc, area, cid) in enumerate(zip(*parts, strict=True)):
        if not cid:
            continue
        out.cell[i] = cell_key(mcc, mnc, area, cid) if (mcc and mnc and area) else cid


def _gnettrack(raw: _Raw, picked: dict[str, str | None], techs: Callable[[_Parsed], list[str]],
               out: _Parsed) -> None:
    n = len(raw.table)
    cols = [c for c in (picked["tech"], picked["mode"]) if c is not None]
    if cols:
        out.has_tech_column = True
        tech_vals = raw.table[picked["tech"]].tolist() if picked["tech"] else [None] * n
        mode_vals = raw.table[picked["mode"]].tolist() if picked["mode"] else [None] * n
        # NetworkTech ("4G") first; NetworkMode ("LTE", "HSPA+") where it says nothing
        out.tech_raw = [t if _tech_of(t) or _is_missing_value(m) else m
                        for t, m in zip(tech_vals, mode_vals, strict=True)]
    tech = techs(out)
    if picked["signal"] is None:
        raise SchemaError(f"{raw.path}: field 'measured_dbm': no 'Level' column in a "
                          "G-NetTrack log")
    out.values = _signal(raw, picked["signal"], "Level")
    out.metric = [GNETTRACK_METRIC.get(t, "") for t in tech]
    cgi = _id_strings(raw.table[picked["cgi"]]) if picked["cgi"] else [None] * n
    cid = _id_strings(raw.table[picked["cellid"]]) if picked["cellid"] else [None] * n
    lac = _id_strings(raw.table[picked["lac"]]) if picked["lac"] else [None] * n
    for i in range(n):
        if cgi[i]:
            out.cell[i] = cgi[i]
        elif cid[i] and lac[i]:
            out.cell[i] = f"{lac[i]}-{cid[i]}"
        elif cid[i]:
            out.cell[i] = cid[i]


# --------------------------------------------------------------------------- assembling


def _assemble(
    raw: _Raw,
    fmt: str,
    picked: dict[str, str | None],
    reader: Callable[[_Raw, dict[str, str | None], Callable[[_Parsed], list[str]], _Parsed],
                     None],
    *,
    tech: str | None,
    towers: pd.DataFrame | None,
) -> gpd.GeoDataFrame:
    p, label, shown = raw.path, raw.row_label, raw.shown
    n = len(raw.table)

    # ids
    id_col = picked.get("sample_id")
    if id_col is not None:
        given = _id_strings(raw.table[id_col])
        ids = [v if v else f"S{r + 1}" for v, r in zip(given, raw.rows, strict=True)]
        _check_unique(p, ids, shown.tolist(), "sample_id", label)
    else:
        ids = [f"S{r + 1}" for r in raw.rows]

    filled = np.zeros(n, dtype=bool)

    def techs(parsed: _Parsed) -> list[str]:
        if parsed.techs is not None:
            return parsed.techs
        if not parsed.has_tech_column and tech is None:
            where = f"{fmt} file" if fmt != "generic" else "file"
            hint = "".join(
                f"; column {m.column!r} is not used: did you mean {m.suggestion!r}?"
                for m in (_near_miss_columns(raw, ["tech"]) if fmt == "generic" else [])
            )
            raise SchemaError(
                f"{p}: field 'tech': no technology column in this {where} (looked for "
                f"{_tech_candidates(fmt)}); pass tech= ('2G', '3G', '4G' or '5G'; CLI "
                "--tech) to give every sample one, or add a tech column" + hint
            )
        out: list[str] = []
        for i, v in enumerate(parsed.tech_raw):
            if v is None or _is_missing_value(v):
                if tech is not None:
                    filled[i] = True
                    out.append(tech)
                else:
                    out.append("")
            else:
                out.append(_tech_of(v))
        parsed.techs = out
        return out

    parsed = _Parsed(n)
    reader(raw, picked, techs, parsed)
    tech_list = techs(parsed)

    # location
    geo = _geometry(raw, ids=ids, id_field="sample_id", allow_missing=True)
    gs = geo.geometry.reset_index(drop=True)
    arr = np.asarray(gs.values, dtype=object)
    empty = shapely.is_missing(arr) | shapely.is_empty(arr)
    types = shapely.get_type_id(arr)
    bad = np.flatnonzero(~empty & (types != 0))
    if bad.size:
        i = int(bad[0])
        raise SchemaError(
            f"{_where(p, shown[i], ids[i], 'sample_id', 'geometry', None, label)}: must be a "
            f"point, got {arr[i].geom_type}"
            + _also(shown, label, bad)
        )
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    have = ~empty
    lon[have] = shapely.get_x(arr[have])
    lat[have] = shapely.get_y(arr[have])
    no_fix = have & (lon == 0.0) & (lat == 0.0)

    times = (_times(raw, picked["measured_at"]) if picked.get("measured_at")
             else pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"))

    # quality
    values = parsed.values
    qc = np.full(n, "ok", dtype=object)
    base = [m.split(" ")[0] for m in parsed.metric]
    for i in range(n):
        if empty[i] or no_fix[i]:
            qc[i] = "no_location"
        elif tech_list[i] == "":
            qc[i] = "unknown_tech"
        elif not np.isfinite(values[i]):
            qc[i] = "missing_value"
        else:
            lo, hi = PLAUSIBLE_DBM.get(base[i], PLAUSIBLE_DBM[TECH_METRIC[tech_list[i]]])
            if parsed.asu_out[i] or not (lo <= values[i] <= hi):
                qc[i] = "impossible_value"
    cells = [c if c else None for c in parsed.cell]
    ok = np.flatnonzero(qc == "ok")
    if ok.size:
        key = pd.DataFrame({
            "lon": lon[ok], "lat": lat[ok], "tech": [tech_list[i] for i in ok],
            "cell": [cells[i] or "" for i in ok], "t": times.iloc[ok].to_numpy(),
            "v": values[ok],
        })
        qc[ok[key.duplicated(keep="first").to_numpy()]] = "duplicate"

    tower_ids = _match_towers(p, towers, parsed.tower_id, cells, tech_list, shown, label)

    counts = {r: int((qc == r).sum()) for r in QC_REASONS}
    for reason in QC_REASONS[1:]:
        rows = np.flatnonzero(qc == reason)
        if not rows.size:
            continue
        extra = ""
        if reason == "unknown_tech":
            seen = sorted({str(parsed.tech_raw[i]).strip() for i in rows
                           if parsed.tech_raw[i] is not None
                           and not _is_missing_value(parsed.tech_raw[i])})
            extra = f" ({', '.join(seen)})" if seen else " (no value)"
        one = rows.size == 1
        _warn(
            f"{p}: {_plural(int(rows.size), 'sample')} {_QC_TEXT[reason]}{extra} "
            f"({label}{'' if one else 's'} {_list_rows(shown[rows].tolist(), 5)}) "
            f"{'is' if one else 'are'} kept and flagged qc={reason}; "
            f"{'it is' if one else 'they are'} not used in fits"
        )

    defaults: dict[str, str] = {}
    if id_col is None:
        defaults["sample_id"] = f"'S<n>' generated for {n} rows"
    if filled.any():
        defaults["tech"] = f"{tech} (tech=) in {int(filled.sum())} rows without a technology"
    data: dict[str, Any] = {
        "sample_id": pd.Series(ids, dtype=object),
        "lon": lon,
        "lat": lat,
        "tech": pd.Series(tech_list, dtype=object),
        "measured_dbm": values.astype(np.float64),
        "metric": pd.Series(parsed.metric, dtype=object),
        "cell": pd.Series(cells, dtype=object),
        "tower_id": pd.Series(tower_ids, dtype=object),
        "measured_at": times.reset_index(drop=True),
        "qc": pd.Series(qc, dtype=object),
        "source_row": shown.astype(np.int64),
    }
    out = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(arr, crs=4326), crs=4326)
    out.attrs = _attrs(p, format=fmt, qc_counts=counts, defaults=defaults,
                       reprojected_from=geo.reprojected_from)
    return out


def _tech_candidates(fmt: str) -> str:
    if fmt == "opencellid":
        return ", ".join(OPENCELLID_CANDIDATES["tech"])
    if fmt == "gnettrack":
        return "NetworkTech, NetworkMode"
    return ", ".join(MEASUREMENT_CANDIDATES["tech"])


#: Times a datetime64[ns] holds (pandas' nanosecond bounds, rounded inwards).
_T_MIN, _T_MAX = pd.Timestamp("1677-09-22", tz="UTC"), pd.Timestamp("2262-04-11", tz="UTC")
_MS_LIMIT = 9.2e15  # |Unix milliseconds| a datetime64[ns] holds


def _one_time(text: str, fmt: str | None) -> Any:
    """One time as a UTC Timestamp (ns), or NaT when it is none or out of range."""
    try:
        t = pd.to_datetime(text, utc=True, format=fmt)
    except (ValueError, OverflowError, TypeError):
        return pd.NaT
    if pd.isna(t) or not (_T_MIN <= t <= _T_MAX):
        return pd.NaT
    return t.as_unit("ns")


def _parse_times(texts: pd.Series, fmt: str | None) -> pd.Series:
    """Text times as datetime64[ns, UTC]; NaT where a value is none (or out of range)."""
    try:
        t = pd.to_datetime(texts, utc=True, format=fmt, errors="coerce")
        t = t.dt.as_unit("ns")
        return t.where((t >= _T_MIN) & (t <= _T_MAX))
    except (ValueError, OverflowError, TypeError):
        return pd.Series([_one_time(v, fmt) for v in texts], index=texts.index,
                         dtype="datetime64[ns, UTC]")


def _times(raw: _Raw, col: str) -> pd.Series:
    """A time column as datetime64[ns, UTC]: ISO 8601 text (no zone = UTC), Unix
    seconds or milliseconds (numbers of 1e11 or more), G-NetTrack ``2024.05.01_10.00.00``,
    or the file's own timestamps (no zone = UTC)."""
    s = raw.table[col].reset_index(drop=True)
    n = len(s)
    out = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    missing = _missing_mask(s)
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        t = pd.to_datetime(s)
        t = t.dt.tz_localize("UTC") if t.dt.tz is None else t.dt.tz_convert("UTC")
        text = pd.Series([None if pd.isna(v) else v.isoformat() for v in t])
    elif pd.api.types.is_numeric_dtype(s.dtype):
        text = pd.Series(["" if m else repr(float(v)) for v, m in zip(s, missing, strict=True)])
    else:
        text = pd.Series(["" if m else str(v).strip() for v, m in zip(s, missing, strict=True)])
    num = text.str.match(_NUMBER.pattern).fillna(False).to_numpy(dtype=bool) & ~missing
    if num.any():
        v = text[num].astype(float).to_numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            ms = np.where(np.abs(v) >= 1e11, v, v * 1000.0)
            fits = np.abs(ms) < _MS_LIMIT
        got = np.full(v.size, np.iinfo(np.int64).min, dtype=np.int64)  # NaT
        got[fits] = np.rint(ms[fits]).astype(np.int64)
        stamps = pd.to_datetime(np.where(fits, got, np.iinfo(np.int64).min), unit="ms",
                                utc=True, errors="coerce")
        out[num] = stamps.where((stamps >= _T_MIN) & (stamps <= _T_MAX))
    gnt = text.str.match(_GNETTRACK_STAMP.pattern).fillna(False).to_numpy(dtype=bool) & ~missing
    if gnt.any():
        out[gnt] = _parse_times(text[gnt], _GNETTRACK_TIME)
    rest = ~(num | gnt | missing)
    if rest.any():
        out[rest] = _parse_times(text[rest], "ISO8601")
        still = rest & out.isna().to_numpy()
        if still.any():
            out[still] = _parse_times(text[still], "mixed")
    bad = np.flatnonzero(out.isna().to_numpy() & ~missing)
    if bad.size:
        i = int(bad[0])
        raise SchemaError(
            f"{_where(raw.path, raw.shown[i], None, None, 'measured_at', col, raw.row_label)}: "
            f"value {s.iloc[i]!r} is not a time between 1677 and 2262 (ISO 8601, Unix seconds "
            "or milliseconds)" + _also(raw.shown, raw.row_label, bad)
        )
    return out


def _key_of(cell: str | None) -> str | None:
    """The OpenCelliD key of a cell written ``mcc-mnc-area-cell``, else None."""
    if not cell:
        return None
    m = _KEY.match(cell)
    return cell_key(*m.groups()) if m else None


def _match_towers(
    p: Path,
    towers: pd.DataFrame | None,
    given: Sequence[str | None],
    cells: Sequence[str | None],
    techs: Sequence[str],
    shown: npt.NDArray[np.int64],
    label: str,
) -> list[str | None]:
    """The serving tower of each sample: the file's tower_id, checked against
    ``towers``; else the tower whose ``cells_keys`` hold the sample's cell key
    (same technology first)."""
    if towers is None:
        return list(given)
    ids = set(_id_strings(towers["tower_id"]))
    by_key: dict[tuple[str, str], str] = {}
    any_tech: dict[str, str] = {}
    if "cells_keys" in towers.columns:
        tech_col = (towers["tech"].astype(str).tolist() if "tech" in towers.columns
                    else [""] * len(towers))
        for tid, keys, t in zip(_id_strings(towers["tower_id"]), towers["cells_keys"].tolist(),
                                tech_col, strict=True):
            if tid is None or _is_missing_value(keys):
                continue
            for k in str(keys).split(";"):
                by_key.setdefault((k, t), tid)
                any_tech.setdefault(k, tid)
    out: list[str | None] = []
    unmatched: list[int] = []
    for i, (g, c, t) in enumerate(zip(given, cells, techs, strict=True)):
        if g:
            out.append(g if g in ids else None)
            if g not in ids:
                unmatched.append(i)
            continue
        k = _key_of(c)
        if k is not None and any_tech:
            tid = by_key.get((k, t)) or any_tech.get(k)
            out.append(tid)
            if tid is None:
                unmatched.append(i)
        else:
            out.append(None)
    if unmatched:
        one = len(unmatched) == 1
        _warn(
            f"{p}: {_plural(len(unmatched), 'sample')} {'names' if one else 'name'} a serving "
            f"tower or cell that is not in the towers table ({label}{'' if one else 's'} "
            f"{_list_rows(shown[unmatched].tolist(), 5)}); "
            f"{'its' if one else 'their'} tower_id is left empty"
        )
    return out


# --------------------------------------------------------------------------- writing


def write_measurements(
    gdf: pd.DataFrame, path: PathLike, *, format: str = "generic"
) -> Path:
    """Write a canonical measurements table (:func:`load_measurements`) in one format.

    Parameters
    ----------
    gdf : DataFrame
        With :data:`MEASUREMENT_COLUMNS` (``qc`` and ``source_row`` are not
        written: the loader recomputes them).
    path : str or os.PathLike
        Output file, replaced atomically (:func:`~deadzone.data.io.atomic_path`).
    format : {"generic", "opencellid", "gnettrack"}
        * ``"generic"``: by suffix, a CSV (``.csv``/``.txt``; ``.tsv`` tab), a
          GeoPackage, a GeoJSON or a (Geo)Parquet with ``sample_id, lon, lat,
          tech, metric, measured_dbm, cell, tower_id, measured_at`` (ISO 8601
          UTC text; native timestamps in Parquet);
        * ``"opencellid"``: a CSV ``lat, lon, mcc, mnc, lac, cellid, signal,
          measured_at, act``; ``signal`` in dBm (so it must be negative), the
          cell split from its ``mcc-mnc-lac-cid`` key (otherwise in ``cellid``);
        * ``"gnettrack"``: a tab-separated G-NetTrack log
          (:data:`GNETTRACK_COLUMNS`), time to the second (UTC), cell in ``CGI``.

    Returns
    -------
    pathlib.Path
        ``path``; ``load_measurements(path)`` gives back every field the format
        holds.

    Raises
    ------
    ParameterError
        Unknown format, missing columns, a non-negative ``measured_dbm`` in
        OpenCelliD format, or a suffix the generic format cannot write.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "in.csv").write_text("lon,lat,tech,rsrp,cell\\n105.8,21.0,4G,-97,452-4-7-9\\n")
    >>> m = load_measurements(d / "in.csv")
    >>> back = load_measurements(write_measurements(m, d / "m.txt", format="gnettrack"))
    >>> back.attrs["format"], back["cell"].iloc[0], float(back["measured_dbm"].iloc[0])
    ('gnettrack', '452-4-7-9', -97.0)
    """
    if format not in FORMATS:
        raise ParameterError(f"format was {format!r}; expected one of {FORMATS}")
    missing = [c for c in MEASUREMENT_COLUMNS if c not in gdf.columns and c not in
               ("qc", "source_row")]
    if missing:
        raise ParameterError(f"measurements table lacks column(s) {missing}; expected "
                             f"{list(MEASUREMENT_COLUMNS)} (as from load_measurements)")
    p = Path(path)
    df = pd.DataFrame(gdf).reset_index(drop=True)
    times = pd.to_datetime(df["measured_at"], utc=True)
    if format == "opencellid":
        table = _opencellid_table(df, times)
        with atomic_path(p) as tmp:
            table.to_csv(tmp, index=False)
    elif format == "gnettrack":
        table = _gnettrack_table(df, times)
        with atomic_path(p) as tmp:
            table.to_csv(tmp, index=False, sep="\t")
    else:
        _write_generic(df, times, p)
    return p


def _text_or_none(v: Any) -> str | None:
    return None if v is None or _is_missing_value(v) else str(v)


def _texts(values: pd.Series) -> list[str | None]:
    return [_text_or_none(v) for v in values]


def _iso(times: pd.Series) -> list[str | None]:
    return [None if pd.isna(t) else t.isoformat() for t in times]


#: GeoJSON options that keep every float64 exact (GDAL writes 15 significant figures
#: by default): 17 decimals for coordinates, 17 significant figures for fields.
_GEOJSON_FULL = {"COORDINATE_PRECISION": "17", "SIGNIFICANT_FIGURES": "17"}


def _write_generic(df: pd.DataFrame, times: pd.Series, p: Path) -> None:
    table = pd.DataFrame({
        "sample_id": df["sample_id"].astype(str),
        "lon": df["lon"].astype(np.float64),
        "lat": df["lat"].astype(np.float64),
        "tech": _texts(df["tech"]),
        "metric": _texts(df["metric"]),
        "measured_dbm": df["measured_dbm"].astype(np.float64),
        "cell": _texts(df["cell"]),
        "tower_id": _texts(df["tower_id"]),
        "measured_at": _iso(times),
    })
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        with atomic_path(p) as tmp:
            table.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
        return
    have = np.isfinite(table["lon"].to_numpy()) & np.isfinite(table["lat"].to_numpy())
    geoms = np.full(len(table), None, dtype=object)
    geoms[have] = shapely.points(table["lon"].to_numpy()[have], table["lat"].to_numpy()[have])
    if suffix in (".parquet", ".geoparquet", ".pq"):
        table["measured_at"] = times.astype("datetime64[ns, UTC]")
        out = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
        with atomic_path(p) as tmp:
            out.to_parquet(tmp, index=False)
        return
    drivers = {".gpkg": ("GPKG", {}), ".geojson": ("GeoJSON", _GEOJSON_FULL),
               ".json": ("GeoJSON", _GEOJSON_FULL)}
    if suffix not in drivers:
        raise ParameterError(f"{p}: cannot write measurements as {suffix!r}; use .csv, .tsv, "
                             ".gpkg, .geojson or .parquet")
    driver, options = drivers[suffix]
    out = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
    with atomic_path(p) as tmp:
        out.to_file(tmp, driver=driver, layer="measurements", engine="pyogrio",
                    layer_options=options or None)


def _opencellid_table(df: pd.DataFrame, times: pd.Series) -> pd.DataFrame:
    dbm = df["measured_dbm"].astype(np.float64).to_numpy()
    bad = np.flatnonzero(np.isfinite(dbm) & (dbm >= 0))
    if bad.size:
        i = int(bad[0])
        raise ParameterError(
            f"row {i} (sample_id {df['sample_id'].iloc[i]!r}): measured_dbm {dbm[i]:g} is not "
            "negative; OpenCelliD reads a non-negative signal as ASU"
            + (f" (and {bad.size - 1} more rows)" if bad.size > 1 else "")
        )
    mcc, mnc, lac, cid = [], [], [], []
    for c in _texts(df["cell"]):
        m = _KEY.match(c) if c else None
        if m:
            a, b, d, e = (int(x) for x in m.groups())
            mcc.append(a), mnc.append(b), lac.append(d), cid.append(e)
        else:
            mcc.append(None), mnc.append(None), lac.append(None), cid.append(c)
    return pd.DataFrame({
        "lat": df["lat"].astype(np.float64),
        "lon": df["lon"].astype(np.float64),
        "mcc": pd.array(mcc, dtype="Int64"),
        "mnc": pd.array(mnc, dtype="Int64"),
        "lac": pd.array(lac, dtype="Int64"),
        "cellid": pd.Series(cid, dtype=object),
        "signal": dbm,
        "measured_at": _iso(times),
        "act": [_OPENCELLID_ACT.get(str(t), None) for t in df["tech"]],
    })


def _gnettrack_table(df: pd.DataFrame, times: pd.Series) -> pd.DataFrame:
    n = len(df)
    cells = _texts(df["cell"])
    lac: list[str | None] = []
    cid: list[str | None] = []
    for c in cells:
        m = _KEY.match(c) if c else None
        lac.append(str(int(m.group(3))) if m else None)
        cid.append(str(int(m.group(4))) if m else None)
    stamps = [None if pd.isna(t) else t.strftime(_GNETTRACK_TIME) for t in times]
    empty: list[None] = [None] * n
    return pd.DataFrame({
        "Timestamp": stamps,
        "Longitude": df["lon"].astype(np.float64),
        "Latitude": df["lat"].astype(np.float64),
        "Speed": empty,
        "Operatorname": empty,
        "Operator": empty,
        "CGI": cells,
        "Cellname": empty,
        "Node": empty,
        "CellID": cid,
        "LAC": lac,
        "NetworkTech": [t if t in TECHS else None for t in df["tech"]],
        "NetworkMode": [_GNETTRACK_MODE.get(str(t)) for t in df["tech"]],
        "Level": df["measured_dbm"].astype(np.float64),
        "Qual": empty,
        "SNR": empty,
    })[list(GNETTRACK_COLUMNS)]
