"""``deadzone progress``: programme progress between a baseline and a current audit."""

from __future__ import annotations

from pathlib import Path

import click

from deadzone.cli.options import OutDb, VectorSource, out_db_options, out_dir_option

__all__ = ["progress_cmd"]

_IN = VectorSource(dir_okay=True)


@click.command("progress", short_help="Compare a baseline audit or dead-zone list with now.")
@click.option(
    "--baseline",
    "baseline_path",
    type=_IN,
    required=True,
    help="Baseline: an audit folder (villages.csv from deadzone audit/demo), its "
    "villages file, or a list of dead-zone villages (CSV/GeoJSON/GeoPackage "
    "with id, name, commune, optional lon/lat and phase), or a postgresql://...?table= "
    "URL (e.g. the villages table an --out-db audit wrote, with &sql= to pick its run).",
)
@click.option(
    "--current",
    "current_path",
    type=_IN,
    required=True,
    help="Current audit folder (or its villages.csv / villages.gpkg, or a postgresql:// "
    "table or query with a status column).",
)
@out_dir_option
@click.option(
    "--match-distance-m",
    type=click.FloatRange(0, 100_000),
    default=500.0,
    show_default=True,
    help="Largest distance (m) for matching a village by name when ids differ.",
)
@out_db_options
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stdout.")
def progress_cmd(
    baseline_path: Path,
    current_path: Path,
    out_dir: Path,
    match_distance_m: float,
    overwrite: bool,
    quiet: bool,
    out_db: OutDb,
) -> None:
    """Compare a baseline with a current audit: which dead-zone villages got covered.

    Every village gets a transition: newly_covered (dead or marginal at
    baseline, covered now), still_dead (not covered then or now; marginal
    counts as not covered), newly_dead (covered then, not now, e.g. a tower
    removed), still_covered, unknown (status unknown on one side) or
    unmatched.  A baseline list without a status column means every village
    on it was dead at baseline.

    Villages are matched by village id; those left are matched by name
    (diacritics, case and a leading thôn/bản/xóm folded) when the commune
    agrees and/or the points are within --match-distance-m, and nothing
    contradicts.  Unmatched villages of both sides go to unmatched.csv with
    a note.

    \b
    Writes: progress_villages.csv, progress_by_commune.csv,
    progress_by_province.csv, progress_by_phase.csv, unmatched.csv,
    progress_summary.json.

    \b
    Example:
      deadzone progress --baseline audit_2023 --current audit_2025 --out progress_out
      deadzone progress --baseline ministry_list.csv --current audit_2025 --out p
    """
    from deadzone.data.postgis import shown_source
    from deadzone.geo.export import check_output_dir
    from deadzone.geo.progress import PROGRESS_FILES, compare_audits, write_progress

    check_output_dir(out_dir, PROGRESS_FILES, overwrite=overwrite)
    out_db.check()
    result = compare_audits(baseline_path, current_path, match_distance_m=match_distance_m)
    write_progress(result, out_dir, overwrite=True)
    tables = {"progress_villages": result.villages, "progress_by_commune": result.by_commune,
              "progress_by_province": result.by_province, "progress_by_phase": result.by_phase,
              "progress_unmatched": result.unmatched}
    if result.by_district is not None:
        tables["progress_by_district"] = result.by_district
    out_db.publish("progress", tables, result.summary, quiet=quiet)
    if not quiet:
        click.echo(f"deadzone progress: {shown_source(baseline_path)} -> "
                   f"{shown_source(current_path)}")
        for line in result.summary_lines():
            click.echo(f"  {line}")
        click.echo(f"outputs: {out_dir}/ ({', '.join(PROGRESS_FILES)})")
