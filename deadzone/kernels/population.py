"""Population kernel API (:mod:`._population`): people moved between grids by
area, and people summed by zone and status."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _population as _k

__all__ = ["spread_people", "status_sums"]

#: Largest sub-division of a source cell per side (``k``): a 1 km GHSL cell on
#: a 10 m grid is placed in 64 x 64 sub-cells of 16 m.
MAX_SUBCELLS = 64


def spread_people(
    people: npt.NDArray[np.floating],
    valid: npt.NDArray[np.bool_],
    *,
    lattice_x: npt.NDArray[np.float64],
    lattice_y: npt.NDArray[np.float64],
    lattice_step: int,
    subcells: int,
    target_transform: tuple[float, float, float, float],
    target_shape: tuple[int, int],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], float]:
    """Put people per source cell onto a north-up target grid, area-weighted.

    Parameters
    ----------
    people : float[rows, cols]
        People per source cell (>= 0).
    valid : bool[rows, cols]
        Source cells with data (others add nothing and touch nothing).
    lattice_x, lattice_y : float64[ni, nj]
        Target-CRS coordinates (target units, e.g. metres) of source pixel
        corner ``(i * lattice_step, j * lattice_step)``; ``ni >=
        ceil(rows / lattice_step) + 1`` (likewise ``nj``); NaN where the
        projection failed.
    lattice_step : int
        Source cells between lattice nodes (>= 1).
    subcells : int
        ``k``: each source cell is split into ``k x k`` sub-cells (1 ..
        :data:`MAX_SUBCELLS`).
    target_transform : (x0, dx, y0, dy)
        Target cell ``(r, c)`` spans ``x0 + c*dx`` .. ``+dx`` and ``y0 + r*dy``
        .. ``+dy`` (``dy`` < 0 for north-up).
    target_shape : (rows, cols)
        Target grid size.

    Returns
    -------
    (float64[th, tw], bool[th, tw], float)
        People per target cell, target cells that received a sub-cell of a
        valid source cell, and the people whose sub-cells fell outside the
        target grid (or on a failed projection).  ``out.sum() + outside``
        equals ``people[valid].sum()`` to floating-point rounding.
    """
    pp = np.ascontiguousarray(people, dtype=np.float64)
    vv = np.ascontiguousarray(valid, dtype=np.bool_)
    if pp.ndim != 2 or pp.shape != vv.shape:
        raise ParameterError("people and valid must be 2-D arrays of one shape")
    k = int(subcells)
    if not 1 <= k <= MAX_SUBCELLS:
        raise ParameterError(f"subcells was {subcells}; expected 1..{MAX_SUBCELLS}")
    step = int(lattice_step)
    if step < 1:
        raise ParameterError(f"lattice_step was {lattice_step}; expected >= 1")
    lx = np.ascontiguousarray(lattice_x, dtype=np.float64)
    ly = np.ascontiguousarray(lattice_y, dtype=np.float64)
    rows, cols = pp.shape
    need = (-(-rows // step) + 1, -(-cols // step) + 1)
    if lx.shape != ly.shape or lx.shape[0] < need[0] or lx.shape[1] < need[1]:
        raise ParameterError(f"the lattice is {lx.shape}; {need} nodes are needed")
    x0, dx, y0, dy = (float(v) for v in target_transform)
    if dx == 0 or dy == 0 or not np.isfinite([x0, dx, y0, dy]).all():
        raise ParameterError(
            f"target_transform was {target_transform}; expected finite values, dx, dy != 0")
    th, tw = (int(v) for v in target_shape)
    out = np.zeros((th, tw), dtype=np.float64)
    touched = np.zeros((th, tw), dtype=np.uint8)
    outside = _k.spread_people(pp, vv, lx, ly, step, k, x0, dx, y0, dy, out, touched)
    return out, touched.astype(bool), float(outside)


def status_sums(
    people: npt.NDArray[np.floating],
    status: npt.NDArray[np.integer],
    zone: npt.NDArray[np.integer],
    *,
    n_zones: int,
    n_status: int,
) -> npt.NDArray[np.float64]:
    """People per zone and status class.

    Parameters
    ----------
    people : float[rows, cols]
        People per cell.
    status : int[rows, cols]
        Status class per cell, ``0 .. n_status - 1``.
    zone : int[rows, cols]
        Zone per cell, ``0 .. n_zones - 1``; any other value (e.g. -1) is "no zone".
    n_zones, n_status : int
        Number of zones and of status classes.

    Returns
    -------
    float64[n_zones + 1, n_status]
        Row ``z``: zone ``z``'s people by status; the last row, the cells in no zone.
    """
    pp = np.ascontiguousarray(people, dtype=np.float64)
    st = np.ascontiguousarray(status, dtype=np.int8)
    zz = np.ascontiguousarray(zone, dtype=np.int32)
    if pp.ndim != 2 or st.shape != pp.shape or zz.shape != pp.shape:
        raise ParameterError("people, status and zone must be 2-D arrays of one shape")
    if st.size and (st.min() < 0 or st.max() >= n_status):
        raise ParameterError(f"status classes must lie in 0..{n_status - 1}")
    out = np.zeros((int(n_zones) + 1, int(n_status)), dtype=np.float64)
    _k.status_sums(pp, st, zz, int(n_zones), out)
    return out
