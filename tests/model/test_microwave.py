"""Microwave link budget against the ITU's published validation values
(P.838-3) and against the itur package (P.530-17, P.676-10), code we did not
write; ``bench/itur_reference.py`` regenerates the itur literals."""

from __future__ import annotations

import math

import pytest

from deadzone.errors import ParameterError
from deadzone.model import microwave as mw

# ITU-R validation examples for P.838-3 (the ITU's CG-3M3J-13-ValEx workbook,
# as shipped in itur's test data): elevation (deg), f (GHz), R (mm/h),
# tilt (deg), k, alpha, gamma_R (dB/km).
P838_ITU = [
    (31.07699124, 14.25, 26.48052, 0, 0.03975488, 1.12418043, 1.58130839),
    (40.232036, 14.25, 33.936232, 0, 0.04007624, 1.11804138, 2.06173213),
    (31.07699124, 29, 26.48052, 0, 0.22106804, 0.95320005, 5.02180189),
    (52.67898486, 29, 78.2994993, 0, 0.21923716, 0.9464763, 13.59290086),
    (48.24117054, 14.25, 63.62668149, 90, 0.04226474, 1.07871664, 3.72901264),
    (85.80459566, 29, 99.13558978, 90, 0.21737148, 0.93950825, 16.3183686),
    (20.14335809, 29, 42.91007183, 90, 0.21298877, 0.92265917, 6.83364556),
]

# itur 0.4.0, P.838-3 at elevation 0: f (GHz), tilt (deg), k, alpha
P838_ITUR = [
    (6.2, 0.0, 0.00088046282, 1.5665007), (6.2, 90.0, 0.00060271473, 1.5555125),
    (7.5, 0.0, 0.0028748146, 1.4338576), (7.5, 90.0, 0.0022910786, 1.426539),
    (13.0, 0.0, 0.03041288, 1.158639), (13.0, 90.0, 0.032656034, 1.0900799),
    (18.7, 0.0, 0.077744302, 1.0729105), (18.7, 90.0, 0.083583597, 0.9957148),
    (23.0, 0.0, 0.12864198, 1.0213699), (23.0, 90.0, 0.12836316, 0.96299667),
    (38.5, 0.0, 0.41077851, 0.87790852), (38.5, 90.0, 0.39504854, 0.8518638),
]

# itur 0.4.0, P.530-17 §2.4.1: d (km), f (GHz), R0.01 (mm/h), p (%), tilt, A_p (dB)
P530_RAIN = [
    (10.0, 13.0, 88.8, 0.01, 90.0, 24.679827), (10.0, 13.0, 88.8, 0.001, 90.0, 49.06685),
    (10.0, 13.0, 88.8, 0.1, 90.0, 9.3614745), (25.0, 7.5, 88.8, 0.01, 90.0, 12.706833),
    (5.0, 23.0, 88.8, 0.01, 0.0, 41.318565), (3.0, 38.5, 60.0, 0.005, 90.0, 40.376899),
]

# itur 0.4.0, P.530-17 §2.3.1 eq. (7), deep fades:
# dN1, s_a (m), h_e, h_r (m asl), d (km), f (GHz), A (dB), p_w (%)
P530_MULTIPATH = [
    (-205.18702, 127.6892, 400.0, 900.0, 20.0, 7.5, 35.0, 1.0770589e-05),
    (-213.78555, 552.348, 1200.0, 1500.0, 10.0, 13.0, 40.0, 5.6920768e-08),
    (-205.18702, 127.6892, 50.0, 80.0, 30.0, 6.2, 45.0, 9.5098955e-05),
]

# itur 0.4.0, P.676-10 Annex 2: f (GHz), p (hPa), T (K), rho (g/m3), gamma (dB/km)
P676 = [
    (7.5, 1013.25, 288.15, 7.5, 0.010989099), (13.0, 1013.25, 288.15, 7.5, 0.021820364),
    (23.0, 1013.25, 288.15, 7.5, 0.19483133), (38.5, 1013.25, 288.15, 7.5, 0.12825601),
    (23.0, 1013.25, 298.15, 18.7, 0.45761473), (15.0, 900.0, 293.15, 15.0, 0.050044409),
]


@pytest.mark.parametrize(("el", "f", "r", "tau", "k", "alpha", "gamma"), P838_ITU)
def test_p838_itu_validation(el, f, r, tau, k, alpha, gamma) -> None:  # noqa: ANN001
    kk, aa = mw.rain_coefficients(f, polarization_tilt_deg=tau, elevation_deg=el)
    assert kk == pytest.approx(k, rel=1e-6)
    assert aa == pytest.approx(alpha, rel=1e-6)
    g = mw.rain_specific_attenuation_db_km(r, f, polarization_tilt_deg=tau, elevation_deg=el)
    assert g == pytest.approx(gamma, rel=1e-6)


@pytest.mark.parametrize(("f", "tau", "k", "alpha"), P838_ITUR)
def test_p838_terrestrial_bands(f, tau, k, alpha) -> None:  # noqa: ANN001
    kk, aa = mw.rain_coefficients(f, polarization_tilt_deg=tau)
    assert (kk, aa) == pytest.approx((k, alpha), rel=1e-6)


def test_p838_table_values_at_10ghz() -> None:
    # P.838-3's own tabulated values (Table 5) at 10 GHz: kH 0.01217,
    # alphaH 1.2571, kV 0.01129, alphaV 1.2156 (4 significant digits).
    kh, ah = mw.rain_coefficients(10.0, polarization_tilt_deg=0)
    kv, av = mw.rain_coefficients(10.0, polarization_tilt_deg=90)
    assert (kh, ah, kv, av) == pytest.approx((0.01217, 1.2571, 0.01129, 1.2156), rel=2e-3)


@pytest.mark.parametrize(("d", "f", "r", "p", "tau", "a"), P530_RAIN)
def test_p530_rain(d, f, r, p, tau, a) -> None:  # noqa: ANN001
    got = mw.rain_attenuation_db(d, f, rain_rate_mm_h=r, percent_time=p,
                                 polarization_tilt_deg=tau)
    assert got == pytest.approx(a, rel=1e-6)
    # the inverse gives back p
    assert mw.rain_percent(got, d, f, rain_rate_mm_h=r,
                           polarization_tilt_deg=tau) == pytest.approx(p, rel=1e-6)


def test_p530_rain_hand() -> None:
    # 10 km, 13 GHz vertical, R 88.8: gamma = k R^alpha; r from eq. (32)
    k, a = 0.032656034, 1.0900799
    gamma = k * 88.8**a
    r = 1 / (0.477 * 10**0.633 * 88.8 ** (0.073 * a) * 13**0.123
             - 10.579 * (1 - math.exp(-0.24)))
    c0 = 0.12 + 0.4 * math.log10(1.3) ** 0.8
    c1 = 0.07**c0 * 0.12 ** (1 - c0)
    c2, c3 = 0.855 * c0 + 0.546 * (1 - c0), 0.139 * c0 + 0.043 * (1 - c0)
    want = gamma * r * 10 * c1 * 0.01 ** (-(c2 + c3 * -2))
    assert mw.rain_attenuation_db(10, 13, rain_rate_mm_h=88.8) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize(("dn1", "sa", "he", "hr", "d", "f", "a", "pw"), P530_MULTIPATH)
def test_p530_multipath_deep(dn1, sa, he, hr, d, f, a, pw) -> None:  # noqa: ANN001
    got = mw.multipath_percent(a, d, f, dn1=dn1, sa_m=sa, h_e_m=he, h_r_m=hr)
    assert got == pytest.approx(pw, rel=1e-5)


def test_p530_multipath_all_percentages() -> None:
    kw = dict(dn1=-205.2, sa_m=100.0, h_e_m=400.0, h_r_m=600.0)
    # A = 0: p_w = 100 (1 - exp(-1)) (eq. (17) with A = 0)
    assert mw.multipath_percent(0.0, 10, 13, **kw) == pytest.approx(100 * (1 - math.exp(-1)))
    ps = [mw.multipath_percent(a, 10, 13, **kw) for a in range(0, 60)]
    assert all(x > y for x, y in zip(ps, ps[1:], strict=False))  # monotonic
    # continuous at the transition depth A_t = 25 + 1.2 log10(p0)
    p0 = mw.multipath_percent(50.0, 10, 13, **kw) * 1e5
    a_t = 25 + 1.2 * math.log10(p0)
    lo = mw.multipath_percent(a_t - 1e-9, 10, 13, **kw)
    assert lo == pytest.approx(p0 * 10 ** (-a_t / 10), rel=1e-6)


@pytest.mark.parametrize(("f", "p", "t", "rho", "g"), P676)
def test_p676_annex2(f, p, t, rho, g) -> None:  # noqa: ANN001
    got = mw.gaseous_specific_attenuation_db_km(f, pressure_hpa=p, temperature_c=t - 273.15,
                                                water_vapour_g_m3=rho)
    assert got == pytest.approx(g, rel=1e-6)


def test_free_space_and_dish() -> None:
    assert mw.fspl_db(10.0, 13.0) == pytest.approx(92.45 + 20 * math.log10(130))
    # 0.6 m at 13 GHz: eta (pi D / lambda)^2
    lam = 299_792_458.0 / 13e9
    assert mw.dish_gain_dbi(0.6, 13.0) == pytest.approx(
        10 * math.log10(0.55 * (math.pi * 0.6 / lam) ** 2))


def test_link_budget_adds_up() -> None:
    radio = mw.MicrowaveRadio(freq_ghz=13.0, tx_power_dbm=18, tx_gain_dbi=38, rx_gain_dbi=38,
                              rx_threshold_dbm=-72, other_losses_db=3)
    b = mw.link_budget(12.0, radio, sa_m=120, h_e_m=500, h_r_m=700)
    gas = mw.gaseous_specific_attenuation_db_km(13.0) * 12.0
    assert b.rx_dbm == pytest.approx(18 + 38 + 38 - 3 - mw.fspl_db(12.0, 13.0) - gas)
    assert b.fade_margin_db == pytest.approx(b.rx_dbm + 72)
    assert b.availability_pct == pytest.approx(100 - b.rain_pct - b.multipath_pct)
    # the required margin reaches exactly the target
    at = mw.link_budget(12.0, radio, basic_loss_db=b.basic_loss_db + b.fade_margin_db
                        - b.required_margin_db, sa_m=120, h_e_m=500, h_r_m=700)
    assert at.availability_pct == pytest.approx(99.99, abs=1e-6)
    # more margin, more availability
    better = mw.link_budget(12.0, radio, basic_loss_db=b.basic_loss_db - 10, sa_m=120,
                            h_e_m=500, h_r_m=700)
    assert better.availability_pct > b.availability_pct


def test_bad_inputs() -> None:
    with pytest.raises(ParameterError, match="freq_ghz was 80"):
        mw.MicrowaveRadio(freq_ghz=80)
    with pytest.raises(ParameterError, match="percent_time"):
        mw.rain_attenuation_db(10, 13, rain_rate_mm_h=80, percent_time=50)


def test_multipath_short_hop() -> None:
    # a 300 m hop: p0 ~ 1e-9 %, p_t below double precision next to 100 %
    kw = dict(dn1=-205.2, sa_m=300.0, h_e_m=1200.0, h_r_m=1100.0)
    ps = [mw.multipath_percent(a, 0.3, 13.0, **kw) for a in (0.0, 1.0, 5.0, 20.0, 40.0)]
    assert ps[0] == pytest.approx(100 * (1 - math.exp(-1)))
    assert all(x > y > 0 for x, y in zip(ps, ps[1:], strict=False))


# ITU-R validation examples for the current P.676-12 line-by-line method
# (Annex 1; CG-3M3J-13-ValEx, as in itur's test data): f (GHz) -> gamma (dB/km)
# at 1013.25 hPa, 288.15 K, 7.5 g/m3
P676_12_ITU = {1: 0.005439563, 2: 0.00692042, 6: 0.009458784, 8: 0.011415917,
               10: 0.014198542, 13: 0.020980322, 15: 0.029058346, 18: 0.057512925,
               20: 0.108930855, 22: 0.187337256, 23: 0.194288976, 26: 0.125028121,
               30: 0.093824547, 38: 0.116615249, 42: 0.1502693, 50: 0.388427186,
               52: 0.737478759, 54: 2.338903699}


@pytest.mark.parametrize(("f", "gamma"), list(P676_12_ITU.items()))
def test_p676_simplified_against_line_by_line(f, gamma) -> None:  # noqa: ANN001
    # the simplified algorithm stays within 0.011 dB/km (8 %) of the
    # line-by-line values below 50 GHz (0.2 dB on a 20 km hop), 0.06 above
    got = mw.gaseous_specific_attenuation_db_km(f, pressure_hpa=1013.25, temperature_c=15.0,
                                                water_vapour_g_m3=7.5)
    assert abs(got - gamma) <= (0.011 if f <= 50 else 0.06)
    if f <= 50:
        assert abs(got - gamma) <= 0.08 * gamma
