"""``deadzone coverage --model p526`` on the real SRTM tile (fails when the data is missing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from deadzone.cli.main import cli
from tests.conftest import shared_file

pytestmark = pytest.mark.slow


def test_p526_coverage_on_real_srtm_tile(shared_data: Path, tmp_path: Path) -> None:
    dem = shared_file(shared_data, "srtm3/N21E105.hgt")
    towers = tmp_path / "towers.csv"
    pd.DataFrame({
        "tower_id": ["A", "B", "C"],
        "lon": [105.45, 105.62, 105.30], "lat": [21.55, 21.40, 21.70],
        "tech": ["2G", "4G", "4G"],
    }).to_csv(towers, index=False)
    rx = {}
    for model in ("p526", "knife"):
        out = tmp_path / model
        res = CliRunner().invoke(cli, ["coverage", "--dem", str(dem), "--towers", str(towers),
                                       "--out", str(out), "--model", model, "--radius-km", "12",
                                       "--quiet"])
        assert res.exit_code == 0, res.output
        with rasterio.open(out / "rx_dbm.tif") as ds:
            rx[model] = ds.read(1).astype(np.float64)
        meta = json.loads((out / "coverage.json").read_text())
        assert meta["parameters"]["model"] == model
    both = np.isfinite(rx["p526"]) & np.isfinite(rx["knife"])
    assert both.sum() > 100_000
    # delta-Bullington = the knife edge + non-negative terms, so never more signal
    assert np.all(rx["p526"][both] <= rx["knife"][both] + 1e-3)
    # and on this mountainous tile the multiple-edge and spherical terms bite
    assert np.median(rx["knife"][both] - rx["p526"][both]) > 1.0
