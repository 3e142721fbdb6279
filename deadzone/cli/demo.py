"""``deadzone demo``: the whole path on the generated demo province."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deadzone.cli.options import (
    EngineOptions,
    check_audit_out,
    engine_options,
    run_audit_and_write,
    settlement_options,
)

if TYPE_CHECKING:
    from deadzone.geo.settlements import SettlementParams

__all__ = ["demo_cmd"]


@click.command("demo", short_help="Run the whole audit on the generated demo province.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo_out"),
    show_default=True,
    help="Output folder.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Demo generator seed (same seed, same province).",
)
@settlement_options
@engine_options
def demo_cmd(
    out_dir: Path,
    seed: int,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
    settlement_params: SettlementParams,
) -> None:
    """Generate the demo province, compute coverage, audit every village, draw the map.

    The demo is a deterministic, offline, ~60 x 60 km mountainous province at
    30 m (communes, ~800 villages, ~40 towers, roads, fiber nodes).  Its inputs
    are written to OUT/inputs/ (dem.tif, *.gpkg, *.csv) so you can edit them
    and re-run with `deadzone audit`, with a drive test along its roads
    (inputs/measurements.csv, made from the ITM prediction plus known offsets
    and shadowing) and its land cover (inputs/landcover.tif) for
    `deadzone calibrate --measurements OUT/inputs/measurements.csv --scenario OUT
    --landcover OUT/inputs/landcover.tif`.

    Writes OUT/villages.gpkg, villages.csv, communes.csv, districts.csv (the demo
    groups its communes into 6 districts), provinces.csv,
    summary.json, coverage.tif, best_server.tif and map.html.  The demo has a
    population raster (inputs/population.tif: people per 3" cell, WorldPop's
    format), so it also finds the hamlets its village list misses:
    unlisted_settlements.gpkg/.csv, a line of the summary and a map layer.
    """
    from deadzone.app.calibrate import write_demo_measurements
    from deadzone.cli.audit import echo_district_outputs
    from deadzone.data.demo import demo_scenario
    from deadzone.data.io import write_scenario
    t0 = time.perf_counter()
    check_audit_out(out_dir, overwrite=overwrite)
    scenario = demo_scenario(seed=seed)
    write_scenario(scenario, out_dir / "inputs", overwrite=overwrite)
    # a drive test with a known truth, for `deadzone calibrate` (see DEMO_TRUTH)
    write_demo_measurements(scenario, out_dir / "inputs", seed=seed, overwrite=overwrite)
    result = run_audit_and_write(
        scenario,
        out_dir,
        engine,
        overwrite=overwrite,
        quiet=quiet,
        title=f"deadzone demo province (seed {seed})",
        settlements=settlement_params,
    )
    if not quiet:
        echo_district_outputs(result, out_dir)
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")
