"""Exact-path village audit on the real SRTM tile vs NTIA's ITM C++ on the same paths.

Run from the repository root (needs ``../shared/data`` and NTIA's source, see
``bench/ntia_ref.py``)::

    python bench/village_paths.py                    # 20,000 villages x 400 towers
    python bench/village_paths.py --villages 2000 --towers 100   # quicker
    python bench/village_paths.py --no-raster-audit --per-pair   # RESULTS.md

Scenario: SRTM N21E105 read at 30 m UTM (``load_dem(resolution_m=30)``),
``--villages`` seeded random points and ``--towers`` seeded random 2G towers
(900 MHz, 30 m, EIRP 50 dBm, omni) over the tile, the 2025 communes, model
ITM with the CLI's default settings, radius 25 km.

It reports, on every tower -> village pair within reach:

1. **Agreement with NTIA.**  Each pair's straight profile (the engine's own
   definition: bilinear at 30 m, both ends) goes to NTIA's C++
   ``ITM_P2P_TLS`` one path at a time; |engine - NTIA| per pair, and village
   statuses rebuilt from NTIA's losses against the audit's.
2. **Cost.**  NTIA's single-threaded loop over the pairs (profile
   extraction not counted: generous to NTIA), against the whole
   ``deadzone audit --no-rasters`` command (a subprocess: imports, reading
   the DEM and the files, the paths, writing every table), run three times,
   the fastest of the last two (warm Numba and bytecode caches) reported;
   and the old raster audit for scale.
3. **Per pair** (``--per-pair``): the pair kernel on one thread, ITM and
   free space on the same pairs, in core-us per pair (free space: the
   profile, the gain, the set-up; ITM minus it: NTIA's method).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np

from deadzone.kernels import _paths as kp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
SHARED = ROOT.parent / "shared" / "data"
TILE = SHARED / "srtm3" / "N21E105.hgt"
COMMUNES = SHARED / "vn_admin_2025" / "vn_communes_2025.gpkg"


@numba.njit  # not cached: a cache would keep an old sample_path inlined
def _pack(dem, cell_m, t_rc, t_xy, v_rc, v_xy, pt, pv, flat, offsets):
    """NTIA PFL arrays of the pairs, built with the engine's own profile definition."""
    o = 0
    for p in range(pt.shape[0]):
        t = pt[p]
        v = pv[p]
        dx = v_xy[v, 0] - t_xy[t, 0]
        dy = v_xy[v, 1] - t_xy[t, 1]
        d = max(math.sqrt(dx * dx + dy * dy), kp.MIN_DISTANCE_M)
        n = kp.path_intervals(d, cell_m)
        offsets[p] = o
        flat[o] = n
        flat[o + 1] = d / n
        kp.sample_path(dem, t_rc[t, 0], t_rc[t, 1], v_rc[v, 0], v_rc[v, 1], n, flat[o + 2:])
        o += n + 3
    return o


def _inputs(folder: Path, n_v: int, n_t: int, seed: int = 7) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(105.02, 105.98, n_v)
    lat = rng.uniform(21.02, 21.98, n_v)
    vil = folder / "villages.csv"
    with vil.open("w", encoding="utf-8") as f:
        f.write("village_id,name,lon,lat,population,households\n")
        for i in range(n_v):
            f.write(f"V{i:05d},Thon {i},{lon[i]:.6f},{lat[i]:.6f},400,100\n")
    tl = rng.uniform(105.02, 105.98, n_t)
    ta = rng.uniform(21.02, 21.98, n_t)
    tow = folder / "towers.csv"
    with tow.open("w", encoding="utf-8") as f:
        f.write("tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m\n")
        for i in range(n_t):
            f.write(f"T{i:03d},{tl[i]:.6f},{ta[i]:.6f},2G,900,50,30\n")
    return vil, tow


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return dt


def _per_pair(dem, grid, vx, vy, pt, pv) -> None:
    """Thread time per pair of ``pair_signals`` on one thread (best of 2), ITM
    and free space on the same pairs: free space is the profile, the gain and
    the set-up, ITM minus it the loss."""
    from deadzone.geo.coverage import EngineParams
    from deadzone.geo.paths import pair_rx

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for model in ("itm", "fspl"):
            params = EngineParams(model=model)
            pair_rx(dem, grid, vx, vy, pt[:100], pv[:100], params=params)
            best = math.inf
            for _ in range(2):
                t0 = time.perf_counter()
                pair_rx(dem, grid, vx, vy, pt, pv, params=params)
                best = min(best, time.perf_counter() - t0)
            print(f"pairs, one thread, model {model}: {best:.2f} s = "
                  f"{1e6 * best / pt.size:.2f} core-us per pair", flush=True)
    finally:
        numba.set_num_threads(old)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--villages", type=int, default=20_000)
    ap.add_argument("--towers", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--no-raster-audit", action="store_true",
                    help="skip timing the raster audit (slow at 400 towers)")
    ap.add_argument("--per-pair", action="store_true",
                    help="also time the pair kernel on one thread, ITM and free space "
                         "(the profile and everything but the loss), in core-us per pair")
    args = ap.parse_args(argv)

    import ntia_ref

    from deadzone.app.scenario import load_audit_scenario
    from deadzone.geo.audit import audit
    from deadzone.geo.paths import fractional_rc
    from deadzone.kernels.itm import ItmSettings

    tmp = Path(tempfile.mkdtemp(prefix="dz_paths_"))
    vil, tow = _inputs(tmp, args.villages, args.towers)
    # as installed: Python's bytecode cache on (some sandboxes set
    # PYTHONDONTWRITEBYTECODE, which recompiles every module at each start)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONWARNINGS"] = "ignore"
    base = [sys.executable, "-m", "deadzone", "-q", "audit", "--dem", str(TILE),
            "--dem-resolution-m", "30", "--villages", str(vil), "--communes", str(COMMUNES),
            "--towers", str(tow), "--model", "itm", "--radius-km", "25", "--overwrite"]
    print(f"{args.villages:,} villages x {args.towers} towers, SRTM N21E105 at 30 m, ITM, 25 km;"
          f" {numba.config.NUMBA_NUM_THREADS} threads", flush=True)
    t_cli = [_run([*base, "--no-rasters", "--out", str(tmp / "a")], env) for _ in range(3)]
    t_warm = min(t_cli[1:])
    print(f"deadzone audit --no-rasters: {t_cli[0]:.1f} s first, {t_warm:.1f} s warm "
          f"(runs: {', '.join(f'{t:.1f}' for t in t_cli)})", flush=True)

    import warnings
    warnings.simplefilter("ignore")
    sc = load_audit_scenario(TILE, vil, COMMUNES, tow, radius_km=25.0, dem_resolution_m=30.0)
    t0 = time.perf_counter()
    res = audit(sc, rasters=False)
    t_api = time.perf_counter() - t0
    sig = res.signals
    grid = res.grid
    dem = sc.dem
    n_pairs = sig.pair_tower.size
    print(f"pairs within reach: {n_pairs:,}; audit() call {t_api:.1f} s", flush=True)

    # NTIA on every pair's profile, in chunks
    itm = ItmSettings()
    pts = sc.villages.to_crs(dem.crs).geometry.representative_point()
    vx, vy = pts.x.to_numpy(), pts.y.to_numpy()
    t_rc = fractional_rc(dem, grid.x_m, grid.y_m)
    v_rc = fractional_rc(dem, vx, vy)
    t_xy = np.column_stack([grid.x_m, grid.y_m])
    v_xy = np.column_stack([vx, vy])
    h_tx = np.array([s.height_m if s else np.nan for s in grid.sites])
    f = np.array([s.freq_mhz if s else np.nan for s in grid.sites])
    cell = min(dem.cell_w_m, dem.cell_h_m)
    elev = np.ascontiguousarray(dem.elevation_m, dtype=np.float32)
    ntia = np.empty(n_pairs)
    t_ntia = 0.0
    for lo in range(0, n_pairs, args.chunk):
        hi = min(lo + args.chunk, n_pairs)
        pt, pv = sig.pair_tower[lo:hi], sig.pair_village[lo:hi]
        n_max = int(sig.paths.intervals[lo:hi].max())
        flat = np.empty((hi - lo) * (n_max + 3))
        offsets = np.empty(hi - lo, dtype=np.int64)
        _pack(elev, cell, t_rc, t_xy, v_rc, v_xy, pt, pv, flat, offsets)
        t0 = time.perf_counter()
        loss, _m, _w, rc = ntia_ref.p2p_tls_batch_packed(
            flat, offsets, h_tx[pt], 1.5, f[pt], climate=itm.climate, n0=itm.n0,
            pol=itm.pol, epsilon=itm.epsilon, sigma=itm.sigma, mdvar=itm.mdvar,
            time=itm.time_pct, location=itm.location_pct, situation=itm.situation_pct,
            with_mode=False)
        t_ntia += time.perf_counter() - t0
        ntia[lo:hi] = loss
    diff = np.abs(sig.paths.loss_db - ntia)
    print(f"NTIA ITM_P2P_TLS, one thread, {n_pairs:,} paths: {t_ntia:.1f} s "
          f"({1e6 * t_ntia / n_pairs:.1f} us/path)")
    print(f"|engine - NTIA| per pair (dB): median {np.median(diff):.2e}, "
          f"p99 {np.percentile(diff, 99):.2e}, max {diff.max():.2e}")

    # statuses from NTIA's losses, folded as the audit folds
    eirp = np.array([s.eirp_dbm if s else np.nan for s in grid.sites])
    rx = eirp[sig.pair_tower] + sig.paths.gain_db - ntia
    best = np.full(len(vx), np.nan)
    np.fmax.at(best, sig.pair_village, rx)
    covered = np.where(best >= -100.0, "covered", np.where(best >= -110.0, "marginal", "dead"))
    v = res.villages
    evaluated = v["status"] != "unknown"
    same = (covered[evaluated.to_numpy()] == v.loc[evaluated, "status"].to_numpy()).mean()
    print(f"village statuses equal to NTIA's: {100 * same:.3f}% of {int(evaluated.sum()):,}")
    print(f"whole command / NTIA loop: {t_warm / t_ntia:.2f}x (target < 0.5)")
    if args.per_pair:
        _per_pair(dem, grid, vx, vy, sig.pair_tower, sig.pair_village)
    if not args.no_raster_audit:
        t_r = _run([*base, "--out", str(tmp / "b")], env)
        print(f"deadzone audit with rasters (maps): {t_r:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
