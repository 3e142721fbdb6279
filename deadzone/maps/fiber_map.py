"""Offline map of a fiber plan: existing network, one layer per phase, targets.

Drawn on :func:`deadzone.maps.vector_layers.vector_map` (offline, vendored
Leaflet).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import folium

from deadzone.maps._leaflet import save_map
from deadzone.maps.folium_map import PHASE_COLORS
from deadzone.maps.vector_layers import (
    commune_outlines,
    finish_map,
    fmt_number,
    geojson_features,
    layer,
    swatch_name,
    vector_map,
)

if TYPE_CHECKING:
    from deadzone.geo.fiber import FiberPlan

__all__ = ["fiber_map", "save_map", "PHASE_COLORS", "TARGET_COLORS"]

#: Fiber targets by status, on the map and in the report's figure.
TARGET_COLORS = {"connected": "#1a9641", "later": "#f08c00", "unreachable": "#8c8c8c"}


def fiber_map(
    plan: FiberPlan, *, title: str = "Fiber rollout plan", communes: Any = None
) -> folium.Map:
    """Build an offline Leaflet map of a :class:`~deadzone.geo.fiber.FiberPlan`.

    Parameters
    ----------
    plan : FiberPlan
        From :func:`deadzone.geo.fiber.plan_fiber`.
    title : str
        Title shown on the map.
    communes : GeoDataFrame, optional
        Commune outlines to draw under the network.

    Returns
    -------
    folium.Map
        Write it with :func:`save_map` (one self-contained HTML file).
    """
    routes = plan.routes
    targets = plan.targets
    m, bounds = vector_map([g for g in (routes, targets, plan.existing) if len(g)], title)
    commune_outlines(m, communes)
    layer(m, "Existing fiber", geojson_features(
        plan.existing,
        {"color": "#111", "weight": 4, "radius": 6, "fillColor": "#111", "fillOpacity": 1.0},
        lambda r: f"existing fiber {html.escape(str(r['kind']))}",
    ))

    phases = sorted(int(p) for p in routes["phase"].unique()) if len(routes) else []
    for p in [q for q in phases if q >= 1] + ([-1] if -1 in phases else []):
        sel = routes[routes["phase"] == p]
        km = sel["length_m"].sum() / 1000.0
        if p >= 1:
            color = PHASE_COLORS[(p - 1) % len(PHASE_COLORS)]
            style = {"color": color, "weight": 3.5, "opacity": 0.95}
            name = f"Phase {p}: {km:,.1f} km"
        else:
            color = "#888"
            style = {"color": color, "weight": 2, "opacity": 0.8, "dashArray": "6 6"}
            name = f"Designed, later: {km:,.1f} km"
        layer(m, swatch_name(color, name), geojson_features(
            sel,
            style,
            lambda r: (
                f"phase {r['phase']} {html.escape(str(r['kind']))}: "
                f"{fmt_number(r['length_m'])} m, cost {fmt_number(r['cost'])}"
                + (f", to {html.escape(str(r['target_id']))}" if r.get("target_id") else "")
            ),
        ))

    for status, color in TARGET_COLORS.items():
        sel = targets[targets["status"] == status]
        if not len(sel):
            continue
        style = {"radius": 5, "color": "#222", "weight": 1, "fillColor": color, "fillOpacity": 0.95}
        layer(m, swatch_name(color, f"Targets: {status} ({len(sel)})"), geojson_features(
            sel,
            style,
            lambda r: (
                f"<b>{html.escape(str(r['name']))}</b> ({html.escape(str(r['target_id']))})<br>"
                f"{html.escape(str(r['status']))}"
                + (f", phase {r['phase']}" if r["phase"] >= 1 else "")
                + f"<br>value {fmt_number(r['value'])}"
                + (f"<br>{html.escape(str(r['reason']))}" if r.get("reason") else "")
            ),
        ))
    finish_map(m, bounds, title, plan.summary_lines())
    return m
