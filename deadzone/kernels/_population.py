"""Area-weighted transfer of people from one grid onto another (pure Numba).

Areal weighting (Goodchild & Lam 1980, "Areal interpolation: a variant of the
traditional spatial problem", Geo-Processing 1:297-312): a target cell gets
each source cell's people in proportion to the share of the source cell's
area it holds.  A source cell (or each of its ``k x k`` equal sub-cells, for
source cells much larger than the target's) is mapped into the target CRS by
bilinear interpolation of a lattice of projected source corners, taken as the
axis-aligned rectangle between the mean positions of its opposite edges, and
split over the target cells by exact rectangle overlap (separable: column
share x row share).  What falls beyond the target grid (or on a failed
projection) is added to the ``outside`` total, so every person is counted
once.
"""

from __future__ import annotations

import math

from deadzone.kernels._jit import jit


@jit
def _at(lat, step, v, u):  # noqa: ANN001, ANN202
    """Bilinear value of lattice ``lat`` at source pixel position (row ``v``, col ``u``)."""
    ni, nj = lat.shape
    a = v / step
    b = u / step
    i = min(int(a), ni - 2)
    j = min(int(b), nj - 2)
    tv = a - i
    tu = b - j
    return ((1.0 - tv) * ((1.0 - tu) * lat[i, j] + tu * lat[i, j + 1])
            + tv * ((1.0 - tu) * lat[i + 1, j] + tu * lat[i + 1, j + 1]))


@jit
def spread_people(people, valid, lat_x, lat_y, step, k, x0, dx, y0, dy, out, touched):  # noqa: ANN001, ANN201
    """Add every source cell's people to ``out`` by area; return the people outside.

    ``lat_x``/``lat_y`` hold the target-CRS position of source pixel corner
    ``(i * step, j * step)`` (NaN where the projection failed).  Target cell
    ``(r, c)`` spans ``x0 + c * dx`` .. ``+ dx`` and ``y0 + r * dy`` .. ``+ dy``.
    ``touched[r, c]`` is set to 1 when part of a valid source cell lands in it.
    """
    rows, cols = people.shape
    th, tw = out.shape
    inv_k = 1.0 / k
    share = 1.0 / (k * k)
    outside = 0.0
    for r in range(rows):
        for c in range(cols):
            if not valid[r, c]:
                continue
            p = people[r, c] * share
            for a in range(k):
                v0 = r + a * inv_k
                v1 = r + (a + 1) * inv_k
                for b in range(k):
                    u0 = c + b * inv_k
                    u1 = c + (b + 1) * inv_k
                    # the sub-cell's edges (mean of their two corners) in target pixels
                    xl = 0.5 * (_at(lat_x, step, v0, u0) + _at(lat_x, step, v1, u0))
                    xr = 0.5 * (_at(lat_x, step, v0, u1) + _at(lat_x, step, v1, u1))
                    yt = 0.5 * (_at(lat_y, step, v0, u0) + _at(lat_y, step, v0, u1))
                    yb = 0.5 * (_at(lat_y, step, v1, u0) + _at(lat_y, step, v1, u1))
                    ca = (xl - x0) / dx
                    cb = (xr - x0) / dx
                    ra = (yt - y0) / dy
                    rb = (yb - y0) / dy
                    if not (math.isfinite(ca) and math.isfinite(cb)
                            and math.isfinite(ra) and math.isfinite(rb)):
                        outside += p
                        continue
                    if ca > cb:
                        ca, cb = cb, ca
                    if ra > rb:
                        ra, rb = rb, ra
                    wc = cb - ca
                    hr = rb - ra
                    c_lo = max(int(math.floor(ca)), 0)
                    c_hi = min(int(math.ceil(cb)), tw)  # exclusive
                    r_lo = max(int(math.floor(ra)), 0)
                    r_hi = min(int(math.ceil(rb)), th)
                    if wc <= 0.0 or hr <= 0.0:  # degenerate: a point
                        fc = int(math.floor(ca))
                        fr = int(math.floor(ra))
                        if 0 <= fc < tw and 0 <= fr < th:
                            out[fr, fc] += p
                            touched[fr, fc] = 1
                        else:
                            outside += p
                        continue
                    if c_lo >= c_hi or r_lo >= r_hi:
                        outside += p
                        continue
                    inside = 0.0
                    for tr in range(r_lo, r_hi):
                        fr = (min(rb, tr + 1.0) - max(ra, float(tr))) / hr
                        if fr <= 0.0:
                            continue
                        for tc in range(c_lo, c_hi):
                            fc = (min(cb, tc + 1.0) - max(ca, float(tc))) / wc
                            if fc <= 0.0:
                                continue
                            w = p * fr * fc
                            out[tr, tc] += w
                            touched[tr, tc] = 1
                            inside += w
                    outside += p - inside
    return outside


@jit
def status_sums(people, status, zone, n_zones, out):  # noqa: ANN001
    """``out[z, s]`` += people of the cells of zone ``z`` (0..n_zones-1; any other
    value counted in row ``n_zones``) and status ``s`` (0..out.shape[1]-1)."""
    rows, cols = people.shape
    for r in range(rows):
        for c in range(cols):
            p = people[r, c]
            if p == 0.0:
                continue
            z = zone[r, c]
            if z < 0 or z >= n_zones:
                z = n_zones
            out[z, status[r, c]] += p
