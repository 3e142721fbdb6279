"""What-if session memory: a 1,000-tower province within a budget (issue 18 item 1).

Usage: ``python bench/whatif_memory.py`` (1,000 towers, knife-edge, 10 km,
30 edits; ~10 min on 2 cores), ``--towers 200 --edits 10`` for a quick run,
``--ranks 4`` (ranks kept per composite cell, default the session's),
``--max-memory-gb 1.46,1.07`` (more cases at these budgets).

Each case runs in its own process, so that its peak resident memory
(``ru_maxrss``) is its own: the demo province's DEM (2000 x 2000 cells of
30 m) with ``--towers`` seeded random towers (2G and 4G, 20-50 m) in place of
the demo's, a :class:`deadzone.geo.whatif.Session`, then the same seeded
edits (moves up to 3 km, height and EIRP changes, adds, removes) timed one by
one.  Cases: every window kept (no budget), then ``--max-memory`` leaving
50 %, 25 % and 10 % of those windows' bytes for kept windows (after the
ranks kept per composite cell, which the session counts in its budget).  Each case's
final composites and village statuses are hashed: the budget must not change
a single bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _towers(scen, n: int, seed: int):  # noqa: ANN001, ANN202
    import geopandas as gpd
    import numpy as np

    rng = np.random.default_rng(seed)
    w, s, e, nn = scen.dem.bounds_lonlat
    lon = rng.uniform(w + 0.02, e - 0.02, n)
    lat = rng.uniform(s + 0.02, nn - 0.02, n)
    tech = rng.choice(["2G", "4G"], n)
    return gpd.GeoDataFrame(
        {
            "tower_id": [f"T{i:04d}" for i in range(n)],
            "lon": lon,
            "lat": lat,
            "tech": tech,
            "freq_mhz": np.where(tech == "2G", 900.0, 1800.0),
            "eirp_dbm": np.where(tech == "2G", 55.0, 60.0),
            "height_m": rng.uniform(20.0, 50.0, n).round(1),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def child(args: argparse.Namespace) -> None:
    import numpy as np

    from deadzone.data.demo import demo_scenario
    from deadzone.geo.memory import process_rss_bytes
    from deadzone.geo.whatif import Session
    from deadzone.model.scenario import Scenario

    base = demo_scenario(seed=0)
    scen = Scenario(dem=base.dem, communes=base.communes, villages=base.villages,
                    towers=_towers(base, args.towers, 1), name=base.name, meta=base.meta)
    t = time.perf_counter()
    s = Session(scen, model=args.model, radius_km=args.radius_km,
                max_memory_bytes=args.max_memory or None, max_towers=args.towers + args.edits,
                **({"ranks": args.ranks} if args.ranks else {}))
    init_s = time.perf_counter() - t
    mem0 = s.memory()
    rss0 = process_rss_bytes()
    rng = np.random.default_rng(2)
    w, so, e, n = scen.dem.bounds_lonlat
    times = []
    added = 0
    for _ in range(args.edits):
        ids = list(s.towers["tower_id"])
        kind = rng.choice(["move", "height", "eirp", "add", "remove"])
        tid = str(ids[int(rng.integers(len(ids)))])
        t = time.perf_counter()
        if kind == "move":
            row = s.towers.set_index("tower_id").loc[tid]
            lon = float(np.clip(row.geometry.x + rng.uniform(-0.03, 0.03), w + 0.01, e - 0.01))
            lat = float(np.clip(row.geometry.y + rng.uniform(-0.03, 0.03), so + 0.01, n - 0.01))
            s.move(tid, lon, lat)
        elif kind == "height":
            s.edit(tid, height_m=float(rng.uniform(20, 60)))
        elif kind == "eirp":
            s.edit(tid, eirp_dbm=float(rng.uniform(50, 62)))
        elif kind == "add":
            added += 1
            s.add(float(rng.uniform(w + 0.02, e - 0.02)), float(rng.uniform(so + 0.02, n - 0.02)),
                  height_m=40.0, tech="4G", tower_id=f"B{added}")
        else:
            s.remove(tid)
        times.append(time.perf_counter() - t)
    h = hashlib.sha256()
    cov = s.coverage
    for comp in (cov.rx, *cov.by_tech.values()):
        for k in ("best_dbm", "best_server", "second_dbm", "n_servers"):
            h.update(getattr(comp, k).tobytes())
    h.update("".join(s.result.villages["status"].astype(str)).encode())
    mem1 = s.memory()
    print(json.dumps({
        "init_s": init_s,
        "edit_median_s": statistics.median(times),
        "edit_p90_s": float(np.quantile(times, 0.9)),
        "edit_max_s": max(times),
        "rss_after_init": rss0,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "windows_kept_init": mem0["windows_kept"],
        "window_bytes_init": mem0["window_bytes"],
        "window_budget": mem0["window_budget_bytes"],
        "need": (args.max_memory - mem0["window_budget_bytes"]) if args.max_memory else None,
        "recomputed": mem1["windows_recomputed"],
        "decompressed": mem1["windows_decompressed"],
        "compressed_init": mem0["windows_compressed"],
        "towers": mem1["towers"],
        "refolded": mem1.get("cells_refolded"),
        "ranks": mem1.get("ranks"),
        "rank_bytes": mem1.get("rank_bytes"),
        "digest": h.hexdigest()[:16],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--towers", type=int, default=1000)
    ap.add_argument("--edits", type=int, default=30)
    ap.add_argument("--model", default="knife")
    ap.add_argument("--radius-km", type=float, default=10.0)
    ap.add_argument("--ranks", type=int, default=0,
                    help="ranks kept per composite cell (default: the session's)")
    ap.add_argument("--max-memory-gb", default="",
                    help="more cases at these budgets (GB, comma-separated)")
    ap.add_argument("--max-memory", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    def run(max_memory: int) -> dict:
        cmd = [sys.executable, __file__, "--child", "--towers", str(args.towers), "--edits",
               str(args.edits), "--model", args.model, "--radius-km", str(args.radius_km),
               "--max-memory", str(max_memory), "--ranks", str(args.ranks)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])

    # "need" (process + composites + one tower's computation) from a first
    # bounded run with a budget far above it
    probe = run(10**13)
    need, total = probe["need"], probe["window_bytes_init"]
    rows = [("every window kept", None, run(0))]
    for frac in (0.5, 0.25, 0.10):
        budget = int(need + frac * total)
        rows.append((f"{frac:.0%} of the windows", budget, run(budget)))
    for gb_ in filter(None, args.max_memory_gb.split(",")):
        budget = int(float(gb_) * 1e9)
        rows.append((f"{(budget - need) / total:.0%} of the windows", budget, run(budget)))
    gb = 1e9
    print(f"\n{args.towers:,} towers on the demo province (2000 x 2000 cells of 30 m), "
          f"{args.model}, {args.radius_km:g} km; {args.edits} seeded edits; 2 threads\n")
    print(f"windows of all towers: {total / gb:.2f} GB; the session without them "
          f"(process, composites, one tower's computation): {need / gb:.2f} GB, "
          f"of which ranks ({probe['ranks']} per composite cell): "
          f"{(probe['rank_bytes'] or 0) / gb:.2f} GB allocated\n")
    print("| windows kept | --max-memory | peak RSS | start s | kept at start (compressed) "
          "| edit median s | edit p90 s | edit max s | decompressed | recomputed "
          "| cells refolded | ranks | result digest |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, budget, r in rows:
        mm = "-" if budget is None else f"{budget / gb:.2f} GB"
        print(f"| {name} | {mm} | {r['peak_rss'] / gb:.2f} GB | {r['init_s']:.1f} | "
              f"{r['windows_kept_init']} ({r['compressed_init']}) | "
              f"{r['edit_median_s']:.3f} | {r['edit_p90_s']:.3f} | {r['edit_max_s']:.3f} | "
              f"{r['decompressed']} | {r['recomputed']} | {r['refolded']} | {r['ranks']} | "
              f"{r['digest']} |")
    same = len({r["digest"] for _, _, r in rows}) == 1
    print(f"\nresults identical across budgets: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
