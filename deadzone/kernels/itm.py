"""Array API of the Longley-Rice Irregular Terrain Model (ITM): validate, call the kernel.

The model itself (NTIA ITM 1.4 / ITM 1.2.2 algorithm, Hufford 1995) is in
:mod:`deadzone.kernels._itm`; this module checks ranges, converts profiles to
float64 (never mutating the caller's arrays) and turns kernel codes into
names.

Variability is given either as time/location/situation percentages (the
reference's "TLS" functions) or as confidence/reliability percentages ("CR";
evaluated as time = reliability, location = 50, situation = confidence), never
both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.kernels import _itm as _k
from deadzone.kernels import _itm_sweep as _ks

__all__ = [
    "CLIMATES",
    "GROUNDS",
    "ItmSettings",
    "ItmIntermediate",
    "ItmResult",
    "MODE_NAMES",
    "WARNINGS",
    "area_loss",
    "p2p_loss",
    "p2p_loss_batch",
    "warning_names",
]

#: Propagation mode names by kernel code (index 0: not computed).
MODE_NAMES: tuple[str, ...] = ("", "los", "diffraction", "troposcatter")

#: Warning bit flags (same values as NTIA ITM 1.4), by name.
WARNINGS: dict[str, int] = {
    "tx_terminal_height": _k.WARN_TX_TERMINAL_HEIGHT,
    "rx_terminal_height": _k.WARN_RX_TERMINAL_HEIGHT,
    "frequency": _k.WARN_FREQUENCY,
    "path_distance_too_big_1": _k.WARN_PATH_DISTANCE_TOO_BIG_1,
    "path_distance_too_big_2": _k.WARN_PATH_DISTANCE_TOO_BIG_2,
    "path_distance_too_small_1": _k.WARN_PATH_DISTANCE_TOO_SMALL_1,
    "path_distance_too_small_2": _k.WARN_PATH_DISTANCE_TOO_SMALL_2,
    "tx_horizon_angle": _k.WARN_TX_HORIZON_ANGLE,
    "rx_horizon_angle": _k.WARN_RX_HORIZON_ANGLE,
    "tx_horizon_distance_1": _k.WARN_TX_HORIZON_DISTANCE_1,
    "rx_horizon_distance_1": _k.WARN_RX_HORIZON_DISTANCE_1,
    "tx_horizon_distance_2": _k.WARN_TX_HORIZON_DISTANCE_2,
    "rx_horizon_distance_2": _k.WARN_RX_HORIZON_DISTANCE_2,
    "extreme_variabilities": _k.WARN_EXTREME_VARIABILITIES,
    "surface_refractivity": _k.WARN_SURFACE_REFRACTIVITY,
}

_KERNEL_ERRORS: dict[int, str] = {
    _k.ERR_SURFACE_REFRACTIVITY_SMALL: "surface refractivity N_s below 150 N-units "
    "(path too high above sea level for N_0)",
    _k.ERR_SURFACE_REFRACTIVITY_LARGE: "surface refractivity N_s above 400 N-units",
    _k.ERR_EFFECTIVE_EARTH: "effective earth radius outside 4000..13333 km",
    _k.ERR_GROUND_IMPEDANCE: "ground impedance has Re(Z_g) <= |Im(Z_g)|; check epsilon/sigma",
    _k.ERR_PROFILE: "profile needs at least 3 points",
}


def warning_names(flags: int) -> list[str]:
    """Names of the warning bits set in ``flags`` (see :data:`WARNINGS`)."""
    return [name for name, bit in WARNINGS.items() if flags & bit]


@dataclass(frozen=True)
class ItmIntermediate:
    """Intermediate values of one ITM evaluation (the reference's ``_Ex`` output).

    Attributes
    ----------
    free_space_db : float
        Free-space basic transmission loss (dB).
    a_ref_db : float
        Reference attenuation below free space, before variability (dB).
    d_km : float
        Path distance (km).
    theta_hzn_rad : tuple of float
        Terminal horizon angles (tx, rx) (radians).
    d_hzn_m : tuple of float
        Terminal horizon distances (m).
    h_e_m : tuple of float
        Effective terminal heights (m).
    n_s : float
        Surface refractivity (N-units).
    delta_h_m : float
        Terrain irregularity parameter (m).
    """

    free_space_db: float
    a_ref_db: float
    d_km: float
    theta_hzn_rad: tuple[float, float]
    d_hzn_m: tuple[float, float]
    h_e_m: tuple[float, float]
    n_s: float
    delta_h_m: float


@dataclass(frozen=True)
class ItmResult:
    """Result of one ITM evaluation.

    Attributes
    ----------
    loss_db : float
        Basic transmission loss (dB) at the requested quantiles.
    mode : str
        ``"los"``, ``"diffraction"`` or ``"troposcatter"``.
    warnings : int
        Bit flags, see :data:`WARNINGS` and :func:`warning_names`.
    intermediate : ItmIntermediate or None
        Intermediate values (not part of equality).
    """

    loss_db: float
    mode: str
    warnings: int
    intermediate: ItmIntermediate | None = field(default=None, compare=False)


#: ITM radio climates (TN101 / Hufford 1995 codes), by name.
CLIMATES: dict[str, int] = {
    "equatorial": 1,
    "continental-subtropical": 2,
    "maritime-subtropical": 3,
    "desert": 4,
    "continental-temperate": 5,
    "maritime-temperate-land": 6,
    "maritime-temperate-sea": 7,
}

#: Ground constants (relative permittivity, conductivity S/m) by ground type,
#: the table of NTIA Report 82-100 / SPLAT!'s documentation.
GROUNDS: dict[str, tuple[float, float]] = {
    "average": (15.0, 0.005),
    "poor": (4.0, 0.001),
    "good": (25.0, 0.020),
    "fresh-water": (81.0, 0.010),
    "sea-water": (81.0, 5.0),
}


@dataclass(frozen=True)
class ItmSettings:
    """Environment and statistics of ITM for area coverage.

    Defaults are for Vietnam's hill country: the maritime-subtropical radio
    climate (3), surface refractivity N_0 = 360 N-units (humid tropical
    sea-level refractivity, ITU-R P.453 maps: ~350-380 over South-East
    Asia), average ground (epsilon 15, sigma 0.005 S/m), vertical
    polarization, and the median (50 %) of time, location and situation in
    broadcast variability mode (mdvar 3: the three are independent, so
    ``location_pct`` alone sets the location quantile).  Raise
    ``location_pct`` (e.g. 90) for a conservative "covered at 90 % of
    locations" map.

    Attributes
    ----------
    climate : int
        Radio climate 1..7 (:data:`CLIMATES`).
    n0 : float
        Sea-level surface refractivity (N-units, 250..400).
    pol : int
        0 horizontal, 1 vertical.
    epsilon, sigma : float
        Ground relative permittivity and conductivity (S/m).
    mdvar : int
        Variability mode 0..3 (+10 / +20 modifiers), as NTIA ITM.
    time_pct, location_pct, situation_pct : float
        Quantiles (%) of the time, location and situation variability.
    """

    climate: int = 3
    n0: float = 360.0
    pol: int = 1
    epsilon: float = 15.0
    sigma: float = 0.005
    mdvar: int = 3
    time_pct: float = 50.0
    location_pct: float = 50.0
    situation_pct: float = 50.0

    def __post_init__(self) -> None:
        _common(30.0, 1.5, 900.0, self.climate, self.n0, self.pol, self.epsilon, self.sigma,
                self.mdvar)
        for name in ("time_pct", "location_pct", "situation_pct"):
            _check_percent(name, getattr(self, name))

    def as_array(self) -> npt.NDArray[np.float64]:
        """The ``params`` array the sweep kernels take."""
        a = np.empty(_ks.P_SIZE, dtype=np.float64)
        a[_ks.P_CLIMATE] = self.climate
        a[_ks.P_N0] = self.n0
        a[_ks.P_POL] = self.pol
        a[_ks.P_EPSILON] = self.epsilon
        a[_ks.P_SIGMA] = self.sigma
        a[_ks.P_MDVAR] = self.mdvar
        a[_ks.P_TIME] = self.time_pct
        a[_ks.P_LOCATION] = self.location_pct
        a[_ks.P_SITUATION] = self.situation_pct
        return a

    def as_dict(self) -> dict[str, float | int]:
        """Plain values, for summaries."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ------------------------------------------------------------------ validation
def _int_param(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise ParameterError(f"{name} was {value!r}; expected an integer")
    if not float(value).is_integer():
        raise ParameterError(f"{name} was {value!r}; expected an integer")
    return int(value)


def _float_param(name: str, value: object) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"{name} was {value!r}; expected a number") from None
    if not math.isfinite(v):
        raise ParameterError(f"{name} was {value!r}; expected a finite number")
    return v


def _check_range(name: str, v: float, lo: float, hi: float, unit: str = "") -> None:
    if not (lo <= v <= hi):
        raise ParameterError(f"{name} was {v}; expected {lo:g}..{hi:g}{unit}")


def _check_percent(name: str, v: float | None) -> float:
    if v is None:
        raise ParameterError(f"{name} was None; expected a percentage in (0, 100)")
    x = _float_param(name, v)
    if not (0.0 < x < 100.0):
        raise ParameterError(f"{name} was {x}; expected a percentage strictly between 0 and 100")
    return x


def _variability(
    time: float | None,
    location: float | None,
    situation: float | None,
    confidence: float | None,
    reliability: float | None,
) -> tuple[float, float, float]:
    tls = (time, location, situation)
    cr = (confidence, reliability)
    has_tls = any(v is not None for v in tls)
    has_cr = any(v is not None for v in cr)
    if has_tls and has_cr:
        raise ParameterError(
            "give either time/location/situation or confidence/reliability, not both"
        )
    if not has_tls and not has_cr:
        raise ParameterError(
            "variability missing: give time/location/situation or confidence/reliability"
        )
    if has_tls:
        return (_check_percent("time", time), _check_percent("location", location),
                _check_percent("situation", situation))
    c = _check_percent("confidence", confidence)
    r = _check_percent("reliability", reliability)
    return r, 50.0, c


_VALID_MDVAR = frozenset(b + m for b in (0, 10, 20, 30) for m in (0, 1, 2, 3))


def _common(
    h_tx_m: float, h_rx_m: float, f_mhz: float, climate: int, n0: float, pol: int,
    epsilon: float, sigma: float, mdvar: int,
) -> tuple[float, float, float, int, float, int, float, float, int]:
    h_tx = _float_param("h_tx_m", h_tx_m)
    h_rx = _float_param("h_rx_m", h_rx_m)
    f = _float_param("f_mhz", f_mhz)
    _check_range("h_tx_m", h_tx, 0.5, 3000.0, " m")
    _check_range("h_rx_m", h_rx, 0.5, 3000.0, " m")
    _check_range("f_mhz", f, 20.0, 20000.0, " MHz")
    c = _int_param("climate", climate)
    if not 1 <= c <= 7:
        raise ParameterError(f"climate was {climate!r}; expected 1..7")
    n = _float_param("n0", n0)
    _check_range("n0", n, 250.0, 400.0, " N-units")
    p = _int_param("pol", pol)
    if p not in (0, 1):
        raise ParameterError(f"pol was {pol!r}; expected 0 (horizontal) or 1 (vertical)")
    eps = _float_param("epsilon", epsilon)
    if eps < 1.0:
        raise ParameterError(f"epsilon was {eps}; expected a relative permittivity >= 1")
    sig = _float_param("sigma", sigma)
    if sig <= 0.0:
        raise ParameterError(f"sigma was {sig}; expected a conductivity > 0 S/m")
    md = _int_param("mdvar", mdvar)
    if md not in _VALID_MDVAR:
        raise ParameterError(
            f"mdvar was {mdvar!r}; expected 0..3, optionally +10 and/or +20"
        )
    return h_tx, h_rx, f, c, n, p, eps, sig, md


def _check_step(step: float, name: str = "step_m") -> float:
    s = _float_param(name, step)
    if s <= 0.0:
        raise ParameterError(f"{name} was {s}; expected a positive spacing in metres")
    return s


def _profile(profile_m: npt.ArrayLike) -> npt.NDArray[np.float64]:
    z = np.array(profile_m, dtype=np.float64, copy=True)
    if z.ndim != 1:
        raise ParameterError(f"profile_m must be 1-D; got shape {z.shape}")
    if z.size < 3:
        raise ParameterError(f"profile_m has {z.size} points; expected at least 3")
    if not np.all(np.isfinite(z)):
        raise ParameterError("profile_m holds NaN or inf")
    return z


def _raise_kernel_error(err: int, where: str = "") -> None:
    if err != _k.ERR_NONE:
        raise ParameterError(f"{where}{_KERNEL_ERRORS.get(err, f'ITM error {err}')}")


def _intermediate(iv: npt.NDArray[np.float64]) -> ItmIntermediate:
    return ItmIntermediate(
        free_space_db=float(iv[_k.IV_A_FS]),
        a_ref_db=float(iv[_k.IV_A_REF]),
        d_km=float(iv[_k.IV_D_M]) / 1000.0,
        theta_hzn_rad=(float(iv[_k.IV_THETA_TX]), float(iv[_k.IV_THETA_RX])),
        d_hzn_m=(float(iv[_k.IV_DHZN_TX]), float(iv[_k.IV_DHZN_RX])),
        h_e_m=(float(iv[_k.IV_HE_TX]), float(iv[_k.IV_HE_RX])),
        n_s=float(iv[_k.IV_N_S]),
        delta_h_m=float(iv[_k.IV_DELTA_H]),
    )


# ------------------------------------------------------------------ public API
def p2p_loss(
    profile_m: npt.ArrayLike,
    step_m: float,
    h_tx_m: float,
    h_rx_m: float,
    f_mhz: float,
    *,
    climate: int,
    n0: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    time: float | None = None,
    location: float | None = None,
    situation: float | None = None,
    confidence: float | None = None,
    reliability: float | None = None,
) -> ItmResult:
    """ITM point-to-point basic transmission loss over one terrain profile.

    Parameters
    ----------
    profile_m : array_like of float
        Ground heights above sea level (m), equally spaced, element 0 under
        the transmitter, the last under the receiver (PFL format without its
        two header values); at least 3 points.
    step_m : float
        Spacing of the profile points (m); the path length is
        ``(len(profile_m) - 1) * step_m``.
    h_tx_m, h_rx_m : float
        Antenna heights above ground (m), 0.5..3000.
    f_mhz : float
        Frequency (MHz), 20..20000.
    climate : int
        Radio climate 1..7 (1 equatorial, 2 continental subtropical,
        3 maritime subtropical, 4 desert, 5 continental temperate, 6 maritime
        temperate over land, 7 maritime temperate over sea).
    n0 : float
        Minimum monthly mean surface refractivity reduced to sea level,
        250..400 N-units (301 is a common default).
    pol : int
        0 horizontal, 1 vertical.
    epsilon, sigma : float
        Ground relative permittivity (>= 1) and conductivity (S/m, > 0).
    mdvar : int
        Variability mode: 0 single message, 1 accidental, 2 mobile,
        3 broadcast; +10 removes location variability, +20 direct situation
        variability.
    time, location, situation : float, optional
        Percentages in (0, 100) (TLS form).
    confidence, reliability : float, optional
        Percentages in (0, 100) (CR form); exclusive with the TLS form.

    Returns
    -------
    ItmResult

    Raises
    ------
    ParameterError
        On an out-of-range argument or a profile the model cannot use.

    Examples
    --------
    >>> r = p2p_loss([100.0] * 101, 100.0, 30.0, 2.0, 900.0, climate=5, n0=301,
    ...              pol=1, epsilon=15, sigma=0.005, mdvar=12,
    ...              confidence=50, reliability=50)
    >>> r.mode
    'los'
    """
    z = _profile(profile_m)
    step = _check_step(step_m)
    h_tx, h_rx, f, c, n, p, eps, sig, md = _common(
        h_tx_m, h_rx_m, f_mhz, climate, n0, pol, epsilon, sigma, mdvar)
    t, loc, sit = _variability(time, location, situation, confidence, reliability)
    work = np.empty(_k.WORK_SIZE, dtype=np.float64)
    iv = np.full(_k.IV_SIZE, np.nan, dtype=np.float64)
    loss, mode, warn, err = _k.p2p(z, z.size - 1, step, h_tx, h_rx, c, n, f, p, eps, sig, md,
                                   t, loc, sit, work, iv)
    _raise_kernel_error(err)
    return ItmResult(float(loss), MODE_NAMES[mode], int(warn), _intermediate(iv))


def _batch_profiles(
    profiles: npt.ArrayLike | Sequence[npt.ArrayLike],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """2-D float64 copy (NaN padded) and the number of intervals per row."""
    if isinstance(profiles, np.ndarray) and profiles.ndim == 2:
        arr = np.array(profiles, dtype=np.float64, copy=True)
    else:
        rows = [np.asarray(p, dtype=np.float64) for p in profiles]  # type: ignore[union-attr]
        for i, r in enumerate(rows):
            if r.ndim != 1:
                raise ParameterError(f"profiles[{i}] must be 1-D; got shape {r.shape}")
        width = max((r.size for r in rows), default=0)
        arr = np.full((len(rows), width), np.nan, dtype=np.float64)
        for i, r in enumerate(rows):
            arr[i, : r.size] = r
    if arr.ndim != 2:
        raise ParameterError(f"profiles must be 2-D or a list of 1-D arrays; got {arr.shape}")
    if np.isinf(arr).any():
        raise ParameterError("profiles hold inf")
    valid = ~np.isnan(arr)
    counts = valid.sum(axis=1)
    # NaN is padding only: every row must be a run of numbers followed by NaN
    leading = np.where(valid.all(axis=1), arr.shape[1], np.argmin(valid, axis=1))
    bad = np.flatnonzero(leading != counts)
    if bad.size:
        raise ParameterError(f"profiles[{bad[0]}] has NaN before its last height")
    short = np.flatnonzero(counts < 3)
    if short.size:
        raise ParameterError(
            f"profiles[{short[0]}] has {counts[short[0]]} points; expected at least 3")
    return arr, (counts - 1).astype(np.int64)


def p2p_loss_batch(
    profiles: npt.ArrayLike | Sequence[npt.ArrayLike],
    steps_m: float | npt.ArrayLike,
    h_tx_m: float,
    h_rx_m: float,
    f_mhz: float,
    *,
    climate: int,
    n0: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    time: float | None = None,
    location: float | None = None,
    situation: float | None = None,
    confidence: float | None = None,
    reliability: float | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.str_], npt.NDArray[np.int64]]:
    """:func:`p2p_loss` for many profiles with the same radio parameters.

    Parameters
    ----------
    profiles : 2-D array_like or list of 1-D array_like
        One profile per row, NaN padded at the end (or a list of profiles of
        different lengths).
    steps_m : float or array_like of float
        Spacing per profile (m), or one spacing for all.
    h_tx_m, h_rx_m, f_mhz, climate, n0, pol, epsilon, sigma, mdvar, time, \
location, situation, confidence, reliability
        As in :func:`p2p_loss`.

    Returns
    -------
    loss_db : ndarray of float64
    mode : ndarray of str (``"los"``, ``"diffraction"``, ``"troposcatter"``)
    warnings : ndarray of int64 (bit flags)

    Examples
    --------
    >>> loss, mode, warn = p2p_loss_batch(
    ...     [[100.0] * 51, [100.0] * 101], 100.0, 30.0, 2.0, 900.0, climate=5,
    ...     n0=301, pol=1, epsilon=15, sigma=0.005, mdvar=12, time=50,
    ...     location=50, situation=50)
    >>> bool(loss[1] > loss[0])
    True
    """
    arr, n_ints = _batch_profiles(profiles)
    steps = np.broadcast_to(np.asarray(steps_m, dtype=np.float64), n_ints.shape).copy()
    if not np.all(np.isfinite(steps) & (steps > 0.0)):
        bad = int(np.flatnonzero(~(np.isfinite(steps) & (steps > 0.0)))[0])
        raise ParameterError(f"steps_m[{bad}] was {steps[bad]}; expected a positive spacing")
    h_tx, h_rx, f, c, n, p, eps, sig, md = _common(
        h_tx_m, h_rx_m, f_mhz, climate, n0, pol, epsilon, sigma, mdvar)
    t, loc, sit = _variability(time, location, situation, confidence, reliability)
    m = n_ints.size
    loss = np.empty(m, dtype=np.float64)
    mode = np.empty(m, dtype=np.int64)
    warn = np.empty(m, dtype=np.int64)
    err = np.empty(m, dtype=np.int64)
    if m:
        _k.p2p_batch(arr, n_ints, steps, h_tx, h_rx, c, n, f, p, eps, sig, md, t, loc, sit,
                     loss, mode, warn, err)
    bad = np.flatnonzero(err != _k.ERR_NONE)
    if bad.size:
        _raise_kernel_error(int(err[bad[0]]), f"profiles[{bad[0]}]: ")
    return loss, np.array(MODE_NAMES, dtype=np.str_)[mode], warn


def area_loss(
    d_km: float,
    h_tx_m: float,
    h_rx_m: float,
    tx_siting: int,
    rx_siting: int,
    delta_h_m: float,
    f_mhz: float,
    *,
    climate: int,
    n0: float,
    pol: int,
    epsilon: float,
    sigma: float,
    mdvar: int,
    time: float | None = None,
    location: float | None = None,
    situation: float | None = None,
    confidence: float | None = None,
    reliability: float | None = None,
) -> ItmResult:
    """ITM area-prediction-mode basic transmission loss (NTIA 82-100).

    Parameters
    ----------
    d_km : float
        Path distance (km), > 0.
    h_tx_m, h_rx_m : float
        Antenna heights above ground (m), 0.5..3000.
    tx_siting, rx_siting : int
        Siting criteria: 0 random, 1 careful, 2 very careful.
    delta_h_m : float
        Terrain irregularity parameter Delta h (m), >= 0 (90 for average
        rolling hills).
    f_mhz, climate, n0, pol, epsilon, sigma, mdvar, time, location, situation, \
confidence, reliability
        As in :func:`p2p_loss`.

    Returns
    -------
    ItmResult

    Examples
    --------
    >>> r = area_loss(10.0, 15.0, 3.0, 0, 0, 20.0, 3500.0, climate=5, n0=301, pol=1,
    ...               epsilon=15, sigma=0.005, mdvar=1, time=50, location=50,
    ...               situation=50)
    >>> round(r.loss_db, 1)
    134.5
    """
    d = _float_param("d_km", d_km)
    if d <= 0.0:
        raise ParameterError(f"d_km was {d}; expected a positive distance in km")
    dh = _float_param("delta_h_m", delta_h_m)
    if dh < 0.0:
        raise ParameterError(f"delta_h_m was {dh}; expected >= 0 m")
    sites = []
    for name, v in (("tx_siting", tx_siting), ("rx_siting", rx_siting)):
        s = _int_param(name, v)
        if s not in (0, 1, 2):
            raise ParameterError(f"{name} was {v!r}; expected 0 (random), 1 (careful) "
                                 "or 2 (very careful)")
        sites.append(s)
    h_tx, h_rx, f, c, n, p, eps, sig, md = _common(
        h_tx_m, h_rx_m, f_mhz, climate, n0, pol, epsilon, sigma, mdvar)
    t, loc, sit = _variability(time, location, situation, confidence, reliability)
    iv = np.full(_k.IV_SIZE, np.nan, dtype=np.float64)
    loss, mode, warn, err = _k.area(d * 1000.0, h_tx, h_rx, sites[0], sites[1], dh, c, n, f, p,
                                    eps, sig, md, t, loc, sit, iv)
    _raise_kernel_error(err)
    return ItmResult(float(loss), MODE_NAMES[mode], int(warn), _intermediate(iv))
