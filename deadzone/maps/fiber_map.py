"""Offline map of a fiber plan: existing network, one layer per phase, targets.

Built on the offline machinery of :mod:`deadzone.maps.folium_map` (vendored
Leaflet inlined by :func:`~deadzone.maps.folium_map.save_map`; no folium
Popup/Tooltip/plugins, whose templates load jQuery from a CDN).
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

import folium
import numpy as np
import shapely
from branca.element import Element
from folium.map import FitBounds

from deadzone.maps._leaflet import (
    _CSS,
    _MAP_ATTR_TILE_URLS,
    _VENDOR_CSS_REF,
    _VENDOR_JS_REF,
    _GeoJsonLayer,
    _HtmlBox,
    _MetricScale,
    save_map,
)
from deadzone.maps.folium_map import PHASE_COLORS

if TYPE_CHECKING:
    from deadzone.geo.fiber import FiberPlan

__all__ = ["fiber_map", "save_map", "PHASE_COLORS", "TARGET_COLORS"]

#: Fiber targets by status, on the map and in the report's figure.
TARGET_COLORS = {"connected": "#1a9641", "later": "#f08c00", "unreachable": "#8c8c8c"}


def _round_coords(geom: Any) -> dict[str, Any]:
    g = shapely.set_precision(geom, 1e-6)
    return shapely.geometry.mapping(g)


def _features(gdf: Any, style: dict[str, Any], tip: Any) -> list[dict[str, Any]]:
    out = []
    for row, geom in zip(gdf.to_dict("records"), gdf.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        out.append(
            {
                "type": "Feature",
                "geometry": _round_coords(geom),
                "properties": {"s": style, "t": tip(row)},
            }
        )
    return out


def _fmt(v: Any, fmt: str = ",.0f") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return format(f, fmt) if math.isfinite(f) else "\u2014"


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
    layers = [g for g in (routes, targets, plan.existing) if len(g)]
    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    for g in layers:
        b = g.total_bounds
        if np.all(np.isfinite(b)):
            bounds = [
                min(bounds[0], b[1]),
                min(bounds[1], b[0]),
                max(bounds[2], b[3]),
                max(bounds[3], b[2]),
            ]
    if not math.isfinite(bounds[0]):
        bounds = [-1.0, -1.0, 1.0, 1.0]
    south, west, north, east = bounds
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        tiles=None,
        zoom_start=10,
        prefer_canvas=True,
        control_scale=False,
    )
    m.default_js = [("leaflet", _VENDOR_JS_REF)]
    m.default_css = [("leaflet_css", _VENDOR_CSS_REF)]
    m.options["zoom_snap"] = 0.25  # fit the data snugly
    setattr(m, _MAP_ATTR_TILE_URLS, ())
    root = m.get_root()
    root.header.add_child(Element('<meta charset="utf-8" />'), name="meta_charset", index=0)
    root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title", index=1)
    root.header.add_child(Element(_CSS), name="deadzone_css")

    if communes is not None and len(communes):
        c = communes.to_crs(4326)
        group = folium.FeatureGroup(name=f"Communes ({len(c)})")
        name_col = "name" if "name" in c.columns else None
        _GeoJsonLayer(
            _features(
                c,
                {"color": "#555", "weight": 1, "fill": False, "opacity": 0.6},
                lambda r: html.escape(str(r.get(name_col, ""))) if name_col else "commune",
            )
        ).add_to(group)
        group.add_to(m)

    group = folium.FeatureGroup(name="Existing fiber")
    _GeoJsonLayer(
        _features(
            plan.existing,
            {"color": "#111", "weight": 4, "radius": 6, "fillColor": "#111", "fillOpacity": 1.0},
            lambda r: f"existing fiber {html.escape(str(r['kind']))}",
        )
    ).add_to(group)
    group.add_to(m)

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
        group = folium.FeatureGroup(
            name=f'<span class="dz-swatch" style="background:{color}"></span>{name}'
        )
        _GeoJsonLayer(
            _features(
                sel,
                style,
                lambda r: (
                    f"phase {r['phase']} {html.escape(str(r['kind']))}: {_fmt(r['length_m'])} m, "
                    f"cost {_fmt(r['cost'])}"
                    + (f", to {html.escape(str(r['target_id']))}" if r.get("target_id") else "")
                ),
            )
        ).add_to(group)
        group.add_to(m)

    for status, color in TARGET_COLORS.items():
        sel = targets[targets["status"] == status]
        if not len(sel):
            continue
        group = folium.FeatureGroup(
            name=f'<span class="dz-swatch" style="background:{color}"></span>'
            f"Targets: {status} ({len(sel)})"
        )
        style = {"radius": 5, "color": "#222", "weight": 1, "fillColor": color, "fillOpacity": 0.95}
        _GeoJsonLayer(
            _features(
                sel,
                style,
                lambda r: (
                    f"<b>{html.escape(str(r['name']))}</b> ({html.escape(str(r['target_id']))})<br>"
                    f"{html.escape(str(r['status']))}"
                    + (f", phase {r['phase']}" if r["phase"] >= 1 else "")
                    + f"<br>value {_fmt(r['value'])}"
                    + (f"<br>{html.escape(str(r['reason']))}" if r.get("reason") else "")
                ),
            )
        ).add_to(group)
        group.add_to(m)

    _HtmlBox(f"<div>{html.escape(title)}</div>", "dz-box dz-title", None).add_to(m)
    _MetricScale().add_to(m)
    lines = plan.summary_lines()
    box = "".join(f"<div>{html.escape(line)}</div>" for line in lines[:12])
    _HtmlBox(box, "dz-box dz-summary", "bottomleft").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    FitBounds([[south, west], [north, east]], padding=(20, 20)).add_to(m)
    return m
