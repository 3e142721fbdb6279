"""The cosine-sum field kernel against numpy, and its statistics."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from deadzone.errors import ParameterError
from deadzone.kernels.fields import cosine_sum, exponential_modes


def test_cosine_sum_equals_numpy() -> None:
    rng = np.random.default_rng(3)
    kx, ky, ph = exponential_modes(75.0, 512, rng)
    x = rng.uniform(0.0, 60_000.0, 3000)
    y = rng.uniform(0.0, 60_000.0, 3000)
    ref = np.cos(np.outer(x, kx) + np.outer(y, ky) + ph).sum(axis=1)
    # phases reach ~1e6 rad: float64 leaves ~1e-10 per mode in either sum
    np.testing.assert_allclose(cosine_sum(x, y, kx, ky, ph), ref, rtol=0, atol=1e-8)


def test_one_thread_equals_many() -> None:
    rng = np.random.default_rng(4)
    kx, ky, ph = exponential_modes(50.0, 256, rng)
    x, y = rng.uniform(0, 5000, (2, 10_001))
    many = cosine_sum(x, y, kx, ky, ph)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = cosine_sum(x, y, kx, ky, ph)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


def test_nan_points_give_nan() -> None:
    kx, ky, ph = exponential_modes(50.0, 16, np.random.default_rng(0))
    out = cosine_sum([0.0, np.nan], [0.0, 1.0], kx, ky, ph)
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_modes_follow_the_exponential_spectrum() -> None:
    """Radii stratified on F(rho) = 1 - 1/sqrt(1 + a^2 rho^2): one per stratum."""
    a, m = 80.0, 400
    kx, ky, _ = exponential_modes(a, m, np.random.default_rng(1))
    u = 1.0 - 1.0 / np.sqrt(1.0 + (a * np.hypot(kx, ky)) ** 2)
    assert np.array_equal(np.floor(u * m).astype(int), np.arange(m))
    # E[J0(rho d)] = exp(-d/a): the modes' mean reproduces the covariance
    from scipy.special import j0

    rho = np.hypot(kx, ky)
    for d in (0.25 * a, a, 2 * a):
        assert abs(j0(rho * d).mean() - math.exp(-d / a)) < 0.01


@pytest.mark.parametrize("bad", [dict(decorrelation_m=0.0), dict(n_modes=8)])
def test_bad_parameters(bad: dict) -> None:
    kw = dict(decorrelation_m=50.0, n_modes=64) | bad
    with pytest.raises(ParameterError):
        exponential_modes(kw["decorrelation_m"], kw["n_modes"], np.random.default_rng(0))
