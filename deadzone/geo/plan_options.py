"""The ways to connect each dead or marginal village, each priced over the
planning horizon (issue 20): a new macro site or a new radio on an existing
mast, a low-power site at the village, or a satellite terminal.

Every terrestrial option's coverage comes from the exact-path engine of the
audit (:func:`deadzone.geo.sites.coverage_matrix`: the site -> village
profile, the same model and thresholds), so a re-audit with the planned
sites reproduces the plan's covered counts.  Each option is priced as three
parts, each the cheapest over the horizon (present value at year 0,
:func:`deadzone.model.lifecycle.lifetime_cost`):

* **equipment**: mast and radio (or a radio on an existing mast, or a pole
  with a small cell), its maintenance, the radio's replacement;
* **power**: a grid line to the nearest grid-powered village or tower (its
  build cost, then electricity for the site's load) or off-grid solar sized
  for the load (:func:`deadzone.model.lifecycle.size_solar`: modules,
  battery and its replacements);
* **backhaul**: a microwave hop with 60% of the first Fresnel zone clear to
  a fiber-connected site, a fiber spur along the roads
  (:func:`deadzone.geo.site_costs.site_costs`), or for a low-power site a
  repeater's donor link from an existing tower of its technology whose
  signal at the pole, with the donor antenna's gain, reaches
  ``donor_min_dbm`` (computed with the engine at the pole's height).

A satellite terminal connects its own village only (no mobile signal).  It
is offered only where it costs less per household over the horizon than
every terrestrial option that covers the village (the option's present
value over the households of the target villages it covers), so the plan
never buys satellite where a terrestrial option covering the village is
cheaper per household.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

from deadzone.geo.audit import AuditResult
from deadzone.geo.coverage import towers_on_grid
from deadzone.geo.paths import VillagePoints, village_points, village_signals
from deadzone.geo.site_costs import CostModel, _fiber_spurs, site_costs
from deadzone.geo.sites import TARGET_STATUSES, _finish_candidates, coverage_matrix
from deadzone.geo.whatif import EngineParams
from deadzone.model.lifecycle import lifetime_cost, size_solar
from deadzone.model.plan_costs import PlanCosts
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TOWER_DEFAULTS
from deadzone.model.thresholds import Thresholds

__all__ = ["OPTION_KINDS", "PlanOptions", "plan_options"]

F64 = npt.NDArray[np.float64]

#: Kinds of option, terrestrial first.
OPTION_KINDS: tuple[str, ...] = ("macro", "upgrade", "small_cell", "satellite")

#: Columns of :attr:`PlanOptions.table`, in order (besides ``geometry``).
OPTION_COLUMNS: tuple[str, ...] = (
    "option_id", "kind", "source", "village_id", "lon", "lat", "tech", "freq_mhz",
    "eirp_dbm", "height_m", "existing_tower_id", "elevation_m", "power_option",
    "grid_distance_m", "pv_kwp", "battery_kwh", "backhaul", "backhaul_to",
    "backhaul_length_m", "donor_dbm", "terminals", "equipment_capex_vnd", "power_capex_vnd",
    "backhaul_capex_vnd", "earliest_year_index", "irradiation_kwh_m2_day",
    "hop_clearance_f1", "hop_availability_pct", "hop_fade_margin_db", "capex_vnd",
    "opex_vnd_per_year", "npv_vnd", "targets_covered",
)
#: The microwave hop's check (:func:`deadzone.geo.site_costs.microwave_hops`):
#: worst clearance in F1 radii, availability (%), fade margin (dB).
HOP_COLUMNS: tuple[str, ...] = ("hop_clearance_f1", "hop_availability_pct",
                                "hop_fade_margin_db")


@dataclass
class PlanOptions:
    """Priced options and the target villages each connects.

    Attributes
    ----------
    table : GeoDataFrame
        One row per option (EPSG:4326 points), :data:`OPTION_COLUMNS`:
        ``kind`` (macro / upgrade / small_cell / satellite), the radio,
        the power option (``existing``, ``grid``, ``solar``) with the grid
        line's length or the PV and battery size, the backhaul
        (``existing``, ``donor``, ``microwave``, ``fiber``, ``satellite``)
        with its far end and length, the build cost by part, the yearly
        running cost and ``npv_vnd``, the present value of building it in
        the plan's first year.
    cover : scipy.sparse.csr_matrix of bool, (n_options, n_targets)
        Which target villages each option connects.
    target_index : int64[n_targets]
        The targets' rows in the audit's village table (dead or marginal).
    capex_vnd, opex_vnd_per_year : float64[n_options]
        Build cost and yearly running cost (VND of year 0).
    replacements : list of tuple of (age_years, cost_vnd)
        Equipment each option replaces within the horizon.
    dropped : DataFrame
        Candidate sites that are not options, with the reason
        (``outside_dem``, ``excluded``, ``covers_no_target``, ``no_backhaul``).
    earliest : int64[n_options]
        First plan year (index) an option can be built: 0, or for a site
        fed by the planned fiber, the year its route is laid.
    group : int64[n_options]
        Variants of one site (now with its own backhaul, later on the
        planned fiber) share a group; -1 for an option on its own.
    timings_s : dict
        Seconds per stage.
    """

    table: gpd.GeoDataFrame
    cover: sp.csr_matrix
    target_index: npt.NDArray[np.int64]
    capex_vnd: F64
    opex_vnd_per_year: F64
    replacements: list[tuple[tuple[float, float], ...]]
    dropped: pd.DataFrame
    earliest: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    group: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of options."""
        return len(self.table)


def _small_cell_sites(
    scenario: Scenario, baseline: AuditResult, targets: npt.NDArray[np.int64], costs: PlanCosts,
    vp: VillagePoints,
) -> gpd.GeoDataFrame:
    """A low-power site candidate at each target village's point (``vp``: the
    audit's village points, :func:`deadzone.geo.paths.village_points`)."""
    sc = costs.small_cell
    dem = scenario.dem
    ok = vp.ok[targets]
    t = targets[ok]
    pts = gpd.GeoSeries(gpd.points_from_xy(vp.x_m[t], vp.y_m[t]), crs=dem.crs).to_crs(4326)
    ids = baseline.villages["village_id"].astype(str).to_numpy()[t]
    d = TOWER_DEFAULTS[sc.tech]
    return gpd.GeoDataFrame(
        {
            "candidate_id": [f"SC-{i}" for i in ids],
            "source": "small_cell",
            "tech": sc.tech,
            "freq_mhz": d.freq_mhz,
            "eirp_dbm": sc.eirp_dbm,
            "height_m": sc.height_m,
            "existing_tower_id": None,
            "village_id": ids,
        },
        geometry=pts.to_numpy(),
        crs=4326,
    )


def _donor_dbm(
    scenario: Scenario, sites: gpd.GeoDataFrame, *, params: EngineParams,
    thresholds: Thresholds, tech: str,
) -> F64:
    """Best signal (the technology's metric, dBm) of an existing ``tech`` tower
    at each site, at the site's antenna height, from the exact-path engine."""
    out = np.full(len(sites), -np.inf)
    towers = scenario.towers
    if not len(sites) or not len(towers) or not (towers["tech"].astype(str) == tech).any():
        return out
    dem = scenario.dem
    grid = towers_on_grid(towers[towers["tech"].astype(str) == tech], dem)
    p = sites.geometry.to_crs(dem.crs)
    heights = np.unique(sites["height_m"].to_numpy(dtype=float))
    for h in heights:  # one height per kind of site in practice
        sel = sites["height_m"].to_numpy(dtype=float) == h
        sig = village_signals(
            dem, grid, np.where(sel, p.x.to_numpy(), np.nan), np.where(sel, p.y.to_numpy(), np.nan),
            params=replace(params, rx_height_m=float(min(max(h, 0.5), 100.0))),
            thresholds=thresholds,
        )
        m = sig.metric_dbm.get(tech)
        if m is not None:
            out[sel] = np.where(np.isfinite(m[sel]), m[sel], -np.inf)
    return out


def _cheapest(
    choices: list[tuple[str, float, float, tuple[tuple[float, float], ...]]], costs: PlanCosts
) -> tuple[str, float, float, tuple[tuple[float, float], ...], float]:
    """The choice ``(name, capex, opex, replacements)`` of the lowest present
    value over the horizon (built in year 0), with that value; the first on a tie."""
    best = None
    for name, capex, opex, repl in choices:
        v = lifetime_cost(capex, opex, finance=costs.finance, replacements=repl)
        if best is None or v < best[4]:
            best = (name, capex, opex, repl, v)
    assert best is not None
    return best


def plan_options(
    scenario: Scenario,
    baseline: AuditResult,
    candidates: gpd.GeoDataFrame,
    *,
    site_prices: CostModel | None = None,
    costs: PlanCosts | None = None,
    params: EngineParams | None = None,
    thresholds: Thresholds | None = None,
    towers_have_fiber: bool = True,
    planned_fiber: gpd.GeoDataFrame | None = None,
    irradiation: Callable[[F64, F64], F64] | None = None,
    progress: Any = None,
) -> PlanOptions:
    """Every option of every dead or marginal village, priced over the horizon.

    Parameters
    ----------
    scenario : Scenario
        DEM, villages (``has_grid_power``), towers, roads, backbone.
    baseline : AuditResult
        Audit of the existing towers (its ``status`` picks the targets).
    candidates : GeoDataFrame
        Macro site candidates (:func:`deadzone.geo.sites.candidate_sites`).
    site_prices : CostModel, optional
        Build prices of sites, grid lines, microwave hops and fiber.
    costs : PlanCosts, optional
        Running costs, solar design, small cell, satellite, finance.
    params : EngineParams, optional
        Engine settings (the audit's).
    thresholds : Thresholds, optional
        Covered thresholds.
    towers_have_fiber : bool
        Existing towers are fiber-connected (hop and spur anchors).
    planned_fiber : GeoDataFrame, optional
        Points along the routes of a fiber plan (``anchor_id``,
        ``year_index``: the plan year the route is laid): a site may also
        hang on them by a spur along the roads, from that year
        (:func:`deadzone.app.plan.fiber_plan_anchors`).
    irradiation : callable, optional
        ``irradiation(lon, lat)`` -> design irradiation (kWh/m²/day) at each
        site, NaN where unknown (e.g. sampled from a raster); the ``[solar]``
        constant where NaN or not given.
    progress : callable, optional
        ``progress(done, total)`` while coverage is computed.

    Returns
    -------
    PlanOptions
    """
    import time

    cm = site_prices or CostModel()
    pc = costs or PlanCosts()
    p = params or EngineParams()
    thr = thresholds or Thresholds()
    ops = pc.operations
    timings: dict[str, float] = {}
    v = baseline.villages
    target_mask = v["status"].isin(TARGET_STATUSES).to_numpy()
    targets = np.flatnonzero(target_mask).astype(np.int64)
    vp = village_points(scenario.villages, scenario.dem)

    t0 = time.perf_counter()
    macro = candidates.copy()
    if "village_id" not in macro.columns:
        macro["village_id"] = None
    parts = [macro]
    if pc.small_cell.enabled and targets.size:
        parts.append(_finish_candidates(_small_cell_sites(scenario, baseline, targets, pc, vp),
                                        scenario.dem, None))
    allc = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=4326)
    allc = allc.reset_index(drop=True)
    small = (allc["source"] == "small_cell").to_numpy()
    cover_all = coverage_matrix(scenario, allc, params=p, thresholds=thr,
                                villages_mask=target_mask, progress=progress)
    cover = cover_all.tocsc()[:, targets].tocsr()
    timings["coverage"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    table, bh = site_costs(scenario, allc, costs=replace(cm, relay_neighbours=0),
                           towers_have_fiber=towers_have_fiber, k_factor=p.k_factor)
    donor = np.full(len(allc), -np.inf)
    if small.any():
        donor[small] = _donor_dbm(scenario, allc[small], params=p, thresholds=thr,
                                  tech=pc.small_cell.tech)
    timings["costs"] = time.perf_counter() - t0

    planned = None
    if planned_fiber is not None and len(planned_fiber):
        pf = planned_fiber.to_crs(scenario.dem.crs)
        a_xy = np.column_stack([pf.geometry.x.to_numpy(), pf.geometry.y.to_numpy()])
        cxy = allc.geometry.to_crs(scenario.dem.crs)
        spur, to = _fiber_spurs(scenario, cxy.x.to_numpy(), cxy.y.to_numpy(), a_xy,
                                list(pf["anchor_id"].astype(str)), cm)
        year_of = dict(zip(pf["anchor_id"].astype(str), pf["year_index"].astype(int),
                           strict=True))
        planned = (spur[:, 0], spur[:, 1], to,
                   np.array([year_of.get(str(t), 0) for t in to], dtype=np.int64))
    irr = np.full(len(allc), pc.solar.irradiation_kwh_m2_day)
    if irradiation is not None and len(allc):
        got = np.asarray(irradiation(allc.geometry.x.to_numpy(), allc.geometry.y.to_numpy()),
                         dtype=np.float64)
        irr = np.where(np.isfinite(got) & (got > 0), got, irr)
    n_cov = np.diff(cover.indptr)
    upgrade = (table["power_option"] == "existing").to_numpy()
    rows: list[dict[str, Any]] = []
    keep: list[int] = []
    earliest: list[int] = []
    group: list[int] = []
    dropped: list[dict[str, Any]] = []
    capex: list[float] = []
    opex: list[float] = []
    repl: list[tuple[tuple[float, float], ...]] = []
    sc = pc.small_cell
    sol = pc.solar
    for j in range(len(allc)):
        cid = str(allc["candidate_id"].iloc[j])
        if allc["status"].iloc[j] != "ok":
            dropped.append({"candidate_id": cid, "reason": str(allc["status"].iloc[j])})
            continue
        if n_cov[j] == 0:
            dropped.append({"candidate_id": cid, "reason": "covers_no_target"})
            continue
        kind = "small_cell" if small[j] else ("upgrade" if upgrade[j] else "macro")
        # equipment
        if kind == "upgrade":
            eq = (cm.upgrade_capex_vnd, ops.upgrade_om_vnd_per_year,
                  ((ops.radio_life_years, ops.radio_replacement_vnd),))
            load = ops.upgrade_load_w
        elif kind == "macro":
            eq = (cm.tower_capex_vnd, ops.macro_om_vnd_per_year,
                  ((ops.radio_life_years, ops.radio_replacement_vnd),))
            load = ops.macro_load_w
        else:
            eq = (sc.capex_vnd, ops.small_cell_om_vnd_per_year, ())
            load = ops.small_cell_load_w
        # power
        grid_d = float(table["grid_distance_m"].iloc[j])
        pv_kwp = battery_kwh = math.nan
        if kind == "upgrade":
            power = ("existing", 0.0, ops.electricity_vnd_per_year(load), ())
        else:
            choices = []
            if math.isfinite(grid_d):
                choices.append(("grid", grid_d / 1000.0 * cm.grid_line_vnd_per_km
                                + cm.grid_connection_vnd, ops.electricity_vnd_per_year(load), ()))
            design = size_solar(load, irradiation_kwh_m2_day=float(irr[j]),
                                autonomy_days=sol.autonomy_days, prices=sol.prices)
            choices.append(("solar", design.capex_vnd, design.opex_vnd_per_year,
                            ((design.battery_life_years, design.battery_replacement_vnd),)))
            power = _cheapest(choices, pc)[:4]
            if power[0] == "solar":
                pv_kwp, battery_kwh = design.pv_kwp, design.battery_kwh
        # backhaul
        bchoices: list[tuple[str, float, float, tuple[tuple[float, float], ...]]] = []
        hop = (math.nan, math.nan, math.nan)
        far: dict[str, tuple[Any, float]] = {}
        if kind == "upgrade":
            bchoices.append(("existing", 0.0, 0.0, ()))
            far["existing"] = (allc["existing_tower_id"].iloc[j], 0.0)
        else:
            if kind == "small_cell" and donor[j] + sc.donor_gain_dbi >= sc.donor_min_dbm:
                bchoices.append(("donor", sc.donor_kit_vnd, 0.0, ()))
                far["donor"] = ("best tower of " + sc.tech, math.nan)
            assert bh.microwave_to is not None and bh.fiber_road_m is not None
            assert bh.fiber_offroad_m is not None and bh.fiber_to is not None
            if bh.microwave_to[j] is not None:
                bchoices.append(("microwave", cm.microwave_hop_vnd,
                                 ops.microwave_om_vnd_per_year, ()))
                far["microwave"] = (bh.microwave_to[j], float(bh.microwave_length_m[j]))
                assert bh.microwave_clearance_f1 is not None
                assert bh.microwave_availability_pct is not None
                assert bh.microwave_fade_margin_db is not None
                hop = (float(bh.microwave_clearance_f1[j]),
                       float(bh.microwave_availability_pct[j]),
                       float(bh.microwave_fade_margin_db[j]))
            road, off = float(bh.fiber_road_m[j]), float(bh.fiber_offroad_m[j])
            if math.isfinite(road) and math.isfinite(off):
                fc = (road / 1000.0 * cm.fiber_vnd_per_km
                      + off / 1000.0 * cm.fiber_offroad_vnd_per_km)
                bchoices.append(("fiber", fc, fc * ops.fiber_om_share_per_year, ()))
                far["fiber"] = (bh.fiber_to[j], road + off)
        # a variant on the planned fiber: a spur to a route of the fiber plan,
        # buildable from the year that route is laid, when cheaper than the rest
        variants: list[tuple[str, int, tuple[Any, ...], dict[str, tuple[Any, float]]]] = []
        if bchoices:
            variants.append((cid, 0, _cheapest(bchoices, pc), far))
        if planned is not None and kind != "upgrade" and math.isfinite(planned[0][j]):
            road, off, to, year = planned[0][j], planned[1][j], planned[2][j], planned[3][j]
            fc = road / 1000.0 * cm.fiber_vnd_per_km + off / 1000.0 * cm.fiber_offroad_vnd_per_km
            alt = _cheapest([("planned_fiber", fc, fc * ops.fiber_om_share_per_year, ())], pc)
            if not variants or alt[4] < variants[0][2][4]:
                variants.append((f"{cid}+{to}", int(year), alt,
                                 {"planned_fiber": (to, road + off)}))
        if not variants:
            dropped.append({"candidate_id": cid, "reason": "no_backhaul"})
            continue
        g = allc.geometry.iloc[j]
        for oid, year, back, far_v in variants:
            keep.append(j)
            earliest.append(year)
            group.append(j if len(variants) > 1 else -1)
            capex.append(eq[0] + power[1] + back[1])
            opex.append(eq[1] + power[2] + back[2])
            repl.append(tuple(eq[2]) + tuple(power[3]) + tuple(back[3]))
            rows.append({
                "option_id": oid, "kind": kind, "source": str(allc["source"].iloc[j]),
                "village_id": allc["village_id"].iloc[j], "lon": g.x, "lat": g.y,
                "tech": str(allc["tech"].iloc[j]), "freq_mhz": float(allc["freq_mhz"].iloc[j]),
                "eirp_dbm": float(allc["eirp_dbm"].iloc[j]),
                "height_m": float(allc["height_m"].iloc[j]),
                "existing_tower_id": allc["existing_tower_id"].iloc[j],
                "elevation_m": float(allc["elevation_m"].iloc[j]),
                "power_option": power[0],
                "grid_distance_m": 0.0 if kind == "upgrade" else grid_d,
                "pv_kwp": pv_kwp, "battery_kwh": battery_kwh,
                "backhaul": back[0], "backhaul_to": far_v[back[0]][0],
                "backhaul_length_m": far_v[back[0]][1],
                "donor_dbm": float(donor[j]) if math.isfinite(donor[j]) else math.nan,
                "terminals": 0, "equipment_capex_vnd": eq[0], "power_capex_vnd": power[1],
                "backhaul_capex_vnd": back[1], "earliest_year_index": year,
                "irradiation_kwh_m2_day": float(irr[j]),
                **dict(zip(HOP_COLUMNS, hop if back[0] == "microwave" else
                           (math.nan,) * 3, strict=True)),
            })
    terr_cover = cover[np.asarray(keep, dtype=np.int64)] if keep else sp.csr_matrix(
        (0, targets.size), dtype=bool)
    npv_all = [lifetime_cost(c, o, finance=pc.finance, replacements=r)
               for c, o, r in zip(capex, opex, repl, strict=True)]  # + each satellite's
    npv_terr = np.array(npv_all)

    # satellite where no terrestrial option covering the village is cheaper per
    # household (the option's present value over the target households it covers)
    sat_rows: list[int] = []
    if pc.satellite.enabled and targets.size:
        s = pc.satellite
        hh = np.maximum(v["households"].to_numpy(dtype=np.float64)[targets], 1.0)
        hh = np.where(np.isfinite(hh), hh, 1.0)
        best_terr = np.full(targets.size, np.inf)
        if terr_cover.nnz:
            per_hh = npv_terr / np.maximum(terr_cover.astype(np.float64) @ hh, 1.0)
            coo = terr_cover.tocoo()
            np.minimum.at(best_terr, coo.col, per_hh[coo.row])
        lonlat = gpd.GeoSeries(gpd.points_from_xy(vp.x_m[targets], vp.y_m[targets]),
                               crs=scenario.dem.crs).to_crs(4326)
        ids = v["village_id"].astype(str).to_numpy()[targets]
        for k in range(targets.size):
            n_term = s.terminals(hh[k])
            c, o = n_term * s.terminal_vnd, n_term * s.fee_vnd_per_year
            r = ((s.terminal_life_years, n_term * s.terminal_vnd),)
            val = lifetime_cost(c, o, finance=pc.finance, replacements=r)
            if not val / hh[k] < best_terr[k]:
                continue
            pt = lonlat.iloc[k]  # targets have a status, so a point on the DEM
            sat_rows.append(k)
            npv_all.append(val)
            earliest.append(0)
            group.append(-1)
            capex.append(c)
            opex.append(o)
            repl.append(r)
            rows.append({
                "option_id": f"SAT-{ids[k]}", "kind": "satellite", "source": "satellite",
                "village_id": ids[k], "lon": pt.x, "lat": pt.y, "tech": "satellite",
                "freq_mhz": math.nan, "eirp_dbm": math.nan, "height_m": math.nan,
                "existing_tower_id": None, "elevation_m": math.nan, "power_option": "solar kit",
                "grid_distance_m": math.nan, "pv_kwp": math.nan, "battery_kwh": math.nan,
                "backhaul": "satellite", "backhaul_to": None, "backhaul_length_m": math.nan,
                "donor_dbm": math.nan, "terminals": n_term, "equipment_capex_vnd": c,
                "power_capex_vnd": 0.0, "backhaul_capex_vnd": 0.0, "earliest_year_index": 0,
                "irradiation_kwh_m2_day": math.nan, **dict.fromkeys(HOP_COLUMNS, math.nan),
            })
    sat_cover = sp.csr_matrix(
        (np.ones(len(sat_rows), dtype=bool),
         (np.arange(len(sat_rows)), np.asarray(sat_rows, dtype=np.int64))),
        shape=(len(sat_rows), targets.size), dtype=bool,
    )
    cover_opts = sp.vstack([terr_cover, sat_cover], format="csr").astype(bool)
    capex_a = np.asarray(capex, dtype=np.float64)
    opex_a = np.asarray(opex, dtype=np.float64)
    tab = pd.DataFrame(rows, columns=[c for c in OPTION_COLUMNS
                                      if c not in ("capex_vnd", "opex_vnd_per_year", "npv_vnd",
                                                   "targets_covered")])
    tab["capex_vnd"] = capex_a
    tab["opex_vnd_per_year"] = opex_a
    tab["npv_vnd"] = np.asarray(npv_all, dtype=np.float64)
    tab["targets_covered"] = np.diff(cover_opts.indptr)
    gdf = gpd.GeoDataFrame(tab, geometry=gpd.points_from_xy(tab["lon"], tab["lat"]), crs=4326)
    return PlanOptions(
        table=gdf, cover=cover_opts, target_index=targets, capex_vnd=capex_a,
        opex_vnd_per_year=opex_a, replacements=repl,
        earliest=np.asarray(earliest, dtype=np.int64), group=np.asarray(group, dtype=np.int64),
        dropped=pd.DataFrame(dropped, columns=["candidate_id", "reason"]), timings_s=timings,
    )
