"""Lifetime cost of a connectivity option: discounting over a planning horizon
and the sizing of an off-grid solar power system (issue 20, first part).

Pure arithmetic, no I/O: the programme plan (``deadzone plan``, to come) prices
every option of every dead village with these functions; the defaults are
planning assumptions, each with its source, to be replaced by a planner's own
figures.

Money is in VND of the first year; year 0 is the year a site is built (its
capex is paid then, its first opex too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError

__all__ = [
    "Finance",
    "cash_schedule",
    "SolarDesign",
    "SolarPrices",
    "lifetime_cost",
    "npv",
    "size_solar",
]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Finance:
    """How future money is valued.

    Attributes
    ----------
    discount_rate : float
        Real discount rate per year (assumption: 0.08; social discount rates
        used in appraisals of public infrastructure in developing economies
        are commonly 6-12 %, e.g. the ADB's Guidelines for the Economic
        Analysis of Projects, 2017, 9 %).
    horizon_years : int
        Planning horizon (assumption: 15 years, about a tower's civil-works
        life and three generations of radio equipment).
    escalation : float
        Real yearly change of recurring costs (0: constant prices).
    """

    discount_rate: float = 0.08
    horizon_years: int = 15
    escalation: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.discount_rate < 1.0):
            raise ParameterError(f"discount_rate was {self.discount_rate}; expected 0 <= r < 1")
        if not (1 <= self.horizon_years <= 100):
            raise ParameterError(f"horizon_years was {self.horizon_years}; expected 1..100")
        if not (-0.5 < self.escalation < 1.0):
            raise ParameterError(f"escalation was {self.escalation}; expected -0.5 < e < 1")


def npv(cash_vnd: Sequence[float] | F64, *, discount_rate: float) -> float:
    """Net present value of yearly amounts, the first at year 0 (undiscounted).

    ``sum_t cash[t] / (1 + r)^t``.
    """
    c = np.asarray(cash_vnd, dtype=np.float64)
    t = np.arange(c.size, dtype=np.float64)
    return float(np.sum(c / (1.0 + discount_rate) ** t))


def cash_schedule(
    capex_vnd: float,
    opex_vnd_per_year: float,
    *,
    finance: Finance,
    start_year: int = 0,
    replacements: Sequence[tuple[float, float]] = (),
) -> F64:
    """What building an option in ``start_year`` pays each year of the horizon.

    Parameters
    ----------
    capex_vnd : float
        Paid in ``start_year``.
    opex_vnd_per_year : float
        Paid every year from ``start_year`` to the horizon's last year,
        escalated by ``finance.escalation`` a year from year 0.
    finance : Finance
        Horizon and escalation (the discount rate is not used here).
    start_year : int
        Year of the plan the option is built (0 = first).
    replacements : sequence of (age_years, cost_vnd)
        Equipment replaced every ``age_years`` after it is built (e.g.
        batteries), while within the horizon; the cost escalates like opex.

    Returns
    -------
    float64[horizon_years]
        VND paid in each year (undiscounted; 0 before ``start_year``).
    """
    n = finance.horizon_years
    if not (0 <= start_year < n):
        raise ParameterError(f"start_year was {start_year}; expected 0..{n - 1}")
    cash = np.zeros(n)
    cash[start_year] += capex_vnd
    years = np.arange(start_year, n)
    cash[years] += opex_vnd_per_year * (1.0 + finance.escalation) ** years
    for age, cost in replacements:
        if not age > 0:
            raise ParameterError(f"replacement age was {age}; expected > 0")
        k = 1
        while start_year + k * age < n:
            y = int(math.floor(start_year + k * age))
            cash[y] += cost * (1.0 + finance.escalation) ** y
            k += 1
    return cash


def lifetime_cost(
    capex_vnd: float,
    opex_vnd_per_year: float,
    *,
    finance: Finance,
    start_year: int = 0,
    replacements: Sequence[tuple[float, float]] = (),
) -> float:
    """Present value (at year 0 of the plan) of building in ``start_year`` and
    running until the end of the horizon: the :func:`npv` of
    :func:`cash_schedule` (same parameters).

    Returns
    -------
    float
        VND of year 0.
    """
    cash = cash_schedule(capex_vnd, opex_vnd_per_year, finance=finance,
                         start_year=start_year, replacements=replacements)
    return npv(cash, discount_rate=finance.discount_rate)


@dataclass(frozen=True)
class SolarPrices:
    """Prices and rules of an off-grid solar power system (VND, assumptions).

    Attributes
    ----------
    pv_vnd_per_kwp : float
        Modules, mounting and charge controller, installed (assumption: 18
        million VND/kWp; utility-scale PV in Vietnam is below 15 million, a
        remote site pays transport and mounting).
    battery_vnd_per_kwh : float
        LiFePO4 storage, installed (assumption: 8 million VND/kWh).
    fixed_vnd : float
        Cabinet, protection, installation (assumption: 60 million VND).
    opex_vnd_per_year : float
        Cleaning and maintenance visits (assumption: 10 million VND a year).
    battery_life_years : float
        Calendar life of the storage at the design's depth of discharge
        (assumption: 8 years for LiFePO4 in a hot climate).
    performance_ratio : float
        Energy delivered / (irradiation x kWp): temperature, soiling, wiring,
        controller and conversion losses (0.75, a common design value for
        stand-alone systems).
    depth_of_discharge : float
        Usable fraction of the nominal battery capacity (0.8, LiFePO4).
    battery_efficiency : float
        Round-trip efficiency of the battery (0.95).
    """

    pv_vnd_per_kwp: float = 18e6
    battery_vnd_per_kwh: float = 8e6
    fixed_vnd: float = 60e6
    opex_vnd_per_year: float = 10e6
    battery_life_years: float = 8.0
    performance_ratio: float = 0.75
    depth_of_discharge: float = 0.8
    battery_efficiency: float = 0.95


@dataclass(frozen=True)
class SolarDesign:
    """An off-grid PV system sized for a site.

    Attributes
    ----------
    daily_kwh : float
        Energy the site uses a day (kWh).
    pv_kwp : float
        Array size (kWp).
    battery_kwh : float
        Nominal storage (kWh).
    capex_vnd, opex_vnd_per_year, battery_replacement_vnd : float
        Build cost, yearly upkeep, and the cost of new batteries.
    battery_life_years : float
        Years between battery replacements.
    """

    daily_kwh: float
    pv_kwp: float
    battery_kwh: float
    capex_vnd: float
    opex_vnd_per_year: float
    battery_replacement_vnd: float
    battery_life_years: float

    def lifetime_cost(self, *, finance: Finance, start_year: int = 0) -> float:
        """Present value of building it in ``start_year`` (VND of year 0)."""
        return lifetime_cost(
            self.capex_vnd, self.opex_vnd_per_year, finance=finance, start_year=start_year,
            replacements=[(self.battery_life_years, self.battery_replacement_vnd)],
        )


def size_solar(
    load_w: float,
    *,
    irradiation_kwh_m2_day: float = 3.6,
    autonomy_days: float = 2.0,
    prices: SolarPrices | None = None,
) -> SolarDesign:
    """Size a stand-alone PV system for a constant load.

    The usual worst-month design (e.g. Sandia National Laboratories,
    "Stand-Alone Photovoltaic Systems: A Handbook of Recommended Design
    Practices", SAND87-7023): the array delivers the day's energy at the
    design month's irradiation, the battery carries ``autonomy_days`` of it.

    * daily energy ``E = load_w x 24 / 1000`` (kWh/day);
    * PV ``E / (H x PR)`` kWp, ``H`` the irradiation in kWh/m²/day (peak sun
      hours at 1 kW/m²), ``PR`` the performance ratio;
    * battery ``E x autonomy / (DoD x eta)`` kWh nominal.

    Parameters
    ----------
    load_w : float
        Average electrical load of the site (W), e.g. about 1,200 W for a
        three-sector 4G macro site with its microwave link, 100-200 W for a
        small cell.
    irradiation_kwh_m2_day : float
        Design-month global irradiation on the array (kWh/m²/day); the
        default 3.6 is a planning value for the northern mountain provinces
        in their darkest months (World Bank / ESMAP Global Solar Atlas:
        yearly means of about 3.3-4.0 kWh/m²/day there; a plan takes the
        province's own figure or a raster).
    autonomy_days : float
        Days the battery carries the load without sun.
    prices : SolarPrices, optional
        Prices and design ratios.
    """
    pr = prices or SolarPrices()
    if not load_w > 0:
        raise ParameterError(f"load_w was {load_w}; expected > 0")
    if not irradiation_kwh_m2_day > 0:
        raise ParameterError(f"irradiation was {irradiation_kwh_m2_day}; expected > 0 "
                             "kWh/m2/day")
    if not autonomy_days >= 0:
        raise ParameterError(f"autonomy_days was {autonomy_days}; expected >= 0")
    daily = load_w * 24.0 / 1000.0
    kwp = daily / (irradiation_kwh_m2_day * pr.performance_ratio)
    kwh = daily * autonomy_days / (pr.depth_of_discharge * pr.battery_efficiency)
    battery_cost = kwh * pr.battery_vnd_per_kwh
    return SolarDesign(
        daily_kwh=daily,
        pv_kwp=kwp,
        battery_kwh=kwh,
        capex_vnd=kwp * pr.pv_vnd_per_kwp + battery_cost + pr.fixed_vnd,
        opex_vnd_per_year=pr.opex_vnd_per_year,
        battery_replacement_vnd=battery_cost,
        battery_life_years=pr.battery_life_years,
    )
