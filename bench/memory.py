"""Coverage of a DEM larger than the memory budget: peak RSS and wall time.

Usage: ``python bench/memory.py`` (about 15-25 minutes on 2 cores, most of it
generating the DEM and writing 1.6 G-cell COGs); ``--quick`` uses a 12,000 x
12,000 DEM instead.  Writes under ``--work`` (default
``/tmp/deadzone_bench_memory``, ~4 GB: the DEM is kept for re-runs) and
prints markdown for ``bench/RESULTS.md``.

Cases
-----
1. Generate a 40,000 x 40,000 int16 DEM (3.2 GB of cells; a tiled,
   deflate-compressed GeoTIFF, EPSG:32648, 30 m): fractal value noise, five
   octaves from 20 km to 250 m wavelength, generated 512-row band by band
   from a hash of the global lattice, so generation itself holds one band.
2. ``deadzone coverage --max-memory 1GB`` with towers near the corners, edges
   and centre (``--model knife``, radius 25 km): the reach window is the whole
   DEM, so the in-memory path would need ~41 bytes/cell = ~66 GB; it runs in
   tiles.  Peak RSS of the child process (``os.wait4`` rusage).
3. The same command on a 4,000 x 4,000 cut of the same terrain with the
   default budget (in memory), and again with ``--max-memory 600MB`` (tiles),
   for the cost of tiling.
4. Check: the tiled 40k output around one tower equals an in-memory
   ``compute_coverage`` of that tower on the DEM window it reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CRS = "EPSG:32648"
CELL_M = 30.0
X0, Y0 = 200_000.0, 2_500_000.0
OCTAVES = (
    (667.0, 800.0),
    (222.0, 300.0),
    (74.0, 120.0),
    (25.0, 50.0),
    (8.3, 20.0),
)  # (wavelength in cells, amplitude m)


def _hash01(i: np.ndarray, j: np.ndarray, octave: int) -> np.ndarray:
    """Deterministic uniform [0, 1) per integer lattice point (SplitMix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = (
            i.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
            ^ j.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
            ^ np.uint64(octave + 1) * np.uint64(0x165667B19E3779F9)
        )
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(40)).astype(np.float32) / np.float32(2**24)


def terrain(row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
    """Elevation (m, int16) of a window of the global fractal terrain."""
    z = np.full((rows, cols), 400.0, dtype=np.float32)
    r = np.arange(row0, row0 + rows, dtype=np.float64)
    c = np.arange(col0, col0 + cols, dtype=np.float64)
    for k, (wave, amp) in enumerate(OCTAVES):
        fr, fc = r / wave, c / wave
        i0, j0 = np.floor(fr).astype(np.int64), np.floor(fc).astype(np.int64)
        # smoothstep weights
        tr = (fr - i0).astype(np.float32)
        tc = (fc - j0).astype(np.float32)
        tr, tc = tr * tr * (3 - 2 * tr), tc * tc * (3 - 2 * tc)
        ii, jj = np.unique(i0), np.unique(j0)
        lat = _hash01(
            np.concatenate([ii, ii[-1:] + 1])[:, None],
            np.concatenate([jj, jj[-1:] + 1])[None, :],
            k,
        )
        a, b = i0 - ii[0], j0 - jj[0]
        # separable: along columns on the lattice rows, then along rows
        h = lat[:, b]
        h += (lat[:, b + 1] - h) * tc[None, :]
        top = h[a]
        bot = h[a + 1]
        bot -= top
        bot *= tr[:, None]
        bot += top
        z += np.float32(2 * amp) * bot - np.float32(amp)
        del h, top, bot
    # valleys flatter than ridges, sea level at 0
    z = np.maximum(z, 0.0)
    return np.round(z).astype(np.int16)


def generate_dem(path: Path, size: int, *, band_rows: int = 512) -> float:
    """Write the ``size`` x ``size`` DEM band by band; returns seconds."""
    import rasterio
    from affine import Affine

    if path.exists():
        return 0.0
    t0 = time.perf_counter()
    tmp = path.with_suffix(".partial.tif")
    profile = dict(
        driver="GTiff",
        width=size,
        height=size,
        count=1,
        dtype="int16",
        crs=CRS,
        transform=Affine(CELL_M, 0, X0, 0, -CELL_M, Y0),
        nodata=-32768,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        predictor=2,
        BIGTIFF="YES",
    )
    from rasterio.windows import Window

    with rasterio.Env(GDAL_CACHEMAX=64), rasterio.open(tmp, "w", **profile) as dst:
        for r0 in range(0, size, band_rows):
            h = min(band_rows, size - r0)
            dst.write(terrain(r0, 0, h, size), 1, window=Window(0, r0, size, h))
    os.replace(tmp, path)
    return time.perf_counter() - t0


def towers_csv(path: Path, size: int) -> list[tuple[float, float]]:
    """Eight towers: near the four corners, two edges, the centre, one off-centre."""
    from pyproj import Transformer

    f = [
        (0.02, 0.02),
        (0.98, 0.02),
        (0.02, 0.98),
        (0.98, 0.98),
        (0.5, 0.02),
        (0.02, 0.5),
        (0.5, 0.5),
        (0.7, 0.35),
    ]
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    rows = ["tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m"]
    xy = []
    for k, (fx, fy) in enumerate(f):
        x, y = X0 + fx * size * CELL_M, Y0 - fy * size * CELL_M
        lon, lat = to_ll.transform(x, y)
        tech, freq = ("4G", 1800.0) if k % 2 else ("2G", 900.0)
        rows.append(f"T{k},{lon:.7f},{lat:.7f},{tech},{freq},60.0,40.0")
        xy.append((x, y))
    path.write_text("\n".join(rows) + "\n")
    return xy


def run_child(args: list[str]) -> dict:
    """Run ``deadzone`` in a child process; wall time and its own peak RSS."""
    cmd = [sys.executable, "-m", "deadzone", *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait4 gives this child's own rusage (ru_maxrss in KiB on Linux)
    out_text, err_text = "", ""
    import threading

    chunks: dict[str, str] = {}

    def drain(name: str, stream) -> None:  # noqa: ANN001
        chunks[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=(n, s))
        for n, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    out_text, err_text = chunks.get("out", ""), chunks.get("err", "")
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out_text}\n{err_text}")
    return {
        "cmd": "deadzone " + " ".join(args),
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024.0,
        "stdout": out_text.strip(),
        "stderr": err_text.strip(),
    }


def check_tower(big_out: Path, dem_path: Path, towers_path: Path, tower: int) -> str:
    """Tiled 40k output around one tower == in-memory compute_coverage of that tower."""
    import warnings

    import pandas as pd
    import rasterio
    from rasterio.windows import from_bounds

    import deadzone
    from deadzone.data.loaders import load_dem, load_towers
    from deadzone.model.bounds import reach_bounds

    towers = load_towers(towers_path)
    one = towers.iloc[[tower]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dem = load_dem(dem_path, bounds_lonlat=reach_bounds(one, 25.0))
        cov = deadzone.coverage(dem, one, model="knife", radius_km=25.0)
    with rasterio.open(big_out / "rx_dbm.tif") as ds:
        w = from_bounds(*dem.bounds, transform=ds.transform).round_offsets().round_lengths()
        big = ds.read(1, window=w)
    del pd
    same = np.array_equal(big, cov.rx.best_dbm, equal_nan=True)
    reached = int(np.isfinite(cov.rx.best_dbm).sum())
    return (
        f"tower T{tower}: {dem.shape[0]}x{dem.shape[1]} window, {reached:,} cells reached; "
        f"tiled == in-memory: {same}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/deadzone_bench_memory"))
    ap.add_argument("--quick", action="store_true", help="12,000 x 12,000 DEM instead of 40k")
    ap.add_argument("--max-memory", default="1GB")
    a = ap.parse_args()
    size = 12_000 if a.quick else 40_000
    a.work.mkdir(parents=True, exist_ok=True)
    big = a.work / f"dem_{size}.tif"
    small = a.work / "dem_4000.tif"
    t_gen = generate_dem(big, size)
    generate_dem(small, 4000)
    towers_big, towers_small = a.work / f"towers_{size}.csv", a.work / "towers_4000.csv"
    towers_csv(towers_big, size)
    towers_csv(towers_small, 4000)
    common = ["--model", "knife", "--radius-km", "25", "--overwrite"]
    # (name, DEM, towers, output folder, extra options)
    cases = [
        ("small, in memory (default budget)", small, towers_small, "out_small_mem", []),
        ("small, --max-memory 600MB (tiles)", small, towers_small, "out_small_tiles",
         ["--max-memory", "600MB"]),
        (f"{size:,} x {size:,}, --max-memory {a.max_memory}", big, towers_big, "out_big",
         ["--max-memory", a.max_memory]),
    ]
    results = [
        (name, run_child(["coverage", "--dem", str(dem), "--towers", str(towers),
                          "--out", str(a.work / out), *extra, *common]))
        for name, dem, towers, out, extra in cases
    ]
    check = check_tower(a.work / "out_big", big, towers_big, 6)
    cells = size * size
    from deadzone.geo.tiled import in_memory_bytes

    need = in_memory_bytes(
        (size, size), n_composites=3, radius_m=25_000, cell_w_m=CELL_M, cell_h_m=CELL_M, n_threads=2
    )
    print(
        f"machine: {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB RAM"
    )
    print(
        f"DEM: {size:,} x {size:,} int16 @ {CELL_M:g} m ({CRS}), {cells * 2 / 1e9:.1f} GB of "
        f"cells, {big.stat().st_size / 1e9:.2f} GB on disk (deflate)"
        + (f", generated in {t_gen:.0f} s" if t_gen else "")
    )
    print(f"in-memory estimate for that grid: {need / 1e9:.0f} GB")
    print()
    print("| case | wall s | peak RSS MiB | output |")
    print("|---|---:|---:|---|")
    for name, r in results:
        line = r["stdout"].splitlines()[-1] if r["stdout"] else ""
        tiles = re.search(r"windowed: .*", r["stderr"])
        note = line.split("; outputs")[0] + (f"; {tiles.group(0)}" if tiles else "")
        print(f"| {name} | {r['wall_s']:.1f} | {r['peak_rss_mib']:.0f} | {note} |")
    print()
    for name, r in results:
        print(f"- {name}: `{r['cmd']}`")
    print(f"\ncheck: {check}")
    (a.work / "results.json").write_text(
        json.dumps(
            {"size": size, "results": [{"case": n, **r} for n, r in results], "check": check},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
