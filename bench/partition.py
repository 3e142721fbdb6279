"""How much a national audit recomputes: province windows vs square tiles, on real 2025 communes.

A batch job reads the DEM window around its villages grown by the tower
radius (the halo) and computes every tower inside that window, so a tower
near a job's edge is computed by every job whose window holds it.  With towers
spread like land (no national tower list is available: OpenCelliD has no
Vietnam extract here), the recomputation factor is

    sum over jobs of land area inside the job window / national land area

Land is taken from the 2025 commune polygons (3,321 communes, 34 provinces),
each commune's area counted at its centroid.  Also printed: the largest
window in 30 m cells (what one worker must hold).

Usage::

    python bench/partition.py [--radius-km 25] [--communes PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DEFAULT = Path(__file__).resolve().parents[2] / "shared/data/vn_admin_2025/vn_communes_2025.gpkg"
CELL_M = 30.0


def main(argv: list[str] | None = None) -> int:
    import geopandas as gpd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--radius-km", type=float, default=25.0)
    ap.add_argument("--communes", type=Path, default=DEFAULT)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    c = gpd.read_file(args.communes).to_crs(3405)  # VN-2000 / UTM 48N, metres
    area = c.geometry.area.to_numpy() / 1e6
    cen = c.geometry.centroid
    cx, cy = cen.x.to_numpy(), cen.y.to_numpy()
    h = args.radius_km * 1e3
    total = area.sum()
    print(f"{len(c):,} communes, {c['province_name'].nunique()} provinces, {total:,.0f} km2")
    print(f"halo = radius {args.radius_km:g} km; cells at {CELL_M:g} m\n")
    print("| partition | jobs | recompute factor | largest window (M cells) | median window |")
    print("|---|---:|---:|---:|---:|")

    def window_stats(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float]:
        dup = 0.0
        cells = []
        for x0, y0, x1, y1 in boxes:
            x0, y0, x1, y1 = x0 - h, y0 - h, x1 + h, y1 + h
            m = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
            dup += area[m].sum()
            cells.append((x1 - x0) * (y1 - y0) / CELL_M**2 / 1e6)
        return dup / total, max(cells), float(np.median(cells))

    boxes = [tuple(g.total_bounds) for _, g in c.groupby("province_name")]
    f, big, med = window_stats(boxes)
    print(f"| province (bbox + halo) | {len(boxes)} | x{f:.2f} | {big:,.0f} | {med:,.1f} |")
    for tile_km in (50.0, 100.0, 200.0):
        t = tile_km * 1e3
        ix, iy = np.floor(cx / t), np.floor(cy / t)
        keys = sorted(set(zip(ix.tolist(), iy.tolist(), strict=True)))
        # A tile job's window is its villages' bbox + halo <= the tile square + halo.
        boxes = []
        for kx, ky in keys:
            m = (ix == kx) & (iy == ky)
            boxes.append((cx[m].min(), cy[m].min(), cx[m].max(), cy[m].max()))
        f, big, med = window_stats(boxes)
        sq = ((tile_km + 2 * args.radius_km) / tile_km) ** 2
        print(
            f"| tile {tile_km:g} km (villages' bbox + halo; full squares x{sq:.2f}) "
            f"| {len(keys)} | x{f:.2f} | {big:,.1f} | {med:,.1f} |"
        )
    worst = sorted(
        ((g.total_bounds, p) for p, g in c.groupby("province_name")),
        key=lambda b: -(b[0][2] - b[0][0] + 2 * h) * (b[0][3] - b[0][1] + 2 * h),
    )[:3]
    print("\nlargest province windows:")
    for (x0, y0, x1, y1), p in worst:
        mc = (x1 - x0 + 2 * h) * (y1 - y0 + 2 * h) / CELL_M**2 / 1e6
        w_km, h_km = (x1 - x0) / 1e3, (y1 - y0) / 1e3
        print(f"  {p}: {w_km:,.0f} x {h_km:,.0f} km bbox -> {mc:,.0f} M cells")
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
