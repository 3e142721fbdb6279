"""The demo province's gridded population raster (people per cell, WorldPop-like).

:func:`demo_population` spreads the demo's listed villages over a few hundred
metres, adds a thin population along valley floors and roads, and a few
*unlisted hamlets*: clusters of a few hundred people in valleys away from
every listed village, which no village list names and only a population
raster shows (``deadzone audit`` reports them as unlisted settlements, see
``docs/SETTLEMENTS.md``).  It draws only from the generator it is given, so the
demo's villages, towers and terrain, drawn from another stream, are unchanged.

The grid is WorldPop's: EPSG:4326, 3 arc-second cells (~93 x 86 m at 22 N),
covering the DEM's footprint; values are people per cell (float).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from scipy.spatial import cKDTree

from deadzone.model.population import PopulationGrid

__all__ = ["CELL_ARCSEC", "demo_population", "HAMLET_COUNT_RANGE"]

F64 = npt.NDArray[np.float64]

#: Cell size of the demo raster (arc-seconds), WorldPop's 3".
CELL_ARCSEC = 3.0
#: Standard deviation of the Gaussian a listed village's people are spread
#: with (m): a hamlet of stilt houses along a valley spans a few hundred metres.
VILLAGE_SPREAD_M = (150.0, 260.0)
#: People living outside the listed villages, as a share of the villages' total:
#: fields huts, roadside houses and farmsteads along valley floors and roads.
BACKGROUND_SHARE = 0.2
#: The dispersed population never exceeds this density (people/km^2), well
#: under the settlement threshold of 500/km^2 of :mod:`deadzone.geo.settlements`:
#: only villages and hamlets form settlements.
BACKGROUND_MAX_PER_KM2 = 250.0
#: Valley weighting of the dispersed population: exp(-HAND / scale) ...
BACKGROUND_HAND_SCALE_M = 80.0
#: ... plus this weight times exp(-distance to a road / scale).
BACKGROUND_ROAD_WEIGHT = 0.6
BACKGROUND_ROAD_SCALE_M = 250.0
#: Unlisted hamlets: how many (inclusive range), people each (log-normal
#: median, clipped range), their spread (m), and how far from any listed
#: village (m) and from each other they keep.
HAMLET_COUNT_RANGE = (4, 7)
HAMLET_PEOPLE_MEDIAN = 280.0
HAMLET_PEOPLE_RANGE = (120.0, 700.0)
HAMLET_SPREAD_M = 160.0
HAMLET_VILLAGE_CLEARANCE_M = 2000.0
HAMLET_SPACING_M = 4000.0
#: Half the hamlets are drawn among places at least this far from any tower
#: (likely dead zones), the rest anywhere in the valleys.
HAMLET_REMOTE_TOWER_M = 6000.0


def demo_population(
    rng: np.random.Generator,
    *,
    dem_crs: CRS,
    dem_bounds: tuple[float, float, float, float],
    province_bounds: tuple[float, float, float, float],
    village_xy: F64,
    village_population: npt.ArrayLike,
    tower_xy: F64,
    roads: list[shapely.Geometry],
    valley_sample: Callable[[F64], tuple[F64, F64]],
) -> PopulationGrid:
    """Generate the demo province's population raster.

    Parameters
    ----------
    rng : numpy.random.Generator
        The raster's own random stream (a generator no other part of the demo
        draws from).
    dem_crs : rasterio.crs.CRS
        The DEM's projected CRS (metres); every ``*_xy`` is in it.
    dem_bounds : tuple of float
        ``(xmin, ymin, xmax, ymax)`` of the DEM (m); the raster covers it.
    province_bounds : tuple of float
        ``(xmin, ymin, xmax, ymax)`` of the province (m); hamlets lie inside.
    village_xy : ndarray, shape (n, 2)
        Listed villages (m).
    village_population : array_like, shape (n,)
        Their people; each village's people are spread around it, so the
        raster holds them all (plus the dispersed population and hamlets).
    tower_xy : ndarray, shape (m, 2)
        Existing towers (m), to put some hamlets far from them.
    roads : list of shapely geometries
        Road lines (m).
    valley_sample : callable
        ``valley_sample(xy) -> (hand_m, slope)``: height above the nearest
        river (m) and ground slope (m/m) at points ``xy`` (shape (k, 2)).

    Returns
    -------
    PopulationGrid
        People per 3" cell, EPSG:4326, every cell valid, ``source="demo"``.
    """
    to_lonlat = Transformer.from_crs(dem_crs, 4326, always_xy=True)
    to_xy = Transformer.from_crs(4326, dem_crs, always_xy=True)
    xmin, ymin, xmax, ymax = dem_bounds
    edge = np.linspace(0.0, 1.0, 41)
    ring_x = np.r_[xmin + edge * (xmax - xmin), np.full(41, xmax),
                   xmax - edge * (xmax - xmin), np.full(41, xmin)]
    ring_y = np.r_[np.full(41, ymin), ymin + edge * (ymax - ymin),
                   np.full(41, ymax), ymax - edge * (ymax - ymin)]
    lon, lat = to_lonlat.transform(ring_x, ring_y)
    step = CELL_ARCSEC / 3600.0
    west, east = math.floor(lon.min() / step) * step, math.ceil(lon.max() / step) * step
    south, north = math.floor(lat.min() / step) * step, math.ceil(lat.max() / step) * step
    cols, rows = round((east - west) / step), round((north - south) / step)
    transform = Affine(step, 0.0, west, 0.0, -step, north)
    c_lon = west + (np.arange(cols) + 0.5) * step
    c_lat = north - (np.arange(rows) + 0.5) * step
    glon, glat = np.meshgrid(c_lon, c_lat)
    cx, cy = to_xy.transform(glon.ravel(), glat.ravel())
    cell_xy = np.column_stack([cx, cy])
    tree = cKDTree(cell_xy)

    people = np.zeros(rows * cols)
    v_pop = np.asarray(village_population, dtype=np.float64)
    spread = rng.uniform(*VILLAGE_SPREAD_M, len(v_pop))
    for xy, pop, sigma in zip(village_xy, v_pop, spread, strict=True):
        _spread(people, tree, cell_xy, xy, pop, sigma)

    # the dispersed population: valley floors and roadsides, log-normal texture
    hand, slope = valley_sample(cell_xy)
    road_d = shapely.distance(shapely.union_all(roads), shapely.points(cell_xy)) \
        if roads else np.full(len(cell_xy), np.inf)
    hand, slope = np.asarray(hand), np.asarray(slope)
    w = np.exp(-hand / BACKGROUND_HAND_SCALE_M) * np.exp(-((slope / 0.4) ** 2))
    w = w + BACKGROUND_ROAD_WEIGHT * np.exp(-road_d / BACKGROUND_ROAD_SCALE_M)
    w *= np.exp(rng.normal(0.0, 0.6, len(w)))
    area_km2 = _cell_area_km2(c_lat, step)
    cap = BACKGROUND_MAX_PER_KM2 * np.repeat(area_km2, cols)
    background = w / w.sum() * BACKGROUND_SHARE * v_pop.sum()
    people += np.minimum(background, cap)

    # unlisted hamlets: valleys, far from every listed village and each other
    hx, hy = _hamlet_sites(rng, cell_xy, province_bounds, village_xy, tower_xy, hand, slope)
    size = np.exp(rng.normal(math.log(HAMLET_PEOPLE_MEDIAN), 0.45, len(hx)))
    for x, y, pop in zip(hx, hy, np.clip(size, *HAMLET_PEOPLE_RANGE), strict=True):
        _spread(people, tree, cell_xy, np.array([x, y]), float(np.round(pop)), HAMLET_SPREAD_M)

    grid = people.reshape(rows, cols)
    return PopulationGrid(
        people=grid,
        valid=np.ones(grid.shape, dtype=bool),
        transform=transform,
        crs=CRS.from_epsg(4326),
        source="demo",
    )


def _spread(people: F64, tree: cKDTree, cell_xy: F64, xy: F64, pop: float, sigma: float) -> None:
    """Add ``pop`` people around ``xy`` with a Gaussian of ``sigma`` m (total kept)."""
    near = np.asarray(tree.query_ball_point(xy, 3.0 * sigma), dtype=np.int64)
    if near.size == 0:
        near = np.array([tree.query(xy)[1]], dtype=np.int64)
    d2 = ((cell_xy[near] - xy) ** 2).sum(axis=1)
    w = np.exp(-0.5 * d2 / sigma**2)
    people[near] += pop * w / w.sum()


def _cell_area_km2(lat_deg: F64, step_deg: float) -> F64:
    """Area (km^2) of a ``step_deg`` cell centred at each latitude (sphere)."""
    r_km = 6371.0088
    half = math.radians(step_deg) / 2.0
    phi = np.radians(lat_deg)
    return r_km**2 * math.radians(step_deg) * (np.sin(phi + half) - np.sin(phi - half))


def _hamlet_sites(
    rng: np.random.Generator,
    cell_xy: F64,
    province: tuple[float, float, float, float],
    village_xy: F64,
    tower_xy: F64,
    hand: F64,
    slope: F64,
) -> tuple[F64, F64]:
    """Where the unlisted hamlets are (m): valley cells away from villages."""
    xmin, ymin, xmax, ymax = province
    m = 1500.0
    inside = (cell_xy[:, 0] > xmin + m) & (cell_xy[:, 0] < xmax - m)
    inside &= (cell_xy[:, 1] > ymin + m) & (cell_xy[:, 1] < ymax - m)
    v_dist, _ = cKDTree(village_xy).query(cell_xy)
    t_dist = cKDTree(tower_xy).query(cell_xy)[0] if len(tower_xy) else np.full(len(cell_xy), np.inf)
    weight = np.exp(-hand / 40.0) * np.exp(-(slope / 0.25) ** 2)
    weight *= inside & (v_dist >= HAMLET_VILLAGE_CLEARANCE_M)
    n = int(rng.integers(HAMLET_COUNT_RANGE[0], HAMLET_COUNT_RANGE[1] + 1))
    chosen: list[int] = []
    for k in range(n):
        w = weight * (t_dist >= HAMLET_REMOTE_TOWER_M) if k % 2 == 0 else weight
        if chosen:
            taken = cKDTree(cell_xy[chosen]).query(cell_xy)[0] < HAMLET_SPACING_M
            w = np.where(taken, 0.0, w)
        if w.sum() <= 0:
            w = np.where(np.isin(np.arange(len(weight)), chosen), 0.0, weight)
        if w.sum() <= 0:
            break
        chosen.append(int(rng.choice(len(w), p=w / w.sum())))
    xy = cell_xy[chosen] if chosen else np.empty((0, 2))
    return xy[:, 0], xy[:, 1]
