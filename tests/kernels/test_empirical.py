"""Okumura-Hata and COST-231 Hata kernels: hand-computed values, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.kernels._empirical import (
    EMPIRICAL_COST231,
    EMPIRICAL_HATA,
    ENV_OPEN,
    ENV_SUBURBAN,
    ENV_URBAN,
    ENV_URBAN_LARGE,
    cost231_loss_db,
    effective_base_height_m,
    empirical_losses,
    hata_loss_db,
    mobile_correction_db,
)

ENVS = [ENV_URBAN_LARGE, ENV_URBAN, ENV_SUBURBAN, ENV_OPEN]
lg = math.log10


def _a_small(f: float, hm: float) -> float:
    return (1.1 * lg(f) - 0.7) * hm - (1.56 * lg(f) - 0.8)


def ref_hata_urban(d: float, f: float, hb: float, hm: float) -> float:
    """Hata (1980) eq. for a small/medium city, written out independently."""
    return 69.55 + 26.16 * lg(f) - 13.82 * lg(hb) - _a_small(f, hm) + (
        44.9 - 6.55 * lg(hb)
    ) * lg(d)


def ref_cost231(d: float, f: float, hb: float, hm: float, cm: float) -> float:
    return 46.3 + 33.9 * lg(f) - 13.82 * lg(hb) - _a_small(f, hm) + (
        44.9 - 6.55 * lg(hb)
    ) * lg(d) + cm


# --- hand-computed / published values --------------------------------------


def test_hata_urban_900mhz_1km_by_hand() -> None:
    # f = 900 MHz: log f = 2.954243; h_b = 30 m: log h_b = 1.477121; d = 1 km.
    # a(1.5) = (1.1*2.954243 - 0.7)*1.5 - (1.56*2.954243 - 0.8)
    #        = 3.824501 - 3.808619 = 0.015882 dB
    # L = 69.55 + 26.16*2.954243 - 13.82*1.477121 - 0.015882 + 0
    #   = 69.55 + 77.282997 - 20.413817 - 0.015882 = 126.403 dB
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_URBAN) == pytest.approx(126.403, abs=0.002)
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_URBAN) == pytest.approx(
        ref_hata_urban(1.0, 900.0, 30.0, 1.5), abs=1e-9
    )


def test_hata_urban_10km_adds_the_distance_slope() -> None:
    # slope (44.9 - 6.55*1.477121) = 35.224557 dB/decade -> 161.628 dB at 10 km
    assert hata_loss_db(10.0, 900.0, 30.0, 1.5, ENV_URBAN) == pytest.approx(161.628, abs=0.002)


def test_hata_large_city_correction() -> None:
    # f >= 400 MHz: a(h_m) = 3.2 (log 11.75 h_m)^2 - 4.97.  h_m = 1.5:
    # log 17.625 = 1.246129 -> 3.2*1.552838 - 4.97 = 0.000083 dB
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_URBAN_LARGE) == pytest.approx(
        126.403 + 0.015882 - 0.000083, abs=0.002
    )
    # h_m = 10 m: the large-city correction is the larger gain (lower loss)
    assert mobile_correction_db(900.0, 10.0, True) == pytest.approx(
        3.2 * lg(117.5) ** 2 - 4.97, abs=1e-12
    )
    # f <= 200 MHz: 8.29 (log 1.54 h_m)^2 - 1.1
    assert mobile_correction_db(150.0, 5.0, True) == pytest.approx(
        8.29 * lg(7.7) ** 2 - 1.1, abs=1e-12
    )
    # 200-400 MHz: linear in f between the two forms (continuous)
    lo = 8.29 * lg(1.54 * 5.0) ** 2 - 1.1
    hi = 3.2 * lg(11.75 * 5.0) ** 2 - 4.97
    assert mobile_correction_db(300.0, 5.0, True) == pytest.approx(0.5 * (lo + hi), abs=1e-12)


def test_hata_suburban_and_open_corrections() -> None:
    urban = ref_hata_urban(1.0, 900.0, 30.0, 1.5)
    # suburban: - 2 (log(900/28))^2 - 5.4 = -(2*1.507084^2 + 5.4) = -9.942607 dB
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_SUBURBAN) == pytest.approx(
        urban - 9.942607, abs=1e-5
    )
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_SUBURBAN) == pytest.approx(116.461, abs=0.002)
    # open: - 4.78 (log f)^2 + 18.33 log f - 40.94 = -41.717... + 54.151 - 40.94
    corr = -4.78 * 2.954243**2 + 18.33 * 2.954243 - 40.94
    assert corr == pytest.approx(-28.5066, abs=1e-3)
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_OPEN) == pytest.approx(urban + corr, abs=1e-4)
    assert hata_loss_db(1.0, 900.0, 30.0, 1.5, ENV_OPEN) == pytest.approx(97.897, abs=0.002)


def test_cost231_1800mhz_by_hand() -> None:
    # f = 1800: log f = 3.255273; a(1.5) = (1.1*3.255273 - 0.7)*1.5 - (1.56*3.255273 - 0.8)
    #   = 4.321200 - 4.278226 = 0.042974
    # L = 46.3 + 33.9*3.255273 - 13.82*1.477121 - 0.042974 = 136.197 (C_m = 0)
    assert cost231_loss_db(1.0, 1800.0, 30.0, 1.5, ENV_URBAN) == pytest.approx(136.197, abs=0.002)
    assert cost231_loss_db(1.0, 1800.0, 30.0, 1.5, ENV_SUBURBAN) == pytest.approx(
        136.197, abs=0.002
    )
    assert cost231_loss_db(1.0, 1800.0, 30.0, 1.5, ENV_URBAN_LARGE) == pytest.approx(
        139.197, abs=0.002
    )
    for d, hb, hm in [(5.0, 50.0, 1.5), (20.0, 200.0, 10.0)]:
        assert cost231_loss_db(d, 1800.0, hb, hm, ENV_URBAN) == pytest.approx(
            ref_cost231(d, 1800.0, hb, hm, 0.0), abs=1e-9
        )


def test_cost231_continues_hata_at_1500mhz_within_a_few_db() -> None:
    # The two models were fitted to the same Okumura curves; at the seam
    # they differ by ~1-2 dB, not tens.
    for d in (1.0, 5.0, 20.0):
        h = hata_loss_db(d, 1500.0, 30.0, 1.5, ENV_URBAN)
        c = cost231_loss_db(d, 1500.0, 30.0, 1.5, ENV_URBAN)
        assert abs(h - c) < 3.0


def test_open_is_below_suburban_is_below_urban() -> None:
    for f in (150.0, 450.0, 900.0, 1500.0):
        o, s, u = (hata_loss_db(5.0, f, 50.0, 1.5, e) for e in (ENV_OPEN, ENV_SUBURBAN, ENV_URBAN))
        assert o < s < u


def test_array_helper_matches_scalars() -> None:
    d = np.array([0.5, 1.0, 3.0, 17.0])
    out = np.empty(4)
    empirical_losses(d, 900.0, 40.0, 1.5, ENV_SUBURBAN, EMPIRICAL_HATA, out)
    assert np.array_equal(out, [hata_loss_db(x, 900.0, 40.0, 1.5, ENV_SUBURBAN) for x in d])
    empirical_losses(d, 1800.0, 40.0, 1.5, ENV_URBAN, EMPIRICAL_COST231, out)
    assert np.array_equal(out, [cost231_loss_db(x, 1800.0, 40.0, 1.5, ENV_URBAN) for x in d])


# --- effective base height --------------------------------------------------


def test_effective_height_uses_mean_terrain_3_to_15_km() -> None:
    step = 100.0
    z = np.zeros(251)  # 25 km
    z[0] = 500.0  # mast on a 500 m hill
    z[30:151] = 200.0  # 3-15 km plateau at 200 m
    z[151:] = 1000.0  # beyond 15 km: ignored
    z[1:30] = 900.0  # within 3 km: ignored
    assert effective_base_height_m(z, step, 30.0) == pytest.approx(500.0 + 30.0 - 200.0)


def test_effective_height_short_profiles() -> None:
    # ends at 5 km: mean over 3-5 km
    z = np.zeros(51)
    z[30:] = np.linspace(100.0, 300.0, 21)
    assert effective_base_height_m(z, 100.0, 40.0) == pytest.approx(40.0 - 200.0)
    # shorter than 3 km: mean over the whole profile
    z = np.array([100.0, 50.0, 0.0])
    assert effective_base_height_m(z, 100.0, 30.0) == pytest.approx(100.0 + 30.0 - 50.0)
    # one sample (or none): the mast height
    assert effective_base_height_m(np.array([123.0]), 30.0, 30.0) == pytest.approx(30.0)
    assert effective_base_height_m(np.zeros(0), 30.0, 30.0) == 30.0


def test_mobile_height_is_above_local_ground_not_sea_level() -> None:
    # The loss does not depend on the ground altitude under the mobile: a
    # handset 1.5 m above a 1000 m plateau is a 1.5 m mobile.  Passing the
    # altitude above sea level instead would change the loss by tens of dB.
    good = hata_loss_db(5.0, 900.0, 50.0, 1.5, ENV_URBAN)
    wrong = hata_loss_db(5.0, 900.0, 50.0, 1001.5, ENV_URBAN)
    assert abs(good - wrong) > 100.0


# --- invariants -------------------------------------------------------------

freq_hata = st.floats(150.0, 1500.0)
freq_cost = st.floats(1500.0, 2000.0)
hb_st = st.floats(30.0, 200.0)
hm_st = st.floats(1.0, 10.0)
d_st = st.floats(1.0, 20.0)
env_st = st.sampled_from(ENVS)


@settings(max_examples=200, deadline=None)
@given(d1=d_st, d2=d_st, f=freq_hata, hb=hb_st, hm=hm_st, env=env_st)
def test_hata_monotonic_in_distance(d1, d2, f, hb, hm, env) -> None:
    lo, hi = sorted((d1, d2))
    assert hata_loss_db(lo, f, hb, hm, env) <= hata_loss_db(hi, f, hb, hm, env) + 1e-12


@settings(max_examples=200, deadline=None)
@given(f1=freq_hata, f2=freq_hata, d=d_st, hb=hb_st, hm=hm_st, env=env_st)
def test_hata_monotonic_in_frequency(f1, f2, d, hb, hm, env) -> None:
    lo, hi = sorted((f1, f2))
    assert hata_loss_db(d, lo, hb, hm, env) <= hata_loss_db(d, hi, hb, hm, env) + 1e-9


@settings(max_examples=200, deadline=None)
@given(d1=d_st, d2=d_st, f1=freq_cost, f2=freq_cost, hb=hb_st, hm=hm_st, env=env_st)
def test_cost231_monotonic_in_distance_and_frequency(d1, d2, f1, f2, hb, hm, env) -> None:
    dl, dh = sorted((d1, d2))
    fl, fh = sorted((f1, f2))
    assert cost231_loss_db(dl, fl, hb, hm, env) <= cost231_loss_db(dh, fl, hb, hm, env) + 1e-12
    assert cost231_loss_db(dl, fl, hb, hm, env) <= cost231_loss_db(dl, fh, hb, hm, env) + 1e-9


@settings(max_examples=200, deadline=None)
@given(d=d_st, f=freq_hata, hb1=hb_st, hb2=hb_st, hm=hm_st, env=env_st)
def test_taller_base_never_loses_more(d, f, hb1, hb2, hm, env) -> None:
    lo, hi = sorted((hb1, hb2))
    assert hata_loss_db(d, f, hi, hm, env) <= hata_loss_db(d, f, lo, hm, env) + 1e-12


@settings(max_examples=300, deadline=None)
@given(
    d=st.floats(-10.0, 1000.0),
    f=st.floats(-100.0, 1e5),
    hb=st.floats(-2000.0, 1e5),
    hm=st.floats(-10.0, 500.0),
    env=st.integers(-1, 5),
)
def test_out_of_validity_inputs_stay_finite(d, f, hb, hm, env) -> None:
    assert math.isfinite(hata_loss_db(d, f, hb, hm, env))
    assert math.isfinite(cost231_loss_db(d, f, hb, hm, env))


def test_clamping_is_documented_behaviour() -> None:
    # d below 10 m, h_b below 1 m (valley), h_m below 0.1 m: clamped, not NaN
    assert hata_loss_db(0.0, 900.0, 30.0, 1.5, ENV_URBAN) == hata_loss_db(
        0.01, 900.0, 30.0, 1.5, ENV_URBAN
    )
    assert hata_loss_db(5.0, 900.0, -40.0, 1.5, ENV_URBAN) == hata_loss_db(
        5.0, 900.0, 1.0, 1.5, ENV_URBAN
    )
    assert hata_loss_db(5.0, 900.0, 30.0, 0.0, ENV_URBAN_LARGE) == hata_loss_db(
        5.0, 900.0, 30.0, 0.1, ENV_URBAN_LARGE
    )
    # inside the clamps the formula is extrapolated unchanged (e.g. 50 km)
    assert hata_loss_db(50.0, 900.0, 30.0, 1.5, ENV_URBAN) == pytest.approx(
        ref_hata_urban(50.0, 900.0, 30.0, 1.5), abs=1e-9
    )
    assert math.isnan(hata_loss_db(math.nan, 900.0, 30.0, 1.5, ENV_URBAN))
