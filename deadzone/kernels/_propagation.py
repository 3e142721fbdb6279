"""Pure Numba propagation kernels: radial sweep and point-to-point loss.

Arrays and scalars in, arrays out; no Python objects.  The public array API
lives in :mod:`deadzone.kernels.coverage`.

Geometry
--------
Earth curvature uses the effective radius ``a_e = k * 6371 km`` (k = 4/3 by
default).  Terrain heights along a profile are converted to the "flat earth,
straight rays" frame by subtracting the earth bulge seen from the transmitter,
``z' = z - d**2 / (2 a_e)``.  In that frame the height of point ``i`` above the
straight line from the transmitter to a receiver at distance ``d`` is

    z'_i - [h_ts + (h'_rs - h_ts) d_i / d]
        = z_i + d_i (d - d_i) / (2 a_e) - [h_ts (d - d_i) + h_rs d_i] / d

which is exactly the curvature-corrected clearance used by ITU-R P.526-15
§4.5.1.  Because ``z'`` depends only on the distance from the transmitter, one
profile serves every receiver along a radial, which is what lets the sweep
update horizons incrementally instead of recomputing them per cell.

Models
------
``MODEL_FSPL``
    Free-space basic transmission loss, ITU-R P.525-4 eq. (8) on the slant
    distance: ``32.45 + 20 log10(f_MHz) + 20 log10(d_km)``.
``MODEL_HATA_*``, ``MODEL_COST231*``
    Okumura-Hata (Hata 1980) and COST-231 Hata (COST 231 final report
    §4.4.3) median losses from :mod:`deadzone.kernels._empirical`, with the
    handset height above local ground and Okumura's effective base height
    (mast + tower ground - mean terrain 3-15 km along the radial, kept as
    running sums); never below free space.
``MODEL_P526``
    Free space plus the complete ITU-R P.526-15 §4.5 general-path
    ("delta-Bullington") diffraction loss: Bullington with its multiple-edge
    correction, plus the spherical-earth term; see
    :mod:`deadzone.kernels._p526`.
``MODEL_KNIFE``
    Free space plus the diffraction loss of one equivalent knife edge
    (ITU-R P.526-15 §4.5.1, the Bullington construction of the edge):

    * trans-horizon (``S_tim > S_tr``): the edge is the intersection of the
      transmitter's and the receiver's horizon rays, ``nu_b`` from eq. (…) of
      §4.5.1; the transmitter horizon is a running maximum, the receiver
      horizon a tangent query on the upper convex hull of the profile
      (O(log n) per cell);
    * line of sight: P.526 takes ``nu_max`` over all intermediate points; we
      evaluate ``nu`` at the two horizon points (the transmitter's and the
      receiver's), the points that most restrict the path, and take the larger.
      The point-to-point function does exactly the same, so area and point
      results agree.

    Loss ``J(nu) = 6.9 + 20 log10(sqrt((nu - 0.1)**2 + 1) + nu - 0.1)`` for
    ``nu > -0.78``, else 0 (ITU-R P.526-15 eq. (31)).

Antenna
-------
Omni antennas have 0 dB relative gain.  Sector antennas use the 3GPP
TR 36.814 Table A.2.1.1-2 pattern: ``A_H = -min(12 (phi/phi_3dB)**2, A_m)``,
``A_V = -min(12 ((theta + tilt)/theta_3dB)**2, SLA_V)``, combined
``-min(-(A_H + A_V), A_m)`` with ``A_m`` the front-to-back ratio; ``theta`` is
the elevation angle (positive up) and ``tilt`` the downtilt (positive down).
"""

from __future__ import annotations

import math

import numpy as np

from deadzone.kernels import _empirical as _emp
from deadzone.kernels import _itm_sweep, _p526
from deadzone.kernels._basic import (  # noqa: F401  (re-exported)
    EARTH_RADIUS_M,
    MIN_SLANT_M,
    SPEED_OF_LIGHT_M_S,
    _bullington_nu,
    _nu_at,
    bilinear_from,
    fspl_db,
    knife_edge_loss_db,
)
from deadzone.kernels._hull import _hull_horizon, _hull_push
from deadzone.kernels._jit import jit
from deadzone.kernels._vmath import vjit

MODEL_FSPL = 0
MODEL_KNIFE = 1
MODEL_HATA_URBAN_LARGE = 2
MODEL_HATA_URBAN = 3
MODEL_HATA_SUBURBAN = 4
MODEL_HATA_OPEN = 5
MODEL_COST231 = 6
MODEL_COST231_METRO = 7
MODEL_ITM = 8
MODEL_P526 = 9

SECTOR_SLA_V_DB = 20.0
PATTERN_MAX_ATTEN_DB = 40.0


@jit
def _is_empirical(model: int) -> bool:
    return MODEL_HATA_URBAN_LARGE <= model <= MODEL_COST231_METRO


@jit
def _empirical_db(model: int, d_m: float, freq_mhz: float, h_eff_m: float, h_rx_m: float) -> float:
    """Okumura-Hata / COST-231 median loss for an empirical model constant."""
    d_km = d_m / 1000.0
    if model == MODEL_HATA_URBAN_LARGE:
        return _emp.hata_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_URBAN_LARGE)
    if model == MODEL_HATA_URBAN:
        return _emp.hata_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_URBAN)
    if model == MODEL_HATA_SUBURBAN:
        return _emp.hata_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_SUBURBAN)
    if model == MODEL_HATA_OPEN:
        return _emp.hata_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_OPEN)
    if model == MODEL_COST231_METRO:
        return _emp.cost231_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_URBAN_LARGE)
    return _emp.cost231_loss_db(d_km, freq_mhz, h_eff_m, h_rx_m, _emp.ENV_URBAN)


@jit
def sweep_profile(
    z_m: np.ndarray,
    step_m: float,
    h_tx_m: float,
    h_rx_m: np.ndarray,
    freq_mhz: float,
    k_factor: float,
    model: int,
    want: np.ndarray,
    hull_x: np.ndarray,
    hull_z: np.ndarray,
    out_loss_db: np.ndarray,
) -> None:
    """Basic transmission loss from ``z_m[0]`` to the wanted profile points.

    Walks the profile once: the transmitter horizon is a running maximum and
    the receiver horizon a tangent query on an incrementally built upper
    hull, so the cost is O(n log n) instead of O(n**2).

    Parameters
    ----------
    z_m : float64[n]
        Ground height (m above sea level) at equally spaced samples;
        ``z_m[0]`` is the transmitter's ground.
    step_m : float
        Horizontal spacing of the samples (m).
    h_tx_m : float
        Transmitter antenna height above ground (m).
    h_rx_m : float64[>= n]
        Receiver height above ground (m) at each sample (a receiver's own
        height only affects its own loss).
    freq_mhz : float
        Frequency (MHz).
    k_factor : float
        Effective earth-radius factor.
    model : int
        ``MODEL_FSPL``, ``MODEL_KNIFE`` or an empirical model (ITM and P.526
        have their own walks, :func:`deadzone.kernels._itm_sweep.itm_sweep`
        and :func:`deadzone.kernels._p526.sweep_p526`).
    want : bool[>= n]
        Samples whose loss is needed; the walk still visits every sample
        (horizons and running sums need them) but evaluates only these.
    hull_x, hull_z : float64[>= n]
        Scratch space.
    out_loss_db : float64[>= n]
        Output: loss at each wanted sample (dB); NaN elsewhere.
    """
    n = z_m.shape[0]
    a2 = 2.0 * k_factor * EARTH_RADIUS_M
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    h_ts = z_m[0] + h_tx_m
    s_tim = -1e300
    t_x = 0.0
    t_z = 0.0
    nh = 0
    empirical = _is_empirical(model)
    sum_all = 0.0
    sum_in = 0.0
    n_in = 0
    for j in range(n):
        d = j * step_m
        if empirical:
            # Okumura effective base height: running means over 3-15 km
            # (same rule and summation order as _empirical.effective_base_height_m).
            sum_all += z_m[j]
            if _emp.EFF_HEIGHT_FROM_M <= d <= _emp.EFF_HEIGHT_TO_M:
                sum_in += z_m[j]
                n_in += 1
        if not want[j]:
            out_loss_db[j] = math.nan
        else:
            out_loss_db[j] = _sweep_sample(
                z_m, j, step_m, h_tx_m, h_rx_m[j], freq_mhz, a2, lam, model, s_tim, t_x, t_z,
                hull_x, hull_z, nh, sum_in, n_in, sum_all,
            )
        if j >= 1 and model == MODEL_KNIFE:
            zc = z_m[j] - d * d / a2
            s = (zc - h_ts) / d
            if s > s_tim:
                s_tim = s
                t_x = d
                t_z = zc
            nh = _hull_push(hull_x, hull_z, nh, d, zc)


@jit
def _sweep_sample(
    z_m: np.ndarray,
    j: int,
    step_m: float,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    a2: float,
    lam: float,
    model: int,
    s_tim: float,
    t_x: float,
    t_z: float,
    hull_x: np.ndarray,
    hull_z: np.ndarray,
    nh: int,
    sum_in: float,
    n_in: int,
    sum_all: float,
) -> float:
    """Loss at sample ``j`` of :func:`sweep_profile` from its running state."""
    d = j * step_m
    h_ts = z_m[0] + h_tx_m
    h_r = z_m[j] + h_rx_m
    slant = math.sqrt(d * d + (h_ts - h_r) * (h_ts - h_r))
    loss = fspl_db(slant, freq_mhz)
    if _is_empirical(model):
        mean = sum_in / n_in if n_in > 0 else sum_all / (j + 1)
        h_eff = z_m[0] + h_tx_m - mean
        loss = max(loss, _empirical_db(model, d, freq_mhz, h_eff, h_rx_m))
    if model == MODEL_KNIFE and j >= 2:
        h_rs = h_r - d * d / a2
        s_tr = (h_rs - h_ts) / d
        k = _hull_horizon(hull_x, hull_z, nh, d, h_rs)
        if s_tim > s_tr:
            s_rim = (hull_z[k] - h_rs) / (d - hull_x[k])
            nu = _bullington_nu(s_tim, s_rim, d, h_ts, h_rs, lam)
        else:
            nu = max(
                _nu_at(t_x, t_z, d, h_ts, h_rs, lam),
                _nu_at(hull_x[k], hull_z[k], d, h_ts, h_rs, lam),
            )
        loss += knife_edge_loss_db(nu)
    return loss


@jit
def point_loss(
    z_m: np.ndarray,
    step_m: float,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    k_factor: float,
    model: int,
    out: np.ndarray,
) -> None:
    """Loss from ``z_m[0]`` to the last sample, by direct scans (O(n)).

    The same method as :func:`sweep_profile` evaluated for one receiver, used
    for single links and to check the sweep.

    ``out`` (float64[5]) receives: total loss (dB), diffraction loss (dB),
    distance of the dominant edge from the transmitter (m, NaN if none),
    ground height at that edge (m), and 1.0 if the path is trans-horizon
    else 0.0.
    """
    n = z_m.shape[0]
    j = n - 1
    a2 = 2.0 * k_factor * EARTH_RADIUS_M
    lam = SPEED_OF_LIGHT_M_S / (freq_mhz * 1e6)
    h_ts = z_m[0] + h_tx_m
    d = j * step_m
    h_r = z_m[j] + h_rx_m
    slant = math.sqrt(d * d + (h_ts - h_r) * (h_ts - h_r))
    fs = fspl_db(slant, freq_mhz)
    out[0] = fs
    out[1] = 0.0
    out[2] = np.nan
    out[3] = np.nan
    out[4] = 0.0
    if _is_empirical(model):
        h_eff = _emp.effective_base_height_m(z_m, step_m, h_tx_m)
        out[0] = max(fs, _empirical_db(model, d, freq_mhz, h_eff, h_rx_m))
        return
    if model != MODEL_KNIFE or j < 2:
        return
    h_rs = h_r - d * d / a2
    s_tr = (h_rs - h_ts) / d
    s_tim = -1e300
    i_t = 1
    best_a = -1e300
    i_r = 1
    for i in range(1, j):
        x = i * step_m
        zc = z_m[i] - x * x / a2
        s = (zc - h_ts) / x
        if s > s_tim:
            s_tim = s
            i_t = i
        a = (zc - h_rs) / (d - x)
        if a > best_a:
            best_a = a
            i_r = i
    x_t = i_t * step_m
    z_t = z_m[i_t] - x_t * x_t / a2
    x_r = i_r * step_m
    z_r = z_m[i_r] - x_r * x_r / a2
    if s_tim > s_tr:
        nu = _bullington_nu(s_tim, best_a, d, h_ts, h_rs, lam)
        out[4] = 1.0
        # Report the higher of the two horizon points as the named obstruction.
        nu_t = _nu_at(x_t, z_t, d, h_ts, h_rs, lam)
        nu_r = _nu_at(x_r, z_r, d, h_ts, h_rs, lam)
        i_e = i_t if nu_t >= nu_r else i_r
    else:
        nu_t = _nu_at(x_t, z_t, d, h_ts, h_rs, lam)
        nu_r = _nu_at(x_r, z_r, d, h_ts, h_rs, lam)
        nu = max(nu_t, nu_r)
        i_e = i_t if nu_t >= nu_r else i_r
    diff = knife_edge_loss_db(nu)
    out[0] = fs + diff
    out[1] = diff
    if diff > 0.0:
        out[2] = i_e * step_m
        out[3] = z_m[i_e]


@jit
def antenna_gain_db(
    bearing_deg: float,
    elevation_deg: float,
    azimuth_deg: float,
    beamwidth_deg: float,
    tilt_deg: float,
    vbeamwidth_deg: float,
    front_to_back_db: float,
) -> float:
    """Relative antenna gain (dB, <= 0); omni when azimuth is NaN.

    3GPP TR 36.814 Table A.2.1.1-2 sector pattern (see module docstring).
    """
    if math.isnan(azimuth_deg) or math.isnan(beamwidth_deg):
        return 0.0
    phi = (bearing_deg - azimuth_deg + 540.0) % 360.0 - 180.0
    a_h = -min(12.0 * (phi / beamwidth_deg) ** 2, front_to_back_db)
    tilt = 0.0 if math.isnan(tilt_deg) else tilt_deg
    a_v = -min(12.0 * ((elevation_deg + tilt) / vbeamwidth_deg) ** 2, SECTOR_SLA_V_DB)
    return -min(-(a_h + a_v), front_to_back_db)


@jit
def _interp_deg(table_db: np.ndarray, angle_deg: float) -> float:
    """Linear interpolation in a 360-entry table indexed by whole degrees."""
    a = angle_deg % 360.0
    i = int(math.floor(a))
    t = a - i
    return table_db[i % 360] * (1.0 - t) + table_db[(i + 1) % 360] * t


@jit
def pattern_gain_db(
    bearing_deg: float,
    elevation_deg: float,
    azimuth_deg: float,
    tilt_deg: float,
    pattern_h_db: np.ndarray,
    pattern_v_db: np.ndarray,
    max_atten_db: float,
) -> float:
    """Relative gain (dB, <= 0) from measured pattern tables (MSI/Planet).

    ``pattern_h_db[a]``: attenuation (dB) at ``a`` degrees clockwise from
    boresight; ``pattern_v_db[a]``: attenuation at ``a`` degrees below the
    horizon (MSI convention: 90 = nadir, 270 = zenith).  Mechanical downtilt
    shifts the vertical cut; the two cuts are summed and capped at
    ``max_atten_db`` (the usual 2-D to 3-D approximation, e.g. Gil et al.,
    "A 3-D interpolation method for base-station antenna radiation patterns",
    IEEE APM 2001, summing method).
    """
    az = 0.0 if math.isnan(azimuth_deg) else azimuth_deg
    tilt = 0.0 if math.isnan(tilt_deg) else tilt_deg
    a_h = _interp_deg(pattern_h_db, bearing_deg - az)
    a_v = _interp_deg(pattern_v_db, -elevation_deg - tilt)
    return -min(a_h + a_v, max_atten_db)


@jit
def radial_direction(e: int, r: int) -> tuple[float, float]:
    """Per-step (row, col) increment of radial ``e`` of the ``8 r`` radials.

    Radials go from the centre to each cell on the perimeter of the square
    of Chebyshev radius ``r`` (top row, right column, bottom, left), so the
    major axis advances exactly one cell per step.
    """
    if r == 0:
        return 0.0, 0.0
    if e < 2 * r:
        er, ec = -r, -r + e
    elif e < 4 * r:
        er, ec = -r + (e - 2 * r), r
    elif e < 6 * r:
        er, ec = r, r - (e - 4 * r)
    else:
        er, ec = r - (e - 6 * r), -r
    return er / r, ec / r


@jit
def _radial_cells(
    rows: int,
    cols: int,
    row0: int,
    col0: int,
    fr: float,
    fc: float,
    n: int,
    step_m: float,
    d_max_m: float,
    cell_r: np.ndarray,
    cell_c: np.ndarray,
    off2: np.ndarray,
) -> int:
    """Cells of a radial (nearest cell per step) until it leaves the grid or ``d_max_m``.

    Fills cell indices and the squared distance of each sample from its cell
    centre (in cells); returns the number of samples.
    """
    m = 0
    for k in range(n):
        # Rounded relative to the tower cell, so that the cells a radial
        # crosses do not depend on where the grid starts (a window cropped
        # from a larger DEM gives the same cells, ties included).
        ur = k * fr
        uc = k * fc
        qr = int(math.floor(ur + 0.5))
        qc = int(math.floor(uc + 0.5))
        cr = row0 + qr
        cc = col0 + qc
        if cr < 0 or cr >= rows or cc < 0 or cc >= cols:
            break
        if k * step_m > d_max_m:
            break
        cell_r[m] = cr
        cell_c[m] = cc
        off2[m] = (ur - qr) ** 2 + (uc - qc) ** 2
        m += 1
    return m


@jit
def floor_distance_m(eirp_dbm: float, floor_dbm: float, freq_mhz: float) -> float:
    """Distance (m) beyond which even free space gives less than ``floor_dbm``.

    Inverse of ITU-R P.525-4 eq. (8).
    """
    budget_db = eirp_dbm - floor_dbm - 32.45 - 20.0 * math.log10(freq_mhz)
    return 1000.0 * 10.0 ** (budget_db / 20.0)


@jit
def tower_owners(
    rows: int,
    cols: int,
    cell_w_m: float,
    cell_h_m: float,
    row0: int,
    col0: int,
    radius_cells: int,
    d_max_m: float,
    out_owner: np.ndarray,
    out_offset2: np.ndarray,
) -> None:
    """Which radial's sample computes each cell of a tower window (geometry only).

    One radial goes to each of the ``8 R`` edge cells of the square window of
    Chebyshev radius ``R``, sampled once per major-axis cell, so every cell
    of the window is crossed by some radial.  A cell crossed by several
    radials is owned by the sample nearest its centre (the first radial on
    ties); :func:`tower_sweep` then evaluates the loss only there.

    ``out_owner`` int32[2R+1, 2R+1] pre-filled with -1 receives the owning
    radial; ``out_offset2`` float64[2R+1, 2R+1] pre-filled with +inf the
    owner's squared offset (cells).
    """
    r = radius_cells
    n = r + 1
    cell_r = np.empty(n, dtype=np.int64)
    cell_c = np.empty(n, dtype=np.int64)
    off2 = np.empty(n, dtype=np.float64)
    n_edge = 8 * r if r > 0 else 1
    for e in range(n_edge):
        fr, fc = radial_direction(e, r)
        step_m = math.sqrt((fr * cell_h_m) ** 2 + (fc * cell_w_m) ** 2)
        m = _radial_cells(rows, cols, row0, col0, fr, fc, n, step_m, d_max_m, cell_r, cell_c,
                          off2)
        for k in range(m):
            wr = cell_r[k] - row0 + r
            wc = cell_c[k] - col0 + r
            if off2[k] < out_offset2[wr, wc]:
                out_offset2[wr, wc] = off2[k]
                out_owner[wr, wc] = e


@jit
def tower_sweep(
    dem_m: np.ndarray,
    cell_w_m: float,
    cell_h_m: float,
    row0: int,
    col0: int,
    radius_cells: int,
    d_max_m: float,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    eirp_dbm: float,
    azimuth_deg: float,
    beamwidth_deg: float,
    tilt_deg: float,
    vbeamwidth_deg: float,
    front_to_back_db: float,
    k_factor: float,
    model: int,
    itm_params: np.ndarray,
    pattern_h_db: np.ndarray,
    pattern_v_db: np.ndarray,
    rx_height_grid_m: np.ndarray,
    owner: np.ndarray,
    e_start: int,
    e_stop: int,
    out_rx_dbm: np.ndarray,
) -> None:
    """Received power around one tower along radials ``e_start <= e < e_stop``.

    Each radial (see :func:`tower_owners`) is walked once with the model's
    sweep (:func:`sweep_profile`, or :func:`~deadzone.kernels._itm_sweep.itm_sweep`
    for ITM); the loss is evaluated only at the samples that own their cell,
    so every cell's value comes from a profile that really passes through it
    and is computed once.  The terrain along a radial is the bilinear surface
    through the cell centres at each sample (:func:`bilinear_from`; nearest
    cells instead put the area rasters 0.6 dB below NTIA's per-pixel answer
    on average, ``bench/area_bias.py``).  Radial ranges write disjoint cells, so they may run
    on different threads; the result does not depend on how they are split.

    Parameters
    ----------
    dem_m : float32[rows, cols]
        Terrain (m), north-up; row 0 is north.
    cell_w_m, cell_h_m : float
        Cell size (m).
    row0, col0 : int
        Tower cell.
    radius_cells : int
        Window half-size R in cells.
    d_max_m : float
        Samples farther than this (m) are not computed (the same value given
        to :func:`tower_owners`).
    h_tx_m, h_rx_m, freq_mhz, eirp_dbm : float
        Antenna heights above ground (m), frequency (MHz), boresight EIRP (dBm).
    azimuth_deg, beamwidth_deg, tilt_deg, vbeamwidth_deg, front_to_back_db : float
        Antenna pattern (azimuth NaN = omni).
    k_factor : float
        Effective earth-radius factor (all models but ITM, which derives it
        from the surface refractivity).
    model : int
        Propagation model constant.
    itm_params : float64[P_SIZE]
        ITM settings (layout in :mod:`deadzone.kernels._itm_sweep`); the
        ``p526`` model reads its ground constants and polarization.
    pattern_h_db, pattern_v_db : float64[360] or float64[0]
        Measured pattern (see :func:`pattern_gain_db`); empty arrays select
        the parametric pattern of :func:`antenna_gain_db`.
    rx_height_grid_m : float32[rows, cols] or float32[0, 0]
        Receiver height per cell (m; e.g. the clutter height of ITU-R P.2108
        §3.1); an empty array means ``h_rx_m`` everywhere.
    owner : int32[2R+1, 2R+1]
        From :func:`tower_owners`.
    e_start, e_stop : int
        Radial range.
    out_rx_dbm : float32[2R+1, 2R+1]
        Output window centred on the tower, pre-filled with NaN.
    """
    r = radius_cells
    n = r + 1
    rows = dem_m.shape[0]
    cols = dem_m.shape[1]
    z = np.empty(n, dtype=np.float64)
    cell_r = np.empty(n, dtype=np.int64)
    cell_c = np.empty(n, dtype=np.int64)
    off2 = np.empty(n, dtype=np.float64)
    want = np.empty(n, dtype=np.bool_)
    hr = np.full(n, h_rx_m, dtype=np.float64)
    per_cell = rx_height_grid_m.shape[0] == rows and rx_height_grid_m.shape[1] == cols
    loss = np.empty(n, dtype=np.float64)
    hull_x = np.empty(n, dtype=np.float64)
    hull_z = np.empty(n, dtype=np.float64)
    raw_x = np.empty(n if model == MODEL_P526 else 0, dtype=np.float64)
    raw_z = np.empty(n if model == MODEL_P526 else 0, dtype=np.float64)
    zr = np.empty(n, dtype=np.float64)
    ps = np.empty(n + 1, dtype=np.float64)
    pq = np.empty(n + 1, dtype=np.float64)
    pz2 = np.empty(n + 1, dtype=np.float64)
    # ITM walks each radial with two samples per ring (spacing 0.5 to 0.71
    # cells): ITM's answer depends on the profile's spacing, and one sample per
    # ring (1 to 1.41 cells) put the area raster 0.12 dB below per-pixel NTIA
    # on average, two 0.09 dB closer (bench/area_bias.py); the receivers stay
    # at their ring samples (moving them to a cell-spaced walk doubled p99)
    is_itm = model == MODEL_ITM
    n_f = 2 * n if is_itm else 0
    z_f = np.empty(n_f, dtype=np.float64)
    want_f = np.zeros(n_f, dtype=np.bool_)
    hr_f = np.full(n_f, h_rx_m, dtype=np.float64)
    loss_f = np.empty(n_f, dtype=np.float64)
    if is_itm:
        zr = np.empty(n_f, dtype=np.float64)
        ps = np.empty(n_f + 1, dtype=np.float64)
        pq = np.empty(n_f + 1, dtype=np.float64)
        pz2 = np.empty(n_f + 1, dtype=np.float64)
        hull_x = np.empty(n_f, dtype=np.float64)
        hull_z = np.empty(n_f, dtype=np.float64)
    use_pattern = pattern_h_db.shape[0] == 360 and pattern_v_db.shape[0] == 360
    omni = (math.isnan(azimuth_deg) or math.isnan(beamwidth_deg)) and not use_pattern
    for e in range(e_start, e_stop):
        fr, fc = radial_direction(e, r)
        step_m = math.sqrt((fr * cell_h_m) ** 2 + (fc * cell_w_m) ** 2)
        m = _radial_cells(rows, cols, row0, col0, fr, fc, n, step_m, d_max_m, cell_r, cell_c,
                          off2)
        last = -1
        for k in range(m):
            own = owner[cell_r[k] - row0 + r, cell_c[k] - col0 + r] == e
            want[k] = own
            if own:
                last = k
            z[k] = bilinear_from(dem_m, row0, col0, k * fr, k * fc)
            if per_cell:
                hr[k] = rx_height_grid_m[cell_r[k], cell_c[k]]
        if last < 0:
            continue
        m = last + 1  # nothing beyond the last owned sample is needed
        if is_itm:
            # two samples per ring: ring sample k is fine sample 2k
            m_f = 2 * m - 1
            for j in range(m_f):
                t = 0.5 * j
                z_f[j] = bilinear_from(dem_m, row0, col0, t * fr, t * fc)
                want_f[j] = False
            for k in range(m):
                if want[k]:
                    want_f[2 * k] = True
                    hr_f[2 * k] = hr[k]
            _itm_sweep.itm_sweep(z_f[:m_f], 0.5 * step_m, h_tx_m, hr_f, freq_mhz, itm_params,
                                 want_f, zr, ps, pq, pz2, hull_x, hull_z, loss_f)
            for k in range(m):
                if want[k]:
                    loss[k] = loss_f[2 * k]
        elif model == MODEL_P526:
            _p526.sweep_p526(z[:m], step_m, h_tx_m, hr, freq_mhz, k_factor,
                             itm_params[_itm_sweep.P_EPSILON], itm_params[_itm_sweep.P_SIGMA],
                             int(itm_params[_itm_sweep.P_POL]), want, hull_x, hull_z, raw_x,
                             raw_z, loss)
        else:
            sweep_profile(z[:m], step_m, h_tx_m, hr, freq_mhz, k_factor, model, want,
                          hull_x, hull_z, loss)
        bearing = math.degrees(math.atan2(fc * cell_w_m, -fr * cell_h_m))
        h_ts = z[0] + h_tx_m
        for k in range(m):
            if not want[k]:
                continue
            g = 0.0
            if not omni:
                if k == 0:
                    elev = -90.0
                else:
                    elev = math.degrees(math.atan2(z[k] + hr[k] - h_ts, k * step_m))
                if use_pattern:
                    g = pattern_gain_db(bearing, elev, azimuth_deg, tilt_deg, pattern_h_db,
                                        pattern_v_db, PATTERN_MAX_ATTEN_DB)
                else:
                    g = antenna_gain_db(
                        bearing, elev, azimuth_deg, beamwidth_deg, tilt_deg, vbeamwidth_deg,
                        front_to_back_db,
                    )
            out_rx_dbm[cell_r[k] - row0 + r, cell_c[k] - col0 + r] = eirp_dbm + g - loss[k]


@vjit
def fold_best(v: float, index: int, best: float, server: int,
              second: float) -> tuple[float, int, float]:
    """One value into a (best, best's index, second best) triple; NaN = empty.

    A strict ``>`` keeps the first index on ties, so folding in index order
    makes the result independent of scheduling.  The one update rule of the
    area composites (:func:`merge_window`, the what-if cell lists) and of the
    exact-path villages (:func:`deadzone.kernels._paths.fold_pairs`).
    """
    if math.isnan(best) or v > best:
        return v, index, best
    if math.isnan(second) or v > second:
        return best, server, v
    return best, server, second


@jit
def merge_window(
    win_rx_dbm: np.ndarray,
    row_off: int,
    col_off: int,
    tower_index: int,
    metric_offset_db: float,
    threshold_dbm: float,
    best_dbm: np.ndarray,
    best_server: np.ndarray,
    second_dbm: np.ndarray,
    n_servers: np.ndarray,
) -> None:
    """Fold one tower's window into a composite (best, server, second, count).

    ``metric = win_rx_dbm - metric_offset_db`` (e.g. RSRP from total power).
    Merging in tower order with a strict ``>`` makes the lowest tower index
    win ties, so the composite does not depend on thread scheduling.
    """
    rows = best_dbm.shape[0]
    cols = best_dbm.shape[1]
    wh = win_rx_dbm.shape[0]
    ww = win_rx_dbm.shape[1]
    for i in range(wh):
        rr = row_off + i
        if rr < 0 or rr >= rows:
            continue
        for j in range(ww):
            cc = col_off + j
            if cc < 0 or cc >= cols:
                continue
            v = win_rx_dbm[i, j]
            if math.isnan(v):
                continue
            v = v - metric_offset_db
            b, k, s = fold_best(v, tower_index, best_dbm[rr, cc], best_server[rr, cc],
                                second_dbm[rr, cc])
            best_dbm[rr, cc] = b
            best_server[rr, cc] = k
            second_dbm[rr, cc] = s
            if v >= threshold_dbm:
                n_servers[rr, cc] += 1
