"""DEM warp kernel API (:mod:`._resample`): lattice positions and a tent filter."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _resample as _k

__all__ = ["edge_connected", "warp_tent"]


def warp_tent(
    values: npt.NDArray[np.floating],
    void_mask: npt.NDArray[np.bool_],
    *,
    lattice_col: npt.NDArray[np.float64],
    lattice_row: npt.NDArray[np.float64],
    lattice_origin: tuple[int, int],
    lattice_step: int,
    target_origin: tuple[int, int],
    target_shape: tuple[int, int],
    source_shape: tuple[int, int],
    window_origin: tuple[int, int],
    kernel_x: float,
    kernel_y: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Resample a source raster window onto target cells (bilinear / tent filter).

    Parameters
    ----------
    values : float32[vh, vw]
        Source heights of the window read (NaN = no data).
    void_mask : bool[vh, vw]
        Source cells that were voids (carried to the target cell holding them).
    lattice_col, lattice_row : float64[ni, nj]
        Source pixel coordinates (whole raster) of target cells ``(i *
        lattice_step, j * lattice_step)`` for ``i >= lattice_origin[0]``, ``j
        >= lattice_origin[1]``; must cover the target area (plus one node).
    lattice_step : int
        Target cells between lattice nodes (a power of 2).
    target_origin, target_shape : (int, int)
        First target (row, col) of the whole grid and the area's size.
    source_shape : (int, int)
        The whole source raster's (height, width).
    window_origin : (int, int)
        (row, col) of ``values[0, 0]`` in the whole source raster.
    kernel_x, kernel_y : float
        Tent half-widths in source cells (1 = bilinear; the downsampling
        ratio when coarser, as GDAL's bilinear warp).

    Returns
    -------
    (float32[h, w], bool[h, w])
        Heights (NaN off the source or with no valid neighbour) and void flags.
    """
    vals = np.ascontiguousarray(values, dtype=np.float32)
    vmask = np.ascontiguousarray(void_mask, dtype=np.bool_)
    if vals.ndim != 2 or vals.shape != vmask.shape:
        raise ParameterError("values and void_mask must be 2-D arrays of one shape")
    step = int(lattice_step)
    if step < 1 or step & (step - 1):
        raise ParameterError(f"lattice_step was {lattice_step}; expected a power of 2")
    if not (kernel_x >= 1.0 and kernel_y >= 1.0):
        raise ParameterError("kernel_x and kernel_y must be >= 1 source cell")
    h, w = (int(v) for v in target_shape)
    r0, c0 = (int(v) for v in target_origin)
    i0, j0 = (int(v) for v in lattice_origin)
    lc = np.ascontiguousarray(lattice_col, dtype=np.float64)
    lr = np.ascontiguousarray(lattice_row, dtype=np.float64)
    if h and w:
        need_i = (r0 + h - 1) // step - i0 + 2
        need_j = (c0 + w - 1) // step - j0 + 2
        if (r0 // step < i0 or c0 // step < j0 or lc.shape != lr.shape
                or lc.shape[0] < need_i or lc.shape[1] < need_j):
            raise ParameterError("the lattice does not cover the target area")
    out = np.empty((h, w), dtype=np.float32)
    vm = np.empty((h, w), dtype=np.bool_)
    _k.warp_tent(vals, lc, lr, i0, j0, step, r0, c0, int(source_shape[0]),
                 int(source_shape[1]), int(window_origin[0]), int(window_origin[1]),
                 float(kernel_x), float(kernel_y), vmask, out, vm)
    return out, vm


def edge_connected(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The cells of a 2-D ``mask`` joined to the grid's edge through ``mask``
    cells, 4-connected (the union of ``scipy.ndimage.label``'s components
    that touch the edge).

    Parameters
    ----------
    mask : bool[h, w]

    Returns
    -------
    bool[h, w]
    """
    m = np.ascontiguousarray(mask, dtype=np.bool_)
    if m.ndim != 2:
        raise ParameterError(f"mask must be a 2-D array; got {m.ndim} dimensions")
    out = np.zeros(m.shape, dtype=np.bool_)
    _k.edge_connected(m, out)
    return out
