"""Tiled (windowed, memory-bounded) coverage equals the in-memory computation."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from deadzone.data.io import write_raster
from deadzone.data.loaders import load_dem
from deadzone.errors import CRSError, DeadzoneWarning, ParameterError
from deadzone.geo.clutter import CATEGORIES, load_landcover
from deadzone.geo.coverage import compute_coverage
from deadzone.geo.tiled import (
    DiskDem,
    format_bytes,
    overhead_bytes,
    parse_memory,
    physical_memory_bytes,
    plan_tiles,
    tiled_coverage,
)
from deadzone.kernels.coverage import Composite
from tests.conftest import small_scenario
from tests.landcover import write_landcover


def _terrain(rows: int, cols: int, seed: int = 3) -> np.ndarray:
    """Smooth random hills (m): a few Gaussian bumps on a tilted plane."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:rows, 0:cols].astype(np.float64)
    z = 200.0 + 0.3 * rr
    for _ in range(12):
        r0, c0 = rng.uniform(0, rows), rng.uniform(0, cols)
        z += rng.uniform(20, 120) * np.exp(
            -((rr - r0) ** 2 + (cc - c0) ** 2) / (2 * rng.uniform(5, 25) ** 2)
        )
    return z.astype(np.float32)


_TOWERS = [
    {"x": 600, "y": 900},  # near the top-left corner
    {"x": 3900, "y": 3100, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
    {
        "x": 6800,
        "y": 5500,
        "tech": "4G",
        "freq_mhz": 700.0,
        "eirp_dbm": 58.0,
        "azimuth_deg": 200.0,
        "beamwidth_deg": 65.0,
    },
    {"x": 2000, "y": 5800, "eirp_dbm": 40.0},  # low power: short reach
    {"x": 99_000, "y": 99_000},  # outside the DEM
]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    z = _terrain(210, 250)
    s = small_scenario(z=z, towers=_TOWERS)
    path = tmp_path_factory.mktemp("tiled") / "dem.tif"
    write_raster(path, s.dem.elevation_m, s.dem.transform, s.dem.crs)
    return s, path


def _assemble(run, attr: str = "rx", key: str | None = None) -> dict[str, np.ndarray]:  # noqa: ANN001
    rows, cols = run.shape
    out = {
        "best_dbm": np.full((rows, cols), np.inf, np.float32),
        "best_server": np.full((rows, cols), -7, np.int32),
        "second_dbm": np.full((rows, cols), np.inf, np.float32),
        "n_servers": np.full((rows, cols), 999, np.uint16),
    }
    by: dict[str, dict[str, np.ndarray]] = {}
    for (r0, c0, h, w), tile in run.tiles():
        comps: dict[str, Composite] = {"rx": tile.rx}
        comps.update({f"tech:{k}": v for k, v in tile.by_tech.items()})
        comps.update({f"band:{k}": v for k, v in tile.by_band.items()})
        for name, comp in comps.items():
            d = by.setdefault(name, {k: v.copy() for k, v in out.items()})
            for f in d:
                d[f][r0 : r0 + h, c0 : c0 + w] = getattr(comp, f)
    return by


def _assert_equal(by: dict[str, dict[str, np.ndarray]], cov) -> None:  # noqa: ANN001
    comps = {
        "rx": cov.rx,
        **{f"tech:{k}": v for k, v in cov.by_tech.items()},
        **{f"band:{k}": v for k, v in cov.by_band.items()},
    }
    assert sorted(by) == sorted(comps)
    for name, comp in comps.items():
        for f in ("best_dbm", "best_server", "second_dbm", "n_servers"):
            np.testing.assert_array_equal(by[name][f], getattr(comp, f), err_msg=f"{name}.{f}")


@pytest.mark.parametrize("model", ["knife", "fspl"])
def test_tiled_equals_in_memory_cell_for_cell(scenario, model: str) -> None:  # noqa: ANN001
    s, path = scenario
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)  # the tower outside the DEM
        cov = compute_coverage(
            load_dem(path), s.towers, model=model, radius_km=3.0, per_band=True, n_threads=2
        )
        run = tiled_coverage(
            DiskDem(path),
            s.towers,
            model=model,
            radius_km=3.0,
            per_band=True,
            n_threads=2,
            max_memory_bytes=10**9,
            base_bytes=0,
            tile_shape=(37, 53),
        )
    assert np.isfinite(cov.rx.best_dbm).mean() > 0.5
    assert (cov.rx.n_servers >= 2).any()  # overlaps cross tile edges
    by = _assemble(run)
    _assert_equal(by, cov)
    assert run.stats.tiles == 6 * 5
    # Every computed tower computed once, then reused from the cache.
    assert run.stats.computed == 4 and run.stats.recomputed == 0 and run.stats.reused > 0


@pytest.mark.parametrize(
    ("model", "lc_crs"), [("knife", "utm"), ("knife", "lonlat"), ("itm", "utm")]
)
def test_tiled_with_landcover_equals_in_memory_cell_for_cell(
    scenario, tmp_path: Path, model: str, lc_crs: str
) -> None:  # noqa: ANN001
    s, path = scenario
    lc = write_landcover(tmp_path / "lc.tif", s.dem, crs=lc_crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)  # the tower outside the DEM
        dem = load_dem(path)
        clutter = load_landcover(lc, dem)
        kw = dict(model=model, radius_km=3.0, per_band=True, n_threads=2)
        cov = compute_coverage(dem, s.towers, clutter=clutter, **kw)
        bare = compute_coverage(dem, s.towers, **kw)

        def run_tiled():  # noqa: ANN202
            return tiled_coverage(DiskDem(path), s.towers, max_memory_bytes=10**9, base_bytes=0,
                                  tile_shape=(37, 53), landcover=lc, **kw)

        run = run_tiled()
        by = _assemble(run)
        uncached = run_tiled()
        uncached.plan = replace(uncached.plan, cache_bytes=0)
        by_uncached = _assemble(uncached)
    names = {CATEGORIES[c].name for c in np.unique(clutter)}
    assert {"none", "water-sea", "open-rural", "urban-trees-forest"} <= names
    reached = np.isfinite(bare.rx.best_dbm)
    assert (cov.rx.best_dbm[reached] != bare.rx.best_dbm[reached]).mean() > 0.5  # clutter counts
    _assert_equal(by, cov)
    assert run.parameters == cov.parameters and "clutter" in run.parameters
    assert run.stats.computed == 4 and run.stats.reused > 0
    # Recomputed towers read their land cover again: the same result.
    _assert_equal(by_uncached, cov)
    assert uncached.stats.recomputed > 0


def test_landcover_windows_count_in_the_memory_plan(scenario, tmp_path: Path) -> None:  # noqa: ANN001
    import tracemalloc

    s, path = scenario
    lc = write_landcover(tmp_path / "lc.tif", s.dem, crs="lonlat")
    kw = dict(model="knife", radius_km=2.0, n_threads=1, base_bytes=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        # A budget that holds one tower without land cover and a 64x64 tile ...
        budget = overhead_bytes(0) + 1_413_850 + 64 * 64 * 14 * 3  # rx, 2G and 4G
        tiled_coverage(DiskDem(path), s.towers, max_memory_bytes=budget, **kw)
        # ... is too small once its land-cover window and resampling are counted.
        with pytest.raises(ParameterError, match="is too small"):
            tiled_coverage(DiskDem(path), s.towers, max_memory_bytes=budget, landcover=lc, **kw)
        budget += 5_300_000
        run = tiled_coverage(DiskDem(path), s.towers, max_memory_bytes=budget, landcover=lc, **kw)
        assert len(run.plan.tiles(run.shape)) > 1
        compute_coverage(load_dem(path), s.towers, model="knife", radius_km=0.5)  # load kernels
        tracemalloc.start()
        try:
            for _ in run.tiles():
                pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # Array memory (numpy reports to tracemalloc) stays within the budget left
    # after the process base, GDAL's cache and the margin.
    assert 0 < peak <= budget - overhead_bytes(0)


def test_without_cache_towers_are_recomputed_with_the_same_result(scenario) -> None:  # noqa: ANN001
    s, path = scenario
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        cov = compute_coverage(load_dem(path), s.towers, model="knife", radius_km=2.5, n_threads=1)
        run = tiled_coverage(
            DiskDem(path),
            s.towers,
            model="knife",
            radius_km=2.5,
            n_threads=1,
            max_memory_bytes=10**9,
            base_bytes=0,
            tile_shape=(64, 64),
        )
    run.plan = replace(run.plan, cache_bytes=0)
    _assert_equal(_assemble(run), cov)
    assert run.stats.reused == 0 and run.stats.recomputed > 0


def test_budget_picks_tiles_and_result_matches(scenario) -> None:  # noqa: ANN001
    s, path = scenario
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        cov = compute_coverage(load_dem(path), s.towers, model="fspl", radius_km=2.0)
        # One tower in flight (135x135 window + DEM window: 1.41 MB), then
        # 0.3 MB for tiles and cache -> tiles of ~110x110 cells.
        budget = 64 * 2**20 + 48 * 2**20 + 1_413_850 + 300_000
        run = tiled_coverage(
            DiskDem(path),
            s.towers,
            model="fspl",
            radius_km=2.0,
            max_memory_bytes=budget,
            base_bytes=0,
            n_threads=1,
        )
    assert run.plan.tile_rows < 210 and run.plan.tile_cols <= 250
    assert len(run.plan.tiles(run.shape)) > 1
    _assert_equal(_assemble(run), cov)


def test_voids_filled_like_the_in_memory_loader(tmp_path: Path) -> None:
    z = _terrain(150, 160, seed=5)
    z[40:44, 70:90] = -32768  # a void strip across a tile edge
    s = small_scenario(z=z, towers=[{"x": 2400, "y": 2250}])
    path = tmp_path / "dem.tif"
    write_raster(path, s.dem.elevation_m.astype(np.int16), s.dem.transform, s.dem.crs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        cov = compute_coverage(load_dem(path), s.towers, model="knife", radius_km=2.0)
        run = tiled_coverage(
            DiskDem(path),
            s.towers,
            model="knife",
            radius_km=2.0,
            max_memory_bytes=10**9,
            base_bytes=0,
            tile_shape=(42, 80),
        )
        by = _assemble(run)
    _assert_equal(by, cov)
    assert run.source.voids_filled > 0


def test_tiny_budget_is_a_one_line_error(scenario) -> None:  # noqa: ANN001
    s, path = scenario
    with (
        pytest.raises(ParameterError, match="is too small") as exc,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", DeadzoneWarning)
        tiled_coverage(
            DiskDem(path),
            s.towers,
            model="fspl",
            radius_km=25.0,
            max_memory_bytes=parse_memory("150MB"),
            base_bytes=0,
        )
    assert "\n" not in str(exc.value) and "--max-memory" in str(exc.value)


def test_plan_lowers_threads_and_prefers_row_bands() -> None:
    mb = 2**20
    plan = plan_tiles(
        (40_000, 40_000),
        budget_bytes=1000 * mb,
        n_composites=1,
        radius_m=25_000,
        cell_w_m=30,
        cell_h_m=30,
        n_threads=8,
        base_bytes=250 * mb,
    )
    assert plan.n_threads < 8
    assert plan.tile_cols == 40_000 and plan.tile_rows % 256 == 0 and plan.tile_rows >= 256
    used = (250 + 64 + 48) * mb + plan.tile_rows * plan.tile_cols * 14 + plan.cache_bytes
    assert used < 1000 * mb
    small = plan_tiles(
        (40_000, 40_000),
        budget_bytes=450 * mb,
        n_composites=1,
        radius_m=25_000,
        cell_w_m=30,
        cell_h_m=30,
        base_bytes=250 * mb,
    )
    assert small.tile_rows == small.tile_cols < 40_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GB", 2 * 10**9),
        ("500MB", 500 * 10**6),
        ("500mb", 500 * 10**6),
        ("1.5GiB", 3 * 2**29),
        ("64 MiB", 64 * 2**20),
        ("1024", 1024),
        ("3G", 3 * 10**9),
        (4096, 4096),
    ],
)
def test_parse_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


def test_parse_memory_percent_and_errors() -> None:
    assert parse_memory("50%") == pytest.approx(physical_memory_bytes() / 2, rel=1e-6)
    for bad in ("", "lots", "2 parsecs", "0MB", "-1GB", "150%", "GB"):
        with pytest.raises(ParameterError, match="max memory was"):
            parse_memory(bad)
    assert format_bytes(1_500_000_000) == "1.5 GB" and format_bytes(12) == "12 B"


def test_geographic_dem_needs_a_projected_copy(tmp_path: Path) -> None:
    from affine import Affine

    path = write_raster(
        tmp_path / "geo.tif",
        np.full((10, 10), 5.0, np.float32),
        Affine(0.001, 0, 105.0, 0, -0.001, 21.0),
        "EPSG:4326",
    )
    with pytest.raises(CRSError, match="projected CRS in metres.*gdalwarp -t_srs EPSG:32648"):
        DiskDem(path).grid()


def test_write_tiled_cogs_equals_api_and_an_interrupted_run_leaves_old_files(
    scenario, tmp_path: Path
) -> None:  # noqa: ANN001
    import rasterio

    from deadzone.geo.tiled import write_tiled_cogs

    s, path = scenario

    def plan():  # noqa: ANN202
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadzoneWarning)
            return tiled_coverage(
                DiskDem(path),
                s.towers,
                model="fspl",
                radius_km=2.0,
                max_memory_bytes=10**9,
                base_bytes=0,
                tile_shape=(64, 96),
                by_tech=False,
            )

    steps: list[tuple[int, int]] = []
    written = write_tiled_cogs(plan(), tmp_path, progress=lambda d, t: steps.append((d, t)))
    assert [p.name for p in written.paths] == [
        "rx_dbm.tif",
        "best_server.tif",
        "second_rx_dbm.tif",
        "overlap.tif",
    ]
    assert steps[-1] == (12 + 4, 12 + 4) and len(steps) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        cov = compute_coverage(load_dem(path), s.towers, model="fspl", radius_km=2.0)
    with rasterio.open(tmp_path / "best_server.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), cov.rx.best_server)
    assert written.reached_cells == int(np.isfinite(cov.rx.best_dbm).sum())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    run = plan()
    real = run.tiles

    def failing(progress=None):  # noqa: ANN001, ANN202
        for k, item in enumerate(real(progress)):
            if k == 5:
                raise KeyboardInterrupt  # killed mid-run
            yield item

    run.tiles = failing  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        write_tiled_cogs(run, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp left


def test_too_small_budget_names_the_smallest_that_works() -> None:
    """Issue 18 item 8: 500 MB was refused below the program's own ~556 MB with
    the advice to lower --radius-km, which cannot help there."""
    import re

    mb = 2**20
    kw = dict(n_composites=1, radius_m=25_000, cell_w_m=30, cell_h_m=30)
    with pytest.raises(ParameterError) as exc:
        plan_tiles((4000, 4000), budget_bytes=500 * mb, base_bytes=556 * mb, **kw)
    msg = str(exc.value)
    assert "the program itself needs" in msg and "--radius-km" not in msg
    need = re.search(r"smallest budget that works here is --max-memory (\d+MB)", msg).group(1)
    plan_tiles((4000, 4000), budget_bytes=parse_memory(need), base_bytes=556 * mb, **kw)
    # above the program's own needs a smaller radius is a way out, and said
    with pytest.raises(ParameterError, match=r"or lower --radius-km"):
        plan_tiles((4000, 4000), budget_bytes=720 * mb, base_bytes=556 * mb, **kw)


def test_work_folders_of_killed_runs_are_swept(tmp_path) -> None:  # noqa: ANN001
    """Issue 18 item 6: a SIGKILLed ``coverage`` left its ``.tiles-*`` work
    folder (240 MB) forever; the next run into the folder removes a dead
    owner's folders and keeps those of live runs."""
    import subprocess
    import sys

    from deadzone.data.io import WORKDIR_OWNER, make_workdir, sweep_dead_workdirs

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = tmp_path / ".tiles-abc123"
    gone.mkdir()
    (gone / WORKDIR_OWNER).write_text(dead.stdout)
    (gone / "rx_dbm.tif").write_bytes(b"x" * 1000)
    live = make_workdir(tmp_path, ".warp-")  # this process: alive
    unmarked = tmp_path / ".tiles-old"
    unmarked.mkdir()
    other = tmp_path / ".somethingelse-1"
    other.mkdir()
    (other / WORKDIR_OWNER).write_text(dead.stdout)
    assert sweep_dead_workdirs(tmp_path, (".tiles-", ".warp-")) == [gone]
    assert not gone.exists() and live.is_dir() and unmarked.is_dir() and other.is_dir()


def test_tiled_with_a_calibration_equals_in_memory(scenario, tmp_path: Path) -> None:  # noqa: ANN001
    """A calibration (per technology, distance and land-cover class) gives the same
    rasters tiled as in memory, and both record it."""
    from deadzone.geo.coverage import EngineParams
    from deadzone.model.calibration import Calibration

    s, path = scenario
    lc = write_landcover(tmp_path / "lc.tif", s.dem, crs="utm")
    cal = Calibration(model="knife", fit="offset+slope+clutter",
                      offsets_db={t: -4.0 for t in set(s.towers["tech"])},
                      slopes_db_per_decade={t: -6.0 for t in set(s.towers["tech"])},
                      clutter_offsets_db={"urban-trees-forest": -3.0},
                      clutter_reference="open-rural", sigma_db=7.0)
    p = EngineParams(model="knife", radius_km=3.0, calibration=cal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)  # the tower outside the DEM
        dem = load_dem(path)
        clutter = load_landcover(lc, dem)
        cov = compute_coverage(dem, s.towers, params=p, clutter=clutter, per_band=True,
                               n_threads=2)
        plain = compute_coverage(dem, s.towers, model="knife", radius_km=3.0, clutter=clutter,
                                 per_band=True, n_threads=2)
        run = tiled_coverage(DiskDem(path), s.towers, params=p, per_band=True, n_threads=2,
                             max_memory_bytes=10**9, base_bytes=0, tile_shape=(37, 53),
                             landcover=lc)
        by = _assemble(run)
    reached = np.isfinite(plain.rx.best_dbm)
    assert (cov.rx.best_dbm[reached] < plain.rx.best_dbm[reached]).mean() > 0.9
    _assert_equal(by, cov)
    assert run.parameters == cov.parameters
    assert run.parameters["calibration"]["offsets_db"] == cal.offsets_db
