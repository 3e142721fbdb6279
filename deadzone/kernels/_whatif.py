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


@jit
def _value(win: np.ndarray, row_off: int, col_off: int, rr: int, cc: int) -> float:
    """The window's raw value at full-grid cell ``(rr, cc)``; NaN off the window."""
    i = rr - row_off
    j = cc - col_off
    if 0 <= i < win.shape[0] and 0 <= j < win.shape[1]:
        return float(win[i, j])
    return math.nan


@jit
def patch_cells(
    old_win: np.ndarray,
    old_row_off: int,
    old_col_off: int,
    old_offset_db: float,
    old_threshold_dbm: float,
    new_win: np.ndarray,
    new_row_off: int,
    new_col_off: int,
    new_offset_db: float,
    new_threshold_dbm: float,
    tower_index: int,
    box_row0: int,
    box_col0: int,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
    dirty: np.ndarray,
) -> int:
    """Swap one tower's window in a composite where that can be done cell by cell.

    ``old_win`` is the tower's window before the change and ``new_win``
    after it (either may be empty, shape ``(0, 0)``); the composite holds
    the fold of every tower with ``old_win``.  ``tower_index`` is the
    tower's server index after the change.  Per cell of the box
    (``dirty``'s shape, full-grid origin ``box_row0, box_col0``):

    1. Take the old value out.  If the old value was the only one folded
       there (second-best NaN), the cell becomes empty.  If the second-best
       is strictly above the old stored metric, best, server and second are
       those of the fold without the tower (the two folds can only differ in
       values at most that metric), and only the count drops.
    2. Put the new value in.  Into an empty cell: it is the best.  Into a
       cell with one server ``j``: the two-value fold in tower order, exact
       from ``j``'s stored metric except when that equals the new stored
       metric and ``j`` comes later (its float64 metric is not kept).  Into
       a cell whose second-best is strictly above the new stored metric:
       only the count.

    Any other cell is left untouched and flagged in ``dirty`` (the caller
    refolds it from every tower's window, in tower order).  Returns the
    number of dirty cells.
    """
    h = dirty.shape[0]
    w = dirty.shape[1]
    n_dirty = 0
    for bi in range(h):
        rr = box_row0 + bi
        for bj in range(w):
            cc = box_col0 + bj
            xo = _value(old_win, old_row_off, old_col_off, rr, cc)
            xn = _value(new_win, new_row_off, new_col_off, rr, cc)
            if math.isnan(xo) and math.isnan(xn):
                continue
            b = best_dbm[rr, cc]
            srv = best_server[rr, cc]
            s = second_dbm[rr, cc]
            cnt = np.int64(n_servers[rr, cc])
            if not math.isnan(xo):
                vo = xo - old_offset_db
                if vo >= old_threshold_dbm:
                    cnt -= 1
                if math.isnan(s):
                    b = np.float32(np.nan)
                    srv = -1
                    cnt = 0
                elif not (s > np.float32(vo)):
                    dirty[bi, bj] = True
                    n_dirty += 1
                    continue
            if not math.isnan(xn):
                vn = xn - new_offset_db
                fn = np.float32(vn)
                if vn >= new_threshold_dbm:
                    cnt += 1
                if math.isnan(b):
                    b = fn
                    srv = tower_index
                elif math.isnan(s):
                    if srv < tower_index:
                        # b first, then the new value.
                        if vn > b:
                            s = b
                            b = fn
                            srv = tower_index
                        else:
                            s = fn
                    elif b > fn:
                        # The new value first, then srv's (which beats it).
                        s = fn
                    elif b < fn:
                        s = b
                        b = fn
                        srv = tower_index
                    else:
                        dirty[bi, bj] = True
                        n_dirty += 1
                        continue
                elif not (s > fn):
                    dirty[bi, bj] = True
                    n_dirty += 1
                    continue
            best_dbm[rr, cc] = b
            best_server[rr, cc] = srv
            second_dbm[rr, cc] = s
            n_servers[rr, cc] = np.uint16(cnt)
    return n_dirty


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
            bb = best_dbm[k]
            if math.isnan(bb) or v > bb:
                second_dbm[k] = bb
                best_dbm[k] = v
                best_server[k] = tower_index
            else:
                s = second_dbm[k]
                if math.isnan(s) or v > s:
                    second_dbm[k] = v
            if v >= threshold_dbm:
                n_servers[k] += 1
