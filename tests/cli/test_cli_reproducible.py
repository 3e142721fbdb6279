"""Same inputs -> byte-identical ``deadzone audit`` outputs, with provenance inside.

No output of ``deadzone audit`` holds a timestamp or a random id:

* ``summary.json`` has no timestamp field at all (when a run happened is the
  files' modification time), so there is nothing to normalise;
* GeoPackages get a fixed ``gpkg_contents.last_change``
  (:func:`deadzone.data.io.gpkg_timestamp`) instead of the wall clock;
* ``map.html`` gets sequential element ids instead of branca's random ones;
* GeoTIFFs carry no ``TIFFTAG_DATETIME`` (rasterio writes none unless asked).

The two runs differ in every way that must not matter: one in a subprocess
with its own hash seed, one in this process, different output folders.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

import deadzone
from deadzone.cli.main import cli
from deadzone.data.io import gpkg_timestamp, write_scenario
from deadzone.data.loaders import file_checksum
from deadzone.geo.export import AUDIT_FILES
from tests.conftest import small_scenario

ROOT = Path(__file__).resolve().parents[2]


def _hilly_inputs(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:200, 0:200]
    z = 300 + 250 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 5, (200, 200))
    villages = [tuple(v) for v in rng.uniform(100, 5900, size=(25, 2))]
    towers = [{"x": 3000, "y": 3000}, {"x": 1200, "y": 4800, "tech": "4G", "freq_mhz": 1800.0}]
    write_scenario(small_scenario(z=z.astype(np.float32), villages=villages, towers=towers), folder)
    return {
        "dem": folder / "dem.tif",
        "villages": folder / "villages.csv",
        "communes": folder / "communes.gpkg",
        "towers": folder / "towers.csv",
    }


def test_same_inputs_give_byte_identical_outputs(tmp_path: Path) -> None:
    inputs = _hilly_inputs(tmp_path / "in")
    args = ["audit", *(a for k, p in inputs.items() for a in (f"--{k}", str(p)))]
    args += ["--radius-km", "3", "-q"]
    a, b = tmp_path / "a", tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "12345"}
    env.pop("SOURCE_DATE_EPOCH", None)
    proc = subprocess.run(
        [sys.executable, "-m", "deadzone", *args, "--out", str(a), "--threads", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    res = CliRunner().invoke(cli, [*args, "--out", str(b), "--threads", "1"])
    assert res.exit_code == 0, res.output

    names = sorted(p.name for p in a.iterdir())
    # One metric raster per technology of the towers (a 2G and a 4G tower).
    assert names == sorted((*AUDIT_FILES, "signal_2G_dbm.tif", "signal_4G_dbm.tif", "map.html"))
    assert sorted(p.name for p in b.iterdir()) == names
    differ = [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]
    assert differ == []

    # Provenance: version, parameters and the SHA-256 of every input.
    summary = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    assert summary["deadzone_version"] == deadzone.__version__
    assert summary["parameters"]["model"] == "itm"
    assert summary["parameters"]["radius_km"] == 3.0
    assert summary["parameters"]["thresholds"]["covered_dbm"]["2G"] == -100.0
    assert summary["inputs"] == {
        k: {"path": str(p), "sha256": file_checksum(p)} for k, p in inputs.items()
    }
    assert summary["input_options"]["default_tech"] == "4G"  # how the inputs were read
    assert summary["input_options"]["village_id_col"] is None  # auto-detected
    # The fixed GeoPackage time, and no date tag in the rasters.
    for gpkg in ("villages.gpkg", "communes.gpkg"):
        with sqlite3.connect(a / gpkg) as con:
            stamps = {r[0] for r in con.execute("SELECT last_change FROM gpkg_contents")}
        assert stamps == {"1970-01-01T00:00:00.000Z"}
    for tif in ("coverage.tif", "best_server.tif"):
        with rasterio.open(a / tif) as src:
            assert "TIFFTAG_DATETIME" not in src.tags()


def test_gpkg_timestamp_follows_source_date_epoch(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert gpkg_timestamp() == "1970-01-01T00:00:00.000Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert gpkg_timestamp() == "2023-11-14T22:13:20.000Z"
    for bad in ("soon", "-5", "1e9", "9" * 30):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
        assert gpkg_timestamp() == "1970-01-01T00:00:00.000Z"


def test_summary_records_absolute_input_paths(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative input paths are recorded resolved, so that a later command run from
    another folder (``deadzone map --audit``) still finds the towers file."""
    inputs = _hilly_inputs(tmp_path / "in")
    monkeypatch.chdir(tmp_path / "in")
    args = ["audit", *(a for k, p in inputs.items() for a in (f"--{k}", p.name))]
    res = CliRunner().invoke(cli, [*args, "--radius-km", "3", "-q", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    for k, p in inputs.items():
        assert summary["inputs"][k]["path"] == str(p.resolve())
    # the audit's rasters are Cloud-Optimized GeoTIFFs, as `deadzone coverage` writes
    import rasterio

    for name in ("coverage.tif", "best_server.tif", "signal_2G_dbm.tif", "signal_4G_dbm.tif"):
        with rasterio.open(tmp_path / "a" / name) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG", name
