"""Pure Numba kernels of the Longley-Rice Irregular Terrain Model (ITM 1.2.2 / NTIA ITM 1.4).

Arrays and scalars in, scalars (and a caller-allocated ``iv`` array of
intermediate values) out; no Python objects.  The public array API with
validation lives in :mod:`deadzone.kernels.itm`.

Sources (the method, written here from the publications)
--------------------------------------------------------
* [Alg]   G. A. Hufford, "The ITS Irregular Terrain Model, version 1.2.2: the
          Algorithm" (1995): §2 preparatory (qlrps / qlrpfl), §3 area-mode
          parameters (eqs 3.1-3.4), §4 lrprop (LOS, diffraction, scatter,
          eqs 4.1-4.67), §5 avar (variability, eqs 5.1-5.11), §6 auxiliary
          functions (F, H_0 curve fits, eqs 6.8-6.13).
* [TN101] Rice, Longley, Norton, Barsis, NBS Technical Note 101 (1967): the
          refractivity (eqs 4.3, 4.4), knife-edge (III.24), troposcatter
          (9.3-9.5) and the time-variability curves (III.69-70, Fig 10.13).
* [ERL]   Longley & Rice, ERL 79-ITS 67 (1968): Delta h(d) (eq 3), sigma_h
          (3.6a), the LOS fit (3.16-3.21), diffraction weighting (3.23),
          clutter (3.38c).
* [Vog]   L. E. Vogler, "Calculation of groundwave attenuation in the far
          diffraction region" (1964): the three-radii smooth-earth method.
* [HLK82] Hufford, Longley & Kissick, NTIA Report 82-100 (1982): siting
          criteria, the "15 times the tower height" rule, mdvar modes.
* [A&S]   Abramowitz & Stegun 26.2.23: inverse normal approximation.

Behaviour and constants follow NTIA's reference implementation (ITM v1.4), so
that its published test vectors are reproduced to rounding.

Speed: the reference attenuation (lrprop) and the variability (avar) are
written branch-free (every branch evaluated, the reference's choice kept) on
the inlined elementary functions of :mod:`deadzone.kernels._vmath`, so that
:func:`finish_batch` runs them for many receivers as SIMD loops; one path
(:func:`p2p`, :func:`area`, :func:`_finish`) is one cell of the same
arithmetic.  Only the troposcatter line (:func:`_beyond_diffraction`) and the
profile analysis stay scalar.

Profiles
--------
``z`` holds ``n_int + 1`` ground heights (m above sea level), equally spaced
``xi`` metres apart, element 0 under the transmitter.  This is the PFL format
``[n_int, xi, z0, ..., zn]`` with the two header values passed as scalars.
"""

from __future__ import annotations

import cmath
import math

import numpy as np

from deadzone.kernels._jit import jit
from deadzone.kernels._vmath import vcbrt, vexp, vjit, vlog, vlog10, vloop, vsincos

# --- propagation modes (the reference's MODE__* values) -----------------------
MODE_NOT_SET = 0
MODE_LOS = 1
MODE_DIFFRACTION = 2
MODE_TROPOSCATTER = 3

# --- kernel call modes ---------------------------------------------------------
CALL_P2P = 0
CALL_AREA = 1

# --- polarization, variability modes, siting -----------------------------------
POL_HORIZONTAL = 0
POL_VERTICAL = 1
MDVAR_SINGLE_MESSAGE = 0
MDVAR_ACCIDENTAL = 1
MDVAR_MOBILE = 2
MDVAR_BROADCAST = 3
SITING_RANDOM = 0
SITING_CAREFUL = 1
SITING_VERY_CAREFUL = 2

# --- warning flags (bit values as in NTIA ITM 1.4 Warnings.h) ------------------
WARN_TX_TERMINAL_HEIGHT = 0x0001
WARN_RX_TERMINAL_HEIGHT = 0x0002
WARN_FREQUENCY = 0x0004
WARN_PATH_DISTANCE_TOO_BIG_1 = 0x0008
WARN_PATH_DISTANCE_TOO_BIG_2 = 0x0010
WARN_PATH_DISTANCE_TOO_SMALL_1 = 0x0020
WARN_PATH_DISTANCE_TOO_SMALL_2 = 0x0040
WARN_TX_HORIZON_ANGLE = 0x0080
WARN_RX_HORIZON_ANGLE = 0x0100
WARN_TX_HORIZON_DISTANCE_1 = 0x0200
WARN_RX_HORIZON_DISTANCE_1 = 0x0400
WARN_TX_HORIZON_DISTANCE_2 = 0x0800
WARN_RX_HORIZON_DISTANCE_2 = 0x1000
WARN_EXTREME_VARIABILITIES = 0x2000
WARN_SURFACE_REFRACTIVITY = 0x4000

# --- error codes returned by the kernels (0 = success) -------------------------
ERR_NONE = 0
ERR_SURFACE_REFRACTIVITY_SMALL = 1
ERR_SURFACE_REFRACTIVITY_LARGE = 2
ERR_EFFECTIVE_EARTH = 3
ERR_GROUND_IMPEDANCE = 4
ERR_PROFILE = 5

# --- intermediate values written to ``iv`` ------------------------------------
IV_A_REF = 0
IV_A_FS = 1
IV_D_M = 2
IV_THETA_TX = 3
IV_THETA_RX = 4
IV_DHZN_TX = 5
IV_DHZN_RX = 6
IV_HE_TX = 7
IV_HE_RX = 8
IV_N_S = 9
IV_DELTA_H = 10
IV_SIZE = 11

#: Work buffer length ``_delta_h`` needs: at most 245 resampled points, then
#: the counts and members of :func:`_order_stats` (64 + 245).
WORK_SIZE = 560

# --- physical constants ---------------------------------------------------------
A_0_M = 6370e3  # earth radius of the Vogler normalisation [Vog]
A_9000_M = 9000e3  # reference radius of the variability distance [Alg 5.3]
GAMMA_A = 157e-9  # actual earth curvature, 1/m [TN101 4.4]
THIRD = 1.0 / 3.0
SQRT2 = math.sqrt(2.0)


# ==============================================================================
# Small functions
# ==============================================================================
@vjit
def _dim(x: float, y: float) -> float:
    """Positive difference, C ``fdim``."""
    return x - y if x > y else 0.0


@vjit
def free_space_db(d_m: float, f_mhz: float) -> float:
    """Free-space basic transmission loss, dB (ITU-R P.525; [Alg 4.1])."""
    return _free_space_at(d_m, _free_space_const(f_mhz))


@vjit
def _free_space_const(f_mhz: float) -> float:
    """The frequency part of :func:`free_space_db`, 32.45 + 20 log10(f_MHz)."""
    return 32.45 + 20.0 * vlog10(f_mhz)


@vjit
def _free_space_at(d_m: float, fs_const: float) -> float:
    """:func:`free_space_db` from its frequency part (same operations, same bits)."""
    return fs_const + 20.0 * vlog10(d_m / 1000.0)


@vjit
def _terrain_roughness(d_m: float, delta_h: float) -> float:
    """Delta h(d) = Delta h (1 - 0.8 exp(-d / 50 km)) [ERL eq 3]."""
    return delta_h * (1.0 - 0.8 * vexp(-d_m / 50e3))


@vjit
def _sigma_h(delta_h: float) -> float:
    """RMS terrain deviation in the first Fresnel zone [ERL 3.6a]."""
    return 0.78 * delta_h * vexp(-0.5 * math.sqrt(math.sqrt(delta_h)))


@jit
def _qerfi(q: float) -> float:
    """Inverse complementary normal distribution [A&S 26.2.23], |err| < 4.5e-4."""
    x = 1.0 - q if q > 0.5 else q
    t = math.sqrt(-2.0 * math.log(x))
    zeta = ((0.010328 * t + 0.802853) * t + 2.515516) / (
        ((0.001308 * t + 0.189269) * t + 1.432788) * t + 1.0
    )
    v = t - zeta
    return -v if q > 0.5 else v


@vjit
def _fresnel_knife(v2: float) -> float:
    """Ideal knife-edge loss A(v, 0) from v^2 [TN101 III.24b,c] (both branches, one kept)."""
    near = 6.02 + 9.11 * math.sqrt(v2) - 1.27 * v2
    far = 12.953 + 10.0 * vlog10(v2)
    return near if v2 < 5.76 else far


@vjit
def _height_gain(x_km: float, k: float) -> float:
    """Vogler's height-gain function F(x, K), dB [Vog; Alg 6.1-6.4].

    Branch-free: every branch is evaluated and the reference's choice kept,
    so that a loop over cells vectorizes (see :mod:`deadzone.kernels._vmath`).
    """
    ln_x = vlog(x_km)
    w = -vlog(k)
    # x < 200 km
    r_flat = -117.0 + (17.372 * ln_x if x_km > 1.0 else 0.0)
    r_k = 2.5e-5 * x_km * x_km / k - 8.686 * w - 15.0
    r_near = r_flat if (k < 1e-5 or x_km * (w * w * w) > 5495.0) else r_k
    # x >= 200 km, blended towards the x > 2000 km form below 2000 km
    r = 0.05751 * x_km - 4.343 * ln_x
    wb = 0.0134 * x_km * vexp(-0.005 * x_km)
    r_mid = (1.0 - wb) * r + wb * (17.372 * ln_x - 117.0)
    r_far = r_mid if x_km < 2000.0 else r
    return r_near if x_km < 200.0 else r_far


@jit
def _h0_curve(j: int, r: float) -> float:
    """H_01(r, j) curve fits [Alg 6.13]."""
    if j == 0:
        a, b = 25.0, 24.0
    elif j == 1:
        a, b = 80.0, 45.0
    elif j == 2:
        a, b = 177.0, 68.0
    elif j == 3:
        a, b = 395.0, 80.0
    else:
        a, b = 705.0, 105.0
    ir = 1.0 / r
    return 10.0 * math.log10(1.0 + a * ir**4 + b * ir * ir)


@jit
def _h0(r: float, eta_s: float) -> float:
    """Troposcatter frequency-gain function H_0(r, eta_s) [TN101 §9.2; Alg 6.13]."""
    eta_s = min(max(eta_s, 1.0), 5.0)
    i = int(eta_s)
    q = eta_s - i
    res = _h0_curve(i - 1, r)
    if q != 0.0:
        res = (1.0 - q) * res + q * _h0_curve(i, r)
    return res


@jit
def _f_theta_d(td: float) -> float:
    """Attenuation function F(theta d), dB [Alg 6.9]."""
    if td <= 10e3:
        return 133.4 + 0.332e-3 * td - 10.0 * math.log10(td)
    if td <= 70e3:
        return 104.6 + 0.212e-3 * td - 2.5 * math.log10(td)
    return 71.8 + 0.157e-3 * td + 5.0 * math.log10(td)


# ==============================================================================
# Preparatory parameters (qlrps) and profile analysis (hzns, dlthx, zlsub)
# ==============================================================================
@vjit
def refractivity(h_sys_m: float, n0: float):
    """Surface refractivity and effective earth curvature [Alg §2 qlrps].

    N_s = N_0 exp(-h_sys / 9460 m) [TN101 4.3];
    gamma_e = gamma_a (1 - 0.04665 exp(N_s / 179.3)) [TN101 4.4].
    Returns (N_s, gamma_e).
    """
    n_s = n0 if h_sys_m == 0.0 else n0 * vexp(-h_sys_m / 9460.0)
    gamma_e = GAMMA_A * (1.0 - 0.04665 * vexp(n_s / 179.3))
    return n_s, gamma_e


@jit
def ground_impedance(f_mhz: float, pol: int, epsilon: float, sigma: float) -> complex:
    """Z_g = sqrt(eps_r - 1) (horizontal), divided by eps_r for vertical, with
    eps_r = epsilon + i 18000 sigma / f_MHz [Alg §2 qlrps]."""
    ep_r = complex(epsilon, 18000.0 * sigma / f_mhz)
    z_g = cmath.sqrt(ep_r - 1.0)
    if pol == POL_VERTICAL:
        z_g = z_g / ep_r
    return z_g


@jit
def prep_params(f_mhz: float, h_sys_m: float, n0: float, pol: int, epsilon: float, sigma: float):
    """Surface refractivity, effective curvature and ground impedance [Alg §2 qlrps].

    Returns (N_s, gamma_e, Z_g); see :func:`refractivity` and
    :func:`ground_impedance`.
    """
    n_s, gamma_e = refractivity(h_sys_m, n0)
    return n_s, gamma_e, ground_impedance(f_mhz, pol, epsilon, sigma)


@jit
def _sum4(z: np.ndarray, lo: int, hi: int, mid0: float):
    """``(sum z[lo:hi], sum z[k] * (mid0 + k - lo))`` in four interleaved partial
    sums (fixed order: the same result whatever the thread count).

    NTIA's loops add one term at a time, a chain that waits on each add; four
    partial sums let the adds overlap.  The totals differ from the one-chain
    sums only by rounding (a few ulp), far below what any output shows.
    """
    s0 = s1 = s2 = s3 = 0.0
    w0 = w1 = w2 = w3 = 0.0
    k = lo
    m = mid0
    while k + 4 <= hi:
        z0 = z[k]
        z1 = z[k + 1]
        z2 = z[k + 2]
        z3 = z[k + 3]
        s0 += z0
        s1 += z1
        s2 += z2
        s3 += z3
        w0 += z0 * m
        w1 += z1 * (m + 1.0)
        w2 += z2 * (m + 2.0)
        w3 += z3 * (m + 3.0)
        k += 4
        m += 4.0
    while k < hi:
        s0 += z[k]
        w0 += z[k] * m
        k += 1
        m += 1.0
    return (s0 + s1) + (s2 + s3), (w0 + w1) + (w2 + w3)


@jit
def _lsq_fit(z: np.ndarray, n_int: int, xi: float, d_start: float, d_end: float):
    """Least-squares line through z between two distances [Alg §2 zlsub].

    Returns the fitted heights (y at x = 0, y at x = n_int * xi).  The sums
    run in four partial sums (:func:`_sum4`); the offsets ``mid`` are
    half-integers, exact in any order.
    """
    i_start = int(_dim(d_start / xi, 0.0))
    i_end = n_int - int(_dim(float(n_int), d_end / xi))
    if i_end <= i_start:
        i_start = int(_dim(float(i_start), 1.0))
        i_end = n_int - int(_dim(float(n_int), i_end + 1.0))
    x_len = float(i_end - i_start)
    mid = -0.5 * x_len
    mid_end = i_end + mid
    sum_y, sum_w = _sum4(z, i_start + 1, i_end, mid + 1.0)
    sum_y += 0.5 * (z[i_start] + z[i_end])
    scaled = 0.5 * (z[i_start] - z[i_end]) * mid + sum_w
    sum_y = sum_y / x_len
    scaled = scaled * 12.0 / ((x_len * x_len + 2.0) * x_len)
    return sum_y - scaled * mid_end, sum_y + scaled * (n_int - mid_end)


@jit
def _select(a: np.ndarray, lo: int, hi: int, k: int) -> float:
    """The value ``sorted(a[lo:hi])[k - lo]`` (quickselect).

    Reorders ``a[lo:hi]`` in place so that ``a[lo:k] <= a[k] <= a[k+1:hi]``
    (Hoare's FIND, CACM 4(7), 1961, with a median-of-three pivot and a
    Lomuto partition written without branches on the data, so that it runs
    at a few cycles per element whatever the order).  Expected O(hi - lo);
    no allocation.
    """
    hi -= 1
    while hi > lo:
        mid = (lo + hi) >> 1
        # median of three to a[hi], used as the pivot
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[mid] < a[hi]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[hi]
        store = lo
        for i in range(lo, hi):
            v = a[i]
            t = a[store]
            lt = v < pivot
            a[store] = v if lt else t
            a[i] = t if lt else v
            store += 1 if lt else 0
        a[hi] = a[store]
        a[store] = pivot
        if store == k:
            return pivot
        if k < store:
            hi = store - 1
        else:
            lo = store + 1
    return a[k]


#: Buckets of the order-statistics pass of :func:`_delta_h`.
_N_BUCKETS = 64


@jit
def _order_stats(a: np.ndarray, n: int, k_lo: int, k_hi: int, lo: float, hi: float,
                 work: np.ndarray, at: int):
    """``sorted(a[:n])[k_lo]`` and ``sorted(a[:n])[k_hi]`` (``k_lo <= k_hi``), exactly.

    ``lo``/``hi`` are the minimum and maximum of ``a[:n]``.  One counting
    pass sorts the values into ``_N_BUCKETS`` equal-width buckets (the bucket
    index is a monotone function of the value, so every value of a lower
    bucket is <= every value of a higher one), the cumulative counts name the
    bucket and rank of each wanted statistic, and a quickselect runs on that
    bucket's few members only.  ``work[at:]`` holds the counts and members
    (``_N_BUCKETS + n`` elements); ``a`` is not changed.
    """
    span = hi - lo
    if not span > 0.0:
        return lo, lo
    cnt = at
    buf = at + _N_BUCKETS
    scale = _N_BUCKETS / span
    if not scale < math.inf:  # a span too small to scale: select on a copy
        for j in range(n):
            work[buf + j] = a[j]
        v_lo = _select(work, buf, buf + n, buf + k_lo)
        return v_lo, _select(work, buf, buf + n, buf + k_hi)
    top = _N_BUCKETS - 1
    for b in range(_N_BUCKETS):
        work[cnt + b] = 0.0
    for j in range(n):
        b = min(int((a[j] - lo) * scale), top)
        work[cnt + b] += 1.0
    # bucket and rank within it of both statistics
    b_lo = b_hi = -1
    r_lo = r_hi = 0
    below = 0
    for b in range(_N_BUCKETS):
        c = int(work[cnt + b])
        if b_lo < 0 and k_lo < below + c:
            b_lo = b
            r_lo = k_lo - below
        if k_hi < below + c:
            b_hi = b
            r_hi = k_hi - below
            break
        below += c
    m = 0
    for j in range(n):
        if min(int((a[j] - lo) * scale), top) == b_lo:
            work[buf + m] = a[j]
            m += 1
    v_lo = _select(work, buf, buf + m, buf + r_lo)
    if b_hi == b_lo:
        return v_lo, _select(work, buf, buf + m, buf + r_hi)
    m = 0
    for j in range(n):
        if min(int((a[j] - lo) * scale), top) == b_hi:
            work[buf + m] = a[j]
            m += 1
    return v_lo, _select(work, buf, buf + m, buf + r_hi)


@jit
def _min_max(a: np.ndarray, n: int):
    """``(min(a[:n]), max(a[:n]))`` of finite values, in four interleaved running
    extremes (one chain waited on each compare; the order does not change a
    minimum or a maximum: at most the sign of a zero, which no use of them
    sees)."""
    l0 = l1 = l2 = l3 = math.inf
    h0 = h1 = h2 = h3 = -math.inf
    j = 0
    while j + 4 <= n:
        l0 = min(l0, a[j])
        h0 = max(h0, a[j])
        l1 = min(l1, a[j + 1])
        h1 = max(h1, a[j + 1])
        l2 = min(l2, a[j + 2])
        h2 = max(h2, a[j + 2])
        l3 = min(l3, a[j + 3])
        h3 = max(h3, a[j + 3])
        j += 4
    while j < n:
        l0 = min(l0, a[j])
        h0 = max(h0, a[j])
        j += 1
    return min(min(l0, l1), min(l2, l3)), max(max(h0, h1), max(h2, h3))


@jit
def _delta_h(z: np.ndarray, n_int: int, xi: float, d_start: float, d_end: float,
             work: np.ndarray) -> float:
    """Terrain irregularity Delta h of a profile [Alg §2 dlthx; ERL eq 3].

    The profile between ``d_start`` and ``d_end`` is resampled at n = 10 p10 - 5
    points (p10 in 4..25), detrended by a least-squares line, and the
    interdecile range of the residuals (10 % minus 90 % exceedance) gives
    Delta h(d); inverting ERL eq 3 gives Delta h.  ``work`` needs
    ``WORK_SIZE`` elements; nothing is allocated.

    NTIA walks the resampling position and the detrending line forward one
    add at a time; here point ``j`` is placed at ``x_start + j dx`` and the
    line evaluated at ``j`` directly (the same values up to rounding, with no
    chain of dependent adds), and the two order statistics come from a
    counting pass (:func:`_order_stats`) instead of NTIA's full sort: the
    same order statistics exactly.
    """
    x_start = d_start / xi
    x_end = d_end / xi
    if x_end - x_start < 2.0:
        return 0.0
    p10 = int(0.1 * (x_end - x_start + 8.0))
    p10 = min(max(4, p10), 25)
    n = 10 * p10 - 5
    p90 = n - p10
    np_s = float(n - 1)
    dx = (x_end - x_start) / np_s
    # point j between z[i - 1] and z[i], i = ceil(position) (at least 1, at most
    # n_int: NTIA extrapolates from the last interval there); in two passes, the
    # cells and offsets, then the reads, so that both compile to SIMD (one loop
    # took twice as long)
    cells = work[n:2 * n].view(np.int64)
    for j in range(n):
        pos = x_start + j * dx
        i = min(max(int(math.ceil(pos)), 1), n_int)
        cells[j] = i
        work[j] = pos - i
    for j in range(n):
        i = cells[j]
        work[j] = z[i] + (z[i] - z[i - 1]) * work[j]
    y1, y2 = _lsq_fit(work, n - 1, 1.0, 0.0, np_s)
    slope = (y2 - y1) / np_s
    for j in range(n):
        work[j] = work[j] - (y1 + slope * j)
    lo, hi = _min_max(work, n)
    # 10 % exceedance: the p10-th largest; 90 %: the (p90 + 1)-th largest
    q90, q10 = _order_stats(work, n, n - 1 - p90, n - p10, lo, hi, work, n)
    return (q10 - q90) / (1.0 - 0.8 * math.exp(-(d_end - d_start) / 50e3))


@jit
def _horizons(z: np.ndarray, n_int: int, xi: float, a_e: float, h_tx: float, h_rx: float):
    """Horizon angles and distances of both terminals [Alg §2 hzns; TN101 6.15].

    Starts from the line-of-sight angles and raises each terminal's angle to
    the highest curvature-corrected elevation angle of any interior point.
    Returns (theta_tx, theta_rx, d_tx, d_rx).
    """
    d = n_int * xi
    z_tx = z[0] + h_tx
    z_rx = z[n_int] + h_rx
    th0 = (z_rx - z_tx) / d - d / (2.0 * a_e)
    th1 = -(z_rx - z_tx) / d - d / (2.0 * a_e)
    dh0 = d
    dh1 = d
    # The distances step by one add per point exactly as NTIA's loop does:
    # they decide where the terminal fits start (int(0.9 dh / xi) often lands
    # on an integer), so they must be NTIA's values to the last bit; the
    # curvature term multiplies by 1 / (2 a_e) instead of dividing (the
    # angles only decide which point is the horizon).
    # A point raises an angle when (z - z_t) / x - x c > theta, i.e. (both
    # distances > 0) z - z_t > (theta + x c) x: the test multiplies, and the
    # angle is divided out only when it rises (rarely), as NTIA computes it.
    c = 1.0 / (2.0 * a_e)
    d_tx = 0.0
    d_rx = d
    for i in range(1, n_int):
        d_tx += xi
        d_rx -= xi
        q0 = z[i] - z_tx
        q1 = z[i] - z_rx
        if q0 > (th0 + d_tx * c) * d_tx:
            t0 = q0 / d_tx - d_tx * c
            if t0 > th0:
                th0 = t0
                dh0 = d_tx
        if q1 > (th1 + d_rx * c) * d_rx:
            t1 = q1 / d_rx - d_rx * c
            if t1 > th1:
                th1 = t1
                dh1 = d_rx
    return th0, th1, dh0, dh1


# ==============================================================================
# lrprop: reference attenuation
# ==============================================================================
@vjit
def _los_loss(d: float, he0: float, he1: float, z_re: float, z_im: float, delta_h: float,
              m_d: float, a_d0: float, d_sml: float, f_mhz: float) -> float:
    """Line-of-sight attenuation: two-ray with rough-ground reflection blended
    with the extended diffraction line [Alg 4.43-4.50].

    ``z_re``, ``z_im``: the ground impedance Z_g; the complex arithmetic is
    written out in real and imaginary parts (branch-free, vectorizable).
    """
    sig = _sigma_h(_terrain_roughness(d, delta_h))
    wn = f_mhz / 47.7
    hs = he0 + he1
    sin_psi = hs / math.sqrt(d * d + hs * hs)  # [Alg 4.46]
    # r_e = (sin_psi - Z_g) / (sin_psi + Z_g) exp(-min(10, wn sigma_h sin_psi)) [Alg 4.47]
    nr = sin_psi - z_re
    ni = -z_im
    dr = sin_psi + z_re
    di = z_im
    den = dr * dr + di * di
    damp = vexp(-min(10.0, wn * sig * sin_psi))
    re_r = (nr * dr + ni * di) / den * damp
    re_i = (ni * dr - nr * di) / den * damp
    q = re_r * re_r + re_i * re_i
    scale = math.sqrt(sin_psi / q) if (q < 0.25 or q < sin_psi) else 1.0  # [Alg 4.48]
    re_r = re_r * scale
    re_i = re_i * scale
    dphi = wn * 2.0 * he0 * he1 / d  # [Alg 4.49]
    dphi = (math.pi - (math.pi / 2.0) ** 2 / dphi) if dphi > math.pi / 2.0 else dphi  # [4.50]
    sin_p, cos_p = vsincos(dphi)
    rr_r = cos_p + re_r
    rr_i = -sin_p + re_i
    a_t = -10.0 * vlog10(rr_r * rr_r + rr_i * rr_i)
    a_d = m_d * d + a_d0
    w = 1.0 / (1.0 + f_mhz * delta_h / max(10e3, d_sml))
    return w * a_t + (1.0 - w) * a_d


@jit
def freq_consts(f_mhz: float, z_g: complex):
    """``(f^(1/3), f^(-1/3), |Z_g|, ln f, 32.45 + 20 log10 f)``: the run's constants.

    They depend only on the frequency and the ground (diffraction terms
    [Alg 4.13-4.17], the scatter threshold [Alg 4.57], free space [Alg 4.1]),
    so a sweep computes them once instead of once per cell.
    """
    return (f_mhz**THIRD, f_mhz ** (-THIRD), abs(z_g), math.log(f_mhz),
            _free_space_const(f_mhz))


@vjit
def terminal_terms(dh: float, he: float, fc):
    """The parts of the diffraction and variability terms that belong to one terminal.

    From the terminal's horizon distance ``dh`` and effective height ``he``
    (m): Vogler's ``x_j`` and height gain ``F(x_j, K_j)`` [Vog; Alg 4.13-4.17]
    and ``sqrt(2 a_9000 h_e)`` of the effective distance [Alg 5.3].
    """
    f3, fm3, absz, _, _ = fc
    a = 0.5 * dh * dh / he
    c = vcbrt((4.0 / 3.0) * A_0_M / a)
    k = 0.017778 * c * fm3 / absz
    x = (1.607 - k) * c * c * f3 * (dh / 1000.0)
    return x, _height_gain(x, k), math.sqrt(2.0 * A_9000_M * he)


@vjit
def _diffraction_terms(he0: float, he1: float, fc, tx, rx, delta_h: float, h0: float, h1: float,
                       call_mode: int, d_sml: float, f_mhz: float):
    """The distance-independent part of :func:`_diffraction_loss`.

    Both evaluation distances of the diffraction line share these terms
    (terminal radii of Vogler's method, height gains, clutter factor, the
    weighting's height term); computing them once halves the cost.  ``fc``
    from :func:`freq_consts`, ``tx`` / ``rx`` from :func:`terminal_terms`.
    """
    x1, hg1, _ = tx
    x2, hg2, _ = rx
    hg = hg1 + hg2
    # clutter factor [ERL 3.38c], with Delta h taken at d_sML
    sig = _sigma_h(_terrain_roughness(d_sml, delta_h))
    a_fo = min(15.0, 5.0 * vlog10(1.0 + 1e-5 * h0 * h1 * f_mhz * sig))
    q = h0 * h1
    qk = he0 * he1 - q
    q = q + 10.0 if call_mode == CALL_P2P else q
    term1 = math.sqrt(1.0 + qk / q)
    return x1 + x2, hg, a_fo, term1


@vjit
def _diffraction_loss(d: float, dh0: float, dh1: float, a_e: float, delta_h: float,
                      theta_los: float, f_mhz: float, fc, x12: float, hg: float, a_fo: float,
                      term1: float) -> float:
    """Diffraction attenuation at distance d [Alg 4.10-4.22; ERL 3.23, 3.38c].

    Double knife edge (TN101 I.1, I.7) and Vogler three-radii smooth earth,
    weighted by terrain roughness, plus the clutter factor; the remaining
    arguments come from :func:`_diffraction_terms`.
    """
    f3, fm3, absz, _, _ = fc
    d_ml = dh0 + dh1
    theta_nlos = d / a_e - theta_los  # [Alg 4.12]
    d_nlos = d - d_ml
    # knife edges [TN101 I.7]; 1/(4 pi) = 0.0795775
    c = 0.0795775 * (f_mhz / 47.7) * theta_nlos * theta_nlos
    v1 = c * dh0 * d_nlos / (d_nlos + dh0)
    v2 = c * dh1 * d_nlos / (d_nlos + dh1)
    a_k = _fresnel_knife(v1) + _fresnel_knife(v2)

    # smooth earth, three radii [Vog eqs 2, 3, 6a, 13; Alg 4.13-4.20]
    a0 = (d - d_ml) / (d / a_e - theta_los)
    c0 = vcbrt((4.0 / 3.0) * A_0_M / a0)
    k0 = 0.017778 * c0 * fm3 / absz
    x0 = (1.607 - k0) * c0 * c0 * f3 * (a0 * theta_nlos / 1000.0) + x12
    g_x = 0.05751 * x0 - 10.0 * vlog10(x0)
    a_se = g_x - hg - 20.0

    # weighting [ERL 3.23]; C ~ 10 for low antennas on known paths
    dhd = _terrain_roughness(d, delta_h)
    q = (term1 + (-theta_los * a_e + d_ml) / d) * min(dhd * f_mhz / 47.7, 6283.2)
    w = 25.1 / (25.1 + math.sqrt(q))
    return w * a_se + (1.0 - w) * a_k + a_fo


@jit
def _scatter_loss(d: float, th0: float, th1: float, dh0: float, dh1: float, he0: float,
                  he1: float, a_e: float, n_s: float, f_mhz: float, theta_los: float,
                  h0_prev: float):
    """Troposcatter attenuation [Alg 4.61-4.67; TN101 9.3-9.5].

    ``h0_prev`` carries H_0 between the two evaluation distances (negative
    on the first call).  Returns (loss_db, H_0); loss 1001 when undefined.
    """
    wn = f_mhz / 47.7
    if h0_prev > 15.0:
        h_0 = h0_prev
    else:
        ad = dh0 - dh1
        rr = he1 / he0
        if ad < 0.0:
            ad = -ad
            rr = 1.0 / rr
        theta = th0 + th1 + d / a_e
        r1 = 2.0 * wn * theta * he0  # [TN101 9.4a]
        r2 = 2.0 * wn * theta * he1
        if r1 < 0.2 and r2 < 0.2:
            return 1001.0, h0_prev  # A_scat undefined [Alg p. 11]
        s = (d - ad) / (d + ad)
        q = min(max(0.1, rr / s), 10.0)  # [TN101 9.5], truncated [Alg p. 16]
        s = max(0.1, s)
        h_cross = (d - ad) * (d + ad) * theta * 0.25 / d  # [Alg 4.66]
        eta_s = (h_cross / 1.7556e3) * (
            1.0 + (0.031 - n_s * 2.32e-3 + n_s * n_s * 5.67e-6)
            * math.exp(-min(1.7, h_cross / 8.0e3) ** 6)
        )  # [Alg 4.67; TN101 9.3a]
        h00 = 0.5 * (_h0(r1, eta_s) + _h0(r2, eta_s))
        dh_0 = min(h00, 6.0 * (0.6 - math.log10(max(eta_s, 1.0))) * math.log10(s)
                   * math.log10(q))
        h_0 = max(h00 + dh_0, 0.0)
        if eta_s < 1.0:
            h_0 = eta_s * h_0 + (1.0 - eta_s) * 10.0 * math.log10(
                ((1.0 + SQRT2 / r1) * (1.0 + SQRT2 / r2)) ** 2 * (r1 + r2)
                / (r1 + r2 + 2.0 * SQRT2)
            )
        if h_0 > 15.0 and h0_prev >= 0.0:  # [Alg p. 12]
            h_0 = h0_prev
    th = d / a_e - theta_los
    loss = (_f_theta_d(th * d) + 10.0 * math.log10(wn * 47.7 * th**4)
            - 0.1 * (n_s - 301.0) * math.exp(-th * d / 40e3) + h_0)  # [Alg 4.63]
    return loss, h_0


#: Mode returned by :func:`_reference_line` when the troposcatter line may apply
#: (beyond d_ML + 1.088 X_ae ln f); :func:`_beyond_diffraction` settles it.
MODE_SCATTER_CHECK = -1


@vjit
def _reference_line(th0: float, th1: float, f_mhz: float, z_re: float, z_im: float, dh0: float,
                    dh1: float, he0: float, he1: float, gamma_e: float, n_s: float,
                    delta_h: float, h0: float, h1: float, d: float, call_mode: int, fc, tx):
    """Reference attenuation of one cell, branch-free [Alg §4 lrprop; ERL §3].

    Line of sight and the diffraction line as in NTIA ITM; every branch is
    evaluated and the reference's choice kept (selects), so that a loop over
    cells vectorizes.  Where the troposcatter line may take over the mode is
    :data:`MODE_SCATTER_CHECK` and the caller finishes with
    :func:`_beyond_diffraction`.  ``fc`` from :func:`freq_consts`, ``tx`` the
    transmitter's :func:`terminal_terms`.  Returns (A_ref_db, mode,
    warnings, error, m_d, A_d0, X_ae).
    """
    a_e = 1.0 / gamma_e
    ds0 = math.sqrt(2.0 * he0 * a_e)
    ds1 = math.sqrt(2.0 * he1 * a_e)
    d_sml = ds0 + ds1
    d_ml = dh0 + dh1
    theta_los = -max(th0 + th1, -d_ml / a_e)

    warn = WARN_TX_HORIZON_ANGLE if abs(th0) > 200e-3 else 0
    warn |= WARN_RX_HORIZON_ANGLE if abs(th1) > 200e-3 else 0
    warn |= WARN_TX_HORIZON_DISTANCE_1 if dh0 < 0.1 * ds0 else 0
    warn |= WARN_RX_HORIZON_DISTANCE_1 if dh1 < 0.1 * ds1 else 0
    warn |= WARN_TX_HORIZON_DISTANCE_2 if dh0 > 3.0 * ds0 else 0
    warn |= WARN_RX_HORIZON_DISTANCE_2 if dh1 > 3.0 * ds1 else 0
    ns_ok = n_s >= 150.0 and n_s <= 400.0
    warn |= WARN_SURFACE_REFRACTIVITY if (ns_ok and n_s < 250.0) else 0
    err = (ERR_SURFACE_REFRACTIVITY_SMALL if n_s < 150.0 else
           ERR_SURFACE_REFRACTIVITY_LARGE if n_s > 400.0 else
           ERR_EFFECTIVE_EARTH if (a_e < 4000000.0 or a_e > 13333333.0) else
           ERR_GROUND_IMPEDANCE if z_re <= abs(z_im) else ERR_NONE)

    # diffraction line from two distances far in the diffraction region [Alg 4.8-4.9]
    xae = vcbrt(a_e * a_e / f_mhz)
    d3 = max(d_sml, d_ml + 5.0 * xae)
    d4 = d3 + 10.0 * xae
    x12, hg, a_fo, term1 = _diffraction_terms(
        he0, he1, fc, tx, terminal_terms(dh1, he1, fc), delta_h, h0, h1, call_mode, d_sml,
        f_mhz)
    a3 = _diffraction_loss(d3, dh0, dh1, a_e, delta_h, theta_los, f_mhz, fc, x12, hg, a_fo,
                           term1)
    a4 = _diffraction_loss(d4, dh0, dh1, a_e, delta_h, theta_los, f_mhz, fc, x12, hg, a_fo,
                           term1)
    m_d = (a4 - a3) / (d4 - d3)
    a_d0 = a3 - m_d * d3

    if err == ERR_NONE:
        warn |= WARN_PATH_DISTANCE_TOO_SMALL_1 if d < abs(he0 - he1) / 200e-3 else 0
        warn |= WARN_PATH_DISTANCE_TOO_SMALL_2 if d < 1e3 else 0
        warn |= WARN_PATH_DISTANCE_TOO_BIG_1 if d > 1000e3 else 0
        warn |= WARN_PATH_DISTANCE_TOO_BIG_2 if d > 2000e3 else 0

    # line of sight: A = A_o + k1 d + k2 ln d fitted through d0, d1, d_sML
    # [ERL 3.16-3.21; Alg 4.25-4.42]
    a_sml = d_sml * m_d + a_d0
    d0 = 0.04 * f_mhz * he0 * he1
    d0 = min(d0, 0.5 * d_ml) if a_d0 >= 0.0 else d0
    d1 = (d0 + 0.25 * (d_ml - d0)) if a_d0 >= 0.0 else max(-a_d0 / m_d, 0.25 * d_ml)
    a1 = _los_loss(d1, he0, he1, z_re, z_im, delta_h, m_d, a_d0, d_sml, f_mhz)
    a0 = _los_loss(d0, he0, he1, z_re, z_im, delta_h, m_d, a_d0, d_sml, f_mhz)
    q = vlog(d_sml / d0)
    k2 = max(0.0, ((d_sml - d0) * (a1 - a0) - (d1 - d0) * (a_sml - a0))
             / ((d_sml - d0) * vlog(d1 / d0) - (d1 - d0) * q))
    flag = d0 < d1 and (a_d0 > 0.0 or k2 > 0.0)
    k1 = (a_sml - a0 - k2 * q) / (d_sml - d0)
    k1_neg = k1 < 0.0
    k2 = _dim(a_sml, a0) / q if k1_neg else k2
    k1 = (m_d if k2 == 0.0 else 0.0) if k1_neg else k1
    k1_plain = _dim(a_sml, a1) / (d_sml - d1)
    k1_plain = m_d if k1_plain == 0.0 else k1_plain
    k1 = k1 if flag else k1_plain
    k2 = k2 if flag else 0.0
    a_o = a_sml - k1 * d_sml - k2 * vlog(d_sml)
    a_los = a_o + k1 * d + k2 * vlog(d)

    # beyond the horizon: the diffraction line, or the scatter line beyond
    # d_x >= d_ML + 1.088 X_ae ln f (Alg 4.57): that case is left to
    # _beyond_diffraction (it needs the H_0 curve fits, a scalar table walk).
    los = d < d_sml
    a_ref = a_los if los else m_d * d + a_d0
    mode = (MODE_LOS if los else
            MODE_DIFFRACTION if d <= d_ml + 1.088 * xae * fc[3] else MODE_SCATTER_CHECK)
    ok = err == ERR_NONE
    return (max(a_ref, 0.0) if ok else 0.0, mode if ok else MODE_NOT_SET, warn, err, m_d, a_d0,
            xae)


@jit
def _beyond_diffraction(th0: float, th1: float, f_mhz: float, dh0: float, dh1: float,
                        he0: float, he1: float, gamma_e: float, n_s: float, d: float, fc,
                        m_d: float, a_d0: float, xae: float):
    """Diffraction or troposcatter line beyond d_ML + 1.088 X_ae ln f [Alg 4.51-4.60].

    The scalar end of :func:`_reference_line` for its
    :data:`MODE_SCATTER_CHECK` cells.  Returns (A_ref_db, mode).
    """
    a_e = 1.0 / gamma_e
    d_sml = math.sqrt(2.0 * he0 * a_e) + math.sqrt(2.0 * he1 * a_e)
    d_ml = dh0 + dh1
    theta_los = -max(th0 + th1, -d_ml / a_e)
    d5 = d_ml + 200e3
    d6 = d_ml + 400e3
    a6, hh = _scatter_loss(d6, th0, th1, dh0, dh1, he0, he1, a_e, n_s, f_mhz, theta_los, -1.0)
    a5, hh = _scatter_loss(d5, th0, th1, dh0, dh1, he0, he1, a_e, n_s, f_mhz, theta_los, hh)
    if a5 < 1000.0:
        m_s = (a6 - a5) / 200e3
        d_x = max(max(d_sml, d_ml + 1.088 * xae * fc[3]),
                  (a5 - a_d0 - m_s * d5) / (m_d - m_s))
        a_s0 = (m_d - m_s) * d_x + a_d0
    else:
        m_s = m_d
        a_s0 = a_d0
        d_x = 10e6
    if d > d_x:
        return max(m_s * d + a_s0, 0.0), MODE_TROPOSCATTER
    return max(m_d * d + a_d0, 0.0), MODE_DIFFRACTION


@vloop
def reference_attenuation(th0: float, th1: float, f_mhz: float, z_g: complex, dh0: float,
                          dh1: float, he0: float, he1: float, gamma_e: float, n_s: float,
                          delta_h: float, h0: float, h1: float, d: float, call_mode: int, fc,
                          tx):
    """Reference attenuation A_ref below free space [Alg §4 lrprop; ERL §3].

    One cell: :func:`_reference_line`, then :func:`_beyond_diffraction`
    where the scatter line may apply.  ``fc`` from :func:`freq_consts`,
    ``tx`` the transmitter's :func:`terminal_terms`.  Returns (A_ref_db,
    mode, warnings, error).
    """
    a_ref, mode, warn, err, m_d, a_d0, xae = _reference_line(
        th0, th1, f_mhz, z_g.real, z_g.imag, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, h0, h1,
        d, call_mode, fc, tx)
    if mode == MODE_SCATTER_CHECK:
        a_ref, mode = _beyond_diffraction(th0, th1, f_mhz, dh0, dh1, he0, he1, gamma_e, n_s, d,
                                          fc, m_d, a_d0, xae)
    return a_ref, mode, warn, err


# ==============================================================================
# avar: variability
# ==============================================================================
@vjit
def _curve(c1: float, c2: float, x1: float, x2: float, x3: float, de: float) -> float:
    """Climate curve fit [TN101 III.69-70]."""
    r = (de / x1) ** 2
    return (c1 + c2 / (1.0 + ((de - x2) / x3) ** 2)) * r / (1.0 + r)


# Climate tables [TN101 Fig 10.13; Alg Table 5.1], one row per climate 1..7.
_ALL_YEAR = np.array([
    [-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15],
    [12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9],
    [144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.0e3],
    [190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3],
    [133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3],
])
_SIG_MINUS = np.array([
    [2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51],
    [159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8],
    [762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3],
    [123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3],
    [94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3],
])
_SIG_PLUS = np.array([
    [2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43],
    [102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19],
    [636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3],
    [134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3],
    [95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3],
])
_C_D = np.array([1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518])
_Z_D = np.array([1.282, 2.161, 1.282, 20.0, 1.282, 1.282, 1.282])
_BF_MINUS = np.array([
    [1.0, 1.0, 1.0, 1.0, 0.92, 1.0, 1.0],
    [0.0, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0],
    [0.0, 0.0, 0.0, 0.0, 1.77, 0.0, 0.0],
])
_BF_PLUS = np.array([
    [1.0, 0.93, 1.0, 0.93, 0.93, 1.0, 1.0],
    [0.0, 0.31, 0.0, 0.19, 0.31, 0.0, 0.0],
    [0.0, 2.00, 0.0, 1.79, 2.00, 0.0, 0.0],
])


@jit
def variability_consts(time: float, location: float, situation: float, f_mhz: float,
                       climate: int):
    """The parts of :func:`variability` that depend only on the run's settings.

    Normal deviates of the three quantiles [A&S 26.2.23], the frequency term
    of the effective distance [Alg 5.3] and the frequency factors of the
    time-variability curves [Alg 5.5-5.6].  Computed once per run (the
    area sweep) or once per call (point to point); same numbers either way.
    """
    c = climate - 1
    wn = f_mhz / 47.7
    q = math.log(0.133 * wn)
    g_minus = _BF_MINUS[0, c] + _BF_MINUS[1, c] / ((_BF_MINUS[2, c] * q) ** 2 + 1.0)
    g_plus = _BF_PLUS[0, c] + _BF_PLUS[1, c] / ((_BF_PLUS[2, c] * q) ** 2 + 1.0)
    return (_qerfi(time / 100.0), _qerfi(location / 100.0), _qerfi(situation / 100.0),
            (575.7e12 / wn) ** THIRD, g_minus, g_plus)


@vjit
def variability(vc, root0: float, he1: float, delta_h: float, f_mhz: float, d: float,
                a_ref: float, climate: int, mdvar: int):
    """Attenuation at the requested quantiles [Alg §5 avar; HLK82].

    ``vc`` from :func:`variability_consts` (time, location, situation in
    percent); ``root0`` = sqrt(2 a_9000 h_e0), the transmitter's share of
    the effective distance (third of :func:`terminal_terms`).  Returns
    (A_db, warnings) where A_db is the attenuation relative to free space.
    """
    warn = 0
    z_t, z_l, z_s, d_fx, g_minus, g_plus = vc
    c = climate - 1
    wn = f_mhz / 47.7
    # effective distance [Alg 5.3]
    d_ex = (root0 + math.sqrt(2.0 * A_9000_M * he1) + d_fx)
    if d < d_ex:
        d_e = 130e3 * d / d_ex
    else:
        d_e = 130e3 + d - d_ex

    md = mdvar
    plus20 = md >= 20
    if plus20:
        md -= 20
    sigma_s = 0.0 if plus20 else 5.0 + 3.0 * vexp(-d_e / 100e3)  # [Alg 5.10]
    plus10 = md >= 10
    if plus10:
        md -= 10

    v_med = _curve(_ALL_YEAR[0, c], _ALL_YEAR[1, c], _ALL_YEAR[2, c], _ALL_YEAR[3, c],
                   _ALL_YEAR[4, c], d_e)
    if md == MDVAR_SINGLE_MESSAGE:
        z_t = z_s
        z_l = z_s
    elif md == MDVAR_ACCIDENTAL:
        z_l = z_s
    elif md == MDVAR_MOBILE:
        z_l = z_t
    if abs(z_t) > 3.10 or abs(z_l) > 3.10 or abs(z_s) > 3.10:
        warn |= WARN_EXTREME_VARIABILITIES

    # location variability [Alg 5.9]
    if plus10:
        sigma_l = 0.0
    else:
        dhd = _terrain_roughness(d, delta_h)
        sigma_l = 10.0 * wn * dhd / (wn * dhd + 13.0)
    y_l = sigma_l * z_l

    # time variability [TN101 III.69-70; Alg 5.5-5.8]
    s_minus = _curve(_SIG_MINUS[0, c], _SIG_MINUS[1, c], _SIG_MINUS[2, c], _SIG_MINUS[3, c],
                     _SIG_MINUS[4, c], d_e) * g_minus
    s_plus = _curve(_SIG_PLUS[0, c], _SIG_PLUS[1, c], _SIG_PLUS[2, c], _SIG_PLUS[3, c],
                    _SIG_PLUS[4, c], d_e) * g_plus
    s_td = _C_D[c] * s_plus
    tgtd = (s_plus - s_td) * _Z_D[c]
    if z_t < 0.0:
        sigma_t = s_minus
    elif z_t <= _Z_D[c]:
        sigma_t = s_plus
    else:
        sigma_t = s_td + tgtd / z_t
    y_t = sigma_t * z_t

    # combination [Alg 5.11]
    ys_tmp = sigma_s**2 + y_t**2 / (7.8 + z_s**2) + y_l**2 / (24.0 + z_s**2)
    if md == MDVAR_SINGLE_MESSAGE:
        y_r = 0.0
        y_s = math.sqrt(sigma_t**2 + sigma_l**2 + ys_tmp) * z_s
    elif md == MDVAR_ACCIDENTAL:
        y_r = y_t
        y_s = math.sqrt(sigma_l**2 + ys_tmp) * z_s
    elif md == MDVAR_MOBILE:
        y_r = math.sqrt(sigma_t**2 + sigma_l**2) * z_t
        y_s = math.sqrt(ys_tmp) * z_s
    else:
        y_r = y_t + y_l
        y_s = math.sqrt(ys_tmp) * z_s
    res = a_ref - v_med - y_r - y_s
    if res < 0.0:  # soft floor [Alg 5.12]
        res = res * (29.0 - res) / (29.0 - 10.0 * res)
    return res, warn


@jit
def input_warnings(h_tx: float, h_rx: float, f_mhz: float) -> int:
    """Warnings for inputs near the model's validated limits (ITM ValidateInputs)."""
    warn = 0
    if h_tx < 1.0 or h_tx > 1000.0:
        warn |= WARN_TX_TERMINAL_HEIGHT
    if h_rx < 1.0 or h_rx > 1000.0:
        warn |= WARN_RX_TERMINAL_HEIGHT
    if f_mhz < 40.0 or f_mhz > 10000.0:
        warn |= WARN_FREQUENCY
    return warn


# ==============================================================================
# Entry points
# ==============================================================================
@vjit
def _tail(a_ref: float, he1: float, delta_h: float, f_mhz: float, d: float, fc, vc,
          root0: float, climate: int, mdvar: int):
    """Free space and variability on top of A_ref: (loss_db, A_fs_db, warnings)."""
    a_fs = _free_space_at(d, fc[4])
    a_var, warn = variability(vc, root0, he1, delta_h, f_mhz, d, a_ref, climate, mdvar)
    return a_var + a_fs, a_fs, warn


@vloop
def _finish(th0: float, th1: float, f_mhz: float, z_g: complex, dh0: float, dh1: float,
            he0: float, he1: float, gamma_e: float, n_s: float, delta_h: float, h_tx: float,
            h_rx: float, d: float, call_mode: int, vc, climate: int, mdvar: int, warn: int,
            iv: np.ndarray, fc, tx):
    """Reference attenuation, free space and variability of one path; fills ``iv``.

    The common tail of point-to-point and area mode [Alg §4 lrprop, §5 avar];
    ``vc`` from :func:`variability_consts`, ``fc`` from :func:`freq_consts`,
    ``tx`` the transmitter's :func:`terminal_terms`.  The same arithmetic as
    one cell of :func:`finish_batch`, so both give the same bits.
    """
    a_ref, mode, w2, err = reference_attenuation(th0, th1, f_mhz, z_g, dh0, dh1, he0, he1,
                                                 gamma_e, n_s, delta_h, h_tx, h_rx, d,
                                                 call_mode, fc, tx)
    warn |= w2
    iv[IV_D_M] = d
    iv[IV_THETA_TX] = th0
    iv[IV_THETA_RX] = th1
    iv[IV_DHZN_TX] = dh0
    iv[IV_DHZN_RX] = dh1
    iv[IV_HE_TX] = he0
    iv[IV_HE_RX] = he1
    iv[IV_N_S] = n_s
    iv[IV_DELTA_H] = delta_h
    iv[IV_A_REF] = a_ref
    if err != ERR_NONE:
        iv[IV_A_FS] = math.nan
        return math.nan, MODE_NOT_SET, warn, err
    loss, a_fs, w3 = _tail(a_ref, he1, delta_h, f_mhz, d, fc, vc, tx[2], climate, mdvar)
    iv[IV_A_FS] = a_fs
    return loss, mode, warn | w3, ERR_NONE


# --- rows of the per-cell geometry array ``finish_batch`` takes ------------------
G_TH0 = 0
G_TH1 = 1
G_DH0 = 2
G_DH1 = 3
G_HE0 = 4
G_HE1 = 5
G_GAMMA_E = 6
G_N_S = 7
G_DELTA_H = 8
G_D = 9
G_H_RX = 10
G_SIZE = 11


@vloop
def finish_batch(n: int, g: np.ndarray, h_tx: float, f_mhz: float, z_g: complex, call_mode: int,
                 vc, climate: int, mdvar: int, fc, out_loss: np.ndarray, out_mode: np.ndarray,
                 out_warn: np.ndarray, out_err: np.ndarray) -> None:
    """:func:`_finish` for ``n`` cells at once, vectorized (same bits per cell).

    ``g`` float64[G_SIZE, >= n]: per cell the horizon angles, horizon
    distances, effective heights, gamma_e, N_s, Delta h, distance and
    receiver height (rows ``G_*``).  The reference line and the tail run
    as loops that LLVM turns into SIMD code (see
    :mod:`deadzone.kernels._vmath`); only cells where the troposcatter line
    may apply take the scalar :func:`_beyond_diffraction` in between.
    ``out_loss`` (dB, NaN on error), ``out_mode``, ``out_warn``, ``out_err``
    (int64) receive the results; ``out_warn`` holds the lrprop and avar
    warnings only (OR the caller's input warnings in).
    """
    z_re = z_g.real
    z_im = z_g.imag
    a_ref = np.empty(n, dtype=np.float64)
    m_d = np.empty(n, dtype=np.float64)
    a_d0 = np.empty(n, dtype=np.float64)
    xae = np.empty(n, dtype=np.float64)
    root0 = np.empty(n, dtype=np.float64)
    for i in range(n):
        tx = terminal_terms(g[G_DH0, i], g[G_HE0, i], fc)
        a, mode, warn, err, md, ad0, xa = _reference_line(
            g[G_TH0, i], g[G_TH1, i], f_mhz, z_re, z_im, g[G_DH0, i], g[G_DH1, i], g[G_HE0, i],
            g[G_HE1, i], g[G_GAMMA_E, i], g[G_N_S, i], g[G_DELTA_H, i], h_tx, g[G_H_RX, i],
            g[G_D, i], call_mode, fc, tx)
        a_ref[i] = a
        out_mode[i] = mode
        out_warn[i] = warn
        out_err[i] = err
        m_d[i] = md
        a_d0[i] = ad0
        xae[i] = xa
        root0[i] = tx[2]
    for i in range(n):
        if out_mode[i] == MODE_SCATTER_CHECK:
            a_ref[i], out_mode[i] = _beyond_diffraction(
                g[G_TH0, i], g[G_TH1, i], f_mhz, g[G_DH0, i], g[G_DH1, i], g[G_HE0, i],
                g[G_HE1, i], g[G_GAMMA_E, i], g[G_N_S, i], g[G_D, i], fc, m_d[i], a_d0[i],
                xae[i])
    for i in range(n):
        loss, _, w3 = _tail(a_ref[i], g[G_HE1, i], g[G_DELTA_H, i], f_mhz, g[G_D, i], fc, vc,
                            root0[i], climate, mdvar)
        ok = out_err[i] == ERR_NONE
        out_loss[i] = loss if ok else math.nan
        out_warn[i] = out_warn[i] | (w3 if ok else 0)


@vjit
def los_horizons(he0: float, he1: float, delta_h: float, a_e: float, d: float):
    """Area-mode horizons of a path well within line of sight [Alg 3.3, 3.4].

    From the effective heights: horizon distances reduced for terrain
    irregularity, both heights scaled up when the horizons do not reach
    across the path, then the horizon angles.  Returns (he0, he1, dh0, dh1,
    th0, th1).
    """
    q0 = math.sqrt(2.0 * he0 * a_e)
    q1 = math.sqrt(2.0 * he1 * a_e)
    dh0 = q0 * math.exp(-0.07 * math.sqrt(delta_h / max(he0, 5.0)))
    dh1 = q1 * math.exp(-0.07 * math.sqrt(delta_h / max(he1, 5.0)))
    if dh0 + dh1 <= d:
        q = (d / (dh0 + dh1)) ** 2
        he0 *= q
        he1 *= q
        q0 = math.sqrt(2.0 * he0 * a_e)
        q1 = math.sqrt(2.0 * he1 * a_e)
        dh0 = q0 * math.exp(-0.07 * math.sqrt(delta_h / max(he0, 5.0)))
        dh1 = q1 * math.exp(-0.07 * math.sqrt(delta_h / max(he1, 5.0)))
    th0 = (0.65 * delta_h * (q0 / dh0 - 1.0) - 2.0 * he0) / q0
    th1 = (0.65 * delta_h * (q1 / dh1 - 1.0) - 2.0 * he1) / q1
    return he0, he1, dh0, dh1, th0, th1


@jit
def p2p_geometry(z: np.ndarray, n_int: int, xi: float, h_tx: float, h_rx: float, n0: float,
                 f_mhz: float, pol: int, epsilon: float, sigma: float, work: np.ndarray):
    """The profile analysis of :func:`p2p` [Alg §2 qlrpfl]: everything it hands
    :func:`_finish` (or :func:`finish_batch`, row ``G_*`` of ``g``).

    ``z[0..n_int]`` (``n_int >= 2``) ground heights, ``xi`` spacing (m);
    ``work`` float64[WORK_SIZE] scratch.  Returns (theta_tx, theta_rx,
    d_hzn_tx, d_hzn_rx, h_e_tx, h_e_rx, gamma_e, N_s, Delta h, d, Z_g).
    """
    d = n_int * xi
    # mean path height ignoring the first and last 10 % [Alg §2 qlrpfl]
    p10 = int(0.1 * n_int)
    h_sys = _sum4(z, p10, n_int - p10 + 1, 0.0)[0] / (n_int - 2 * p10 + 1)
    n_s, gamma_e, z_g = prep_params(f_mhz, h_sys, n0, pol, epsilon, sigma)
    a_e = 1.0 / gamma_e

    # profile analysis [Alg §2 qlrpfl]
    th0, th1, dh0, dh1 = _horizons(z, n_int, xi, a_e, h_tx, h_rx)
    # terrain considered from 15 x the antenna height, at most 10 % of the
    # horizon distance [HLK82 p. 25]
    d_start = min(15.0 * h_tx, 0.1 * dh0)
    d_end = d - min(15.0 * h_rx, 0.1 * dh1)
    delta_h = _delta_h(z, n_int, xi, d_start, d_end, work)
    if dh0 + dh1 > 1.5 * d:
        # well within line of sight: effective heights from one fit, then
        # area-mode horizons [Alg 3.3, 3.4]
        fit0, fit1 = _lsq_fit(z, n_int, xi, d_start, d_end)
        he0 = h_tx + _dim(z[0], fit0)
        he1 = h_rx + _dim(z[n_int], fit1)
        he0, he1, dh0, dh1, th0, th1 = los_horizons(he0, he1, delta_h, a_e, d)
    else:
        # effective heights from fits over each terminal's foreground
        fit0, _ = _lsq_fit(z, n_int, xi, d_start, 0.9 * dh0)
        he0 = h_tx + _dim(z[0], fit0)
        _, fit1 = _lsq_fit(z, n_int, xi, d - 0.9 * dh1, d_end)
        he1 = h_rx + _dim(z[n_int], fit1)
    return th0, th1, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, d, z_g


@jit
def p2p(z: np.ndarray, n_int: int, xi: float, h_tx: float, h_rx: float, climate: int,
        n0: float, f_mhz: float, pol: int, epsilon: float, sigma: float, mdvar: int,
        time: float, location: float, situation: float, work: np.ndarray, iv: np.ndarray):
    """Point-to-point ITM over one profile (ITM_P2P_TLS).

    ``z[0..n_int]`` ground heights, ``xi`` spacing (m); ``work`` float64
    [WORK_SIZE] scratch; ``iv`` float64[IV_SIZE] receives intermediate
    values.  For the confidence/reliability form pass time = reliability,
    location = 50, situation = confidence.  Returns (loss_db, mode,
    warnings, error); nothing is allocated.  :func:`p2p_geometry`, then
    :func:`_finish`.
    """
    warn = input_warnings(h_tx, h_rx, f_mhz)
    if n_int < 2:
        return math.nan, MODE_NOT_SET, warn, ERR_PROFILE
    th0, th1, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, d, z_g = p2p_geometry(
        z, n_int, xi, h_tx, h_rx, n0, f_mhz, pol, epsilon, sigma, work)
    fc = freq_consts(f_mhz, z_g)
    return _finish(th0, th1, f_mhz, z_g, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, h_tx, h_rx,
                   d, CALL_P2P, variability_consts(time, location, situation, f_mhz, climate),
                   climate, mdvar, warn, iv, fc, terminal_terms(dh0, he0, fc))


@jit
def p2p_batch(profiles: np.ndarray, n_ints: np.ndarray, steps: np.ndarray, h_tx: float,
              h_rx: float, climate: int, n0: float, f_mhz: float, pol: int, epsilon: float,
              sigma: float, mdvar: int, time: float, location: float, situation: float,
              loss_out: np.ndarray, mode_out: np.ndarray, warn_out: np.ndarray,
              err_out: np.ndarray) -> None:
    """:func:`p2p` over the rows of ``profiles`` (row i uses ``n_ints[i]``
    intervals of ``steps[i]`` metres); one scratch buffer for all rows."""
    work = np.empty(WORK_SIZE, dtype=np.float64)
    iv = np.empty(IV_SIZE, dtype=np.float64)
    for r in range(profiles.shape[0]):
        loss, mode, warn, err = p2p(profiles[r], n_ints[r], steps[r], h_tx, h_rx, climate, n0,
                                    f_mhz, pol, epsilon, sigma, mdvar, time, location,
                                    situation, work, iv)
        loss_out[r] = loss
        mode_out[r] = mode
        warn_out[r] = warn
        err_out[r] = err


@jit
def area(d_m: float, h_tx: float, h_rx: float, tx_siting: int, rx_siting: int,
         delta_h: float, climate: int, n0: float, f_mhz: float, pol: int, epsilon: float,
         sigma: float, mdvar: int, time: float, location: float, situation: float,
         iv: np.ndarray):
    """Area-prediction-mode ITM (ITM_AREA_TLS) [Alg §3; HLK82].

    Returns (loss_db, mode, warnings, error); ``iv`` as in :func:`p2p`.
    """
    warn = input_warnings(h_tx, h_rx, f_mhz)
    n_s, gamma_e, z_g = prep_params(f_mhz, 0.0, n0, pol, epsilon, sigma)
    he0 = 0.0
    he1 = 0.0
    dh0 = 0.0
    dh1 = 0.0
    th0 = 0.0
    th1 = 0.0
    for t in range(2):
        h = h_tx if t == 0 else h_rx
        siting = tx_siting if t == 0 else rx_siting
        if siting == SITING_RANDOM:
            he = h
        else:
            b = 4.0 if siting == SITING_CAREFUL else 9.0
            if h < 5.0:
                b = b * math.sin(0.1 * math.pi * h)
            he = h + (1.0 + b) * math.exp(-min(20.0, 2.0 * h / max(1e-3, delta_h)))  # [Alg 3.2]
        d_ls = math.sqrt(2.0 * he / gamma_e)
        dh = d_ls * math.exp(-0.07 * math.sqrt(delta_h / max(he, 5.0)))  # [Alg 3.3]
        th = (0.65 * delta_h * (d_ls / dh - 1.0) - 2.0 * he) / d_ls  # [Alg 3.4]
        if t == 0:
            he0, dh0, th0 = he, dh, th
        else:
            he1, dh1, th1 = he, dh, th
    fc = freq_consts(f_mhz, z_g)
    return _finish(th0, th1, f_mhz, z_g, dh0, dh1, he0, he1, gamma_e, n_s, delta_h, h_tx, h_rx,
                   d_m, CALL_AREA, variability_consts(time, location, situation, f_mhz, climate),
                   climate, mdvar, warn, iv, fc, terminal_terms(dh0, he0, fc))
