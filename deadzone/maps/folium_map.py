"""Offline Leaflet coverage maps built with folium.

The HTML written by :func:`save_map` needs no network: Leaflet's JavaScript and
CSS (vendored in ``deadzone/maps/_vendor/``) are inlined, the coverage raster is
an in-memory PNG (``data:`` URI), and the legend, title and summary boxes are
plain HTML/CSS.  folium's CDN scripts (jQuery, Bootstrap, awesome-markers) are
never referenced, so nothing here may use ``folium.Popup``/``Tooltip`` (their
templates call jQuery), ``branca`` colormaps (d3) or ``folium.plugins``.  Base
tiles are off unless ``basemap`` is given; then the tile URL is the only remote
reference allowed in the page.

Village clusters use Leaflet.markercluster, vendored and inlined like Leaflet
(only when clustering is on) and driven by our own template, not by
``folium.plugins.MarkerCluster`` (which would load it from a CDN).  Rasters
(received power, threshold classes, best server) are palette PNGs warped to
EPSG:3857 on one grid, downsampled to ``max_raster_px`` so a province map stays
a few MB (measured: 1.8 MB for 4000 x 4000 cells and 5000 villages).
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import folium
import numpy as np
import numpy.typing as npt
import pandas as pd
from affine import Affine
from branca.element import Element
from folium.map import CustomPane, FitBounds

from deadzone.errors import (
    ParameterError,
    SchemaError,
)
from deadzone.maps.signal import TOTAL_POWER_LABEL, status_signal
from deadzone.model.geodesy import MEAN_EARTH_RADIUS_M
from deadzone.model.schema import STATUSES
from deadzone.model.thresholds import STATUS_COLORS, dbm_text

if TYPE_CHECKING:
    import geopandas as gpd
from deadzone.maps._leaflet import (
    _CLUSTER_CSS_REF,
    _CLUSTER_JS_REF,
    _CSS,
    _MAP_ATTR_TILE_URLS,
    _NO_VALUE,
    _OSM_ATTR,
    _OSM_URL,
    _VENDOR_CSS_REF,
    _VENDOR_JS_REF,
    LEAFLET_VERSION,
    MARKERCLUSTER_VERSION,
    _float_or_nan,
    _GeoJsonLayer,
    _HtmlBox,
    _KeepOrder,
    _MarkerBatch,
    _MetricScale,
    _missing,
    _number,
    _require_columns,
    _round,
    _swatch,
    _text,
    _to_wgs84,
    _usable,
    save_map,
)
from deadzone.maps._overlays import (
    _DEFAULT_METRIC,
    _best_server_png,
    _class_index_png,
    _class_png,
    _color_lut,
    _lazy_matplotlib,
    _rx_3857,
    _rx_png,
    server_colors,
)

__all__ = [
    "coverage_map",
    "save_map",
    "CLUSTER_MIN_VILLAGES",
    "LEAFLET_VERSION",
    "MARKERCLUSTER_VERSION",
    "STATUS_COLORS",
]

#: Colours of fiber phases 1, 2, ... (cycled); none is a target-status colour
#: (phase 5 was the "connected" green) or the proposed-site magenta.
PHASE_COLORS = ("#d7191c", "#fdae61", "#2b83ba", "#7b3294", "#8c510a", "#01665e", "#de77ae")

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())
#: Villages drawn as clusters (Leaflet.markercluster) above this count when
#: ``coverage_map(cluster_villages=None)``.
CLUSTER_MIN_VILLAGES = 2000
_RASTER_OPACITY = 0.7
_RASTER_PANE = "deadzone_raster"

_VILLAGE_COLUMNS = (
    "village_id",
    "name",
    "commune_id",
    "population",
    "status",
    "reason",
    "best_rx_dbm",
    "serving_tower_id",
)
_TOWER_COLUMNS = ("tower_id", "tech", "freq_mhz", "eirp_dbm", "height_m", "azimuth_deg")
_COMMUNE_COLUMNS = ("commune_id", "name")
_DEFAULT_BEAMWIDTH_DEG = 65.0


# --------------------------------------------------------------------------- HTML boxes


def _legend_html(
    covered: float,
    marginal: float,
    vmin: float,
    vmax: float,
    status_labels: Mapping[str, str] | None = None,
    metric_label: str = _DEFAULT_METRIC,
) -> str:
    lut = _color_lut(11)
    stops = ", ".join(
        f"#{r:02x}{g:02x}{b:02x} {100.0 * i / (len(lut) - 1):.0f}%"
        for i, (r, g, b) in enumerate(lut)
    )

    def pos(v: float) -> float:
        return 100.0 * (v - vmin) / (vmax - vmin)

    ticks = "".join(
        f'<div class="dz-tick" style="left:{pos(v):.1f}%"></div>' for v in (marginal, covered)
    )
    labels = [
        f'<span style="left:0%;transform:none">&le;{vmin:g}</span>',
        f'<span style="left:{pos(marginal):.1f}%">{marginal:g}</span>',
        f'<span style="left:{pos(covered):.1f}%">{dbm_text(covered)}</span>',
        f'<span style="left:100%;transform:translateX(-100%)">&ge;{vmax:g}</span>',
    ]
    classes = [
        (STATUS_COLORS["covered"], f"covered: &ge; {dbm_text(covered)} dBm"),
        (STATUS_COLORS["marginal"], f"marginal: {dbm_text(marginal)} to {dbm_text(covered)} dBm"),
        (STATUS_COLORS["dead"], f"dead: &lt; {dbm_text(marginal)} dBm or no signal"),
        (STATUS_COLORS["unknown"], "unknown: not evaluated"),
    ]
    if status_labels:
        classes = [
            (color, html.escape(status_labels[key]) if key in status_labels else text)
            for (color, text), key in zip(
                classes, ("covered", "marginal", "dead", "unknown"), strict=True
            )
        ]
    rows = "".join(f"<div>{_swatch(color)}{text}</div>" for color, text in classes)
    return (
        f'<div class="dz-legend-h">{html.escape(metric_label)} (dBm)</div>'
        f'<div class="dz-ramp" style="background:linear-gradient(to right, {stops})">{ticks}</div>'
        f'<div class="dz-ramp-labels">{"".join(labels)}</div>'
        '<div><span class="dz-swatch dz-swatch-none"></span>no signal (transparent)</div>'
        '<div class="dz-legend-h">Villages</div>'
        f"{rows}"
        '<div class="dz-legend-h">Towers</div>'
        f"<div>{_swatch('#222')}tower; wedge = sector azimuth</div>"
    )


# --------------------------------------------------------------------------- layers


def _village_rows(
    villages: gpd.GeoDataFrame, commune_names: dict[Any, str]
) -> dict[str, list[list[Any]]]:
    points = villages.geometry.representative_point()
    usable = _usable(villages.geometry)
    skipped = int((~usable).sum())
    if skipped:
        logger.info("%d village(s) without a usable geometry are not drawn", skipped)
    rows: dict[str, list[list[Any]]] = {status: [] for status in STATUSES}
    signals = _status_signals(villages)
    for ok, point, rec, signal in zip(
        usable, points, villages[list(_VILLAGE_COLUMNS)].itertuples(index=False), signals,
        strict=True,
    ):
        if not ok:
            continue
        lon, lat = point.x, point.y
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        commune = commune_names.get(rec.commune_id)
        commune_html = (
            f"{html.escape(commune)} ({_text(rec.commune_id)})"
            if commune
            else _text(rec.commune_id)
        )
        reason = (
            _NO_VALUE if _missing(rec.reason) else html.escape(str(rec.reason).replace("_", " "))
        )
        rows[rec.status].append(
            [
                _round(lat),
                _round(lon),
                _text(rec.name),
                commune_html,
                _number(rec.population, ",.0f"),
                signal,
                _text(rec.serving_tower_id),
                html.escape(str(rec.status)),
                reason,
            ]
        )
    return rows


def _status_signals(villages: gpd.GeoDataFrame) -> list[str]:
    """Per village, the value its status came from, labelled: ``4G RSRP -126.1 dBm``
    (:func:`deadzone.maps.signal.status_signal`); villages without a
    technology (and tables without ``status_tech``) show the total received
    power as a bare number.
    """
    labels, values = status_signal(villages)
    out = []
    for label, v in zip(labels, values, strict=True):
        num = _number(v, ".1f", " dBm")
        out.append(num if label == TOTAL_POWER_LABEL else f"{html.escape(label)} {num}")
    return out


def _wedge(
    lat: float, lon: float, azimuth_deg: float, width_deg: float, length_m: float
) -> list[list[float]]:
    """Polygon ``[[lat, lon], ...]`` of a sector wedge (small-distance spherical offsets)."""
    ring = [[_round(lat), _round(lon)]]
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    for bearing in np.linspace(azimuth_deg - width_deg / 2.0, azimuth_deg + width_deg / 2.0, 9):
        b = math.radians(float(bearing))
        dlat = math.degrees(length_m * math.cos(b) / MEAN_EARTH_RADIUS_M)
        dlon = math.degrees(length_m * math.sin(b) / (MEAN_EARTH_RADIUS_M * cos_lat))
        ring.append([_round(lat + dlat), _round(lon + dlon)])
    ring.append(ring[0])
    return ring


def _tower_rows(
    towers: gpd.GeoDataFrame, wedge_m: float, server_color: Mapping[str, str] | None = None
) -> list[list[Any]]:
    usable = _usable(towers.geometry)
    has_bw = "beamwidth_deg" in towers.columns
    rows: list[list[Any]] = []
    for i, (ok, geom, rec) in enumerate(
        zip(
            usable,
            towers.geometry,
            towers[list(_TOWER_COLUMNS)].itertuples(index=False),
            strict=True,
        )
    ):
        if not ok:
            continue
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        lon, lat = point.x, point.y
        if not (math.isfinite(lon) and math.isfinite(lat)):
            continue
        azimuth = float(rec.azimuth_deg) if not _missing(rec.azimuth_deg) else math.nan
        sector = math.isfinite(azimuth)
        width = _DEFAULT_BEAMWIDTH_DEG
        if has_bw and not _missing(towers["beamwidth_deg"].iloc[i]):
            width = float(np.clip(float(towers["beamwidth_deg"].iloc[i]), 5.0, 180.0))
        rows.append(
            [
                _round(lat),
                _round(lon),
                _text(rec.tower_id),
                _text(rec.tech),
                _number(rec.freq_mhz, ".0f", " MHz"),
                _number(rec.eirp_dbm, ".1f", " dBm"),
                _number(rec.height_m, ".0f", " m"),
                f"{azimuth % 360.0:.0f}&deg;" if sector else "omni",
                *(
                    [_server_swatch(server_color.get(str(rec.tower_id)))]
                    if server_color is not None
                    else []
                ),
                _wedge(lat, lon, azimuth, width, wedge_m) if sector else None,
            ]
        )
    return rows


def _server_swatch(color: str | None) -> str:
    if color is None:
        return "not a best server"
    return f'<span class="dz-swatch" style="border-radius:2px;background:{color}"></span>{color}'


def _commune_features(communes: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    import shapely

    lut = None
    if "population_covered_pct" in communes.columns:
        matplotlib, _ = _lazy_matplotlib()
        lut = matplotlib.colormaps["RdYlGn"]
    geoms = communes.geometry.simplify(1e-4, preserve_topology=True)
    usable = _usable(geoms)
    geoms = shapely.transform(np.asarray(geoms.values, dtype=object), lambda xy: np.round(xy, 5))
    features: list[dict[str, Any]] = []
    for i, (ok, geom) in enumerate(zip(usable, geoms, strict=True)):
        if not ok:
            continue
        rec = communes.iloc[i]
        tip = [f"<b>{_text(rec['name'])}</b> ({_text(rec['commune_id'])})"]
        if "villages_total" in communes.columns:
            covered = rec["villages_covered"] if "villages_covered" in communes.columns else None
            total = _number(rec["villages_total"], ".0f")
            tip.append(f"villages covered: {_number(covered, '.0f')}/{total}")
        style: dict[str, Any] = {
            "color": "#444",
            "weight": 1.5,
            "dashArray": "5 4",
            "fill": True,
            "fillOpacity": 0.0,
        }
        pct = _float_or_nan(rec["population_covered_pct"]) if lut is not None else math.nan
        if lut is not None and math.isfinite(pct):
            tip.append(f"population covered: {pct:.1f}%")
            r, g, b, _a = lut(float(np.clip(pct, 0.0, 100.0)) / 100.0)
            style["fillColor"] = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
            style["fillOpacity"] = 0.12
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(geom)),
                "properties": {"s": style, "t": "<br>".join(tip)},
            }
        )
    return features


_SITE_COLOR = "#c51b7d"
_SITE_FIELDS = (  # (label, column, format, unit); only the columns present are shown
    ("Rank", "rank", ".0f", ""),
    ("Source", "source", None, ""),
    ("Technology", "tech", None, ""),
    ("Height", "height_m", ".0f", " m"),
    ("Cost", "total_vnd", ",.0f", " VND"),
    ("Cost", "cost", ",.0f", ""),
    ("Villages covered", "villages_covered", ",.0f", ""),
    ("New villages", "new_villages", ",.0f", ""),
    ("Population covered", "population_covered", ",.0f", ""),
    ("Households covered", "households_covered", ",.0f", ""),
    ("Backhaul", "backhaul", None, ""),
)


def _site_rows(sites: gpd.GeoDataFrame) -> tuple[list[list[Any]], list[str]]:
    """Marker rows and popup labels of proposed sites (``deadzone place`` ``sites``)."""
    id_col = next((c for c in ("site_id", "candidate_id", "tower_id") if c in sites.columns), None)
    fields = []
    for label, col, fmt, unit in _SITE_FIELDS:
        if col in sites.columns and label not in [f[0] for f in fields]:
            fields.append((label, col, fmt, unit))
    usable = _usable(sites.geometry)
    rows: list[list[Any]] = []
    for i, (ok, geom) in enumerate(zip(usable, sites.geometry, strict=True)):
        if not ok:
            continue
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        rec = sites.iloc[i]
        title = f"Proposed site {_text(rec[id_col]) if id_col else i + 1}"
        values = [
            _text(rec[col]) if fmt is None else _number(rec[col], fmt, unit)
            for _, col, fmt, unit in fields
        ]
        rows.append([_round(point.y), _round(point.x), title, *values, None])
    return rows, [f[0] for f in fields]


def _line_features(gdf: Any, style: dict[str, Any], tips: Sequence[str]) -> list[dict[str, Any]]:
    import shapely

    geoms = shapely.transform(
        np.asarray(gdf.geometry.values, dtype=object), lambda xy: np.round(xy, 6)
    )
    out = []
    for ok, geom, tip in zip(_usable(gdf.geometry), geoms, tips, strict=True):
        if ok:
            out.append(
                {
                    "type": "Feature",
                    "geometry": json.loads(shapely.to_geojson(geom)),
                    "properties": {"s": style, "t": tip},
                }
            )
    return out


def _fiber_layers(routes: gpd.GeoDataFrame) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """``(name, colour, features)`` per fiber phase: 1, 2, ..., then designed-later (< 1)."""

    phase = pd.to_numeric(routes["phase"], errors="coerce").fillna(-1).astype(int)
    length = (
        pd.to_numeric(routes["length_m"], errors="coerce")
        if "length_m" in routes.columns
        else pd.Series(np.nan, index=routes.index)
    )
    out = []
    later = sorted({int(p) for p in phase if p < 1})
    for p in sorted({int(p) for p in phase if p >= 1}) + ([-1] if later else []):
        sel = (phase >= 1) & (phase == p) if p >= 1 else phase < 1
        part = routes[sel.to_numpy()]
        km = float(np.nansum(length[sel].to_numpy())) / 1000.0
        tips = []
        for rec in part.to_dict("records"):
            tip = f"fiber phase {p}" if p >= 1 else "fiber designed, later"
            if "kind" in rec:
                tip += f" ({_text(rec['kind'])})"
            tip += f": {_number(rec.get('length_m'), ',.0f', ' m')}"
            if "cost" in rec:
                tip += f", cost {_number(rec['cost'], ',.0f')}"
            if not _missing(rec.get("target_id")):
                tip += f", to {_text(rec['target_id'])}"
            tips.append(tip)
        if p >= 1:
            color = PHASE_COLORS[(p - 1) % len(PHASE_COLORS)]
            style = {"color": color, "weight": 3.5, "opacity": 0.95}
            name = f"Fiber phase {p}: {km:,.1f} km"
        else:
            color = "#888888"
            style = {"color": color, "weight": 2, "opacity": 0.8, "dashArray": "6 6"}
            name = f"Fiber designed, later: {km:,.1f} km"
        out.append((name, color, _line_features(part, style, tips)))
    return out


def _pct_covered(communes: gpd.GeoDataFrame) -> npt.NDArray[np.float64]:
    """% of villages covered per commune (``villages_covered_pct`` or covered/total)."""
    if "villages_covered_pct" in communes.columns:
        return pd.to_numeric(communes["villages_covered_pct"], errors="coerce").to_numpy(float)
    if {"villages_covered", "villages_total"} <= set(communes.columns):
        cov = pd.to_numeric(communes["villages_covered"], errors="coerce").to_numpy(float)
        tot = pd.to_numeric(communes["villages_total"], errors="coerce").to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, 100.0 * cov / np.where(tot > 0, tot, 1.0), np.nan)
    return np.full(len(communes), np.nan)


def _rdylgn(pct: float) -> str:
    matplotlib, _ = _lazy_matplotlib()
    r, g, b, _a = matplotlib.colormaps["RdYlGn"](float(np.clip(pct, 0.0, 100.0)) / 100.0)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _choropleth_features(communes: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    """Communes filled by % villages covered (RdYlGn, 0-100 %); grey when no village."""
    pct = _pct_covered(communes)
    geoms = communes.geometry.simplify(1e-4, preserve_topology=True)
    tips, styles = [], []
    for i in range(len(communes)):
        rec = communes.iloc[i]
        tip = f"<b>{_text(rec['name'])}</b> ({_text(rec['commune_id'])})"
        if "villages_total" in communes.columns and "villages_covered" in communes.columns:
            cov, tot = rec["villages_covered"], rec["villages_total"]
            tip += f"<br>covered villages: {_number(cov, '.0f')}/{_number(tot, '.0f')}"
        ok = math.isfinite(pct[i])
        tip += f"<br>{pct[i]:.1f}% covered" if ok else "<br>no village"
        tips.append(tip)
        styles.append(
            {
                "color": "#333",
                "weight": 1,
                "fill": True,
                "fillColor": _rdylgn(pct[i]) if ok else "#bbbbbb",
                "fillOpacity": 0.6,
            }
        )
    feats = _line_features(communes.set_geometry(geoms), {}, tips)
    # _line_features drops unusable geometries; keep the style of the rows it kept.
    kept = [s for s, ok in zip(styles, _usable(geoms), strict=True) if ok]
    for f, style in zip(feats, kept, strict=True):
        f["properties"]["s"] = style
    return feats


def _outline_features(communes: gpd.GeoDataFrame, level: str) -> list[dict[str, Any]]:
    """Outlines of the units of column ``level`` (communes dissolved, e.g. ``province``)."""
    import shapely

    names = communes[level].astype("string")
    keep = names.notna().to_numpy() & _usable(communes.geometry)
    part = communes.loc[keep, [level]].copy()
    part["geometry"] = communes.geometry[keep].simplify(1e-4, preserve_topology=True).values
    part = part.set_geometry("geometry").set_crs(communes.crs, allow_override=True)
    feats = []
    weight = 3.0 if level == "province" else 2.0
    for name, grp in part.groupby(level, sort=True):
        geom = shapely.union_all(np.asarray(grp.geometry.values, dtype=object))
        geom = shapely.boundary(geom) if geom.geom_type in ("Polygon", "MultiPolygon") else geom
        geom = shapely.transform(geom, lambda xy: np.round(xy, 5))
        feats.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(geom)),
                "properties": {
                    "s": {"color": "#000", "weight": weight, "opacity": 0.8},
                    "t": f"{html.escape(level)}: <b>{html.escape(str(name))}</b>",
                },
            }
        )
    return feats


def _legend_extras(
    *,
    best_server: bool,
    classes: tuple[float, float] | None,
    choropleth: bool,
    sites: bool,
    class_labels: Mapping[str, str] | None = None,
    metric_label: str = _DEFAULT_METRIC,
    settlements: bool = False,
) -> str:
    parts = []
    if settlements:
        from deadzone.maps.settlement_layer import SETTLEMENT_RING_COLOR

        ring = (f'<span class="dz-swatch" style="background:#fff;border:2.5px solid '
                f'{SETTLEMENT_RING_COLOR}"></span>')
        parts.append('<div class="dz-legend-h">Unlisted settlements</div>'
                     f"<div>{ring}from the population raster; outline in its status colour</div>")
    if classes is not None:
        covered, marginal = classes
        parts.append('<div class="dz-legend-h">Coverage class (raster)</div>')
        metric = html.escape(metric_label)
        texts = {
            "covered": f"{metric} &ge; {dbm_text(covered)} dBm",
            "marginal": f"{metric} {dbm_text(marginal)} to {dbm_text(covered)} dBm",
            "dead": f"{metric} &lt; {dbm_text(marginal)} dBm",
        }
        if class_labels:
            texts = {k: html.escape(class_labels.get(k, v)) for k, v in texts.items()}
        for status, text in texts.items():
            sw = _swatch(STATUS_COLORS[status]).replace('style="', 'style="border-radius:2px;')
            # labels that already name their status ("covered: 2G level >= ...")
            # are not prefixed again
            head = "" if text.startswith(f"{status}:") else f"{status}: "
            parts.append(f"<div>{sw}{head}{text}</div>")
    if best_server:
        sw = "".join(
            f'<span class="dz-swatch" style="border-radius:2px;margin-right:1px;background:{c}">'
            "</span>"
            for c in server_colors(6)
        )
        parts.append(
            '<div class="dz-legend-h">Best server (raster)</div>'
            f"<div>{sw} one colour per serving tower (see the tower's popup)</div>"
        )
    if choropleth:
        stops = ", ".join(f"{_rdylgn(v)} {v:.0f}%" for v in (0, 25, 50, 75, 100))
        parts.append(
            '<div class="dz-legend-h">Communes: % villages covered</div>'
            f'<div class="dz-ramp" style="background:linear-gradient(to right, {stops})"></div>'
            '<div class="dz-ramp-labels"><span style="left:0%;transform:none">0%</span>'
            '<span style="left:50%">50%</span>'
            '<span style="left:100%;transform:translateX(-100%)">100%</span></div>'
        )
    if sites:
        parts.append(
            '<div class="dz-legend-h">Proposed sites</div>'
            f"<div>{_swatch(_SITE_COLOR)}new site (popup: cost, villages covered)</div>"
        )
    return "".join(parts)


def _basemap_layer(basemap: str) -> folium.TileLayer:
    if not isinstance(basemap, str):
        raise ParameterError(f"basemap was {basemap!r}; expected None or a str")
    if basemap.strip().lower() in {"osm", "openstreetmap"}:
        url, attr, name = _OSM_URL, _OSM_ATTR, "Basemap: OpenStreetMap"
    elif all(token in basemap for token in ("{z}", "{x}", "{y}")):
        host = urlparse(basemap).netloc or "local tiles"
        url, attr, name = basemap, f"Tiles: {html.escape(host)}", "Basemap"
    else:
        raise ParameterError(
            f"basemap was {basemap!r}; expected None, 'openstreetmap' or a tile URL "
            "template containing {z}, {x} and {y}"
        )
    return folium.TileLayer(tiles=url, attr=attr, name=name, overlay=False, max_zoom=19)


def _extend(bounds: list[float], gdf: Any) -> None:
    if len(gdf) == 0:
        return
    x0, y0, x1, y1 = (float(v) for v in gdf.total_bounds)
    if all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        bounds[:] = [min(bounds[0], y0), min(bounds[1], x0), max(bounds[2], y1), max(bounds[3], x1)]


# --------------------------------------------------------------------------- public API


def coverage_map(
    *,
    rx_dbm: npt.NDArray[np.floating],
    transform: Affine,
    crs: Any,
    villages: gpd.GeoDataFrame,
    towers: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame | None = None,
    title: str = "Coverage",
    summary_lines: Sequence[str] = (),
    thresholds_dbm: tuple[float, float] = (-100.0, -110.0),
    status_labels: Mapping[str, str] | None = None,
    max_raster_px: int = 1600,
    basemap: str | None = None,
    coverage_classes: bool = False,
    best_server: npt.NDArray[np.integer] | None = None,
    server_ids: Sequence[str] | None = None,
    proposed_sites: gpd.GeoDataFrame | None = None,
    fiber_routes: gpd.GeoDataFrame | None = None,
    fiber_existing: gpd.GeoDataFrame | None = None,
    cluster_villages: bool | None = None,
    commune_choropleth: bool = False,
    admin_outlines: Sequence[str] = (),
    metric_label: str = _DEFAULT_METRIC,
    coverage_class: npt.NDArray[np.integer] | None = None,
    class_labels: Mapping[str, str] | None = None,
    open_on_classes: bool = False,
    unlisted_settlements: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build an offline Leaflet map of coverage, villages, towers and communes.

    Every layer is an overlay of the layer control (toggle it on and off);
    optional layers (coverage classes, best server, proposed sites, fiber
    phases, choropleth, admin outlines) are added only when asked for.

    Parameters
    ----------
    rx_dbm : numpy.ndarray
        2-D best received power (dBm) on the grid of ``transform``/``crs``;
        NaN or -inf means no signal (drawn transparent).
    transform : affine.Affine
        Rasterio-style transform of ``rx_dbm`` (projected metres).
    crs : rasterio.crs.CRS, pyproj.CRS, str or int
        CRS of ``rx_dbm`` (e.g. ``"EPSG:32648"``).
    villages : geopandas.GeoDataFrame
        EPSG:4326 points or polygons (a representative point is drawn) with
        ``village_id, name, commune_id, population, status, reason,
        best_rx_dbm, serving_tower_id``; ``status`` is one of
        ``covered, marginal, dead, unknown``.
    towers : geopandas.GeoDataFrame
        EPSG:4326 points with ``tower_id, tech, freq_mhz, eirp_dbm, height_m,
        azimuth_deg`` (NaN = omni) and optionally ``beamwidth_deg``.
    communes : geopandas.GeoDataFrame, optional
        EPSG:4326 polygons with ``commune_id, name`` and optionally
        ``villages_total, villages_covered, population_covered_pct`` (0-100;
        gives a light fill from red to green).
    title : str
        Title shown at the top of the map and as the page title.
    summary_lines : sequence of str
        Lines for the summary box, e.g. ``"covered villages: 512/800 (64.0%)"``.
    thresholds_dbm : tuple of float
        ``(covered_dbm, marginal_dbm)``: at or above the first is covered,
        between the two is marginal, below the second is dead.
    status_labels : mapping of str to str, optional
        Legend text per village status (``covered``, ``marginal``, ``dead``,
        ``unknown``) when the status rule is not the raster's thresholds,
        e.g. per-technology thresholds.
    max_raster_px : int
        Longest side of the embedded raster PNG (pixels).  A larger raster is
        first block-averaged by the smallest integer factor that fits (dB mean
        of the cells with signal; a block is no-signal when under half its
        cells have one), then warped to EPSG:3857 (nearest neighbour).
    basemap : str, optional
        ``None`` (default) draws no base tiles and the page needs no network;
        ``"openstreetmap"`` or a ``{z}/{x}/{y}`` URL template adds a tile layer,
        the only remote reference :func:`save_map` then allows.
    coverage_classes : bool
        Add a raster layer of threshold classes (dead / marginal / covered at
        ``thresholds_dbm``), hidden until switched on in the layer control.
    best_server : numpy.ndarray of int, optional
        Best-server index per cell on the grid of ``rx_dbm`` (``< 0`` = none),
        drawn as a categorical raster layer of its own (hidden at first).
    server_ids : sequence of str, optional
        Tower id of each best-server index (``servers.csv`` of an audit); the
        tower popups then show their colour in the best-server layer.
    proposed_sites : geopandas.GeoDataFrame, optional
        New sites (``deadzone place`` ``sites``): points with optional
        ``candidate_id, source, tech, height_m, total_vnd, villages_covered,
        new_villages, population_covered, households_covered, backhaul``
        shown in their popups.
    fiber_routes : geopandas.GeoDataFrame, optional
        Fiber route lines with ``phase`` (1, 2, ...; ``< 1`` = designed for
        later) and optionally ``length_m, cost, kind, target_id``: one layer
        per phase.
    fiber_existing : geopandas.GeoDataFrame, optional
        The existing fiber network (points and/or lines), one layer.
    cluster_villages : bool, optional
        Draw villages as clusters (vendored Leaflet.markercluster, one cluster
        group per status, badges in the status colour; single villages show
        from zoom 15).  ``None`` clusters when there are more than
        :data:`CLUSTER_MIN_VILLAGES` villages.
    commune_choropleth : bool
        Add a layer of communes filled by % villages covered (red to green;
        ``villages_covered_pct`` or ``villages_covered / villages_total``),
        hidden at first.
    admin_outlines : sequence of str
        Columns of ``communes`` (e.g. ``("district", "province")``) whose
        units are drawn as outlines (communes dissolved), one layer each.
    metric_label : str
        What ``rx_dbm`` is, for the layer name and the legend (e.g. ``"4G
        RSRP"``, ``"Best total received power"``); ``thresholds_dbm`` should
        be thresholds of that metric.
    coverage_class : numpy.ndarray of int, optional
        Status class per cell on the grid of ``rx_dbm`` (-1 no signal, 0 dead,
        1 marginal, 2 covered; :func:`deadzone.model.thresholds.coverage_class`);
        with ``coverage_classes`` it is drawn instead of classing ``rx_dbm``
        at ``thresholds_dbm`` (needed when the status rule is per technology).
    class_labels : mapping of str to str, optional
        Legend text of the class layer per status (``covered``, ``marginal``,
        ``dead``) when ``coverage_class`` is given.
    open_on_classes : bool
        With ``coverage_classes``: the map opens on the class layer (the
        audit's own rule, per technology) and the received-power layer is
        switched off until chosen in the layer control (its colour ticks are
        one metric's thresholds and may not apply to every technology).
    unlisted_settlements : geopandas.GeoDataFrame, optional
        Settlements the population raster shows and the village list misses
        (:func:`deadzone.geo.settlements.unlisted_settlements`), one layer
        (:mod:`deadzone.maps.settlement_layer`) with a tooltip each.

    Returns
    -------
    folium.Map
        Write it with :func:`save_map`; folium's own ``Map.save`` would not
        inline Leaflet.

    Raises
    ------
    ParameterError, SchemaError, CRSError
        Bad options, missing columns or unknown statuses, missing CRS.

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> from affine import Affine
    >>> from shapely.geometry import Point
    >>> v = gpd.GeoDataFrame({"village_id": ["V1"], "name": ["Bản Phiêng"], "commune_id": ["C1"],
    ...     "population": [420], "status": ["covered"], "reason": [None],
    ...     "best_rx_dbm": [-92.5], "serving_tower_id": ["T1"]},
    ...     geometry=[Point(105.0, 21.5)], crs=4326)
    >>> t = gpd.GeoDataFrame({"tower_id": ["T1"], "tech": ["4G"], "freq_mhz": [1800.0],
    ...     "eirp_dbm": [61.0], "height_m": [30.0], "azimuth_deg": [np.nan]},
    ...     geometry=[Point(105.01, 21.5)], crs=4326)
    >>> rx = np.full((50, 50), -95.0, dtype=np.float32)
    >>> m = coverage_map(rx_dbm=rx, transform=Affine(100, 0, 497500, 0, -100, 2380000),
    ...     crs="EPSG:32648", villages=v, towers=t)
    >>> save_map(m, "coverage.html", overwrite=True)  # doctest: +SKIP
    """
    covered_dbm, marginal_dbm = (float(v) for v in thresholds_dbm)
    if (
        not (math.isfinite(covered_dbm) and math.isfinite(marginal_dbm))
        or covered_dbm <= marginal_dbm
    ):
        raise ParameterError(
            f"thresholds_dbm was {thresholds_dbm!r}; expected finite (covered, marginal) "
            "with covered > marginal"
        )
    if isinstance(max_raster_px, bool) or not isinstance(max_raster_px, int) or max_raster_px < 16:
        raise ParameterError(f"max_raster_px was {max_raster_px!r}; expected an int >= 16")
    if not isinstance(transform, Affine):
        raise ParameterError(f"transform was {type(transform).__name__}; expected affine.Affine")
    rx = np.asarray(rx_dbm)
    if rx.ndim != 2 or rx.size == 0 or not np.issubdtype(rx.dtype, np.number):
        raise ParameterError(
            f"rx_dbm had shape {rx.shape} and dtype {rx.dtype}; "
            "expected a non-empty 2-D float array"
        )
    _require_columns(villages, _VILLAGE_COLUMNS, "villages")
    _require_columns(towers, _TOWER_COLUMNS, "towers")
    if communes is not None:
        _require_columns(communes, _COMMUNE_COLUMNS, "communes")
    bad = ~villages["status"].isin(STATUSES)
    if bad.any():
        row = villages.loc[bad].iloc[0]
        raise SchemaError(
            f"villages row village_id={row['village_id']!r}: status was {row['status']!r}; "
            f"expected one of {STATUSES}"
        )
    villages = _to_wgs84(villages, "villages")
    towers = _to_wgs84(towers, "towers")
    if communes is not None:
        communes = _to_wgs84(communes, "communes")

    if communes is not None:
        missing = [c for c in admin_outlines if c not in communes.columns]
        if missing:
            raise SchemaError(f"admin_outlines {missing} are not columns of communes")
    elif admin_outlines or commune_choropleth:
        raise ParameterError("admin_outlines and commune_choropleth need communes")
    if proposed_sites is not None:
        if not hasattr(proposed_sites, "geometry"):
            raise ParameterError(
                f"proposed_sites was {type(proposed_sites).__name__}; expected a GeoDataFrame"
            )
        proposed_sites = _to_wgs84(proposed_sites, "proposed_sites")
    if fiber_routes is not None:
        _require_columns(fiber_routes, ("phase",), "fiber_routes")
        fiber_routes = _to_wgs84(fiber_routes, "fiber_routes")
    if fiber_existing is not None:
        if not hasattr(fiber_existing, "geometry"):
            raise ParameterError(
                f"fiber_existing was {type(fiber_existing).__name__}; expected a GeoDataFrame"
            )
        fiber_existing = _to_wgs84(fiber_existing, "fiber_existing")
    if coverage_class is not None and np.shape(coverage_class) != rx.shape:
        raise ParameterError(
            f"coverage_class had shape {np.shape(coverage_class)}; expected rx_dbm's {rx.shape}"
        )
    if best_server is not None and np.shape(best_server) != rx.shape:
        raise ParameterError(
            f"best_server had shape {np.shape(best_server)}; expected rx_dbm's {rx.shape}"
        )
    cluster = (
        len(villages) > CLUSTER_MIN_VILLAGES if cluster_villages is None else bool(cluster_villages)
    )

    vmin, vmax = marginal_dbm - 20.0, covered_dbm + 40.0
    rx_3857, raster_bounds, block = _rx_3857(rx, transform, crs, max_raster_px=max_raster_px)
    png_uri = _rx_png(rx_3857, vmin, vmax)

    bounds = [raster_bounds[0][0], raster_bounds[0][1], raster_bounds[1][0], raster_bounds[1][1]]
    # the view fits the audit's area; fiber routes (a national plan, say) do not
    # widen it: they are drawn, and reached by panning out
    for gdf in (villages, towers, communes, proposed_sites):
        if gdf is not None:
            _extend(bounds, gdf[_usable(gdf.geometry)])
    south, west, north, east = bounds

    m = folium.Map(
        location=[(south + north) / 2.0, (west + east) / 2.0],
        tiles=None,
        zoom_start=12,
        prefer_canvas=True,
        control_scale=False,
        font_size="13px",
    )
    # Only the vendored Leaflet (and markercluster); never folium's jQuery/Bootstrap CDNs.
    m.default_js = [("leaflet", _VENDOR_JS_REF)]
    m.default_css = [("leaflet_css", _VENDOR_CSS_REF)]
    if cluster:
        m.default_js.append(("leaflet_markercluster", _CLUSTER_JS_REF))
        m.default_css.append(("leaflet_markercluster_css", _CLUSTER_CSS_REF))
    m.options["max_zoom"] = 19
    m.options["zoom_snap"] = 0.25  # fit the data snugly; +/- buttons still step by 1
    root = m.get_root()
    root.header.add_child(Element('<meta charset="utf-8" />'), name="meta_charset", index=0)
    root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title", index=1)
    root.header.add_child(Element(_CSS), name="deadzone_css")

    tile_urls: tuple[str, ...] = ()
    if basemap is not None:
        tile_layer = _basemap_layer(basemap)
        tile_layer.add_to(m)
        tile_urls = (tile_layer.tiles,)
    setattr(m, _MAP_ATTR_TILE_URLS, tile_urls)

    CustomPane(_RASTER_PANE, z_index=350, pointer_events=False).add_to(m)
    folium.raster_layers.ImageOverlay(
        image=png_uri,
        bounds=raster_bounds,
        name="Received power (dBm)" + (
            "" if metric_label == _DEFAULT_METRIC else f": {html.escape(metric_label)}"
        ),
        opacity=_RASTER_OPACITY,
        pane=_RASTER_PANE,
        show=not (coverage_classes and open_on_classes),
        class_name="dz-raster-rx",
    ).add_to(m)
    if coverage_classes:
        if coverage_class is None:
            class_uri, class_bounds = _class_png(rx_3857, covered_dbm, marginal_dbm), raster_bounds
        else:
            class_uri, class_bounds = _class_index_png(
                coverage_class, transform, crs, max_raster_px=max_raster_px, k=block
            )
        folium.raster_layers.ImageOverlay(
            image=class_uri,
            bounds=class_bounds,
            name="Coverage class (dead / marginal / covered)",
            opacity=_RASTER_OPACITY,
            pane=_RASTER_PANE,
            show=open_on_classes,
            class_name="dz-raster-class",
        ).add_to(m)
    server_color: dict[str, str] | None = None
    if best_server is not None:
        bs_uri, bs_bounds, n_servers = _best_server_png(
            best_server, transform, crs, max_raster_px=max_raster_px, k=block
        )
        folium.raster_layers.ImageOverlay(
            image=bs_uri,
            bounds=bs_bounds,
            name=f"Best server ({n_servers} towers)",
            opacity=_RASTER_OPACITY,
            pane=_RASTER_PANE,
            show=False,
            class_name="dz-raster-server",
        ).add_to(m)
        if server_ids is not None:
            colors = server_colors(len(server_ids))
            server_color = {str(t): c for t, c in zip(server_ids, colors, strict=True)}
    del rx_3857

    back: list[str] = []
    front: list[str] = []
    if communes is not None:
        group = folium.FeatureGroup(name=f"Communes ({len(communes)})")
        _GeoJsonLayer(_commune_features(communes)).add_to(group)
        group.add_to(m)
        back.append(group.get_name())
        if commune_choropleth:
            group = folium.FeatureGroup(name="Communes: % villages covered", show=False)
            _GeoJsonLayer(_choropleth_features(communes)).add_to(group)
            group.add_to(m)
            back.append(group.get_name())
        for level in admin_outlines:
            feats = _outline_features(communes, level)
            group = folium.FeatureGroup(name=f"{level.capitalize()} outlines ({len(feats)})")
            _GeoJsonLayer(feats).add_to(group)
            group.add_to(m)
            front.append(group.get_name())

    if fiber_existing is not None and len(fiber_existing):
        group = folium.FeatureGroup(name=f"{_swatch('#111')}Fiber: existing network")
        style = {"color": "#111", "weight": 4, "radius": 5, "fillColor": "#111", "fillOpacity": 1}
        tips = ["existing fiber"] * len(fiber_existing)
        _GeoJsonLayer(_line_features(fiber_existing, style, tips)).add_to(group)
        group.add_to(m)
        front.append(group.get_name())
    if fiber_routes is not None:
        for name, color, feats in _fiber_layers(fiber_routes):
            group = folium.FeatureGroup(name=f"{_swatch(color)}{name}")
            _GeoJsonLayer(feats).add_to(group)
            group.add_to(m)
            front.append(group.get_name())

    commune_names: dict[Any, str] = {}
    if communes is not None:
        commune_names = {
            cid: str(name)
            for cid, name in zip(communes["commune_id"], communes["name"], strict=True)
            if not _missing(name)
        }
    village_rows = _village_rows(villages, commune_names)
    village_labels = ("Commune", "Population", "Signal (status)", "Serving tower", "Status",
                      "Reason")
    for status in STATUSES:
        color = STATUS_COLORS[status]
        group = folium.FeatureGroup(
            name=f"{_swatch(color)}Villages: {status} ({len(village_rows[status])})"
        )
        style = {"radius": 6, "color": "#222", "weight": 1, "fillColor": color, "fillOpacity": 0.95}
        _MarkerBatch(
            village_rows[status], village_labels, style, cluster_color=color if cluster else None
        ).add_to(group)
        group.add_to(m)
        front.append(group.get_name())

    diag_m = math.hypot(
        (east - west) * 111_320.0 * math.cos(math.radians((south + north) / 2.0)),
        (north - south) * 110_540.0,
    )
    tower_rows = _tower_rows(
        towers, wedge_m=float(np.clip(0.04 * diag_m, 300.0, 3000.0)), server_color=server_color
    )
    tower_labels = ["Technology", "Frequency", "EIRP", "Height", "Azimuth"]
    if server_color is not None:
        tower_labels.append("Best-server colour")
    group = folium.FeatureGroup(name=f"{_swatch('#222')}Towers ({len(tower_rows)})")
    _MarkerBatch(
        tower_rows,
        tower_labels,
        {"radius": 4, "color": "#000", "weight": 1.5, "fillColor": "#222", "fillOpacity": 1.0},
        wedge_style={"color": "#111", "weight": 1.5, "fillColor": "#111", "fillOpacity": 0.25},
    ).add_to(group)
    group.add_to(m)
    front.append(group.get_name())

    if unlisted_settlements is not None:
        from deadzone.maps.settlement_layer import settlement_features, settlement_layer_name

        group = folium.FeatureGroup(name=settlement_layer_name(unlisted_settlements))
        _GeoJsonLayer(settlement_features(unlisted_settlements)).add_to(group)
        group.add_to(m)
        front.append(group.get_name())

    if proposed_sites is not None:
        site_rows, site_labels = _site_rows(proposed_sites)
        group = folium.FeatureGroup(name=f"{_swatch(_SITE_COLOR)}Proposed sites ({len(site_rows)})")
        _MarkerBatch(
            site_rows,
            site_labels,
            {
                "radius": 8,
                "color": "#fff",
                "weight": 2.5,
                "fillColor": _SITE_COLOR,
                "fillOpacity": 1.0,
            },
        ).add_to(group)
        group.add_to(m)
        front.append(group.get_name())

    _KeepOrder(back, front).add_to(m)
    _HtmlBox(f"<div>{html.escape(title)}</div>", "dz-box dz-title", None).add_to(m)
    _MetricScale().add_to(m)
    if summary_lines:
        lines = "".join(f"<div>{html.escape(str(line))}</div>" for line in summary_lines)
        _HtmlBox(lines, "dz-box dz-summary", "bottomleft").add_to(m)
    extras = _legend_extras(
        best_server=best_server is not None,
        classes=(covered_dbm, marginal_dbm) if coverage_classes else None,
        class_labels=class_labels if coverage_class is not None else None,
        metric_label=metric_label,
        choropleth=commune_choropleth,
        sites=proposed_sites is not None,
        settlements=unlisted_settlements is not None,
    )
    _HtmlBox(
        _legend_html(covered_dbm, marginal_dbm, vmin, vmax, status_labels, metric_label)
        + extras,
        "dz-box dz-legend",
        "bottomright",
    ).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    FitBounds([[south, west], [north, east]], padding=(20, 20)).add_to(m)
    return m
