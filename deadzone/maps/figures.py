"""Static figures for reports: coverage map, per-commune coverage bars, fiber phases.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no display,
no global backend state), written atomically as PNG at 150 dpi.  Both
functions accept either in-memory results or the files of an audit folder
(``deadzone audit`` / ``deadzone demo`` output), so the report can be
rebuilt from disk alone.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.data.io import atomic_path
from deadzone.errors import DataLoadError, SchemaError
from deadzone.model.thresholds import STATUS_COLORS, dbm_text

if TYPE_CHECKING:
    from deadzone.geo.audit import AuditResult
    from deadzone.model.scenario import Scenario

__all__ = [
    "AuditFolder",
    "STATUS_COLORS",
    "commune_bar_chart",
    "coverage_figure",
    "fiber_figure",
    "read_audit_folder",
    "status_thresholds_dbm",
]

DPI = 150
_F = TypeVar("_F", bound=Callable[..., Any])
_STATUS_MARKERS = {"covered": "o", "marginal": "D", "dead": "X", "unknown": "s"}
#: Files of an audit folder the report and figures read.
REQUIRED_AUDIT_FILES: tuple[str, ...] = (
    "villages.csv",
    "communes.csv",
    "provinces.csv",
    "summary.json",
)
#: Longest raster side drawn (cells); larger rasters are read decimated.
MAX_RASTER_SIDE = 1200


@dataclass
class AuditFolder:
    """The tables of an audit output folder, read back.

    Attributes
    ----------
    path : Path
        The folder.
    villages : DataFrame
        ``villages.csv`` (``lon``/``lat`` in EPSG:4326, ``status``, ...).
    communes, provinces : DataFrame
        ``communes.csv`` / ``provinces.csv``.
    summary : dict
        ``summary.json``.
    coverage_tif : Path or None
        ``coverage.tif`` (best received power, dBm) when present.
    """

    path: Path
    villages: pd.DataFrame
    communes: pd.DataFrame
    provinces: pd.DataFrame
    summary: dict[str, Any]
    coverage_tif: Path | None


def read_audit_folder(path: str | os.PathLike[str]) -> AuditFolder:
    """Read the tables of an audit folder written by :func:`deadzone.geo.export.write_audit`.

    Raises
    ------
    DataLoadError
        If the folder or one of :data:`REQUIRED_AUDIT_FILES` is missing or unreadable.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataLoadError(f"audit folder {folder} does not exist or is not a folder")
    missing = [n for n in REQUIRED_AUDIT_FILES if not (folder / n).is_file()]
    if missing:
        raise DataLoadError(
            f"{folder} is not an audit folder: missing {', '.join(missing)} "
            "(write one with `deadzone audit` or `deadzone demo`)"
        )
    tables: dict[str, pd.DataFrame] = {}
    from deadzone.geo.export import verify_audit_folder

    verify_audit_folder(folder)
    for name in ("villages.csv", "communes.csv", "provinces.csv"):
        try:
            tables[name] = pd.read_csv(
                folder / name,
                encoding="utf-8-sig",
                keep_default_na=False,
                na_values=[""],
                dtype={"village_id": str, "commune_id": str, "name": str, "province": str},
            )
        except (ValueError, OSError) as exc:
            raise DataLoadError(f"{folder / name}: cannot read CSV ({exc})") from exc
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DataLoadError(f"{folder / 'summary.json'}: cannot read JSON ({exc})") from exc
    v = tables["villages.csv"]
    for col in ("status", "lon", "lat"):
        if col not in v.columns:
            raise SchemaError(f"{folder / 'villages.csv'}: missing column {col!r}")
    tif = folder / "coverage.tif"
    return AuditFolder(
        folder,
        v,
        tables["communes.csv"],
        tables["provinces.csv"],
        summary,
        tif if tif.is_file() else None,
    )


def status_thresholds_dbm(summary: Mapping[str, Any], tech: str = "2G") -> tuple[float, float]:
    """(covered_dbm, marginal_dbm) for ``tech`` from a ``summary.json`` dict.

    Falls back to :class:`deadzone.model.thresholds.Thresholds` defaults when the
    summary carries no thresholds.  The indoor and confidence margins are included.
    """
    from deadzone.model.thresholds import Thresholds

    thr = Thresholds.from_dict((summary.get("parameters") or {}).get("thresholds"))
    return thr.covered(tech), thr.marginal(tech)


# ---------------------------------------------------------------------------
# Drawing helpers


def _new_figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return out


def _glyph_tolerant(func: _F) -> _F:
    """A name with a character the font lacks is drawn as a box: not worth a warning."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            warnings.filterwarnings("ignore", message=r"Matplotlib currently does not support")
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class _MapData:
    #: The drawn dBm ramp: the one technology's metric (RSRP for 4G/5G), else
    #: best total power; None without a raster.
    rx_dbm: npt.NDArray[np.float64] | None
    extent: tuple[float, float, float, float] | None  # left, right, bottom, top (raster CRS)
    vx: npt.NDArray[np.float64]
    vy: npt.NDArray[np.float64]
    status: npt.NDArray[np.object_]
    tx: npt.NDArray[np.float64]
    ty: npt.NDArray[np.float64]
    units: str
    covered_dbm: float
    marginal_dbm: float
    n_covered: int
    n_total: int
    #: What ``rx_dbm`` is, for the colour bar (e.g. "4G RSRP").
    metric_label: str = "Best received power"
    #: Several technologies: the audit's status class per cell (-1 none, 0 dead,
    #: 1 marginal, 2 covered), drawn instead of the ramp; same grid as rx_dbm.
    coverage_class: npt.NDArray[np.int8] | None = None
    class_labels: Mapping[str, str] | None = None
    #: Commune boundaries in the figure's CRS (None: not drawn).
    outlines: Any = None
    #: Name of a projected CRS, for the axis labels (e.g. "WGS 84 / UTM zone 48N").
    crs_name: str = ""


def _commune_outlines(communes: Any, crs: Any) -> Any:
    """Commune boundaries in ``crs``, or None when there are none to draw."""
    if communes is None or len(communes) == 0 or getattr(communes, "crs", None) is None:
        return None
    g = communes.geometry
    g = g[~(g.isna() | g.is_empty)]
    return g.to_crs(crs).boundary if len(g) else None


def _metric_layers(
    signal: Mapping[str, npt.NDArray[np.float64]],
    rx: npt.NDArray[np.float64] | None,
    summary: Mapping[str, Any],
) -> dict[str, Any]:
    """What the coverage figure draws so that it agrees with the village statuses.

    :func:`deadzone.maps.audit_map.metric_layers` (one technology: its metric
    and thresholds; several: the audit's class per cell) with the summary's
    thresholds (indoor margin included).  Without metric rasters
    (``signal`` empty) total power is drawn with no threshold lines, unless
    the audit's only technology is 2G/3G (total power is their metric).
    """
    from deadzone.maps.audit_map import _thresholds, metric_layers

    if rx is None:
        return {"rx_dbm": None, "thresholds_dbm": (np.nan, np.nan),
                "metric_label": "Best received power", "coverage_class": None,
                "class_labels": None}
    thr = _thresholds(dict(summary))
    layers = metric_layers(dict(signal), rx, thr)
    if not signal:
        layers["thresholds_dbm"] = (np.nan, np.nan)
    if len(signal) == 1:
        layers["coverage_class"] = None  # the ramp and its threshold lines are the rule
    return layers


def _to_crs(
    lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64], crs: Any
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _read_raster(tif: Path) -> tuple[npt.NDArray[np.float64], tuple[float, ...], Any]:
    import rasterio

    try:
        with rasterio.open(tif) as src:
            step = max(1, int(np.ceil(max(src.height, src.width) / MAX_RASTER_SIDE)))
            shape = (max(1, src.height // step), max(1, src.width // step))
            arr = src.read(1, out_shape=shape, masked=True).astype(np.float64).filled(np.nan)
            b = src.bounds
            return arr, (b.left, b.right, b.bottom, b.top), src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise DataLoadError(f"{tif}: cannot read raster ({exc})") from exc


def _from_result(result: AuditResult, scenario: Scenario | None) -> _MapData:
    cov = result.coverage
    rx = np.asarray(cov.rx.best_dbm, dtype=np.float64)
    step = max(1, int(np.ceil(max(rx.shape) / MAX_RASTER_SIDE)))
    rows, cols = rx.shape
    t = cov.transform
    left, top = t.c, t.f
    right, bottom = t.c + t.a * cols, t.f + t.e * rows
    v = result.villages
    pts = v.geometry.to_crs(cov.crs)
    ok = ~(pts.isna() | pts.is_empty).to_numpy()
    vx = np.full(len(v), np.nan)
    vy = np.full(len(v), np.nan)
    rep = pts[ok].representative_point()
    vx[ok], vy[ok] = rep.x.to_numpy(), rep.y.to_numpy()
    if scenario is not None and len(scenario.towers):
        tw = scenario.towers.geometry.to_crs(cov.crs)
        good = ~(tw.isna() | tw.is_empty).to_numpy()
        tx, ty = tw[good].x.to_numpy(), tw[good].y.to_numpy()
    else:
        tx, ty = np.asarray(cov.grid.x_m, float), np.asarray(cov.grid.y_m, float)
    signal = {t: np.asarray(c.best_dbm, dtype=np.float64)[::step, ::step]
              for t, c in cov.by_tech.items()}
    layers = _metric_layers(signal, rx[::step, ::step], result.summary)
    cov_dbm, mar_dbm = layers["thresholds_dbm"]
    st = v["status"].astype(str).to_numpy(dtype=object)
    return _MapData(
        layers["rx_dbm"],
        (left, right, min(bottom, top), max(bottom, top)),
        vx,
        vy,
        st,
        tx,
        ty,
        "m",
        cov_dbm,
        mar_dbm,
        int((st == "covered").sum()),
        len(st),
        layers["metric_label"],
        layers["coverage_class"],
        layers["class_labels"],
        _commune_outlines(result.communes_with_geometry(), cov.crs),
        _crs_name(cov.crs),
    )


def _crs_name(crs: Any) -> str:
    try:
        from pyproj import CRS as _CRS

        c = _CRS.from_user_input(crs)
        return c.name if c.is_projected else ""
    except Exception:  # noqa: BLE001 - a label only
        return ""


def _from_folder(folder: AuditFolder, scenario: Scenario | None) -> _MapData:
    v = folder.villages
    lon = pd.to_numeric(v["lon"], errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(v["lat"], errors="coerce").to_numpy(dtype=np.float64)
    rx = extent = None
    crs: Any = "EPSG:4326"
    units = "°"
    signal: dict[str, npt.NDArray[np.float64]] = {}
    if folder.coverage_tif is not None:
        rx, ext, crs = _read_raster(folder.coverage_tif)
        extent = (ext[0], ext[1], ext[2], ext[3])
        units = "m" if crs is not None and crs.is_projected else "°"
        signal = _signal_rasters(folder, rx.shape)
    vx, vy = _to_crs(lon, lat, crs) if crs != "EPSG:4326" else (lon, lat)
    tx = ty = np.zeros(0)
    if scenario is not None and len(scenario.towers):
        tw = scenario.towers.geometry.to_crs(crs)
        good = ~(tw.isna() | tw.is_empty).to_numpy()
        tx, ty = tw[good].x.to_numpy(), tw[good].y.to_numpy()
    layers = _metric_layers(signal, rx, folder.summary)
    cov_dbm, mar_dbm = layers["thresholds_dbm"]
    st = v["status"].astype(str).to_numpy(dtype=object)
    return _MapData(
        layers["rx_dbm"],
        extent,
        vx,
        vy,
        st,
        tx,
        ty,
        units,
        cov_dbm,
        mar_dbm,
        int((st == "covered").sum()),
        len(st),
        layers["metric_label"],
        layers["coverage_class"],
        layers["class_labels"],
        _folder_outlines(folder, crs),
        _crs_name(crs) if units == "m" else "",
    )


def _folder_outlines(folder: AuditFolder, crs: Any) -> Any:
    """Commune boundaries of an audit folder's ``communes.gpkg`` (None if absent)."""
    gpkg = folder.path / "communes.gpkg"
    if not gpkg.is_file():
        return None
    try:
        return _commune_outlines(_read_layer(gpkg, "communes"), crs)
    except Exception:  # noqa: BLE001 - outlines are context; the figure draws without
        return None


def _folder_techs(folder: AuditFolder) -> list[str]:
    """Technologies of an audit folder: ``summary.json``, else ``servers.csv``."""
    from deadzone.model.schema import TECHS

    found = set((folder.summary.get("by_technology") or {}).keys())
    servers = folder.path / "servers.csv"
    if not found and servers.is_file():
        try:
            found = set(pd.read_csv(servers)["tech"].astype(str))
        except (ValueError, KeyError, OSError):
            found = set()
    return [t for t in TECHS if t in found]


def _signal_rasters(folder: AuditFolder, shape: tuple[int, ...]) -> dict[str, Any]:
    """The audit's ``signal_<tech>_dbm.tif`` (read like ``coverage.tif``); {} if any is missing.

    An older folder without them whose only technology is 2G/3G: its
    ``coverage.tif`` is that metric.  Otherwise a warning says the figure
    shows total power without the thresholds.
    """
    from deadzone.errors import DeadzoneWarning
    from deadzone.geo.export import signal_raster_name

    techs = _folder_techs(folder)
    out: dict[str, Any] = {}
    for tech in techs:
        path = folder.path / signal_raster_name(tech)
        if not path.is_file():
            break
        arr, _, _ = _read_raster(path)
        if arr.shape != shape:
            break
        out[tech] = arr
    else:
        if out:
            return out
    if len(techs) == 1 and techs[0] in ("2G", "3G") and folder.coverage_tif is not None:
        arr, _, _ = _read_raster(folder.coverage_tif)
        return {techs[0]: arr}
    if techs:
        warnings.warn(
            f"{folder.path} has no per-technology signal rasters (signal_<tech>_dbm.tif, "
            "written by newer `deadzone audit` runs); the coverage figure shows total "
            "received power without status thresholds. Re-run `deadzone audit` to get them",
            DeadzoneWarning,
            stacklevel=4,
        )
    return {}


@_glyph_tolerant
def coverage_figure(
    audit_result: AuditResult | AuditFolder | str | os.PathLike[str],
    scenario: Scenario | None,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    vmin_dbm: float = -130.0,
    vmax_dbm: float = -50.0,
) -> Path:
    """Draw the coverage raster with villages by status and towers.

    The raster agrees with the village statuses: with one technology it is
    that technology's service metric (received level for 2G/3G, RSRP for
    4G/5G) with its thresholds marked on the colour bar, which names the
    metric (e.g. "4G RSRP (dBm)"); with several it is the audit's status
    class per cell, best over the technologies
    (:func:`deadzone.maps.audit_map.metric_layers`).

    Parameters
    ----------
    audit_result : AuditResult, AuditFolder or path
        An in-memory audit, or an audit folder (``coverage.tif``,
        ``signal_<tech>_dbm.tif`` and ``villages.csv`` are read; without
        ``coverage.tif`` only villages are drawn; an older folder without the
        ``signal_<tech>_dbm.tif`` rasters shows total power with no thresholds,
        with a warning, unless its only technology is 2G/3G).
    scenario : Scenario or None
        Where the towers are drawn from; None uses the audit's own tower grid
        (in-memory audit) or draws no towers (audit folder).
    path : path
        PNG to write (150 dpi), replaced atomically.
    title : str, optional
        Title line above ``covered villages: X/Y (P%)``.
    vmin_dbm, vmax_dbm : float
        Ends of the dBm colour ramp.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    if isinstance(audit_result, (str, os.PathLike)):
        audit_result = read_audit_folder(audit_result)
    if isinstance(audit_result, AuditFolder):
        d = _from_folder(audit_result, scenario)
    else:
        d = _from_result(audit_result, scenario)

    fig = _new_figure(8.0, 7.0)
    ax = fig.add_subplot(1, 1, 1)
    handles = []
    if d.coverage_class is not None and d.extent is not None:
        # Several technologies: the audit's own class per cell (best over technologies).
        from matplotlib.colors import BoundaryNorm, ListedColormap
        from matplotlib.patches import Patch

        order = ("dead", "marginal", "covered")
        cmap = ListedColormap([STATUS_COLORS[k] for k in order]).with_extremes(
            bad=(1, 1, 1, 0)
        )
        ax.imshow(
            np.ma.masked_less(d.coverage_class, 0),
            extent=d.extent,
            origin="upper",
            cmap=cmap,
            norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], cmap.N),
            interpolation="nearest",
            alpha=0.55,
        )
        labels = d.class_labels or {}
        handles.extend(
            Patch(facecolor=STATUS_COLORS[k], alpha=0.55,
                  label=f"{labels.get(k, k)} (area)")
            for k in reversed(order)
        )
    elif d.rx_dbm is not None and d.extent is not None:
        import matplotlib

        cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(1, 1, 1, 0))
        img = ax.imshow(
            np.ma.masked_invalid(d.rx_dbm),
            extent=d.extent,
            origin="upper",
            cmap=cmap,
            norm=Normalize(vmin=vmin_dbm, vmax=vmax_dbm),
            interpolation="nearest",
        )
        cb = fig.colorbar(img, ax=ax, shrink=0.8, extend="both")
        label = f"{d.metric_label} (dBm)"
        if np.isfinite(d.covered_dbm) and np.isfinite(d.marginal_dbm):
            label += (f"; covered \u2265 {dbm_text(d.covered_dbm)}, marginal \u2265 "
                      f"{dbm_text(d.marginal_dbm)}")
        cb.set_label(label)
        for val, style in ((d.covered_dbm, "-"), (d.marginal_dbm, "--")):
            if vmin_dbm <= val <= vmax_dbm:
                cb.ax.axhline(val, color="black", linestyle=style, linewidth=1.2)
    size = 22 if len(d.status) <= 1000 else 8
    for st, colour in STATUS_COLORS.items():
        sel = (d.status == st) & np.isfinite(d.vx) & np.isfinite(d.vy)
        n = int((d.status == st).sum())
        if n == 0:
            continue
        ax.scatter(
            d.vx[sel],
            d.vy[sel],
            s=size,
            c=colour,
            marker=_STATUS_MARKERS[st],
            edgecolors="black",
            linewidths=0.4,
            zorder=3,
        )
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                marker=_STATUS_MARKERS[st],
                linestyle="",
                markeredgecolor="black",
                label=f"{st} villages ({n:,})",
            )
        )
    if d.outlines is not None:
        d.outlines.plot(ax=ax, color="#333333", linewidth=0.5, zorder=2)
        handles.append(Line2D([], [], color="#333333", linewidth=0.8,
                              label="commune boundaries"))
    if len(d.tx):
        ax.scatter(
            d.tx, d.ty, s=70, c="white", marker="^", edgecolors="black", linewidths=1.0, zorder=4
        )
        handles.append(
            Line2D(
                [],
                [],
                color="white",
                marker="^",
                linestyle="",
                markeredgecolor="black",
                label=f"towers ({len(d.tx):,})",
            )
        )
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.85)
    pct = f" ({100.0 * d.n_covered / d.n_total:.1f}%)" if d.n_total else ""
    head = f"covered villages: {d.n_covered:,}/{d.n_total:,}{pct}"
    ax.set_title(f"{title}\n{head}" if title else head, fontsize=10)
    if d.units == "m":
        # kilometres of the named projection, not bare metres
        from matplotlib.ticker import FuncFormatter

        km = FuncFormatter(lambda v, _pos: f"{v / 1000:,.0f}")
        ax.xaxis.set_major_formatter(km)
        ax.yaxis.set_major_formatter(km)
        where = f", {d.crs_name}" if d.crs_name else ""
        ax.set_xlabel(f"easting (km{where})")
        ax.set_ylabel(f"northing (km{where})")
    else:
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
        ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    ax.set_aspect("equal")
    fig.tight_layout()
    return _save(fig, path)


@_glyph_tolerant
def commune_bar_chart(
    communes_df: pd.DataFrame | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    max_communes: int = 60,
    title: str | None = None,
) -> Path:
    """Horizontal bars of % villages covered per commune, lowest first.

    Parameters
    ----------
    communes_df : DataFrame or path
        ``communes.csv`` of an audit (``name``, ``villages_total``,
        ``villages_covered``; ``villages_marginal`` stacked when present).
    path : path
        PNG to write (150 dpi).
    max_communes : int
        Draw at most this many communes (the least covered); the title says so.
    title : str, optional
        Title (default "Villages covered per commune").

    Returns
    -------
    Path
        ``path``.
    """
    if not isinstance(communes_df, pd.DataFrame):
        communes_df = pd.read_csv(
            communes_df,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=[""],
            dtype={"name": str, "commune_id": str},
        )
    if max_communes < 1:
        raise ValueError(f"max_communes was {max_communes}; expected >= 1")
    df = communes_df
    for col in ("villages_total", "villages_covered"):
        if col not in df.columns:
            raise SchemaError(f"communes table lacks column {col!r}")
    names = (df["name"] if "name" in df.columns else df["commune_id"]).fillna("").astype(str)
    total = pd.to_numeric(df["villages_total"], errors="coerce").fillna(0).to_numpy(float)
    cov = pd.to_numeric(df["villages_covered"], errors="coerce").fillna(0).to_numpy(float)
    mar = (
        pd.to_numeric(df["villages_marginal"], errors="coerce").fillna(0).to_numpy(float)
        if "villages_marginal" in df.columns
        else np.zeros(len(df))
    )
    unk = (
        pd.to_numeric(df["villages_unknown"], errors="coerce").fillna(0).to_numpy(float)
        if "villages_unknown" in df.columns
        else np.zeros(len(df))
    )
    dead = (
        pd.to_numeric(df["villages_dead"], errors="coerce").fillna(0).to_numpy(float)
        if "villages_dead" in df.columns
        else np.maximum(total - cov - mar - unk, 0.0)
    )
    has = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = {k: np.where(has, 100.0 * v / np.where(has, total, 1.0), np.nan)
                 for k, v in (("pct", cov), ("pct_m", mar), ("pct_d", dead), ("pct_u", unk))}
    t = pd.DataFrame({"name": names.to_numpy(), **share, "total": total})[has]
    t = t.sort_values(["pct", "total", "name"], ascending=[True, False, True])
    n_all = len(t)
    t = t.head(max_communes).iloc[::-1]  # lowest at the top of the chart
    height = min(2.0 + 0.22 * max(len(t), 1), 16.0)
    fig = _new_figure(8.0, height)
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(len(t))
    left = np.zeros(len(t))
    for col, status in (("pct", "covered"), ("pct_m", "marginal"), ("pct_d", "dead"),
                        ("pct_u", "unknown")):
        if status == "unknown" and not (t[col] > 0).any():
            continue
        ax.barh(y, t[col], left=left, color=STATUS_COLORS[status], label=status)
        left = left + t[col].to_numpy()
    ax.set_yticks(
        y,
        [f"{n} ({int(v):,})" for n, v in zip(t["name"], t["total"], strict=True)],
        fontsize=7 if len(t) <= 40 else 5,
    )
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of villages (commune village count in brackets)")
    ax.set_ylim(-0.6, max(len(t), 1) - 0.4)
    ax.axvline(100, color="black", linewidth=0.5)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, fontsize=7,
              frameon=False)
    head = title or "Villages covered per commune"
    if n_all > len(t):
        head += f" (the {len(t)} least covered of {n_all})"
    elif not n_all:
        head += " (no commune has villages)"
    ax.set_title(head, fontsize=10, pad=18)
    fig.tight_layout()
    return _save(fig, path)


def _read_layer(path: Path, layer: str | None = None) -> Any:
    import geopandas as gpd

    try:
        return gpd.read_file(path, layer=layer)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one line naming the file
        raise DataLoadError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None


@_glyph_tolerant
def fiber_figure(
    fiber_dir: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    communes: Any = None,
    title: str | None = None,
) -> Path:
    """Draw a fiber rollout plan: routes coloured by phase, backbone nodes, communes.

    Parameters
    ----------
    fiber_dir : path
        ``deadzone fiber`` output folder: ``routes.gpkg`` (layers ``routes``
        with ``phase`` and ``length_m``, and ``targets``) and, when present,
        ``ofds/nodes.geojson`` / ``ofds/spans.geojson`` whose ``operational``
        features are the existing backbone.
    path : path
        PNG to write (150 dpi), replaced atomically.
    communes : GeoDataFrame or path, optional
        Commune polygons drawn as grey outlines (e.g. an audit's
        ``communes.gpkg``).
    title : str, optional
        Title (default "Fiber rollout by phase").

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataLoadError
        ``routes.gpkg`` is missing or unreadable.
    """
    from matplotlib.lines import Line2D

    from deadzone.maps.fiber_map import PHASE_COLORS, TARGET_COLORS

    folder = Path(fiber_dir)
    if not (folder / "routes.gpkg").is_file():
        raise DataLoadError(f"{folder}: no routes.gpkg (write one with `deadzone fiber`)")
    routes = _read_layer(folder / "routes.gpkg", "routes")
    if "phase" not in routes.columns:
        raise SchemaError(f"{folder / 'routes.gpkg'}: layer routes lacks column 'phase'")
    routes = routes.to_crs(4326) if routes.crs is not None else routes
    try:
        targets = _read_layer(folder / "routes.gpkg", "targets").to_crs(4326)
    except DataLoadError:
        targets = None
    backbone = []
    for name in ("spans.geojson", "nodes.geojson"):
        f = folder / "ofds" / name
        if f.is_file():
            g = _read_layer(f).to_crs(4326)
            if "status" in g.columns:
                backbone.append(g[g["status"] == "operational"])
    if isinstance(communes, (str, os.PathLike)):
        communes = _read_layer(Path(communes), "communes")

    fig = _new_figure(9.5, 7.0)
    ax = fig.add_subplot(1, 1, 1)
    handles = []
    if communes is not None and len(communes):
        communes.to_crs(4326).boundary.plot(ax=ax, color="#999999", linewidth=0.5, zorder=1)
        handles.append(Line2D([], [], color="#999999", linewidth=0.8, label="communes"))
    phase = pd.to_numeric(routes["phase"], errors="coerce").fillna(-1).astype(int)
    length = pd.to_numeric(routes.get("length_m", 0.0), errors="coerce").fillna(0.0)
    later = routes[(phase < 1).to_numpy()]
    if len(later):
        later.plot(ax=ax, color="#888888", linewidth=1.0, linestyle="--", zorder=2)
        km = float(length[phase < 1].sum()) / 1000.0
        handles.append(
            Line2D([], [], color="#888888", linestyle="--", label=f"designed, later ({km:,.1f} km)")
        )
    for p in sorted({int(x) for x in phase if x >= 1}):
        sel = (phase == p).to_numpy()
        color = PHASE_COLORS[(p - 1) % len(PHASE_COLORS)]
        routes[sel].plot(ax=ax, color=color, linewidth=2.2, zorder=3)
        km = float(length[sel].sum()) / 1000.0
        handles.append(
            Line2D([], [], color=color, linewidth=2.2, label=f"phase {p} ({km:,.1f} km)")
        )
    for g in backbone:
        pts = g[g.geometry.geom_type == "Point"]
        lines = g[g.geometry.geom_type != "Point"]
        if len(lines):
            lines.plot(ax=ax, color="black", linewidth=3.0, zorder=4)
        if len(pts):
            ax.scatter(pts.geometry.x, pts.geometry.y, s=60, c="black", marker="s", zorder=5)
    if any(len(g) for g in backbone):
        handles.append(
            Line2D([], [], color="black", marker="s", linestyle="-", label="existing backbone")
        )
    if targets is not None and len(targets) and "status" in targets.columns:
        pts = targets[targets.geometry.geom_type == "Point"]
        for status, colour in TARGET_COLORS.items():
            sel = pts[pts["status"] == status]
            if len(sel):
                ax.scatter(
                    sel.geometry.x,
                    sel.geometry.y,
                    s=14,
                    c=colour,
                    edgecolors="black",
                    linewidths=0.3,
                    zorder=6,
                )
                handles.append(
                    Line2D(
                        [],
                        [],
                        color=colour,
                        marker="o",
                        linestyle="",
                        markeredgecolor="black",
                        label=f"targets {status} ({len(sel)})",
                    )
                )
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.set_title(title or "Fiber rollout by phase", fontsize=10)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False, style="plain")
    b = routes.total_bounds
    if np.all(np.isfinite(b)):
        ax.set_aspect(1.0 / max(np.cos(np.radians((b[1] + b[3]) / 2.0)), 0.1))
    fig.tight_layout()
    return _save(fig, path)
