"""Stationary Gaussian random fields with exponential autocorrelation, at points.

The field is a sum of ``M`` cosine modes ("spectral" or random-Fourier-feature
synthesis, Shinozuka & Deodatis 1991, "Simulation of stochastic processes by
spectral representation", Appl. Mech. Rev. 44(4))::

    f(p) = sigma sqrt(2 / M) sum_m cos(k_m . p + phi_m)

with phases ``phi_m`` uniform on [0, 2 pi) and wave vectors ``k_m`` drawn from
the normalised spectral density of the covariance.  For the exponential
covariance ``C(d) = sigma^2 exp(-d / a)`` in two dimensions that density is
``S(k) ~ (1 + a^2 |k|^2)^(-3/2)`` (the 2-D Fourier transform of
``exp(-|p| / a)``), isotropic, with the radial distribution function
``F(rho) = 1 - 1 / sqrt(1 + a^2 rho^2)``, inverted in closed form:
``rho = sqrt((1 - u)^-2 - 1) / a``.  The radii are drawn stratified (one
``u`` in each of ``M`` equal-probability strata) and the directions stratified
on [0, pi) in random order, which keeps the empirical covariance of one
realisation close to ``C`` at every lag; ``cos^2`` averages 1/2 over space,
so the spatial variance of one realisation is ``sigma^2`` up to the few
modes whose wavelength exceeds the region.  The field is a deterministic,
continuous function of position: the same point gives the same value in
every call.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _fields as _k

__all__ = ["cosine_sum", "exponential_modes"]


def exponential_modes(decorrelation_m: float, n_modes: int, rng: np.random.Generator
                      ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                                 npt.NDArray[np.float64]]:
    """Wave vectors (rad/m) and phases of ``n_modes`` modes of an exponential field.

    Parameters
    ----------
    decorrelation_m : float
        Distance ``a`` at which the correlation falls to ``1/e`` (m).
    n_modes : int
        Number of cosine modes ``M`` (>= 16).
    rng : numpy.random.Generator
        The draws' source (strata offsets, direction order, phases).

    Returns
    -------
    kx, ky, phase : float64[n_modes]
    """
    if not (decorrelation_m > 0.0 and math.isfinite(decorrelation_m)):
        raise ParameterError(f"decorrelation_m was {decorrelation_m}; expected > 0 m")
    if n_modes < 16:
        raise ParameterError(f"n_modes was {n_modes}; expected >= 16")
    m = np.arange(n_modes, dtype=np.float64)
    u = (m + rng.random(n_modes)) / n_modes
    rho = np.sqrt(1.0 / (1.0 - u) ** 2 - 1.0) / decorrelation_m
    theta = np.pi * (rng.permutation(n_modes) + rng.random(n_modes)) / n_modes
    phase = 2.0 * np.pi * rng.random(n_modes)
    return rho * np.cos(theta), rho * np.sin(theta), phase


def cosine_sum(x: npt.ArrayLike, y: npt.ArrayLike, kx: npt.ArrayLike, ky: npt.ArrayLike,
               phase: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``sum_m cos(kx[m] x + ky[m] y + phase[m])`` at every point (``x``, ``y`` in m).

    NaN coordinates give NaN.  Keep coordinates near the origin (subtract a
    corner of the region): the phase of a short wavelength at 10^6 m loses
    digits.
    """
    xs = np.ascontiguousarray(x, dtype=np.float64).ravel()
    ys = np.ascontiguousarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise ParameterError(f"x and y have {xs.size} and {ys.size} values; expected one length")
    k1 = np.ascontiguousarray(kx, dtype=np.float64).ravel()
    k2 = np.ascontiguousarray(ky, dtype=np.float64).ravel()
    ph = np.ascontiguousarray(phase, dtype=np.float64).ravel()
    if not (k1.size == k2.size == ph.size):
        raise ParameterError("kx, ky and phase must have one length")
    out = np.empty(xs.size, dtype=np.float64)
    turn = 1.0 / (2.0 * np.pi)
    _k.cosine_sum(xs, ys, k1 * turn, k2 * turn, ph * turn, out)
    out[~(np.isfinite(xs) & np.isfinite(ys))] = np.nan
    return out
