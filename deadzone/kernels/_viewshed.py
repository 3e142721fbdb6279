"""Pure Numba line-of-sight kernels: the viewshed sweep and exact point-to-point line of sight.

Terrain model
-------------
Both kernels read the DEM as the bilinear surface through the cell centres
and lower every height by the earth bulge ``curvature_coeff * d**2 / (2 R)``
(``R`` = 6,371 km, ``curvature_coeff = 1/k``; GDAL ``gdal_viewshed -cc`` has
the same definition with the CRS's semi-major axis as ``R``, 0.1 % larger for
WGS 84, which changed no cell of the bench cases).  The observer stands at
the centre of its cell, ``h_obs_m`` above it; a target is the centre of a cell,
``h_tgt_m`` above it.  A target is visible when no point of that surface
between the two lies above the straight sight line (ties count as visible).

:func:`line_of_sight_cells` evaluates that definition exactly: along the
sight line the bilinear surface is a quadratic in the line parameter within
each DEM cell it crosses (the ``x y`` term), and so is the clearance once
the bulge is subtracted, so the largest clearance of each piece is at one of
its ends or at the vertex of the quadratic.  It costs O(path length) per
target and is the reference the sweep is measured against.

:func:`viewshed_sweep` answers all cells of a window in O(cells):

* the window is cut into 8 octants; in octant coordinates ``(m, j)``
  (``m`` along the major axis, ``0 <= j <= m`` across it) it casts
  ``RADIAL_OVERSAMPLE * R`` radials of slope ``i / (RADIAL_OVERSAMPLE * R)``,
  so adjacent radials are at most ``1 / RADIAL_OVERSAMPLE`` cell apart at
  the window's edge;
* each radial is sampled where it crosses the major-axis lines ``m`` (there
  the bilinear surface is a linear interpolation between two cells), plus
  the half-way points within ``NEAR_HALF_STEPS`` cells of the observer,
  where one cell subtends the largest elevation angles; a running maximum
  gives the radial's horizon slope before each line ``m``;
* cell ``(m, j)`` lies on line ``m`` between two adjacent radials; its
  horizon is the linear interpolation (across the line) of their horizons,
  compared with the exact slope to the cell's own centre.

This is the radial line-of-sight sweep of Franklin & Ray (1994, "Higher isn't
necessarily better: visibility algorithms and experiments") with the horizon
interpolated between radials as in the reference-plane idea of Wang, Robinson
& White (2000, PE&RS 66(1):87-90), but the interpolation is between exact
radial horizons instead of between neighbouring cells, so its error does not
accumulate with distance.  Each cell is written by exactly one wedge, and the
radials are grouped into fixed chunks, so the result does not depend on the
number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from deadzone.kernels._basic import EARTH_RADIUS_M
from deadzone.kernels._jit import jit, jit_parallel

RADIAL_OVERSAMPLE = 2
NEAR_HALF_STEPS = 256
CHUNK_RADIALS = 64

# Octants counter-clockwise from east (north up): major axis along columns
# (1) or rows (0), sign of the major step, sign of the minor step.  Even
# octants own their axis (j = 0) and not their diagonal, odd octants the
# diagonal (j = m) and not their axis, so every cell has one owner.
_OCTANTS = np.array([[1, 1, -1], [0, -1, 1], [0, -1, -1], [1, -1, -1],
                     [1, -1, 1], [0, 1, -1], [0, 1, 1], [1, 1, 1]], dtype=np.int64)


@jit
def _line_height(dem_m: np.ndarray, major_col: bool, g_major: int, s_minor: int, row0: int,
                 col0: int, u: float) -> float:
    """Height on major-axis line ``g_major`` (global index) at minor offset ``u`` cells.

    Linear interpolation between the two cells around ``u`` on that line
    (the bilinear surface restricted to it); indices clamp to the grid.
    """
    j0 = int(math.floor(u))
    return _line_height_at(dem_m, major_col, g_major, s_minor, row0, col0, j0, u - j0)


@jit
def _line_height_at(dem_m: np.ndarray, major_col: bool, g_major: int, s_minor: int, row0: int,
                    col0: int, j0: int, f: float) -> float:
    """:func:`_line_height` at ``u = j0 + f`` (``0 <= f < 1``)."""
    rows = dem_m.shape[0]
    cols = dem_m.shape[1]
    if major_col:
        a = min(max(row0 + s_minor * j0, 0), rows - 1)
        b = min(max(row0 + s_minor * (j0 + 1), 0), rows - 1)
        return dem_m[a, g_major] * (1.0 - f) + dem_m[b, g_major] * f
    a = min(max(col0 + s_minor * j0, 0), cols - 1)
    b = min(max(col0 + s_minor * (j0 + 1), 0), cols - 1)
    return dem_m[g_major, a] * (1.0 - f) + dem_m[g_major, b] * f


@jit
def _radial_horizon(
    dem_m: np.ndarray,
    major_col: bool,
    s_major: int,
    s_minor: int,
    row0: int,
    col0: int,
    i: int,
    n_rad: int,
    m_end: int,
    major_m: float,
    minor_m: float,
    inv2r: float,
    z_obs: float,
    out_h: np.ndarray,
) -> None:
    """Horizon slope of radial ``i`` (of ``n_rad``) before each major line.

    ``out_h[m]`` (m = 1..m_end) receives the largest ``(z - bulge - z_obs) / d``
    of the terrain samples strictly before line ``m`` (-1e300 for none).
    """
    lim = dem_m.shape[1] if major_col else dem_m.shape[0]
    g0 = col0 if major_col else row0
    slope = i / n_rad
    step = math.sqrt(major_m * major_m + (slope * minor_m) ** 2)  # metres per major step
    inv_n = 1.0 / n_rad
    s = -1e300
    j0 = 0  # minor position m i / n_rad = j0 + rem / n_rad, without divisions
    rem = 0
    for m in range(1, m_end + 1):
        out_h[m] = s
        d = m * step
        rem += i
        while rem >= n_rad:
            rem -= n_rad
            j0 += 1
        # slope = (z - bulge - z_obs) / d; the division only when the maximum moves
        zr = _line_height_at(dem_m, major_col, g0 + s_major * m, s_minor, row0, col0, j0,
                             rem * inv_n)
        zr -= d * d * inv2r + z_obs
        if zr > s * d:
            s = zr / d
        if m < NEAR_HALF_STEPS and m < m_end:
            # half-way to the next line: mean of the two lines' heights there
            uh = (m + 0.5) * slope
            g1 = min(max(g0 + s_major * (m + 1), 0), lim - 1)
            zh = 0.5 * (_line_height(dem_m, major_col, g0 + s_major * m, s_minor, row0, col0, uh)
                        + _line_height(dem_m, major_col, g1, s_minor, row0, col0, uh))
            dh = d + 0.5 * step
            zh -= dh * dh * inv2r + z_obs
            if zh > s * dh:
                s = zh / dh


@jit_parallel
def viewshed_sweep(
    dem_m: np.ndarray,
    cell_w_m: float,
    cell_h_m: float,
    row0: int,
    col0: int,
    radius_cells: int,
    radius_m: float,
    h_obs_m: float,
    h_tgt_m: float,
    curvature_coeff: float,
    out_visible: np.ndarray,
) -> None:
    """Line of sight from an observer to every cell of a square window.

    ``out_visible`` (uint8[2R+1, 2R+1], R = ``radius_cells``, centred on the
    observer cell, pre-filled with 255 = not computed) receives 1 (visible)
    or 0 (hidden) for every cell of the DEM within ``radius_m`` of the
    observer.  Parallel over fixed chunks of radials (``prange``); identical
    results for any number of threads.
    """
    rows = dem_m.shape[0]
    cols = dem_m.shape[1]
    r = radius_cells
    out_visible[r, r] = 1
    n_rad = RADIAL_OVERSAMPLE * r
    n_chunk = (n_rad + CHUNK_RADIALS - 1) // CHUNK_RADIALS
    inv2r = curvature_coeff / (2.0 * EARTH_RADIUS_M)
    z_obs = dem_m[row0, col0] + h_obs_m
    for task in prange(8 * n_chunk):
        o = task // n_chunk
        i0 = (task % n_chunk) * CHUNK_RADIALS
        i1 = min(i0 + CHUNK_RADIALS, n_rad)
        major_col = _OCTANTS[o, 0] == 1
        s_major = _OCTANTS[o, 1]
        s_minor = _OCTANTS[o, 2]
        odd = o % 2 == 1
        major_m = cell_w_m if major_col else cell_h_m
        minor_m = cell_h_m if major_col else cell_w_m
        if major_col:
            m_grid = (cols - 1 - col0) if s_major > 0 else col0
        else:
            m_grid = (rows - 1 - row0) if s_major > 0 else row0
        m_grid = min(m_grid, r)
        h_lo = np.empty(r + 2, dtype=np.float64)
        h_hi = np.empty(r + 2, dtype=np.float64)
        for i in range(i0, i1):
            # Wedge i between radials i and i + 1: its cells on line m are at
            # least as far as radial i's sample there.
            step_m = math.sqrt(major_m * major_m + (i / n_rad * minor_m) ** 2)
            m_end = min(m_grid, int(radius_m / step_m))
            if i == i0:
                _radial_horizon(dem_m, major_col, s_major, s_minor, row0, col0, i, n_rad, m_end,
                                major_m, minor_m, inv2r, z_obs, h_lo)
            else:
                h_lo, h_hi = h_hi, h_lo  # radial i was computed as the last wedge's upper side
            _radial_horizon(dem_m, major_col, s_major, s_minor, row0, col0, i + 1, n_rad, m_end,
                            major_m, minor_m, inv2r, z_obs, h_hi)
            last = odd and i == n_rad - 1
            j = 0  # first j with j / m >= i / n_rad, kept up to date without divisions
            for m in range(1, m_end + 1):
                while j * n_rad < i * m:
                    j += 1
                jc = j
                while jc * n_rad < (i + 1) * m or (last and jc == m):
                    if not (odd and jc == 0):
                        if major_col:
                            gr = row0 + s_minor * jc
                            gc = col0 + s_major * m
                        else:
                            gr = row0 + s_major * m
                            gc = col0 + s_minor * jc
                        if 0 <= gr < rows and 0 <= gc < cols:
                            dm = m * major_m
                            dn = jc * minor_m
                            d2 = dm * dm + dn * dn
                            if d2 <= radius_m * radius_m:
                                w = (jc * n_rad - i * m) / m
                                h = h_lo[m] if w == 0.0 else h_lo[m] * (1.0 - w) + h_hi[m] * w
                                z_t = dem_m[gr, gc] + h_tgt_m - d2 * inv2r - z_obs
                                s_tgt = z_t / math.sqrt(d2)
                                out_visible[gr - row0 + r, gc - col0 + r] = 1 if s_tgt >= h else 0
                    jc += 1


@jit
def _piece_max(dem_m: np.ndarray, row0: int, col0: int, dr: int, dc: int, ta: float, tb: float,
               z_obs: float, z_tgt: float, bulge: float) -> float:
    """Largest clearance of the terrain above the sight line for t in [ta, tb].

    The sight line runs from the observer (t = 0) to the target (t = 1);
    ``[ta, tb]`` lies within one DEM cell (between four cell centres), where
    the clearance ``f(t) = B(t) - bulge t**2 - z_obs - z_tgt t`` is quadratic
    (``B`` bilinear).  The ends t = 0 and t = 1 themselves are left out.
    """
    rows = dem_m.shape[0]
    cols = dem_m.shape[1]
    tm = 0.5 * (ta + tb)
    r0 = min(max(int(math.floor(row0 + tm * dr)), 0), rows - 1)
    c0 = min(max(int(math.floor(col0 + tm * dc)), 0), cols - 1)
    r1 = min(r0 + 1, rows - 1)
    c1 = min(c0 + 1, cols - 1)
    z00 = dem_m[r0, c0]
    z01 = dem_m[r0, c1]
    z10 = dem_m[r1, c0]
    z11 = dem_m[r1, c1]
    a = z01 - z00
    b = z10 - z00
    c = z11 - z01 - z10 + z00
    x0 = col0 - c0
    y0 = row0 - r0
    k0 = z00 + a * x0 + b * y0 + c * x0 * y0 - z_obs
    k1 = a * dc + b * dr + c * (x0 * dr + y0 * dc) - z_tgt
    k2 = c * dc * dr - bulge
    f = -1e300
    if ta > 0.0:
        f = k0 + ta * (k1 + ta * k2)
    if tb < 1.0:
        f = max(f, k0 + tb * (k1 + tb * k2))
    if k2 < 0.0:
        ts = -k1 / (2.0 * k2)
        if ta < ts < tb:
            f = max(f, k0 + ts * (k1 + ts * k2))
    return f


@jit_parallel
def line_of_sight_cells(
    dem_m: np.ndarray,
    cell_w_m: float,
    cell_h_m: float,
    row0: int,
    col0: int,
    target_rows: np.ndarray,
    target_cols: np.ndarray,
    h_obs_m: float,
    h_tgt_m: float,
    curvature_coeff: float,
    out_visible: np.ndarray,
) -> None:
    """Exact line of sight over the bilinear DEM to each target cell centre.

    ``out_visible[n]`` (uint8) receives 1 when target ``n`` is visible from
    the observer cell, else 0; see the module docstring for the definition.
    Targets must lie inside the DEM.  Parallel over targets.
    """
    inv2r = curvature_coeff / (2.0 * EARTH_RADIUS_M)
    z_obs = dem_m[row0, col0] + h_obs_m
    for n in prange(target_rows.shape[0]):
        tr = target_rows[n]
        tc = target_cols[n]
        dr = tr - row0
        dc = tc - col0
        d2 = (dr * cell_h_m) ** 2 + (dc * cell_w_m) ** 2
        vis = 1
        if d2 > 0.0:
            bulge = d2 * inv2r
            z_tgt = dem_m[tr, tc] + h_tgt_m - bulge - z_obs
            # pieces end where the line crosses a row or column of cell centres
            nr = abs(dr)
            nc = abs(dc)
            ir = 1
            ic = 1
            ta = 0.0
            while True:
                t_r = ir / nr if ir < nr else 1.0
                t_c = ic / nc if ic < nc else 1.0
                tb = min(t_r, t_c)
                if _piece_max(dem_m, row0, col0, dr, dc, ta, tb, z_obs, z_tgt, bulge) > 0.0:
                    vis = 0
                    break
                if tb >= 1.0:
                    break
                if t_r == tb:
                    ir += 1
                if t_c == tb:
                    ic += 1
                ta = tb
        out_visible[n] = vis

