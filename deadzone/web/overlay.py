"""The coverage image of the what-if page, redrawn after every edit.

The warp from the DEM grid to the page's Web Mercator (EPSG:3857) image is
the same for every edit, so :class:`CoverageImage` computes it once — for
each image pixel, the (block-averaged) grid cell under its centre, i.e.
nearest-neighbour resampling — and each redraw is a block mean, one gather
and a palette PNG encode (tens of milliseconds for a 2000 x 2000 grid).
Colours follow :mod:`deadzone.maps.folium_map` (viridis between ``vmin``
and ``vmax``; no signal is transparent).

The image shows what the village statuses are decided on (see
:func:`overlay_layer`): with one technology its service metric (received
level for 2G/3G, RSRP for 4G/5G) on a ramp with that technology's
thresholds; with several, the status class of each cell under the audit's
rule (:func:`deadzone.model.thresholds.coverage_class`, best class over the
technologies), since no single dBm ramp carries every technology's rule.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from affine import Affine

from deadzone.errors import CRSError, ParameterError
from deadzone.model.thresholds import STATUS_COLORS, dbm_text

__all__ = ["CoverageImage", "OverlayLayer", "legend_html", "overlay_layer"]

_CMAP = "viridis"


def _lut(n: int) -> npt.NDArray[np.uint8]:
    import matplotlib

    rgb = matplotlib.colormaps[_CMAP](np.linspace(0.0, 1.0, n))[:, :3]
    return np.rint(rgb * 255.0).astype(np.uint8)


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _block_sum(a: npt.NDArray[Any], k: int, dtype: Any) -> npt.NDArray[Any]:
    """Sum of ``k`` x ``k`` blocks of ``a`` (shape a multiple of ``k``), rows first."""
    h, w = a.shape
    rows = a.reshape(h // k, k, w).sum(axis=1, dtype=dtype)
    return rows.reshape(h // k, w // k, k).sum(axis=2, dtype=dtype)


def _block_mean(
    arr: npt.NDArray[np.float32], k: int, cells: npt.NDArray[np.int32] | None = None
) -> npt.NDArray[np.float32]:
    """Mean of ``k`` x ``k`` blocks (dB, NaN ignored); NaN where under half the cells
    inside the grid have a signal, so scattered covered cells do not paint a dead area.

    ``cells`` (grid cells inside each block) may be passed precomputed.
    """
    if k == 1:
        return arr
    h, w = arr.shape
    rows, cols = -(-h // k), -(-w // k)
    padded = np.zeros((rows * k, cols * k), dtype=np.float32)
    valid = np.zeros(padded.shape, dtype=np.uint8)
    fin = np.isfinite(arr)
    padded[:h, :w][fin] = arr[fin]
    valid[:h, :w] = fin
    count = _block_sum(valid, k, np.int32)
    if cells is None:
        inside = np.zeros(padded.shape, dtype=np.uint8)
        inside[:h, :w] = 1
        cells = _block_sum(inside, k, np.int32)
    total = _block_sum(padded, k, np.float64)
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    keep = (count > 0) & (2 * count >= cells)
    out[keep] = (total[keep] / count[keep]).astype(np.float32)
    return out


class CoverageImage:
    """Renders a grid of received power (dBm) as a Web Mercator palette PNG.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the grid.
    transform : affine.Affine
        Grid transform (projected metres).
    crs : Any
        Grid CRS (anything :class:`pyproj.CRS` accepts).
    max_px : int
        Longest side of the image (pixels); a larger grid is first
        block-averaged by the smallest integer factor that fits.
    vmin, vmax : float
        dBm at the two ends of the colour ramp.

    Attributes
    ----------
    bounds : list
        ``[[south, west], [north, east]]`` of the image (EPSG:4326 degrees),
        for ``L.imageOverlay``.
    size : tuple of int
        ``(height, width)`` of the image.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        transform: Affine,
        crs: Any,
        *,
        max_px: int,
        vmin: float,
        vmax: float,
    ) -> None:
        from pyproj import CRS, Transformer
        from pyproj.exceptions import CRSError as ProjCRSError

        if not (vmax > vmin):
            raise ParameterError(f"vmin/vmax were {vmin}/{vmax}; expected vmin < vmax")
        if max_px < 1:
            raise ParameterError(f"max_px was {max_px}; expected >= 1")
        try:
            src = CRS.from_user_input(crs)
        except ProjCRSError as exc:
            raise CRSError(f"crs was {crs!r}; expected a projected CRS") from exc
        self.vmin, self.vmax = float(vmin), float(vmax)
        h, w = shape
        self._shape = (int(h), int(w))
        self._k = max(1, math.ceil(max(h, w) / max_px))
        k = self._k
        ch, cw = -(-h // k), -(-w // k)
        coarse = transform @ Affine.scale(k)
        to_merc = Transformer.from_crs(src, 3857, always_xy=True)
        # Image extent: the grid's outline (edges densified) in Web Mercator.
        n = 64
        t = np.linspace(0.0, 1.0, n)
        ecol = np.concatenate([t * w, np.full(n, w), t[::-1] * w, np.zeros(n)])
        erow = np.concatenate([np.zeros(n), t * h, np.full(n, h), t[::-1] * h])
        ex, ey = transform @ (ecol, erow)
        mx, my = to_merc.transform(ex, ey)
        x0, x1, y0, y1 = float(np.min(mx)), float(np.max(mx)), float(np.min(my)), float(np.max(my))
        res = max((x1 - x0) / cw, (y1 - y0) / ch, max(x1 - x0, y1 - y0) / max_px)
        dw = max(1, math.ceil((x1 - x0) / res - 1e-9))
        dh = max(1, math.ceil((y1 - y0) / res - 1e-9))
        # Centre of every image pixel -> grid cell (nearest neighbour).
        px = x0 + (np.arange(dw) + 0.5) * res
        py = y1 - (np.arange(dh) + 0.5) * res
        gx, gy = np.meshgrid(px, py)
        sx, sy = to_merc.transform(gx.ravel(), gy.ravel(), direction="INVERSE")
        col, row = ~coarse @ (np.asarray(sx), np.asarray(sy))
        col = np.floor(col)
        row = np.floor(row)
        ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (col < cw) & (row >= 0) & (row < ch)
        inside = np.zeros((ch * k, cw * k), dtype=np.uint8)
        inside[:h, :w] = 1
        self._cells = _block_sum(inside, k, np.int32)
        self._pix = np.flatnonzero(ok)
        self._src = row[ok].astype(np.int64) * cw + col[ok].astype(np.int64)
        self.size = (dh, dw)
        self._palette = np.concatenate([_lut(255).ravel(), [0, 0, 0]]).astype(int).tolist()
        self._class_palette = [
            int(x) for s in ("dead", "marginal", "covered") for x in _hex_rgb(STATUS_COLORS[s])
        ] + [0, 0, 0] * 253
        to_ll = Transformer.from_crs(3857, 4326, always_xy=True)
        lon0, lat0 = to_ll.transform(x0, y1 - dh * res)
        lon1, lat1 = to_ll.transform(x0 + dw * res, y1)
        self.bounds = [[float(lat0), float(lon0)], [float(lat1), float(lon1)]]

    def render(
        self,
        rx_dbm: npt.NDArray[np.floating],
        *,
        vmin: float | None = None,
        vmax: float | None = None,
    ) -> bytes:
        """PNG bytes of ``rx_dbm`` (the grid's shape; NaN/-inf = no signal).

        ``vmin`` / ``vmax`` (dBm) override the ramp ends given at construction.
        """
        if rx_dbm.shape != self._shape:
            raise ParameterError(f"rx_dbm shape was {rx_dbm.shape}; expected {self._shape}")
        lo = self.vmin if vmin is None else float(vmin)
        hi = self.vmax if vmax is None else float(vmax)
        if not hi > lo:
            raise ParameterError(f"vmin/vmax were {lo}/{hi}; expected vmin < vmax")
        arr = np.asarray(rx_dbm, dtype=np.float32)
        if self._k == 1:
            arr = np.where(np.isfinite(arr), arr, np.float32(np.nan))
        coarse = _block_mean(arr, self._k, self._cells).ravel()
        index = np.full(self.size[0] * self.size[1], 255, dtype=np.uint8)
        vals = coarse[self._src]
        fin = np.isfinite(vals)
        scaled = (vals[fin] - lo) / (hi - lo) * 254.0
        index[self._pix[fin]] = np.clip(np.rint(scaled), 0, 254).astype(np.uint8)
        return self._png(index, self._palette)

    def render_classes(
        self, metric_dbm: Mapping[str, npt.NDArray[np.floating]], thresholds: Any
    ) -> bytes:
        """PNG bytes of the audit's status class per cell (dead / marginal / covered).

        Parameters
        ----------
        metric_dbm : mapping of str to ndarray
            Technology -> service metric on the grid (dBm; received level for
            2G/3G, RSRP for 4G/5G; NaN = no signal), e.g.
            ``Session.coverage.by_tech[tech].best_dbm``.
        thresholds : Thresholds
            The audit's thresholds.

        Notes
        -----
        A grid larger than the image is sampled at the centre cell of each
        block (a class is never averaged), then classed by
        :func:`deadzone.model.thresholds.coverage_class`: every drawn cell has
        exactly the class the audit's rule gives it.  Palette index 0 dead,
        1 marginal, 2 covered; no signal is transparent.
        """
        from deadzone.model.thresholds import coverage_class

        for tech, arr in metric_dbm.items():
            if np.shape(arr) != self._shape:
                raise ParameterError(
                    f"metric_dbm[{tech!r}] shape was {np.shape(arr)}; expected {self._shape}"
                )
        k = self._k
        if k > 1:
            h, w = self._shape
            rows = np.minimum(np.arange(-(-h // k)) * k + k // 2, h - 1)
            cols = np.minimum(np.arange(-(-w // k)) * k + k // 2, w - 1)
            sample = {t: np.asarray(a)[np.ix_(rows, cols)] for t, a in metric_dbm.items()}
            # Centres past the grid's edge (last partial block) are the edge cell.
        else:
            sample = dict(metric_dbm)
        cls = coverage_class(sample, thresholds).ravel()[self._src]
        index = np.full(self.size[0] * self.size[1], 255, dtype=np.uint8)
        ok = cls >= 0
        index[self._pix[ok]] = cls[ok].astype(np.uint8)
        return self._png(index, self._class_palette)

    def _png(self, index: npt.NDArray[np.uint8], palette: list[int]) -> bytes:
        from PIL import Image

        image = Image.fromarray(index.reshape(self.size))
        image.putpalette(palette)
        buf = io.BytesIO()
        image.save(buf, format="PNG", transparency=255, compress_level=3)
        return buf.getvalue()


#: Ramp name when the caller does not name its metric.
_DEFAULT_METRIC = "Best received power"


@dataclass(frozen=True)
class OverlayLayer:
    """What the what-if image shows for a set of technologies (:func:`overlay_layer`).

    Attributes
    ----------
    techs : tuple of str
        The technologies present, in :data:`~deadzone.model.schema.TECHS` order.
    classes : bool
        True: the image is the audit's status class per cell
        (:meth:`CoverageImage.render_classes`); False: a dBm ramp of the one
        technology's metric (:meth:`CoverageImage.render`).
    metric_label : str
        The ramp's metric, e.g. ``"4G RSRP"``.
    covered_dbm, marginal_dbm : float
        The ramp technology's thresholds (dBm, indoor margin included).
    vmin, vmax : float
        Ramp ends (dBm).
    class_labels : dict of str to str or None
        Legend text per class (``covered``, ``marginal``, ``dead``) when
        ``classes``.
    """

    techs: tuple[str, ...]
    classes: bool
    metric_label: str
    covered_dbm: float
    marginal_dbm: float
    vmin: float
    vmax: float
    class_labels: dict[str, str] | None = None


def overlay_layer(techs: Any, thresholds: Any) -> OverlayLayer:
    """Choose the what-if image that agrees with the audit's village statuses.

    One technology: the ramp of its service metric (received level for
    2G/3G, RSRP for 4G/5G: ``CoverageResult.by_tech[tech].best_dbm``), ticks
    at its thresholds, ends ``marginal - 20`` and ``covered + 40`` dBm.
    Several: the status class per cell, best over the technologies (the
    rule of :func:`deadzone.geo.audit.audit`).  None (every tower removed):
    an empty ramp at the 2G thresholds.

    Parameters
    ----------
    techs : iterable of str
        Technologies present (e.g. the keys of ``CoverageResult.by_tech``).
    thresholds : Thresholds
        The audit's thresholds.

    Returns
    -------
    OverlayLayer
    """
    from deadzone.model.schema import TECHS
    from deadzone.model.thresholds import metric_name, status_labels

    present = tuple(t for t in TECHS if t in set(techs))
    ramp = present[0] if present else "2G"
    cov, mar = float(thresholds.covered(ramp)), float(thresholds.marginal(ramp))
    many = len(present) > 1
    return OverlayLayer(
        techs=present,
        classes=many,
        metric_label=f"{ramp} {metric_name(ramp)}" if present else _DEFAULT_METRIC,
        covered_dbm=cov,
        marginal_dbm=mar,
        vmin=mar - 20.0,
        vmax=cov + 40.0,
        class_labels=status_labels(thresholds, list(present)) if many else None,
    )


def legend_html(
    covered_dbm: float,
    marginal_dbm: float,
    vmin: float,
    vmax: float,
    status_labels: Mapping[str, str] | None = None,
    *,
    metric_label: str = _DEFAULT_METRIC,
    class_labels: Mapping[str, str] | None = None,
) -> str:
    """Legend of the page: the coverage layer, village and tower symbols.

    The coverage layer is a dBm ramp of ``metric_label`` (e.g. ``"4G RSRP"``)
    with ticks at the thresholds, or, with ``class_labels``, the status
    classes (dead / marginal / covered) of the audit's per-technology rule.
    """
    metric = html.escape(metric_label)
    named = "" if metric_label == _DEFAULT_METRIC else f"{metric} "
    text = {
        "covered": f"covered: {named}&ge; {dbm_text(covered_dbm)} dBm",
        "marginal": f"marginal: {named}{dbm_text(marginal_dbm)} to {dbm_text(covered_dbm)} dBm",
        "dead": f"dead: {named}&lt; {marginal_dbm:g} dBm or no signal",
        "unknown": "unknown: not evaluated",
    }
    for key, label in {**(class_labels or {}), **(status_labels or {})}.items():
        if key in text:
            text[key] = html.escape(label)
    if class_labels is not None:
        layer = '<div class="dz-legend-h">Coverage class (audit rule, best over technologies)</div>'
        layer += "".join(
            f'<div><span class="dz-swatch" style="background:{STATUS_COLORS[k]};'
            f'border-radius:2px"></span>{html.escape(class_labels.get(k, k))}</div>'
            for k in ("covered", "marginal", "dead")
        )
    else:
        lut = _lut(11)
        stops = ", ".join(
            f"#{r:02x}{g:02x}{b:02x} {100.0 * i / (len(lut) - 1):.0f}%"
            for i, (r, g, b) in enumerate(lut)
        )

        def pos(v: float) -> float:
            return min(100.0, max(0.0, 100.0 * (v - vmin) / (vmax - vmin)))

        ticks = "".join(
            f'<div class="dz-tick" style="left:{pos(v):.1f}%"></div>'
            for v in (marginal_dbm, covered_dbm)
        )
        labels = (
            f'<span style="left:0%;transform:none">&le;{vmin:g}</span>'
            f'<span style="left:{pos(marginal_dbm):.1f}%">{marginal_dbm:g}</span>'
            f'<span style="left:{pos(covered_dbm):.1f}%">{covered_dbm:g}</span>'
            f'<span style="left:100%;transform:translateX(-100%)">&ge;{vmax:g}</span>'
        )
        layer = (
            f'<div class="dz-legend-h">{metric} (dBm)</div>'
            f'<div class="dz-ramp" style="background:linear-gradient(to right, {stops})">'
            f"{ticks}</div>"
            f'<div class="dz-ramp-labels">{labels}</div>'
        )
    rows = "".join(
        f'<div><span class="dz-swatch" style="background:{color}"></span>{text[key]}</div>'
        for key, color in STATUS_COLORS.items()
    )
    return (
        f"{layer}"
        '<div><span class="dz-swatch dz-swatch-none"></span>no signal (transparent)</div>'
        '<div class="dz-legend-h">Villages</div>'
        f"{rows}"
        '<div class="dz-legend-h">Towers</div>'
        '<div><span class="dz-swatch" style="background:#222;border-radius:2px"></span>existing'
        '</div><div><span class="dz-swatch" style="background:#6a1b9a;border-radius:2px"></span>'
        "added in this session</div>"
    )
