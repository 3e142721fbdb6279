"""Longley-Rice ITM along a radial, walked once: the area form of ITM p2p.

NTIA's point-to-point ITM (and SPLAT!/Signal-Server, which run it per pixel)
analyses the whole profile for every receiver: mean path height, both
horizons, the terrain irregularity Delta h and the least-squares fits for the
effective antenna heights [Hufford 1995, §2 qlrpfl].  That is O(n) per
receiver, O(n^2) per radial.  Here the radial is walked once and every one of
those statistics comes out of running sums:

* mean path height (sets N_s and the effective earth radius, [TN101 4.3,
  4.4]) and the least-squares fits of [Alg §2 zlsub] (including its
  half-weighted end points) from prefix sums of ``z`` and ``i z``: O(1),
  the same numbers as the reference up to rounding;
* the transmitter horizon as a running maximum and the receiver horizon as a
  tangent query on an upper convex hull (:mod:`deadzone.kernels._hull`),
  O(log n).  Both are searched in the frame of the curvature ``g0`` of the
  tower's own ground height and then evaluated with the path's exact
  effective radius; that picks a different horizon point than a full scan
  only when two points tie within ~1e-6 rad, and then the angle differs by
  less than that;
* Delta h: [Alg §2 dlthx] takes the interdecile range of the detrended
  profile (10 % minus 90 % exceedance).  An order statistic of residuals from
  a line that changes with every receiver cannot be updated in O(1).  Every
  ``DH_ANCHOR``-th receiver of a radial (and its last) gets NTIA's own
  interdecile range (:func:`_itm._delta_h`, O(1) in the path length: 245
  resampled points at most); the others the moment form, the residual
  standard deviation sigma of the same least-squares line (prefix sums of
  ``z``, ``i z``, ``z^2``) times the ratio exact / sigma, interpolated in
  distance between the two anchors around them.  (The plain normal-theory
  ratio, 2 x 1.28155 sigma, over-read real terrain's heavy-tailed residuals:
  -0.22 dB on average against NTIA; the anchored ratio -0.002 dB, at a
  tenth of the cost of NTIA's Delta h per receiver.)  Both then take the
  reference's own inversion ``Delta h = Delta h(d) / (1 - 0.8 exp(-d / 50
  km))`` [ERL eq 3].

Everything after the profile analysis (reference attenuation, variability) is
the reference method in :mod:`deadzone.kernels._itm`, unchanged.
:func:`itm_point` analyses one profile by direct scans with NTIA's Delta h,
so it is NTIA's p2p up to rounding and equals the sweep bit for bit at the
anchors; how far the area sweep is from NTIA's per-pixel p2p on real terrain
is measured in ``bench/RESULTS.md`` (``bench/area_bias.py``).
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels import _itm as _m
from deadzone.kernels._basic import SPEED_OF_LIGHT_M_S, _nu_at, fspl_db, knife_edge_loss_db
from deadzone.kernels._hull import _hull_horizon, _hull_push
from deadzone.kernels._jit import jit
from deadzone.kernels._vmath import vjit, vloop

# --- layout of the ``params`` array every kernel here takes ---------------------
P_CLIMATE = 0
P_N0 = 1
P_POL = 2
P_EPSILON = 3
P_SIGMA = 4
P_MDVAR = 5
P_TIME = 6
P_LOCATION = 7
P_SITUATION = 8
P_SIZE = 9

#: Interdecile range of a standard normal distribution, 2 x 1.2815516.
INTERDECILE_PER_SIGMA = 2.5631031
#: Every DH_ANCHOR-th receiver of a radial (and its last) gets NTIA's own
#: Delta h; the others the moment form rescaled between those anchors.
DH_ANCHOR = 32


@jit
def _frame_curvature(z0: float, params: np.ndarray) -> float:
    """Curvature (1/m) of the horizon-search frame: gamma_e at the tower's ground."""
    return _m.refractivity(z0, params[P_N0])[1]


@jit
def _z_g(f_mhz: float, params: np.ndarray) -> complex:
    return _m.ground_impedance(f_mhz, int(params[P_POL]), params[P_EPSILON], params[P_SIGMA])


@jit
def _vc(f_mhz: float, params: np.ndarray):
    return _m.variability_consts(params[P_TIME], params[P_LOCATION], params[P_SITUATION], f_mhz,
                                 int(params[P_CLIMATE]))


@vjit
def _lsq_prefix(zr: np.ndarray, ps: np.ndarray, pq: np.ndarray, n_int: int, xi: float,
                d_start: float, d_end: float):
    """[Alg §2 zlsub] from prefix sums: fitted heights at x = 0 and x = n_int xi.

    ``ps[k]`` = sum of ``zr[:k]``, ``pq[k]`` = sum of ``i zr[i]`` for i < k.
    The reference sums the end points with weight 1/2; so does this.
    Heights are relative to ``zr``'s datum.
    """
    i_start = int(_m._dim(d_start / xi, 0.0))
    i_end = n_int - int(_m._dim(float(n_int), d_end / xi))
    if i_end <= i_start:
        i_start = int(_m._dim(float(i_start), 1.0))
        i_end = n_int - int(_m._dim(float(n_int), i_end + 1.0))
    if i_end <= i_start:
        return zr[i_start], zr[i_start]
    x_len = float(i_end - i_start)
    centre = i_end - 0.5 * x_len
    z_s = zr[i_start]
    z_e = zr[i_end]
    s0 = ps[i_end + 1] - ps[i_start] - 0.5 * (z_s + z_e)
    s1 = pq[i_end + 1] - pq[i_start] - 0.5 * (i_start * z_s + i_end * z_e)
    sum_y = s0 / x_len
    scaled = (s1 - centre * s0) * 12.0 / ((x_len * x_len + 2.0) * x_len)
    return sum_y - scaled * centre, sum_y + scaled * (n_int - centre)


@vjit
def _delta_h_moments(ps: np.ndarray, pq: np.ndarray, pz2: np.ndarray, xi: float,
                     d_start: float, d_end: float) -> float:
    """Terrain irregularity Delta h between two distances (moment form, see module doc)."""
    x_start = d_start / xi
    x_end = d_end / xi
    if x_end - x_start < 2.0:
        return 0.0  # as the reference: too short to measure
    i_s = int(math.ceil(x_start))
    i_e = int(math.floor(x_end))
    n = i_e - i_s + 1
    if n < 3:
        return 0.0
    fn = float(n)
    s_z = ps[i_e + 1] - ps[i_s]
    s_iz = pq[i_e + 1] - pq[i_s]
    s_zz = pz2[i_e + 1] - pz2[i_s]
    mean_i = 0.5 * (i_s + i_e)
    mean_z = s_z / fn
    var_z = s_zz / fn - mean_z * mean_z
    cov = s_iz / fn - mean_i * mean_z
    var_i = (fn * fn - 1.0) / 12.0
    var_res = var_z - cov * cov / var_i
    sigma = math.sqrt(var_res) if var_res > 0.0 else 0.0
    dh_d = INTERDECILE_PER_SIGMA * sigma
    return dh_d / (1.0 - 0.8 * math.exp(-(d_end - d_start) / 50e3))


@vjit
def _h_sys(z0: float, ps: np.ndarray, j: int) -> float:
    """Mean path height (m) to sample ``j``, ignoring the first and last 10 %
    [Alg §2 qlrpfl], from the prefix sums of ``z - z0``."""
    p10 = int(0.1 * j)
    return z0 + (ps[j - p10 + 1] - ps[p10]) / (j - 2 * p10 + 1)


@vloop
def _refractivity_batch(n: int, g: np.ndarray, n0: float) -> None:
    """Row ``G_N_S`` holds h_sys (m) on entry; N_s and gamma_e on exit (rows
    ``G_N_S``, ``G_GAMMA_E``): :func:`_itm.refractivity` for ``n`` cells, SIMD."""
    for i in range(n):
        n_s, gamma_e = _m.refractivity(g[_m.G_N_S, i], n0)
        g[_m.G_N_S, i] = n_s
        g[_m.G_GAMMA_E, i] = gamma_e


@vjit
def _geometry(z: np.ndarray, zr: np.ndarray, ps: np.ndarray, pq: np.ndarray, pz2: np.ndarray,
              j: int, xi: float, h_tx: float, h_rx: float, n_s: float, gamma_e: float,
              i_t: int, i_r: int, dh_scale: float, work: np.ndarray):
    """Profile analysis for the receiver at sample ``j``, from the running statistics.

    ``n_s`` / ``gamma_e``: :func:`_itm.refractivity` of :func:`_h_sys`.
    ``i_t`` / ``i_r`` are the transmitter / receiver horizon candidates among
    samples 1..j-1 (0 = none).  Delta h: NTIA's own interdecile range
    (:func:`_itm._delta_h` on ``z[0..j]``, ``work`` its scratch) when
    ``dh_scale`` is NaN, else the moment form times ``dh_scale`` (see
    :func:`itm_sweep`).  Returns (theta_tx, theta_rx, d_hzn_tx, d_hzn_rx,
    h_e_tx, h_e_rx, gamma_e, N_s, Delta h, a_e, blocked, Delta h moment form):
    ``blocked`` is True when terrain rises above the line of sight (ITM's
    ``mode`` is not that: it calls every path shorter than the smooth-earth
    horizon distance "line of sight", even behind a ridge).
    """
    n_int = j
    d = n_int * xi
    z0 = z[0]
    a_e = 1.0 / gamma_e

    # horizons [Alg §2 hzns]: line-of-sight angles, raised by the candidates
    z_tx = z0 + h_tx
    z_rx = z[n_int] + h_rx
    th0 = (z_rx - z_tx) / d - d / (2.0 * a_e)
    th1 = -(z_rx - z_tx) / d - d / (2.0 * a_e)
    # (selects, not branches: whether a candidate rises above the line of
    # sight changes from cell to cell and would be mispredicted; a candidate
    # index 0 means none, and its inf / NaN angle is never selected)
    x0 = i_t * xi
    t0 = (z[i_t] - z_tx) / x0 - x0 / (2.0 * a_e)
    up0 = (i_t >= 1) & (t0 > th0)
    th0 = t0 if up0 else th0
    dh0 = x0 if up0 else d
    x1 = d - i_r * xi
    t1 = -(z_rx - z[i_r]) / x1 - x1 / (2.0 * a_e)
    up1 = (i_r >= 1) & (t1 > th1)
    th1 = t1 if up1 else th1
    dh1 = x1 if up1 else d

    blocked = dh0 < d or dh1 < d
    d_start = min(15.0 * h_tx, 0.1 * dh0)
    d_end = d - min(15.0 * h_rx, 0.1 * dh1)
    dh_moment = _delta_h_moments(ps, pq, pz2, xi, d_start, d_end)
    if math.isnan(dh_scale):
        delta_h = _m._delta_h(z, n_int, xi, d_start, d_end, work)
    else:
        delta_h = dh_moment * dh_scale
    if dh0 + dh1 > 1.5 * d:
        # well within line of sight [Alg 3.3, 3.4], as _itm.p2p
        fit0, fit1 = _lsq_prefix(zr, ps, pq, n_int, xi, d_start, d_end)
        he0 = h_tx + _m._dim(0.0, fit0)
        he1 = h_rx + _m._dim(zr[n_int], fit1)
        he0, he1, dh0, dh1, th0, th1 = _m.los_horizons(he0, he1, delta_h, a_e, d)
    else:
        fit0, _ = _lsq_prefix(zr, ps, pq, n_int, xi, d_start, 0.9 * dh0)
        he0 = h_tx + _m._dim(0.0, fit0)
        _, fit1 = _lsq_prefix(zr, ps, pq, n_int, xi, d - 0.9 * dh1, d_end)
        he1 = h_rx + _m._dim(zr[n_int], fit1)
    return th0, th1, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, a_e, blocked, dh_moment


@jit
def _receiver(z: np.ndarray, zr: np.ndarray, ps: np.ndarray, pq: np.ndarray,
              pz2: np.ndarray, j: int, xi: float, h_tx: float, h_rx: float, f_mhz: float,
              params: np.ndarray, vc, z_g: complex, fc, i_t: int, i_r: int, iv: np.ndarray,
              work: np.ndarray):
    """ITM p2p loss at sample ``j`` alone: :func:`_geometry` (NTIA's Delta h,
    ``work`` its scratch), then :func:`_itm._finish`.

    One cell of what :func:`itm_sweep` computes for a whole radial with
    :func:`_itm.finish_batch` (the same arithmetic, so the same bits).
    ``vc`` is :func:`_itm.variability_consts` of the settings, ``z_g`` the
    ground impedance and ``fc`` :func:`_itm.freq_consts` (all per run).
    Returns (loss_db, mode, warnings, error, blocked); ``iv`` receives the
    intermediate values as in :func:`_itm.p2p`.
    """
    warn = _m.input_warnings(h_tx, h_rx, f_mhz)
    n_s, gamma_e = _m.refractivity(_h_sys(z[0], ps, j), params[P_N0])
    th0, th1, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, a_e, blocked, _ = _geometry(
        z, zr, ps, pq, pz2, j, xi, h_tx, h_rx, n_s, gamma_e, i_t, i_r, math.nan, work)
    loss, mode, warn, err = _m._finish(
        th0, th1, f_mhz, z_g, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, h_tx, h_rx, j * xi,
        _m.CALL_P2P, vc, int(params[P_CLIMATE]), int(params[P_MDVAR]), warn, iv, fc,
        _m.terminal_terms(dh0, he0, fc))
    if err == _m.ERR_NONE and not math.isfinite(loss):
        # Outside ITM's geometry: horizon angles of radians (a metre-scale cliff
        # beside an antenna on a lidar DEM) make its diffraction radii negative
        # and the reference maths NaN; the horizon-angle warnings are already
        # set.  Fall back to free space + the single knife edge, ITU-R P.526-15
        # eq. (31), at the steeper of the two horizons.
        loss = _knife_fallback(z, j, xi, h_tx, h_rx, f_mhz, a_e, i_t, i_r)
        mode = _m.MODE_DIFFRACTION
    return loss, mode, warn, err, blocked


@jit
def _knife_fallback(z: np.ndarray, j: int, xi: float, h_tx: float, h_rx: float, f_mhz: float,
                    a_e: float, i_t: int, i_r: int) -> float:
    """Free space + J(nu) at the higher-nu horizon (see :func:`_receiver`)."""
    d = j * xi
    h_ts = z[0] + h_tx
    h_rs = z[j] + h_rx
    lam = SPEED_OF_LIGHT_M_S / (f_mhz * 1e6)
    # nu in the curvature-corrected frame of the knife model (heights lowered
    # by x^2 / 2 a_e), which gives the same clearance as P.526's bulge form.
    hc_rs = h_rs - d * d / (2.0 * a_e)
    nu = -1e30
    for i in (i_t, i_r):
        if 1 <= i < j:
            x = i * xi
            nu = max(nu, _nu_at(x, z[i] - x * x / (2.0 * a_e), d, h_ts, hc_rs, lam))
    return fspl_db(math.sqrt(d * d + (h_ts - h_rs) ** 2), f_mhz) + knife_edge_loss_db(nu)


@jit
def _near_loss(z: np.ndarray, j: int, xi: float, h_tx: float, h_rx: float,
               f_mhz: float) -> float:
    """Free space (ITU-R P.525-4 eq. 8, slant distance) for the first two samples.

    ITM needs at least two profile intervals; within one cell of the tower
    the path is line of sight and free space is the model's own limit.
    """
    d = j * xi
    dz = z[0] + h_tx - z[j] - h_rx
    slant = max(math.sqrt(d * d + dz * dz), 1.0)
    return 32.45 + 20.0 * math.log10(f_mhz) + 20.0 * math.log10(slant / 1000.0)


@vjit
def _prefix(z: np.ndarray, zr: np.ndarray, ps: np.ndarray, pq: np.ndarray,
            pz2: np.ndarray, k: int) -> None:
    """Extend the prefix sums by sample ``k`` (needs entries up to ``k``)."""
    v = z[k] - z[0]
    zr[k] = v
    ps[k + 1] = ps[k] + v
    pq[k + 1] = pq[k] + k * v
    pz2[k + 1] = pz2[k] + v * v


@jit
def _store(g: np.ndarray, i: int, th0: float, th1: float, dh0: float, dh1: float, he0: float,
           he1: float, delta_h: float, d: float, h_rx: float) -> None:
    g[_m.G_TH0, i] = th0
    g[_m.G_TH1, i] = th1
    g[_m.G_DH0, i] = dh0
    g[_m.G_DH1, i] = dh1
    g[_m.G_HE0, i] = he0
    g[_m.G_HE1, i] = he1
    g[_m.G_DELTA_H, i] = delta_h
    g[_m.G_D, i] = d
    g[_m.G_H_RX, i] = h_rx


@jit
def itm_sweep(z: np.ndarray, xi: float, h_tx: float, h_rx: np.ndarray, f_mhz: float,
              params: np.ndarray, want: np.ndarray, zr: np.ndarray, ps: np.ndarray,
              pq: np.ndarray, pz2: np.ndarray, hull_x: np.ndarray, hull_z: np.ndarray,
              out_loss_db: np.ndarray) -> None:
    """ITM loss from ``z[0]`` to every sample ``k`` with ``want[k]``, in one walk.

    ``h_rx[k]`` is the receiver height (m) at sample ``k``.
    ``zr`` float64[n]; ``ps``, ``pq``, ``pz2`` float64[n + 1]; ``hull_x``,
    ``hull_z`` float64[n]: scratch.  Samples not wanted get NaN.

    The walk keeps the running sums and, per receiver, both horizon
    candidates and the mean path height.  Then, over all the radial's
    receivers: the surface refractivity and earth curvature
    (:func:`_refractivity_batch`, SIMD), the rest of the profile analysis
    (:func:`_geometry`), and ITM's reference attenuation and variability
    (:func:`_itm.finish_batch`, SIMD); a receiver outside ITM's geometry
    takes the knife-edge fallback of :func:`_receiver`.  Each value equals
    :func:`_receiver`'s for that receiver, bit for bit.
    """
    n = z.shape[0]
    vc = _vc(f_mhz, params)
    z_g = _z_g(f_mhz, params)
    fc = _m.freq_consts(f_mhz, z_g)
    g0 = _frame_curvature(z[0], params)
    half_g0 = 0.5 * g0
    z_tx = z[0] + h_tx
    g = np.empty((_m.G_SIZE, n), dtype=np.float64)
    at = np.empty(n, dtype=np.int64)  # sample index of each gathered receiver
    hz_t = np.empty(n, dtype=np.int64)
    hz_r = np.empty(n, dtype=np.int64)
    a_e = np.empty(n, dtype=np.float64)
    ps[0] = 0.0
    pq[0] = 0.0
    pz2[0] = 0.0
    best_t = -1e300
    i_t = 0
    nh = 0
    c = np.int64(0)  # (a literal 0 would make Numba compile the batch functions twice)
    # 1. the walk: running sums, both horizon candidates and h_sys per receiver
    for j in range(n):
        _prefix(z, zr, ps, pq, pz2, j)
        if not want[j]:
            out_loss_db[j] = math.nan
        elif j < 2:
            out_loss_db[j] = _near_loss(z, j, xi, h_tx, h_rx[j], f_mhz)
        else:
            d = j * xi
            k = _hull_horizon(hull_x, hull_z, nh, d, z[j] + h_rx[j] - half_g0 * d * d)
            at[c] = j
            hz_t[c] = i_t
            hz_r[c] = int(round(hull_x[k] / xi))
            g[_m.G_N_S, c] = _h_sys(z[0], ps, j)
            c += 1
        if j >= 1:
            x = j * xi
            t = (z[j] - z_tx) / x - half_g0 * x
            if t > best_t:
                best_t = t
                i_t = j
            nh = _hull_push(hull_x, hull_z, nh, x, z[j] - half_g0 * x * x)
    # 2. N_s and gamma_e of every receiver (SIMD); 3. the rest of the profile
    # analysis (the prefix sums hold the whole radial, and receiver j reads
    # only entries up to j + 1)
    _refractivity_batch(c, g, params[P_N0])
    # Delta h: NTIA's interdecile range at every DH_ANCHOR-th receiver and the
    # last; between two anchors the moment form times the ratio exact / moment,
    # interpolated linearly in distance between them (see the module doc)
    work = np.empty(_m.WORK_SIZE, dtype=np.float64)
    ratio = np.empty(c, dtype=np.float64)
    for step in range(2):
        for i in range(c):
            anchor = i % DH_ANCHOR == 0 or i == c - 1
            if anchor != (step == 0):
                continue
            j = at[i]
            scale = math.nan
            if not anchor:
                a = i - i % DH_ANCHOR
                b = min(a + DH_ANCHOR, c - 1)
                ra = ratio[a]
                rb = ratio[b]
                if math.isnan(ra):
                    ra = 1.0 if math.isnan(rb) else rb
                if math.isnan(rb):
                    rb = ra
                scale = ra + (rb - ra) * (j - at[a]) / (at[b] - at[a])
            th0, th1, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, ae, _, dh_m = _geometry(
                z, zr, ps, pq, pz2, j, xi, h_tx, h_rx[j], g[_m.G_N_S, i], g[_m.G_GAMMA_E, i],
                hz_t[i], hz_r[i], scale, work)
            if anchor:
                ratio[i] = delta_h / dh_m if dh_m > 0.0 else math.nan
            _store(g, i, th0, th1, dh0, dh1, he0, he1, delta_h, j * xi, h_rx[j])
            a_e[i] = ae
    # 4. reference attenuation and variability (SIMD)
    loss = np.empty(c, dtype=np.float64)
    mode = np.empty(c, dtype=np.int64)
    warn = np.empty(c, dtype=np.int64)
    err = np.empty(c, dtype=np.int64)
    _m.finish_batch(c, g, h_tx, f_mhz, z_g, _m.CALL_P2P, vc, int(params[P_CLIMATE]),
                    int(params[P_MDVAR]), fc, loss, mode, warn, err)
    for i in range(c):
        j = at[i]
        v = loss[i]
        if err[i] == _m.ERR_NONE and not math.isfinite(v):
            v = _knife_fallback(z, j, xi, h_tx, h_rx[j], f_mhz, a_e[i], hz_t[i], hz_r[i])
        out_loss_db[j] = v


@jit
def itm_point(z: np.ndarray, xi: float, h_tx: float, h_rx: float, f_mhz: float,
              params: np.ndarray, iv: np.ndarray):
    """The loss :func:`itm_sweep` gives at the last sample, by direct scans (O(n)).

    Returns (loss_db, mode, warnings, error, blocked, i_t, i_r): ``blocked``
    as in :func:`_receiver`; ``i_t`` / ``i_r`` the transmitter / receiver
    horizon candidates (highest elevation angle seen from each terminal,
    sample index, 0 = none); ``iv`` receives the intermediate values.
    """
    n = z.shape[0]
    j = n - 1
    zr = np.empty(n, dtype=np.float64)
    ps = np.empty(n + 1, dtype=np.float64)
    pq = np.empty(n + 1, dtype=np.float64)
    pz2 = np.empty(n + 1, dtype=np.float64)
    ps[0] = 0.0
    pq[0] = 0.0
    pz2[0] = 0.0
    for k in range(n):
        _prefix(z, zr, ps, pq, pz2, k)
    if j < 2:
        return _near_loss(z, j, xi, h_tx, h_rx, f_mhz), _m.MODE_LOS, 0, 0, False, 0, 0
    vc = _vc(f_mhz, params)
    z_g = _z_g(f_mhz, params)
    g0 = _frame_curvature(z[0], params)
    half_g0 = 0.5 * g0
    z_tx = z[0] + h_tx
    d = j * xi
    w_rx = z[j] + h_rx - half_g0 * d * d
    best_t = -1e300
    best_r = -1e300
    i_t = 0
    i_r = 0
    for i in range(1, j):
        x = i * xi
        t = (z[i] - z_tx) / x - half_g0 * x
        if t > best_t:
            best_t = t
            i_t = i
        a = (z[i] - half_g0 * x * x - w_rx) / (d - x)
        if a > best_r:
            best_r = a
            i_r = i
    loss, mode, warn, err, blocked = _receiver(z, zr, ps, pq, pz2, j, xi, h_tx, h_rx, f_mhz,
                                               params, vc, z_g, _m.freq_consts(f_mhz, z_g),
                                               i_t, i_r, iv,
                                               np.empty(_m.WORK_SIZE, dtype=np.float64))
    return loss, mode, warn, err, blocked, i_t, i_r
