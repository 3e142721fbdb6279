"""Lon/lat boxes around features: what part of a DEM an analysis needs."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["reach_bounds", "union_bounds"]


def reach_bounds(features: Any, radius_km: float) -> tuple[float, float, float, float] | None:
    """Lon/lat box around the features grown by ``radius_km`` (None if none)."""
    g = features.geometry.to_crs(4326)
    pts = g[~(g.isna() | g.is_empty)]
    if pts.empty:
        return None
    w, s, e, n = pts.total_bounds
    dlat = (radius_km + 1.0) / 110.574
    coslat = max(math.cos(math.radians(max(abs(s), abs(n)))), 0.05)
    dlon = (radius_km + 1.0) / (111.320 * coslat)
    return (max(w - dlon, -180.0), max(s - dlat, -90.0), min(e + dlon, 180.0),
            min(n + dlat, 90.0))


def union_bounds(*boxes: tuple[float, float, float, float] | None) -> tuple[float, ...] | None:
    """Smallest lon/lat box holding every given box (None if none given)."""
    got = [b for b in boxes if b is not None]
    if not got:
        return None
    return (
        min(b[0] for b in got),
        min(b[1] for b in got),
        max(b[2] for b in got),
        max(b[3] for b in got),
    )
