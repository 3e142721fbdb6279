"""Cell towers: :func:`load_towers` (plain tables with radio columns, or
OpenCelliD exports grouped into sites)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import Transformer

from deadzone.data._tables import (
    _TECH_ALIASES,
    _TOWER_RANGES,
    DEFAULT_SECTOR_BEAMWIDTH_DEG,
    LAT_CANDIDATES,
    LON_CANDIDATES,
    OPENCELLID_RADIO_TECH,
    SITE_CLUSTER_RADIUS_M,
    TOWER_CANDIDATES,
    WKT_CANDIDATES,
    PathLike,
    _also,
    _defers_warnings,
    _id_strings,
    _is_missing_value,
    _near_misses,
    _norm_name,
    _numeric,
    _numeric_column,
    _pick,
    _plural,
    _warn,
    _where,
    cell_key,
)
from deadzone.data._vectors import (
    _attrs,
    _check_unique,
    _extras,
    _geometry,
    _ids,
    _lonlat_arrays,
    _Raw,
    _read_raw,
)
from deadzone.errors import (
    DataLoadError,
    ParameterError,
    SchemaError,
)
from deadzone.model.geodesy import utm_crs
from deadzone.model.schema import TECHS, TOWER_COLUMNS, TOWER_DEFAULTS

logger = logging.getLogger(__name__)


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
          ``mnc``, ``cells`` (count), ``range_m`` (largest OpenCelliD range),
          ``samples`` (sum) and ``cells_keys`` (the member cells'
          ``"mcc-mnc-area-cell"`` keys, :func:`~deadzone.data._tables.cell_key`,
          joined by ``";"`` in file order; measurements name their serving
          cell by the same key);
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
        EPSG:4326 points with :data:`~deadzone.model.schema.TOWER_COLUMNS`
        (``lon``/``lat`` degrees, ``freq_mhz`` MHz, ``eirp_dbm`` dBm,
        ``height_m`` m, angles in degrees; ``azimuth_deg`` NaN = omni,
        ``beamwidth_deg`` NaN for omni and 65 for a sector without one,
        ``tilt_deg`` 0 when missing), ``params_source`` (``"file"`` or
        ``"defaults:<fields>"`` naming what came from
        :data:`~deadzone.model.schema.TOWER_DEFAULTS` / ``default_tech``), the
        file's other columns (plain files only) and ``source_row``.  Missing
        ``tower_id`` -> ``"T<row>"``.

    Raises
    ------
    DataLoadError, SchemaError, CRSError
        Values out of range (``height_m`` in (0, 500], ``eirp_dbm`` -10..90,
        ``freq_mhz`` 30..100000, lon/lat), swapped lon/lat, unknown tech,
        duplicated ids.
    ParameterError
        ``default_tech`` not in :data:`~deadzone.model.schema.TECHS`.

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
    c_area, c_cell = col("area", "tac", "lac"), col("cell", "cid", "cellid")
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

    areas = raw.table[c_area].tolist() if c_area else [None] * len(lon)
    cell_ids = raw.table[c_cell].tolist() if c_cell else [None] * len(lon)
    keys = [
        cell_key(m, n, a, c)
        for m, n, a, c in zip(raw.table[c_mcc], raw.table[c_mnc], areas, cell_ids, strict=True)
    ]

    keep = np.flatnonzero(~unknown)
    records: list[dict[str, Any]] = []
    if keep.size:
        lon_k, lat_k = lon[keep], lat[keep]
        utm = utm_crs(float(np.median(lon_k)), float(np.median(lat_k)))
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
                        "cells_keys": ";".join(keys[j] for j in src),
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
            columns=["tower_id", "tech", "mcc", "mnc", "cells", "range_m", "samples",
                     "cells_keys", "source_row"]
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
        "cells_keys": pd.Series(sites["cells_keys"].astype(str).tolist(), dtype=str),
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
