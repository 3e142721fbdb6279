"""What one tower touches in a what-if composite: its footprint (the window
its sweep writes) and the cell-by-cell patch that takes an old window out of
the composite and puts a new one in, equal to a from-scratch fold bit for
bit (see :func:`_patch_composite`)."""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    "block_peaks",
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
    tech: str | None = None,
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
        tech=tech,
        calibration=params.calibration,
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
    #: Whether the window is kept (as it is or compressed): no recomputation.
    cached: Callable[[], bool]
    #: :func:`block_peaks` of the window: what decides whether a dropped
    #: window must be recomputed for a refold.
    peaks: npt.NDArray[np.float32] | None = None
    #: Whether the window is kept as it is (reading it costs nothing).
    plain: Callable[[], bool] = lambda: True

    @classmethod
    def of(cls, index: int, window: npt.NDArray[np.float32], row_off: int, col_off: int,
           metric_offset_db: float, threshold_dbm: float) -> _Contrib:
        """A contribution whose window is at hand."""
        return cls(index, row_off, col_off, (int(window.shape[0]), int(window.shape[1])),
                   metric_offset_db, threshold_dbm, lambda: window, lambda: True)

    @property
    def empty(self) -> bool:
        return self.shape[0] == 0 or self.shape[1] == 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        h, w = self.shape
        return (self.row_off, self.col_off, self.row_off + h, self.col_off + w)


#: Edge of the blocks of :func:`block_peaks` (cells).
PEAK_BLOCK = 8


def block_peaks(window: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The largest value of each ``PEAK_BLOCK`` x ``PEAK_BLOCK`` block of a window
    (-inf where the block has none): 1/64 of the window's size, kept for every
    tower so that a refold can tell, without the window, where the tower
    cannot be among a cell's best two."""
    h, w = window.shape
    b = PEAK_BLOCK
    hb, wb = -(-h // b), -(-w // b)
    pad = np.full((hb * b, wb * b), -np.inf, dtype=np.float32)
    pad[:h, :w] = np.where(np.isnan(window), np.float32(-np.inf), window)
    return np.ascontiguousarray(pad.reshape(hb, b, wb, b).max(axis=(1, 3)))


@dataclass(frozen=True)
class _Packed:
    """A window compressed without loss: its bytes regrouped by significance
    (the float32 exponent bytes together, as Blosc's shuffle does), then zlib."""

    shape: tuple[int, int]
    data: bytes

    @classmethod
    def of(cls, window: npt.NDArray[np.float32]) -> _Packed:
        planes = np.ascontiguousarray(window).view(np.uint8).reshape(-1, 4).T
        return cls((int(window.shape[0]), int(window.shape[1])),
                   zlib.compress(np.ascontiguousarray(planes).tobytes(), 1))

    def unpack(self) -> npt.NDArray[np.float32]:
        planes = np.frombuffer(zlib.decompress(self.data), dtype=np.uint8).reshape(4, -1)
        return np.ascontiguousarray(planes.T).view(np.float32).reshape(self.shape)

    @property
    def nbytes(self) -> int:
        return len(self.data)


class WindowStore:
    """Tower windows kept within a byte budget, least recently used first out.

    A what-if session needs a tower's window again only when an edit nearby
    refolds cells it reaches.  Over the budget, the least recently used
    windows are first compressed without loss (about 1.7x smaller; 2-15 ms
    to read back), then dropped.  A dropped window is recomputed when needed:
    the sweep is deterministic and does not depend on the thread count, so
    it is bit for bit the one dropped (checked on its box).

    Parameters
    ----------
    budget_bytes : int or None
        Most bytes of windows kept (with :attr:`reserved`); None keeps
        every window as it is.
    """

    def __init__(self, budget_bytes: int | None) -> None:
        self.budget_bytes = budget_bytes
        # Least recently used first.  A window is kept plain when it comes
        # and compressed when the budget needs room; it stays compressed.
        self._plain: OrderedDict[int, npt.NDArray[np.float32]] = OrderedDict()
        self._packed: OrderedDict[int, _Packed] = OrderedDict()
        self.nbytes = 0
        #: Bytes counted against the budget besides the windows (the session's
        #: block peaks).
        self.reserved = 0
        #: Windows computed again after being dropped.
        self.recomputed = 0
        #: Windows read back from their compressed form.
        self.unpacked = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._plain) + len(self._packed)

    @property
    def n_packed(self) -> int:
        """Windows kept compressed."""
        return len(self._packed)

    def get(self, key: int) -> npt.NDArray[np.float32] | None:
        """The kept window ``key`` (now the most recently used), or None.

        A compressed window stays compressed: what is returned is a copy read
        back, for the caller to hold while it needs it.
        """
        with self._lock:
            win = self._plain.get(key)
            if win is not None:
                self._plain.move_to_end(key)
                return win
            packed = self._packed.get(key)
            if packed is None:
                return None
            self._packed.move_to_end(key)
            self.unpacked += 1
        return packed.unpack()

    def add_reserved(self, nbytes: int) -> None:
        """Count ``nbytes`` more (fewer if negative) against the budget besides
        the windows, and fit the budget (thread-safe)."""
        with self._lock:
            self.reserved += nbytes
            self._fit()

    def has(self, key: int) -> bool:
        """Whether window ``key`` is kept (as it is or compressed)."""
        with self._lock:
            return key in self._plain or key in self._packed

    def is_plain(self, key: int) -> bool:
        """Whether window ``key`` is kept as it is (not compressed)."""
        with self._lock:
            return key in self._plain

    def put(self, key: int, window: npt.NDArray[np.float32]) -> None:
        """Keep ``window`` under ``key`` (most recently used); fit the budget."""
        with self._lock:
            self._drop(key)
            self._add(key, window)

    def drop(self, key: int) -> None:
        """Forget window ``key`` (its tower was removed or changed)."""
        with self._lock:
            self._drop(key)

    def _add(self, key: int, window: npt.NDArray[np.float32]) -> None:
        self._plain[key] = window
        self.nbytes += window.nbytes
        self._fit()

    def _fit(self) -> None:
        if self.budget_bytes is None:
            return
        while self.nbytes + self.reserved > self.budget_bytes and (self._plain or self._packed):
            if self._plain:
                k, w = self._plain.popitem(last=False)
                self.nbytes -= w.nbytes
                packed = _Packed.of(w)
                if packed.nbytes < w.nbytes:
                    self._packed[k] = packed
                    self.nbytes += packed.nbytes
            else:
                _, p = self._packed.popitem(last=False)
                self.nbytes -= p.nbytes

    def _drop(self, key: int) -> None:
        w = self._plain.pop(key, None)
        if w is not None:
            self.nbytes -= w.nbytes
        p = self._packed.pop(key, None)
        if p is not None:
            self.nbytes -= p.nbytes


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
    be, among the best two) are refolded in tower order
    (:func:`~deadzone.kernels.composite.fold_cells`, the merge kernel's
    update), so the composite equals a from-scratch fold bit for bit.  The
    refold takes every window at hand over those cells, and a dropped
    window only where, by its block peaks, the tower may reach the second
    best there (the same rule); the count, a sum over towers, is the count
    before the edit less the old window's and plus the new one's.
    """
    return _patch_composites({"c": comp}, {"c": old} if old is not None else {},
                             {"c": new} if new is not None else {}, {"c": fold})


@dataclass
class _Listed:
    """One composite's flagged cells during a patch, and their refold."""

    comp: Composite
    a0: int
    row_ptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]
    over: dict[int, _Contrib]
    part: Composite | None = None


def _patch_composites(
    comps: dict[str, Composite],
    old: dict[str, _Contrib],
    new: dict[str, _Contrib],
    fold: dict[str, list[_Contrib]],
    *,
    n_threads: int = 1,
) -> int:
    """:func:`_patch_composite` of one edited tower in several composites at once.

    Each window a refold needs is loaded once for all composites and let go
    after it is folded: an edit holds one window beyond the store's.  When
    every window is kept as it is, the composites refold on up to
    ``n_threads`` threads.
    """
    listed: dict[str, _Listed] = {}
    k = 0
    # The edited tower's old and new windows (one each, whatever the composite).
    hand: dict[int, npt.NDArray[np.float32]] = {}

    def at_hand(c: _Contrib | None, which: int) -> _Contrib | None:
        if c is None or c.empty:
            return None
        if which not in hand:
            hand[which] = c.load()
        return _Contrib.of(c.index, hand[which], c.row_off, c.col_off, c.metric_offset_db,
                           c.threshold_dbm)

    for key, comp in comps.items():
        one = _flag(comp, at_hand(old.get(key), 0), at_hand(new.get(key), 1),
                    fold.get(key, []))
        if one is not None:
            listed[key] = one
            k += int(one.cols.size)
    if not listed:
        return 0
    # Best, server and second, refolded in tower order: first from the windows
    # kept (as they are or compressed); a dropped window is then recomputed
    # only if, by its block peaks, the tower may reach a flagged cell's second
    # best (a tower below it changes nothing there, whatever its place in the
    # order), and the cells refolded again with it.
    # (A compressed window is read only if it reaches a listed cell.)
    kept = {key: {i for i, c in li.over.items()
                  if c.plain() or (c.cached() and _reaches(c, li.rows, li.cols))}
            for key, li in listed.items()}
    _fold_pass(listed, kept, n_threads)
    need = {key: {i for i, c in li.over.items() if i not in kept[key]
                  and _may_lead(c, li.rows, li.cols, li.part.second_dbm)}  # type: ignore[union-attr]
            for key, li in listed.items()}
    if any(need.values()):
        _fold_pass(listed, {key: kept[key] | need[key] for key in listed}, n_threads)
    for li in listed.values():
        part = li.part
        assert part is not None
        part.n_servers[:] = li.counts
        _kw.scatter_cells(li.a0, li.row_ptr, li.cols, part.best_dbm, part.best_server,
                          part.second_dbm, part.n_servers, li.comp.best_dbm,
                          li.comp.best_server, li.comp.second_dbm, li.comp.n_servers)
    return k


def _fold_pass(listed: dict[str, _Listed], take: dict[str, set[int]], n_threads: int) -> None:
    """Refold each composite's listed cells from the windows ``take[key]``, in
    tower order, into ``listed[key].part``.  A window is loaded once for all
    composites and let go after it is folded; when every window is kept as it
    is, the composites are refolded on up to ``n_threads`` threads instead."""
    for li in listed.values():
        li.part = new_composite((li.cols.size,), threshold_dbm=li.comp.threshold_dbm)
    if all(li.over[i].plain() for key, li in listed.items() for i in take[key]):
        def one(key: str) -> None:
            li = listed[key]
            for i in sorted(take[key]):
                c = li.over[i]
                _fold_one(li, c, c.load(), li.part)  # type: ignore[arg-type]

        if n_threads > 1 and len(listed) > 1:  # the fold kernel releases the GIL
            with ThreadPoolExecutor(max_workers=min(n_threads, len(listed))) as pool:
                list(pool.map(one, listed))
        else:
            for key in listed:
                one(key)
        return
    for i in sorted(set().union(*take.values())):
        users = [key for key in listed if i in take[key]]
        win = listed[users[0]].over[i].load()  # once for every composite
        for key in users:
            _fold_one(listed[key], listed[key].over[i], win, listed[key].part)  # type: ignore[arg-type]
        del win


def _flag(comp: Composite, old: _Contrib | None, new: _Contrib | None,
          fold: list[_Contrib]) -> _Listed | None:
    """Take ``old`` out of ``comp`` and put ``new`` in where that can be done
    cell by cell; list the other cells, their count, and the windows over them."""
    box = _union(old.box if old is not None else None, new.box if new is not None else None)
    if box is None:
        return None
    a0, b0, a1, b1 = box
    dirty = np.zeros((a1 - a0, b1 - b0), dtype=np.bool_)
    grid = (comp.best_dbm, comp.best_server, comp.second_dbm, comp.n_servers)
    counts_before = comp.n_servers[a0:a1, b0:b1].copy()
    k = 0
    if old is not None:
        k += _kw.remove_cells(old.load(), old.row_off, old.col_off, float(old.metric_offset_db),
                              float(old.threshold_dbm), *grid, a0, b0, dirty)
    if new is not None:
        k += _kw.insert_cells(new.load(), new.row_off, new.col_off, float(new.metric_offset_db),
                              float(new.threshold_dbm), new.index, *grid, a0, b0, dirty)
    if k == 0:
        return None
    row_ptr = np.empty(a1 - a0 + 1, dtype=np.int64)
    cols = np.empty(k, dtype=np.int64)
    _kw.list_cells(dirty, b0, row_ptr, cols)
    rows = a0 + np.repeat(np.arange(a1 - a0), np.diff(row_ptr))
    d0, d1 = int(rows[0]), int(rows[-1]) + 1
    e0, e1 = int(cols.min()), int(cols.max()) + 1
    over = {c.index: (new if new is not None and c.index == new.index else c) for c in fold
            if not c.empty and c.box[0] < d1 and d0 < c.box[2] and c.box[1] < e1
            and e0 < c.box[3]}
    # The count is a sum over towers: the count before the edit, less the old
    # window's and plus the new one's (no other window needed).
    counts = (counts_before[rows - a0, cols - b0].astype(np.int64)
              - _counted(old, rows, cols) + _counted(new, rows, cols))
    return _Listed(comp, a0, row_ptr, rows, cols, counts, dict(sorted(over.items())))


def _fold_one(li: _Listed, c: _Contrib, win: npt.NDArray[np.float32], part: Composite) -> None:
    _kw.fold_cells(win, c.row_off, c.col_off, c.index, float(c.metric_offset_db),
                   float(c.threshold_dbm), li.a0, li.row_ptr, li.cols, part.best_dbm,
                   part.best_server, part.second_dbm, part.n_servers)


def _inside(c: _Contrib, rows: npt.NDArray[np.int64],
            cols: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    r0, c0, r1, c1 = c.box
    return (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)


def _peaks_at(c: _Contrib, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
              ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
    """The listed cells inside ``c``'s window, and its block peak at each."""
    m = _inside(c, rows, cols)
    assert c.peaks is not None
    return m, c.peaks[(rows[m] - c.row_off) // PEAK_BLOCK, (cols[m] - c.col_off) // PEAK_BLOCK]


def _reaches(c: _Contrib, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> bool:
    """Whether tower ``c`` may have a value at a listed cell (by its block peaks)."""
    if c.peaks is None:
        return True
    _, peak = _peaks_at(c, rows, cols)
    return bool(np.isfinite(peak).any())


def _may_lead(c: _Contrib, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64],
              second_dbm: npt.NDArray[np.float32]) -> bool:
    """Whether tower ``c`` may be among the best two at a listed cell, given the
    second best there without it (NaN: fewer than two servers)."""
    if c.peaks is None:
        return True
    m, peak = _peaks_at(c, rows, cols)
    # Its stored metric is at most float32(peak - offset) (rounding is monotone).
    top = (peak.astype(np.float64) - float(c.metric_offset_db)).astype(np.float32)
    second = second_dbm[m]
    return bool(np.any(np.isfinite(top) & (np.isnan(second) | ~(second > top))))


def _counted(c: _Contrib | None, rows: npt.NDArray[np.int64],
             cols: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """1 where tower ``c`` counts as a server at a listed cell (the merge's test)."""
    out = np.zeros(rows.size, dtype=np.int64)
    if c is None:
        return out
    m = _inside(c, rows, cols)
    x = c.load()[rows[m] - c.row_off, cols[m] - c.col_off].astype(np.float64)
    v = x - float(c.metric_offset_db)
    out[m] = (~np.isnan(x) & (v >= float(c.threshold_dbm))).astype(np.int64)
    return out


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
