"""Area coverage: how fast the radial-sweep engine is, and against per-pixel peers.

Usage: ``python bench/area.py`` (about 5 minutes on 2 cores); writes
nothing, prints markdown tables.  ``python bench/area.py --quick`` skips the
province runs and the 25 km naive baselines.

Cases
-----
0. ITM (the default model) and P.526-15 §4.5 delta-Bullington (``p526``):
   one tower at 10 and 25 km on 1 and 2 threads,
   against the per-pixel ITM that SPLAT!/Signal-Server run (a full profile
   to every pixel and NTIA's complete p2p profile analysis per pixel, our
   Numba port of NTIA ITM 1.4, single-threaded as they are), and against the
   delta-Bullington Recommendation as written evaluated per pixel (the method
   of the ITU-R P.452/P.1812 reference implementations), with the loss
   agreement in each pair.
1. One tower, demo DEM (2000 x 2000, 30 m), radius 5-35 km, models
   ``itm``, ``knife`` and ``fspl``: seconds per tower after JIT warm-up
   (median of 3) and computed cells per second.
2. Growth with radius: 5, 10, 15, 20, 25, 35 km (35 km is clipped by the DEM
   edge: the tower sits at the centre of a 60 km square).
3. Where the time goes in one 25 km tower: window allocation, radial walk
   only (the line-of-sight kernel, same radials and cell assignment), FSPL,
   knife edge, sector antenna.
4. Naive per-cell baselines for the same window: (a) the public API per
   cell (``line_profile`` + ``profile_loss``, Python loop) and (b) the same
   full-profile-per-pixel algorithm compiled with Numba (what CRC-COVLIB does
   in C++, single-threaded) -- the fair algorithmic comparison.  Both agree
   with the sweep on cells that lie exactly on a radial.
5. The whole demo province (40 towers, ``compute_coverage``, radius 25 km,
   ITM and knife) with 1 and 2 threads, and the real SRTM tile N21E105 (~90 m),
   40 towers at seeded random cells, radius 25 km.  Each runs in a fresh
   subprocess so that its peak RSS (``resource.getrusage``) is its own.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deadzone.kernels import _itm as _itm_k  # noqa: E402
from deadzone.kernels import _itm_sweep as _ks  # noqa: E402
from deadzone.kernels import _p526  # noqa: E402
from deadzone.kernels import _paths as _kp  # noqa: E402
from deadzone.kernels import _propagation as _k  # noqa: E402
from deadzone.kernels import _viewshed as _vs  # noqa: E402
from deadzone.kernels.coverage import (  # noqa: E402
    RadioSite,
    line_profile,
    profile_loss,
    tower_window,
)

SRTM = Path(__file__).resolve().parents[2] / "shared/data/srtm3/N21E105.hgt"
CELL_M = 30.0
H_TX, H_RX, F_MHZ, EIRP = 30.0, 1.5, 900.0, 58.0
K = 4.0 / 3.0


def _median_time(fn, n: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _window(z, site, radius_km, model="knife", cell_m=CELL_M, threads=1):
    return tower_window(z, site, cell_w_m=cell_m, cell_h_m=cell_m, radius_m=radius_km * 1000.0,
                        rx_height_m=H_RX, model=model, n_threads=threads)


# --- naive baseline: a full profile per pixel --------------------------------


@numba.njit(nogil=True, cache=False)
def _pixel_profile(dem, row0, col0, dr, dc, cell_m, radius_m, z):
    """Profile from the tower's cell centre to the cell (dr, dc) away, as the
    exact-path engine defines it (``kernels._paths.sample_path``: bilinear,
    ``n = ceil(d / cell)`` equal intervals, both ends) into ``z``.  Returns
    (intervals n, step m); n = -1 when the cell is off the DEM or beyond
    ``radius_m``."""
    rows, cols = dem.shape
    if not (0 <= row0 + dr < rows and 0 <= col0 + dc < cols):
        return -1, 0.0
    d = math.hypot(dr, dc) * cell_m
    if d > radius_m or d == 0.0:
        return -1, 0.0
    n = _kp.path_intervals(d, cell_m)
    _kp.sample_path(dem, float(row0), float(col0), float(row0 + dr), float(col0 + dc), n, z)
    return n, d / n


@numba.njit(nogil=True, cache=False)
def _naive_window(dem, row0, col0, r, radius_m, cell_m, h_tx, h_rx, f_mhz, k, model, out):
    """Loss to every cell of the window, each from its own full profile,
    by the same point-to-point kernel the public ``profile_loss`` uses."""
    z = np.empty(2 * r + 3)
    res = np.empty(5)
    for i in range(2 * r + 1):
        for j in range(2 * r + 1):
            m, step = _pixel_profile(dem, row0, col0, i - r, j - r, cell_m, radius_m, z)
            if m < 1:
                continue
            _k.point_loss(z[: m + 1], step, h_tx, h_rx, f_mhz, k, model, res)
            out[i, j] = res[0]


@numba.njit(nogil=True, cache=False)
def _naive_itm_window(dem, row0, col0, r, radius_m, cell_m, h_tx, h_rx, f_mhz, params, out):
    """ITM per pixel as SPLAT!/Signal-Server compute it: a full profile to
    every pixel and NTIA's complete p2p (horizons, resampled Delta h, fits)."""
    z = np.empty(2 * r + 3)
    work = np.empty(_itm_k.WORK_SIZE)
    iv = np.empty(_itm_k.IV_SIZE)
    for i in range(2 * r + 1):
        for j in range(2 * r + 1):
            m, step = _pixel_profile(dem, row0, col0, i - r, j - r, cell_m, radius_m, z)
            if m < 2:
                continue
            loss, _m, _w, _e = _itm_k.p2p(
                z, m, step, h_tx, h_rx, int(params[_ks.P_CLIMATE]), params[_ks.P_N0], f_mhz,
                int(params[_ks.P_POL]), params[_ks.P_EPSILON], params[_ks.P_SIGMA],
                int(params[_ks.P_MDVAR]), params[_ks.P_TIME], params[_ks.P_LOCATION],
                params[_ks.P_SITUATION], work, iv)
            out[i, j] = loss


@numba.njit(nogil=True, cache=False)
def _naive_p526_window(dem, row0, col0, r, radius_m, cell_m, h_tx, h_rx, f_mhz, a_e, eps,
                       sigma, pol, out):
    """P.526-15 §4.5 per pixel as the P.452/P.1812 reference implementations
    compute it: a full profile to every pixel and the Recommendation as written
    (every scan redone, nu_max over all points)."""
    z = np.empty(2 * r + 3)
    d = np.empty(r + 1)
    res = np.empty(_p526.O_SIZE)
    for i in range(2 * r + 1):
        for j in range(2 * r + 1):
            m, step = _pixel_profile(dem, row0, col0, i - r, j - r, cell_m, radius_m, z)
            if m < 2:
                continue
            for q in range(m + 1):
                d[q] = q * step
            _p526.delta_bullington_general(d[: m + 1], z[: m + 1], z[0] + h_tx, z[m] + h_rx,
                                           a_e, f_mhz, eps, sigma, pol, res)
            dh = z[0] + h_tx - z[m] - h_rx
            out[i, j] = _k.fspl_db(math.sqrt((m * step) ** 2 + dh * dh), f_mhz) + res[0]


def naive_p526(z, row, col, radius_km):
    from deadzone.kernels.itm import ItmSettings

    st = ItmSettings()
    r = int(math.ceil(radius_km * 1000.0 / CELL_M))
    out = np.full((2 * r + 1, 2 * r + 1), np.nan)
    _naive_p526_window(z, row, col, r, radius_km * 1000.0, CELL_M, H_TX, H_RX, F_MHZ,
                       K * _k.EARTH_RADIUS_M, st.epsilon, st.sigma, st.pol, out)
    return out


def naive_itm(z, row, col, radius_km):
    from deadzone.kernels.itm import ItmSettings

    r = int(math.ceil(radius_km * 1000.0 / CELL_M))
    out = np.full((2 * r + 1, 2 * r + 1), np.nan)
    _naive_itm_window(z, row, col, r, radius_km * 1000.0, CELL_M, H_TX, H_RX, F_MHZ,
                      ItmSettings().as_array(), out)
    return out


def naive_numba(z, row, col, radius_km):
    r = int(math.ceil(radius_km * 1000.0 / CELL_M))
    out = np.full((2 * r + 1, 2 * r + 1), np.nan)
    _naive_window(z, row, col, r, radius_km * 1000.0, CELL_M, H_TX, H_RX, F_MHZ, K,
                  _k.MODEL_KNIFE, out)
    return out


def naive_python(z, row, col, radius_km):
    r = int(math.ceil(radius_km * 1000.0 / CELL_M))
    out = np.full((2 * r + 1, 2 * r + 1), np.nan)
    for i in range(2 * r + 1):
        for j in range(2 * r + 1):
            dr, dc = i - r, j - r
            if (dr == 0 and dc == 0) or math.hypot(dr, dc) * CELL_M > radius_km * 1000.0:
                continue
            prof, step = line_profile(z, row, col, row + dr, col + dc, cell_w_m=CELL_M,
                                      cell_h_m=CELL_M)
            out[i, j] = profile_loss(prof, step, h_tx_m=H_TX, h_rx_m=H_RX, freq_mhz=F_MHZ,
                                     model="knife", k_factor=K).loss_db
    return out


def _compare(sweep_dbm, naive_loss):
    """Sweep loss vs naive loss on cells both computed: cells, share within 1 dB and 6 dB,
    median and 90th percentile of the absolute difference."""
    sweep_loss = EIRP - sweep_dbm.astype(np.float64)
    both = np.isfinite(sweep_loss) & np.isfinite(naive_loss)
    d = np.abs(sweep_loss[both] - naive_loss[both])
    return (int(both.sum()), float(np.mean(d <= 1.0)), float(np.mean(d <= 6.0)),
            float(np.median(d)), float(np.percentile(d, 90)))


# --- subprocess cases ---------------------------------------------------------


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _random_towers(dem, n: int, seed: int):
    import geopandas as gpd
    from shapely.geometry import Point

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, dem.shape[0], n)
    cols = rng.integers(0, dem.shape[1], n)
    x, y = dem.xy(rows, cols)
    techs = ["2G", "4G"] * (n // 2) + ["2G"] * (n % 2)
    return gpd.GeoDataFrame(
        {"tower_id": [f"R{i:03d}" for i in range(n)], "tech": techs,
         "freq_mhz": [900.0 if t == "2G" else 1800.0 for t in techs],
         "eirp_dbm": [55.0 if t == "2G" else 61.0 for t in techs],
         "height_m": np.full(n, 30.0)},
        geometry=[Point(a, b) for a, b in zip(x, y, strict=True)], crs=dem.crs,
    ).to_crs(4326)


def run_area_case(dem_name: str, threads: int, n_towers: int = 40, model: str = "itm") -> dict:
    """Whole-area coverage in this process; prints one JSON line."""
    from deadzone.geo.coverage import compute_coverage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dem_name == "demo":
            from deadzone.data.demo import demo_scenario

            sc = demo_scenario(0)
            dem, towers = sc.dem, sc.towers
        else:
            from deadzone.data.loaders import load_dem

            dem = load_dem(SRTM)
            towers = _random_towers(dem, n_towers, seed=1)
        # JIT warm-up on a tiny radius (compile/cache load not timed)
        compute_coverage(dem, towers.iloc[:1], radius_km=1.0, n_threads=1, model=model)
        rss0 = _rss_mib()
        t0 = time.perf_counter()
        res = compute_coverage(dem, towers, radius_km=25.0, n_threads=threads, model=model)
        wall = time.perf_counter() - t0
    return {"dem": dem_name, "model": model, "shape": list(dem.shape), "cell_m": dem.cell_w_m,
            "towers": len(towers), "threads": threads, "wall_s": wall,
            "rss_before_mib": rss0, "peak_rss_mib": _rss_mib(),
            "covered_cells": int(np.isfinite(res.rx.best_dbm).sum())}


def _subprocess_case(dem_name: str, threads: int, n_towers: int = 40,
                     model: str = "itm") -> dict:
    cmd = [sys.executable, __file__, "--case", dem_name, "--threads", str(threads),
           "--towers", str(n_towers), "--model", model]
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


# --- main ------------------------------------------------------------------------


def _peer_table(title, z, site, model, naive, peer_label, radii) -> None:
    """Print the sweep on 1 and 2 threads against a per-pixel peer, with agreement."""
    print(title + "\n")
    print("| radius km | engine | threads | seconds | cells | speedup | within 1 dB | "
          "within 6 dB | median abs diff dB | p90 abs diff dB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    naive(z, site.row, site.col, 0.3)  # compile
    for radius in radii:
        t1, (w, _, _) = _median_time(lambda r=radius: _window(z, site, r, model, threads=1))
        t2, _ = _median_time(lambda r=radius: _window(z, site, r, model, threads=2))
        n = int(np.isfinite(w).sum())
        print(f"| {radius} | sweep (ours) | 1 | {t1:.3f} | {n:,} | 1x | | | | |")
        print(f"| {radius} | sweep (ours) | 2 | {t2:.3f} | {n:,} | {t1 / t2:.1f}x | | | | |")
        t_nv, nv = _median_time(lambda r=radius: naive(z, site.row, site.col, r), 1)
        nn, w1, w6, md, p90 = _compare(w, nv)
        print(f"| {radius} | {peer_label} | 1 | {t_nv:.2f} | {nn:,} | {t_nv / t1:.0f}x slower | "
              f"{100 * w1:.1f}% | {100 * w6:.1f}% | {md:.2f} | {p90:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["demo", "srtm"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--towers", type=int, default=40, help="random towers (srtm case)")
    ap.add_argument("--model", default="itm")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.case:
        print(json.dumps(run_area_case(a.case, a.threads, a.towers, a.model)))
        return

    from deadzone.data.demo import demo_scenario

    t_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dem = demo_scenario(0).dem
    z = np.ascontiguousarray(dem.elevation_m, dtype=np.float32)
    row = col = 1000
    omni = RadioSite(row=row, col=col, height_m=H_TX, freq_mhz=F_MHZ, eirp_dbm=EIRP)
    sector = RadioSite(row=row, col=col, height_m=H_TX, freq_mhz=F_MHZ, eirp_dbm=EIRP,
                       azimuth_deg=120.0, beamwidth_deg=65.0, tilt_deg=3.0)
    for m in ("itm", "p526", "knife", "fspl"):
        _window(z, omni, 1.0, m)
        _window(z, sector, 1.0, m)

    # 0: ITM against per-pixel ITM; 0b: P.526 against the Recommendation per pixel
    radii = (10,) if a.quick else (10, 25)
    _peer_table("## ITM, one tower, demo DEM 2000x2000 @ 30 m, omni, 900 MHz, 30 m mast",
                z, omni, "itm", naive_itm, "per-pixel NTIA p2p (SPLAT!/Signal-Server method)",
                radii)
    _peer_table("\n## P.526-15 §4.5 delta-Bullington (p526), one tower, same DEM and radio",
                z, omni, "p526", naive_p526,
                "per-pixel Recommendation as written (P.452/P.1812 reference method)", radii)

    # 1 + 2: single tower, growth with radius
    print("\n## One tower, demo DEM 2000x2000 @ 30 m, omni, 1 thread, median of 3 after "
          "warm-up\n")
    print("| radius km | model | cells | seconds | Mcells/s |")
    print("|---:|---|---:|---:|---:|")
    for radius in (5, 10, 15, 20, 25, 35):
        for m in ("itm", "p526", "knife", "fspl"):
            t, (w, _, _) = _median_time(lambda r=radius, m=m: _window(z, omni, r, m))
            n = int(np.isfinite(w).sum())
            print(f"| {radius} | {m} | {n:,} | {t:.3f} | {n / t / 1e6:.2f} |")

    # 3: where the time goes, 25 km
    r25 = int(math.ceil(25_000.0 / CELL_M))
    print("\n## Where the time goes, one 25 km tower (median of 3)\n")
    rows = []

    def alloc():
        w = np.full((2 * r25 + 1,) * 2, np.nan, dtype=np.float32)
        o = np.full((2 * r25 + 1,) * 2, np.inf, dtype=np.float64)
        return w, o

    rows.append(("allocate window + scratch (np.full)", _median_time(alloc)[0]))

    def walk():
        vis = np.full((2 * r25 + 1,) * 2, 255, dtype=np.uint8)
        _vs.viewshed_sweep(z, CELL_M, CELL_M, row, col, r25, 25_000.0, H_TX, H_RX, 0.75, vis)

    walk()
    rows.append(("line-of-sight sweep only (kernels._viewshed.viewshed_sweep)",
                 _median_time(walk)[0]))
    for label, site, m in (("fspl, omni", omni, "fspl"), ("fspl, sector", sector, "fspl"),
                           ("knife, omni", omni, "knife"), ("knife, sector", sector, "knife"),
                           ("p526, omni", omni, "p526"),
                           ("itm, omni", omni, "itm"), ("itm, sector", sector, "itm")):
        rows.append((label, _median_time(lambda s=site, m=m: _window(z, s, 25, m))[0]))
    print("| step | seconds |")
    print("|---|---:|")
    for label, t in rows:
        print(f"| {label} | {t:.3f} |")

    # 4: naive baselines
    print("\n## Naive per-cell baseline (full profile per pixel), knife, omni\n")
    print("| radius km | engine | seconds | speedup of sweep | cells | within 1 dB | "
          "within 6 dB | median abs diff dB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    naive_numba(z, row, col, 0.5)  # compile
    radii = (5, 10) if a.quick else (5, 10, 25)
    for radius in radii:
        t_sw, (w, _, _) = _median_time(lambda r=radius: _window(z, omni, r, "knife"))
        reps = 1 if radius >= 25 else 3
        t_nb, nb = _median_time(lambda r=radius: naive_numba(z, row, col, r), reps)
        n, w1, w6, md, _p90 = _compare(w, nb)
        print(f"| {radius} | sweep | {t_sw:.3f} | 1x | | | | |")
        print(f"| {radius} | naive, Numba | {t_nb:.3f} | {t_nb / t_sw:.0f}x | {n:,} | "
              f"{100 * w1:.1f}% | {100 * w6:.1f}% | {md:.2f} |")
        if radius == 5:
            t_py, py = _median_time(lambda r=radius: naive_python(z, row, col, r), 1)
            n, w1, w6, md, _p90 = _compare(w, py)
            print(f"| {radius} | naive, public API per cell (Python loop) | {t_py:.2f} | "
                  f"{t_py / t_sw:.0f}x | {n:,} | {100 * w1:.1f}% | {100 * w6:.1f}% | "
                  f"{md:.2f} |")

    if a.quick:
        print(f"\ntotal bench time {time.perf_counter() - t_start:.0f} s")
        return

    # 5: whole areas, fresh processes
    print("\n## Whole area, compute_coverage, radius 25 km (fresh process each)\n")
    print("| DEM | model | grid | towers | threads | wall s | s/tower | peak RSS MiB | "
          "RSS before compute MiB | cells covered |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    cases = [("demo", 1, "itm"), ("demo", 2, "itm"), ("demo", 2, "p526"), ("demo", 2, "knife")]
    if SRTM.exists():
        cases += [("srtm", 1, "itm"), ("srtm", 2, "itm"), ("srtm", 2, "p526"),
                  ("srtm", 2, "knife")]
    for name, th, model in cases:
        c = _subprocess_case(name, th, model=model)
        grid = f"{c['shape'][0]}x{c['shape'][1]} @ {c['cell_m']:.0f} m"
        print(f"| {name} | {model} | {grid} | {c['towers']} | {th} | {c['wall_s']:.2f} | "
              f"{c['wall_s'] / c['towers']:.3f} | {c['peak_rss_mib']:.0f} | "
              f"{c['rss_before_mib']:.0f} | {c['covered_cells']:,} |")
    if SRTM.exists():
        print("\n## Growth with tower count, SRTM tile, random towers, ITM, radius 25 km, "
              "2 threads (fresh process each)\n")
        print("| towers | wall s | s/tower | peak RSS MiB |")
        print("|---:|---:|---:|---:|")
        for n in (10, 40, 160):
            c = _subprocess_case("srtm", 2, n)
            print(f"| {n} | {c['wall_s']:.2f} | {c['wall_s'] / n:.3f} | "
                  f"{c['peak_rss_mib']:.0f} |")
    print(f"\ntotal bench time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
