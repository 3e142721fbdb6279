"""The inlined elementary functions against the C library (via NumPy)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from deadzone.kernels._vmath import vcbrt, vexp, vlog, vlog10, vsincos


@numba.njit(cache=False, error_model="numpy")
def _apply(which, x, out, out2):  # noqa: ANN001, ANN202
    for i in range(x.size):
        if which == 0:
            out[i] = vexp(x[i])
        elif which == 1:
            out[i] = vlog(x[i])
        elif which == 2:
            out[i] = vlog10(x[i])
        elif which == 3:
            out[i] = vcbrt(x[i])
        else:
            out[i], out2[i] = vsincos(x[i])


def _run(which: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty_like(x)
    out2 = np.empty_like(x)
    _apply(which, x, out, out2)
    return out, out2


def _ulp(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got - want) / np.spacing(np.abs(want))


RNG = np.random.default_rng(20261123)


def test_exp_within_two_ulp_over_the_whole_range() -> None:
    x = np.concatenate([RNG.uniform(-708.0, 709.0, 400_000), RNG.uniform(-2.0, 2.0, 400_000),
                        RNG.uniform(-1e-8, 1e-8, 10_000)])
    got, _ = _run(0, x)
    assert _ulp(got, np.exp(x)).max() <= 2.0


def test_exp_special_values_and_subnormal_results() -> None:
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, -800.0, 800.0, -740.0, -720.0, 709.7])
    got, _ = _run(0, x)
    with np.errstate(over="ignore", under="ignore"):
        want = np.exp(x)
    np.testing.assert_array_equal(got[:7], want[:7])
    # subnormal results: within one unit of the smallest subnormal
    assert np.all(np.abs(got[7:9] - want[7:9]) <= 5e-324 * 2)
    assert _ulp(got[9:], want[9:]).max() <= 2.0


def test_log_within_two_ulp_including_subnormals() -> None:
    x = np.concatenate([np.exp(RNG.uniform(-700.0, 700.0, 400_000)),
                        RNG.uniform(0.5, 2.0, 400_000),
                        1.0 + RNG.uniform(-1e-9, 1e-9, 10_000),
                        RNG.uniform(1e-320, 2e-308, 10_000)])
    got, _ = _run(1, x)
    assert _ulp(got, np.log(x)).max() <= 2.0


def test_log_special_values() -> None:
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0])
    got, _ = _run(1, x)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(got, np.log(x))


def test_log10_and_cbrt_within_four_ulp() -> None:
    x = np.concatenate([np.exp(RNG.uniform(-600.0, 600.0, 300_000)),
                        RNG.uniform(1e-3, 1e3, 300_000)])
    got, _ = _run(2, x)
    assert _ulp(got, np.log10(x)).max() <= 4.0
    got, _ = _run(3, x)
    assert _ulp(got, np.cbrt(x)).max() <= 4.0
    exact, _ = _run(3, np.array([8.0, 27.0, 1e-300, 0.0, -1.0]))
    assert exact[0] == 2.0 and exact[1] == 3.0
    assert math.isclose(exact[2], 1e-100, rel_tol=1e-15)
    assert exact[3] == 0.0 and math.isnan(exact[4])


def test_cbrt_within_one_ulp_over_every_exponent_and_subnormals() -> None:
    # every residue of the exponent mod 3, the whole normal range, subnormals
    x = np.concatenate([np.exp2(RNG.uniform(-1022.0, 1023.0, 300_000)),
                        RNG.uniform(1.0, 8.0, 300_000),
                        RNG.uniform(5e-324, 2.2e-308, 20_000)])
    got, _ = _run(3, x)
    assert _ulp(got, np.cbrt(x)).max() <= 1.0
    cubes = np.arange(1.0, 2000.0)
    got, _ = _run(3, cubes**3)
    np.testing.assert_array_equal(got, cubes)
    special, _ = _run(3, np.array([np.inf, np.nan, -0.0, -np.inf]))
    assert special[0] == np.inf and math.isnan(special[1])
    assert special[2] == 0.0 and math.isnan(special[3])


@pytest.mark.parametrize("lo, hi", [(-math.pi / 2, math.pi), (0.0, 1e-6), (3.0, math.pi)])
def test_sincos_on_its_range(lo: float, hi: float) -> None:
    x = RNG.uniform(lo, hi, 300_000)
    s, c = _run(4, x)
    assert np.abs(s - np.sin(x)).max() <= 4e-16
    assert np.abs(c - np.cos(x)).max() <= 4e-16
    # small angles keep their relative accuracy
    small = np.abs(x) < 1e-3
    if small.any():
        assert _ulp(s[small], np.sin(x[small])).max() <= 2.0
