"""What-if edit latency and site-optimizer times on the demo province.

Usage: ``python bench/whatif.py`` (about 4-6 minutes on 2 cores; ``--model
knife`` is faster); prints markdown tables.

Cases
-----
1. What-if session on the demo province (2000 x 2000 cells at 30 m, 40
   towers, 800 villages, radius 25 km): warm-up (all windows) once, then
   single-tower edits (add, move, height, EIRP/band, azimuth, remove),
   each timed, against the peer: a from-scratch ``compute_coverage`` +
   ``audit`` of the same edited tower set (what a planner would otherwise
   re-run).  The session's statuses are checked equal to the peer's.
2. Optimizer on the demo: 100 candidates end to end with the engine
   (candidates, coverage matrix, costs, greedy, MILP); then 1,000 and 5,000
   candidates: real candidates and real costs (LOS/Fresnel and road spurs),
   with *synthetic* coverage rows drawn to match the 100-candidate engine
   matrix (each candidate covers the target villages within a radius sampled
   from the engine rows' covered-village distances, kept with the engine's
   hit rate at that radius), because 5,000 engine windows take ~1 h on 2
   cores.  Greedy vs MILP (time limit 60 s): value, bound, gap, seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deadzone.data.demo import demo_scenario  # noqa: E402
from deadzone.geo.audit import audit  # noqa: E402
from deadzone.geo.coverage import compute_coverage  # noqa: E402
from deadzone.geo.placement import (  # noqa: E402
    CostModel,
    EngineParams,
    build_problem,
    candidate_sites,
    coverage_matrix,
    site_costs,
    solve_greedy,
    solve_milp,
)
from deadzone.geo.whatif import Session  # noqa: E402


def bench_edits(model: str, radius_km: float) -> None:
    scen = demo_scenario(seed=0)
    t = time.perf_counter()
    s = Session(scen, model=model, radius_km=radius_km)
    warm = time.perf_counter() - t
    tw = s.towers
    lon0, lat0 = float(tw.geometry.x.mean()), float(tw.geometry.y.mean())
    ids = list(tw["tower_id"])
    edits = [
        ("add 4G 40 m at the centre", lambda: s.add(lon0, lat0, height_m=40.0, tower_id="B1")),
        ("move B1 by 2 km", lambda: s.move("B1", lon0 + 0.02, lat0)),
        ("height 30 -> 45 m", lambda: s.edit(ids[3], height_m=45.0)),
        ("band 900 -> 700 MHz, EIRP +2 dB", lambda: s.edit(ids[0], freq_mhz=700.0, eirp_dbm=57.0)),
        (
            "azimuth: omni -> 120 deg sector",
            lambda: s.edit(ids[5], azimuth_deg=120.0, beamwidth_deg=65.0),
        ),
        (
            "add a second tower",
            lambda: s.add(lon0 - 0.1, lat0 + 0.05, height_m=35.0, tower_id="B2"),
        ),
        ("remove an original tower", lambda: s.remove(ids[10])),
        ("remove B1", lambda: s.remove("B1")),
    ]
    rows = []
    for name, f in edits:
        d = f()
        rows.append(
            (name, d.elapsed_s, d.villages_reaudited, len(d.newly_covered), len(d.newly_lost))
        )
    t = time.perf_counter()
    scen2 = s.scenario_now()
    cov = compute_coverage(scen2.dem, scen2.towers, model=model, radius_km=radius_km)
    ref = audit(scen2, coverage=cov)
    peer = time.perf_counter() - t
    same = list(ref.villages["status"]) == list(s.result.villages["status"]) and np.array_equal(
        ref.coverage.rx.best_dbm, s.coverage.rx.best_dbm, equal_nan=True
    )
    med = statistics.median(r[1] for r in rows)
    print(f"\n### What-if edits, demo province, model {model}, radius {radius_km:g} km\n")
    print(
        f"session warm-up (all {len(ids)} towers): {warm:.1f} s; peer from-scratch "
        f"compute_coverage + audit ({len(s.towers)} towers): {peer:.1f} s; "
        f"final state equal to the peer: {same}\n"
    )
    print("| edit | seconds | villages re-audited | newly covered | newly lost | peer / edit |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, sec, n, nc, nl in rows:
        print(f"| {name} | {sec:.3f} | {n} | {nc} | {nl} | {peer / sec:.0f}x |")
    print(f"\nmedian edit {med:.3f} s, {peer / med:.0f}x faster than the peer")


def _synthetic_rows(
    real: sp.csr_matrix,
    vxy: np.ndarray,
    cxy_real: np.ndarray,
    cxy: np.ndarray,
    rng: np.random.Generator,
) -> sp.csr_matrix:
    """Coverage rows for new candidates that mimic the engine rows' reach and hit rate."""
    reach, rate = [], []
    for j in range(real.shape[0]):
        cols = real.indices[real.indptr[j] : real.indptr[j + 1]]
        if cols.size == 0:
            continue
        d = np.hypot(*(vxy[cols] - cxy_real[j]).T)
        r = float(np.percentile(d, 90))
        inside = np.hypot(*(vxy - cxy_real[j]).T) <= r
        reach.append(r)
        rate.append(min(1.0, cols.size / max(1, int(inside.sum()))))
    zero_share = 1.0 - len(reach) / real.shape[0]
    rows, cols = [], []
    for j in range(cxy.shape[0]):
        if rng.random() < zero_share:
            continue
        k = rng.integers(len(reach))
        d = np.hypot(*(vxy - cxy[j]).T)
        hit = np.flatnonzero((d <= reach[k]) & (rng.random(d.size) < rate[k]))
        rows.append(np.full(hit.size, j))
        cols.append(hit)
    r = np.concatenate(rows) if rows else np.empty(0, int)
    c = np.concatenate(cols) if cols else np.empty(0, int)
    return sp.csr_matrix((np.ones(r.size, bool), (r, c)), shape=(cxy.shape[0], vxy.shape[0]))


def bench_optimizer(model: str, radius_km: float, budget: int, time_limit_s: float) -> None:
    scen = demo_scenario(seed=0)
    params = EngineParams(model=model, radius_km=radius_km)
    t = time.perf_counter()
    base = audit(scen, model=model, radius_km=radius_km)
    t_base = time.perf_counter() - t
    tgt_mask = base.villages["status"].isin(("dead", "marginal")).to_numpy()
    vp = base.villages.geometry.to_crs(scen.dem.crs)
    vxy = np.column_stack([vp.x, vp.y])
    cm = CostModel()
    print(
        f"\n### Optimizer, demo province, model {model}, radius {radius_km:g} km, budget "
        f"{budget} towers, objective population\n"
    )
    print(
        f"baseline audit {t_base:.1f} s; target villages (dead/marginal): {int(tgt_mask.sum())}\n"
    )
    print(
        "| candidates | matrix | candidates s | matrix s | costs s | greedy s | greedy value "
        "| MILP s | MILP value | MILP bound | gap | MILP status |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    real = None
    real_xy = None
    for n in (100, 1000, 5000):
        t = time.perf_counter()
        spacing = {100: 1500.0, 1000: 600.0, 5000: 250.0}[n]
        cand = candidate_sites(
            scen, baseline=base, min_spacing_m=spacing, max_auto=n - len(scen.towers)
        )
        t_c = time.perf_counter() - t
        cp = cand.geometry.to_crs(scen.dem.crs)
        cxy = np.column_stack([cp.x, cp.y])
        t = time.perf_counter()
        if real is None:
            cover = coverage_matrix(scen, cand, params=params, villages_mask=tgt_mask)
            real, real_xy, kind = cover, cxy, "engine"
        else:
            cover = _synthetic_rows(real, vxy, real_xy, cxy, np.random.default_rng(n))
            kind = "synthetic"
        t_m = time.perf_counter() - t
        t = time.perf_counter()
        table, bh = site_costs(scen, cand, costs=cm)
        t_cost = time.perf_counter() - t
        prob = build_problem(base, cand, cover, table, bh, objective="population", costs=cm)
        g = solve_greedy(prob, budget_towers=budget)
        m = solve_milp(prob, budget_towers=budget, time_limit_s=time_limit_s, greedy=g)
        assert m.value >= g.value
        print(
            f"| {len(cand):,} | {kind} | {t_c:.1f} | {t_m:.1f} | {t_cost:.1f} | "
            f"{g.elapsed_s:.3f} | {g.value:,.0f} | {m.elapsed_s:.2f} | {m.value:,.0f} | "
            f"{m.bound:,.0f} | {100 * m.gap:.2f}% | {m.status} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="itm")
    ap.add_argument("--radius-km", type=float, default=25.0)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--time-limit-s", type=float, default=60.0)
    ap.add_argument("--skip-edits", action="store_true")
    args = ap.parse_args()
    if not args.skip_edits:
        bench_edits(args.model, args.radius_km)
    bench_optimizer(args.model, args.radius_km, args.budget, args.time_limit_s)


if __name__ == "__main__":
    main()
