"""Terminal clutter loss (ITU-R P.2108-1 §3.1) and its use in the coverage engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from deadzone.errors import CRSError, DataLoadError, ParameterError
from deadzone.geo.clutter import (
    CATEGORIES,
    clutter_loss_db,
    landcover_window,
    load_landcover,
    loss_table_db,
    open_landcover,
)
from deadzone.geo.coverage import compute_coverage
from tests.conftest import small_scenario
from tests.landcover import write_landcover


def p2108_2a(f_ghz: float, h: float, r: float) -> float:
    """Eq. (2a) written out by hand: J(nu) - 6.03, w_s = 27 m, theta in degrees."""
    h_dif = r - h
    theta = math.degrees(math.atan(h_dif / 27.0))
    nu = 0.342 * math.sqrt(f_ghz) * math.sqrt(h_dif * theta)
    j = 6.9 + 20 * math.log10(math.sqrt((nu - 0.1) ** 2 + 1) + nu - 0.1)
    return j - 6.03


@pytest.mark.parametrize("f_mhz", [700.0, 900.0, 1800.0, 2600.0])
def test_loss_follows_p2108_equations(f_mhz: float) -> None:
    f = f_mhz / 1000.0
    assert clutter_loss_db("urban-trees-forest", freq_mhz=f_mhz, rx_height_m=1.5) == \
        pytest.approx(p2108_2a(f, 1.5, 15.0), abs=1e-9)
    assert clutter_loss_db("dense-urban", freq_mhz=f_mhz, rx_height_m=2.0) == \
        pytest.approx(p2108_2a(f, 2.0, 20.0), abs=1e-9)
    k_h2 = 21.8 + 6.2 * math.log10(f)
    assert clutter_loss_db("open-rural", freq_mhz=f_mhz, rx_height_m=1.5) == \
        pytest.approx(-k_h2 * math.log10(1.5 / 10.0), abs=1e-9)


def test_no_loss_at_or_above_the_clutter_and_more_loss_lower_down() -> None:
    assert clutter_loss_db("suburban", freq_mhz=900, rx_height_m=10.0) == 0.0
    assert clutter_loss_db("open-rural", freq_mhz=900, rx_height_m=12.0) == 0.0
    losses = [clutter_loss_db("urban-trees-forest", freq_mhz=900, rx_height_m=h)
              for h in (1.0, 2.0, 5.0, 10.0)]
    assert losses == sorted(losses, reverse=True)
    with pytest.raises(ParameterError, match="category"):
        clutter_loss_db("jungle", freq_mhz=900, rx_height_m=1.5)


def _flat_rough(n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (rng.normal(0, 1, (n, n)).cumsum(0).cumsum(1) * 0.03 + 300).astype(np.float32)


def test_no_clutter_changes_nothing() -> None:
    sc = small_scenario(z=_flat_rough())
    base = compute_coverage(sc.dem, sc.towers, radius_km=4.0, n_threads=1)
    none = compute_coverage(sc.dem, sc.towers, radius_km=4.0, n_threads=1,
                            clutter=np.zeros(sc.dem.shape, np.uint8))
    np.testing.assert_array_equal(base.rx.best_dbm, none.rx.best_dbm)


@pytest.mark.parametrize("model", ["itm", "knife"])
def test_uniform_clutter_is_the_path_to_its_top_minus_the_p2108_loss(model: str) -> None:
    sc = small_scenario(z=_flat_rough())
    code = next(i for i, c in enumerate(CATEGORIES) if c.name == "urban-trees-forest")
    cat = np.full(sc.dem.shape, code, np.uint8)
    with_clutter = compute_coverage(sc.dem, sc.towers, radius_km=4.0, n_threads=1,
                                    model=model, clutter=cat)
    at_top = compute_coverage(sc.dem, sc.towers, radius_km=4.0, n_threads=1, model=model,
                              rx_height_m=15.0)
    a_h = loss_table_db(freq_mhz=900.0, rx_height_m=1.5)[code]
    assert a_h > 15.0
    np.testing.assert_allclose(with_clutter.rx.best_dbm, at_top.rx.best_dbm - a_h,
                               atol=1e-4, equal_nan=True)


def _write_landcover(path: Path, dem, values: np.ndarray) -> None:  # noqa: ANN001
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1],
                       height=values.shape[0], count=1, dtype="uint8", crs=dem.crs,
                       transform=dem.transform, nodata=0) as dst:
        dst.write(values, 1)


def test_load_landcover_maps_worldcover_codes(tmp_path: Path) -> None:
    sc = small_scenario()
    lc = np.full(sc.dem.shape, 40, np.uint8)  # cropland
    lc[:, :100] = 10  # tree cover
    lc[:10, :] = 0  # nodata
    _write_landcover(tmp_path / "lc.tif", sc.dem, lc)
    cat = load_landcover(tmp_path / "lc.tif", sc.dem)
    names = np.array([c.name for c in CATEGORIES])[cat]
    assert (names[20:, :100] == "urban-trees-forest").all()
    assert (names[20:, 150:] == "open-rural").all()
    assert (names[:10] == "none").all()
    lc[50, 50] = 123
    _write_landcover(tmp_path / "bad.tif", sc.dem, lc)
    with pytest.raises(DataLoadError, match="123"):
        load_landcover(tmp_path / "bad.tif", sc.dem)


def test_cli_coverage_with_landcover(tmp_path: Path) -> None:
    sc = small_scenario(z=_flat_rough())
    write_scenario(sc, tmp_path / "in")
    _write_landcover(tmp_path / "lc.tif", sc.dem, np.full(sc.dem.shape, 50, np.uint8))
    args = ["coverage", "--dem", str(tmp_path / "in" / "dem.tif"), "--towers",
            str(tmp_path / "in" / "towers.csv"), "--radius-km", "3", "-q"]
    r0 = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a")])
    r1 = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), "--landcover",
                                  str(tmp_path / "lc.tif")])
    assert r0.exit_code == 0, r0.output
    assert r1.exit_code == 0, r1.output
    with rasterio.open(tmp_path / "a" / "rx_dbm.tif") as a, \
            rasterio.open(tmp_path / "b" / "rx_dbm.tif") as b:
        ra, rb = a.read(1), b.read(1)
    both = np.isfinite(ra) & np.isfinite(rb)
    assert both.sum() > 1000
    assert np.median(ra[both] - rb[both]) > 5.0  # built-up clutter costs signal


@pytest.mark.parametrize("crs", ["utm", "lonlat"])
def test_landcover_windows_equal_the_whole_grid(tmp_path: Path, crs: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import deadzone.geo.clutter as clutter

    sc = small_scenario(z=_flat_rough(120))
    lc = write_landcover(tmp_path / "lc.tif", sc.dem, crs=crs)
    whole = load_landcover(lc, sc.dem)
    assert len(np.unique(whole)) >= 4
    rng = np.random.default_rng(7)
    windows = [(0, 0, 120, 120), (119, 119, 1, 1), (3, 110, 117, 10)]
    windows += [(int(r), int(c), int(rng.integers(1, 121 - r)), int(rng.integers(1, 121 - c)))
                for r, c in rng.integers(0, 120, (6, 2))]
    with open_landcover(lc) as src:
        for r, c, h, w in windows:
            np.testing.assert_array_equal(landcover_window(src, sc.dem, r, c, h, w),
                                          whole[r:r + h, c:c + w], err_msg=str((r, c, h, w)))
        # Tiny chunks and reads (a land cover far finer than the grid): the same codes.
        monkeypatch.setattr(clutter, "_CHUNK_CELLS", 37)
        monkeypatch.setattr(clutter, "_READ_BYTES", 5)
        np.testing.assert_array_equal(landcover_window(src, sc.dem, 5, 9, 40, 33),
                                      whole[5:45, 9:42])
        with pytest.raises(ParameterError, match="outside the grid"):
            landcover_window(src, sc.dem, 100, 0, 21, 5)


def test_landcover_file_errors_name_the_file(tmp_path: Path) -> None:
    sc = small_scenario()
    (tmp_path / "notes.tif").write_text("not a raster\n")
    with pytest.raises(DataLoadError, match="notes.tif: not a readable land-cover raster"):
        load_landcover(tmp_path / "notes.tif", sc.dem)
    with rasterio.open(tmp_path / "nocrs.tif", "w", driver="GTiff", width=4, height=4, count=1,
                       dtype="uint8", transform=sc.dem.transform) as dst:
        dst.write(np.full((4, 4), 10, np.uint8), 1)
    with pytest.raises(CRSError, match="nocrs.tif: land-cover raster has no CRS"):
        load_landcover(tmp_path / "nocrs.tif", sc.dem)
    with pytest.raises(ParameterError, match="clutter mapping: class 10 -> 'jungle'"):
        load_landcover(tmp_path / "notes.tif", sc.dem, mapping={10: "jungle"})
