"""ITU-R P.526-15 §4.5 general-path diffraction (the "delta-Bullington" method).

:func:`delta_bullington` evaluates the Recommendation as written for one
terrain profile with arbitrary sample distances, and returns the loss with
its parts, so that each step can be checked against ITU-R Study Group 3's
validation examples.  The area sweep (``model="p526"`` in
:func:`deadzone.kernels.coverage.tower_window`) uses the same method on the
radial walk; see :mod:`deadzone.kernels._p526` for how, and for the one
place it approximates (``nu_max`` on line-of-sight paths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _p526
from deadzone.kernels._basic import EARTH_RADIUS_M

__all__ = ["DeltaBullington", "delta_bullington"]


@dataclass(frozen=True)
class DeltaBullington:
    """The delta-Bullington diffraction loss and its parts.

    Attributes
    ----------
    loss_db : float
        ``L_d = L_ba + max(L_sph - L_bs, 0)``, diffraction loss in excess of
        free space (dB).
    bullington_actual_db : float
        ``L_ba``, Bullington loss of the actual profile (dB).
    bullington_smooth_db : float
        ``L_bs``, Bullington loss of the smooth (zero-height) profile (dB).
    spherical_db : float
        ``L_sph``, spherical-earth diffraction loss (dB).
    h_tx_eff_m, h_rx_eff_m : float
        Antenna heights above the smooth surface, ``h'_ts`` and ``h'_rs`` (m).
    trans_horizon : bool
        Whether the actual profile blocks the line of sight (``S_tim > S_tr``).
    edge_index : int
        Profile index of the point that sets ``L_ba`` (-1 when ``L_ba = 0``).
    """

    loss_db: float
    bullington_actual_db: float
    bullington_smooth_db: float
    spherical_db: float
    h_tx_eff_m: float
    h_rx_eff_m: float
    trans_horizon: bool
    edge_index: int


def delta_bullington(
    distance_km: npt.ArrayLike,
    height_m: npt.ArrayLike,
    *,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    k_factor: float = 4.0 / 3.0,
    a_e_km: float | None = None,
    epsilon: float = 15.0,
    sigma: float = 0.005,
    pol: int = 1,
) -> DeltaBullington:
    """Diffraction loss over a terrain profile, ITU-R P.526-15 §4.5.

    Parameters
    ----------
    distance_km : array_like of float
        Distance of each profile point from the transmitter (km), strictly
        increasing; the first point is under the transmitter, the last under
        the receiver.  Spacing need not be uniform.
    height_m : array_like of float
        Terrain height at each point (m above sea level).
    h_tx_m, h_rx_m : float
        Antenna heights above the ground (m).
    freq_mhz : float
        Frequency (MHz).
    k_factor : float
        Effective earth-radius factor (ignored when ``a_e_km`` is given).
    a_e_km : float, optional
        Effective earth radius (km).
    epsilon, sigma : float
        Ground relative permittivity and conductivity (S/m) for the
        spherical-earth term; P.452-17 uses 22 and 0.003 over land.
    pol : int
        0 horizontal, 1 vertical.

    Returns
    -------
    DeltaBullington

    Examples
    --------
    >>> r = delta_bullington([0, 5, 10], [100, 100, 100], h_tx_m=10, h_rx_m=10,
    ...                      freq_mhz=1000)
    >>> r.loss_db >= 0.0
    True
    """
    d = np.asarray(distance_km, dtype=np.float64) * 1000.0
    h = np.asarray(height_m, dtype=np.float64)
    if d.ndim != 1 or d.shape != h.shape or d.size < 3:
        raise ParameterError(
            "distance_km and height_m must be 1-D arrays of the same length (>= 3 points)")
    if not (np.all(np.isfinite(d)) and np.all(np.isfinite(h))):
        raise ParameterError("distance_km or height_m holds NaN or inf")
    if not np.all(np.diff(d) > 0.0):
        raise ParameterError("distance_km must be strictly increasing")
    if not (30.0 <= freq_mhz <= 100_000.0):
        raise ParameterError(f"freq_mhz was {freq_mhz}; expected 30..100000 MHz")
    if pol not in (0, 1):
        raise ParameterError(f"pol was {pol!r}; expected 0 (horizontal) or 1 (vertical)")
    a_e_m = a_e_km * 1000.0 if a_e_km is not None else k_factor * EARTH_RADIUS_M
    if not (a_e_m > 0.0 and math.isfinite(a_e_m)):
        raise ParameterError("the effective earth radius must be positive")
    out = np.empty(_p526.O_SIZE, dtype=np.float64)
    _p526.delta_bullington_general(d, h, float(h[0] + h_tx_m), float(h[-1] + h_rx_m), a_e_m,
                                   float(freq_mhz), float(epsilon), float(sigma), int(pol), out)
    return DeltaBullington(
        loss_db=float(out[_p526.O_LD]),
        bullington_actual_db=float(out[_p526.O_LBA]),
        bullington_smooth_db=float(out[_p526.O_LBS]),
        spherical_db=float(out[_p526.O_LSPH]),
        h_tx_eff_m=float(out[_p526.O_HTE]),
        h_rx_eff_m=float(out[_p526.O_HRE]),
        trans_horizon=bool(out[_p526.O_BEYOND] > 0.5),
        edge_index=int(out[_p526.O_EDGE]),
    )
