"""Offline map of a programme plan: one layer per year (the sites built that
year, their backhaul and the villages they connect), one layer per kind of
option, the villages covered now and those the plan leaves out."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import folium

from deadzone.maps.vector_layers import (
    commune_outlines,
    finish_map,
    fmt_number,
    geojson_features,
    layer,
    swatch_name,
    vector_map,
)
from deadzone.model.thresholds import STATUS_COLORS

if TYPE_CHECKING:
    import geopandas as gpd

    from deadzone.geo.plan import PlanResult
    from deadzone.model.scenario import Scenario

__all__ = ["KIND_COLORS", "KIND_LABELS", "YEAR_COLORS", "plan_map"]

#: Marker colour of each kind of option (the per-kind layers).
KIND_COLORS: dict[str, str] = {
    "macro": "#c51b7d", "upgrade": "#7b3294", "small_cell": "#2b83ba", "satellite": "#8c510a",
}
#: Names of the kinds in legends and tooltips.
KIND_LABELS: dict[str, str] = {
    "macro": "New macro sites", "upgrade": "New radio on an existing mast",
    "small_cell": "Low-power sites", "satellite": "Satellite terminals",
}
#: One colour per plan year, none close to a status colour (green, orange, red, grey).
YEAR_COLORS: tuple[str, ...] = ("#2b83ba", "#7b3294", "#01665e", "#c51b7d", "#8c510a",
                                "#5e3c99", "#35978f", "#762a83")
_RADIUS = {"macro": 8, "upgrade": 7, "small_cell": 5, "satellite": 4}
_NOT_PLANNED = STATUS_COLORS["dead"]


def _bn(v: Any) -> str:
    return f"{fmt_number(float(v) / 1e9, ',.2f')} bn VND"


def _site_tip(r: dict[str, Any]) -> str:
    kind = str(r["kind"])
    out = [f"<b>{html.escape(str(r['option_id']))}</b>: {KIND_LABELS[kind].lower()}, "
           f"built {int(r['year'])}"]
    if kind != "satellite":
        out.append(f"{html.escape(str(r['tech']))}, {fmt_number(r['height_m'])} m mast, "
                   f"EIRP {fmt_number(r['eirp_dbm'], '.0f')} dBm")
        pw = str(r["power_option"])
        if pw == "solar":
            out.append(f"power: solar {fmt_number(r['pv_kwp'], '.1f')} kWp, battery "
                       f"{fmt_number(r['battery_kwh'], '.0f')} kWh")
        elif pw == "grid":
            out.append(f"power: grid line {fmt_number(r['grid_distance_m'])} m")
        else:
            out.append("power: the existing mast's")
        bh = str(r["backhaul"])
        to = r.get("backhaul_to")
        out.append(f"backhaul: {html.escape(bh)}"
                   + (f" to {html.escape(str(to))}" if isinstance(to, str) and to else "")
                   + (f", {fmt_number(r['backhaul_length_m'])} m"
                      if isinstance(r.get("backhaul_length_m"), float)
                      and math.isfinite(r["backhaul_length_m"]) else ""))
    else:
        out.append(f"{int(r['terminals'])} terminal(s)")
    out.append(f"build {_bn(r['capex_vnd'])}, running {_bn(r['opex_vnd_per_year'])}/year, "
               f"NPV {_bn(r['npv_vnd'])}")
    out.append(f"connects {int(r['villages_connected'])} village(s), "
               f"{fmt_number(r['households_connected'])} households")
    return "<br>".join(out)


def _village_tip(r: dict[str, Any]) -> str:
    out = [f"<b>{html.escape(str(r.get('name', '')))}</b> ({html.escape(str(r['village_id']))})",
           f"now: {html.escape(str(r['status_now']))}; "
           f"{fmt_number(r.get('households'))} households"]
    out.append(html.escape(str(r["plan_note"])))
    if r.get("option_id"):
        out.append(f"cost share {_bn(r['npv_share_vnd'])} NPV")
    return "<br>".join(out)


def plan_map(
    result: PlanResult,
    *,
    scenario: Scenario,
    title: str = "Programme plan",
    summary_lines: Sequence[str] = (),
    backhaul: gpd.GeoDataFrame | None = None,
    fiber_routes: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build an offline Leaflet map of a :class:`~deadzone.geo.plan.PlanResult`.

    Parameters
    ----------
    result : PlanResult
        From :func:`deadzone.geo.plan.make_plan`.
    scenario : Scenario
        Communes and existing towers to draw under the plan.
    title : str
        Title shown on the map.
    summary_lines : sequence of str
        Shown in the summary box (the plan's own lines when empty).
    backhaul : GeoDataFrame, optional
        Backhaul lines (``option_id``, ``year``, ``backhaul``), drawn with
        their year.
    fiber_routes : GeoDataFrame, optional
        The routes of the fiber plan given to ``deadzone plan --fiber``
        (``phase``, ``length_m``): one layer, by the plan year each is laid.

    Returns
    -------
    folium.Map
        Write it with :func:`deadzone.maps.folium_map.save_map`.
    """
    v = result.villages.to_crs(4326)
    v = v.set_geometry(v.geometry.representative_point())
    sites = result.sites
    m, bounds = vector_map([g for g in (v, sites) if len(g)], title)
    commune_outlines(m, scenario.communes)
    towers = scenario.towers.to_crs(4326) if len(scenario.towers) else None
    if towers is not None:
        layer(m, swatch_name("#222", f"Existing towers ({len(towers)})"), geojson_features(
            towers, {"radius": 4, "color": "#fff", "weight": 1, "fillColor": "#222",
                     "fillOpacity": 1.0},
            lambda r: f"tower {html.escape(str(r['tower_id']))} ({html.escape(str(r['tech']))})",
        ))
    if fiber_routes is not None and len(fiber_routes):
        r = fiber_routes.to_crs(4326)
        r = r[r["phase"] >= 1]
        start = int(result.years["year"].iloc[0])
        layer(m, swatch_name("#555", f"Planned fiber ({r['length_m'].sum() / 1000:,.1f} km)"),
              geojson_features(r, {"color": "#555", "weight": 3, "opacity": 0.8,
                                   "dashArray": "2 5"},
                               lambda q: f"planned fiber, laid in {start + int(q['phase']) - 1}: "
                                         f"{fmt_number(q['length_m'])} m"))
    now = v[v["status_now"] == "covered"]
    if len(now):
        c = STATUS_COLORS["covered"]
        layer(m, swatch_name(c, f"Villages covered now ({len(now)})"), geojson_features(
            now, {"radius": 3, "color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.6},
            _village_tip))
    for y_i, year in enumerate(result.years["year"]):
        color = YEAR_COLORS[y_i % len(YEAR_COLORS)]
        built = sites[sites["year"] == year]
        conn = v[v["year"] == year]
        feats = []
        if backhaul is not None and len(backhaul):
            bh = backhaul[backhaul["year"] == year]
            feats += geojson_features(
                bh, lambda r, c=color: {"color": c, "weight": 2, "opacity": 0.9,
                                        **({"dashArray": "6 4"} if r["backhaul"] == "microwave"
                                           else {})},
                lambda r: f"{html.escape(str(r['backhaul']))} backhaul of "
                          f"{html.escape(str(r['option_id']))}: "
                          f"{fmt_number(r['length_m'])} m to {html.escape(str(r['backhaul_to']))}")
        feats += geojson_features(
            conn, {"radius": 4, "color": color, "weight": 2, "fillColor": "#fff",
                   "fillOpacity": 0.9}, _village_tip)
        feats += geojson_features(
            built, lambda r, c=color: {"radius": _RADIUS[str(r["kind"])], "color": "#111",
                                       "weight": 1.5, "fillColor": c, "fillOpacity": 1.0},
            _site_tip)
        if feats:
            n_sat = int((built["kind"] == "satellite").sum())
            what = [f"{len(built) - n_sat} site(s)"] + ([f"{n_sat} satellite"] if n_sat else [])
            layer(m, swatch_name(color, f"{year}: {', '.join(what)}; "
                                        f"{len(conn)} village(s) connected"), feats)
    for kind, label in KIND_LABELS.items():
        sel = sites[sites["kind"] == kind]
        if len(sel):
            c = KIND_COLORS[kind]
            layer(m, swatch_name(c, f"{label} ({len(sel)})"), geojson_features(
                sel, {"radius": _RADIUS[kind], "color": "#111", "weight": 1, "fillColor": c,
                      "fillOpacity": 1.0}, _site_tip), show=False)
    left = v[v["status_now"].isin(("dead", "marginal")) & v["year"].isna()]
    if len(left):
        layer(m, swatch_name(_NOT_PLANNED, f"Dead-zone villages not planned ({len(left)})"),
              geojson_features(left, {"radius": 4, "color": _NOT_PLANNED, "weight": 1,
                                      "fillColor": _NOT_PLANNED, "fillOpacity": 0.8},
                               _village_tip))
    finish_map(m, bounds, title, list(summary_lines) or result.summary_lines())
    return m
