"""``deadzone place``: choose new tower sites that cover the most dead villages for a budget."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from deadzone.cli.options import (
    EngineOptions,
    OutDb,
    PopulationOptions,
    SiteOptions,
    engine_options,
    out_db_options,
    out_dir_option,
    population_options,
    progress_bar,
    scenario_option,
    settlement_options,
    site_options,
    whatif_session,
)
from deadzone.model.thresholds import status_labels

if TYPE_CHECKING:
    from deadzone.geo.settlements import SettlementParams

__all__ = ["place_cmd", "PLACE_FILES"]

PLACE_FILES: tuple[str, ...] = (
    "sites.gpkg",
    "sites.csv",
    "hops.csv",
    "hop_profiles.csv",
    "candidates.csv",
    "report.txt",
    "summary.json",
    "map.html",
)
@click.command("place", short_help="Choose new tower sites for a budget (greedy or exact MILP).")
@scenario_option
@click.option(
    "--budget-towers", type=click.IntRange(0, 100_000), default=None, help="Number of new sites."
)
@click.option(
    "--budget-vnd",
    type=click.FloatRange(0),
    default=None,
    help="Money for new sites, VND (capex + power + backhaul).",
)
@click.option(
    "--objective",
    type=click.Choice(["villages", "population", "households", "people"]),
    default="population",
    show_default=True,
    help="What to maximise among currently dead or marginal villages.  people: their "
    "population plus the people of the dead or marginal unlisted settlements a population "
    "raster shows (the scenario's population.tif; see docs/SETTLEMENTS.md), each "
    "settlement a target at its centroid.",
)
@click.option(
    "--solver",
    type=click.Choice(["greedy", "milp"]),
    default="greedy",
    show_default=True,
    help="greedy = lazy greedy (fast, >= 63% of optimal for a tower budget); "
    "milp = exact HiGHS MILP with a time limit (never worse than greedy).",
)
@click.option(
    "--time-limit-s",
    type=click.FloatRange(1, 86_400),
    default=60.0,
    show_default=True,
    help="MILP time limit; the gap is reported.",
)
@site_options
@settlement_options
@out_dir_option
@out_db_options
@population_options
@engine_options
def place_cmd(
    scenario_dir: Path,
    budget_towers: int | None,
    budget_vnd: float | None,
    objective: str,
    solver: str,
    time_limit_s: float,
    site_opts: SiteOptions,
    out_dir: Path,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
    out_db: OutDb,
    settlement_params: SettlementParams,
    population: PopulationOptions,
) -> None:
    """Choose sites for new towers that cover the most people in dead villages.

    Candidates: your list (--candidates), DEM peaks and ridge points, the
    highest ground near each dead or marginal village, commune centres, and
    existing tower sites (upgrade: a new radio on the mast).  Each
    candidate's coverage of every village comes from the propagation engine
    (same model and thresholds as the audit).  Costs per site: tower (or
    upgrade) capex, power (grid line to the nearest grid-powered village or
    a solar kit), backhaul (microwave hop with 60% Fresnel clearance to a
    fiber site or to another chosen site, else a fiber spur along roads).

    Writes OUT/sites.gpkg and sites.csv (chosen sites, cost breakdown and the
    villages each covers), hops.csv and hop_profiles.csv (each microwave hop
    to a fiber site: its check and terrain profile), candidates.csv, report.txt and summary.json
    ("covered villages: X/Y → X'/Y", verified by re-auditing with the sites
    added) and map.html.

    With --objective people (a scenario with a population raster, e.g. a
    `deadzone demo` output), the dead or marginal unlisted settlements the
    raster shows (--settlement-* options, as in `deadzone audit`) are targets
    too, weighted by their people, and the high ground near each dead one is
    a candidate (source near_unlisted); sites.csv then says how many each site
    reaches (unlisted_settlements_covered, unlisted_people_covered) and
    summary.json which (unlisted_settlements).

    \b
    Example:
      deadzone demo --out demo_out
      deadzone place --scenario demo_out --budget-towers 10 \\
        --objective population --solver milp --out place_out
    """
    import pandas as pd

    from deadzone.app.hops import hop_profiles
    from deadzone.app.plan import load_costs
    from deadzone.data.io import atomic_path, write_gpkg, write_summary_last
    from deadzone.geo.export import check_output_dir
    from deadzone.geo.placement import optimize

    t0 = time.perf_counter()
    if (budget_towers is None) == (budget_vnd is None):
        raise click.UsageError("give exactly one of --budget-towers and --budget-vnd")
    costs = load_costs(site_opts.costs_path)[0]  # the plan's tables of a costs file do not apply
    cheapest = min(costs.tower_capex_vnd, costs.upgrade_capex_vnd)
    if budget_vnd is not None and budget_vnd < cheapest:
        # no site could be chosen: say so now instead of after the coverage matrix
        raise click.BadParameter(
            f"{budget_vnd:,.0f} VND is below the cheapest possible site, "
            f"{cheapest / 1e9:,.2f} billion VND (capex alone: upgrade_capex_vnd "
            f"{costs.upgrade_capex_vnd / 1e9:,.2f}, tower_capex_vnd "
            f"{costs.tower_capex_vnd / 1e9:,.2f}; see --costs)",
            param_hint="--budget-vnd",
        )
    out = check_output_dir(out_dir, PLACE_FILES, overwrite=overwrite)
    out_db.check()
    scenario, session = whatif_session(scenario_dir, engine, quiet=quiet,
                                       label="coverage of existing towers",
                                       population=population)
    baseline = session.result
    unlisted = unlisted_entry = None
    if objective == "people":
        if scenario.population is None:
            raise click.UsageError(
                f"--objective people counts people from a population raster; {scenario_dir} "
                "has none (population.tif in the scenario folder, as `deadzone demo` writes)")
        from deadzone.geo.settlements import audit_settlements

        unlisted, unlisted_entry = audit_settlements(
            scenario, baseline.coverage, thresholds=engine.thresholds, params=settlement_params)
    cands = site_opts.candidates(scenario, baseline, unlisted=unlisted)
    with progress_bar("coverage of candidate sites", quiet=quiet) as update:
        res = optimize(
            scenario,
            budget_towers=budget_towers,
            budget_vnd=budget_vnd,
            objective=objective,
            solver=solver,
            candidates=cands,
            costs=costs,
            params=session.params,
            thresholds=engine.thresholds,
            baseline=baseline,
            towers_have_fiber=site_opts.towers_have_fiber,
            time_limit_s=time_limit_s,
            n_threads=engine.threads,
            progress=update,
            unlisted=unlisted,
        )
    # Verify: add the chosen sites to the audit and count again.
    for _, row in res.sites.iterrows():
        session.add(
            float(row["lon"]),
            float(row["lat"]),
            height_m=float(row["height_m"]),
            tech=str(row["tech"]),
            freq_mhz=float(row["freq_mhz"]),
            eirp_dbm=float(row["eirp_dbm"]),
            tower_id=f"NEW-{row['candidate_id']}",
        )
    after = session.result
    reaudited = int(after.summary["villages_covered"])

    sites = res.sites.copy()
    with atomic_path(out / "sites.gpkg") as tmp:
        g = sites.copy()
        for col in ("existing_tower_id", "backhaul_to"):
            g[col] = g[col].astype("string")
        write_gpkg(g, tmp, layer="sites")
    with atomic_path(out / "sites.csv") as tmp:
        pd.DataFrame(sites.drop(columns="geometry")).to_csv(tmp, index=False, encoding="utf-8")
    hops, profiles = hop_profiles(sites, scenario, costs, k_factor=engine.params.k_factor,
                                  id_col="candidate_id")
    with atomic_path(out / "hops.csv") as tmp:
        hops.drop(columns=["year"]).to_csv(tmp, index=False, encoding="utf-8")
    with atomic_path(out / "hop_profiles.csv") as tmp:
        profiles.round(3).to_csv(tmp, index=False, encoding="utf-8")
    cand = res.candidates.copy()
    cand.insert(1, "lon", cand.geometry.x.round(7))
    cand.insert(2, "lat", cand.geometry.y.round(7))
    cand["chosen"] = cand["candidate_id"].isin(set(sites["candidate_id"]))
    with atomic_path(out / "candidates.csv") as tmp:
        pd.DataFrame(cand.drop(columns="geometry")).to_csv(tmp, index=False, encoding="utf-8")
    lines = res.summary_lines()
    check = (
        f"re-audit with the chosen sites: covered villages {reaudited:,}/"
        f"{res.villages_total:,} ({'matches' if reaudited == res.covered_after else 'DIFFERS from'}"
        " the prediction)"
    )
    lines.append(check)
    unlisted_after = None
    if unlisted is not None:
        # the settlements again on the re-audit's area rasters: their people by cell status
        unlisted_after, entry_after = audit_settlements(
            scenario, after.coverage, thresholds=engine.thresholds, params=settlement_params)
        lines.append(
            "re-audit with the chosen sites: people of unlisted settlements in dead cells "
            f"{int((unlisted_entry or {}).get('people_dead', 0)):,} → "
            f"{int(entry_after['people_dead']):,} (area rasters, all their cells; the "
            "prediction counts each settlement at its centroid)")
    if "population_raster" in after.summary:
        from deadzone.geo.population import people_line

        lines.append("before: " + people_line(baseline.summary["population_raster"]))
        lines.append("after: " + people_line(after.summary["population_raster"]))
    shown = len(lines)  # the summary and the check; the cost assumptions only in report.txt
    # keys as in a --costs TOML file; money with thousands separators, not 1.8e+09
    lines += [
        f"cost assumptions: {k} = "
        + (f"{v:,.0f}" if abs(v) >= 1000 and float(v).is_integer() else f"{v:g}")
        for k, v in vars(costs).items()
    ]
    with atomic_path(out / "report.txt") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = res.solution
    summary = {
        "scenario": scenario.name,
        "objective": objective,
        "budget_towers": budget_towers,
        "budget_vnd": budget_vnd,
        "villages_total": res.villages_total,
        "villages_covered_before": res.covered_before,
        "villages_covered_after_predicted": res.covered_after,
        "villages_covered_after_reaudited": reaudited,
        "population_covered": list(res.predicted_population),
        "households_covered": list(res.predicted_households),
        "sites": int(len(sites)),
        "cost_vnd": s.cost_vnd,
        "solver": {
            "name": s.solver,
            "status": s.status,
            "value": s.value,
            "bound": None if math.isnan(s.bound) else s.bound,
            "gap": None if math.isnan(s.gap) else s.gap,
            "elapsed_s": s.elapsed_s,
        },
        "candidates": {str(k): int(v) for k, v in cand["source"].value_counts().items()},
        "candidates_by_status": {str(k): int(v) for k, v in cand["status"].value_counts().items()},
        "timings_s": res.timings_s,
        "costs": vars(costs),
        "parameters": after.summary["parameters"],
        "inputs": after.summary.get("inputs") or scenario.meta.get("inputs") or {},
    }
    if "population_raster" in after.summary:  # --population-raster (or the audit's)
        summary["population_raster_before"] = baseline.summary["population_raster"]
        summary["population_raster_after"] = after.summary["population_raster"]
    if res.unlisted is not None:
        reached = res.unlisted["covered_by"].notna().to_numpy()
        summary["unlisted_settlements"] = {
            **(unlisted_entry or {}),
            "targeted": int(len(res.unlisted)),
            "targeted_people": round(float(res.unlisted["people"].sum())),
            "reached": int(reached.sum()),
            "reached_people": round(float(res.unlisted["people"][reached].sum())),
            "reached_ids": res.unlisted["settlement_id"][reached].astype(str).tolist(),
            "people_dead_after_reaudited": entry_after["people_dead"],
        }
    _map(out, scenario, after, session.towers, lines, engine.thresholds, sites, unlisted_after)
    # last, with the checksum of every other file (a reader tells a folder an
    # interrupted --overwrite left mixed)
    write_summary_last(out / "summary.json", summary, (out / f for f in PLACE_FILES))
    out_db.publish("place", {"place_sites": sites, "place_candidates": cand, "place_hops": hops,
                             "place_villages": after.villages}, summary, quiet=quiet)
    if not quiet:
        for line in lines[:shown]:
            click.echo(line)
        click.echo(f"outputs: {out}/ ({', '.join(PLACE_FILES)})")
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")


def _map(out, scenario, after, towers, lines, thr, sites, unlisted=None) -> None:  # noqa: ANN001
    """map.html of the placement, classed by the audit's per-technology rule; the
    chosen sites (towers ``NEW-*``) drawn as proposed sites, not as towers; with
    ``--objective people`` the unlisted settlements as the re-audit sees them."""
    from deadzone.maps.audit_map import metric_layers
    from deadzone.maps.folium_map import coverage_map, save_map

    communes = (
        scenario.communes.merge(
            after.communes.drop(columns=["name", "province"]), on="commune_id", how="left"
        )
        if len(scenario.communes)
        else None
    )
    cov = after.coverage
    layers = metric_layers({t: c.best_dbm for t, c in cov.by_tech.items()}, cov.rx.best_dbm, thr)
    m = coverage_map(
        **layers,
        coverage_classes=layers["coverage_class"] is not None,
        open_on_classes=layers["coverage_class"] is not None,
        transform=cov.transform,
        crs=cov.crs,
        villages=after.villages,
        towers=towers[~towers["tower_id"].astype(str).str.startswith("NEW-")],
        proposed_sites=sites,
        communes=communes,
        title=f"placement: {len(sites)} new site(s)",
        summary_lines=lines[:3],
        status_labels=status_labels(thr, list(cov.by_tech)),
        unlisted_settlements=unlisted,
    )
    save_map(m, out / "map.html", overwrite=True)
