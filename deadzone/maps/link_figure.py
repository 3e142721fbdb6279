"""The figure of a point-to-point link (``deadzone link``): the terrain with
the earth bulge, the line of sight, the first Fresnel zone and its 60 %
clearance line, the worst obstruction and a summary box; PNG and SVG for a
planner's report.

matplotlib's object API on an Agg canvas (as :mod:`deadzone.maps.figures`),
files written atomically.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from deadzone.data.io import atomic_path
from deadzone.geo.link import CLEARANCE_RULE, LinkProfile

__all__ = ["link_figure"]

DPI = 150
_TERRAIN = "#b08d57"
_TERRAIN_EDGE = "#6b5432"
_LOS = "#1f4e9c"
_FRESNEL = "#8fb8e8"
_RULE = "#e07b00"
_BLOCK = "#c62828"
_CLEAR = "#2e7d32"


def link_figure(
    profile: LinkProfile,
    png_path: str | os.PathLike[str],
    *,
    svg_path: str | os.PathLike[str] | None = None,
    summary_lines: list[str] | None = None,
) -> list[Path]:
    """Draw a link's profile to ``png_path`` (150 dpi) and ``svg_path``.

    Parameters
    ----------
    profile : LinkProfile
        From :func:`deadzone.geo.link.link_profile`.
    png_path, svg_path : path
        Output files (SVG optional).
    summary_lines : list of str, optional
        Text of the summary box (:func:`deadzone.geo.link.summary_lines`).

    Returns
    -------
    list of Path
        The files written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 6.2), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.07, 0.2, 0.6, 0.69))
    p = profile
    x = p.distance_axis_m / 1000.0
    ground = p.ground_m + p.bulge_m
    bottom = float(min(ground.min(), (p.los_m - p.f1_m).min()))
    top = float(max(ground.max(), (p.los_m + p.f1_m).max()))
    pad = max(0.08 * (top - bottom), 10.0)
    floor = bottom - pad
    ax.fill_between(x, floor, ground, color=_TERRAIN, alpha=0.85, lw=0,
                    label=f"terrain + earth bulge (k = {p.k_factor:.3g})")
    ax.plot(x, ground, color=_TERRAIN_EDGE, lw=0.9)
    ax.plot(x, p.ground_m, color=_TERRAIN_EDGE, lw=0.6, ls=":", label="terrain (flat earth)")
    ax.fill_between(x, p.los_m - p.f1_m, p.los_m + p.f1_m, color=_FRESNEL, alpha=0.35, lw=0,
                    label="first Fresnel zone F1")
    ax.plot(x, p.los_m - CLEARANCE_RULE * p.f1_m, color=_RULE, lw=1.2, ls="--",
            label=f"{CLEARANCE_RULE:.0%} of F1 (clearance rule)")
    ax.plot(x, p.los_m, color=_LOS, lw=1.6, label="line of sight")
    # masts
    for xe, z, h, name, side in ((x[0], p.ground_m[0], p.a.height_m, p.a.label, "left"),
                                 (x[-1], p.ground_m[-1], p.b.height_m, p.b.label, "right")):
        ax.plot([xe, xe], [z, z + h], color="black", lw=2.2, solid_capstyle="butt")
        ax.plot([xe], [z + h], marker="v", color="black", ms=7)
        ax.annotate(f"{name}\n{h:g} m above ground", (xe, z + h), textcoords="offset points",
                    xytext=(4 if side == "left" else -4, 10), ha=side, va="bottom",
                    fontsize=8.5,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                          "alpha": 0.8})
    w = p.worst
    if np.isfinite(w.distance_m):
        xw = w.distance_m / 1000.0
        yw = float(ground[w.index]) if 0 <= w.index < ground.size else w.ground_m
        mark = _CLEAR if p.clear else _BLOCK
        ax.plot([xw, xw], [yw, yw + w.clearance_m], color=mark, lw=1.4)
        ax.plot([xw], [yw], marker="o", ms=8, mfc="none", mec=mark, mew=2.0, ls="none",
                label="worst point" if p.clear else "worst obstruction")
        right = xw - x[0] < 0.6 * (x[-1] - x[0])  # text to the right of the point
        verdict = ("clear" if p.clear else
                   "blocks the line of sight" if w.clearance_m < 0 else "inside 60% of F1")
        ax.annotate(f"{verdict}\n{xw:.2f} km, ground {w.ground_m:.0f} m\n"
                    f"clearance {w.clearance_m:+.1f} m = {w.fraction:+.2f} F1",
                    (xw, yw), textcoords="offset points",
                    xytext=(12, -38) if right else (-12, -38), fontsize=8.5,
                    color=mark, ha="left" if right else "right",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                          "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "color": mark, "lw": 0.8})
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(floor, top + 3.0 * pad)
    ax.set_xlabel(f"distance from {p.a.label} (km)")
    ax.set_ylabel("height above sea level (m)")
    ax.grid(True, color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8,
              frameon=False)
    fig.suptitle(f"{p.a.label}  \u2192  {p.b.label}", fontsize=12, x=0.39, y=0.975)
    ax.set_title(f"{p.distance_m / 1000.0:.2f} km, {p.freq_mhz:g} MHz, terrain profile at "
                 f"{p.step_m:.1f} m steps", fontsize=9.5, color="#444444")
    if summary_lines:
        fig.text(0.695, 0.89, "\n".join(summary_lines), va="top", ha="left", fontsize=8.2,
                 family="monospace", linespacing=1.45,
                 bbox={"boxstyle": "round,pad=0.6", "fc": "#f7f7f7", "ec": "#999999"})
    written = [_save(fig, png_path, "png")]
    if svg_path is not None:
        written.append(_save(fig, svg_path, "svg"))
    return written


def _save(fig: Any, path: str | os.PathLike[str], fmt: str) -> Path:
    out = Path(path)
    with warnings.catch_warnings():
        # a village name with a glyph the font lacks is drawn as a box
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=DPI)
    return out
