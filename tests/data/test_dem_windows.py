"""A DEM window read gives exactly the whole raster's cells (same grid, same values).

``load_dem(path, bounds_lonlat=...)`` takes the target CRS, cell size and origin
from the whole raster and returns the sub-grid covering the box, reading the
source with a margin, so a province job and the unsplit audit sample the same
terrain (before, each window built its own UTM grid: 89.30 m vs 89.26 m cells
and another origin for the real tile).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from deadzone.data.loaders import load_dem
from deadzone.errors import DeadzoneWarning
from deadzone.model.dem import Dem
from tests.conftest import shared_file


def _geographic_tif(
    path: Path,
    *,
    west: float = 105.0,
    north: float = 21.5,
    n: int = 240,
    cell_deg: float = 1.0 / 400.0,
    voids: bool = False,
) -> Path:
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    z = 300.0 + 200.0 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + rng.normal(0.0, 15.0, (n, n))
    z = z.astype(np.float32)
    if voids:  # void patches, some near where the windows below end
        z[112:128, 150:170] = -9999.0  # across box_a's south-east corner
        z[150:153, 40:200] = -9999.0
    profile = {
        "driver": "GTiff",
        "width": n,
        "height": n,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": Affine(cell_deg, 0.0, west, 0.0, -cell_deg, north),
        "nodata": -9999.0,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(z, 1)
    return path


def _load(path: Path, **kw: object) -> Dem:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        return load_dem(path, **kw)  # type: ignore[arg-type]


def _offset(part: Dem, whole: Dem) -> tuple[int, int]:
    """(row, col) of ``part``'s first cell in ``whole``; the grids must be the same."""
    assert part.crs == whole.crs
    assert part.transform.a == whole.transform.a and part.transform.e == whole.transform.e
    col = (part.transform.c - whole.transform.c) / whole.transform.a
    row = (part.transform.f - whole.transform.f) / whole.transform.e
    assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6, (row, col)
    return round(row), round(col)


def _assert_same_cells(a: Dem, b: Dem) -> int:
    """Cells both grids hold have identical elevations and void flags; returns their count."""
    ra, ca = _offset(a, b)  # a's origin in b's indices
    r0, c0 = max(0, ra), max(0, ca)
    r1 = min(b.shape[0], ra + a.shape[0])
    c1 = min(b.shape[1], ca + a.shape[1])
    assert r1 > r0 and c1 > c0, "the windows do not overlap"
    za = a.elevation_m[r0 - ra : r1 - ra, c0 - ca : c1 - ca]
    zb = b.elevation_m[r0:r1, c0:c1]
    np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(
        a.void_mask[r0 - ra : r1 - ra, c0 - ca : c1 - ca], b.void_mask[r0:r1, c0:c1]
    )
    return (r1 - r0) * (c1 - c0)


@pytest.mark.parametrize("resolution_m", [None, 150.0, 40.0])
@pytest.mark.parametrize("voids", [False, True])
def test_geographic_windows_are_sub_grids_of_the_whole_read(
    tmp_path: Path, resolution_m: float | None, voids: bool
) -> None:
    path = _geographic_tif(tmp_path / "g.tif", voids=voids)
    kw = {} if resolution_m is None else {"resolution_m": resolution_m}
    whole = _load(path, **kw)
    box_a = (105.08, 21.20, 105.40, 21.45)
    box_b = (105.25, 21.05, 105.58, 21.33)  # overlaps a; reaches the raster's east edge
    a = _load(path, bounds_lonlat=box_a, **kw)
    b = _load(path, bounds_lonlat=box_b, **kw)
    assert a.shape[0] * a.shape[1] < 0.5 * whole.shape[0] * whole.shape[1]
    if resolution_m is not None:
        assert a.cell_w_m == b.cell_w_m == whole.cell_w_m == resolution_m
    assert _assert_same_cells(a, whole) == a.shape[0] * a.shape[1]
    assert _assert_same_cells(b, whole) == b.shape[0] * b.shape[1]
    assert _assert_same_cells(a, b) > 1000
    if voids:
        assert whole.void_mask.any() and a.void_mask.any()
    # each window covers its box (snapped outward to whole cells)
    from rasterio.warp import transform_bounds

    for box, part in ((box_a, a), (box_b, b)):
        xmin, ymin, xmax, ymax = transform_bounds("EPSG:4326", part.crs, *box, densify_pts=21)
        x0, y0, x1, y1 = part.bounds
        wb = whole.bounds
        assert x0 <= max(xmin, wb[0]) and y0 <= max(ymin, wb[1])
        assert x1 >= min(xmax, wb[2]) and y1 >= min(ymax, wb[3])
        assert x0 > xmin - part.cell_w_m and y1 < ymax + part.cell_h_m


def test_window_keeps_the_whole_rasters_utm_zone(tmp_path: Path) -> None:
    """A raster across 102 E (zones 47/48), centre in 48: a window west of 102 E stays in 48."""
    path = _geographic_tif(tmp_path / "z.tif", west=101.8, n=300, cell_deg=1.0 / 300.0)
    whole = _load(path)
    part = _load(path, bounds_lonlat=(101.82, 21.0, 101.95, 21.3))
    assert whole.crs.to_epsg() == part.crs.to_epsg() == 32648
    _assert_same_cells(part, whole)


def test_projected_window_with_voids_at_its_edge_is_an_exact_slice(tmp_path: Path) -> None:
    """No reprojection: the window is a slice; voids are filled as in the whole read."""
    from rasterio.warp import transform_bounds

    from deadzone.data.io import write_raster

    z = (np.arange(200 * 300, dtype=np.float32).reshape(200, 300) % 977 + 100).astype(np.float32)
    z[45:56, 70:90] = -32768.0  # a void across the window's top-left corner
    tf = Affine(30.0, 0, 500_000.0, 0, -30.0, 2_400_000.0)
    path = write_raster(tmp_path / "p.tif", z, tf, "EPSG:32648", nodata=-32768.0)
    whole = _load(path)
    x0, y1 = tf @ (80, 50)
    x1, y0 = tf @ (200, 120)
    part = _load(path, bounds_lonlat=transform_bounds("EPSG:32648", "EPSG:4326", x0, y0, x1, y1))
    assert part.void_mask.any()
    assert _assert_same_cells(part, whole) == part.shape[0] * part.shape[1]


def test_real_tile_province_windows_share_the_tile_grid(shared_data: Path) -> None:
    """SRTM N21E105 (EPSG:4326, with voids): two province-sized windows and the tile."""
    srtm = shared_file(shared_data, "srtm3/N21E105.hgt")
    whole = _load(srtm)
    a = _load(srtm, bounds_lonlat=(104.95, 21.05, 105.45, 21.55))  # off the tile's west edge
    b = _load(srtm, bounds_lonlat=(105.30, 21.25, 105.85, 21.75))
    assert whole.crs.to_epsg() == a.crs.to_epsg() == b.crs.to_epsg() == 32648
    assert a.cell_w_m == b.cell_w_m == whole.cell_w_m
    assert _assert_same_cells(a, whole) == a.shape[0] * a.shape[1]
    assert _assert_same_cells(b, whole) == b.shape[0] * b.shape[1]
    assert _assert_same_cells(a, b) > 10_000
    # with --dem-resolution-m the cell size changes, the origin stays the tile's
    c = _load(srtm, bounds_lonlat=(105.30, 21.25, 105.85, 21.75), resolution_m=120.0)
    w120 = _load(srtm, resolution_m=120.0)
    assert w120.transform.c == whole.transform.c and w120.transform.f == whole.transform.f
    _assert_same_cells(c, w120)


def test_warp_to_disk_writes_the_load_dem_grid_and_values(tmp_path: Path) -> None:
    """The --max-memory path (warped copy on disk) has load_dem's grid and cells."""
    from deadzone.geo.tiled import warp_to_disk

    path = _geographic_tif(tmp_path / "g.tif")
    box = (105.08, 21.20, 105.40, 21.45)
    mem = _load(path, bounds_lonlat=box, resolution_m=70.0)
    disk = warp_to_disk(path, tmp_path / "w.tif", bounds_lonlat=box, resolution_m=70.0,
                        band_rows=37)
    with rasterio.open(disk) as ds:
        assert (ds.height, ds.width) == mem.shape
        assert ds.crs == mem.crs and ds.transform.almost_equals(mem.transform, 1e-9)
        z = ds.read(1)
    np.testing.assert_array_equal(z, mem.elevation_m)  # no voids, inside the footprint
