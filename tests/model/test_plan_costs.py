"""The costs file of a plan: tables, defaults, errors, and the file the plan writes."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from deadzone.app.plan import costs_toml, load_costs
from deadzone.errors import ParameterError
from deadzone.geo.site_costs import CostModel
from deadzone.model.lifecycle import Finance
from deadzone.model.plan_costs import PlanCosts


def test_tables_and_top_level_keys() -> None:
    pc, top = PlanCosts.from_mapping({
        "tower_capex_vnd": 2.0e9,
        "finance": {"discount_rate": 0.1, "horizon_years": 20},
        "solar": {"irradiation_kwh_m2_day": 3.2, "battery_vnd_per_kwh": 7e6},
        "satellite": {"enabled": False, "fee_vnd_per_year": 5e7},
        "small_cell": {"tech": "4G", "capex_vnd": 4e8},
    })
    assert top == {"tower_capex_vnd": 2.0e9}
    assert pc.finance == Finance(discount_rate=0.1, horizon_years=20)
    assert pc.solar.irradiation_kwh_m2_day == 3.2
    assert pc.solar.prices.battery_vnd_per_kwh == 7e6
    assert pc.satellite.enabled is False and pc.satellite.fee_vnd_per_year == 5e7
    assert pc.small_cell.capex_vnd == 4e8
    assert pc.operations == PlanCosts().operations


@pytest.mark.parametrize(("values", "msg"), [
    ({"fiance": {"discount_rate": 0.1}}, r"costs.toml: unknown table \[fiance\]"),
    ({"solar": {"irradiance": 3.0}}, r"\[solar\]: unknown key 'irradiance'"),
    ({"satellite": {"enabled": "yes"}}, r"\[satellite\].*true or false"),
    ({"finance": {"discount_rate": 1.5}}, "discount_rate was 1.5"),
    ({"operations": {"electricity_vnd_per_kwh": -1}}, r"\[operations\] electricity"),
    ({"small_cell": {"tech": "6G"}}, r"\[small_cell\] tech was '6G'"),
    ({"satellite": {"households_per_terminal": 0}}, "households_per_terminal must be > 0"),
])
def test_bad_values_name_the_table_and_key(values: dict, msg: str) -> None:
    with pytest.raises(ParameterError, match=msg):
        PlanCosts.from_mapping(values, source="costs.toml")


def test_written_costs_read_back_equal(tmp_path: Path) -> None:
    site = CostModel(tower_capex_vnd=2.2e9, relay_neighbours=4)
    pc, _ = PlanCosts.from_mapping({"finance": {"horizon_years": 12, "escalation": 0.02},
                                    "solar": {"autonomy_days": 3.0}})
    f = tmp_path / "plan_costs.toml"
    f.write_text(costs_toml(site, pc), encoding="utf-8")
    tomllib.loads(f.read_text(encoding="utf-8"))  # valid TOML
    assert load_costs(f) == (site, pc)


def test_place_reads_a_plan_costs_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('tower_capex_vnd = 1.5e9\n[finance]\ndiscount_rate = 0.06\n', encoding="utf-8")
    site, pc = load_costs(f)
    assert site.tower_capex_vnd == 1.5e9 and pc.finance.discount_rate == 0.06
    f.write_text("tower_capex = 1\n", encoding="utf-8")
    with pytest.raises(ParameterError, match=r"c.toml: unknown key 'tower_capex'"):
        load_costs(f)
    f.write_text("tower_capex_vnd = \n", encoding="utf-8")
    with pytest.raises(ParameterError, match="c.toml"):
        load_costs(f)


def test_satellite_terminals_per_village() -> None:
    s = PlanCosts().satellite
    assert [s.terminals(h) for h in (0, 1, 40, 41, 80, 81, float("nan"))] == [1, 1, 1, 2, 2, 3, 1]


def test_the_documented_costs_file_is_the_defaults() -> None:
    """docs/PLAN.md's costs file reads, and holds exactly the defaults."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "PLAN.md").read_text(encoding="utf-8")
    block = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    values = tomllib.loads(block)
    pc, top = PlanCosts.from_mapping(values, source="docs/PLAN.md")
    assert pc == PlanCosts()
    site = CostModel.from_mapping(top, source="docs/PLAN.md")
    assert site == CostModel()
    # every plan table and key is documented
    assert set(values) - set(top) == set(PlanCosts().as_dict())
    for name, table in PlanCosts().as_dict().items():
        assert set(values[name]) == set(table), name
