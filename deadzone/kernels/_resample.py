"""Numba kernel of the DEM warp: source positions from a lattice, then a tent filter.

Every target cell is computed on its own, in the fixed order of operations of
the reference array code it replaces (``deadzone.data.loaders``' former
``_positions`` and ``_tent_resample``), so a cell's value is the same bit for
bit whatever window, band or thread computes it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from deadzone.kernels._jit import jit, jit_parallel


@jit_parallel
def warp_tent(values: np.ndarray, lat_col: np.ndarray, lat_row: np.ndarray, lat_i0: int,
              lat_j0: int, k: int, r0: int, c0: int, src_h: int, src_w: int, row_off: int,
              col_off: int, kernel_x: float, kernel_y: float, void_mask: np.ndarray,
              out: np.ndarray, vm: np.ndarray) -> None:
    """Resample ``values`` (a window of the source at ``row_off``, ``col_off``)
    onto target cells ``r0 + i``, ``c0 + j`` of ``out`` / ``vm``.

    Each target cell's source position is bilinear in the four lattice nodes
    around it (nodes every ``k`` target cells, ``lat_*[i - lat_i0, j -
    lat_j0]``; NaN or outside ``src_h`` x ``src_w`` = off the source, NaN
    out); its value is the separable tent-weighted mean ``max(0, 1 - |d| /
    r)`` over the source cells within ``ceil(r)`` (``r`` = ``kernel_x``,
    ``kernel_y``), NaN cells and cells outside the window left out and the
    weights renormalised.  ``vm`` gets ``void_mask`` of the source cell that
    holds the position.
    """
    h, w = out.shape
    vh, vw = values.shape
    kx = int(math.ceil(kernel_x))
    ky = int(math.ceil(kernel_y))
    for i in prange(h):
        row = r0 + i
        ii = row // k
        ti = (row - ii * k) / k  # exact: k is a power of 2
        li = ii - lat_i0
        for j in range(w):
            col = c0 + j
            jj = col // k
            tj = (col - jj * k) / k
            lj = jj - lat_j0
            col_f = (1.0 - ti) * ((1.0 - tj) * lat_col[li, lj] + tj * lat_col[li, lj + 1]) + ti * (
                (1.0 - tj) * lat_col[li + 1, lj] + tj * lat_col[li + 1, lj + 1])
            row_f = (1.0 - ti) * ((1.0 - tj) * lat_row[li, lj] + tj * lat_row[li, lj + 1]) + ti * (
                (1.0 - tj) * lat_row[li + 1, lj] + tj * lat_row[li + 1, lj + 1])
            if not (math.isfinite(col_f) and math.isfinite(row_f) and col_f >= 0.0
                    and col_f < src_w and row_f >= 0.0 and row_f < src_h):
                out[i, j] = np.nan
                vm[i, j] = False
                continue
            vr = int(math.floor(row_f)) - row_off
            vc = int(math.floor(col_f)) - col_off
            vm[i, j] = void_mask[vr, vc] if 0 <= vr < vh and 0 <= vc < vw else False
            u = col_f - 0.5
            v = row_f - 0.5
            u0 = int(math.floor(u))
            v0 = int(math.floor(v))
            total = 0.0
            wsum = 0.0
            for dy in range(1 - ky, ky + 1):
                rr = v0 + dy
                wy = max(0.0, 1.0 - abs(v - rr) / kernel_y)
                lr = rr - row_off
                if lr < 0 or lr >= vh:
                    continue
                for dx in range(1 - kx, kx + 1):
                    cc = u0 + dx
                    wx = max(0.0, 1.0 - abs(u - cc) / kernel_x)
                    lc = cc - col_off
                    if lc < 0 or lc >= vw:
                        continue
                    val = np.float64(values[lr, lc])
                    if not math.isfinite(val):
                        continue
                    wgt = wx * wy
                    if wgt > 0.0:
                        total += val * wgt
                        wsum += wgt
            out[i, j] = np.float32(total / wsum) if wsum > 0.0 else np.nan


@jit
def edge_connected(mask: np.ndarray, out: np.ndarray) -> None:
    """``out``: the cells of ``mask`` joined to the grid's edge through ``mask``
    cells (4-connectivity: rook moves, as ``scipy.ndimage.label``'s default).

    A flood fill from every ``mask`` cell on the edge, with an explicit stack
    of flat indices (a cell enters it once at most, so it never holds more
    than the mask's cells).  ``out`` is pre-filled with False.
    """
    h, w = mask.shape
    n_mask = 0
    for r in range(h):
        for c in range(w):
            n_mask += mask[r, c]
    stack = np.empty(n_mask, dtype=np.int64)
    top = 0
    for r in range(h):
        for c in range(w):
            if (r == 0 or r == h - 1 or c == 0 or c == w - 1) and mask[r, c] and not out[r, c]:
                out[r, c] = True
                stack[top] = r * w + c
                top += 1
                while top:
                    top -= 1
                    k = stack[top]
                    rr = k // w
                    cc = k - rr * w
                    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                        r2 = rr + dr
                        c2 = cc + dc
                        if 0 <= r2 < h and 0 <= c2 < w and mask[r2, c2] and not out[r2, c2]:
                            out[r2, c2] = True
                            stack[top] = r2 * w + c2
                            top += 1
