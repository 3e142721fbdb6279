"""Candidate sites for new towers (user lists, DEM peaks and ridges, high
ground near dead villages, commune centres, existing masts) and the
candidate x village coverage matrix from the exact tower -> village paths
(the audit's own engine, so the predicted gain equals the re-audit)."""

from __future__ import annotations

import math
from collections.abc import Callable
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
from deadzone.geo.audit import AuditResult
from deadzone.geo.coverage import towers_on_grid
from deadzone.geo.paths import village_points, village_signals
from deadzone.geo.whatif import EngineParams
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TECHS, TOWER_DEFAULTS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "TARGET_STATUSES",
    "candidate_sites",
    "candidate_towers",
    "coverage_matrix",
]

#: Statuses whose villages the optimizer tries to cover.
TARGET_STATUSES: tuple[str, ...] = ("dead", "marginal")


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
    unlisted: gpd.GeoDataFrame | None = None,
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
    unlisted : GeoDataFrame, optional
        Unlisted settlements (:func:`deadzone.geo.settlements.unlisted_settlements`,
        for ``place --objective people``): with ``near_dead``, the highest
        cell within ``near_dead_radius_m`` of each dead or marginal one's
        centroid too (source ``near_unlisted``, after ``near_dead``).

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
    targets: list[tuple[str, gpd.GeoSeries]] = []
    if near_dead:
        if baseline is None:
            raise ParameterError("near_dead candidates need the baseline audit")
        v = baseline.villages
        targets.append(("near_dead", v.geometry[v["status"].isin(TARGET_STATUSES)]))
        if unlisted is not None and len(unlisted):
            u = unlisted[unlisted["status"].isin(TARGET_STATUSES)]
            targets.append(("near_unlisted",
                            gpd.GeoSeries(gpd.points_from_xy(u["lon"], u["lat"]), crs=4326)))
    for source, tgt in targets:
        if len(tgt):
            p = tgt.representative_point().to_crs(dem.crs)
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
            auto_src += [source] * len(xs)
            auto_pri.append(np.full(len(xs), 0.0))  # near-dead villages first (index order)
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
            for name in ("near_dead", "near_unlisted", "peak", "ridge", "commune_centre")
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
