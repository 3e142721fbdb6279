"""Line of sight: both our viewshed methods vs GDAL's ``gdal_viewshed``, same run.

Usage: ``python bench/viewshed.py`` (needs Debian's ``gdal-bin``).

Same DEM, observer, heights and curvature coefficient (``-cc 0.75`` = 1/k,
k = 4/3) for all; for each of ``viewshed(method="sweep")`` and
``viewshed(method="reference-plane")`` reports wall time (median of 3, after
JIT warm-up, the computation alone; GDAL's includes its process start and
GeoTIFF I/O; CPU time of ours too) and the share of compared cells (within
the radius minus two cells, answered by every method) on which it agrees
with GDAL and with the exact answer.

Who is right: every compared cell is also answered by
:func:`deadzone.kernels.viewshed.line_of_sight`, the exact line of sight from
the observer's cell centre to the cell's centre over the bilinear DEM with the
same curvature (closed-form maximum of the clearance on each piece of the
path, no sampling), and the table reports ours-vs-exact and GDAL-vs-exact.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deadzone.data.demo import demo_scenario  # noqa: E402
from deadzone.data.io import write_raster  # noqa: E402
from deadzone.kernels.viewshed import line_of_sight, viewshed  # noqa: E402

CC = 0.75
OBS_H = 30.0
TGT_H = 1.5
METHODS = ("sweep", "reference-plane")


def _median_time(fn, n: int = 3) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``n`` calls, and the last result."""
    times, cpu, out = [], [], None
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), out


def run_case(name: str, dem, row: int, col: int, radius_m: float, tmp: Path) -> dict:
    z = dem.elevation_m
    src = tmp / f"{name}.tif"
    write_raster(src, z, dem.transform, dem.crs, overwrite=True)
    x, y = dem.xy(row, col)
    gdal_out = tmp / f"{name}_gdal.tif"
    cmd = ["gdal_viewshed", "-q", "-ox", f"{float(x):.3f}", "-oy", f"{float(y):.3f}",
           "-oz", str(OBS_H), "-tz", str(TGT_H), "-cc", str(CC), "-md", str(radius_m),
           "-vv", "1", "-iv", "0", "-ov", "255", str(src), str(gdal_out)]

    def gdal() -> None:
        gdal_out.unlink(missing_ok=True)
        subprocess.run(cmd, check=True, capture_output=True)

    def ours(method: str):
        def run() -> np.ndarray:
            return viewshed(z, row, col, cell_w_m=dem.cell_w_m, cell_h_m=dem.cell_h_m,
                            radius_m=radius_m, observer_height_m=OBS_H, target_height_m=TGT_H,
                            curvature_coeff=CC, method=method)
        return run

    timed = {}
    for method in METHODS:
        ours(method)()  # JIT warm-up
        timed[method] = _median_time(ours(method))
    t_gdal, _, _ = _median_time(gdal)
    with rasterio.open(gdal_out) as ds:
        g = ds.read(1)
        col_off = round((ds.transform.c - dem.transform.c) / dem.transform.a)
        row_off = round((ds.transform.f - dem.transform.f) / dem.transform.e)
    full = np.full(z.shape, 255, dtype=np.uint8)
    full[row_off : row_off + g.shape[0], col_off : col_off + g.shape[1]] = g
    rr, cc = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    dist = np.hypot((rr - row) * dem.cell_h_m, (cc - col) * dem.cell_w_m)
    both = (dist <= radius_m - 2 * dem.cell_w_m) & (dist > 0) & (full != 255)
    for _, _, mine in timed.values():
        both &= mine != 255
    rb, cb = np.nonzero(both)
    t0 = time.perf_counter()
    exact = line_of_sight(z, row, col, rb, cb, cell_w_m=dem.cell_w_m, cell_h_m=dem.cell_h_m,
                          observer_height_m=OBS_H, target_height_m=TGT_H,
                          curvature_coeff=CC).astype(np.uint8)
    t_exact = time.perf_counter() - t0
    gb = full[both]
    rows = [{"method": m, "vs_gdal": float((mine[both] == gb).mean()),
             "n_diff": int((mine[both] != gb).sum()),
             "vs_exact": float((mine[both] == exact).mean()), "s": t, "cpu_s": cpu,
             "visible": float(mine[both].mean())} for m, (t, cpu, mine) in timed.items()]
    rows.append({"method": "gdal_viewshed", "vs_gdal": 1.0, "n_diff": 0,
                 "vs_exact": float((gb == exact).mean()), "s": t_gdal, "cpu_s": None,
                 "visible": float(gb.mean())})
    rows.append({"method": "exact (line_of_sight)", "vs_gdal": float((exact == gb).mean()),
                 "n_diff": int((exact != gb).sum()),
                 "vs_exact": 1.0, "s": t_exact, "cpu_s": None, "visible": float(exact.mean())})
    return {"case": name, "cells": int(both.sum()), "gdal_s": t_gdal, "rows": rows}


def main() -> None:
    if shutil.which("gdal_viewshed") is None:
        sys.exit("gdal_viewshed not found: apt-get install gdal-bin")
    dem = demo_scenario(0).dem
    cases = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases.append(run_case("demo-2000x2000-r30km", dem, 1000, 1000, 30_000.0, tmp))
        cases.append(run_case("demo-2000x2000-r10km", dem, 700, 1300, 10_000.0, tmp))
        srtm = Path(__file__).resolve().parents[2] / "shared/data/srtm3/N21E105.hgt"
        if srtm.exists():
            import warnings

            from deadzone.data.loaders import load_dem

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                real = load_dem(srtm)
            cases.append(run_case("srtm-N21E105-r40km", real, real.shape[0] // 2,
                                  real.shape[1] // 2, 40_000.0, tmp))
    print("| case | cells compared | method | vs gdal_viewshed | cells differing from gdal | "
          "vs exact | wall (s) | CPU (s) | gdal_viewshed / this | visible |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        for r in c["rows"]:
            cpu = "" if r["cpu_s"] is None else f"{r['cpu_s']:.3f}"
            print(f"| {c['case']} | {c['cells']:,} | {r['method']} | {100 * r['vs_gdal']:.3f}% | "
                  f"{r['n_diff']:,} | {100 * r['vs_exact']:.3f}% | {r['s']:.3f} | {cpu} | "
                  f"{c['gdal_s'] / r['s']:.1f}x | {100 * r['visible']:.2f}% |")


if __name__ == "__main__":
    main()
