"""``deadzone coverage``: coverage rasters for a tower set over a DEM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from deadzone.cli.options import (
    engine_options,
    landcover_option,
    out_dir_option,
    progress_bar,
    thresholds_from,
)
from deadzone.geo.clutter import load_landcover
from deadzone.kernels.itm import ItmSettings

__all__ = ["coverage_cmd", "COVERAGE_FILES"]

COVERAGE_FILES = ("rx_dbm.tif", "best_server.tif", "second_rx_dbm.tif", "overlap.tif",
                  "servers.csv", "coverage.json")
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def reach_bounds(features, radius_km: float) -> tuple[float, float, float, float] | None:  # noqa: ANN001
    """Lon/lat box around the features grown by ``radius_km`` (None if none)."""
    import math

    g = features.geometry.to_crs(4326)
    pts = g[~(g.isna() | g.is_empty)]
    if pts.empty:
        return None
    w, s, e, n = pts.total_bounds
    dlat = (radius_km + 1.0) / 110.574
    coslat = max(math.cos(math.radians(max(abs(s), abs(n)))), 0.05)
    dlon = (radius_km + 1.0) / (111.320 * coslat)
    return (max(w - dlon, -180.0), max(s - dlat, -90.0), min(e + dlon, 180.0),
            min(n + dlat, 90.0))


@click.command("coverage", short_help="Coverage rasters (COG) for a tower set over a DEM.")
@click.option("--dem", "dem_path", type=_FILE, required=True,
              help="Terrain raster (GeoTIFF, SRTM .hgt, ...).")
@click.option("--towers", "towers_path", type=_FILE, required=True,
              help="Towers: CSV with lon/lat, OpenCelliD CSV, GeoJSON/GeoPackage points.")
@out_dir_option
@click.option("--default-tech", type=click.Choice(["2G", "3G", "4G", "5G"]), default="4G",
              show_default=True, help="Technology of towers whose file gives none.")
@click.option("--dem-resolution-m", type=click.FloatRange(1, 1000), default=None,
              help="Resolution when reprojecting a geographic DEM (default: native).")
@click.option("--per-band", is_flag=True,
              help="Also write best-metric and best-server rasters per technology and band "
                   "(signal_<tech>-<MHz>_dbm.tif: level for 2G/3G, RSRP for 4G/5G).")
@landcover_option
@engine_options
def coverage_cmd(dem_path: Path, towers_path: Path, out_dir: Path, default_tech: str,
                 dem_resolution_m: float | None, per_band: bool, model: str, radius_km: float,
                 rx_height_m: float, threshold_dbm: float | None, indoor_margin_db: float,
                 threads: int | None, overwrite: bool, quiet: bool, itm: ItmSettings,
                 landcover_path: Path | None) -> None:
    """Compute received power of every tower and the multi-server composite.

    Writes Cloud-Optimized GeoTIFFs in the DEM's metric CRS: rx_dbm.tif (best
    received power, dBm, NaN = below the floor or out of range),
    best_server.tif (index into servers.csv, -1 = none), second_rx_dbm.tif
    and overlap.tif (number of towers at or above their technology's
    covered threshold), plus servers.csv and coverage.json (parameters);
    only the DEM window within --radius-km of the towers is read;
    with --per-band also signal_<tech>-<MHz>_dbm.tif and
    best_server_<tech>-<MHz>.tif per band.
    """
    from deadzone.data.io import atomic_path, write_raster
    from deadzone.data.loaders import file_checksum, load_dem, load_towers
    from deadzone.geo.coverage import compute_coverage
    from deadzone.geo.export import check_output_dir

    t0 = time.perf_counter()
    out = check_output_dir(out_dir, COVERAGE_FILES, overwrite=overwrite)
    towers = load_towers(towers_path, default_tech=default_tech)
    # Read only the DEM window the towers can reach (a national DEM is never
    # loaded whole for one province's towers).
    dem = load_dem(dem_path, resolution_m=dem_resolution_m,
                   bounds_lonlat=reach_bounds(towers, radius_km))
    thr = thresholds_from(threshold_dbm, indoor_margin_db)
    with progress_bar("coverage (towers)", quiet=quiet) as update:
        cov = compute_coverage(dem, towers, model=model, radius_km=radius_km,
                               rx_height_m=rx_height_m, thresholds=thr, n_threads=threads,
                               progress=update, per_band=per_band, itm=itm,
                               clutter=None if landcover_path is None
                               else load_landcover(landcover_path, dem))
    nan = float("nan")
    for name, arr, nodata in (
        ("rx_dbm.tif", cov.rx.best_dbm, nan),
        ("best_server.tif", cov.rx.best_server, -1),
        ("second_rx_dbm.tif", cov.rx.second_dbm, nan),
        ("overlap.tif", cov.rx.n_servers, None),
    ):
        write_raster(out / name, arr, cov.transform, cov.crs, nodata=nodata, overwrite=True,
                     cog=True)
    for band, comp in cov.by_band.items():
        write_raster(out / f"signal_{band}_dbm.tif", comp.best_dbm, cov.transform, cov.crs,
                     nodata=nan, overwrite=overwrite, cog=True)
        write_raster(out / f"best_server_{band}.tif", comp.best_server, cov.transform, cov.crs,
                     nodata=-1, overwrite=overwrite, cog=True)
    with atomic_path(out / "servers.csv") as tmp:
        cov.servers_table().to_csv(tmp, index=False)
    meta = {
        "parameters": cov.parameters,
        "thresholds": thr.as_dict(),
        "towers_outside_dem": cov.grid.outside,
        "inputs": {"dem": {"path": str(dem_path), "sha256": file_checksum(dem_path)},
                   "towers": {"path": str(towers_path), "sha256": file_checksum(towers_path)}},
    }
    with atomic_path(out / "coverage.json") as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    if not quiet:
        import numpy as np

        reached = float(np.isfinite(cov.rx.best_dbm).mean()) * 100.0
        click.echo(f"coverage: {len(cov.grid.tower_ids)} towers, model {model}, "
                   f"{reached:.1f}% of cells reached; outputs in {out}/ "
                   f"({time.perf_counter() - t0:.1f} s)")
