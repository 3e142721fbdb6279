"""Settlements missing from the village list, found in a gridded population raster.

A village list (OpenStreetMap places, a commune's register) misses hamlets; a
population raster (WorldPop, HRSL, GHSL) counts their people anyway.
:func:`unlisted_settlements` finds them: cells denser than a threshold, joined
into clusters by 8-connectivity (:func:`scipy.ndimage.label`), with at least
a minimum of people, and farther than a minimum distance from every listed
village.  Each gets its estimated people, area, centroid, outline (the cells
dissolved), nearest listed village, commune, and the people in covered /
marginal / dead cells of the audit's area status raster, people-weighted.

Defaults (:class:`SettlementParams`), and why a planner can defend them:

* **500 people/km^2** (``min_density_per_km2``): the lower bound of the
  degree-of-urbanisation "rural cluster" family is 300/km^2 on 1 km cells
  (Eurostat/UN-Habitat, GHSL SMOD); on ~100 m cells a hamlet's houses are
  denser than that, and 500/km^2 (about 4-5 people in a 3" cell) is above
  the dispersed farmsteads and field huts a ~100 m raster smears along
  valleys, so clusters are places where people live together.
* **50 people** (``min_people``): about ten households, the size of the
  smallest hamlet (thôn/bản) a commune would list; below it a cluster is as
  likely a raster artefact as a settlement.
* **1 km** (``min_distance_km``): a listed village's people are spread over
  a few hundred metres by the raster (and the village point is one point of
  it); a cluster with a cell within 1 km of a listed village is counted as
  that village, not as a missing one.

Distances are great-circle distances (mean Earth radius) from the cluster's
nearest cell centre to the village point (polygon villages: a representative
point), so a cluster that touches a village is that village whatever its
size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import shapely.geometry
from affine import Affine
from pyproj import Transformer
from rasterio import features
from rasterio.crs import CRS

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.coverage import CoverageResult
from deadzone.geo.population import STATUS_ORDER, cell_status
from deadzone.model.dem import Dem
from deadzone.model.geodesy import MEAN_EARTH_RADIUS_M
from deadzone.model.population import PopulationGrid
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = [
    "SETTLEMENT_COLUMNS",
    "SettlementParams",
    "StatusGrid",
    "audit_settlements",
    "cell_area_km2",
    "settlement_summary",
    "settlement_summary_line",
    "status_grid",
    "unlisted_settlements",
]

#: Majority ties go to the worse status (a planner would rather look at it).
_STATUSES = ("dead", "marginal", "covered", "unknown")

#: Columns of the settlements table, in order (plus ``geometry``).
SETTLEMENT_COLUMNS: tuple[str, ...] = (
    "settlement_id",
    "people",
    "cells",
    "area_km2",
    "density_per_km2",
    "lon",
    "lat",
    "commune_id",
    "nearest_village_id",
    "nearest_village_distance_m",
    "people_covered",
    "people_marginal",
    "people_dead",
    "people_unknown",
    "status",
)


@dataclass(frozen=True)
class SettlementParams:
    """What counts as an unlisted settlement (see the module docstring for why).

    Attributes
    ----------
    min_density_per_km2 : float
        A cell belongs to a settlement when its people divided by its area
        reach this (people/km^2); > 0.
    min_people : float
        A cluster of such cells is a settlement with at least this many
        people; >= 0.
    min_distance_km : float
        ... and when every cell centre is farther than this from every listed
        village (km); >= 0.
    """

    min_density_per_km2: float = 500.0
    min_people: float = 50.0
    min_distance_km: float = 1.0

    def __post_init__(self) -> None:
        for name, lo, strict in (("min_density_per_km2", 0.0, True), ("min_people", 0.0, False),
                                 ("min_distance_km", 0.0, False)):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and math.isfinite(v) and v >= lo
            if not ok or (strict and v == lo):
                raise ParameterError(
                    f"{name} was {v!r}; expected a finite number {'>' if strict else '>='} {lo:g}")

    def as_dict(self) -> dict[str, float]:
        """The parameters as ``summary.json`` records them."""
        return {k: float(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class StatusGrid:
    """An audit's per-cell status on its (DEM) grid.

    Attributes
    ----------
    codes : ndarray of int8, shape (rows, cols)
        Index into :data:`deadzone.geo.population.STATUS_ORDER` (0 covered,
        1 marginal, 2 dead, 3 unknown), as :func:`deadzone.geo.population.cell_status`
        gives them: the same rule the population figures use.
    transform : affine.Affine
        Pixel-to-CRS transform (north-up).
    crs : rasterio.crs.CRS
        The grid's CRS.
    """

    codes: npt.NDArray[np.int8]
    transform: Affine
    crs: CRS

    def __post_init__(self) -> None:
        if np.ndim(self.codes) != 2:
            raise ParameterError(f"status codes must be 2-D; got shape {np.shape(self.codes)}")
        if self.transform.b != 0 or self.transform.d != 0:
            raise ParameterError("status grid transform must be north-up (no rotation)")


def status_grid(coverage: CoverageResult, dem: Dem, thresholds: Thresholds) -> StatusGrid:
    """The audit's status of every cell of its area rasters
    (:func:`deadzone.geo.population.cell_status`: the village rule per cell,
    unknown outside the DEM source)."""
    return StatusGrid(codes=cell_status(coverage, dem, thresholds), transform=coverage.transform,
                      crs=coverage.crs)


def audit_settlements(
    scenario: Scenario,
    coverage: CoverageResult | None,
    *,
    thresholds: Thresholds,
    params: SettlementParams | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """An audit's unlisted settlements and their ``summary.json`` entry.

    Parameters
    ----------
    scenario : Scenario
        With ``population`` (a :class:`~deadzone.model.population.PopulationGrid`),
        the listed ``villages`` and the ``communes``.
    coverage : CoverageResult or None
        The audit's area rasters; None (an audit without rasters) leaves the
        settlements' coverage ``unknown``.
    thresholds : Thresholds
        The audit's thresholds.
    params : SettlementParams, optional
        Defaults: :class:`SettlementParams`.

    Returns
    -------
    settlements : GeoDataFrame
        :func:`unlisted_settlements`.
    entry : dict
        :func:`settlement_summary`.

    Raises
    ------
    ParameterError
        The scenario has no population raster.
    """
    if scenario.population is None:
        raise ParameterError("unlisted settlements need a population raster; the scenario has none")
    prm = params or SettlementParams()
    grid = status_grid(coverage, scenario.dem, thresholds) if coverage is not None else None
    found = unlisted_settlements(scenario.population, scenario.villages,
                                 communes=scenario.communes, status=grid, params=prm)
    return found, settlement_summary(found, prm, population=scenario.population,
                                     status_known=grid is not None)


def cell_area_km2(grid: PopulationGrid) -> npt.NDArray[np.float64]:
    """Area of each row's cells (km^2), shape (rows,).

    Geographic grids: the ellipsoidal quadrangle between the cell's edges on
    WGS 84, ``b^2 dlon / 2 * (q(lat_n) - q(lat_s))`` with
    ``q(p) = sin p / (1 - e^2 sin^2 p) + ln((1 + e sin p) / (1 - e sin p)) / (2e)``
    (Snyder 1987, *Map Projections: A Working Manual*, eq. 3-12; a 3" cell is
    0.0086 km^2 at the equator, 0.0080 at 22 N); projected grids: ``|a * e|``
    in the CRS's linear unit, converted to km^2.

    Raises
    ------
    ParameterError
        The CRS is neither geographic nor projected with a known unit.
    """
    t, crs = grid.transform, grid.crs
    rows = grid.shape[0]
    if crs.is_geographic:
        north = t.f + np.arange(rows) * t.e
        south = north + t.e
        lat_hi = np.radians(np.clip(np.maximum(north, south), -90.0, 90.0))
        lat_lo = np.radians(np.clip(np.minimum(north, south), -90.0, 90.0))
        a_km, f = 6378.137, 1.0 / 298.257223563  # WGS 84
        e = math.sqrt(f * (2.0 - f))
        b2 = (a_km * (1.0 - f)) ** 2

        def q(phi: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            sp = np.sin(phi)
            return sp / (1.0 - (e * sp) ** 2) + np.log((1.0 + e * sp) / (1.0 - e * sp)) / (2 * e)

        return b2 * math.radians(abs(t.a)) / 2.0 * (q(lat_hi) - q(lat_lo))
    try:
        factor = float(crs.linear_units_factor[1])
    except Exception as exc:  # noqa: BLE001 - pyproj/rasterio raise several kinds
        raise ParameterError(
            f"population raster {grid.source or '(in memory)'}: CRS {crs} has no linear unit "
            f"({' '.join(str(exc).split())})") from None
    return np.full(rows, abs(t.a * t.e) * factor**2 / 1e6)


def unlisted_settlements(
    population: PopulationGrid,
    villages: gpd.GeoDataFrame,
    *,
    communes: gpd.GeoDataFrame | None = None,
    status: StatusGrid | None = None,
    params: SettlementParams | None = None,
) -> gpd.GeoDataFrame:
    """Clusters of people in a population raster that no listed village accounts for.

    Parameters
    ----------
    population : PopulationGrid
        People per cell (any CRS GDAL knows; WorldPop: EPSG:4326, 3").
    villages : GeoDataFrame
        The listed villages (points or polygons, any CRS) with ``village_id``;
        rows without a usable geometry are ignored for distances.
    communes : GeoDataFrame, optional
        Commune polygons with ``commune_id``: each settlement's centroid is
        joined to the commune containing it (``None`` outside all).
    status : StatusGrid, optional
        The audit's status classes (covered / marginal / dead per cell);
        each population cell of a settlement is sampled at k x k points
        (k = the population cell size over the status cell size, 1..5) and
        its people shared among their classes, so the split is area-weighted
        when the status grid is finer.  Samples off the status grid, or no
        status grid at all, are ``people_unknown``.
    params : SettlementParams, optional
        Density, size and distance thresholds (defaults: 500 people/km^2,
        50 people, 1 km).

    Returns
    -------
    GeoDataFrame
        One row per settlement (EPSG:4326 polygons: the cells dissolved),
        largest first, :data:`SETTLEMENT_COLUMNS`: ``settlement_id``
        (``U0001``, ...), ``people`` (estimated, the raster's sum over the
        cells), ``cells``, ``area_km2``, ``density_per_km2``, ``lon``/``lat``
        (people-weighted centroid), ``commune_id``, ``nearest_village_id`` and
        ``nearest_village_distance_m`` (from the nearest cell centre, m),
        ``people_covered``/``people_marginal``/``people_dead``/
        ``people_unknown`` (they add up to ``people``) and ``status``, the
        class of the most people (ties to the worse).

    Raises
    ------
    SchemaError
        ``villages`` has no ``village_id`` column, or ``communes`` no
        ``commune_id``.

    Examples
    --------
    >>> s = unlisted_settlements(scenario.population, scenario.villages)  # doctest: +SKIP
    >>> s[["settlement_id", "people", "status"]].head()  # doctest: +SKIP
    """
    prm = params or SettlementParams()
    if "village_id" not in villages.columns:
        raise SchemaError("villages lack the required column 'village_id'")
    if communes is not None and len(communes) and "commune_id" not in communes.columns:
        raise SchemaError("communes lack the required column 'commune_id'")
    people = np.where(population.valid, np.nan_to_num(population.people, nan=0.0), 0.0)
    people = np.maximum(people, 0.0)
    area_row = cell_area_km2(population)
    dense = people >= prm.min_density_per_km2 * area_row[:, None]
    dense &= people > 0
    from scipy import ndimage  # here: an audit without a population raster skips its import

    labels, n = ndimage.label(dense, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return _empty()
    flat = labels.ravel()
    cells = np.flatnonzero(flat)
    lab = flat[cells] - 1
    pop = people.ravel()[cells]
    total = np.bincount(lab, pop, n)
    big = total >= prm.min_people
    keep_cell = big[lab]
    cells, lab, pop = cells[keep_cell], lab[keep_cell], pop[keep_cell]
    if cells.size == 0:
        return _empty()

    rows, cols = np.divmod(cells, population.shape[1])
    t = population.transform
    x = t.c + (cols + 0.5) * t.a
    y = t.f + (rows + 0.5) * t.e
    lon, lat = _to_lonlat(population.crs, x, y)
    far = np.full(n, math.inf)
    near_idx = np.full(n, -1, dtype=np.int64)
    v_ids, v_xyz = _village_points(villages)
    if len(v_xyz):
        from scipy.spatial import cKDTree  # here: an audit without settlements skips its import

        chord, k = cKDTree(v_xyz).query(_unit_xyz(lon, lat))
        d = 2.0 * MEAN_EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
        order = np.lexsort((d, lab))  # per cluster, its nearest cell first
        first = order[np.r_[True, lab[order][1:] != lab[order][:-1]]]
        far[lab[first]] = d[first]
        near_idx[lab[first]] = k[first]
    keep = big & (far > 1000.0 * prm.min_distance_km)
    m = keep[lab]
    cells, lab, pop, rows, cols = cells[m], lab[m], pop[m], rows[m], cols[m]
    lon, lat = lon[m], lat[m]
    if cells.size == 0:
        return _empty()

    ids = np.flatnonzero(keep)  # cluster numbers kept, in label order
    pos = np.full(n, -1, dtype=np.int64)
    pos[ids] = np.arange(ids.size)
    g = pos[lab]
    k_out = ids.size
    ppl = np.bincount(g, pop, k_out)
    n_cells = np.bincount(g, minlength=k_out)
    area = np.bincount(g, area_row[rows], k_out)
    cen_lon = np.bincount(g, pop * lon, k_out) / ppl
    cen_lat = np.bincount(g, pop * lat, k_out) / ppl
    by_status = _people_by_status(population, status, rows, cols, pop, g, k_out)
    polys = _dissolve(rows, cols, t, g, k_out, population.crs)

    table = pd.DataFrame({
        "people": ppl,
        "cells": n_cells.astype(np.int64),
        "area_km2": area,
        "density_per_km2": ppl / area,
        "lon": cen_lon,
        "lat": cen_lat,
        "commune_id": _communes_at(communes, cen_lon, cen_lat),
        "nearest_village_id": [v_ids[i] if i >= 0 else None for i in near_idx[ids]],
        "nearest_village_distance_m": np.where(np.isfinite(far[ids]), far[ids], np.nan),
        **{f"people_{s}": by_status[s] for s in ("covered", "marginal", "dead", "unknown")},
    })
    stack = np.column_stack([by_status[s] for s in _STATUSES])
    table["status"] = np.array(_STATUSES, dtype=object)[np.argmax(stack, axis=1)]
    gdf = gpd.GeoDataFrame(table, geometry=polys, crs=4326)
    gdf = gdf.iloc[np.lexsort((gdf["lat"].to_numpy(), -gdf["people"].to_numpy()))]
    gdf = gdf.reset_index(drop=True)
    gdf.insert(0, "settlement_id", [f"U{i + 1:04d}" for i in range(len(gdf))])
    return gdf[[*SETTLEMENT_COLUMNS, "geometry"]]


def _empty() -> gpd.GeoDataFrame:
    frame = {c: pd.Series(dtype=object if c in ("settlement_id", "commune_id",
                                                "nearest_village_id", "status") else
                          np.int64 if c == "cells" else np.float64)
             for c in SETTLEMENT_COLUMNS}
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _to_lonlat(crs: CRS, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    if crs.to_epsg() == 4326:
        return x, y
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _unit_xyz(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]
              ) -> npt.NDArray[np.float64]:
    """Points on the unit sphere: the chord between two is a monotonic function of
    their great-circle distance, so a k-d tree over them finds the nearest by
    great-circle distance anywhere on Earth (no projection zone to leave)."""
    lam, phi = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def _village_points(villages: gpd.GeoDataFrame) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Ids and unit-sphere points of the villages that have a usable geometry."""
    if not len(villages):
        return [], np.empty((0, 3))
    g = villages.geometry
    if g.crs is not None and g.crs.to_epsg() != 4326:
        g = g.to_crs(4326)
    usable = g.notna().to_numpy() & ~g.is_empty.to_numpy()
    pts = g[usable].representative_point()
    lon, lat = pts.x.to_numpy(), pts.y.to_numpy()
    ok = np.isfinite(lon) & np.isfinite(lat)
    ids = villages["village_id"].astype(str).to_numpy()[usable][ok]
    return list(ids), _unit_xyz(lon[ok], lat[ok])


def _people_by_status(
    population: PopulationGrid,
    status: StatusGrid | None,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    pop: npt.NDArray[np.float64],
    g: npt.NDArray[np.int64],
    k_out: int,
) -> dict[str, npt.NDArray[np.float64]]:
    """People of each settlement in covered / marginal / dead / unknown cells."""
    out = {s: np.zeros(k_out) for s in _STATUSES}
    if status is None:
        out["unknown"] = np.bincount(g, pop, k_out)
        return out
    t = population.transform
    st = status.transform
    # k x k samples per population cell: as many as status cells fit across it
    pop_size = _cell_size_m(population.crs, t, population.shape)
    stat_size = _cell_size_m(status.crs, st, np.shape(status.codes))
    k = int(np.clip(math.ceil(pop_size / max(stat_size, 1e-9) - 1e-9), 1, 5))
    off = (np.arange(k) + 0.5) / k
    fr, fc = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
    sx = t.c + (cols[:, None] + fc[None, :]) * t.a
    sy = t.f + (rows[:, None] + fr[None, :]) * t.e
    if CRS.from_user_input(population.crs) != CRS.from_user_input(status.crs):
        sx, sy = Transformer.from_crs(population.crs, status.crs, always_xy=True).transform(sx, sy)
        sx, sy = np.asarray(sx), np.asarray(sy)
    c = np.floor((sx - st.c) / st.a).astype(np.int64)  # north-up grids (Dem, coverage)
    r = np.floor((sy - st.f) / st.e).astype(np.int64)
    h, w = np.shape(status.codes)
    on = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    code = np.full(r.shape, STATUS_ORDER.index("unknown"), dtype=np.int64)  # off the grid
    code[on] = np.asarray(status.codes)[r[on], c[on]]
    share = np.broadcast_to(pop[:, None] / (k * k), code.shape)
    gg = np.broadcast_to(g[:, None], code.shape)
    for s in _STATUSES:
        hit = code == STATUS_ORDER.index(s)
        out[s] = np.bincount(gg[hit], share[hit], k_out).astype(
            np.float64)  # (an empty selection gives int64)
    return out


def _cell_size_m(crs: CRS, t: Affine, shape: tuple[int, ...]) -> float:
    """Side of a cell (m), at the grid's middle latitude for geographic grids."""
    if crs.is_geographic:
        lat = t.f + 0.5 * shape[0] * t.e
        deg = MEAN_EARTH_RADIUS_M * math.pi / 180.0
        return math.sqrt(abs(t.a) * deg * math.cos(math.radians(lat)) * abs(t.e) * deg)
    try:
        factor = float(crs.linear_units_factor[1])
    except Exception:  # noqa: BLE001 - no unit: take the numbers as metres
        factor = 1.0
    return math.sqrt(abs(t.a * t.e)) * factor


def _dissolve(rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], t: Affine,
              g: npt.NDArray[np.int64], k_out: int, crs: CRS) -> gpd.GeoSeries:
    """Each settlement's cells as one polygon (EPSG:4326).

    GDAL's polygonize (:func:`rasterio.features.shapes`) of the settlements'
    numbers over the window holding them, 4-connected, so cells that touch
    only at a corner give the parts of one MultiPolygon (one polygon through
    a corner would be invalid); the vertices are the grid's own corners.
    """
    r0, c0 = int(rows.min()), int(cols.min())
    img = np.zeros((int(rows.max()) - r0 + 1, int(cols.max()) - c0 + 1), dtype=np.int32)
    img[rows - r0, cols - c0] = g + 1
    parts: list[list[Any]] = [[] for _ in range(k_out)]
    for geom, value in features.shapes(img, mask=img > 0, connectivity=4,
                                       transform=t @ Affine.translation(c0, r0)):
        parts[int(value) - 1].append(shapely.geometry.shape(geom))
    polys = [p[0] if len(p) == 1 else shapely.MultiPolygon(p) for p in parts]
    return gpd.GeoSeries(polys, crs=crs).to_crs(4326)


def _communes_at(communes: gpd.GeoDataFrame | None, lon: npt.NDArray[np.float64],
                 lat: npt.NDArray[np.float64]) -> list[Any]:
    """The ``commune_id`` whose polygon holds each point (None outside all)."""
    if communes is None or not len(communes):
        return [None] * len(lon)
    c = communes
    if c.crs is not None and c.crs.to_epsg() != 4326:
        c = c.to_crs(4326)
    pts = shapely.points(lon, lat)
    pi, ci = shapely.STRtree(c.geometry.to_numpy()).query(pts, predicate="within")
    out: list[Any] = [None] * len(lon)
    ids = c["commune_id"].to_numpy()
    for p, k in zip(pi, ci, strict=True):
        if out[p] is None:  # the first polygon holding it (overlaps are the data's)
            out[p] = ids[k]
    return out


def settlement_summary(settlements: gpd.GeoDataFrame, params: SettlementParams, *,
                       population: PopulationGrid, status_known: bool) -> dict[str, Any]:
    """``summary.json``'s ``unlisted_settlements`` entry.

    People are rounded to whole persons; ``people_dead`` is the people in dead
    cells (no service), ``settlements_dead`` the settlements whose majority
    status is dead.
    """
    s = settlements
    out: dict[str, Any] = {
        "settlements": int(len(s)),
        "people": round(float(s["people"].sum())),
        "people_covered": round(float(s["people_covered"].sum())),
        "people_marginal": round(float(s["people_marginal"].sum())),
        "people_dead": round(float(s["people_dead"].sum())),
        "people_unknown": round(float(s["people_unknown"].sum())),
        "settlements_by_status": {st: int((s["status"] == st).sum()) for st in _STATUSES},
        "status_known": bool(status_known),
        "parameters": params.as_dict(),
        "population_raster": {"source": population.source, "sha256": population.checksum},
    }
    return out


def settlement_summary_line(entry: dict[str, Any]) -> str:
    """``12,400 people in 37 unlisted settlements, 9,100 of them in dead zones``."""
    n, people = int(entry["settlements"]), int(entry["people"])
    noun = "settlement" if n == 1 else "settlements"
    line = f"unlisted settlements: {people:,} people in {n:,} unlisted {noun}"
    if not n:
        return line + " (none found in the population raster)"
    if not entry.get("status_known", True):
        return line + "; their coverage is unknown (no area rasters: run without --no-rasters)"
    return line + f", {int(entry['people_dead']):,} of them in dead zones"
