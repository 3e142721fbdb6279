"""``deadzone coverage`` on a small synthetic DEM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from click.testing import CliRunner

import deadzone
from deadzone.cli.main import cli
from deadzone.data.io import write_raster
from tests.conftest import small_scenario


def test_coverage_writes_cogs_equal_to_the_api(tmp_path: Path) -> None:
    s = small_scenario(towers=[{"x": 3000, "y": 3000}, {"x": 6000, "y": 6000, "tech": "4G",
                                                         "freq_mhz": 1800.0, "eirp_dbm": 61.0}])
    dem_path = write_raster(tmp_path / "dem.tif", s.dem.elevation_m, s.dem.transform, s.dem.crs)
    towers_path = tmp_path / "towers.csv"
    pd.DataFrame(s.towers.drop(columns="geometry")).to_csv(towers_path, index=False)
    out = tmp_path / "cov"
    args = ["coverage", "--dem", str(dem_path), "--towers", str(towers_path), "--out", str(out),
            "--radius-km", "5", "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    api = deadzone.coverage(s.dem, s.towers, radius_km=5.0)
    with rasterio.open(out / "rx_dbm.tif") as ds:
        assert ds.overviews(1)  # cloud-optimized: internal overviews
        rx = ds.read(1)
    np.testing.assert_array_equal(rx, api.rx.best_dbm)
    with rasterio.open(out / "best_server.tif") as ds:
        assert set(np.unique(ds.read(1))) <= {-1, 0, 1}
    with rasterio.open(out / "overlap.tif") as ds:
        assert ds.read(1).max() <= 2
    meta = json.loads((out / "coverage.json").read_text())
    assert meta["parameters"]["radius_km"] == 5.0
    assert pd.read_csv(out / "servers.csv")["tower_id"].tolist() == ["T0", "T1"]
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_per_band_rasters(tmp_path: Path) -> None:
    s = small_scenario(towers=[
        {"x": 3000, "y": 3000, "tech": "4G", "freq_mhz": 700.0, "eirp_dbm": 61.0},
        {"x": 6000, "y": 6000, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
    ])
    dem_path = write_raster(tmp_path / "dem.tif", s.dem.elevation_m, s.dem.transform, s.dem.crs)
    towers_path = tmp_path / "towers.csv"
    pd.DataFrame(s.towers.drop(columns="geometry")).to_csv(towers_path, index=False)
    out = tmp_path / "cov"
    res = CliRunner().invoke(cli, ["coverage", "--dem", str(dem_path), "--towers",
                                   str(towers_path), "--out", str(out), "--radius-km", "4",
                                   "--per-band", "--quiet"])
    assert res.exit_code == 0, res.output
    api = deadzone.coverage(s.dem, s.towers, radius_km=4.0, per_band=True)
    assert sorted(api.by_band) == ["4G-1800", "4G-700"]
    with rasterio.open(out / "signal_4G-700_dbm.tif") as ds:
        low = ds.read(1)
    with rasterio.open(out / "best_server_4G-1800.tif") as ds:
        assert set(np.unique(ds.read(1))) <= {-1, 1}
    np.testing.assert_array_equal(low, api.by_band["4G-700"].best_dbm)
    # the per-technology composite is the best of its bands
    both = np.fmax(api.by_band["4G-700"].best_dbm, api.by_band["4G-1800"].best_dbm)
    np.testing.assert_array_equal(both, api.by_tech["4G"].best_dbm)
