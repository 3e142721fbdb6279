"""Array API of the exact-path engine: one straight profile per tower -> receiver pair.

Everything here takes numpy arrays and scalars in the DEM's grid (fractional
cell coordinates, projected metres); :mod:`deadzone.geo.paths` does the
georeferencing.  See :mod:`deadzone.kernels._paths` for the method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _paths as _k
from deadzone.kernels.coverage import DEFAULT_K_FACTOR, _check_freq, model_code
from deadzone.kernels.itm import ItmSettings

__all__ = ["PairRadio", "PathResult", "fold_pairs", "kernels_compiled", "nearest_sites",
           "pairs_in_reach", "path_profile", "pair_signals", "radio_table"]

#: Most buckets along one side of the grids of :func:`pairs_in_reach` and
#: :func:`nearest_sites`.
_MAX_BUCKETS_PER_SIDE = 2048
#: Largest DEM (bytes) :func:`pair_signals` copies into tiles (1 GiB: 268 M
#: cells; a batch tile job of 100 km at 30 m is 11 M).
_MAX_TILED_BYTES = 1 << 30

#: Per receiver, the composites of its pairs (see :func:`_paths.fold_pairs`).
fold_pairs = _k.fold_pairs


def kernels_compiled(*, sweep: bool = False) -> bool:
    """Whether Numba's cache on this machine already holds the exact-path
    kernel (and, with ``sweep``, the area sweep): False means the next run
    compiles them first (~20 s).  Reads a Numba internal (the cache index
    path); callers treat any exception as "unknown"."""
    from pathlib import Path

    from deadzone.kernels import _propagation

    kernels = [_k.pairs_rx, *([_propagation.tower_sweep] if sweep else [])]
    return all(Path(k._cache._cache_file._index_path).exists() for k in kernels)


def pairs_in_reach(
    tower_xy: npt.NDArray[np.float64],
    reach_m: npt.NDArray[np.float64],
    rx_xy: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Tower -> receiver pairs with the receiver within the tower's reach.

    A bucket grid of the towers (square buckets at least as wide as the
    longest reach) is the spatial index: each receiver looks at the towers of
    its own bucket and the eight around it, and keeps those with
    ``hypot(dx, dy) <= reach_m[t]``.  No distance matrix is formed; receivers
    run in parallel.

    Parameters
    ----------
    tower_xy : float64[n_towers, 2]
        Projected tower positions (m); a non-finite position, or a NaN
        ``reach_m``, leaves the tower out.
    reach_m : float64[n_towers]
        Each tower's reach (m).
    rx_xy : float64[n_rx, 2]
        Projected receiver positions (m); non-finite ones get no pair.

    Returns
    -------
    pair_tower, pair_rx : int64[n_pairs]
        Sorted by receiver, then tower.
    """
    t_xy = np.ascontiguousarray(tower_xy, dtype=np.float64).reshape(-1, 2)
    reach = np.ascontiguousarray(reach_m, dtype=np.float64)
    v_xy = np.ascontiguousarray(rx_xy, dtype=np.float64).reshape(-1, 2)
    if reach.shape != (len(t_xy),):
        raise ParameterError("reach_m must have one value per tower")
    empty = np.zeros(0, dtype=np.int64)
    t_ok = np.flatnonzero(np.isfinite(reach) & np.isfinite(t_xy).all(axis=1))
    if not t_ok.size or not len(v_xy):
        return empty, empty.copy()
    x0, y0 = t_xy[t_ok].min(axis=0)
    x1, y1 = t_xy[t_ok].max(axis=0)
    # a bucket a hair wider than the longest reach: a receiver and a tower in reach
    # of it then fall in neighbouring buckets whatever the rounding of the quotients
    size = max(float(reach[t_ok].max()) * (1.0 + 1e-9),
               max(x1 - x0, y1 - y0) / _MAX_BUCKETS_PER_SIDE, 1e-9)
    grid = _bucket_grid(t_xy, t_ok, float(x0), float(y0), float(x1), float(y1), size)
    n_v = len(v_xy)
    count = np.zeros(n_v, dtype=np.int64)
    offset = np.zeros(n_v, dtype=np.int64)
    args = (t_xy, reach, *grid, v_xy)
    _k.pairs_in_reach(*args, count, offset, empty, False)
    np.cumsum(count[:-1], out=offset[1:])
    p_tower = np.empty(int(count.sum()), dtype=np.int64)
    _k.pairs_in_reach(*args, count, offset, p_tower, True)
    return p_tower, np.repeat(np.arange(n_v, dtype=np.int64), count)


def nearest_sites(
    site_xy: npt.NDArray[np.float64],
    point_xy: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """The nearest site to each point, and its distance.

    A bucket grid of the sites over the box holding sites and points (about
    one site per bucket) is the spatial index; each point searches rings of
    buckets around its own until nothing farther out can be nearer.  Points
    run in parallel.

    Parameters
    ----------
    site_xy : float64[n_sites, 2]
        Projected site positions (m); non-finite ones are left out.
    point_xy : float64[n_points, 2]
        Projected points (m).

    Returns
    -------
    dist_m : float64[n_points]
        ``sqrt(dx**2 + dy**2)`` to the nearest site; NaN for a non-finite point
        or when no site has a position.
    index : int64[n_points]
        That site's row in ``site_xy`` (the lowest of equally near ones); -1
        with a NaN distance.
    """
    s_xy = np.ascontiguousarray(site_xy, dtype=np.float64).reshape(-1, 2)
    p_xy = np.ascontiguousarray(point_xy, dtype=np.float64).reshape(-1, 2)
    n_p = len(p_xy)
    dist = np.full(n_p, np.nan)
    idx = np.full(n_p, -1, dtype=np.int64)
    s_ok = np.flatnonzero(np.isfinite(s_xy).all(axis=1))
    p_ok = np.isfinite(p_xy).all(axis=1)
    if not s_ok.size or not p_ok.any():
        return dist, idx
    both = np.concatenate([s_xy[s_ok], p_xy[p_ok]])
    x0, y0 = both.min(axis=0)
    x1, y1 = both.max(axis=0)
    w, h = float(x1 - x0), float(y1 - y0)
    # about one site per bucket, at most _MAX_BUCKETS_PER_SIDE a side
    size = max(math.sqrt(w * h / s_ok.size), max(w, h) / _MAX_BUCKETS_PER_SIDE, 1e-9)
    grid = _bucket_grid(s_xy, s_ok, float(x0), float(y0), float(x1), float(y1), size)
    _k.nearest_sites(s_xy, *grid, p_xy, dist, idx)
    return dist, idx


def _bucket_grid(xy: npt.NDArray[np.float64], members: npt.NDArray[np.intp], x0: float,
                 y0: float, x1: float, y1: float, size: float
                 ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], float, float, float,
                            int, int]:
    """The rows ``members`` of ``xy`` binned into square buckets of side ``size``
    over ``[x0, x1] x [y0, y1]`` by the kernels' own rule (``_bucket_of``).

    Returns ``(b_start, b_members, x0, y0, size, nx, ny)`` as the kernels take
    them: bucket ``by * nx + bx`` holds ``b_members[b_start[b]:b_start[b + 1]]``,
    in increasing row order.
    """
    nx = int(np.floor((x1 - x0) / size)) + 1
    ny = int(np.floor((y1 - y0) / size)) + 1
    bucket = _k.bucket_ids(np.ascontiguousarray(xy[members]), x0, y0, size, nx, ny)
    srt = np.argsort(bucket, kind="stable")  # a bucket's members in row order
    b_members = members[srt].astype(np.int64)
    b_start = np.searchsorted(bucket[srt], np.arange(nx * ny + 1)).astype(np.int64)
    return b_start, b_members, x0, y0, size, nx, ny


def path_profile(
    dem_m: npt.NDArray[np.floating],
    row0: float,
    col0: float,
    row1: float,
    col1: float,
    *,
    cell_m: float,
    distance_m: float,
) -> tuple[npt.NDArray[np.float64], float]:
    """The exact path's terrain profile between two points of a DEM grid.

    Parameters
    ----------
    dem_m : 2-D array
        Terrain heights (m).
    row0, col0, row1, col1 : float
        Fractional cell coordinates of the two ends (0.0 = the first cell's
        centre, so a point at the grid's top-left corner is (-0.5, -0.5)).
    cell_m : float
        Sampling interval target (m): the DEM's cell size.
    distance_m : float
        Horizontal length of the path (m).

    Returns
    -------
    profile_m : ndarray of float64
        ``n + 1`` bilinear heights, ``n = max(2, ceil(distance_m / cell_m))``,
        first under ``(row0, col0)``, last under ``(row1, col1)``.
    step_m : float
        ``distance_m / n`` (m); a path shorter than 1 m counts as 1 m.
    """
    if not (cell_m > 0.0 and math.isfinite(cell_m)):
        raise ParameterError(f"cell_m was {cell_m}; expected a positive size in metres")
    dem = np.ascontiguousarray(dem_m, dtype=np.float32)
    if dem.ndim != 2:
        raise ParameterError(f"dem_m must be 2-D; got shape {dem.shape}")
    d = max(float(distance_m), _k.MIN_DISTANCE_M)
    n = int(_k.path_intervals(d, float(cell_m)))
    out = np.empty(n + 1, dtype=np.float64)
    _k.sample_path(dem, float(row0), float(col0), float(row1), float(col1), n, out)
    return out, d / n


@dataclass(frozen=True)
class PairRadio:
    """Towers' radio parameters as the pair kernel takes them.

    Attributes
    ----------
    table : float64[n_towers, R_SIZE]
        One row per tower (layout ``R_*`` in :mod:`deadzone.kernels._paths`).
    pattern_h_db, pattern_v_db : float64[n_patterns, 360]
        Measured pattern tables referenced by the ``R_PATTERN`` column.
    """

    table: npt.NDArray[np.float64]
    pattern_h_db: npt.NDArray[np.float64]
    pattern_v_db: npt.NDArray[np.float64]


def radio_table(sites: list) -> PairRadio:  # list[RadioSite | None]
    """Build :class:`PairRadio` from kernel sites (None rows are NaN: not computed)."""
    n = len(sites)
    table = np.full((n, _k.R_SIZE), np.nan, dtype=np.float64)
    pats_h: list[npt.NDArray[np.float64]] = []
    pats_v: list[npt.NDArray[np.float64]] = []
    seen: dict[int, int] = {}
    for i, s in enumerate(sites):
        if s is None:
            continue
        table[i, _k.R_HEIGHT] = s.height_m
        table[i, _k.R_FREQ] = s.freq_mhz
        table[i, _k.R_EIRP] = s.eirp_dbm
        table[i, _k.R_AZIMUTH] = s.azimuth_deg
        table[i, _k.R_BEAMWIDTH] = s.beamwidth_deg
        table[i, _k.R_TILT] = s.tilt_deg
        table[i, _k.R_VBEAMWIDTH] = s.vbeamwidth_deg
        table[i, _k.R_FRONT_TO_BACK] = s.front_to_back_db
        table[i, _k.R_PATTERN] = -1.0
        if s.pattern_h_db is not None and s.pattern_v_db is not None:
            key = id(s.pattern_h_db)
            if key not in seen:
                seen[key] = len(pats_h)
                pats_h.append(np.asarray(s.pattern_h_db, dtype=np.float64))
                pats_v.append(np.asarray(s.pattern_v_db, dtype=np.float64))
            table[i, _k.R_PATTERN] = float(seen[key])
    ph = np.array(pats_h, dtype=np.float64).reshape(-1, 360) if pats_h else np.zeros((1, 360))
    pv = np.array(pats_v, dtype=np.float64).reshape(-1, 360) if pats_v else np.zeros((1, 360))
    return PairRadio(table, ph, pv)


@dataclass(frozen=True)
class PathResult:
    """Per-pair results of :func:`pair_signals`.

    Attributes
    ----------
    rx_dbm : float64[n_pairs]
        Received total power (dBm): EIRP + antenna gain - loss.
    loss_db : float64[n_pairs]
        Basic transmission loss (dB).
    distance_m : float64[n_pairs]
        Horizontal path length (m).
    free_space_db : float64[n_pairs]
        Free-space loss on the slant path (dB).
    gain_db : float64[n_pairs]
        Antenna gain towards the receiver (dB, <= 0).
    mode : int64[n_pairs]
        ITM mode (1 line of sight, 2 diffraction, 3 troposcatter); other
        models 1 (no diffraction loss) or 2.
    knife_db : float64[n_pairs]
        ``model="knife"`` only (NaN otherwise): the diffraction loss of its
        equivalent knife edge (dB), what :func:`deadzone.geo.audit.audit`
        names as a terrain-blocked village's obstruction.
    edge_distance_m, edge_height_m : float64[n_pairs]
        That edge's distance from the tower (m) and ground height (m above
        sea level); NaN when the knife-edge loss is 0 or the model is not
        ``knife``.
    intervals : int64[n_pairs]
        Profile intervals ``n``.
    """

    rx_dbm: npt.NDArray[np.float64]
    loss_db: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]
    free_space_db: npt.NDArray[np.float64]
    gain_db: npt.NDArray[np.float64]
    mode: npt.NDArray[np.int64]
    knife_db: npt.NDArray[np.float64]
    edge_distance_m: npt.NDArray[np.float64]
    edge_height_m: npt.NDArray[np.float64]
    intervals: npt.NDArray[np.int64]


def pair_signals(
    dem_m: npt.NDArray[np.floating],
    *,
    cell_m: float,
    tower_rc: npt.NDArray[np.float64],
    tower_xy: npt.NDArray[np.float64],
    radio: PairRadio,
    rx_rc: npt.NDArray[np.float64],
    rx_xy: npt.NDArray[np.float64],
    rx_height_m: npt.NDArray[np.float64],
    pair_tower: npt.NDArray[np.int64],
    pair_rx: npt.NDArray[np.int64],
    model: str = "itm",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> PathResult:
    """Received power of every tower -> receiver pair on its own exact path.

    Parameters
    ----------
    dem_m : float32[rows, cols]
        Terrain (m), finite.
    cell_m : float
        Profile sampling target (m), the DEM's cell size.
    tower_rc, tower_xy : float64[n_towers, 2]
        Towers' fractional (row, col) and projected (x, y) in metres.
    radio : PairRadio
        Towers' radio parameters (:func:`radio_table`).
    rx_rc, rx_xy : float64[n_rx, 2]
        Receivers' fractional (row, col) and projected (x, y) in metres.
    rx_height_m : float64[n_rx]
        Receiver height above its ground (m).
    pair_tower, pair_rx : int64[n_pairs]
        The pairs (indices into the tower and receiver tables).
    model : str
        One of :data:`deadzone.kernels.coverage.MODELS`.
    k_factor : float
        Effective earth-radius factor (all models but ITM).
    itm : ItmSettings, optional
        ITM settings (``p526`` uses its ground constants and polarization).

    Returns
    -------
    PathResult
    """
    code = model_code(model)
    dem = np.ascontiguousarray(dem_m, dtype=np.float32)
    if dem.ndim != 2 or min(dem.shape) < 1:
        raise ParameterError(f"dem_m must be a non-empty 2-D array; got shape {dem.shape}")
    pt = np.ascontiguousarray(pair_tower, dtype=np.int64)
    pv = np.ascontiguousarray(pair_rx, dtype=np.int64)
    if pt.shape != pv.shape or pt.ndim != 1:
        raise ParameterError("pair_tower and pair_rx must be 1-D arrays of one length")
    t_rc = np.ascontiguousarray(tower_rc, dtype=np.float64).reshape(-1, 2)
    t_xy = np.ascontiguousarray(tower_xy, dtype=np.float64).reshape(-1, 2)
    v_rc = np.ascontiguousarray(rx_rc, dtype=np.float64).reshape(-1, 2)
    v_xy = np.ascontiguousarray(rx_xy, dtype=np.float64).reshape(-1, 2)
    h = np.ascontiguousarray(rx_height_m, dtype=np.float64)
    table = np.ascontiguousarray(radio.table, dtype=np.float64)
    if pt.size:
        if pt.min() < 0 or pt.max() >= len(t_rc) or pv.min() < 0 or pv.max() >= len(v_rc):
            raise ParameterError("a pair refers to a tower or receiver index out of range")
        used = np.flatnonzero(np.bincount(pt, minlength=len(t_rc)))
        if not np.all(np.isfinite(table[np.ix_(used, [_k.R_HEIGHT, _k.R_FREQ, _k.R_EIRP])])):
            raise ParameterError("a pair refers to a tower without radio parameters")
        for f in np.unique(table[used, _k.R_FREQ]):
            _check_freq(float(f))
        if not (np.all(np.isfinite(h[pv])) and float(h[pv].min()) > 0.0):
            raise ParameterError("rx_height_m must be finite and > 0 m")
    n_pairs = pt.size
    out = np.empty((n_pairs, _k.O_SIZE), dtype=np.float64)
    if n_pairs:
        n_chunks = max(1, min(n_pairs, 16 * numba.get_num_threads()))
        # visit pairs by tower, then bearing: neighbouring profiles share cache lines
        order = np.empty(n_pairs, dtype=np.int64)
        d_max = _k.visit_order(pt, pv, t_xy, v_xy, len(t_xy), order)
        # the pairs in that sequence: read in turn, not by a jump per pair
        pt_q = pt[order]
        pv_q = pv[order]
        n_max = int(_k.path_intervals(float(d_max), float(cell_m)))
        # a tiled copy of the DEM (same heights, fewer cache misses) pays when the
        # profiles read more samples than the DEM has cells; not for a DEM so
        # large that a second copy would strain memory
        if n_pairs * n_max > 2 * dem.size and dem.nbytes <= _MAX_TILED_BYTES:
            tiles, t_cols = _k.tile_dem(dem)
        else:
            tiles, t_cols = np.zeros(0, dtype=np.float32), 0
        _k.pairs_rx(dem, tiles, t_cols, float(cell_m), t_rc, t_xy, table, radio.pattern_h_db,
                    radio.pattern_v_db, v_rc, v_xy, h, pt_q, pv_q, code, float(k_factor),
                    (itm or ItmSettings()).as_array(), n_max, n_chunks, order, out)
    cols = _k.split_columns(out)
    return PathResult(
        rx_dbm=cols[_k.O_RX],
        loss_db=cols[_k.O_LOSS],
        distance_m=cols[_k.O_DIST],
        free_space_db=cols[_k.O_FREE],
        gain_db=cols[_k.O_GAIN],
        mode=cols[_k.O_MODE].astype(np.int64),
        knife_db=cols[_k.O_KNIFE],
        edge_distance_m=cols[_k.O_EDGE_D],
        edge_height_m=cols[_k.O_EDGE_Z],
        intervals=cols[_k.O_INTERVALS].astype(np.int64),
    )
