"""``deadzone fiber``: plan fiber from the existing network to targets, by yearly budget."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deadzone.cli.options import VECTOR, out_db_options, out_dir_option, progress_bar

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["fiber_cmd", "FIBER_FILES"]

FIBER_FILES: tuple[str, ...] = (
    "routes.gpkg",
    "targets.csv",
    "phases.csv",
    "phases.json",
    "road_components.csv",
    "ofds/nodes.geojson",
    "ofds/spans.geojson",
    "ofds/network.json",
    "map.html",
)



def _class_costs(values: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, mult = item.rpartition("=")
        try:
            out[name] = float(mult)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise click.BadParameter(
                f"{item!r}; expected CLASS=MULTIPLIER, e.g. commune=1.3", param_hint="--class-cost"
            )
    return out


@click.command("fiber", short_help="Plan fiber along roads to communes, towers or villages.")
@click.option(
    "--roads",
    type=VECTOR,
    default=None,
    help="Road lines (any vector file), e.g. giaothong.geojson. Default: the scenario's roads.",
)
@click.option(
    "--backbone",
    type=VECTOR,
    default=None,
    help="Existing fiber: OFDS nodes/spans GeoJSON (the other file is found beside "
    "it), OFDS JSON, or any points/lines file. Default: the scenario's backbone.",
)
@click.option(
    "--targets",
    "targets_spec",
    default="communes",
    show_default=True,
    help="What to connect: communes (centres), towers, villages, or a FILE of points.",
)
@click.option(
    "--scenario",
    "scenario_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A scenario folder, a `deadzone demo` output or an audit folder (as for whatif), "
    "supplying communes, villages and towers, and roads and backbone where it has them.",
)
@click.option("--demo", is_flag=True, help="Use the generated demo province (see --seed).")
@click.option("--seed", type=int, default=0, show_default=True, help="Demo seed.")
@click.option(
    "--communes",
    "communes_path",
    type=VECTOR,
    default=None,
    help="Commune polygons (for --targets communes and 'communes with fiber X/Y').",
)
@click.option(
    "--villages",
    "villages_path",
    type=VECTOR,
    default=None,
    help="Villages with households (for households reached and --targets villages).",
)
@click.option(
    "--towers",
    "towers_path",
    type=VECTOR,
    default=None,
    help="Towers (for --targets towers), e.g. the optimizer's chosen sites.",
)
@click.option("--id-column", default=None, help="Target id column of a FILE.")
@click.option(
    "--value-column",
    default=None,
    help="Target value (default households, else population, else priority, else 1).",
)
@click.option(
    "--budget-km-per-year",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Yearly budget in km of new fibre (roads + drops).",
)
@click.option(
    "--budget-per-year",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Yearly budget in money (same currency as --cost-per-km).",
)
@click.option(
    "--years",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Number of yearly phases.",
)
@click.option(
    "--method",
    type=click.Choice(["steiner", "greedy"]),
    default="steiner",
    show_default=True,
    help="Design to phase: steiner = Mehlhorn Steiner tree + local search; greedy = "
    "Giga-style nearest-first growth (see --max-link-km). Both are reported.",
)
@click.option(
    "--max-link-km",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Greedy design: longest new link to one target (km).",
)
@click.option(
    "--drop",
    type=click.Choice(["straight", "road"]),
    default="straight",
    show_default=True,
    help="Last-mile drop: straight to the nearest road point, or along the nearest "
    "road to its nearer junction.",
)
@click.option(
    "--max-drop-km",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Targets further from any road are unreachable (km).",
)
@click.option(
    "--reach-km",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="A village's households count as reached within this distance of fiber.",
)
@click.option(
    "--reach-mode",
    type=click.Choice(["straight", "road"]),
    default="straight",
    show_default=True,
    help="Distance for --reach-km: straight line or along roads.",
)
@click.option(
    "--snap-m",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Road ends closer than this are one node (m).",
)
@click.option(
    "--join-m",
    type=click.FloatRange(min=0),
    default=25.0,
    show_default=True,
    help="Join a road end to a road it misses by at most this (m).",
)
@click.option(
    "--class-cost",
    multiple=True,
    metavar="CLASS=MULT",
    help="Cost multiplier of a road class (repeatable), e.g. commune=1.3.",
)
@click.option("--rivers", type=VECTOR, default=None, help="River lines/polygons.")
@click.option(
    "--river-crossing-m",
    type=click.FloatRange(min=0),
    default=500.0,
    show_default=True,
    help="Extra cost of one river crossing, in metres of road.",
)
@click.option(
    "--cost-per-km",
    type=click.FloatRange(min=0, min_open=True),
    default=250e6,
    show_default=True,
    help="Cost of fibre along roads per km (VND).",
)
@click.option(
    "--drop-cost-per-km",
    type=click.FloatRange(min=0),
    default=120e6,
    show_default=True,
    help="Cost of a drop per km.",
)
@click.option(
    "--site-cost",
    type=click.FloatRange(min=0),
    default=20e6,
    show_default=True,
    help="Fixed cost per connected target.",
)
@click.option(
    "--currency",
    default="VND",
    show_default=True,
    help="Unit of --cost-per-km, --drop-cost-per-km and --site-cost; printed with every "
    "cost figure.",
)
@click.option(
    "--improve-s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Time budget of the Steiner local search (s).",
)
@click.option(
    "--bound-s",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Time budget of the dual-ascent lower bound (s); stopping early gives a weaker "
    "but still valid bound.",
)
@out_dir_option
@out_db_options
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def fiber_cmd(**kw: Any) -> None:
    """Plan a fiber rollout along roads from the existing network, phased by yearly budget.

    Builds a road graph (split at crossings, near-misses joined, lengths in the
    UTM zone of the data), joins each target by a last-mile drop, designs a
    near-minimal network (Mehlhorn Steiner tree + local search, and Giga-style
    greedy growth; both totals and a lower bound are printed), then orders the
    build into yearly phases, each the best value per cost that fits the budget
    and connected to what exists.  Households count as reached when their
    village is within --reach-km of fiber.

    \b
    Writes OUT/routes.gpkg (layers routes: phase, length_m, cost, kind; and
    targets), targets.csv, phases.csv, phases.json (phases, designs, lower
    bound, parameters), road_components.csv, ofds/ (OFDS nodes.geojson,
    spans.geojson, network.json) and map.html (one layer per phase).

    \b
    Examples:
      deadzone fiber --demo --budget-km-per-year 40 --years 3 --out fiber_out
      deadzone fiber --scenario demo_out/inputs --targets villages --out f2
      deadzone fiber --roads giaothong.geojson --backbone nodes.geojson \\
          --communes vn_communes_2025.gpkg --targets communes \\
          --budget-km-per-year 200 --years 5 --out fiber_vn
    """
    _run(**kw)


def _run(**kw: Any) -> None:
    import geopandas as gpd
    import pyogrio

    from deadzone.data.io import atomic_path, write_summary_last
    from deadzone.data.ofds import read_backbone, write_ofds
    from deadzone.data.postgis import is_pg_url, read_frame
    from deadzone.errors import DataLoadError, ParameterError
    from deadzone.geo.export import check_output_dir
    from deadzone.geo.fiber import (
        FiberCosts,
        commune_targets,
        plan_fiber,
        plan_to_ofds,
        tower_targets,
        village_targets,
    )
    from deadzone.geo.roads import build_road_graph
    from deadzone.maps.fiber_map import fiber_map, save_map

    t0 = time.perf_counter()
    quiet = kw["quiet"]
    out = check_output_dir(kw["out_dir"], FIBER_FILES, overwrite=kw["overwrite"])
    kw["out_db"].check()
    class_costs = _class_costs(kw["class_cost"])
    if kw["demo"] and kw["scenario_dir"]:
        raise ParameterError("give either --demo or --scenario, not both")
    scenario = None
    if kw["demo"]:
        from deadzone.data.demo import demo_scenario

        scenario = demo_scenario(seed=kw["seed"])
    elif kw["scenario_dir"]:
        from deadzone.app.scenario import load_scenario_dir

        scenario = load_scenario_dir(kw["scenario_dir"])

    def layer(path: Path | None, attr: str, loader: Any) -> Any:
        if path is not None:
            return loader(path)
        return getattr(scenario, attr) if scenario is not None else None

    def read_any(path: Path | str) -> gpd.GeoDataFrame:
        if is_pg_url(path):
            return read_frame(str(path))
        try:
            gdf = pyogrio.read_dataframe(path)
        except Exception as exc:
            raise DataLoadError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None
        if not isinstance(gdf, gpd.GeoDataFrame) or gdf.crs is None:
            raise DataLoadError(f"{path}: no geometry or no CRS")
        return gdf

    from deadzone.data.loaders import load_communes, load_towers, load_villages

    roads = layer(kw["roads"], "roads", read_any)
    if roads is None or len(roads) == 0:
        raise ParameterError("no roads: give --roads FILE, --scenario DIR or --demo")
    communes = layer(kw["communes_path"], "communes", load_communes)
    villages = layer(kw["villages_path"], "villages", lambda p: load_villages(p, communes=communes))
    towers = layer(kw["towers_path"], "towers", load_towers)
    if kw["backbone"] is not None:
        nodes, spans = read_backbone(kw["backbone"])
    elif scenario is not None and scenario.backbone is not None:
        nodes, spans = scenario.backbone, None
    else:
        raise ParameterError("no existing network: give --backbone FILE (OFDS or points/lines)")

    spec = kw["targets_spec"]
    if spec == "communes":
        if communes is None:
            raise ParameterError("--targets communes needs --communes FILE (or --scenario/--demo)")
        targets = commune_targets(communes, villages)
    elif spec == "villages":
        if villages is None:
            raise ParameterError("--targets villages needs --villages FILE (or --scenario/--demo)")
        targets = village_targets(villages)
    elif spec == "towers":
        if towers is None:
            raise ParameterError("--targets towers needs --towers FILE (or --scenario/--demo)")
        targets = tower_targets(towers, villages)
    else:
        p = Path(spec)
        if not p.exists():
            raise ParameterError(
                f"--targets was {spec!r}; expected communes, towers, villages or an existing file"
            )
        targets = read_any(p)
        if "kind" not in targets.columns:
            targets["kind"] = "target"

    rivers = read_any(kw["rivers"]) if kw["rivers"] is not None else None
    costs = FiberCosts(
        cost_per_km=kw["cost_per_km"],
        drop_cost_per_km=kw["drop_cost_per_km"],
        site_cost=kw["site_cost"],
        currency=kw["currency"],
    )
    with progress_bar("fiber plan", quiet=quiet) as update:
        graph = build_road_graph(
            roads,
            snap_tolerance_m=kw["snap_m"],
            join_tolerance_m=kw["join_m"],
            class_multipliers=class_costs,
            rivers=rivers,
            river_crossing_m=kw["river_crossing_m"],
        )
        plan = plan_fiber(
            graph,
            targets,
            nodes,
            spans,
            id_column=kw["id_column"],
            value_column=kw["value_column"],
            drop=kw["drop"],
            max_drop_m=kw["max_drop_km"] * 1000.0,
            method=kw["method"],
            max_link_m=kw["max_link_km"] * 1000.0 if kw["max_link_km"] else math.inf,
            improve_time_s=kw["improve_s"],
            bound_time_s=kw["bound_s"],
            budget_km_per_year=kw["budget_km_per_year"],
            budget_per_year=kw["budget_per_year"],
            years=kw["years"],
            villages=villages,
            communes=communes,
            reach_m=kw["reach_km"] * 1000.0,
            reach_mode=kw["reach_mode"],
            costs=costs,
            progress=update,
        )

    # -- write
    with atomic_path(out / "routes.gpkg") as tmp:
        pyogrio.write_dataframe(plan.routes, tmp, layer="routes", driver="GPKG")
        pyogrio.write_dataframe(plan.targets, tmp, layer="targets", driver="GPKG", append=True)
    t_csv = plan.targets.drop(columns="geometry").copy()
    t_csv["lon"] = plan.targets.geometry.x.where(plan.targets.geometry.geom_type == "Point")
    t_csv["lat"] = plan.targets.geometry.y.where(plan.targets.geometry.geom_type == "Point")
    with atomic_path(out / "targets.csv") as tmp:
        t_csv.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    with atomic_path(out / "phases.csv") as tmp:
        _rounded_phases(plan.phases).to_csv(tmp, index=False, lineterminator="\n")
    with atomic_path(out / "road_components.csv") as tmp:
        graph.components_table().to_csv(tmp, index=False, lineterminator="\n")
    doc = {
        "phases": plan.phases.to_dict("records"),
        "designs": plan.designs,
        "targets": {
            "total": len(plan.targets),
            **plan.targets["status"].value_counts().to_dict(),
        },
        "unreachable": plan.targets.loc[
            plan.targets["status"] == "unreachable", ["target_id", "reason"]
        ].to_dict("records"),
        "params": plan.params,
        "road_graph": {
            "nodes": graph.n_nodes,
            "edges": graph.n_edges,
            "km": float(graph.length_m.sum()) / 1000.0,
            "crs": graph.crs.to_string(),
        },
    }
    o_nodes, o_spans, o_phases = plan_to_ofds(plan)
    write_ofds(
        o_nodes,
        o_spans,
        out / "ofds",
        network_name="deadzone fiber plan",
        phases=o_phases,
        overwrite=True,
    )
    title = "Fiber rollout plan" + (f" ({scenario.name})" if scenario is not None else "")
    save_map(fiber_map(plan, title=title, communes=communes), out / "map.html", overwrite=True)
    # last, with the checksum of every other file (a reader tells a folder an
    # interrupted --overwrite left mixed)
    write_summary_last(out / "phases.json", doc, (out / f for f in FIBER_FILES))
    kw["out_db"].publish("fiber", {"fiber_routes": plan.routes, "fiber_targets": plan.targets,
                                   "fiber_phases": plan.phases},
                         {**doc, "parameters": plan.params,
                          "inputs": scenario.meta.get("inputs") if scenario is not None else None},
                         quiet=quiet)
    if not quiet:
        click.echo(title)
        for line in plan.summary_lines():
            click.echo(f"  {line}")
        click.echo(f"outputs: {out}/ ({', '.join(FIBER_FILES)})")
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")


def _rounded_phases(phases: pd.DataFrame) -> pd.DataFrame:
    """phases.csv for reading: lengths to the metre, money and households to
    whole units, shares to 0.01% (phases.json keeps full precision)."""
    import pandas as pd

    t = phases.copy()
    for col in t.columns:
        if not pd.api.types.is_float_dtype(t[col]):
            continue
        if col.endswith("km"):
            t[col] = t[col].round(3)
        elif col.endswith("pct"):
            t[col] = t[col].round(2)
        else:
            t[col] = t[col].round(0)
    return t
