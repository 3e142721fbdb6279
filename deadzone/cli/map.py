"""``deadzone map``: one offline map of an audit folder, with placement and fiber plans."""

from __future__ import annotations

import time
from pathlib import Path

import click

from deadzone.cli.options import VECTOR

__all__ = ["map_cmd"]

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("map", short_help="One offline HTML map of an audit (+ proposed sites, fiber).")
@click.option(
    "--audit",
    "audit_dir",
    type=_DIR,
    required=True,
    help="Audit folder written by `deadzone audit` or `deadzone demo` (coverage.tif, "
    "villages, communes.gpkg, best_server.tif, servers.csv, summary.json).",
)
@click.option(
    "--place",
    "place_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone place` output folder: proposed sites layer (popups with "
    "cost and villages covered).",
)
@click.option(
    "--fiber",
    "fiber_dir",
    type=_DIR,
    default=None,
    help="Optional `deadzone fiber` output folder: one layer per rollout phase and the "
    "existing network.",
)
@click.option(
    "--towers",
    "towers_path",
    type=VECTOR,
    default=None,
    help="Towers file for the tower layer (default: the file the audit recorded in "
    "summary.json, or AUDIT/inputs/towers.* of a demo).",
)
@click.option(
    "--out",
    "out_path",
    type=_FILE,
    default=Path("map.html"),
    show_default=True,
    help="HTML file to write (one self-contained file).",
)
@click.option("--title", default=None, help="Map title (default: 'Coverage audit: <scenario>').")
@click.option(
    "--max-raster-px",
    type=click.IntRange(64, 8000),
    default=1600,
    show_default=True,
    help="Longest side of each embedded raster (pixels); larger rasters are averaged "
    "down. Keeps a province map under ~20 MB.",
)
@click.option(
    "--cluster/--no-cluster",
    "cluster",
    default=None,
    help="Cluster village markers (default: automatic above 2,000 villages).",
)
@click.option(
    "--basemap",
    default=None,
    help="Optional base tiles: 'openstreetmap' or a {z}/{x}/{y} URL template. The only "
    "remote reference allowed; without it the map needs no network.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing map file.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success.")
def map_cmd(
    audit_dir: Path,
    place_dir: Path | None,
    fiber_dir: Path | None,
    towers_path: Path | str | None,
    out_path: Path,
    title: str | None,
    max_raster_px: int,
    cluster: bool | None,
    basemap: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Draw one offline map for committees and operators.

    Layers (each switchable in the layer control): received power (legend in
    dBm with the covered / marginal thresholds), coverage class, best server
    (one colour per serving tower), villages by status (popups: name,
    commune, population, best dBm, serving tower, reason; clustered when
    there are thousands), towers with sector wedges, communes with a
    choropleth of % villages covered, district / province outlines when the
    communes carry them, and with --place / --fiber the proposed sites and
    one layer per fiber phase.  A scale bar, the title and a summary box
    ("covered villages: X/Y") are drawn on the map.  Leaflet is embedded: the
    file opens with no network.

    \b
    Example:
      deadzone demo --out demo_out
      deadzone place --scenario demo_out --budget-towers 5 --out place_out
      deadzone fiber --scenario demo_out/inputs --out fiber_out
      deadzone map --audit demo_out --place place_out --fiber fiber_out --out map.html
    """
    from deadzone.cli.options import progress_bar
    from deadzone.errors import OutputExistsError
    from deadzone.maps.audit_map import audit_map
    from deadzone.maps.folium_map import save_map

    t0 = time.perf_counter()
    if out_path.exists() and not overwrite:
        raise OutputExistsError(f"output {str(out_path)!r} exists; pass --overwrite to replace it")
    if not out_path.parent.is_dir():
        out_path.parent.mkdir(parents=True, exist_ok=True)
    with progress_bar("map (read, layers, write)", quiet=quiet) as update:
        m = audit_map(
            audit_dir,
            place_dir=place_dir,
            fiber_dir=fiber_dir,
            towers_path=towers_path,
            title=title,
            max_raster_px=max_raster_px,
            cluster_villages=cluster,
            basemap=basemap,
            progress=lambda done, total: update(done, total + 1),
        )
        save_map(m, out_path, overwrite=overwrite)
        update(4, 4)
    if not quiet:
        size_mb = out_path.stat().st_size / 1e6
        click.echo(f"map: {out_path} ({size_mb:.1f} MB, {time.perf_counter() - t0:.1f} s)")
