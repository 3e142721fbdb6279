"""Pure Numba kernels of point-to-point links: terrain clearance of the first
Fresnel zone and the loss of many links at once.

Geometry (ITU-R P.530-17 §2.2.2, and the frame of
:mod:`deadzone.kernels._propagation`): between antennas at heights ``h_a =
z_0 + h_a_m`` and ``h_b = z_n + h_b_m`` (m above sea level) over a profile
of ``n`` intervals of ``step_m``, at the interior point ``i`` (distance
``d_i`` from end A, ``d - d_i`` from end B):

* earth bulge ``b_i = d_i (d - d_i) / (2 k R)`` (effective radius ``k R``,
  ``R`` = 6371 km);
* line of sight ``los_i = h_a + (h_b - h_a) d_i / d``;
* first Fresnel zone radius ``F1_i = sqrt(lambda d_i (d - d_i) / d)``;
* clearance ``c_i = los_i - (z_i + b_i)`` (m, negative: the terrain cuts
  the line of sight) and its fraction ``c_i / F1_i``.

The worst point is the interior point of smallest fraction (the first one
on ties); a hop is clear at the usual 60 % rule when that fraction is at
least 0.6.  Profiles come from :func:`deadzone.kernels._paths.sample_path`
(the village engine's), losses from :func:`deadzone.kernels._paths.path_loss`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from deadzone.kernels import _itm, _p526
from deadzone.kernels import _paths as _pk
from deadzone.kernels._basic import EARTH_RADIUS_M, SPEED_OF_LIGHT_M_S
from deadzone.kernels._jit import jit, jit_parallel

# --- layout of a clearance result ``out[:]`` -------------------------------------
C_FRACTION = 0  # worst clearance / F1 (smallest over interior points)
C_INDEX = 1  # profile index of the worst point
C_DIST = 2  # its distance from end A (m)
C_GROUND = 3  # terrain height there (m above sea level)
C_CLEAR = 4  # clearance there (m): line of sight - terrain - earth bulge
C_F1 = 5  # first Fresnel zone radius there (m)
C_SIZE = 6

# --- layout of the per-pair outputs of :func:`pairs_link` ------------------------
L_LOSS = 0  # basic transmission loss of the model (dB)
L_FREE = 1  # free-space loss on the slant path (dB)
L_MODE = 2  # ITM mode (1 los, 2 diffraction, 3 troposcatter); others 1 or 2
L_DIST = 3  # horizontal path length (m)
L_INTERVALS = 4  # profile intervals n
L_GROUND_A = 5  # ground height under end A (m)
L_GROUND_B = 6  # ground height under end B (m)
L_CLEAR0 = 7  # first of the C_SIZE clearance values
L_SIZE = L_CLEAR0 + C_SIZE


@jit
def clearance(z: np.ndarray, n: int, step_m: float, h_a_m: float, h_b_m: float,
              freq_mhz: float, k_factor: float, out: np.ndarray) -> None:
    """The worst first-Fresnel-zone clearance of the profile ``z[0..n]`` into
    ``out[C_*]`` (see the module docstring)."""
    d = n * step_m
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    two_ae = 2.0 * k_factor * EARTH_RADIUS_M
    h_a = z[0] + h_a_m
    h_b = z[n] + h_b_m
    best = math.inf
    idx = -1
    for i in range(1, n):
        di = i * step_m
        d2 = d - di
        los = h_a + (h_b - h_a) * di / d
        cl = los - (z[i] + di * d2 / two_ae)
        fr = cl / math.sqrt(lam * di * d2 / d)
        if fr < best:
            best = fr
            idx = i
    if idx < 0:
        for k in range(C_SIZE):
            out[k] = math.nan
        return
    di = idx * step_m
    d2 = d - di
    out[C_FRACTION] = best
    out[C_INDEX] = idx
    out[C_DIST] = di
    out[C_GROUND] = z[idx]
    out[C_F1] = math.sqrt(lam * di * d2 / d)
    out[C_CLEAR] = best * out[C_F1]


@jit
def one_link(dem: np.ndarray, cell_m: float, a_rc: np.ndarray, a_xy: np.ndarray,
             b_rc: np.ndarray, b_xy: np.ndarray, h_a_m: float, h_b_m: float,
             freq_mhz: float, k_factor: float, model: int, itm_params: np.ndarray,
             z: np.ndarray, work: np.ndarray, iv: np.ndarray, dist: np.ndarray,
             loss: np.ndarray, out: np.ndarray) -> None:
    """Profile, loss and clearance of one link A -> B into ``out[L_*]``; the
    profile as the village engine samples it (:func:`_paths.one_pair`)."""
    dx = b_xy[0] - a_xy[0]
    dy = b_xy[1] - a_xy[1]
    d = max(math.sqrt(dx * dx + dy * dy), _pk.MIN_DISTANCE_M)
    n = _pk.path_intervals(d, cell_m)
    step = d / n
    _pk.sample_path(dem, a_rc[0], a_rc[1], b_rc[0], b_rc[1], n, z)
    _pk.path_loss(z, n, step, h_a_m, h_b_m, freq_mhz, k_factor, model, itm_params, work, iv,
                  dist, loss)
    out[L_LOSS] = loss[_pk.O_LOSS]
    out[L_FREE] = loss[_pk.O_FREE]
    out[L_MODE] = loss[_pk.O_MODE]
    out[L_DIST] = d
    out[L_INTERVALS] = n
    out[L_GROUND_A] = z[0]
    out[L_GROUND_B] = z[n]
    clearance(z, n, step, h_a_m, h_b_m, freq_mhz, k_factor, out[L_CLEAR0:])


@jit_parallel
def pairs_link(dem: np.ndarray, cell_m: float, a_rc: np.ndarray, a_xy: np.ndarray,
               b_rc: np.ndarray, b_xy: np.ndarray, h_a_m: np.ndarray, h_b_m: np.ndarray,
               freq_mhz: np.ndarray, k_factor: float, model: int, itm_params: np.ndarray,
               n_max: int, n_chunks: int, out: np.ndarray) -> None:
    """:func:`one_link` for every link ``p`` (rows of the ``a_*``/``b_*``
    arrays), in parallel over ``n_chunks`` blocks of links, each with its
    own scratch; a link's result does not depend on the chunking or the
    thread count.  ``out``: float64[n_links, L_SIZE]."""
    n_links = a_rc.shape[0]
    for ch in prange(n_chunks):
        lo = n_links * ch // n_chunks
        hi = n_links * (ch + 1) // n_chunks
        if hi <= lo:
            continue
        z = np.empty(n_max + 1, dtype=np.float64)
        dist = np.empty(n_max + 1, dtype=np.float64)
        work = np.empty(_itm.WORK_SIZE, dtype=np.float64)
        iv = np.empty(max(_itm.IV_SIZE, _p526.O_SIZE), dtype=np.float64)
        loss = np.empty(_pk.O_SIZE, dtype=np.float64)
        for p in range(lo, hi):
            one_link(dem, cell_m, a_rc[p], a_xy[p], b_rc[p], b_xy[p], h_a_m[p], h_b_m[p],
                     freq_mhz[p], k_factor, model, itm_params, z, work, iv, dist, loss, out[p])
