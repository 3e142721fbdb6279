"""Line-of-sight (viewshed) array API over the Numba kernels in :mod:`._viewshed`."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _viewshed as _k

__all__ = ["VIEWSHED_METHODS", "line_of_sight", "viewshed"]

VIEWSHED_METHODS = ("sweep", "reference-plane")
# gdal_viewshed bends the earth with its CRS's semi-major axis (WGS 84 for our
# UTM DEMs); the reference-plane method uses it too, to match GDAL cell for cell.
WGS84_SEMI_MAJOR_M = 6_378_137.0


def _check_common(dem_m: npt.ArrayLike, row: int, col: int, cell_w_m: float, cell_h_m: float,
                  curvature_coeff: float) -> np.ndarray:
    dem = np.ascontiguousarray(dem_m, dtype=np.float32)
    if dem.ndim != 2:
        raise ParameterError(f"dem_m must be 2-D; got shape {dem.shape}")
    rows, cols = dem.shape
    if not (0 <= row < rows and 0 <= col < cols):
        raise ParameterError(f"observer cell ({row}, {col}) lies outside the DEM")
    for name, v in (("cell_w_m", cell_w_m), ("cell_h_m", cell_h_m)):
        if not (v > 0 and math.isfinite(v)):
            raise ParameterError(f"{name} was {v}; expected > 0")
    if not (0.0 <= curvature_coeff <= 2.0):
        raise ParameterError(f"curvature_coeff was {curvature_coeff}; expected 0..2")
    return dem


def viewshed(
    dem_m: npt.NDArray[np.floating],
    row: int,
    col: int,
    *,
    cell_w_m: float,
    cell_h_m: float,
    radius_m: float,
    observer_height_m: float,
    target_height_m: float = 0.0,
    curvature_coeff: float = 0.75,
    method: str = "sweep",
) -> npt.NDArray[np.uint8]:
    """Cells visible from an observer, on the full DEM grid.

    The terrain is the bilinear surface through the cell centres, lowered by
    the earth bulge; a cell is visible when the sight line from the observer
    (cell centre + ``observer_height_m``) to its centre + ``target_height_m``
    clears that surface.  :func:`line_of_sight` gives the exact answer for
    single cells; ``method`` picks how the whole grid is computed (both
    O(cells); see :mod:`deadzone.kernels._viewshed`):

    ``"sweep"`` (default)
        Radial sweep with horizons interpolated between exact radial
        horizons.  Agrees with :func:`line_of_sight` on 99.96-99.99 % of
        cells (bench/viewshed.py); use it for coverage work.
    ``"reference-plane"``
        The reference-plane method of Wang, Robinson & White (2000) as run by
        ``gdal_viewshed -om NORMAL`` (GDAL 3.6, also behind QGIS's GDAL
        Viewshed tool), with its seeding conventions: each cell's horizon is
        extrapolated from two neighbours one ring closer, so interpolation
        errors carry outwards (99.47-99.81 % agreement with the exact answer
        on the bench cases; identical to gdal_viewshed 3.6.2 on every bench
        cell).  Use it to reproduce a GDAL/QGIS viewshed cell for cell.  Like
        GDAL with a WGS 84 based CRS, it bends the earth with R = 6,378,137 m
        instead of 6,371 km.

    Parameters
    ----------
    dem_m : 2-D array of float
        Terrain (m), finite everywhere.
    row, col : int
        Observer cell.
    cell_w_m, cell_h_m : float
        Cell size (m).
    radius_m : float
        Maximum distance (m) between cell centres.
    observer_height_m, target_height_m : float
        Heights above ground of observer and target (m).
    curvature_coeff : float
        Curvature and refraction coefficient ``1/k`` (0.75 for k = 4/3):
        heights drop by ``curvature_coeff * d**2 / (2 * 6371 km)`` (6378.137
        km for ``"reference-plane"``).  GDAL ``gdal_viewshed -cc`` uses the
        same definition (its default 0.85714 is for visible light).
    method : {"sweep", "reference-plane"}
        Algorithm, see above.

    Returns
    -------
    ndarray of uint8, shape of ``dem_m``
        1 visible, 0 hidden, 255 beyond ``radius_m``.

    Examples
    --------
    >>> import numpy as np
    >>> dem = np.zeros((5, 9), dtype=np.float32)
    >>> dem[:, 6] = 50.0
    >>> viewshed(dem, 2, 2, cell_w_m=30, cell_h_m=30, radius_m=200,
    ...          observer_height_m=10)[2]
    array([1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=uint8)
    """
    if method not in VIEWSHED_METHODS:
        raise ParameterError(f"method was {method!r}; expected one of {VIEWSHED_METHODS}")
    dem = _check_common(dem_m, row, col, cell_w_m, cell_h_m, curvature_coeff)
    if not (radius_m > 0 and math.isfinite(radius_m)):
        raise ParameterError(f"radius_m was {radius_m}; expected > 0")
    rows, cols = dem.shape
    r = int(math.ceil(radius_m / min(cell_w_m, cell_h_m)))
    win = np.full((2 * r + 1, 2 * r + 1), 255, dtype=np.uint8)
    if method == "sweep":
        _k.viewshed_sweep(dem, float(cell_w_m), float(cell_h_m), int(row), int(col), r,
                          float(radius_m), float(observer_height_m), float(target_height_m),
                          float(curvature_coeff), win)
    else:
        _k.viewshed_reference_plane(dem, float(cell_w_m), float(cell_h_m), int(row), int(col), r,
                                    float(radius_m), float(observer_height_m),
                                    float(target_height_m), float(curvature_coeff),
                                    2.0 * WGS84_SEMI_MAJOR_M, win)
    out = np.full((rows, cols), 255, dtype=np.uint8)
    r0, c0 = row - r, col - r
    a0, b0 = max(r0, 0), max(c0, 0)
    a1, b1 = min(r0 + 2 * r + 1, rows), min(c0 + 2 * r + 1, cols)
    out[a0:a1, b0:b1] = win[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0]
    return out


def line_of_sight(
    dem_m: npt.NDArray[np.floating],
    row: int,
    col: int,
    target_rows: npt.ArrayLike,
    target_cols: npt.ArrayLike,
    *,
    cell_w_m: float,
    cell_h_m: float,
    observer_height_m: float,
    target_height_m: float = 0.0,
    curvature_coeff: float = 0.75,
) -> npt.NDArray[np.bool_]:
    """Exact line of sight from an observer cell to each target cell.

    Same terrain model and definition as :func:`viewshed`, evaluated exactly
    per target (the bilinear surface is piecewise quadratic along the sight
    line, so each piece's maximum is found in closed form); O(distance in
    cells) per target.

    Parameters
    ----------
    dem_m : 2-D array of float
        Terrain (m), finite everywhere.
    row, col : int
        Observer cell.
    target_rows, target_cols : array of int
        Target cells (same shape), inside the DEM.
    cell_w_m, cell_h_m : float
        Cell size (m).
    observer_height_m, target_height_m : float
        Heights above ground of observer and target (m).
    curvature_coeff : float
        Curvature and refraction coefficient ``1/k``, as in :func:`viewshed`.

    Returns
    -------
    ndarray of bool, shape of ``target_rows``
        True where the target is visible.

    Examples
    --------
    >>> import numpy as np
    >>> dem = np.zeros((5, 9), dtype=np.float32)
    >>> dem[:, 6] = 50.0
    >>> line_of_sight(dem, 2, 2, [2, 2], [6, 7], cell_w_m=30, cell_h_m=30,
    ...               observer_height_m=10)
    array([ True, False])
    """
    dem = _check_common(dem_m, row, col, cell_w_m, cell_h_m, curvature_coeff)
    tr = np.asarray(target_rows)
    tc = np.asarray(target_cols)
    if tr.shape != tc.shape:
        raise ParameterError(f"target_rows has shape {tr.shape}, target_cols {tc.shape}; "
                             "expected the same")
    if not (np.issubdtype(tr.dtype, np.integer) and np.issubdtype(tc.dtype, np.integer)):
        raise ParameterError(f"target_rows/target_cols have dtypes {tr.dtype}/{tc.dtype}; "
                             "expected integers")
    rows, cols = dem.shape
    if tr.size and (tr.min() < 0 or tr.max() >= rows or tc.min() < 0 or tc.max() >= cols):
        raise ParameterError(f"target cells must lie inside the DEM ({rows} x {cols})")
    flat_r = np.ascontiguousarray(tr.ravel(), dtype=np.int64)
    flat_c = np.ascontiguousarray(tc.ravel(), dtype=np.int64)
    out = np.empty(flat_r.shape[0], dtype=np.uint8)
    _k.line_of_sight_cells(dem, float(cell_w_m), float(cell_h_m), int(row), int(col), flat_r,
                           flat_c, float(observer_height_m), float(target_height_m),
                           float(curvature_coeff), out)
    return out.reshape(tr.shape).astype(bool)
