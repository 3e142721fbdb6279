"""Line of sight: our viewshed kernel vs GDAL's ``gdal_viewshed``, same run.

Usage: ``python bench/viewshed.py`` (needs Debian's ``gdal-bin``).

Same DEM, observer, heights and curvature coefficient (``-cc 0.75`` = 1/k,
k = 4/3) for both; reports wall time (median of 3, ours after JIT warm-up,
GDAL including its process start and GeoTIFF I/O, ours including nothing
but the computation; CPU time of ours too) and the share of cells within the
radius on which both agree.

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

    def ours() -> np.ndarray:
        return viewshed(z, row, col, cell_w_m=dem.cell_w_m, cell_h_m=dem.cell_h_m,
                        radius_m=radius_m, observer_height_m=OBS_H, target_height_m=TGT_H,
                        curvature_coeff=CC)

    ours()  # JIT warm-up
    t_ours, cpu_ours, mine = _median_time(ours)
    t_gdal, _, _ = _median_time(gdal)
    with rasterio.open(gdal_out) as ds:
        g = ds.read(1)
        col_off = round((ds.transform.c - dem.transform.c) / dem.transform.a)
        row_off = round((ds.transform.f - dem.transform.f) / dem.transform.e)
    full = np.full(z.shape, 255, dtype=np.uint8)
    full[row_off : row_off + g.shape[0], col_off : col_off + g.shape[1]] = g
    rr, cc = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    dist = np.hypot((rr - row) * dem.cell_h_m, (cc - col) * dem.cell_w_m)
    inside = (dist <= radius_m - 2 * dem.cell_w_m) & (dist > 0)
    both = inside & (full != 255) & (mine != 255)
    agree = float((full[both] == mine[both]).mean())
    rb, cb = np.nonzero(both)
    t0 = time.perf_counter()
    exact = line_of_sight(z, row, col, rb, cb, cell_w_m=dem.cell_w_m, cell_h_m=dem.cell_h_m,
                          observer_height_m=OBS_H, target_height_m=TGT_H,
                          curvature_coeff=CC).astype(np.uint8)
    t_exact = time.perf_counter() - t0
    return {"case": name, "cells": int(both.sum()), "agree": agree, "ours_s": t_ours,
            "ours_cpu_s": cpu_ours, "gdal_s": t_gdal, "visible_ours": float(mine[both].mean()),
            "visible_gdal": float(full[both].mean()), "visible_exact": float(exact.mean()),
            "ours_exact": float((mine[both] == exact).mean()),
            "gdal_exact": float((full[both] == exact).mean()), "exact_s": t_exact}


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
    print("| case | cells compared | ours vs gdal | ours vs exact | gdal vs exact | ours (s) | "
          "ours CPU (s) | gdal_viewshed (s) | gdal/ours | visible ours | visible gdal | "
          "visible exact | exact ref (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in cases:
        print(f"| {c['case']} | {c['cells']:,} | {100 * c['agree']:.2f}% | "
              f"{100 * c['ours_exact']:.3f}% | {100 * c['gdal_exact']:.3f}% | {c['ours_s']:.3f} | "
              f"{c['ours_cpu_s']:.3f} | {c['gdal_s']:.3f} | {c['gdal_s'] / c['ours_s']:.1f}x | "
              f"{100 * c['visible_ours']:.1f}% | {100 * c['visible_gdal']:.1f}% | "
              f"{100 * c['visible_exact']:.1f}% | {c['exact_s']:.1f} |")


if __name__ == "__main__":
    main()
