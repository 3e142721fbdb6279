"""Calibration speed: N measurement samples compared and calibrated (issue 19 item 7).

Run from the repository root::

    python bench/calibration.py                 # 1,000,000 samples, itm, then 4 models
    python bench/calibration.py --n 200000 --read

Samples: points within 0.2-6 km of the demo province's towers (seed 0),
each naming its serving tower (the nearest tower of its technology, half 2G half
4G), measured = the ITM prediction - 4 dB + N(0, 7 dB) rounded to 1 dB, the
first N of them a phone would record (between the sensitivity and the top of
the reporting range) kept (the values only need to be realistic;
``tests/geo/test_calibration_truth.py`` checks what the fits recover).
Timed, on the same samples in one run:

* ``pairs``: the exact-path engine alone on the N (tower, sample) pairs
  (``kernels.paths.pair_signals``), the peer the rest is measured against;
* ``calibrate``: :func:`deadzone.geo.calibration.calibrate` with ``itm`` only
  (predictions, 4 fits x (5 folds + 1)), then with itm, p526, knife and
  cost231; every predicted sample fitted (``censor_margin_db=0``: the
  default leaves out those near the sensitivity, which on random points of
  this mountainous province is most of them, and would flatter the timing);
* ``read`` (``--read``): ``load_measurements`` of the samples written as a
  generic CSV.

Times are wall seconds after a warm-up on 1,000 samples (kernels compiled).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from deadzone.data.demo import demo_scenario
from deadzone.geo.calibration import calibrate, predict_samples
from deadzone.geo.coverage import EngineParams, towers_on_grid
from deadzone.geo.paths import pair_rx
from deadzone.model.schema import SENSITIVITY_DBM, TOP_REPORTED_DBM


def samples_on(scenario, n: int, seed: int = 0) -> gpd.GeoDataFrame:  # noqa: ANN001
    dem = scenario.dem
    rng = np.random.default_rng(seed)
    b = dem.bounds
    t = scenario.towers.to_crs(dem.crs)
    # where phones measure: within 0.2-6 km of a tower (uniform over the area)
    k = rng.integers(0, len(t), n)
    r = np.sqrt(rng.uniform(0.2**2, 6.0**2, n)) * 1000.0
    a = rng.uniform(0.0, 2.0 * np.pi, n)
    x = np.clip(t.geometry.x.to_numpy()[k] + r * np.cos(a), b[0] + 100, b[2] - 100)
    y = np.clip(t.geometry.y.to_numpy()[k] + r * np.sin(a), b[1] + 100, b[3] - 100)
    tech = np.where(np.arange(n) % 2 == 0, "2G", "4G").astype(object)
    tower = np.empty(n, dtype=object)
    for k in ("2G", "4G"):
        sel = tech == k
        tk = t[t["tech"] == k]
        _, i = cKDTree(np.column_stack([tk.geometry.x, tk.geometry.y])).query(
            np.column_stack([x[sel], y[sel]]))
        tower[sel] = tk["tower_id"].to_numpy()[i]
    pts = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=dem.crs).to_crs(4326)
    return gpd.GeoDataFrame({
        "sample_id": np.char.add("S", np.arange(1, n + 1).astype(str)).astype(object),
        "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(), "tech": tech, "measured_dbm": 0.0,
        "metric": np.where(tech == "2G", "rxlev", "rsrp").astype(object), "cell": None,
        "tower_id": tower, "measured_at": pd.NaT, "qc": "ok", "source_row": np.arange(n) + 2,
    }, geometry=pts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--read", action="store_true", help="also time reading the CSV")
    ap.add_argument("--skip-all-models", action="store_true")
    args = ap.parse_args()
    s = demo_scenario(0)
    itm = EngineParams(model="itm")
    print(f"demo seed 0, {args.n:,} samples, {os.cpu_count()} cores")
    warm = samples_on(s, 1000, seed=9)
    calibrate(s.dem, s.towers, warm, params=itm, min_samples=10)
    # draw 6N, keep N a phone would have recorded (between the sensitivity and
    # the top of the reporting range)
    smp = samples_on(s, 6 * args.n)
    pred = predict_samples(s.dem, s.towers, smp, params=itm)
    rng = np.random.default_rng(1)
    meas = np.round(pred["predicted_dbm"].fillna(-300.0).to_numpy() - 4.0
                    + rng.normal(0.0, 7.0, len(smp)))
    tech = smp["tech"].to_numpy()
    lo = np.array([SENSITIVITY_DBM[t] for t in tech])
    hi = np.array([TOP_REPORTED_DBM[t] for t in tech])
    keep = np.flatnonzero((meas >= lo) & (meas <= hi))[: args.n]
    if keep.size < args.n:
        raise SystemExit(f"only {keep.size:,} recordable samples of {len(smp):,}")
    smp = smp.iloc[keep].reset_index(drop=True)
    smp["measured_dbm"] = meas[keep]
    smp["sample_id"] = np.char.add("S", np.arange(1, args.n + 1).astype(str)).astype(object)
    pred = pred.iloc[keep].reset_index(drop=True)

    grid = towers_on_grid(s.towers, s.dem)
    index = {t: i for i, t in enumerate(grid.tower_ids)}
    xy = smp.geometry.to_crs(s.dem.crs)
    ok = pred["use"].to_numpy()
    pt = np.array([index[t] for t in smp["tower_id"]], np.int64)[ok]
    pv = np.flatnonzero(ok)
    t0 = time.perf_counter()
    pair_rx(s.dem, grid, xy.x.to_numpy(), xy.y.to_numpy(), pt, pv, params=itm)
    t_pairs = time.perf_counter() - t0
    print(f"pairs (exact-path engine alone, itm): {t_pairs:.1f} s for {pv.size:,} pairs")

    t0 = time.perf_counter()
    res = calibrate(s.dem, s.towers, smp, params=itm, models=["itm"], censor_margin_db=0.0)
    t1 = time.perf_counter() - t0
    print(f"calibrate, itm: {t1:.1f} s ({t1 / t_pairs:.2f} x pairs); {res.reason}")
    if not args.skip_all_models:
        t0 = time.perf_counter()
        res = calibrate(s.dem, s.towers, smp, params=itm, censor_margin_db=0.0)
        t4 = time.perf_counter() - t0
        print(f"calibrate, itm + p526 + knife + cost231: {t4:.1f} s ({t4 / t_pairs:.2f} x "
              f"pairs); {res.reason}")
    if args.read:
        from deadzone.data.loaders import load_measurements, write_measurements

        with tempfile.TemporaryDirectory() as tmp:
            f = write_measurements(smp, Path(tmp) / "m.csv", format="generic")
            t0 = time.perf_counter()
            load_measurements(f, towers=s.towers)
            print(f"read (load_measurements, generic CSV): {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
