"""What-if edit latency and site-optimizer times on the demo province.

Usage: ``python bench/whatif.py`` (optimizer rows with ITM for 100
candidates and the knife-edge model for 1,000 and 5,000, then ITM edits;
~14 min on 2 idle cores), ``python bench/whatif.py --model knife`` (knife throughout),
``--quick`` (100 and 1,000 candidates only), ``--sizes 100,5000``,
``--skip-edits`` / ``--skip-optimizer``; prints markdown tables.

Cases
-----
The optimizer runs first, the edits last.

1. What-if session on the demo province (2000 x 2000 cells at 30 m, 40
   towers, 800 villages, radius 25 km): warm-up (all windows) once, then
   single-tower edits (add, move, height, EIRP/band, azimuth, remove),
   each timed, against the peer: a from-scratch ``compute_coverage`` +
   ``audit`` of the same edited tower set (what a planner would otherwise
   re-run).  The session's final audit (every village column, communes,
   summary) and composite are checked equal to the peer's.  Also timed: the
   first ``Session.result`` after an edit (commune/province roll-up, which
   edits leave to the first access).
2. Optimizer on the demo for 100, 1,000 and 5,000 candidates, end to end
   with the propagation engine: baseline audit, candidates (peaks, high
   points near dead villages, commune centres, existing sites; minimum
   spacing shrinking with the count), coverage matrix (one engine window per
   candidate, sampled at the target villages), costs (LOS/Fresnel hops, road
   spurs), greedy and MILP (HiGHS, time limit 60 s).  The engine model of
   each row is in the table: ``--large-model`` (default knife) builds the
   1,000 and 5,000 rows when ``--model`` is itm, because an ITM window costs
   ~0.5 s per candidate on 2 cores (5,000 candidates: ~45 min); that row's
   baseline audit uses the same model, so its targets and matrix agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

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
        t = time.perf_counter()
        _ = s.result  # the commune/province roll-up, left to the first access
        t_tab = time.perf_counter() - t
        rows.append(
            (
                name,
                d.elapsed_s,
                t_tab,
                d.villages_reaudited,
                len(d.newly_covered),
                len(d.newly_lost),
            )
        )
    t = time.perf_counter()
    scen2 = s.scenario_now()
    cov = compute_coverage(scen2.dem, scen2.towers, model=model, radius_km=radius_km)
    ref = audit(scen2, coverage=cov)
    peer = time.perf_counter() - t
    got = s.result
    same = (
        got.villages.drop(columns="geometry").equals(ref.villages.drop(columns="geometry"))
        and got.communes.equals(ref.communes)
        and got.summary == ref.summary
        and all(
            np.array_equal(getattr(ref.coverage.rx, k), getattr(s.coverage.rx, k), equal_nan=True)
            for k in ("best_dbm", "best_server", "second_dbm", "n_servers")
        )
    )
    med = statistics.median(r[1] for r in rows)
    print(f"\n### What-if edits, demo province, model {model}, radius {radius_km:g} km\n")
    print(
        f"session warm-up (all {len(ids)} towers): {warm:.1f} s; peer from-scratch "
        f"compute_coverage + audit ({len(s.towers)} towers): {peer:.1f} s; "
        f"final state equal to the peer (composite, every village column, communes, "
        f"summary): {same}\n"
    )
    print(
        "| edit | edit s | + first `result` s | villages re-audited | newly covered "
        "| newly lost | peer / edit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, sec, tab, n, nc, nl in rows:
        print(f"| {name} | {sec:.3f} | {tab:.3f} | {n} | {nc} | {nl} | {peer / sec:.0f}x |")
    print(
        f"\nmedian edit {med:.3f} s, {peer / med:.0f}x faster than the peer; "
        f"max {max(r[1] for r in rows):.3f} s"
    )


def _progress(label: str):
    """A coarse progress line on stderr (every 10%)."""
    state = {"next": 0.1, "t0": time.perf_counter()}

    def cb(done: int, total: int) -> None:
        if total and done / total >= state["next"]:
            el = time.perf_counter() - state["t0"]
            print(f"  {label}: {done}/{total} ({el:.0f} s)", file=sys.stderr, flush=True)
            while done / total >= state["next"]:
                state["next"] += 0.1

    return cb


def bench_optimizer(
    model: str,
    large_model: str,
    radius_km: float,
    budget: int,
    time_limit_s: float,
    sizes: list[int],
) -> None:
    scen = demo_scenario(seed=0)
    cm = CostModel()
    baselines: dict[str, tuple[object, float]] = {}
    print(
        f"\n### Optimizer, demo province, radius {radius_km:g} km, budget {budget} towers, "
        f"objective population, MILP time limit {time_limit_s:g} s\n"
    )
    rows = []
    for n in sizes:
        m_model = model if n <= 100 else large_model
        if m_model in baselines:
            base, _ = baselines[m_model]
            base_s = "(same)"
        else:
            t = time.perf_counter()
            base = audit(scen, model=m_model, radius_km=radius_km)
            baselines[m_model] = (base, time.perf_counter() - t)
            base_s = f"{baselines[m_model][1]:.1f}"
        tgt_mask = base.villages["status"].isin(("dead", "marginal")).to_numpy()  # type: ignore[attr-defined]
        params = EngineParams(model=m_model, radius_km=radius_km)
        spacing = {100: 1500.0, 1000: 600.0, 5000: 250.0}.get(n, 1500.0 * (100.0 / n) ** 0.5)
        t = time.perf_counter()
        cand = candidate_sites(
            scen, baseline=base, min_spacing_m=spacing, max_auto=n - len(scen.towers)
        )
        t_c = time.perf_counter() - t
        print(f"{len(cand)} candidates ({m_model})", file=sys.stderr, flush=True)
        t = time.perf_counter()
        cover = coverage_matrix(
            scen,
            cand,
            params=params,
            villages_mask=tgt_mask,
            progress=_progress(f"matrix {n} ({m_model})"),
        )
        t_m = time.perf_counter() - t
        t = time.perf_counter()
        table, bh = site_costs(scen, cand, costs=cm)
        t_cost = time.perf_counter() - t
        prob = build_problem(base, cand, cover, table, bh, objective="population", costs=cm)
        g = solve_greedy(prob, budget_towers=budget)
        m = solve_milp(prob, budget_towers=budget, time_limit_s=time_limit_s, greedy=g)
        assert m.value >= g.value
        rows.append(
            f"| {len(cand):,} | {m_model} | {int(tgt_mask.sum())} | {base_s} | {t_c:.1f} | "
            f"{t_m:.1f} | {cover.nnz:,} | {t_cost:.1f} | {g.elapsed_s:.3f} | {g.value:,.0f} | "
            f"{m.elapsed_s:.2f} | {m.value:,.0f} | {m.bound:,.0f} | {100 * m.gap:.2f}% | "
            f"{m.status} |"
        )
    print(
        "| candidates | engine model (baseline + matrix) | target villages | baseline audit s "
        "| candidates s | matrix s | matrix nnz | costs s | greedy s | greedy value | MILP s "
        "| MILP value | MILP bound | gap | MILP status |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(r)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="itm", help="engine model for the edits (default itm)")
    ap.add_argument(
        "--large-model",
        default=None,
        help="model for optimizer rows above 100 candidates (default: knife when --model is "
        "itm, else --model)",
    )
    ap.add_argument("--radius-km", type=float, default=25.0)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--time-limit-s", type=float, default=60.0)
    ap.add_argument("--sizes", default="100,1000,5000", help="candidate counts, comma-separated")
    ap.add_argument("--quick", action="store_true", help="100 and 1,000 candidates only")
    ap.add_argument("--skip-edits", action="store_true")
    ap.add_argument("--skip-optimizer", action="store_true")
    args = ap.parse_args()
    sizes = [100, 1000] if args.quick else [int(x) for x in args.sizes.split(",") if x.strip()]
    large = args.large_model or ("knife" if args.model == "itm" else args.model)
    # The optimizer (throughput-bound matrix builds) runs first and the edits
    # (latency) last, so that a run started on a busy machine times the edits
    # once it has calmed down.
    if not args.skip_optimizer:
        bench_optimizer(args.model, large, args.radius_km, args.budget, args.time_limit_s, sizes)
    if not args.skip_edits:
        bench_edits(args.model, args.radius_km)


if __name__ == "__main__":
    main()
