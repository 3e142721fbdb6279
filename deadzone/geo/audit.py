"""Village coverage audit: a status and a reason for every village, roll-ups.

Every input village appears exactly once in :attr:`AuditResult.villages`, in
input order; villages that cannot be evaluated get status ``unknown`` with a
reason.  Roll-ups are exact integer sums at every admin level the data has:
villages add up to communes, communes to districts (when the communes or the
villages carry a ``district`` column; Vietnam's 2025 communes have none),
districts (or communes) to provinces and provinces to the total.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.data.loaders import COMMUNES_JOINED, assign_communes
from deadzone.errors import DeadzoneWarning, ParameterError, SchemaError
from deadzone.geo.coverage import (
    DEFAULT_FLOOR_DBM,
    CoverageResult,
    EngineParams,
    TowerGrid,
    compute_coverage,
    coverage_parameters,
    engine_params,
    towers_on_grid,
    warn_calibration_without_landcover,
    warn_towers_outside,
)
from deadzone.geo.paths import VillageSignals, fractional_rc, village_points, village_signals
from deadzone.geo.population import PeopleCounter, people_counter, people_line, people_tables
from deadzone.geo.rollup import (
    _commune_districts,
    _district_text,
    district_rollup,
    has_districts,
    rollup,
    summary_dict,
)
from deadzone.geo.settlements import settlement_summary_line
from deadzone.kernels.coverage import line_profile, profile_loss
from deadzone.kernels.itm import ItmSettings
from deadzone.kernels.paths import nearest_sites, pair_signals, radio_table
from deadzone.model.defaults import DEFAULT_MODEL, DEFAULT_RADIUS_KM, DEFAULT_RX_HEIGHT_M
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TECHS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "AuditResult",
    "audit",
    "audit_parameters",
    "district_rollup",
    "has_districts",
    "rollup",
    "summary_lines",
]

#: A "village" with more people than this is more likely a city, a town or a
#: district (an OpenStreetMap ``place=city`` node, say); :func:`audit` warns,
#: because one such row dominates every population figure (persons).
VILLAGE_POPULATION_WARN = 100_000
#: Diffraction loss above which, with free space alone enough for service, a
#: village's shortfall is put down to terrain rather than distance (dB).
TERRAIN_BLOCK_MIN_DB = 3.0

_RANK = {"covered": 0, "marginal": 1, "dead": 2, "unknown": 3}


@dataclass
class AuditResult:
    """Outcome of :func:`audit`.

    Attributes
    ----------
    villages : GeoDataFrame
        One row per input village (EPSG:4326), input order, with ``status``
        (covered/marginal/dead/unknown), ``reason``, ``best_rx_dbm``,
        ``serving_tower_id``, ``second_best_rx_dbm``,
        ``servers_above_threshold``, ``distance_to_nearest_tower_m``,
        per-technology ``status_<tech>`` and ``signal_<tech>_dbm``, and for
        terrain-blocked villages ``obstruction_distance_m`` (from the tower,
        along its path to the village) / ``obstruction_height_m`` (ground
        height at that edge); when the input has ``has_grid_power``, that
        column and ``power_note`` = ``no_grid_power`` for villages not covered
        and without grid power (``reason`` keeps the radio cause); for
        polygon villages ``area_covered_frac``
        (share of the polygon's cells that are covered) and
        ``best_rx_in_area_dbm``; ``on_dem_void`` (True for an evaluated
        village on a DEM data void, where the terrain was filled from the
        neighbouring cells).
    communes : DataFrame
        One row per commune (plus any commune id found only on villages).
    provinces : DataFrame
        One row per province.
    summary : dict
        Totals and provenance (see :func:`summary_dict`).
    coverage : CoverageResult or None
        The area rasters (maps, ``coverage.tif``); None for an audit run
        with ``rasters=False``.  Village values come from exact paths
        (``village_method="paths"``, the default) or from these rasters.
    commune_shapes : GeoDataFrame, optional
        The input communes' ``commune_id`` and geometry (EPSG:4326), for the
        ``communes.gpkg`` output.
    districts : DataFrame or None
        One row per (``province``, ``district``) when the data has a district
        level (the commune table then has a ``district`` column), else None.
        Built from :attr:`communes` by :func:`district_rollup` when not given.
    """

    villages: gpd.GeoDataFrame
    communes: pd.DataFrame
    provinces: pd.DataFrame
    summary: dict[str, Any]
    coverage: CoverageResult | None
    commune_shapes: gpd.GeoDataFrame | None = None
    districts: pd.DataFrame | None = None
    #: The towers as computed (index = ``best_server`` index), with or without rasters.
    grid: TowerGrid | None = None
    #: Per-pair results of the exact-path engine (None for ``village_method="raster"``).
    signals: VillageSignals | None = None
    #: Settlements a population raster shows and the village list misses
    #: (:func:`deadzone.geo.settlements.unlisted_settlements`); None without a raster.
    settlements: gpd.GeoDataFrame | None = None
    #: The area sweep the population figures came from (= ``coverage`` with
    #: rasters; computed for them, not written, without); None without a raster.
    area_status: CoverageResult | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.districts is None and has_districts(self.communes):
            self.districts = district_rollup(self.communes)
        if self.grid is None and self.coverage is not None:
            self.grid = self.coverage.grid

    def districts_with_geometry(self) -> gpd.GeoDataFrame | None:
        """The district table with each district's polygon, or None without districts.

        A district's polygon is the union (dissolve) of its communes' polygons
        (EPSG:4326); None where none of its communes has a polygon.
        """
        if self.districts is None:
            return None
        import shapely

        communes = self.communes_with_geometry()
        keys = list(
            zip(communes["province"].astype(str), communes["district"].astype(str), strict=True)
        )
        parts: dict[tuple[str, str], list[Any]] = {}
        for key, g in zip(keys, communes.geometry, strict=True):
            if g is not None and not g.is_empty:
                parts.setdefault(key, []).append(g)
        geom = []
        for prov, dist in zip(
            self.districts["province"].astype(str),
            self.districts["district"].astype(str),
            strict=True,
        ):
            got = parts.get((prov, dist))
            geom.append(shapely.make_valid(shapely.union_all(got)) if got else None)
        return gpd.GeoDataFrame(self.districts.copy(), geometry=geom, crs=4326)

    def communes_with_geometry(self) -> gpd.GeoDataFrame:
        """The commune table with each commune's polygon (None where unknown)."""
        if self.commune_shapes is None or not len(self.commune_shapes):
            geom = [None] * len(self.communes)
        else:
            shapes = self.commune_shapes.drop_duplicates("commune_id").set_index("commune_id")
            ids = self.communes["commune_id"].astype(str)
            shapes.index = shapes.index.astype(str)
            geom = list(shapes.geometry.reindex(ids))
        return gpd.GeoDataFrame(self.communes.copy(), geometry=geom, crs=4326)

    def summary_lines(self) -> list[str]:
        """Human summary, e.g. ``covered villages: 2,416/3,924 (61.6%)``."""
        return summary_lines(self.summary)

    def map_summary_lines(self) -> list[str]:
        """:func:`map_summary_lines` of this audit."""
        return map_summary_lines(self.summary)


def map_summary_lines(s: dict[str, Any]) -> list[str]:
    """The lines of a map's summary box: the village counts, and with a population
    raster its people and the unlisted settlements (the rest is in the report)."""
    lines = summary_lines(s)
    keep = ("people (population raster)", "unlisted settlements")
    return lines[:3] + [line for line in lines[3:] if line.startswith(keep)]


def summary_lines(s: dict[str, Any]) -> list[str]:
    """The summary lines of an audit's ``summary`` (or its ``summary.json``), e.g.
    ``covered villages: 2,416/3,924 (61.6%)``: the one wording of every output."""
    vt = s["villages_total"]

    def frac(a: int, b: int) -> str:
        return f"{a:,}/{b:,} ({100.0 * a / b:.1f}%)" if b else f"{a:,}/{b:,}"

    lines = [
        f"covered villages: {frac(s['villages_covered'], vt)}",
        f"marginal villages: {frac(s['villages_marginal'], vt)}",
        f"dead villages: {frac(s['villages_dead'], vt)}",
        f"unknown villages: {frac(s['villages_unknown'], vt)}",
        f"population covered: {frac(s['population_covered'], s['population_total'])}"
        + _none_note(s.get("villages_without_population", 0), vt, "population"),
        f"households covered: {frac(s['households_covered'], s['households_total'])}"
        + _none_note(s.get("villages_without_households", 0), vt, "households"),
        *([people_line(s["population_raster"])] if "population_raster" in s else []),
        _fully_line("communes", s, frac),
    ]
    if "districts_total" in s:
        lines.append(_fully_line("districts", s, frac))
    if "unlisted_settlements" in s:
        lines.append(settlement_summary_line(s["unlisted_settlements"]))
    if s["reasons"]:
        lines.append(
            "not covered by reason: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(s["reasons"].items()))
        )
    params = s.get("parameters") or {}
    cal = params.get("calibration")
    thr = params.get("thresholds") or {}
    if thr.get("confidence_pct"):
        sigma = (cal or {}).get("sigma_db")
        lines.append(
            f"statuses at {thr['confidence_pct']:g}% confidence: thresholds raised "
            f"{thr.get('confidence_margin_db', 0.0):.1f} dB (z x the calibration's sigma "
            f"{sigma:.1f} dB); p_covered per village" if sigma else
            f"statuses at {thr['confidence_pct']:g}% confidence"
        )
    elif cal:
        lines.append(
            f"statuses from the calibrated median prediction ({cal.get('model')}, "
            f"{cal.get('fit')}); --confidence PCT gives them at that probability"
        )
    return lines


def _none_note(n_none: int, n_villages: int, what: str) -> str:
    """``"; 243 of 252 villages have no population (0 or missing)"``, or ``""``."""
    if not n_none:
        return ""
    verb = "has" if n_none == 1 else "have"
    return f"; {n_none:,} of {n_villages:,} villages {verb} no {what} (0 or missing)"


def _fully_line(level: str, s: dict[str, Any], frac: Callable[[int, int], str]) -> str:
    """``communes fully covered: 95/109 with villages (87.2%); 191 communes have no villages``.

    Units without villages can be neither covered nor not, so they are left out
    of the denominator (summaries written before ``<level>_with_villages``
    existed fall back to ``<level>_total``).
    """
    full, total = s[f"{level}_fully_covered"], s[f"{level}_total"]
    with_v = s.get(f"{level}_with_villages")
    if with_v is None or with_v == total:
        return f"{level} fully covered: {frac(full, total)}"
    pct = f" ({100.0 * full / with_v:.1f}%)" if with_v else ""
    empty = total - with_v
    unit = f"{level[:-1]} has" if empty == 1 else f"{level} have"
    return (
        f"{level} fully covered: {full:,}/{with_v:,} with villages{pct}; "
        f"{empty:,} {unit} no villages"
    )


def _int_col(df: pd.DataFrame, name: str) -> npt.NDArray[np.int64]:
    if name not in df.columns:
        return np.zeros(len(df), dtype=np.int64)
    v = pd.to_numeric(df[name], errors="coerce").fillna(0)
    return np.round(v.to_numpy(dtype=np.float64)).astype(np.int64)


def _sample(arr: np.ndarray, rows: np.ndarray, cols: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(rows.shape, np.nan, dtype=np.float64)
    out[ok] = arr[rows[ok], cols[ok]]
    return out


def _status(metric: np.ndarray, covered: float, marginal: float) -> np.ndarray:
    st = np.full(metric.shape, "dead", dtype=object)
    st[metric >= marginal] = "marginal"
    st[metric >= covered] = "covered"
    return st


#: How :func:`audit` finds a village's signal.
VILLAGE_METHODS = ("paths", "raster")


def audit(
    scenario: Scenario,
    *,
    coverage: CoverageResult | None = None,
    model: str = DEFAULT_MODEL,
    radius_km: float = DEFAULT_RADIUS_KM,
    rx_height_m: float = DEFAULT_RX_HEIGHT_M,
    thresholds: Thresholds | None = None,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    itm: ItmSettings | None = None,
    clutter: npt.NDArray[np.uint8] | None = None,
    rasters: bool = True,
    village_method: str = "paths",
    params: EngineParams | None = None,
    people: PeopleCounter | None = None,
) -> AuditResult:
    """Give every village a coverage status and roll the counts up.

    Parameters
    ----------
    scenario : Scenario
        Inputs (DEM, communes, villages, towers).
    coverage : CoverageResult, optional
        Precomputed area coverage for ``scenario``; its engine settings (model,
        radius, heights, ITM settings) are then the audit's, and ``clutter``
        must be the one it was computed with.
    model, radius_km, rx_height_m, n_threads, progress, itm, clutter
        Engine settings, as :func:`deadzone.geo.coverage.compute_coverage`
        takes them (default model ``itm``, Longley-Rice).
    params : EngineParams, optional
        The engine settings in one value instead of ``model`` ... ``itm``
        (not with ``coverage``, which carries its own).
    thresholds : Thresholds, optional
        Status thresholds per technology (default: :class:`Thresholds`()).
    rasters : bool
        Also compute the area rasters (``coverage.tif``, maps).  Without them
        an audit costs only its tower -> village paths.
    village_method : {"paths", "raster"}
        ``"paths"`` (default): every village's signal is the model's answer on
        its own straight tower -> village path
        (:func:`deadzone.geo.paths.village_signals`); ``"raster"``: read off
        the area rasters at the village's cell (the method before exact
        paths, kept for comparison).
    people : PeopleCounter, optional
        ``scenario.population`` already on the DEM grid
        (:func:`deadzone.geo.population.people_counter`; a what-if session
        keeps one); by default it is built here when the scenario has a
        population raster.  With a raster, the roll-ups get the people in
        covered / marginal / dead / unknown cells
        (:data:`deadzone.geo.population.PEOPLE_COLUMNS`) and the summary a
        ``population_raster`` entry; these come from the area statuses, so
        the area sweep runs even with ``rasters=False`` (its rasters are then
        neither returned nor written).

    Returns
    -------
    AuditResult

    Notes
    -----
    A village is evaluated at its point, or at the representative point of
    its polygon (polygon villages also get the covered share of their cells
    from the rasters, ``area_covered_frac``, when rasters are computed).
    Its status is the best over technologies: covered if any technology's
    metric reaches that technology's covered threshold, marginal if any
    reaches its marginal threshold, else dead.  ``reason`` for a village
    that is not covered: ``no_tower_in_range`` (no computed tower within
    ``radius_km``), ``terrain_blocked`` (free space alone from the best
    candidate tower would reach the covered threshold, but the diffraction
    loss of the dominant terrain edge on the tower -> village path, named
    by its distance from the tower and its height, takes it below),
    ``weak_signal`` (distance alone is too much); for ``unknown``:
    ``invalid_location`` or ``outside_dem`` (beyond the grid, or on its
    margin outside the source data's footprint, see
    :func:`deadzone.model.dem.outside_footprint`).

    Warns
    -----
    DeadzoneWarning
        When villages have population 0 (or missing), with their count: they
        add nothing to the population and household figures; when villages
        have more than :data:`VILLAGE_POPULATION_WARN` people (cities rather
        than villages?), naming the largest.
    """
    if village_method not in VILLAGE_METHODS:
        raise ParameterError(
            f"village_method was {village_method!r}; expected one of {VILLAGE_METHODS}")
    thr = thresholds or Thresholds()
    sources = _sources(scenario)
    _check_districts(scenario, sources)  # before the long part: fail in seconds
    if coverage is not None:
        if params is not None:
            raise ParameterError("give coverage= or params=, not both: a precomputed "
                                 "coverage carries its own engine settings")
        params = _engine_of(coverage)
    else:
        params = engine_params(params, model=model, radius_km=radius_km,
                               rx_height_m=rx_height_m, itm=itm)
    counter = people if people is not None else people_counter(scenario)
    cov = coverage
    if cov is None and (rasters or village_method == "raster" or counter is not None):
        cov = compute_coverage(
            scenario.dem,
            scenario.towers,
            params=params,
            thresholds=thr,
            n_threads=n_threads,
            progress=progress,
            clutter=clutter,
        )
    # the area statuses the people figures need (computed above even without rasters)
    area = cov
    if counter is not None and not rasters and coverage is None and village_method != "raster":
        cov = None  # --no-rasters: the sweep is for the people figures only
    dem = scenario.dem
    if area is None:  # (compute_coverage said it when it ran)
        warn_calibration_without_landcover(params, clutter, stacklevel=2)
    if area is not None:
        grid = area.grid
    else:
        grid = towers_on_grid(scenario.towers, dem)
        warn_towers_outside(grid, source=str(scenario.towers.attrs.get("source", "")),
                            bounds=dem.bounds, reach_m=1000.0 * params.radius_km,
                            stacklevel=2)
    vil = scenario.villages
    for col in ("village_id", "commune_id"):
        if col not in vil.columns:
            raise SchemaError(f"villages lack the required column {col!r}")
    vil = _with_communes(vil, scenario.communes)
    n = len(vil)
    vp = village_points(vil, dem)
    x, y, rows, cols = vp.x_m, vp.y_m, vp.rows, vp.cols
    bad, inside, ok = vp.bad, vp.inside, vp.ok
    on_void = ok & dem.void_mask[rows, cols]  # a data void inside: filled terrain

    techs = [t for t in TECHS if t in grid.techs]
    sig: VillageSignals | None = None
    if village_method == "paths":
        sig = village_signals(dem, grid, np.where(ok, x, np.nan), np.where(ok, y, np.nan),
                              params=params, thresholds=thr, clutter=clutter)
        metrics = {t: (sig.metric_dbm[t], sig.metric_server[t]) for t in techs}
        best_rx, second_rx = sig.best_rx_dbm, sig.second_rx_dbm
        n_serv = sig.n_servers
    else:
        assert cov is not None  # computed above for the raster method
        metrics = {
            t: (_sample(c.best_dbm, rows, cols, ok), np.where(ok, c.best_server[rows, cols], -1))
            for t, c in cov.by_tech.items()
        }
        best_rx = _sample(cov.rx.best_dbm, rows, cols, ok)
        second_rx = _sample(cov.rx.second_dbm, rows, cols, ok)
        n_serv = np.where(ok, cov.rx.n_servers[rows, cols], 0).astype(np.int64)

    status = np.full(n, "dead", dtype=object)
    reason = np.full(n, None, dtype=object)
    best_rank = np.full(n, _RANK["dead"], dtype=np.int64)
    best_margin = np.full(n, -np.inf)
    serving_idx = np.full(n, -1, dtype=np.int64)
    status_tech = np.full(n, None, dtype=object)
    out: dict[str, Any] = {}
    # with a calibration's sigma: the probability that the village is covered
    # (log-normal location variability about the median, ITU-R P.1546-6 Annex 5 §12)
    sigma = params.calibration.sigma_db if params.calibration is not None else math.nan
    p_cov = np.full(n, np.nan) if math.isfinite(sigma) and sigma > 0 else None
    if p_cov is not None:
        from scipy.special import ndtr
    for tech, (metric, server) in metrics.items():
        metric = np.where(ok, metric, np.nan)
        server = np.where(ok, server, -1)
        if p_cov is not None:
            p = ndtr((metric - thr.covered_median(tech)) / sigma)
            p_cov = np.where(np.isfinite(p), np.fmax(p_cov, p), p_cov)
        st = _status(metric, thr.covered(tech), thr.marginal(tech))
        st[~ok] = "unknown"
        out[f"status_{tech.lower()}"] = st
        out[f"signal_{tech.lower()}_dbm"] = metric
        rank = np.array([_RANK[s] for s in st], dtype=np.int64)
        margin = np.where(np.isfinite(metric), metric - thr.covered(tech), -np.inf)
        better = (rank < best_rank) | ((rank == best_rank) & (margin > best_margin))
        best_rank = np.where(better, rank, best_rank)
        best_margin = np.where(better, margin, best_margin)
        serving_idx = np.where(better & (server >= 0), server, serving_idx)
        status_tech = np.where(better & np.isfinite(metric), tech, status_tech)
    for rank_name, r in _RANK.items():
        status[best_rank == r] = rank_name
    status[~ok] = "unknown"
    reason[bad] = "invalid_location"
    reason[~bad & ~inside] = "outside_dem"

    # Distance to the nearest tower (all towers with a location).
    has_xy = np.isfinite(grid.x_m) & np.isfinite(grid.y_m)
    dist = np.full(n, np.nan)
    near_idx = np.full(n, -1, dtype=np.int64)
    finite_v = np.isfinite(x) & np.isfinite(y)
    if has_xy.any() and finite_v.any():
        d, k = nearest_sites(np.column_stack([grid.x_m[has_xy], grid.y_m[has_xy]]),
                             np.column_stack([x[finite_v], y[finite_v]]))
        dist[finite_v] = d
        near_idx[finite_v] = np.flatnonzero(has_xy)[k]

    # Reasons for villages that are evaluated but not covered.
    obs_d = np.full(n, np.nan)
    obs_h = np.full(n, np.nan)
    computed = np.array([s is not None for s in grid.sites], dtype=bool)
    explain = np.flatnonzero(ok & (status != "covered"))
    # a village no tower serves: its nearest computed tower, if within the radius
    no_server = explain[serving_idx[explain] < 0]
    near_c = np.full(n, -1, dtype=np.int64)
    near_c_d = np.full(n, np.inf)
    if computed.any() and no_server.size:
        d, k = nearest_sites(np.column_stack([grid.x_m[computed], grid.y_m[computed]]),
                             np.column_stack([x[no_server], y[no_server]]))
        found = k >= 0  # (a computed tower always has a position)
        near_c[no_server[found]] = np.flatnonzero(computed)[k[found]]
        near_c_d[no_server[found]] = d[found]
    todo_v: list[int] = []
    todo_t: list[int] = []
    for v in explain:
        cand = serving_idx[v]
        if cand < 0:
            if near_c[v] < 0 or near_c_d[v] > params.radius_m:
                reason[v] = "no_tower_in_range"
                continue
            cand = int(near_c[v])
        if sig is None:
            assert cov is not None
            reason[v], obs_d[v], obs_h[v] = _explain(cov, dem, int(cand), int(rows[v]),
                                                     int(cols[v]))
        else:
            todo_v.append(int(v))
            todo_t.append(int(cand))
    if todo_v:
        vv = np.array(todo_v, dtype=np.int64)
        reason[vv], obs_d[vv], obs_h[vv] = _explain_paths(
            dem, grid, x, y, vv, np.array(todo_t, dtype=np.int64), params, thr, sig)

    if cov is not None:
        area_frac, area_best = _polygon_stats(vil.geometry.to_crs(dem.crs), ~bad, cov, thr)
    else:
        area_frac = np.full(n, np.nan)
        area_best = np.full(n, np.nan)

    serving = np.array([grid.tower_ids[i] if i >= 0 else None for i in serving_idx], dtype=object)
    res = gpd.GeoDataFrame(
        {
            "village_id": vil["village_id"].astype(str).to_numpy(),
            "name": vil["name"].astype(str).to_numpy() if "name" in vil else "",
            "commune_id": vil["commune_id"].astype(str).to_numpy(),
            "population": _int_col(vil, "population"),
            "households": _int_col(vil, "households"),
            "status": status,
            "reason": reason,
            # the technology whose metric (signal_<tech>_dbm) gave the status
            "status_tech": pd.array(np.where(ok, status_tech, None), dtype="string"),
            "best_rx_dbm": best_rx,
            "serving_tower_id": serving,
            "second_best_rx_dbm": second_rx,
            "servers_above_threshold": n_serv,
            "distance_to_nearest_tower_m": dist,
            "nearest_tower_id": np.array(
                [grid.tower_ids[i] if i >= 0 else None for i in near_idx], dtype=object
            ),
            **out,
            **({} if p_cov is None else {"p_covered": np.where(ok, np.nan_to_num(p_cov), np.nan)}),
            "obstruction_distance_m": obs_d,
            "obstruction_height_m": obs_h,
            "area_covered_frac": area_frac,
            "best_rx_in_area_dbm": area_best,
            "on_dem_void": on_void,
        },
        geometry=vil.geometry.to_numpy(),
        crs=vil.crs,
    )
    if "population_source" in vil.columns:  # population from a raster (input / raster)
        res.insert(res.columns.get_loc("households") + 1, "population_source",
                   vil["population_source"].astype(str).to_numpy())
    if "has_grid_power" in vil.columns:
        res.insert(5, "has_grid_power", vil["has_grid_power"].to_numpy())
        # A secondary note, so the radio reason (terrain, distance) stays visible.
        no_power = (vil["has_grid_power"].astype("boolean") == False).fillna(False)  # noqa: E712
        note = np.where((status != "covered") & no_power.to_numpy(bool), "no_grid_power", None)
        res.insert(res.columns.get_loc("reason") + 1, "power_note", pd.array(note, dtype="string"))
    if "district" in vil.columns:
        res.insert(
            res.columns.get_loc("commune_id") + 1,
            "district",
            _district_text(vil["district"]).to_numpy(),
        )
    res = res.to_crs("EPSG:4326")
    communes, provinces = rollup(
        res,
        scenario.communes,
        villages_source=sources[0],
        communes_source=sources[1],
    )
    pop_summary = None
    if counter is not None:
        assert area is not None  # computed above whenever there is a population raster
        communes, provinces, pop_summary = people_tables(counter, area, dem, thr, communes,
                                                         provinces, res)
    districts = None
    if has_districts(communes):
        # Every village carries its commune's (checked, unique) district.
        by_commune = communes.set_index("commune_id")["district"]
        col = _district_text(res["commune_id"].map(by_commune)).to_numpy()
        if "district" in res.columns:
            res["district"] = col
        else:
            res.insert(res.columns.get_loc("commune_id") + 1, "district", col)
        districts = district_rollup(communes)
    parameters = audit_parameters(
        cov.parameters if cov is not None else coverage_parameters(
            model=params.model, radius_km=params.radius_km, rx_height_m=params.rx_height_m,
            k_factor=params.k_factor, floor_dbm=params.floor_dbm, itm=params.itm,
            clutter=clutter is not None, calibration=params.calibration),
        village_method=village_method, rasters=cov is not None)
    summary = summary_dict(res, communes, cov, thr, scenario, grid=grid, parameters=parameters)
    if pop_summary is not None:
        summary["population_raster"] = pop_summary
    _warn_population(res, sources[0])
    shapes = None
    if (
        scenario.communes is not None
        and len(scenario.communes)
        and "commune_id" in scenario.communes.columns
    ):
        shapes = scenario.communes[["commune_id", "geometry"]].to_crs(4326)
    out = AuditResult(res, communes, provinces, summary, cov, shapes, districts, grid, sig)
    if counter is not None:
        out.area_status = area  # the sweep the people figures came from (also --no-rasters)
    return out


#: What ``summary.json`` says of each village method.
_METHOD_NOTES = {
    "paths": "exact tower-to-village paths (bilinear terrain at the DEM's cell size)",
    "raster": "area raster sampled at the village's cell",
}


def audit_parameters(engine_parameters: dict[str, Any], *, village_method: str = "paths",
                     rasters: bool = True) -> dict[str, Any]:
    """``summary.json``'s ``parameters`` (less the thresholds) of an audit.

    The engine's (:func:`deadzone.geo.coverage.coverage_parameters`) plus how
    villages were evaluated and whether area rasters were computed.
    """
    return {**engine_parameters, "village_method": _METHOD_NOTES[village_method],
            "rasters": rasters}


def _engine_of(cov: CoverageResult) -> EngineParams:
    """The engine settings a coverage was computed with."""
    if cov.engine is not None:
        return cov.engine
    itm = cov.parameters.get("itm")
    return EngineParams(
        model=cov.model, radius_km=cov.radius_m / 1000.0, rx_height_m=cov.rx_height_m,
        k_factor=cov.k_factor,
        floor_dbm=float(cov.parameters.get("floor_dbm", DEFAULT_FLOOR_DBM)),
        itm=ItmSettings(**itm) if isinstance(itm, dict) else ItmSettings(),
    )


def _with_communes(villages: gpd.GeoDataFrame, communes: gpd.GeoDataFrame
                   ) -> gpd.GeoDataFrame:
    """Villages with an empty ``commune_id`` get the commune that holds them
    (else the nearest within 1 km), as ``deadzone audit`` assigns them, so an
    API caller's ``load_villages`` table rolls up by commune too.  A table the
    join already went through (the CLI's) is left as it is."""
    if villages.attrs.get(COMMUNES_JOINED):
        return villages
    ids = villages["commune_id"]
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if not empty.any() or communes is None or len(communes) == 0:
        return villages
    return assign_communes(villages, communes)


def _explain_paths(
    dem: Any,
    grid: TowerGrid,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    villages: npt.NDArray[np.int64],
    towers: npt.NDArray[np.int64],
    params: EngineParams,
    thr: Thresholds,
    sig: VillageSignals | None,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Why each village is not covered by its candidate tower, on the exact path.

    ``terrain_blocked`` when free space alone (EIRP minus the slant-path
    free-space loss and the technology's metric offset) would reach the
    covered threshold and the ``knife`` model's equivalent edge (ITU-R
    P.526-15 §4.5.1) on the village's own profile costs at least
    :data:`TERRAIN_BLOCK_MIN_DB`, whatever the audit's model (as the raster
    method's :func:`_explain`); the
    edge's distance from the tower and ground height name the obstruction.
    Else ``weak_signal``.
    """
    h_rx = sig.rx_height_m[villages] if sig is not None else np.full(
        villages.size, params.rx_height_m)
    sub = np.arange(villages.size, dtype=np.int64)
    res = pair_signals(
        dem.elevation_m, cell_m=min(dem.cell_w_m, dem.cell_h_m),
        tower_rc=fractional_rc(dem, grid.x_m, grid.y_m),
        tower_xy=np.column_stack([grid.x_m, grid.y_m]), radio=radio_table(grid.sites),
        rx_rc=fractional_rc(dem, x[villages], y[villages]),
        rx_xy=np.column_stack([x[villages], y[villages]]), rx_height_m=h_rx,
        pair_tower=towers, pair_rx=sub, model="knife", k_factor=params.k_factor,
        itm=params.itm,
    )
    eirp = np.array([np.nan if grid.sites[t] is None else grid.sites[t].eirp_dbm
                     for t in towers])
    covered = np.array([thr.covered(grid.techs[t]) for t in towers])
    free = eirp - res.free_space_db - np.asarray(grid.metric_offset_db)[towers]
    blocked = (res.knife_db >= TERRAIN_BLOCK_MIN_DB) & (free >= covered)
    reason = np.where(blocked, "terrain_blocked", "weak_signal").astype(object)
    return (reason, np.where(blocked, res.edge_distance_m, np.nan),
            np.where(blocked, res.edge_height_m, np.nan))


def _warn_population(villages: pd.DataFrame, source: str) -> None:
    """Warn (one line each) about villages without population and city-sized ones."""
    pop = villages["population"].to_numpy(dtype=np.int64)
    n = len(pop)
    none = int((pop <= 0).sum())
    if none:
        verb = "has" if none == 1 else "have"
        warnings.warn(
            f"{source}: {none:,} of {n:,} villages {verb} population 0 (or missing); "
            f"population and household figures count only the other {n - none:,}",
            DeadzoneWarning,
            stacklevel=3,
        )
    big = np.flatnonzero(pop > VILLAGE_POPULATION_WARN)
    if big.size:
        top = int(big[np.argmax(pop[big])])
        share = 100.0 * pop[top] / pop.sum()
        warnings.warn(
            f"{source}: {big.size:,} of {n:,} villages {'has' if big.size == 1 else 'have'} "
            f"population above "
            f"{VILLAGE_POPULATION_WARN:,} (largest: {villages['village_id'].iloc[top]!r} "
            f"{str(villages['name'].iloc[top])!r} with {pop[top]:,}, {share:.1f}% of the "
            f"total {int(pop.sum()):,}); cities or districts rather than villages?",
            DeadzoneWarning,
            stacklevel=3,
        )


def _sources(scenario: Scenario) -> tuple[str, str]:
    """File names of the villages and communes, for error messages."""
    c = scenario.communes
    return (
        str(scenario.villages.attrs.get("source", "villages")),
        str((c.attrs if c is not None else {}).get("source", "communes")),
    )


def _check_districts(scenario: Scenario, sources: tuple[str, str]) -> None:
    """Raise the roll-up's district error (a commune in two districts) up front."""
    vil, com = scenario.villages, scenario.communes
    if not {"district", "commune_id", "village_id"} <= set(vil.columns):
        return  # districts from the communes alone cannot contradict each other
    if com is None or "commune_id" not in com.columns:
        c = pd.DataFrame({"commune_id": pd.Series(dtype=str)})
    else:
        c = pd.DataFrame({"commune_id": com["commune_id"].astype(str).to_numpy()})
        if "district" in com.columns:
            c["district"] = _district_text(com["district"]).to_numpy()
    v = pd.DataFrame(
        {
            "commune_id": vil["commune_id"].astype(str).to_numpy(),
            "district": vil["district"].to_numpy(),
            "village_id": vil["village_id"].astype(str).to_numpy(),
        }
    )
    _commune_districts(c.drop_duplicates("commune_id"), v, *sources)


def _polygon_stats(
    geoms: gpd.GeoSeries, valid: npt.NDArray[np.bool_], cov: CoverageResult, thr: Thresholds
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Covered fraction of cells and best power inside polygon villages.

    A cell counts as covered when any technology's metric reaches that
    technology's covered threshold.  Points (and polygons smaller than a
    cell, which fall back to the cell under their representative point)
    are handled by the point sample; their entries here are NaN.
    """
    from rasterio.features import geometry_mask
    from rasterio.windows import Window, from_bounds
    from rasterio.windows import transform as window_transform

    n = len(geoms)
    frac = np.full(n, np.nan)
    best = np.full(n, np.nan)
    is_poly = valid & geoms.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not is_poly.any():
        return frac, best
    rows, cols = cov.rx.best_dbm.shape
    covered = np.zeros((rows, cols), dtype=bool)
    for tech, comp in cov.by_tech.items():
        covered |= comp.best_dbm >= thr.covered(tech)
    for i in np.flatnonzero(is_poly):
        g = geoms.iloc[i]
        win = from_bounds(*g.bounds, transform=cov.transform).round_offsets().round_lengths()
        win = win.intersection(Window(0, 0, cols, rows)) if _overlaps(win, rows, cols) else None
        if win is None or win.width < 1 or win.height < 1:
            continue
        inside = ~geometry_mask(
            [g],
            out_shape=(int(win.height), int(win.width)),
            transform=window_transform(win, cov.transform),
        )
        if not inside.any():
            continue
        sl = win.toslices()
        frac[i] = float(covered[sl][inside].mean())
        vals = cov.rx.best_dbm[sl][inside]
        best[i] = float(np.nanmax(vals)) if np.isfinite(vals).any() else np.nan
    return frac, best


def _overlaps(win: Any, rows: int, cols: int) -> bool:
    return (
        win.col_off < cols
        and win.row_off < rows
        and win.col_off + win.width > 0
        and win.row_off + win.height > 0
    )


def _explain(
    cov: CoverageResult, dem: Any, tower: int, row: int, col: int
) -> tuple[str, float, float]:
    """Why a village is not covered by ``tower``: reason and obstruction."""
    site = cov.grid.sites[tower]
    assert site is not None  # candidates are computed towers only
    tech = cov.grid.techs[tower]
    z, step = line_profile(
        dem.elevation_m,
        site.row,
        site.col,
        row,
        col,
        cell_w_m=dem.cell_w_m,
        cell_h_m=dem.cell_h_m,
    )
    if z.size < 3:
        return "weak_signal", math.nan, math.nan
    pl = profile_loss(
        z,
        step,
        h_tx_m=site.height_m,
        h_rx_m=cov.rx_height_m,
        freq_mhz=site.freq_mhz,
        model="knife",
        k_factor=cov.k_factor,
    )
    free = site.eirp_dbm - (pl.loss_db - pl.diffraction_db) - cov.grid.metric_offset_db[tower]
    if pl.diffraction_db >= TERRAIN_BLOCK_MIN_DB and free >= cov.thresholds.covered(tech):
        return "terrain_blocked", pl.edge_distance_m, pl.edge_height_m
    return "weak_signal", math.nan, math.nan
