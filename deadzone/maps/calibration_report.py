"""The calibration report: one offline HTML page with the figures a planner
checks a calibration by (predicted vs measured, residual vs log-distance,
residual histogram with the fitted normal, residual map) and the error
tables per technology, tower, distance band and clutter class.

Drawn with matplotlib's object API on an Agg canvas; figures are inlined as
PNG data URIs, so the page needs nothing beside itself.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.data.io import atomic_path
from deadzone.maps.report import _CSS, _esc, _kv_table, _table

__all__ = ["calibration_figures", "write_calibration_report"]

DPI = 110


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _uri(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _density(ax: Any, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], *,
             log_x: bool = False) -> None:
    """Points, or hexagonal bins of counts when there are many."""
    if log_x:
        ax.set_xscale("log")
    if len(x) > 3000:
        hb = ax.hexbin(x, y, gridsize=(60, 30), mincnt=1, bins="log", cmap="viridis",
                       xscale="log" if log_x else "linear")
        ax.figure.colorbar(hb, ax=ax, label="samples (log)")
    else:
        ax.scatter(x, y, s=6, alpha=0.5, color="#2b83ba", edgecolors="none")


def calibration_figures(samples: pd.DataFrame, *, calibrated: bool) -> dict[str, str]:
    """The four figures as PNG data URIs, by name.

    Parameters
    ----------
    samples : DataFrame
        ``CalibrationResult.samples`` (``use``, ``measured_dbm``,
        ``predicted_dbm``, ``residual_db``, ``distance_m``, ``x_m``,
        ``y_m``, and ``calibrated_dbm`` / ``residual_cal_db``).
    calibrated : bool
        Draw the calibrated prediction beside the uncalibrated one.
    """
    s = samples[samples["use"]]
    meas = s["measured_dbm"].to_numpy(dtype=np.float64)
    pred = s["predicted_dbm"].to_numpy(dtype=np.float64)
    res = s["residual_db"].to_numpy(dtype=np.float64)
    cal = s["calibrated_dbm"].to_numpy(dtype=np.float64) if calibrated else None
    res_c = s["residual_cal_db"].to_numpy(dtype=np.float64) if calibrated else None
    out: dict[str, str] = {}
    if not len(s):
        return out

    # predicted vs measured
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot()
    _density(ax, pred if cal is None else cal, meas)
    lo = float(np.nanmin([pred.min(), meas.min()]))
    hi = float(np.nanmax([pred.max(), meas.max()]))
    ax.plot([lo, hi], [lo, hi], color="#d7191c", lw=1, label="measured = predicted")
    ax.set_xlabel(("calibrated " if cal is not None else "") + "predicted (dBm)")
    ax.set_ylabel("measured (dBm)")
    ax.set_title("Predicted vs measured")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out["scatter"] = _uri(fig)

    # residual vs log-distance, with the binned mean
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    d_km = np.maximum(s["distance_m"].to_numpy(dtype=np.float64), 1.0) / 1000.0
    r = res if res_c is None else res_c
    _density(ax, d_km, r, log_x=True)
    edges = np.logspace(np.log10(d_km.min()), np.log10(d_km.max() * 1.0001), 13)
    which = np.digitize(d_km, edges) - 1
    mids, means = [], []
    for b in range(len(edges) - 1):
        sel = which == b
        if sel.sum() >= 5:
            mids.append(math.sqrt(edges[b] * edges[b + 1]))
            means.append(float(np.mean(r[sel])))
    ax.plot(mids, means, color="#d7191c", marker="o", lw=1.5, label="mean per distance bin")
    ax.axhline(0.0, color="#444", lw=0.8)
    ax.set_xlabel("distance to the serving tower (km, log scale)")
    ax.set_ylabel(("calibrated " if res_c is not None else "") + "residual (dB)")
    ax.set_title("Residual (measured - predicted) vs distance")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out["distance"] = _uri(fig)

    # histogram with the fitted normal
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    series = [("uncalibrated", res, "#fdae61")]
    if res_c is not None:
        series.append(("calibrated", res_c, "#2b83ba"))
    lo, hi = float(np.percentile(res, 0.5)), float(np.percentile(res, 99.5))
    if res_c is not None:
        lo = min(lo, float(np.percentile(res_c, 0.5)))
        hi = max(hi, float(np.percentile(res_c, 99.5)))
    bins = np.linspace(lo, hi, 50)
    xs = np.linspace(lo, hi, 200)
    for label, v, colour in series:
        mu, sd = float(np.mean(v)), float(np.std(v))
        ax.hist(v, bins=bins, density=True, alpha=0.45, color=colour,
                label=f"{label}: mean {mu:+.1f} dB, sd {sd:.1f} dB")
        if sd > 0:
            ax.plot(xs, np.exp(-0.5 * ((xs - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
                    color=colour, lw=2)
    ax.set_xlabel("residual (dB)")
    ax.set_ylabel("density")
    ax.set_title("Residuals and the fitted normal")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    out["histogram"] = _uri(fig)

    # residual map (projected metres of the DEM)
    fig = _figure(6.0, 5.5)
    ax = fig.add_subplot()
    lim = max(float(np.percentile(np.abs(r), 98)), 1.0)
    sc = ax.scatter(s["x_m"] / 1000.0, s["y_m"] / 1000.0, c=r, s=5, cmap="RdBu",
                    vmin=-lim, vmax=lim, edgecolors="none")
    fig.colorbar(sc, ax=ax, label=("calibrated " if res_c is not None else "")
                 + "residual (dB); red: measured lower")
    ax.set_aspect("equal")
    ax.set_xlabel("x (km, DEM CRS)")
    ax.set_ylabel("y (km, DEM CRS)")
    ax.set_title("Where the model is off")
    fig.tight_layout()
    out["map"] = _uri(fig)
    return out


def write_calibration_report(
    path: str | Path,
    *,
    summary: dict[str, Any],
    samples: pd.DataFrame,
    candidates: pd.DataFrame,
    errors: pd.DataFrame,
    confusion: pd.DataFrame | None = None,
) -> Path:
    """Write ``report.html`` of a ``deadzone calibrate`` folder.

    Parameters
    ----------
    path : str or Path
        The page to write.
    summary : dict
        ``calibration.json``'s content.
    samples, candidates, errors : DataFrame
        The rows of ``residuals.csv``, ``candidates.csv`` and ``errors.csv``.
    confusion : DataFrame, optional
        ``confusion.csv`` (measured against predicted village status).
    """
    calibrated = bool(summary.get("applied"))
    figs = calibration_figures(samples, calibrated=calibrated)
    cal = summary.get("calibration") or {}
    meas = summary.get("measurements") or {}
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>deadzone calibration</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Predictions against measurements</h1>",
        f"<ul class='summary'><li>{_esc(summary.get('result', ''))}</li>",
        f"<li>{meas.get('n_used', 0):,} of {meas.get('n_samples', 0):,} samples used "
        f"({_esc(meas.get('path', ''))})</li>",
        f"<li>uncalibrated {_esc(summary.get('configured_model', ''))}: RMSE "
        f"{_num(summary.get('uncalibrated_rmse_db'))} dB, mean error "
        f"{_num(summary.get('uncalibrated_mean_db'))} dB</li></ul>",
    ]
    if calibrated:
        parts.append("<h2>Calibration applied</h2>")
        parts.append(_kv_table([
            ("model", cal.get("model")),
            ("fit", cal.get("fit")),
            *[(f"offset {k} (dB)", v) for k, v in (cal.get("offsets_db") or {}).items()],
            *[(f"slope {k} (dB per decade of km)", v)
              for k, v in (cal.get("slopes_db_per_decade") or {}).items()],
            *[(f"clutter {k} (dB, vs {cal.get('clutter_reference')})", v)
              for k, v in (cal.get("clutter_offsets_db") or {}).items()],
            ("residual sigma (dB)", cal.get("sigma_db")),
        ]))
    parts.append("<h2>Candidates (spatially blocked cross-validation)</h2>")
    cv = summary.get("cross_validation") or {}
    parts.append(
        f"<p class='note'>{cv.get('folds', 0)} folds of {cv.get('block_km', 0):g} km square "
        "blocks: a sample is always predicted by a fit that never saw its block. "
        "RMSE and mean are over the held-out samples.</p>"
    )
    parts.append(_table(candidates))
    names = {
        "scatter": "Predicted vs measured",
        "distance": "Residual vs distance",
        "histogram": "Residual histogram",
        "map": "Residual map",
    }
    parts.append("<h2>Figures</h2>")
    for key, title in names.items():
        if key in figs:
            parts.append(f"<figure><img alt='{_esc(title)}' src='{figs[key]}'>"
                         f"<figcaption>{_esc(title)}</figcaption></figure>")
    parts.append("<h2>Errors</h2>")
    for by, title in (("tech", "per technology"), ("distance_band", "per distance band"),
                      ("clutter", "per clutter class"), ("predicted_tower_id", "per tower")):
        t = errors[errors["by"] == by].drop(columns=["by"])
        if len(t):
            parts.append(f"<h3>{_esc(title)}</h3>")
            parts.append(_table(t, source="errors.csv"))
    if confusion is not None and len(confusion):
        vs = summary.get("villages") or {}
        parts.append("<h2>Villages: measured against predicted status</h2>")
        parts.append(
            f"<p class='note'>{vs.get('with_samples', 0):,} of {vs.get('total', 0):,} villages "
            f"have samples within {vs.get('radius_m', 0):g} m; their measured status is the "
            "audit's rule on the median sample. Villages that disagree are listed, by "
            "commune, in field_visits.csv. A drive records only where a phone hears a "
            "tower: a village without service has no samples (no_samples), not "
            "measured-dead ones.</p>")
        for label in confusion["prediction"].unique():
            t = confusion[(confusion["prediction"] == label) & (confusion["commune_id"] == "all")]
            m = t.pivot_table(index="measured", columns="predicted", values="villages",
                              aggfunc="sum", fill_value=0)
            m = m.reset_index().rename(columns={"measured": f"measured \\ {label}"})
            parts.append(f"<h3>{_esc(label)} prediction</h3>")
            parts.append(_table(m, source="confusion.csv"))
    notes = summary.get("not_used") or {}
    if notes:
        parts.append("<h2>Samples not used</h2>")
        parts.append(_kv_table(sorted(notes.items())))
    parts.append("</body></html>")
    out = Path(path)
    with atomic_path(out) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return out


def _num(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(f) else f"{f:.2f}"
