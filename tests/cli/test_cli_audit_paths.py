"""``deadzone audit --no-rasters``: the same tables as with rasters, no rasters or map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from scipy import ndimage

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import small_scenario


def _inputs(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(3)
    z = ndimage.gaussian_filter(100.0 + 500.0 * rng.random((160, 160)), 4.0).astype(np.float32)
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 4600, size=(40, 2))]
    scen = small_scenario(z=z, villages=vil, towers=[
        {"x": 1200.0, "y": 1500.0, "tech": "2G", "freq_mhz": 900.0, "eirp_dbm": 45.0},
        {"x": 3600.0, "y": 3300.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 58.0},
    ])
    d = tmp_path / "in"
    write_scenario(scen, d)
    return ["--dem", str(d / "dem.tif"), "--villages", str(d / "villages.gpkg"),
            "--communes", str(d / "communes.gpkg"), "--towers", str(d / "towers.csv"),
            "--radius-km", "5"]


def test_no_rasters_gives_the_same_tables_without_rasters(tmp_path: Path) -> None:
    args = _inputs(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    r1 = CliRunner().invoke(cli, ["audit", *args, "--out", str(a)])
    assert r1.exit_code == 0, r1.output
    r2 = CliRunner().invoke(cli, ["audit", *args, "--no-rasters", "--out", str(b)])
    assert r2.exit_code == 0, r2.output
    assert "no rasters or map (--no-rasters)" in r2.output
    for name in ("villages.csv", "communes.csv", "provinces.csv", "servers.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(a / name), pd.read_csv(b / name))
    for name in ("coverage.tif", "best_server.tif", "signal_2G_dbm.tif", "map.html"):
        assert (a / name).is_file() and not (b / name).exists(), name
    s = json.loads((b / "summary.json").read_text(encoding="utf-8"))
    assert s["parameters"]["rasters"] is False
    assert s["parameters"]["village_method"].startswith("exact tower-to-village paths")
    v = pd.read_csv(b / "villages.csv")
    assert set(v["status_tech"].dropna()) <= {"2G", "4G"}
    # the status is the rule applied to the shown metric of status_tech
    for _, row in v[v["status"] != "unknown"].iterrows():
        val = row[f"signal_{row['status_tech'].lower()}_dbm"]
        cov = -100.0 if row["status_tech"] == "2G" else -110.0
        assert (row["status"] == "covered") == (val >= cov)
    # rerunning with rasters into the table-only folder adds them back (--overwrite)
    r3 = CliRunner().invoke(cli, ["audit", *args, "--overwrite", "--out", str(b)])
    assert r3.exit_code == 0 and (b / "coverage.tif").is_file()
