"""Cost of a synthetic drive test (:class:`deadzone.geo.truth.SyntheticTruth`).

Run from the repository root::

    python bench/truth.py                       # 1,000,000 rows, knife, 2 threads
    python bench/truth.py --model itm --rows 200000

Scenario: ``demo_scenario(0)`` (40 towers, 2G and 4G, ~515 km of roads),
samples every 20 m, as many passes over the roads as the rows need.  Reports
the wall and CPU time of the engine (tower -> point paths, folding, offsets,
shadowing) per sample point, per row and per path, the shadowing field
alone, and the whole ``drive`` call (route, table).  On a shared machine the
CPU time per path is the steadier figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.getcwd())

from deadzone.data.demo import demo_scenario  # noqa: E402
from deadzone.geo.coverage import EngineParams  # noqa: E402
from deadzone.geo.truth import SyntheticTruth  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--model", default="knife")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    sc = demo_scenario(0)
    truth = SyntheticTruth(sc, params=EngineParams(model=args.model),
                           offsets_db={"2G": -3.0, "4G": 2.0})
    truth.drive(route_km=2.0, seed=9)  # compile / load the Numba caches
    per_km = 2 * 1000 / 20.0  # ~rows per km: two technologies every 20 m
    route_km = 3.0 * args.rows / per_km  # drive() stops at max_samples
    log = logging.getLogger("deadzone.geo.truth")
    log.setLevel(logging.INFO)
    handler = logging.StreamHandler(sys.stdout)
    log.addHandler(handler)
    w0, c0 = time.perf_counter(), time.process_time()
    table = truth.drive(route_km=route_km, max_samples=args.rows, seed=1)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    a = table.attrs["truth"]
    pts, paths = a["points"], a["paths"]
    print(f"{len(table):,} rows, {pts:,} points, {paths:,} paths "
          f"({paths / pts:.1f} per point), model {args.model}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"drive(): {wall:.1f} s wall, {cpu:.1f} s CPU -> {len(table) / wall:,.0f} rows/s, "
          f"{paths / wall:,.0f} paths/s wall, {1e6 * cpu / paths:.2f} us CPU per path")
    x = np.random.default_rng(0).uniform(0, 60_000, pts)
    y = np.random.default_rng(1).uniform(0, 60_000, pts)
    w0, c0 = time.perf_counter(), time.process_time()
    truth.shadowing.at(x + sc.dem.transform.c, y + sc.dem.transform.f - 60_000)
    print(f"shadowing alone at {pts:,} points: {time.perf_counter() - w0:.2f} s wall, "
          f"{time.process_time() - c0:.2f} s CPU")


if __name__ == "__main__":
    main()
