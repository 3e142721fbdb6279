"""A programme plan: the cheapest way to connect every remaining dead or
marginal village, by year, with lifetime cost (issue 20).

:func:`make_plan` takes the priced options of :mod:`deadzone.geo.plan_options`,
turns each into its yearly cash and present value for every build year,
solves the multi-year selection of :mod:`deadzone.geo.plan_solver`, and
writes the answer as planners read it: every village once (its option, site,
year and share of the cost), the sites, and a row per year ("dead-zone
villages connected: X/Y").  :func:`reaudit_years` re-runs the audit with each
year's new sites added and counts the covered villages again: the plan's
mobile counts must equal it (they come from the same exact paths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from deadzone.errors import ParameterError
from deadzone.geo.audit import AuditResult, audit
from deadzone.geo.plan_options import PlanOptions
from deadzone.geo.plan_solver import PlanProblem, PlanSolution, solve_plan
from deadzone.geo.sites import candidate_towers
from deadzone.geo.whatif import EngineParams
from deadzone.model.lifecycle import cash_schedule, npv
from deadzone.model.plan_costs import PlanCosts
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = ["PlanResult", "make_plan", "parse_target", "reaudit_years"]

#: Objective weights of the budget question.
PLAN_OBJECTIVES: tuple[str, ...] = ("villages", "population", "households")

TERRESTRIAL = ("macro", "upgrade", "small_cell")


def parse_target(text: str, *, n_targets: int, start_year: int) -> tuple[int, int]:
    """``"all by 2030"``, ``"90% by 2030"`` or ``"400 by 2030"`` ->
    ``(calendar year, villages)``.

    Raises
    ------
    ParameterError
        Text of another form, a year before ``start_year``, a share outside
        0-100 % or a count above ``n_targets``.
    """
    parts = text.strip().lower().split()
    if len(parts) != 3 or parts[1] != "by" or not parts[2].isdigit():
        raise ParameterError(
            f"target {text!r}: expected 'all by YEAR', 'P% by YEAR' or 'N by YEAR'")
    year = int(parts[2])
    if year < start_year:
        raise ParameterError(f"target {text!r}: {year} is before the plan's start {start_year}")
    what = parts[0]
    if what == "all":
        k = n_targets
    elif what.endswith("%"):
        try:
            share = float(what[:-1])
        except ValueError:
            raise ParameterError(f"target {text!r}: {what!r} is not a percentage") from None
        if not (0 < share <= 100):
            raise ParameterError(f"target {text!r}: expected a share in (0, 100] %")
        k = math.ceil(share / 100.0 * n_targets - 1e-9)
    elif what.isdigit():
        k = int(what)
        if k > n_targets:
            raise ParameterError(
                f"target {text!r}: only {n_targets} villages are dead or marginal")
    else:
        raise ParameterError(
            f"target {text!r}: expected 'all', a share like '90%' or a number of villages")
    return year, k


@dataclass
class PlanResult:
    """Outcome of :func:`make_plan`.

    Attributes
    ----------
    villages : GeoDataFrame
        Every input village once: ``status_now`` and its reason, the plan's
        ``option_kind`` / ``option_id`` / ``year`` (first connected),
        ``mobile_year`` (first mobile signal), ``npv_share_vnd`` and
        ``plan_note`` (why not planned, or how).
    sites : GeoDataFrame
        Options built, in build order: kind, year, radio, power (PV kWp,
        battery kWh), backhaul, costs (``capex_vnd``, ``opex_vnd_per_year``,
        ``npv_vnd`` at its build year) and the villages it connects.
    years : DataFrame
        One row per plan year (see :data:`YEAR_COLUMNS`).
    solution : PlanSolution
    options : PlanOptions
    start_year : int
    summary : dict
        Headline figures (JSON-ready).
    """

    villages: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    years: pd.DataFrame
    solution: PlanSolution
    options: PlanOptions
    start_year: int
    problem: PlanProblem
    summary: dict[str, Any] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """The printed summary, in the programme's own words."""
        s = self.summary
        last = self.years.iloc[-1] if len(self.years) else None
        y_tot = s["dead_zone_villages"]
        lines = []
        if last is not None:
            lines.append(
                f"by {int(last['year'])}: {int(last['connected_cumulative']):,}/{y_tot:,} "
                f"dead-zone villages connected ({int(last['mobile_cumulative']):,} by mobile "
                f"signal, {int(last['satellite_cumulative']):,} by satellite); cost "
                f"{s['npv_vnd'] / 1e9:,.0f} bn VND NPV over {s['horizon_years']} years "
                f"(build {s['capex_vnd'] / 1e9:,.0f} bn VND; "
                f"{s['npv_per_household_vnd'] / 1e6:,.1f} million VND per household connected)"
            )
        lines.append(
            f"covered villages (mobile signal): {s['covered_now']:,}/{s['villages_total']:,} now "
            f"-> {s['covered_end']:,}/{s['villages_total']:,} with the plan"
        )
        for _, r in self.years.iterrows():
            lines.append(
                f"  {int(r['year'])}: +{int(r['connected_new']):,} villages "
                f"({int(r['households_new']):,} households), "
                f"{int(r['connected_cumulative']):,}/{y_tot:,} connected; spend "
                f"{r['spend_vnd'] / 1e9:,.1f} bn VND"
                + ("" if not math.isfinite(r["budget_vnd"])
                   else f" of {r['budget_vnd'] / 1e9:,.1f} bn")
            )
        k = s["kinds"]
        lines.append(
            "sites: " + ", ".join(f"{k.get(n, 0):,} {n.replace('_', ' ')}" for n in
                                  ("macro", "upgrade", "small_cell", "satellite"))
            + f"; solver {self.solution.solver} ({self.solution.status}"
            + ("" if math.isnan(self.solution.gap) else f", gap {self.solution.gap:.2%}") + ")"
        )
        if s.get("not_planned"):
            lines.append(f"not planned: {s['not_planned']:,} dead-zone villages "
                         f"({'; '.join(f'{n} {r}' for r, n in s['not_planned_reasons'].items())})")
        return lines


#: Columns of :attr:`PlanResult.years`.
YEAR_COLUMNS: tuple[str, ...] = (
    "year", "connected_new", "mobile_new", "satellite_new", "households_new",
    "population_new", "connected_cumulative", "mobile_cumulative", "satellite_cumulative",
    "dead_zone_villages", "covered_villages_predicted", "villages_total", "sites_built",
    "capex_vnd", "running_vnd", "spend_vnd", "budget_vnd", "npv_to_date_vnd",
)


def _cash(options: PlanOptions, costs: PlanCosts, n_years: int) -> tuple[Any, Any]:
    """cash[o, t, y] (plan years) and npv[o, t] for every build year."""
    fin = costs.finance
    n_o = options.n
    cash = np.zeros((n_o, n_years, n_years))
    pv = np.zeros((n_o, n_years))
    for o in range(n_o):
        for t in range(n_years):
            sched = cash_schedule(options.capex_vnd[o], options.opex_vnd_per_year[o],
                                  finance=fin, start_year=t,
                                  replacements=options.replacements[o])
            cash[o, t] = sched[:n_years]
            pv[o, t] = npv(sched, discount_rate=fin.discount_rate)
    return cash, pv


def make_plan(
    baseline: AuditResult,
    options: PlanOptions,
    *,
    costs: PlanCosts | None = None,
    years: int = 5,
    start_year: int = 2027,
    budget_per_year_vnd: float | list[float] | None = None,
    rollover: bool = False,
    target: str | None = None,
    objective: str = "households",
    solver: str = "milp",
    time_limit_s: float = 30.0,
) -> PlanResult:
    """Choose what to build in which year.

    Parameters
    ----------
    baseline : AuditResult
        Audit of the existing towers.
    options : PlanOptions
        From :func:`deadzone.geo.plan_options.plan_options`.
    costs : PlanCosts, optional
        Finance (discount rate, horizon, escalation) and the rest.
    years : int
        Years of the plan (ignored with ``target``: the plan runs to its year).
    start_year : int
        Calendar year of the plan's first year.
    budget_per_year_vnd : float or list of float, optional
        Money per year, build and running costs (VND); one value for every
        year or one per year.
    rollover : bool
        Keep unspent money for the next years.
    target : str, optional
        ``"all by 2030"``, ``"90% by 2030"``, ``"400 by 2030"``: the least
        present value reaching it (with the budgets, when given).
    objective : str
        Weight of a village in the budget question: ``villages``,
        ``population`` or ``households``.
    solver : {"milp", "greedy"}
    time_limit_s : float
        MILP time limit (s).

    Returns
    -------
    PlanResult
    """
    pc = costs or PlanCosts()
    if objective not in PLAN_OBJECTIVES:
        raise ParameterError(f"objective was {objective!r}; expected one of {PLAN_OBJECTIVES}")
    v = baseline.villages
    tgt = options.target_index
    tgt_pair = None
    if target is not None:
        t_year, k = parse_target(target, n_targets=tgt.size, start_year=start_year)
        years = t_year - start_year + 1
        tgt_pair = (years - 1, k)
    elif budget_per_year_vnd is None:
        raise ParameterError("give a budget per year, a target, or both")
    if not (1 <= years <= pc.finance.horizon_years):
        raise ParameterError(
            f"the plan has {years} year(s); expected 1..{pc.finance.horizon_years} "
            "(the horizon, [finance] horizon_years)")
    budgets = None
    if budget_per_year_vnd is not None:
        b = np.atleast_1d(np.asarray(budget_per_year_vnd, dtype=np.float64))
        if b.size == 1:
            b = np.full(years, float(b[0]))
        if b.size != years:
            raise ParameterError(f"{b.size} yearly budgets for a plan of {years} years")
        if not (np.isfinite(b).all() and (b >= 0).all()):
            raise ParameterError("budgets must be finite amounts >= 0 VND")
        budgets = b
    if objective == "villages":
        w = np.ones(tgt.size)
    else:
        w = np.nan_to_num(v[objective].to_numpy(dtype=np.float64)[tgt], nan=0.0)
    cash, pv = _cash(options, pc, years)
    prob = PlanProblem(cover=options.cover, weights=w, cash=cash, npv=pv, budgets=budgets,
                       rollover=rollover, target=tgt_pair,
                       earliest=options.earliest if options.earliest.size else None,
                       group=options.group if options.group.size else None)
    sol = solve_plan(prob, solver=solver, time_limit_s=time_limit_s)
    return _result(baseline, options, prob, sol, pc, start_year=start_year,
                   objective=objective, target=target)


def _result(
    baseline: AuditResult, options: PlanOptions, prob: PlanProblem, sol: PlanSolution,
    pc: PlanCosts, *, start_year: int, objective: str, target: str | None,
) -> PlanResult:
    v = baseline.villages
    tgt = options.target_index
    n = prob.n_years
    tab = options.table
    kind = tab["kind"].to_numpy()
    terr = np.isin(kind, TERRESTRIAL)
    build = sol.build_year
    built = np.flatnonzero(build >= 0)
    # each target's option: earliest year, terrestrial before satellite, then order
    order = sorted(built, key=lambda o: (build[o], not terr[o], o))
    assigned = np.full(tgt.size, -1, dtype=np.int64)
    mobile = np.full(tgt.size, n, dtype=np.int64)
    cov = prob.cover
    for o in order:
        cols = cov.indices[cov.indptr[o]: cov.indptr[o + 1]]
        free = cols[assigned[cols] < 0]
        assigned[free] = o
        if terr[o]:
            mobile[cols] = np.minimum(mobile[cols], build[o])
    hh = np.nan_to_num(v["households"].to_numpy(dtype=np.float64), nan=0.0)
    pop = np.nan_to_num(v["population"].to_numpy(dtype=np.float64), nan=0.0)
    opt_npv = np.zeros(len(tab))
    opt_npv[built] = prob.npv[built, build[built]]
    share = np.zeros(tgt.size)
    for o in built:
        mine = np.flatnonzero(assigned == o)
        if not mine.size:  # connects nothing first: shared over what it covers
            mine = cov.indices[cov.indptr[o]: cov.indptr[o + 1]]
        wts = hh[tgt[mine]]
        wts = wts / wts.sum() if wts.sum() > 0 else np.full(mine.size, 1.0 / mine.size)
        share[mine] += opt_npv[o] * wts

    # villages
    out = v[[c for c in ("village_id", "name", "commune_id", "commune_name", "province",
                         "district", "population", "households", "has_grid_power", "status",
                         "reason") if c in v.columns]].copy()
    out = out.rename(columns={"status": "status_now", "reason": "reason_now"})
    m = len(v)
    o_kind = np.full(m, "", dtype=object)
    o_id = np.full(m, "", dtype=object)
    year = np.full(m, pd.NA, dtype=object)
    myear = np.full(m, pd.NA, dtype=object)
    npv_share = np.zeros(m)
    note = np.full(m, "", dtype=object)
    status = v["status"].astype(str).to_numpy()
    note[status == "covered"] = "already covered"
    note[~np.isin(status, ("covered", "dead", "marginal"))] = "no status (no location on the DEM)"
    reachable = np.asarray(cov.sum(axis=0)).ravel() > 0
    ids = tab["option_id"].to_numpy()
    end_year = start_year + n - 1
    for k, i in enumerate(tgt):
        o = assigned[k]
        if o >= 0:
            o_kind[i], o_id[i] = kind[o], ids[o]
            year[i] = start_year + int(build[o])
            npv_share[i] = share[k]
            if mobile[k] < n:
                myear[i] = start_year + int(mobile[k])
            via = "satellite terminal" if kind[o] == "satellite" else \
                f"{kind[o].replace('_', ' ')} site {ids[o]}"
            note[i] = f"connected in {year[i]} by {via}"
            if kind[o] == "satellite" and mobile[k] < n:
                note[i] += f"; mobile signal in {myear[i]}"
        elif not reachable[k]:
            note[i] = ("no option: no candidate site covers it"
                       + ("" if pc.satellite.enabled else " and satellite is disabled"))
        elif target is not None:
            note[i] = f"not needed to reach the target ({target})"
        else:
            note[i] = f"not reached within the budget by {end_year}"
    out["option_kind"] = o_kind
    out["option_id"] = o_id
    out["year"] = pd.array(year, dtype="Int64")
    out["mobile_year"] = pd.array(myear, dtype="Int64")
    out["npv_share_vnd"] = npv_share
    out["plan_note"] = note
    villages = gpd.GeoDataFrame(out, geometry=v.geometry.to_numpy(), crs=v.crs)

    # sites
    sites = tab.iloc[np.asarray(order, dtype=np.int64)].copy().reset_index(drop=True)
    sites.insert(1, "year", [start_year + int(build[o]) for o in order])
    sites["npv_vnd"] = [float(opt_npv[o]) for o in order]
    vid = v["village_id"].astype(str).to_numpy()
    sites["villages_connected"] = [int((assigned == o).sum()) for o in order]
    sites["village_ids"] = [";".join(vid[tgt[assigned == o]]) for o in order]
    sites["households_connected"] = [int(hh[tgt[assigned == o]].sum()) for o in order]
    sites["villages_covered"] = [int(cov.indptr[o + 1] - cov.indptr[o]) for o in order]
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=4326)

    # years
    first = np.where(assigned >= 0, np.array([build[o] if o >= 0 else n for o in assigned]), n)
    is_sat = np.array([assigned[k] >= 0 and kind[assigned[k]] == "satellite"
                       for k in range(tgt.size)], dtype=bool)
    spend = prob.spend(build)
    capex_y = np.zeros(n)
    for o in built:
        capex_y[build[o]] += options.capex_vnd[o]
    covered_now = int((status == "covered").sum())
    rows = []
    for y in range(n):
        new = first == y
        by = first <= y
        rows.append({
            "year": start_year + y,
            "connected_new": int(new.sum()),
            "mobile_new": int((new & ~is_sat).sum()),
            "satellite_new": int((new & is_sat).sum()),
            "households_new": int(hh[tgt[new]].sum()),
            "population_new": int(pop[tgt[new]].sum()),
            "connected_cumulative": int(by.sum()),
            "mobile_cumulative": int((by & ~is_sat).sum()),
            "satellite_cumulative": int((by & is_sat).sum()),
            "dead_zone_villages": int(tgt.size),
            "covered_villages_predicted": covered_now + int((mobile <= y).sum()),
            "villages_total": m,
            "sites_built": int((build == y).sum()),
            "capex_vnd": float(capex_y[y]),
            "running_vnd": float(spend[y] - capex_y[y]),
            "spend_vnd": float(spend[y]),
            "budget_vnd": float(prob.budgets[y]) if prob.budgets is not None else math.nan,
            "npv_to_date_vnd": float(opt_npv[built[build[built] <= y]].sum()),
        })
    years_df = pd.DataFrame(rows, columns=list(YEAR_COLUMNS))
    not_planned = [str(note[i]) for k, i in enumerate(tgt) if assigned[k] < 0]
    reasons: dict[str, int] = {}
    for r in not_planned:
        key = r.split(":")[0] if r.startswith("no option") else r
        reasons[key] = reasons.get(key, 0) + 1
    kinds = {str(k): int(c) for k, c in pd.Series(kind[built]).value_counts().items()}
    summary = {
        "start_year": start_year,
        "end_year": end_year,
        "years": n,
        "question": "target" if target is not None else "budget",
        "target": target,
        "objective": objective,
        "rollover": prob.rollover,
        "villages_total": m,
        "covered_now": covered_now,
        "covered_end": covered_now + int((mobile < n).sum()),
        "dead_zone_villages": int(tgt.size),
        "connected": int((first < n).sum()),
        "connected_by_satellite": int(is_sat.sum()),
        "connected_by_mobile": int(((first < n) & ~is_sat).sum()),
        "households_connected": int(hh[tgt[first < n]].sum()),
        "population_connected": int(pop[tgt[first < n]].sum()),
        "not_planned": len(not_planned),
        "not_planned_reasons": reasons,
        "kinds": kinds,
        "npv_vnd": sol.npv_vnd,
        "npv_per_household_vnd": (sol.npv_vnd / max(hh[tgt[first < n]].sum(), 1.0)),
        "capex_vnd": float(capex_y.sum()),
        "spend_vnd": [float(x) for x in spend],
        "horizon_years": pc.finance.horizon_years,
        "discount_rate": pc.finance.discount_rate,
        "target_met": (None if prob.target is None
                       else bool(prob.connected_by(build, prob.target[0]) >= prob.target[1])),
        "solver": {
            "name": sol.solver, "status": sol.status, "value": sol.value,
            "bound": None if math.isnan(sol.bound) else sol.bound,
            "gap": None if math.isnan(sol.gap) else sol.gap,
            "elapsed_s": sol.elapsed_s, "notes": sol.notes or [],
        },
        "options": {str(k): int(c) for k, c in tab["kind"].value_counts().items()},
    }
    return PlanResult(villages=villages, sites=sites, years=years_df, solution=sol,
                      options=options, start_year=start_year, problem=prob, summary=summary)


def reaudit_years(
    scenario: Scenario,
    result: PlanResult,
    *,
    params: EngineParams | None = None,
    thresholds: Thresholds | None = None,
) -> list[int]:
    """Covered villages (mobile signal) at the end of each plan year, by
    re-running the audit (exact paths, no rasters) with the terrestrial
    sites built so far added to the towers."""
    from dataclasses import replace

    p = params or EngineParams()
    sites = result.sites
    terr = sites[sites["kind"].isin(TERRESTRIAL)]
    out = []
    for y in result.years["year"]:
        now = terr[terr["year"] <= y]
        towers = scenario.towers
        if len(now):
            add = candidate_towers(now.rename(columns={"option_id": "candidate_id"}))
            add["tower_id"] = "NEW-" + add["tower_id"].astype(str)
            towers = gpd.GeoDataFrame(pd.concat([towers, add[towers.columns.intersection(
                add.columns)]], ignore_index=True), geometry="geometry", crs=towers.crs)
        # villages only: no population raster (its people figures need an area
        # sweep per year; the plan reports the baseline's)
        res = audit(replace(scenario, towers=towers, population=None), params=p,
                    thresholds=thresholds, rasters=False)
        out.append(int(res.summary["villages_covered"]))
    return out

