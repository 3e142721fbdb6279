"""``deadzone link``: the path between two points, or many pairs of points."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from deadzone.cli.options import EngineOptions, engine_options, out_dir_option
from deadzone.errors import ParameterError
from deadzone.model.microwave import BANDS_GHZ

__all__ = ["link_cmd"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("link", short_help="Terrain profile, Fresnel clearance, loss and microwave "
                                  "budget between two points.")
@click.argument("end_a", required=False)
@click.argument("end_b", required=False)
@click.option("--scenario", "scenario_dir",
              type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A scenario, `deadzone demo` or `deadzone audit` folder: ends may be its "
                   "tower and village ids.")
@click.option("--dem", "dem_path", type=_FILE, default=None,
              help="A terrain raster instead of --scenario (ends are lon,lat[,height_m]).")
@click.option("--pairs", "pairs_path", type=_FILE, default=None,
              help="CSV of many links: columns a, b (ends as for END_A/END_B), optional "
                   "freq_mhz, height_a_m, height_b_m. Writes links.csv.")
@out_dir_option
@click.option("--band", type=click.Choice(list(BANDS_GHZ)), default=None,
              help="Microwave band (representative centre frequency): adds the link "
                   "budget (ITU-R P.530/P.838/P.676).")
@click.option("--freq-mhz", type=click.FloatRange(30, 100_000), default=None,
              help="Frequency (MHz) instead of --band; 1-54 GHz adds the microwave budget. "
                   "Default: a tower end's own frequency.")
@click.option("--height-a-m", type=click.FloatRange(0.5, 3000), default=None,
              help="Antenna height above ground at END_A (m). Default: a tower's height, "
                   "--rx-height-m at a village, 30 m at a point (or its third value).")
@click.option("--height-b-m", type=click.FloatRange(0.5, 3000), default=None,
              help="Antenna height above ground at END_B (m).")
@click.option("--k-factor", type=click.FloatRange(0.3, 100), default=4.0 / 3.0,
              show_default="4/3", help="Effective earth-radius factor (bulge, clearance).")
@click.option("--tx-power-dbm", type=float, default=20.0, show_default=True,
              help="Microwave transmitter power (dBm).")
@click.option("--gain-a-dbi", type=float, default=None,
              help="Antenna gain at END_A (dBi); default from --dish-a-m.")
@click.option("--gain-b-dbi", type=float, default=None, help="Antenna gain at END_B (dBi).")
@click.option("--dish-a-m", type=click.FloatRange(0.1, 5), default=0.6, show_default=True,
              help="Dish diameter at END_A (m), for its gain (efficiency 0.55).")
@click.option("--dish-b-m", type=click.FloatRange(0.1, 5), default=0.6, show_default=True,
              help="Dish diameter at END_B (m).")
@click.option("--rx-threshold-dbm", type=float, default=-70.0, show_default=True,
              help="Receiver threshold (dBm) of the radio's modulation.")
@click.option("--losses-db", type=click.FloatRange(0, 100), default=2.0, show_default=True,
              help="Feeder, branching and radome losses of both ends (dB).")
@click.option("--polarization", type=click.Choice(["vertical", "horizontal"]),
              default="vertical", show_default=True, help="Microwave polarization (rain).")
@click.option("--rain-rate-mm-h", type=click.FloatRange(0, 500), default=None,
              help="R0.01 rain rate (mm/h). Default: ITU-R P.837-7 map with the itur "
                   "package, else 88.8 mm/h (P.837-7 at Hanoi).")
@click.option("--availability-pct", type=click.FloatRange(50, 99.99999), default=99.99,
              show_default=True, help="Availability target the needed margin is sized for.")
@engine_options
def link_cmd(
    end_a: str | None,
    end_b: str | None,
    scenario_dir: Path | None,
    dem_path: Path | None,
    pairs_path: Path | None,
    out_dir: Path,
    band: str | None,
    freq_mhz: float | None,
    height_a_m: float | None,
    height_b_m: float | None,
    k_factor: float,
    tx_power_dbm: float,
    gain_a_dbi: float | None,
    gain_b_dbi: float | None,
    dish_a_m: float,
    dish_b_m: float,
    rx_threshold_dbm: float,
    losses_db: float,
    polarization: str,
    rain_rate_mm_h: float | None,
    availability_pct: float,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
) -> None:
    """The path between two points: terrain, line of sight, Fresnel zone, loss.

    Each end is a tower id, a village id (with --scenario) or lon,lat[,height_m].
    The profile is the audit's own (bilinear at the DEM's cell size, earth
    bulge for --k-factor); the worst point is the one of least clearance in
    first-Fresnel-zone radii, and a microwave hop needs 60 %.  The loss is
    --model's (ITM, P.526, free space, ...).  With --band or --freq-mhz
    (1-54 GHz) it adds the microwave budget: free space + gases (P.676) +
    rain (P.530 with P.838, R0.01 from P.837) and multipath (P.530 §2.3):
    availability for the fade margin, and the margin needed for
    --availability-pct.

    A village alone (END_B left out) answers "why is this village dead":
    the path from the tower its signal comes from, with the ridge marked.

    \b
    Writes: link.png, link.svg, profile.csv, link.json (or with --pairs:
    links.csv, links.json).

    \b
    Example:
      deadzone link --scenario demo_out V0001 --out why_V0001
      deadzone link --scenario demo_out T036 T037 --band 13GHz --height-a-m 40 \\
          --height-b-m 40 --out hop
      deadzone link --scenario demo_out --pairs hops.csv --band 13GHz --out hops
    """
    from deadzone.app.link import LINK_FILES, PAIRS_FILES, MicrowaveOptions
    from deadzone.geo.export import check_output_dir

    if (scenario_dir is None) == (dem_path is None):
        raise ParameterError("give one of --scenario DIR or --dem FILE")
    if band is not None and freq_mhz is not None:
        raise ParameterError("give --band or --freq-mhz, not both")
    if pairs_path is not None and (end_a or end_b):
        raise ParameterError("give END_A END_B or --pairs, not both")
    if pairs_path is None and not end_a:
        raise ParameterError("give two ends (END_A END_B), a village id alone, or --pairs")
    f_mhz = BANDS_GHZ[band] * 1000.0 if band is not None else freq_mhz
    model = _model_for(engine.params.model, f_mhz)
    check_output_dir(out_dir, PAIRS_FILES if pairs_path else LINK_FILES, overwrite=overwrite)
    scenario = _scenario(scenario_dir, dem_path)
    micro = None
    if f_mhz is not None and 1000.0 <= f_mhz <= 54_000.0:
        micro = MicrowaveOptions(
            radio=_radio(f_mhz / 1000.0, tx_power_dbm, gain_a_dbi, gain_b_dbi, dish_a_m,
                         dish_b_m, rx_threshold_dbm, losses_db, polarization),
            climate=None if rain_rate_mm_h is None else _climate(rain_rate_mm_h),
            target_pct=availability_pct)
    if engine.threads is not None:
        import numba

        numba.set_num_threads(min(engine.threads, numba.config.NUMBA_NUM_THREADS))
    if pairs_path is not None:
        _pairs(scenario, pairs_path, out_dir, f_mhz, model, k_factor, engine, micro, quiet,
               rain_rate_mm_h)
        return
    _one(scenario, end_a, end_b, out_dir, f_mhz, model, k_factor, engine, micro,
         height_a_m, height_b_m, quiet, rain_rate_mm_h)


def _model_for(model: str, f_mhz: float | None) -> str:
    """ITM stops at 20 GHz: above it the default model becomes p526 (said on stderr);
    an explicit ``--model itm`` fails in the kernel's check."""
    ctx = click.get_current_context()
    given = ctx.get_parameter_source("model") == click.core.ParameterSource.COMMANDLINE
    if model == "itm" and not given and f_mhz is not None and f_mhz > 20_000.0:
        click.echo("note: ITM is defined up to 20 GHz; using --model p526", err=True)
        return "p526"
    return model


def _scenario(scenario_dir: Path | None, dem_path: Path | None):  # noqa: ANN202
    if scenario_dir is not None:
        from deadzone.cli.options import load_scenario_dir

        return load_scenario_dir(scenario_dir)
    import geopandas as gpd

    from deadzone.data.loaders import load_dem
    from deadzone.model.scenario import Scenario

    dem = load_dem(dem_path)
    empty = gpd.GeoDataFrame(geometry=[], crs=4326)
    return Scenario(dem=dem, communes=empty, villages=empty.copy(), towers=empty.copy(),
                    name=Path(dem_path).stem)


def _climate(rain_rate_mm_h: float):  # noqa: ANN202
    from deadzone.model.microwave import MicrowaveClimate

    return MicrowaveClimate(rain_rate_mm_h=rain_rate_mm_h,
                            source=f"R0.01 {rain_rate_mm_h:g} mm/h given; other values "
                                   "ITU-R maps at Hanoi")


def _radio(f_ghz: float, tx_power_dbm: float, gain_a: float | None, gain_b: float | None,
           dish_a: float, dish_b: float, threshold: float, losses: float, pol: str):  # noqa: ANN202
    from deadzone.model.microwave import MicrowaveRadio, dish_gain_dbi

    return MicrowaveRadio(
        freq_ghz=f_ghz, tx_power_dbm=tx_power_dbm,
        tx_gain_dbi=gain_a if gain_a is not None else dish_gain_dbi(dish_a, f_ghz),
        rx_gain_dbi=gain_b if gain_b is not None else dish_gain_dbi(dish_b, f_ghz),
        rx_threshold_dbm=threshold, other_losses_db=losses,
        polarization_tilt_deg=90.0 if pol == "vertical" else 0.0)


def _one(scenario, end_a: str, end_b: str | None, out_dir: Path, f_mhz: float | None,  # noqa: ANN001
         model: str, k_factor: float, engine: EngineOptions, micro, h_a: float | None,  # noqa: ANN001
         h_b: float | None, quiet: bool, rain_rate_mm_h: float | None) -> None:
    from deadzone.app.link import write_link
    from deadzone.geo.link import (
        best_tower_for,
        climate_for,
        link_budget,
        link_profile,
        resolve_end,
        summary_lines,
    )
    from deadzone.maps.link_figure import link_figure

    rx_h = engine.params.rx_height_m
    a = resolve_end(scenario, end_a, height_m=h_a, village_height_m=rx_h)
    if end_b is None:
        if a.kind != "village":
            raise ParameterError(f"{end_a!r} alone: only a village id may stand alone "
                                 "(its best tower is found); give two ends")
        # why is this village dead: from the tower its signal comes from, as the audit
        b = a
        a = best_tower_for(scenario, b, params=engine.params, thresholds=engine.thresholds)
        if h_a is not None:
            a = replace(a, height_m=h_a)
        if h_b is not None:
            b = replace(b, height_m=h_b)
    else:
        b = resolve_end(scenario, end_b, height_m=h_b, village_height_m=rx_h)
    f = f_mhz
    if f is None:
        f = next((e.freq_mhz for e in (a, b) if e.kind == "tower"), None)
    if f is None:
        raise ParameterError("no frequency: give --band or --freq-mhz (or a tower end)")
    model = _model_for(model, f)
    prof = link_profile(scenario.dem, a, b, freq_mhz=f, model=model, k_factor=k_factor,
                        itm=engine.params.itm)
    budget = radio = climate = None
    eirp = next((e.eirp_dbm for e in (a, b) if e.kind == "tower"), None)
    if micro is not None:
        radio = micro.radio
        climate = micro.climate or climate_for((a.lon + b.lon) / 2, (a.lat + b.lat) / 2,
                                               rain_rate_mm_h=rain_rate_mm_h)
        budget = link_budget(prof, radio, dem=scenario.dem, climate=climate,
                             target_pct=micro.target_pct)
    lines = summary_lines(prof, budget=budget, radio=radio, climate=climate,
                          eirp_dbm=None if f_mhz is not None else eirp)
    written = link_figure(prof, out_dir / "link.png", svg_path=out_dir / "link.svg",
                          summary_lines=lines)
    written += write_link(out_dir, prof, lines=lines, budget=budget, radio=radio,
                          climate=climate)
    if not quiet:
        click.echo(f"{a.label} -> {b.label}")
        click.echo("\n".join(lines))
        click.echo(f"wrote {', '.join(p.name for p in written)} to {out_dir}")


def _pairs(scenario, pairs_path: Path, out_dir: Path, f_mhz: float | None, model: str,  # noqa: ANN001
           k_factor: float, engine: EngineOptions, micro, quiet: bool,  # noqa: ANN001
           rain_rate_mm_h: float | None) -> None:
    import time

    from deadzone.app.link import read_pairs, run_pairs, write_pairs

    pairs = read_pairs(pairs_path)
    t0 = time.perf_counter()
    table = run_pairs(scenario, pairs, freq_mhz=f_mhz, model=model, k_factor=k_factor,
                      itm=engine.params.itm, microwave=micro, source=str(pairs_path))
    dt = time.perf_counter() - t0
    meta = {"pairs_file": str(pairs_path), "model": model, "k_factor": k_factor,
            "freq_mhz": f_mhz, "rain_rate_mm_h": rain_rate_mm_h, "seconds": round(dt, 3)}
    written = write_pairs(out_dir, table, meta=meta)
    if not quiet:
        n_clear = int(table["clear"].sum())
        click.echo(f"{len(table)} links: {n_clear} keep 60% of F1 clear, "
                   f"{len(table) - n_clear} do not ({dt:.2f} s)")
        if "availability_pct" in table:
            ok = int((table["availability_pct"] >= micro.target_pct).sum())
            click.echo(f"{ok} reach {micro.target_pct:g} % availability")
        click.echo(f"wrote {', '.join(p.name for p in written)} to {out_dir}")
