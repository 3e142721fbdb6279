"""``deadzone coverage``: coverage rasters for a tower set over a DEM."""

from __future__ import annotations

import time
from pathlib import Path

import click

from deadzone.cli.options import (
    VECTOR,
    EngineOptions,
    coverage_label,
    engine_options,
    landcover_option,
    out_dir_option,
    progress_bar,
)
from deadzone.geo.clutter import load_landcover
from deadzone.model.bounds import reach_bounds

__all__ = ["coverage_cmd", "COVERAGE_FILES"]

COVERAGE_FILES = ("rx_dbm.tif", "best_server.tif", "second_rx_dbm.tif", "overlap.tif",
                  "servers.csv", "coverage.json")
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("coverage", short_help="Coverage rasters (COG) for a tower set over a DEM.")
@click.option("--dem", "dem_path", type=_FILE, required=True,
              help="Terrain raster (GeoTIFF, SRTM .hgt, ...).")
@click.option("--towers", "towers_path", type=VECTOR, required=True,
              help="Towers: CSV with lon/lat, OpenCelliD CSV, GeoJSON/GeoPackage points.")
@out_dir_option
@click.option("--default-tech", type=click.Choice(["2G", "3G", "4G", "5G"]), default="4G",
              show_default=True, help="Technology of towers whose file gives none.")
@click.option("--dem-resolution-m", type=click.FloatRange(1, 1000), default=None,
              help="Resolution when reprojecting a geographic DEM (default: native).")
@click.option("--per-band", is_flag=True,
              help="Also write best-metric and best-server rasters per technology and band "
                   "(signal_<tech>-<MHz>_dbm.tif: level for 2G/3G, RSRP for 4G/5G).")
@click.option("--max-memory", default=None, metavar="SIZE",
              help="Memory budget, e.g. 2GB, 500MB, 1.5GiB or 25% (default: 50% of physical "
                   "memory). When the DEM window and rasters do not fit, the grid is computed "
                   "in tiles read from and written to disk, --landcover window by window too "
                   "(a geographic DEM is first warped to a metric grid on disk); a projected "
                   "DEM gives the same rasters as in memory.")
@landcover_option
@engine_options
def coverage_cmd(dem_path: Path, towers_path: Path, out_dir: Path, default_tech: str,
                 dem_resolution_m: float | None, per_band: bool, max_memory: str | None,
                 engine: EngineOptions, overwrite: bool, quiet: bool,
                 landcover_path: Path | None) -> None:
    """Compute received power of every tower and the multi-server composite.

    Writes Cloud-Optimized GeoTIFFs in the DEM's metric CRS: rx_dbm.tif (best
    received power, dBm, NaN = below the floor or out of range),
    best_server.tif (index into servers.csv, -1 = none), second_rx_dbm.tif
    and overlap.tif (number of towers at or above their technology's
    covered threshold), plus servers.csv and coverage.json (parameters);
    only the DEM window within --radius-km of the towers is read;
    with --per-band also signal_<tech>-<MHz>_dbm.tif and
    best_server_<tech>-<MHz>.tif per band.  A DEM window larger than
    --max-memory is processed in tiles (windowed reads of the DEM and of
    --landcover, windowed writes).
    """
    from deadzone.data.io import atomic_path, write_raster
    from deadzone.data.loaders import load_dem, load_towers
    from deadzone.geo.coverage import compute_coverage
    from deadzone.geo.export import check_output_dir, signal_raster_name
    from deadzone.geo.tiled import default_memory_bytes, parse_memory

    t0 = time.perf_counter()
    budget = default_memory_bytes() if max_memory is None else parse_memory(max_memory)
    out = check_output_dir(out_dir, COVERAGE_FILES, overwrite=overwrite)
    towers = load_towers(towers_path, default_tech=default_tech)
    bounds = reach_bounds(towers, engine.params.radius_km)
    if _needs_tiles(dem_path, bounds, towers, engine, budget=budget, per_band=per_band,
                    dem_resolution_m=dem_resolution_m, landcover=landcover_path is not None):
        _tiled(dem_path, towers_path, towers, out, engine, bounds=bounds, budget=budget,
               dem_resolution_m=dem_resolution_m, landcover_path=landcover_path,
               per_band=per_band, quiet=quiet, t0=t0)
        return
    # Read only the DEM window the towers can reach (a national DEM is never
    # loaded whole for one province's towers).
    dem = load_dem(dem_path, resolution_m=dem_resolution_m, bounds_lonlat=bounds)
    with progress_bar(coverage_label("coverage (towers)"), quiet=quiet) as update:
        clutter = None if landcover_path is None else load_landcover(landcover_path, dem)
        cov = compute_coverage(dem, towers, params=engine.params, thresholds=engine.thresholds,
                               n_threads=engine.threads, progress=update, per_band=per_band,
                               clutter=clutter)
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
        write_raster(out / signal_raster_name(band), comp.best_dbm, cov.transform, cov.crs,
                     nodata=nan, overwrite=overwrite, cog=True)
        write_raster(out / f"best_server_{band}.tif", comp.best_server, cov.transform, cov.crs,
                     nodata=-1, overwrite=overwrite, cog=True)
    with atomic_path(out / "servers.csv") as tmp:
        cov.servers_table().to_csv(tmp, index=False)
    _write_meta(out, cov.parameters, engine.thresholds, cov.grid.outside, dem_path,
                towers_path)
    if not quiet:
        import numpy as np

        reached = float(np.isfinite(cov.rx.best_dbm).mean()) * 100.0
        click.echo(f"coverage: {len(cov.grid.tower_ids)} towers, model {engine.params.model}, "
                   f"{reached:.1f}% of cells reached; outputs in {out}/ "
                   f"({time.perf_counter() - t0:.1f} s)")


def _write_meta(out: Path, parameters: dict, thr, outside: list[str], dem_path: Path,  # noqa: ANN001
                towers_path: Path) -> None:
    """coverage.json: parameters, thresholds, towers outside the DEM, input checksums."""
    from deadzone.data.io import write_json
    from deadzone.data.loaders import file_checksum

    meta = {
        "parameters": parameters,
        "thresholds": thr.as_dict(),
        "towers_outside_dem": outside,
        "inputs": {"dem": {"path": str(Path(dem_path).resolve()),
                           "sha256": file_checksum(dem_path)},
                   "towers": {"path": str(Path(towers_path).resolve()),
                              "sha256": file_checksum(towers_path)}},
    }
    write_json(out / "coverage.json", meta)


def _needs_tiles(dem_path: Path, bounds, towers, engine: EngineOptions, *,  # noqa: ANN001
                 budget: int, per_band: bool, dem_resolution_m: float | None,
                 landcover: bool) -> bool:
    """Whether the in-memory computation would exceed ``budget`` (bytes)."""
    import math
    import os

    from deadzone.errors import DeadzoneError
    from deadzone.geo.tiled import DiskDem, in_memory_bytes, overhead_bytes
    from deadzone.model.schema import TECHS

    try:
        src = DiskDem(dem_path, bounds_lonlat=bounds)
    except DeadzoneError:  # load_dem reports it, with its hints
        return False
    rows, cols = src.shape
    cell_m = math.sqrt(src.cell_w_m * src.cell_h_m)
    if not src.projected_m:  # degrees (or feet): about 111 km per degree
        cell_m *= 111_320.0 if src.crs.is_geographic else 0.3048
    if dem_resolution_m is not None:
        scale = cell_m / dem_resolution_m
        rows, cols, cell_m = math.ceil(rows * scale), math.ceil(cols * scale), dem_resolution_m
    techs = {str(t) for t in towers["tech"]} & set(TECHS) if "tech" in towers.columns else set()
    bands = len(towers) if per_band else 0
    need = in_memory_bytes((rows, cols), n_composites=1 + len(techs) + bands,
                           radius_m=engine.params.radius_m, cell_w_m=cell_m, cell_h_m=cell_m,
                           n_threads=engine.threads or os.cpu_count() or 1,
                           landcover=landcover)
    return need + overhead_bytes() > budget


def _tiled(dem_path: Path, towers_path: Path, towers, out: Path,  # noqa: ANN001
           engine: EngineOptions, *, bounds, budget: int,  # noqa: ANN001
           dem_resolution_m: float | None, landcover_path: Path | None, per_band: bool,
           quiet: bool, t0: float) -> None:
    """The coverage in tiles: windowed DEM (and land-cover) reads, windowed raster writes,
    then COGs."""
    from deadzone.geo.tiled import DiskDem, warp_to_disk

    src = DiskDem(dem_path, bounds_lonlat=bounds)
    resample = dem_resolution_m is not None and (
        abs(src.cell_w_m - dem_resolution_m) > 1e-9 or abs(src.cell_h_m - dem_resolution_m) > 1e-9)
    work = None
    try:
        if not src.projected_m or resample:
            # Geographic (or resampled) DEM: warp the window to a metric grid
            # on disk first, band by band, then read that window by window.
            from deadzone.data.io import make_workdir, sweep_dead_workdirs

            sweep_dead_workdirs(out, (".tiles-", ".warp-"))
            work = make_workdir(out, ".warp-")
            if not quiet:
                click.echo(f"warping {dem_path.name} to a metric grid on disk ...", err=True)
            src = DiskDem(warp_to_disk(dem_path, work / "dem.tif", bounds_lonlat=bounds,
                                       resolution_m=dem_resolution_m),
                          label=f"{dem_path} (warped to a metric grid)")
        _tiled_run(src, dem_path, towers_path, towers, out, engine, budget=budget,
                   per_band=per_band, quiet=quiet, t0=t0, landcover_path=landcover_path)
    finally:
        if work is not None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def _tiled_run(src, dem_path: Path, towers_path: Path, towers, out: Path,  # noqa: ANN001
               engine: EngineOptions, *, budget: int, per_band: bool, quiet: bool, t0: float,
               landcover_path: Path | None) -> None:
    """Tiles over ``src`` (a DiskDem in metres), then servers.csv and coverage.json."""
    import warnings

    from deadzone.data.io import atomic_path
    from deadzone.geo.tiled import format_bytes, tiled_coverage, write_tiled_cogs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = tiled_coverage(src, towers, max_memory_bytes=budget, params=engine.params,
                             thresholds=engine.thresholds, n_threads=engine.threads,
                             per_band=per_band, by_tech=False, landcover=landcover_path)
        with src, progress_bar("coverage (tiles, then COGs)", quiet=quiet) as update:
            written = write_tiled_cogs(run, out, progress=update)
    for w in caught:  # re-issue after the progress bar is gone
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    with atomic_path(out / "servers.csv") as tmp:
        import pandas as pd

        pd.DataFrame({
            "server_index": range(len(run.grid.tower_ids)),
            "tower_id": run.grid.tower_ids,
            "tech": run.grid.techs,
            "computed": [s is not None for s in run.grid.sites],
        }).to_csv(tmp, index=False)
    _write_meta(out, run.parameters, engine.thresholds, run.grid.outside, dem_path,
                towers_path)
    if not quiet:
        st, plan = run.stats, run.plan
        click.echo(f"coverage: {len(run.grid.tower_ids)} towers, model {engine.params.model}, "
                   f"{100.0 * written.reached_cells / max(written.total_cells, 1):.1f}% of cells "
                   f"reached; outputs in {out}/ ({time.perf_counter() - t0:.1f} s)")
        click.echo(f"  windowed: {run.shape[0]}x{run.shape[1]} grid in {st.tiles} tiles of "
                   f"{plan.tile_rows}x{plan.tile_cols} within --max-memory "
                   f"{format_bytes(budget)} (in use before tiles "
                   f"{format_bytes(plan.base_bytes)}, {plan.n_threads} tower(s) at a time); "
                   f"tower windows computed {st.computed}, reused {st.reused}, "
                   f"recomputed {st.recomputed}", err=True)
