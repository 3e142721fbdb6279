"""The map layer of unlisted settlements (:mod:`deadzone.geo.settlements`).

Each settlement is drawn twice, in one layer: its outline (the raster cells
dissolved) filled in the colour of its status, and a marker at its
people-weighted centroid ringed in purple, so it shows at province zoom where
a 300 m outline is a speck.  The tooltip gives its people and how many are in
covered / marginal / dead cells, its nearest listed village and commune.
"""

from __future__ import annotations

import html
from typing import Any

import geopandas as gpd
import shapely

from deadzone.maps.vector_layers import fmt_number, geojson_features
from deadzone.model.thresholds import STATUS_COLORS

__all__ = ["SETTLEMENT_RING_COLOR", "settlement_features", "settlement_layer_name"]

#: Ring of a settlement's marker (villages have a dark ring): unlisted = purple.
SETTLEMENT_RING_COLOR = "#7b3294"


def _tip(row: dict[str, Any]) -> str:
    def n(key: str) -> str:
        return fmt_number(row.get(key))

    commune = row.get("commune_id")
    near = row.get("nearest_village_id")
    lines = [
        f"<b>Unlisted settlement {html.escape(str(row.get('settlement_id', '')))}</b>",
        f"~{n('people')} people (population raster), {fmt_number(row.get('area_km2'), '.2f')} km²",
        f"status: {html.escape(str(row.get('status', '')))} — people in covered "
        f"{n('people_covered')} / marginal {n('people_marginal')} / dead {n('people_dead')}"
        + (f" / unknown {n('people_unknown')}" if (row.get("people_unknown") or 0) >= 0.5 else ""),
        f"nearest listed village: {html.escape(str(near))} at "
        f"{fmt_number((row.get('nearest_village_distance_m') or float('nan')) / 1000.0, '.1f')} km"
        if near is not None and str(near) not in ("", "nan", "<NA>") else "no listed village",
    ]
    if commune is not None and str(commune) not in ("", "nan", "<NA>"):
        lines.append(f"commune: {html.escape(str(commune))}")
    return "<br>".join(lines)


def settlement_features(settlements: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """GeoJSON features (outline and centroid marker) of each settlement, with tooltips.

    Parameters
    ----------
    settlements : GeoDataFrame
        :func:`deadzone.geo.settlements.unlisted_settlements` (or the
        ``unlisted_settlements.gpkg`` of an audit folder): polygons, ``lon``,
        ``lat``, ``status`` and the people columns.

    Returns
    -------
    list of dict
        For :class:`deadzone.maps._leaflet._GeoJsonLayer`.
    """
    s = settlements.to_crs(4326) if settlements.crs is not None else settlements
    if not len(s):
        return []

    def color(row: dict[str, Any]) -> str:
        return STATUS_COLORS.get(str(row.get("status")), STATUS_COLORS["unknown"])

    outline = geojson_features(
        s,
        lambda r: {"color": SETTLEMENT_RING_COLOR, "weight": 3, "fillColor": color(r),
                   "fillOpacity": 0.45, "dashArray": "8 4"},
        _tip,
    )
    points = gpd.GeoDataFrame(s.drop(columns="geometry"),
                              geometry=shapely.points(s["lon"].to_numpy(), s["lat"].to_numpy()),
                              crs=4326)
    markers = geojson_features(
        points,
        lambda r: {"radius": 9, "color": SETTLEMENT_RING_COLOR, "weight": 4,
                   "fillColor": color(r), "fillOpacity": 0.95},
        _tip,
    )
    return outline + markers


def settlement_layer_name(settlements: gpd.GeoDataFrame) -> str:
    """``Unlisted settlements (6; ~1,900 people)`` with the ring colour's swatch."""
    people = float(settlements["people"].sum()) if len(settlements) else 0.0
    return (f'<span class="dz-swatch" style="background:{SETTLEMENT_RING_COLOR}"></span>'
            f"Unlisted settlements ({len(settlements)}; ~{people:,.0f} people)")
