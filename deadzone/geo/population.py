"""People from a gridded population raster on the audit's DEM grid: how many
live in covered, marginal and dead cells, per commune, district and province;
and the population of villages that have none, from the cells nearest them.

The raster (:class:`~deadzone.model.population.PopulationGrid`, any CRS and
cell size) is moved onto the DEM grid by area (:func:`people_on_dem`): each
population cell (or, for cells spanning more than two DEM cells, each of its
``k x k`` sub-cells) is placed by its corners, projected once with pyproj as a
lattice, and its people are split over the DEM cells it overlaps by area
(Goodchild & Lam 1980's areal weighting; the cell taken as the axis-aligned
rectangle between its edges in the DEM's CRS).  Every person of the window
read is counted once: on the DEM grid or as ``people_outside_dem``.

A DEM cell's status is the audit's rule on the area rasters
(:func:`deadzone.model.thresholds.coverage_class`): covered, marginal, dead
(below marginal or no signal at all, as a village with no tower in range is
dead) and unknown (cells outside the DEM source's footprint, where villages
are ``unknown``/``outside_dem``).  A cell belongs to the commune whose polygon
holds its centre (``rasterio.features.rasterize``; where polygons overlap, the
later row wins); people in no commune are ``people_outside_communes``.
See ``docs/POPULATION.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from deadzone.errors import ParameterError
from deadzone.geo.coverage import CoverageResult
from deadzone.kernels.population import MAX_SUBCELLS, spread_people, status_sums
from deadzone.model.dem import Dem
from deadzone.model.geodesy import utm_crs
from deadzone.model.population import PopulationGrid
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds, coverage_class

__all__ = [
    "PEOPLE_COLUMNS",
    "PeopleCounter",
    "PeopleOnDem",
    "STATUS_ORDER",
    "add_people",
    "cell_status",
    "commune_zones",
    "people_counter",
    "people_line",
    "people_on_dem",
    "people_tables",
    "village_population_from_raster",
]

#: Status classes of :func:`cell_status`, in code order (0 covered ... 3 unknown).
STATUS_ORDER: tuple[str, ...] = ("covered", "marginal", "dead", "unknown")
#: The roll-up columns a population raster adds (persons, 0.1 resolution), then
#: ``people_covered_pct``.
PEOPLE_COLUMNS: tuple[str, ...] = ("people_raster", *(f"people_{s}" for s in STATUS_ORDER))
#: Population cells between projected lattice nodes; positions in between are
#: bilinear (the error of UTM over 8 cells of 3 arc-seconds is far below a metre).
LATTICE_STEP = 8
#: DEM cells a sub-cell may span per side: a population cell larger than this
#: many DEM cells is split into ``k x k`` sub-cells, each placed by its own
#: projected corners, so the grid's rotation and scale change across a large
#: cell (a 1 km GHSL cell) are followed to within this many DEM cells.
SUBCELL_SPAN_CELLS = 2.0


@dataclass(frozen=True)
class PeopleOnDem:
    """People of a population raster on a DEM grid.

    Attributes
    ----------
    people : ndarray of float64, shape of the DEM
        Persons per DEM cell.
    has_data : ndarray of bool, shape of the DEM
        DEM cells that received part of a population cell with data (False:
        nodata or beyond the raster: nobody counted there, not "nobody lives").
    read_total : float
        Persons in the window read.
    outside_dem : float
        Persons of the window read whose sub-cells fall outside the DEM grid.
    subcells : int
        ``k`` of the ``k x k`` split of each population cell.
    """

    people: npt.NDArray[np.float64]
    has_data: npt.NDArray[np.bool_]
    read_total: float
    outside_dem: float
    subcells: int


def people_on_dem(pop: PopulationGrid, dem: Dem) -> PeopleOnDem:
    """Move a population raster onto a DEM grid by area.

    Parameters
    ----------
    pop : PopulationGrid
        People per cell on the raster's own grid (any CRS).
    dem : Dem
        The audit's terrain grid (projected, metres).

    Returns
    -------
    PeopleOnDem
        ``people.sum() + outside_dem == read_total`` to floating-point rounding.

    Notes
    -----
    On the same grid (same CRS, transform and shape) the cells are copied.
    Otherwise the population grid's cell corners, every :data:`LATTICE_STEP`-th
    one, are projected into the DEM's CRS once (pyproj, ``always_xy``); each
    population cell is split into ``k x k`` sub-cells with ``k =
    ceil(cell size / (2 DEM cells))`` (1 .. 64; cell size measured on the
    projected lattice, in metres), each sub-cell's corners come from the
    lattice (bilinear) and its people are shared among the DEM cells by the
    overlap of the rectangle between its edges
    (:func:`deadzone.kernels.population.spread_people`).
    """
    rows, cols = pop.shape
    read_total = pop.total
    t = dem.transform
    same_crs = ProjCRS.from_user_input(pop.crs.to_wkt()) == ProjCRS.from_user_input(
        dem.crs.to_wkt())
    if same_crs and pop.shape == dem.shape and pop.transform.almost_equals(t, precision=1e-9):
        return PeopleOnDem(pop.people.copy(), pop.valid.copy(), read_total, 0.0, 1)
    step = LATTICE_STEP if min(rows, cols) >= 2 * LATTICE_STEP else 1
    ni, nj = -(-rows // step) + 1, -(-cols // step) + 1
    jj = np.arange(nj, dtype=np.float64) * step
    ii = np.arange(ni, dtype=np.float64) * step
    pt = pop.transform
    px = pt.c + pt.a * jj[None, :] + pt.b * ii[:, None]
    py = pt.f + pt.d * jj[None, :] + pt.e * ii[:, None]
    if same_crs:
        lx, ly = px, py
    else:
        tr = Transformer.from_crs(pop.crs.to_wkt(), dem.crs.to_wkt(), always_xy=True)
        lx, ly = tr.transform(px, py)
        lx = np.where(np.isfinite(lx) & np.isfinite(ly), lx, np.nan)
        ly = np.where(np.isfinite(lx), ly, np.nan)
    k = subcells_for(lx, ly, step, min(dem.cell_w_m, dem.cell_h_m))
    people, has, outside = spread_people(
        pop.people, pop.valid, lattice_x=lx, lattice_y=ly, lattice_step=step, subcells=k,
        target_transform=(t.c, t.a, t.f, t.e), target_shape=dem.shape)
    return PeopleOnDem(people, has, read_total, outside, k)


def subcells_for(lattice_x: npt.NDArray[np.float64], lattice_y: npt.NDArray[np.float64],
                 step: int, dem_cell_m: float) -> int:
    """``k`` for population cells whose corner lattice (target metres) is given.

    The cell size is the median edge length between lattice nodes divided by
    ``step`` (metres), the larger of width and height;
    ``k = ceil(size / (SUBCELL_SPAN_CELLS * dem_cell_m))`` within 1 .. 64.
    """
    sizes = []
    if lattice_x.shape[1] > 1:
        sizes.append(np.hypot(np.diff(lattice_x, axis=1), np.diff(lattice_y, axis=1)))
    if lattice_x.shape[0] > 1:
        sizes.append(np.hypot(np.diff(lattice_x, axis=0), np.diff(lattice_y, axis=0)))
    med = [float(np.nanmedian(s)) for s in sizes if np.isfinite(s).any()]
    if not med:
        return 1
    ratio = max(med) / step / dem_cell_m
    return int(min(max(math.ceil(ratio / SUBCELL_SPAN_CELLS - 1e-9), 1), MAX_SUBCELLS))


def cell_status(cov: CoverageResult, dem: Dem, thresholds: Thresholds) -> npt.NDArray[np.int8]:
    """Status code per DEM cell (index into :data:`STATUS_ORDER`) under the audit's rule.

    Covered / marginal by :func:`~deadzone.model.thresholds.coverage_class`
    on the per-technology metric rasters, dead below marginal or without any
    signal (no tower in range), unknown outside the DEM source's footprint.
    """
    if cov.by_tech:
        cls = coverage_class({t: c.best_dbm for t, c in cov.by_tech.items()}, thresholds)
    else:
        cls = np.full(dem.shape, -1, dtype=np.int8)
    status = np.full(dem.shape, 2, dtype=np.int8)
    status[cls == 1] = 1
    status[cls == 2] = 0
    status[dem.outside_footprint_mask] = 3
    return status


def commune_zones(communes: gpd.GeoDataFrame | None, dem: Dem
                  ) -> tuple[npt.NDArray[np.int32], list[str]]:
    """The commune of every DEM cell: index into the returned ids, -1 for none.

    A cell belongs to the commune whose polygon holds its centre
    (``rasterio.features.rasterize``, ``all_touched=False``); where polygons
    overlap the later row wins.  Rows of one ``commune_id`` share one index.
    """
    from rasterio.features import rasterize

    zone = np.full(dem.shape, -1, dtype=np.int32)
    if communes is None or not len(communes) or "commune_id" not in communes.columns:
        return zone, []
    ids = communes["commune_id"].astype(str).to_numpy()
    uniq, code = np.unique(ids, return_inverse=True)
    geoms = communes.geometry.to_crs(dem.crs)
    shapes = [(g, int(c)) for g, c in zip(geoms, code, strict=True)
              if g is not None and not g.is_empty]
    if shapes:
        rasterize(shapes, out=zone, transform=dem.transform, all_touched=False)
    return zone, [str(u) for u in uniq]


@dataclass(frozen=True)
class PeopleCounter:
    """What stays fixed while towers change: people per DEM cell and communes.

    Built once per scenario (:func:`people_counter`); :meth:`figures` counts
    the people by the status of a coverage (an audit, every what-if roll-up).
    """

    grid: PeopleOnDem
    zone: npt.NDArray[np.int32]
    commune_ids: list[str]
    pop: PopulationGrid

    def figures(self, cov: CoverageResult, dem: Dem, thresholds: Thresholds
                ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """People per commune by status, and the summary's ``population_raster``.

        Returns
        -------
        (DataFrame, dict)
            Indexed by ``commune_id``: :data:`PEOPLE_COLUMNS` (persons, float);
            and the totals: ``people_total`` (on the DEM grid), ``people_<status>``,
            ``people_outside_communes``, ``people_outside_dem`` (read but beyond
            the DEM grid), ``dem_cells_without_data``, the raster's ``source``,
            ``sha256``, ``crs``, ``cell_size`` (its units), ``shape`` (read) and
            ``subcells``.
        """
        status = cell_status(cov, dem, thresholds)
        n = len(self.commune_ids)
        sums = status_sums(self.grid.people, status, self.zone, n_zones=n,
                           n_status=len(STATUS_ORDER))
        by = pd.DataFrame(sums[:n], columns=[f"people_{s}" for s in STATUS_ORDER],
                          index=pd.Index(self.commune_ids, name="commune_id"))
        by.insert(0, "people_raster", by.sum(axis=1))
        tot = sums.sum(axis=0)
        pt = self.pop.transform
        summary: dict[str, Any] = {
            "source": self.pop.source,
            "sha256": self.pop.checksum,
            "crs": self.pop.crs.to_string(),
            "cell_size": [abs(pt.a), abs(pt.e)],
            "shape": list(self.pop.shape),
            "subcells": self.grid.subcells,
            "people_total": round(float(tot.sum()), 1),
            **{f"people_{s}": round(float(v), 1) for s, v in zip(STATUS_ORDER, tot, strict=True)},
            "people_outside_communes": round(float(sums[n].sum()), 1),
            "people_outside_dem": round(self.grid.outside_dem, 1),
            "people_read": round(self.grid.read_total, 1),
            "dem_cells_without_data": int((~self.grid.has_data).sum()),
        }
        return by, summary


def people_counter(scenario: Scenario) -> PeopleCounter | None:
    """The :class:`PeopleCounter` of a scenario's population raster (None without one)."""
    if scenario.population is None:
        return None
    grid = people_on_dem(scenario.population, scenario.dem)
    zone, ids = commune_zones(scenario.communes, scenario.dem)
    return PeopleCounter(grid, zone, ids, scenario.population)


def add_people(table: pd.DataFrame, by_commune: pd.DataFrame | None = None, *,
               communes: pd.DataFrame | None = None,
               keys: tuple[str, ...] = ()) -> pd.DataFrame:
    """A roll-up table with :data:`PEOPLE_COLUMNS` and ``people_covered_pct`` added.

    Give ``by_commune`` (from :meth:`PeopleCounter.figures`) for the commune
    table (communes without cells get 0), or ``communes`` (a commune table
    that has the columns) and the ``keys`` it is summed by (``("province",)``,
    ``("province", "district")``) for a higher level, which is then the sum
    of its communes' rounded figures.  Persons are rounded to 0.1.
    """
    out = table.copy()
    if by_commune is not None:
        ids = out["commune_id"].astype(str)
        for col in PEOPLE_COLUMNS:
            out[col] = ids.map(by_commune[col]).fillna(0.0).astype(np.float64).round(1)
    else:
        if communes is None or not keys:
            raise ParameterError("add_people needs by_commune, or communes and keys")
        sums = communes.groupby(list(keys), sort=True)[list(PEOPLE_COLUMNS)].sum()
        idx = pd.MultiIndex.from_frame(out[list(keys)]) if len(keys) > 1 else out[keys[0]]
        for col in PEOPLE_COLUMNS:
            out[col] = sums[col].reindex(idx).fillna(0.0).to_numpy().round(1)
    raster = out["people_raster"]
    out["people_covered_pct"] = (100.0 * out["people_covered"] / raster.where(raster > 0)).round(2)
    return out


def people_tables(
    counter: PeopleCounter,
    cov: CoverageResult,
    dem: Dem,
    thresholds: Thresholds,
    communes: pd.DataFrame,
    provinces: pd.DataFrame,
    villages: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The commune and province tables of a roll-up with the people columns,
    and the summary's ``population_raster`` entry.

    The district table, when there is one, is built from the returned commune
    table (:func:`deadzone.geo.rollup.district_rollup` carries the columns).
    ``villages_population_from_raster`` counts the villages whose
    ``population_source`` is ``raster`` (0 without that column).
    """
    by, summary = counter.figures(cov, dem, thresholds)
    communes = add_people(communes, by)
    provinces = add_people(provinces, communes=communes, keys=("province",))
    src = villages["population_source"] if "population_source" in villages.columns else None
    summary["villages_population_from_raster"] = 0 if src is None else int((src == "raster").sum())
    return communes, provinces, summary


def people_line(p: dict[str, Any]) -> str:
    """The summary line of a ``population_raster`` summary, e.g.
    ``people (population raster): 412,300; 371,000 in covered cells (90.0%),
    12,100 marginal, 29,200 dead``."""
    total = p["people_total"]
    pct = f" ({100.0 * p['people_covered'] / total:.1f}%)" if total > 0 else ""
    line = (f"people (population raster): {total:,.0f}; {p['people_covered']:,.0f} in covered "
            f"cells{pct}, {p['people_marginal']:,.0f} marginal, {p['people_dead']:,.0f} dead")
    if p.get("people_unknown", 0) >= 0.5:
        line += f", {p['people_unknown']:,.0f} unknown (outside the DEM's data)"
    if p.get("people_outside_communes", 0) >= 0.5:
        line += f"; {p['people_outside_communes']:,.0f} outside every commune"
    if p.get("dem_cells_without_data", 0):
        n = p["dem_cells_without_data"]
        line += f"; {n:,} DEM cell{'s' if n != 1 else ''} without population data"
    return line


def village_population_from_raster(
    villages: gpd.GeoDataFrame,
    pop: PopulationGrid,
    *,
    radius_km: float,
    persons_per_household: float,
) -> gpd.GeoDataFrame:
    """Villages without population take the people of the raster cells nearest them.

    Every raster cell with people goes, whole, to the nearest listed village
    (any village with a location, whether it has a population or not) within
    ``radius_km`` of the cell's centre; each cell is counted once.  A village
    whose ``population`` is 0 or missing gets the rounded sum of its cells and
    ``population_source`` ``"raster"``; a village with a population keeps it
    (``"input"``), and its cells go to no one else.  A village that gets its
    population from the raster and has no households (0 or missing) gets
    ``round(population / persons_per_household)``.

    Parameters
    ----------
    villages : GeoDataFrame
        Loaded villages (EPSG:4326; points or polygons, at their
        representative point).
    pop : PopulationGrid
        The population raster (any CRS).
    radius_km : float
        Catchment radius (km, > 0).
    persons_per_household : float
        Persons per household (> 0).

    Returns
    -------
    GeoDataFrame
        A copy with ``population`` (and ``households``) filled and a
        ``population_source`` column after ``households``; ``attrs`` kept,
        plus ``population_from_raster`` (the number of villages filled).
    """
    from scipy.spatial import cKDTree

    if not (math.isfinite(radius_km) and radius_km > 0):
        raise ParameterError(f"radius_km was {radius_km!r}; expected a positive number of km")
    if not (math.isfinite(persons_per_household) and persons_per_household > 0):
        raise ParameterError(
            f"persons_per_household was {persons_per_household!r}; expected a positive number")
    out = villages.copy()
    out.attrs = dict(villages.attrs)
    n = len(out)
    pop_in = pd.to_numeric(out.get("population", pd.Series(np.nan, index=out.index)),
                           errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    hh_in = pd.to_numeric(out.get("households", pd.Series(np.nan, index=out.index)),
                          errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    got = np.zeros(n, dtype=np.float64)
    geom = out.geometry
    ok = (~geom.isna() & ~geom.is_empty).to_numpy()
    if ok.any():
        pts = geom[ok].representative_point()
        lon0, lat0 = float(pts.x.mean()), float(pts.y.mean())
        metric = utm_crs(lon0, lat0)
        vp = pts.to_crs(metric)
        tree = cKDTree(np.column_stack([vp.x.to_numpy(), vp.y.to_numpy()]))
        rr, cc = np.nonzero(pop.valid & (pop.people > 0))
        if rr.size:
            t = pop.transform
            cx = t.c + t.a * (cc + 0.5) + t.b * (rr + 0.5)
            cy = t.f + t.d * (cc + 0.5) + t.e * (rr + 0.5)
            tr = Transformer.from_crs(pop.crs.to_wkt(), metric.to_wkt(), always_xy=True)
            mx, my = tr.transform(cx, cy)
            fin = np.isfinite(mx) & np.isfinite(my)
            d, k = tree.query(np.column_stack([mx[fin], my[fin]]),
                              distance_upper_bound=1000.0 * radius_km, workers=-1)
            hit = np.isfinite(d)
            w = pop.people[rr, cc][fin][hit]
            sums = np.bincount(k[hit], weights=w, minlength=int(ok.sum()))
            got[np.flatnonzero(ok)] = sums
    fill = (pop_in <= 0) & ok
    new_pop = np.where(fill, np.round(got), pop_in).astype(np.int64)
    fill_hh = fill & (hh_in <= 0)
    new_hh = np.where(fill_hh, np.round(new_pop / persons_per_household), hh_in).astype(np.int64)
    out["population"] = new_pop
    out["households"] = new_hh
    src = np.where(fill, "raster", "input").astype(object)
    if "population_source" in out.columns:
        out = out.drop(columns="population_source")
    at = out.columns.get_loc("households") + 1
    out.insert(at, "population_source", src)
    out.attrs["population_from_raster"] = int(fill.sum())
    return out
