"""Population raster in an audit: what ``--population-raster`` adds, on a province.

Usage: ``python bench/population.py [--cols 3600 --rows 3000] [--repeat 2]``
(about 1 minute on 2 cores); writes its inputs under a temporary folder,
prints a markdown table.  ``python bench/population.py --tile`` instead times
``deadzone audit`` end to end on the real SRTM tile N21E105 (the inputs of
``bench/outputs_digest.py``; needs ``../shared/data``) with and without a
WorldPop-format raster of the tile (1,206 x 1,206 cells, 3 arc-seconds),
with rasters and with ``--no-rasters`` (where the raster also costs the area
sweep), runs alternated (about 6 minutes).

Case: a WorldPop-format raster (float32, nodata -99999, EPSG:4326,
3 arc-seconds, deflate-compressed; people clustered in smooth "valleys",
zeros elsewhere, a nodata strip) of ``rows x cols`` cells (default
3000 x 3600 = 1.08e7 cells, 2.5 x 3 degrees around 21.5 N, 105.5 E, a large
Vietnamese province) over a 90 m UTM 48N DEM grid of the same box (about
3,100 x 3,450 = 1.07e7 cells), 300 Voronoi communes in 10 provinces and a
synthetic 4G RSRP raster (the audit's area sweep is not timed: it runs
anyway with rasters, and this is what the raster adds to it).

Steps timed (first call and best of ``--repeat``, after a warm-up that
compiles the kernels; GDAL's block cache is 1 MB, so every read decompresses):

* ``read``: :func:`deadzone.data.loaders.load_population` with the DEM's box
  (window read, nodata, negative check, SHA-256 of the file);
* ``regrid``: :func:`deadzone.geo.population.people_on_dem` (area-weighted);
* ``communes``: :func:`deadzone.geo.population.commune_zones` (rasterize);
* ``figures``: :meth:`PeopleCounter.figures` (status per cell, people per
  commune and status) and the commune/province tables (``add_people``);
* (not in the total) ``--village-population-from-raster 1`` for 2,000
  villages: :func:`deadzone.geo.population.village_population_from_raster`;

against the peers on the same machine in the same run:

* ``gdal sum``: ``rasterio.warp.reproject(resampling=Resampling.sum)`` of the
  same window onto the DEM grid (GDAL's area-weighted sum, 1 thread and
  ``num_threads=2``), with the total each preserves;
* ``rasterio read``: the bare window read (``src.read(1, window=...)``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
import rasterio  # noqa: E402
import shapely  # noqa: E402
from affine import Affine  # noqa: E402
from rasterio.crs import CRS  # noqa: E402
from rasterio.warp import Resampling, reproject, transform_bounds  # noqa: E402
from scipy import ndimage  # noqa: E402

from deadzone.data.loaders import load_population  # noqa: E402
from deadzone.geo.population import (  # noqa: E402
    PeopleCounter,
    add_people,
    commune_zones,
    people_on_dem,
    village_population_from_raster,
)
from deadzone.model.dem import Dem  # noqa: E402
from deadzone.model.thresholds import Thresholds  # noqa: E402

UTM48 = CRS.from_epsg(32648)
ARCSEC3 = 3.0 / 3600.0


def make_inputs(folder: Path, rows: int, cols: int, seed: int = 0
                ) -> tuple[Path, Dem, gpd.GeoDataFrame, np.ndarray]:
    """The raster file, the DEM grid, communes and an RSRP raster on the DEM grid."""
    rng = np.random.default_rng(seed)
    west, north = 104.0, 23.0
    # people: a smooth field thresholded into settled areas, gamma counts in them
    coarse = ndimage.zoom(rng.random((rows // 50 + 2, cols // 50 + 2)), 50, order=1)
    settled = coarse[:rows, :cols] > 0.6
    people = np.where(settled, rng.gamma(1.5, 4.0, (rows, cols)), 0.0).astype(np.float32)
    people[:, :40] = -99999.0  # a nodata strip (sea)
    path = folder / "vnm_ppp_bench.tif"
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs="EPSG:4326", nodata=-99999.0,
                       transform=Affine(ARCSEC3, 0, west, 0, -ARCSEC3, north),
                       compress="deflate", predictor=3, tiled=True) as dst:
        dst.write(people, 1)
    box = (west, north - rows * ARCSEC3, west + cols * ARCSEC3, north)
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", UTM48, *box, densify_pts=21)
    cell = 90.0
    w, h = int((x1 - x0) // cell), int((y1 - y0) // cell)
    dem = Dem(np.zeros((h, w), np.float32), Affine(cell, 0, x0, 0, -cell, y1), UTM48,
              np.zeros((h, w), bool), "bench")
    pts = shapely.points(rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300))
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=shapely.box(
        x0, y0, x1, y1))
    polys = [shapely.intersection(g, shapely.box(x0, y0, x1, y1))
             for g in shapely.get_parts(cells)]
    communes = gpd.GeoDataFrame(
        {"commune_id": [f"C{i:03d}" for i in range(len(polys))],
         "name": [f"Xã {i}" for i in range(len(polys))],
         "province": [f"P{i % 10}" for i in range(len(polys))]},
        geometry=polys, crs=UTM48).to_crs(4326)
    rsrp = (-90.0 - 40.0 * ndimage.zoom(rng.random((h // 100 + 2, w // 100 + 2)), 100,
                                        order=1)[:h, :w]).astype(np.float32)
    return path, dem, communes, rsrp


def best(fn, repeat: int):  # noqa: ANN001, ANN201
    """((first-call seconds, best seconds), last result) of ``repeat`` calls."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return (times[0], min(times)), out


def tile(repeat: int) -> None:
    """``deadzone audit`` on the real tile with and without a population raster."""
    import subprocess

    from outputs_digest import TILE, _real_inputs

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        args = _real_inputs(t)
        rng = np.random.default_rng(0)
        n = 1206  # the tile plus 3 cells each side
        coarse = ndimage.zoom(rng.random((n // 50 + 2, n // 50 + 2)), 50, order=1)[:n, :n]
        people = np.where(coarse > 0.6, rng.gamma(1.5, 4.0, (n, n)), 0.0).astype(np.float32)
        raster = t / "pop.tif"
        with rasterio.open(raster, "w", driver="GTiff", width=n, height=n, count=1,
                           dtype="float32", crs="EPSG:4326", nodata=-99999.0,
                           transform=Affine(ARCSEC3, 0, TILE[0] - 3 * ARCSEC3, 0, -ARCSEC3,
                                            TILE[3] + 3 * ARCSEC3), compress="deflate") as dst:
            dst.write(people, 1)
        dz = [sys.executable, "-m", "deadzone", "-q", "audit", *args, "--overwrite"]
        root = Path(__file__).resolve().parents[1]
        subprocess.run([*dz, "--no-rasters", "--out", str(t / "warm")], check=True, cwd=root,
                       capture_output=True)
        times: dict[tuple[str, bool], list[float]] = {}
        for _ in range(repeat):
            for rasters in ("--rasters", "--no-rasters"):
                for with_pop in (False, True):
                    extra = ["--population-raster", str(raster)] if with_pop else []
                    t0 = time.perf_counter()
                    subprocess.run([*dz, rasters, *extra, "--out", str(t / "a")], check=True,
                                   cwd=root, capture_output=True)  # (the inputs' warnings)
                    times.setdefault((rasters, with_pop), []).append(time.perf_counter() - t0)
        import json

        s = json.loads((t / "a" / "summary.json").read_text(encoding="utf-8"))
    print(f"deadzone audit on SRTM N21E105 ({s['villages_total']} villages, {s['towers']} "
          f"towers, DEM {s['dem']['shape']}); population raster {n} x {n} cells; "
          f"times: best of {repeat} (s)\n")
    print("| audit | without raster | with raster | added |\n|---|---:|---:|---:|")
    for rasters in ("--rasters", "--no-rasters"):
        a_, b_ = min(times[(rasters, False)]), min(times[(rasters, True)])
        print(f"| `{rasters}` | {a_:.1f} | {b_:.1f} | {b_ - a_:+.1f} |")
    p = s["population_raster"]
    print(f"\npeople {p['people_total']:,.0f}: {p['people_covered']:,.0f} covered, "
          f"{p['people_marginal']:,.0f} marginal, {p['people_dead']:,.0f} dead")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--cols", type=int, default=3600)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tile", action="store_true",
                    help="time deadzone audit on the real SRTM tile with and without a raster")
    a = ap.parse_args()
    if a.tile:
        tile(a.repeat)
        return
    # a 1 MB GDAL block cache: every read decompresses its blocks, as an audit's one read does
    with tempfile.TemporaryDirectory() as tmp, rasterio.Env(GDAL_CACHEMAX=1):
        path, dem, communes, rsrp = make_inputs(Path(tmp), a.rows, a.cols)
        box = dem.bounds_lonlat
        cov = SimpleNamespace(by_tech={"4G": SimpleNamespace(best_dbm=rsrp)})
        thr = Thresholds()
        # warm-up: compile the kernels on a small case
        small = load_population(path, bounds_lonlat=(104.0, 22.9, 104.05, 22.95))
        PeopleCounter(people_on_dem(small, dem), *commune_zones(None, dem), small).figures(
            cov, dem, thr)

        t_read, pop = best(lambda: load_population(path, bounds_lonlat=box), a.repeat)
        t_regrid, grid = best(lambda: people_on_dem(pop, dem), a.repeat)
        t_zones, (zone, ids) = best(lambda: commune_zones(communes, dem), a.repeat)
        counter = PeopleCounter(grid, zone, ids, pop)
        table = pd.DataFrame({"commune_id": communes["commune_id"],
                              "province": communes["province"]})
        prov = pd.DataFrame({"province": sorted(communes["province"].unique())})

        def figures():  # noqa: ANN202
            by, summary = counter.figures(cov, dem, thr)
            c = add_people(table, by)
            add_people(prov, communes=c, keys=("province",))
            return summary

        t_fig, summary = best(figures, a.repeat)
        # --village-population-from-raster 1 for 2,000 villages without population
        rng = np.random.default_rng(1)
        w, s_, e, n = box
        villages = gpd.GeoDataFrame(
            {"village_id": [f"V{i}" for i in range(2000)], "population": 0, "households": 0},
            geometry=gpd.points_from_xy(rng.uniform(w, e, 2000), rng.uniform(s_, n, 2000)),
            crs=4326)
        t_vil, filled = best(lambda: village_population_from_raster(
            villages, pop, radius_km=1.0, persons_per_household=3.5), a.repeat)
        # peers
        with rasterio.open(path) as src:
            from rasterio.windows import from_bounds
            win = from_bounds(*transform_bounds("EPSG:4326", src.crs, *box), src.transform)
            win = win.round_offsets().round_lengths()
            t_rread, _ = best(lambda: src.read(1, window=win), a.repeat)
        # GDAL gets the window ours read (same cells, same transform)
        raw, wt = np.where(pop.valid, pop.people, -99999.0), pop.transform

        def gdal(threads: int):  # noqa: ANN202
            out = np.full(dem.shape, -99999.0, np.float64)
            reproject(raw, out, src_transform=wt, src_crs="EPSG:4326",
                      src_nodata=-99999.0, dst_transform=dem.transform, dst_crs=UTM48,
                      dst_nodata=-99999.0, resampling=Resampling.sum, num_threads=threads)
            return np.where(out == -99999.0, 0.0, out)

        t_gdal1, ref = best(lambda: gdal(1), a.repeat)
        t_gdal2, _ = best(lambda: gdal(2), a.repeat)
    steps = (t_read, t_regrid, t_zones, t_fig)
    ours = (sum(t[0] for t in steps), sum(t[1] for t in steps))
    n_read = pop.people.size
    print(f"population raster {n_read:,} cells read ({pop.shape[0]} x {pop.shape[1]}, "
          f"3 arc-seconds), DEM {dem.shape[0]} x {dem.shape[1]} = {dem.elevation_m.size:,} "
          f"cells of 90 m, {len(communes)} communes; k = {grid.subcells}\n")
    print(f"| step | first call, s | best of {a.repeat}, s |\n|---|---:|---:|")
    for name, t in (("read (window, nodata, SHA-256)", t_read),
                    ("regrid (area-weighted)", t_regrid),
                    ("communes (rasterize)", t_zones), ("figures + tables", t_fig),
                    ("**added to an audit**", ours),
                    ("--village-population-from-raster 1 (2,000 villages)", t_vil),
                    ("peer: rasterio window read only", t_rread),
                    ("peer: GDAL reproject sum, 1 thread", t_gdal1),
                    ("peer: GDAL reproject sum, 2 threads", t_gdal2)):
        print(f"| {name} | {t[0]:.2f} | {t[1]:.2f} |")
    print(f"\nregrid / GDAL sum (1 thread): {t_regrid[1] / t_gdal1[1]:.3f}; "
          f"regrid / GDAL sum (2 threads): {t_regrid[1] / t_gdal2[1]:.3f} (best times)")
    read_total = float(pop.total)
    lost = grid.people.sum() + grid.outside_dem - read_total
    print(f"people read {read_total:,.1f}; ours on the DEM {grid.people.sum():,.1f} + outside "
          f"{grid.outside_dem:,.1f} (difference {lost:.2e}); "
          f"GDAL sum on the DEM {float(ref.sum()):,.1f}")
    inner = (slice(5, -5), slice(5, -5))
    d = np.abs(grid.people[inner] - ref[inner])
    big = ref[inner] > 1.0
    print(f"per DEM cell vs GDAL sum (cells > 1 person): median |diff| "
          f"{np.median(d[big] / ref[inner][big]):.2%}, 99th pct "
          f"{np.percentile(d[big] / ref[inner][big], 99):.2%}")
    print(f"summary: {summary['people_total']:,.0f} people, {summary['people_covered']:,.0f} "
          f"covered; villages given {int(filled['population'].sum()):,} people "
          f"({(filled['population'] > 0).sum():,} of 2,000 with some)")


if __name__ == "__main__":
    main()
