"""Microwave link budget of a point-to-point hop (issue 22, item 2).

Pure arithmetic, no I/O, scalars in and out: what a backhaul hop of the
programme needs to be sized (``deadzone link --band 13GHz ...`` and the
planner's backhaul hops call it).

Methods, each from its Recommendation
-------------------------------------
* Free space: ITU-R P.525-4 eq. (8), on the hop's slant distance (the
  terrain's part comes from :mod:`deadzone.geo.link`, not from here).
* Rain specific attenuation ``gamma_R = k R^alpha``: ITU-R P.838-3 eqs
  (1)-(5) with the regression coefficients of its Tables 1-4, the
  polarization and elevation combination of eqs (4)-(5).
* Rain attenuation exceeded for p % of an average year: ITU-R P.530-17
  §2.4.1 (steps 1-5: effective path length ``d_eff = r d``, eq. (32)-(33);
  power law in p, eqs (34)-(35)); the inverse (the p at which a fade margin
  is exceeded) solves that power law, a quadratic in log10 p.
* Multipath fading in the average worst month: ITU-R P.530-17 §2.3.1
  (detailed method for small percentages of time: geoclimatic factor K from
  dN1 and the terrain roughness s_a, eq. (4); path inclination, eq. (5);
  ``p_w = K d^3.4 (1 + |eps_p|)^-1.03 f^0.8 10^(-0.00076 h_L - A/10)``,
  eq. (7)) and §2.3.2 (the method for all percentages of time: the
  shallow-fade interpolation below the transition depth ``A_t``).
* Gaseous absorption: the simplified algorithm of ITU-R P.676-10 Annex 2 §1
  (dry air below 54 GHz and water vapour, closed forms in the pressure and
  temperature ratios), valid 1-54 GHz here, the microwave backhaul bands.
* Antenna gain from a parabolic dish diameter: ``G = 10 log10(eta (pi D /
  lambda)^2)`` with aperture efficiency ``eta`` = 0.55 (a usual figure for
  backhaul dishes; manufacturers' datasheets give 0.5-0.6).

Availability
------------
The hop is unavailable when the fade exceeds its margin, by rain (annual
statistics) or by multipath (worst-month statistics).  Following P.530-17
§8 the two are added: ``unavailability = p_rain + p_multipath``, which
treats the worst month as every month (a conservative annual figure; P.841
would convert it).  :func:`required_margin_db` inverts that sum.

Decision on the ``itur`` package (recorded here as the issue asked)
-------------------------------------------------------------------
``itur`` 0.4.0 implements P.837/P.838/P.676/P.530 and the ITU digital maps,
but its wheel is 163 MB (the maps) and pulls in astropy; deadzone keeps it
out of its core dependencies.  The formulas above are written here from the
Recommendations and checked in ``tests/model/test_microwave.py`` against
the ITU validation values of P.838-3 (and its Table 5 at 10 GHz), against
the ITU validation values of the P.676-12 line-by-line method (the
simplified algorithm stays within 0.011 dB/km below 50 GHz), and against
values computed by ``itur`` 0.4.0 for P.530-17 and P.676-10
(``bench/itur_reference.py`` regenerates them).  What only a
map gives, the rain rate R0.01 (P.837-7), the refractivity gradient dN1
(P.453) and the water-vapour density (P.836), are arguments; their defaults
are P.837-7 / P.453-13 / P.836-6 values at Hanoi computed with ``itur``.
With the optional extra installed (``pip install deadzone[itur]``),
:func:`climate_at` reads the maps at a hop's midpoint instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from deadzone.errors import ParameterError

__all__ = [
    "BANDS_GHZ",
    "DEFAULT_DN1",
    "DEFAULT_RAIN_RATE_MM_H",
    "DEFAULT_WATER_VAPOUR_G_M3",
    "LinkBudget",
    "MicrowaveClimate",
    "MicrowaveRadio",
    "climate_at",
    "dish_gain_dbi",
    "fspl_db",
    "gaseous_specific_attenuation_db_km",
    "link_budget",
    "multipath_percent",
    "rain_attenuation_db",
    "rain_coefficients",
    "rain_percent",
    "rain_specific_attenuation_db_km",
    "required_margin_db",
]

SPEED_OF_LIGHT_M_S = 299_792_458.0

#: Representative centre frequency (GHz) of the licensed fixed-service bands
#: used for mobile backhaul, by the name planners use (``--band``).
BANDS_GHZ: dict[str, float] = {
    "6GHz": 6.2,
    "7GHz": 7.5,
    "8GHz": 8.0,
    "11GHz": 11.2,
    "13GHz": 13.0,
    "15GHz": 15.0,
    "18GHz": 18.7,
    "23GHz": 23.0,
    "26GHz": 25.5,
    "32GHz": 32.0,
    "38GHz": 38.5,
    "42GHz": 42.0,
}

#: R0.01 (mm/h), rain rate exceeded 0.01 % of an average year at Hanoi
#: (21.03 N, 105.85 E) from the ITU-R P.837-7 maps (computed with itur 0.4.0:
#: 88.8 mm/h; the northern mountain provinces read 67-84 mm/h, so Hanoi's is
#: the conservative choice for the north).
DEFAULT_RAIN_RATE_MM_H = 88.8
#: dN1 (N-units/km), refractivity gradient in the lowest 65 m not exceeded 1 %
#: of an average year, ITU-R P.453-13 map at Hanoi (itur 0.4.0 ``DN65(.., 1)``: -205.2).
DEFAULT_DN1 = -205.2
#: Surface water-vapour density (g/m3) exceeded 50 % of the year at Hanoi,
#: ITU-R P.836-6 at sea level (itur 0.4.0: 19.5 g/m3).
DEFAULT_WATER_VAPOUR_G_M3 = 19.5
#: Aperture efficiency of a backhaul dish, for :func:`dish_gain_dbi`.
DISH_EFFICIENCY = 0.55

# ITU-R P.838-3 Tables 1-4: a_j, b_j, c_j per row, then (m, c).
_KH = ((-5.33980, -0.10008, 1.13098), (-0.35351, 1.26970, 0.45400),
       (-0.23789, 0.86036, 0.15354), (-0.94158, 0.64552, 0.16817))
_KH_MC = (-0.18961, 0.71147)
_KV = ((-3.80595, 0.56934, 0.81061), (-3.44965, -0.22911, 0.51059),
       (-0.39902, 0.73042, 0.11899), (0.50167, 1.07319, 0.27195))
_KV_MC = (-0.16398, 0.63297)
_AH = ((-0.14318, 1.82442, -0.55187), (0.29591, 0.77564, 0.19822),
       (0.32177, 0.63773, 0.13164), (-5.37610, -0.96230, 1.47828),
       (16.1721, -3.29980, 3.43990))
_AH_MC = (0.67849, -1.95537)
_AV = ((-0.07771, 2.33840, -0.76284), (0.56727, 0.95545, 0.54039),
       (-0.20238, 1.14520, 0.26809), (-48.2991, 0.791669, 0.116226),
       (48.5833, 0.791459, 0.116479))
_AV_MC = (-0.053739, 0.83433)


def _check(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    v = float(value)
    if not (lo <= v <= hi):
        raise ParameterError(f"{name} was {value!r}; expected {lo:g}..{hi:g} {unit}".rstrip())
    return v


def _regression(f_ghz: float, rows: tuple, mc: tuple[float, float]) -> float:
    lf = math.log10(f_ghz)
    s = sum(a * math.exp(-(((lf - b) / c) ** 2)) for a, b, c in rows)
    return s + mc[0] * lf + mc[1]


def rain_coefficients(
    freq_ghz: float, *, polarization_tilt_deg: float, elevation_deg: float = 0.0
) -> tuple[float, float]:
    """ITU-R P.838-3 coefficients ``(k, alpha)`` of ``gamma_R = k R^alpha``.

    Parameters
    ----------
    freq_ghz : float
        Frequency (GHz), 1..1000.
    polarization_tilt_deg : float
        Polarization tilt relative to the horizontal (deg): 0 horizontal,
        90 vertical, 45 circular.
    elevation_deg : float
        Path elevation (deg); 0 for a terrestrial hop.

    Returns
    -------
    k, alpha : float
        P.838-3 eqs (2)-(5).

    Examples
    --------
    >>> k, a = rain_coefficients(14.25, polarization_tilt_deg=0, elevation_deg=31.07699124)
    >>> round(k, 6), round(a, 6)
    (0.039755, 1.12418)
    """
    f = _check("freq_ghz", freq_ghz, 1.0, 1000.0, "GHz")
    kh = 10.0 ** _regression(f, _KH, _KH_MC)
    kv = 10.0 ** _regression(f, _KV, _KV_MC)
    ah = _regression(f, _AH, _AH_MC)
    av = _regression(f, _AV, _AV_MC)
    c = (math.cos(math.radians(elevation_deg)) ** 2
         * math.cos(math.radians(2.0 * polarization_tilt_deg)))
    k = (kh + kv + (kh - kv) * c) / 2.0
    alpha = (kh * ah + kv * av + (kh * ah - kv * av) * c) / (2.0 * k)
    return k, alpha


def rain_specific_attenuation_db_km(
    rain_rate_mm_h: float, freq_ghz: float, *, polarization_tilt_deg: float,
    elevation_deg: float = 0.0,
) -> float:
    """``gamma_R = k R^alpha`` (dB/km), ITU-R P.838-3 eq. (1)."""
    r = _check("rain_rate_mm_h", rain_rate_mm_h, 0.0, 500.0, "mm/h")
    k, a = rain_coefficients(freq_ghz, polarization_tilt_deg=polarization_tilt_deg,
                             elevation_deg=elevation_deg)
    return k * r**a


def _rain_001_db(distance_km: float, freq_ghz: float, rain_rate_mm_h: float,
                 tilt_deg: float) -> float:
    """A0.01 (dB): P.530-17 §2.4.1 steps 2-4, eqs (32)-(33)."""
    d = _check("distance_km", distance_km, 0.0, 1000.0, "km")
    r001 = _check("rain_rate_mm_h", rain_rate_mm_h, 0.0, 500.0, "mm/h")
    if d == 0.0 or r001 == 0.0:
        return 0.0
    k, alpha = rain_coefficients(freq_ghz, polarization_tilt_deg=tilt_deg)
    gamma = k * r001**alpha
    r = 1.0 / (0.477 * d**0.633 * r001 ** (0.073 * alpha) * freq_ghz**0.123
               - 10.579 * (1.0 - math.exp(-0.024 * d)))
    if not (0.0 < r <= 2.5):  # eq. (32): r is capped at 2.5 (and the fit turns negative)
        r = 2.5
    return gamma * r * d


def _rain_power_law(freq_ghz: float) -> tuple[float, float, float]:
    """C1, C2, C3 of P.530-17 eqs (35a)-(35c)."""
    c0 = 0.12 + 0.4 * math.log10(freq_ghz / 10.0) ** 0.8 if freq_ghz >= 10.0 else 0.12
    c1 = 0.07**c0 * 0.12 ** (1.0 - c0)
    c2 = 0.855 * c0 + 0.546 * (1.0 - c0)
    c3 = 0.139 * c0 + 0.043 * (1.0 - c0)
    return c1, c2, c3


def rain_attenuation_db(
    distance_km: float, freq_ghz: float, *, rain_rate_mm_h: float, percent_time: float = 0.01,
    polarization_tilt_deg: float = 90.0,
) -> float:
    """Rain attenuation (dB) exceeded for ``percent_time`` % of an average year.

    ITU-R P.530-17 §2.4.1: ``A_p = A_0.01 C1 p^-(C2 + C3 log10 p)``, eqs
    (34)-(35), with ``A_0.01 = gamma_R r d`` (eqs (32)-(33)).

    Parameters
    ----------
    distance_km : float
        Path length (km).
    freq_ghz : float
        Frequency (GHz).
    rain_rate_mm_h : float
        R0.01, the rain rate exceeded 0.01 % of the time, 1-minute integration (mm/h).
    percent_time : float
        p (%), 0.001..1 in the Recommendation; 1e-5..5 accepted (the power
        law extrapolated) so that availability can be searched.
    polarization_tilt_deg : float
        0 horizontal, 90 vertical (the usual choice for rain-limited hops).

    Examples
    --------
    >>> round(rain_attenuation_db(10.0, 13.0, rain_rate_mm_h=88.8), 2)
    24.68
    """
    p = _check("percent_time", percent_time, 1e-5, 5.0, "%")
    a001 = _rain_001_db(distance_km, freq_ghz, rain_rate_mm_h, polarization_tilt_deg)
    c1, c2, c3 = _rain_power_law(freq_ghz)
    return a001 * c1 * p ** (-(c2 + c3 * math.log10(p)))


def rain_percent(
    fade_margin_db: float, distance_km: float, freq_ghz: float, *, rain_rate_mm_h: float,
    polarization_tilt_deg: float = 90.0,
) -> float:
    """Percentage of an average year (%) during which rain attenuation exceeds
    ``fade_margin_db``: the inverse of :func:`rain_attenuation_db`.

    With ``L = log10 p`` the power law of eq. (34) is the quadratic
    ``C3 L^2 + C2 L + log10(A / (A0.01 C1)) = 0``, solved on its decreasing
    branch; 0 when even 1e-5 % does not reach the margin (or the margin is
    above the law's maximum), 5 when 5 % already exceeds it.
    """
    a = float(fade_margin_db)
    a001 = _rain_001_db(distance_km, freq_ghz, rain_rate_mm_h, polarization_tilt_deg)
    if a001 <= 0.0:
        return 0.0 if a >= 0.0 else 5.0
    if a <= 0.0:
        return 5.0
    c1, c2, c3 = _rain_power_law(freq_ghz)
    y = math.log10(a / (a001 * c1))
    disc = c2 * c2 - 4.0 * c3 * y
    if disc < 0.0:
        return 0.0
    lp = (-c2 + math.sqrt(disc)) / (2.0 * c3)
    if lp < -5.0:
        return 0.0
    if lp > math.log10(5.0):
        return 5.0
    return 10.0**lp


def _multipath_p0(distance_km: float, freq_ghz: float, *, dn1: float, sa_m: float,
                  h_e_m: float, h_r_m: float) -> float:
    """p0 (%): P.530-17 eq. (7) with A = 0 (eqs (4), (5), (7))."""
    d = _check("distance_km", distance_km, 1e-3, 1000.0, "km")
    k = 10.0 ** (-4.4 - 0.0027 * float(dn1)) * (10.0 + max(float(sa_m), 0.0)) ** -0.46
    eps_p = abs(float(h_r_m) - float(h_e_m)) / d  # mrad
    h_l = min(float(h_e_m), float(h_r_m))
    return k * d**3.4 * (1.0 + eps_p) ** -1.03 * freq_ghz**0.8 * 10.0 ** (-0.00076 * h_l)


def multipath_percent(
    fade_margin_db: float, distance_km: float, freq_ghz: float, *, dn1: float = DEFAULT_DN1,
    sa_m: float, h_e_m: float, h_r_m: float,
) -> float:
    """Percentage of the average worst month (%) that multipath fading exceeds
    ``fade_margin_db``: ITU-R P.530-17 §2.3.2 (all percentages of time) on the
    §2.3.1 occurrence factor.

    Parameters
    ----------
    fade_margin_db : float
        Fade depth A (dB), >= 0.
    distance_km, freq_ghz : float
        Path length (km) and frequency (GHz).
    dn1 : float
        Point refractivity gradient in the lowest 65 m not exceeded 1 % of an
        average year (N-units/km), ITU-R P.453 maps.
    sa_m : float
        Area terrain roughness: standard deviation of terrain heights (m)
        within a 110 km x 110 km area (P.530-17 §2.3.1).
    h_e_m, h_r_m : float
        Antenna heights above sea level (m) of the two ends.

    Returns
    -------
    float
        p_w (%); for A >= A_t the deep-fade law ``p0 10^(-A/10)``.
    """
    a = _check("fade_margin_db", fade_margin_db, 0.0, 200.0, "dB")
    f = _check("freq_ghz", freq_ghz, 1.0, 100.0, "GHz")
    p0 = _multipath_p0(distance_km, f, dn1=dn1, sa_m=sa_m, h_e_m=h_e_m, h_r_m=h_r_m)
    a_t = 25.0 + 1.2 * math.log10(p0)  # eq. (12)
    if a >= a_t:
        return p0 * 10.0 ** (-a / 10.0)
    # §2.3.2 step 3b: interpolation between the deep-fade point A_t and 0 dB
    p_t = p0 * 10.0 ** (-a_t / 10.0)
    # -ln(1 - p_t/100) with log1p: p_t of a short hop is far below 1e-16
    qa_t = -20.0 * math.log10(-math.log1p(-p_t / 100.0)) / a_t
    q_t = ((qa_t - 2.0) / ((1.0 + 0.3 * 10.0 ** (-a_t / 20.0)) * 10.0 ** (-0.016 * a_t))
           - 4.3 * (10.0 ** (-a_t / 20.0) + a_t / 800.0))
    q_a = 2.0 + (1.0 + 0.3 * 10.0 ** (-a / 20.0)) * 10.0 ** (-0.016 * a) * (
        q_t + 4.3 * (10.0 ** (-a / 20.0) + a / 800.0))
    return -100.0 * math.expm1(-(10.0 ** (-q_a * a / 20.0)))


def gaseous_specific_attenuation_db_km(
    freq_ghz: float, *, pressure_hpa: float = 1013.25, temperature_c: float = 25.0,
    water_vapour_g_m3: float = DEFAULT_WATER_VAPOUR_G_M3,
) -> float:
    """Dry-air plus water-vapour specific attenuation (dB/km), 1-54 GHz.

    ITU-R P.676-10 Annex 2 §1 (the simplified algorithm): dry air for
    f <= 54 GHz and water vapour, with ``r_p = p / 1013``, ``r_t = 288 / T``.

    Examples
    --------
    >>> round(gaseous_specific_attenuation_db_km(23.0, temperature_c=15, water_vapour_g_m3=7.5), 4)
    0.1948
    """
    f = _check("freq_ghz", freq_ghz, 1.0, 54.0, "GHz")
    p = _check("pressure_hpa", pressure_hpa, 100.0, 1200.0, "hPa")
    t_k = _check("temperature_c", temperature_c, -60.0, 60.0, "degC") + 273.15
    rho = _check("water_vapour_g_m3", water_vapour_g_m3, 0.0, 50.0, "g/m3")
    rp = p / 1013.0
    rt = 288.0 / t_k

    def phi(a: float, b: float, c: float, d: float) -> float:
        return rp**a * rt**b * math.exp(c * (1.0 - rp) + d * (1.0 - rt))

    xi1 = phi(0.0717, -1.8132, 0.0156, -1.6515)
    xi2 = phi(0.5146, -4.6368, -0.1921, -5.7416)
    xi3 = phi(0.3414, -6.5851, 0.2130, -8.5854)
    dry = ((7.2 * rt**2.8) / (f * f + 0.34 * rp * rp * rt**1.6)
           + (0.62 * xi3) / ((54.0 - f) ** (1.16 * xi1) + 0.83 * xi2)) * f * f * rp * rp * 1e-3
    eta1 = 0.955 * rp * rt**0.68 + 0.006 * rho
    eta2 = 0.735 * rp * rt**0.5 + 0.0353 * rt**4 * rho

    def g(fi: float) -> float:
        return 1.0 + ((f - fi) / (f + fi)) ** 2

    e = eta1
    wet = (3.98 * e * math.exp(2.23 * (1 - rt)) / ((f - 22.235) ** 2 + 9.42 * e * e) * g(22.0)
           + 11.96 * e * math.exp(0.70 * (1 - rt)) / ((f - 183.310) ** 2 + 11.14 * e * e)
           + 0.081 * e * math.exp(6.44 * (1 - rt)) / ((f - 321.226) ** 2 + 6.29 * e * e)
           + 3.660 * e * math.exp(1.60 * (1 - rt)) / ((f - 325.153) ** 2 + 9.22 * e * e)
           + 25.37 * e * math.exp(1.09 * (1 - rt)) / (f - 380.0) ** 2
           + 17.40 * e * math.exp(1.46 * (1 - rt)) / (f - 448.0) ** 2
           + 844.6 * e * math.exp(0.17 * (1 - rt)) / (f - 557.0) ** 2 * g(557.0)
           + 290.0 * e * math.exp(0.41 * (1 - rt)) / (f - 752.0) ** 2 * g(752.0)
           + 8.3328e4 * eta2 * math.exp(0.99 * (1 - rt)) / (f - 1780.0) ** 2 * g(1780.0)
           ) * f * f * rt**2.5 * rho * 1e-4
    return dry + wet


def fspl_db(distance_km: float, freq_ghz: float) -> float:
    """Free-space basic transmission loss (dB), ITU-R P.525-4 eq. (8):
    ``92.45 + 20 log10(f_GHz) + 20 log10(d_km)``."""
    d = _check("distance_km", distance_km, 1e-6, 1e5, "km")
    return 92.45 + 20.0 * math.log10(freq_ghz) + 20.0 * math.log10(d)


def dish_gain_dbi(diameter_m: float, freq_ghz: float, *, efficiency: float = DISH_EFFICIENCY
                  ) -> float:
    """Boresight gain (dBi) of a parabolic dish: ``10 log10(eta (pi D / lambda)^2)``.

    Examples
    --------
    >>> round(dish_gain_dbi(0.6, 13.0), 1)
    35.7
    """
    d = _check("diameter_m", diameter_m, 0.05, 10.0, "m")
    lam = SPEED_OF_LIGHT_M_S / (float(freq_ghz) * 1e9)
    return 10.0 * math.log10(efficiency * (math.pi * d / lam) ** 2)


@dataclass(frozen=True)
class MicrowaveRadio:
    """The equipment of a hop (both ends alike).

    Attributes
    ----------
    freq_ghz : float
        Frequency (GHz), 1..54 (the gaseous model's range).
    tx_power_dbm : float
        Transmitter output power (dBm).
    tx_gain_dbi, rx_gain_dbi : float
        Antenna gains (dBi) (:func:`dish_gain_dbi` from a diameter).
    rx_threshold_dbm : float
        Receiver threshold at the target bit error ratio (dBm), e.g. -70 dBm
        for a 256-QAM 28 MHz channel, -88 dBm for QPSK (from datasheets).
    other_losses_db : float
        Feeder, branching and radome losses of both ends together (dB).
    polarization_tilt_deg : float
        0 horizontal, 90 vertical.
    """

    freq_ghz: float
    tx_power_dbm: float = 20.0
    tx_gain_dbi: float = 35.0
    rx_gain_dbi: float = 35.0
    rx_threshold_dbm: float = -70.0
    other_losses_db: float = 2.0
    polarization_tilt_deg: float = 90.0

    def __post_init__(self) -> None:
        _check("freq_ghz", self.freq_ghz, 1.0, 54.0, "GHz")
        _check("polarization_tilt_deg", self.polarization_tilt_deg, 0.0, 90.0, "deg")
        _check("other_losses_db", self.other_losses_db, 0.0, 100.0, "dB")


@dataclass(frozen=True)
class MicrowaveClimate:
    """The climate inputs of the fading models.

    Attributes
    ----------
    rain_rate_mm_h : float
        R0.01 (mm/h), ITU-R P.837 (default: Hanoi, :data:`DEFAULT_RAIN_RATE_MM_H`).
    dn1 : float
        Refractivity gradient dN1 (N-units/km), ITU-R P.453.
    water_vapour_g_m3 : float
        Surface water-vapour density (g/m3), ITU-R P.836.
    temperature_c, pressure_hpa : float
        Surface temperature and pressure.
    source : str
        Where the values came from (shown in summaries).
    """

    rain_rate_mm_h: float = DEFAULT_RAIN_RATE_MM_H
    dn1: float = DEFAULT_DN1
    water_vapour_g_m3: float = DEFAULT_WATER_VAPOUR_G_M3
    temperature_c: float = 25.0
    pressure_hpa: float = 1013.25
    source: str = "defaults (ITU-R maps at Hanoi)"

    def __post_init__(self) -> None:
        _check("rain_rate_mm_h", self.rain_rate_mm_h, 0.0, 500.0, "mm/h")
        _check("dn1", self.dn1, -3000.0, 500.0, "N-units/km")


def climate_at(lon: float, lat: float) -> MicrowaveClimate:
    """Climate inputs read from the ITU-R maps at a point, with the optional
    ``itur`` package (P.837-7 R0.01, P.453 dN1, P.836 water vapour).

    Raises
    ------
    ImportError
        Without ``itur`` (``pip install deadzone[itur]``).
    """
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from itur.models import itu453, itu836, itu837

            r = float(itu837.rainfall_rate(lat, lon, 0.01).value)
            dn1 = float(itu453.DN65(lat, lon, 1).value)
            rho = float(itu836.surface_water_vapour_density(lat, lon, 50, 0.0).value)
    except ImportError as exc:
        raise ImportError("reading the ITU-R maps needs the itur package: "
                          "pip install 'deadzone[itur]'") from exc
    return MicrowaveClimate(rain_rate_mm_h=r, dn1=dn1, water_vapour_g_m3=rho,
                            source=f"itur ITU-R maps at {lat:.3f} N, {lon:.3f} E")


@dataclass(frozen=True)
class LinkBudget:
    """A hop's budget and availability (:func:`link_budget`).

    Attributes
    ----------
    distance_km, freq_ghz : float
    basic_loss_db : float
        Basic transmission loss of the path (free space or the terrain
        model's, dB), as given.
    gaseous_db : float
        Gaseous absorption over the path (dB).
    rx_dbm : float
        Unfaded received level (dBm).
    fade_margin_db : float
        ``rx_dbm - rx_threshold_dbm`` (dB).
    rain_001_db : float
        Rain attenuation exceeded 0.01 % of the year (dB).
    rain_pct, multipath_pct : float
        Time (%) the margin is exceeded by rain (year) and multipath (worst month).
    availability_pct : float
        ``100 - rain_pct - multipath_pct`` (%).
    target_pct : float
        The availability asked for (%).
    required_margin_db : float
        Fade margin that reaches ``target_pct`` (dB).
    multipath_p0_pct : float
        Multipath occurrence factor p0 (%).
    """

    distance_km: float
    freq_ghz: float
    basic_loss_db: float
    gaseous_db: float
    rx_dbm: float
    fade_margin_db: float
    rain_001_db: float
    rain_pct: float
    multipath_pct: float
    availability_pct: float
    target_pct: float
    required_margin_db: float
    multipath_p0_pct: float


def _outage_pct(margin_db: float, distance_km: float, radio: MicrowaveRadio,
                climate: MicrowaveClimate, sa_m: float, h_e_m: float, h_r_m: float
                ) -> tuple[float, float]:
    if margin_db <= 0.0:
        return 100.0, 0.0
    rain = rain_percent(margin_db, distance_km, radio.freq_ghz,
                        rain_rate_mm_h=climate.rain_rate_mm_h,
                        polarization_tilt_deg=radio.polarization_tilt_deg)
    mp = multipath_percent(margin_db, distance_km, radio.freq_ghz, dn1=climate.dn1, sa_m=sa_m,
                           h_e_m=h_e_m, h_r_m=h_r_m)
    return rain, mp


def required_margin_db(
    target_pct: float, distance_km: float, radio: MicrowaveRadio, climate: MicrowaveClimate,
    *, sa_m: float, h_e_m: float, h_r_m: float,
) -> float:
    """Fade margin (dB) at which rain (year) plus multipath (worst month)
    outage equals ``100 - target_pct``; bisection over 0..200 dB (NaN when
    200 dB do not reach it)."""
    t = _check("target_pct", target_pct, 50.0, 99.99999, "%")
    allowed = 100.0 - t

    def outage(m: float) -> float:
        r, p = _outage_pct(m, distance_km, radio, climate, sa_m, h_e_m, h_r_m)
        return r + p

    lo, hi = 0.0, 200.0
    if outage(hi) > allowed:
        return math.nan
    for _ in range(48):  # 200 dB / 2^48: < 1e-12 dB
        mid = 0.5 * (lo + hi)
        if outage(mid) > allowed:
            lo = mid
        else:
            hi = mid
    return hi


def link_budget(
    distance_km: float,
    radio: MicrowaveRadio,
    *,
    basic_loss_db: float | None = None,
    climate: MicrowaveClimate | None = None,
    sa_m: float = 50.0,
    h_e_m: float = 0.0,
    h_r_m: float = 0.0,
    target_pct: float = 99.99,
) -> LinkBudget:
    """Received level, fade margin and availability of a hop.

    Parameters
    ----------
    distance_km : float
        Path length (km).
    radio : MicrowaveRadio
        Frequency, power, gains, threshold, losses, polarization.
    basic_loss_db : float, optional
        The path's basic transmission loss (dB); default free space.  Pass
        the terrain model's loss of a path with diffraction.
    climate : MicrowaveClimate, optional
        Rain rate, dN1, water vapour (default :class:`MicrowaveClimate`()).
    sa_m : float
        Terrain roughness s_a (m) for the multipath model.
    h_e_m, h_r_m : float
        Antenna heights above sea level (m) of the two ends.
    target_pct : float
        Availability to size the margin for (%), e.g. 99.99.

    Returns
    -------
    LinkBudget

    Examples
    --------
    >>> b = link_budget(10.0, MicrowaveRadio(freq_ghz=13.0), sa_m=100, h_e_m=400, h_r_m=600)
    >>> round(b.rx_dbm, 1), round(b.fade_margin_db, 1)
    (-47.2, 22.8)
    """
    c = climate or MicrowaveClimate()
    f = radio.freq_ghz
    loss = fspl_db(distance_km, f) if basic_loss_db is None else float(basic_loss_db)
    gas = gaseous_specific_attenuation_db_km(
        f, pressure_hpa=c.pressure_hpa, temperature_c=c.temperature_c,
        water_vapour_g_m3=c.water_vapour_g_m3) * float(distance_km)
    rx = (radio.tx_power_dbm + radio.tx_gain_dbi + radio.rx_gain_dbi - radio.other_losses_db
          - loss - gas)
    margin = rx - radio.rx_threshold_dbm
    rain, mp = _outage_pct(margin, distance_km, radio, c, sa_m, h_e_m, h_r_m)
    return LinkBudget(
        distance_km=float(distance_km),
        freq_ghz=f,
        basic_loss_db=loss,
        gaseous_db=gas,
        rx_dbm=rx,
        fade_margin_db=margin,
        rain_001_db=_rain_001_db(distance_km, f, c.rain_rate_mm_h, radio.polarization_tilt_deg),
        rain_pct=rain,
        multipath_pct=mp,
        availability_pct=max(0.0, 100.0 - rain - mp),
        target_pct=float(target_pct),
        required_margin_db=required_margin_db(target_pct, distance_km, radio, c, sa_m=sa_m,
                                              h_e_m=h_e_m, h_r_m=h_r_m),
        multipath_p0_pct=_multipath_p0(distance_km, f, dn1=c.dn1, sa_m=sa_m, h_e_m=h_e_m,
                                       h_r_m=h_r_m),
    )
