"""Building blocks shared by the propagation kernels: constants, free space, J(nu)."""

from __future__ import annotations

import math

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
