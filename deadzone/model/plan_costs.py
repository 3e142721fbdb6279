"""Prices of a programme plan beyond a site's build cost: running costs, the
low-power site, the satellite terminal, solar design and money over time
(issue 20).

A costs file (``deadzone plan --costs costs.toml``) has the site prices of
``deadzone place`` at its top level (``tower_capex_vnd = 2.0e9``, the fields of
:class:`deadzone.geo.site_costs.CostModel`) and one table per group here::

    tower_capex_vnd = 2.0e9

    [finance]
    discount_rate = 0.10
    horizon_years = 15

    [operations]
    electricity_vnd_per_kwh = 2500

    [solar]
    irradiation_kwh_m2_day = 3.4
    battery_vnd_per_kwh = 7.0e6

    [small_cell]
    capex_vnd = 0.4e9

    [satellite]
    fee_vnd_per_year = 36e6

Every value is in VND of the plan's first year (constant prices; change of
running costs by ``finance.escalation``), watts, metres, dBm or years.  The
defaults are planning assumptions, each with its source or its reasoning;
they are not quotes.  ``docs/PLAN.md`` lists them all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from deadzone.errors import ParameterError
from deadzone.model.lifecycle import Finance, SolarPrices

__all__ = [
    "Operations",
    "PlanCosts",
    "Satellite",
    "SmallCell",
    "SolarSettings",
]


def _check_nonnegative(obj: object, group: str) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        v = getattr(obj, f.name)
        if isinstance(v, bool) or isinstance(v, str):
            continue
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
            raise ParameterError(f"[{group}] {f.name} was {v!r}; expected a number >= 0")


@dataclass(frozen=True)
class Operations:
    """Yearly running costs and electrical loads of new sites.

    Attributes
    ----------
    macro_load_w : float
        Average electrical load of a new macro site, radio and microwave
        (1,200 W: a three-sector 4G site in a rural area draws about
        1-1.5 kW; GSMA, "Green Power for Mobile", rural site profiles).
    upgrade_load_w : float
        Added load of a new radio on an existing mast (500 W).
    small_cell_load_w : float
        Load of a low-power site (150 W: an outdoor small cell or repeater
        of 2 x 10 W).
    electricity_vnd_per_kwh : float
        Grid electricity (2,103 VND/kWh: EVN's average retail price from
        October 2024, Decision 2699/QĐ-BCT).
    macro_om_vnd_per_year : float
        Maintenance, guarding and land of a macro site (assumption: 60
        million VND a year).
    upgrade_om_vnd_per_year : float
        Maintenance of an added radio (assumption: 15 million VND a year).
    small_cell_om_vnd_per_year : float
        Maintenance of a low-power site (assumption: 12 million VND a year).
    microwave_om_vnd_per_year : float
        Spectrum fee and maintenance of one microwave hop (assumption: 12
        million VND a year).
    fiber_om_share_per_year : float
        Fiber upkeep as a share of its build cost a year (0.02, a common
        planning ratio for aerial cable).
    radio_life_years : float
        Radio equipment is replaced after this many years (10).
    radio_replacement_vnd : float
        New radio and antennas of a macro site (assumption: 0.6 billion VND,
        the price of an upgrade).
    """

    macro_load_w: float = 1200.0
    upgrade_load_w: float = 500.0
    small_cell_load_w: float = 150.0
    electricity_vnd_per_kwh: float = 2103.0
    macro_om_vnd_per_year: float = 60e6
    upgrade_om_vnd_per_year: float = 15e6
    small_cell_om_vnd_per_year: float = 12e6
    microwave_om_vnd_per_year: float = 12e6
    fiber_om_share_per_year: float = 0.02
    radio_life_years: float = 10.0
    radio_replacement_vnd: float = 0.6e9

    def __post_init__(self) -> None:
        _check_nonnegative(self, "operations")
        if not self.radio_life_years > 0:
            raise ParameterError("[operations] radio_life_years must be > 0")

    def electricity_vnd_per_year(self, load_w: float) -> float:
        """Grid electricity of a constant load for a year (VND)."""
        return load_w * 8.76 * self.electricity_vnd_per_kwh


@dataclass(frozen=True)
class SolarSettings:
    """Design inputs of off-grid solar power (see :func:`~deadzone.model.lifecycle.size_solar`).

    Attributes
    ----------
    irradiation_kwh_m2_day : float
        Design-month irradiation on the array (3.6 kWh/m²/day: northern
        mountain provinces in their darkest months; Global Solar Atlas
        yearly means there are 3.3-4.0).
    autonomy_days : float
        Days the battery carries the site without sun (2).
    prices : SolarPrices
        Module, battery and fixed prices, design ratios (``[solar]`` keys
        ``pv_vnd_per_kwp``, ``battery_vnd_per_kwh``, ...).
    """

    irradiation_kwh_m2_day: float = 3.6
    autonomy_days: float = 2.0
    prices: SolarPrices = field(default_factory=SolarPrices)

    def __post_init__(self) -> None:
        if not (self.irradiation_kwh_m2_day > 0 and math.isfinite(self.irradiation_kwh_m2_day)):
            raise ParameterError("[solar] irradiation_kwh_m2_day must be > 0")
        if not self.autonomy_days >= 0:
            raise ParameterError("[solar] autonomy_days must be >= 0")
        _check_nonnegative(self.prices, "solar")
        p = self.prices
        for name in ("performance_ratio", "depth_of_discharge", "battery_efficiency"):
            if not (0 < getattr(p, name) <= 1):
                raise ParameterError(f"[solar] {name} was {getattr(p, name)}; expected 0 < x <= 1")
        if not p.battery_life_years > 0:
            raise ParameterError("[solar] battery_life_years must be > 0")


@dataclass(frozen=True)
class SmallCell:
    """A low-power site (small cell or repeater on a pole) at a dead village.

    It covers what the engine says it covers from the village's own point
    (the same exact paths as the audit); its signal comes over the air from
    an existing tower of its technology (a repeater: the donor signal at the
    pole, with the donor antenna's gain, at least ``donor_min_dbm``), else
    by a microwave hop or a fiber spur as a macro site's does.

    Attributes
    ----------
    enabled : bool
        Offer low-power sites at all.
    tech : str
        Technology it radiates (4G).
    height_m : float
        Antenna height on its pole (15 m).
    eirp_dbm : float
        50 dBm: 2 x 10 W radio with a 10 dBi panel.
    capex_vnd : float
        Pole, radio, antennas, installation (assumption: 0.35 billion VND).
    donor_gain_dbi : float
        Gain of the donor antenna pointed at the existing tower (18 dBi).
    donor_min_dbm : float
        Donor signal (the technology's metric, e.g. RSRP) needed at the
        donor antenna's output (-95 dBm: a repeater needs a clean donor
        well above the handset threshold).
    donor_kit_vnd : float
        Donor antenna and cable (assumption: 30 million VND).
    """

    enabled: bool = True
    tech: str = "4G"
    height_m: float = 15.0
    eirp_dbm: float = 50.0
    capex_vnd: float = 0.35e9
    donor_gain_dbi: float = 18.0
    donor_min_dbm: float = -95.0
    donor_kit_vnd: float = 30e6

    def __post_init__(self) -> None:
        from deadzone.model.schema import TECHS

        if self.tech not in TECHS:
            raise ParameterError(f"[small_cell] tech was {self.tech!r}; expected one of {TECHS}")
        if not (1.0 <= self.height_m <= 100.0):
            raise ParameterError(f"[small_cell] height_m was {self.height_m}; expected 1..100")
        for name in ("capex_vnd", "donor_kit_vnd"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParameterError(f"[small_cell] {name} was {v!r}; expected >= 0")


@dataclass(frozen=True)
class Satellite:
    """A satellite terminal with a community Wi-Fi hotspot in a village.

    It connects only its own village (no mobile coverage), so it is offered
    only where no terrestrial option covering the village is cheaper over
    the horizon.

    Attributes
    ----------
    enabled : bool
        Offer satellite at all.
    terminal_vnd : float
        Terminal, Wi-Fi access point, small solar kit and installation
        (assumption: 25 million VND).
    fee_vnd_per_year : float
        Service plan of one terminal shared by a community (assumption: 72
        million VND a year, 6 million a month, of the order of low-earth-orbit
        business plans of US$150-300 a month; a residential plan is cheaper
        but not meant to be shared by 40 households).
    households_per_terminal : float
        Households one terminal serves; a village gets
        ``ceil(households / households_per_terminal)`` terminals, at least one
        (40).
    terminal_life_years : float
        Terminals are replaced after this many years (5).
    """

    enabled: bool = True
    terminal_vnd: float = 25e6
    fee_vnd_per_year: float = 72e6
    households_per_terminal: float = 40.0
    terminal_life_years: float = 5.0

    def __post_init__(self) -> None:
        _check_nonnegative(self, "satellite")
        if not self.households_per_terminal > 0:
            raise ParameterError("[satellite] households_per_terminal must be > 0")
        if not self.terminal_life_years > 0:
            raise ParameterError("[satellite] terminal_life_years must be > 0")

    def terminals(self, households: float) -> int:
        """Terminals a village of ``households`` needs (at least 1)."""
        h = households if math.isfinite(households) and households > 0 else 0.0
        return max(1, math.ceil(h / self.households_per_terminal))


#: The tables of a costs file and the classes they build.
SECTIONS: dict[str, type] = {
    "finance": Finance,
    "operations": Operations,
    "solar": SolarSettings,
    "small_cell": SmallCell,
    "satellite": Satellite,
}


@dataclass(frozen=True)
class PlanCosts:
    """Every price and money rule of a plan except the site build prices.

    Attributes
    ----------
    finance : Finance
    operations : Operations
    solar : SolarSettings
    small_cell : SmallCell
    satellite : Satellite
    """

    finance: Finance = field(default_factory=Finance)
    operations: Operations = field(default_factory=Operations)
    solar: SolarSettings = field(default_factory=SolarSettings)
    small_cell: SmallCell = field(default_factory=SmallCell)
    satellite: Satellite = field(default_factory=Satellite)

    @classmethod
    def from_mapping(
        cls, values: dict[str, Any], *, source: str = "costs"
    ) -> tuple[PlanCosts, dict[str, Any]]:
        """Read the tables of a costs file.

        Returns
        -------
        (PlanCosts, dict)
            The plan costs, and the top-level keys (the site prices, for
            :meth:`deadzone.geo.site_costs.CostModel.from_mapping`).

        Raises
        ------
        ParameterError
            An unknown table or key (named, with the file), or a bad value.
        """
        top = {k: v for k, v in values.items() if not isinstance(v, dict)}
        parts: dict[str, Any] = {}
        for name, table in values.items():
            if not isinstance(table, dict):
                continue
            if name not in SECTIONS:
                raise ParameterError(
                    f"{source}: unknown table [{name}]; expected one of {sorted(SECTIONS)}"
                )
            parts[name] = _build(SECTIONS[name], table, f"{source} [{name}]")
        return cls(**parts), top

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain values, as a costs file would hold them."""
        out: dict[str, dict[str, Any]] = {}
        for name in SECTIONS:
            d = asdict(getattr(self, name))
            if name == "solar":
                d.update(d.pop("prices"))
            out[name] = d
        return out


def _build(kind: type, table: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(kind)}
    if kind is SolarSettings:
        price_keys = {f.name for f in fields(SolarPrices)}
        own = {k: v for k, v in table.items() if k not in price_keys}
        prices = {k: v for k, v in table.items() if k in price_keys}
        bad = sorted(set(own) - set(known) - {"prices"})
        if bad:
            raise ParameterError(
                f"{where}: unknown key {bad[0]!r}; expected one of "
                f"{sorted((set(known) - {'prices'}) | price_keys)}"
            )
        try:
            return SolarSettings(**{k: float(v) for k, v in own.items()},
                                 prices=SolarPrices(**{k: float(v) for k, v in prices.items()}))
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: {exc}") from None
    bad = sorted(set(table) - set(known))
    if bad:
        raise ParameterError(f"{where}: unknown key {bad[0]!r}; expected one of {sorted(known)}")
    typed: dict[str, Any] = {}
    for k, v in table.items():
        t = known[k].type
        try:
            if t in ("bool", bool):
                if not isinstance(v, bool):
                    raise ValueError(f"{k} must be true or false, got {v!r}")
                typed[k] = v
            elif t in ("str", str):
                typed[k] = str(v)
            elif t in ("int", int):
                typed[k] = int(v)
            else:
                typed[k] = float(v)
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"{where}: {exc}") from None
    return kind(**typed)
