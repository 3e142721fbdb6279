"""Raster overlays of the maps: received power, threshold classes and best
server as palette PNGs warped to EPSG:3857 (``data:`` URIs)."""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from affine import Affine

from deadzone.errors import (
    CRSError,
    ParameterError,
)
from deadzone.model.thresholds import STATUS_COLORS

if TYPE_CHECKING:
    pass


_RASTER_CMAP = "viridis"


# --------------------------------------------------------------------------- raster


def _lazy_matplotlib() -> tuple[Any, Any]:
    try:
        import matplotlib
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "coverage_map needs matplotlib (and Pillow, which it installs) for the raster "
            "colour ramp: pip install 'deadzone[all]' or pip install matplotlib"
        ) from exc
    return matplotlib, Image


def _color_lut(n: int = 255) -> npt.NDArray[np.uint8]:
    """``n`` RGB colours of the raster colour ramp, weakest first."""
    matplotlib, _ = _lazy_matplotlib()
    cmap = matplotlib.colormaps[_RASTER_CMAP]
    rgb = cmap(np.linspace(0.0, 1.0, n))[:, :3]
    return np.rint(rgb * 255.0).astype(np.uint8)


def _block_mean(
    arr: npt.NDArray[np.float32], transform: Affine, k: int
) -> tuple[npt.NDArray[np.float32], Affine]:
    """Average ``k`` x ``k`` blocks (dB values; NaN ignored).

    A block is NaN when fewer than half of its cells inside the raster have a
    signal, so a scatter of covered cells does not paint a dead area as covered.
    """
    h, w = arr.shape
    rows, cols = -(-h // k), -(-w // k)
    padded = np.full((rows * k, cols * k), np.nan, dtype=np.float32)
    padded[:h, :w] = arr
    inside = np.zeros(padded.shape, dtype=bool)
    inside[:h, :w] = True
    blocks = padded.reshape(rows, k, cols, k)
    valid = np.isfinite(blocks)
    count = valid.sum(axis=(1, 3))
    cells = inside.reshape(rows, k, cols, k).sum(axis=(1, 3))
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3), dtype=np.float64)
    keep = (count > 0) & (2 * count >= cells)
    out = np.full((rows, cols), np.nan, dtype=np.float32)
    out[keep] = (total[keep] / count[keep]).astype(np.float32)
    a, b, c, d, e, f = transform[:6]
    return out, Affine(a * k, b * k, c, d * k, e * k, f)


def _decimate(
    arr: npt.NDArray[Any], transform: Affine, k: int, nodata: int
) -> tuple[npt.NDArray[Any], Affine]:
    """Centre cell of each ``k`` x ``k`` block (categorical rasters; same grid as _block_mean)."""
    h, w = arr.shape
    rows, cols = -(-h // k), -(-w // k)
    padded = np.full((rows * k, cols * k), nodata, dtype=arr.dtype)
    padded[:h, :w] = arr
    out = np.ascontiguousarray(padded[k // 2 :: k, k // 2 :: k])
    a, b, c, d, e, f = transform[:6]
    return out, Affine(a * k, b * k, c, d * k, e * k, f)


def _src_crs(crs: Any) -> Any:
    from rasterio.crs import CRS
    from rasterio.errors import CRSError as RioCRSError

    if crs is None:
        raise CRSError("crs was None; expected the raster's projected CRS (e.g. 'EPSG:32648')")
    try:
        return CRS.from_user_input(crs)
    except RioCRSError as exc:
        raise CRSError(f"crs was {crs!r}; expected a CRS rasterio understands") from exc


def _warp_3857(
    arr: npt.NDArray[Any],
    transform: Affine,
    src_crs: Any,
    *,
    max_raster_px: int,
    nodata: float,
) -> tuple[npt.NDArray[Any], list[list[float]]]:
    """Warp an already downsampled raster to EPSG:3857 (nearest neighbour).

    The destination grid depends only on the shape, transform and CRS, so the
    received-power and best-server rasters of one grid land on the same pixels.
    Returns the warped array and its bounds ``[[south, west], [north, east]]``.
    """
    from rasterio.crs import CRS
    from rasterio.transform import array_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds

    h, w = arr.shape
    dst_crs = CRS.from_epsg(3857)
    # Own destination grid (square pixels, about the source's pixel count, longer side
    # <= max_raster_px); rasterio's calculate_default_transform trips affine's
    # PendingDeprecationWarning for ``*``.
    x0, y0, x1, y1 = transform_bounds(src_crs, dst_crs, *array_bounds(h, w, transform))
    res = max((x1 - x0) / w, (y1 - y0) / h)
    res = max(res, max(x1 - x0, y1 - y0) / max_raster_px)
    dst_w = max(1, math.ceil((x1 - x0) / res - 1e-9))
    dst_h = max(1, math.ceil((y1 - y0) / res - 1e-9))
    dst_t = Affine(res, 0.0, x0, 0.0, -res, y1)
    dst = np.full((dst_h, dst_w), nodata, dtype=arr.dtype)
    reproject(
        source=arr,
        destination=dst,
        src_transform=transform,
        src_crs=src_crs,
        src_nodata=nodata,
        dst_transform=dst_t,
        dst_crs=dst_crs,
        dst_nodata=nodata,
        resampling=Resampling.nearest,
    )
    d_west, d_south, d_east, d_north = array_bounds(dst_h, dst_w, dst_t)
    lon0, lat0, lon1, lat1 = transform_bounds(
        dst_crs, "EPSG:4326", d_west, d_south, d_east, d_north
    )
    return dst, [[lat0, lon0], [lat1, lon1]]


def _palette_png(index: npt.NDArray[np.uint8], palette: npt.NDArray[np.uint8]) -> str:
    """Palette PNG data URI; index 255 is transparent, ``palette`` has <= 255 RGB rows."""
    _, image_cls = _lazy_matplotlib()
    image = image_cls.fromarray(index)
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: len(palette)] = palette
    image.putpalette(lut.ravel().astype(int).tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG", transparency=255)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rx_3857(
    rx_dbm: npt.NDArray[np.floating], transform: Affine, crs: Any, *, max_raster_px: int
) -> tuple[npt.NDArray[np.float32], list[list[float]], int]:
    """Received power block-averaged to fit ``max_raster_px``, warped to EPSG:3857.

    Returns the warped dBm (NaN = no signal), its bounds and the block factor.
    """
    src_crs = _src_crs(crs)
    arr = np.array(rx_dbm, dtype=np.float32, copy=True)
    arr[~np.isfinite(arr)] = np.nan
    k = 1
    if max(arr.shape) > max_raster_px:
        k = math.ceil(max(arr.shape) / max_raster_px)
        arr, transform = _block_mean(arr, transform, k)
    dst, bounds = _warp_3857(
        arr, transform, src_crs, max_raster_px=max_raster_px, nodata=float("nan")
    )
    return dst, bounds, k


def _rx_png(dst: npt.NDArray[np.float32], vmin: float, vmax: float) -> str:
    """Received power (dBm) on the viridis ramp between ``vmin`` and ``vmax``."""
    index = np.full(dst.shape, 255, dtype=np.uint8)
    valid = np.isfinite(dst)
    scaled = (dst[valid] - vmin) / (vmax - vmin) * 254.0
    index[valid] = np.clip(np.rint(scaled), 0, 254).astype(np.uint8)
    return _palette_png(index, _color_lut(255))


def _class_png(dst: npt.NDArray[np.float32], covered_dbm: float, marginal_dbm: float) -> str:
    """Threshold classes: dead (< marginal), marginal, covered (>= covered); no signal clear."""
    index = np.full(dst.shape, 255, dtype=np.uint8)
    valid = np.isfinite(dst)
    index[valid] = 0
    index[valid & (dst >= marginal_dbm)] = 1
    index[valid & (dst >= covered_dbm)] = 2
    palette = np.array(
        [_hex_rgb(STATUS_COLORS[s]) for s in ("dead", "marginal", "covered")], dtype=np.uint8
    )
    return _palette_png(index, palette)


#: Legend name of ``rx_dbm`` unless the caller names its metric.
_DEFAULT_METRIC = "Best received power"


def _class_index_png(
    classes: npt.NDArray[np.integer],
    transform: Affine,
    crs: Any,
    *,
    max_raster_px: int,
    k: int,
) -> tuple[str, list[list[float]]]:
    """Status classes (-1 none, 0 dead, 1 marginal, 2 covered) as a palette PNG.

    Downsampled like the best-server raster (centre cell of each ``k`` block:
    a class is never averaged) and warped on the same grid.
    """
    arr = np.asarray(classes)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(
            f"coverage_class had shape {arr.shape} and dtype {arr.dtype}; "
            "expected a 2-D int array"
        )
    arr = np.where((arr >= 0) & (arr <= 2), arr, -1).astype(np.int32)
    if k > 1:
        arr, transform = _decimate(arr, transform, k, -1)
    dst, bounds = _warp_3857(
        arr, transform, _src_crs(crs), max_raster_px=max_raster_px, nodata=-1
    )
    index = np.full(dst.shape, 255, dtype=np.uint8)
    valid = dst >= 0
    index[valid] = dst[valid].astype(np.uint8)
    palette = np.array(
        [_hex_rgb(STATUS_COLORS[s]) for s in ("dead", "marginal", "covered")], dtype=np.uint8
    )
    return _palette_png(index, palette), bounds


def _hex_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def server_colors(n: int) -> list[str]:
    """Categorical colours of best-server indices ``0..n-1`` (as ``#rrggbb``).

    Hues step by the golden angle so neighbouring indices differ strongly; the
    sequence repeats after 255 indices (the PNG palette size).
    """
    import colorsys

    out = []
    for i in range(n):
        j = i % 255
        h = (j * 0.618033988749895) % 1.0
        s = (0.55, 0.75, 0.95)[j % 3]
        v = (0.95, 0.75, 0.85)[(j // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        out.append(f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}")
    return out


def _best_server_png(
    best_server: npt.NDArray[np.integer],
    transform: Affine,
    crs: Any,
    *,
    max_raster_px: int,
    k: int,
) -> tuple[str, list[list[float]], int]:
    """Best-server index raster (``< 0`` = none) as a categorical palette PNG.

    Downsampled by the same factor ``k`` as the received power (centre cell of
    each block: a class is never averaged) and warped on the same grid.
    Returns the data URI, bounds and the number of distinct servers drawn.
    """
    src_crs = _src_crs(crs)
    arr = np.asarray(best_server)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ParameterError(
            f"best_server had shape {arr.shape} and dtype {arr.dtype}; expected a 2-D int array"
        )
    arr = np.where(arr < 0, -1, arr).astype(np.int32)
    if k > 1:
        arr, transform = _decimate(arr, transform, k, -1)
    dst, bounds = _warp_3857(arr, transform, src_crs, max_raster_px=max_raster_px, nodata=-1)
    index = np.full(dst.shape, 255, dtype=np.uint8)
    valid = dst >= 0
    index[valid] = (dst[valid] % 255).astype(np.uint8)
    palette = np.array([_hex_rgb(c) for c in server_colors(255)], dtype=np.uint8)
    return _palette_png(index, palette), bounds, int(np.unique(dst[valid]).size)
