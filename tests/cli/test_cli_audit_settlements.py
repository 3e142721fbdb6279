"""``deadzone audit`` with a population raster in its scenario: the settlement options reach
the audit, the files and the map (the raster itself comes with ``--population-raster``;
here the scenario loader is stubbed to return a scenario that has one)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import deadzone.cli.audit as audit_cli
from deadzone.cli.main import cli
from tests.settlement_fixtures import settlement_scenario


@pytest.fixture
def stub_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(audit_cli, "load_audit_scenario",
                        lambda *a, **k: settlement_scenario())
    args = []
    for opt in ("--dem", "--villages", "--communes", "--towers"):
        p = tmp_path / f"{opt[2:]}.txt"
        p.write_text("stub")
        args += [opt, str(p)]
    return args


def _audit(args: list[str], out: Path, *extra: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["audit", *args, "--out", str(out), "--model", "knife",
                                    "--radius-km", "3", *extra])


def test_audit_cli_writes_and_draws_settlements(stub_inputs: list[str], tmp_path: Path) -> None:
    res = _audit(stub_inputs, tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert "unlisted settlements: 540 people in 1 unlisted settlement, 540 of them in dead " \
        "zones" in res.output
    assert "unlisted_settlements.gpkg, unlisted_settlements.csv" in res.output
    html = (tmp_path / "a" / "map.html").read_text(encoding="utf-8")
    assert "Unlisted settlements (1; ~540 people)" in html
    # the options reach the audit: 600 people needed, none found; 0 km: the cluster by V0 too
    res = _audit(stub_inputs, tmp_path / "b", "--settlement-min-people", "600")
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "b" / "unlisted_settlements.csv")) == 0
    res = _audit(stub_inputs, tmp_path / "c", "--settlement-min-distance-km", "0")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "c" / "summary.json").read_text(encoding="utf-8"))
    assert summary["unlisted_settlements"]["settlements"] == 2
    assert summary["unlisted_settlements"]["parameters"]["min_distance_km"] == 0.0


def test_audit_cli_rejects_bad_settlement_options(stub_inputs: list[str],
                                                  tmp_path: Path) -> None:
    res = _audit(stub_inputs, tmp_path / "a", "--settlement-min-people", "-5")
    assert res.exit_code == 2 and "--settlement-min-people" in res.output
