"""``deadzone plan``, run: load the scenario and the costs once, audit, build and
price the options, solve the years, re-audit each year, write the outputs.

Outputs (one folder): ``plan_villages.csv`` / ``.gpkg`` (every input village
once), ``plan_sites.gpkg`` (layer ``sites``; layer ``backhaul``: a line
from each new site to the far end of its backhaul) and ``plan_sites.csv``,
``plan_years.csv``, ``plan_costs.toml`` (every price and rule the plan
used, as a costs file), ``report.txt``, ``map.html`` and, last,
``plan_summary.json`` (headline figures, parameters, the costs, and the
checksum of every other file).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from deadzone.app.hops import hop_profiles
from deadzone.errors import ParameterError
from deadzone.geo.audit import AuditResult, audit
from deadzone.geo.plan import PlanResult, make_plan, reaudit_years
from deadzone.geo.plan_options import plan_options
from deadzone.geo.site_costs import CostModel, fiber_anchors
from deadzone.geo.sites import candidate_sites
from deadzone.geo.whatif import EngineParams
from deadzone.model.plan_costs import PlanCosts
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = ["PLAN_FILES", "backhaul_lines", "check_against_audit", "costs_toml",
           "fiber_plan_anchors", "irradiation_sampler", "jsonable", "load_costs", "run_plan",
           "write_plan", "write_plan_summary"]

PLAN_FILES: tuple[str, ...] = (
    "plan_villages.csv",
    "plan_villages.gpkg",
    "plan_sites.gpkg",
    "plan_sites.csv",
    "plan_years.csv",
    "hops.csv",
    "hop_profiles.csv",
    "plan_costs.toml",
    "report.txt",
    "map.html",
    "plan_summary.json",
)


def load_costs(path: Path | None) -> tuple[CostModel, PlanCosts]:
    """Site prices and plan costs from a costs TOML file (defaults without one).

    Raises
    ------
    ParameterError
        A file that is not TOML, or an unknown table or key (named, with
        the file).
    """
    if path is None:
        return CostModel(), PlanCosts()
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    pc, top = PlanCosts.from_mapping(values, source=str(path))
    return CostModel.from_mapping(top, source=str(path)), pc


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, int):
        return str(v)
    return repr(float(v))


def costs_toml(site: CostModel, costs: PlanCosts) -> str:
    """The costs as a costs file (``--costs``) would hold them."""
    lines = ["# Costs used by this plan (VND of the plan's first year; see docs/PLAN.md).",
             "# Edit and pass back with --costs to re-run with other prices.",
             "# solar_vnd is `deadzone place`'s flat solar kit; a plan sizes solar ([solar]).",
             ""]
    lines += [f"{k} = {_toml_value(v)}" for k, v in asdict(site).items()]
    for name, table in costs.as_dict().items():
        lines += ["", f"[{name}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def run_plan(
    scenario: Scenario,
    *,
    params: EngineParams,
    thresholds: Thresholds,
    site_prices: CostModel,
    costs: PlanCosts,
    years: int = 5,
    start_year: int,
    budget_per_year_vnd: float | None = None,
    rollover: bool = False,
    target: str | None = None,
    objective: str = "households",
    solver: str = "milp",
    time_limit_s: float = 30.0,
    candidates: gpd.GeoDataFrame | Callable[[Scenario, AuditResult], gpd.GeoDataFrame]
    | None = None,
    towers_have_fiber: bool = True,
    progress: Any = None,
    audit_folder: Path | None = None,
    planned_fiber: gpd.GeoDataFrame | None = None,
    irradiation: Callable[[Any, Any], Any] | None = None,
) -> tuple[PlanResult, AuditResult, list[int], dict[str, float]]:
    """Audit, options, plan and the yearly re-audit.

    ``candidates``: macro site candidates, or a function of the scenario and
    the audit that makes them (default: :func:`deadzone.geo.sites.candidate_sites`).
    ``audit_folder``: the audit output the scenario came from; its village
    statuses must be this run's (:func:`check_against_audit`).
    ``planned_fiber``: :func:`fiber_plan_anchors` of a fiber plan;
    ``irradiation``: :func:`irradiation_sampler` of a raster.

    Returns
    -------
    (PlanResult, AuditResult, list of int, dict)
        The plan, the audit of the existing towers, the covered villages a
        re-audit finds at the end of each year, and seconds per stage.
    """
    import time

    timings: dict[str, float] = {}
    t = time.perf_counter()
    baseline = audit(scenario, params=params, thresholds=thresholds, rasters=False)
    if audit_folder is not None:
        check_against_audit(audit_folder, baseline)
    timings["audit"] = time.perf_counter() - t
    t = time.perf_counter()
    if candidates is None:
        candidates = candidate_sites(scenario, baseline=baseline)
    elif callable(candidates):
        candidates = candidates(scenario, baseline)
    timings["candidates"] = time.perf_counter() - t
    t = time.perf_counter()
    opts = plan_options(scenario, baseline, candidates, site_prices=site_prices, costs=costs,
                        params=params, thresholds=thresholds,
                        towers_have_fiber=towers_have_fiber, planned_fiber=planned_fiber,
                        irradiation=irradiation, progress=progress)
    timings["options"] = time.perf_counter() - t
    t = time.perf_counter()
    if hasattr(progress, "describe"):
        progress.describe(f"choosing what to build each year ({solver}"
                          + (f", up to {time_limit_s:g} s)" if solver == "milp" else ")"))
    res = make_plan(baseline, opts, costs=costs, years=years, start_year=start_year,
                    budget_per_year_vnd=budget_per_year_vnd, rollover=rollover, target=target,
                    objective=objective, solver=solver, time_limit_s=time_limit_s)
    timings["solve"] = time.perf_counter() - t
    t = time.perf_counter()
    if hasattr(progress, "describe"):
        progress.describe("re-auditing each year with its new sites")
    re = reaudit_years(scenario, res, params=params, thresholds=thresholds)
    timings["reaudit"] = time.perf_counter() - t
    return res, baseline, re, timings


def fiber_plan_anchors(folder: Path, *, step_m: float = 200.0) -> gpd.GeoDataFrame:
    """Points every ``step_m`` along the phased routes of a ``deadzone fiber``
    output folder, each with the plan year its route is laid (phase 1 = the
    programme plan's first year); routes designed for later are left out.

    Raises
    ------
    DataLoadError
        Not a fiber output folder, or one whose files are not its run's.
    """
    import shapely

    from deadzone.data.io import verify_folder
    from deadzone.errors import DataLoadError

    f = Path(folder) / "routes.gpkg"
    if not f.is_file():
        raise DataLoadError(f"--fiber {folder}: no routes.gpkg (a `deadzone fiber` output "
                            "folder is expected)")
    verify_folder(folder, "phases.json", command="fiber")
    r = gpd.read_file(f, layer="routes")
    r = r[(r["phase"] >= 1) & r.geometry.notna()]
    if not len(r):
        return gpd.GeoDataFrame({"anchor_id": [], "year_index": []}, geometry=[], crs=4326)
    from deadzone.model.geodesy import utm_crs

    lon, lat = r.to_crs(4326).geometry.iloc[0].coords[0][:2]
    metric = r.to_crs(utm_crs(lon, lat))
    ids, years, pts = [], [], []
    metric = metric.explode(index_parts=False)
    for phase, g in zip(metric["phase"].astype(int), metric.geometry, strict=True):
        if g is None or g.is_empty:
            continue
        # a drop of zero length (one repeated point) cannot be segmentized: one point
        line = shapely.segmentize(g, step_m) if g.length > 0 else g
        coords = np.asarray(line.coords)[: None if g.length > 0 else 1, :2]
        for x, y in coords:
            ids.append(f"fiber-plan:P{phase}:{len(ids)}")
            years.append(phase - 1)
            pts.append((x, y))
    xy = np.asarray(pts)
    return gpd.GeoDataFrame({"anchor_id": ids, "year_index": years},
                            geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]),
                            crs=metric.crs).to_crs(4326)


#: Plausible daily irradiation (kWh/m²/day); a raster outside it is in other units.
IRRADIATION_RANGE = (0.5, 10.0)


def irradiation_sampler(path: Path) -> Callable[[Any, Any], Any]:
    """``irradiation(lon, lat)`` from a raster of daily irradiation (kWh/m²/day,
    e.g. the Global Solar Atlas GHI or its darkest month, any CRS): the cell
    under each point, NaN off the raster or on nodata.

    Raises
    ------
    DataLoadError
        Unreadable, or values outside 0.5-10 kWh/m²/day (a yearly total in
        kWh/m²/year is named as such).
    """
    import rasterio
    from pyproj import Transformer

    from deadzone.errors import DataLoadError

    try:
        with rasterio.open(path) as src:
            band = src.read(1, masked=True).astype(np.float64).filled(np.nan)
            transform, crs = src.transform, src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise DataLoadError(f"{path}: cannot read the irradiation raster ({exc})") from None
    if crs is None:
        raise DataLoadError(f"{path}: the irradiation raster has no CRS")
    vals = band[np.isfinite(band)]
    lo, hi = IRRADIATION_RANGE
    if vals.size and (np.nanmax(vals) > hi or np.nanmin(vals) < 0):
        hint = (" (it looks like kWh/m²/year: divide by 365)" if np.nanmedian(vals) > 300
                else "")
        raise DataLoadError(f"{path}: irradiation from {np.nanmin(vals):.3g} to "
                            f"{np.nanmax(vals):.3g}; expected kWh/m²/day within {lo}-{hi}"
                            + hint)
    to_src = Transformer.from_crs(4326, crs, always_xy=True)
    inv = ~transform

    def sample(lon: Any, lat: Any) -> Any:
        x, y = to_src.transform(np.asarray(lon, float), np.asarray(lat, float))
        c, r = inv @ (np.asarray(x), np.asarray(y))
        r, c = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
        ok = (r >= 0) & (r < band.shape[0]) & (c >= 0) & (c < band.shape[1])
        out = np.full(np.shape(r), np.nan)
        out[ok] = band[r[ok], c[ok]]
        out[out < lo] = np.nan  # nodata written as 0 or a tiny value
        return out

    return sample


def check_against_audit(folder: Path, baseline: AuditResult) -> int | None:
    """When ``folder`` is an audit (or demo) output, check that the plan's
    audit gives every village the status that audit gave it.

    Returns the number of villages compared (None: no audit table there).

    Raises
    ------
    ParameterError
        Statuses differ: the audit was run with other engine settings,
        named with this run's.
    """
    table = Path(folder) / "villages.csv"
    if not (table.is_file() and (Path(folder) / "summary.json").is_file()):
        return None  # a scenario folder: its villages.csv is an input
    head = pd.read_csv(table, nrows=0).columns
    if not {"village_id", "status"} <= set(head):
        return None
    theirs = pd.read_csv(table, usecols=["village_id", "status"], dtype={"village_id": str})
    ours = pd.DataFrame({"village_id": baseline.villages["village_id"].astype(str),
                         "ours": baseline.villages["status"].astype(str).to_numpy()})
    both = ours.merge(theirs, on="village_id", how="inner")
    diff = int((both["ours"] != both["status"]).sum())
    if diff:
        import json

        p = baseline.summary.get("parameters", {})
        meta = json.loads((Path(folder) / "summary.json").read_text(encoding="utf-8"))
        hint = ("; that audit used a land-cover raster (clutter loss), which `deadzone "
                "plan` does not apply: audit without --landcover to plan from it"
                if "landcover" in (meta.get("inputs") or {}) else
                "; give `deadzone plan` the engine options that audit was run with")
        raise ParameterError(
            f"{table}: {diff:,} of {len(both):,} village statuses differ from this run's "
            f"(model {p.get('model')}, radius {p.get('radius_km')} km){hint}")
    return len(both)


def backhaul_lines(sites: gpd.GeoDataFrame, scenario: Scenario,
                   planned_fiber: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """A straight line from each site to the far end of its backhaul (the
    anchor of a microwave hop or fiber spur, a point of the planned fiber;
    the donor tower is not fixed)."""
    ends: dict[str, tuple[float, float]] = {}
    if planned_fiber is not None and len(planned_fiber):
        pf = planned_fiber.to_crs(4326)
        ends.update({str(i): (g.x, g.y) for i, g in zip(pf["anchor_id"], pf.geometry,
                                                         strict=True)})
    ends.update({i: (lon, lat) for i, (lon, lat, _) in fiber_anchors(scenario).by_id().items()})
    rows, geoms = [], []
    for _, s in sites.iterrows():
        to = s["backhaul_to"]
        if (s["backhaul"] not in ("microwave", "fiber", "planned_fiber")
                or not isinstance(to, str) or to not in ends):
            continue
        rows.append({"option_id": s["option_id"], "year": int(s["year"]),
                     "backhaul": s["backhaul"], "backhaul_to": to,
                     "length_m": float(s["backhaul_length_m"]),
                     "geometry_note": "straight line" if s["backhaul"] == "microwave"
                     else "straight line; the spur follows the roads for length_m"})
        geoms.append(LineString([(s["lon"], s["lat"]), ends[to]]))
    return gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=["option_id", "year", "backhaul", "backhaul_to", "length_m",
                                    "geometry_note"]),
        geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)


#: Decimals of the output tables' numbers, by column name or ending.
_DECIMALS = {"lon": 7, "lat": 7, "pv_kwp": 2, "battery_kwh": 1, "donor_dbm": 1, "freq_mhz": 1,
             "eirp_dbm": 1, "elevation_m": 1}


def _rounded(df: pd.DataFrame) -> pd.DataFrame:
    """Money to whole VND, lengths and heights to 0.1 m, positions to 1e-7 degrees."""
    out = df.copy()
    for c in out.columns:
        if c == "geometry" or not pd.api.types.is_float_dtype(out[c]):
            continue
        if c in _DECIMALS:
            out[c] = out[c].round(_DECIMALS[c])
        elif c.endswith(("_lon", "_lat")):
            out[c] = out[c].round(7)
        elif c.endswith("_db"):
            out[c] = out[c].round(2)
        elif c.endswith("_pct"):
            out[c] = out[c].round(5)
        elif c.endswith("_f1"):
            out[c] = out[c].round(3)
        elif c.endswith("_vnd") or c.endswith("_vnd_per_year"):
            out[c] = out[c].round(0)
        elif c.endswith("_m"):
            out[c] = out[c].round(1)
    return out


def _gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str, *, mode: str = "w") -> None:
    from deadzone.data.io import write_gpkg

    g = gdf.copy()
    for c in g.columns:
        if c != "geometry" and g[c].dtype == object:
            g[c] = g[c].astype("string")
    write_gpkg(g, path, layer=layer, mode=mode)


def write_plan(
    out: Path,
    result: PlanResult,
    *,
    scenario: Scenario,
    reaudited: list[int],
    site_prices: CostModel,
    costs: PlanCosts,
    parameters: dict[str, Any],
    timings: dict[str, float],
    planned_fiber: gpd.GeoDataFrame | None = None,
    k_factor: float = 4.0 / 3.0,
) -> tuple[list[str], dict[str, Any]]:
    """Write the tables, ``plan_costs.toml`` and ``report.txt``.

    Returns
    -------
    (list of str, dict)
        The lines to print, and the summary for :func:`write_plan_summary`
        (written last, once the caller has drawn ``map.html``).
    """
    from deadzone.data.io import atomic_path

    years = result.years.copy()
    years["covered_villages_reaudited"] = reaudited
    match = list(years["covered_villages_predicted"]) == list(reaudited)
    lines = result.summary_lines()
    lines.append(
        "re-audit with each year's new sites: covered villages "
        + ", ".join(f"{y} {c:,}" for y, c in zip(years["year"], reaudited, strict=True))
        + (" (matches the plan)" if match else " (DIFFERS from the plan)")
    )
    if result.summary["question"] == "target" and not any(
            math.isfinite(b) for b in years["budget_vnd"]):
        lines.append("note: with no yearly budget the least-cost plan builds as late as the "
                     "target allows (later money weighs less in present value); give "
                     "--budget-per-year to spread it")
    for note in result.solution.notes or []:
        lines.append(f"note: {note}")
    shown = len(lines)
    villages = result.villages.copy()
    pts = villages.geometry.to_crs(4326).representative_point()
    villages.insert(1, "lon", pts.x)
    villages.insert(2, "lat", pts.y)
    villages = _rounded(villages)
    with atomic_path(out / "plan_villages.csv") as tmp:
        pd.DataFrame(villages.drop(columns="geometry")).to_csv(tmp, index=False,
                                                               encoding="utf-8")
    with atomic_path(out / "plan_villages.gpkg") as tmp:
        _gpkg(villages, tmp, "villages")
    sites = _rounded(result.sites)
    with atomic_path(out / "plan_sites.gpkg") as tmp:
        _gpkg(sites, tmp, "sites")
        _gpkg(backhaul_lines(sites, scenario, planned_fiber), tmp, "backhaul", mode="a")
    with atomic_path(out / "plan_sites.csv") as tmp:
        pd.DataFrame(sites.drop(columns="geometry")).to_csv(tmp, index=False, encoding="utf-8")
    with atomic_path(out / "plan_years.csv") as tmp:
        _rounded(years).to_csv(tmp, index=False, encoding="utf-8")
    hops, profiles = hop_profiles(result.sites, scenario, site_prices, k_factor=k_factor)
    with atomic_path(out / "hops.csv") as tmp:
        _rounded(hops).to_csv(tmp, index=False, encoding="utf-8")
    with atomic_path(out / "hop_profiles.csv") as tmp:
        profiles.round(3).to_csv(tmp, index=False, encoding="utf-8")
    with atomic_path(out / "plan_costs.toml") as tmp:
        Path(tmp).write_text(costs_toml(site_prices, costs), encoding="utf-8")
    with atomic_path(out / "report.txt") as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = dict(result.summary)
    summary.update({
        "scenario": scenario.name,
        "covered_reaudited": reaudited,
        "reaudit_matches": match,
        "costs": {"site": asdict(site_prices), **costs.as_dict()},
        "parameters": parameters,
        "timings_s": timings,
        "options_dropped": {str(k): int(v) for k, v in
                            result.options.dropped["reason"].value_counts().items()},
    })
    return lines[:shown], summary


def write_plan_summary(out: Path, summary: dict[str, Any]) -> None:
    """``plan_summary.json``, after every other file, with their checksums."""
    from deadzone.data.io import write_summary_last

    write_summary_last(out / "plan_summary.json", jsonable(summary),
                       (out / f for f in PLAN_FILES))


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy numbers as Python ones and non-finite floats as None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj
