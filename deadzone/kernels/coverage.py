"""Array API of the coverage kernels: validate, allocate, call the kernel.

Everything here takes numpy arrays and scalars (no CRS, no GeoDataFrames) and
never mutates the caller's arrays.  Georeferencing is the job of
:mod:`deadzone.geo.coverage`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _itm as _itm_k
from deadzone.kernels import _itm_sweep as _ks
from deadzone.kernels import _p526
from deadzone.kernels import _propagation as _k
from deadzone.kernels._basic import EARTH_RADIUS_M
from deadzone.kernels.itm import MODE_NAMES, ItmSettings

__all__ = [
    "EARTH_RADIUS_M",
    "MODELS",
    "RadioSite",
    "Composite",
    "ProfileLoss",
    "model_code",
    "profile_loss",
    "profile_sweep",
    "tower_window",
    "site_reach_m",
    "new_composite",
    "merge_into",
    "iter_windows",
    "line_profile",
]

#: Propagation models available in the sweep, by name.
MODELS: dict[str, int] = {
    "fspl": _k.MODEL_FSPL,
    "knife": _k.MODEL_KNIFE,
    "hata-urban-large": _k.MODEL_HATA_URBAN_LARGE,
    "hata-urban": _k.MODEL_HATA_URBAN,
    "hata-suburban": _k.MODEL_HATA_SUBURBAN,
    "hata-open": _k.MODEL_HATA_OPEN,
    "cost231": _k.MODEL_COST231,
    "cost231-metro": _k.MODEL_COST231_METRO,
    "itm": _k.MODEL_ITM,
    "p526": _k.MODEL_P526,
}

DEFAULT_K_FACTOR = 4.0 / 3.0


def model_code(model: str) -> int:
    """Return the kernel constant for a model name.

    Raises
    ------
    ParameterError
        If the name is unknown.
    """
    try:
        return MODELS[model]
    except KeyError:
        raise ParameterError(f"model was {model!r}; expected one of {sorted(MODELS)}") from None


def _check_freq(freq_mhz: float) -> None:
    if not (30.0 <= freq_mhz <= 100_000.0):
        raise ParameterError(f"freq_mhz was {freq_mhz}; expected 30..100000 MHz")


@dataclass(frozen=True)
class RadioSite:
    """One transmitter as the kernels see it (grid position and radio).

    Attributes
    ----------
    row, col : int
        Tower cell in the DEM grid.
    height_m : float
        Antenna height above ground (m).
    freq_mhz : float
        Carrier frequency (MHz).
    eirp_dbm : float
        Boresight EIRP (dBm).
    azimuth_deg : float
        Sector azimuth, degrees clockwise from north; NaN = omni.
    beamwidth_deg : float
        Horizontal half-power beamwidth (degrees); NaN = omni.
    tilt_deg : float
        Downtilt (degrees, positive down).
    vbeamwidth_deg : float
        Vertical half-power beamwidth (degrees).
    front_to_back_db : float
        Front-to-back ratio (dB).
    pattern_h_db, pattern_v_db : ndarray of float64, shape (360,), optional
        Measured horizontal/vertical attenuation (dB, MSI convention); when
        given they replace the parametric pattern (``azimuth_deg`` still
        orients the horizontal cut, ``tilt_deg`` is mechanical downtilt).
    """

    row: int
    col: int
    height_m: float
    freq_mhz: float
    eirp_dbm: float
    azimuth_deg: float = math.nan
    beamwidth_deg: float = math.nan
    tilt_deg: float = 0.0
    vbeamwidth_deg: float = 10.0
    front_to_back_db: float = 25.0
    pattern_h_db: npt.NDArray[np.float64] | None = field(default=None, compare=False)
    pattern_v_db: npt.NDArray[np.float64] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProfileLoss:
    """Result of a point-to-point loss computation.

    Attributes
    ----------
    loss_db : float
        Basic transmission loss (dB).
    diffraction_db : float
        The diffraction part of ``loss_db`` (dB).
    edge_distance_m : float
        Distance of the dominant obstruction from the transmitter (m); NaN
        when the path has no diffraction loss.
    edge_height_m : float
        Ground height at that obstruction (m above sea level); NaN if none.
    trans_horizon : bool
        Whether terrain blocks the line of sight.
    mode : str
        ITM propagation mode (``los``, ``diffraction``, ``troposcatter``);
        for the other models ``los`` or ``diffraction``.
    """

    loss_db: float
    diffraction_db: float
    edge_distance_m: float
    edge_height_m: float
    trans_horizon: bool
    mode: str = "los"


def _profile_array(profile_m: npt.ArrayLike, step_m: float) -> npt.NDArray[np.float64]:
    z = np.array(profile_m, dtype=np.float64, copy=True)
    if z.ndim != 1 or z.size < 1:
        raise ParameterError(f"profile_m must be a non-empty 1-D array; got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ParameterError("profile_m holds NaN or inf")
    if not (step_m > 0.0 and math.isfinite(step_m)):
        raise ParameterError(f"step_m was {step_m}; expected a positive distance in metres")
    return z


def profile_loss(
    profile_m: npt.ArrayLike,
    step_m: float,
    *,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    model: str = "knife",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> ProfileLoss:
    """Loss over one terrain profile, from its first to its last sample.

    The same method as the area sweep (:func:`tower_window`) at that cell.

    Parameters
    ----------
    profile_m : array_like of float
        Ground heights (m) at equal spacing; element 0 is under the
        transmitter, the last under the receiver.
    step_m : float
        Sample spacing (m).
    h_tx_m, h_rx_m : float
        Antenna heights above ground (m).
    freq_mhz : float
        Frequency (MHz).
    model : str
        One of :data:`MODELS` (see :mod:`deadzone.kernels._propagation`).
    k_factor : float
        Effective earth-radius factor (4/3 standard atmosphere); ITM derives
        its own from the surface refractivity.
    itm : ItmSettings, optional
        ITM environment and statistics (default :class:`ItmSettings`()); the
        ``p526`` model uses its ground constants and polarization.

    Returns
    -------
    ProfileLoss

    Examples
    --------
    >>> r = profile_loss([0.0] * 101, 100.0, h_tx_m=30, h_rx_m=10, freq_mhz=900,
    ...                  model="fspl")
    >>> round(r.loss_db, 2)
    111.54
    """
    z = _profile_array(profile_m, step_m)
    _check_freq(freq_mhz)
    code = model_code(model)
    if code == _k.MODEL_ITM:
        return _itm_profile_loss(z, float(step_m), float(h_tx_m), float(h_rx_m),
                                 float(freq_mhz), itm or ItmSettings())
    if code == _k.MODEL_P526:
        return _p526_profile_loss(z, float(step_m), float(h_tx_m), float(h_rx_m),
                                  float(freq_mhz), float(k_factor), itm or ItmSettings())
    out = np.empty(5, dtype=np.float64)
    _k.point_loss(z, float(step_m), float(h_tx_m), float(h_rx_m), float(freq_mhz),
                  float(k_factor), code, out)
    return ProfileLoss(
        loss_db=float(out[0]),
        diffraction_db=float(out[1]),
        edge_distance_m=float(out[2]),
        edge_height_m=float(out[3]),
        trans_horizon=bool(out[4] > 0.5),
        mode="diffraction" if out[1] > 0.0 else "los",
    )


def _itm_profile_loss(z: npt.NDArray[np.float64], step_m: float, h_tx_m: float, h_rx_m: float,
                      freq_mhz: float, itm: ItmSettings) -> ProfileLoss:
    iv = np.zeros(_itm_k.IV_SIZE, dtype=np.float64)
    loss, mode, _warn, err, blocked, i_t, i_r = _ks.itm_point(
        z, step_m, h_tx_m, h_rx_m, freq_mhz, itm.as_array(), iv)
    if err != _itm_k.ERR_NONE:
        raise ParameterError(f"ITM could not evaluate this path (kernel error {err})")
    beyond = bool(blocked)
    # Terrain's share of the loss: ITM's excess over free space on a blocked path.
    excess = float(loss - iv[_itm_k.IV_A_FS]) if beyond else 0.0
    # The named obstruction: the receiver's horizon (the ridge that hides the
    # receiver), else the transmitter's.
    i_e = i_r if i_r > 0 else i_t
    named = beyond and i_e > 0
    return ProfileLoss(
        loss_db=float(loss),
        diffraction_db=max(excess, 0.0),
        edge_distance_m=float(i_e * step_m) if named else math.nan,
        edge_height_m=float(z[i_e]) if named else math.nan,
        trans_horizon=bool(beyond),
        mode=MODE_NAMES[mode] if mode > 0 else "los",
    )


def _p526_profile_loss(z: npt.NDArray[np.float64], step_m: float, h_tx_m: float,
                       h_rx_m: float, freq_mhz: float, k_factor: float,
                       itm: ItmSettings) -> ProfileLoss:
    out = np.empty(_p526.O_SIZE, dtype=np.float64)
    _p526.point_loss_p526(z, step_m, h_tx_m, h_rx_m, freq_mhz, k_factor, float(itm.epsilon),
                          float(itm.sigma), int(itm.pol), out)
    d = (z.size - 1) * step_m
    dh = z[0] + h_tx_m - z[-1] - h_rx_m
    free = float(_k.fspl_db(math.sqrt(d * d + dh * dh), freq_mhz))
    diff = float(out[_p526.O_LD])
    i_e = int(out[_p526.O_EDGE])
    return ProfileLoss(
        loss_db=free + diff,
        diffraction_db=diff,
        edge_distance_m=float(i_e * step_m) if i_e > 0 else math.nan,
        edge_height_m=float(z[i_e]) if i_e > 0 else math.nan,
        trans_horizon=bool(out[_p526.O_BEYOND] > 0.5),
        mode="diffraction" if diff > 0.0 else "los",
    )


def profile_sweep(
    profile_m: npt.ArrayLike,
    step_m: float,
    *,
    h_tx_m: float,
    h_rx_m: float,
    freq_mhz: float,
    model: str = "knife",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> npt.NDArray[np.float64]:
    """Loss from the first sample to every sample of a profile, in one walk.

    Element ``j`` equals ``profile_loss(profile_m[:j + 1], ...).loss_db``.

    Returns
    -------
    ndarray of float64
        Loss (dB) per sample.
    """
    z = _profile_array(profile_m, step_m)
    _check_freq(freq_mhz)
    code = model_code(model)
    n = z.size
    out = np.empty(n, dtype=np.float64)
    hx = np.empty(n, dtype=np.float64)
    hz = np.empty(n, dtype=np.float64)
    want = np.ones(n, dtype=np.bool_)
    hr = np.full(n, float(h_rx_m), dtype=np.float64)
    if code == _k.MODEL_ITM:
        zr = np.empty(n, dtype=np.float64)
        ps, pq, pz2 = (np.empty(n + 1, dtype=np.float64) for _ in range(3))
        _ks.itm_sweep(z, float(step_m), float(h_tx_m), hr, float(freq_mhz),
                      (itm or ItmSettings()).as_array(), want, zr, ps, pq, pz2, hx, hz, out)
    elif code == _k.MODEL_P526:
        st = itm or ItmSettings()
        rx, rz = np.empty(n, dtype=np.float64), np.empty(n, dtype=np.float64)
        _p526.sweep_p526(z, float(step_m), float(h_tx_m), hr, float(freq_mhz), float(k_factor),
                         float(st.epsilon), float(st.sigma), int(st.pol), want, hx, hz, rx, rz,
                         out)
    else:
        _k.sweep_profile(z, float(step_m), float(h_tx_m), hr, float(freq_mhz),
                         float(k_factor), code, want, hx, hz, out)
    return out


def site_reach_m(site: RadioSite, *, radius_m: float, floor_dbm: float) -> float:
    """How far (m) :func:`tower_window` computes a site: the radius, or less
    where even free space falls below ``floor_dbm`` (ITU-R P.525-4 eq. 8)."""
    return min(float(radius_m), float(_k.floor_distance_m(float(site.eirp_dbm),
                                                            float(floor_dbm),
                                                            float(site.freq_mhz))))


def tower_window(
    dem_m: npt.NDArray[np.float32],
    site: RadioSite,
    *,
    cell_w_m: float,
    cell_h_m: float,
    radius_m: float,
    rx_height_m: float = 1.5,
    model: str = "knife",
    k_factor: float = DEFAULT_K_FACTOR,
    floor_dbm: float = -150.0,
    itm: ItmSettings | None = None,
    n_threads: int = 1,
    rx_height_grid_m: npt.NDArray[np.float32] | None = None,
) -> tuple[npt.NDArray[np.float32], int, int]:
    """Received power (dBm) around one site.

    Parameters
    ----------
    dem_m : float32[rows, cols]
        Terrain (m), finite everywhere.
    site : RadioSite
        The transmitter.
    cell_w_m, cell_h_m : float
        Cell size (m).
    radius_m : float
        Computation radius (m).
    rx_height_m : float
        Receiver height above ground (m).
    model : str
        One of :data:`MODELS`.
    k_factor : float
        Effective earth-radius factor.
    floor_dbm : float
        Radials stop where even free space gives less than this.
    itm : ItmSettings, optional
        ITM environment and statistics (``model="itm"``; ``p526`` uses its
        ground constants and polarization; default :class:`ItmSettings`()).
    n_threads : int
        Threads sharing this site's radials.  The result does not depend on it.
    rx_height_grid_m : float32[rows, cols], optional
        Receiver height above ground per cell (m), replacing ``rx_height_m``
        (e.g. clutter heights, :mod:`deadzone.geo.clutter`).

    Returns
    -------
    window : float32[2R+1, 2R+1]
        Received power (dBm) centred on the site; NaN where not computed.
    row_off, col_off : int
        Grid index of the window's top-left cell (may be negative).
    """
    if dem_m.ndim != 2:
        raise ParameterError(f"dem_m must be 2-D; got shape {dem_m.shape}")
    rows, cols = dem_m.shape
    if not (0 <= site.row < rows and 0 <= site.col < cols):
        raise ParameterError(f"site cell ({site.row}, {site.col}) lies outside the DEM")
    if not (site.height_m > 0 and math.isfinite(site.height_m)):
        raise ParameterError(f"height_m was {site.height_m}; expected > 0 m")
    _check_freq(site.freq_mhz)
    if not (radius_m > 0):
        raise ParameterError(f"radius_m was {radius_m}; expected > 0")
    code = model_code(model)
    r = int(math.ceil(radius_m / min(cell_w_m, cell_h_m)))
    win = np.full((2 * r + 1, 2 * r + 1), np.nan, dtype=np.float32)
    dem = dem_m if dem_m.dtype == np.float32 else dem_m.astype(np.float32)
    ph = _pattern_table(site.pattern_h_db, "pattern_h_db")
    pv = _pattern_table(site.pattern_v_db, "pattern_v_db")
    if (ph.size == 0) != (pv.size == 0):
        raise ParameterError("give both pattern_h_db and pattern_v_db, or neither")
    params = (itm or ItmSettings()).as_array()
    if rx_height_grid_m is None:
        hgrid = np.empty((0, 0), dtype=np.float32)
    else:
        hgrid = np.ascontiguousarray(rx_height_grid_m, dtype=np.float32)
        if hgrid.shape != dem_m.shape:
            raise ParameterError(f"rx_height_grid_m has shape {hgrid.shape}; expected the "
                                 f"DEM's {dem_m.shape}")
        if not (np.all(np.isfinite(hgrid)) and float(hgrid.min()) > 0.0):
            raise ParameterError("rx_height_grid_m must be finite and > 0 m everywhere")
    d_max_m = site_reach_m(site, radius_m=radius_m, floor_dbm=floor_dbm)
    owner = owner_table(r, float(cell_w_m), float(cell_h_m), d_max_m)
    n_edge = 8 * r if r > 0 else 1

    def run(e_start: int, e_stop: int) -> None:
        _k.tower_sweep(
            dem, float(cell_w_m), float(cell_h_m), int(site.row), int(site.col), r, d_max_m,
            float(site.height_m), float(rx_height_m), float(site.freq_mhz),
            float(site.eirp_dbm), float(site.azimuth_deg), float(site.beamwidth_deg),
            float(site.tilt_deg), float(site.vbeamwidth_deg), float(site.front_to_back_db),
            float(k_factor), code, params, ph, pv, hgrid, owner, e_start, e_stop, win,
        )

    threads = max(1, min(int(n_threads), n_edge))
    if threads == 1:
        run(0, n_edge)
    else:
        # Radials write disjoint cells (each cell has one owner), so chunks
        # can run concurrently; interleaved chunks balance the load.
        chunks = 4 * threads
        bounds = [(n_edge * i // chunks, n_edge * (i + 1) // chunks) for i in range(chunks)]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda b: run(*b), bounds))
    return win, site.row - r, site.col - r


@functools.lru_cache(maxsize=2)
def owner_table(radius_cells: int, cell_w_m: float, cell_h_m: float,
                d_max_m: float) -> npt.NDArray[np.int32]:
    """Owning radial of each cell of a tower window (see :func:`_propagation.tower_owners`).

    The table depends only on the window size, the cell size and the reach,
    not on where the tower stands: a radial leaves the grid once and never
    comes back (its row and column indices are monotone), so clipping it at
    the grid's edge removes only samples outside the grid, and every cell
    inside the grid keeps the owner it has in the unclipped window.  Towers
    with the same reach therefore share one table (a 25 km tower at 30 m
    spends about 5% of its time building it).  Returned arrays are shared:
    do not modify them.

    Parameters
    ----------
    radius_cells : int
        Window half-size R (cells).
    cell_w_m, cell_h_m : float
        Cell size (m).
    d_max_m : float
        Reach (m), as given to :func:`_propagation.tower_sweep`.

    Returns
    -------
    owner : int32[2R+1, 2R+1]
        Owning radial per cell; -1 for cells no radial reaches within ``d_max_m``.
    """
    n = 2 * radius_cells + 1
    owner = np.full((n, n), -1, dtype=np.int32)
    off2 = np.full((n, n), np.inf, dtype=np.float64)
    _k.tower_owners(n, n, cell_w_m, cell_h_m, radius_cells, radius_cells, radius_cells,
                    d_max_m, owner, off2)
    return owner


def _pattern_table(table: npt.ArrayLike | None, name: str) -> npt.NDArray[np.float64]:
    if table is None:
        return np.empty(0, dtype=np.float64)
    t = np.ascontiguousarray(table, dtype=np.float64)
    if t.shape != (360,) or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ParameterError(
            f"{name} must hold 360 finite attenuations >= 0 dB; got shape {t.shape}"
        )
    return t


@dataclass
class Composite:
    """Multi-server composite on the full grid.

    Attributes
    ----------
    best_dbm : float32[rows, cols]
        Best signal metric (dBm); NaN where no server reaches.
    best_server : int32[rows, cols]
        Index of the best server; -1 where none.
    second_dbm : float32[rows, cols]
        Second-best metric (dBm); NaN where fewer than two servers.
    n_servers : uint16[rows, cols]
        Servers at or above the composite's threshold.
    threshold_dbm : float
        Threshold counted by ``n_servers``.
    """

    best_dbm: npt.NDArray[np.float32]
    best_server: npt.NDArray[np.int32]
    second_dbm: npt.NDArray[np.float32]
    n_servers: npt.NDArray[np.uint16]
    threshold_dbm: float


def new_composite(shape: tuple[int, int], *, threshold_dbm: float) -> Composite:
    """An empty composite for a grid of ``shape``."""
    return Composite(
        best_dbm=np.full(shape, np.nan, dtype=np.float32),
        best_server=np.full(shape, -1, dtype=np.int32),
        second_dbm=np.full(shape, np.nan, dtype=np.float32),
        n_servers=np.zeros(shape, dtype=np.uint16),
        threshold_dbm=float(threshold_dbm),
    )


def merge_into(
    comp: Composite,
    window: npt.NDArray[np.float32],
    row_off: int,
    col_off: int,
    tower_index: int,
    *,
    metric_offset_db: float = 0.0,
    threshold_dbm: float | None = None,
) -> None:
    """Fold a tower window into ``comp`` in place (call in tower order).

    Parameters
    ----------
    comp : Composite
        Updated in place.
    window, row_off, col_off
        As returned by :func:`tower_window`.
    tower_index : int
        Index recorded in ``best_server``.
    metric_offset_db : float
        Subtracted from the window before merging (e.g. the RSRP offset).
    threshold_dbm : float, optional
        Threshold for ``n_servers`` for this tower (default: the composite's).
    """
    thr = comp.threshold_dbm if threshold_dbm is None else float(threshold_dbm)
    _k.merge_window(window, int(row_off), int(col_off), int(tower_index),
                    float(metric_offset_db), thr, comp.best_dbm,
                    comp.best_server, comp.second_dbm, comp.n_servers)


def iter_windows(
    compute: Callable[[int], tuple[npt.NDArray[np.float32], int, int]],
    indices: Iterable[int],
    *,
    n_threads: int,
) -> Iterator[tuple[int, tuple[npt.NDArray[np.float32], int, int]]]:
    """Run ``compute(i)`` for each index on ``n_threads`` threads, in order.

    The kernels release the GIL (``nogil=True``), so threads run in parallel;
    results are yielded in input order, which keeps every merge deterministic
    whatever the thread count.  At most ``2 * n_threads`` windows are held at
    once.
    """
    idx = list(indices)
    if n_threads <= 1:
        for i in idx:
            yield i, compute(i)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        pending: list = []
        it = iter(idx)
        for i in it:
            pending.append((i, pool.submit(compute, i)))
            if len(pending) >= 2 * n_threads:
                j, fut = pending.pop(0)
                yield j, fut.result()
        for j, fut in pending:
            yield j, fut.result()


def line_profile(
    dem_m: npt.NDArray[np.floating],
    row0: int,
    col0: int,
    row1: int,
    col1: int,
    *,
    cell_w_m: float,
    cell_h_m: float,
) -> tuple[npt.NDArray[np.float64], float]:
    """Terrain profile between two cells, sampled as the radial sweep does.

    One sample per major-axis cell, nearest-cell heights, so a cell on a
    sweep radial gets the same profile the sweep used.

    Returns
    -------
    profile_m : ndarray of float64
        Ground heights (m), first sample at (row0, col0), last at (row1, col1).
    step_m : float
        Horizontal sample spacing (m); 0 when both cells coincide.
    """
    dr = int(row1) - int(row0)
    dc = int(col1) - int(col0)
    m = max(abs(dr), abs(dc))
    if m == 0:
        return np.array([float(dem_m[row0, col0])]), 0.0
    k = np.arange(m + 1, dtype=np.float64)
    rr = row0 + np.floor(k * (dr / m) + 0.5).astype(np.int64)
    cc = col0 + np.floor(k * (dc / m) + 0.5).astype(np.int64)
    step_m = math.hypot(dr / m * cell_h_m, dc / m * cell_w_m)
    return np.asarray(dem_m[rr, cc], dtype=np.float64), step_m
