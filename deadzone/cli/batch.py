"""``deadzone batch``: many audits from one TOML file, locally or on a Dask cluster."""

from __future__ import annotations

import time
from pathlib import Path

import click

from deadzone.cli.options import OutDb, out_db_options, progress_bar, run_options

__all__ = ["batch_cmd"]


@click.command("batch", short_help="Run many audits (scenarios from a TOML file).")
@click.argument(
    "scenarios_path",
    metavar="SCENARIOS.toml",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Batch output folder: one sub-folder per scenario plus "
    "batch_summary.csv / batch_summary.json (batch_timings.csv: run times).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:PORT",
    help="Address of a running Dask scheduler (dask.distributed); --out must be "
    "on a file system the workers share. Default: local processes.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=None,
    help="Local worker processes (default: all cores); each gets cores/workers numba threads.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Keep scenarios whose complete output exists with the same input checksums "
    "and parameters; compute the rest.",
)
@click.option("--overwrite", is_flag=True, help="Recompute and replace existing outputs.")
@click.option(
    "--population-raster",
    "population_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Population raster (people per cell) for every scenario that names none "
    "(the TOML key 'population' per scenario or in [defaults]); see deadzone audit.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
@out_db_options
def batch_cmd(
    scenarios_path: Path,
    out_dir: Path,
    scheduler: str | None,
    workers: int | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
    out_db: OutDb,
    population_path: Path | None,
) -> None:
    """Run every scenario of SCENARIOS.toml as an audit.

    Scenarios are listed as [[scenario]] tables (dem, villages, communes,
    towers paths relative to the TOML file, or demo = {seed = N}) or as a
    [matrix] cross product (e.g. area x towers x threshold_dbm x model);
    split = "province" runs one job per province of the communes file and
    split = "tile" (with tile_km, default 100) one job per square of villages,
    each reading only its DEM window plus a radius_km halo.  Every village
    is in exactly one province job (its commune is the one deadzone audit
    gives it; villages of no province go to the NAME-unassigned job), so the
    jobs add up to the unsplit audit.  A split job with no villages is
    skipped (status skipped, note "no villages" or "outside DEM").  Each
    scenario is written atomically to OUT/<name>/; a failed scenario is
    reported in the summary (status failed + error) without stopping the
    others, and the exit status is then 1 (0 when every scenario is ok or
    skipped, 2 on a usage or input error).

    \b
    Example:
      deadzone batch provinces.toml --out batch_out --workers 4
      deadzone batch provinces.toml --out batch_out --resume
      deadzone batch provinces.toml --out batch_out --scheduler tcp://10.0.0.5:8786
    """
    from deadzone.app.batch import load_batch, run_batch

    t0 = time.perf_counter()
    scenarios = load_batch(scenarios_path)
    out_db.check()
    if population_path is not None:
        import dataclasses

        scenarios = [
            sc if sc.demo_seed is not None or "population" in sc.files
            else dataclasses.replace(sc, files={**sc.files,
                                                "population": population_path.resolve()})
            for sc in scenarios
        ]
    with progress_bar("batch (scenarios)", quiet=quiet) as update:
        df = run_batch(
            scenarios,
            out_dir,
            scheduler=scheduler,
            workers=workers,
            resume=resume,
            overwrite=overwrite,
            progress=update,
        )
    if not quiet:
        for row in df.itertuples(index=False):
            if row.status == "ok" and not row.villages_total:
                click.echo(f"  {row.scenario}: no villages")
            elif row.status == "ok":
                click.echo(
                    f"  {row.scenario}: covered villages {int(row.villages_covered):,}/"
                    f"{int(row.villages_total):,} ({row.covered_pct:.1f}%)"
                )
            elif row.status == "skipped":
                click.echo(f"  {row.scenario}: skipped: {row.note}")
            else:
                click.echo(f"  {row.scenario}: FAILED: {row.error}")
    if out_db.url is not None and (df["status"] == "ok").any():
        from deadzone.app.out_db import publish_batch

        rep = publish_batch(out_db.url, out_dir, df, run_id=out_db.run_id,
                            options=run_options(), mode=out_db.mode)
        if not quiet:
            click.echo(rep.line())
    n_ok = int((df["status"] == "ok").sum())
    n_skipped = int((df["status"] == "skipped").sum())
    if not quiet:
        skipped = f", {n_skipped} skipped" if n_skipped else ""
        click.echo(
            f"{n_ok}/{len(df)} scenarios ok{skipped}; outputs: {out_dir}/ (batch_summary.csv, "
            f"batch_summary.json, batch_timings.csv) in {time.perf_counter() - t0:.1f} s"
        )
    if n_ok + n_skipped < len(df):
        raise click.exceptions.Exit(1)
