"""``deadzone calibrate`` on real data: the SRTM N21E105 tile, the 2025 communes,
OSM settlements as villages, a 4G tower at every fourth commune centre, and a
drive along the national roads on the tile whose values are a known truth
(the ITM prediction on the real terrain, -5 dB, 7 dB shadowing, 1 dB noise)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
from click.testing import CliRunner

from deadzone.app.scenario import load_audit_scenario
from deadzone.cli.main import cli
from deadzone.data.loaders import write_measurements
from deadzone.errors import DeadzoneWarning
from deadzone.geo.coverage import EngineParams
from deadzone.geo.truth import SyntheticTruth
from tests.conftest import TILE, real_tile_inputs, shared_file

RADIUS = ["--radius-km", "15"]


def test_calibrate_then_audit_on_the_real_tile(shared_data: Path, tmp_path: Path) -> None:
    dem, communes, s, _ = real_tile_inputs(shared_data, tmp_path)
    with warnings.catch_warnings():  # the settlements' missing households (said by audit)
        warnings.simplefilter("ignore", DeadzoneWarning)
        scenario = load_audit_scenario(dem, tmp_path / "villages.geojson", communes,
                                       tmp_path / "towers.csv", radius_km=15.0)
    roads = gpd.read_file(shared_file(shared_data, "vn_roads_national/giaothong.geojson"),
                          bbox=TILE)
    scenario.roads = roads.clip(TILE)
    truth = SyntheticTruth(scenario, params=EngineParams(model="itm", radius_km=15.0),
                           offsets_db={"4G": -5.0}, sigma_db=7.0, noise_db=1.0, seed=3)
    drive = truth.drive(spacing_m=50.0, seed=3)
    assert len(drive) > 2000
    meas = write_measurements(drive, tmp_path / "drive.csv", format="generic")

    out = tmp_path / "cal"
    r = CliRunner().invoke(cli, ["calibrate", "--measurements", str(meas), "--dem", str(dem),
                                 "--towers", str(tmp_path / "towers.csv"), "--models",
                                 "itm,knife", "--block-km", "3", *RADIUS, "--out", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert doc["applied"], doc["result"]
    cal = doc["calibration"]
    assert cal["model"] == "itm"
    assert abs(cal["offsets_db"]["4G"] - (-5.0)) < 1.0, cal
    assert abs(cal["sigma_db"] - truth.residual_sigma_db) < 1.0

    audit_args = ["audit", "--dem", str(dem), "--villages", str(tmp_path / "villages.geojson"),
                  "--communes", str(communes), "--towers", str(tmp_path / "towers.csv"),
                  "--no-rasters", *RADIUS]
    plain = tmp_path / "plain"
    fixed = tmp_path / "fixed"
    assert CliRunner().invoke(cli, [*audit_args, "--out", str(plain)]).exit_code == 0
    r = CliRunner().invoke(cli, [*audit_args, "--calibration", str(out), "--out", str(fixed)])
    assert r.exit_code == 0, r.output
    a = json.loads((plain / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((fixed / "summary.json").read_text(encoding="utf-8"))
    assert b["parameters"]["calibration"]["offsets_db"] == cal["offsets_db"]
    # measured 5 dB weaker than ITM says: fewer villages covered once calibrated
    assert b["villages_covered"] < a["villages_covered"]
    assert b["villages_total"] == a["villages_total"] == len(s)
