"""Kernels for patching a multi-server composite when one tower changes.

Used by :mod:`deadzone.geo.whatif`: one tower's contribution is swapped in a
composite built by :func:`deadzone.kernels._propagation.merge_window` without
refolding every tower over the tower's whole window.  The metric arithmetic is
the merge kernel's: ``float64(window) - metric_offset_db``, stored as float32.

Ranks.  Folding in tower order with :func:`fold_best` leaves, at each cell,
the largest stored metric ``F`` as the best, the second largest of all the
stored metrics (``F`` again on a tie) as the second and, when one tower
alone holds ``F``, that tower as the server (a tower beats the best only
when its float64 metric exceeds it, so a tower whose stored metric is below
``F`` never displaces the one at ``F``).  Best, server and second are
therefore a function of the towers' stored metrics, in the *rank order*:
metric descending, tower index ascending on equal metrics.  A session keeps,
below the composite's best and second, the ranks that follow (``lower_server``
for ranks 2 to ``depth``, ``lower_dbm`` for the metrics of ranks 3 to
``depth``), so that when the edited tower leaves a cell's best two the new
best two are read off the ranks, with no other tower's window.  A rank entry
holds a tower index, or :data:`RANK_NONE` (no tower: the list is complete),
or :data:`RANK_UNKNOWN` (this rank and those after it are not known: the
edits since the cell was last folded took ranks out).  Where the best two
metrics tie, the rank order's first tower need not be the server, so the
cell's ranks are all unknown.
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels._jit import jit
from deadzone.kernels._propagation import fold_best
from deadzone.kernels._vmath import vjit

#: Rank entry: no tower at this rank (every tower at the cell is listed above).
RANK_NONE = -1
#: Rank entry: this rank and the ranks after it are not known.
RANK_UNKNOWN = -2
#: Rank entry: the removed tower (``Session.remove`` marks its entries so
#: that the later towers' indices can move down before the patch).
RANK_GONE = -3

# The per-cell helpers below are ``vjit`` (always inlined): a call passes the
# rank arrays without reference counting, which would cost more than the work.


@vjit
def _window_metric(win, i, j, offset_db):  # noqa: ANN001, ANN202
    """(whether a tower's window has a value at its cell (i, j), that value
    minus ``offset_db``); (False, 0.0) outside the window or where NaN."""
    if 0 <= i < win.shape[0] and 0 <= j < win.shape[1]:
        x = win[i, j]
        if not math.isnan(x):
            return True, x - offset_db
    return False, 0.0


@vjit
def _read_ranks(b, k, s, ls, ld, cell, vals, ids):  # noqa: ANN001, ANN202
    """A cell's known ranks into ``vals``/``ids``; returns ``(count, complete)``.

    ``ls``, ``ld``: the ranks with one row per cell; ``cell``: the row.

    ``complete``: every tower at the cell is among the ``count`` listed.
    A tie of the best two gives ``(0, False)``.
    """
    if math.isnan(b):
        return 0, True
    vals[0] = b
    ids[0] = k
    if math.isnan(s):
        return 1, True
    if not (b > s):
        return 0, False
    cnt = 1
    for j in range(1, ls.shape[1] + 1):
        sid = ls[cell, j - 1]
        if sid == RANK_UNKNOWN:
            return cnt, False
        if sid == RANK_NONE:
            return cnt, True
        vals[j] = s if j == 1 else ld[cell, j - 2]
        ids[j] = sid
        cnt += 1
    return cnt, False


@vjit
def _write_lower(b, s, cnt, complete, vals, ids, ls, ld, cell):  # noqa: ANN001, ANN202
    """Store ranks 2 to ``depth`` of a cell whose best is ``b`` and second ``s``."""
    tie = not math.isnan(s) and not (b > s)
    for j in range(1, ls.shape[1] + 1):
        if tie:
            sid = RANK_UNKNOWN
            v = np.nan
        elif j < cnt:
            sid = ids[j]
            v = vals[j]
        elif complete:
            sid = RANK_NONE
            v = np.nan
        else:
            sid = RANK_UNKNOWN
            v = np.nan
        ls[cell, j - 1] = sid
        if j >= 2:
            ld[cell, j - 2] = v


@vjit
def _rank_insert(vals, ids, cnt, complete, pos, fv, index):  # noqa: ANN001, ANN202
    """Insert ``(fv, index)`` at ``pos``; returns ``(count, complete)``."""
    cap = vals.shape[0]
    if pos >= cap:
        return cnt, False
    last = cnt if cnt < cap else cap - 1
    for q in range(last, pos, -1):
        vals[q] = vals[q - 1]
        ids[q] = ids[q - 1]
    vals[pos] = fv
    ids[pos] = index
    if cnt < cap:
        return cnt + 1, complete
    return cap, False


@vjit
def _settled(fv, b, s, ls, ld, cell):  # noqa: ANN001, ANN202
    """Whether a stored metric ``fv`` folded last leaves the cell's ranks as
    they are: below the last rank kept, or below tied best two."""
    if math.isnan(s):
        return False
    if not (b > s):
        return not (fv > b)
    d = ls.shape[1]
    if d == 0:
        return True
    if ls[cell, d - 1] < 0:
        return False  # fewer towers than ranks, or ranks unknown
    last = s if d == 1 else ld[cell, d - 2]
    return fv < last


@vjit
def _rank_last(fv, index, b, k, s, ls, ld, cell, vals, ids):  # noqa: ANN001, ANN202
    """Ranks of a cell after folding ``(fv, index)`` last (above every index there)."""
    cnt, complete = _read_ranks(b, k, s, ls, ld, cell, vals, ids)
    if cnt == 0 and not complete:
        # best two tied: only a metric above them both is placed for sure
        if fv > b:
            vals[0] = fv
            ids[0] = index
            return 1, False
        return 0, False
    pos = cnt
    for q in range(cnt):
        if fv > vals[q]:
            pos = q
            break
    if pos < cnt or complete:
        return _rank_insert(vals, ids, cnt, complete, pos, fv, index)
    return cnt, complete


@jit
def merge_ranked(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    tower_index: int,
    metric_offset_db: float,
    threshold_dbm: float,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
    lower_server: np.ndarray,
    lower_dbm: np.ndarray,
) -> None:
    """:func:`deadzone.kernels._propagation.merge_window`, keeping the ranks too.

    Best, server, second and count are the merge kernel's bit for bit (call
    in tower order); ``lower_server[rows, cols, depth - 1]`` and
    ``lower_dbm[rows, cols, depth - 2]`` hold ranks 2 to ``depth`` (see the
    module docstring).
    """
    rows = best_dbm.shape[0]
    cols = best_dbm.shape[1]
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    depth1 = lower_server.shape[2]
    cap = max(depth1 + 1, 2)
    vals = np.empty(cap, dtype=np.float32)
    ids = np.empty(cap, dtype=np.int64)
    ls = lower_server.reshape((rows * cols, depth1))
    ld = lower_dbm.reshape((rows * cols, lower_dbm.shape[2]))
    for i in range(wh):
        rr = row_off + i
        if rr < 0 or rr >= rows:
            continue
        for j in range(ww):
            cc = col_off + j
            if cc < 0 or cc >= cols:
                continue
            v = win_rx_dbm[i, j]
            if math.isnan(v):
                continue
            v = v - metric_offset_db
            b0 = best_dbm[rr, cc]
            s0 = second_dbm[rr, cc]
            fv = np.float32(v)
            cell = rr * cols + cc
            settled = _settled(fv, b0, s0, ls, ld, cell)
            cnt, complete = 0, False
            if not settled:
                cnt, complete = _rank_last(fv, tower_index, b0, best_server[rr, cc], s0, ls, ld,
                                           cell, vals, ids)
            b, k, s = fold_best(v, tower_index, b0, best_server[rr, cc], s0)
            best_dbm[rr, cc] = b
            best_server[rr, cc] = k
            second_dbm[rr, cc] = s
            if not settled:
                _write_lower(best_dbm[rr, cc], second_dbm[rr, cc], cnt, complete, vals, ids, ls,
                             ld, cell)
            if v >= threshold_dbm:
                n_servers[rr, cc] += 1


@jit
def patch_cells(
    old_rx_dbm: np.ndarray,
    old_row_off: int,
    old_col_off: int,
    old_offset_db: float,
    old_threshold_dbm: float,
    old_key: int,
    new_rx_dbm: np.ndarray,
    new_row_off: int,
    new_col_off: int,
    new_offset_db: float,
    new_threshold_dbm: float,
    new_index: int,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
    lower_server: np.ndarray,
    lower_dbm: np.ndarray,
    box_row0: int,
    box_col0: int,
    dirty: np.ndarray,
) -> int:
    """Swap one tower's window in a composite cell by cell, wherever that is exact.

    The composite holds the fold of every tower, the old window included;
    afterwards it holds the fold with the new window instead (tower index
    ``new_index``; either window may be empty, shape ``(0, 0)``).  At each
    cell of the box ``dirty`` covers (full-grid origin ``box_row0,
    box_col0``) that either window reaches, the count drops by the old
    window's test and rises by the new one's (the merge kernel's ``v >=
    threshold``).  Best, server, second and the ranks are then updated from
    the cell's ranks (module docstring): the old tower's entry (the best if
    its stored metric is the best's, else the entry whose index is
    ``old_key``) is taken out and the new one put in at its rank.  That is
    exact when the best two come out known and untied; when both the old
    and the new stored metric lie strictly below the second best, the best
    two cannot change, whatever the ranks know (the two folds can only ever
    differ in values at most those metrics).  Any other cell keeps its best,
    server, second and ranks and is flagged in ``dirty``, for a refold from
    the windows.  Returns the number of cells flagged.
    """
    rows = best_dbm.shape[0]
    cols = best_dbm.shape[1]
    depth1 = lower_server.shape[2]
    cap = max(depth1 + 1, 2)
    vals = np.empty(cap, dtype=np.float32)
    ids = np.empty(cap, dtype=np.int64)
    ls = lower_server.reshape((rows * cols, depth1))
    ld = lower_dbm.reshape((rows * cols, lower_dbm.shape[2]))
    n_dirty = 0
    for bi in range(dirty.shape[0]):
        rr = box_row0 + bi
        for bj in range(dirty.shape[1]):
            cc = box_col0 + bj
            has_o, vo = _window_metric(old_rx_dbm, rr - old_row_off, cc - old_col_off,
                                       old_offset_db)
            has_n, vn = _window_metric(new_rx_dbm, rr - new_row_off, cc - new_col_off,
                                       new_offset_db)
            if not has_o and not has_n:
                continue
            if has_o and vo >= old_threshold_dbm:
                n_servers[rr, cc] -= 1
            if has_n and vn >= new_threshold_dbm:
                n_servers[rr, cc] += 1
            fo = np.float32(vo)
            fn = np.float32(vn)
            b = best_dbm[rr, cc]
            s = second_dbm[rr, cc]
            cell = rr * cols + cc
            # both below the second best: the best two stay
            keep = not math.isnan(s) and (not has_o or s > fo) and (not has_n or s > fn)
            if keep and (not has_o or _settled(fo, b, s, ls, ld, cell)) and (
                    not has_n or _settled(fn, b, s, ls, ld, cell)):
                continue  # both below the last rank kept too (or the ranks unknown)
            cnt, complete = _read_ranks(b, best_server[rr, cc], s, ls, ld, cell, vals, ids)
            ok = cnt > 0 or complete
            if ok and has_o:
                p = -1
                for q in range(cnt):
                    if (q == 0 and vals[0] == fo) or (q > 0 and ids[q] == old_key):
                        p = q
                        break
                if p >= 0:
                    for q in range(p, cnt - 1):
                        vals[q] = vals[q + 1]
                        ids[q] = ids[q + 1]
                    cnt -= 1
                elif complete:  # pragma: no cover - ranks out of step: refold
                    ok = False
            if ok and has_n:
                pos = cnt
                for q in range(cnt):
                    if fn > vals[q] or (fn == vals[q] and new_index < ids[q]):
                        pos = q
                        break
                if pos < cnt or complete:
                    cnt, complete = _rank_insert(vals, ids, cnt, complete, pos, fn, new_index)
            if keep:
                if ok:
                    _write_lower(b, s, cnt, complete, vals, ids, ls, ld, cell)
                    continue
                if cnt == 0 and not complete:
                    continue  # unknown ranks stay unknown
            elif ok and ((cnt >= 2 and vals[0] > vals[1]) or (cnt < 2 and complete)):
                if cnt == 0:
                    best_dbm[rr, cc] = np.float32(np.nan)
                    best_server[rr, cc] = -1
                else:
                    best_dbm[rr, cc] = vals[0]
                    best_server[rr, cc] = ids[0]
                second_dbm[rr, cc] = vals[1] if cnt >= 2 else np.float32(np.nan)
                _write_lower(best_dbm[rr, cc], second_dbm[rr, cc], cnt, complete, vals, ids,
                             ls, ld, cell)
                continue
            dirty[bi, bj] = True
            n_dirty += 1
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
    part_lower_server: np.ndarray,
    part_lower_dbm: np.ndarray,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    lower_server: np.ndarray,
    lower_dbm: np.ndarray,
) -> None:
    """Write best, server, second and ranks kept on a list of cells (see
    :func:`list_cells`) back to the grid (the count is left as it is)."""
    for r in range(row_ptr.shape[0] - 1):
        rr = row0 + r
        for k in range(row_ptr[r], row_ptr[r + 1]):
            cc = cols[k]
            best_dbm[rr, cc] = part_best_dbm[k]
            best_server[rr, cc] = part_best_server[k]
            second_dbm[rr, cc] = part_second_dbm[k]
            for j in range(lower_server.shape[2]):
                lower_server[rr, cc, j] = part_lower_server[k, j]
            for j in range(lower_dbm.shape[2]):
                lower_dbm[rr, cc, j] = part_lower_dbm[k, j]


@jit
def fold_cells(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    tower_index: int,
    metric_offset_db: float,
    row0: int,
    row_ptr: np.ndarray,
    cols: np.ndarray,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    lower_server: np.ndarray,
    lower_dbm: np.ndarray,
) -> None:
    """Fold one tower's window into a composite kept on a list of cells.

    The cells are grouped by row: row ``row0 + r`` holds entries
    ``row_ptr[r]:row_ptr[r + 1]`` of ``cols`` (ascending) and of the 1-d
    ``best_dbm``, ``best_server``, ``second_dbm`` and the ranks'
    ``lower_server[n, depth - 1]``, ``lower_dbm[n, depth - 2]``.  The update
    is :func:`merge_ranked`'s (no count), cell for cell (call in tower order).
    """
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    n_rows = row_ptr.shape[0] - 1
    r_lo = max(row_off, row0)
    r_hi = min(row_off + wh, row0 + n_rows)
    cap = max(lower_server.shape[1] + 1, 2)
    vals = np.empty(cap, dtype=np.float32)
    ids = np.empty(cap, dtype=np.int64)
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
            fv = np.float32(v)
            settled = _settled(fv, best_dbm[k], second_dbm[k], lower_server, lower_dbm, k)
            cnt, complete = 0, False
            if not settled:
                cnt, complete = _rank_last(fv, tower_index, best_dbm[k], best_server[k],
                                           second_dbm[k], lower_server, lower_dbm, k, vals, ids)
            best_dbm[k], best_server[k], second_dbm[k] = fold_best(
                v, tower_index, best_dbm[k], best_server[k], second_dbm[k])
            if not settled:
                _write_lower(best_dbm[k], second_dbm[k], cnt, complete, vals, ids, lower_server,
                             lower_dbm, k)


@jit
def forget_ranks(bound_dbm: np.ndarray, second_dbm: np.ndarray, lower_server: np.ndarray,
                 lower_dbm: np.ndarray) -> None:
    """Mark unknown the ranks a fold of only some towers cannot vouch for.

    ``bound_dbm[n]`` is, per listed cell, an upper bound of the stored
    metric of every tower left out of the fold (``-inf``: none reaches the
    cell).  A rank whose metric is not strictly above it, and the ranks
    after it, become :data:`RANK_UNKNOWN`; so does a :data:`RANK_NONE`
    wherever a left-out tower may reach.  (The best two must be above it:
    the caller folds every tower that might reach them.)
    """
    for k in range(bound_dbm.shape[0]):
        bound = bound_dbm[k]
        if bound == -np.inf:
            continue
        lost = False
        for j in range(1, lower_server.shape[1] + 1):
            sid = lower_server[k, j - 1]
            if sid == RANK_UNKNOWN:
                break
            if not lost:
                if sid == RANK_NONE:
                    lost = True
                else:
                    v = second_dbm[k] if j == 1 else lower_dbm[k, j - 2]
                    lost = not (v > bound)
            if lost:
                lower_server[k, j - 1] = RANK_UNKNOWN
                if j >= 2:
                    lower_dbm[k, j - 2] = np.nan
