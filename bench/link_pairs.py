"""Links per second of ``deadzone link --pairs`` on the demo province.

Every pair of the demo's 40 towers (780 hops, 40 m masts, 13 GHz) and 10,000
random point pairs of 1-20 km: the profile + clearance + loss kernel
(``geo.link.link_table``) per model, and the microwave budget per pair
(``app.link.run_pairs``).  Run: ``python bench/link_pairs.py``.
"""

from __future__ import annotations

import itertools
import time

import numba
import numpy as np
import pandas as pd

from deadzone.app.link import MicrowaveOptions, run_pairs
from deadzone.data.demo import demo_scenario
from deadzone.geo.link import link_table, point_end, resolve_end
from deadzone.model.microwave import MicrowaveClimate, MicrowaveRadio


def main() -> None:
    s = demo_scenario(seed=0)
    ids = list(s.towers.tower_id)
    ends = {i: resolve_end(s, i, height_m=40.0) for i in ids}
    hops = list(itertools.combinations(ids, 2))
    a = [ends[x] for x, _ in hops]
    b = [ends[y] for _, y in hops]
    rng = np.random.default_rng(0)
    w, so, e, n = s.dem.bounds_lonlat
    pa, pb = [], []
    while len(pa) < 10_000:
        p = rng.uniform([w + 0.1 * (e - w), so + 0.1 * (n - so)],
                        [e - 0.1 * (e - w), n - 0.1 * (n - so)], (2, 2))
        d_km = np.hypot((p[1, 0] - p[0, 0]) * 103.0, (p[1, 1] - p[0, 1]) * 111.0)
        if 1.0 <= d_km <= 20.0:
            pa.append(point_end(s.dem, p[0, 0], p[0, 1], height_m=30.0))
            pb.append(point_end(s.dem, p[1, 0], p[1, 1], height_m=30.0))
    print(f"threads {numba.get_num_threads()}, DEM {s.dem.shape} at {s.dem.cell_w_m:.0f} m")
    for name, (xa, xb) in {"tower hops": (a, b), "random 1-20 km": (pa, pb)}.items():
        for model in ("fspl", "p526", "itm"):
            f = 13_000.0 if model != "itm" else 7_500.0
            link_table(s.dem, xa[:5], xb[:5], freq_mhz=f, model=model)  # compile
            t0 = time.perf_counter()
            df = link_table(s.dem, xa, xb, freq_mhz=f, model=model)
            dt = time.perf_counter() - t0
            print(f"{name:15s} {model:5s} {len(df):6d} links {dt:7.3f} s "
                  f"{len(df) / dt:9.0f} links/s (mean {df.distance_m.mean() / 1000:.1f} km)")
    pairs = pd.DataFrame({"a": [x for x, _ in hops], "b": [y for _, y in hops],
                          "height_a_m": 40.0, "height_b_m": 40.0})
    opts = MicrowaveOptions(radio=MicrowaveRadio(freq_ghz=13.0), climate=MicrowaveClimate())
    t0 = time.perf_counter()
    t = run_pairs(s, pairs, freq_mhz=13_000.0, model="p526", k_factor=4 / 3, microwave=opts)
    dt = time.perf_counter() - t0
    print(f"run_pairs with budget, p526: {len(t)} hops {dt:.3f} s, {len(t) / dt:.0f} hops/s; "
          f"{int(t.clear.sum())} clear at 60% F1")


if __name__ == "__main__":
    main()
