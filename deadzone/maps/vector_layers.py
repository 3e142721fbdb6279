"""The offline vector map the fiber and programme-plan maps are drawn on:
a blank Leaflet map (vendored, no tiles), GeoJSON features with a tooltip
each, commune outlines, and the title, summary and layer boxes.

Built on the offline machinery of :mod:`deadzone.maps._leaflet` (vendored
Leaflet inlined by :func:`~deadzone.maps._leaflet.save_map`; no folium
Popup/Tooltip/plugins, whose templates load jQuery from a CDN).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

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
)

__all__ = ["commune_outlines", "finish_map", "fmt_number", "geojson_features", "layer",
           "swatch_name", "vector_map"]


def _round_coords(geom: Any) -> dict[str, Any]:
    g = shapely.set_precision(geom, 1e-6)
    return shapely.geometry.mapping(g)


def geojson_features(gdf: Any, style: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
                     tip: Callable[[dict[str, Any]], str]) -> list[dict[str, Any]]:
    """GeoJSON features of a (EPSG:4326) GeoDataFrame with a Leaflet style
    (one for all, or one per row) and an HTML tooltip per row; empty
    geometries are skipped."""
    out = []
    for row, geom in zip(gdf.to_dict("records"), gdf.geometry, strict=True):
        if geom is None or geom.is_empty:
            continue
        out.append(
            {
                "type": "Feature",
                "geometry": _round_coords(geom),
                "properties": {"s": style(row) if callable(style) else style, "t": tip(row)},
            }
        )
    return out


def fmt_number(v: Any, fmt: str = ",.0f") -> str:
    """A number for a tooltip (an em dash when missing or not finite)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return format(f, fmt) if math.isfinite(f) else "\u2014"


def swatch_name(color: str, name: str) -> str:
    """A layer name with a colour swatch before it (the layer control shows HTML)."""
    return f'<span class="dz-swatch" style="background:{color}"></span>{name}'


def layer(m: folium.Map, name: str, features: list[dict[str, Any]], *, show: bool = True
          ) -> None:
    """Add a named layer of GeoJSON features."""
    group = folium.FeatureGroup(name=name, show=show)
    _GeoJsonLayer(features).add_to(group)
    group.add_to(m)


def vector_map(layers: Sequence[Any], title: str) -> tuple[folium.Map, list[float]]:
    """A blank offline map around ``layers`` (GeoDataFrames in EPSG:4326).

    Returns the map and its ``[south, west, north, east]`` bounds for
    :func:`finish_map`.
    """
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
    return m, bounds


def commune_outlines(m: folium.Map, communes: Any) -> None:
    """Commune outlines as the map's first layer."""
    if communes is None or not len(communes):
        return
    c = communes.to_crs(4326)
    name_col = "name" if "name" in c.columns else None
    layer(m, f"Communes ({len(c)})", geojson_features(
        c,
        {"color": "#555", "weight": 1, "fill": False, "opacity": 0.6},
        lambda r: html.escape(str(r.get(name_col, ""))) if name_col else "commune",
    ))


def finish_map(m: folium.Map, bounds: list[float], title: str, lines: Sequence[str]) -> None:
    """Title, scale, summary box (first 12 lines), layer control, fit to bounds."""
    south, west, north, east = bounds
    _HtmlBox(f"<div>{html.escape(title)}</div>", "dz-box dz-title", None).add_to(m)
    _MetricScale().add_to(m)
    box = "".join(f"<div>{html.escape(line)}</div>" for line in lines[:12])
    _HtmlBox(box, "dz-box dz-summary", "bottomleft").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    FitBounds([[south, west], [north, east]], padding=(20, 20)).add_to(m)
