"""Terrain: :func:`load_dem` (a whole raster, or the window a bounding box needs,
voids filled, reprojected to UTM) and the pieces the windowed on-disk DEM of
:mod:`deadzone.geo.tiled` reuses."""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.fill import fillnodata
from rasterio.warp import calculate_default_transform
from rasterio.warp import transform as warp_transform

from deadzone.data._tables import (
    _GEOD,
    DEM_VALID_RANGE_M,
    PathLike,
    _defers_warnings,
    _one_line,
    _plural,
    _warn,
    existing_path,
    quiet_affine,
)
from deadzone.errors import (
    CRSError,
    DataLoadError,
    ParameterError,
)
from deadzone.kernels.resample import warp_tent
from deadzone.model.dem import Dem
from deadzone.model.geodesy import utm_crs

__all__ = [
    "LATTICE",
    "dem_grid",
    "dem_read_plan",
    "dem_window",
    "existing_path",
    "fill_dem_voids",
    "load_dem",
    "metres_per_unit",
    "quiet_affine",
    "utm_crs",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- DEM


def _fill_nearest(values: npt.NDArray[np.float32], todo: npt.NDArray[np.bool_]) -> None:
    """Fill ``todo`` cells in place from the valid 8-neighbours, ring by ring."""
    todo = todo.copy()
    while todo.any():
        rr, cc = np.nonzero(todo)
        r0, r1 = max(rr.min() - 1, 0), min(rr.max() + 2, todo.shape[0])
        c0, c1 = max(cc.min() - 1, 0), min(cc.max() + 2, todo.shape[1])
        v = values[r0:r1, c0:c1]
        t = todo[r0:r1, c0:c1]
        ok = np.pad(~t, 1, constant_values=False)
        vp = np.pad(np.where(t, 0.0, v).astype(np.float64), 1)
        total = np.zeros(v.shape, np.float64)
        count = np.zeros(v.shape, np.int32)
        h, w = v.shape
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                if dr == 1 and dc == 1:
                    continue
                okv = ok[dr : dr + h, dc : dc + w]
                total += np.where(okv, vp[dr : dr + h, dc : dc + w], 0.0)
                count += okv
        newly = t & (count > 0)
        if not newly.any():  # pragma: no cover - only when nothing is valid
            raise ValueError("no valid cell to fill from")
        v[newly] = (total[newly] / count[newly]).astype(values.dtype)
        t[newly] = False


def fill_dem_voids(elev: npt.NDArray[np.float32], invalid: npt.NDArray[np.bool_]) -> None:
    """Fill ``invalid`` cells in place: GDAL FillNodata, then nearest valid cells."""
    elev[invalid] = np.nan
    filled = fillnodata(
        elev,
        mask=(~invalid).astype(np.uint8),
        max_search_distance=float(_FILL_SEARCH_CELLS),
        smoothing_iterations=0,
    )
    filled = np.asarray(filled, dtype=np.float32)
    remainder = ~np.isfinite(filled)
    if remainder.any():
        _fill_nearest(filled, remainder)
    elev[...] = filled


def metres_per_unit(crs: CRS) -> float | None:
    """Linear unit of a projected CRS in metres (None if geographic/unknown)."""
    try:
        pc = ProjCRS.from_user_input(crs.to_wkt())
    except Exception:  # pragma: no cover - rasterio already parsed it
        return None
    if not pc.is_projected or not pc.axis_info:
        return None
    return float(pc.axis_info[0].unit_conversion_factor)


@_defers_warnings
def dem_window(src: Any, bounds_lonlat: tuple[float, float, float, float], p: Path) -> Any:
    """The raster window (whole cells, clipped) covering a lon/lat box."""
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    w, s_, e, n = (float(v) for v in bounds_lonlat)
    if not (w < e and s_ < n):
        raise ParameterError(f"bounds_lonlat was {bounds_lonlat!r}; expected (W, S, E, N)")
    box = transform_bounds("EPSG:4326", src.crs, w, s_, e, n, densify_pts=21)
    f = from_bounds(*box, transform=src.transform)
    c0, r0 = math.floor(f.col_off), math.floor(f.row_off)
    win = Window(c0, r0, math.ceil(f.col_off + f.width) - c0, math.ceil(f.row_off + f.height) - r0)
    full = Window(0, 0, src.width, src.height)
    if (
        win.col_off >= src.width
        or win.row_off >= src.height
        or win.col_off + win.width <= 0
        or win.row_off + win.height <= 0
    ):
        want = ", ".join(f"{float(v):.5f}" for v in bounds_lonlat)
        have = ", ".join(f"{float(v):.5f}" for v in src.bounds)
        hint = ""
        sb = src.bounds
        if src.crs.is_geographic and not (
            -180.0 <= sb.left <= sb.right <= 360.0 and -90.0 <= sb.bottom <= sb.top <= 90.0
        ):
            hint = "; its coordinates are not degrees: is its CRS wrong?"
        elif (
            not src.crs.is_geographic
            and abs(src.transform.a) < 0.01
            and -180.0 <= sb.left <= sb.right <= 180.0
            and -90.0 <= sb.bottom <= sb.top <= 90.0
        ):
            hint = "; its coordinates and cell size look like degrees: is its CRS wrong?"
        raise DataLoadError(
            f"{p}: does not cover the requested area (lon/lat {want}); the raster covers "
            f"({have}) in {src.crs}{hint}"
        )
    return win.intersection(full)


#: ``fillnodata`` search distance (cells) used by :func:`fill_dem_voids`.
_FILL_SEARCH_CELLS = 100
#: Extra cells read around a window so that void filling sees what the whole read sees.
_FILL_MARGIN = _FILL_SEARCH_CELLS + 2


@dataclass(frozen=True)
class _DemGrid:
    """The metric grid of a whole raster (from its header only).

    ``transform``/``width``/``height`` describe the whole target grid; a window
    read returns a sub-grid of it.  ``kernel_x``/``kernel_y`` are the radii of
    the bilinear (tent) kernel in source cells: 1, or the downsampling ratio.
    """

    crs: CRS
    warp: bool
    res_m: float
    transform: Affine
    width: int
    height: int
    kernel_x: float
    kernel_y: float


@dataclass(frozen=True)
class _Lattice:
    """Exact source positions at every ``LATTICE``-th target cell centre of the whole grid.

    ``col_f``/``row_f`` (source pixel coordinates of the whole raster, NaN
    where the projection fails) at target cells ``(i * LATTICE, j * LATTICE)``
    for ``i >= i0``, ``j >= j0``.  Cells in between are interpolated
    bilinearly from the four nodes around them (as GDAL's approximate
    transformer does along a row, but anchored to the whole grid, so the
    position of a cell never depends on the window; error about 1e-5 source
    cells for UTM).
    """

    i0: int
    j0: int
    col_f: npt.NDArray[np.float64]
    row_f: npt.NDArray[np.float64]


@dataclass(frozen=True)
class _DemPlan:
    """What to read for one request and where the result lies.

    ``read`` is the source window; ``area`` = (row, col, rows, cols) of the
    cells computed, in the whole target grid; ``keep`` = (row, col, rows,
    cols) of the result inside the computed array; ``lattice`` gives the
    source position of every computed cell (None when no warp is needed).
    """

    read: Any
    transform: Affine
    keep: tuple[int, int, int, int]
    area: tuple[int, int, int, int] = (0, 0, 0, 0)
    lattice: _Lattice | None = None


def dem_grid(
    src: Any, dst_crs_user: CRS | None, resolution_m: float | None, p: Path
) -> _DemGrid:
    """Target CRS, cell size and origin of a raster's metric grid, from the whole raster.

    A geographic raster goes to the UTM zone of the raster's centre at the
    geodesic size of its native cell there (unless ``dst_crs_user`` /
    ``resolution_m`` say otherwise); a projected raster in metres stays as is
    unless asked to change.  The grid never depends on the window requested.
    """
    crs = src.crs
    t = src.transform
    width, height = src.width, src.height
    unit_m = metres_per_unit(crs)
    cx, cy = t @ (width / 2.0, height / 2.0)
    if unit_m is None:
        lon_c, lat_c = warp_transform(crs, "EPSG:4326", [cx], [cy])
        lon_c, lat_c = float(lon_c[0]), float(lat_c[0])
        # cell size on the ellipsoid at the centre (geographic units are degrees)
        dx_m = _GEOD.inv(lon_c, lat_c, lon_c + abs(t.a), lat_c)[2]
        dy_m = _GEOD.inv(lon_c, lat_c, lon_c, lat_c + abs(t.e))[2]
        native_m = round(math.sqrt(dx_m * dy_m), 2)
        dst_crs = dst_crs_user or utm_crs(lon_c, lat_c)
    else:
        dx_m, dy_m = abs(t.a) * unit_m, abs(t.e) * unit_m
        native_m = math.sqrt(dx_m * dy_m)
        if dst_crs_user is not None:
            dst_crs = dst_crs_user
        elif abs(unit_m - 1.0) > 1e-9:
            lon_c, lat_c = warp_transform(crs, "EPSG:4326", [cx], [cy])
            dst_crs = utm_crs(float(lon_c[0]), float(lat_c[0]))
        else:
            dst_crs = crs
    res = float(resolution_m) if resolution_m is not None else native_m
    warp = (
        unit_m is None
        or dst_crs != crs
        or abs(unit_m - 1.0) > 1e-9
        or (
            resolution_m is not None
            and (abs(abs(t.a) - res) > 1e-9 * res or abs(abs(t.e) - res) > 1e-9 * res)
        )
    )
    if not warp:
        return _DemGrid(crs, False, res, Affine(*t[:6]), width, height, 1.0, 1.0)
    try:
        with quiet_affine():
            ft, fw, fh = calculate_default_transform(
                crs, dst_crs, width, height, *src.bounds, resolution=(res, res)
            )
    except Exception as exc:
        raise DataLoadError(
            f"{p}: cannot reproject the raster ({src.bounds}) to {dst_crs} ({_one_line(exc)}); "
            "is its CRS right?"
        ) from None
    return _DemGrid(
        CRS.from_user_input(dst_crs),
        True,
        res,
        Affine(*ft[:6]),
        int(fw),
        int(fh),
        max(1.0, res / dx_m),
        max(1.0, res / dy_m),
    )


def _grid_window(
    grid: _DemGrid, bounds_lonlat: tuple[float, float, float, float]
) -> tuple[int, int, int, int] | None:
    """(row, col, rows, cols) of the whole grid's cells covering a lon/lat box (outward)."""
    from rasterio.warp import transform_bounds

    xmin, ymin, xmax, ymax = transform_bounds(
        "EPSG:4326", grid.crs, *(float(v) for v in bounds_lonlat), densify_pts=21
    )
    t = grid.transform
    cols = sorted(((xmin - t.c) / t.a, (xmax - t.c) / t.a))
    rows = sorted(((ymax - t.f) / t.e, (ymin - t.f) / t.e))
    c0 = max(0, math.floor(cols[0]))
    c1 = min(grid.width, math.ceil(cols[1]))
    r0 = max(0, math.floor(rows[0]))
    r1 = min(grid.height, math.ceil(rows[1]))
    if c1 <= c0 or r1 <= r0:
        return None
    return r0, c0, r1 - r0, c1 - c0


#: Spacing (target cells) of the exactly projected lattice; a power of 2, so that
#: the interpolation weights are exact.
LATTICE = 16


def _lattice(src: Any, grid: _DemGrid, r0: int, c0: int, h: int, w: int) -> _Lattice:
    """The lattice nodes around target cells ``r0..r0+h-1`` x ``c0..c0+w-1``."""
    k = LATTICE
    i0, i1 = r0 // k, (r0 + h - 1) // k + 1
    j0, j1 = c0 // k, (c0 + w - 1) // k + 1
    t = grid.transform
    x = t.c + (np.arange(j0, j1 + 1, dtype=np.float64) * k + 0.5) * t.a
    y = t.f + (np.arange(i0, i1 + 1, dtype=np.float64) * k + 0.5) * t.e
    xx, yy = np.meshgrid(x, y)
    tr = Transformer.from_crs(
        ProjCRS.from_wkt(grid.crs.to_wkt()), ProjCRS.from_wkt(src.crs.to_wkt()), always_xy=True
    )
    sx, sy = tr.transform(xx, yy)
    sx = np.asarray(sx, dtype=np.float64)
    sy = np.asarray(sy, dtype=np.float64)
    if src.crs.is_geographic and src.bounds.right > 180.0:  # a 0..360 raster
        sx = np.where(sx < src.bounds.left, sx + 360.0, sx)
    st = src.transform
    col_f = (sx - st.c) / st.a
    row_f = (sy - st.f) / st.e
    bad = ~(np.isfinite(col_f) & np.isfinite(row_f))
    col_f[bad] = np.nan
    row_f[bad] = np.nan
    return _Lattice(i0, j0, col_f, row_f)


def dem_read_plan(
    src: Any,
    grid: _DemGrid,
    bounds_lonlat: tuple[float, float, float, float] | None,
    p: Path,
    *,
    fill_voids: bool,
) -> _DemPlan:
    """The source window to read and the target sub-grid for a request.

    The result is the sub-grid of the whole raster's grid covering
    ``bounds_lonlat`` (whole cells, outward).  The source is read with a
    margin: the resampling kernel's reach, plus the void-filling search
    distance when voids are filled; and the computed target area grows by that
    search distance where it meets the edge of the source footprint (whose
    cells are filled after reprojection), so that every cell gets the value
    the whole read gives it.
    """
    from rasterio.windows import Window

    full = Window(0, 0, src.width, src.height)
    fm = _FILL_MARGIN if fill_voids else 0
    if not grid.warp:
        win = dem_window(src, bounds_lonlat, p) if bounds_lonlat is not None else full
        rd = Window(win.col_off - fm, win.row_off - fm, win.width + 2 * fm, win.height + 2 * fm)
        rd = rd.intersection(full)
        keep = (
            int(win.row_off - rd.row_off),
            int(win.col_off - rd.col_off),
            int(win.height),
            int(win.width),
        )
        return _DemPlan(rd, Affine(*src.window_transform(win)[:6]), keep)

    tw: tuple[int, int, int, int] | None = (0, 0, grid.height, grid.width)
    if bounds_lonlat is not None:
        tw = _grid_window(grid, bounds_lonlat)
        if tw is None:  # the caller's dem_window check found some overlap
            raise DataLoadError(
                f"{p}: does not cover the requested area (lon/lat {bounds_lonlat}) once "
                f"reprojected to {grid.crs}"
            )
    assert tw is not None
    r0, c0, h, w = tw
    lat = _lattice(src, grid, r0, c0, h, w)

    def all_inside(lt: _Lattice) -> bool:
        # every cell is a convex combination of its four nodes
        return bool(
            np.all((lt.col_f >= 0) & (lt.col_f < src.width))
            and np.all((lt.row_f >= 0) & (lt.row_f < src.height))
        )

    er0, ec0, eh, ew = r0, c0, h, w
    if fill_voids and (h, w) != (grid.height, grid.width) and not all_inside(lat):
        # cells off the source footprint are filled from their neighbours in the target grid
        er0, ec0 = max(0, r0 - fm), max(0, c0 - fm)
        eh = min(grid.height, r0 + h + fm) - er0
        ew = min(grid.width, c0 + w + fm) - ec0
        lat = _lattice(src, grid, er0, ec0, eh, ew)
    ok = np.isfinite(lat.col_f) & np.isfinite(lat.row_f)
    if not ok.any():
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    kx, ky = math.ceil(grid.kernel_x), math.ceil(grid.kernel_y)
    cmin = max(0, math.floor(float(np.min(lat.col_f[ok])) - 0.5) - kx - fm)
    cmax = min(src.width - 1, math.floor(float(np.max(lat.col_f[ok])) - 0.5) + kx + 1 + fm)
    rmin = max(0, math.floor(float(np.min(lat.row_f[ok])) - 0.5) - ky - fm)
    rmax = min(src.height - 1, math.floor(float(np.max(lat.row_f[ok])) - 0.5) + ky + 1 + fm)
    if cmax < cmin or rmax < rmin:
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    rd = Window(cmin, rmin, cmax - cmin + 1, rmax - rmin + 1)
    transform = grid.transform * Affine.translation(c0, r0)
    return _DemPlan(
        rd,
        Affine(*transform[:6]),
        (r0 - er0, c0 - ec0, h, w),
        (er0, ec0, eh, ew),
        lat,
    )


def load_dem(
    path: PathLike,
    *,
    target_crs: Any = None,
    resolution_m: float | None = None,
    fill_voids: bool = True,
    bounds_lonlat: tuple[float, float, float, float] | None = None,
) -> Dem:
    """Load a terrain raster as a :class:`~deadzone.model.dem.Dem` in metres.

    Parameters
    ----------
    path : str or os.PathLike
        Any single-band raster rasterio reads: GeoTIFF, SRTM ``.hgt`` (e.g.
        ``N21E105.hgt``), ERDAS, ASCII grid.  Band 1 is elevation in metres.
    target_crs : CRS-like, optional
        Projected CRS for the result (anything ``rasterio.crs.CRS.from_user_input``
        accepts, e.g. ``"EPSG:32648"``).  Default: keep a projected metric CRS;
        reproject a geographic raster to the UTM zone (EPSG:326xx north /
        327xx south) of the whole raster's centre.
    resolution_m : float, optional
        Output cell size in metres when reprojecting (or to resample a
        projected raster).  Default for a geographic raster: the geometric mean
        of the native cell's width and height on the WGS84 ellipsoid at the
        whole raster's centre (3 arc-seconds at 21 N -> about 89 m).  The grid's
        origin is the whole raster's reprojected top-left corner.  Resampling
        is bilinear (a tent kernel widened to the downsampling ratio, as GDAL
        does) at exactly projected positions.
    fill_voids : bool, default True
        Fill nodata cells (the nodata value, NaN, -32768 in an int16 raster
        without a declared nodata, as in SRTM, or any elevation outside
        :data:`DEM_VALID_RANGE_M`, such as an undeclared -9999) with
        ``rasterio.fill.fillnodata`` (100-cell search), then any remainder from
        the nearest valid cells.  Filling happens before any reprojection.
        With ``False`` the voids stay NaN.
    bounds_lonlat : (min_lon, min_lat, max_lon, max_lat), optional
        Read only the window of the raster covering this area (degrees,
        EPSG:4326), so a national DEM is never loaded whole for a province.
        The result is the sub-grid (whole cells, snapped outward) of the grid
        the whole raster gives: same CRS (the UTM zone of the *raster's*
        centre), cell size and origin, and the same value in every cell as
        the whole read (the source is read with a margin covering the
        resampling kernel and the void-fill search), so two windows agree
        wherever they overlap.

    Returns
    -------
    Dem
        ``elevation_m`` float32 in metres; ``void_mask`` marks cells that had
        no source data: filled voids (reprojected with nearest neighbour) and
        cells of the reprojected grid outside the source footprint (filled
        from the nearest valid cells).

    Raises
    ------
    DataLoadError
        Missing file, not a raster, every cell nodata, rotated grid.
    CRSError
        The raster has no CRS, or ``target_crs`` is invalid or not projected.
    ParameterError
        ``resolution_m`` is not a positive number.

    Warns
    -----
    DeadzoneWarning
        When void cells were filled (with their count).

    Examples
    --------
    >>> dem = load_dem("../shared/data/srtm3/N21E105.hgt")  # doctest: +SKIP
    >>> dem.crs.to_epsg(), round(dem.cell_w_m)  # doctest: +SKIP
    (32648, 89)
    """
    p = existing_path(path)
    if resolution_m is not None and not (
        isinstance(resolution_m, (int, float)) and math.isfinite(resolution_m) and resolution_m > 0
    ):
        raise ParameterError(f"resolution_m was {resolution_m!r}; expected a positive number")
    dst_crs_user: CRS | None = None
    if target_crs is not None:
        try:
            dst_crs_user = CRS.from_user_input(target_crs)
        except Exception as exc:
            raise CRSError(
                f"target_crs {target_crs!r} is not a valid CRS ({_one_line(exc)})"
            ) from None
        if not dst_crs_user.is_projected:
            raise CRSError(f"target_crs {target_crs!r} is not a projected (metric) CRS")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(p)
        except RasterioIOError as exc:
            raise DataLoadError(f"{p}: not a raster rasterio can read ({_one_line(exc)})") from None
        with src:
            crs = src.crs
            if crs is None or not crs.to_wkt():
                raise CRSError(
                    f"{p}: raster has no CRS; assign one "
                    f"(e.g. gdal_edit.py -a_srs EPSG:4326 {p.name})"
                )
            if src.transform.b != 0 or src.transform.d != 0:
                raise DataLoadError(
                    f"{p}: rotated raster grids are not supported; warp it north-up"
                )
            with quiet_affine():
                if bounds_lonlat is not None:
                    dem_window(src, bounds_lonlat, p)  # raises when the raster misses the box
                # The target grid (CRS, cell size, origin) comes from the whole raster's
                # header, so a window read gives exactly the whole read's cells.
                grid = dem_grid(src, dst_crs_user, resolution_m, p)
                plan = dem_read_plan(src, grid, bounds_lonlat, p, fill_voids=fill_voids)
            try:
                raw = src.read(1, window=plan.read)
            except RasterioIOError as exc:
                raise DataLoadError(f"{p}: cannot read raster data ({_one_line(exc)})") from None
            nodata = src.nodata
            src_shape = (src.height, src.width)

    elev = raw.astype(np.float32)
    invalid = ~np.isfinite(elev)
    if nodata is not None and not math.isnan(nodata):
        invalid |= raw == np.asarray(nodata).astype(raw.dtype)
    elif nodata is None and raw.dtype == np.int16:
        invalid |= raw == -32768
    lo_m, hi_m = DEM_VALID_RANGE_M
    implausible = ~invalid & ((elev < lo_m) | (elev > hi_m))
    if implausible.any():
        _warn(
            f"{p}: {_plural(int(implausible.sum()), 'cell')} with elevations outside "
            f"{lo_m:g}..{hi_m:g} m (e.g. {float(elev[implausible][0]):g}, an undeclared nodata "
            "value?) treated as voids"
        )
        invalid |= implausible
    if invalid.all():
        raise DataLoadError(
            f"{p}: has no valid elevation cells (all {invalid.size} cells are nodata {nodata})"
        )
    void_mask = invalid.copy()
    n_void = int(invalid.sum())
    if n_void:
        if fill_voids:
            fill_dem_voids(elev, invalid)
            if not grid.warp:  # a warped DEM says it below, with its own grid's count
                _warn(
                    f"{p}: filled {_plural(n_void, 'void cell')} (nodata {nodata}) from the "
                    "nearest valid cells; they are marked in Dem.void_mask"
                )
        else:
            elev[invalid] = np.nan
            _warn(f"{p}: {_plural(n_void, 'void cell')} left as NaN (fill_voids=False)")

    if not grid.warp:
        r0, c0, h, w = plan.keep
        return Dem(
            elevation_m=np.ascontiguousarray(elev[r0 : r0 + h, c0 : c0 + w], dtype=np.float32),
            transform=Affine(*plan.transform[:6]),
            crs=CRS.from_user_input(crs),
            void_mask=np.ascontiguousarray(void_mask[r0 : r0 + h, c0 : c0 + w], dtype=bool),
            source=str(p),
        )

    assert plan.lattice is not None  # set for every warp plan
    row_off, col_off = int(plan.read.row_off), int(plan.read.col_off)
    ar0, ac0, ah, aw = plan.area
    lat = plan.lattice
    # void mask: nearest source cell (the one containing the target cell's centre)
    out, vm = warp_tent(
        elev, void_mask, lattice_col=lat.col_f, lattice_row=lat.row_f,
        lattice_origin=(lat.i0, lat.j0), lattice_step=LATTICE, target_origin=(ar0, ac0),
        target_shape=(ah, aw), source_shape=src_shape, window_origin=(row_off, col_off),
        kernel_x=grid.kernel_x, kernel_y=grid.kernel_y,
    )
    outside = ~np.isfinite(out)
    outside_only = outside if fill_voids else outside & ~vm
    if outside.all():
        raise DataLoadError(f"{p}: nothing left after reprojection to {grid.crs}")
    if fill_voids and outside.any():
        fill_dem_voids(out, outside)
    r0, c0, h, w = plan.keep
    out = out[r0 : r0 + h, c0 : c0 + w]
    vm = vm[r0 : r0 + h, c0 : c0 + w]
    outside_only = outside_only[r0 : r0 + h, c0 : c0 + w]
    logger.info(
        "%s: reprojected %s -> %s at %.2f m; %d cells outside the source footprint",
        p,
        crs,
        grid.crs,
        grid.res_m,
        int(outside_only.sum()),
    )
    dem = Dem(
        elevation_m=np.ascontiguousarray(out, dtype=np.float32),
        transform=Affine(*plan.transform[:6]),
        crs=CRS.from_user_input(grid.crs),
        void_mask=np.ascontiguousarray(vm | outside_only, dtype=bool),
        source=str(p),
    )
    if n_void and fill_voids:
        # the grid's data voids as summary.json counts them (dem.data_void_cells)
        n_grid = dem.void_count - int(dem.outside_footprint_mask.sum())
        _warn(
            f"{p}: filled {_plural(n_void, 'void cell')} of the source (nodata {nodata}) from "
            f"the nearest valid cells: {_plural(n_grid, 'cell')} of the {grid.res_m:.4g} m grid "
            "(summary.json dem.data_void_cells); they are marked in Dem.void_mask"
        )
    return dem


