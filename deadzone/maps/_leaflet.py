"""Leaflet pages that work offline: our folium elements (marker batches, GeoJSON
layers, HTML boxes, the metric scale), formatting helpers, and :func:`save_map`,
which inlines the vendored Leaflet and refuses any remote reference but the
chosen base tiles.  Shared by :mod:`deadzone.maps.folium_map` and
:mod:`deadzone.maps.fiber_map`."""

from __future__ import annotations

import functools
import html
import json
import logging
import math
import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import folium
import numpy as np
import numpy.typing as npt
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from deadzone.errors import (
    CRSError,
    DeadzoneError,
    DeadzoneWarning,
    OutputExistsError,
    ParameterError,
    SchemaError,
)

if TYPE_CHECKING:
    import geopandas as gpd

logger = logging.getLogger(__name__)


#: Version of the Leaflet files vendored in ``deadzone/maps/_vendor/``.
LEAFLET_VERSION = "1.9.4"

#: Version of the Leaflet.markercluster files vendored beside Leaflet (village clusters).
MARKERCLUSTER_VERSION = "1.5.3"

_VENDOR_JS_REF = "_vendor/leaflet.js"
_VENDOR_CSS_REF = "_vendor/leaflet.css"
_CLUSTER_JS_REF = "_vendor/leaflet.markercluster.js"
_CLUSTER_CSS_REF = "_vendor/MarkerCluster.css"
#: Basenames (lower case) of ``<script src>`` / ``<link href>`` targets and the
#: vendored file that replaces each.
_VENDORED_JS = {
    "leaflet.js": "leaflet.js",
    "leaflet-src.js": "leaflet.js",
    "leaflet.markercluster.js": "leaflet.markercluster.js",
}
_VENDORED_CSS = {
    "leaflet.css": "leaflet.css",
    "markercluster.css": "MarkerCluster.css",
}
_NO_VALUE = "\u2014"  # em dash
_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_OSM_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
_MAP_ATTR_TILE_URLS = "_deadzone_tile_urls"

_CSS = """
<style>
.dz-box { background: rgba(255, 255, 255, 0.94); padding: 6px 10px; border-radius: 5px;
  box-shadow: 0 1px 5px rgba(0, 0, 0, 0.4); color: #222;
  font: 12px/1.45 "Helvetica Neue", Arial, Helvetica, sans-serif; }
.dz-title { position: absolute; top: 10px; left: 50%; transform: translateX(-50%);
  z-index: 1000; font-size: 16px; font-weight: 600; max-width: 55%; text-align: center; }
.dz-summary div { white-space: nowrap; }
.dz-legend { min-width: 230px; max-height: 55vh; overflow-y: auto; }
.dz-cluster { border-radius: 50%; background: rgba(255, 255, 255, 0.6); }
.dz-cluster div { position: absolute; left: 4px; top: 4px; right: 4px; bottom: 4px;
  border-radius: 50%; border: 1px solid #222; color: #fff; display: flex;
  align-items: center; justify-content: center;
  font: bold 11px/1 "Helvetica Neue", Arial, Helvetica, sans-serif;
  text-shadow: 0 0 2px #000; }
.dz-legend-h { font-weight: 600; margin: 4px 0 3px; }
.dz-ramp { position: relative; height: 12px; border: 1px solid #777; margin: 0 4px; }
.dz-tick { position: absolute; top: -4px; bottom: -4px; width: 0; border-left: 2px solid #000; }
.dz-ramp-labels { position: relative; height: 15px; font-size: 10px; margin: 0 4px; }
.dz-ramp-labels span { position: absolute; top: 1px; transform: translateX(-50%);
  white-space: nowrap; }
.dz-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  border: 1px solid #333; margin-right: 6px; vertical-align: -1px; }
.dz-swatch-none { border-radius: 2px; background: transparent; border-style: dashed; }
.dz-popup { font-size: 12px; line-height: 1.45; }
.dz-popup-title { font-weight: 700; font-size: 13px; margin-bottom: 4px; }
.dz-popup table { border-collapse: collapse; }
.dz-popup th { text-align: left; padding: 0 10px 0 0; font-weight: 600; color: #555; }
.dz-popup td { padding: 0; }
</style>
"""


# --------------------------------------------------------------------------- folium elements


def _js(obj: Any) -> str:
    """JSON for a ``<script>`` block: UTF-8 kept, ``< > &`` escaped, no NaN."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


class _MarkerBatch(MacroElement):
    """Many ``L.circleMarker``s (and optional wedge polygons) from one JSON array.

    Each row is ``[lat, lon, title_html, value_html..., wedge?]``; the popup table
    is assembled in the browser from ``labels`` and the (already escaped) values,
    which keeps the page small for thousands of points and needs no jQuery.
    With ``cluster_color`` the markers go into one ``L.markerClusterGroup``
    (vendored Leaflet.markercluster) whose cluster badges take that colour.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var group = {{ this._parent.get_name() }};
            var labels = {{ this.labels_js }};
            var style = {{ this.style_js }};
            var wedgeStyle = {{ this.wedge_style_js }};
            var rows = {{ this.rows_js }};
            function popup(r) {
                var h = '<div class="dz-popup"><div class="dz-popup-title">' + r[2]
                    + '</div><table>';
                for (var j = 0; j < labels.length; j++) {
                    h += '<tr><th>' + labels[j] + '</th><td>' + r[3 + j] + '</td></tr>';
                }
                return h + '</table></div>';
            }
            var markers = [];
            for (var i = 0; i < rows.length; i++) {
                var r = rows[i];
                var content = popup.bind(null, r);
                var wedge = r[3 + labels.length];
                if (wedge) {
                    L.polygon(wedge, wedgeStyle).bindPopup(content).addTo(group);
                }
                markers.push(L.circleMarker([r[0], r[1]], style)
                    .bindTooltip(r[2]).bindPopup(content));
            }
            {%- if this.cluster_color %}
            var color = {{ this.cluster_color_js }};
            var clusters = L.markerClusterGroup({
                chunkedLoading: true,
                animate: false,
                maxClusterRadius: 45,
                disableClusteringAtZoom: 15,
                showCoverageOnHover: false,
                spiderfyOnMaxZoom: false,
                iconCreateFunction: function (c) {
                    var n = c.getChildCount();
                    var size = n < 100 ? 30 : (n < 1000 ? 36 : 44);
                    return L.divIcon({
                        html: '<div style="background:' + color + '"><span>' + n
                            + '</span></div>',
                        className: "marker-cluster dz-cluster",
                        iconSize: L.point(size, size)
                    });
                }
            });
            clusters.addLayers(markers);
            group.addLayer(clusters);
            {%- else %}
            for (var k = 0; k < markers.length; k++) { markers[k].addTo(group); }
            {%- endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: list[list[Any]],
        labels: Sequence[str],
        style: dict[str, Any],
        wedge_style: dict[str, Any] | None = None,
        cluster_color: str | None = None,
    ) -> None:
        super().__init__()
        self._name = "DeadzoneMarkerBatch"
        self.rows_js = _js(rows)
        self.labels_js = _js([html.escape(label) for label in labels])
        self.style_js = _js(style)
        self.wedge_style_js = _js(wedge_style or {})
        self.cluster_color = cluster_color
        self.cluster_color_js = _js(cluster_color)


class _GeoJsonLayer(MacroElement):
    """Inline GeoJSON; each feature carries its style ``s`` and tooltip ``t``.

    Polygons and lines take ``s`` as their path style, points become circle
    markers with it.  Used for commune outlines here and for the fiber map's
    routes and targets (:mod:`deadzone.maps.fiber_map`).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var data = {{ this.data_js }};
            L.geoJSON(data, {
                style: function (f) { return f.properties.s; },
                pointToLayer: function (f, latlng) {
                    return L.circleMarker(latlng, f.properties.s);
                },
                onEachFeature: function (f, layer) {
                    layer.bindTooltip(f.properties.t, {sticky: true});
                }
            }).addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, features: list[dict[str, Any]]) -> None:
        super().__init__()
        self._name = "DeadzoneGeoJsonLayer"
        self.data_js = _js({"type": "FeatureCollection", "features": features})


class _HtmlBox(MacroElement):
    """A plain HTML box: a Leaflet control at ``position``, or the top-centre title."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var content = {{ this.html_js }};
            function build(parent) {
                var div = L.DomUtil.create("div", {{ this.css_class_js }}, parent);
                div.innerHTML = content;
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            }
            {%- if this.position %}
            var box = L.control({position: {{ this.position_js }}});
            box.onAdd = function () { return build(); };
            box.addTo(map);
            {%- else %}
            build(map.getContainer());
            {%- endif %}
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content_html: str, css_class: str, position: str | None) -> None:
        super().__init__()
        self._name = "DeadzoneHtmlBox"
        self.html_js = _js(content_html)
        self.css_class_js = _js(css_class)
        self.position = position
        self.position_js = _js(position)


class _MetricScale(MacroElement):
    """Leaflet's metric scale bar (folium 0.20's ``Control`` garbles positional args)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({position: "bottomleft", imperial: false, maxWidth: 150})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "DeadzoneMetricScale"


class _KeepOrder(MacroElement):
    """Re-stack vector groups when the layer control re-adds one (one shared canvas)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            map.on("overlayadd", function () {
                {%- for name in this.back|reverse %}
                if (map.hasLayer({{ name }})) { {{ name }}.bringToBack(); }
                {%- endfor %}
                {%- for name in this.front %}
                if (map.hasLayer({{ name }})) { {{ name }}.bringToFront(); }
                {%- endfor %}
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, back: Sequence[str], front: Sequence[str]) -> None:
        super().__init__()
        self._name = "DeadzoneKeepOrder"
        self.back = list(back)
        self.front = list(front)


# --------------------------------------------------------------------------- formatting


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    """Escaped text, or an em dash for a missing value."""
    return _NO_VALUE if _missing(value) else html.escape(str(value))


def _number(value: Any, fmt: str, unit: str = "") -> str:
    if _missing(value):
        return _NO_VALUE
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not math.isfinite(number):
        return _NO_VALUE
    return f"{number:{fmt}}{unit}"


def _float_or_nan(value: Any) -> float:
    if _missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _round(value: float, digits: int = 5) -> float:
    return round(float(value), digits)


def _swatch(color: str) -> str:
    return f'<span class="dz-swatch" style="background:{color}"></span>'


# --------------------------------------------------------------------------- validation


def _require_columns(gdf: Any, columns: Sequence[str], what: str) -> None:
    if not hasattr(gdf, "geometry") or not hasattr(gdf, "columns"):
        raise ParameterError(f"{what} was {type(gdf).__name__}; expected a GeoDataFrame")
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise SchemaError(f"{what} lacks column(s) {missing}; expected {list(columns)}")


def _to_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"{what} has no CRS; expected EPSG:4326 (lon/lat)")
    if gdf.crs.to_epsg() != 4326:
        warnings.warn(
            f"{what} was in {gdf.crs.to_string()}; reprojected to EPSG:4326 for the map",
            DeadzoneWarning,
            stacklevel=3,
        )
        gdf = gdf.to_crs(4326)
    return gdf


def _usable(geoms: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(~(geoms.isna() | geoms.is_empty), dtype=bool)


# --------------------------------------------------------------------------- offline HTML


@functools.cache
def _vendored(name: str) -> str:
    return (resources.files("deadzone.maps") / "_vendor" / name).read_text(encoding="utf-8")


_SCRIPT_SRC_RE = re.compile(
    r"<script\b[^>]*?\bsrc\s*=\s*([\"'])(?P<url>.*?)\1[^>]*>\s*</script\s*>", re.I | re.S
)
_LINK_RE = re.compile(r"<link\b[^>]*?\bhref\s*=\s*([\"'])(?P<url>.*?)\1[^>]*?/?>", re.I | re.S)
# A remote reference: http(s):// or protocol-relative //host, after an optional quote
# (possibly backslash-escaped inside a JS string).
_REMOTE = r"\s*(?:\\?[\"'])?\s*(?P<url>(?:https?:)?//[^\s\"'\\)>]+)"
_ATTR_RE = re.compile(r"\b(?P<attr>src|href|srcset|poster|xlink:href)\s*=" + _REMOTE, re.I)
_CSS_URL_RE = re.compile(r"\burl\(" + _REMOTE, re.I)
_IMPORT_RE = re.compile(r"@import\s+(?:url\()?" + _REMOTE, re.I)
_LEAFLET_URL_RE = re.compile(
    r"\bL\.(?P<fn>tileLayer(?:\.wms)?|imageOverlay|videoOverlay)\(" + _REMOTE, re.I
)
_SOURCE_MAP_RE = re.compile(r"^//# sourceMappingURL=.*$", re.M)
_TAG_OPEN_RE = re.compile(r"(?:<|\\u003c)(?P<tag>[a-z][a-z0-9:-]*)", re.I)


def _inline_assets(text: str) -> str:
    """Replace Leaflet ``<script src>``/``<link href>`` tags by the vendored files."""
    unresolved: list[str] = []

    def script(match: re.Match[str]) -> str:
        url = match.group("url")
        if url.startswith("data:"):
            return match.group(0)
        name = urlparse(url).path.rsplit("/", 1)[-1].lower()
        if name in _VENDORED_JS:
            code = _SOURCE_MAP_RE.sub("", _vendored(_VENDORED_JS[name]))
            code = code.replace("</script", "<\\/script")
            return f"<script>\n{code}\n</script>"
        unresolved.append(url)
        return match.group(0)

    def link(match: re.Match[str]) -> str:
        url = match.group("url")
        if url.startswith("data:"):
            return match.group(0)
        name = urlparse(url).path.rsplit("/", 1)[-1].lower()
        if name in _VENDORED_CSS:
            css = _vendored(_VENDORED_CSS[name])
            if "</style" in css.lower():  # pragma: no cover - vendored file is checked
                raise DeadzoneError(f"vendored {name} contains '</style'; cannot inline it")
            return f"<style>\n{css}\n</style>"
        unresolved.append(url)
        return match.group(0)

    text = _SCRIPT_SRC_RE.sub(script, text)
    text = _LINK_RE.sub(link, text)
    if unresolved:
        raise DeadzoneError(
            f"the map loads {unresolved}, which deadzone does not vendor, so it would not "
            "render offline; build it with deadzone.maps.folium_map.coverage_map or remove "
            "the folium elements (plugins, Popup, Icon, colormaps) that need them"
        )
    return text


def _in_anchor(text: str, pos: int) -> bool:
    """Whether the attribute at ``pos`` belongs to an ``<a>`` tag (a link, never fetched)."""
    window = text[max(0, pos - 400) : pos]
    opens = list(_TAG_OPEN_RE.finditer(window))
    return bool(opens) and opens[-1].group("tag").lower() == "a"


def _remote_references(text: str, allowed_tiles: Sequence[str] = ()) -> list[str]:
    """Remote URLs the page would fetch: ``src``/``href``/``url()``/``@import``/Leaflet layers.

    ``<a href>`` hyperlinks are not fetched and are not reported (Leaflet's
    attribution prefix links to leafletjs.com); tile templates in
    ``allowed_tiles`` are allowed.
    """
    found: list[str] = []
    for match in _ATTR_RE.finditer(text):
        if match.group("attr").lower() == "href" and _in_anchor(text, match.start()):
            continue
        found.append(f"{match.group('attr')}={match.group('url')}")
    for regex, label in ((_CSS_URL_RE, "url()"), (_IMPORT_RE, "@import")):
        found.extend(f"{label} {m.group('url')}" for m in regex.finditer(text))
    for match in _LEAFLET_URL_RE.finditer(text):
        url = match.group("url")
        if match.group("fn") == "tileLayer" and url in allowed_tiles:
            continue
        found.append(f"L.{match.group('fn')} {url}")
    return found


_ELEMENT_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def _stable_ids(m: folium.Map, text: str) -> str:
    """Replace branca's random element ids (``os.urandom``) by 1, 2, 3, ... in order.

    The same map then renders to the same bytes on every run (reproducible
    outputs); only the 32-hex ids of elements in ``m``'s tree are renamed.
    """
    ids: set[str] = set()
    stack: list[Any] = [m.get_root()]
    while stack:
        el = stack.pop()
        if isinstance(getattr(el, "_id", None), str):
            ids.add(el._id)
        stack.extend(getattr(el, "_children", {}).values())
    mapping: dict[str, str] = {}

    def rename(mo: re.Match[str]) -> str:
        old = mo.group()
        return mapping.setdefault(old, f"{len(mapping) + 1:032x}") if old in ids else old

    return _ELEMENT_ID.sub(rename, text)


def _offline_html(m: folium.Map) -> str:
    text = _stable_ids(m, m.get_root().render())
    text = _inline_assets(text)
    remote = _remote_references(text, getattr(m, _MAP_ATTR_TILE_URLS, ()))
    if remote:
        raise DeadzoneError(
            f"the map would fetch {remote[:5]}{' ...' if len(remote) > 5 else ''} from the "
            "network; deadzone maps must render offline (only a basemap requested with "
            "coverage_map(basemap=...) may be remote)"
        )
    if '<meta charset="utf-8"' not in text[:2048]:
        text = text.replace("<head>", '<head>\n<meta charset="utf-8" />', 1)
    return text


def save_map(m: folium.Map, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Write ``m`` as one self-contained HTML file that renders with no network.

    Leaflet's JS and CSS are inlined from ``deadzone/maps/_vendor/``; the file is
    written to a temporary file beside ``path`` and moved into place, so a
    reader never sees a partial map.

    Parameters
    ----------
    m : folium.Map
        Usually from :func:`coverage_map`.
    path : str or os.PathLike
        Output ``.html`` path; its directory must exist.
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    DeadzoneError
        The page would still load a script, style, image or tile from the
        network (for example a folium plugin from a CDN).

    Examples
    --------
    >>> save_map(m, "out/coverage.html", overwrite=True)  # doctest: +SKIP
    """
    if not isinstance(m, folium.Map):
        raise ParameterError(f"m was {type(m).__name__}; expected folium.Map")
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"output {str(path)!r} exists; pass overwrite=True to replace it")
    data = _offline_html(m).encode("utf-8")

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic and never clobbers a file created meanwhile
            except FileExistsError:
                raise OutputExistsError(
                    f"output {str(path)!r} exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # filesystem without hard links
                if path.exists():
                    raise OutputExistsError(
                        f"output {str(path)!r} exists; pass overwrite=True to replace it"
                    ) from None
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s (%.1f kB)", path, len(data) / 1000.0)
