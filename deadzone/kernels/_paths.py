"""Pure Numba kernels of the exact-path village engine.

One tower -> receiver pair at a time, each on its own straight profile:

* the profile runs from the tower's exact position to the receiver's point
  (fractional grid coordinates, not cell centres), ``n = max(2, ceil(d /
  cell))`` equal intervals, both ends included, each height interpolated
  bilinearly between the four surrounding cell centres (clamped at the grid's
  edge), so the tower's ground is the bilinear height at its own position
  and the receiver stands on the bilinear ground at its point;
* the loss is the model as its source defines it for one profile: NTIA ITM
  1.4 point-to-point (:func:`deadzone.kernels._itm.p2p`), the ITU-R P.526-15
  §4.5 delta-Bullington method as written
  (:func:`deadzone.kernels._p526.delta_bullington_general`), the ``knife``
  model's equivalent knife edge (:func:`deadzone.kernels._propagation.point_loss`,
  as the area engine and :func:`deadzone.kernels.coverage.profile_loss`
  define it), free space (P.525-4) or the empirical models of
  :mod:`deadzone.kernels._empirical`;
* the antenna gain comes from the exact bearing and elevation angle of the
  receiver seen from the antenna.

Pairs are independent, so they run in parallel (``prange`` over chunks of
pairs, each chunk with its own scratch buffers) and the result of a pair does
not depend on the thread count or the chunking.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from deadzone.kernels import _empirical as _emp
from deadzone.kernels import _itm, _p526
from deadzone.kernels import _itm_sweep as _ks
from deadzone.kernels import _propagation as _k
from deadzone.kernels._basic import EARTH_RADIUS_M, bilinear, fspl_db
from deadzone.kernels._basic import interp_cells as _interp
from deadzone.kernels._jit import jit, jit_parallel
from deadzone.kernels._vmath import vjit

#: Fewest intervals of a path profile (ITM needs an interior point).
MIN_INTERVALS = 2
#: Shortest path (m): a receiver closer than this to the tower's position is
#: computed at this distance (the ground under both is the same then).
MIN_DISTANCE_M = 1.0

# --- layout of the per-tower radio table ``radio[t, :]`` ----------------------------
R_HEIGHT = 0  # antenna height above ground (m)
R_FREQ = 1  # MHz
R_EIRP = 2  # boresight EIRP (dBm)
R_AZIMUTH = 3  # degrees clockwise from grid north; NaN = omni
R_BEAMWIDTH = 4  # horizontal half-power beamwidth (deg); NaN = omni
R_TILT = 5  # downtilt (deg, positive down)
R_VBEAMWIDTH = 6  # vertical half-power beamwidth (deg)
R_FRONT_TO_BACK = 7  # dB
R_PATTERN = 8  # row of the pattern tables, -1 = parametric pattern
R_SIZE = 9

# --- layout of the per-pair outputs ``out[p, :]`` -----------------------------------
O_RX = 0  # received power (dBm): EIRP + antenna gain - loss
O_LOSS = 1  # basic transmission loss (dB)
O_DIST = 2  # path length (m)
O_MODE = 3  # ITM mode (1 los, 2 diffraction, 3 troposcatter); others 1 or 2
O_FREE = 4  # free-space loss on the slant path (dB)
O_KNIFE = 5  # diffraction loss of the knife model's edge (dB); NaN for other models
O_EDGE_D = 6  # distance of that edge from the tower (m); NaN when its loss is 0
O_EDGE_Z = 7  # ground height at that edge (m); NaN when its loss is 0
O_INTERVALS = 8  # number of profile intervals n
O_GAIN = 9  # antenna gain (dB)
O_SIZE = 10


@jit
def path_intervals(d_m: float, cell_m: float) -> int:
    """Number of profile intervals of a path: ``max(2, ceil(d / cell))``."""
    n = int(math.ceil(max(d_m, MIN_DISTANCE_M) / cell_m))
    return max(n, MIN_INTERVALS)


@vjit
def _path_point(r0: float, c0: float, dr: float, dc: float, i: int):
    """Point ``i`` of a path from ``(r0, c0)`` in steps ``(dr, dc)``: its cell
    ``(row, col)`` and the offsets in it (the one rule of every sampler)."""
    r = r0 + dr * i
    c = c0 + dc * i
    ri = int(r)
    ci = int(c)
    return ri, ci, r - ri, c - ci


@jit
def _interior(dem: np.ndarray, r0: float, c0: float, r1: float, c1: float) -> bool:
    """Whether the segment's ends (so the whole segment) lie in the grid's
    interior, where every point has four neighbours."""
    return (min(r0, r1) >= 0.0 and min(c0, c1) >= 0.0 and max(r0, r1) < dem.shape[0] - 1.0
            and max(c0, c1) < dem.shape[1] - 1.0)


@jit
def sample_path(dem: np.ndarray, r0: float, c0: float, r1: float, c1: float, n: int,
                out: np.ndarray) -> None:
    """``out[0..n]``: bilinear heights at ``n + 1`` equally spaced points from
    ``(r0, c0)`` to ``(r1, c1)`` (fractional cell coordinates, both ends).

    A segment whose ends lie inside the grid's interior (where each point
    has four neighbours) is inside all along, so its loop needs no clamping;
    others go through :func:`bilinear`.
    """
    dr = (r1 - r0) / n
    dc = (c1 - c0) / n
    if _interior(dem, r0, c0, r1, c1):
        for i in range(n + 1):
            ri, ci, fr, fc = _path_point(r0, c0, dr, dc, i)
            out[i] = _interp(dem, ri, ci, ri + 1, ci + 1, fr, fc)
        return
    for i in range(n + 1):
        out[i] = bilinear(dem, r0 + dr * i, c0 + dc * i)


@jit
def sample_path_fast(dem: np.ndarray, r0: float, c0: float, r1: float, c1: float, n: int,
                     out: np.ndarray, cell: np.ndarray, frac_r: np.ndarray) -> None:
    """:func:`sample_path`'s heights to the last bit, in two passes.

    Inside the grid's interior the first pass computes every point's cell
    (flat index into ``dem``, in ``cell``) and fractional offsets (``frac_r``,
    and the column offset kept in ``out``), the second reads the four
    neighbours and blends them with the same operations in the same order as
    :func:`deadzone.kernels._basic.interp_cells`.  Split so, both loops
    compile to SIMD and the loads of many points are in flight at once (a
    single loop ran ~1.4x slower on the real tile's pairs).  ``cell`` (int64)
    and ``frac_r`` (float64) are scratch of at least ``n + 1``; ``dem`` must
    be C-contiguous.
    """
    if not _interior(dem, r0, c0, r1, c1):
        sample_path(dem, r0, c0, r1, c1, n, out)
        return
    cols = dem.shape[1]
    flat = dem.reshape(dem.shape[0] * cols)
    dr = (r1 - r0) / n
    dc = (c1 - c0) / n
    for i in range(n + 1):
        ri, ci, frac_r[i], out[i] = _path_point(r0, c0, dr, dc, i)
        cell[i] = ri * cols + ci
    for i in range(n + 1):
        k = cell[i]
        fc = out[i]
        a = flat[k]
        top = a + (flat[k + 1] - a) * fc
        a = flat[k + cols]
        bot = a + (flat[k + cols + 1] - a) * fc
        out[i] = top + (bot - top) * frac_r[i]


#: Side (cells) of the square tiles of :func:`tile_dem`'s layout: a tile row
#: of 16 float32 heights is one 64-byte cache line.
TILE = 16
_TILE_SHIFT = 4
_TILE_MASK = TILE - 1


@jit_parallel
def tile_dem(dem: np.ndarray) -> tuple[np.ndarray, int]:
    """``dem`` re-laid in ``TILE`` x ``TILE`` tiles (row-major tiles, each
    row-major inside), padded with zeros to whole tiles; returns the flat
    array and the number of tiles per row.

    A profile that runs north-south reads a new cache line at every sample
    in the row-major grid; in tiles it reads one per ``TILE`` samples in any
    direction, and neighbouring profiles share more of them (the pair kernel
    spent about a third of its sampling time waiting on memory).
    """
    rows = dem.shape[0]
    cols = dem.shape[1]
    t_rows = (rows + _TILE_MASK) >> _TILE_SHIFT
    t_cols = (cols + _TILE_MASK) >> _TILE_SHIFT
    out = np.zeros(t_rows * t_cols * TILE * TILE, dtype=dem.dtype)
    for r in prange(rows):  # each row writes its own cells
        base = ((r >> _TILE_SHIFT) * t_cols) * (TILE * TILE) + (r & _TILE_MASK) * TILE
        for c in range(cols):
            out[base + (c >> _TILE_SHIFT) * (TILE * TILE) + (c & _TILE_MASK)] = dem[r, c]
    return out, t_cols


@jit
def sample_path_tiled(dem: np.ndarray, tiles: np.ndarray, t_cols: int, r0: float, c0: float,
                      r1: float, c1: float, n: int, out: np.ndarray, idx: np.ndarray,
                      frac_r: np.ndarray) -> None:
    """:func:`sample_path`'s heights to the last bit, read from ``tiles``
    (:func:`tile_dem` of ``dem``, ``t_cols`` tiles per row).

    As :func:`sample_path_fast`: a first pass computes each point's four
    neighbours (their flat indices in the tiles, in ``idx[0:4, :]``) and
    fractional offsets, a second blends them with
    :func:`deadzone.kernels._basic.interp_cells`'s operations in its order.
    Segments that leave the grid's interior go through :func:`sample_path`
    on ``dem``.  ``idx`` int64[4, >= n + 1] and ``frac_r`` float64[>= n + 1]
    are scratch.
    """
    if not _interior(dem, r0, c0, r1, c1):
        sample_path(dem, r0, c0, r1, c1, n, out)
        return
    tt = TILE * TILE
    dr = (r1 - r0) / n
    dc = (c1 - c0) / n
    for i in range(n + 1):
        ri, ci, frac_r[i], out[i] = _path_point(r0, c0, dr, dc, i)
        ra = ((ri >> _TILE_SHIFT) * t_cols) * tt + (ri & _TILE_MASK) * TILE
        rb = (((ri + 1) >> _TILE_SHIFT) * t_cols) * tt + ((ri + 1) & _TILE_MASK) * TILE
        ca = (ci >> _TILE_SHIFT) * tt + (ci & _TILE_MASK)
        cb = ((ci + 1) >> _TILE_SHIFT) * tt + ((ci + 1) & _TILE_MASK)
        idx[0, i] = ra + ca
        idx[1, i] = ra + cb
        idx[2, i] = rb + ca
        idx[3, i] = rb + cb
    for i in range(n + 1):
        fc = out[i]
        a = tiles[idx[0, i]]
        top = a + (tiles[idx[1, i]] - a) * fc
        a = tiles[idx[2, i]]
        bot = a + (tiles[idx[3, i]] - a) * fc
        out[i] = top + (bot - top) * frac_r[i]


@jit
def _free_fields(z: np.ndarray, n: int, step_m: float, h_tx_m: float, h_rx_m: float,
                 freq_mhz: float, out: np.ndarray) -> float:
    """``out[O_FREE]`` (free space on the slant path) and the knife model's
    fields as NaN; returns the free-space loss (dB)."""
    d = n * step_m
    h_ts = z[0] + h_tx_m
    h_r = z[n] + h_rx_m
    free = fspl_db(math.sqrt(d * d + (h_ts - h_r) * (h_ts - h_r)), freq_mhz)
    out[O_FREE] = free
    out[O_KNIFE] = math.nan
    out[O_EDGE_D] = math.nan
    out[O_EDGE_Z] = math.nan
    return free


@jit
def path_loss(z: np.ndarray, n: int, step_m: float, h_tx_m: float, h_rx_m: float,
              freq_mhz: float, k_factor: float, model: int, itm_params: np.ndarray,
              work: np.ndarray, iv: np.ndarray, dist: np.ndarray,
              out: np.ndarray) -> None:
    """Loss over the profile ``z[0..n]`` (spacing ``step_m``) by ``model``.

    Fills ``out[O_LOSS]``, ``out[O_FREE]``, ``out[O_MODE]``, and for the
    ``knife`` model its edge (``O_KNIFE``, ``O_EDGE_D``, ``O_EDGE_Z``; NaN for
    the other models: the audit asks the knife model for them, on the few
    paths of villages that are not covered, to name their obstruction).
    ``work`` (float64[WORK_SIZE]), ``iv`` (float64[IV_SIZE]; at least 5) and
    ``dist`` (float64[> n]) are scratch.
    """
    free = _free_fields(z, n, step_m, h_tx_m, h_rx_m, freq_mhz, out)
    h_ts = z[0] + h_tx_m
    h_r = z[n] + h_rx_m
    # one small function per model: with every model's code in one body the
    # compiled ITM path ran ~30 % slower
    if model == _k.MODEL_ITM:
        _loss_itm(z, n, step_m, h_tx_m, h_rx_m, freq_mhz, itm_params, work, iv, out)
    elif model == _k.MODEL_P526:
        _loss_p526(z, n, step_m, h_ts, h_r, freq_mhz, k_factor, itm_params, iv, dist, free, out)
    elif model == _k.MODEL_KNIFE:
        _loss_knife(z, n, step_m, h_tx_m, h_rx_m, freq_mhz, k_factor, iv, out)
    else:
        out[O_MODE] = 1
        out[O_LOSS] = _loss_other(z, n, step_m, h_tx_m, h_rx_m, freq_mhz, model, free)


@jit
def _loss_itm(z: np.ndarray, n: int, step_m: float, h_tx_m: float, h_rx_m: float,
              freq_mhz: float, itm_params: np.ndarray, work: np.ndarray, iv: np.ndarray,
              out: np.ndarray) -> None:
    loss, mode, _warn, err = _itm.p2p(
        z, n, step_m, h_tx_m, h_rx_m, int(itm_params[_ks.P_CLIMATE]),
        itm_params[_ks.P_N0], freq_mhz, int(itm_params[_ks.P_POL]),
        itm_params[_ks.P_EPSILON], itm_params[_ks.P_SIGMA], int(itm_params[_ks.P_MDVAR]),
        itm_params[_ks.P_TIME], itm_params[_ks.P_LOCATION], itm_params[_ks.P_SITUATION],
        work, iv)
    out[O_LOSS] = loss if err == _itm.ERR_NONE else math.nan
    out[O_MODE] = mode


@jit
def _loss_p526(z: np.ndarray, n: int, step_m: float, h_ts: float, h_r: float,
               freq_mhz: float, k_factor: float, itm_params: np.ndarray, iv: np.ndarray,
               dist: np.ndarray, free: float, out: np.ndarray) -> None:
    for i in range(n + 1):
        dist[i] = i * step_m
    _p526.delta_bullington_general(
        dist[:n + 1], z[:n + 1], h_ts, h_r, k_factor * EARTH_RADIUS_M, freq_mhz,
        itm_params[_ks.P_EPSILON], itm_params[_ks.P_SIGMA], int(itm_params[_ks.P_POL]), iv)
    ld = iv[_p526.O_LD]
    out[O_LOSS] = free + ld
    out[O_MODE] = 2 if ld > 0.0 else 1


@jit
def _loss_knife(z: np.ndarray, n: int, step_m: float, h_tx_m: float, h_rx_m: float,
                freq_mhz: float, k_factor: float, iv: np.ndarray, out: np.ndarray) -> None:
    _k.point_loss(z[:n + 1], step_m, h_tx_m, h_rx_m, freq_mhz, k_factor, _k.MODEL_KNIFE, iv)
    out[O_LOSS] = iv[0]
    out[O_KNIFE] = iv[1]
    out[O_EDGE_D] = iv[2]
    out[O_EDGE_Z] = iv[3]
    out[O_MODE] = 2 if iv[1] > 0.0 else 1


@jit
def _loss_other(z: np.ndarray, n: int, step_m: float, h_tx_m: float, h_rx_m: float,
                freq_mhz: float, model: int, free: float) -> float:
    """Free space, or an empirical model (never below free space)."""
    if _k._is_empirical(model):
        h_eff = _emp.effective_base_height_m(z[:n + 1], step_m, h_tx_m)
        return max(free, _k._empirical_db(model, n * step_m, freq_mhz, h_eff, h_rx_m))
    return free


@jit
def pair_gain_db(radio: np.ndarray, pat_h: np.ndarray, pat_v: np.ndarray, dx_m: float,
                 dy_m: float, elevation_deg: float) -> float:
    """Antenna gain (dB) towards a receiver ``dx_m`` east, ``dy_m`` north of the
    tower, ``elevation_deg`` above the antenna's horizon (as the area sweep)."""
    p = int(radio[R_PATTERN])
    if p < 0 and (math.isnan(radio[R_AZIMUTH]) or math.isnan(radio[R_BEAMWIDTH])):
        return 0.0
    bearing = math.degrees(math.atan2(dx_m, dy_m))
    if p >= 0:
        return _k.pattern_gain_db(bearing, elevation_deg, radio[R_AZIMUTH], radio[R_TILT],
                                  pat_h[p], pat_v[p], _k.PATTERN_MAX_ATTEN_DB)
    return _k.antenna_gain_db(bearing, elevation_deg, radio[R_AZIMUTH], radio[R_BEAMWIDTH],
                              radio[R_TILT], radio[R_VBEAMWIDTH], radio[R_FRONT_TO_BACK])


@jit
def _pair_profile(dem: np.ndarray, tiles: np.ndarray, t_cols: int, cell_m: float,
                  t_rc: np.ndarray, t_xy: np.ndarray, v_rc: np.ndarray, v_xy: np.ndarray,
                  z: np.ndarray, idx: np.ndarray, dist: np.ndarray):
    """A pair's profile into ``z[0..n]``; returns ``(dx, dy, d, n)`` (receiver
    east and north of the tower, path length in m, intervals)."""
    dx = v_xy[0] - t_xy[0]
    dy = v_xy[1] - t_xy[1]
    d = max(math.sqrt(dx * dx + dy * dy), MIN_DISTANCE_M)
    n = path_intervals(d, cell_m)
    if tiles.shape[0]:
        sample_path_tiled(dem, tiles, t_cols, t_rc[0], t_rc[1], v_rc[0], v_rc[1], n, z, idx,
                          dist)
    else:
        sample_path_fast(dem, t_rc[0], t_rc[1], v_rc[0], v_rc[1], n, z, idx[0], dist)
    return dx, dy, d, n


@jit
def _pair_gain(radio: np.ndarray, pat_h: np.ndarray, pat_v: np.ndarray, z: np.ndarray,
               n: int, d: float, dx: float, dy: float, h_rx_m: float, out: np.ndarray) -> float:
    """The antenna gain towards the receiver (dB) into ``out[O_GAIN]``, with
    ``O_DIST`` and ``O_INTERVALS``; returns the gain."""
    elev = math.degrees(math.atan2(z[n] + h_rx_m - (z[0] + radio[R_HEIGHT]), d))
    g = pair_gain_db(radio, pat_h, pat_v, dx, dy, elev)
    out[O_GAIN] = g
    out[O_DIST] = d
    out[O_INTERVALS] = n
    return g


@jit
def one_pair(dem: np.ndarray, tiles: np.ndarray, t_cols: int, cell_m: float,
             t_rc: np.ndarray, t_xy: np.ndarray, radio: np.ndarray, pat_h: np.ndarray,
             pat_v: np.ndarray, v_rc: np.ndarray, v_xy: np.ndarray, h_rx_m: float, model: int,
             k_factor: float, itm_params: np.ndarray, z: np.ndarray, work: np.ndarray,
             iv: np.ndarray, dist: np.ndarray, idx: np.ndarray, out: np.ndarray) -> None:
    """Everything of one tower -> receiver pair into ``out`` (see ``O_*``).

    ``t_rc``/``v_rc``: fractional (row, col) of the tower and the receiver;
    ``t_xy``/``v_xy``: their projected coordinates (m); ``radio``: the
    tower's row of the radio table; ``tiles``/``t_cols``: :func:`tile_dem` of
    ``dem``, or an empty array to read ``dem`` itself (the same heights);
    ``z``, ``dist`` (float64) scratch of at least ``n + 1``, ``idx`` (int64)
    of at least ``[4, n + 1]``.
    """
    dx, dy, d, n = _pair_profile(dem, tiles, t_cols, cell_m, t_rc, t_xy, v_rc, v_xy, z, idx,
                                 dist)
    path_loss(z, n, d / n, radio[R_HEIGHT], h_rx_m, radio[R_FREQ], k_factor, model, itm_params,
              work, iv, dist, out)
    g = _pair_gain(radio, pat_h, pat_v, z, n, d, dx, dy, h_rx_m, out)
    out[O_RX] = radio[R_EIRP] + g - out[O_LOSS]


#: Pairs of one tower whose ITM tails (reference attenuation, free space,
#: variability) run together as SIMD loops (:func:`_itm.finish_batch`).
ITM_BLOCK = 16


@jit
def _itm_block(dem: np.ndarray, tiles: np.ndarray, t_cols: int, cell_m: float,
               t_rc: np.ndarray, t_xy: np.ndarray, radio: np.ndarray, pat_h: np.ndarray,
               pat_v: np.ndarray, v_rc: np.ndarray, v_xy: np.ndarray, v_hrx: np.ndarray,
               p_village: np.ndarray, order: np.ndarray, q0: int, m: int,
               itm_params: np.ndarray, z: np.ndarray, work: np.ndarray, dist: np.ndarray,
               idx: np.ndarray, geo: np.ndarray, gain: np.ndarray, loss: np.ndarray,
               mode: np.ndarray, warn: np.ndarray, err: np.ndarray, out: np.ndarray) -> None:
    """:func:`one_pair` with the ITM model for pairs ``q0 .. q0 + m - 1`` of one
    tower (``t_rc``, ``t_xy``, ``radio``: its rows), ``m <= ITM_BLOCK``.

    Each pair's profile, its ITM geometry (:func:`_itm.p2p_geometry`), free
    space and gain, then the ``m`` tails at once (:func:`_itm.finish_batch`:
    the same arithmetic per path as :func:`_itm.p2p`'s, so the same bits,
    ~5x faster than one at a time).  ``geo`` float64[G_SIZE, ITM_BLOCK],
    ``gain``/``loss`` float64 and ``mode``/``warn``/``err`` int64
    [ITM_BLOCK] are scratch.
    """
    h_tx = radio[R_HEIGHT]
    f = radio[R_FREQ]
    z_g = complex(0.0, 0.0)
    for i in range(m):
        q = q0 + i
        v = p_village[q]
        o = out[order[q]]
        h_rx = v_hrx[v]
        dx, dy, d, n = _pair_profile(dem, tiles, t_cols, cell_m, t_rc, t_xy, v_rc[v], v_xy[v],
                                     z, idx, dist)
        step = d / n
        _free_fields(z, n, step, h_tx, h_rx, f, o)
        (geo[_itm.G_TH0, i], geo[_itm.G_TH1, i], geo[_itm.G_DH0, i], geo[_itm.G_DH1, i],
         geo[_itm.G_HE0, i], geo[_itm.G_HE1, i], geo[_itm.G_GAMMA_E, i], geo[_itm.G_N_S, i],
         geo[_itm.G_DELTA_H, i], geo[_itm.G_D, i], z_g) = _itm.p2p_geometry(
            z, n, step, h_tx, h_rx, itm_params[_ks.P_N0], f, int(itm_params[_ks.P_POL]),
            itm_params[_ks.P_EPSILON], itm_params[_ks.P_SIGMA], work)
        geo[_itm.G_H_RX, i] = h_rx
        gain[i] = _pair_gain(radio, pat_h, pat_v, z, n, d, dx, dy, h_rx, o)
    # Z_g depends on the frequency and ground only: the same for the tower's pairs
    climate = int(itm_params[_ks.P_CLIMATE])
    _itm.finish_batch(m, geo, h_tx, f, z_g, _itm.CALL_P2P,
                      _itm.variability_consts(itm_params[_ks.P_TIME], itm_params[_ks.P_LOCATION],
                                              itm_params[_ks.P_SITUATION], f, climate),
                      climate, int(itm_params[_ks.P_MDVAR]), _itm.freq_consts(f, z_g), loss,
                      mode, warn, err)
    for i in range(m):
        o = out[order[q0 + i]]
        ok = err[i] == _itm.ERR_NONE
        o[O_LOSS] = loss[i]  # NaN on an error, as p2p's
        o[O_MODE] = mode[i] if ok else _itm.MODE_NOT_SET
        o[O_RX] = radio[R_EIRP] + gain[i] - loss[i]


@jit_parallel
def pairs_rx(dem: np.ndarray, tiles: np.ndarray, t_cols: int, cell_m: float,
             t_rc: np.ndarray, t_xy: np.ndarray,
             radio: np.ndarray, pat_h: np.ndarray, pat_v: np.ndarray, v_rc: np.ndarray,
             v_xy: np.ndarray, v_hrx: np.ndarray, p_tower: np.ndarray, p_village: np.ndarray,
             model: int, k_factor: float, itm_params: np.ndarray, n_max: int,
             n_chunks: int, order: np.ndarray, out: np.ndarray) -> None:
    """:func:`one_pair` for every pair, in parallel.

    The pairs come in the sequence in which they are visited (by tower and
    bearing, so that consecutive profiles read the same DEM lines from cache:
    the sampling is bound by memory): pair ``q`` is ``(p_tower[q],
    p_village[q])`` and its results go to ``out[order[q]]``.
    ``tiles``/``t_cols``: :func:`tile_dem` of ``dem`` (or empty: read
    ``dem``); ``n_max``: the most intervals any pair needs (sizes the scratch);
    ``n_chunks``: how many blocks of pairs the threads share.  Neither the
    sequence nor the chunking changes any result.  ``out``: float64[n_pairs,
    O_SIZE].  ITM runs through :func:`_itm_block` (a tower's consecutive
    pairs at once), every other model pair by pair.
    """
    n_pairs = p_tower.shape[0]
    for ch in prange(n_chunks):
        lo = n_pairs * ch // n_chunks
        hi = n_pairs * (ch + 1) // n_chunks
        if hi <= lo:
            continue
        z = np.empty(n_max + 1, dtype=np.float64)
        dist = np.empty(n_max + 1, dtype=np.float64)
        idx = np.empty((4, n_max + 1), dtype=np.int64)
        work = np.empty(_itm.WORK_SIZE, dtype=np.float64)
        if model == _k.MODEL_ITM:
            geo = np.empty((_itm.G_SIZE, ITM_BLOCK), dtype=np.float64)
            gain = np.empty(ITM_BLOCK, dtype=np.float64)
            loss = np.empty(ITM_BLOCK, dtype=np.float64)
            codes = np.empty((3, ITM_BLOCK), dtype=np.int64)
            q = lo
            while q < hi:
                t = p_tower[q]
                m = 1
                while m < ITM_BLOCK and q + m < hi and p_tower[q + m] == t:
                    m += 1
                _itm_block(dem, tiles, t_cols, cell_m, t_rc[t], t_xy[t], radio[t], pat_h, pat_v,
                           v_rc, v_xy, v_hrx, p_village, order, q, m, itm_params, z, work, dist,
                           idx, geo, gain, loss, codes[0], codes[1], codes[2], out)
                q += m
            continue
        iv = np.empty(max(_itm.IV_SIZE, _p526.O_SIZE), dtype=np.float64)
        for q in range(lo, hi):
            p = order[q]
            t = p_tower[q]
            v = p_village[q]
            one_pair(dem, tiles, t_cols, cell_m, t_rc[t], t_xy[t], radio[t], pat_h, pat_v,
                     v_rc[v], v_xy[v], v_hrx[v], model, k_factor, itm_params, z, work, iv, dist,
                     idx, out[p])


@jit
def fold_pairs(v_ptr: np.ndarray, p_tower: np.ndarray, rx: np.ndarray, offset: np.ndarray,
               tech: np.ndarray, covered_dbm: np.ndarray, best_tech: np.ndarray,
               server_tech: np.ndarray, best_rx: np.ndarray, server_rx: np.ndarray,
               second_rx: np.ndarray, n_servers: np.ndarray) -> None:
    """Per receiver, the composites of its pairs (as the rasters' merge does).

    Pairs of receiver ``v`` are ``v_ptr[v]:v_ptr[v+1]``, in increasing tower
    index, so a strict ``>`` lets the lowest tower index win ties.  Per
    technology ``k``: best metric ``rx - offset`` and its tower; over all
    towers: best and second-best total power, its tower, and the number of
    towers whose total power reaches their technology's covered threshold
    plus their offset.  Outputs are pre-filled with NaN / -1 / 0.
    """
    n_v = v_ptr.shape[0] - 1
    for v in range(n_v):
        for p in range(v_ptr[v], v_ptr[v + 1]):
            val = rx[p]
            if math.isnan(val):
                continue
            t = p_tower[p]
            k = tech[t]
            best_tech[v, k], server_tech[v, k], _ = _k.fold_best(
                val - offset[t], t, best_tech[v, k], server_tech[v, k], math.nan)
            best_rx[v], server_rx[v], second_rx[v] = _k.fold_best(
                val, t, best_rx[v], server_rx[v], second_rx[v])
            if val >= covered_dbm[k] + offset[t]:
                n_servers[v] += 1


# --- candidate pairs and the visit order ---------------------------------------------
@jit
def _bucket_of(x: float, y: float, x0: float, y0: float, size: float, nx: int,
               ny: int) -> tuple[int, int]:
    """(column, row) of the square bucket holding ``(x, y)``, clamped to the grid."""
    bx = min(max(int(math.floor((x - x0) / size)), 0), nx - 1)
    by = min(max(int(math.floor((y - y0) / size)), 0), ny - 1)
    return bx, by


@jit
def bucket_ids(xy: np.ndarray, x0: float, y0: float, size: float, nx: int,
               ny: int) -> np.ndarray:
    """Bucket ``by * nx + bx`` of each point (:func:`_bucket_of`)."""
    out = np.empty(xy.shape[0], dtype=np.int64)
    for i in range(xy.shape[0]):
        bx, by = _bucket_of(xy[i, 0], xy[i, 1], x0, y0, size, nx, ny)
        out[i] = by * nx + bx
    return out


@jit_parallel
def pairs_in_reach(t_xy: np.ndarray, reach: np.ndarray, b_start: np.ndarray,
                   b_towers: np.ndarray, x0: float, y0: float, size: float, nx: int, ny: int,
                   v_xy: np.ndarray, count: np.ndarray, offset: np.ndarray,
                   p_tower: np.ndarray, fill: bool) -> None:
    """Towers within reach of each receiver, from a bucket grid of the towers.

    The towers (those to use) are binned into square buckets of side ``size``
    (>= every reach), bucket ``by * nx + bx`` holding ``b_towers[b_start[b]:
    b_start[b + 1]]`` in increasing index; a receiver's towers within reach
    lie in its own bucket or the eight around it.  A tower is in reach when
    ``hypot(dx, dy) <= reach[t]``.  Run twice: first (``fill`` False) it
    writes ``count[v]``; then, with ``offset`` the exclusive prefix sum of
    the counts, it writes receiver ``v``'s towers, in increasing index, to
    ``p_tower[offset[v]:offset[v] + count[v]]``.  Receivers with a
    non-finite position get none.  Receivers are independent (``prange``).
    """
    n_v = v_xy.shape[0]
    for v in prange(n_v):
        x = v_xy[v, 0]
        y = v_xy[v, 1]
        if not (math.isfinite(x) and math.isfinite(y)):
            count[v] = 0
            continue
        bx, by = _bucket_of(x, y, x0, y0, size, nx, ny)
        m = 0
        o = offset[v] if fill else 0
        for yy in range(max(by - 1, 0), min(by + 2, ny)):
            for xx in range(max(bx - 1, 0), min(bx + 2, nx)):
                b = yy * nx + xx
                for k in range(b_start[b], b_start[b + 1]):
                    t = b_towers[k]
                    if np.hypot(x - t_xy[t, 0], y - t_xy[t, 1]) <= reach[t]:
                        if fill:
                            p_tower[o + m] = t
                        m += 1
        if fill:
            p_tower[o:o + m].sort()  # the receiver's towers in index order
        else:
            count[v] = m


@jit_parallel
def nearest_sites(s_xy: np.ndarray, b_start: np.ndarray, b_sites: np.ndarray, x0: float,
                  y0: float, size: float, nx: int, ny: int, p_xy: np.ndarray,
                  dist: np.ndarray, idx: np.ndarray) -> None:
    """The nearest site to each point, from a bucket grid of the sites.

    Sites are binned as in :func:`pairs_in_reach` (bucket ``by * nx + bx``
    holds ``b_sites[b_start[b]:b_start[b + 1]]``); the grid must cover every
    point.  A point's search runs over square rings of buckets around its
    own; it stops once the nearest site found is closer than anything
    outside the rings searched can be (the distance from the point to the
    rings' outer edge, infinite on sides where the grid ends).  Distance:
    ``sqrt(dx * dx + dy * dy)``; ties go to the lowest site index.  Points
    with a non-finite position get NaN and -1.  Points are independent
    (``prange``).
    """
    for i in prange(p_xy.shape[0]):
        x = p_xy[i, 0]
        y = p_xy[i, 1]
        best = math.inf
        best_k = -1
        if math.isfinite(x) and math.isfinite(y):
            bx, by = _bucket_of(x, y, x0, y0, size, nx, ny)
            r = 0
            while True:
                for yy in range(max(by - r, 0), min(by + r + 1, ny)):
                    step = 1 if yy == by - r or yy == by + r else 2 * r
                    xx = bx - r
                    while xx <= bx + r:
                        if 0 <= xx < nx:
                            b = yy * nx + xx
                            for k in range(b_start[b], b_start[b + 1]):
                                s = b_sites[k]
                                dx = x - s_xy[s, 0]
                                dy = y - s_xy[s, 1]
                                d = math.sqrt(dx * dx + dy * dy)
                                if d < best or (d == best and s < best_k):
                                    best = d
                                    best_k = s
                        xx += step
                # what lies beyond the rings searched is at least this far
                reach = math.inf
                if bx - r > 0:
                    reach = min(reach, x - (x0 + (bx - r) * size))
                if bx + r < nx - 1:
                    reach = min(reach, x0 + (bx + r + 1) * size - x)
                if by - r > 0:
                    reach = min(reach, y - (y0 + (by - r) * size))
                if by + r < ny - 1:
                    reach = min(reach, y0 + (by + r + 1) * size - y)
                # (less a hair: a site on a bucket edge may be binned either side)
                if best < reach - 1e-9 * size or reach == math.inf:
                    break
                r += 1
        dist[i] = best if best_k >= 0 else math.nan
        idx[i] = best_k


@jit_parallel
def visit_order(p_tower: np.ndarray, p_village: np.ndarray, t_xy: np.ndarray,
                v_xy: np.ndarray, n_towers: int, order: np.ndarray) -> float:
    """The sequence in which :func:`pairs_rx` visits the pairs: by tower, then
    by bearing from it (neighbouring profiles read the same DEM rows from
    cache), into ``order``; returns the longest pair's horizontal length (m).

    A counting pass groups the pairs by tower; each group is then sorted by
    ``atan2(dy, dx)``, the towers in parallel.  The order changes no result,
    only the speed.
    """
    n = p_tower.shape[0]
    start = np.zeros(n_towers + 1, dtype=np.int64)
    for p in range(n):
        start[p_tower[p] + 1] += 1
    for t in range(n_towers):
        start[t + 1] += start[t]
    at = start[:-1].copy()
    for p in range(n):
        t = p_tower[p]
        order[at[t]] = p
        at[t] += 1
    d_tower = np.zeros(max(n_towers, 1), dtype=np.float64)
    for t in prange(n_towers):
        lo = start[t]
        hi = start[t + 1]
        bearing = np.empty(hi - lo, dtype=np.float64)
        d_max = 0.0
        for q in range(lo, hi):
            v = p_village[order[q]]
            dx = v_xy[v, 0] - t_xy[t, 0]
            dy = v_xy[v, 1] - t_xy[t, 1]
            d_max = max(d_max, math.sqrt(dx * dx + dy * dy))
            bearing[q - lo] = math.atan2(dy, dx)
        d_tower[t] = d_max
        if hi - lo > 1:
            idx = np.argsort(bearing)
            order[lo:hi] = order[lo:hi][idx]
    return d_tower.max()


@jit
def split_columns(out: np.ndarray) -> np.ndarray:
    """``out.T`` as a contiguous array: each column of ``out`` a row, in one
    pass over ``out`` (numpy's copy of the transpose took ~4x as long)."""
    n = out.shape[0]
    m = out.shape[1]
    res = np.empty((m, n), dtype=out.dtype)
    for p in range(n):
        for j in range(m):
            res[j, p] = out[p, j]
    return res
