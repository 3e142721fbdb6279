"""What one tower touches in a what-if composite: its footprint (the window
its sweep writes), the ranks kept below each cell's best, and the
cell-by-cell patch that takes an old window out of the composite and puts a
new one in, equal to a from-scratch fold bit for bit (see
:func:`_patch_composite`)."""

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
    new_composite,
)
from deadzone.model.dem import Dem

__all__ = [
    "Footprint",
    "Ranks",
    "WindowStore",
    "block_peaks",
    "merge_ranked",
    "new_ranks",
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
class Ranks:
    """The ranks below a composite's best, per cell (see :mod:`deadzone.kernels._whatif`).

    Attributes
    ----------
    server : int16 or int32[..., depth - 1]
        Tower index at ranks 2 to ``depth`` (rank order: stored metric
        descending, tower index ascending), or ``RANK_NONE`` (no tower) or
        ``RANK_UNKNOWN`` (not known, nor the ranks after).
    dbm : float32[..., depth - 2]
        Stored metric (dBm) at ranks 3 to ``depth`` (rank 2's is the
        composite's second best); NaN where the rank holds no tower.
    """

    server: npt.NDArray[np.integer]
    dbm: npt.NDArray[np.float32]

    @property
    def depth(self) -> int:
        """Ranks known per cell at most, the best included."""
        return int(self.server.shape[-1]) + 1

    @property
    def nbytes(self) -> int:
        return int(self.server.nbytes + self.dbm.nbytes)

    @staticmethod
    def cell_bytes(depth: int, index_dtype: npt.DTypeLike) -> int:
        """Bytes per cell of ranks kept to ``depth``."""
        return (depth - 1) * np.dtype(index_dtype).itemsize + max(depth - 2, 0) * 4


def new_ranks(shape: tuple[int, ...], depth: int,
              index_dtype: npt.DTypeLike = np.int16) -> Ranks:
    """Ranks of an empty composite of ``shape`` (every list complete and empty);
    ``depth`` 1 keeps none (the composite alone)."""
    if depth < 1:
        raise ValueError(f"depth was {depth}; expected at least 1")
    return Ranks(np.full((*shape, depth - 1), _kw.RANK_NONE, dtype=index_dtype),
                 np.full((*shape, max(depth - 2, 0)), np.nan, dtype=np.float32))


def merge_ranked(comp: Composite, ranks: Ranks, window: npt.NDArray[np.float32], row_off: int,
                 col_off: int, tower_index: int, *, metric_offset_db: float = 0.0,
                 threshold_dbm: float | None = None) -> None:
    """:func:`deadzone.kernels.coverage.merge_into` that keeps ``ranks`` too
    (the composite bit for bit the same; call in tower order)."""
    thr = comp.threshold_dbm if threshold_dbm is None else float(threshold_dbm)
    _kw.merge_ranked(np.ascontiguousarray(window, dtype=np.float32), int(row_off), int(col_off),
                     int(tower_index), float(metric_offset_db), thr, comp.best_dbm,
                     comp.best_server, comp.second_dbm, comp.n_servers, ranks.server, ranks.dbm)


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
    ranks: Ranks | None = None,
    *,
    old_key: int | None = None,
) -> int:
    """Replace one tower's contribution to ``comp`` in place; return the cells refolded.

    ``old`` is the tower's contribution before the edit (None when added),
    ``new`` after it (None when removed), ``fold`` every contribution to
    ``comp`` after the edit, in tower order (server indices already final).
    ``ranks`` are the composite's ranks below the best (None: none kept),
    updated too; ``old_key`` is the old tower's index in them (default
    ``old.index``; ``RANK_GONE`` after :meth:`Session.remove` marked it).

    The merge kernel keeps, per cell, the best metric (lowest tower index on
    ties), the second-best metric and a count, which depend only on the
    towers' stored metrics (float32 of their float64 metrics) in rank order
    (:mod:`deadzone.kernels._whatif`).  So the old window is taken out and
    the new one put in cell by cell
    (:func:`deadzone.kernels.composite.patch_cells`) wherever the ranks kept
    give the best two after the edit, or the old and new metrics lie
    strictly below the second best (the two folds, with the tower and
    without, can only ever differ in values at most its metric).  The
    remaining cells (where the tower is, or would be, among the best two and
    the ranks kept fall short, or the best two tie) are refolded in tower
    order (:func:`~deadzone.kernels.composite.fold_cells`, the merge kernel's
    update), so the composite equals a from-scratch fold bit for bit, and
    their ranks are restored as far as the windows read vouch for them.  The
    refold takes every window at hand over those cells, and a dropped window
    only where, by its block peaks, the tower may reach the second best
    there (the same rule); the count, a sum over towers, is the count before
    the edit less the old window's and plus the new one's.
    """
    return _patch_composites({"c": comp}, {"c": old} if old is not None else {},
                             {"c": new} if new is not None else {}, {"c": fold},
                             {"c": ranks} if ranks is not None else None, old_key=old_key)


@dataclass
class _Listed:
    """One composite's flagged cells during a patch, and their refold."""

    comp: Composite
    ranks: Ranks
    a0: int
    row_ptr: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    over: dict[int, _Contrib]
    part: Composite | None = None
    part_ranks: Ranks | None = None


def _patch_composites(
    comps: dict[str, Composite],
    old: dict[str, _Contrib],
    new: dict[str, _Contrib],
    fold: dict[str, list[_Contrib]],
    ranks: dict[str, Ranks] | None = None,
    *,
    old_key: int | None = None,
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
        rk = ranks[key] if ranks is not None else new_ranks(comp.best_dbm.shape, 1)
        one = _flag(comp, rk, at_hand(old.get(key), 0), at_hand(new.get(key), 1),
                    fold.get(key, []), old_key)
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
    for key, li in listed.items():
        part, pr = li.part, li.part_ranks
        assert part is not None and pr is not None
        taken = kept[key] | need[key]
        _kw.forget_ranks(_left_out_bound(li, taken), part.second_dbm, pr.server, pr.dbm)
        _kw.scatter_cells(li.a0, li.row_ptr, li.cols, part.best_dbm, part.best_server,
                          part.second_dbm, pr.server, pr.dbm, li.comp.best_dbm,
                          li.comp.best_server, li.comp.second_dbm, li.ranks.server,
                          li.ranks.dbm)
    return k


def _fold_pass(listed: dict[str, _Listed], take: dict[str, set[int]], n_threads: int) -> None:
    """Refold each composite's listed cells from the windows ``take[key]``, in
    tower order, into ``listed[key].part``.  A window is loaded once for all
    composites and let go after it is folded; when every window is kept as it
    is, the composites are refolded on up to ``n_threads`` threads instead."""
    for li in listed.values():
        li.part = new_composite((li.cols.size,), threshold_dbm=li.comp.threshold_dbm)
        li.part_ranks = new_ranks((li.cols.size,), li.ranks.depth, li.ranks.server.dtype)
    if all(li.over[i].plain() for key, li in listed.items() for i in take[key]):
        def one(key: str) -> None:
            li = listed[key]
            for i in sorted(take[key]):
                c = li.over[i]
                _fold_one(li, c, c.load())

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
            _fold_one(listed[key], listed[key].over[i], win)
        del win


def _flag(comp: Composite, ranks: Ranks, old: _Contrib | None, new: _Contrib | None,
          fold: list[_Contrib], old_key: int | None) -> _Listed | None:
    """Take ``old`` out of ``comp`` and put ``new`` in where that can be done
    cell by cell; list the other cells and the windows over them."""
    box = _union(old.box if old is not None else None, new.box if new is not None else None)
    if box is None:
        return None
    a0, b0, a1, b1 = box
    dirty = np.zeros((a1 - a0, b1 - b0), dtype=np.bool_)
    none = np.empty((0, 0), dtype=np.float32)
    o = old if old is not None else _Contrib.of(-1, none, 0, 0, 0.0, 0.0)
    n = new if new is not None else _Contrib.of(-1, none, 0, 0, 0.0, 0.0)
    key = o.index if old_key is None else old_key
    k = _kw.patch_cells(o.load(), o.row_off, o.col_off, float(o.metric_offset_db),
                        float(o.threshold_dbm), int(key), n.load(), n.row_off, n.col_off,
                        float(n.metric_offset_db), float(n.threshold_dbm), n.index,
                        comp.best_dbm, comp.best_server, comp.second_dbm, comp.n_servers,
                        ranks.server, ranks.dbm, a0, b0, dirty)
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
    return _Listed(comp, ranks, a0, row_ptr, rows, cols, dict(sorted(over.items())))


def _fold_one(li: _Listed, c: _Contrib, win: npt.NDArray[np.float32]) -> None:
    part, pr = li.part, li.part_ranks
    assert part is not None and pr is not None
    _kw.fold_cells(win, c.row_off, c.col_off, c.index, float(c.metric_offset_db), li.a0,
                   li.row_ptr, li.cols, part.best_dbm, part.best_server, part.second_dbm,
                   pr.server, pr.dbm)


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


def _top_at(c: _Contrib, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
            ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float32]]:
    """The listed cells inside ``c``'s window, and a bound of its stored metric
    at each: at most ``float32(peak - offset)`` (rounding is monotone); -inf
    where it has none."""
    m, peak = _peaks_at(c, rows, cols)
    return m, (peak.astype(np.float64) - float(c.metric_offset_db)).astype(np.float32)


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
    m, top = _top_at(c, rows, cols)
    second = second_dbm[m]
    return bool(np.any(np.isfinite(top) & (np.isnan(second) | ~(second > top))))


def _left_out_bound(li: _Listed, taken: set[int]) -> npt.NDArray[np.float32]:
    """Per listed cell, a bound of the stored metric of the towers over it whose
    windows the refold did not read (-inf: none reaches)."""
    bound = np.full(li.cols.size, -np.inf, dtype=np.float32)
    for i, c in li.over.items():
        if i in taken:
            continue
        if c.peaks is None:
            bound[_inside(c, li.rows, li.cols)] = np.inf
            continue
        m, top = _top_at(c, li.rows, li.cols)
        bound[m] = np.maximum(bound[m], top)
    return bound


def _warm_patch_kernels(index_dtype: npt.DTypeLike = np.int16) -> None:
    """Compile (or load from Numba's cache) the patch kernels on a 2 x 2 grid.

    So that the first edit of a session does not pay for it.
    """
    win = np.array([[-90.0, -91.0], [np.nan, -92.0]], dtype=np.float32)
    comp = new_composite((2, 2), threshold_dbm=-100.0)
    ranks = new_ranks((2, 2), 3, index_dtype)
    a = _Contrib.of(0, win, 0, 0, 0.0, -100.0)
    b = _Contrib.of(1, win, 0, 0, 0.0, -100.0)
    merge_ranked(comp, ranks, win, 0, 0, 0)
    merge_ranked(comp, ranks, win, 0, 0, 1)
    _patch_composite(comp, b, b, [a, b], ranks)
