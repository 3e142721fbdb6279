"""``load_population``: WorldPop/HRSL/GHSL conventions, windows, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from deadzone.data.loaders import file_checksum, load_population
from deadzone.errors import CRSError, DataLoadError, DeadzoneWarning
from tests.population_fixtures import ARCSEC3, WORLDPOP_NODATA, worldpop, write_population


def test_worldpop_nodata_is_invalid_and_counts_nobody(tmp_path: Path) -> None:
    people = np.array([[1.5, WORLDPOP_NODATA], [0.0, 3.25]])
    p = worldpop(tmp_path / "wp.tif", people, west=105.0, north=21.1)
    g = load_population(p)
    assert g.valid.tolist() == [[True, False], [True, True]]
    assert g.people.tolist() == [[1.5, 0.0], [0.0, 3.25]]
    assert g.total == pytest.approx(4.75)
    assert g.crs.to_epsg() == 4326
    assert g.checksum == file_checksum(p) and g.source == str(p)


def test_hrsl_nan_nodata_undeclared(tmp_path: Path) -> None:
    people = np.array([[np.nan, 2.0], [4.0, np.nan]])
    p = write_population(tmp_path / "hrsl.tif", people,
                         transform=Affine(1 / 3600, 0, 105, 0, -1 / 3600, 21), nodata=None)
    g = load_population(p)
    assert g.valid.sum() == 2 and g.total == 6.0


def test_ghsl_mollweide_minus_200(tmp_path: Path) -> None:
    people = np.array([[-200.0, 10.0, 5.0]])
    p = write_population(tmp_path / "ghs.tif", people, crs="ESRI:54009", nodata=-200.0,
                         transform=Affine(100, 0, 10_000_000, 0, -100, 2_600_000))
    g = load_population(p)
    assert g.total == 15.0 and not g.valid[0, 0]
    assert "54009" in g.crs.to_string() or "Mollweide" in g.crs.to_wkt()


def test_window_reads_only_the_box_plus_one_cell(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    people = rng.random((600, 600)).astype(np.float32)
    p = worldpop(tmp_path / "wp.tif", people, west=105.0, north=21.5)
    # a box of 100 x 100 cells starting at cell (200, 300)
    w, n = 105.0 + 300 * ARCSEC3, 21.5 - 200 * ARCSEC3
    box = (w + 1e-7, n - 100 * ARCSEC3 + 1e-7, w + 100 * ARCSEC3 - 1e-7, n - 1e-7)
    g = load_population(p, bounds_lonlat=box)
    assert g.shape == (102, 102)
    np.testing.assert_allclose(g.people, people[199:301, 299:401])
    assert g.transform.c == pytest.approx(105.0 + 299 * ARCSEC3)
    assert g.transform.f == pytest.approx(21.5 - 199 * ARCSEC3)


def test_projected_raster_window_from_lonlat_box(tmp_path: Path) -> None:
    # UTM 48N, 100 m cells; the box is transformed into the raster's CRS
    people = np.ones((200, 200), dtype=np.float32)
    p = write_population(tmp_path / "utm.tif", people, crs=32648, nodata=-99999.0,
                         transform=Affine(100, 0, 500_000, 0, -100, 2_400_000))
    g = load_population(p, bounds_lonlat=(105.01, 21.6, 105.05, 21.64))
    assert 0 < g.shape[0] < 200 and 0 < g.shape[1] < 200
    assert g.crs.to_epsg() == 32648


@pytest.mark.parametrize("case", ["not_raster", "no_crs", "outside", "negative", "bands",
                                  "missing"])
def test_bad_inputs_one_line_errors_naming_the_file(tmp_path: Path, case: str) -> None:
    p = tmp_path / f"{case}.tif"
    box = None
    err: type[Exception] = DataLoadError
    want = ""
    if case == "not_raster":
        p.write_text("lon,lat\n1,2\n")
        want = "not a population raster"
    elif case == "no_crs":
        write_population(p, np.ones((3, 3)), transform=Affine(1, 0, 0, 0, -1, 3), crs=None)
        err, want = CRSError, "no CRS"
    elif case == "outside":
        worldpop(p, np.ones((10, 10)), west=105.0, north=21.0)
        box, want = (110.0, 10.0, 110.1, 10.1), "does not cover the requested area"
    elif case == "negative":
        a = np.ones((5, 5))
        a[3, 2] = -5.0
        a[4, 4] = -1.0
        worldpop(p, a, west=105.0, north=21.0)
        want = "2 cells with negative people (first at row 3, col 2: -5)"
    elif case == "bands":
        worldpop(p, np.ones((3, 4, 4)), west=105.0, north=21.0)
        want = "has 3 bands"
    else:
        want = "file not found"
    with pytest.raises(err) as exc:
        load_population(p, bounds_lonlat=box)
    msg = str(exc.value)
    assert want in msg and str(p) in msg and "\n" not in msg


def test_all_nodata_window_warns(tmp_path: Path) -> None:
    p = worldpop(tmp_path / "sea.tif", np.full((4, 4), WORLDPOP_NODATA), west=105.0, north=21.0)
    with pytest.warns(DeadzoneWarning, match="every cell of the window read"):
        g = load_population(p)
    assert g.total == 0.0 and not g.valid.any()
