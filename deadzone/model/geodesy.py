"""Earth figures used outside the radio kernels: great-circle distances and the UTM zone.

The radio kernels keep their own effective-Earth convention (``k * 6371 km``,
``deadzone.kernels.coverage.EARTH_RADIUS_M``), as the propagation methods
define it; this module is for geometry: matching points by distance,
drawing sectors on maps, choosing a metric CRS.

Both functions are written here rather than taken from a library, on
purpose:

- :func:`haversine_m` is vectorised over numpy arrays and matches points to
  tolerances of tens of metres or more, where the sphere's error against the
  ellipsoid (< 0.5 %) does not matter; ``pyproj.Geod.inv`` gives ellipsoidal
  distances at ~20x the cost and would move matches at the tolerance's edge.
- :func:`utm_crs` picks the zone from the longitude as the UTM grid defines
  it.  ``pyproj``'s ``query_utm_crs_info`` (behind
  ``GeoDataFrame.estimate_utm_crs``) returns the same zone away from zone
  edges, takes ~80 ms a call, and returns two zones on an edge; neither
  applies the Norway/Svalbard exceptions.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from rasterio.crs import CRS

__all__ = ["MEAN_EARTH_RADIUS_M", "haversine_m", "utm_crs"]

#: IUGG mean Earth radius (m), for great-circle distances.
MEAN_EARTH_RADIUS_M = 6_371_008.8


def haversine_m(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distance (m) on a sphere of :data:`MEAN_EARTH_RADIUS_M`.

    Parameters
    ----------
    lon1, lat1, lon2, lat2 : array_like
        Degrees (EPSG:4326); broadcast together.

    Returns
    -------
    numpy.ndarray
        Distances in metres.

    Examples
    --------
    >>> round(float(haversine_m(105.0, 21.0, 105.0, 22.0)))
    111195
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.subtract(lon2, lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * MEAN_EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone (EPSG:326xx north, 327xx south) of a point.

    Examples
    --------
    >>> utm_crs(105.8, 21.0).to_epsg()
    32648
    """
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
