"""Synthetic land-cover GeoTIFFs for the clutter tests (ESA WorldCover class codes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds

#: WorldCover classes drawn, 0 = nodata (category "none").
CLASSES = np.array([0, 10, 20, 30, 40, 50, 60, 80], dtype=np.uint8)


def write_landcover(path: Path, dem, *, crs: str = "utm", seed: int = 1) -> Path:  # noqa: ANN001
    """Patches of WorldCover classes over ``dem``'s extent, on another grid than the DEM's.

    ``crs="utm"``: the DEM's CRS, 10 m cells, origin 7 m east and 4 m south of
    the DEM's and 100 m short of its east edge (those DEM cells fall outside:
    category "none").  ``crs="lonlat"``: EPSG:4326, 1/12000 degree cells
    (WorldCover's), covering the DEM.  Patches are ~120 m blocks of random
    classes with single-cell specks, so DEM cells of 30 m straddle class
    edges and the nearest-neighbour choice matters.
    """
    rng = np.random.default_rng(seed)
    t = dem.transform
    rows, cols = dem.shape
    if crs == "utm":
        res = 10.0
        width = int((cols * abs(t.a) - 100.0) // res)
        height = int((rows * abs(t.e)) // res)
        transform = Affine(res, 0.0, t.c + 7.0, 0.0, -res, t.f - 4.0)
        out_crs = dem.crs
    elif crs == "lonlat":
        res = 1.0 / 12000.0
        w, s, e, n = transform_bounds(dem.crs, "EPSG:4326", t.c, t.f + rows * t.e,
                                      t.c + cols * t.a, t.f)
        width, height = int((e - w) / res) + 4, int((n - s) / res) + 4
        transform = Affine(res, 0.0, w - 2 * res, 0.0, -res, n + 2 * res)
        out_crs = "EPSG:4326"
    else:
        raise ValueError(crs)
    block = 12
    coarse = CLASSES[rng.integers(1, len(CLASSES), (height // block + 1, width // block + 1))]
    values = np.repeat(np.repeat(coarse, block, 0), block, 1)[:height, :width].copy()
    specks = rng.random((height, width)) < 0.02
    values[specks] = CLASSES[rng.integers(0, len(CLASSES), int(specks.sum()))]
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1,
                       dtype="uint8", crs=out_crs, transform=transform, nodata=0, tiled=True,
                       blockxsize=128, blockysize=128, compress="deflate") as dst:
        dst.write(values, 1)
    return path
