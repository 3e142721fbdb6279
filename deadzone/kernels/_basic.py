"""Building blocks shared by the propagation kernels: constants, free space, nu, J(nu)."""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels._jit import jit

EARTH_RADIUS_M = 6_371_000.0
SPEED_OF_LIGHT_M_S = 299_792_458.0
MIN_SLANT_M = 1.0


@jit
def fspl_db(distance_m: float, freq_mhz: float) -> float:
    """Free-space basic transmission loss (ITU-R P.525-4 eq. 8), dB."""
    d_km = max(distance_m, MIN_SLANT_M) / 1000.0
    return 32.45 + 20.0 * math.log10(freq_mhz) + 20.0 * math.log10(d_km)


@jit
def knife_edge_loss_db(nu: float) -> float:
    """Single knife-edge diffraction loss J(nu), ITU-R P.526-15 eq. (31), dB."""
    if nu <= -0.78:
        return 0.0
    t = nu - 0.1
    return 6.9 + 20.0 * math.log10(math.sqrt(t * t + 1.0) + t)


@jit
def nu_factor(x: float, d: float, lam: float) -> float:
    """``sqrt(2 d / (lambda x (d - x)))`` (m^-1/2), ITU-R P.526-15 eq. (26) for d1 = x."""
    return math.sqrt(2.0 * d / (lam * x * (d - x)))


@jit
def _nu_at(x_i: float, z_i: float, d: float, h_ts: float, h_rs: float, lam: float) -> float:
    """Fresnel-Kirchhoff parameter of point (x_i, z_i) on a tx->rx path.

    Heights are in the curvature-corrected frame; ``h_rs`` already corrected.
    ITU-R P.526-15 eq. (26): nu = h sqrt(2 d / (lambda d1 d2)).
    """
    if x_i <= 0.0 or d - x_i <= 0.0:
        return -1e30
    h = z_i - (h_ts + (h_rs - h_ts) * x_i / d)
    return h * nu_factor(x_i, d, lam)


@jit
def _bullington_nu(
    s_tim: float, s_rim: float, d: float, h_ts: float, h_rs: float, lam: float
) -> float:
    """nu of the Bullington point for a trans-horizon path (P.526-15 §4.5.1).

    The intersection of the horizon rays of slopes ``s_tim`` (from the
    transmitter) and ``s_rim`` (from the receiver); P.452-17 eqs 18-20.
    """
    d_b = (h_rs - h_ts + s_rim * d) / (s_tim + s_rim)
    # The intersection lies inside the path for S_tim > S_tr; clamp rounding.
    d_b = min(max(d_b, 1e-6 * d), d * (1.0 - 1e-6))
    h_b = h_ts + s_tim * d_b - (h_ts * (d - d_b) + h_rs * d_b) / d
    return h_b * nu_factor(d_b, d, lam)


@jit
def bilinear(dem: np.ndarray, r: float, c: float) -> float:
    """Height at fractional cell coordinates (cell centres at integer + 0.5 edges,
    i.e. ``r = 0`` is the first row's centre), bilinear, clamped to the grid."""
    rows = dem.shape[0]
    cols = dem.shape[1]
    r = min(max(r, 0.0), rows - 1.0)
    c = min(max(c, 0.0), cols - 1.0)
    ri = min(int(r), max(rows - 2, 0))
    ci = min(int(c), max(cols - 2, 0))
    return interp_cells(dem, ri, ci, min(ri + 1, rows - 1), min(ci + 1, cols - 1), r - ri, c - ci)


@jit
def interp_cells(dem: np.ndarray, ri: int, ci: int, ri1: int, ci1: int, fr: float,
                 fc: float) -> float:
    """Bilinear blend of the four cells ``(ri|ri1, ci|ci1)`` at offsets ``(fr, fc)``."""
    a = dem[ri, ci]
    top = a + (dem[ri, ci1] - a) * fc
    a = dem[ri1, ci]
    bot = a + (dem[ri1, ci1] - a) * fc
    return top + (bot - top) * fr


@jit
def bilinear_from(dem: np.ndarray, row0: int, col0: int, ur: float, uc: float) -> float:
    """Bilinear height at ``ur`` rows, ``uc`` columns from the centre of cell
    ``(row0, col0)``, indices clamped to the grid.

    The integer and fractional parts are taken of the offsets, not of the
    absolute position, so a window cropped from a larger grid (another
    ``row0``) gives the same height to the last bit.
    """
    rows = dem.shape[0]
    cols = dem.shape[1]
    qr = math.floor(ur)
    qc = math.floor(uc)
    ri = row0 + int(qr)
    ci = col0 + int(qc)
    ri0 = min(max(ri, 0), rows - 1)
    ci0 = min(max(ci, 0), cols - 1)
    ri1 = min(max(ri + 1, 0), rows - 1)
    ci1 = min(max(ci + 1, 0), cols - 1)
    return interp_cells(dem, ri0, ci0, ri1, ci1, ur - qr, uc - qc)
