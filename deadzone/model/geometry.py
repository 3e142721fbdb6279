"""Where a feature is evaluated: the one point rule shared by the loaders, the
audit engine and the exports."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["representative_points"]


def representative_points(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Each feature's representative point, in the series' CRS and index.

    A point is its own; any other geometry gets its representative point
    (GEOS ``PointOnSurface``: inside a polygon, on a line), as
    :meth:`geopandas.GeoSeries.representative_point` gives it; a missing
    geometry stays missing and an empty one gives an empty point.  Points are
    passed through without asking GEOS (about 5 us each: 0.1 s for 20,000
    villages).
    """
    arr = np.asarray(geoms.array, dtype=object)
    out = arr.copy()
    todo = shapely.get_type_id(arr) != 0  # 0: Point; -1 (None) stays as is
    todo &= ~shapely.is_missing(arr)
    if todo.any():
        out[todo] = shapely.point_on_surface(arr[todo])
    return gpd.GeoSeries(out, index=geoms.index, crs=geoms.crs)
