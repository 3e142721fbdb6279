"""A gridded population raster (people per cell), as WorldPop, HRSL or GHSL publish it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import ParameterError

__all__ = ["PopulationGrid"]


@dataclass(frozen=True)
class PopulationGrid:
    """People per cell on the raster's own grid (geographic or projected).

    Attributes
    ----------
    people : ndarray of float64, shape (rows, cols)
        People counted in each cell; 0 where the source had nodata or a
        negative value.
    valid : ndarray of bool, same shape
        Cells the source gave a value for (``False`` at nodata).
    transform : affine.Affine
        Pixel-to-CRS transform of the window read (north-up).
    crs : rasterio.crs.CRS
        The raster's CRS (EPSG:4326 for WorldPop; any CRS GDAL knows).
    source : str
        Where it came from (path, or ``"demo"``).
    checksum : str
        SHA-256 of the source file (``""`` for generated grids).
    """

    people: npt.NDArray[np.float64]
    valid: npt.NDArray[np.bool_] = field(repr=False)
    transform: Affine
    crs: CRS
    source: str = ""
    checksum: str = ""

    def __post_init__(self) -> None:
        if self.people.ndim != 2:
            raise ParameterError(f"population grid must be 2-D; got shape {self.people.shape}")
        if self.valid.shape != self.people.shape:
            raise ParameterError("population valid mask shape differs from people shape")
        if self.transform.b != 0 or self.transform.d != 0:
            raise ParameterError("population grid transform must be north-up (no rotation)")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.people.shape  # type: ignore[return-value]

    @property
    def total(self) -> float:
        """People in the whole grid."""
        return float(self.people.sum())
