"""Village signals from exact tower -> village paths (the audit's engine).

Every tower within reach of a village is evaluated on its own straight
profile from the tower's position to the village point, with the model as
its source defines it for one profile (NTIA ITM 1.4 p2p, ITU-R P.526-15 as
written, ...); see :mod:`deadzone.kernels._paths`.  The area rasters of
:func:`deadzone.geo.coverage.compute_coverage` serve maps: read at a
village they can differ slightly (their radial passes near, not through,
the village point and reads the nearest cell's height).

Candidate pairs come from a bucket grid of the towers (no all-pairs distance
matrix); a pair is kept when the village lies within the tower's reach, the
same reach the area engine uses (``radius_km``, or less where even free
space falls below ``floor_dbm``).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.geo.clutter import CATEGORY_NAMES, loss_table_db, rx_height_grid
from deadzone.geo.coverage import EngineParams, TowerGrid
from deadzone.kernels.coverage import site_reach_m
from deadzone.kernels.paths import (
    PathResult,
    fold_pairs,
    pair_signals,
    pairs_in_reach,
    radio_table,
)
from deadzone.model.dem import Dem
from deadzone.model.geometry import representative_points
from deadzone.model.schema import TECHS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "VillagePoints",
    "VillageSignals",
    "candidate_pairs",
    "fractional_rc",
    "pair_rx",
    "village_points",
    "village_signals",
]


@dataclass(frozen=True)
class VillageSignals:
    """What :func:`village_signals` finds for each village and each pair.

    Attributes
    ----------
    pair_tower, pair_village : int64[n_pairs]
        The evaluated pairs, sorted by village then tower (tower = index in
        the :class:`~deadzone.geo.coverage.TowerGrid`).
    paths : PathResult
        Per-pair results (``rx_dbm`` before clutter loss).
    rx_dbm : float64[n_pairs]
        Received total power with the clutter loss at the village (dBm).
    metric_dbm : dict[str, float64[n_villages]]
        Per technology present among the towers: the best metric (received
        level for 2G/3G, RSRP for 4G/5G) over that technology's towers (dBm,
        NaN: no tower of it in reach).
    metric_server : dict[str, int64[n_villages]]
        The tower giving it (-1: none); the lowest index wins ties.
    best_rx_dbm, second_rx_dbm : float64[n_villages]
        Best and second-best total received power over all towers (dBm).
    best_server : int64[n_villages]
        Tower giving ``best_rx_dbm`` (-1: none).
    n_servers : int64[n_villages]
        Towers whose metric reaches their technology's covered threshold.
    rx_height_m : float64[n_villages]
        The receiver height each village was computed at (m above ground).
    """

    pair_tower: npt.NDArray[np.int64]
    pair_village: npt.NDArray[np.int64]
    paths: PathResult
    rx_dbm: npt.NDArray[np.float64]
    metric_dbm: dict[str, npt.NDArray[np.float64]]
    metric_server: dict[str, npt.NDArray[np.int64]]
    best_rx_dbm: npt.NDArray[np.float64]
    second_rx_dbm: npt.NDArray[np.float64]
    best_server: npt.NDArray[np.int64]
    n_servers: npt.NDArray[np.int64]
    rx_height_m: npt.NDArray[np.float64]

    def pair_index(self, village: int, tower: int) -> int:
        """Row of the pair (village, tower), or -1 when it was not evaluated."""
        lo = np.searchsorted(self.pair_village, village, side="left")
        hi = np.searchsorted(self.pair_village, village, side="right")
        hit = np.flatnonzero(self.pair_tower[lo:hi] == tower)
        return int(lo + hit[0]) if hit.size else -1


@dataclass(frozen=True)
class VillagePoints:
    """Where the audit evaluates each village, in the DEM's grid.

    Attributes
    ----------
    x_m, y_m : float64[n]
        The village point (its representative point for a polygon) in the
        DEM CRS (m); NaN for a missing or empty geometry.
    rows, cols : int64[n]
        Its cell (clipped into the grid).
    bad : bool[n]
        No usable location (``invalid_location``).
    inside : bool[n]
        Inside the grid and the source data's footprint.
    """

    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    rows: npt.NDArray[np.int64]
    cols: npt.NDArray[np.int64]
    bad: npt.NDArray[np.bool_]
    inside: npt.NDArray[np.bool_]

    @property
    def ok(self) -> npt.NDArray[np.bool_]:
        """Villages that get a radio status."""
        return self.inside & ~self.bad


def village_points(villages: gpd.GeoDataFrame, dem: Dem) -> VillagePoints:
    """The points at which :func:`deadzone.geo.audit.audit` evaluates villages.

    The grid of a reprojected DEM is a rectangle around the source footprint;
    its margins hold no source data (filled only so kernels see no NaN), so a
    village there is as outside the DEM as one beyond the grid.
    """
    geom = villages.geometry
    bad = (geom.isna() | geom.is_empty).to_numpy().copy()
    pts = representative_points(geom).to_crs(dem.crs)
    x = pts.x.to_numpy(dtype=np.float64, na_value=np.nan)  # NaN where no point
    y = pts.y.to_numpy(dtype=np.float64, na_value=np.nan)
    bad |= ~(np.isfinite(x) & np.isfinite(y))
    rows, cols, in_grid = dem.rowcol(x, y)
    inside = in_grid & ~dem.outside_footprint_mask[rows, cols]
    return VillagePoints(x, y, rows, cols, bad, inside)


def fractional_rc(dem: Dem, x: npt.ArrayLike, y: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """(row, col) of projected points in cell units, 0.0 at the first cell's centre."""
    row, col = dem.cell_coords(x, y)
    return np.column_stack([row - 0.5, col - 0.5])


def candidate_pairs(
    tower_xy: npt.NDArray[np.float64],
    reach_m: npt.NDArray[np.float64],
    village_xy: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Tower -> village pairs with the village within the tower's reach.

    ``reach_m`` NaN (or a non-finite tower position) leaves a tower out;
    non-finite village positions are left out.  The spatial index is a
    bucket grid of the towers (:func:`deadzone.kernels.paths.pairs_in_reach`:
    no all-pairs distance matrix).  Returns ``(tower, village)`` index arrays
    sorted by village, then tower.
    """
    return pairs_in_reach(tower_xy, reach_m, village_xy)


def village_signals(
    dem: Dem,
    grid: TowerGrid,
    village_x: npt.ArrayLike,
    village_y: npt.ArrayLike,
    *,
    params: EngineParams,
    thresholds: Thresholds,
    clutter: npt.NDArray[np.uint8] | None = None,
) -> VillageSignals:
    """Signals at village points from exact tower -> village paths.

    Parameters
    ----------
    dem : Dem
        Terrain (metric CRS).
    grid : TowerGrid
        Towers on the DEM (:func:`deadzone.geo.coverage.towers_on_grid`);
        towers outside the DEM (``sites[i] is None``) are not computed.
    village_x, village_y : array_like of float
        Village points in the DEM CRS (m); NaN for villages not to evaluate.
    params : EngineParams
        Model, radius, handset height, k-factor, floor and ITM settings.
    thresholds : Thresholds
        Covered thresholds per technology (for ``n_servers``).
    clutter : uint8[rows, cols], optional
        P.2108 clutter category per DEM cell: a village in clutter taller
        than the handset is computed at the clutter height and gets the
        P.2108 §3.1 loss, as the area engine does per cell.

    Returns
    -------
    VillageSignals
    """
    vx = np.asarray(village_x, dtype=np.float64)
    vy = np.asarray(village_y, dtype=np.float64)
    if vx.shape != vy.shape or vx.ndim != 1:
        raise ParameterError("village_x and village_y must be 1-D arrays of one length")
    n_v = vx.size
    n_t = len(grid.tower_ids)
    reach = np.full(n_t, np.nan)
    for i, s in enumerate(grid.sites):
        if s is not None:
            reach[i] = site_reach_m(s, radius_m=params.radius_m, floor_dbm=params.floor_dbm)
    t_xy = np.column_stack([grid.x_m, grid.y_m])
    pt, pv = candidate_pairs(t_xy, reach, np.column_stack([vx, vy]))
    paths, rx, h_rx = pair_rx(dem, grid, vx, vy, pt, pv, params=params, clutter=clutter)

    techs = [t for t in TECHS if t in grid.techs]
    tech_code = np.array([techs.index(t) for t in grid.techs], dtype=np.int64)
    covered = np.array([thresholds.covered(t) for t in techs], dtype=np.float64)
    best_tech = np.full((n_v, len(techs)), np.nan)
    server_tech = np.full((n_v, len(techs)), -1, dtype=np.int64)
    best_rx = np.full(n_v, np.nan)
    second_rx = np.full(n_v, np.nan)
    server_rx = np.full(n_v, -1, dtype=np.int64)
    n_serv = np.zeros(n_v, dtype=np.int64)
    v_ptr = np.searchsorted(pv, np.arange(n_v + 1)).astype(np.int64)
    if techs:
        fold_pairs(v_ptr, pt, rx, np.asarray(grid.metric_offset_db, dtype=np.float64),
                       tech_code, covered, best_tech, server_tech, best_rx, server_rx,
                       second_rx, n_serv)
    return VillageSignals(
        pair_tower=pt,
        pair_village=pv,
        paths=paths,
        rx_dbm=rx,
        metric_dbm={t: best_tech[:, k].copy() for k, t in enumerate(techs)},
        metric_server={t: server_tech[:, k].copy() for k, t in enumerate(techs)},
        best_rx_dbm=best_rx,
        second_rx_dbm=second_rx,
        best_server=server_rx,
        n_servers=n_serv,
        rx_height_m=h_rx,
    )


def pair_rx(
    dem: Dem,
    grid: TowerGrid,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    pair_tower: npt.NDArray[np.int64],
    pair_point: npt.NDArray[np.int64],
    *,
    params: EngineParams,
    clutter: npt.NDArray[np.uint8] | None = None,
) -> tuple[PathResult, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Received power on given tower -> point pairs, each on its own exact path.

    The audit's per-pair engine (:func:`village_signals` runs it on every pair
    within reach; a measurement sample with a known serving tower runs it on
    that one pair, wherever the tower is).

    Parameters
    ----------
    dem : Dem
        Terrain (metric CRS).
    grid : TowerGrid
        Towers on the DEM; a pair's tower must have a site (be on the DEM).
    x, y : float64[n_points]
        Points in the DEM CRS (m).
    pair_tower, pair_point : int64[n_pairs]
        Tower index in ``grid`` and point index of each pair.
    params : EngineParams
        Model, handset height, k-factor and ITM settings; its calibration,
        if any, is added to each pair.
    clutter : uint8[rows, cols], optional
        P.2108 category per DEM cell (receiver height and clutter loss at
        each point, as :func:`village_signals` applies them).

    Returns
    -------
    paths : PathResult
        Per-pair results (``rx_dbm`` before clutter loss).
    rx_dbm : float64[n_pairs]
        Received total power with the clutter loss at the point (dBm).
    rx_height_m : float64[n_points]
        The receiver height of each point (m above ground).
    """
    n_v = x.size
    h_rx = np.full(n_v, float(params.rx_height_m))
    cat = None
    fin = np.isfinite(x) & np.isfinite(y)
    if clutter is not None:
        if clutter.shape != dem.shape:
            raise ParameterError(f"clutter has shape {clutter.shape}; expected the DEM's "
                                 f"{dem.shape}")
        rows, cols, _ = dem.rowcol(np.where(fin, x, 0.0), np.where(fin, y, 0.0))
        cat = clutter[rows, cols]
        h_grid = rx_height_grid(clutter, rx_height_m=params.rx_height_m)
        h_rx = np.where(fin, h_grid[rows, cols].astype(np.float64), h_rx)
    pt = np.asarray(pair_tower, dtype=np.int64)
    pv = np.asarray(pair_point, dtype=np.int64)
    paths = pair_signals(
        dem.elevation_m, cell_m=min(dem.cell_w_m, dem.cell_h_m),
        tower_rc=fractional_rc(dem, grid.x_m, grid.y_m),
        tower_xy=np.column_stack([grid.x_m, grid.y_m]),
        radio=radio_table(grid.sites), rx_rc=fractional_rc(dem, x, y),
        rx_xy=np.column_stack([x, y]), rx_height_m=h_rx, pair_tower=pt, pair_rx=pv,
        model=params.model, k_factor=params.k_factor, itm=params.itm,
    )
    rx = paths.rx_dbm.copy()
    if cat is not None and pt.size:
        # P.2108 §3.1 clutter loss at the point, per tower frequency
        freqs = np.array([np.nan if s is None else s.freq_mhz for s in grid.sites])
        for f in np.unique(freqs[pt]):
            sel = freqs[pt] == f
            table = loss_table_db(freq_mhz=float(f), rx_height_m=params.rx_height_m)
            rx[sel] -= table[cat[pv[sel]]].astype(np.float64)
    cal = params.calibration
    if cal is not None and pt.size:
        # measured - predicted, fitted by deadzone calibrate: per technology, by
        # the pair's distance and the point's clutter class
        dist = np.hypot(grid.x_m[pt] - x[pv], grid.y_m[pt] - y[pv])
        corr = cal.correction_db(np.asarray(grid.techs, dtype=object)[pt], dist, None,
                                 grid.bands()[pt])
        if cat is not None:
            corr += cal.clutter_offsets_for(CATEGORY_NAMES)[cat[pv]]
        rx += corr
    return paths, rx, h_rx
