"""Coverage of DEMs larger than memory: tiles of the output grid, windowed reads.

:func:`deadzone.geo.coverage.compute_coverage` holds the DEM window and the
composites of the whole output grid in memory.  A national DEM (a 40,000 x
40,000 int16 GeoTIFF is 3.2 GB on disk, 6.4 GB as float32, and the composite
adds 14 bytes per cell) does not fit.  Here the output grid is split into
tiles sized from a memory budget; for each tile only the towers whose reach
touches it are computed, each on the DEM window it can reach (read from disk
with a rasterio windowed read), and their windows are merged into the tile's
composite, which is then handed to the caller (the CLI writes it into tiled
GeoTIFFs with windowed writes and converts them to COGs).

The result equals :func:`~deadzone.geo.coverage.compute_coverage` cell for
cell: a tower's radials only ever read DEM cells within its reach (the
Chebyshev window of the computation radius, cut where even free space falls
below the floor), so the DEM window read here holds every cell the
in-memory computation reads; merges run in tower order in both.  With a
land-cover raster, the P.2108 categories of the same window are read with
it (:func:`deadzone.geo.clutter.landcover_window`, the resampling
:func:`~deadzone.geo.clutter.load_landcover` does for the whole grid): the
receiver height and clutter loss of every cell the tower computes lie in
its reach, and cells outside it stay NaN in both paths.

Trade-off, towers spanning several tiles: a tower's received-power window
is computed once and kept (cropped to its reach, 4 bytes per cell) until the
last tile it touches is done, as long as the cache share of the budget
allows; beyond that it is recomputed for each further tile it touches
(``TiledCoverage.stats`` counts both).  Tiles are full-width row bands when
the budget allows at least 256 rows (a tower then spans few tiles), squares
otherwise.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.crs import CRS

from deadzone.errors import DeadzoneWarning, ParameterError
from deadzone.geo.clutter import (
    WINDOW_WORK_BYTES,
    category_codes,
    landcover_window,
    open_landcover,
)
from deadzone.geo.coverage import (
    DEFAULT_FLOOR_DBM,
    DEFAULT_RADIUS_KM,
    DEFAULT_RX_HEIGHT_M,
    CoverageResult,
    EngineParams,
    TowerGrid,
    band_key,
    coverage_parameters,
    engine_params,
    site_reach,
    site_window,
    towers_on_grid,
)
from deadzone.geo.disk_dem import (
    _FILL_MARGIN,
    GDAL_CACHE_MB,
    DiskDem,
    warp_to_disk,
)
from deadzone.geo.memory import (
    _BLOCK,
    _tiled_gtiff,
    default_memory_bytes,
    format_bytes,
    parse_memory,
    physical_memory_bytes,
    process_rss_bytes,
)
from deadzone.kernels.coverage import (
    iter_windows,
    merge_into,
    new_composite,
)
from deadzone.kernels.itm import ItmSettings
from deadzone.model.calibration import Calibration
from deadzone.model.dem import Dem
from deadzone.model.schema import TECHS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "COMPOSITE_BYTES_PER_CELL",
    "DiskDem",
    "TilePlan",
    "TiledCoverage",
    "TiledOutputs",
    "default_memory_bytes",
    "format_bytes",
    "in_memory_bytes",
    "overhead_bytes",
    "parse_memory",
    "physical_memory_bytes",
    "plan_tiles",
    "process_rss_bytes",
    "tiled_coverage",
    "warp_to_disk",
    "write_tiled_cogs",
]

#: Smallest tile edge the budget must allow (cells).
_MIN_TILE = 64
#: Margin for Python objects, fragmentation and thread stacks (bytes).
_SLACK_BYTES = 48 * 2**20
#: Bytes per cell of a tower's land-cover window (``--landcover``): category
#: codes uint8, the receiver-height grid float32 and one float32 temporary
#: (the height lookup while it is built, the clutter loss when it is applied).
_LANDCOVER_BYTES_PER_CELL = 1 + 4 + 4
#: Bytes per cell of a DEM window read from disk (raw up to float32, the
#: float32 copy, the void mask and the fill's temporaries).
_DEM_BYTES_PER_CELL = 4 + 4 + 1 + 1
#: Bytes per cell of a tower's window while it is computed (received power
#: float32, owning radial int32, owner offset float64 while the owner table is
#: built: see :func:`deadzone.kernels.coverage.tower_window`).  The owner
#: tables are cached (at most two, shared by towers of equal reach), so this
#: over-counts them when windows are counted per thread, never under-counts.
_WINDOW_BYTES_PER_CELL = 4 + 4 + 8

#: Bytes per cell of one composite (best float32, server int32, second float32,
#: count uint16).
COMPOSITE_BYTES_PER_CELL = 4 + 4 + 4 + 2


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class TilePlan:
    """How a grid is split to fit a memory budget.

    Attributes
    ----------
    tile_rows, tile_cols : int
        Tile size (cells); edge tiles are smaller.
    n_threads : int
        Towers computed at once (each holds one window).
    cache_bytes : int
        Budget for kept tower windows (bytes).
    budget_bytes : int
        The budget.
    base_bytes : int
        Memory already in use when planning (bytes).
    """

    tile_rows: int
    tile_cols: int
    n_threads: int
    cache_bytes: int
    budget_bytes: int
    base_bytes: int

    def tiles(self, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
        """``(row0, col0, rows, cols)`` of every tile of ``shape``, row-major."""
        out = []
        for r0 in range(0, shape[0], self.tile_rows):
            for c0 in range(0, shape[1], self.tile_cols):
                out.append(
                    (r0, c0, min(self.tile_rows, shape[0] - r0), min(self.tile_cols, shape[1] - c0))
                )
        return out


def overhead_bytes(base_bytes: int | None = None) -> int:
    """Memory outside tiles and tower windows: ``base_bytes`` (default: this
    process's RSS now), GDAL's block cache and a margin (bytes)."""
    base = process_rss_bytes() if base_bytes is None else int(base_bytes)
    return base + GDAL_CACHE_MB * 2**20 + _SLACK_BYTES


def _window_cells(radius_m: float, cell_w_m: float, cell_h_m: float) -> int:
    """Edge (cells) of a tower window, as :func:`~deadzone.kernels.coverage.tower_window`."""
    return 2 * int(math.ceil(radius_m / min(cell_w_m, cell_h_m))) + 1


def _tower_bytes(radius_m: float, cell_w_m: float, cell_h_m: float, *,
                 landcover: bool = False) -> int:
    """Peak bytes of one tower being computed: its window arrays and its DEM window,
    and with ``landcover`` its land-cover window and the resampling's work memory."""
    n = _window_cells(radius_m, cell_w_m, cell_h_m)
    out = n * n * _WINDOW_BYTES_PER_CELL + (n + 2 * _FILL_MARGIN) ** 2 * _DEM_BYTES_PER_CELL
    if landcover:
        out += n * n * _LANDCOVER_BYTES_PER_CELL + WINDOW_WORK_BYTES
    return out


def in_memory_bytes(
    shape: tuple[int, int],
    *,
    n_composites: int,
    radius_m: float,
    cell_w_m: float,
    cell_h_m: float,
    n_threads: int = 1,
    landcover: bool = False,
) -> int:
    """Estimated peak bytes of :func:`~deadzone.geo.coverage.compute_coverage` plus writing.

    Per cell: the DEM as read and as float32, the void mask, ``n_composites``
    composites, one raster copy when writing a COG and, with ``landcover``,
    the clutter categories (uint8) and receiver heights (float32); plus up
    to two tower windows per thread.
    """
    cells = shape[0] * shape[1]
    per_cell = 4 + 4 + 1 + 4 + COMPOSITE_BYTES_PER_CELL * n_composites + (5 if landcover else 0)
    tower = _tower_bytes(radius_m, cell_w_m, cell_h_m, landcover=landcover)
    return cells * per_cell + 2 * max(1, n_threads) * tower


def plan_tiles(
    shape: tuple[int, int],
    *,
    budget_bytes: int,
    n_composites: int,
    radius_m: float,
    cell_w_m: float,
    cell_h_m: float,
    n_threads: int = 1,
    base_bytes: int | None = None,
    cache_fraction: float = 0.4,
    landcover: bool = False,
) -> TilePlan:
    """Tile size, threads and cache share so that the computation fits ``budget_bytes``.

    Parameters
    ----------
    shape : (rows, cols)
        Output grid.
    budget_bytes : int
        The whole process's memory budget (bytes).
    n_composites : int
        Composites kept per tile (each :data:`COMPOSITE_BYTES_PER_CELL` per cell).
    radius_m, cell_w_m, cell_h_m : float
        Tower radius and cell size (m): fix a tower window's size.
    n_threads : int
        Wanted threads; lowered while their windows do not fit.
    base_bytes : int, optional
        Memory in use before the computation (default: this process's RSS
        now), plus :data:`GDAL_CACHE_MB` and a margin.
    cache_fraction : float
        Share of what is left after the threads' windows kept for tower windows
        reused across tiles.
    landcover : bool
        Each tower also reads its land-cover window (``--landcover``): it
        counts in the tower's bytes.

    Raises
    ------
    ParameterError
        The budget cannot hold even one tower's window and a minimal tile.
    """
    base = process_rss_bytes() if base_bytes is None else int(base_bytes)
    fixed = overhead_bytes(base)
    avail = int(budget_bytes) - fixed
    tower = _tower_bytes(radius_m, cell_w_m, cell_h_m, landcover=landcover)
    per_cell = COMPOSITE_BYTES_PER_CELL * max(1, n_composites)
    rows, cols = shape
    min_tile = min(rows, _MIN_TILE) * min(cols, _MIN_TILE) * per_cell
    if avail < tower + min_tile:
        n = _window_cells(radius_m, cell_w_m, cell_h_m)
        need_mb = math.ceil((fixed + tower + min_tile) / 1e6)  # up, so that it works as given
        # a smaller radius helps only when the budget is above the program's own needs
        radius = (" (or lower --radius-km)" if budget_bytes > fixed + min_tile else "")
        raise ParameterError(
            f"max memory {format_bytes(budget_bytes)} is too small: the program itself "
            f"needs {format_bytes(fixed)} (Python, libraries and what this process holds), "
            f"one tower's window {format_bytes(tower)} ({n}x{n} cells for "
            f"{radius_m / 1000:g} km at {min(cell_w_m, cell_h_m):g} m) and a "
            f"{_MIN_TILE}x{_MIN_TILE}-cell tile; the smallest budget that works here is "
            f"--max-memory {need_mb}MB{radius}"
        )
    threads = max(1, int(n_threads))
    # iter_windows keeps up to 2 windows per thread in flight (one when serial);
    # threads may take at most half of what is left, tiles and cache the rest.
    while threads > 1 and 2 * threads * tower > avail // 2:
        threads -= 1
    inflight = (2 * threads if threads > 1 else 1) * tower
    rest = avail - inflight
    tile_cells_max = max((rest * (1.0 - cache_fraction)) // per_cell, min_tile // per_cell)
    cells = rows * cols
    if tile_cells_max >= cells:
        tile_rows, tile_cols = rows, cols
    elif tile_cells_max >= _BLOCK * cols:
        tile_rows, tile_cols = int(tile_cells_max // cols) // _BLOCK * _BLOCK, cols
    else:
        side = int(math.isqrt(int(tile_cells_max)))
        side = side // _BLOCK * _BLOCK if side >= _BLOCK else max(side, 16)
        tile_rows, tile_cols = min(side, rows), min(side, cols)
    cache = max(0, rest - tile_rows * tile_cols * per_cell)
    return TilePlan(
        tile_rows=tile_rows,
        tile_cols=tile_cols,
        n_threads=threads,
        cache_bytes=int(cache),
        budget_bytes=int(budget_bytes),
        base_bytes=base,
    )


# --------------------------------------------------------------------------- computing


@dataclass
class TileStats:
    """Counters of a tiled run (towers computed, reused from the cache, recomputed)."""

    tiles: int = 0
    computed: int = 0
    reused: int = 0
    recomputed: int = 0
    peak_cache_bytes: int = 0


@dataclass
class TiledCoverage:
    """A planned tiled coverage computation; iterate :meth:`tiles` to run it.

    Attributes
    ----------
    source : DiskDem
        The DEM on disk.
    grid : TowerGrid
        Towers on the grid (index = server index).
    plan : TilePlan
        Tile size and memory shares.
    shape : (rows, cols)
        Output grid.
    transform, crs
        Output grid georeferencing.
    parameters : dict
        As :attr:`CoverageResult.parameters` of the in-memory computation.
    landcover : Path or None
        Land-cover raster giving each cell's P.2108 clutter (read window by
        window, see :func:`deadzone.geo.clutter.landcover_window`).
    landcover_mapping : mapping of int to str or None
        Its class value -> P.2108 category name (default: ESA WorldCover).
    stats : TileStats
        Filled while :meth:`tiles` runs.
    """

    source: DiskDem
    grid: TowerGrid
    plan: TilePlan
    model: str
    radius_m: float
    rx_height_m: float
    k_factor: float
    floor_dbm: float
    thresholds: Thresholds
    itm: ItmSettings
    per_band: bool
    by_tech: bool
    parameters: dict[str, object]
    n_threads: int
    landcover: Path | None = None
    landcover_mapping: Mapping[int, str] | None = None
    calibration: Calibration | None = None
    stats: TileStats = field(default_factory=TileStats)

    @property
    def shape(self) -> tuple[int, int]:
        """Output grid (rows, cols)."""
        return self.source.shape

    @property
    def transform(self) -> Affine:
        """Output grid transform."""
        return self.source.transform

    @property
    def crs(self) -> CRS:
        """Output grid CRS."""
        return self.source.crs

    @property
    def band_keys(self) -> list[str]:
        """Per-band composite keys (``"4G-1800"``...), empty unless ``per_band``."""
        if not self.per_band:
            return []
        return sorted(
            {
                b
                for t, s in zip(self.grid.techs, self.grid.sites, strict=True)
                if (b := band_key(t, s)) is not None
            }
        )

    def _reach(self) -> dict[int, tuple[int, int, int, int]]:
        """Per computed tower: grid box ``(r0, r1, c0, c1)`` (exclusive ends) it can reach."""
        return {
            i: site_reach(
                s,
                shape=self.shape,
                cell_w_m=self.source.cell_w_m,
                cell_h_m=self.source.cell_h_m,
                radius_m=self.radius_m,
                floor_dbm=self.floor_dbm,
            )
            for i, s in enumerate(self.grid.sites)
            if s is not None
        }

    def tiles(
        self,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[tuple[tuple[int, int, int, int], CoverageResult]]:
        """Compute tile by tile, row-major.

        Yields
        ------
        (row0, col0, rows, cols), CoverageResult
            The tile's window in the output grid and its coverage (composites of
            the tile's shape, ``transform`` the tile's; server indices global).
        """
        plan = self.plan
        tiles = plan.tiles(self.shape)
        reach = self._reach()
        grid = self.grid
        thr = self.thresholds
        tile_cols_n = math.ceil(self.shape[1] / plan.tile_cols)

        def tile_index(r: int, c: int) -> int:
            return (r // plan.tile_rows) * tile_cols_n + c // plan.tile_cols

        last_tile = {i: tile_index(b[1] - 1, b[3] - 1) for i, b in reach.items()}
        ids = np.array(list(reach), dtype=np.int64)
        boxes = np.array(list(reach.values()), dtype=np.int64).reshape(-1, 4)
        cache: dict[int, tuple[npt.NDArray[np.float32], int, int]] = {}
        cache_bytes = 0
        computed_once: set[int] = set()
        dem_grid = self.source.grid()

        def one(i: int) -> tuple[npt.NDArray[np.float32], int, int]:
            site = grid.sites[i]
            assert site is not None  # only computed towers have a reach
            a0, a1, b0, b1 = reach[i]
            elev = self.source.read(a0, b0, a1 - a0, b1 - b0)
            clutter = None
            if self.landcover is not None:
                # The same window of the land cover: every cell the tower's
                # radials compute (and so every receiver height and clutter
                # loss it uses) lies in its reach.
                with open_landcover(self.landcover) as lc:
                    clutter = landcover_window(lc, dem_grid, a0, b0, a1 - a0, b1 - b0,
                                               mapping=self.landcover_mapping)
            local = replace(site, row=site.row - a0, col=site.col - b0)
            win, r0, c0 = site_window(
                elev,
                local,
                dem=dem_grid,
                radius_m=self.radius_m,
                rx_height_m=self.rx_height_m,
                model=self.model,
                k_factor=self.k_factor,
                floor_dbm=self.floor_dbm,
                itm=self.itm,
                n_threads=inner,
                clutter=clutter,
                tech=grid.techs[i],
                calibration=self.calibration,
            )
            del elev, clutter
            # Keep only the reach (every other cell is NaN): grid offsets.
            ra, rb = a0 - (r0 + a0), a1 - (r0 + a0)
            ca, cb = b0 - (c0 + b0), b1 - (c0 + b0)
            return np.ascontiguousarray(win[ra:rb, ca:cb]), a0, b0

        n_tiles = len(tiles)
        for k, (tr0, tc0, th, tw) in enumerate(tiles):
            touch = (
                (boxes[:, 0] < tr0 + th)
                & (boxes[:, 1] > tr0)
                & (boxes[:, 2] < tc0 + tw)
                & (boxes[:, 3] > tc0)
            )
            todo = [int(i) for i in ids[touch]]  # in tower order
            shape = (th, tw)
            rx = new_composite(shape, threshold_dbm=thr.covered("2G"))
            by_tech = (
                {
                    t: new_composite(shape, threshold_dbm=thr.covered(t))
                    for t in TECHS
                    if t in grid.techs
                }
                if self.by_tech
                else {}
            )
            by_band = {
                b: new_composite(shape, threshold_dbm=thr.covered(b.split("-")[0]))
                for b in self.band_keys
            }
            missing = [i for i in todo if i not in cache]
            threads = self.n_threads
            inner = max(1, threads // max(1, len(missing)))
            outer = max(1, min(plan.n_threads, threads // inner))
            fresh = iter_windows(one, missing, n_threads=outer)
            for i in todo:
                if i in cache:
                    win, r0, c0 = cache[i]
                    self.stats.reused += 1
                else:
                    j, (win, r0, c0) = next(fresh)
                    assert j == i  # iter_windows keeps the order of ``missing``
                    if i in computed_once:
                        self.stats.recomputed += 1
                    else:
                        self.stats.computed += 1
                        computed_once.add(i)
                    if last_tile[i] > k and cache_bytes + win.nbytes <= plan.cache_bytes:
                        cache[i] = (win, r0, c0)
                        cache_bytes += win.nbytes
                        self.stats.peak_cache_bytes = max(self.stats.peak_cache_bytes, cache_bytes)
                tech = grid.techs[i]
                off = float(grid.metric_offset_db[i])
                ro, co = r0 - tr0, c0 - tc0
                merge_into(rx, win, ro, co, i, threshold_dbm=thr.covered(tech) + off)
                if self.by_tech:
                    merge_into(by_tech[tech], win, ro, co, i, metric_offset_db=off)
                if self.per_band:
                    b = band_key(tech, grid.sites[i])
                    assert b is not None
                    merge_into(by_band[b], win, ro, co, i, metric_offset_db=off)
                del win
            for i in [i for i in cache if last_tile[i] <= k]:
                cache_bytes -= cache.pop(i)[0].nbytes
            self.stats.tiles += 1
            tile_tf = self.transform @ Affine.translation(tc0, tr0)
            yield (
                (tr0, tc0, th, tw),
                CoverageResult(
                    rx=rx,
                    by_tech=by_tech,
                    by_band=by_band,
                    transform=tile_tf,
                    crs=self.crs,
                    grid=grid,
                    model=self.model,
                    radius_m=self.radius_m,
                    rx_height_m=self.rx_height_m,
                    k_factor=self.k_factor,
                    thresholds=thr,
                    parameters=self.parameters,
                ),
            )
            # Release this tile before the next one is allocated (the caller
            # dropped its reference): one tile in memory at a time.
            del rx, by_tech, by_band
            if progress is not None:
                progress(k + 1, n_tiles)
        if self.source.voids_filled:
            warnings.warn(
                f"{self.source.label}: filled {self.source.voids_filled} void cell(s) in the "
                f"DEM windows read (counted per window; from valid cells within "
                f"{_FILL_MARGIN} cells)",
                DeadzoneWarning,
                stacklevel=2,
            )


def _warm_up(model: str, itm: ItmSettings, *, k_factor: float, floor_dbm: float) -> None:
    """Run the kernels once on a tiny flat DEM (compiles or loads them from numba's cache)."""
    from deadzone.kernels.coverage import RadioSite

    dem = Dem(
        elevation_m=np.full((9, 9), 100.0, dtype=np.float32),
        transform=Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 2_000_000.0),
        crs=CRS.from_epsg(32648),
        void_mask=np.zeros((9, 9), dtype=bool),
    )
    site = RadioSite(row=4, col=4, height_m=30.0, freq_mhz=900.0, eirp_dbm=55.0)
    win, r0, c0 = site_window(
        dem.elevation_m,
        site,
        dem=dem,
        radius_m=120.0,
        rx_height_m=1.5,
        model=model,
        k_factor=k_factor,
        floor_dbm=floor_dbm,
        itm=itm,
    )
    merge_into(new_composite((9, 9), threshold_dbm=-100.0), win, r0, c0, 0)


def tiled_coverage(
    source: DiskDem,
    towers: gpd.GeoDataFrame,
    *,
    max_memory_bytes: int,
    model: str = "itm",
    radius_km: float = DEFAULT_RADIUS_KM,
    rx_height_m: float = DEFAULT_RX_HEIGHT_M,
    k_factor: float = 4.0 / 3.0,
    thresholds: Thresholds | None = None,
    floor_dbm: float = DEFAULT_FLOOR_DBM,
    n_threads: int | None = None,
    per_band: bool = False,
    by_tech: bool = True,
    itm: ItmSettings | None = None,
    tile_shape: tuple[int, int] | None = None,
    base_bytes: int | None = None,
    landcover: str | os.PathLike[str] | None = None,
    landcover_mapping: Mapping[int, str] | None = None,
    params: EngineParams | None = None,
) -> TiledCoverage:
    """Plan coverage of ``towers`` over a DEM on disk within ``max_memory_bytes``.

    Same parameters and results as :func:`deadzone.geo.coverage.compute_coverage`
    (with ``clutter=load_landcover(landcover, dem, mapping=landcover_mapping)``
    when ``landcover`` is given), computed tile by tile: iterate
    :meth:`TiledCoverage.tiles`.

    Parameters
    ----------
    source : DiskDem
        The DEM on disk (projected CRS in metres).
    towers : GeoDataFrame
        Canonical towers, any CRS.
    max_memory_bytes : int
        Memory budget of the whole process (bytes; :func:`parse_memory`).
    by_tech : bool
        Also build the per-technology composites (the CLI does not write them).
    tile_shape : (rows, cols), optional
        Force this tile size (tests); the budget check still applies.
    base_bytes : int, optional
        Memory already in use (default: this process's RSS now).
    landcover : str or PathLike, optional
        Land-cover raster for the P.2108 §3.1 terminal clutter
        (:mod:`deadzone.geo.clutter`), read window by window with the DEM.
        A class value without a category is reported when a window holding
        it is read.
    landcover_mapping : mapping of int to str, optional
        Class value -> P.2108 category name (default
        :data:`~deadzone.geo.clutter.WORLDCOVER`).
    model, radius_km, rx_height_m, k_factor, thresholds, floor_dbm, n_threads,
    per_band, itm, params
        As :func:`~deadzone.geo.coverage.compute_coverage`.

    Returns
    -------
    TiledCoverage

    Raises
    ------
    ParameterError
        Bad parameters, or a budget too small for one tower window.
    CRSError
        The DEM is not in a projected metric CRS, or the land cover has no CRS.
    DataLoadError
        The land-cover file is not a readable raster.

    Examples
    --------
    >>> src = DiskDem("dem_utm.tif")  # doctest: +SKIP
    >>> run = tiled_coverage(src, towers, max_memory_bytes=parse_memory("1GB"))  # doctest: +SKIP
    >>> for (r0, c0, h, w), tile in run.tiles():  # doctest: +SKIP
    ...     out[r0:r0 + h, c0:c0 + w] = tile.rx.best_dbm
    """
    params = engine_params(params, model=model, radius_km=radius_km, rx_height_m=rx_height_m,
                           k_factor=k_factor, floor_dbm=floor_dbm, itm=itm)
    model, radius_km, rx_height_m = params.model, params.radius_km, params.rx_height_m
    k_factor, floor_dbm = params.k_factor, params.floor_dbm
    lc_path = None
    if landcover is not None:
        category_codes(landcover_mapping)
        lc_path = Path(os.fspath(landcover))
        open_landcover(lc_path).close()  # an unreadable file fails now, not in a tile
    thr = thresholds or Thresholds()
    dem_grid = source.grid()
    grid = towers_on_grid(towers, dem_grid)
    if grid.outside:
        warnings.warn(
            f"{len(grid.outside)} tower(s) outside the DEM were not computed: "
            + ", ".join(grid.outside[:10])
            + (" ..." if len(grid.outside) > 10 else ""),
            DeadzoneWarning,
            stacklevel=2,
        )
    threads = n_threads or os.cpu_count() or 1
    radius_m = params.radius_m
    itm_settings = params.itm
    if base_bytes is None:
        # Load the kernels (numba/LLVM) now, so the memory they take is part
        # of the base the plan measures rather than a surprise in the first tile.
        _warm_up(model, itm_settings, k_factor=k_factor, floor_dbm=floor_dbm)
    techs = {t for t in grid.techs if t in TECHS}
    bands = {band_key(t, s) for t, s in zip(grid.techs, grid.sites, strict=True)} - {None}
    n_comp = 1 + (len(techs) if by_tech else 0) + (len(bands) if per_band else 0)
    plan = plan_tiles(
        source.shape,
        budget_bytes=max_memory_bytes,
        n_composites=n_comp,
        radius_m=radius_m,
        cell_w_m=source.cell_w_m,
        cell_h_m=source.cell_h_m,
        n_threads=threads,
        base_bytes=base_bytes,
        landcover=lc_path is not None,
    )
    if tile_shape is not None:
        tr, tc = (int(v) for v in tile_shape)
        if tr < 1 or tc < 1:
            raise ParameterError(f"tile_shape was {tile_shape!r}; expected positive sizes")
        plan = replace(plan, tile_rows=tr, tile_cols=tc)
    parameters = coverage_parameters(model=model, radius_km=radius_km,
                                     rx_height_m=rx_height_m, k_factor=k_factor,
                                     floor_dbm=floor_dbm, itm=itm_settings,
                                     clutter=lc_path is not None,
                                     calibration=params.calibration)
    return TiledCoverage(
        source=source,
        grid=grid,
        plan=plan,
        model=model,
        radius_m=radius_m,
        rx_height_m=rx_height_m,
        k_factor=k_factor,
        floor_dbm=floor_dbm,
        thresholds=thr,
        itm=itm_settings,
        per_band=per_band,
        by_tech=by_tech,
        parameters=parameters,
        n_threads=threads,
        landcover=lc_path,
        landcover_mapping=landcover_mapping,
        calibration=params.calibration,
    )


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class TiledOutputs:
    """What :func:`write_tiled_cogs` wrote.

    Attributes
    ----------
    paths : list of Path
        The COGs, in writing order.
    reached_cells : int
        Cells with a finite best received power.
    total_cells : int
        Cells of the output grid.
    """

    paths: list[Path]
    reached_cells: int
    total_cells: int


def _raster_specs(
    run: TiledCoverage,
) -> list[tuple[str, str, Any, Callable[[CoverageResult], np.ndarray]]]:
    """(file name, dtype, nodata, tile -> array) of every output raster."""
    nan = float("nan")
    specs: list[tuple[str, str, Any, Callable[[CoverageResult], np.ndarray]]] = [
        ("rx_dbm.tif", "float32", nan, lambda t: t.rx.best_dbm),
        ("best_server.tif", "int32", -1, lambda t: t.rx.best_server),
        ("second_rx_dbm.tif", "float32", nan, lambda t: t.rx.second_dbm),
        ("overlap.tif", "uint16", None, lambda t: t.rx.n_servers),
    ]
    for band in run.band_keys:
        specs.append(
            (f"signal_{band}_dbm.tif", "float32", nan, lambda t, b=band: t.by_band[b].best_dbm)
        )
        specs.append(
            (f"best_server_{band}.tif", "int32", -1, lambda t, b=band: t.by_band[b].best_server)
        )
    return specs


def write_tiled_cogs(
    run: TiledCoverage,
    out_dir: str | os.PathLike[str],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> TiledOutputs:
    """Run ``run`` tile by tile into Cloud-Optimized GeoTIFFs in ``out_dir``.

    Each tile is written with a windowed write into a tiled, deflate-compressed
    GeoTIFF in a hidden temporary folder inside ``out_dir``; when every tile
    is done each file is copied to a COG (GDAL ``COG`` driver, the options of
    :func:`deadzone.data.io.write_raster` with ``cog=True``) through
    :func:`deadzone.data.io.atomic_path`, so an interrupted run leaves either
    the old files or the new complete ones.  GDAL's block cache is held to
    :data:`GDAL_CACHE_MB` (part of the budget).  Existing files are replaced:
    the caller checks ``--overwrite``.

    ``progress(done, total)`` counts tiles, then one step per COG copied.

    Files: ``rx_dbm.tif``, ``best_server.tif``, ``second_rx_dbm.tif``,
    ``overlap.tif`` and, with ``per_band``, ``signal_<band>_dbm.tif`` and
    ``best_server_<band>.tif`` (as ``deadzone coverage`` writes them).
    """
    import shutil

    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window

    from deadzone.data.io import atomic_path, make_workdir, sweep_dead_workdirs

    out = Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    specs = _raster_specs(run)
    rows, cols = run.shape
    reached = 0
    sweep_dead_workdirs(out, (".tiles-", ".warp-"))
    work = make_workdir(out, ".tiles-")
    try:
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS=1):
            dsts = []
            try:
                for name, dtype, nodata, _ in specs:
                    dsts.append(
                        rasterio.open(
                            work / name,
                            "w",
                            **_tiled_gtiff(cols, rows, dtype, run.crs, run.transform, nodata),
                            sparse_ok=True,
                        )
                    )
                n_files = len(specs)
                step = None if progress is None else (lambda d, t: progress(d, t + n_files))
                for (r0, c0, h, w), tile in run.tiles(step):
                    reached += int(np.isfinite(tile.rx.best_dbm).sum())
                    for dst, (_, _, _, get) in zip(dsts, specs, strict=True):
                        dst.write(get(tile), 1, window=Window(c0, r0, w, h))
                    del tile
            finally:
                for dst in dsts:
                    dst.close()
            paths = []
            for name, dtype, _, _ in specs:
                is_float = np.issubdtype(np.dtype(dtype), np.floating)
                with atomic_path(out / name) as tmp:
                    rasterio.shutil.copy(
                        work / name,
                        tmp,
                        driver="COG",
                        compress="deflate",
                        predictor=3 if is_float else 2,
                        blocksize=_BLOCK,
                        overviews="auto",
                        BIGTIFF="IF_SAFER",
                    )
                (work / name).unlink()
                paths.append(out / name)
                if progress is not None:
                    progress(run.stats.tiles + len(paths), run.stats.tiles + len(specs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TiledOutputs(paths=paths, reached_cells=reached, total_cells=rows * cols)
