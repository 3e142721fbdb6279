"""ITU-R P.526-15 §4.5 diffraction over a general path: the "delta-Bullington" method.

Pure Numba kernels (arrays and scalars only).  Three forms of one method:

* :func:`delta_bullington_general` — the Recommendation as written, for a
  profile with arbitrary sample distances (the golden form; tested against
  ITU-R Study Group 3's validation examples);
* :func:`point_loss_p526` — one receiver at the end of an equally spaced
  profile, by direct scans;
* :func:`sweep_p526` — every receiver along a radial in one walk
  (O(log n) per receiver), equal to :func:`point_loss_p526` at every sample.

The method (P.526-15 §4.5; the same text is P.452-17 §4.2 and P.1812-6
§4.3, whose equation numbers are cited beside P.526's):

1. ``L_ba``: the Bullington loss of the actual profile with the actual
   antenna heights (§4.5.1; P.452-17 eqs 14-21).  The equivalent edge is
   the intersection of the transmitter's and receiver's horizon rays; its
   ``nu`` gives ``L_uc = J(nu)`` (P.526-15 eq. 31) and
   ``L_b = L_uc + (1 - exp(-L_uc / 6)) (10 + 0.02 d_km)`` adds the
   multiple-edge correction.
2. A smooth surface fitted to the profile by least squares (the integrals
   ``v1``, ``v2``; P.452-17 §5.1.6.3 eqs 161-163), lowered under the most
   significant obstruction (eqs 164-168) and never above the ground at
   either end.  The antennas' heights above it are ``h'_ts``, ``h'_rs``.
3. ``L_bs``: the Bullington loss again, every profile height set to zero
   and the antennas at ``h'_ts``, ``h'_rs`` (§4.5.2 step 2).
4. ``L_sph``: the spherical-earth diffraction loss for the path length and
   ``h'_ts``, ``h'_rs`` (P.526-15 §3.2; P.452-17 §4.2.2 eqs 22-32), from the
   first term of the residue series (P.526-15 §3.1.1.2; P.452-17 §4.2.2.1).
5. ``L_d = L_ba + max(L_sph - L_bs, 0)`` (P.526-15 §4.5.2; P.452-17 eq. 40).

Units inside are metres and MHz; the Recommendation's km/GHz constants are
converted where they appear (each conversion is stated).

The area form and its point twin differ from the Recommendation in one
place only: on a line-of-sight path the Recommendation takes ``nu_max`` over
*every* profile point for ``L_ba``; the sweep evaluates ``nu`` at the two
horizon points (the transmitter's and the receiver's), the points that
restrict the path most, exactly as the single-edge ``knife`` model does
(:mod:`deadzone.kernels._propagation`).  That can only lower ``L_ba`` on
line-of-sight paths; trans-horizon paths, the smooth-surface terms ``L_bs``
(exact: the smooth profile's ``nu`` is concave in distance, so a binary
search over the samples finds the same maximum as a scan) and ``L_sph`` are
the Recommendation's own.  The sweep's incremental state: the transmitter
horizon is a running maximum; the receiver horizon, the obstruction height
``h_obs`` and ``alpha_obr`` are tangent/support queries on upper convex hulls
(one in the curvature-corrected frame, one on raw heights); ``v1``, ``v2``
and ``alpha_obt`` are running sums and maxima.
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels._basic import (
    EARTH_RADIUS_M,
    SPEED_OF_LIGHT_M_S,
    _bullington_nu,
    _nu_at,
    fspl_db,
    knife_edge_loss_db,
    nu_factor,
)
from deadzone.kernels._hull import _hull_horizon, _hull_push
from deadzone.kernels._jit import jit

POL_HORIZONTAL = 0
POL_VERTICAL = 1

# Indices of the output vector of point_loss_p526 / delta_bullington_general.
O_LD = 0  # L_d, total diffraction loss (dB)
O_LBA = 1  # L_ba, Bullington loss of the actual profile (dB)
O_LBS = 2  # L_bs, Bullington loss of the smooth profile (dB)
O_LSPH = 3  # L_sph, spherical-earth loss (dB)
O_HTE = 4  # h'_ts, transmitter height above the smooth surface (m)
O_HRE = 5  # h'_rs, receiver height above the smooth surface (m)
O_EDGE = 6  # index of the dominant edge of L_ba (-1 if none)
O_BEYOND = 7  # 1.0 if the path is trans-horizon (S_tim > S_tr) else 0.0
O_SIZE = 8


@jit
def bullington_correction_db(l_uc_db: float, d_m: float) -> float:
    """``L_uc + (1 - exp(-L_uc/6)) (10 + 0.02 d_km)``: P.526-15 §4.5.1 (P.452-17 eq. 21)."""
    return l_uc_db + (1.0 - math.exp(-l_uc_db / 6.0)) * (10.0 + 0.02 * d_m / 1000.0)


# ---------------------------------------------------------------------------
# Spherical earth (P.526-15 §3.1.1.2 first term, §3.2 any distance)
# ---------------------------------------------------------------------------


@jit
def _g_height_gain(b: float, k: float) -> float:
    """Height-gain G(Y) from B = beta Y (P.526-15 eqs 17-18; P.452-17 eq. 47).

    Bounded below by ``2 + 20 log10 K`` (P.526-15 §3.1.1.2).
    """
    if b > 2.0:
        g = 17.6 * math.sqrt(b - 1.1) - 5.0 * math.log10(b - 1.1) - 8.0
    else:
        g = 20.0 * math.log10(b + 0.1 * b * b * b)
    return max(g, 2.0 + 20.0 * math.log10(k))


@jit
def first_term_db(
    d_m: float, h1_m: float, h2_m: float, a_m: float, freq_mhz: float, epsilon: float,
    sigma: float, pol: int,
) -> float:
    """Spherical-earth diffraction loss from the first residue term, dB.

    P.526-15 §3.1.1.2 in the numerical form of P.452-17 §4.2.2.1
    (eqs 42-48, f in GHz, a and d in km, h in m): normalised surface
    admittance K (eqs 42-43), beta (44), X and Y (45-46), F(X) (eqs 47,
    P.526 eq. 14) and G(Y); loss ``-F(X) - G(Y_1) - G(Y_2)``.
    """
    f = freq_mhz / 1000.0
    a = a_m / 1000.0
    d = d_m / 1000.0
    t = 18.0 * sigma / f
    k = 0.036 * (a * f) ** (-1.0 / 3.0) * ((epsilon - 1.0) ** 2 + t * t) ** -0.25
    if pol == POL_VERTICAL:
        k = k * math.sqrt(epsilon * epsilon + t * t)
    k2 = k * k
    k4 = k2 * k2
    beta = (1.0 + 1.6 * k2 + 0.67 * k4) / (1.0 + 4.5 * k2 + 1.53 * k4)
    x = 21.88 * beta * (f / (a * a)) ** (1.0 / 3.0) * d
    cy = 0.9575 * beta * (f * f / a) ** (1.0 / 3.0)
    if x >= 1.6:
        fx = 11.0 + 10.0 * math.log10(x) - 17.6 * x
    else:
        fx = -20.0 * math.log10(x) - 5.6488 * x**1.425
    g1 = _g_height_gain(beta * cy * h1_m, k)
    g2 = _g_height_gain(beta * cy * h2_m, k)
    return -fx - g1 - g2


@jit
def spherical_earth_db(
    d_m: float, h1_m: float, h2_m: float, a_m: float, freq_mhz: float, epsilon: float,
    sigma: float, pol: int,
) -> float:
    """Diffraction loss over a smooth spherical earth at any distance, dB (>= 0).

    P.526-15 §3.2 (P.452-17 §4.2.2 eqs 22-32): beyond the marginal
    line-of-sight distance the first-term loss; inside it, the first-term
    loss for the modified radius ``a_em`` scaled by the clearance deficit
    ``1 - h / h_req`` (0 when the clearance exceeds 0.552 of the first
    Fresnel zone).  ``h1_m``, ``h2_m``: antenna heights above the surface.
    """
    h1 = max(h1_m, 0.0)
    h2 = max(h2_m, 0.0)
    d_los = math.sqrt(2.0 * a_m) * (math.sqrt(h1) + math.sqrt(h2))
    if d_m >= d_los:
        return max(first_term_db(d_m, h1, h2, a_m, freq_mhz, epsilon, sigma, pol), 0.0)
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    hs = h1 + h2
    c = (h1 - h2) / hs
    m = d_m * d_m / (4.0 * a_m * hs)  # eq. 25: 250 d^2 / (a (h1+h2)), km -> m
    arg = 1.5 * c * math.sqrt(3.0 * m / ((m + 1.0) ** 3))
    arg = min(max(arg, -1.0), 1.0)
    b = 2.0 * math.sqrt((m + 1.0) / (3.0 * m)) * math.cos(
        math.pi / 3.0 + math.acos(arg) / 3.0)
    d1 = 0.5 * d_m * (1.0 + b)
    d2 = d_m - d1
    # eq. 29: 500 d^2 / a with d, a in km is d^2 / (2 a) in metres.
    h = ((h1 - d1 * d1 / (2.0 * a_m)) * d2 + (h2 - d2 * d2 / (2.0 * a_m)) * d1) / d_m
    # eq. 30: 17.456 sqrt(d1 d2 lambda / d) (km, m) is 0.552 sqrt(...) in metres.
    h_req = 17.456 * math.sqrt(d1 * d2 * lam / d_m / 1000.0)
    if h > h_req:
        return 0.0
    a_em = 0.5 * (d_m / (math.sqrt(h1) + math.sqrt(h2))) ** 2  # eq. 31
    a_h = first_term_db(d_m, h1, h2, a_em, freq_mhz, epsilon, sigma, pol)
    if a_h < 0.0:
        return 0.0
    return (1.0 - h / h_req) * a_h


# ---------------------------------------------------------------------------
# Bullington over the smooth (zero-height) profile on equally spaced samples
# ---------------------------------------------------------------------------


@jit
def _smooth_s_t(i: int, step: float, d: float, h: float, inv2a: float) -> float:
    x = i * step
    return (x * (d - x) * inv2a - h) / x


@jit
def _smooth_s_r(i: int, step: float, d: float, h: float, inv2a: float) -> float:
    x = i * step
    return (x * (d - x) * inv2a - h) / (d - x)


@jit
def _smooth_nu(i: int, step: float, d: float, h_t: float, h_r: float, inv2a: float,
               lam: float) -> float:
    x = i * step
    return (x * (d - x) * inv2a - (h_t * (d - x) + h_r * x) / d) * nu_factor(x, d, lam)


@jit
def _best_of_two(i0: int, lo: int, hi: int) -> tuple[int, int]:
    a = min(max(i0, lo), hi)
    b = min(max(i0 + 1, lo), hi)
    return a, b


@jit
def smooth_bullington_db(j: int, step: float, h_t: float, h_r: float, inv2a: float,
                         lam: float) -> float:
    """Bullington loss (with correction) of the zero-height profile 0..j, O(log j).

    Samples ``x_i = i step``, ``0 < i < j``; antennas ``h_t``, ``h_r`` (m) above
    the surface.  Each maximum of P.452-17 eqs 14, 16 and 17 is over a
    concave function of ``x`` (``c (d - x) - h / x``, ``c x - h / (d - x)`` and
    the clearance times the Fresnel factor), so it is found at the integer
    neighbours of the continuous optimum, or by a binary search on the sign
    of the step — the same value a scan of all samples gives.
    """
    if j < 2:
        return 0.0
    d = j * step
    h_t = max(h_t, 1e-6)
    h_r = max(h_r, 1e-6)
    # S_tim: maximum of (x(d-x)/(2a) - h_t)/x at x = sqrt(2 a h_t).
    i0 = int(math.floor(math.sqrt(h_t / inv2a) / step))
    ia, ib = _best_of_two(i0, 1, j - 1)
    s_tim = max(_smooth_s_t(ia, step, d, h_t, inv2a), _smooth_s_t(ib, step, d, h_t, inv2a))
    s_tr = (h_r - h_t) / d
    if s_tim < s_tr:
        lo = 1
        hi = j - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (_smooth_nu(mid + 1, step, d, h_t, h_r, inv2a, lam)
                    > _smooth_nu(mid, step, d, h_t, h_r, inv2a, lam)):
                lo = mid + 1
            else:
                hi = mid
        nu = _smooth_nu(lo, step, d, h_t, h_r, inv2a, lam)
    else:
        i1 = j - int(math.floor(math.sqrt(h_r / inv2a) / step)) - 1
        ia, ib = _best_of_two(i1, 1, j - 1)
        s_rim = max(_smooth_s_r(ia, step, d, h_r, inv2a), _smooth_s_r(ib, step, d, h_r, inv2a))
        nu = _bullington_nu(s_tim, s_rim, d, h_t, h_r, lam)
    return bullington_correction_db(knife_edge_loss_db(nu), d)


# ---------------------------------------------------------------------------
# Smooth surface (P.452-17 §5.1.6.3)
# ---------------------------------------------------------------------------


@jit
def smooth_surface_heights(
    v1: float, v2: float, d: float, h_obs: float, a_obt: float, a_obr: float, z_t: float,
    z_r: float,
) -> tuple[float, float]:
    """Smooth-surface heights under the transmitter and the receiver (m).

    From the least-squares integrals ``v1``, ``v2`` (eqs 161-163), lowered by
    the obstruction ``h_obs`` shared in the ratio of ``alpha_obt`` and
    ``alpha_obr`` (eqs 164-167), never above the ground ``z_t``/``z_r`` (eq. 168).
    """
    h_stip = (2.0 * v1 * d - v2) / (d * d)
    h_srip = (v2 - v1 * d) / (d * d)
    if h_obs > 0.0:
        g_t = a_obt / (a_obt + a_obr)
        h_stip = h_stip - h_obs * g_t
        h_srip = h_srip - h_obs * (1.0 - g_t)
    return min(h_stip, z_t), min(h_srip, z_r)


@jit
def _v_terms(x0: float, z0: float, x1: float, z1: float) -> tuple[float, float]:
    """One segment's share of v1 and v2 (P.452-17 eqs 161-162)."""
    dx = x1 - x0
    return dx * (z1 + z0), dx * (z1 * (2.0 * x1 + x0) + z0 * (x1 + 2.0 * x0))


@jit
def _combine(l_ba: float, j: int, step: float, h_ts: float, h_rs: float, h_st: float,
             h_sr: float, inv2a: float, lam: float, freq_mhz: float, epsilon: float,
             sigma: float, pol: int, out: np.ndarray) -> float:
    """Steps 2-5 of the method on an equally spaced profile; returns L_d."""
    d = j * step
    h_te = h_ts - h_st
    h_re = h_rs - h_sr
    l_sph = spherical_earth_db(d, h_te, h_re, 0.5 / inv2a, freq_mhz, epsilon, sigma, pol)
    # L_bs >= 0, so it only matters where L_sph > 0.
    l_bs = smooth_bullington_db(j, step, h_te, h_re, inv2a, lam) if l_sph > 0.0 else 0.0
    out[O_LBA] = l_ba
    out[O_LBS] = l_bs
    out[O_LSPH] = l_sph
    out[O_HTE] = h_te
    out[O_HRE] = h_re
    return l_ba + max(l_sph - l_bs, 0.0)


# ---------------------------------------------------------------------------
# Equally spaced profile: one receiver (scans) and every receiver (sweep)
# ---------------------------------------------------------------------------


@jit
def point_loss_p526(
    z_m: np.ndarray, step_m: float, h_tx_m: float, h_rx_m: float, freq_mhz: float,
    k_factor: float, epsilon: float, sigma: float, pol: int, out: np.ndarray,
) -> None:
    """Delta-Bullington diffraction loss to the last sample of ``z_m``, by scans.

    ``out`` (float64[O_SIZE]) receives L_d and its parts (see the ``O_*``
    indices).  Same method as :func:`sweep_p526`; see the module docstring.
    """
    n = z_m.shape[0]
    j = n - 1
    for q in range(O_SIZE):
        out[q] = 0.0
    out[O_EDGE] = -1.0
    if j < 2:
        out[O_HTE] = h_tx_m
        out[O_HRE] = h_rx_m
        return
    inv2a = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    d = j * step_m
    h_ts = z_m[0] + h_tx_m
    h_rs = z_m[j] + h_rx_m
    # L_ba in the curvature-corrected frame (see _propagation's docstring).
    hc_rs = h_rs - d * d * inv2a
    s_tr = (hc_rs - h_ts) / d
    s_tim = -1e300
    s_rim = -1e300
    i_t = 1
    i_r = 1
    # Smooth surface: raw heights.
    s = (h_rs - h_ts) / d
    h_obs = -1e300
    t_raw = -1e300
    r_raw = -1e300
    v1 = 0.0
    v2 = 0.0
    for i in range(1, j + 1):
        a1, a2 = _v_terms((i - 1) * step_m, z_m[i - 1], i * step_m, z_m[i])
        v1 += a1
        v2 += a2
    for i in range(1, j):
        x = i * step_m
        zc = z_m[i] - x * x * inv2a
        st = (zc - h_ts) / x
        if st > s_tim:
            s_tim = st
            i_t = i
        sr = (zc - hc_rs) / (d - x)
        if sr > s_rim:
            s_rim = sr
            i_r = i
        h_obs = max(h_obs, z_m[i] - s * x)
        t_raw = max(t_raw, (z_m[i] - h_ts) / x)
        r_raw = max(r_raw, (z_m[i] - h_rs) / (d - x))
    l_ba, i_e, beyond = _l_ba(s_tim, s_rim, s_tr, i_t, i_r, z_m, step_m, d, h_ts, hc_rs, inv2a,
                              lam)
    h_st, h_sr = smooth_surface_heights(v1, v2, d, h_obs - h_ts, t_raw - s, r_raw + s,
                                        z_m[0], z_m[j])
    out[O_LD] = _combine(l_ba, j, step_m, h_ts, h_rs, h_st, h_sr, inv2a, lam, freq_mhz,
                         epsilon, sigma, pol, out)
    out[O_EDGE] = i_e
    out[O_BEYOND] = beyond


@jit
def _l_ba(s_tim: float, s_rim: float, s_tr: float, i_t: int, i_r: int, z_m: np.ndarray,
          step_m: float, d: float, h_ts: float, hc_rs: float, inv2a: float,
          lam: float) -> tuple[float, int, float]:
    """L_ba from the two horizons; returns (loss dB, dominant edge index, beyond flag)."""
    x_t = i_t * step_m
    x_r = i_r * step_m
    # The knife model's nu at each horizon (curvature-corrected frame).
    nu_t = _nu_at(x_t, z_m[i_t] - x_t * x_t * inv2a, d, h_ts, hc_rs, lam)
    nu_r = _nu_at(x_r, z_m[i_r] - x_r * x_r * inv2a, d, h_ts, hc_rs, lam)
    i_e = i_t if nu_t >= nu_r else i_r
    if s_tim > s_tr:
        nu = _bullington_nu(s_tim, s_rim, d, h_ts, hc_rs, lam)
        beyond = 1.0
    else:
        nu = max(nu_t, nu_r)
        beyond = 0.0
    l_uc = knife_edge_loss_db(nu)
    if l_uc <= 0.0:
        return 0.0, -1, beyond
    return bullington_correction_db(l_uc, d), i_e, beyond


@jit
def _hull_support(hx: np.ndarray, hz: np.ndarray, nh: int, s: float) -> int:
    """Hull vertex maximising ``z - s x`` (upper hull, edge slopes decreasing)."""
    lo = 0
    hi = nh - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if (hz[mid + 1] - hz[mid]) > s * (hx[mid + 1] - hx[mid]):
            lo = mid + 1
        else:
            hi = mid
    return lo


@jit
def sweep_p526(
    z_m: np.ndarray, step_m: float, h_tx_m: float, h_rx_m: np.ndarray, freq_mhz: float,
    k_factor: float, epsilon: float, sigma: float, pol: int, want: np.ndarray,
    hull_x: np.ndarray, hull_z: np.ndarray, raw_x: np.ndarray, raw_z: np.ndarray,
    out_loss_db: np.ndarray,
) -> None:
    """Basic transmission loss (dB) at every wanted sample, in one walk.

    ``out_loss_db[j]`` is free space on the slant path (ITU-R P.525-4) plus
    the delta-Bullington loss ``L_d`` that ``point_loss_p526(z_m[:j+1], ...)``
    gives (NaN where not wanted).  ``hull_*`` and ``raw_*`` (float64[>= n])
    are scratch.
    """
    n = z_m.shape[0]
    inv2a = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M)
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    h_ts = z_m[0] + h_tx_m
    scratch = np.empty(O_SIZE, dtype=np.float64)
    s_tim = -1e300
    i_t = 1
    t_raw = -1e300
    nh = 0
    nr = 0
    v1 = 0.0
    v2 = 0.0
    for j in range(n):
        if j >= 1:
            a1, a2 = _v_terms((j - 1) * step_m, z_m[j - 1], j * step_m, z_m[j])
            v1 += a1
            v2 += a2
        d = j * step_m
        h_rs = z_m[j] + h_rx_m[j]
        if not want[j]:
            out_loss_db[j] = math.nan
        elif j < 2:
            out_loss_db[j] = fspl_db(math.sqrt(d * d + (h_ts - h_rs) * (h_ts - h_rs)), freq_mhz)
        else:
            hc_rs = h_rs - d * d * inv2a
            s_tr = (hc_rs - h_ts) / d
            k = _hull_horizon(hull_x, hull_z, nh, d, hc_rs)
            i_r = int(round(hull_x[k] / step_m))
            s_rim = (hull_z[k] - hc_rs) / (d - hull_x[k])
            l_ba, _i_e, _b = _l_ba(s_tim, s_rim, s_tr, i_t, i_r, z_m, step_m, d, h_ts, hc_rs,
                                   inv2a, lam)
            s = (h_rs - h_ts) / d
            ks = _hull_support(raw_x, raw_z, nr, s)
            h_obs = raw_z[ks] - s * raw_x[ks] - h_ts
            kr = _hull_horizon(raw_x, raw_z, nr, d, h_rs)
            a_obr = (raw_z[kr] - h_rs) / (d - raw_x[kr]) + s
            h_st, h_sr = smooth_surface_heights(v1, v2, d, h_obs, t_raw - s, a_obr, z_m[0],
                                                z_m[j])
            l_d = _combine(l_ba, j, step_m, h_ts, h_rs, h_st, h_sr, inv2a, lam, freq_mhz,
                           epsilon, sigma, pol, scratch)
            out_loss_db[j] = fspl_db(math.sqrt(d * d + (h_ts - h_rs) * (h_ts - h_rs)),
                                     freq_mhz) + l_d
        if j >= 1:
            x = j * step_m
            zc = z_m[j] - x * x * inv2a
            st = (zc - h_ts) / x
            if st > s_tim:
                s_tim = st
                i_t = j
            nh = _hull_push(hull_x, hull_z, nh, x, zc)
            nr = _hull_push(raw_x, raw_z, nr, x, z_m[j])
            t_raw = max(t_raw, (z_m[j] - h_ts) / x)


# ---------------------------------------------------------------------------
# The Recommendation as written: arbitrary sample distances
# ---------------------------------------------------------------------------


@jit
def _bullington_general(d_m: np.ndarray, h_m: np.ndarray, h_ts: float, h_rs: float,
                        inv2a: float, lam: float, zero: bool) -> tuple[float, int, bool]:
    """P.452-17 §4.2.1 (P.526-15 §4.5.1) on arbitrary samples; ``zero``: heights 0.

    Returns (L_bull dB, index of the point giving nu_max or the tx horizon,
    whether the path is trans-horizon: S_tim > S_tr).
    """
    n = d_m.shape[0]
    d = d_m[n - 1] - d_m[0]
    s_tim = -1e300
    i_t = -1
    for i in range(1, n - 1):
        x = d_m[i] - d_m[0]
        h = 0.0 if zero else h_m[i]
        st = (h + x * (d - x) * inv2a - h_ts) / x
        if st > s_tim:
            s_tim = st
            i_t = i
    if i_t < 0:
        return 0.0, -1, False
    s_tr = (h_rs - h_ts) / d
    beyond = s_tim > s_tr
    if s_tim < s_tr:
        nu = -1e300
        i_e = -1
        for i in range(1, n - 1):
            x = d_m[i] - d_m[0]
            h = 0.0 if zero else h_m[i]
            v = (h + x * (d - x) * inv2a - (h_ts * (d - x) + h_rs * x) / d) * nu_factor(x, d, lam)
            if v > nu:
                nu = v
                i_e = i
    else:
        s_rim = -1e300
        for i in range(1, n - 1):
            x = d_m[i] - d_m[0]
            h = 0.0 if zero else h_m[i]
            s_rim = max(s_rim, (h + x * (d - x) * inv2a - h_rs) / (d - x))
        nu = _bullington_nu(s_tim, s_rim, d, h_ts, h_rs, lam)
        i_e = i_t
    l_uc = knife_edge_loss_db(nu)
    if l_uc <= 0.0:
        return 0.0, -1, beyond
    return bullington_correction_db(l_uc, d), i_e, beyond


@jit
def delta_bullington_general(
    d_m: np.ndarray, h_m: np.ndarray, h_ts_m: float, h_rs_m: float, a_e_m: float,
    freq_mhz: float, epsilon: float, sigma: float, pol: int, out: np.ndarray,
) -> None:
    """The complete delta-Bullington loss, P.526-15 §4.5 / P.452-17 §4.2.3, as written.

    ``d_m``: distances of the profile points (m, increasing, first = transmitter,
    last = receiver); ``h_m``: their heights (m above sea level); ``h_ts_m``,
    ``h_rs_m``: antenna heights above sea level; ``a_e_m``: effective earth
    radius.  ``out`` as in :func:`point_loss_p526`.
    """
    n = d_m.shape[0]
    for q in range(O_SIZE):
        out[q] = 0.0
    out[O_EDGE] = -1.0
    d = d_m[n - 1] - d_m[0]
    inv2a = 1.0 / (2.0 * a_e_m)
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    l_ba, i_e, beyond = _bullington_general(d_m, h_m, h_ts_m, h_rs_m, inv2a, lam, False)
    v1 = 0.0
    v2 = 0.0
    for i in range(1, n):
        a1, a2 = _v_terms(d_m[i - 1] - d_m[0], h_m[i - 1], d_m[i] - d_m[0], h_m[i])
        v1 += a1
        v2 += a2
    h_obs = -1e300
    a_obt = -1e300
    a_obr = -1e300
    for i in range(1, n - 1):
        x = d_m[i] - d_m[0]
        hh = h_m[i] - (h_ts_m * (d - x) + h_rs_m * x) / d
        h_obs = max(h_obs, hh)
        a_obt = max(a_obt, hh / x)
        a_obr = max(a_obr, hh / (d - x))
    h_st, h_sr = smooth_surface_heights(v1, v2, d, h_obs, a_obt, a_obr, h_m[0], h_m[n - 1])
    h_te = h_ts_m - h_st
    h_re = h_rs_m - h_sr
    l_bs, _, _ = _bullington_general(d_m, h_m, h_te, h_re, inv2a, lam, True)
    l_sph = spherical_earth_db(d, h_te, h_re, a_e_m, freq_mhz, epsilon, sigma, pol)
    out[O_LD] = l_ba + max(l_sph - l_bs, 0.0)
    out[O_LBA] = l_ba
    out[O_LBS] = l_bs
    out[O_LSPH] = l_sph
    out[O_HTE] = h_te
    out[O_HRE] = h_re
    out[O_EDGE] = i_e
    out[O_BEYOND] = 1.0 if beyond else 0.0
