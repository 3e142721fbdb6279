"""Where to put the next towers: candidates, coverage matrix, costs, and two solvers.

The problem is the budgeted maximal covering location problem (Church &
ReVelle 1974): choose sites from a candidate list to maximise the weight
(villages, population or households) of currently dead or marginal villages
that become covered, under a budget in towers or in money (VND).

* **Coverage matrix.** Candidate ``j`` covers village ``i`` when the
  propagation engine (the same :func:`~deadzone.kernels.coverage.tower_window`
  sweep the audit uses, not a radius) gives at the village's cell a metric at
  or above the covered threshold of the candidate's technology, computed
  with the same float32 arithmetic as the composite merge.  Adding a site
  can only raise the best metric of its technology, so coverage is a union:
  re-auditing with the chosen sites added reproduces the predicted count
  exactly (tested).
* **Costs.** Per site: tower capex; power (grid line to the nearest
  grid-powered village or existing tower, or a solar kit when cheaper);
  backhaul: a microwave hop needs line of sight with 60% of the first
  Fresnel zone clear (ITU-R P.530) to a fiber-connected site within the
  maximum hop length, otherwise a fiber spur along the roads (networkx
  shortest path).  A site may also hop to another *selected* site that is
  itself anchored (direct hop or fiber): one relay level, modelled exactly
  in the MILP (``r_j <= sum of anchored LOS neighbours``) and in greedy.
  All default prices live in :class:`CostModel`.
* **Solvers.** Lazy greedy (Minoux 1978 accelerated greedy; (1 - 1/e) of
  the optimum for a tower budget, Nemhauser, Wolsey & Fisher 1978; for a
  money budget the better of cost-ratio greedy and the best single site,
  Khuller, Moss & Naor 1999) and an exact MILP solved by HiGHS through
  :func:`scipy.optimize.milp` with a time limit, reporting the optimality
  gap; the MILP answer is compared with greedy's and the better one is kept,
  so the MILP is never worse.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.ndimage import maximum_filter, uniform_filter
from scipy.spatial import cKDTree
from shapely.geometry import Point

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.audit import AuditResult, audit
from deadzone.geo.coverage import towers_on_grid
from deadzone.geo.paths import village_points, village_signals
from deadzone.geo.whatif import EngineParams
from deadzone.kernels.coverage import line_profile
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TECHS, TOWER_DEFAULTS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "CostModel",
    "OBJECTIVES",
    "Backhaul",
    "PlacementProblem",
    "PlacementResult",
    "candidate_sites",
    "coverage_matrix",
    "fresnel_clearance",
    "site_costs",
    "build_problem",
    "solve_greedy",
    "solve_milp",
    "optimize",
]

#: Objective weights: each target village counts 1, its population, or its households.
OBJECTIVES: tuple[str, ...] = ("villages", "population", "households")
SOLVERS: tuple[str, ...] = ("greedy", "milp")
EARTH_RADIUS_M = 6_371_000.0
#: Statuses whose villages the optimizer tries to cover.
TARGET_STATUSES: tuple[str, ...] = ("dead", "marginal")


@dataclass(frozen=True)
class CostModel:
    """Prices and engineering rules for a new site (VND, metres, GHz).

    The defaults are planning assumptions for rural northern Vietnam, in
    2024 VND, of the order of magnitude seen in public procurement notices
    and operator statements; they are not quotes.  Replace them with your
    own figures (``--costs FILE.toml`` in ``deadzone place``).

    Attributes
    ----------
    tower_capex_vnd : float
        Greenfield site: 30-45 m self-supporting mast, foundation, shelter or
        outdoor cabinet, one 4G radio with antennas, installation
        (assumption: 1.8 billion VND; rural BTS are commonly reported between
        1 and 3 billion VND).
    upgrade_capex_vnd : float
        New radio and antennas on an existing mast (no civil works), for
        candidates at existing tower sites (assumption: 0.6 billion VND).
    grid_line_vnd_per_km : float
        Medium/low-voltage line extension to the nearest grid-powered
        village or existing tower, straight-line distance (assumption:
        0.5 billion VND/km).
    grid_connection_vnd : float
        Transformer and meter at a grid-fed site (assumption: 0.05 billion).
    solar_vnd : float
        Off-grid solar array and battery bank sized for one BTS (about
        6 kWp, 2 days of autonomy); used when cheaper than the grid line
        (assumption: 0.7 billion VND).
    microwave_hop_vnd : float
        One microwave link: two radios, two dishes, installation
        (assumption: 0.3 billion VND).
    fiber_vnd_per_km : float
        Aerial fiber (ADSS) along existing road-side poles (assumption:
        0.12 billion VND/km).
    fiber_offroad_vnd_per_km : float
        Fiber from the road to the site, or where no road path exists,
        straight line (assumption: 0.25 billion VND/km, trenched).
    offroad_detour_factor : float
        Straight-line length is multiplied by this off the road network.
    microwave_freq_ghz : float
        Microwave band for the Fresnel clearance (7/8 GHz suits long rural
        hops).
    max_hop_km : float
        Longest microwave hop (km).
    fresnel_clearance : float
        Fraction of the first Fresnel zone that must be clear of terrain
        (0.6, ITU-R P.530 clearance criterion for k = 4/3).
    anchor_mast_m : float
        Antenna height at a fiber node that has no mast of its own (m).
    relay_neighbours : int
        Relay hops to other candidates are considered only to this many
        nearest candidates within ``max_hop_km`` (keeps LOS checks linear
        in the number of candidates).
    """

    tower_capex_vnd: float = 1.8e9
    upgrade_capex_vnd: float = 0.6e9
    grid_line_vnd_per_km: float = 0.5e9
    grid_connection_vnd: float = 0.05e9
    solar_vnd: float = 0.7e9
    microwave_hop_vnd: float = 0.3e9
    fiber_vnd_per_km: float = 0.12e9
    fiber_offroad_vnd_per_km: float = 0.25e9
    offroad_detour_factor: float = 1.3
    microwave_freq_ghz: float = 8.0
    max_hop_km: float = 25.0
    fresnel_clearance: float = 0.6
    anchor_mast_m: float = 30.0
    relay_neighbours: int = 8

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ParameterError(f"cost model field {name!r} was {value!r}; expected >= 0")
        if not (0.1 <= self.microwave_freq_ghz <= 100.0):
            raise ParameterError(
                f"microwave_freq_ghz was {self.microwave_freq_ghz}; expected 0.1..100 GHz"
            )

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, source: str = "costs") -> CostModel:
        """Build from a dict (e.g. a TOML table), naming unknown keys."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(values) - known)
        if bad:
            raise ParameterError(
                f"{source}: unknown key {bad[0]!r}; expected one of {sorted(known)}"
            )
        return cls(
            **{k: float(v) if k != "relay_neighbours" else int(v) for k, v in values.items()}
        )


# --------------------------------------------------------------------------- candidates


_CAND_COLS = (
    "candidate_id",
    "source",
    "tech",
    "freq_mhz",
    "eirp_dbm",
    "height_m",
    "existing_tower_id",
    "elevation_m",
    "status",
)


def _xy_to_lonlat(dem: Dem, x: np.ndarray, y: np.ndarray) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(x, y), crs=dem.crs).to_crs(4326)


def _nms(x: np.ndarray, y: np.ndarray, order: np.ndarray, spacing_m: float) -> np.ndarray:
    """Non-maximum suppression: keep points in ``order``, none within ``spacing_m``."""
    if x.size == 0:
        return np.empty(0, dtype=np.int64)
    tree = cKDTree(np.column_stack([x, y]))
    taken = np.zeros(x.size, dtype=bool)
    keep = []
    for i in order:
        if taken[i]:
            continue
        keep.append(int(i))
        for k in tree.query_ball_point([x[i], y[i]], spacing_m):
            taken[k] = True
    return np.array(keep, dtype=np.int64)


def candidate_sites(
    scenario: Scenario,
    *,
    baseline: AuditResult | None = None,
    user: gpd.GeoDataFrame | None = None,
    peaks: bool = True,
    near_dead: bool = True,
    commune_centres: bool = True,
    existing: bool = True,
    exclude: gpd.GeoDataFrame | None = None,
    min_spacing_m: float = 1500.0,
    near_dead_radius_m: float = 2000.0,
    max_auto: int = 300,
    tech: str = "4G",
    height_m: float = 30.0,
) -> gpd.GeoDataFrame:
    """Candidate sites for new towers (EPSG:4326 points).

    Parameters
    ----------
    scenario : Scenario
        DEM, villages, communes and existing towers.
    baseline : AuditResult, optional
        Current audit; needed for ``near_dead`` (dead/marginal villages).
    user : GeoDataFrame, optional
        Planner-proposed sites (points, any CRS); optional columns
        ``candidate_id, tech, freq_mhz, eirp_dbm, height_m``.  Always kept.
    peaks : bool
        DEM peaks and ridge points: local maxima of the topographic position
        index (height above the mean within ``min_spacing_m``), strongest
        first, with non-maximum suppression at ``min_spacing_m``.
    near_dead : bool
        For each dead or marginal village, the highest cell within
        ``near_dead_radius_m``.
    commune_centres : bool
        Each commune's ``center_lon/center_lat`` (else a point inside it).
    existing : bool
        Existing tower sites as upgrade candidates (new radio on the mast).
    exclude : GeoDataFrame, optional
        Water or no-build polygons; candidates inside get ``status``
        ``excluded`` (kept in the table, never selected).
    min_spacing_m : float
        Minimum distance between automatic candidates (m).
    max_auto : int
        At most this many automatic candidates (near-dead first, then
        peaks, then commune centres).
    tech, height_m : str, float
        Radio of automatic candidates (frequency and EIRP from the
        technology's defaults); upgrades keep the taller of the mast and
        ``height_m``.

    Returns
    -------
    GeoDataFrame
        Columns ``candidate_id, source, tech, freq_mhz, eirp_dbm, height_m,
        existing_tower_id, elevation_m, status`` (``ok``, ``excluded`` or
        ``outside_dem``).
    """
    if tech not in TECHS:
        raise ParameterError(f"tech was {tech!r}; expected one of {TECHS}")
    if min_spacing_m <= 0:
        raise ParameterError(f"min_spacing_m was {min_spacing_m}; expected > 0")
    dem = scenario.dem
    z = dem.elevation_m
    d = TOWER_DEFAULTS[tech]
    rows_out: list[dict[str, Any]] = []
    geoms: list[Point] = []

    def add(src: str, lon: float, lat: float, **kw: Any) -> None:
        rows_out.append(
            {
                "candidate_id": kw.get("candidate_id") or "",
                "source": src,
                "tech": kw.get("tech", tech),
                "freq_mhz": float(kw.get("freq_mhz", d.freq_mhz)),
                "eirp_dbm": float(kw.get("eirp_dbm", d.eirp_dbm)),
                "height_m": float(kw.get("height_m", height_m)),
                "existing_tower_id": kw.get("existing_tower_id"),
            }
        )
        geoms.append(Point(float(lon), float(lat)))

    if user is not None and len(user):
        if user.crs is None:
            raise SchemaError("user candidate sites have no CRS; expected EPSG:4326 lon/lat")
        u = user.to_crs(4326)
        for k, (_, r) in enumerate(u.iterrows()):
            g = r.geometry
            if g is None or g.is_empty or g.geom_type != "Point":
                raise SchemaError(f"user candidate row {k}: geometry must be a point")
            kw = {
                c: r[c]
                for c in ("candidate_id", "tech", "freq_mhz", "eirp_dbm", "height_m")
                if c in u.columns and not _missing(r[c])
            }
            t = str(kw.get("tech", tech))
            if t not in TECHS:
                raise SchemaError(f"user candidate row {k}: field 'tech' was {t!r}")
            dd = TOWER_DEFAULTS[t]
            kw.setdefault("freq_mhz", dd.freq_mhz)
            kw.setdefault("eirp_dbm", dd.eirp_dbm)
            kw["tech"] = t
            add("user", g.x, g.y, **kw)
    if existing and len(scenario.towers):
        tw = scenario.towers.to_crs(4326)
        for _, r in tw.iterrows():
            g = r.geometry
            if g is None or g.is_empty:
                continue
            h = r.get("height_m", np.nan)
            hh = max(float(h), height_m) if not _missing(h) else height_m
            add("upgrade", g.x, g.y, height_m=hh, existing_tower_id=str(r["tower_id"]))

    auto_x: list[np.ndarray] = []
    auto_y: list[np.ndarray] = []
    auto_src: list[str] = []
    auto_pri: list[np.ndarray] = []
    cell = min(dem.cell_w_m, dem.cell_h_m)
    if near_dead:
        if baseline is None:
            raise ParameterError("near_dead candidates need the baseline audit")
        v = baseline.villages
        tgt = v[v["status"].isin(TARGET_STATUSES)]
        if len(tgt):
            p = tgt.geometry.representative_point().to_crs(dem.crs)
            rr, cc, inside = dem.rowcol(p.x.to_numpy(), p.y.to_numpy())
            rad = max(1, int(round(near_dead_radius_m / cell)))
            xs, ys = [], []
            for r0, c0 in zip(rr[inside], cc[inside], strict=True):
                a0, a1 = max(r0 - rad, 0), min(r0 + rad + 1, z.shape[0])
                b0, b1 = max(c0 - rad, 0), min(c0 + rad + 1, z.shape[1])
                k = int(np.argmax(z[a0:a1, b0:b1]))
                r1, c1 = divmod(k, b1 - b0)
                x, y = dem.xy(a0 + r1, b0 + c1)
                xs.append(float(x))
                ys.append(float(y))
            auto_x.append(np.array(xs))
            auto_y.append(np.array(ys))
            auto_src += ["near_dead"] * len(xs)
            auto_pri.append(np.full(len(xs), 0.0))
    if peaks:
        r_cells = max(1, int(round(min_spacing_m / cell / 2)))
        zf = z.astype(np.float64)
        tpi = zf - uniform_filter(zf, size=2 * r_cells + 1, mode="nearest")
        is_max = (tpi == maximum_filter(tpi, size=2 * r_cells + 1, mode="nearest")) & (tpi > 0)
        is_peak = zf == maximum_filter(zf, size=2 * r_cells + 1, mode="nearest")
        rr, cc = np.nonzero(is_max)
        x, y = dem.xy(rr, cc)
        auto_x.append(np.asarray(x))
        auto_y.append(np.asarray(y))
        auto_src += ["peak" if is_peak[a, b] else "ridge" for a, b in zip(rr, cc, strict=True)]
        # Strongest relief first (priority 1 < commune centres 2).
        auto_pri.append(1.0 - tpi[rr, cc] / (1.0 + float(tpi[rr, cc].max(initial=0.0))))
    if commune_centres and len(scenario.communes):
        c = scenario.communes
        if {"center_lon", "center_lat"} <= set(c.columns):
            pts = gpd.GeoSeries(gpd.points_from_xy(c["center_lon"], c["center_lat"]), crs=4326)
        else:
            pts = c.geometry.representative_point().to_crs(4326)
        pp = pts.to_crs(dem.crs)
        auto_x.append(pp.x.to_numpy())
        auto_y.append(pp.y.to_numpy())
        auto_src += ["commune_centre"] * len(pp)
        auto_pri.append(np.full(len(pp), 2.0))
    if auto_x:
        ax = np.concatenate(auto_x)
        ay = np.concatenate(auto_y)
        pri = np.concatenate(auto_pri)
        _, _, inside = dem.rowcol(ax, ay)
        order = np.lexsort((np.arange(ax.size), pri))
        order = order[inside[order]]
        kept = _nms(ax, ay, order, min_spacing_m)
        # Round-robin over the sources (in priority order) up to max_auto.
        src_arr = np.array(auto_src, dtype=object)
        queues = [
            list(kept[src_arr[kept] == name])
            for name in ("near_dead", "peak", "ridge", "commune_centre")
        ]
        keep_l: list[int] = []
        while len(keep_l) < max(0, int(max_auto)) and any(queues):
            for q in queues:
                if q and len(keep_l) < int(max_auto):
                    keep_l.append(int(q.pop(0)))
        keep = np.array(
            sorted(keep_l, key=lambda k: int(np.flatnonzero(kept == k)[0])), dtype=np.int64
        )
        ll = _xy_to_lonlat(dem, ax[keep], ay[keep])
        for k, g in zip(keep, ll, strict=True):
            add(auto_src[k], g.x, g.y)

    out = gpd.GeoDataFrame(
        rows_out,
        geometry=geoms,
        crs=4326,
        columns=[c for c in _CAND_COLS if c not in ("elevation_m", "status")],
    )
    return _finish_candidates(out, dem, exclude)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v == ""


def _finish_candidates(
    cand: gpd.GeoDataFrame, dem: Dem, exclude: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    cand = cand.reset_index(drop=True)
    n = len(cand)
    ids = cand["candidate_id"].fillna("").astype(str).to_numpy().copy() if n else np.array([])
    for i in range(n):
        if not ids[i]:
            ids[i] = f"C{i + 1:04d}"
    if n and pd.Series(ids).duplicated().any():
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise SchemaError(f"candidate_id {dup!r} appears twice")
    cand["candidate_id"] = ids
    p = cand.geometry.to_crs(dem.crs)
    rr, cc, inside = (
        dem.rowcol(p.x.to_numpy(), p.y.to_numpy())
        if n
        else (np.array([], int), np.array([], int), np.array([], bool))
    )
    elev = np.where(inside, dem.elevation_m[rr, cc], np.nan) if n else np.array([])
    cand["elevation_m"] = elev.astype(np.float64)
    status = np.where(inside, "ok", "outside_dem").astype(object)
    if exclude is not None and len(exclude) and n:
        if exclude.crs is None:
            raise SchemaError("exclusion polygons have no CRS")
        ex = exclude.to_crs(4326)
        hit = gpd.sjoin(cand[["geometry"]], ex[["geometry"]], how="inner", predicate="within")
        status[np.unique(hit.index.to_numpy())] = "excluded"
    cand["status"] = status
    return cand


# --------------------------------------------------------------------------- coverage matrix


def candidate_towers(candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Candidates as canonical tower rows (``tower_id`` = ``candidate_id``)."""
    g = candidates.to_crs(4326)
    return gpd.GeoDataFrame(
        {
            "tower_id": g["candidate_id"].astype(str).to_numpy(),
            "lon": g.geometry.x.to_numpy(),
            "lat": g.geometry.y.to_numpy(),
            "tech": g["tech"].astype(str).to_numpy(),
            "freq_mhz": g["freq_mhz"].astype(float).to_numpy(),
            "eirp_dbm": g["eirp_dbm"].astype(float).to_numpy(),
            "height_m": g["height_m"].astype(float).to_numpy(),
            "azimuth_deg": np.nan,
            "beamwidth_deg": np.nan,
            "tilt_deg": 0.0,
        },
        geometry=g.geometry.to_numpy(),
        crs=4326,
    )


def coverage_matrix(
    scenario: Scenario,
    candidates: gpd.GeoDataFrame,
    *,
    params: EngineParams | None = None,
    thresholds: Thresholds | None = None,
    villages_mask: npt.NDArray[np.bool_] | None = None,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> sp.csr_matrix:
    """Which village each candidate would cover, from the propagation engine.

    Parameters
    ----------
    scenario : Scenario
        DEM and villages.
    candidates : GeoDataFrame
        From :func:`candidate_sites`; rows whose ``status`` is not ``ok``
        get an empty row.
    params : EngineParams, optional
        Engine parameters (same as the audit's).
    thresholds : Thresholds, optional
        Covered thresholds per technology.
    villages_mask : bool array, optional
        Only these villages are tested (others get zeros).
    n_threads : int, optional
        Unused: the candidate -> village paths run on Numba's threads
        (``NUMBA_NUM_THREADS``); kept for callers that pass it.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    scipy.sparse.csr_matrix of bool, shape (n_candidates, n_villages)

    Notes
    -----
    Each candidate -> village pair is evaluated on its own exact path, as the
    audit evaluates villages (:func:`deadzone.geo.paths.village_signals`), so
    a chosen site's predicted villages are the ones a re-audit finds covered
    by it.
    """
    p = params or EngineParams()
    thr = thresholds or Thresholds()
    dem = scenario.dem
    vp = village_points(scenario.villages, dem)
    ok = vp.ok
    if villages_mask is not None:
        ok = ok & np.asarray(villages_mask, dtype=bool)
    n = len(candidates)
    todo = np.array([j for j in range(n) if candidates["status"].iloc[j] == "ok"],
                    dtype=np.int64)
    r = np.empty(0, dtype=np.int64)
    c = np.empty(0, dtype=np.int64)
    if todo.size and ok.any():
        grid = towers_on_grid(candidate_towers(candidates.iloc[todo]), dem)
        if progress is not None:
            progress(0, int(todo.size))
        sig = village_signals(dem, grid, np.where(ok, vp.x_m, np.nan),
                              np.where(ok, vp.y_m, np.nan), params=p, thresholds=thr)
        t = sig.pair_tower
        covered = np.array([thr.covered(tech) for tech in grid.techs])
        metric = sig.rx_dbm - np.asarray(grid.metric_offset_db)[t]
        hit = metric >= covered[t]
        r = todo[t[hit]]
        c = sig.pair_village[hit]
        if progress is not None:
            progress(int(todo.size), int(todo.size))
    m = sp.csr_matrix(
        (np.ones(r.size, dtype=bool), (r, c)), shape=(n, len(scenario.villages)), dtype=bool
    )
    return m


# --------------------------------------------------------------------------- backhaul and costs


def fresnel_clearance(
    dem: Dem,
    a_xy: tuple[float, float],
    a_height_m: float,
    b_xy: tuple[float, float],
    b_height_m: float,
    *,
    freq_ghz: float,
    k_factor: float = 4.0 / 3.0,
    elevation_m: npt.NDArray[np.floating] | None = None,
) -> float:
    """Smallest terrain clearance of a microwave path, in first-Fresnel-zone radii.

    The path runs between antennas ``a_height_m`` / ``b_height_m`` above the
    ground at ``a_xy`` / ``b_xy`` (DEM CRS metres), over the terrain profile
    of :func:`deadzone.kernels.coverage.line_profile` plus the earth bulge
    for the effective radius ``k_factor * 6371 km``.  At distance ``d1``
    from one end and ``d2`` from the other the first Fresnel zone radius is
    ``sqrt(lambda d1 d2 / (d1 + d2))`` (ITU-R P.530 §2.2.2).  A hop is
    clear when the result is at least 0.6.

    Returns
    -------
    float
        ``min((line height - terrain - bulge) / F1)`` over interior samples;
        ``inf`` for paths shorter than three samples.
    """
    z_full = dem.elevation_m if elevation_m is None else elevation_m
    rr, cc, inside = dem.rowcol([a_xy[0], b_xy[0]], [a_xy[1], b_xy[1]])
    if not inside.all():
        return -math.inf
    z, step = line_profile(
        z_full,
        int(rr[0]),
        int(cc[0]),
        int(rr[1]),
        int(cc[1]),
        cell_w_m=dem.cell_w_m,
        cell_h_m=dem.cell_h_m,
    )
    n = z.size
    if n < 3:
        return math.inf
    d = step * (n - 1)
    x = np.arange(1, n - 1, dtype=np.float64) * step
    ha = z[0] + a_height_m
    hb = z[-1] + b_height_m
    line = ha + (hb - ha) * x / d
    bulge = x * (d - x) / (2.0 * k_factor * EARTH_RADIUS_M)
    lam = 0.299792458 / freq_ghz
    f1 = np.sqrt(lam * x * (d - x) / d)
    return float(np.min((line - z[1:-1] - bulge) / f1))


def _road_graph(
    roads: gpd.GeoDataFrame, crs: Any, *, step_m: float = 100.0, snap_m: float = 60.0
) -> tuple[Any, np.ndarray]:
    """Undirected road graph in metres: densified vertices, crossings snapped."""
    import networkx as nx
    import shapely

    g = nx.Graph()
    lines = roads.to_crs(crs).geometry.explode(index_parts=False)
    coords: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    base = 0
    for li, line in enumerate(lines):
        if line is None or line.is_empty:
            continue
        xy = np.asarray(shapely.segmentize(line, step_m).coords)[:, :2]
        idx = np.arange(base, base + len(xy))
        seg = np.hypot(*np.diff(xy, axis=0).T)
        g.add_weighted_edges_from(
            zip(idx[:-1].tolist(), idx[1:].tolist(), seg.tolist(), strict=True)
        )
        g.add_nodes_from(idx.tolist())
        coords.append(xy)
        owner.append(np.full(len(xy), li))
        base += len(xy)
    if not coords:
        return g, np.empty((0, 2))
    allxy = np.vstack(coords)
    own = np.concatenate(owner)
    tree = cKDTree(allxy)
    for i, j in tree.query_pairs(snap_m):
        if own[i] != own[j] or abs(i - j) > 1:
            g.add_edge(int(i), int(j), weight=float(np.hypot(*(allxy[i] - allxy[j]))))
    return g, allxy


@dataclass
class Backhaul:
    """Backhaul options per candidate (see :func:`site_costs`)."""

    anchor_kind: npt.NDArray[np.object_]
    anchor_to: npt.NDArray[np.object_]
    anchor_length_m: npt.NDArray[np.float64]
    anchor_vnd: npt.NDArray[np.float64]
    relay_neighbours: list[list[int]]


def site_costs(
    scenario: Scenario,
    candidates: gpd.GeoDataFrame,
    *,
    costs: CostModel | None = None,
    towers_have_fiber: bool = True,
    k_factor: float = 4.0 / 3.0,
) -> tuple[pd.DataFrame, Backhaul]:
    """Capex, power and backhaul options of every candidate.

    Parameters
    ----------
    scenario : Scenario
        Needs the DEM; uses ``backbone`` (fiber nodes), ``roads`` (fiber
        spurs), villages' ``has_grid_power`` (all villages are taken as
        grid-powered when the column is missing) and the existing towers
        (powered, and fiber-connected when ``towers_have_fiber``).
    candidates : GeoDataFrame
        From :func:`candidate_sites`.
    costs : CostModel, optional
        Prices and rules.
    towers_have_fiber : bool
        Treat existing towers as fiber-connected sites (hop or spur targets).
    k_factor : float
        Effective earth-radius factor for the Fresnel check.

    Returns
    -------
    table : DataFrame
        Per candidate: ``capex_vnd, power_option (existing/grid/solar),
        grid_distance_m, power_vnd, backhaul_anchor (existing/microwave/fiber/
        none), backhaul_to, backhaul_length_m, backhaul_vnd``.
    backhaul : Backhaul
        Anchor options and LOS relay neighbours (candidate indices).
    """
    cm = costs or CostModel()
    dem = scenario.dem
    n = len(candidates)
    p = candidates.geometry.to_crs(dem.crs)
    cx, cy = p.x.to_numpy(), p.y.to_numpy()
    upgrade = candidates["existing_tower_id"].notna().to_numpy() & (
        candidates["source"].to_numpy() == "upgrade"
    )
    capex = np.where(upgrade, cm.upgrade_capex_vnd, cm.tower_capex_vnd)

    # Power: nearest grid-powered village or existing tower.
    vil = scenario.villages
    if "has_grid_power" in vil.columns:
        powered = vil[vil["has_grid_power"].fillna(False).astype(bool)]
    else:
        powered = vil
    pts = [powered.geometry.representative_point().to_crs(dem.crs)]
    if len(scenario.towers):
        pts.append(scenario.towers.geometry.to_crs(dem.crs))
    pxy = np.column_stack(
        [
            np.concatenate([q.x.to_numpy() for q in pts]),
            np.concatenate([q.y.to_numpy() for q in pts]),
        ]
    )
    pxy = pxy[np.isfinite(pxy).all(axis=1)]
    grid_d = cKDTree(pxy).query(np.column_stack([cx, cy]))[0] if len(pxy) else np.full(n, np.inf)
    grid_vnd = grid_d / 1000.0 * cm.grid_line_vnd_per_km + cm.grid_connection_vnd
    use_solar = cm.solar_vnd < grid_vnd
    power_opt = np.where(upgrade, "existing", np.where(use_solar, "solar", "grid")).astype(object)
    power_vnd = np.where(upgrade, 0.0, np.minimum(grid_vnd, cm.solar_vnd))

    # Fiber-connected anchors (backbone nodes, optionally existing towers).
    anc_xy: list[tuple[float, float]] = []
    anc_id: list[str] = []
    anc_h: list[float] = []
    if scenario.backbone is not None and len(scenario.backbone):
        b = scenario.backbone.to_crs(dem.crs)
        ids = b["node_id"].astype(str) if "node_id" in b.columns else b.index.astype(str)
        for g, i in zip(b.geometry, ids, strict=True):
            if g is not None and not g.is_empty:
                anc_xy.append((g.x, g.y))
                anc_id.append(f"backbone:{i}")
                anc_h.append(cm.anchor_mast_m)
    if towers_have_fiber and len(scenario.towers):
        t = scenario.towers.to_crs(dem.crs)
        hs = (
            t["height_m"].to_numpy(dtype=float)
            if "height_m" in t.columns
            else np.full(len(t), cm.anchor_mast_m)
        )
        for g, i, h in zip(t.geometry, t["tower_id"].astype(str), hs, strict=True):
            if g is not None and not g.is_empty:
                anc_xy.append((g.x, g.y))
                anc_id.append(f"tower:{i}")
                anc_h.append(float(h) if math.isfinite(h) else cm.anchor_mast_m)
    a_xy = np.array(anc_xy, dtype=np.float64).reshape(-1, 2)
    hop_m = cm.max_hop_km * 1000.0
    kind = np.full(n, "none", dtype=object)
    to = np.full(n, None, dtype=object)
    length = np.full(n, np.nan)
    vnd = np.full(n, np.inf)
    elev = dem.elevation_m
    heights = candidates["height_m"].to_numpy(dtype=float)
    ok = candidates["status"].to_numpy() == "ok"
    kind[upgrade] = "existing"
    vnd[upgrade] = 0.0
    # Microwave hop to the nearest anchor in clear line of sight.
    if len(a_xy):
        atree = cKDTree(a_xy)
        for j in np.flatnonzero(ok & ~upgrade):
            dq, kq_ = atree.query([cx[j], cy[j]], k=min(len(a_xy), 16), distance_upper_bound=hop_m)
            for dist, k in zip(np.atleast_1d(dq), np.atleast_1d(kq_), strict=True):
                if not math.isfinite(dist) or k >= len(a_xy):
                    break
                cl = fresnel_clearance(
                    dem,
                    (cx[j], cy[j]),
                    heights[j],
                    tuple(a_xy[k]),
                    anc_h[k],
                    freq_ghz=cm.microwave_freq_ghz,
                    k_factor=k_factor,
                    elevation_m=elev,
                )
                if cl >= cm.fresnel_clearance:
                    kind[j], to[j], length[j] = "microwave", anc_id[k], float(dist)
                    vnd[j] = cm.microwave_hop_vnd
                    break
    # Fiber spur along the roads to the nearest anchor, where cheaper.
    if len(a_xy):
        spur_m, spur_to = _fiber_spurs(scenario, cx, cy, a_xy, anc_id, cm)
        spur_vnd = (
            spur_m[:, 0] / 1000.0 * cm.fiber_vnd_per_km
            + spur_m[:, 1] / 1000.0 * cm.fiber_offroad_vnd_per_km
        )
        better = ok & ~upgrade & (spur_vnd < vnd)
        kind[better] = "fiber"
        to[better] = spur_to[better]
        length[better] = spur_m[better].sum(axis=1)
        vnd[better] = spur_vnd[better]

    # Relay neighbours: other candidates within a hop, in clear LOS.
    relay: list[list[int]] = [[] for _ in range(n)]
    okj = np.flatnonzero(ok)
    if okj.size > 1 and cm.relay_neighbours > 0:
        ctree = cKDTree(np.column_stack([cx[okj], cy[okj]]))
        kq = min(okj.size, int(cm.relay_neighbours) + 1)
        dd, kk = ctree.query(np.column_stack([cx[okj], cy[okj]]), k=kq, distance_upper_bound=hop_m)
        dd = np.asarray(dd).reshape(okj.size, kq)
        kk = np.asarray(kk).reshape(okj.size, kq)
        checked: dict[tuple[int, int], bool] = {}
        for a, j in enumerate(okj):
            for dist, b in zip(dd[a], kk[a], strict=True):
                if not math.isfinite(dist) or b >= okj.size:
                    continue
                k = int(okj[b])
                if k == j:
                    continue
                key = (min(j, k), max(j, k))
                if key not in checked:
                    checked[key] = (
                        fresnel_clearance(
                            dem,
                            (cx[j], cy[j]),
                            heights[j],
                            (cx[k], cy[k]),
                            heights[k],
                            freq_ghz=cm.microwave_freq_ghz,
                            k_factor=k_factor,
                            elevation_m=elev,
                        )
                        >= cm.fresnel_clearance
                    )
                if checked[key]:
                    relay[j].append(k)
    table = pd.DataFrame(
        {
            "capex_vnd": capex.astype(np.float64),
            "power_option": power_opt,
            "grid_distance_m": np.where(upgrade, 0.0, grid_d),
            "power_vnd": power_vnd.astype(np.float64),
            "backhaul_anchor": kind,
            "backhaul_to": to,
            "backhaul_length_m": length,
            "backhaul_vnd": vnd,
        }
    )
    return table, Backhaul(kind, to, length, vnd, relay)


def _fiber_spurs(
    scenario: Scenario,
    cx: np.ndarray,
    cy: np.ndarray,
    a_xy: np.ndarray,
    anc_id: list[str],
    cm: CostModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: (road metres, off-road metres) of the cheapest spur, and its anchor."""
    import networkx as nx

    n = cx.size
    off_only = (
        np.hypot(cx[:, None] - a_xy[None, :, 0], cy[:, None] - a_xy[None, :, 1])
        * cm.offroad_detour_factor
    )
    k_off = np.argmin(off_only, axis=1)
    best = np.column_stack([np.zeros(n), off_only[np.arange(n), k_off]])
    best_to = np.array([anc_id[k] for k in k_off], dtype=object)
    roads = scenario.roads
    if roads is None or not len(roads):
        return best, best_to
    g, vxy = _road_graph(roads, scenario.dem.crs)
    if not len(vxy):
        return best, best_to
    vtree = cKDTree(vxy)
    da, va = vtree.query(a_xy)
    # Multi-source Dijkstra from every anchor's road vertex (Dijkstra 1959);
    # each source starts at the anchor's off-road connector length.
    sources: dict[int, tuple[float, int]] = {}
    for k, (dist, v) in enumerate(zip(da, va, strict=True)):
        off = dist * cm.offroad_detour_factor
        if int(v) not in sources or off < sources[int(v)][0]:
            sources[int(v)] = (off, k)
    g2 = g.copy()
    src = -1
    for v, (off, _k) in sources.items():
        g2.add_edge(
            src,
            v,
            weight=off * cm.fiber_offroad_vnd_per_km / cm.fiber_vnd_per_km
            if cm.fiber_vnd_per_km > 0
            else 0.0,
        )
    dist_cost, paths = nx.single_source_dijkstra(g2, src, weight="weight")
    dc, vc = vtree.query(np.column_stack([cx, cy]))
    road_m = np.full(n, np.inf)
    off_m = np.full(n, np.inf)
    to = np.full(n, None, dtype=object)
    for j in range(n):
        v = int(vc[j])
        if v not in dist_cost:
            continue
        path = paths[v]
        first = path[1]
        off_a, k = sources[first]
        road = float(dist_cost[v]) - (
            off_a * cm.fiber_offroad_vnd_per_km / cm.fiber_vnd_per_km
            if cm.fiber_vnd_per_km > 0
            else 0.0
        )
        road_m[j] = road
        off_m[j] = off_a + dc[j] * cm.offroad_detour_factor
        to[j] = anc_id[k]
    via_road = road_m / 1000.0 * cm.fiber_vnd_per_km + off_m / 1000.0 * cm.fiber_offroad_vnd_per_km
    direct = best[:, 1] / 1000.0 * cm.fiber_offroad_vnd_per_km
    use = np.isfinite(via_road) & (via_road < direct)
    best[use, 0] = road_m[use]
    best[use, 1] = off_m[use]
    best_to[use] = to[use]
    return best, best_to


# --------------------------------------------------------------------------- problem and solvers


@dataclass
class PlacementProblem:
    """Everything a solver needs, as arrays.

    Attributes
    ----------
    cover : csr_matrix of bool, (n_candidates, n_targets)
        Candidate covers target village.
    weights : float64[n_targets]
        Weight of each target village (objective).
    base_vnd : float64[n_candidates]
        Capex + power.
    anchor_vnd : float64[n_candidates]
        Backhaul cost when anchored directly (microwave to a fiber site or
        fiber spur; 0 for upgrades); ``inf`` when impossible.
    relay_vnd : float
        Cost of a microwave hop to another selected, anchored site.
    neighbours : list of list of int
        LOS relay neighbours per candidate.
    selectable : bool[n_candidates]
        Candidate ``status == "ok"``.
    target_index : int64[n_targets]
        Row of each target in the village table.
    """

    cover: sp.csr_matrix
    weights: npt.NDArray[np.float64]
    base_vnd: npt.NDArray[np.float64]
    anchor_vnd: npt.NDArray[np.float64]
    relay_vnd: float
    neighbours: list[list[int]]
    selectable: npt.NDArray[np.bool_]
    target_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n(self) -> int:
        """Number of candidates."""
        return int(self.cover.shape[0])

    def value(self, chosen: Sequence[int]) -> float:
        """Covered weight of a selection."""
        if not len(chosen):
            return 0.0
        hit = np.asarray(self.cover[list(chosen)].sum(axis=0)).ravel() > 0
        return float(self.weights[hit].sum())

    def reverse_neighbours(self) -> list[list[int]]:
        """For each site k, the sites that may relay through k."""
        rev: list[list[int]] = [[] for _ in range(self.n)]
        for j, nb in enumerate(self.neighbours):
            for k in nb:
                rev[k].append(j)
        return rev

    def cost(self, modes: dict[int, tuple[str, int]]) -> float:
        """Total VND of a selection with its backhaul modes (``inf`` if infeasible).

        ``modes[j]`` is ``("anchor", -1)`` (microwave to a fiber site, fiber
        spur, or an existing site's own transmission) or ``("relay", k)``
        (a hop to chosen site ``k``, which must itself be anchored and in
        line of sight).
        """
        total = 0.0
        for j, (mode, k) in modes.items():
            if mode == "anchor":
                extra = self.anchor_vnd[j]
            elif k in modes and modes[k][0] == "anchor" and k in self.neighbours[j]:
                extra = self.relay_vnd
            else:
                return math.inf
            total += self.base_vnd[j] + extra
        return float(total)


@dataclass
class Solution:
    """A solver's answer."""

    chosen: list[int]
    modes: dict[int, tuple[str, int]]
    value: float
    cost_vnd: float
    solver: str
    bound: float = math.nan
    gap: float = math.nan
    elapsed_s: float = 0.0
    status: str = ""


def _budget_check(budget_towers: int | None, budget_vnd: float | None) -> None:
    if (budget_towers is None) == (budget_vnd is None):
        raise ParameterError("give exactly one of budget_towers and budget_vnd")
    if budget_towers is not None and budget_towers < 0:
        raise ParameterError(f"budget_towers was {budget_towers}; expected >= 0")
    if budget_vnd is not None and not (budget_vnd >= 0 and math.isfinite(budget_vnd)):
        raise ParameterError(f"budget_vnd was {budget_vnd}; expected >= 0")


def solve_greedy(
    prob: PlacementProblem,
    *,
    budget_towers: int | None = None,
    budget_vnd: float | None = None,
) -> Solution:
    """Lazy greedy (Minoux 1978) for the budgeted maximal covering problem.

    With a tower budget: add the site with the largest marginal covered
    weight, (1 - 1/e)-optimal (Nemhauser, Wolsey & Fisher 1978).  With a
    money budget: add the site with the largest marginal weight per VND that
    still fits, then return the better of that and the best single site
    (Khuller, Moss & Naor 1999).  Marginal gains only shrink as sites are
    added, so stale heap keys are upper bounds and only the top needs
    re-evaluating; a site's cost can drop when an anchored LOS neighbour is
    chosen (relay hop), so those neighbours are re-queued with fresh keys.
    A site with no backhaul of its own is offered as a pair with an
    anchored LOS neighbour (key: joint gain per tower or per VND).  The
    (1 - 1/e) guarantee holds for the problem without relay dependencies;
    with them greedy is a heuristic, and the MILP is the reference.
    """
    _budget_check(budget_towers, budget_vnd)
    t0 = time.perf_counter()
    A = prob.cover.tocsr()
    w = prob.weights
    covered = np.zeros(A.shape[1], dtype=bool)
    chosen: list[int] = []
    modes: dict[int, tuple[str, int]] = {}
    rev = prob.reverse_neighbours()
    anchored: set[int] = set()
    spent = 0.0
    by_money = budget_vnd is not None

    def cols_of(j: int) -> np.ndarray:
        return A.indices[A.indptr[j] : A.indptr[j + 1]]

    def plan(j: int) -> tuple[float, float, list[tuple[int, int]]]:
        """Best way to add ``j`` now: (gain, cost, [(site, relay parent or -1)]).

        ``j`` alone when it has its own backhaul or an anchored chosen
        neighbour; else ``j`` together with the LOS neighbour that gives the
        best joint gain, anchored, as its relay parent (a pair move).
        """
        cols = cols_of(j)
        g = float(w[cols[~covered[cols]]].sum())
        anchor = prob.anchor_vnd[j]
        via = next((k for k in prob.neighbours[j] if k in anchored), -1)
        relay = prob.relay_vnd if via >= 0 else math.inf
        if math.isfinite(min(anchor, relay)):
            if anchor <= relay:
                return g, prob.base_vnd[j] + anchor, [(j, -1)]
            return g, prob.base_vnd[j] + relay, [(j, via)]
        best: tuple[float, float, list[tuple[int, int]]] = (0.0, math.inf, [])
        for k in prob.neighbours[j]:
            if k in modes or not prob.selectable[k] or not math.isfinite(prob.anchor_vnd[k]):
                continue
            both = np.union1d(cols, cols_of(k))
            gk = float(w[both[~covered[both]]].sum())
            ck = prob.base_vnd[j] + prob.relay_vnd + prob.base_vnd[k] + prob.anchor_vnd[k]
            if gk > best[0] or (gk == best[0] and ck < best[1]):
                best = (gk, ck, [(k, -1), (j, k)])
        return best

    def key(j: int) -> float:
        g, c, steps = plan(j)
        if not steps:
            return 0.0
        if not by_money:
            return g / len(steps)
        return g / c if c > 0 else (math.inf if g > 0 else 0.0)

    stamp = np.zeros(prob.n, dtype=np.int64)
    heap = [(-key(j), j, 0) for j in range(prob.n) if prob.selectable[j]]
    heapq.heapify(heap)
    while heap:
        if budget_towers is not None and len(chosen) >= budget_towers:
            break
        negk, j, s = heapq.heappop(heap)
        if s != stamp[j] or j in modes:
            continue
        fresh = key(j)
        if fresh < -negk - 1e-12 * max(1.0, abs(negk)):
            stamp[j] += 1
            heapq.heappush(heap, (-fresh, j, int(stamp[j])))
            continue
        g, c, steps = plan(j)
        if fresh <= 0:
            break
        if (
            not steps
            or (by_money and spent + c > budget_vnd + 1e-6)
            or (budget_towers is not None and len(chosen) + len(steps) > budget_towers)
        ):
            continue  # may come back when a neighbour lowers its cost
        spent += c
        for site, parent in steps:
            chosen.append(site)
            modes[site] = ("anchor", -1) if parent < 0 else ("relay", parent)
            covered[cols_of(site)] = True
            if parent < 0:
                anchored.add(site)
                for k in rev[site]:
                    if k not in modes and prob.selectable[k]:
                        stamp[k] += 1
                        heapq.heappush(heap, (-key(k), k, int(stamp[k])))
    best = Solution(chosen, modes, prob.value(chosen), prob.cost(modes), "greedy")
    if by_money:
        # Khuller et al.: compare with the best affordable single site.
        single = prob.base_vnd + prob.anchor_vnd
        ok = np.flatnonzero(prob.selectable & (single <= budget_vnd + 1e-6))
        if ok.size:
            vals = np.asarray(A[ok].astype(np.float64) @ w).ravel()
            j = int(ok[int(np.argmax(vals))])
            if vals.max() > best.value:
                m1 = {j: ("anchor", -1)}
                best = Solution([j], m1, prob.value([j]), prob.cost(m1), "greedy")
    best.elapsed_s = time.perf_counter() - t0
    best.status = "heuristic"
    return best


def solve_milp(
    prob: PlacementProblem,
    *,
    budget_towers: int | None = None,
    budget_vnd: float | None = None,
    time_limit_s: float = 60.0,
    greedy: Solution | None = None,
) -> Solution:
    """Exact MILP (HiGHS via :func:`scipy.optimize.milp`) with a time limit.

    Variables: ``a_j`` (site j chosen and anchored: microwave to a fiber
    site, fiber spur, or existing site), ``r_j`` (chosen and relayed over a
    hop to an anchored chosen LOS neighbour), ``z_i`` in [0, 1] (target i
    covered).  Maximise ``sum w_i z_i`` subject to ``z_i <= sum_j A_ij (a_j
    + r_j)``, ``a_j + r_j <= 1``, ``r_j <= sum_{k in N(j)} a_k`` and the
    budget (``sum a + r <= N`` or ``sum cost_a a + cost_r r <= VND``).

    A second MILP then finds the cheapest selection reaching the first one's
    objective (budget and backhaul rules unchanged), and sites that still add
    nothing are dropped, so equal objectives go to the cheaper plan and no
    site is bought for nothing.  The answer is compared with ``greedy``
    (computed when not given) and the better selection is returned (more
    covered weight, or the same for less money), so the result is never
    worse than greedy in either; ``gap`` is ``(bound - value) / bound`` from
    HiGHS's dual bound of the first pass.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    _budget_check(budget_towers, budget_vnd)
    t0 = time.perf_counter()
    g = greedy or solve_greedy(prob, budget_towers=budget_towers, budget_vnd=budget_vnd)
    A = prob.cover.tocsr().astype(np.float64)
    w = prob.weights
    n = prob.n
    useful = np.flatnonzero(np.asarray(A.sum(axis=0)).ravel() > 0)
    A = A[:, useful]
    wu = w[useful]
    m = useful.size
    if m == 0 or n == 0:
        return Solution(
            g.chosen,
            g.modes,
            g.value,
            g.cost_vnd,
            "milp",
            g.value,
            0.0,
            time.perf_counter() - t0,
            "trivial",
        )
    can_a = prob.selectable & np.isfinite(prob.anchor_vnd)
    N = sp.lil_matrix((n, n))
    for j, nb in enumerate(prob.neighbours):
        for k in nb:
            N[j, k] = 1.0
    N = N.tocsr()
    can_r = prob.selectable & (np.asarray(N.sum(axis=1)).ravel() > 0)
    I_n = sp.identity(n, format="csr")
    I_m = sp.identity(m, format="csr")
    Z_nm = sp.csr_matrix((n, m))
    rows = [
        sp.hstack([-A.T, -A.T, I_m]),  # z_i <= covered by chosen
        sp.hstack([I_n, I_n, Z_nm]),  # a_j + r_j <= 1
        sp.hstack([-N, I_n, Z_nm]),  # r_j <= sum of anchored neighbours
    ]
    lo = [np.full(m, -np.inf), np.full(n, -np.inf), np.full(n, -np.inf)]
    hi = [np.zeros(m), np.ones(n), np.zeros(n)]
    ca = np.where(
        can_a, prob.base_vnd + np.where(np.isfinite(prob.anchor_vnd), prob.anchor_vnd, 0.0), 0.0
    )
    cr = np.where(can_r, prob.base_vnd + prob.relay_vnd, 0.0)
    # Money rows are scaled to O(1) coefficients (HiGHS tolerances are absolute).
    scale = max(float(budget_vnd or 0.0), float(ca.max(initial=0.0)),
                float(cr.max(initial=0.0)))
    scale = scale if scale > 0 else 1.0
    cost_row = np.concatenate([ca, cr, np.zeros(m)]) / scale
    if budget_towers is not None:
        rows.append(sp.csr_matrix(np.concatenate([np.ones(2 * n), np.zeros(m)])[None, :]))
        hi.append(np.array([float(budget_towers)]))
    else:
        rows.append(sp.csr_matrix(cost_row[None, :]))
        hi.append(np.array([float(budget_vnd) / scale]))
    lo.append(np.array([-np.inf]))
    cons = LinearConstraint(sp.vstack(rows).tocsr(), np.concatenate(lo), np.concatenate(hi))
    ub = np.concatenate([can_a.astype(float), can_r.astype(float), np.ones(m)])
    c = np.concatenate([np.zeros(2 * n), -wu])
    integrality = np.concatenate([np.ones(2 * n), np.zeros(m)])
    opts: dict[str, Any] = {"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False}
    bounds = Bounds(np.zeros(c.size), ub)
    res = milp(c, constraints=cons, integrality=integrality, bounds=bounds, options=opts)
    if res.status == 4:
        # HiGHS's presolve occasionally reports a solve error on small models
        # that solve fine without it (seen with scipy 1.17); retry once.
        left = max(1.0, float(time_limit_s) - (time.perf_counter() - t0))
        opts.update(presolve=False, time_limit=left)
        res = milp(c, constraints=cons, integrality=integrality, bounds=bounds, options=opts)
    bound = (
        -float(res.mip_dual_bound)
        if getattr(res, "mip_dual_bound", None) is not None and np.isfinite(res.mip_dual_bound)
        else math.nan
    )
    status = "optimal" if res.status == 0 else f"stopped: {res.message}"
    chosen, modes, value = g.chosen, g.modes, g.value
    g_cost = prob.cost(g.modes)
    source = "greedy (kept: the MILP found nothing better)"
    if res.x is not None and res.status == 0:
        # Second pass: the cheapest plan reaching that objective (the first
        # pass is indifferent to cost, and picked sites that add nothing).
        v1 = prob.value(_milp_pick(prob, res.x, n)[0])
        left = max(1.0, float(time_limit_s) - (time.perf_counter() - t0))
        keep = LinearConstraint(
            sp.csr_matrix(np.concatenate([np.zeros(2 * n), wu])[None, :]),
            np.array([v1 - 1e-9 * max(abs(v1), 1.0)]), np.array([np.inf]))
        res2 = milp(cost_row, constraints=[cons, keep], integrality=integrality, bounds=bounds,
                    options={**opts, "time_limit": left})
        if res2.x is not None and prob.value(_milp_pick(prob, res2.x, n)[0]) >= v1:
            res = res2
    if res.x is not None:
        pick, mm = _milp_pick(prob, res.x, n)
        pick, mm = _prune(prob, pick, mm)
        v = prob.value(pick)
        cost = prob.cost(mm)
        fits = math.isfinite(cost) and (
            (budget_towers is not None and len(pick) <= budget_towers)
            or (budget_vnd is not None and cost <= budget_vnd * (1 + 1e-12) + 1e-6)
        )
        # never worse than greedy: more covered weight, or as much for less money
        if fits and (v > value or (v == value and cost <= g_cost)):
            # Report in order of marginal gain, as greedy does.
            chosen, modes, value, source = _gain_order(prob, pick), mm, v, "milp"
    if res.status == 0 and source == "milp":
        bound = value
    gap = (bound - value) / bound if math.isfinite(bound) and bound > 0 else 0.0
    return Solution(
        chosen,
        modes,
        value,
        prob.cost(modes),
        "milp",
        bound,
        max(gap, 0.0),
        time.perf_counter() - t0,
        f"{status}; answer from {source}",
    )


def _milp_pick(prob: PlacementProblem, x: npt.NDArray[np.float64],
               n: int) -> tuple[list[int], dict[int, tuple[str, int]]]:
    """Chosen sites and their backhaul modes from a MILP solution vector."""
    xa = x[:n] > 0.5
    xr = x[n : 2 * n] > 0.5
    anchored = set(np.flatnonzero(xa).tolist())
    pick: list[int] = sorted(anchored | set(np.flatnonzero(xr).tolist()))
    mm: dict[int, tuple[str, int]] = {}
    for j in pick:
        if xa[j]:
            mm[j] = ("anchor", -1)
        else:
            mm[j] = ("relay", next((k for k in prob.neighbours[j] if k in anchored), -1))
    return pick, mm


def _prune(prob: PlacementProblem, pick: list[int], modes: dict[int, tuple[str, int]]
           ) -> tuple[list[int], dict[int, tuple[str, int]]]:
    """Drop chosen sites that add nothing to the objective (costliest first),
    unless a relayed site hops through them."""
    pick = list(pick)
    modes = dict(modes)
    full = prob.value(pick)
    for j in sorted(pick, key=lambda j: -(prob.base_vnd[j] + (
            prob.anchor_vnd[j] if modes[j][0] == "anchor" else prob.relay_vnd))):
        if any(m == "relay" and k == j for i, (m, k) in modes.items() if i != j):
            continue
        rest = [i for i in pick if i != j]
        if prob.value(rest) >= full:
            pick = rest
            del modes[j]
    return pick, modes


def _gain_order(prob: PlacementProblem, pick: list[int]) -> list[int]:
    """Order a selection by marginal covered weight (largest first)."""
    A = prob.cover.tocsr()
    covered = np.zeros(A.shape[1], dtype=bool)
    left = list(pick)
    out: list[int] = []
    while left:
        gains = []
        for j in left:
            cols = A.indices[A.indptr[j] : A.indptr[j + 1]]
            gains.append(float(prob.weights[cols[~covered[cols]]].sum()))
        k = int(np.argmax(gains))
        j = left.pop(k)
        out.append(j)
        covered[A.indices[A.indptr[j] : A.indptr[j + 1]]] = True
    return out


# --------------------------------------------------------------------------- end to end


@dataclass
class PlacementResult:
    """Outcome of :func:`optimize`.

    Attributes
    ----------
    sites : GeoDataFrame
        Chosen sites in selection order (EPSG:4326) with the candidate
        columns, the cost breakdown (``capex_vnd, power_option, power_vnd,
        backhaul, backhaul_to, backhaul_length_m, backhaul_vnd, total_vnd``)
        and the target villages each covers (``villages_covered``,
        ``village_ids``, ``population_covered``, ``households_covered``,
        ``new_villages`` = not already covered by earlier sites).
    candidates : GeoDataFrame
        Every candidate with its costs and ``n_targets_covered``.
    solution : Solution
        Solver output (value, bound, gap, status, time).
    covered_before, covered_after : int
        Covered villages now and predicted with the chosen sites.
    villages_total : int
        All villages.
    objective : str
        ``villages``, ``population`` or ``households``.
    baseline : AuditResult
        The audit of the existing towers.
    budget_towers, budget_vnd : int or float or None
        The budget given (one of them).
    """

    sites: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    solution: Solution
    covered_before: int
    covered_after: int
    villages_total: int
    objective: str
    baseline: AuditResult
    problem: PlacementProblem
    predicted_population: tuple[int, int] = (0, 0)
    predicted_households: tuple[int, int] = (0, 0)
    timings_s: dict[str, float] = field(default_factory=dict)
    budget_towers: int | None = None
    budget_vnd: float | None = None

    def summary_lines(self) -> list[str]:
        """``covered villages: X/Y → X'/Y`` and the rest of the report."""
        s = self.solution
        y = self.villages_total
        p0, p1 = self.predicted_population
        h0, h1 = self.predicted_households
        tot_p = int(self.baseline.summary["population_total"])
        tot_h = int(self.baseline.summary["households_total"])
        lines = [
            f"covered villages: {self.covered_before:,}/{y:,} → {self.covered_after:,}/{y:,}",
            f"covered population: {p0:,}/{tot_p:,} → {p1:,}/{tot_p:,}",
            f"covered households: {h0:,}/{tot_h:,} → {h1:,}/{tot_h:,}",
            f"sites chosen: {len(self.sites)} of {int((self.candidates['status'] == 'ok').sum())}"
            f" candidates; total cost {s.cost_vnd / 1e9:,.2f} billion VND",
            f"solver: {s.solver} ({s.status}); objective {self.objective} = {s.value:,.0f}"
            + (f", bound {s.bound:,.0f}, gap {100 * s.gap:.2f}%" if math.isfinite(s.bound) else ""),
        ]
        lines += self.stop_notes()
        ok = self.problem.selectable
        if ok.any() and not np.isfinite(self.problem.anchor_vnd[ok]).any():
            lines.append(
                "no candidate has backhaul: the scenario has no fiber-connected site "
                "(backbone nodes, or existing towers unless excluded)"
            )
        return lines


    def stop_notes(self) -> list[str]:
        """Why fewer sites were bought than the budget allows, when that is so.

        Targets whose weight is 0 (no population or households recorded)
        count for nothing in that objective, so the solver stops once no
        candidate reaches a target of positive weight; the note says so and
        names ``--objective villages``, which counts every village.
        """
        prob = self.problem
        w = prob.weights
        notes = []
        zero = int((w <= 0).sum())
        if self.objective != "villages" and zero:
            notes.append(
                f"{zero:,} of {w.size:,} target village(s) have {self.objective} 0 and count "
                f"for nothing in this objective; --objective villages counts every village"
            )
        A = prob.cover.tocsr()
        hit = np.zeros(A.shape[1], dtype=bool)
        for j in self.solution.chosen:
            hit[A.indices[A.indptr[j]:A.indptr[j + 1]]] = True
        chosen = set(self.solution.chosen)
        gains = [j for j in np.flatnonzero(prob.selectable) if j not in chosen
                 and (w[A.indices[A.indptr[j]:A.indptr[j + 1]]]
                      [~hit[A.indices[A.indptr[j]:A.indptr[j + 1]]]] > 0).any()]
        room = (len(chosen) < self.budget_towers if self.budget_towers is not None
                else self.budget_vnd is not None and self.solution.cost_vnd < self.budget_vnd)
        if room and not gains:
            left = int((~hit & (w > 0)).sum())
            why = ("every target village of positive weight is covered" if not left
                   else f"no other candidate reaches any of the {left:,} target village(s) "
                   "still uncovered")
            if self.objective != "villages" and zero:
                why += " (with --objective villages, villages of 0 count too)"
            notes.append(f"stopped after {len(chosen)} site(s) with budget left: {why}")
        return notes


def build_problem(
    baseline: AuditResult,
    candidates: gpd.GeoDataFrame,
    cover_all: sp.csr_matrix,
    table: pd.DataFrame,
    backhaul: Backhaul,
    *,
    objective: str,
    costs: CostModel,
) -> PlacementProblem:
    """Restrict the coverage matrix to target villages and attach weights and costs."""
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective was {objective!r}; expected one of {OBJECTIVES}")
    v = baseline.villages
    tgt = np.flatnonzero(v["status"].isin(TARGET_STATUSES).to_numpy())
    if objective == "villages":
        w = np.ones(tgt.size)
    else:
        w = v[objective].to_numpy(dtype=np.float64)[tgt]
    return PlacementProblem(
        cover=cover_all.tocsc()[:, tgt].tocsr(),
        weights=w,
        base_vnd=(table["capex_vnd"] + table["power_vnd"]).to_numpy(dtype=np.float64),
        anchor_vnd=table["backhaul_vnd"].to_numpy(dtype=np.float64),
        relay_vnd=costs.microwave_hop_vnd,
        neighbours=backhaul.relay_neighbours,
        selectable=(candidates["status"] == "ok").to_numpy(),
        target_index=tgt.astype(np.int64),
    )


def optimize(
    scenario: Scenario,
    *,
    budget_towers: int | None = None,
    budget_vnd: float | None = None,
    objective: str = "population",
    solver: str = "greedy",
    candidates: gpd.GeoDataFrame | None = None,
    costs: CostModel | None = None,
    params: EngineParams | None = None,
    thresholds: Thresholds | None = None,
    baseline: AuditResult | None = None,
    towers_have_fiber: bool = True,
    time_limit_s: float = 60.0,
    n_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    candidate_options: dict[str, Any] | None = None,
) -> PlacementResult:
    """Choose new sites that cover the most weight of dead/marginal villages.

    Parameters
    ----------
    scenario : Scenario
        Inputs (DEM, villages, communes, towers, roads, backbone).
    budget_towers, budget_vnd : int or float
        Exactly one: the number of new sites, or the money (VND).
    objective : str
        ``villages``, ``population`` or ``households``.
    solver : str
        ``greedy`` or ``milp`` (the MILP keeps greedy's answer when it is
        not better).
    candidates : GeoDataFrame, optional
        Candidate sites (default: :func:`candidate_sites` with
        ``candidate_options``).
    costs : CostModel, optional
        Prices and backhaul rules.
    params : EngineParams, optional
        Propagation engine parameters (the audit's).
    thresholds : Thresholds, optional
        Status thresholds.
    baseline : AuditResult, optional
        Audit of the existing towers (computed when omitted).
    towers_have_fiber : bool
        Existing towers count as fiber-connected sites for backhaul.
    time_limit_s : float
        MILP time limit (s).
    n_threads : int, optional
        Threads for the coverage matrix.
    progress : callable, optional
        ``progress(done, total)`` while candidates are computed.

    Returns
    -------
    PlacementResult
    """
    _budget_check(budget_towers, budget_vnd)
    if solver not in SOLVERS:
        raise ParameterError(f"solver was {solver!r}; expected one of {SOLVERS}")
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective was {objective!r}; expected one of {OBJECTIVES}")
    p = params or EngineParams()
    thr = thresholds or Thresholds()
    cm = costs or CostModel()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    if baseline is None:
        baseline = audit(
            scenario,
            model=p.model,
            radius_km=p.radius_km,
            rx_height_m=p.rx_height_m,
            thresholds=thr,
            itm=p.itm,
            n_threads=n_threads,
        )
    timings["baseline_audit"] = time.perf_counter() - t
    t = time.perf_counter()
    if candidates is None:
        candidates = candidate_sites(scenario, baseline=baseline, **(candidate_options or {}))
    elif "status" not in candidates.columns:
        base = candidates.copy()
        for col, val in (
            ("source", "user"),
            ("tech", "4G"),
            ("existing_tower_id", None),
            ("candidate_id", ""),
        ):
            if col not in base.columns:
                base[col] = val
        for col, name in (
            ("freq_mhz", "freq_mhz"),
            ("eirp_dbm", "eirp_dbm"),
            ("height_m", "height_m"),
        ):
            if col not in base.columns:
                base[col] = [getattr(TOWER_DEFAULTS[str(tk)], name) for tk in base["tech"]]
        candidates = _finish_candidates(base.to_crs(4326), scenario.dem, None)
    timings["candidates"] = time.perf_counter() - t
    t = time.perf_counter()
    target_mask = baseline.villages["status"].isin(TARGET_STATUSES).to_numpy()
    cover_all = coverage_matrix(
        scenario,
        candidates,
        params=p,
        thresholds=thr,
        villages_mask=target_mask,
        n_threads=n_threads,
        progress=progress,
    )
    timings["coverage_matrix"] = time.perf_counter() - t
    t = time.perf_counter()
    table, backhaul = site_costs(
        scenario, candidates, costs=cm, towers_have_fiber=towers_have_fiber, k_factor=p.k_factor
    )
    timings["costs"] = time.perf_counter() - t
    prob = build_problem(
        baseline, candidates, cover_all, table, backhaul, objective=objective, costs=cm
    )
    t = time.perf_counter()
    g = solve_greedy(prob, budget_towers=budget_towers, budget_vnd=budget_vnd)
    sol = (
        g
        if solver == "greedy"
        else solve_milp(
            prob,
            budget_towers=budget_towers,
            budget_vnd=budget_vnd,
            time_limit_s=time_limit_s,
            greedy=g,
        )
    )
    timings["solve"] = time.perf_counter() - t
    res = _result(scenario, baseline, candidates, table, prob, sol, objective, timings)
    res.budget_towers, res.budget_vnd = budget_towers, budget_vnd
    return res


def _result(
    scenario: Scenario,
    baseline: AuditResult,
    candidates: gpd.GeoDataFrame,
    table: pd.DataFrame,
    prob: PlacementProblem,
    sol: Solution,
    objective: str,
    timings: dict[str, float],
) -> PlacementResult:
    v = baseline.villages
    tgt = prob.target_index
    cand = candidates.copy()
    for col in table.columns:
        cand[col] = table[col].to_numpy()
    cand["n_targets_covered"] = np.diff(prob.cover.indptr)
    modes = sol.modes
    covered = np.zeros(tgt.size, dtype=bool)
    rows = []
    ids = cand["candidate_id"].to_numpy()
    for j in sol.chosen:
        cols = prob.cover.indices[prob.cover.indptr[j] : prob.cover.indptr[j + 1]]
        new = cols[~covered[cols]]
        covered[cols] = True
        vi = tgt[cols]
        mode, via = modes[j]
        if mode == "relay":
            bh, bh_to, bh_len = "microwave_relay", str(ids[via]), math.nan
            bh_vnd = prob.relay_vnd
        else:
            bh, bh_to = table["backhaul_anchor"].iloc[j], table["backhaul_to"].iloc[j]
            bh_len, bh_vnd = table["backhaul_length_m"].iloc[j], table["backhaul_vnd"].iloc[j]
        total = float(table["capex_vnd"].iloc[j] + table["power_vnd"].iloc[j] + bh_vnd)
        rows.append(
            {
                "j": j,
                "backhaul": bh,
                "backhaul_to": bh_to,
                "backhaul_length_m": bh_len,
                "backhaul_vnd": float(bh_vnd),
                "total_vnd": total,
                "villages_covered": int(cols.size),
                "new_villages": int(new.size),
                "village_ids": ";".join(v["village_id"].iloc[vi].astype(str)),
                "population_covered": int(v["population"].iloc[vi].sum()),
                "households_covered": int(v["households"].iloc[vi].sum()),
            }
        )
    extra = pd.DataFrame(
        rows,
        columns=[
            "j",
            "backhaul",
            "backhaul_to",
            "backhaul_length_m",
            "backhaul_vnd",
            "total_vnd",
            "villages_covered",
            "new_villages",
            "village_ids",
            "population_covered",
            "households_covered",
        ],
    )
    base_cols = [
        c
        for c in cand.columns
        if c
        not in (
            "backhaul_anchor",
            "backhaul_to",
            "backhaul_length_m",
            "backhaul_vnd",
            "n_targets_covered",
        )
    ]
    sites = cand.iloc[extra["j"].to_numpy(dtype=np.int64)][base_cols].reset_index(drop=True)
    sites.insert(0, "rank", np.arange(1, len(sites) + 1))
    sites["lon"] = sites.geometry.x
    sites["lat"] = sites.geometry.y
    for col in extra.columns[1:]:
        sites[col] = extra[col].to_numpy()
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=4326)
    was = (v["status"] == "covered").to_numpy()
    after = was.copy()
    after[tgt[covered]] = True
    return PlacementResult(
        sites=sites,
        candidates=cand,
        solution=sol,
        covered_before=int(was.sum()),
        covered_after=int(after.sum()),
        villages_total=len(v),
        objective=objective,
        baseline=baseline,
        problem=prob,
        predicted_population=(int(v["population"][was].sum()), int(v["population"][after].sum())),
        predicted_households=(int(v["households"][was].sum()), int(v["households"][after].sum())),
        timings_s=timings,
    )
