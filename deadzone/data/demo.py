"""A synthetic, offline demo province in Vietnam's northern uplands.

:func:`demo_scenario` builds a complete :class:`~deadzone.model.scenario.Scenario`
(DEM, communes, villages, towers, roads, fiber nodes) from one seed, with no
network access and no global random state: the same seed gives identical
output.

How the terrain is made
-----------------------
1. A spectral-synthesis (1/f^beta) noise surface, stretched along the NW-SE
   grain of the region and tilted down to the south-east, is routed on a
   120 m grid: the minimum spanning tree of the 8-neighbour graph weighted by
   ``max(z_u, z_v)`` drains every cell to a few outlets (it is the
   priority-flood drainage tree: depressions spill over their saddles).
2. Elevation is the least-cost climb from the outlets (Dijkstra), a step
   costing its length times the stream-power slope ``min(S_hill, k_s A^-theta)``
   (``A`` drainage area): big rivers get gentle gradients in valley floors,
   hillslopes are steep, ridges form where climbs from two valleys meet.
   The rivers are then re-routed on this relief.
3. The surface is upsampled to 30 m (cubic convolution), textured with a
   ridged multifractal whose amplitude grows with height above the river a
   cell drains to, and rescaled to 100-2,000 m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import scipy.fft as sfft
import shapely
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import (
    breadth_first_order,
    dijkstra,
    minimum_spanning_tree,
    shortest_path,
)
from scipy.spatial import Delaunay, cKDTree
from shapely.ops import voronoi_diagram

from deadzone.data.demo_population import demo_population
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TOWER_COLUMNS, TOWER_DEFAULTS

__all__ = ["demo_scenario"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# --- grid --------------------------------------------------------------------
DEM_EPSG = 32648  # WGS 84 / UTM zone 48N
DEM_SIZE = 2000  # cells per side
CELL_M = 30.0
DEM_X_MIN_M = 458_700.0  # ~104.60 E
DEM_Y_MAX_M = 2_484_000.0  # ~22.45 N
COARSE_FACTOR = 4  # routing grid: 120 m cells
COARSE_M = CELL_M * COARSE_FACTOR
ELEV_MIN_M, ELEV_MAX_M = 100.0, 2000.0
PROVINCE_MARGIN_M = 600.0  # province rectangle = DEM footprint inset by this

# --- terrain -----------------------------------------------------------------
FFT_PAD = 768  # coarse noise is synthesised on a larger periodic grid, then cropped
TERRAIN_PAD = 50  # routing-grid cells simulated beyond each DEM edge
ROUTING_BETA = 2.6  # spectral exponent of the routing surface
GRAIN_ANISOTROPY = 1.25  # ridges and valleys elongated along the NW-SE grain
REGIONAL_TILT = 1.0  # routing-surface drop NW -> SE, in noise standard deviations
REGIONAL_DIP = (0.35, 0.65)  # share of the tilt along rows (N->S) and cols (W->E)
NW_UPLIFT = 0.3  # k_s is this much larger in the NW corner than in the SE
OUTLET_FRACTIONS = (0.78, 0.25, 0.55)  # S edge, S edge, E edge: position along the edge
OUTLET_JITTER = 0.08
STREAM_THETA = 0.45  # concavity of the slope-area law
STREAM_KS = 42.0  # steepness k_s in S = k_s A^-theta (A in m^2)
KS_VARIATION = 0.4  # log-normal spread of k_s (rock strength, uplift)
KS_BETA = 4.0  # spectral exponent of the k_s field (smooth: massifs and basins)
HILLSLOPE_MAX = 0.8  # steepest hillslope gradient (m/m), ~39 deg
RIVER_MIN_AREA_KM2 = 2.0  # drainage area at which a channel counts as a river
DETAIL_WAVELENGTHS_M = (1920.0, 960.0, 480.0, 240.0)
DETAIL_GAIN = 2.0  # ridged multifractal: how strongly crests seed finer crests
DETAIL_AMPLITUDE_M = 40.0  # ridged texture amplitude on high ground
DETAIL_HAND_SCALE_M = 150.0  # texture fades towards river level over this height

# --- settlements and networks --------------------------------------------------
PROVINCE_NAME = "Tỉnh Demo"
COMMUNE_GRID = (6, 7)  # rows, cols of jittered Voronoi seeds -> 42 communes
#: Districts: the commune seed grid cut into 2 bands (north, south) x 3 (west,
#: centre, east); drawn from no random numbers, so coverage figures are the same
#: with or without them.
DISTRICT_NAMES = (
    ("Huyện Tây Bắc", "Huyện Trung Bắc", "Huyện Đông Bắc"),
    ("Huyện Tây Nam", "Huyện Trung Nam", "Huyện Đông Nam"),
)
COMMUNE_JITTER = 0.3  # seed jitter, fraction of a grid cell
CENTRE_CLEARANCE_M = 1000.0  # commune centres keep this far from boundaries
N_VILLAGES = 800
RIDGE_VILLAGE_SHARE = 0.1
RIDGE_HAND_QUANTILE = 0.8  # ridge villages: cells this high above their river
VILLAGE_HAND_SCALE_M = 60.0  # valley villages: weight exp(-HAND / scale) ...
VILLAGE_SLOPE_SCALE = 0.3  # ... x exp(-(slope / scale)^2) ...
VILLAGE_TOWN_SCALE_M = 2000.0  # ... x (1 + 3 exp(-distance to town / scale)) ...
VILLAGE_RIVER_SCALE_M = 400.0  # ... x (0.3 + exp(-distance to river / scale))
VILLAGE_MAX_AREA_KM2 = 20.0  # no villages in the bed of rivers larger than this
NO_POWER_P = (0.03, 0.4, 0.08)  # P(no grid): base, + on a ridge, + 8 km from town
VILLAGE_CLEARANCE_M = 15.0  # villages keep off commune boundaries
VILLAGE_POP_MEDIAN = (300.0, 150.0)  # valley, ridge
VILLAGE_POP_RANGE = (50, 1500)
PERSONS_PER_HOUSEHOLD = 4.5
ROAD_VERTEX_SPACING_M = 2500.0
ROAD_MAX_DETOUR_M = 1500.0
ROAD_DETOUR_COST = 0.08  # metres of climb a metre of detour is worth
NATIONAL_ROAD_ENDS = (0.35, 0.65)  # crossing of the N and S edges, fraction of width
N_EXTRA_ROADS = 5
N_SPUR_ROADS = 15
SPUR_MIN_DIST_M = 1500.0
N_BACKBONE_NODES = 3
BACKBONE_SPACING_M = 12_000.0
N_TOWERLESS_COMMUNES = 9
N_HILLTOP_TOWERS = 5
N_SECTOR_HILLTOPS = 3
N_COLOCATED_SECTORS = 2
TOWER_SPACING_M = 4000.0  # hilltop towers keep this far from other towers
SECTOR_REACH_M = 7000.0  # sectors point at the villages within this range
TOWER_HEIGHT_RANGE_M = (20, 45)
HILLTOP_HEIGHT_MAX_M = 30  # masts on summits are short
SHARE_2G = 0.45  # commune-town towers that are 2G (900 MHz); the rest are 4G ...
SHARE_700_MHZ = 0.2  # ... of which this share runs at 700 MHz instead of 1800
PEAK_WINDOW_CELLS = 21  # hilltops: maxima within 21 routing cells (2.5 km)
HILLTOP_EDGE_CLEARANCE_M = 2000.0
SECTOR_BEAMWIDTH_DEG = 65.0
#: Spawn key of the population raster's random stream (a child of the seed's
#: SeedSequence, independent of the stream everything above draws from).
POPULATION_STREAM = 21

_NAME_HEAD = (
    "Nà", "Nậm", "Pác", "Khuổi", "Phiêng", "Lũng", "Cốc", "Khau", "Pò", "Tà",
    "Sán", "Lùng", "Mò", "Phìn", "Xín", "Sủng", "Thàng", "Tả", "Hồ", "Bó",
    "Khâu", "Cao", "Thượng", "Hạ", "Làng", "Ngàm", "Vằng", "Pù", "Chiềng",
    "Mường", "Quảng", "Yên", "Tân", "Minh", "Phú", "Đồng", "Trung", "Lao",
)  # fmt: skip
_NAME_TAIL = (
    "Pồ", "Hán", "Lang", "Mạ", "Chải", "Giàng", "Sà", "Ván", "Cháng", "Tủng",
    "Khao", "Đán", "Vài", "Luông", "Tẩu", "Lầu", "Pả", "Dìn", "Chang", "Sơn",
    "Nhùng", "Ngoan", "Cài", "Bưa", "Nưa", "Tổng", "Ma", "Lìn", "Thẳm", "Mu",
    "Pặc", "Nọi", "Khiêu", "Tiến", "Thành", "Lạc", "Hòa", "Bình", "Hồng",
)  # fmt: skip


@dataclass(frozen=True)
class _Terrain:
    """Final DEM plus coarse (120 m routing grid) layers used for placement."""

    elev_m: npt.NDArray[np.float32]  # 30 m grid
    coarse_m: F64  # elevation on the routing grid, final scale
    area_km2: F64  # drainage area
    river_dist_m: F64  # distance to the nearest river cell
    hand_m: F64  # height above the river the cell drains to
    slope: F64  # gradient magnitude (m/m)


def demo_scenario(seed: int = 0) -> Scenario:
    """Generate a synthetic mountain province of northern Vietnam.

    The province is a 58.8 x 58.8 km rectangle in UTM 48N, around
    104.6-105.2 E and 21.9-22.45 N, inside a 60 x 60 km DEM of 30 m cells.
    Everything is drawn from ``numpy.random.default_rng(seed)``; the same
    seed gives identical arrays and tables.

    Parameters
    ----------
    seed : int
        Random seed.

    Returns
    -------
    Scenario
        ``dem``: float32 elevation in metres, 2000 x 2000, EPSG:32648.
        ``communes``: ~42 polygons tiling the province (``commune_id``,
        ``name``, ``province``, ``district`` (6 districts by location, see
        :data:`DISTRICT_NAMES`), ``center_lon``, ``center_lat``).
        ``villages``: 800 points (``village_id``, ``name``, ``commune_id``,
        ``population``, ``households``, ``has_grid_power``).
        ``towers``: ~40 points with :data:`~deadzone.model.schema.TOWER_COLUMNS`.
        ``roads``: lines (``road_id``, ``road_class``).
        ``backbone``: fiber nodes (``node_id``, ``name``).
        ``population``: people per 3" cell in EPSG:4326 around the DEM
        (:func:`deadzone.data.demo_population.demo_population`: the villages
        spread over a few hundred metres, a thin population along valleys and
        roads, and a few unlisted hamlets), from its own random stream.
        Vector layers are in EPSG:4326.

    Examples
    --------
    >>> sc = demo_scenario(0)
    >>> sc.dem.shape
    (2000, 2000)
    """
    rng = np.random.default_rng(seed)
    crs = CRS.from_epsg(DEM_EPSG)
    terrain = _make_terrain(rng)
    dem = Dem(
        elevation_m=terrain.elev_m,
        transform=Affine(CELL_M, 0.0, DEM_X_MIN_M, 0.0, -CELL_M, DEM_Y_MAX_M),
        crs=crs,
        void_mask=np.zeros(terrain.elev_m.shape, dtype=bool),
        source="demo",
    )
    polys, centres = _make_communes(rng, terrain)
    commune_ids = [f"DZ{i + 1:03d}" for i in range(len(polys))]
    commune_names = _unique_names(rng, len(polys), ("Xã",))
    villages = _make_villages(rng, terrain, polys, centres)
    roads, national = _make_roads(terrain, centres, villages)
    commune_pop = np.bincount(villages["commune"], villages["population"], len(polys))
    backbone = _pick_backbone(terrain, centres, commune_pop, national)
    towers = _make_towers(rng, terrain, polys, centres, villages, backbone)
    span = DEM_SIZE * CELL_M
    population = demo_population(
        # its own stream: nothing drawn above changes with or without it
        np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(POPULATION_STREAM,))),
        dem_crs=crs,
        dem_bounds=(DEM_X_MIN_M, DEM_Y_MAX_M - span, DEM_X_MIN_M + span, DEM_Y_MAX_M),
        province_bounds=_province_bounds(),
        village_xy=villages["xy"],
        village_population=villages["population"],
        tower_xy=np.asarray(towers["xy"], dtype=np.float64),
        roads=list(roads["geometry"]),
        valley_sample=lambda xy: (_sample(terrain.hand_m, xy), _sample(terrain.slope, xy)),
    )

    centre_lonlat = gpd.GeoSeries(shapely.points(centres), crs=crs).to_crs(4326)
    communes = _to_lonlat(
        {
            "commune_id": commune_ids,
            "name": commune_names,
            "province": PROVINCE_NAME,
            "district": _districts(len(polys)),
            "center_lon": centre_lonlat.x.to_numpy(),
            "center_lat": centre_lonlat.y.to_numpy(),
        },
        polys,
        crs,
    )
    village_gdf = _to_lonlat(
        {
            "village_id": villages["village_id"],
            "name": villages["name"],
            "commune_id": [commune_ids[k] for k in villages["commune"]],
            "population": villages["population"],
            "households": villages["households"],
            "has_grid_power": villages["has_grid_power"],
        },
        shapely.points(villages["xy"]),
        crs,
    )
    tower_gdf = _to_lonlat(towers, shapely.points(towers.pop("xy")), crs)
    tower_gdf["lon"] = tower_gdf.geometry.x.to_numpy()
    tower_gdf["lat"] = tower_gdf.geometry.y.to_numpy()
    return Scenario(
        dem=dem,
        communes=communes,
        villages=village_gdf,
        towers=tower_gdf[[*TOWER_COLUMNS, "geometry"]],
        roads=_to_lonlat(roads, roads.pop("geometry"), crs),
        backbone=_to_lonlat(
            {
                "node_id": [f"FN{i + 1}" for i in range(len(backbone))],
                "name": [f"Nút quang {commune_names[k].removeprefix('Xã ')}" for k in backbone],
            },
            shapely.points(centres[backbone]),
            crs,
        ),
        population=population,
        name=f"demo-seed{seed}",
        meta={"generator": "deadzone.data.demo", "seed": seed},
    )


# --- terrain -------------------------------------------------------------------


def _make_terrain(rng: np.random.Generator) -> _Terrain:
    """Route a noise surface, derive stream-power elevation, add texture.

    The routing grid extends ``TERRAIN_PAD`` cells beyond the DEM on every
    side so that the outlets (and their edge effects) fall outside it.
    """
    n = DEM_SIZE // COARSE_FACTOR
    full = n + 2 * TERRAIN_PAD
    rows, cols = np.mgrid[0:full, 0:full] / (full - 1.0)  # 0 at the north / west edge
    regional = 1.0 - REGIONAL_DIP[0] * rows - REGIONAL_DIP[1] * cols  # 1 in the NW corner
    z = _spectral_noise(rng, full, ROUTING_BETA, GRAIN_ANISOTROPY) + REGIONAL_TILT * regional
    ks = STREAM_KS * np.exp(KS_VARIATION * _spectral_noise(rng, full, KS_BETA, 1.0))
    ks *= 1.0 + NW_UPLIFT * regional
    fracs = np.array(OUTLET_FRACTIONS) + rng.uniform(-OUTLET_JITTER, OUTLET_JITTER, 3)
    r_out = [full - 1, full - 1, int(fracs[2] * full)]
    c_out = [int(fracs[0] * full), int(fracs[1] * full), full - 1]
    outlets = np.ravel_multi_index((r_out, c_out), (full, full))
    edges = _grid_edges(full)

    area_m2, _ = _route(z, outlets, edges)
    raw = _cost_distance(area_m2, ks, outlets, edges)
    area_m2, parent = _route(raw, outlets, edges)  # the rivers of the final relief
    river = np.r_[area_m2.ravel() >= RIVER_MIN_AREA_KM2 * 1e6, True]
    drains_to = _first_marked_ancestor(parent, river)[:-1]
    hand = raw.ravel() - np.r_[raw.ravel(), 0.0][drains_to]
    crop = (slice(TERRAIN_PAD, TERRAIN_PAD + n),) * 2
    raw, area_km2, hand = raw[crop], area_m2[crop] / 1e6, hand.reshape(full, full)[crop]
    dist = ndimage.distance_transform_edt(area_km2 < RIVER_MIN_AREA_KM2)

    texture = _ridged_multifractal(rng, DEM_SIZE, [w / CELL_M for w in DETAIL_WAVELENGTHS_M])
    fade = 1.0 - np.exp(-_upsample(hand, COARSE_FACTOR) / DETAIL_HAND_SCALE_M)
    fine = _upsample(raw, COARSE_FACTOR) + DETAIL_AMPLITUDE_M * fade * texture
    lo, hi = float(fine.min()), float(fine.max())
    scale = (ELEV_MAX_M - ELEV_MIN_M) / (hi - lo)
    coarse_m = ELEV_MIN_M + (raw - lo) * scale
    return _Terrain(
        elev_m=(ELEV_MIN_M + (fine - lo) * scale).astype(np.float32),
        coarse_m=coarse_m,
        area_km2=area_km2,
        river_dist_m=dist * COARSE_M,
        hand_m=hand * scale,
        slope=np.hypot(*np.gradient(coarse_m, COARSE_M)),
    )


def _grid_edges(n: int) -> tuple[I64, I64, F64]:
    """8-neighbour edges of an ``n x n`` grid, each once: (from, to, length in m)."""
    idx = np.arange(n * n).reshape(n, n)
    pairs = [
        (idx[:, :-1], idx[:, 1:], 1.0),
        (idx[:-1, :], idx[1:, :], 1.0),
        (idx[:-1, :-1], idx[1:, 1:], np.sqrt(2.0)),
        (idx[:-1, 1:], idx[1:, :-1], np.sqrt(2.0)),
    ]
    a = np.concatenate([p.ravel() for p, _, _ in pairs])
    b = np.concatenate([q.ravel() for _, q, _ in pairs])
    length = np.concatenate([np.full(p.size, k * COARSE_M) for p, _, k in pairs])
    return a, b, length


def _route(surface: F64, outlets: I64, edges: tuple[I64, I64, F64]) -> tuple[F64, I64]:
    """Drainage area (m^2, grid-shaped) and drainage tree of ``surface``."""
    n = surface.shape[0]
    root = n * n
    parent = _drainage_tree(surface, outlets, edges)
    depth = _sum_to_root(parent, np.r_[np.ones(root), 0.0]).astype(np.int64)
    area_m2 = _accumulate(parent, depth, np.r_[np.ones(root), 0.0])[:root] * COARSE_M**2
    return area_m2.reshape(n, n), parent


def _cost_distance(area_m2: F64, ks: F64, outlets: I64, edges: tuple[I64, I64, F64]) -> F64:
    """Elevation (m above the outlets) as the least-cost climb from the outlets.

    A step between neighbours costs its length times the stream-power
    slope ``min(S_hill, k_s A^-theta)`` of the smaller drainage area: gentle
    along big rivers, steep on hillslopes; ridges form where the climbs from
    two valleys meet. No cell stands more than one hillslope step above a
    neighbour, so drainage and relief agree.
    """
    a, b, length = edges
    n = area_m2.shape[0]
    area, k = area_m2.ravel(), ks.ravel()
    slope = np.minimum(
        HILLSLOPE_MAX, 0.5 * (k[a] + k[b]) * np.minimum(area[a], area[b]) ** -STREAM_THETA
    )
    tie = np.full(len(outlets), 1e-6)  # csgraph ignores zero-weight edges
    graph = coo_matrix(
        (np.r_[length * slope, tie], (np.r_[a, outlets], np.r_[b, np.full(len(outlets), n * n)])),
        shape=(n * n + 1, n * n + 1),
    ).tocsr()
    return dijkstra(graph, directed=False, indices=n * n)[: n * n].reshape(n, n)


def _spectral_noise(rng: np.random.Generator, n: int, beta: float, anisotropy: float) -> F64:
    """Return an ``n x n`` fractal (power spectrum ~ f^-beta) field, unit variance.

    ``anisotropy > 1`` stretches features along the NW-SE diagonal.
    """
    spec = sfft.rfft2(rng.standard_normal((FFT_PAD, FFT_PAD)))
    fy = sfft.fftfreq(FFT_PAD)[:, None]
    fx = sfft.rfftfreq(FFT_PAD)[None, :]
    along, across = (fy + fx) / np.sqrt(2.0), (fy - fx) / np.sqrt(2.0)
    freq = np.hypot(along * anisotropy, across / anisotropy)
    freq[0, 0] = 1.0
    amp = freq ** (-beta / 2.0)
    amp[0, 0] = 0.0
    field = sfft.irfft2(spec * amp, s=(FFT_PAD, FFT_PAD))[:n, :n]
    return (field - field.mean()) / field.std()


def _ridged_multifractal(
    rng: np.random.Generator, n: int, wavelengths_cells: list[float]
) -> npt.NDArray[np.float32]:
    """Return Musgrave's ridged multifractal on an ``n x n`` grid, zero median.

    Each octave is a band-pass of one white-noise spectrum (log-Gaussian ring
    around ``1 / wavelength``); crests are where the octave crosses zero.
    """
    spec = sfft.rfft2(rng.standard_normal((n, n), dtype=np.float32))
    freq = np.hypot(sfft.fftfreq(n)[:, None], sfft.rfftfreq(n)[None, :]).astype(np.float32)
    freq[0, 0] = 1e-6
    total = np.zeros((n, n), dtype=np.float32)
    weight = np.float32(1.0)
    for k, wavelength in enumerate(wavelengths_cells):
        band = np.exp(-0.5 * (np.log2(freq * wavelength) / 0.5) ** 2)
        octave = sfft.irfft2(spec * band, s=(n, n))
        signal = (1.0 - np.abs(np.tanh(octave / octave.std()))) ** 2 * weight
        total += signal * np.float32(2.0**-k)
        weight = np.clip(signal * DETAIL_GAIN, 0.0, 1.0)
    return total - np.float32(np.median(total[::7, ::7]))


def _drainage_tree(z: F64, outlets: I64, edges: tuple[I64, I64, F64]) -> I64:
    """Return the downstream neighbour of every cell (flat index; root = n*n).

    The minimum spanning tree of the 8-neighbour graph with edge weight
    ``max(z_u, z_v)`` (ties towards the lower neighbour), rooted at a virtual
    node joined to ``outlets``, is the priority-flood drainage tree.
    """
    a, b, _ = edges
    root = z.size
    zf = z.ravel() - z.min() + 1.0  # strictly positive: csgraph drops zero weights
    weight = np.maximum(zf[a], zf[b]) + 1e-3 * np.minimum(zf[a], zf[b])
    graph = coo_matrix(
        (
            np.r_[weight, np.full(len(outlets), 0.5)],
            (np.r_[a, outlets], np.r_[b, np.full(len(outlets), root)]),
        ),
        shape=(root + 1, root + 1),
    ).tocsr()
    _, pred = breadth_first_order(minimum_spanning_tree(graph), root, directed=False)
    pred[root] = root
    return pred.astype(np.int64)


def _sum_to_root(parent: I64, value: F64) -> F64:
    """Sum ``value`` over each node and all its ancestors (pointer jumping).

    ``parent[root] == root`` and ``value[root] == 0``.
    """
    total = value.copy()
    jump = parent.copy()
    root = len(parent) - 1
    while np.any(jump != root):
        total = total + total[jump]
        jump = jump[jump]
    return total


def _first_marked_ancestor(parent: I64, marked: npt.NDArray[np.bool_]) -> I64:
    """First node at or below each node (towards the root) that is ``marked``.

    ``marked[root]`` must be True. Pointer jumping: O(log depth) passes.
    """
    jump = np.where(marked, np.arange(len(parent)), parent)
    while True:
        nxt = np.where(marked[jump], jump, jump[jump])
        if np.array_equal(nxt, jump):
            return jump
        jump = nxt


def _accumulate(parent: I64, depth: I64, value: F64) -> F64:
    """Sum ``value`` over each node's subtree (drainage accumulation), by level."""
    order = np.argsort(depth, kind="stable")
    starts = np.searchsorted(depth[order], np.arange(depth.max() + 2))
    total = value.copy()
    for level in range(int(depth.max()), 0, -1):
        cells = order[starts[level] : starts[level + 1]]
        np.add.at(total, parent[cells], total[cells])
    return total


def _upsample(a: F64, factor: int) -> F64:
    """Upsample a grid by an integer factor with separable cubic convolution.

    Cell centres stay aligned (the fine grid subdivides each coarse cell).
    """
    out = a
    for axis in (0, 1):
        pad = np.pad(out, [(2, 2) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge")
        size = out.shape[axis]
        shape = list(out.shape)
        shape[axis] = size * factor
        res = np.empty(shape)
        for k in range(factor):
            pos = (k + 0.5) / factor - 0.5
            base = int(np.floor(pos))
            t = pos - base
            weights = (  # Keys cubic convolution, a = -0.5
                ((-0.5 * t + 1.0) * t - 0.5) * t,
                (1.5 * t - 2.5) * t * t + 1.0,
                ((-1.5 * t + 2.0) * t + 0.5) * t,
                (0.5 * t - 0.5) * t * t,
            )
            acc = sum(
                w * np.take(pad, np.arange(size) + 2 + base - 1 + j, axis=axis)
                for j, w in enumerate(weights)
            )
            sl = [slice(None), slice(None)]
            sl[axis] = slice(k, None, factor)
            res[tuple(sl)] = acc
        out = res
    return out


# --- placement helpers -----------------------------------------------------------


def _province_bounds() -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the province rectangle, UTM metres."""
    span = DEM_SIZE * CELL_M
    m = PROVINCE_MARGIN_M
    return (DEM_X_MIN_M + m, DEM_Y_MAX_M - span + m, DEM_X_MIN_M + span - m, DEM_Y_MAX_M - m)


def _coarse_xy(n: int) -> F64:
    """Centres of the routing-grid cells, shape (n*n, 2), UTM metres."""
    r, c = np.divmod(np.arange(n * n), n)
    return np.column_stack([DEM_X_MIN_M + (c + 0.5) * COARSE_M, DEM_Y_MAX_M - (r + 0.5) * COARSE_M])


def _sample(grid: F64, xy: F64) -> F64:
    """Nearest-cell value of a routing-grid layer at UTM points ``xy[..., 2]``."""
    n = grid.shape[0]
    c = np.clip(((xy[..., 0] - DEM_X_MIN_M) // COARSE_M).astype(np.int64), 0, n - 1)
    r = np.clip(((DEM_Y_MAX_M - xy[..., 1]) // COARSE_M).astype(np.int64), 0, n - 1)
    return grid[r, c]


def _bearing_deg(src: F64, dst: F64) -> float:
    """Compass bearing from ``src`` to ``dst`` (degrees clockwise from north)."""
    return float(np.degrees(np.arctan2(dst[0] - src[0], dst[1] - src[1])) % 360.0)


def _unique_names(
    rng: np.random.Generator, count: int, prefixes: tuple[str, ...], p: list[float] | None = None
) -> list[str]:
    """Return ``count`` names ``"<prefix> <head> <tail>"`` with distinct cores."""
    names: list[str] = []
    cores: set[str] = set()
    while len(names) < count:
        head = _NAME_HEAD[rng.integers(len(_NAME_HEAD))]
        tail = _NAME_TAIL[rng.integers(len(_NAME_TAIL))]
        prefix = prefixes[rng.choice(len(prefixes), p=p)]
        core = f"{head} {tail}"
        if head != tail and core not in cores:
            cores.add(core)
            names.append(f"{prefix} {core}")
    return names


def _to_lonlat(columns: dict[str, Any], geoms: Any, crs: CRS) -> gpd.GeoDataFrame:
    """Build a GeoDataFrame in ``crs`` (UTM) and reproject it to EPSG:4326."""
    return gpd.GeoDataFrame(columns, geometry=np.asarray(geoms), crs=crs).to_crs(4326)


# --- communes, villages, roads, towers ---------------------------------------------------


def _make_communes(rng: np.random.Generator, terrain: _Terrain) -> tuple[np.ndarray, F64]:
    """Voronoi communes tiling the province and their centres (UTM).

    The centre is the low, gentle, near-centroid cell of each commune, where
    the commune town sits in the valley.
    """
    xmin, ymin, xmax, ymax = _province_bounds()
    rows, cols = COMMUNE_GRID
    gr, gc = np.mgrid[0:rows, 0:cols]
    jitter = rng.uniform(-COMMUNE_JITTER, COMMUNE_JITTER, (2, rows, cols))
    seeds = np.column_stack(
        [
            (xmin + (gc + 0.5 + jitter[0]) * (xmax - xmin) / cols).ravel(),
            (ymax - (gr + 0.5 + jitter[1]) * (ymax - ymin) / rows).ravel(),
        ]
    )
    box = shapely.box(xmin, ymin, xmax, ymax)
    regions = np.array(voronoi_diagram(shapely.MultiPoint(seeds), envelope=box).geoms)
    holds = shapely.contains(regions[:, None], shapely.points(seeds)[None, :])
    polys = shapely.intersection(regions[holds.argmax(axis=0)], box)

    n = terrain.coarse_m.shape[0]
    xy = _coarse_xy(n)
    label, clearance = _voronoi_clearance(seeds, xy)
    centroid = shapely.get_coordinates(shapely.centroid(polys))
    score = (
        terrain.hand_m.ravel() / 40.0
        + np.hypot(*(xy - centroid[label]).T) / 1500.0
        + terrain.slope.ravel() / 0.15
        + 0.3 * (terrain.river_dist_m.ravel() == 0.0)
    )
    score[clearance < CENTRE_CLEARANCE_M] = np.inf
    order = np.lexsort((score, label))
    _, first = np.unique(label[order], return_index=True)
    return polys, xy[order[first]]


def _districts(n: int) -> list[str]:
    """District of each commune from its seed's place in :data:`COMMUNE_GRID`.

    Commune ``i`` grew from seed ``(i // cols, i % cols)`` (row-major, north
    first); rows split into 2 bands and columns into 3, as evenly as possible.
    """
    rows, cols = COMMUNE_GRID
    band = np.zeros(rows, dtype=np.int64)
    for k, part in enumerate(np.array_split(np.arange(rows), len(DISTRICT_NAMES))):
        band[part] = k
    sector = np.zeros(cols, dtype=np.int64)
    for k, part in enumerate(np.array_split(np.arange(cols), len(DISTRICT_NAMES[0]))):
        sector[part] = k
    return [DISTRICT_NAMES[band[i // cols]][sector[i % cols]] for i in range(n)]


def _voronoi_clearance(seeds: F64, xy: F64) -> tuple[I64, F64]:
    """Nearest seed of each point and its distance (m) to that Voronoi cell's edge.

    The edge distance uses the bisector with the second-nearest seed and the
    province rectangle.
    """
    dist, near = cKDTree(seeds).query(xy, k=2)
    gap = np.hypot(*(seeds[near[:, 0]] - seeds[near[:, 1]]).T)
    bisector = (dist[:, 1] ** 2 - dist[:, 0] ** 2) / (2.0 * gap)
    xmin, ymin, xmax, ymax = _province_bounds()
    edge = np.minimum.reduce([xy[:, 0] - xmin, xmax - xy[:, 0], xy[:, 1] - ymin, ymax - xy[:, 1]])
    return near[:, 0], np.minimum(bisector, edge)


def _make_villages(
    rng: np.random.Generator, terrain: _Terrain, polys: np.ndarray, centres: F64
) -> dict[str, Any]:
    """Sample villages: most in valleys near rivers and towns, some on ridges."""
    xy = _coarse_xy(terrain.coarse_m.shape[0])
    hand, slope = terrain.hand_m.ravel(), terrain.slope.ravel()
    town_dist, _ = cKDTree(centres).query(xy)
    ridge = hand >= np.quantile(hand, RIDGE_HAND_QUANTILE)
    xmin, ymin, xmax, ymax = _province_bounds()
    inset = COARSE_M
    ok = (xy[:, 0] > xmin + inset) & (xy[:, 0] < xmax - inset)
    ok &= (xy[:, 1] > ymin + inset) & (xy[:, 1] < ymax - inset)
    ok &= terrain.area_km2.ravel() < VILLAGE_MAX_AREA_KM2  # not in a big river's bed
    valley_w = (
        np.exp(-hand / VILLAGE_HAND_SCALE_M)
        * np.exp(-((slope / VILLAGE_SLOPE_SCALE) ** 2))
        * (1.0 + 3.0 * np.exp(-town_dist / VILLAGE_TOWN_SCALE_M))
        * (0.3 + np.exp(-terrain.river_dist_m.ravel() / VILLAGE_RIVER_SCALE_M))
        * (ok & ~ridge)
    )
    ridge_w = np.exp(-((slope / VILLAGE_SLOPE_SCALE) ** 2)) * (ok & ridge)
    n_ridge = round(N_VILLAGES * RIDGE_VILLAGE_SHARE)
    picks = []
    for weight, count, is_ridge in (
        (valley_w, N_VILLAGES - n_ridge, False),
        (ridge_w, n_ridge, True),
    ):
        cells = rng.choice(
            len(weight), size=int(count * 1.2), replace=False, p=weight / weight.sum()
        )
        pts = xy[cells] + rng.uniform(-0.45, 0.45, (len(cells), 2)) * COARSE_M
        geoms = shapely.points(pts)
        pt_idx, poly_idx = shapely.STRtree(polys).query(geoms, predicate="within")
        commune = np.full(len(cells), -1)
        hits = np.bincount(pt_idx, minlength=len(cells))
        commune[pt_idx] = poly_idx
        clear = shapely.distance(geoms, shapely.boundary(polys[np.maximum(commune, 0)]))
        keep = np.flatnonzero((hits == 1) & (clear >= VILLAGE_CLEARANCE_M))[:count]
        picks.append((pts[keep], commune[keep], np.full(len(keep), is_ridge)))
    pts, commune, on_ridge = (np.concatenate(p) for p in zip(*picks, strict=True))

    order = np.lexsort((-pts[:, 1], commune))  # by commune, north to south
    pts, commune, on_ridge = pts[order], commune[order], on_ridge[order]
    median = np.where(on_ridge, VILLAGE_POP_MEDIAN[1], VILLAGE_POP_MEDIAN[0])
    town = np.hypot(*(pts - centres[commune]).T)
    pop = median * np.exp(rng.normal(0.0, 0.55, len(pts))) * (1.0 + 0.6 * (town < 1500.0))
    pop = np.clip(np.round(pop), *VILLAGE_POP_RANGE).astype(np.int64)
    size = rng.normal(PERSONS_PER_HOUSEHOLD, 0.4, len(pts)).clip(3.0, 7.0)
    households = np.maximum(1, np.round(pop / size)).astype(np.int64)
    base, ridge_extra, remote_extra = NO_POWER_P
    p_off = base + ridge_extra * on_ridge + remote_extra * np.clip(town / 8000.0, 0.0, 1.0)
    names = np.empty(len(pts), dtype=object)
    for k in np.unique(commune):
        members = np.flatnonzero(commune == k)
        names[members] = _unique_names(rng, len(members), ("Thôn", "Bản"), [0.6, 0.4])
    return {
        "village_id": [f"V{i + 1:04d}" for i in range(len(pts))],
        "name": list(names),
        "commune": commune,
        "population": pop,
        "households": households,
        "has_grid_power": rng.random(len(pts)) >= p_off,
        "xy": pts,
    }


def _valley_line(terrain: _Terrain, start: F64, end: F64) -> shapely.LineString:
    """A road from ``start`` to ``end`` whose bends seek the valley floors.

    Every ``ROAD_VERTEX_SPACING_M`` the route may step aside (up to
    ``ROAD_MAX_DETOUR_M``) to the lowest ground, detours costing
    ``ROAD_DETOUR_COST`` m of climb per metre.
    """
    vec = end - start
    length = float(np.hypot(*vec))
    n_mid = int(np.clip(length // ROAD_VERTEX_SPACING_M, 1, 12))
    t = np.arange(1, n_mid + 1) / (n_mid + 1)
    offsets = np.linspace(-1.0, 1.0, 13) * min(ROAD_MAX_DETOUR_M, 0.25 * length)
    normal = np.array([-vec[1], vec[0]]) / length
    cand = start + t[:, None, None] * vec + offsets[None, :, None] * normal
    xmin, ymin, xmax, ymax = _province_bounds()
    cand = np.clip(cand, [xmin + COARSE_M, ymin + COARSE_M], [xmax - COARSE_M, ymax - COARSE_M])
    cost = _sample(terrain.coarse_m, cand) + ROAD_DETOUR_COST * np.abs(offsets)
    best = cand[np.arange(n_mid), np.argmin(cost, axis=1)]
    return shapely.LineString(np.vstack([start, best, end]))


def _make_roads(
    terrain: _Terrain, centres: F64, villages: dict[str, Any]
) -> tuple[dict[str, Any], I64]:
    """Roads over commune centres and spurs to remote villages (UTM lines).

    The national road is the shortest path over the Delaunay links of the
    centres from the north edge to the south edge; a minimum spanning tree
    over the centres completes the provincial network; a few short extra
    links and spurs to large villages far from any road are commune roads.

    Returns
    -------
    roads : dict
        ``road_id``, ``road_class``, ``geometry``.
    national : ndarray of int
        Communes on the national road, north to south.
    """
    n = len(centres)
    dist = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
    tri = Delaunay(centres).simplices
    links = np.unique(np.sort(np.vstack([tri[:, :2], tri[:, 1:], tri[:, ::2]]), 1), axis=0)
    graph = coo_matrix((dist[links[:, 0], links[:, 1]], (links[:, 0], links[:, 1])), (n, n))
    xmin, ymin, xmax, ymax = _province_bounds()
    north, south = (
        int(np.argmin(np.hypot(*(centres - (xmin + f * (xmax - xmin), y)).T)))
        for f, y in ((NATIONAL_ROAD_ENDS[0], ymax), (NATIONAL_ROAD_ENDS[1], ymin))
    )
    _, pred = shortest_path(graph, directed=False, indices=north, return_predecessors=True)
    national = [south]
    while national[-1] != north:
        national.append(int(pred[national[-1]]))
    national.reverse()
    national_edges = [sorted(e) for e in zip(national[:-1], national[1:], strict=True)]
    taken = {tuple(e) for e in national_edges}
    mst = minimum_spanning_tree(dist).tocoo()
    mst_edges = np.sort(np.column_stack([mst.row, mst.col]), axis=1).tolist()
    tree_edges = [e for e in mst_edges if tuple(e) not in taken]
    taken |= {tuple(e) for e in tree_edges}
    extra = [e for e in links.tolist() if tuple(e) not in taken]
    extra = sorted(extra, key=lambda e: dist[e[0], e[1]])[:N_EXTRA_ROADS]

    edges = national_edges + tree_edges + extra
    lines = [_valley_line(terrain, centres[i], centres[j]) for i, j in edges]
    classes = ["national"] * len(national_edges) + ["provincial"] * len(tree_edges)
    classes += ["commune"] * len(extra)

    network = shapely.union_all(lines)
    v_xy, v_pop = villages["xy"], villages["population"]
    far = shapely.distance(network, shapely.points(v_xy)) >= SPUR_MIN_DIST_M
    chosen: list[int] = []
    for v in np.flatnonzero(far)[np.argsort(-v_pop[far], kind="stable")]:
        if all(np.hypot(*(v_xy[v] - v_xy[c])) > 2 * SPUR_MIN_DIST_M for c in chosen):
            chosen.append(int(v))
        if len(chosen) == N_SPUR_ROADS:
            break
    for v in chosen:
        link = shapely.shortest_line(network, shapely.Point(v_xy[v]))
        lines.append(_valley_line(terrain, shapely.get_coordinates(link)[0], v_xy[v]))
        classes.append("commune")
    roads = {
        "road_id": [f"R{i + 1:03d}" for i in range(len(lines))],
        "road_class": classes,
        "geometry": np.array(lines),
    }
    return roads, np.array(national)


def _pick_backbone(terrain: _Terrain, centres: F64, commune_pop: F64, national: I64) -> I64:
    """Fiber nodes at the most populous, lowest commune centres on the national road."""
    elev = _sample(terrain.coarse_m, centres)
    score = commune_pop / commune_pop.max() - (elev - elev.min()) / np.ptp(elev)
    others = np.setdiff1d(np.arange(len(centres)), national)
    ranked = [*national[np.argsort(-score[national], kind="stable")]]
    ranked += [*others[np.argsort(-score[others], kind="stable")]]
    chosen: list[int] = []
    for k in ranked:
        if all(np.hypot(*(centres[k] - centres[c])) >= BACKBONE_SPACING_M for c in chosen):
            chosen.append(int(k))
        if len(chosen) == N_BACKBONE_NODES:
            break
    return np.array(chosen)


def _make_towers(
    rng: np.random.Generator,
    terrain: _Terrain,
    polys: np.ndarray,
    centres: F64,
    villages: dict[str, Any],
    backbone: I64,
) -> dict[str, Any]:
    """Omni towers in most commune towns, a few sectors, a few hilltop sites.

    Communes left without a tower are drawn among the higher (remoter)
    ones, never one holding a fiber node; hilltop sites stay out of them.
    """
    n = len(centres)
    elev = _sample(terrain.coarse_m, centres)
    pool = np.setdiff1d(np.arange(n), backbone)
    p = np.exp((elev[pool] - elev[pool].mean()) / elev[pool].std())
    towerless = rng.choice(pool, size=N_TOWERLESS_COMMUNES, replace=False, p=p / p.sum())
    served = np.setdiff1d(np.arange(n), towerless)
    v_xy, v_pop = villages["xy"], villages["population"]
    nan = float("nan")

    rows: list[tuple[str, float, float, F64, float, float, float]] = []
    angle = rng.uniform(0.0, 2.0 * np.pi, len(served))
    xy = centres[served] + rng.uniform(40.0, 200.0, (len(served), 1)) * np.column_stack(
        [np.cos(angle), np.sin(angle)]
    )
    is_2g = rng.random(len(served)) < SHARE_2G
    low_band = rng.random(len(served)) < SHARE_700_MHZ
    heights = rng.integers(TOWER_HEIGHT_RANGE_M[0], TOWER_HEIGHT_RANGE_M[1] + 1, len(served))
    for i in range(len(served)):
        tech = "2G" if is_2g[i] else "4G"
        freq = 700.0 if tech == "4G" and low_band[i] else TOWER_DEFAULTS[tech].freq_mhz
        rows.append((tech, freq, float(heights[i]), xy[i], nan, nan, 0.0))

    pop = np.bincount(villages["commune"], v_pop, n)
    for i in np.argsort(-pop[served], kind="stable")[:N_COLOCATED_SECTORS]:
        height = float(rng.integers(30, TOWER_HEIGHT_RANGE_M[1] + 1))
        rows.append(_sector(rng, xy[i], v_xy, v_pop, height))

    coarse = terrain.coarse_m
    peak = (coarse == ndimage.maximum_filter(coarse, size=PEAK_WINDOW_CELLS)).ravel()
    cells = np.flatnonzero(peak)
    peak_xy = _coarse_xy(coarse.shape[0])[cells]
    xmin, ymin, xmax, ymax = _province_bounds()
    m = HILLTOP_EDGE_CLEARANCE_M
    keep = (peak_xy[:, 0] > xmin + m) & (peak_xy[:, 0] < xmax - m)
    keep &= (peak_xy[:, 1] > ymin + m) & (peak_xy[:, 1] < ymax - m)
    hit_pt, hit_poly = shapely.STRtree(polys).query(shapely.points(peak_xy), "within")
    keep[hit_pt[np.isin(hit_poly, towerless)]] = False  # dead zones stay dead
    cells, peak_xy = cells[keep], peak_xy[keep]
    near = cKDTree(v_xy).query_ball_point(peak_xy, r=SECTOR_REACH_M, return_length=True)
    score = near * rng.uniform(0.8, 1.2, len(cells))
    sites = [r[3] for r in rows]
    hilltops: list[int] = []
    for k in np.argsort(-score, kind="stable"):
        if np.hypot(*(np.array(sites) - peak_xy[k]).T).min() >= TOWER_SPACING_M:
            hilltops.append(int(k))
            sites.append(peak_xy[k])
        if len(hilltops) == N_HILLTOP_TOWERS:
            break
    for rank, k in enumerate(hilltops):
        r, c = divmod(int(cells[k]), coarse.shape[0])
        block = terrain.elev_m[r * COARSE_FACTOR : (r + 1) * COARSE_FACTOR,
                               c * COARSE_FACTOR : (c + 1) * COARSE_FACTOR]  # fmt: skip
        br, bc = np.unravel_index(np.argmax(block), block.shape)
        site = np.array(
            [
                DEM_X_MIN_M + (c * COARSE_FACTOR + bc + 0.5) * CELL_M,
                DEM_Y_MAX_M - (r * COARSE_FACTOR + br + 0.5) * CELL_M,
            ]
        )
        height = float(rng.integers(TOWER_HEIGHT_RANGE_M[0], HILLTOP_HEIGHT_MAX_M + 1))
        if rank < N_SECTOR_HILLTOPS:
            rows.append(_sector(rng, site, v_xy, v_pop, height))
        else:
            rows.append(("2G", TOWER_DEFAULTS["2G"].freq_mhz, height, site, nan, nan, 0.0))

    tech, freq, height, site, azimuth, beamwidth, tilt = zip(*rows, strict=True)
    return {
        "tower_id": [f"T{i + 1:03d}" for i in range(len(rows))],
        "tech": list(tech),
        "freq_mhz": np.array(freq),
        "eirp_dbm": np.array([TOWER_DEFAULTS[t].eirp_dbm for t in tech]),
        "height_m": np.array(height),
        "azimuth_deg": np.array(azimuth),
        "beamwidth_deg": np.array(beamwidth),
        "tilt_deg": np.array(tilt),
        "xy": np.array(site),
    }


def _sector(
    rng: np.random.Generator, site: F64, v_xy: F64, v_pop: I64, height_m: float
) -> tuple[str, float, float, F64, float, float, float]:
    """A 4G sector at ``site`` aimed at the population centroid within reach."""
    d = np.hypot(*(v_xy - site).T)
    w = v_pop * ((d > 300.0) & (d < SECTOR_REACH_M))
    aim = (v_xy * w[:, None]).sum(axis=0) / max(w.sum(), 1)
    tilt = float(np.round(rng.uniform(2.0, 4.0) * 2.0) / 2.0)
    return (
        "4G",
        TOWER_DEFAULTS["4G"].freq_mhz,
        height_m,
        site,
        round(_bearing_deg(site, aim), 1),
        SECTOR_BEAMWIDTH_DEG,
        tilt,
    )
