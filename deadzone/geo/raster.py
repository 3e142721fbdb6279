"""Georeferenced terrain raster used by every computation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import CRSError, ParameterError

__all__ = ["Dem"]


@dataclass(frozen=True)
class Dem:
    """A terrain model in a projected (metric) CRS.

    Attributes
    ----------
    elevation_m : ndarray of float32, shape (rows, cols)
        Terrain height above sea level in metres; voids already filled.
    transform : affine.Affine
        Pixel-to-CRS transform (north-up; no rotation).
    crs : rasterio.crs.CRS
        A projected CRS with metre units (e.g. a UTM zone).
    void_mask : ndarray of bool, same shape
        Cells that were nodata in the source and were filled.
    source : str
        Where the DEM came from (path or ``"demo"``).
    """

    elevation_m: npt.NDArray[np.float32]
    transform: Affine
    crs: CRS
    void_mask: npt.NDArray[np.bool_] = field(repr=False)
    source: str = ""

    def __post_init__(self) -> None:
        if self.elevation_m.ndim != 2:
            raise ParameterError(f"DEM must be 2-D; got shape {self.elevation_m.shape}")
        if self.void_mask.shape != self.elevation_m.shape:
            raise ParameterError("DEM void_mask shape differs from elevation shape")
        if self.crs is None or not self.crs.is_projected:
            raise CRSError(f"DEM CRS must be projected in metres; got {self.crs}")
        if self.transform.b != 0 or self.transform.d != 0:
            raise ParameterError("DEM transform must be north-up (no rotation)")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.elevation_m.shape  # type: ignore[return-value]

    @property
    def cell_w_m(self) -> float:
        """Cell width (x) in metres."""
        return abs(self.transform.a)

    @property
    def cell_h_m(self) -> float:
        """Cell height (y) in metres."""
        return abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in the DEM CRS."""
        rows, cols = self.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (cols, rows)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    @property
    def void_count(self) -> int:
        """Number of cells filled because the source had no data there."""
        return int(self.void_mask.sum())

    def rowcol(
        self, x: npt.ArrayLike, y: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Map CRS coordinates to cell indices.

        Parameters
        ----------
        x, y : array_like
            Coordinates in the DEM CRS (metres).

        Returns
        -------
        rows, cols : ndarray of int64
            Cell indices (clipped into the grid).
        inside : ndarray of bool
            Whether each point lies inside the grid.
        """
        inv = ~self.transform
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        colf = inv.a * xa + inv.b * ya + inv.c
        rowf = inv.d * xa + inv.e * ya + inv.f
        rows, cols = self.shape
        finite = np.isfinite(colf) & np.isfinite(rowf)
        r = np.floor(np.where(finite, rowf, -1)).astype(np.int64)
        c = np.floor(np.where(finite, colf, -1)).astype(np.int64)
        inside = finite & (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        return np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1), inside

    def xy(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return CRS coordinates of cell centres."""
        r = np.asarray(rows, dtype=np.float64) + 0.5
        c = np.asarray(cols, dtype=np.float64) + 0.5
        t = self.transform
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f
