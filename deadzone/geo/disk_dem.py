"""A DEM larger than memory: :class:`DiskDem` reads windows of a GeoTIFF on
disk (voids filled with a halo), and :func:`warp_to_disk` reprojects a
geographic DEM to UTM tile by tile."""

from __future__ import annotations

import math
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import CRSError, DataLoadError, ParameterError
from deadzone.geo.memory import (
    _tiled_gtiff,
)
from deadzone.model.dem import Dem

__all__ = [
    "DiskDem",
    "GDAL_CACHE_MB",
    "warp_to_disk",
]

#: Target cells warped at once by :func:`warp_to_disk` (about 100 bytes a cell).
_WARP_BAND_CELLS = 1 << 16
#: Cells of the void-fill search (``fill_voids`` in :func:`deadzone.data.loaders.load_dem`).
_FILL_MARGIN = 100
#: GDAL block cache (MB) under the budget: reads of the DEM and tile writes.
GDAL_CACHE_MB = 64


# --------------------------------------------------------------------------- DEM on disk


class DiskDem:
    """A DEM grid on disk, read window by window.

    The grid is the raster's window covering ``bounds_lonlat`` (the same
    window :func:`deadzone.data.loaders.load_dem` reads), so row/col here
    equal the in-memory DEM's.  Only rasters already in a projected CRS in
    metres can be read this way (no reprojection).

    Parameters
    ----------
    path : str or os.PathLike
        A single-band raster (tiled, compressed GeoTIFF reads fastest).
    bounds_lonlat : (W, S, E, N), optional
        Restrict the grid to this lon/lat box (degrees); default: whole raster.
    label : str, optional
        Name of the DEM in messages (default: ``path``).

    Attributes
    ----------
    path : Path
    shape : (rows, cols)
        The grid.
    transform : affine.Affine
        The grid's transform.
    crs : rasterio.crs.CRS
        The raster's CRS.
    projected_m : bool
        Whether the CRS is projected in metres (windowed reads possible).
    voids_filled : int
        Void cells filled so far by :meth:`read` (counted per read).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        bounds_lonlat: tuple[float, float, float, float] | None = None,
        label: str | None = None,
    ) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
        from rasterio.windows import Window

        from deadzone.data.dem import dem_window, existing_path, metres_per_unit, quiet_affine

        p = existing_path(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                src = rasterio.open(p)
            except RasterioIOError as exc:
                raise DataLoadError(f"{p}: not a raster rasterio can read ({exc})") from None
        with src:
            if src.crs is None or not src.crs.to_wkt():
                raise CRSError(f"{p}: raster has no CRS")
            if src.transform.b != 0 or src.transform.d != 0:
                raise DataLoadError(f"{p}: rotated raster grids are not supported")
            window = Window(0, 0, src.width, src.height)
            if bounds_lonlat is not None:
                with quiet_affine():
                    window = dem_window(src, bounds_lonlat, p)
            with quiet_affine():
                self.transform = Affine(*src.window_transform(window)[:6])
            self.crs = CRS.from_user_input(src.crs)
            self.nodata = src.nodata
            self.dtype = np.dtype(src.dtypes[0])
            unit = metres_per_unit(src.crs)
        self.path = p
        self.label = label or str(p)
        self.projected_m = unit is not None and abs(unit - 1.0) < 1e-9
        self.row_off = int(window.row_off)
        self.col_off = int(window.col_off)
        self.shape = (int(window.height), int(window.width))
        self.voids_filled = 0
        self._lock = threading.Lock()
        self._src: Any = None

    @property
    def cell_w_m(self) -> float:
        """Cell width (m)."""
        return abs(self.transform.a)

    @property
    def cell_h_m(self) -> float:
        """Cell height (m)."""
        return abs(self.transform.e)

    def grid(self) -> Dem:
        """A :class:`Dem` with this grid's transform and CRS but no elevations.

        Its arrays are zero-strided views (no memory); use it for geometry only
        (:func:`deadzone.geo.coverage.towers_on_grid`, cell sizes).
        """
        if not self.projected_m:
            from rasterio.warp import transform as warp_transform

            from deadzone.data.dem import utm_crs

            cx, cy = self.transform @ (self.shape[1] / 2.0, self.shape[0] / 2.0)
            try:
                lon, lat = warp_transform(self.crs, "EPSG:4326", [cx], [cy])
                utm = f"EPSG:{utm_crs(float(lon[0]), float(lat[0])).to_epsg()}"
            except Exception:  # pragma: no cover - an odd CRS: keep the generic hint
                utm = "EPSG:326xx"
            raise CRSError(
                f"{self.path}: windowed processing needs a DEM in a projected CRS in metres "
                f"(this one is {self.crs}); warp it first, e.g. "
                f"gdalwarp -t_srs {utm} -tr 30 30 -r bilinear -co TILED=YES -co COMPRESS=DEFLATE "
                f"-co BIGTIFF=YES {self.path.name} dem_utm.tif"
            )
        return Dem(
            elevation_m=np.broadcast_to(np.float32(0.0), self.shape),
            transform=self.transform,
            crs=self.crs,
            void_mask=np.broadcast_to(np.False_, self.shape),
            source=str(self.path),
        )

    def open(self) -> DiskDem:
        """Keep the raster open for :meth:`read` until :meth:`close`."""
        import rasterio

        if self._src is None:
            self._src = rasterio.open(self.path)
        return self

    def close(self) -> None:
        """Close the raster."""
        if self._src is not None:
            self._src.close()
            self._src = None

    def __enter__(self) -> DiskDem:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, row0: int, col0: int, rows: int, cols: int) -> npt.NDArray[np.float32]:
        """Elevation (m, float32) of grid rows ``row0:row0+rows``, cols ``col0:col0+cols``.

        The window must lie inside the grid.  Voids (the nodata value, NaN, or
        -32768 in an int16 raster without nodata) are filled as
        :func:`~deadzone.data.loaders.load_dem` fills them, from a read
        grown by the 100-cell fill search distance, so a void within 100
        cells of valid data gets the same value as in the in-memory path.

        Raises
        ------
        DataLoadError
            Unreadable data, or a window with no valid cell at all.
        """
        from rasterio.windows import Window

        from deadzone.data.dem import fill_dem_voids

        if not (
            0 <= row0
            and 0 <= col0
            and rows > 0
            and cols > 0
            and row0 + rows <= self.shape[0]
            and col0 + cols <= self.shape[1]
        ):
            raise ParameterError(
                f"window ({row0}, {col0}, {rows}, {cols}) is outside the grid {self.shape}"
            )
        with self._lock:
            if self._src is None:
                self.open()
            raw = self._src.read(
                1, window=Window(self.col_off + col0, self.row_off + row0, cols, rows)
            )
        elev = raw.astype(np.float32)
        invalid = self._invalid(raw, elev)
        if not invalid.any():
            return elev
        # Voids: read again with the fill search margin, fill, crop.
        a0, b0 = max(row0 - _FILL_MARGIN, 0), max(col0 - _FILL_MARGIN, 0)
        a1 = min(row0 + rows + _FILL_MARGIN, self.shape[0])
        b1 = min(col0 + cols + _FILL_MARGIN, self.shape[1])
        with self._lock:
            big_raw = self._src.read(
                1, window=Window(self.col_off + b0, self.row_off + a0, b1 - b0, a1 - a0)
            )
        big = big_raw.astype(np.float32)
        big_invalid = self._invalid(big_raw, big)
        del big_raw
        if big_invalid.all():
            raise DataLoadError(
                f"{self.label}: no valid elevation cell within "
                f"{_FILL_MARGIN} cells of grid window "
                f"({row0}, {col0}, {rows}, {cols})"
            )
        fill_dem_voids(big, big_invalid)
        self.voids_filled += int(invalid.sum())
        return np.ascontiguousarray(big[row0 - a0 : row0 - a0 + rows, col0 - b0 : col0 - b0 + cols])

    def _invalid(self, raw: np.ndarray, elev: np.ndarray) -> npt.NDArray[np.bool_]:
        invalid = ~np.isfinite(elev)
        if self.nodata is not None and not math.isnan(self.nodata):
            invalid |= raw == np.asarray(self.nodata).astype(raw.dtype)
        elif self.nodata is None and raw.dtype == np.int16:
            invalid |= raw == -32768
        return invalid


def warp_to_disk(
    path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    bounds_lonlat: tuple[float, float, float, float] | None = None,
    resolution_m: float | None = None,
    band_rows: int = 512,
) -> Path:
    """Reproject a DEM (or its window) to a metric grid in a GeoTIFF on disk, band by band.

    For windowed processing of a DEM that is not in a projected CRS in metres
    (a geographic SRTM mosaic) or that must be resampled.  The grid is the
    one :func:`deadzone.data.loaders.load_dem` builds: the sub-grid covering
    the window of the whole raster's metric grid (the UTM zone of the
    raster's centre, or its own metric CRS; cells of ``resolution_m``,
    default the native cell's geodesic size at the centre; the whole grid's
    origin), with the same bilinear resampling at the same source positions;
    cells without source data are NaN (filled when read, see
    :meth:`DiskDem.read`).  Unlike ``load_dem``, voids are filled after the
    warp, not before, so values next to voids can differ from the in-memory
    path; elsewhere they are identical.  Memory: one band of at most
    ``band_rows`` rows (fewer for wide grids) and the source rows it needs.

    Returns
    -------
    Path
        ``out_path`` (float32, NaN nodata, tiled, deflate, BigTIFF).
    """
    import rasterio
    from rasterio.windows import Window

    from deadzone.data.dem import (
        DEM_VALID_RANGE_M,
        LATTICE,
        dem_grid,
        dem_read_plan,
        dem_window,
        existing_path,
        quiet_affine,
    )
    from deadzone.kernels.resample import warp_tent

    p = existing_path(path)
    out = Path(os.fspath(out_path))
    if resolution_m is not None and not (math.isfinite(resolution_m) and resolution_m > 0):
        raise ParameterError(f"resolution_m was {resolution_m!r}; expected a positive number")
    with rasterio.open(p) as src, quiet_affine():
        if src.crs is None or not src.crs.to_wkt():
            raise CRSError(f"{p}: raster has no CRS")
        if bounds_lonlat is not None:
            dem_window(src, bounds_lonlat, p)  # raises when the raster misses the box
        grid = dem_grid(src, None, resolution_m, p)
        plan = dem_read_plan(src, grid, bounds_lonlat, p, fill_voids=False)
        rows, cols = plan.keep[2], plan.keep[3]
        src_nodata = src.nodata
        lo_m, hi_m = DEM_VALID_RANGE_M

        def source(win: Window) -> npt.NDArray[np.float32]:
            raw = src.read(1, window=win)
            elev = raw.astype(np.float32)
            bad = ~np.isfinite(elev) | (elev < lo_m) | (elev > hi_m)
            if src_nodata is not None and not math.isnan(src_nodata):
                bad |= raw == np.asarray(src_nodata).astype(raw.dtype)
            elif src_nodata is None and raw.dtype == np.int16:
                bad |= raw == -32768  # SRTM voids
            elev[bad] = np.nan
            return elev

        profile = _tiled_gtiff(cols, rows, "float32", grid.crs, plan.transform, float("nan"))
        rd = plan.read
        step = max(1, min(band_rows, _WARP_BAND_CELLS // max(cols, 1)))
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), rasterio.open(out, "w", **profile) as dst:
            for r0 in range(0, rows, step):
                h = min(step, rows - r0)
                win = Window(0, r0, cols, h)
                if not grid.warp:  # a window of a metric raster: copied as is
                    dst.write(
                        source(Window(rd.col_off + plan.keep[1], rd.row_off + plan.keep[0] + r0,
                                      cols, h)),
                        1,
                        window=win,
                    )
                    continue
                assert plan.lattice is not None
                lat = plan.lattice
                ar0, ac0 = plan.area[0], plan.area[1]
                # every position is a bilinear blend of lattice nodes of these
                # rows, so their extent bounds the source rows the band reads
                i_lo = (ar0 + r0) // LATTICE - lat.i0
                i_hi = (ar0 + r0 + h - 1) // LATTICE - lat.i0 + 1
                node_rows = lat.row_f[i_lo : i_hi + 1]
                ok = np.isfinite(node_rows)
                band = np.full((h, cols), np.nan, dtype=np.float32)
                if ok.any():
                    ky = math.ceil(grid.kernel_y)
                    s0 = max(int(rd.row_off), math.floor(float(node_rows[ok].min()) - 0.5) - ky)
                    s1 = min(
                        int(rd.row_off + rd.height),
                        math.floor(float(node_rows[ok].max()) - 0.5) + ky + 2,
                    )
                    if s1 > s0:
                        vals = source(Window(rd.col_off, s0, rd.width, s1 - s0))
                        band, _ = warp_tent(
                            vals, np.zeros(vals.shape, dtype=bool), lattice_col=lat.col_f,
                            lattice_row=lat.row_f, lattice_origin=(lat.i0, lat.j0),
                            lattice_step=LATTICE, target_origin=(ar0 + r0, ac0),
                            target_shape=(h, cols), source_shape=(src.height, src.width),
                            window_origin=(s0, int(rd.col_off)), kernel_x=grid.kernel_x,
                            kernel_y=grid.kernel_y,
                        )
                dst.write(band, 1, window=win)
    return out
