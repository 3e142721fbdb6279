"""Kernels for patching a multi-server composite when one tower changes.

Used by :mod:`deadzone.geo.whatif`: one tower's contribution is swapped in a
composite built by :func:`deadzone.kernels._propagation.merge_window` without
refolding every tower over the tower's whole window.  The metric arithmetic is
the merge kernel's: ``float64(window) - metric_offset_db``, stored as float32.
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels._jit import jit
from deadzone.kernels._propagation import fold_best


@jit
def remove_cells(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    metric_offset_db: float,
    threshold_dbm: float,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
    box_row0: int,
    box_col0: int,
    dirty: np.ndarray,
) -> int:
    """Take one tower's window out of a composite where that can be done cell by cell.

    The composite holds the fold of every tower, this one included.  At each
    cell the window reaches: if the tower's value was the only one folded
    there (second-best NaN), the cell becomes empty; if the second-best is
    strictly above the tower's stored metric (float32 of ``float64(window)
    - metric_offset_db``), best, server and second are those of the fold
    without the tower -- the two folds can only ever differ in values at
    most that metric -- and only the count drops.  Any other cell is left
    untouched and flagged in ``dirty`` (box with full-grid origin
    ``box_row0, box_col0``).  Returns the number of cells flagged.
    """
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    n_dirty = 0
    for i in range(wh):
        rr = row_off + i
        for j in range(ww):
            x = win_rx_dbm[i, j]
            if math.isnan(x):
                continue
            cc = col_off + j
            v = x - metric_offset_db
            s = second_dbm[rr, cc]
            if math.isnan(s):
                best_dbm[rr, cc] = np.float32(np.nan)
                best_server[rr, cc] = -1
                n_servers[rr, cc] = 0
            elif s > np.float32(v):
                if v >= threshold_dbm:
                    n_servers[rr, cc] -= 1
            else:
                dirty[rr - box_row0, cc - box_col0] = True
                n_dirty += 1
    return n_dirty


@jit
def insert_cells(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    metric_offset_db: float,
    threshold_dbm: float,
    tower_index: int,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
    box_row0: int,
    box_col0: int,
    dirty: np.ndarray,
) -> int:
    """Put one tower's window into a composite (any place in the tower order) cell by cell.

    The composite holds the fold of every other tower; ``tower_index`` is
    this tower's server index.  Cells already flagged in ``dirty`` are
    skipped.  Into an empty cell the tower's value is the best.  Into a cell
    with one server ``j``, the two-value fold in tower order is exact from
    ``j``'s stored metric, except when that equals this tower's stored
    metric and ``j`` comes later (``j``'s float64 metric is not kept).  Into
    a cell whose second-best is strictly above the tower's stored metric,
    only the count changes.  Any other cell is left untouched and flagged.
    Returns the number of cells newly flagged.
    """
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    n_dirty = 0
    for i in range(wh):
        rr = row_off + i
        bi = rr - box_row0
        for j in range(ww):
            x = win_rx_dbm[i, j]
            if math.isnan(x):
                continue
            cc = col_off + j
            bj = cc - box_col0
            if dirty[bi, bj]:
                continue
            v = x - metric_offset_db
            fv = np.float32(v)
            b = best_dbm[rr, cc]
            s = second_dbm[rr, cc]
            if math.isnan(b):
                best_dbm[rr, cc] = fv
                best_server[rr, cc] = tower_index
            elif math.isnan(s):
                if best_server[rr, cc] < tower_index:
                    # b first, then this tower (the merge kernel's test).
                    if v > b:
                        second_dbm[rr, cc] = b
                        best_dbm[rr, cc] = fv
                        best_server[rr, cc] = tower_index
                    else:
                        second_dbm[rr, cc] = fv
                elif b > fv:
                    # This tower first, then the other, which beats it.
                    second_dbm[rr, cc] = fv
                elif b < fv:
                    second_dbm[rr, cc] = b
                    best_dbm[rr, cc] = fv
                    best_server[rr, cc] = tower_index
                else:
                    dirty[bi, bj] = True
                    n_dirty += 1
                    continue
            elif not (s > fv):
                dirty[bi, bj] = True
                n_dirty += 1
                continue
            if v >= threshold_dbm:
                n_servers[rr, cc] += 1
    return n_dirty


@jit
def list_cells(dirty: np.ndarray, box_col0: int, row_ptr: np.ndarray, cols: np.ndarray) -> None:
    """Flagged cells row by row: row ``r`` of the box holds ``cols[row_ptr[r]:row_ptr[r+1]]``.

    ``cols`` are full-grid columns, ascending within a row; ``row_ptr`` has
    one entry more than the box has rows.
    """
    h = dirty.shape[0]
    w = dirty.shape[1]
    k = 0
    for i in range(h):
        row_ptr[i] = k
        for j in range(w):
            if dirty[i, j]:
                cols[k] = box_col0 + j
                k += 1
    row_ptr[h] = k


@jit
def scatter_cells(
    row0: int,
    row_ptr: np.ndarray,
    cols: np.ndarray,
    part_best_dbm: np.ndarray,
    part_best_server: np.ndarray,
    part_second_dbm: np.ndarray,
    part_n_servers: np.ndarray,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
) -> None:
    """Write a composite kept on a list of cells (see :func:`list_cells`) back to the grid."""
    for r in range(row_ptr.shape[0] - 1):
        rr = row0 + r
        for k in range(row_ptr[r], row_ptr[r + 1]):
            cc = cols[k]
            best_dbm[rr, cc] = part_best_dbm[k]
            best_server[rr, cc] = part_best_server[k]
            second_dbm[rr, cc] = part_second_dbm[k]
            n_servers[rr, cc] = part_n_servers[k]


@jit
def fold_cells(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    tower_index: int,
    metric_offset_db: float,
    threshold_dbm: float,
    row0: int,
    row_ptr: np.ndarray,
    cols: np.ndarray,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
) -> None:
    """Fold one tower's window into a composite kept on a list of cells.

    The cells are grouped by row: row ``row0 + r`` holds entries
    ``row_ptr[r]:row_ptr[r + 1]`` of ``cols`` (ascending) and of the 1-d
    ``best_dbm``, ``best_server``, ``second_dbm``, ``n_servers``.  The
    update is :func:`deadzone.kernels._propagation.merge_window`'s, cell for
    cell (call in tower order).
    """
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    n_rows = row_ptr.shape[0] - 1
    r_lo = max(row_off, row0)
    r_hi = min(row_off + wh, row0 + n_rows)
    for rr in range(r_lo, r_hi):
        a = row_ptr[rr - row0]
        b = row_ptr[rr - row0 + 1]
        if a == b:
            continue
        k0 = a + np.searchsorted(cols[a:b], col_off)
        k1 = a + np.searchsorted(cols[a:b], col_off + ww)
        i = rr - row_off
        for k in range(k0, k1):
            v = win_rx_dbm[i, cols[k] - col_off]
            if math.isnan(v):
                continue
            v = v - metric_offset_db
            best_dbm[k], best_server[k], second_dbm[k] = fold_best(
                v, tower_index, best_dbm[k], best_server[k], second_dbm[k])
            if v >= threshold_dbm:
                n_servers[k] += 1
