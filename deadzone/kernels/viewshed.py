"""Line-of-sight (viewshed) array API over the radial-sweep kernel."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _propagation as _k

__all__ = ["viewshed"]


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
) -> npt.NDArray[np.uint8]:
    """Cells visible from an observer, on the full DEM grid.

    Parameters
    ----------
    dem_m : 2-D array of float
        Terrain (m), finite everywhere.
    row, col : int
        Observer cell.
    cell_w_m, cell_h_m : float
        Cell size (m).
    radius_m : float
        Maximum distance (m).
    observer_height_m, target_height_m : float
        Heights above ground of observer and target (m).
    curvature_coeff : float
        Curvature and refraction coefficient ``1/k`` (0.75 for k = 4/3;
        GDAL ``gdal_viewshed -cc`` uses the same definition, default 0.85714).

    Returns
    -------
    ndarray of uint8, shape of ``dem_m``
        1 visible, 0 hidden, 255 beyond ``radius_m``.
    """
    dem = np.ascontiguousarray(dem_m, dtype=np.float32)
    if dem.ndim != 2:
        raise ParameterError(f"dem_m must be 2-D; got shape {dem.shape}")
    rows, cols = dem.shape
    if not (0 <= row < rows and 0 <= col < cols):
        raise ParameterError(f"observer cell ({row}, {col}) lies outside the DEM")
    if not (radius_m > 0 and math.isfinite(radius_m)):
        raise ParameterError(f"radius_m was {radius_m}; expected > 0")
    if not (0.0 <= curvature_coeff <= 2.0):
        raise ParameterError(f"curvature_coeff was {curvature_coeff}; expected 0..2")
    r = int(math.ceil(radius_m / min(cell_w_m, cell_h_m)))
    win = np.full((2 * r + 1, 2 * r + 1), 255, dtype=np.uint8)
    off2 = np.full((2 * r + 1, 2 * r + 1), np.inf, dtype=np.float64)
    _k.viewshed_sweep(dem, float(cell_w_m), float(cell_h_m), int(row), int(col), r,
                      float(radius_m), float(observer_height_m), float(target_height_m),
                      float(curvature_coeff), win, off2)
    out = np.full((rows, cols), 255, dtype=np.uint8)
    r0, c0 = row - r, col - r
    a0, b0 = max(r0, 0), max(c0, 0)
    a1, b1 = min(r0 + 2 * r + 1, rows), min(c0 + 2 * r + 1, cols)
    out[a0:a1, b0:b1] = win[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0]
    return out
