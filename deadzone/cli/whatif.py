"""``deadzone whatif``: add, move or remove towers and see which villages change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from deadzone.cli.options import (
    EngineOptions,
    engine_options,
    load_scenario_dir,
    out_dir_option,
    scenario_option,  # noqa: F401  (load_scenario_dir re-exported)
    session_options,
    whatif_session,
)
from deadzone.errors import ParameterError
from deadzone.model.schema import TOWER_HEIGHT_MAX_M
from deadzone.model.thresholds import status_labels

__all__ = [
    "whatif_cmd",
    "WHATIF_FILES",
    "check_requests",
    "load_scenario_dir",
    "parse_add",
    "parse_move",
    "parse_edit",
]

WHATIF_FILES: tuple[str, ...] = (
    "delta_villages.csv",
    "delta_villages.gpkg",
    "delta_communes.csv",
    "edits.csv",
    "towers_after.csv",
    "summary.json",
    "map_before.html",
    "map_after.html",
)


def parse_add(text: str) -> dict[str, float]:
    """``"lon,lat,height_m[,freq_mhz,eirp_dbm]"`` -> keyword arguments."""
    parts = [s.strip() for s in text.split(",")]
    if len(parts) not in (3, 4, 5):
        raise click.BadParameter(
            f"{text!r}: expected lon,lat,height_m[,freq_mhz,eirp_dbm]", param_hint="--add"
        )
    try:
        vals = [float(s) for s in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r}: values must be numbers", param_hint="--add") from None
    out = {"lon": vals[0], "lat": vals[1], "height_m": vals[2]}
    if not (-180 <= vals[0] <= 180 and -90 <= vals[1] <= 90):
        raise click.BadParameter(f"{text!r}: lon/lat out of range", param_hint="--add")
    if not (0 < vals[2] <= TOWER_HEIGHT_MAX_M):
        raise click.BadParameter(f"{text!r}: height_m must be in (0, {TOWER_HEIGHT_MAX_M:g}]",
                                 param_hint="--add")
    if len(vals) >= 4:
        out["freq_mhz"] = vals[3]
    if len(vals) == 5:
        out["eirp_dbm"] = vals[4]
    return out


def check_requests(scenario: Any, *, ids: list[str],
                   points: list[tuple[float, float]]) -> None:
    """Fail before any coverage is computed when an edit cannot apply.

    Parameters
    ----------
    scenario : Scenario
        The loaded scenario folder.
    ids : list of str
        Tower ids that ``--remove``, ``--move`` and ``--edit`` name; each must
        be one of the scenario's towers.
    points : list of (lon, lat)
        Where ``--add`` and ``--move`` put towers (degrees); each must lie on
        the scenario's DEM.

    Raises
    ------
    ParameterError
        Naming the first unknown tower id or the first point off the DEM.
    """
    from pyproj import Transformer

    known = set(scenario.towers["tower_id"].astype(str))
    for tid in ids:
        if str(tid) not in known:
            raise ParameterError(f"no tower with tower_id {tid!r} in the scenario's towers "
                                 f"({len(known)} towers)")
    if points:
        dem = scenario.dem
        tr = Transformer.from_crs(4326, dem.crs, always_xy=True)
        lon = np.array([p[0] for p in points], dtype=np.float64)
        lat = np.array([p[1] for p in points], dtype=np.float64)
        x, y = tr.transform(lon, lat)
        _, _, inside = dem.rowcol(x, y)
        if not inside.all():
            k = int(np.flatnonzero(~inside)[0])
            raise ParameterError(f"tower position {lon[k]:.5f},{lat[k]:.5f} lies outside the "
                                 "scenario's DEM")


def parse_move(text: str) -> tuple[str, float, float]:
    """``"TOWER_ID:lon,lat"`` -> (id, lon, lat)."""
    tid, sep, rest = text.rpartition(":")
    parts = rest.split(",")
    if not sep or not tid or len(parts) != 2:
        raise click.BadParameter(f"{text!r}: expected TOWER_ID:lon,lat", param_hint="--move")
    try:
        return tid, float(parts[0]), float(parts[1])
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: lon,lat must be numbers", param_hint="--move"
        ) from None


def parse_edit(text: str) -> tuple[str, dict[str, float | str]]:
    """``"TOWER_ID:height_m=45,eirp_dbm=62"`` -> (id, changes)."""
    from deadzone.geo.whatif import EDITABLE

    tid, sep, rest = text.rpartition(":")
    if not sep or not tid or not rest:
        raise click.BadParameter(
            f"{text!r}: expected TOWER_ID:field=value[,field=value]", param_hint="--edit"
        )
    changes: dict[str, float | str] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in EDITABLE:
            raise click.BadParameter(
                f"{text!r}: {part!r} is not field=value with field one of {', '.join(EDITABLE)}",
                param_hint="--edit",
            )
        if key == "tech":
            changes[key] = value.strip()
            continue
        try:
            changes[key] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{text!r}: {key} must be a number", param_hint="--edit"
            ) from None
    return tid, changes


@click.command("whatif", short_help="Try adding, moving or removing towers; see what changes.")
@scenario_option
@click.option(
    "--add",
    "adds",
    multiple=True,
    metavar="LON,LAT,HEIGHT_M[,FREQ_MHZ,EIRP_DBM]",
    help="Add a tower (repeatable). Frequency and EIRP default to --add-tech's defaults.",
)
@click.option(
    "--add-tech",
    type=click.Choice(["2G", "3G", "4G", "5G"]),
    default="4G",
    show_default=True,
    help="Technology of added towers.",
)
@click.option("--remove", "removes", multiple=True, metavar="TOWER_ID", help="Remove a tower.")
@click.option(
    "--move", "moves", multiple=True, metavar="TOWER_ID:LON,LAT", help="Move a tower (repeatable)."
)
@click.option(
    "--edit",
    "edits_opt",
    multiple=True,
    metavar="TOWER_ID:FIELD=VALUE[,...]",
    help="Change a tower's radio (repeatable): height_m, eirp_dbm, freq_mhz, tech, "
    "azimuth_deg, beamwidth_deg, tilt_deg, bandwidth_mhz.",
)
@out_dir_option
@session_options
@engine_options
def whatif_cmd(
    scenario_dir: Path,
    adds: tuple[str, ...],
    add_tech: str,
    removes: tuple[str, ...],
    moves: tuple[str, ...],
    edits_opt: tuple[str, ...],
    out_dir: Path,
    max_memory: str | None,
    max_towers: int | None,
    engine: EngineOptions,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Apply tower edits to a scenario and report the villages that change.

    Edits run in the order removes, moves, edits, adds; each recomputes only the
    edited tower's coverage.  Prints "covered villages: X/Y → X'/Y" and
    writes to OUT: delta_villages.csv/.gpkg (villages whose status changed,
    with before/after status and signal), delta_communes.csv (per-commune
    change), edits.csv (each edit's effect and time), towers_after.csv,
    summary.json, map_before.html and map_after.html (offline maps).

    \b
    Example:
      deadzone demo --out demo_out
      deadzone whatif --scenario demo_out --add "104.85,22.30,40" \\
        --remove T007 --move "T003:104.90,22.35" \\
        --edit "T005:height_m=45,eirp_dbm=62" --out whatif_out
    """
    from deadzone.data.io import atomic_path, write_gpkg, write_summary_last
    from deadzone.geo.export import check_output_dir
    from deadzone.geo.whatif import village_delta

    t0 = time.perf_counter()
    parsed_adds = [parse_add(a) for a in adds]
    parsed_moves = [parse_move(m) for m in moves]
    parsed_edits = [parse_edit(e) for e in edits_opt]
    if not (parsed_adds or removes or parsed_moves or parsed_edits):
        raise click.UsageError("give at least one --add, --remove, --move or --edit")
    out = check_output_dir(out_dir, WHATIF_FILES, overwrite=overwrite)

    def check(scenario: Any) -> None:
        check_requests(scenario, ids=[*removes, *(m[0] for m in parsed_moves),
                                      *(e[0] for e in parsed_edits)],
                       points=[*((m[1], m[2]) for m in parsed_moves),
                               *((a["lon"], a["lat"]) for a in parsed_adds)])
        if max_towers is not None:
            n = len(scenario.towers) - len(set(removes)) + len(parsed_adds)
            if n > max_towers:
                raise ParameterError(
                    f"the edits leave {n:,} towers, more than --max-towers {max_towers:,}")

    scenario, session = whatif_session(scenario_dir, engine, quiet=quiet, check=check,
                                       max_memory=max_memory, max_towers=max_towers)
    before = session.result
    rx_before = before.coverage.rx.best_dbm.copy()
    # The session patches its composites in place: keep the "before" metrics.
    signal_before = {t: c.best_dbm.copy() for t, c in before.coverage.by_tech.items()}
    towers_before = session.towers
    deltas = []
    for tid in removes:
        deltas.append(session.remove(tid))
    for tid, lon, lat in parsed_moves:
        deltas.append(session.move(tid, lon, lat))
    for tid, changes in parsed_edits:
        deltas.append(session.edit(tid, **changes))
    for a in parsed_adds:
        deltas.append(session.add(tech=add_tech, **a))
    after = session.result
    total = village_delta(
        before.villages, after.villages, communes=scenario.communes, action="all edits"
    )

    import pandas as pd

    changed = total.changed
    table = pd.DataFrame(changed.drop(columns="geometry"))
    pts = changed.geometry.representative_point()
    table.insert(1, "lon", pts.x.round(7))
    table.insert(2, "lat", pts.y.round(7))
    with atomic_path(out / "delta_villages.csv") as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8")
    g = changed.copy()
    for col in ("serving_before", "serving_after"):
        g[col] = g[col].astype("string")
    with atomic_path(out / "delta_villages.gpkg") as tmp:
        write_gpkg(g, tmp, layer="delta_villages")
    with atomic_path(out / "delta_communes.csv") as tmp:
        total.communes.to_csv(tmp, index=False, encoding="utf-8")
    edits = pd.DataFrame(
        [
            {
                "action": d.action,
                "villages_covered_before": d.totals_before["villages_covered"],
                "villages_covered_after": d.totals_after["villages_covered"],
                "newly_covered": len(d.newly_covered),
                "newly_lost": len(d.newly_lost),
                "newly_covered_ids": ";".join(d.newly_covered["village_id"].astype(str)),
                "newly_lost_ids": ";".join(d.newly_lost["village_id"].astype(str)),
                "villages_reaudited": d.villages_reaudited,
                "elapsed_s": round(d.elapsed_s, 4),
            }
            for d in deltas
        ]
    )
    with atomic_path(out / "edits.csv") as tmp:
        edits.to_csv(tmp, index=False, encoding="utf-8")
    tw = pd.DataFrame(session.towers.drop(columns="geometry"))
    with atomic_path(out / "towers_after.csv") as tmp:
        tw.to_csv(tmp, index=False, encoding="utf-8")
    summary = {
        "scenario": scenario.name,
        "before": total.totals_before,
        "after": total.totals_after,
        "newly_covered": int(len(total.newly_covered)),
        "newly_lost": int(len(total.newly_lost)),
        "edits": edits.drop(columns=["newly_covered_ids", "newly_lost_ids"]).to_dict("records"),
        "parameters": after.summary["parameters"],
    }
    _maps(out, scenario, before, after, (rx_before, signal_before), towers_before,
          session.towers, total, engine.thresholds)
    # last, with the checksum of every other file (a reader tells a folder an
    # interrupted --overwrite left mixed)
    write_summary_last(out / "summary.json", summary, (out / f for f in WHATIF_FILES))
    if not quiet:
        for line in total.summary_lines():
            click.echo(line)
        click.echo(f"outputs: {out}/ ({', '.join(WHATIF_FILES)})")
        click.echo(f"done in {time.perf_counter() - t0:.1f} s")


def _maps(out, scenario, before, after, grids_before, towers_before, towers_after, total, thr):  # noqa: ANN001
    """map_before.html / map_after.html, classed by the audit's per-technology rule.

    ``grids_before`` is (total power, {tech: metric}) copied before the edits.
    """
    from deadzone.maps.audit_map import metric_layers
    from deadzone.maps.folium_map import coverage_map, save_map

    lines = total.summary_lines()
    after_grids = (
        after.coverage.rx.best_dbm,
        {t: c.best_dbm for t, c in after.coverage.by_tech.items()},
    )
    for name, res, (rx, signal), towers, title in (
        ("map_before.html", before, grids_before, towers_before, "what-if: before"),
        ("map_after.html", after, after_grids, towers_after, "what-if: after"),
    ):
        communes = (
            scenario.communes.merge(
                res.communes.drop(columns=["name", "province"]), on="commune_id", how="left"
            )
            if len(scenario.communes)
            else None
        )
        layers = metric_layers(signal, rx, thr)
        # towers the edits add are drawn as proposed sites, not as existing towers
        added = ~towers["tower_id"].astype(str).isin(set(towers_before["tower_id"].astype(str)))
        m = coverage_map(
            **layers,
            coverage_classes=layers["coverage_class"] is not None,
            open_on_classes=layers["coverage_class"] is not None,
            transform=res.coverage.transform,
            crs=res.coverage.crs,
            villages=res.villages,
            towers=towers[~added],
            proposed_sites=towers[added] if added.any() else None,
            communes=communes,
            title=title,
            summary_lines=lines[:2] if name == "map_after.html" else res.summary_lines()[:3],
            status_labels=status_labels(thr, list(signal)),
        )
        save_map(m, out / name, overwrite=True)
