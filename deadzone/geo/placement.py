"""Where to put the next towers: :func:`optimize` end to end, on candidates,
coverage matrix, costs and two solvers (one module each).

The problem is the budgeted maximal covering location problem (Church &
ReVelle 1974): choose sites from a candidate list to maximise the weight
(villages, population or households) of currently dead or marginal villages
that become covered, under a budget in towers or in money (VND).

* **Coverage matrix** (:mod:`deadzone.geo.sites`).  Candidate ``j`` covers
  village ``i`` when the exact-path engine the audit uses
  (:func:`~deadzone.geo.paths.village_signals`: the candidate -> village
  profile, the same model) gives the village a metric at or above the
  covered threshold of the candidate's technology.  Adding a site can only
  raise the best metric of its technology, so coverage is a union:
  re-auditing with the chosen sites added reproduces the predicted count
  exactly (tested).
* **Costs** (:mod:`deadzone.geo.site_costs`).  Per site: tower capex;
  power (grid line to the nearest grid-powered village or existing tower,
  or a solar kit when cheaper);
  backhaul: a microwave hop needs line of sight with 60% of the first
  Fresnel zone clear (ITU-R P.530) to a fiber-connected site within the
  maximum hop length, otherwise a fiber spur along the roads (Dijkstra's
  shortest path, ``scipy.sparse.csgraph``).  A site may also hop to another
  *selected* site that is itself anchored (direct hop or fiber): one relay level, modelled exactly
  in the MILP (``r_j <= sum of anchored LOS neighbours``) and in greedy.
  All default prices live in :class:`CostModel`.
* **Solvers** (:mod:`deadzone.geo.site_solvers`).  Lazy greedy (Minoux
  1978 accelerated greedy; (1 - 1/e) of the optimum for a tower budget,
  Nemhauser, Wolsey & Fisher 1978; for a money budget the better of
  cost-ratio greedy and the best single site, Khuller, Moss & Naor 1999)
  and an exact MILP solved by HiGHS through :func:`scipy.optimize.milp`
  with a time limit, reporting the optimality gap; the MILP answer is
  compared with greedy's and the better one is kept, so the MILP is never
  worse.
* **People from a population raster** (``objective="people"``).  The unlisted
  settlements a population raster shows (:mod:`deadzone.geo.settlements`)
  whose status is dead or marginal become extra targets beside the dead and
  marginal villages, weighted by their estimated people (villages by their
  population): a candidate covers a settlement when the same exact-path
  engine gives the settlement's people-weighted centroid a covered metric.
  The objective is then the people reached, listed or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from deadzone.errors import ParameterError
from deadzone.geo.audit import AuditResult, audit
from deadzone.geo.site_costs import (
    Backhaul,
    CostModel,
    fresnel_clearance,
    site_costs,
)
from deadzone.geo.site_solvers import (
    PlacementProblem,
    Solution,
    _budget_check,
    solve_greedy,
    solve_milp,
)
from deadzone.geo.sites import (
    TARGET_STATUSES,
    _finish_candidates,
    candidate_sites,
    coverage_matrix,
)
from deadzone.geo.whatif import EngineParams
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TOWER_DEFAULTS
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

SOLVERS: tuple[str, ...] = ("greedy", "milp")

#: Objective weights: each target village counts 1, its population, or its households;
#: ``people``: its population, plus the unlisted settlements' people (population raster).
OBJECTIVES: tuple[str, ...] = ("villages", "population", "households", "people")


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
        ``villages``, ``population``, ``households`` or ``people``.
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
    #: With ``objective="people"``: the unlisted settlements targeted (dead or
    #: marginal), with ``covered_by`` (the chosen site's ``candidate_id`` that
    #: covers each, None when none does); None for other objectives.
    unlisted: gpd.GeoDataFrame | None = None

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
        if self.unlisted is not None:
            u = self.unlisted
            hit = u["covered_by"].notna().to_numpy()
            lines.insert(3, (
                f"unlisted settlements (population raster) reached: {int(hit.sum()):,}/{len(u):,}"
                f" dead or marginal, {u['people'][hit].sum():,.0f}/{u['people'].sum():,.0f} "
                "people"))
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
    unlisted_cover: sp.csr_matrix | None = None,
    unlisted_people: np.ndarray | None = None,
) -> PlacementProblem:
    """Restrict the coverage matrix to target villages and attach weights and costs.

    With ``unlisted_cover`` (candidates x targeted unlisted settlements) and
    ``unlisted_people``, the settlements are targets after the villages
    (``target_index`` still lists the villages only).
    """
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective was {objective!r}; expected one of {OBJECTIVES}")
    v = baseline.villages
    tgt = np.flatnonzero(v["status"].isin(TARGET_STATUSES).to_numpy())
    if objective == "villages":
        w = np.ones(tgt.size)
    else:
        col = "population" if objective == "people" else objective
        w = v[col].to_numpy(dtype=np.float64)[tgt]
    cover = cover_all.tocsc()[:, tgt].tocsr()
    if unlisted_cover is not None:
        cover = sp.hstack([cover, unlisted_cover.tocsr()], format="csr").astype(bool)
        w = np.r_[w, np.asarray(unlisted_people, dtype=np.float64)]
    return PlacementProblem(
        cover=cover,
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
    unlisted: gpd.GeoDataFrame | None = None,
) -> PlacementResult:
    """Choose new sites that cover the most weight of dead/marginal villages.

    Parameters
    ----------
    scenario : Scenario
        Inputs (DEM, villages, communes, towers, roads, backbone).
    budget_towers, budget_vnd : int or float
        Exactly one: the number of new sites, or the money (VND).
    objective : str
        ``villages``, ``population``, ``households`` or ``people`` (village
        population plus the people of the dead or marginal ``unlisted``
        settlements; needs ``unlisted``).
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
    unlisted : GeoDataFrame, optional
        The unlisted settlements of the baseline
        (:func:`deadzone.geo.settlements.audit_settlements`: ``settlement_id``,
        ``people``, ``lon``, ``lat``, ``status``); only with ``objective="people"``.

    Returns
    -------
    PlacementResult

    Raises
    ------
    ParameterError
        A bad budget, solver or objective; ``objective="people"`` without
        ``unlisted`` or ``unlisted`` with another objective.
    """
    _budget_check(budget_towers, budget_vnd)
    if solver not in SOLVERS:
        raise ParameterError(f"solver was {solver!r}; expected one of {SOLVERS}")
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective was {objective!r}; expected one of {OBJECTIVES}")
    if (objective == "people") != (unlisted is not None):
        raise ParameterError(
            "objective 'people' needs the unlisted settlements of a population raster "
            "(unlisted=...), and unlisted settlements count only in objective 'people'; "
            f"got objective {objective!r} with unlisted={'None' if unlisted is None else 'given'}")
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
    targets_u = u_cover = None
    if unlisted is not None:
        targets_u = _unlisted_targets(unlisted)
        u_cover = coverage_matrix(replace(scenario, villages=targets_u), candidates, params=p,
                                  thresholds=thr, n_threads=n_threads)
    timings["coverage_matrix"] = time.perf_counter() - t
    t = time.perf_counter()
    table, backhaul = site_costs(
        scenario, candidates, costs=cm, towers_have_fiber=towers_have_fiber, k_factor=p.k_factor
    )
    timings["costs"] = time.perf_counter() - t
    prob = build_problem(
        baseline, candidates, cover_all, table, backhaul, objective=objective, costs=cm,
        unlisted_cover=u_cover,
        unlisted_people=None if targets_u is None else targets_u["people"].to_numpy(),
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
    if targets_u is not None:
        res.unlisted = _unlisted_reached(targets_u, prob, sol, candidates)
        first = prob.cover.shape[1] - len(targets_u)
        people = targets_u["people"].to_numpy(dtype=np.float64)
        n_u, p_u = [], []
        for j in sol.chosen:  # the rows of res.sites, in selection order
            cols = prob.cover.indices[prob.cover.indptr[j]:prob.cover.indptr[j + 1]]
            cols = cols[cols >= first] - first
            n_u.append(int(cols.size))
            p_u.append(float(people[cols].sum()))
        res.sites["unlisted_settlements_covered"] = np.array(n_u, dtype=np.int64)
        res.sites["unlisted_people_covered"] = np.array(p_u)
    return res


def _unlisted_targets(unlisted: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The dead or marginal unlisted settlements as target points (their centroids),
    with the columns :func:`coverage_matrix` reads (``village_id`` = ``settlement_id``)."""
    for col in ("settlement_id", "people", "lon", "lat", "status"):
        if col not in unlisted.columns:
            raise ParameterError(f"unlisted settlements lack the column {col!r}")
    u = unlisted[unlisted["status"].isin(TARGET_STATUSES).to_numpy()]
    return gpd.GeoDataFrame(
        {"village_id": u["settlement_id"].astype(str).to_numpy(),
         "settlement_id": u["settlement_id"].astype(str).to_numpy(),
         "people": u["people"].to_numpy(dtype=np.float64),
         "status": u["status"].astype(str).to_numpy()},
        geometry=gpd.points_from_xy(u["lon"], u["lat"]), crs=4326,
    )


def _unlisted_reached(targets: gpd.GeoDataFrame, prob: PlacementProblem, sol: Solution,
                      candidates: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The targeted settlements with ``covered_by``: the first chosen site covering each."""
    first = prob.cover.shape[1] - len(targets)
    by: list[Any] = [None] * len(targets)
    ids = candidates["candidate_id"].astype(str).to_numpy()
    for j in sol.chosen:
        for c in prob.cover.indices[prob.cover.indptr[j]:prob.cover.indptr[j + 1]]:
            if c >= first and by[c - first] is None:
                by[c - first] = ids[j]
    out = targets.drop(columns="village_id")
    out["covered_by"] = pd.Series(by, dtype=object).to_numpy()
    return out


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
    cand["n_targets_covered"] = np.diff(prob.cover.indptr)  # villages and settlements
    modes = sol.modes
    covered = np.zeros(tgt.size, dtype=bool)
    rows = []
    ids = cand["candidate_id"].to_numpy()
    for j in sol.chosen:
        cols = prob.cover.indices[prob.cover.indptr[j] : prob.cover.indptr[j + 1]]
        cols = cols[cols < tgt.size]  # villages; unlisted settlements follow them
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
    # a relay's hop is to another chosen site: the anchor hop's check is not its own
    relay = sites["backhaul"].to_numpy() == "microwave_relay"
    for col in ("hop_clearance_f1", "hop_availability_pct", "hop_fade_margin_db"):
        if col in sites.columns:
            sites.loc[relay, col] = np.nan
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
