"""Georeferenced terrain raster used by every computation."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import CRSError, ParameterError
from deadzone.kernels.resample import edge_connected

__all__ = ["Dem", "outside_footprint"]


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
    def bounds_lonlat(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees (EPSG:4326) of :attr:`bounds`."""
        from rasterio.warp import transform_bounds

        return tuple(transform_bounds(self.crs, "EPSG:4326", *self.bounds))  # type: ignore[return-value]

    @functools.cached_property
    def outside_footprint_mask(self) -> npt.NDArray[np.bool_]:
        """Cells outside the source data's footprint (:func:`outside_footprint` of
        ``void_mask``), worked out once per DEM: audits, what-if re-audits and
        tower placement all ask for it."""
        return outside_footprint(self.void_mask)

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
        rowf, colf = self.cell_coords(x, y)
        rows, cols = self.shape
        finite = np.isfinite(colf) & np.isfinite(rowf)
        r = np.floor(np.where(finite, rowf, -1)).astype(np.int64)
        c = np.floor(np.where(finite, colf, -1)).astype(np.int64)
        inside = finite & (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
        return np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1), inside

    def cell_coords(
        self, x: npt.ArrayLike, y: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Continuous (row, col) of CRS coordinates: 0.0 at the grid's top-left
        corner, 0.5 at the first cell's centre (the cell is the floor)."""
        inv = ~self.transform
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        return inv.d * xa + inv.e * ya + inv.f, inv.a * xa + inv.b * ya + inv.c

    def xy(self, rows: npt.ArrayLike, cols: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Return CRS coordinates of cell centres."""
        r = np.asarray(rows, dtype=np.float64) + 0.5
        c = np.asarray(cols, dtype=np.float64) + 0.5
        t = self.transform
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f


def outside_footprint(void_mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Cells of a DEM grid outside its source data's footprint.

    A geographic tile reprojected to UTM becomes a slightly rotated
    quadrilateral inside the rectangular output grid; the loader fills the
    grid's empty margins from the nearest valid cells and marks them in
    ``Dem.void_mask`` together with the source's own voids.  The margins are
    the void regions (4-connected) that touch the grid's border; voids that
    do not are data voids inside the footprint.

    Parameters
    ----------
    void_mask : ndarray of bool, shape (rows, cols)
        ``Dem.void_mask``.

    Returns
    -------
    ndarray of bool, same shape
        True outside the footprint.

    Notes
    -----
    A source void that touches the source's edge merges with the margin and
    counts as outside too: either way the cell has no measured elevation.
    The test is per cell, so a point within about one cell of the footprint's
    edge goes by the cell it falls in.
    """
    vm = np.asarray(void_mask, dtype=bool)
    if not vm.any():
        return np.zeros(vm.shape, dtype=bool)
    return edge_connected(vm)
