"""``deadzone audit``: coverage status of every village on real data."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deadzone.app.out_db import audit_tables
from deadzone.app.scenario import load_audit_scenario
from deadzone.cli.options import (
    VECTOR,
    EngineOptions,
    OutDb,
    PopulationOptions,
    check_audit_out,
    engine_options,
    landcover_option,
    out_db_options,
    out_dir_option,
    population_options,
    run_audit_and_write,
    settlement_options,
)
from deadzone.data.postgis import source_name
from deadzone.geo.clutter import load_landcover

if TYPE_CHECKING:
    from deadzone.geo.audit import AuditResult
    from deadzone.geo.settlements import SettlementParams

__all__ = ["audit_cmd"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("audit", short_help="Audit village coverage on your own data.")
@click.option(
    "--dem",
    "dem_path",
    type=_FILE,
    required=True,
    help="Terrain raster (GeoTIFF, SRTM .hgt, ...); geographic DEMs are reprojected to UTM.",
)
@click.option(
    "--villages",
    "villages_path",
    type=VECTOR,
    required=True,
    help="Villages: points or polygons (GeoPackage, GeoJSON, Shapefile, "
    "GeoParquet, CSV with lon/lat), or a PostGIS table or query "
    "(postgresql://...?table=NAME or ?sql=SELECT..., docs/POSTGIS.md).",
)
@click.option(
    "--communes",
    "communes_path",
    type=VECTOR,
    required=True,
    help="Commune polygons (a file or a postgresql://...?table= URL); only those "
    "intersecting the DEM are used.",
)
@click.option(
    "--towers",
    "towers_path",
    type=VECTOR,
    required=True,
    help="Towers: CSV with lon/lat, OpenCelliD CSV, GeoJSON/GeoPackage points, or a "
    "postgresql://...?table= URL.",
)
@out_dir_option
@click.option("--village-id-col", default=None, help="Village id column (auto-detected).")
@click.option("--village-name-col", default=None, help="Village name column.")
@click.option("--population-col", default=None, help="Population column.")
@click.option("--households-col", default=None, help="Households column.")
@click.option(
    "--commune-id-col", default=None, help="Commune id column in the communes file (auto-detected)."
)
@click.option(
    "--district-col",
    default=None,
    help="District column in the communes file (auto-detected: district, district_name, "
    "ten_huyen, huyen, name_2, district_id, district_code, ma_huyen).  Without one there is "
    "no district level (as in Vietnam since 2025); with one, communes roll up to districts "
    "and districts.csv is written.",
)
@click.option(
    "--default-tech",
    type=click.Choice(["2G", "3G", "4G", "5G"]),
    default="4G",
    show_default=True,
    help="Technology of towers whose file gives none.",
)
@click.option(
    "--dem-resolution-m",
    type=click.FloatRange(1, 1000),
    default=None,
    help="Resolution when reprojecting a geographic DEM (default: native).",
)
@click.option(
    "--rasters/--no-rasters",
    default=True,
    show_default=True,
    help="Also compute the area rasters (coverage.tif, best_server.tif, "
    "signal_<tech>_dbm.tif) and map.html.  Village statuses never come from them: each "
    "village is computed on its own tower-to-village paths, so --no-rasters gives the same "
    "village, commune and province tables in a fraction of the time.",
)
@click.option(
    "--tower-col",
    "tower_cols",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="The towers file's column for a field whose name is not recognised, e.g. "
    "--tower-col height_m=cao_anten --tower-col tech=loai (fields: tower_id, tech, "
    "freq_mhz, eirp_dbm, height_m, azimuth_deg, beamwidth_deg, tilt_deg).  Repeatable.",
)
@click.option(
    "--plain-csv",
    is_flag=True,
    help="Write the CSV tables in plain UTF-8 at full precision.  By default they start "
    "with a UTF-8 byte-order mark (so Excel shows Vietnamese names right when the file is "
    "double-clicked) and round levels to 0.1 dB and distances to 1 m; villages.gpkg and "
    "villages.parquet always keep full precision.",
)
@landcover_option
@out_db_options
@settlement_options
@population_options
@engine_options
def audit_cmd(
    dem_path: Path,
    villages_path: Path | str,
    communes_path: Path | str,
    towers_path: Path | str,
    out_dir: Path,
    village_id_col: str | None,
    village_name_col: str | None,
    population_col: str | None,
    households_col: str | None,
    commune_id_col: str | None,
    district_col: str | None,
    default_tech: str,
    dem_resolution_m: float | None,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
    landcover_path: Path | None,
    rasters: bool,
    tower_cols: tuple[str, ...],
    plain_csv: bool,
    out_db: OutDb,
    settlement_params: SettlementParams,
    population: PopulationOptions,
) -> None:
    """Audit village coverage on your own data.

    Every village gets a status (covered / marginal / dead, or unknown when
    it lies outside the DEM or has no valid location) and, when not covered,
    a reason (no_tower_in_range, terrain_blocked with the obstruction's
    distance and height, weak_signal).  A village's signal is the model's
    answer on the straight path from each tower within reach to the village
    point (terrain sampled bilinearly at the DEM's cell size); the area rasters
    drawn on the map can differ slightly at a village.  Counts roll up per commune, per
    district when the communes (or villages) have a district column, and per
    province.  Writes the same files as `deadzone demo`, plus districts.csv
    and a districts layer in communes.gpkg when there are districts.

    The towers file (CSV with lon/lat, an OpenCelliD export, or points in
    GeoJSON/GeoPackage/Shapefile/GeoParquet) is read by column name: tower_id,
    tech (2G/3G/4G/5G), freq_mhz, eirp_dbm (boresight EIRP), height_m (antenna
    above ground), azimuth_deg, beamwidth_deg, tilt_deg (sectors; empty =
    omni), pattern_file (MSI antenna pattern).  Common other names are
    recognised (site_id, ma_tram, technology, frequency, eirp, height,
    antenna_height, do_cao, azimuth, downtilt, ...); a missing radio value
    takes its technology's default (2G 900 MHz 55 dBm, 3G 2100 MHz 58 dBm,
    4G 1800 MHz 61 dBm, 5G 3500 MHz 64 dBm, all 30 m), recorded per tower.

    \b
    Example:
      deadzone audit --dem N21E105.hgt --villages villages.geojson \\
        --communes vn_communes_2025.gpkg --towers towers.csv --out audit_out
    """
    t0 = time.perf_counter()
    check_audit_out(out_dir, overwrite=overwrite)
    out_db.check()
    scenario = load_audit_scenario(
        dem_path, villages_path, communes_path, towers_path,
        radius_km=engine.params.radius_km, village_id_col=village_id_col,
        village_name_col=village_name_col, population_col=population_col,
        households_col=households_col, commune_id_col=commune_id_col,
        district_col=district_col, default_tech=default_tech,
        dem_resolution_m=dem_resolution_m, landcover_path=landcover_path,
        tower_columns=_tower_columns(tower_cols), **population.keywords(),
    )
    result = run_audit_and_write(
        scenario,
        out_dir,
        engine,
        overwrite=overwrite,
        quiet=quiet,
        clutter=None if landcover_path is None else load_landcover(landcover_path, scenario.dem),
        title=f"deadzone audit: {source_name(villages_path)}",
        rasters=rasters,
        plain_csv=plain_csv,
        settlements=settlement_params,
    )
    out_db.publish("audit", audit_tables(result), result.summary, quiet=quiet)
    if not quiet:
        echo_district_outputs(result, out_dir)
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")


def echo_district_outputs(result: AuditResult, out_dir: Path) -> None:
    """Name the district outputs (the shared summary lists only the fixed files)."""
    if result.districts is not None:
        click.echo(f"districts: {out_dir}/districts.csv, layer 'districts' in communes.gpkg")


def _tower_columns(items: tuple[str, ...]) -> dict[str, str]:
    """``("height_m=cao_anten", ...)`` -> ``{"height_m": "cao_anten"}`` (one-line errors)."""
    out: dict[str, str] = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise click.BadParameter(f"{item!r}: expected FIELD=COLUMN, e.g. height_m=cao_anten",
                                     param_hint="--tower-col")
        out[field.strip()] = column.strip()
    return out
