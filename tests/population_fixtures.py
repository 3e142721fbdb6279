"""Small population rasters written by the tests (WorldPop, HRSL and GHSL conventions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

#: WorldPop's cell: 3 arc-seconds (degrees).
ARCSEC3 = 3.0 / 3600.0
#: WorldPop's nodata value.
WORLDPOP_NODATA = -99999.0


def write_population(
    path: Path,
    people: np.ndarray,
    *,
    transform: Affine,
    crs: str | int = 4326,
    nodata: float | None = WORLDPOP_NODATA,
    dtype: str = "float32",
) -> Path:
    """Write ``people`` (rows, cols) or (bands, rows, cols) as a GeoTIFF."""
    arr = np.asarray(people)
    if arr.ndim == 2:
        arr = arr[None]
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
        dtype=dtype, crs=None if crs is None else rasterio.crs.CRS.from_user_input(crs),
        transform=transform, nodata=nodata,
    ) as dst:
        dst.write(arr.astype(dtype))
    return path


def worldpop(path: Path, people: np.ndarray, *, west: float, north: float,
             res_deg: float = ARCSEC3) -> Path:
    """A WorldPop-format raster: float32, nodata -99999, EPSG:4326, 3 arc-seconds."""
    return write_population(path, people, transform=Affine(res_deg, 0, west, 0, -res_deg, north))
