"""Gridded population rasters: :func:`load_population` (people per cell, as
WorldPop, Meta/CIESIN HRSL and GHSL publish them) on the raster's own grid.

Conventions handled (see ``docs/POPULATION.md``):

* WorldPop: float32 people per cell, nodata -99999, EPSG:4326, 3 arc-seconds;
* HRSL: float people per cell, nodata NaN (declared or not), EPSG:4326,
  1 arc-second;
* GHSL ``GHS_POP``: float people per cell, nodata -200, World Mollweide
  (ESRI:54009), 100 m or 1 km.

Any single-band raster GDAL reads with a CRS (geographic or projected) works.
The values are people per *cell* (counts), never densities per km².
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from deadzone.data._tables import (
    PathLike,
    _defers_warnings,
    _one_line,
    _plural,
    _warn,
    existing_path,
    file_checksum,
    quiet_affine,
)
from deadzone.data.dem import dem_window
from deadzone.errors import CRSError, DataLoadError
from deadzone.model.population import PopulationGrid

__all__ = ["load_population"]

#: Cells read around the window a lon/lat box needs, so that a population cell
#: straddling the box's edge is read whole (its people are then spread by
#: area, :func:`deadzone.geo.population.people_on_dem`).
PAD_CELLS = 1


@_defers_warnings
def load_population(
    path: PathLike,
    *,
    bounds_lonlat: tuple[float, float, float, float] | None = None,
) -> PopulationGrid:
    """Read a population raster (people per cell) on its own grid.

    Parameters
    ----------
    path : str or os.PathLike
        Any single-band raster rasterio reads (GeoTIFF, VRT, ...) whose cells
        hold people per cell: WorldPop (nodata -99999), HRSL (nodata NaN),
        GHSL (nodata -200, Mollweide).  Geographic or projected CRS.
    bounds_lonlat : (west, south, east, north), optional
        Degrees (EPSG:4326).  Read only the raster window covering this box
        (the box transformed into the raster's CRS along its densified edges,
        whole cells, padded by :data:`PAD_CELLS` cell), so a national raster
        is never read whole for a province.  None reads the whole raster.

    Returns
    -------
    PopulationGrid
        ``people`` float64 (persons per cell, 0 at nodata), ``valid`` (False
        at nodata: the declared nodata value, NaN or ±inf), the window's
        transform and the raster's CRS, ``source`` (the path) and
        ``checksum`` (the file's SHA-256).

    Raises
    ------
    DataLoadError
        Missing file, not a raster, more than one band (a population raster
        holds one band of people per cell; which band of a multi-band file is
        meant cannot be guessed, so none is picked: extract it first), a
        rotated grid, a box the raster does not reach, negative people
        (count and the first cell's row/col in the whole raster: an
        undeclared nodata value?).
    CRSError
        The raster has no CRS.

    Warns
    -----
    DeadzoneWarning
        When every cell of the window read is nodata (no one is counted).

    Examples
    --------
    >>> grid = load_population("vnm_ppp_2020.tif",
    ...                        bounds_lonlat=(105.0, 21.0, 105.5, 21.5))  # doctest: +SKIP
    >>> round(grid.total)  # doctest: +SKIP
    412300
    """
    p = existing_path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(p)
        except RasterioIOError as exc:
            raise DataLoadError(
                f"{p}: not a population raster rasterio can read ({_one_line(exc)})") from None
        with src:
            if src.crs is None or not src.crs.to_wkt():
                raise CRSError(
                    f"{p}: population raster has no CRS; assign one "
                    f"(e.g. gdal_edit.py -a_srs EPSG:4326 {p.name})")
            if src.count != 1:
                raise DataLoadError(
                    f"{p}: has {src.count} bands; a population raster is one band of people "
                    f"per cell (extract the one you mean: gdal_translate -b N {p.name} out.tif)")
            if src.transform.b != 0 or src.transform.d != 0:
                raise DataLoadError(
                    f"{p}: rotated raster grids are not supported; warp it north-up")
            with quiet_affine():
                win = Window(0, 0, src.width, src.height)
                if bounds_lonlat is not None:
                    win = _padded(dem_window(src, bounds_lonlat, p), src.width, src.height)
                transform = window_transform(win, src.transform)
            try:
                raw = src.read(1, window=win)
            except RasterioIOError as exc:
                raise DataLoadError(f"{p}: cannot read raster data ({_one_line(exc)})") from None
            nodata, crs = src.nodata, src.crs
    values = raw.astype(np.float64)
    valid = np.isfinite(values)
    if nodata is not None and not math.isnan(nodata):
        valid &= raw != np.asarray(nodata).astype(raw.dtype)
    negative = valid & (values < 0)
    if negative.any():
        r, c = (int(v) for v in np.argwhere(negative)[0])
        raise DataLoadError(
            f"{p}: {_plural(int(negative.sum()), 'cell')} with negative people (first at "
            f"row {r + int(win.row_off)}, col {c + int(win.col_off)}: "
            f"{float(values[negative][0]):g}); people per cell must be >= 0 "
            f"(declare the nodata value: gdal_edit.py -a_nodata VALUE {p.name})")
    if not valid.any():
        _warn(f"{p}: every cell of the window read ({values.size:,}) is nodata {nodata}; "
              "no one is counted")
    people = np.where(valid, values, 0.0)
    return PopulationGrid(people=people, valid=valid, transform=transform, crs=crs,
                          source=str(p), checksum=file_checksum(p))


def _padded(win: Window, width: int, height: int) -> Window:
    """``win`` grown by :data:`PAD_CELLS` on every side, clipped to the raster."""
    c0 = max(int(win.col_off) - PAD_CELLS, 0)
    r0 = max(int(win.row_off) - PAD_CELLS, 0)
    c1 = min(int(win.col_off + win.width) + PAD_CELLS, width)
    r1 = min(int(win.row_off + win.height) + PAD_CELLS, height)
    return Window(c0, r0, c1 - c0, r1 - r0)
