"""``deadzone coverage`` on a small synthetic DEM."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from click.testing import CliRunner

import deadzone
from deadzone.cli.main import cli
from deadzone.data.io import write_raster
from tests.conftest import small_scenario
from tests.landcover import write_landcover


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


def _hilly_inputs(tmp_path: Path) -> tuple[Path, Path]:
    rr, cc = np.mgrid[0:300, 0:300].astype(np.float64)
    z = (150.0 + 60.0 * np.sin(rr / 23.0) * np.cos(cc / 31.0) + 0.2 * rr).astype(np.float32)
    s = small_scenario(z=z, towers=[
        {"x": 1500, "y": 1200},
        {"x": 6000, "y": 5000, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
        {"x": 7800, "y": 1500, "tech": "4G", "freq_mhz": 700.0, "eirp_dbm": 58.0},
    ])
    dem_path = write_raster(tmp_path / "dem.tif", s.dem.elevation_m, s.dem.transform, s.dem.crs)
    towers_path = tmp_path / "towers.csv"
    pd.DataFrame(s.towers.drop(columns="geometry")).to_csv(towers_path, index=False)
    return dem_path, towers_path


def test_max_memory_forces_tiles_with_the_same_rasters(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import deadzone.geo.tiled as tiled

    dem_path, towers_path = _hilly_inputs(tmp_path)
    base = ["coverage", "--dem", str(dem_path), "--towers", str(towers_path), "--radius-km",
            "3", "--model", "knife", "--per-band", "--threads", "2"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "mem"), "--quiet"])
    assert res.exit_code == 0, res.output
    # Measured RSS differs between runs: plan as if the process used nothing, so
    # 121 MB leaves ~3.5 MB after GDAL's cache and the margin: a few tiles.
    monkeypatch.setattr(tiled, "process_rss_bytes", lambda: 0)
    res = CliRunner().invoke(
        cli, [*base, "--out", str(tmp_path / "tiles"), "--max-memory", "121MB"])
    assert res.exit_code == 0, res.output
    m = re.search(r"windowed: 300x300 grid in (\d+) tiles", res.stderr)
    assert m is not None and int(m.group(1)) > 1, res.stderr
    names = sorted(p.name for p in (tmp_path / "mem").iterdir())
    assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == names  # no temp left
    assert "signal_4G-700_dbm.tif" in names
    for name in names:
        if not name.endswith(".tif"):
            continue
        with rasterio.open(tmp_path / "mem" / name) as a, \
                rasterio.open(tmp_path / "tiles" / name) as b:
            assert b.overviews(1)  # still cloud-optimized
            assert (a.dtypes, a.transform, a.crs) == (b.dtypes, b.transform, b.crs)
            assert a.nodata == b.nodata or (np.isnan(a.nodata) and np.isnan(b.nodata))
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)
    assert (tmp_path / "mem" / "servers.csv").read_text() == \
        (tmp_path / "tiles" / "servers.csv").read_text()
    meta = [json.loads((tmp_path / d / "coverage.json").read_text()) for d in ("mem", "tiles")]
    assert meta[0] == meta[1]


def test_max_memory_with_landcover_gives_the_in_memory_rasters(tmp_path: Path,
                                                               monkeypatch) -> None:  # noqa: ANN001
    import deadzone.geo.tiled as tiled

    dem_path, towers_path = _hilly_inputs(tmp_path)
    lc = write_landcover(tmp_path / "worldcover.tif", tiled.DiskDem(dem_path), crs="lonlat")
    base = ["coverage", "--dem", str(dem_path), "--towers", str(towers_path), "--radius-km",
            "3", "--model", "knife", "--per-band", "--threads", "2"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "bare"), "--quiet"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "mem"), "--quiet",
                                   "--landcover", str(lc)])
    assert res.exit_code == 0, res.output
    # Plan as if the process used nothing: 128 MB leaves ~10.6 MB after GDAL's
    # cache and the margin, of which one tower with its land cover takes ~7.3.
    monkeypatch.setattr(tiled, "process_rss_bytes", lambda: 0)
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "tiles"), "--max-memory",
                                   "128MB", "--landcover", str(lc)])
    assert res.exit_code == 0, res.output
    m = re.search(r"windowed: 300x300 grid in (\d+) tiles", res.stderr)
    assert m is not None and int(m.group(1)) > 1, res.stderr
    names = sorted(p.name for p in (tmp_path / "mem").iterdir())
    assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == names
    for name in [n for n in names if n.endswith(".tif")]:
        with rasterio.open(tmp_path / "mem" / name) as a, \
                rasterio.open(tmp_path / "tiles" / name) as b:
            assert (a.transform, a.crs) == (b.transform, b.crs)
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)
    with rasterio.open(tmp_path / "bare" / "rx_dbm.tif") as a, \
            rasterio.open(tmp_path / "tiles" / "rx_dbm.tif") as b:
        bare, clutter = a.read(1), b.read(1)
    both = np.isfinite(bare) & np.isfinite(clutter)
    assert (bare[both] != clutter[both]).mean() > 0.5  # the land cover was used
    meta = [json.loads((tmp_path / d / "coverage.json").read_text()) for d in ("mem", "tiles")]
    assert meta[0] == meta[1] and "clutter" in meta[1]["parameters"]


def test_max_memory_errors_are_one_line(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import deadzone.geo.tiled as tiled

    dem_path, towers_path = _hilly_inputs(tmp_path)
    base = ["coverage", "--dem", str(dem_path), "--towers", str(towers_path), "--radius-km",
            "3", "--model", "fspl", "--quiet"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "a"), "--max-memory", "lots"])
    assert res.exit_code == 2 and "error: max memory was 'lots'" in res.output
    monkeypatch.setattr(tiled, "process_rss_bytes", lambda: 0)
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b"), "--max-memory", "100MB"])
    assert res.exit_code == 2, res.output
    assert "is too small" in res.output and "smallest budget that works" in res.output
    assert len(res.output.strip().splitlines()) == 1
    # Land cover in tiles (the in-memory loader is never called): a file that
    # is not a raster, and one (the DEM) whose values are no land-cover class:
    # one line each, naming the file.
    import deadzone.cli.coverage as cli_coverage

    def in_memory(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the in-memory path was taken")

    monkeypatch.setattr(cli_coverage, "load_landcover", in_memory)
    notes = tmp_path / "notes.tif"
    notes.write_text("not a raster\n")
    for lc, expected in ((notes, f"error: {notes}: not a readable land-cover raster"),
                         (dem_path, f"error: {dem_path}: land-cover class value(s) [")):
        res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "c"), "--max-memory",
                                       "128MB", "--threads", "2", "--landcover", str(lc)])
        assert res.exit_code == 2, res.output
        assert res.output.startswith(expected), res.output
        assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
        assert not (tmp_path / "c" / "rx_dbm.tif").exists()


def test_max_memory_warps_a_geographic_dem_to_disk(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from affine import Affine

    import deadzone.geo.tiled as tiled

    n = 330  # 1 arc-second cells (~29 x 31 m at 21.5 N), SRTM-like int16 with a void
    rr, cc = np.mgrid[0:n, 0:n].astype(np.float64)
    z = (300 + 80 * np.sin(rr / 17) * np.cos(cc / 29) + 0.3 * cc).astype(np.int16)
    z[100:104, 50:60] = -32768
    dem = write_raster(tmp_path / "geo.tif", z, Affine(1 / 3600, 0, 105.5, 0, -1 / 3600, 21.6),
                       "EPSG:4326")
    towers = tmp_path / "t.csv"
    pd.DataFrame({"tower_id": ["A", "B"], "lon": [105.53, 105.58], "lat": [21.57, 21.53],
                  "tech": ["2G", "4G"], "freq_mhz": [900, 1800], "eirp_dbm": [58, 61],
                  "height_m": [30, 35]}).to_csv(towers, index=False)
    base = ["coverage", "--dem", str(dem), "--towers", str(towers), "--radius-km", "3",
            "--model", "knife", "--quiet"]
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "mem")])
    assert res.exit_code == 0, res.output
    monkeypatch.setattr(tiled, "process_rss_bytes", lambda: 0)
    res = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "tiles"), "--max-memory",
                                   "121MB"])
    assert res.exit_code == 0, res.output
    assert "(warped to a metric grid)" in res.output  # the void warning names the input
    assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == sorted(
        p.name for p in (tmp_path / "mem").iterdir())  # the warped copy is gone
    with rasterio.open(tmp_path / "mem" / "rx_dbm.tif") as a, \
            rasterio.open(tmp_path / "tiles" / "rx_dbm.tif") as b:
        assert (a.shape, a.transform, a.crs) == (b.shape, b.transform, b.crs)  # same UTM grid
        x, y = a.read(1), b.read(1)
    assert (np.isnan(x) == np.isnan(y)).all()
    # Voids are filled after the warp here, before it in memory: equal away from them.
    same = (x == y) | np.isnan(x)
    assert same.mean() > 0.99
