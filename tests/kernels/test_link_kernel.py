"""Fresnel clearance and the many-links kernel: hand calculations, a numpy
reference, the village engine's own kernel, and 1 thread == N threads."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels.link import fresnel_clearance, link_pairs
from deadzone.kernels.paths import PairRadio, pair_signals
from tests.conftest import rough_dem

C = 299_792_458.0
RE = 6_371_000.0


def _reference(z, step, ha, hb, f_mhz, k):
    """Clearance fraction at every interior point, from the definition."""
    n = z.size - 1
    d = n * step
    x = np.arange(n + 1) * step
    lam = C / (f_mhz * 1e6)
    los = z[0] + ha + (z[n] + hb - z[0] - ha) * x / d
    cl = los - z - x * (d - x) / (2 * k * RE)
    f1 = np.sqrt(lam * x * (d - x) / d)
    return cl[1:n] / f1[1:n], cl[1:n], f1[1:n]


def test_flat_earth_by_hand() -> None:
    # 10 km at 13 GHz over flat ground, masts 20 m: mid-path F1 = sqrt(lambda d / 4)
    c = fresnel_clearance(np.zeros(101), 100.0, h_a_m=20, h_b_m=20, freq_mhz=13_000)
    lam = C / 13e9
    assert c.index == 50 and c.distance_m == 5000.0
    assert c.f1_m == pytest.approx(math.sqrt(lam * 10_000 / 4), rel=1e-12)
    bulge = 5000.0 * 5000.0 / (2 * 4 / 3 * RE)  # 1.47 m at k = 4/3
    assert c.clearance_m == pytest.approx(20.0 - bulge, rel=1e-12)
    assert c.fraction == pytest.approx((20.0 - bulge) / c.f1_m, rel=1e-12)
    # infinite k: no bulge
    c = fresnel_clearance(np.zeros(101), 100.0, h_a_m=20, h_b_m=20, freq_mhz=13_000,
                          k_factor=100.0)
    assert c.clearance_m == pytest.approx(20.0 - 5000.0**2 / (2 * 100 * RE), rel=1e-12)


def test_wall_blocks() -> None:
    z = np.zeros(201)
    z[60] = 35.0  # a 35 m wall 6 km from A on a 20 km path, masts 30 m
    c = fresnel_clearance(z, 100.0, h_a_m=30, h_b_m=30, freq_mhz=7_500)
    assert c.index == 60 and c.distance_m == pytest.approx(6000.0)
    bulge = 6000.0 * 14_000.0 / (2 * 4 / 3 * RE)
    assert c.clearance_m == pytest.approx(30.0 - 35.0 - bulge)
    assert c.fraction < 0 and c.ground_m == 35.0


@pytest.mark.parametrize("seed", range(5))
def test_equals_numpy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rough_dem(seed, 64)[rng.integers(64)].astype(np.float64)
    ha, hb = rng.uniform(5, 60, 2)
    f = float(rng.choice([900.0, 7500.0, 23_000.0]))
    c = fresnel_clearance(z, 75.0, h_a_m=ha, h_b_m=hb, freq_mhz=f)
    frac, cl, f1 = _reference(z, 75.0, ha, hb, f, 4 / 3)
    i = int(np.argmin(frac))
    assert c.index == i + 1
    assert c.fraction == pytest.approx(frac[i], rel=1e-12)
    assert c.clearance_m == pytest.approx(cl[i], rel=1e-12, abs=1e-9)
    assert c.f1_m == pytest.approx(f1[i], rel=1e-12)


def _links(n: int, seed: int = 3):
    dem = rough_dem(seed, 161)
    rng = np.random.default_rng(seed)
    a_rc = rng.uniform(0, 160, (n, 2))
    b_rc = rng.uniform(0, 160, (n, 2))
    cell = 30.0
    # x east = col, y north = -row
    a_xy = np.column_stack([a_rc[:, 1] * cell, -a_rc[:, 0] * cell])
    b_xy = np.column_stack([b_rc[:, 1] * cell, -b_rc[:, 0] * cell])
    return dict(dem_m=dem, cell_m=cell, a_rc=a_rc, a_xy=a_xy, b_rc=b_rc, b_xy=b_xy,
                h_a_m=rng.uniform(10, 50, n), h_b_m=rng.uniform(1.5, 50, n),
                freq_mhz=rng.choice([700.0, 1800.0, 7500.0], n))


@pytest.mark.parametrize("model", ["itm", "knife", "p526", "fspl"])
def test_loss_equals_the_village_engine(model: str) -> None:
    kw = _links(60)
    res = link_pairs(**kw, model=model)
    n = len(kw["a_rc"])
    # the village engine on the same pairs: tower i -> receiver i, omni, EIRP 0
    table = np.full((n, 9), np.nan)
    table[:, 0] = kw["h_a_m"]
    table[:, 1] = kw["freq_mhz"]
    table[:, 2] = 0.0
    table[:, 8] = -1.0
    radio = PairRadio(table, np.zeros((1, 360)), np.zeros((1, 360)))
    eng = pair_signals(kw["dem_m"], cell_m=kw["cell_m"], tower_rc=kw["a_rc"],
                       tower_xy=kw["a_xy"], radio=radio, rx_rc=kw["b_rc"], rx_xy=kw["b_xy"],
                       rx_height_m=kw["h_b_m"], pair_tower=np.arange(n),
                       pair_rx=np.arange(n), model=model)
    np.testing.assert_array_equal(res.loss_db, eng.loss_db)
    np.testing.assert_array_equal(res.distance_m, eng.distance_m)
    np.testing.assert_array_equal(res.intervals, eng.intervals)
    np.testing.assert_array_equal(res.free_space_db, eng.free_space_db)


def test_clearance_per_link_equals_single() -> None:
    kw = _links(30)
    res = link_pairs(**kw, model="fspl")
    from deadzone.kernels.paths import path_profile

    for i in range(30):
        z, step = path_profile(kw["dem_m"], *kw["a_rc"][i], *kw["b_rc"][i], cell_m=30.0,
                               distance_m=float(res.distance_m[i]))
        c = fresnel_clearance(z, step, h_a_m=kw["h_a_m"][i], h_b_m=kw["h_b_m"][i],
                              freq_mhz=kw["freq_mhz"][i])
        assert res.fraction[i] == c.fraction
        assert res.distance_worst_m[i] == c.distance_m
        assert res.ground_a_m[i] == z[0] and res.ground_b_m[i] == z[-1]


def test_threads_do_not_change_results() -> None:
    kw = _links(200, seed=5)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = link_pairs(**kw, model="itm")
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = link_pairs(**kw, model="itm")
    finally:
        numba.set_num_threads(before)
    for name in ("loss_db", "fraction", "clearance_m", "distance_worst_m"):
        np.testing.assert_array_equal(getattr(one, name), getattr(many, name))


def test_bad_inputs() -> None:
    kw = _links(3)
    with pytest.raises(ParameterError, match="ITM is defined"):
        link_pairs(**{**kw, "freq_mhz": np.full(3, 23_000.0)}, model="itm")
    with pytest.raises(ParameterError, match="same number of links"):
        link_pairs(**{**kw, "h_a_m": np.ones(2)}, model="fspl")
    with pytest.raises(ParameterError, match="at least 3"):
        fresnel_clearance([1.0, 2.0], 10.0, h_a_m=1, h_b_m=1, freq_mhz=900)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(1.0, 50.0), st.floats(0.5, 30.0))
def test_taller_mast_never_less_clearance(seed: int, h: float, extra: float) -> None:
    z = rough_dem(seed % 50, 64)[seed % 64].astype(np.float64)
    lo = fresnel_clearance(z, 50.0, h_a_m=h, h_b_m=10.0, freq_mhz=13_000)
    hi = fresnel_clearance(z, 50.0, h_a_m=h + extra, h_b_m=10.0, freq_mhz=13_000)
    assert hi.fraction >= lo.fraction
