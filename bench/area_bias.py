"""Area raster (radial sweep) against per-pixel NTIA ITM on the straight path, SRTM tile.

Run from the repository root (needs ``../shared/data``, NTIA's source for
``bench/ntia_ref.py`` and ``gdal_viewshed``)::

    python bench/area_bias.py                 # 3 towers x 1,000 cells
    python bench/area_bias.py --cells 300     # quicker

Scenario: SRTM N21E105 read at 30 m UTM (``load_dem(resolution_m=30)``),
towers at three fixed cells (30 m mast, 900 MHz, EIRP 50 dBm, omni), ITM with
the CLI's default settings, radius 25 km, receivers 1.5 m.

1. **Bias.**  For seeded random cells within 25 km of each tower, the sweep's
   value (``tower_window``) against NTIA's C++ ``ITM_P2P_TLS`` on the straight
   profile from the tower's cell centre to the cell's centre, sampled
   bilinearly at the cell size (n = ceil(d / cell), both ends: the exact-path
   definition, ``kernels._paths.sample_path``): mean of (sweep - NTIA), median,
   p90 and p99 of |sweep - NTIA|, and cells whose status at -100 dBm differs.
2. **Cost.**  One 25 km ITM tower on 2 threads against ``gdal_viewshed -md
   25000`` (line of sight only) on the same DEM written as a GeoTIFF, median of
   3 each, same run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numba
import numpy as np

from deadzone.kernels import _basic as _kbasic
from deadzone.kernels import _paths as kp
from deadzone.kernels import _propagation as _kprop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
TILE = ROOT.parent / "shared" / "data" / "srtm3" / "N21E105.hgt"
H_TX, H_RX, F_MHZ, EIRP = 30.0, 1.5, 900.0, 50.0
RADIUS_M = 25_000.0
TOWERS = ((1850, 1730), (1000, 1000), (2700, 2500))
THRESHOLD_DBM = -100.0


@numba.njit(cache=False)
def _pack(dem, cell_m, row0, col0, rr, cc, flat, offsets):
    """NTIA PFL arrays of the straight tower -> cell-centre profiles."""
    o = 0
    for p in range(rr.size):
        d = max(math.hypot(rr[p] - row0, cc[p] - col0) * cell_m, kp.MIN_DISTANCE_M)
        n = kp.path_intervals(d, cell_m)
        offsets[p] = o
        flat[o] = n
        flat[o + 1] = d / n
        kp.sample_path(dem, float(row0), float(col0), float(rr[p]), float(cc[p]), n,
                       flat[o + 2:])
        o += n + 3
    return o


@numba.njit(cache=False)
def _pack_radial(dem, cell_m, row0, col0, r, rr, cc, owner, flat, offsets):
    """NTIA PFL arrays of each cell's own radial profile: the samples of the
    radial that owns it, up to the sample that owns it (what the sweep sees)."""
    o = 0
    for p in range(rr.size):
        dr = rr[p] - row0
        dc = cc[p] - col0
        e = owner[dr + r, dc + r]
        fr, fc = _kprop.radial_direction(e, r)
        k = max(abs(dr), abs(dc))
        step = math.sqrt((fr * cell_m) ** 2 + (fc * cell_m) ** 2)
        # ITM's sweep walks two samples per ring (kernels._propagation.tower_sweep)
        offsets[p] = o
        flat[o] = 2 * k
        flat[o + 1] = 0.5 * step
        for j in range(2 * k + 1):
            flat[o + 2 + j] = _kbasic.bilinear_from(dem, row0, col0, 0.5 * j * fr, 0.5 * j * fc)
        o += 2 * k + 3
    return o


def _median_time(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=1000, help="random cells per tower")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    import ntia_ref

    from deadzone.data.io import write_raster
    from deadzone.data.loaders import load_dem
    from deadzone.kernels.coverage import RadioSite, owner_table, site_reach_m, tower_window
    from deadzone.kernels.itm import ItmSettings

    dem = load_dem(TILE, resolution_m=30.0)
    z = np.ascontiguousarray(dem.elevation_m, dtype=np.float32)
    cell = dem.cell_w_m
    assert abs(dem.cell_w_m - dem.cell_h_m) < 1e-9
    itm = ItmSettings()
    rng = np.random.default_rng(11)
    r_cells = int(RADIUS_M // cell)
    deltas, sweep_all, ref_all, rad_all = [], [], [], []
    for row0, col0 in TOWERS:
        site = RadioSite(row=row0, col=col0, height_m=H_TX, freq_mhz=F_MHZ, eirp_dbm=EIRP)
        win, r_off, c_off = tower_window(z, site, cell_w_m=cell, cell_h_m=cell,
                                         radius_m=RADIUS_M, rx_height_m=H_RX, model="itm",
                                         itm=itm, n_threads=numba.get_num_threads())
        rr, cc = [], []
        while len(rr) < args.cells:
            dr, dc = rng.integers(-r_cells, r_cells + 1, 2)
            d = math.hypot(dr, dc) * cell
            if d < 2 * cell or d > RADIUS_M - cell:
                continue
            v = win[row0 + dr - r_off, col0 + dc - c_off]
            if not np.isfinite(v):
                continue
            rr.append(row0 + dr)
            cc.append(col0 + dc)
        rr_a, cc_a = np.array(rr), np.array(cc)
        sweep = win[rr_a - r_off, cc_a - c_off].astype(np.float64)
        flat = np.empty(rr_a.size * (2 * r_cells + 8))
        offsets = np.empty(rr_a.size, dtype=np.int64)
        _pack(z, cell, row0, col0, rr_a, cc_a, flat, offsets)
        loss, _m, _w, _rc = ntia_ref.p2p_tls_batch_packed(
            flat, offsets, np.full(rr_a.size, H_TX), H_RX, np.full(rr_a.size, F_MHZ),
            climate=itm.climate, n0=itm.n0, pol=itm.pol, epsilon=itm.epsilon,
            sigma=itm.sigma, mdvar=itm.mdvar, time=itm.time_pct, location=itm.location_pct,
            situation=itm.situation_pct, with_mode=False)
        ref = EIRP - loss
        # the same cells on their own radial profile (receiver at the owning sample)
        r_win = int(math.ceil(RADIUS_M / cell))
        owner = owner_table(r_win, cell, cell, site_reach_m(site, radius_m=RADIUS_M,
                                                            floor_dbm=-150.0))
        _pack_radial(z, cell, row0, col0, r_win, rr_a, cc_a, owner, flat, offsets)
        loss_r, _m, _w, _rc = ntia_ref.p2p_tls_batch_packed(
            flat, offsets, np.full(rr_a.size, H_TX), H_RX, np.full(rr_a.size, F_MHZ),
            climate=itm.climate, n0=itm.n0, pol=itm.pol, epsilon=itm.epsilon,
            sigma=itm.sigma, mdvar=itm.mdvar, time=itm.time_pct, location=itm.location_pct,
            situation=itm.situation_pct, with_mode=False)
        rad_all.append(EIRP - loss_r)
        sweep_all.append(sweep)
        ref_all.append(ref)
        deltas.append(sweep - ref)
    d = np.concatenate(deltas)
    s = np.concatenate(sweep_all)
    r = np.concatenate(ref_all)
    a = np.abs(d)
    worse = int(((s < THRESHOLD_DBM) & (r >= THRESHOLD_DBM)).sum())
    better = int(((s >= THRESHOLD_DBM) & (r < THRESHOLD_DBM)).sum())
    print(f"SRTM N21E105 at {cell:.0f} m, ITM, {RADIUS_M / 1000:.0f} km, towers at cells "
          f"{TOWERS}, {a.size:,} cells; sweep - NTIA per-pixel (straight, bilinear)")
    print(f"mean bias {d.mean():+.3f} dB; |diff| median {np.median(a):.3f}, "
          f"p90 {np.percentile(a, 90):.3f}, p99 {np.percentile(a, 99):.3f}, "
          f"max {a.max():.2f} dB; within 1 dB {100 * (a <= 1).mean():.1f}%")
    print(f"status at {THRESHOLD_DBM:g} dBm: {worse} cells worse in the sweep, {better} better")
    q = np.concatenate(rad_all)
    for name, x in (("sweep - NTIA on the cell's own radial profile (the sweep's method)", s - q),
                    ("NTIA radial profile - NTIA straight to the centre (geometry)", q - r)):
        ax = np.abs(x)
        print(f"  {name}: mean {x.mean():+.3f}, |.| median {np.median(ax):.3f}, "
              f"p90 {np.percentile(ax, 90):.3f}, p99 {np.percentile(ax, 99):.3f} dB")

    # cost: one 25 km ITM tower vs gdal_viewshed, same DEM and radius
    row0, col0 = TOWERS[0]
    site = RadioSite(row=row0, col=col0, height_m=H_TX, freq_mhz=F_MHZ, eirp_dbm=EIRP)
    t_sweep = _median_time(lambda: tower_window(
        z, site, cell_w_m=cell, cell_h_m=cell, radius_m=RADIUS_M, rx_height_m=H_RX,
        model="itm", itm=itm, n_threads=numba.get_num_threads()))
    tmp = Path(tempfile.mkdtemp(prefix="dz_bias_"))
    src = tmp / "dem.tif"
    write_raster(src, z, dem.transform, dem.crs, overwrite=True)
    x, y = dem.xy(row0, col0)
    out = tmp / "vs.tif"
    cmd = ["gdal_viewshed", "-q", "-ox", f"{float(x):.3f}", "-oy", f"{float(y):.3f}",
           "-oz", str(H_TX), "-tz", str(H_RX), "-md", str(RADIUS_M), str(src), str(out)]

    def gdal() -> None:
        out.unlink(missing_ok=True)
        subprocess.run(cmd, check=True, capture_output=True)

    t_gdal = _median_time(gdal)
    print(f"one 25 km ITM tower, {numba.get_num_threads()} threads: {t_sweep:.3f} s; "
          f"gdal_viewshed -md 25000: {t_gdal:.3f} s; ratio {t_sweep / t_gdal:.1f}x (target <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
