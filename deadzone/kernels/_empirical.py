"""Pure Numba empirical path-loss models: Okumura-Hata and COST-231 Hata.

Scalars in, scalars out (plus one array helper); no Python objects.  These are
*median* basic transmission losses for a land-mobile link over quasi-smooth
terrain; they know nothing of the terrain between the antennas except through
the base station's effective height, see :func:`effective_base_height_m`.

Okumura-Hata (Hata 1980, IEEE Trans. VT-29(3), pp. 317-325; also described in
ITU-R P.529-3 §1), distances ``d`` in km, ``f`` in MHz, heights in m::

    L_urban = 69.55 + 26.16 log f - 13.82 log h_b - a(h_m)
              + (44.9 - 6.55 log h_b) log d

    small/medium city:  a(h_m) = (1.1 log f - 0.7) h_m - (1.56 log f - 0.8)
    large city:         a(h_m) = 8.29 (log 1.54 h_m)**2 - 1.1    f <= 200 MHz
                        a(h_m) = 3.2 (log 11.75 h_m)**2 - 4.97   f >= 400 MHz

    L_suburban = L_urban(small/medium) - 2 (log(f / 28))**2 - 5.4
    L_open     = L_urban(small/medium) - 4.78 (log f)**2 + 18.33 log f - 40.94

Hata gives no large-city ``a(h_m)`` between 200 and 400 MHz; here it is
interpolated linearly in ``f`` between the two forms (our choice; it keeps the
loss continuous in frequency).

COST-231 Hata (COST Action 231 final report, "Digital mobile radio towards
future generation systems", 1999, §4.4.3)::

    L = 46.3 + 33.9 log f - 13.82 log h_b - a(h_m)
        + (44.9 - 6.55 log h_b) log d + C_m

with the small/medium-city ``a(h_m)`` above and ``C_m = 0 dB`` for medium
cities and suburban centres, ``3 dB`` for metropolitan centres.  The report
defines no open-area variant; for ``ENV_OPEN`` we apply Hata's open-area
correction to the ``C_m = 0`` loss (an extrapolation, documented as such).

Heights
-------
``h_mobile_m`` is the mobile antenna height above the LOCAL ground under the
mobile (1.5 m for a handset), never above sea level.  ``h_base_m`` is the base
station's *effective* height: antenna height above the average terrain
between 3 and 15 km from the base in the direction of the mobile, as Okumura
defines it (:func:`effective_base_height_m` computes it from a profile).

Validity and behaviour outside it
---------------------------------
Hata: 150-1500 MHz, h_b 30-200 m, h_m 1-10 m, d 1-20 km.  COST-231: 1500-2000
MHz, same heights and distances.  Outside these ranges the formulas are
*extrapolated* unchanged; inputs are clamped only where a formula would stop
being finite or stop being physical:

* ``d_km`` below :data:`MIN_DISTANCE_KM` (10 m) is raised to it;
* ``h_base_m`` below :data:`MIN_BASE_HEIGHT_M` (1 m) is raised to it (an
  effective height can be zero or negative for a mast in a valley) and above
  :data:`MAX_BASE_HEIGHT_M` (3 km) lowered to it, so the distance slope
  ``44.9 - 6.55 log h_b`` stays positive;
* ``h_mobile_m`` below :data:`MIN_MOBILE_HEIGHT_M` (0.1 m) is raised to it;
* ``f_mhz`` below :data:`MIN_FREQ_MHZ` (1 MHz) is raised to it.

The result is always finite for finite inputs; NaN inputs give NaN.  Whether
a caller should accept an extrapolated value is the array API's decision.
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels._jit import jit

# Environments (the ``env`` argument of the loss functions).
ENV_URBAN_LARGE = 0  # Hata large city; COST-231 metropolitan centre (C_m = 3 dB)
ENV_URBAN = 1  # Hata small/medium city; COST-231 medium city (C_m = 0 dB)
ENV_SUBURBAN = 2  # Hata suburban; COST-231 suburban centre (C_m = 0 dB)
ENV_OPEN = 3  # Hata open area; COST-231: C_m = 0 + Hata's open correction

# Model codes for :func:`empirical_losses`.
EMPIRICAL_HATA = 0
EMPIRICAL_COST231 = 1

MIN_DISTANCE_KM = 0.01
MIN_BASE_HEIGHT_M = 1.0
MAX_BASE_HEIGHT_M = 3000.0
MIN_MOBILE_HEIGHT_M = 0.1
MIN_FREQ_MHZ = 1.0

# Validity ranges of the published models (for callers that want to warn).
HATA_FREQ_MHZ = (150.0, 1500.0)
COST231_FREQ_MHZ = (1500.0, 2000.0)
BASE_HEIGHT_M = (30.0, 200.0)
MOBILE_HEIGHT_M = (1.0, 10.0)
DISTANCE_KM = (1.0, 20.0)

EFF_HEIGHT_FROM_M = 3000.0
EFF_HEIGHT_TO_M = 15000.0


@jit
def _clamp_inputs(
    d_km: float, f_mhz: float, h_base_m: float, h_mobile_m: float
) -> tuple[float, float, float, float]:
    d = max(d_km, MIN_DISTANCE_KM)
    f = max(f_mhz, MIN_FREQ_MHZ)
    hb = min(max(h_base_m, MIN_BASE_HEIGHT_M), MAX_BASE_HEIGHT_M)
    hm = max(h_mobile_m, MIN_MOBILE_HEIGHT_M)
    # max/min drop NaN in some orders; keep NaN in, NaN out.
    if math.isnan(d_km) or math.isnan(f_mhz) or math.isnan(h_base_m) or math.isnan(h_mobile_m):
        return math.nan, math.nan, math.nan, math.nan
    return d, f, hb, hm


@jit
def mobile_correction_db(f_mhz: float, h_mobile_m: float, large_city: bool) -> float:
    """Hata's mobile-antenna height correction a(h_m), dB.

    ``h_mobile_m`` is above local ground.  Small/medium city form, or the
    large-city form (8.29 ... for f <= 200 MHz, 3.2 ... for f >= 400 MHz,
    linear in f in between).  No clamping here.
    """
    lf = math.log10(f_mhz)
    if not large_city:
        return (1.1 * lf - 0.7) * h_mobile_m - (1.56 * lf - 0.8)
    low = 8.29 * math.log10(1.54 * h_mobile_m) ** 2 - 1.1
    high = 3.2 * math.log10(11.75 * h_mobile_m) ** 2 - 4.97
    if f_mhz <= 200.0:
        return low
    if f_mhz >= 400.0:
        return high
    t = (f_mhz - 200.0) / 200.0
    return low * (1.0 - t) + high * t


@jit
def hata_loss_db(
    d_km: float, f_mhz: float, h_base_m: float, h_mobile_m: float, env: int
) -> float:
    """Okumura-Hata median basic transmission loss (Hata 1980; ITU-R P.529), dB.

    Parameters
    ----------
    d_km : float
        Horizontal distance base-mobile (km); valid 1-20.
    f_mhz : float
        Frequency (MHz); valid 150-1500.
    h_base_m : float
        Effective base-station antenna height (m): height above the average
        terrain 3-15 km from the base towards the mobile (Okumura's
        definition, see :func:`effective_base_height_m`); valid 30-200.
    h_mobile_m : float
        Mobile antenna height above LOCAL ground (m), not above sea level;
        valid 1-10.
    env : int
        ``ENV_URBAN_LARGE``, ``ENV_URBAN``, ``ENV_SUBURBAN`` or ``ENV_OPEN``;
        any other value is treated as ``ENV_URBAN``.

    Outside the validity ranges the formula is extrapolated; inputs are
    clamped only as described in the module docstring.
    """
    d, f, hb, hm = _clamp_inputs(d_km, f_mhz, h_base_m, h_mobile_m)
    lf = math.log10(f)
    lhb = math.log10(hb)
    a_hm = mobile_correction_db(f, hm, env == ENV_URBAN_LARGE)
    loss = 69.55 + 26.16 * lf - 13.82 * lhb - a_hm + (44.9 - 6.55 * lhb) * math.log10(d)
    if env == ENV_SUBURBAN:
        loss -= 2.0 * math.log10(f / 28.0) ** 2 + 5.4
    elif env == ENV_OPEN:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@jit
def cost231_loss_db(
    d_km: float, f_mhz: float, h_base_m: float, h_mobile_m: float, env: int
) -> float:
    """COST-231 Hata median basic transmission loss (COST 231 §4.4.3), dB.

    Parameters as :func:`hata_loss_db`; valid 1500-2000 MHz.  ``C_m`` is
    3 dB for ``ENV_URBAN_LARGE`` (metropolitan centre) and 0 dB otherwise;
    ``ENV_OPEN`` additionally subtracts Hata's open-area correction (an
    extrapolation: the COST 231 report defines no open-area variant).
    ``a(h_m)`` is always the small/medium-city form, as in the report.
    """
    d, f, hb, hm = _clamp_inputs(d_km, f_mhz, h_base_m, h_mobile_m)
    lf = math.log10(f)
    lhb = math.log10(hb)
    a_hm = mobile_correction_db(f, hm, False)
    c_m = 3.0 if env == ENV_URBAN_LARGE else 0.0
    loss = 46.3 + 33.9 * lf - 13.82 * lhb - a_hm + (44.9 - 6.55 * lhb) * math.log10(d) + c_m
    if env == ENV_OPEN:
        loss -= 4.78 * lf * lf - 18.33 * lf + 40.94
    return loss


@jit
def empirical_losses(
    d_km: np.ndarray,
    f_mhz: float,
    h_base_m: float,
    h_mobile_m: float,
    env: int,
    model: int,
    out_loss_db: np.ndarray,
) -> None:
    """Fill ``out_loss_db[i]`` with the loss at distance ``d_km[i]``.

    ``model`` is ``EMPIRICAL_HATA`` or ``EMPIRICAL_COST231`` (anything else:
    Hata).  Same units and clamping as the scalar functions.
    """
    for i in range(d_km.shape[0]):
        if model == EMPIRICAL_COST231:
            out_loss_db[i] = cost231_loss_db(d_km[i], f_mhz, h_base_m, h_mobile_m, env)
        else:
            out_loss_db[i] = hata_loss_db(d_km[i], f_mhz, h_base_m, h_mobile_m, env)


@jit
def effective_base_height_m(profile_m: np.ndarray, step_m: float, h_tx_m: float) -> float:
    """Okumura's effective base-station height from a terrain profile, m.

    ``profile_m[0]`` is the ground under the base station (m above sea level),
    later samples every ``step_m`` metres towards the mobile; ``h_tx_m`` is
    the mast height above that ground.  Returns

        profile_m[0] + h_tx_m - mean(profile_m at 3 km <= d <= 15 km)

    When the profile ends before 15 km, the mean is over the samples from
    3 km to its end; when it ends before 3 km (no sample in range), over the
    whole profile including ``profile_m[0]`` (so a one-sample profile gives
    ``h_tx_m``).  The result can be zero or negative (mast in a valley); the
    loss functions clamp it to :data:`MIN_BASE_HEIGHT_M`.
    """
    n = profile_m.shape[0]
    total = 0.0
    count = 0
    for i in range(n):
        d = i * step_m
        if d > EFF_HEIGHT_TO_M:
            break
        if d >= EFF_HEIGHT_FROM_M:
            total += profile_m[i]
            count += 1
    if count == 0:
        for i in range(n):
            total += profile_m[i]
        count = n
    if count == 0:
        return h_tx_m
    return profile_m[0] + h_tx_m - total / count
