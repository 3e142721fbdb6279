"""``deadzone calibrate``: predictions against drive tests and crowdsourced samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from deadzone.cli.options import (
    VECTOR,
    EngineOptions,
    coverage_label,
    engine_options,
    landcover_option,
    load_scenario_dir,
    out_dir_option,
    progress_bar,
)
from deadzone.errors import ParameterError

__all__ = ["calibrate_cmd"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _names(text: str, known: tuple[str, ...], flag: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise click.BadParameter(
            f"{bad[0] if bad else text!r} is not one of {', '.join(known)}", param_hint=flag
        )
    return names


@click.command("calibrate", short_help="Compare predictions with measurements; calibrate.")
@click.option(
    "--measurements", "measurements_path", type=VECTOR, default=None,
    help="Signal samples: CSV / GeoPackage / GeoJSON / Parquet points with a signal column "
    "(rsrp, rscp, rssi, rxlev, level, signal_dbm), an OpenCelliD measurement export, or "
    "a G-NetTrack log (see docs/MEASUREMENTS.md).",
)
@click.option(
    "--scenario", "scenario_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The DEM and towers: an audit or demo output folder, or a scenario folder.",
)
@click.option("--dem", "dem_path", type=_FILE, default=None,
              help="DEM (instead of --scenario; with --towers).")
@click.option("--towers", "towers_path", type=VECTOR, default=None,
              help="Towers file (instead of --scenario; with --dem).")
@click.option("--demo", is_flag=True,
              help="Run on the demo province and its drive test (made from the ITM "
              "prediction plus known offsets, shadowing and noise; see DEMO_TRUTH), with "
              "its land cover; no other input.")
@click.option("--seed", type=int, default=0, show_default=True, help="Demo seed (--demo).")
@click.option("--tech", type=click.Choice(["2G", "3G", "4G", "5G"]), default=None,
              help="Technology of samples whose file has no technology column.")
@click.option(
    "--models", default=None, metavar="LIST",
    help="Models to compare, comma-separated (default: --model, itm, p526, knife, cost231).",
)
@click.option(
    "--fits", default="none,offset,offset+slope,offset+slope+clutter", show_default=True,
    metavar="LIST",
    help="Fits to try per model: none; offset (per technology); offset+slope (plus dB per "
    "decade of distance); offset+slope+clutter (plus per land-cover class, needs "
    "--landcover).",
)
@click.option("--folds", type=click.IntRange(2, 50), default=5, show_default=True,
              help="Cross-validation folds.")
@click.option(
    "--block-km", type=click.FloatRange(0.1, 1000), default=5.0, show_default=True,
    help="Side of the square blocks dealt to folds (km): samples of one block are never "
    "split between fitting and testing, so correlated neighbours cannot flatter a fit.",
)
@click.option("--min-samples", type=click.IntRange(1, None), default=100, show_default=True,
              help="Fewer usable samples: nothing is fitted, and the summary says so.")
@click.option(
    "--censor-margin-db", type=click.FloatRange(0, 60), default=20.0, show_default=True,
    help="Leave out of the fits samples predicted within this of the receiver's "
    "sensitivity (2G -110, 3G -120, 4G -140, 5G -156 dBm) or of the top of the "
    "reporting range (-48, -25, -44, -31 dBm): a drive records nothing below the one "
    "and the other for anything stronger, so samples near them would bias a fit.",
)
@click.option(
    "--village-radius-m", type=click.FloatRange(1, 10_000), default=500.0, show_default=True,
    help="With a scenario's villages: samples this close to a village give its measured "
    "status (the audit's rule on their median), compared with the predicted one.",
)
@landcover_option
@engine_options
@out_dir_option
def calibrate_cmd(
    measurements_path: Path | None,
    scenario_dir: Path | None,
    dem_path: Path | None,
    towers_path: Path | None,
    demo: bool,
    seed: int,
    tech: str | None,
    models: str | None,
    fits: str,
    folds: int,
    block_km: float,
    min_samples: int,
    censor_margin_db: float,
    village_radius_m: float,
    landcover_path: Path | None,
    engine: EngineOptions,
    out_dir: Path,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Compare the engine's predictions with measured samples and choose a calibration.

    Every sample is predicted on its own exact tower -> sample path, with the
    audit's engine and metric (2G level, 3G RSCP, 4G/5G RSRP): from the
    serving tower when the file names one the towers file holds, else from
    the best server.  Each model and fit is scored by spatially blocked
    k-fold cross-validation; the best is applied only when it beats the
    uncalibrated --model, and calibration.json says plainly when none does.

    \b
    Writes: residuals.csv, residuals.gpkg (every sample once, with why it
    was not used), candidates.csv, errors.csv, with a scenario's villages
    villages_measured.csv, confusion.csv and field_visits.csv (measured
    against predicted status), report.html, calibration.json (for
    `deadzone audit --calibration`).

    \b
    Example:
      deadzone calibrate --demo --out cal_out
      deadzone calibrate --measurements drive.csv --scenario audit_out --out cal_out
      deadzone calibrate --measurements cells.csv --dem dem.tif --towers towers.csv \\
          --model itm --landcover worldcover.tif --out cal_out
    """
    from deadzone.app.calibrate import CALIBRATE_FILES, run_calibration
    from deadzone.geo.calibration import DEFAULT_MODELS, FITS
    from deadzone.geo.clutter import load_landcover
    from deadzone.geo.export import check_output_dir
    from deadzone.kernels.coverage import MODELS
    from deadzone.maps.calibration_report import write_calibration_report

    if engine.params.calibration is not None:
        raise ParameterError("calibrate compares the models as they are: drop --calibration "
                             "(and --confidence)")
    model_list = _names(models, tuple(MODELS), "--models") if models else None
    fit_list = _names(fits, FITS, "--fits")
    if demo:
        if measurements_path or scenario_dir or dem_path or towers_path:
            raise ParameterError("--demo brings its own inputs: drop --measurements, "
                                 "--scenario, --dem and --towers")
        check_output_dir(out_dir, CALIBRATE_FILES, overwrite=overwrite)
        from deadzone.app.calibrate import demo_measurements
        from deadzone.data.demo import demo_scenario

        scenario = demo_scenario(seed=seed)
        dem, towers = scenario.dem, scenario.towers
        samples, clutter = demo_measurements(scenario, seed=seed)
        if landcover_path is not None:
            clutter = load_landcover(landcover_path, dem)
    else:
        if measurements_path is None:
            raise ParameterError("give --measurements FILE (drive test, OpenCelliD "
                                 "measurements or a G-NetTrack log), or --demo")
        check_output_dir(out_dir, CALIBRATE_FILES, overwrite=overwrite)
        scenario, dem, towers, samples = _inputs(scenario_dir, dem_path, towers_path,
                                                 measurements_path, tech=tech,
                                                 radius_km=engine.params.radius_km)
        clutter = None if landcover_path is None else load_landcover(landcover_path, dem)
    n_models = len(dict.fromkeys([engine.params.model,
                                  *(model_list if model_list else DEFAULT_MODELS)]))
    with progress_bar(coverage_label("predicting samples (models)", sweep=False),
                      quiet=quiet) as update:
        res, summary = run_calibration(
            dem, towers, samples, out_dir, params=engine.params,
            measurements_path=measurements_path, models=model_list, fits=fit_list,
            clutter=clutter, landcover_path=landcover_path, folds=folds, block_km=block_km,
            min_samples=min_samples, censor_margin_db=censor_margin_db,
            progress=lambda done: update(done, n_models),
            write_report=write_calibration_report, scenario=scenario,
            thresholds=engine.thresholds, village_radius_m=village_radius_m,
        )
    if quiet:
        return
    m = summary["measurements"]
    click.echo(f"deadzone calibrate: {measurements_path or f'demo drive test (seed {seed})'}")
    click.echo(f"  samples: {m['n_samples']:,}, used {m['n_used']:,}"
               + "".join(f"; {k}: {v:,}" for k, v in summary["not_used"].items()))
    click.echo(f"  uncalibrated {summary['configured_model']}: RMSE "
               f"{_db(summary['uncalibrated_rmse_db'])} dB, mean error "
               f"{_db(summary['uncalibrated_mean_db'], sign=True)} dB (measured - predicted)")
    click.echo(f"  {summary['result']}")
    cal = summary["calibration"]
    if cal is not None:
        parts = [f"{k} {v:+.1f} dB" for k, v in cal["offsets_db"].items()]
        parts += [f"{k} {v:+.1f} dB/decade" for k, v in cal["slopes_db_per_decade"].items()]
        parts += [f"{k} {v:+.1f} dB" for k, v in cal["clutter_offsets_db"].items()]
        click.echo(f"  corrections: {', '.join(parts) or 'none'}; residual sigma "
                   f"{cal['sigma_db']:.1f} dB")
        click.echo(f"  apply: deadzone audit ... --calibration {out_dir / 'calibration.json'}")
    click.echo(f"outputs: {out_dir}/ ({', '.join(CALIBRATE_FILES)})")


def _db(v: float | None, *, sign: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.2f}" if sign else f"{v:.2f}"


def _inputs(scenario_dir: Path | None, dem_path: Path | None, towers_path: Path | None,
            measurements_path: Path, *, tech: str | None, radius_km: float
            ) -> tuple[Any, Any, Any, Any]:
    """The scenario (None without --scenario), DEM, towers and samples: the DEM and
    towers from --scenario, or from --dem (the window holding the samples and what
    the towers reach) and --towers."""
    from deadzone.data.loaders import load_dem, load_measurements, load_towers
    from deadzone.model.bounds import reach_bounds, union_bounds

    if scenario_dir is not None:
        if dem_path is not None or towers_path is not None:
            raise ParameterError("give --scenario or --dem/--towers, not both")
        s = load_scenario_dir(scenario_dir)
        samples = load_measurements(measurements_path, towers=s.towers, tech=tech)
        return s, s.dem, s.towers, samples
    if dem_path is None or towers_path is None:
        raise ParameterError("give --scenario DIR, or --dem and --towers")
    towers = load_towers(towers_path)
    samples = load_measurements(measurements_path, towers=towers, tech=tech)
    bounds = union_bounds(reach_bounds(samples, 0.0), reach_bounds(towers, radius_km))
    return None, load_dem(dem_path, bounds_lonlat=bounds), towers, samples
