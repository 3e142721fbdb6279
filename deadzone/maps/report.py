"""Self-contained HTML audit report for planners.

:func:`build_report` reads an audit folder (``deadzone audit`` / ``deadzone
demo`` output) and, optionally, the output folders of ``deadzone progress``,
``deadzone fiber`` and ``deadzone place``, and returns one HTML page: summary
lines ("covered villages: 2,416/3,924 (61.6%)"), tables per province and
commune, the least-covered communes, not-covered villages by reason, the
optional programme tables, and the two figures of :mod:`deadzone.maps.figures`
embedded as base64 PNG.  The page references no external resource (no
script, stylesheet, font or image URL), so it opens offline and can be mailed
as a single file.  Every text taken from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deadzone.data.io import atomic_path, verify_folder
from deadzone.errors import DataLoadError, DeadzoneError, OutputExistsError
from deadzone.maps.figures import (
    STATUS_COLORS,
    AuditFolder,
    commune_bar_chart,
    coverage_figure,
    fiber_figure,
    read_audit_folder,
)
from deadzone.maps.signal import status_signal
from deadzone.model.thresholds import dbm_text

if TYPE_CHECKING:
    from deadzone.model.scenario import Scenario

__all__ = [
    "PdfConverterError",
    "build_report",
    "find_pdf_converter",
    "html_to_pdf",
    "summary_lines",
    "write_report",
]

#: Rows shown at most in long tables (the rest is counted, and in the CSVs).
MAX_ROWS = 500
TOP_DEAD_COMMUNES = 15
#: Communes in the report's bar chart: one printed page with labels of about 6 pt
#: (every commune is in the table below it).
CHART_COMMUNES = 36

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;
margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
ul.summary{font-size:1.1em;line-height:1.6}ul.summary li:first-child{font-weight:bold}
.note{color:#666;font-size:.85em}figure{margin:1em 0}figure img{max-width:100%;
border:1px solid #ddd}.swatch{display:inline-block;width:.9em;height:.9em;
vertical-align:middle;margin-right:.3em;border:1px solid #555}
@media print{h2{page-break-before:auto}table{page-break-inside:auto;font-size:.72em}
body{margin:0;padding:0;max-width:none}th,td{padding:.15em .3em;overflow-wrap:break-word}
table.wide{font-size:.6em}table.wide th,table.wide td{overflow-wrap:anywhere}
section.keep{break-inside:avoid}figure img{max-height:23cm;width:auto}}
"""

_LABELS = {
    "villages_total": "villages",
    "villages_covered": "covered",
    "villages_marginal": "marginal",
    "villages_dead": "dead",
    "villages_unknown": "unknown",
    "villages_covered_pct": "% covered",
    "population_total": "population",
    "population_covered": "pop. covered",
    "population_covered_pct": "% pop. covered",
    "households_total": "households",
    "households_covered": "hh covered",
    "communes_total": "communes",
    "communes_fully_covered": "communes fully covered",
    "commune_id": "commune id",
    "name": "name",
    "province": "province",
    "signal": "signal (status came from)",
    "nearest_tower": "nearest tower",
    "total_bn_vnd": "total (bn VND)",
    "backhaul_km": "backhaul (km)",
    "power_option": "power",
    "new_villages": "new villages",
    # programme progress
    "commune_name": "commune",
    "baseline_dead_zone": "dead zone at baseline",
    "newly_covered": "covered since",
    "still_dead": "still dead",
    "newly_dead": "newly dead",
    "covered_since_baseline_pct": "% of dead zone covered",
    "unmatched": "unmatched",
    # fiber phases
    "road_km": "road km",
    "drop_km": "drop km",
    "targets_connected": "targets connected",
    "targets_connected_total": "connected so far",
    "households_reached": "households reached",
    "households_pct": "% households reached",
    "communes_with_fiber_text": "communes with fiber",
    "gap_pct": "% above lower bound",
}


def _esc(value: Any) -> str:
    return html.escape(_plain(value), quote=True)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.2f}" if not value.is_integer() else f"{int(value):,}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return str(value)


def _is_num(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iuf")
    )


def _table(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    max_rows: int = MAX_ROWS,
    caption: str | None = None,
    source: str = "the CSV tables of the output folder",
) -> str:
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    # many columns: smaller type in print, cells may break anywhere to fit A4
    parts = ['<table class="wide">' if len(cols) > 10 else "<table>"]
    if caption:
        parts.append(f"<caption>{_esc(caption)}</caption>")
    # headers may break after an underscore (baseline_total -> baseline_ / total)
    parts.append("<tr>" + "".join(
        f"<th>{_esc(_LABELS.get(c, c)).replace('_', '_<wbr>')}</th>" for c in cols) + "</tr>")
    shown = df.head(max_rows)
    for row in shown[cols].itertuples(index=False, name=None):
        cells = []
        for v in row:
            cls = ' class="n"' if _is_num(v) else ""
            cells.append(f"<td{cls}>{_esc(v)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    if len(df) > len(shown):
        parts.append(
            f'<p class="note">showing {len(shown):,} of {len(df):,} rows; '
            f"every row is in {_esc(source)}.</p>"
        )
    if df.empty:
        parts.append('<p class="note">(no rows)</p>')
    return "\n".join(parts)


def _communes(n: int) -> str:
    return f"{n:,} commune" if n == 1 else f"{n:,} communes"


def _kv_table(items: Iterable[tuple[str, Any]]) -> str:
    rows = [f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in items]
    return "<table>" + "".join(rows) + "</table>"


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list):
        if all(not isinstance(x, (dict, list)) for x in d) and len(d) <= 20:
            out.append((prefix, ", ".join(_plain(x) for x in d)))
        else:
            out.append((prefix, f"({len(d)} entries)"))
    else:
        out.append((prefix, d))
    return out


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The audit's human summary lines from a ``summary.json`` dict.

    Same text as :meth:`deadzone.geo.audit.AuditResult.summary_lines`, e.g.
    ``covered villages: 2,416/3,924 (61.6%)``.
    """
    from deadzone.geo.audit import summary_lines as audit_summary_lines

    return audit_summary_lines(summary)


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV table with its id columns (``*_id``, ``*_code``) as text, so that a
    commune code such as 07840 prints as 07840 (not 7,840)."""
    try:
        head = pd.read_csv(path, encoding="utf-8-sig", nrows=0)
        ids = {c: str for c in head.columns if str(c).endswith(("_id", "_code"))}
        return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""],
                           dtype=ids)
    except (ValueError, OSError) as exc:
        raise DataLoadError(f"{path}: cannot read CSV ({exc})") from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DataLoadError(f"{path}: cannot read JSON ({exc})") from exc
    return data if isinstance(data, dict) else {"value": data}


def _folder(path: str | os.PathLike[str] | None, what: str, flag: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_dir():
        raise DataLoadError(f"{flag} {p}: {what} folder does not exist or is not a folder")
    return p


# ---------------------------------------------------------------------------
# Sections


def _province_section(a: AuditFolder) -> str:
    p = a.provinces.sort_values("villages_covered_pct", na_position="last")
    cols = [
        "province",
        "communes_total",
        "communes_fully_covered",
        "villages_total",
        "villages_covered",
        "villages_marginal",
        "villages_dead",
        "villages_unknown",
        "villages_covered_pct",
        "population_total",
        "population_covered_pct",
    ]
    return "<h2>Provinces</h2>\n" + _table(p, cols)


def _commune_sections(a: AuditFolder) -> str:
    c = a.communes.copy()
    cols = [
        "province",
        "name",
        "commune_id",
        "villages_total",
        "villages_covered",
        "villages_marginal",
        "villages_dead",
        "villages_unknown",
        "villages_covered_pct",
        "population_total",
        "population_covered_pct",
    ]
    n_vil = pd.to_numeric(c.get("villages_total", 1), errors="coerce")
    with_villages = c[pd.Series(n_vil, index=c.index).fillna(0) > 0]
    dead = c[c.get("villages_dead", pd.Series(0, index=c.index)) > 0]
    dead = dead.sort_values(["villages_dead", "population_total"], ascending=[False, False])
    out = [
        f"<h2>Communes with the most dead villages (top {TOP_DEAD_COMMUNES})</h2>",
        _table(dead.head(TOP_DEAD_COMMUNES), cols)
        if len(dead)
        else '<p class="note">No commune has a dead village.</p>',
        "<h2>All communes with villages (least covered first)</h2>",
        _table(
            with_villages.sort_values(
                ["villages_covered_pct", "villages_dead", "name"],
                ascending=[True, False, True],
                na_position="last",
            ),
            cols,
            max_rows=max(MAX_ROWS, len(with_villages)),
        ),
    ]
    if len(with_villages) < len(c):
        out.append(f'<p class="note">Not listed: {_communes(len(c) - len(with_villages))} '
                   "with no village in the inputs (see communes.csv).</p>")
    return "\n".join(out)


def _reason_section(a: AuditFolder) -> str:
    v = a.villages
    not_cov = v[v["status"].astype(str) != "covered"].copy()
    out = ["<h2>Villages not covered, by reason</h2>"]
    if not_cov.empty:
        out.append('<p class="note">Every village is covered.</p>')
        return "\n".join(out)
    not_cov["reason"] = not_cov.get("reason", pd.Series(index=not_cov.index, dtype=object))
    not_cov["reason"] = not_cov["reason"].fillna("(none)").astype(str)
    pop = pd.to_numeric(not_cov.get("population", 0), errors="coerce").fillna(0)
    not_cov["_pop"] = pop
    by = (
        not_cov.groupby(["status", "reason"], sort=True)
        .agg(villages=("status", "size"), population=("_pop", "sum"))
        .reset_index()
        .sort_values(["status", "villages"], ascending=[True, False])
    )
    by["population"] = by["population"].round().astype("int64")
    out.append(_table(by, ["status", "reason", "villages", "population"]))
    names = a.communes.set_index(a.communes["commune_id"].astype(str))["name"]
    not_cov["commune"] = (
        not_cov["commune_id"].astype(str).map(names).fillna(not_cov["commune_id"].astype(str))
    )
    order = {"dead": 0, "unknown": 1, "marginal": 2}
    not_cov["_o"] = not_cov["status"].map(order).fillna(3)
    lst = not_cov.sort_values(["_o", "reason", "commune", "_pop"], ascending=[1, 1, 1, 0])
    # the value each status came from (e.g. 4G RSRP), not the total power; one
    # text column each for the signal and the nearest tower keep the table on
    # an A4 page
    labels, values = status_signal(lst)
    lst["signal"] = [f"{lab} {v:.1f} dBm" if np.isfinite(v) else f"{lab}: none"
                     for lab, v in zip(labels, values, strict=True)]
    if "nearest_tower_id" in lst.columns and "distance_to_nearest_tower_m" in lst.columns:
        dist = pd.to_numeric(lst["distance_to_nearest_tower_m"], errors="coerce")
        lst["nearest_tower"] = [
            f"{t} ({d / 1000:.1f} km)" if isinstance(t, str) and np.isfinite(d) else ""
            for t, d in zip(lst["nearest_tower_id"], dist, strict=True)]
    out.append("<h3>Not-covered villages</h3>")
    out.append(
        _table(
            lst,
            [
                "name",
                "village_id",
                "commune",
                "population",
                "status",
                "reason",
                "signal",
                "nearest_tower",
            ],
            source="villages.csv of the audit folder",
        )
    )
    return "\n".join(out)


def _tech_section(summary: dict[str, Any]) -> str:
    bt = summary.get("by_technology") or {}
    if not bt:
        return ""
    df = pd.DataFrame(
        [{"technology": t, **{k: int(v) for k, v in d.items()}} for t, d in bt.items()]
    )
    return "<h3>By technology</h3>\n" + _table(df)


def _progress_section(d: Path) -> str:
    out = [f'<h2>Programme progress</h2><p class="note">from {_esc(d)}</p>']
    sj = d / "progress_summary.json"
    found = False
    if sj.is_file():
        s = _read_json(sj)
        found = True
        try:
            from deadzone.geo.progress import ProgressResult

            lines = ProgressResult.summary_lines(SimpleNamespace(summary=s))  # type: ignore[arg-type]
            out.append("<ul>" + "".join(f"<li>{_esc(x)}</li>" for x in lines) + "</ul>")
        except (KeyError, TypeError):
            out.append(_kv_table(_flatten(s)))
    for name, label in (
        ("progress_by_province.csv", "By province"),
        ("progress_by_phase.csv", "By phase"),
        ("progress_by_commune.csv", "By commune"),
    ):
        if (d / name).is_file():
            found = True
            html_table = _progress_table(_read_csv(d / name), name)
            if html_table:
                out.append(f"<h3>{_esc(label)}</h3>")
                out.append(html_table)
    if not found:
        out.append('<p class="note">No progress outputs found in this folder.</p>')
    return "\n".join(out)


#: What the report shows of a progress table (every column stays in the CSV):
#: the programme's figures; marginal villages count as dead (not covered).
_PROGRESS_COLUMNS = ("province", "phase", "commune_name", "commune_id", "villages_total",
                     "baseline_dead_zone", "newly_covered", "still_dead", "newly_dead",
                     "unmatched", "covered_since_baseline_pct")


def _progress_table(t: pd.DataFrame, name: str) -> str:
    """One progress table for print: the programme's columns; by phase only
    when villages carry phases; by commune only the communes with a dead zone
    then or now (the others are counted in a note)."""
    if "phase" in t.columns and set(t["phase"].astype(str)) <= {"(none)"}:
        return ""  # no village carries a programme phase: the totals are above
    cols = [c for c in _PROGRESS_COLUMNS if c in t.columns]
    if "unmatched" in t.columns and not pd.to_numeric(t["unmatched"], errors="coerce").any():
        cols.remove("unmatched")
    note = ""
    if name == "progress_by_commune.csv" and {"baseline_dead_zone", "newly_dead"} <= set(t):
        keep = (pd.to_numeric(t["baseline_dead_zone"], errors="coerce").fillna(0) > 0) | (
            pd.to_numeric(t["newly_dead"], errors="coerce").fillna(0) > 0)
        if (~keep).any():
            note = (f'<p class="note">Not listed: {_communes(int((~keep).sum()))} with no '
                    f"dead-zone village at baseline and none now (see {_esc(name)}).</p>")
        t = t[keep]
        if "still_dead" in t.columns:
            t = t.sort_values("still_dead", ascending=False, kind="stable")
    return _table(t, cols, source=f"{name} of the progress folder") + note


def _fiber_section(d: Path, figure_uri: str | None = None) -> str:
    out = [f'<h2>Fiber rollout phases</h2><p class="note">from {_esc(d)}</p>']
    if figure_uri is not None:
        out.append(
            f'<figure><img alt="fiber rollout by phase" src="{figure_uri}"><figcaption>'
            "Routes coloured by phase (dashed: designed for later years), existing backbone "
            "(black squares), targets by status, commune outlines.</figcaption></figure>"
        )
    found = False
    currency = "VND"
    pj = d / "phases.json"
    if pj.is_file():
        found = True
        doc = _read_json(pj)
        currency = str((doc.get("params") or {}).get("currency") or currency)
        targets = doc.get("targets") or {}
        if targets:
            out.append(_kv_table((f"targets {k}", v) for k, v in targets.items()))
        designs = _fiber_designs(doc.get("designs") or {}, currency)
        if designs:
            out.append("<h3>Network designs</h3>")
            out.append(designs)
    if (d / "phases.csv").is_file():
        found = True
        out.append("<h3>Phases</h3>")
        out.append(_fiber_phases(_read_csv(d / "phases.csv"), currency))
    if not found:
        out.append('<p class="note">No fiber outputs (phases.csv / phases.json) found.</p>')
    return "\n".join(out)


def _fiber_designs(designs: dict[str, Any], currency: str) -> str:
    """The candidate network designs side by side, and the lower bound."""
    rows = []
    for name, x in designs.items():
        if isinstance(x, dict) and "km" in x:
            rows.append({"design": name, "km": x.get("km"), "road_km": x.get("road_km"),
                         "drop_km": x.get("drop_km"), "cost": x.get("cost"),
                         "targets_connected": x.get("targets_connected"),
                         "gap_pct": x.get("gap_pct")})
    if not rows:
        return ""
    t = pd.DataFrame(rows)
    for c in ("km", "road_km", "drop_km"):
        t[c] = pd.to_numeric(t[c], errors="coerce").round(1)
    t["cost"] = pd.to_numeric(t["cost"], errors="coerce").round(0)
    t["gap_pct"] = pd.to_numeric(t["gap_pct"], errors="coerce").round(1)
    t = t.rename(columns={"cost": f"cost ({currency})"})
    out = _table(t)
    bound = designs.get("lower_bound_cost")
    if isinstance(bound, (int, float)) and math.isfinite(bound):
        method = designs.get("lower_bound_method") or "lower bound"
        out += (f'<p class="note">No network can connect these targets for less than '
                f"{bound:,.0f} {_esc(currency)} ({_esc(method)}).</p>")
    return out


def _fiber_phases(t: pd.DataFrame, currency: str) -> str:
    """Yearly phases, rounded for reading (full precision in phases.csv)."""
    for c in ("km", "road_km", "drop_km"):
        if c in t.columns:
            t[c] = pd.to_numeric(t[c], errors="coerce").round(1)
    for c in ("cost", "households_reached"):
        if c in t.columns:
            t[c] = pd.to_numeric(t[c], errors="coerce").round(0)
    if "households_pct" in t.columns:
        t["households_pct"] = pd.to_numeric(t["households_pct"], errors="coerce").round(2)
    cols = ["phase", "km", "road_km", "drop_km", "cost", "targets_connected",
            "targets_connected_total", "households_reached", "households_pct"]
    if "communes_with_fiber_text" in t.columns and (
            t["communes_with_fiber_text"].astype(str) != "n/a").any():
        cols.append("communes_with_fiber_text")
    t = t.rename(columns={"cost": f"cost ({currency})"})
    cols = [f"cost ({currency})" if c == "cost" else c for c in cols]
    return _table(t, cols)


#: Columns of the report's proposed-sites table (costs in billion VND).
_SITE_COLUMNS = ("rank", "candidate_id", "site_id", "name", "tech", "power_option",
                 "backhaul", "backhaul_km", "total_bn_vnd", "villages_covered",
                 "new_villages", "population_covered", "households_covered", "cost_vnd")


def _placement_section(d: Path) -> str:
    out = [f'<h2>Proposed sites</h2><p class="note">from {_esc(d)}</p>']
    found = False
    if (d / "report.txt").is_file():
        found = True
        lines = (d / "report.txt").read_text(encoding="utf-8").splitlines()
        out.append("<ul>" + "".join(f"<li>{_esc(x)}</li>" for x in lines if x.strip()) + "</ul>")
    elif (d / "summary.json").is_file():
        found = True
        s = _read_json(d / "summary.json")
        keep = {k: v for k, v in s.items() if k not in ("parameters", "timings_s")}
        out.append(_kv_table(_flatten(keep)))
    if (d / "sites.csv").is_file():
        found = True
        out.append("<h3>Sites</h3>")
        sites = _read_csv(d / "sites.csv")
        # what a planner compares, in readable units; every column is in sites.csv
        for col, unit in (("total_vnd", 1e9), ("capex_vnd", 1e9), ("power_vnd", 1e9),
                          ("backhaul_vnd", 1e9)):
            if col in sites.columns:
                sites[col.replace("_vnd", "_bn_vnd")] = (
                    pd.to_numeric(sites[col], errors="coerce") / unit).round(2)
        if "backhaul_length_m" in sites.columns:
            sites["backhaul_km"] = (pd.to_numeric(sites["backhaul_length_m"], errors="coerce")
                                    / 1000.0).round(1)
        cols = [c for c in _SITE_COLUMNS if c in sites.columns]
        out.append(_table(sites, cols or None))
        if cols and len(cols) < len(sites.columns):
            out.append(f'<p class="note">{len(sites.columns) - len(cols)} more columns '
                       "(village ids, coordinates, heights, ...) are in sites.csv.</p>")
    if not found:
        out.append('<p class="note">No placement outputs (sites.csv / summary.json) found.</p>')
    out.append(_hop_section(d))
    return "\n".join(out)


#: Plan years and sites in the report, in billions of VND.
# (at most 10 columns: a table of more prints in small type)
_PLAN_YEAR_COLUMNS = ("year", "connected_new", "households_new", "connected",
                      "capex_bn_vnd", "running_bn_vnd", "spend_bn_vnd", "budget_bn_vnd",
                      "npv_to_date_bn_vnd", "covered_villages_reaudited")
_PLAN_SITE_COLUMNS = ("option_id", "kind", "year", "power", "backhaul", "backhaul_km",
                      "capex_bn_vnd", "npv_bn_vnd", "villages_connected", "households_connected")


def _in_bn(df: pd.DataFrame) -> pd.DataFrame:
    """Money columns (``*_vnd``) also as billions of VND, 2 decimals."""
    df = df.copy()
    for col in [c for c in df.columns if c.endswith("_vnd")]:
        df[col.replace("_vnd", "_bn_vnd")] = (pd.to_numeric(df[col], errors="coerce")
                                              / 1e9).round(2)
    return df


def _plan_section(d: Path) -> str:
    """``deadzone plan``: its summary lines, the years, the sites by kind, the
    sites themselves and the costs it used."""
    out = [f'<h2>Programme plan</h2><p class="note">from {_esc(d)}</p>']
    lines = (d / "report.txt").read_text(encoding="utf-8").splitlines()
    out.append("<ul>" + "".join(f"<li>{_esc(x.strip())}</li>" for x in lines
                                if x.strip() and not x.startswith("  ")) + "</ul>")
    years = _in_bn(_read_csv(d / "plan_years.csv"))
    years["year"] = years["year"].astype(str)  # 2027, not 2,027
    years["connected"] = [f"{a:,}/{b:,}" for a, b in
                          zip(years["connected_cumulative"], years["dead_zone_villages"],
                              strict=True)]
    out.append("<h3>By year</h3>")
    out.append(_table(years, _PLAN_YEAR_COLUMNS, source="plan_years.csv"))
    sites = _in_bn(_read_csv(d / "plan_sites.csv"))
    if len(sites):
        sites["backhaul_km"] = (pd.to_numeric(sites["backhaul_length_m"], errors="coerce")
                                / 1000.0).round(1)
        kinds = sites.groupby("kind", sort=False).agg(
            sites=("option_id", "size"), villages_connected=("villages_connected", "sum"),
            households_connected=("households_connected", "sum"),
            capex_bn_vnd=("capex_bn_vnd", "sum"), npv_bn_vnd=("npv_bn_vnd", "sum"),
        ).reset_index()
        kinds[["capex_bn_vnd", "npv_bn_vnd"]] = kinds[["capex_bn_vnd", "npv_bn_vnd"]].round(2)
        out.append("<h3>By option</h3>")
        out.append(_table(kinds))
        terr = sites[sites["kind"] != "satellite"].copy()
        terr["year"] = terr["year"].astype(str)
        terr["power"] = [
            f"solar {kwp:.1f} kWp, {kwh:.0f} kWh" if p == "solar"
            else ((f"grid, {d / 1000:.1f} km line" if d >= 50 else "grid, in the village")
                  if p == "grid" else str(p))
            for p, kwp, kwh, d in zip(terr["power_option"], terr["pv_kwp"], terr["battery_kwh"],
                                      terr["grid_distance_m"], strict=True)]
        out.append("<h3>New sites</h3>")
        out.append('<p class="note">Satellite terminals are counted above; each is a row of '
                   "plan_sites.csv with its village.</p>")
        out.append(_table(terr, _PLAN_SITE_COLUMNS, max_rows=100, source="plan_sites.csv"))
    out.append(_hop_section(d))
    s = _read_json(d / "plan_summary.json")
    costs = s.get("costs") or {}
    out.append("<h3>Costs used</h3>")
    out.append('<p class="note">VND of the plan\'s first year; the same values are in '
               "plan_costs.toml (pass it back with --costs).</p>")
    out.append(_kv_table(_flatten(costs)))
    return "\n".join(out)


#: Hop figures drawn in a report (every hop is in hops.csv and hop_profiles.csv).
MAX_HOP_FIGURES = 30


def hop_profile_from_tables(hop: pd.Series, samples: pd.DataFrame) -> Any:
    """A :class:`~deadzone.geo.link.LinkProfile` rebuilt from a row of a plan's
    ``hops.csv`` and that hop's rows of ``hop_profiles.csv``."""
    from deadzone.geo.link import LinkEnd, LinkProfile
    from deadzone.kernels.link import Clearance

    x = samples["distance_m"].to_numpy(dtype=np.float64)
    a = LinkEnd("point", str(hop["option_id"]), f"site {hop['option_id']}",
                float(hop["site_lon"]), float(hop["site_lat"]), math.nan, math.nan,
                float(hop["site_height_m"]))
    b = LinkEnd("point", str(hop["anchor"]), str(hop["anchor"]), float(hop["anchor_lon"]),
                float(hop["anchor_lat"]), math.nan, math.nan, float(hop["anchor_height_m"]))
    idx = int(np.argmin(np.abs(x - float(hop["worst_distance_m"])))) if x.size else 0
    worst = Clearance(fraction=float(hop["clearance_f1"]), index=idx,
                      distance_m=float(hop["worst_distance_m"]),
                      ground_m=float(hop["worst_ground_m"]),
                      clearance_m=float(hop["worst_clearance_m"]), f1_m=float(hop["worst_f1_m"]))
    ground = samples["ground_m"].to_numpy(dtype=np.float64)
    return LinkProfile(
        a=a, b=b, freq_mhz=float(hop["freq_mhz"]), k_factor=float(hop["k_factor"]),
        model="fspl", distance_m=float(hop["distance_m"]),
        step_m=float(x[1] - x[0]) if x.size > 1 else 0.0, distance_axis_m=x, ground_m=ground,
        bulge_m=samples["bulge_m"].to_numpy(dtype=np.float64),
        los_m=samples["los_m"].to_numpy(dtype=np.float64),
        f1_m=samples["f1_m"].to_numpy(dtype=np.float64),
        clearance_m=samples["clearance_m"].to_numpy(dtype=np.float64), worst=worst,
        loss_db=float(hop["free_space_db"]), free_space_db=float(hop["free_space_db"]),
        mode="los")


def _hop_section(d: Path) -> str:
    """The plan's microwave hops: a table and one profile figure per hop."""
    from deadzone.maps.link_figure import link_figure

    if not (d / "hops.csv").is_file():
        return ""
    hops = _read_csv(d / "hops.csv")
    if not len(hops):
        return '<h3>Microwave hops</h3><p class="note">No planned site uses a microwave hop.</p>'
    prof = _read_csv(d / "hop_profiles.csv")
    t = hops.copy()
    dated = "year" in t.columns and t["year"].notna().all()
    if dated:
        t["year"] = t["year"].astype(int).astype(str)
    t["distance_km"] = (t["distance_m"] / 1000.0).round(2)
    t["clearance_F1"] = t["clearance_f1"].round(2)
    t["availability_pct"] = [f"{v:.4f}" for v in t["availability_pct"]]  # not 100.00
    t["fade_margin_db"] = t["fade_margin_db"].round(1)
    out = ["<h3>Microwave hops</h3>",
           '<p class="note">Each hop keeps 60% of the first Fresnel zone clear (k = '
           f"{float(hops['k_factor'].iloc[0]):.3g}) and reaches "
           f"{float(hops['target_pct'].iloc[0]):g}% availability (rain and multipath, "
           "ITU-R P.530); the profiles are the village engine's, in hop_profiles.csv.</p>",
           _table(t, ("option_id", "year", "anchor", "distance_km", "clearance_F1",
                      "availability_pct", "fade_margin_db"), source="hops.csv")]
    with tempfile.TemporaryDirectory(prefix="deadzone-hops-") as tmp:
        for i, (_, h) in enumerate(hops.head(MAX_HOP_FIGURES).iterrows()):
            samples = prof[prof["option_id"].astype(str) == str(h["option_id"])]
            p = hop_profile_from_tables(h, samples)
            lines = ([f"built {int(h['year'])}"] if dated else []) + [
                     f"{float(h['distance_m']) / 1000:.2f} km at "
                     f"{float(h['freq_mhz']) / 1000:g} GHz",
                     f"clearance {float(h['clearance_f1']):.2f} F1",
                     f"availability {float(h['availability_pct']):.4f} %",
                     f"fade margin {float(h['fade_margin_db']):.1f} dB"]
            png = link_figure(p, Path(tmp) / f"hop{i}.png", summary_lines=lines)[0]
            out.append(f'<figure class="keep"><img alt="hop {_esc(h["option_id"])}" '
                       f'src="{_png_data_uri(png)}"></figure>')
    if len(hops) > MAX_HOP_FIGURES:
        out.append(f'<p class="note">{MAX_HOP_FIGURES} of {len(hops)} hops drawn; every '
                   "profile is in hop_profiles.csv.</p>")
    return "\n".join(out)


def _legend() -> str:
    return " ".join(
        f'<span class="swatch" style="background:{c}"></span>{_esc(s)}'
        for s, c in STATUS_COLORS.items()
    )


def build_report(
    audit_dir: str | os.PathLike[str],
    *,
    progress_dir: str | os.PathLike[str] | None = None,
    fiber_dir: str | os.PathLike[str] | None = None,
    placement_dir: str | os.PathLike[str] | None = None,
    plan_dir: str | os.PathLike[str] | None = None,
    scenario: Scenario | None = None,
    title: str | None = None,
) -> str:
    """Build the self-contained HTML report of an audit folder.

    Parameters
    ----------
    audit_dir : path
        Audit output folder (``villages.csv``, ``communes.csv``,
        ``provinces.csv``, ``summary.json``; ``coverage.tif`` for the map figure).
    progress_dir, fiber_dir, placement_dir, plan_dir : path, optional
        Output folders of ``deadzone progress``, ``deadzone fiber``,
        ``deadzone place`` and ``deadzone plan``; their summary tables are
        added when given.
    scenario : Scenario, optional
        Used only to draw the towers on the coverage figure.
    title : str, optional
        Page title (default: "Coverage audit: <scenario name>").

    Returns
    -------
    str
        The HTML document (UTF-8 text, no external references).

    Raises
    ------
    DataLoadError
        If a folder or a required file is missing or unreadable.
    """
    a = read_audit_folder(audit_dir)
    prog = _folder(progress_dir, "progress", "--progress")
    fib = _folder(fiber_dir, "fiber", "--fiber")
    plc = _folder(placement_dir, "placement", "--placement")
    pln = _folder(plan_dir, "plan", "--plan")
    # each folder is one run (its summary lists every other file's checksum)
    for d, summary, command in ((prog, "progress_summary.json", "progress"),
                                (fib, "phases.json", "fiber"), (plc, "summary.json", "place"),
                                (pln, "plan_summary.json", "plan")):
        if d is not None:
            verify_folder(d, summary, command=command)
    s = a.summary
    name = str(s.get("scenario") or a.path.name)
    page_title = title or f"Coverage audit: {name}"
    with tempfile.TemporaryDirectory(prefix="deadzone-report-") as tmp:
        cov_png = coverage_figure(a, scenario, Path(tmp) / "coverage.png", title=name)
        bar_png = commune_bar_chart(a.communes, Path(tmp) / "communes.png",
                                    max_communes=CHART_COMMUNES)
        cov_uri, bar_uri = _png_data_uri(cov_png), _png_data_uri(bar_png)
        fib_uri = None
        if fib is not None and (fib / "routes.gpkg").is_file():
            communes_gpkg = a.path / "communes.gpkg"
            fib_png = fiber_figure(
                fib,
                Path(tmp) / "fiber.png",
                communes=communes_gpkg if communes_gpkg.is_file() else None,
            )
            fib_uri = _png_data_uri(fib_png)
    lines = summary_lines(s)
    params = s.get("parameters") or {}
    thr = params.get("thresholds") or {}
    prov_items = [
        ("scenario", name),
        ("deadzone version", s.get("deadzone_version", "")),
        ("propagation model", params.get("model", "")),
        ("radius (km)", params.get("radius_km", "")),
        (
            "covered thresholds (dBm)",
            ", ".join(f"{k} {dbm_text(v)}" for k, v in (thr.get("covered_dbm") or {}).items()),
        ),
        (
            "marginal thresholds (dBm)",
            ", ".join(f"{k} {dbm_text(v)}" for k, v in (thr.get("marginal_dbm") or {}).items()),
        ),
        ("indoor margin (dB)", thr.get("indoor_margin_db", "")),
        *([(f"confidence margin (dB, {thr['confidence_pct']:g}% of locations)",
            thr.get("confidence_margin_db", ""))] if thr.get("confidence_pct") else []),
        ("towers (computed / total)", f"{s.get('towers_computed', '')} / {s.get('towers', '')}"),
        ("audit folder", str(a.path)),
    ]
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<!DOCTYPE html>",
        '<html lang="vi"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(page_title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_esc(page_title)}</h1>",
        f'<p class="note">generated {_esc(stamp)} by deadzone report</p>',
        "<h2>Summary</h2>",
        '<ul class="summary">' + "".join(f"<li>{_esc(x)}</li>" for x in lines) + "</ul>",
        _tech_section(s),
        # a heading stays on the page of its figure (no heading over a blank half page)
        '<section class="keep"><h2>Coverage map</h2>',
        f'<figure><img alt="coverage map" src="{cov_uri}"><figcaption>{_legend()}; '
        + _map_caption(s) + "</figcaption></figure></section>",
        '<section class="keep"><h2>Coverage per commune</h2>',
        f'<figure><img alt="villages covered per commune" src="{bar_uri}"></figure></section>',
        _province_section(a),
        _commune_sections(a),
        _reason_section(a),
    ]
    if prog is not None:
        body.append(_progress_section(prog))
    if plc is not None:
        body.append(_placement_section(plc))
    if pln is not None:
        body.append(_plan_section(pln))
    if fib is not None:
        body.append(_fiber_section(fib, fib_uri))
    body += ["<h2>Parameters and provenance</h2>", _kv_table(prov_items), "</body></html>"]
    return "\n".join(x for x in body if x) + "\n"


def _map_caption(summary: dict[str, Any]) -> str:
    """What the coverage map's raster is, for the figure the audit draws: one
    technology's metric on a colour bar, or (several) each cell's status class."""
    techs = list((summary.get("by_technology") or {}).keys())
    if len(techs) == 1:
        return ("the raster is the metric the village statuses use (received level for "
                "2G/3G, RSRP for 4G/5G, named on the colour bar; lines on the colour bar: "
                "covered (solid) and marginal (dashed) thresholds).")
    return ("the raster is each cell's status class by the audit's rule for each "
            f"technology ({', '.join(techs) or 'none'}), the best over the technologies, "
            "as the village statuses are decided.")


class PdfConverterError(DeadzoneError, RuntimeError):
    """No HTML-to-PDF converter (headless Chromium) was found, or it failed."""


#: Executables tried, in order, for ``--print-to-pdf`` (``DEADZONE_CHROMIUM`` first).
PDF_CONVERTERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


_NO_CONVERTER = (
    "no PDF converter found: install Chromium (apt-get install chromium) or set "
    "DEADZONE_CHROMIUM to a Chrome/Chromium binary; the HTML report needs none"
)


def find_pdf_converter() -> str | None:
    """Path of a headless Chromium usable for PDF output, or None.

    ``$DEADZONE_CHROMIUM`` (a path or a name on ``PATH``) wins over
    :data:`PDF_CONVERTERS`.
    """
    env = os.environ.get("DEADZONE_CHROMIUM")
    for name in ([env] if env else []) + list(PDF_CONVERTERS):
        found = shutil.which(name)
        if found:
            return found
    return None


def html_to_pdf(
    html_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str],
    *,
    timeout_s: float = 180.0,
) -> Path:
    """Print a local HTML file to PDF with headless Chromium (``--print-to-pdf``).

    Chromium runs with a throw-away profile and with DNS disabled, so the
    page cannot reach the network (the report needs none).

    Raises
    ------
    PdfConverterError
        No Chromium was found (one-line message with the install hint), or it
        failed or produced no PDF.
    """
    exe = find_pdf_converter()
    if exe is None:
        raise PdfConverterError(_NO_CONVERTER)
    src = Path(html_path).resolve()
    out = Path(pdf_path)
    with tempfile.TemporaryDirectory(prefix="deadzone-pdf-") as profile, atomic_path(out) as tmp:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--no-pdf-header-footer",
            "--virtual-time-budget=10000",
            f"--print-to-pdf={Path(tmp).resolve()}",
            src.as_uri(),
        ]
        try:
            run = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfConverterError(f"{exe} could not print {src} to PDF ({exc})") from None
        ok = Path(tmp).is_file() and Path(tmp).read_bytes()[:5] == b"%PDF-"
        if run.returncode != 0 or not ok:
            tail = " ".join(run.stderr.split())[-300:]
            raise PdfConverterError(
                f"{exe} failed to print {src} to PDF (exit {run.returncode}): {tail}"
            )
    return out


def write_report(
    audit_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    pdf: bool = False,
    **kwargs: Any,
) -> Path:
    """Write :func:`build_report` to ``out_path`` atomically (UTF-8), or as PDF.

    Parameters
    ----------
    audit_dir : path
        Audit output folder.
    out_path : path
        File to write: HTML, or PDF when it ends in ``.pdf``.
    overwrite : bool
        Replace existing files.
    pdf : bool
        Also print the HTML to ``<out_path stem>.pdf`` beside it.
    **kwargs
        Keyword options of :func:`build_report`.

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    OutputExistsError
        An output exists and ``overwrite`` is false.
    PdfConverterError
        A PDF was asked for and no headless Chromium is available (checked
        before any work is done).
    """
    out = Path(out_path)
    as_pdf = out.suffix.lower() == ".pdf"
    pdf_out = out if as_pdf else (out.with_suffix(".pdf") if pdf else None)
    for target in [t for t in (out, pdf_out) if t is not None]:
        if target.exists() and not overwrite:
            raise OutputExistsError(f"{target} already exists; pass --overwrite to replace it")
    if pdf_out is not None and find_pdf_converter() is None:
        raise PdfConverterError(_NO_CONVERTER)
    text = build_report(audit_dir, **kwargs)
    if as_pdf:
        with tempfile.TemporaryDirectory(prefix="deadzone-report-") as tmp:
            page = Path(tmp) / f"{out.stem}.html"
            page.write_text(text, encoding="utf-8")
            html_to_pdf(page, out)
        return out
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    if pdf_out is not None:
        html_to_pdf(out, pdf_out)
    return out
