"""Lifetime cost arithmetic and solar sizing, against hand calculations."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.model.lifecycle import Finance, SolarPrices, lifetime_cost, npv, size_solar


def test_solar_sizing_matches_a_hand_calculation() -> None:
    # 1,000 W all day: 24 kWh/day; 3.6 kWh/m2/day at PR 0.75 -> 24 / 2.7 = 8.889 kWp;
    # 2 days at DoD 0.8 and 95 % -> 48 / 0.76 = 63.16 kWh
    d = size_solar(1000.0, irradiation_kwh_m2_day=3.6, autonomy_days=2.0)
    assert d.daily_kwh == pytest.approx(24.0)
    assert d.pv_kwp == pytest.approx(8.8889, abs=1e-4)
    assert d.battery_kwh == pytest.approx(63.1579, abs=1e-4)
    p = SolarPrices()
    assert d.capex_vnd == pytest.approx(8.8889 * 18e6 + 63.1579 * 8e6 + 60e6, rel=1e-5)
    assert d.battery_replacement_vnd == pytest.approx(63.1579 * 8e6, rel=1e-5)
    assert d.battery_life_years == p.battery_life_years


def test_npv_of_a_constant_cost_is_the_annuity_formula() -> None:
    # an independent closed form: C (1 - (1 + r)^-n) / r, paid from year 0 (annuity due)
    r, n, c = 0.08, 15, 1e6
    due = c * (1 - (1 + r) ** -n) / r * (1 + r)
    assert npv([c] * n, discount_rate=r) == pytest.approx(due, rel=1e-12)
    assert lifetime_cost(0.0, c, finance=Finance(r, n)) == pytest.approx(due, rel=1e-12)


def test_a_late_start_and_replacements_within_the_horizon() -> None:
    f = Finance(discount_rate=0.1, horizon_years=12)
    # built in year 2 for 100, upkeep 10 a year (years 2..11), batteries of 30 every
    # 4 years after it is built: years 6 and 10
    got = lifetime_cost(100.0, 10.0, finance=f, start_year=2, replacements=[(4.0, 30.0)])
    want = 100 / 1.1**2 + sum(10 / 1.1**y for y in range(2, 12)) + 30 / 1.1**6 + 30 / 1.1**10
    assert got == pytest.approx(want, rel=1e-12)
    with pytest.raises(ParameterError, match="start_year"):
        lifetime_cost(1.0, 1.0, finance=f, start_year=12)


@given(
    r=st.floats(0.0, 0.3),
    n=st.integers(1, 40),
    capex=st.floats(0, 1e10),
    opex=st.floats(0, 1e9),
    start=st.integers(0, 39),
)
def test_lifetime_cost_is_linear_and_later_is_cheaper(r, n, capex, opex, start) -> None:  # noqa: ANN001
    f = Finance(discount_rate=r, horizon_years=n)
    s = min(start, n - 1)
    a = lifetime_cost(capex, opex, finance=f, start_year=s)
    b = lifetime_cost(capex, 0.0, finance=f, start_year=s) + lifetime_cost(
        0.0, opex, finance=f, start_year=s)
    assert a == pytest.approx(b, rel=1e-9, abs=1e-6)
    if s + 1 < n:
        assert lifetime_cost(capex, opex, finance=f, start_year=s + 1) <= a * (1 + 1e-12) + 1e-6
    assert math.isfinite(a)


def test_bad_inputs_are_one_line_errors() -> None:
    with pytest.raises(ParameterError, match="discount_rate"):
        Finance(discount_rate=1.5)
    with pytest.raises(ParameterError, match="load_w"):
        size_solar(0.0)
    with pytest.raises(ParameterError, match="irradiation"):
        size_solar(100.0, irradiation_kwh_m2_day=0.0)
