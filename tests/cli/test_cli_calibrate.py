"""``deadzone calibrate`` end to end, and audits that apply its calibration."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.app.calibrate import DEMO_TRUTH
from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import demo_villages_only


def _run(args: list[str]) -> object:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def cal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cal") / "cal"
    r = _run(["calibrate", "--demo", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo") / "inputs"
    write_scenario(demo_villages_only(0), d)
    return d


def _audit_args(inputs: Path, out: Path) -> list[str]:
    return ["audit", "--dem", str(inputs / "dem.tif"), "--villages",
            str(inputs / "villages.gpkg"), "--communes", str(inputs / "communes.gpkg"),
            "--towers", str(inputs / "towers.csv"), "--no-rasters", "--out", str(out)]


def test_calibrate_demo_recovers_the_known_truth(cal: Path) -> None:
    doc = json.loads((cal / "calibration.json").read_text(encoding="utf-8"))
    assert doc["applied"] is True, doc["result"]
    c = doc["calibration"]
    assert c["model"] == "itm"
    for tech, off in DEMO_TRUTH["offsets_db"].items():
        assert abs(c["offsets_db"][tech] - off) < 1.5, c
    assert abs(c["sigma_db"] - DEMO_TRUTH["sigma_db"]) < 1.0
    # every sample once, in order, with why it was not used
    res = pd.read_csv(cal / "residuals.csv", encoding="utf-8-sig")
    assert res["sample_id"].is_unique and res["sample_id"].iloc[0] == "S1"
    assert len(res) == doc["measurements"]["n_samples"]
    assert (res.loc[~res["used"], "note"].notna()).all()
    # every village once, with its measured status or no_samples
    v = pd.read_csv(cal / "villages_measured.csv", encoding="utf-8-sig")
    assert len(v) == 800 and v["village_id"].is_unique
    assert set(v["measured_status"]) <= {"covered", "marginal", "dead", "no_samples"}
    fv = pd.read_csv(cal / "field_visits.csv", encoding="utf-8-sig")
    assert sorted(fv["village_id"]) == sorted(v.loc[v["agrees"].eq(False), "village_id"])
    assert len(fv) and (fv["measured_status"] != fv["calibrated_status"]).all()
    # the summary is written last and lists every other file with its checksum
    assert set(doc["outputs"]) == {p.name for p in cal.iterdir()} - {"calibration.json"}
    html = (cal / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 4 and "http" not in html.split("<body>")[1]


def test_calibrate_refuses_to_overwrite(cal: Path) -> None:
    r = CliRunner().invoke(cli, ["calibrate", "--demo", "--out", str(cal)])
    assert r.exit_code != 0
    assert "already exists" in r.output and "--overwrite" in r.output
    assert "Traceback" not in r.output


def test_audit_applies_the_calibration_and_a_confidence(cal: Path, inputs: Path,
                                                        tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    assert _run(_audit_args(inputs, plain)).exit_code == 0
    out = tmp_path / "cal90"
    r = _run([*_audit_args(inputs, out), "--calibration", str(cal), "--confidence", "90"])
    assert r.exit_code == 0, r.output
    assert "statuses at 90% confidence" in r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    src = s["parameters"]["calibration"]["source"]
    assert src["path"] == str((cal / "calibration.json").resolve()) and len(src["sha256"]) == 64
    assert s["parameters"]["thresholds"]["confidence_pct"] == 90.0
    v = pd.read_csv(out / "villages.csv", encoding="utf-8-sig")
    v0 = pd.read_csv(plain / "villages.csv", encoding="utf-8-sig")
    assert "p_covered" in v.columns and "p_covered" not in v0.columns
    assert (v.loc[v["status"] == "covered", "p_covered"] >= 0.9 - 1e-9).all()
    # the demo truth is weaker than ITM predicts: calibrated, fewer villages are covered
    assert (v["status"] == "covered").sum() < (v0["status"] == "covered").sum()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--confidence", "90"], "--confidence needs --calibration"),
        (["--calibration", "CAL", "--model", "knife"], "made for itm"),
    ],
)
def test_bad_calibration_options_are_one_line_errors(cal: Path, inputs: Path, tmp_path: Path,
                                                     extra: list[str], message: str) -> None:
    args = [*_audit_args(inputs, tmp_path / "x"), *[str(cal) if a == "CAL" else a
                                                    for a in extra]]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_calibration_that_applied_nothing_is_refused(cal: Path, inputs: Path,
                                                       tmp_path: Path) -> None:
    doc = json.loads((cal / "calibration.json").read_text(encoding="utf-8"))
    doc.update(applied=False, calibration=None, result="too few usable samples")
    bad = tmp_path / "calibration.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    r = CliRunner().invoke(cli, [*_audit_args(inputs, tmp_path / "x"), "--calibration",
                                 str(bad)])
    assert r.exit_code == 2 and "nothing to apply" in r.output, r.output


def test_measurements_without_technology_name_the_fix(inputs: Path, tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text("lon,lat,rsrp\n104.9,22.3,-95\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["calibrate", "--measurements", str(f), "--scenario",
                                 str(inputs), "--out", str(tmp_path / "c")])
    assert r.exit_code == 2, r.output
    assert "m.csv" in r.output and "--tech" in r.output, r.output
