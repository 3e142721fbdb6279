"""What one tower touches in a what-if composite: its footprint (the window
its sweep writes) and the cell-by-cell patch that takes an old window out of
the composite and puts a new one in, equal to a from-scratch fold bit for
bit (see :func:`_patch_composite`)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.geo.coverage import (
    EngineParams,
    site_window,
)
from deadzone.kernels import composite as _kw
from deadzone.kernels.coverage import (
    Composite,
    RadioSite,
    merge_into,
    new_composite,
)
from deadzone.model.dem import Dem

__all__ = [
    "Footprint",
    "WindowStore",
    "tower_footprint",
]


@dataclass(frozen=True)
class Footprint:
    """One tower's received power, cropped to the cells it reaches on the grid.

    Attributes
    ----------
    window : float32[h, w]
        Total received power (dBm), NaN where not reached.
    row_off, col_off : int
        Grid index of ``window[0, 0]``.
    reach : tuple of int
        ``(row0, col0, row1, col1)`` (end exclusive) of the tower's full
        computation square clipped to the grid: every cell within the radius.
    """

    window: npt.NDArray[np.float32]
    row_off: int
    col_off: int
    reach: tuple[int, int, int, int]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(row0, col0, row1, col1)`` of ``window`` (end exclusive)."""
        h, w = self.window.shape
        return (self.row_off, self.col_off, self.row_off + h, self.col_off + w)


def tower_footprint(
    elevation_m: npt.NDArray[np.float32],
    site: RadioSite,
    *,
    dem: Dem,
    params: EngineParams,
    n_threads: int = 1,
) -> Footprint:
    """Compute one site's window as :func:`compute_coverage` does, and crop it.

    Parameters
    ----------
    elevation_m : float32[rows, cols]
        ``dem.elevation_m`` as a contiguous float32 array.
    site : RadioSite
        The kernel site (from :func:`towers_on_grid`).
    dem : Dem
        The grid (cell sizes).
    params : EngineParams
        Engine parameters.
    n_threads : int
        Threads sharing the site's radials (the result does not depend on it).

    Returns
    -------
    Footprint
    """
    win, r0, c0 = site_window(
        elevation_m,
        site,
        dem=dem,
        radius_m=params.radius_m,
        rx_height_m=params.rx_height_m,
        model=params.model,
        k_factor=params.k_factor,
        floor_dbm=params.floor_dbm,
        itm=params.itm,
        n_threads=n_threads,
    )
    rows, cols = elevation_m.shape
    h, w = win.shape
    reach = (max(r0, 0), max(c0, 0), min(r0 + h, rows), min(c0 + w, cols))
    sub = win[reach[0] - r0 : reach[2] - r0, reach[1] - c0 : reach[3] - c0]
    fin = np.isfinite(sub)
    ra = np.flatnonzero(fin.any(axis=1))
    ca = np.flatnonzero(fin.any(axis=0))
    if ra.size == 0:
        crop = np.empty((0, 0), dtype=np.float32)
        return Footprint(crop, reach[0], reach[1], reach)
    crop = np.ascontiguousarray(sub[ra[0] : ra[-1] + 1, ca[0] : ca[-1] + 1])
    return Footprint(crop, reach[0] + int(ra[0]), reach[1] + int(ca[0]), reach)


def _as_objects(s: pd.Series) -> npt.NDArray[np.object_]:
    """Values as an object array with None for missing."""
    out = s.to_numpy(dtype=object, copy=True)
    out[s.isna().to_numpy()] = None
    return out


def _union(
    a: tuple[int, int, int, int] | None, b: tuple[int, int, int, int] | None
) -> tuple[int, int, int, int] | None:
    boxes = [x for x in (a, b) if x is not None and x[2] > x[0] and x[3] > x[1]]
    if not boxes:
        return None
    return (
        min(x[0] for x in boxes),
        min(x[1] for x in boxes),
        max(x[2] for x in boxes),
        max(x[3] for x in boxes),
    )


@dataclass(frozen=True)
class _Contrib:
    """One tower's contribution to one composite: where its window lies, its
    offset and count threshold, and ``load()`` giving the window itself (kept
    or recomputed: see :class:`WindowStore`)."""

    index: int
    row_off: int
    col_off: int
    shape: tuple[int, int]
    metric_offset_db: float
    threshold_dbm: float
    load: Callable[[], npt.NDArray[np.float32]]

    @classmethod
    def of(cls, index: int, window: npt.NDArray[np.float32], row_off: int, col_off: int,
           metric_offset_db: float, threshold_dbm: float) -> _Contrib:
        """A contribution whose window is at hand."""
        return cls(index, row_off, col_off, (int(window.shape[0]), int(window.shape[1])),
                   metric_offset_db, threshold_dbm, lambda: window)

    @property
    def empty(self) -> bool:
        return self.shape[0] == 0 or self.shape[1] == 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.shape
        return (self.row_off, self.col_off, self.row_off + h, self.col_off + w)


class WindowStore:
    """Tower windows kept within a byte budget, the least recently used dropped first.

    A what-if session needs a tower's window again only when an edit nearby
    refolds cells it reaches.  A dropped window is recomputed then: the sweep
    is deterministic and does not depend on the thread count, so the
    recomputed window is bit for bit the one dropped (checked on its box).

    Parameters
    ----------
    budget_bytes : int or None
        Most bytes of windows kept; None keeps every window.
    """

    def __init__(self, budget_bytes: int | None) -> None:
        self.budget_bytes = budget_bytes
        self._kept: OrderedDict[int, npt.NDArray[np.float32]] = OrderedDict()
        self.nbytes = 0
        #: Windows computed again after being dropped.
        self.recomputed = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, key: int) -> npt.NDArray[np.float32] | None:
        """The kept window ``key`` (now the most recently used), or None."""
        with self._lock:
            win = self._kept.get(key)
            if win is not None:
                self._kept.move_to_end(key)
            return win

    def put(self, key: int, window: npt.NDArray[np.float32]) -> None:
        """Keep ``window`` under ``key``; drop the least recently used beyond the budget."""
        with self._lock:
            self._drop(key)
            self._kept[key] = window
            self.nbytes += window.nbytes
            while self.budget_bytes is not None and self.nbytes > self.budget_bytes:
                _, w = self._kept.popitem(last=False)
                self.nbytes -= w.nbytes

    def drop(self, key: int) -> None:
        """Forget window ``key`` (its tower was removed or changed)."""
        with self._lock:
            self._drop(key)

    def _drop(self, key: int) -> None:
        w = self._kept.pop(key, None)
        if w is not None:
            self.nbytes -= w.nbytes


def _patch_composite(
    comp: Composite,
    old: _Contrib | None,
    new: _Contrib | None,
    fold: list[_Contrib],
) -> int:
    """Replace one tower's contribution to ``comp`` in place; return the cells refolded.

    ``old`` is the tower's contribution before the edit (None when added),
    ``new`` after it (None when removed), ``fold`` every contribution to
    ``comp`` after the edit, in tower order (server indices already final).

    The merge kernel keeps, per cell, the best metric (lowest tower index on
    ties), the second-best metric and a count.  Let ``V`` be a tower's
    stored metric at a cell (the float32 of its float64 metric) and ``S``
    the cell's second-best with the tower in the fold.  If ``S > V``,
    folding with or without the tower gives the same best, server and
    second, whatever the tower's place in the order: the two folds can only
    ever differ in values ``<= V`` (each diverging step stores a value at
    most the largest differing one), while both final values exceed ``V``.
    So the old window is taken out (:func:`deadzone.kernels.composite.remove_cells`)
    and the new one put in (:func:`~deadzone.kernels.composite.insert_cells`)
    cell by cell wherever that rule, or the exact rules for cells with zero
    or one server, apply; the remaining cells (where the tower is, or would
    be, among the best two) are refolded from every cached window in tower
    order (:func:`~deadzone.kernels.composite.fold_cells`, the merge kernel's
    update), so the composite equals a from-scratch fold bit for bit.
    """
    old = None if old is None or old.empty else old
    new = None if new is None or new.empty else new
    box = _union(old.box if old is not None else None, new.box if new is not None else None)
    if box is None:
        return 0
    a0, b0, a1, b1 = box
    dirty = np.zeros((a1 - a0, b1 - b0), dtype=np.bool_)
    grid = (comp.best_dbm, comp.best_server, comp.second_dbm, comp.n_servers)
    k = 0
    if old is not None:
        k += _kw.remove_cells(
            old.load(),
            old.row_off,
            old.col_off,
            float(old.metric_offset_db),
            float(old.threshold_dbm),
            *grid,
            a0,
            b0,
            dirty,
        )
    if new is not None:
        k += _kw.insert_cells(
            new.load(),
            new.row_off,
            new.col_off,
            float(new.metric_offset_db),
            float(new.threshold_dbm),
            new.index,
            *grid,
            a0,
            b0,
            dirty,
        )
    if k == 0:
        return 0
    # The flagged cells, row by row, refolded from every window in tower order;
    # only windows over the flagged cells' bounding box are loaded.
    row_ptr = np.empty(a1 - a0 + 1, dtype=np.int64)
    cols = np.empty(k, dtype=np.int64)
    _kw.list_cells(dirty, b0, row_ptr, cols)
    rows_hit = np.flatnonzero(np.diff(row_ptr))
    d0, d1 = a0 + int(rows_hit[0]), a0 + int(rows_hit[-1]) + 1
    e0, e1 = int(cols.min()), int(cols.max()) + 1
    part = new_composite((k,), threshold_dbm=comp.threshold_dbm)
    for c in fold:
        if c.empty:
            continue
        r0, c0, r1, c1 = c.box
        if r0 >= d1 or r1 <= d0 or c0 >= e1 or c1 <= e0:
            continue
        _kw.fold_cells(
            c.load(),
            c.row_off,
            c.col_off,
            c.index,
            float(c.metric_offset_db),
            float(c.threshold_dbm),
            a0,
            row_ptr,
            cols,
            part.best_dbm,
            part.best_server,
            part.second_dbm,
            part.n_servers,
        )
    _kw.scatter_cells(
        a0, row_ptr, cols, part.best_dbm, part.best_server, part.second_dbm, part.n_servers, *grid
    )
    return k


def _warm_patch_kernels() -> None:
    """Compile (or load from Numba's cache) the patch kernels on a 2 x 2 grid.

    So that the first edit of a session does not pay for it.
    """
    win = np.array([[-90.0, -91.0], [np.nan, -92.0]], dtype=np.float32)
    comp = new_composite((2, 2), threshold_dbm=-100.0)
    a = _Contrib.of(0, win, 0, 0, 0.0, -100.0)
    b = _Contrib.of(1, win, 0, 0, 0.0, -100.0)
    merge_into(comp, win, 0, 0, 0, threshold_dbm=-100.0)
    merge_into(comp, win, 0, 0, 1, threshold_dbm=-100.0)
    _patch_composite(comp, b, b, [a, b])
