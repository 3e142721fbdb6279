"""``deadzone plan``: the cheapest way to connect every remaining dead village, by year."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import click

from deadzone.cli.options import (
    EngineOptions,
    OutDb,
    PopulationOptions,
    SiteOptions,
    engine_options,
    load_scenario_dir,
    out_db_options,
    out_dir_option,
    population_options,
    progress_bar,
    scenario_option,
    site_options,
)

__all__ = ["plan_cmd"]


@click.command("plan", short_help="Programme plan: connect every dead village by year, "
                                  "cheapest over the lifetime.")
@scenario_option
@click.option("--years", type=click.IntRange(1, 50), default=5, show_default=True,
              help="Years of the plan (with --target, the plan runs to the target's year).")
@click.option("--budget-per-year", "budget_per_year", type=click.FloatRange(0), default=None,
              metavar="VND",
              help="Money per year, build and running costs of everything built so far "
                   "(VND, e.g. 200e9).")
@click.option("--target", default=None, metavar='"all by 2030"',
              help="Least-cost plan that connects 'all', 'P%' or 'N' of the dead and marginal "
                   "villages by a year, e.g. \"all by 2030\" or \"90% by 2029\" (with "
                   "--budget-per-year too, when given).")
@click.option("--start-year", type=click.IntRange(2000, 2100), default=None,
              help="Calendar year of the plan's first year (default: this year).")
@click.option("--rollover", is_flag=True, help="Money not spent in a year is kept for later years.")
@click.option("--objective", type=click.Choice(["villages", "population", "households"]),
              default="households", show_default=True,
              help="With a budget: whose connection counts (connected village-years "
                   "weighted by this), before the least cost.")
@click.option("--solver", type=click.Choice(["milp", "greedy"]), default="milp",
              show_default=True,
              help="milp = exact HiGHS model with a time limit (never worse than greedy, gap "
                   "reported); greedy = fast heuristic only.")
@click.option("--time-limit-s", type=click.FloatRange(1, 86_400), default=30.0,
              show_default=True,
              help="MILP time limit (s), both passes: the most connection, then its least "
                   "cost; the gap is reported.")
@click.option("--fiber", "fiber_dir", type=click.Path(exists=True, file_okay=False,
                                                     path_type=Path), default=None,
              help="A `deadzone fiber` output folder: new sites may also hang on its routes "
                   "by a fiber spur, from the year each route is laid (phase 1 = the plan's "
                   "first year).")
@click.option("--irradiation-raster", "irradiation_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Raster of daily solar irradiation (kWh/m²/day, e.g. Global Solar Atlas "
                   "GHI, best its darkest month; any CRS): solar at each site is sized for "
                   "the value under it (default: [solar] irradiation_kwh_m2_day, 3.6).")
@click.option("--no-small-cells", is_flag=True, help="Do not offer low-power sites.")
@click.option("--no-satellite", is_flag=True, help="Do not offer satellite terminals.")
@site_options
@out_dir_option
@out_db_options
@population_options
@engine_options
def plan_cmd(
    scenario_dir: Path,
    years: int,
    budget_per_year: float | None,
    target: str | None,
    start_year: int | None,
    rollover: bool,
    objective: str,
    solver: str,
    time_limit_s: float,
    fiber_dir: Path | None,
    irradiation_path: Path | None,
    no_small_cells: bool,
    no_satellite: bool,
    site_opts: SiteOptions,
    out_dir: Path,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
    out_db: OutDb,
    population: PopulationOptions,
) -> None:
    """Plan how to connect every dead or marginal village, by year, at least lifetime cost.

    Options per village, each checked with the propagation engine (the
    audit's exact paths) and priced over the horizon (build cost, running
    costs and replacements, discounted to present value):

    \b
    - a new macro site or a new radio on an existing mast (the candidates
      of `deadzone place`), powered from the grid (line to the nearest
      grid-powered village) or by solar sized for its load;
    - a low-power site at the village, fed by a repeater's donor link from
      an existing tower (donor signal from the engine), a microwave hop or
      fiber;
    - backhaul of every new site: a microwave hop with 60% Fresnel
      clearance or a fiber spur along the roads, whichever costs less over
      the horizon (with --fiber, also a spur to the planned fiber, from the
      year its route is laid);
    - a satellite terminal, only where it is cheaper per household than
      every terrestrial option covering the village.

    --scenario may be a `deadzone audit` (or demo) output folder: the
    plan's own audit of the existing towers must then give every village
    the status that audit gave it (same engine options), or it stops.

    With --budget-per-year, the plan connects the most (weighted) villages
    as early as the money allows, then at least cost; with --target, it is
    the least-cost plan reaching the target by its year.  Prices: the
    documented defaults, or --costs FILE.toml (docs/PLAN.md).

    Writes OUT/plan_villages.csv/.gpkg (every village once: its option,
    site, year and cost share, or why it is not planned), plan_sites.gpkg
    and .csv (new sites with power, PV/battery size and backhaul),
    plan_years.csv (per year: villages connected, "X/Y", spending, NPV,
    and the covered count of a re-audit with that year's sites),
    plan_costs.toml (the prices used), report.txt, map.html and
    plan_summary.json.

    \b
    Example:
      deadzone demo --out demo_out
      deadzone plan --scenario demo_out --years 5 --budget-per-year 30e9 \\
        --out plan_out
      deadzone plan --scenario demo_out --target "all by 2030" --out plan_all
    """
    from dataclasses import replace

    from deadzone.app.plan import (
        PLAN_FILES,
        backhaul_lines,
        fiber_plan_anchors,
        irradiation_sampler,
        jsonable,
        load_costs,
        run_plan,
        write_plan,
        write_plan_summary,
    )
    from deadzone.errors import ParameterError
    from deadzone.geo.export import check_output_dir
    from deadzone.maps.folium_map import save_map
    from deadzone.maps.plan_map import plan_map

    t0 = time.perf_counter()
    if budget_per_year is None and target is None:
        raise click.UsageError("give --budget-per-year, --target, or both")
    site_prices, costs = load_costs(site_opts.costs_path)
    if no_small_cells:
        costs = replace(costs, small_cell=replace(costs.small_cell, enabled=False))
    if no_satellite:
        costs = replace(costs, satellite=replace(costs.satellite, enabled=False))
    start = start_year if start_year is not None else datetime.date.today().year
    if target is not None:  # its form and year now, its count once the audit is known
        from deadzone.geo.plan import parse_target

        parse_target(target, n_targets=10**12, start_year=start)
    if target is None and years > costs.finance.horizon_years:
        raise ParameterError(f"--years {years} is longer than the horizon "
                             f"({costs.finance.horizon_years} years, [finance] horizon_years)")
    planned = fiber_plan_anchors(fiber_dir) if fiber_dir is not None else None
    irradiation = irradiation_sampler(irradiation_path) if irradiation_path else None
    out = check_output_dir(out_dir, PLAN_FILES, overwrite=overwrite)
    out_db.check()
    scenario = population.apply(load_scenario_dir(scenario_dir))
    with progress_bar("audit, candidate sites and their coverage", quiet=quiet) as update:
        res, baseline, reaudited, timings = run_plan(
            scenario, params=engine.params, thresholds=engine.thresholds,
            site_prices=site_prices, costs=costs, years=years, start_year=start,
            budget_per_year_vnd=budget_per_year, rollover=rollover, target=target,
            objective=objective, solver=solver, time_limit_s=time_limit_s,
            candidates=site_opts.candidates,
            towers_have_fiber=site_opts.towers_have_fiber, progress=update,
            audit_folder=scenario_dir, planned_fiber=planned, irradiation=irradiation,
        )
    parameters = dict(baseline.summary.get("parameters", {}))
    parameters.update({"years": res.problem.n_years, "start_year": start,
                       "budget_per_year_vnd": budget_per_year, "target": target,
                       "rollover": rollover, "objective": objective, "solver": solver,
                       "time_limit_s": time_limit_s, "small_cells": costs.small_cell.enabled,
                       "satellite": costs.satellite.enabled,
                       "max_candidates": site_opts.max_candidates,
                       "site_height_m": site_opts.height_m, "site_tech": site_opts.tech,
                       "costs_file": str(site_opts.costs_path) if site_opts.costs_path else None,
                       "fiber_plan": str(fiber_dir) if fiber_dir is not None else None,
                       "irradiation_raster": str(irradiation_path) if irradiation_path else None})
    lines, summary = write_plan(out, res, scenario=scenario, reaudited=reaudited,
                                site_prices=site_prices, costs=costs, parameters=parameters,
                                timings=timings, planned_fiber=planned,
                                k_factor=engine.params.k_factor)
    routes = None
    if fiber_dir is not None:
        import geopandas as gpd

        routes = gpd.read_file(fiber_dir / "routes.gpkg", layer="routes")
    m = plan_map(res, scenario=scenario, title=f"Programme plan: {scenario.name}",
                 summary_lines=lines[:2],
                 backhaul=backhaul_lines(res.sites, scenario, planned), fiber_routes=routes)
    save_map(m, out / "map.html", overwrite=True)
    if "population_raster" in baseline.summary:  # the people of the existing towers' cells
        summary["population_raster"] = baseline.summary["population_raster"]
        raster = (baseline.summary.get("inputs") or {}).get("population")
        if raster is not None:  # --population-raster (a scenario folder's is in its files)
            summary.setdefault("inputs", {})["population"] = raster
    write_plan_summary(out, summary)
    out_db.publish("plan", {"plan_villages": res.villages, "plan_sites": res.sites,
                            "plan_years": res.years.assign(covered_villages_reaudited=reaudited)},
                   jsonable({**summary, "inputs": scenario.meta.get("inputs") or {}}),
                   quiet=quiet)
    if not quiet:
        for line in lines:
            click.echo(line)
        click.echo(f"outputs: {out}/ ({', '.join(PLAN_FILES)})")
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")
