"""``deadzone plan`` end to end: the demo province and a 1,000-target province.

Usage: ``python bench/plan.py [--time-limit-s 30]`` (a few minutes on 2 cores);
prints a markdown table.

Provinces:

1. the demo province (800 villages, 540 dead or marginal);
2. a 1,000-target province: the demo's terrain, roads and backbone, its
   villages plus 700 more drawn near them (seeded), every other tower
   removed, so that about 1,000 villages are dead or marginal.

For each, the stages of ``run_plan`` (audit, candidates, options on the
exact-path engine, solve, yearly re-audit) with a yearly budget (5 years)
and with a target ("all by" the fifth year).  Peer: the greedy plan on the
same options in the same run (what a planner gets without the MILP); the
table gives the MILP plan's value and present value over greedy's, and the
re-audit check of every year.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd

from deadzone.app.plan import run_plan
from deadzone.data.demo import demo_scenario
from deadzone.geo.plan import make_plan
from deadzone.geo.site_costs import CostModel
from deadzone.geo.whatif import EngineParams
from deadzone.model.plan_costs import PlanCosts
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

START = 2027


def _bigger(sc: Scenario, extra: int = 700, seed: int = 7) -> Scenario:
    """The demo with ``extra`` villages near its own and every other tower removed."""
    rng = np.random.default_rng(seed)
    v = sc.villages.to_crs(sc.dem.crs)
    pick = rng.integers(0, len(v), extra)
    dx, dy = rng.normal(0, 900, extra), rng.normal(0, 900, extra)
    new = v.iloc[pick].copy()
    new["geometry"] = gpd.points_from_xy(v.geometry.x.to_numpy()[pick] + dx,
                                         v.geometry.y.to_numpy()[pick] + dy)
    new["village_id"] = [f"X{i:04d}" for i in range(extra)]
    new["population"] = rng.integers(60, 600, extra)
    new["households"] = (new["population"] / 4.3).round().astype(int)
    allv = gpd.GeoDataFrame(pd.concat([v, new], ignore_index=True), crs=sc.dem.crs)
    towers = sc.towers.iloc[::2].reset_index(drop=True)
    out = Scenario(dem=sc.dem, communes=sc.communes, villages=allv.to_crs(4326),
                   towers=towers, roads=sc.roads, backbone=sc.backbone,
                   name="demo-1000", meta={})
    return out


def _case(name: str, sc: Scenario, limit: float, **kw) -> list[dict]:  # noqa: ANN003
    p, thr = EngineParams(), Thresholds()
    rows = []
    t0 = time.perf_counter()
    res, base, re, tm = run_plan(sc, params=p, thresholds=thr, site_prices=CostModel(),
                                 costs=PlanCosts(), start_year=START, time_limit_s=limit, **kw)
    wall = time.perf_counter() - t0
    g = make_plan(base, res.options, start_year=START, solver="greedy",
                  years=res.problem.n_years, **{k: v for k, v in kw.items() if k != "years"})
    s = res.summary
    q = "target " + kw["target"] if "target" in kw else f"budget {kw['budget_per_year_vnd']:.0e}"
    rows.append({
        "province": name, "question": q, "villages": s["villages_total"],
        "targets": s["dead_zone_villages"], "options": res.options.n,
        "connected": s["connected"], "by satellite": s["connected_by_satellite"],
        "NPV bn VND": round(s["npv_vnd"] / 1e9, 1),
        "value / greedy": round(res.solution.value / max(g.solution.value, 1e-9), 4),
        "NPV / greedy": round(res.solution.npv_vnd / max(g.solution.npv_vnd, 1e-9), 4),
        "solver": f"{res.solution.solver} ({res.solution.status})",
        "re-audit": "equal" if list(res.years["covered_villages_predicted"]) == re else "DIFFERS",
        "audit s": round(tm["audit"], 1), "options s": round(tm["options"], 1),
        "solve s": round(tm["solve"], 1), "re-audit s": round(tm["reaudit"], 1),
        "total s": round(wall, 1),
    })
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit-s", type=float, default=30.0)
    a = ap.parse_args()
    demo = demo_scenario(0)
    big = _bigger(demo)
    rows = []
    for name, sc, budget in (("demo", demo, 30e9), ("demo-1000", big, 60e9)):
        rows += _case(name, sc, a.time_limit_s, years=5, budget_per_year_vnd=budget)
        rows += _case(name, sc, a.time_limit_s, target=f"all by {START + 4}")
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c])
                                for c in cols) + " |")


if __name__ == "__main__":
    main()
