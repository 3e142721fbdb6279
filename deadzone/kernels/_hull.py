"""Incremental upper convex hull used for receiver horizons along a radial.

Both the knife-edge and the ITM sweeps keep the terrain seen so far along a
radial, in the curvature-corrected frame ``z' = z - x**2 / (2 a_e)``, as an
upper convex hull; the receiver horizon of the next sample is the tangent
from that sample to the hull (O(log n)), instead of a scan of all points.
"""

from __future__ import annotations

import numpy as np

from deadzone.kernels._vmath import vjit


@vjit
def _hull_push(hx: np.ndarray, hz: np.ndarray, nh: int, x: float, z: float) -> int:
    """Append (x, z) to an upper convex hull built left to right; return size.

    Andrew's monotone chain: pop while the last two points and the new one do
    not make a strict right turn (collinear middles are removed).
    """
    while nh >= 2:
        ax = hx[nh - 2]
        az = hz[nh - 2]
        bx = hx[nh - 1]
        bz = hz[nh - 1]
        cross = (bx - ax) * (z - az) - (bz - az) * (x - ax)
        if cross >= 0.0:
            nh -= 1
        else:
            break
    hx[nh] = x
    hz[nh] = z
    return nh + 1


@vjit
def _hull_horizon(hx: np.ndarray, hz: np.ndarray, nh: int, px: float, pz: float) -> int:
    """Index of the hull vertex with the highest elevation seen from (px, pz).

    ``px`` is right of every hull vertex.  Along the upper hull the edge
    slopes decrease; the tangent vertex is the first ``k`` whose outgoing
    edge is not above the line from vertex ``k`` to the viewer.  Ties keep the
    leftmost vertex, as the linear scan of :func:`point_loss` does.
    """
    lo = 0
    hi = nh - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # slope(k -> P) compared with the angle metric used in the scan:
        # vertex mid+1 is strictly higher seen from P than vertex mid?
        a_mid = (hz[mid] - pz) / (px - hx[mid])
        a_nxt = (hz[mid + 1] - pz) / (px - hx[mid + 1])
        if a_nxt > a_mid:
            lo = mid + 1
        else:
            hi = mid
    return lo
