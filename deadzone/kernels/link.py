"""Array API of point-to-point links: Fresnel clearance of a profile and the
profile, loss and clearance of many links at once (``deadzone link --pairs``).

See :mod:`deadzone.kernels._link` for the method; :mod:`deadzone.geo.link`
does the georeferencing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _link as _k
from deadzone.kernels import _paths as _pk
from deadzone.kernels.coverage import DEFAULT_K_FACTOR, _check_freq, model_code
from deadzone.kernels.itm import ItmSettings

__all__ = ["Clearance", "LinkPairs", "fresnel_clearance", "link_pairs"]

F64 = npt.NDArray[np.float64]

#: ITM's frequency range (MHz), NTIA ITM 1.4.
ITM_FREQ_MHZ = (20.0, 20_000.0)


@dataclass(frozen=True)
class Clearance:
    """The worst first-Fresnel-zone clearance of a profile.

    Attributes
    ----------
    fraction : float
        Clearance over the first Fresnel zone radius at the worst point
        (negative: the terrain cuts the line of sight).
    index : int
        Profile index of that point.
    distance_m : float
        Its distance from end A (m).
    ground_m : float
        Terrain height there (m above sea level, without the earth bulge).
    clearance_m : float
        Line of sight minus terrain minus earth bulge there (m).
    f1_m : float
        First Fresnel zone radius there (m).
    """

    fraction: float
    index: int
    distance_m: float
    ground_m: float
    clearance_m: float
    f1_m: float


def _check_heights(name: str, h: F64, lo: float = 0.0) -> None:
    if not (np.all(np.isfinite(h)) and (h.size == 0 or float(h.min()) > lo)):
        raise ParameterError(f"{name} must be finite and > {lo:g} m")


def fresnel_clearance(
    profile_m: npt.ArrayLike,
    step_m: float,
    *,
    h_a_m: float,
    h_b_m: float,
    freq_mhz: float,
    k_factor: float = DEFAULT_K_FACTOR,
) -> Clearance:
    """Worst first-Fresnel-zone clearance over a terrain profile.

    Parameters
    ----------
    profile_m : array_like of float
        Ground heights (m), equally spaced, first under end A, last under
        end B; at least 3 points.
    step_m : float
        Spacing (m).
    h_a_m, h_b_m : float
        Antenna heights above ground at A and B (m).
    freq_mhz : float
        Frequency (MHz).
    k_factor : float
        Effective earth-radius factor.

    Returns
    -------
    Clearance

    Examples
    --------
    >>> c = fresnel_clearance([0.0] * 101, 100.0, h_a_m=20, h_b_m=20, freq_mhz=13000)
    >>> c.index, round(c.f1_m, 2)
    (50, 7.59)
    """
    z = np.array(profile_m, dtype=np.float64, copy=True)
    if z.ndim != 1 or z.size < 3 or not np.all(np.isfinite(z)):
        raise ParameterError("profile_m must be a finite 1-D array of at least 3 heights")
    if not (step_m > 0.0 and math.isfinite(step_m)):
        raise ParameterError(f"step_m was {step_m}; expected a positive distance in metres")
    _check_freq(float(freq_mhz))
    if not (0.1 <= k_factor <= 100.0):
        raise ParameterError(f"k_factor was {k_factor}; expected 0.1..100")
    out = np.empty(_k.C_SIZE, dtype=np.float64)
    _k.clearance(z, z.size - 1, float(step_m), float(h_a_m), float(h_b_m), float(freq_mhz),
                 float(k_factor), out)
    return Clearance(
        fraction=float(out[_k.C_FRACTION]), index=int(out[_k.C_INDEX]),
        distance_m=float(out[_k.C_DIST]), ground_m=float(out[_k.C_GROUND]),
        clearance_m=float(out[_k.C_CLEAR]), f1_m=float(out[_k.C_F1]),
    )


@dataclass(frozen=True)
class LinkPairs:
    """Per-link results of :func:`link_pairs` (float64[n] unless noted).

    Attributes
    ----------
    loss_db, free_space_db : basic transmission loss of the model and free
        space on the slant path (dB).
    mode : int64[n]; ITM mode (1 line of sight, 2 diffraction, 3
        troposcatter), other models 1 or 2.
    distance_m : horizontal length (m). intervals : int64[n]; profile intervals.
    ground_a_m, ground_b_m : ground under the ends (m above sea level).
    fraction, distance_worst_m, ground_worst_m, clearance_m, f1_m : the worst
        point (see :class:`Clearance`).
    """

    loss_db: F64
    free_space_db: F64
    mode: npt.NDArray[np.int64]
    distance_m: F64
    intervals: npt.NDArray[np.int64]
    ground_a_m: F64
    ground_b_m: F64
    fraction: F64
    distance_worst_m: F64
    ground_worst_m: F64
    clearance_m: F64
    f1_m: F64


def link_pairs(
    dem_m: npt.NDArray[np.floating],
    *,
    cell_m: float,
    a_rc: F64,
    a_xy: F64,
    b_rc: F64,
    b_xy: F64,
    h_a_m: F64,
    h_b_m: F64,
    freq_mhz: F64,
    model: str = "itm",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> LinkPairs:
    """Profile, loss and Fresnel clearance of many links, in parallel.

    Parameters
    ----------
    dem_m : float32[rows, cols]
        Terrain (m), finite.
    cell_m : float
        Profile sampling target (m), the DEM's cell size.
    a_rc, b_rc : float64[n, 2]
        Fractional (row, col) of the ends (0.0 = first cell's centre).
    a_xy, b_xy : float64[n, 2]
        Projected (x, y) of the ends (m).
    h_a_m, h_b_m : float64[n]
        Antenna heights above ground (m).
    freq_mhz : float64[n]
        Frequency of each link (MHz).
    model : str
        One of :data:`deadzone.kernels.coverage.MODELS`.
    k_factor : float
        Effective earth-radius factor (clearance, and every model but ITM).
    itm : ItmSettings, optional
        ITM settings (``p526`` uses its ground constants and polarization).

    Returns
    -------
    LinkPairs
    """
    code = model_code(model)
    dem = np.ascontiguousarray(dem_m, dtype=np.float32)
    if dem.ndim != 2 or min(dem.shape) < 1:
        raise ParameterError(f"dem_m must be a non-empty 2-D array; got shape {dem.shape}")
    if not (cell_m > 0.0 and math.isfinite(cell_m)):
        raise ParameterError(f"cell_m was {cell_m}; expected a positive size in metres")
    arr = [np.ascontiguousarray(v, dtype=np.float64).reshape(-1, 2)
           for v in (a_rc, a_xy, b_rc, b_xy)]
    vec = [np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
           for v in (h_a_m, h_b_m, freq_mhz)]
    n = arr[0].shape[0]
    if any(a.shape[0] != n for a in arr) or any(v.size != n for v in vec):
        raise ParameterError("a_rc, a_xy, b_rc, b_xy, h_a_m, h_b_m and freq_mhz must "
                             "describe the same number of links")
    if not all(np.all(np.isfinite(a)) for a in arr):
        raise ParameterError("a link end has a non-finite position")
    _check_heights("h_a_m", vec[0])
    _check_heights("h_b_m", vec[1])
    for f in np.unique(vec[2]):
        _check_freq(float(f))
    if code == model_code("itm") and n:
        lo, hi = ITM_FREQ_MHZ
        if float(vec[2].max()) > hi or float(vec[2].min()) < lo:
            raise ParameterError(f"ITM is defined for {lo:g}..{hi:g} MHz; a link has "
                                 f"{float(vec[2].max()):g} MHz: use --model p526 or fspl")
        _check_heights("h_a_m (ITM)", vec[0], 0.5)
        _check_heights("h_b_m (ITM)", vec[1], 0.5)
    out = np.empty((n, _k.L_SIZE), dtype=np.float64)
    if n:
        d = np.hypot(arr[3][:, 0] - arr[1][:, 0], arr[3][:, 1] - arr[1][:, 1])
        n_max = int(_pk.path_intervals(float(d.max()), float(cell_m)))
        n_chunks = max(1, min(n, 16 * numba.get_num_threads()))
        _k.pairs_link(dem, float(cell_m), arr[0], arr[1], arr[2], arr[3], vec[0], vec[1],
                      vec[2], float(k_factor), code, (itm or ItmSettings()).as_array(), n_max,
                      n_chunks, out)
    c = _k.L_CLEAR0
    return LinkPairs(
        loss_db=out[:, _k.L_LOSS].copy(), free_space_db=out[:, _k.L_FREE].copy(),
        mode=out[:, _k.L_MODE].astype(np.int64), distance_m=out[:, _k.L_DIST].copy(),
        intervals=out[:, _k.L_INTERVALS].astype(np.int64),
        ground_a_m=out[:, _k.L_GROUND_A].copy(), ground_b_m=out[:, _k.L_GROUND_B].copy(),
        fraction=out[:, c + _k.C_FRACTION].copy(),
        distance_worst_m=out[:, c + _k.C_DIST].copy(),
        ground_worst_m=out[:, c + _k.C_GROUND].copy(),
        clearance_m=out[:, c + _k.C_CLEAR].copy(), f1_m=out[:, c + _k.C_F1].copy(),
    )
