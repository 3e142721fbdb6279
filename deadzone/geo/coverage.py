"""Georeferenced coverage: towers + DEM in, composite rasters out."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import DeadzoneWarning, ParameterError, SchemaError
from deadzone.geo.antenna import AntennaPattern, load_msi
from deadzone.geo.clutter import CATEGORY_NAMES, loss_table_db, rx_height_grid
from deadzone.kernels.coverage import (
    Composite,
    RadioSite,
    iter_windows,
    merge_into,
    model_code,
    new_composite,
    site_reach_m,
    tower_window,
)
from deadzone.kernels.itm import ItmSettings
from deadzone.model.calibration import Calibration, band_of
from deadzone.model.defaults import (
    DEFAULT_FLOOR_DBM,
    DEFAULT_MODEL,
    DEFAULT_RADIUS_KM,
    DEFAULT_RX_HEIGHT_M,
)
from deadzone.model.dem import Dem
from deadzone.model.schema import TECHS, TOWER_DEFAULTS, rsrp_offset_db
from deadzone.model.thresholds import Thresholds

__all__ = [
    "CoverageResult",
    "EngineParams",
    "TowerGrid",
    "band_key",
    "compute_coverage",
    "coverage_parameters",
    "engine_params",
    "site_reach",
    "site_window",
    "towers_on_grid",
    "warn_calibration_without_landcover",
    "warn_towers_outside",
]



@dataclass(frozen=True)
class EngineParams:
    """Coverage-engine parameters, validated on construction.

    The values :func:`compute_coverage` takes (and checks through this
    class), shared by the what-if session, the site optimizer and the tiled
    computation of :mod:`deadzone.geo.tiled`.

    Raises
    ------
    ParameterError
        Unknown model, ``radius_km`` outside (0, 200], ``rx_height_m``
        outside (0, 100], or a ``calibration`` made for another model.

    Notes
    -----
    ``calibration`` (from ``deadzone calibrate``) is added to every
    prediction: on each exact tower -> village path (its distance and the
    village's clutter class) and to each cell of a tower's area window.
    """

    model: str = DEFAULT_MODEL
    radius_km: float = DEFAULT_RADIUS_KM
    rx_height_m: float = DEFAULT_RX_HEIGHT_M
    k_factor: float = 4.0 / 3.0
    floor_dbm: float = DEFAULT_FLOOR_DBM
    itm: ItmSettings = field(default_factory=ItmSettings)
    calibration: Calibration | None = None

    def __post_init__(self) -> None:
        model_code(self.model)
        if self.calibration is not None and self.calibration.model != self.model:
            raise ParameterError(
                f"the calibration was made for the {self.calibration.model} model; the "
                f"model is {self.model} (use {self.calibration.model}, or calibrate "
                f"{self.model})"
            )
        if not (0.0 < self.radius_km <= 200.0):
            raise ParameterError(f"radius_km was {self.radius_km}; expected 0 < radius_km <= 200")
        if not (0.0 < self.rx_height_m <= 100.0):
            raise ParameterError(f"rx_height_m was {self.rx_height_m}; expected 0..100 m")

    @property
    def radius_m(self) -> float:
        """Computation radius (m)."""
        return self.radius_km * 1000.0


#: Default effective earth-radius factor of the non-ITM models.
DEFAULT_K_FACTOR = 4.0 / 3.0


def engine_params(
    params: EngineParams | None,
    *,
    model: str = DEFAULT_MODEL,
    radius_km: float = DEFAULT_RADIUS_KM,
    rx_height_m: float = DEFAULT_RX_HEIGHT_M,
    k_factor: float = DEFAULT_K_FACTOR,
    floor_dbm: float = DEFAULT_FLOOR_DBM,
    itm: ItmSettings | None = None,
) -> EngineParams:
    """The engine settings of a call: ``params`` whole, or built from the loose
    keywords (the two ways :func:`compute_coverage`, :func:`~deadzone.geo.audit.audit`,
    the what-if ``Session`` and ``tiled_coverage`` take them).

    Raises
    ------
    ParameterError
        ``params`` and a loose keyword with a value other than its default.
    """
    if params is None:
        return EngineParams(model=model, radius_km=radius_km, rx_height_m=rx_height_m,
                            k_factor=k_factor, floor_dbm=floor_dbm, itm=itm or ItmSettings())
    loose = {"model": (model, DEFAULT_MODEL), "radius_km": (radius_km, DEFAULT_RADIUS_KM),
             "rx_height_m": (rx_height_m, DEFAULT_RX_HEIGHT_M),
             "k_factor": (k_factor, DEFAULT_K_FACTOR), "floor_dbm": (floor_dbm, DEFAULT_FLOOR_DBM),
             "itm": (itm, None)}
    twice = [k for k, (v, default) in loose.items() if v != default]
    if twice:
        raise ParameterError(f"engine settings given twice: params= and {', '.join(twice)}=; "
                             "give either params or the keywords")
    return params


@dataclass(frozen=True)
class TowerGrid:
    """Towers reduced to what the kernels need, in the DEM grid.

    Attributes
    ----------
    tower_ids : list of str
        Tower ids, in input order (index = server index in rasters).
    techs : list of str
        Technology per tower.
    sites : list of RadioSite or None
        Kernel site per tower; None for towers outside the DEM.
    x_m, y_m : ndarray of float64
        Projected coordinates in the DEM CRS (NaN if the geometry is empty).
    metric_offset_db : ndarray of float64
        dB between total received power and the tech's metric (RSRP).
    """

    tower_ids: list[str]
    techs: list[str]
    sites: list[RadioSite | None]
    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    metric_offset_db: npt.NDArray[np.float64]

    def bands(self) -> npt.NDArray[np.object_]:
        """Each tower's :func:`band_key` (``""`` for towers outside the DEM)."""
        return np.array([band_key(t, s) or "" for t, s in zip(self.techs, self.sites,
                                                              strict=True)], dtype=object)

    @property
    def outside(self) -> list[str]:
        """Ids of towers that lie outside the DEM (not computed)."""
        return [t for t, s in zip(self.tower_ids, self.sites, strict=True) if s is None]

    def servers_table(self) -> pd.DataFrame:
        """Server index -> tower id, technology and whether it was computed."""
        return pd.DataFrame({
            "server_index": np.arange(len(self.tower_ids)),
            "tower_id": self.tower_ids,
            "tech": self.techs,
            "computed": [s is not None for s in self.sites],
        })


def _col(towers: gpd.GeoDataFrame, name: str, default: float) -> npt.NDArray[np.float64]:
    if name not in towers.columns:
        return np.full(len(towers), default, dtype=np.float64)
    return towers[name].astype("float64").to_numpy(na_value=np.nan)


def _patterns(towers: gpd.GeoDataFrame) -> list[AntennaPattern | None]:
    """Load each tower's ``pattern_file`` (relative to the towers file)."""
    if "pattern_file" not in towers.columns:
        return [None] * len(towers)
    base = Path(str(towers.attrs.get("source", "."))).parent
    cache: dict[Path, AntennaPattern] = {}
    out: list[AntennaPattern | None] = []
    for value in towers["pattern_file"]:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            out.append(None)
            continue
        p = Path(str(value))
        p = p if p.is_absolute() else base / p
        if p not in cache:
            cache[p] = load_msi(p)
        out.append(cache[p])
    return out


def towers_on_grid(towers: gpd.GeoDataFrame, dem: Dem) -> TowerGrid:
    """Project towers to the DEM grid and build kernel sites.

    Parameters
    ----------
    towers : GeoDataFrame
        Canonical tower table (see :mod:`deadzone.model.schema`), any CRS.  An
        optional ``pattern_file`` column names MSI/Planet pattern files
        (relative paths are taken from the towers file's folder,
        ``towers.attrs["source"]``); ``eirp_dbm`` stays the boresight EIRP.
    dem : Dem
        Terrain model.

    Returns
    -------
    TowerGrid

    Raises
    ------
    SchemaError
        If a tower has an unknown technology or a missing radio value.
    """
    if towers.crs is None:
        raise SchemaError("towers have no CRS; expected EPSG:4326 lon/lat")
    for col in ("tower_id", "tech"):
        if col not in towers.columns:
            raise SchemaError(f"towers lack the required column {col!r}")
    proj = towers.to_crs(dem.crs)
    geoms = proj.geometry
    empty = geoms.isna() | geoms.is_empty
    pts = geoms.where(~empty, None)
    x = np.array([p.x if p is not None else np.nan for p in pts], dtype=np.float64)
    y = np.array([p.y if p is not None else np.nan for p in pts], dtype=np.float64)
    rows, cols, inside = dem.rowcol(x, y)
    # a tower on the reprojection's filled margin is outside the source data,
    # as villages are (the footprint is only worked out when a tower sits on a
    # filled cell at all, which keeps what-if edits cheap)
    if (inside & dem.void_mask[rows, cols]).any():
        inside = inside & ~dem.outside_footprint_mask[rows, cols]
    ids = [str(v) for v in towers["tower_id"]]
    techs = [str(v) for v in towers["tech"]]
    freq = _col(towers, "freq_mhz", np.nan)
    eirp = _col(towers, "eirp_dbm", np.nan)
    height = _col(towers, "height_m", np.nan)
    az = _col(towers, "azimuth_deg", np.nan)
    bw = _col(towers, "beamwidth_deg", np.nan)
    tilt = _col(towers, "tilt_deg", 0.0)
    vbw = _col(towers, "vbeamwidth_deg", 10.0)
    fb = _col(towers, "front_to_back_db", 25.0)
    band = _col(towers, "bandwidth_mhz", np.nan)
    patterns = _patterns(towers)
    sites: list[RadioSite | None] = []
    offsets = np.zeros(len(towers), dtype=np.float64)
    for i, tid in enumerate(ids):
        tech = techs[i]
        if tech not in TECHS:
            raise SchemaError(f"tower {tid!r}: field 'tech' was {tech!r}; expected one of {TECHS}")
        d = TOWER_DEFAULTS[tech]
        b = band[i] if math.isfinite(band[i]) else d.bandwidth_mhz
        offsets[i] = rsrp_offset_db(tech, b)
        for name, arr in (("freq_mhz", freq), ("eirp_dbm", eirp), ("height_m", height)):
            if not math.isfinite(arr[i]):
                raise SchemaError(f"tower {tid!r}: field {name!r} is missing or not finite")
        if not inside[i]:
            sites.append(None)
            continue
        sites.append(
            RadioSite(
                row=int(rows[i]), col=int(cols[i]), height_m=float(height[i]),
                freq_mhz=float(freq[i]), eirp_dbm=float(eirp[i]),
                azimuth_deg=float(az[i]), beamwidth_deg=float(bw[i]),
                tilt_deg=float(tilt[i]) if math.isfinite(tilt[i]) else 0.0,
                vbeamwidth_deg=float(vbw[i]) if math.isfinite(vbw[i]) else 10.0,
                front_to_back_db=float(fb[i]) if math.isfinite(fb[i]) else 25.0,
                pattern_h_db=None if patterns[i] is None else patterns[i].horizontal_db,
                pattern_v_db=None if patterns[i] is None else patterns[i].vertical_db,
            )
        )
    return TowerGrid(ids, techs, sites, x, y, offsets)


@dataclass
class CoverageResult:
    """Coverage of a tower set over a DEM.

    Attributes
    ----------
    rx : Composite
        Total received power (dBm) over all towers: best, best server,
        second best, and the number of towers at or above their own
        technology's covered threshold.
    by_tech : dict[str, Composite]
        Per technology, the service metric (dBm): received level for 2G/3G,
        RSRP for 4G/5G.
    by_band : dict[str, Composite]
        Per technology and band (keys like ``"4G-1800"``, frequency rounded
        to MHz), the same metric; empty unless ``per_band=True``.
    transform : affine.Affine
        Grid transform (the DEM's).
    crs : rasterio.crs.CRS
        Grid CRS (the DEM's).
    grid : TowerGrid
        The towers as computed (index = server index).
    model : str
        Propagation model name.
    radius_m, rx_height_m, k_factor : float
        Computation parameters.
    thresholds : Thresholds
        Thresholds used for server counts.
    """

    rx: Composite
    by_tech: dict[str, Composite]
    transform: Affine
    crs: CRS
    grid: TowerGrid
    model: str
    radius_m: float
    rx_height_m: float
    k_factor: float
    thresholds: Thresholds
    parameters: dict[str, object] = field(default_factory=dict)
    by_band: dict[str, Composite] = field(default_factory=dict)
    #: The engine settings it was computed with (the audit's exact paths use the same).
    engine: EngineParams | None = None

    def servers_table(self) -> pd.DataFrame:
        """Server index -> tower id, technology and whether it was computed."""
        return self.grid.servers_table()

    @property
    def best_rx_dbm(self) -> npt.NDArray[np.float32]:
        """Best total received power per cell (dBm, NaN = none)."""
        return self.rx.best_dbm


def warn_towers_outside(grid: TowerGrid, *, source: str = "",
                        bounds: tuple[float, float, float, float] | None = None,
                        reach_m: float = 0.0, stacklevel: int = 2) -> None:
    """Stop when towers were given but none lies on the DEM; else warn (one
    line) about those outside, which are not computed.

    An audit against towers that are all off the terrain would report every
    village dead and succeed; that is nearly always wrong coordinates (a
    CRS mix-up, another country's file), so it is an error, as ``deadzone
    coverage`` makes it.  When most towers are outside the warning says so
    first.  ``source`` (the towers file) starts the error message.  With the
    DEM's ``bounds`` (its CRS) and the towers' ``reach_m``, towers just off
    the DEM's edge (a batch job's window) are not an error: only when every
    tower is farther than its reach from the DEM, so that none could matter
    on any DEM around these villages.

    Raises
    ------
    ParameterError
        Towers given, none on the DEM.
    """
    out = grid.outside
    n = len(grid.tower_ids)
    if not out:
        return
    if len(out) == n and _all_far(grid, bounds, reach_m):
        raise ParameterError(
            (f"{source}: " if source else "")
            + f"none of the {n} tower(s) lies on the DEM, so no signal can be computed; "
            "check the towers' coordinates (lon/lat, or the CRS of a projected file) "
            "against the DEM's area"
        )
    most = 2 * len(out) > n
    warnings.warn(
        ("most towers are off the DEM (check their coordinates): " if most else "")
        + f"{len(out)} of {n} tower(s) outside the DEM were not computed: "
        + ", ".join(out[:10]) + (" ..." if len(out) > 10 else ""),
        DeadzoneWarning,
        stacklevel=stacklevel + 1,
    )


def _all_far(grid: TowerGrid, bounds: tuple[float, float, float, float] | None,
             reach_m: float) -> bool:
    """True when no tower lies within ``reach_m`` of the rectangle ``bounds``."""
    if bounds is None:
        return True
    left, bottom, right, top = bounds
    dx = np.maximum(np.maximum(left - grid.x_m, grid.x_m - right), 0.0)
    dy = np.maximum(np.maximum(bottom - grid.y_m, grid.y_m - top), 0.0)
    d = np.hypot(dx, dy)
    return not bool((np.isfinite(d) & (d <= reach_m)).any())


def band_key(tech: str, site: RadioSite | None) -> str | None:
    """``"<tech>-<MHz>"`` for a computed site (e.g. ``"4G-1800"``), else None
    (:func:`deadzone.model.calibration.band_of`, the one format)."""
    return None if site is None else band_of(tech, site.freq_mhz)


def _subtract_clutter(win: npt.NDArray[np.float32], r0: int, c0: int,
                      categories: npt.NDArray[np.uint8],
                      table_db: npt.NDArray[np.float32]) -> None:
    """Subtract each cell's P.2108 clutter loss from a tower window, in place."""
    rows, cols = categories.shape
    a0, b0 = max(r0, 0), max(c0, 0)
    a1, b1 = min(r0 + win.shape[0], rows), min(c0 + win.shape[1], cols)
    if a1 <= a0 or b1 <= b0:
        return
    win[a0 - r0:a1 - r0, b0 - c0:b1 - c0] -= table_db[categories[a0:a1, b0:b1]]


def site_reach(
    site: RadioSite,
    *,
    shape: tuple[int, int],
    cell_w_m: float,
    cell_h_m: float,
    radius_m: float,
    floor_dbm: float,
) -> tuple[int, int, int, int]:
    """Grid box holding every cell a site's radials read or compute.

    Radials stop at the window edge (Chebyshev radius
    ``ceil(radius_m / min(cell))``) and where even free space falls below
    ``floor_dbm`` (ITU-R P.525-4 eq. (8), as the kernel's cut-off); a sample
    ``k`` steps out lies at most ``k`` cells away and a step is at least
    ``min(cell)``, so the reach is ``d_max / min(cell) + 1/2`` cells (2 kept
    as margin), ``d_max`` being the kernel's own
    :func:`~deadzone.kernels.coverage.site_reach_m`.

    Returns
    -------
    row0, row1, col0, col1 : int
        The box (ends exclusive), clipped to ``shape``.
    """
    min_cell = min(cell_w_m, cell_h_m)
    r_full = int(math.ceil(radius_m / min_cell))
    d_max = site_reach_m(site, radius_m=radius_m, floor_dbm=floor_dbm)
    r = min(r_full, int(math.ceil(d_max / min_cell)) + 2)
    rows, cols = shape
    return (max(site.row - r, 0), min(site.row + r + 1, rows),
            max(site.col - r, 0), min(site.col + r + 1, cols))


def site_window(
    elevation_m: npt.NDArray[np.float32],
    site: RadioSite,
    *,
    dem: Dem,
    radius_m: float,
    rx_height_m: float,
    model: str,
    k_factor: float,
    floor_dbm: float,
    itm: ItmSettings,
    n_threads: int = 1,
    clutter: npt.NDArray[np.uint8] | None = None,
    rx_height_grid_m: npt.NDArray[np.float32] | None = None,
    tech: str | None = None,
    calibration: Calibration | None = None,
) -> tuple[npt.NDArray[np.float32], int, int]:
    """One site's received-power window exactly as :func:`compute_coverage` computes it.

    The kernel window (:func:`deadzone.kernels.coverage.tower_window`) with
    the clutter loss applied; for callers that keep per-tower windows (the
    what-if session, the site optimizer, the tiled computation of
    :mod:`deadzone.geo.tiled`).  ``rx_height_grid_m`` is
    :func:`deadzone.geo.clutter.rx_height_grid` of ``clutter`` (computed here
    when omitted).  With ``calibration``, each cell gets its correction for
    the site's technology ``tech``, its distance from the site's cell and its
    clutter class (:meth:`deadzone.model.calibration.Calibration.correction_db`).

    The kernel runs on the DEM cropped to :func:`site_reach`: the window
    depends only on the terrain the site can reach (radials are rounded
    relative to the site's cell, so a tile of a larger-than-memory DEM read
    from disk gives the same window, bit for bit), and per-site work such as
    the receiver-height check covers the reach, not the whole grid.

    Returns
    -------
    window : float32[2R+1, 2R+1]
        Received power (dBm); NaN where not computed.
    row_off, col_off : int
        Grid index of the window's top-left cell.
    """
    if clutter is not None and rx_height_grid_m is None:
        rx_height_grid_m = rx_height_grid(clutter, rx_height_m=rx_height_m)
    shape = (int(elevation_m.shape[0]), int(elevation_m.shape[1]))
    if not (0 <= site.row < shape[0] and 0 <= site.col < shape[1]):
        raise ParameterError(f"site cell ({site.row}, {site.col}) lies outside the DEM")
    a0, a1, b0, b1 = site_reach(site, shape=shape, cell_w_m=dem.cell_w_m,
                                cell_h_m=dem.cell_h_m, radius_m=radius_m, floor_dbm=floor_dbm)
    crop = np.ascontiguousarray(elevation_m[a0:a1, b0:b1], dtype=np.float32)
    h_crop = None if rx_height_grid_m is None else np.ascontiguousarray(
        rx_height_grid_m[a0:a1, b0:b1], dtype=np.float32)
    win, r0, c0 = tower_window(
        crop, replace(site, row=site.row - a0, col=site.col - b0), cell_w_m=dem.cell_w_m,
        cell_h_m=dem.cell_h_m, radius_m=radius_m, rx_height_m=rx_height_m, model=model,
        k_factor=k_factor, floor_dbm=floor_dbm, itm=itm, n_threads=n_threads,
        rx_height_grid_m=h_crop,
    )
    r0, c0 = r0 + a0, c0 + b0
    if clutter is not None:
        _subtract_clutter(win, r0, c0, clutter,
                          loss_table_db(freq_mhz=site.freq_mhz, rx_height_m=rx_height_m))
    if calibration is not None:
        _calibrate_window(win, r0, c0, site, tech, calibration, dem=dem, clutter=clutter)
    return win, r0, c0


def _calibrate_window(win: npt.NDArray[np.float32], r0: int, c0: int, site: RadioSite,
                      tech: str | None, calibration: Calibration, *, dem: Dem,
                      clutter: npt.NDArray[np.uint8] | None) -> None:
    """Add a calibration's correction to a window in place (distance from the
    site's cell centre; the clutter class of each cell)."""
    if tech is None:
        raise ParameterError("a calibrated window needs the site's technology (tech=)")
    h, w = win.shape
    dy = (np.arange(r0, r0 + h, dtype=np.float64) - site.row) * dem.cell_h_m
    dx = (np.arange(c0, c0 + w, dtype=np.float64) - site.col) * dem.cell_w_m
    dist = np.hypot(dy[:, None], dx[None, :])
    # one technology and band for the whole window: scalars, not per-cell arrays
    corr = calibration.correction_db(tech, dist, None, band_of(tech, site.freq_mhz))
    if clutter is not None and calibration.clutter_offsets_db:
        rr = np.clip(np.arange(r0, r0 + h), 0, clutter.shape[0] - 1)
        cc = np.clip(np.arange(c0, c0 + w), 0, clutter.shape[1] - 1)
        corr += calibration.clutter_offsets_for(CATEGORY_NAMES)[clutter[rr[:, None],
                                                                        cc[None, :]]]
    win += corr.astype(np.float32)  # NaN (not computed) stays NaN


def warn_calibration_without_landcover(params: EngineParams, clutter: object,
                                       *, stacklevel: int = 2) -> None:
    """Say when a calibration's per-class offsets cannot apply (no land cover)."""
    cal = params.calibration
    if cal is not None and cal.clutter_offsets_db and clutter is None:
        warnings.warn(
            f"the calibration has offsets per land-cover class "
            f"({', '.join(sorted(cal.clutter_offsets_db))}) but no land cover was given "
            f"(--landcover): every place is taken as {cal.clutter_reference or 'the reference'}",
            DeadzoneWarning, stacklevel=stacklevel + 1)


def coverage_parameters(
    *,
    model: str,
    radius_km: float,
    rx_height_m: float,
    k_factor: float,
    floor_dbm: float,
    itm: ItmSettings,
    clutter: bool = False,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """The parameters a coverage run records in its outputs (``coverage.json``).

    The model's own settings go with it: all of ``itm`` for ``model="itm"``,
    the ground constants and polarization ``p526`` uses; a calibration's
    coefficients when one is applied.
    """
    params: dict[str, Any] = {
        "model": model,
        "radius_km": radius_km,
        "rx_height_m": rx_height_m,
        "k_factor": k_factor,
        "floor_dbm": floor_dbm,
    }
    if model == "itm":
        params["itm"] = itm.as_dict()
    elif model == "p526":
        params["p526"] = {"epsilon": itm.epsilon, "sigma": itm.sigma, "pol": itm.pol}
    if clutter:
        params["clutter"] = "ITU-R P.2108-1 §3.1"
    if calibration is not None:
        params["calibration"] = calibration.to_dict()
    return params


def compute_coverage(
    dem: Dem,
    towers: gpd.GeoDataFrame,
    *,
    model: str = "itm",
    radius_km: float = DEFAULT_RADIUS_KM,
    rx_height_m: float = DEFAULT_RX_HEIGHT_M,
    k_factor: float = 4.0 / 3.0,
    thresholds: Thresholds | None = None,
    floor_dbm: float = DEFAULT_FLOOR_DBM,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    per_band: bool = False,
    itm: ItmSettings | None = None,
    clutter: npt.NDArray[np.uint8] | None = None,
    params: EngineParams | None = None,
) -> CoverageResult:
    """Received power of every tower over the DEM, and the composites.

    Parameters
    ----------
    dem : Dem
        Terrain in a metric CRS.
    towers : GeoDataFrame
        Canonical towers (EPSG:4326 or any CRS).
    model : str
        One of :data:`deadzone.kernels.coverage.MODELS`: ``itm`` (Longley-Rice,
        the default), ``knife``, ``fspl``, ``hata-*``, ``cost231*``.
    radius_km : float
        Computation radius per tower (km).
    rx_height_m : float
        Receiver height above ground (m).
    k_factor : float
        Effective earth-radius factor.
    thresholds : Thresholds, optional
        Used for the server counts (default: :class:`Thresholds`()).
    floor_dbm : float
        Radials stop where even free space falls below this (dBm).
    n_threads : int, optional
        Worker threads (default: all cores).  Results do not depend on it.
    progress : callable, optional
        Called as ``progress(done, total)`` after each tower.
    per_band : bool
        Also build one composite per technology and band (``by_band``).
    itm : ItmSettings, optional
        ITM climate, refractivity, ground and statistics (``model="itm"``;
        default :class:`~deadzone.kernels.itm.ItmSettings`()).
    clutter : ndarray of uint8, optional
        P.2108 clutter category per DEM cell (:func:`deadzone.geo.clutter.load_landcover`):
        cells in clutter taller than the handset are computed at the clutter
        height and get the P.2108 §3.1 loss down to ``rx_height_m``.

    params : EngineParams, optional
        All the engine settings above in one value (as :class:`EngineParams`);
        then none of ``model`` ... ``itm`` may be given too.

    Returns
    -------
    CoverageResult
    """
    engine = engine_params(params, model=model, radius_km=radius_km, rx_height_m=rx_height_m,
                           k_factor=k_factor, floor_dbm=floor_dbm, itm=itm)  # validates
    model, radius_km, rx_height_m = engine.model, engine.radius_km, engine.rx_height_m
    k_factor, floor_dbm, itm = engine.k_factor, engine.floor_dbm, engine.itm
    calibration = engine.calibration
    warn_calibration_without_landcover(engine, clutter, stacklevel=3)
    thr = thresholds or Thresholds()
    grid = towers_on_grid(towers, dem)
    warn_towers_outside(grid, source=str(towers.attrs.get("source", "")), bounds=dem.bounds,
                        reach_m=1000.0 * radius_km, stacklevel=3)
    shape = dem.shape
    rx = new_composite(shape, threshold_dbm=thr.covered("2G"))
    by_tech = {
        t: new_composite(shape, threshold_dbm=thr.covered(t)) for t in TECHS if t in grid.techs
    }
    bands = [band_key(t, s) for t, s in zip(grid.techs, grid.sites, strict=True)]
    by_band = {
        b: new_composite(shape, threshold_dbm=thr.covered(b.split("-")[0]))
        for b in sorted({b for b in bands if b is not None})
    } if per_band else {}
    elev = np.ascontiguousarray(dem.elevation_m, dtype=np.float32)
    radius_m = radius_km * 1000.0
    todo = [i for i, s in enumerate(grid.sites) if s is not None]
    threads = n_threads or os.cpu_count() or 1
    # Few towers: share each tower's radials among threads; many: one tower
    # per thread.  Either way the result does not depend on the split.
    inner = max(1, threads // max(1, len(todo)))
    outer = max(1, threads // inner)
    itm_settings = itm or ItmSettings()
    h_grid = None
    if clutter is not None:
        if clutter.shape != dem.shape:
            raise ParameterError(f"clutter has shape {clutter.shape}; expected the DEM's "
                                 f"{dem.shape}")
        h_grid = rx_height_grid(clutter, rx_height_m=rx_height_m)

    def one(i: int) -> tuple[npt.NDArray[np.float32], int, int]:
        site = grid.sites[i]
        assert site is not None  # filtered above
        return site_window(
            elev, site, dem=dem, radius_m=radius_m, rx_height_m=rx_height_m, model=model,
            k_factor=k_factor, floor_dbm=floor_dbm, itm=itm_settings, n_threads=inner,
            clutter=clutter, rx_height_grid_m=h_grid, tech=grid.techs[i],
            calibration=calibration,
        )

    for done, (i, (win, r0, c0)) in enumerate(iter_windows(one, todo, n_threads=outer), 1):
        tech = grid.techs[i]
        off = float(grid.metric_offset_db[i])
        merge_into(rx, win, r0, c0, i, threshold_dbm=thr.covered(tech) + off)
        merge_into(by_tech[tech], win, r0, c0, i, metric_offset_db=off)
        if per_band:
            merge_into(by_band[bands[i]], win, r0, c0, i, metric_offset_db=off)
        if progress is not None:
            progress(done, len(todo))
    return CoverageResult(
        rx=rx,
        by_tech=by_tech,
        by_band=by_band,
        transform=dem.transform,
        crs=dem.crs,
        grid=grid,
        model=model,
        radius_m=radius_m,
        rx_height_m=rx_height_m,
        k_factor=k_factor,
        thresholds=thr,
        parameters=coverage_parameters(
            model=model, radius_km=radius_km, rx_height_m=rx_height_m, k_factor=k_factor,
            floor_dbm=floor_dbm, itm=itm_settings, clutter=clutter is not None,
            calibration=calibration,
        ),
        engine=engine,
    )
