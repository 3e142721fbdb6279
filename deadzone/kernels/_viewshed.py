"""Pure Numba line-of-sight kernels: viewshed sweep, GDAL-style viewshed, exact line of sight.

Terrain model
-------------
The sweep and the exact kernel read the DEM as the bilinear surface through
the cell centres and lower every height by the earth bulge
``curvature_coeff * d**2 / (2 R)`` (``R`` = 6,371 km,
``curvature_coeff = 1/k``; GDAL ``gdal_viewshed -cc`` has the same
definition with the CRS's semi-major axis as ``R``, 0.1 % larger for WGS 84,
which changed no cell of the sweep on the bench cases).  The observer stands at
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

:func:`viewshed_reference_plane` is the reference-plane method of Wang et al.
(2000) as ``gdal_viewshed -om NORMAL`` runs it (see the comment block above
it): faster, but each cell's horizon is extrapolated from neighbours one ring
closer, so it is less exact; it exists to reproduce GDAL/QGIS viewsheds.
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



# ---------------------------------------------------------------------------
# Reference-plane viewshed (GDAL-compatible)
# ---------------------------------------------------------------------------
#
# Method: Wang, Robinson & White (2000), "Generating viewsheds without using
# sightlines", PE&RS 66(1):87-90, in the variant run by ``gdal_viewshed -om
# NORMAL`` (its default "edge" cell mode).  Cells are visited ring by ring
# outwards from the observer, one quadrant at a time, row by row away from
# the observer's row and, within a row, cell by cell away from its column.
# Each visited cell keeps one number, its "horizon height" H = max(own
# height, the height a sight line grazing the horizon would have there).  A
# cell's horizon height comes from the plane through the observer's eye and
# the two already-visited neighbours that bracket its sight line on the
# previous ring:
#
# * |dx| > |dy|: the cells one column back, on the previous row (dx-1, dy-1)
#   and on this row (dx-1, dy); the sight line crosses column dx-1 between
#   them, where linear interpolation weights them |dy|/|dx| and
#   (|dx|-|dy|)/|dx|; the plane through the eye and that crossing, scaled
#   out by |dx|/(|dx|-1) to the cell, gives
#   Z = ((Ha - Zo) |dy| + (Hb - Zo) (|dx| - |dy|)) / (|dx| - 1) + Zo;
# * |dy| > |dx|: the same with rows and columns swapped, (dx-1, dy-1) and
#   (dx, dy-1);
# * |dx| = |dy| (the diagonal) and the two axes: the one cell straight back
#   towards the observer, extrapolated along the line,
#   Z = (Ha - Zo) / (n - 1) + Ha (n = ring), or Ha itself on ring 1.
#
# Heights are lowered by ``curvature_coeff * d**2 / (2 R)`` before use; Zo is
# the observer's ground plus its height.  A cell is hidden when its height
# plus the target height is below Z (ties visible).  The seeding follows
# gdal_viewshed: the observer's cell keeps its bare ground height (not the
# eye height) as H, its two neighbours on its own row are visible with H =
# their own height, and the column axis starts from the observer's ground.
# Because every H is built from H's one ring closer, an interpolation error
# made near the observer is carried outwards; this is why the method differs
# from the exact line of sight on a fraction of a percent of cells (about
# 0.19-0.53 % on the bench cases), mostly along visibility edges.
#
# Each quadrant depends only on the two half-axes that bound it, so the four
# quadrants run in parallel once the axes are done; every cell has one
# writer, so the result does not depend on the number of threads.


@jit
def _rp_axis(
    dem_m: np.ndarray,
    row0: int,
    col0: int,
    d_row: int,
    d_col: int,
    n: int,
    step_m: float,
    r2max: float,
    curvature_coeff: float,
    earth_diam_m: float,
    z_obs: float,
    h_tgt_m: float,
    free_first: bool,
    r: int,
    out_visible: np.ndarray,
    out_h: np.ndarray,
) -> None:
    """Horizon heights ``out_h[0..n]`` along one half-axis from the observer.

    The half-axis steps ``(d_row, d_col)`` cells at a time (``step_m`` metres).
    ``free_first``: the first cell is visible by definition and keeps its own
    height (the observer's row in gdal_viewshed); otherwise it is compared
    with the observer's bare ground.
    """
    out_h[0] = dem_m[row0, col0]
    for k in range(1, n + 1):
        gr = row0 + d_row * k
        gc = col0 + d_col * k
        d = step_m * k
        d2 = d * d
        z = dem_m[gr, gc] - curvature_coeff * d2 / earth_diam_m
        inside = d2 <= r2max
        if k == 1 and free_first:
            out_h[k] = z
            if inside:
                out_visible[gr - row0 + r, gc - col0 + r] = 1
            continue
        if not inside:
            out_h[k] = z
            continue
        ha = out_h[k - 1]
        zh = ha if k == 1 else (ha - z_obs) / (k - 1) + ha
        out_visible[gr - row0 + r, gc - col0 + r] = 0 if z + h_tgt_m < zh else 1
        out_h[k] = max(z, zh)


@jit
def _rp_quadrant(
    dem_m: np.ndarray,
    row0: int,
    col0: int,
    s_row: int,
    s_col: int,
    n_row: int,
    n_col: int,
    cell_w_m: float,
    cell_h_m: float,
    r2max: float,
    curvature_coeff: float,
    earth_diam_m: float,
    z_obs: float,
    h_tgt_m: float,
    h_row_axis: np.ndarray,
    h_col_axis: np.ndarray,
    r: int,
    out_visible: np.ndarray,
) -> None:
    """One quadrant (``|dy| = 1..n_row`` rows, ``|dx| = 1..n_col`` columns).

    ``h_row_axis[j]`` / ``h_col_axis[i]``: horizon heights on the observer's
    row at ``|dx| = j`` and on its column at ``|dy| = i``, on the quadrant's side.
    """
    last = np.empty(n_col + 1, dtype=np.float64)
    cur = np.empty(n_col + 1, dtype=np.float64)
    for j in range(n_col + 1):
        last[j] = h_row_axis[j]
    for i in range(1, n_row + 1):
        cur[0] = h_col_axis[i]
        dy_m = cell_h_m * i
        gr = row0 + s_row * i
        for j in range(1, n_col + 1):
            dx_m = cell_w_m * j
            d2 = dx_m * dx_m + dy_m * dy_m
            if d2 > r2max:
                break  # the rest of the row is farther still
            gc = col0 + s_col * j
            z = dem_m[gr, gc] - curvature_coeff * d2 / earth_diam_m
            if j > i:
                zh = ((last[j - 1] - z_obs) * i + (cur[j - 1] - z_obs) * (j - i)) / (j - 1) + z_obs
            elif j < i:
                zh = ((last[j - 1] - z_obs) * j + (last[j] - z_obs) * (i - j)) / (i - 1) + z_obs
            elif i == 1:
                zh = last[0]
            else:
                zh = (last[j - 1] - z_obs) / (i - 1) + last[j - 1]
            out_visible[gr - row0 + r, gc - col0 + r] = 0 if z + h_tgt_m < zh else 1
            cur[j] = max(z, zh)
        last, cur = cur, last


@jit_parallel
def viewshed_reference_plane(
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
    earth_diam_m: float,
    out_visible: np.ndarray,
) -> None:
    """Reference-plane viewshed (Wang et al. 2000, as ``gdal_viewshed -om NORMAL``).

    Same window and output convention as :func:`viewshed_sweep`
    (``out_visible`` uint8[2R+1, 2R+1] centred on the observer, pre-filled
    with 255; 1 visible, 0 hidden within ``radius_m``).  Heights drop by
    ``curvature_coeff * d**2 / earth_diam_m``.  See the comment block above
    for the method and its seeding.  Parallel over the four quadrants.
    """
    rows = dem_m.shape[0]
    cols = dem_m.shape[1]
    r = radius_cells
    r2max = radius_m * radius_m
    z_obs = dem_m[row0, col0] + h_obs_m
    out_visible[r, r] = 1
    # half-axes: 0 east, 1 west (observer's row), 2 south, 3 north (its column)
    n_ax = np.empty(4, dtype=np.int64)
    n_ax[0] = min(cols - 1 - col0, r)
    n_ax[1] = min(col0, r)
    n_ax[2] = min(rows - 1 - row0, r)
    n_ax[3] = min(row0, r)
    h_ax = np.empty((4, r + 1), dtype=np.float64)
    for a in range(4):
        d_row = 0 if a < 2 else (1 if a == 2 else -1)
        d_col = 0 if a >= 2 else (1 if a == 0 else -1)
        step_m = cell_w_m if a < 2 else cell_h_m
        _rp_axis(dem_m, row0, col0, d_row, d_col, n_ax[a], step_m, r2max, curvature_coeff,
                 earth_diam_m, z_obs, h_tgt_m, a < 2, r, out_visible, h_ax[a])
    for q in prange(4):
        s_row = 1 if q < 2 else -1
        s_col = 1 if q % 2 == 0 else -1
        a_row = 0 if s_col > 0 else 1
        a_col = 2 if s_row > 0 else 3
        _rp_quadrant(dem_m, row0, col0, s_row, s_col, n_ax[a_col], n_ax[a_row], cell_w_m,
                     cell_h_m, r2max, curvature_coeff, earth_diam_m, z_obs, h_tgt_m, h_ax[a_row],
                     h_ax[a_col], r, out_visible)
