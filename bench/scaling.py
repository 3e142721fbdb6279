"""Scaled-down national audit: the demo province x N tiles through ``deadzone batch``.

Measures, on this machine:

1. calibration: one demo tile audited in-process on all cores -> wall time per
   tile, core-seconds per computed tower, peak memory;
2. the batch: ``--tiles`` demo provinces (seeds 0..N-1, each a 60 x 60 km,
   2000 x 2000-cell DEM at 30 m) run by :func:`deadzone.app.batch.run_batch`
   on ``--workers`` local processes -> wall time, parallel efficiency against
   ``tiles x calibration``, peak RSS of a worker;
3. the projection for Vietnam (331,000 km^2 at 30 m = 368 M cells, 100k sites,
   100k villages) partitioned into ``--tile-km`` tiles with a halo of
   ``radius_km``: core-hours, wall time on N workers, memory per worker.

Usage::

    python bench/scaling.py                      # default model, 16 tiles, all cores
    python bench/scaling.py --model knife --tiles 4 --workers 2
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VN_AREA_KM2 = 331_000.0
VN_SITES = 100_000
VN_VILLAGES = 100_000
CELL_M = 30.0


def _child_peak_mb(sc: object, out: Path) -> float:
    """Peak RSS (VmHWM) of a fresh process auditing one tile, in MiB."""
    code = (
        "import pickle, sys\n"
        "from deadzone.app.batch import run_batch\n"
        "sc = pickle.loads(bytes.fromhex(sys.argv[1]))\n"
        "run_batch([sc], sys.argv[2], workers=1, overwrite=True)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) / 1024)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, pickle.dumps(sc).hex(), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(res.stdout.strip().splitlines()[-1])


def _disk_share(scenario_dir: Path, radius_km: float) -> float:
    """Mean share of a tower's radius disk that lies on the DEM."""
    import shapely

    from deadzone.data.io import load_scenario

    sc = load_scenario(scenario_dir)
    pts = sc.towers.to_crs(sc.dem.crs).geometry
    dem_box = shapely.box(*sc.dem.bounds)
    disks = pts.buffer(radius_km * 1000.0, 64)
    return float((disks.intersection(dem_box).area / disks.area).mean())


def main(argv: list[str] | None = None) -> int:
    from deadzone.geo.audit import audit

    default_model = inspect.signature(audit).parameters["model"].default
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model",
        default=default_model,
        help=f"propagation model (default: the audit default, {default_model})",
    )
    ap.add_argument("--tiles", type=int, default=16, help="demo tiles in the batch")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes for the batch",
    )
    ap.add_argument("--radius-km", type=float, default=25.0, help="tower radius = tile halo")
    ap.add_argument(
        "--tile-km",
        type=float,
        default=100.0,
        help="national tile side for the projection (halo added on each side)",
    )
    ap.add_argument("--keep", type=Path, default=None, help="keep the batch outputs here")
    args = ap.parse_args(argv)

    from deadzone.app.batch import BatchScenario, run_batch
    from deadzone.data.demo import demo_scenario
    from deadzone.data.io import write_scenario

    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="deadzone-scaling-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tiles = []
    for i in range(args.tiles):
        d = root / "inputs" / f"tile{i:02d}"
        if not (d / "scenario.json").is_file():
            write_scenario(demo_scenario(seed=i), d, overwrite=True)
        tiles.append(
            BatchScenario(
                name=f"tile{i:02d}",
                files={"scenario": d},
                model=args.model,
                radius_km=args.radius_km,
            )
        )
    t_gen = time.perf_counter() - t0

    # 1. calibration: one tile, in this process, all cores (numba warm-up excluded).
    warm = BatchScenario(name="warm", files=tiles[0].files, model=args.model, radius_km=2.0)
    run_batch([warm], root / "warm", workers=1, overwrite=True)
    t0 = time.perf_counter()
    cal = run_batch([tiles[0]], root / "calibration", workers=1, overwrite=True)
    t_tile = time.perf_counter() - t0
    row = cal.iloc[0]
    if row["status"] != "ok":
        print(f"calibration failed: {row['error']}", file=sys.stderr)
        return 1
    towers = int(row["towers_computed"])
    core_s_tower = t_tile * cores / max(towers, 1)
    # A demo tower's disk is clipped by its 60 km DEM; a national one's is whole.
    clip = _disk_share(tiles[0].files["scenario"], args.radius_km)
    core_s_tower_full = core_s_tower / clip
    rss_self = _child_peak_mb(tiles[0], root / "memory")
    print(
        f"tower disks inside the demo DEM: {100 * clip:.0f}% on average -> "
        f"{core_s_tower_full:.2f} core-s per unclipped {args.radius_km:g} km tower"
    )

    # 2. the batch on local worker processes.
    t0 = time.perf_counter()
    df = run_batch(tiles, root / "batch", workers=args.workers, overwrite=True)
    t_batch = time.perf_counter() - t0
    ok = int((df["status"] == "ok").sum())
    rss_worker = rss_self
    ideal = args.tiles * t_tile
    efficiency = ideal / t_batch
    tiles_cells = args.tiles * 2000 * 2000
    towers_total = int(df["towers_computed"].sum())

    # 3. national projection.
    cells_vn = VN_AREA_KM2 * 1e6 / CELL_M**2
    tile = args.tile_km
    halo = args.radius_km
    n_tiles_vn = math.ceil(VN_AREA_KM2 / tile**2)
    dup = ((tile + 2 * halo) / tile) ** 2  # towers in a halo are computed by both tiles
    tile_cells = ((tile + 2 * halo) * 1000 / CELL_M) ** 2
    bytes_per_cell = rss_worker * 2**20 / (2000 * 2000)  # upper bound: includes the baseline
    core_h = VN_SITES * core_s_tower_full * dup / 3600
    print(f"machine: {cores} cores; model {args.model}; radius {args.radius_km:g} km")
    print(
        f"inputs: {args.tiles} demo tiles of 2000x2000 cells (30 m), "
        f"{tiles_cells / 1e6:.0f} M cells, {towers_total} towers, "
        f"{int(df['villages_total'].sum())} villages (generated in {t_gen:.1f} s)"
    )
    print(
        f"calibration (1 tile, in-process, {cores} threads): {t_tile:.1f} s, "
        f"{towers} towers -> {core_s_tower:.2f} core-s/tower; "
        f"peak RSS of a fresh worker {rss_self:.0f} MB"
    )
    print(
        f"batch ({args.tiles} tiles, {args.workers} workers x "
        f"{max(1, cores // args.workers)} threads): {t_batch:.1f} s wall, {ok}/{args.tiles} ok; "
        f"ideal {ideal:.1f} s -> efficiency {efficiency:.2f}; "
        "(fresh processes: numba JIT per worker)"
    )
    print(
        f"national: {cells_vn / 1e6:.0f} M cells, {VN_SITES:,} sites, {VN_VILLAGES:,} villages; "
        f"{n_tiles_vn} tiles of {tile:g} km + {halo:g} km halo "
        f"({tile_cells / 1e6:.1f} M cells each), halo duplication x{dup:.2f}"
    )
    print(
        f"national cost: {core_h:,.0f} core-hours "
        f"({VN_SITES * core_s_tower_full / 3600:,.0f} without halo duplication)"
    )
    print(
        f"memory per worker: ~{tile_cells * bytes_per_cell / 2**30:.1f} GiB "
        f"(measured {bytes_per_cell:.0f} B/cell incl. interpreter)"
    )
    for n_workers, per in ((16, 1), (64, 1), (64, 16), (256, 16)):
        wall_h = core_h / (n_workers * per) / min(max(efficiency, 1e-9), 1.0)
        print(
            f"  projected wall on {n_workers} workers x {per} cores: {wall_h:,.2f} h "
            f"({60 * wall_h:,.0f} min)"
        )
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
