"""The what-if web app: one HTML page and a small JSON API over a what-if session.

:class:`WhatIfApp` owns a :class:`deadzone.whatif.Session` and serialises
every read and edit with one lock (the session is not thread-safe).
:func:`make_server` wraps it in a standard-library
:class:`http.server.ThreadingHTTPServer`.

Routes (every other path answers 404, every other method 405):

==========================  =============================================
``GET /``                   the page (``static/index.html``)
``GET /static/<name>``      only ``app.js``, ``app.css`` and the vendored
                            ``leaflet.js`` / ``leaflet.css``
``GET /api/state``          towers, villages (position, name, status),
                            totals, summary lines, overlay bounds, legend,
                            status colours
``GET /api/village?i=N``    one village's current audit row (popups)
``GET /api/coverage.png``   best received power as a palette PNG in
                            EPSG:3857 (downsampled), redrawn after each edit
``GET /api/towers.csv``     the current tower table
``POST /api/add``           ``{lon, lat, height_m[, tech, freq_mhz, ...]}``
``POST /api/move``          ``{tower_id, lon, lat}``
``POST /api/edit``          ``{tower_id, height_m | eirp_dbm | freq_mhz | ...}``
``POST /api/remove``        ``{tower_id}``
``POST /api/link``          ``{a: END[, b: END, freq_mhz]}``: the terrain
                            profile between two ends on the session's
                            current towers (:meth:`WhatIfApp.link`)
==========================  =============================================

Each edit POST answers the what-if delta (villages newly covered and newly lost,
totals before and after) plus the new tower list and one status letter per
village; it never asks the session for its commune roll-up, which
:attr:`Session.result` rebuilds lazily (only ``state`` and ``village`` read it).

Security (the server is meant for one planner on one machine): it binds to
127.0.0.1 unless told otherwise; static files come from a fixed allow-list
read once at start-up (no path from a URL ever reaches the file system);
POST bodies must be ``application/json``, at most :data:`MAX_BODY_BYTES`
(413 beyond), and pass :func:`deadzone.web.validate.parse_body` (400 with a
JSON ``error`` otherwise); the ``Host`` header must name the loopback
address, or (bound to another interface) be an IP address literal: never a
DNS name (defeats DNS rebinding); a cross-site ``Origin`` is refused (403); at
most :data:`MAX_CONNECTIONS` connections are served at once (503 beyond), and
a client that goes away is one log line; responses carry a restrictive
Content-Security-Policy.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from deadzone.errors import DeadzoneError, ParameterError
from deadzone.geo.link import DEFAULT_POINT_HEIGHT_M
from deadzone.kernels.link import ITM_FREQ_MHZ
from deadzone.model.schema import TECHS, TOTAL_COUNTS, TOWER_DEFAULTS
from deadzone.model.thresholds import STATUS_COLORS
from deadzone.web.link_json import json_num, profile_json
from deadzone.web.overlay import CoverageImage, legend_html, overlay_layer
from deadzone.web.validate import (
    EIRP_DBM,
    FREQ_MHZ,
    HEIGHT_M,
    LINK_FREQ_MHZ,
    Bounds,
    RequestError,
    endpoint_specs,
    parse_body,
)

__all__ = ["WhatIfApp", "make_server", "is_loopback", "MAX_BODY_BYTES", "DEFAULT_MAX_RASTER_PX"]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Largest accepted request body (bytes); larger bodies answer 413.
MAX_BODY_BYTES = 64 * 1024
#: Bodies up to this size are read and dropped before a 413, so the client
#: gets the answer rather than a reset connection; larger ones are not read.
_DRAIN_LIMIT_BYTES = 4 * 1024 * 1024
#: Longest side of the coverage PNG (pixels).
DEFAULT_MAX_RASTER_PX = 768
#: Seconds a connection may stay idle before the server drops it.
_SOCKET_TIMEOUT_S = 15.0
#: Connections served at once (each holds a thread); more get a 503.
MAX_CONNECTIONS = 32
#: A request (line, headers, body) must have arrived this long (s) after it
#: began, or its connection is closed: a header trickle cannot hold a thread.
REQUEST_DEADLINE_S = 30.0

_STATUS_CODES = {"covered": "c", "marginal": "m", "dead": "d", "unknown": "u"}
_TOWER_FIELDS = (
    "tower_id",
    "lon",
    "lat",
    "tech",
    "freq_mhz",
    "eirp_dbm",
    "height_m",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
)
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
#: URL path -> (package, resource name, content type).  The only files served.
_STATIC: dict[str, tuple[str, str, str]] = {
    "/": ("deadzone.web", "static/index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("deadzone.web", "static/app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("deadzone.web", "static/app.css", "text/css; charset=utf-8"),
    "/static/leaflet.js": ("deadzone.maps", "_vendor/leaflet.js", "text/javascript; charset=utf-8"),
    "/static/leaflet.css": ("deadzone.maps", "_vendor/leaflet.css", "text/css; charset=utf-8"),
}
_ACTIONS = ("add", "move", "edit", "remove")
#: Frequency (MHz) of a link profile without a tower end or a given one: a
#: typical microwave backhaul band.
DEFAULT_LINK_FREQ_MHZ = 8000.0
_VILLAGE_FIELDS = (
    "village_id",
    "name",
    "status",
    "reason",
    "best_rx_dbm",
    "serving_tower_id",
    "second_best_rx_dbm",
    "servers_above_threshold",
    "distance_to_nearest_tower_m",
    "population",
)
_VILLAGE_NUMBERS = frozenset(
    {
        "best_rx_dbm",
        "second_best_rx_dbm",
        "servers_above_threshold",
        "distance_to_nearest_tower_m",
        "population",
    }
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address) is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _text(v: Any) -> str | None:
    """A JSON-safe string: None for missing (None, NaN, pd.NA)."""
    try:
        if v is None or pd.isna(v):
            return None
    except (TypeError, ValueError):  # array-likes: not missing
        pass
    return str(v)


class WhatIfApp:
    """A what-if session behind a lock, with the JSON views the page needs.

    Parameters
    ----------
    session : deadzone.whatif.Session
        A warmed-up session; the app edits it in place.
    title : str, optional
        Page title (default: the scenario name).
    max_raster_px : int
        Longest side of the coverage PNG (pixels).
    status_labels : mapping, optional
        Legend text per village status (see
        :func:`deadzone.maps.folium_map.coverage_map`).

    Examples
    --------
    >>> app = WhatIfApp(Session(scenario, model="knife"))   # doctest: +SKIP
    >>> server = make_server(app, port=0)                    # doctest: +SKIP
    >>> server.serve_forever()                               # doctest: +SKIP
    """

    def __init__(
        self,
        session: Any,
        *,
        title: str | None = None,
        max_raster_px: int = DEFAULT_MAX_RASTER_PX,
        status_labels: Mapping[str, str] | None = None,
    ) -> None:
        if not (64 <= max_raster_px <= 4096):
            raise ParameterError(f"max_raster_px was {max_raster_px}; expected 64..4096")
        self.session = session
        self.lock = threading.Lock()
        self.version = 0
        self.max_raster_px = int(max_raster_px)
        scen = session.scenario
        self.title = title or f"what-if: {scen.name}"
        self._thresholds = session.thresholds
        layer = overlay_layer(session.coverage.by_tech, self._thresholds)
        self._vmin, self._vmax = layer.vmin, layer.vmax
        self._label_techs = layer.techs  # the technologies status_labels were given for
        self._status_labels = dict(status_labels) if status_labels else None
        self.bounds = self._scenario_bounds()
        self._villages_static = self._village_table()
        self.specs = endpoint_specs(self.bounds, len(self._villages_static["village_id"]))
        ids = self._villages_static["village_id"]
        self._vindex = {v: i for i, v in enumerate(ids)}
        self._unique_ids = len(self._vindex) == len(ids)
        self._status = self._status_codes()
        dem = scen.dem
        self._image = CoverageImage(
            dem.shape,
            dem.transform,
            dem.crs,
            max_px=self.max_raster_px,
            vmin=self._vmin,
            vmax=self._vmax,
        )
        self._overlay_bounds = [[round(x, 7) for x in p] for p in self._image.bounds]
        self._png: bytes = b""
        self._png_version = -1
        self._last: dict[str, Any] | None = None
        self._render_png()

    # ------------------------------------------------------------ geometry
    def _scenario_bounds(self) -> Bounds:
        from rasterio.warp import transform_bounds

        dem = self.session.scenario.dem
        w, s, e, n = transform_bounds(dem.crs, "EPSG:4326", *dem.bounds)
        return Bounds(west=w, south=s, east=e, north=n)

    def _village_table(self) -> dict[str, list[Any]]:
        vil = self.session.result.villages
        geom = vil.geometry
        pts = [None if g is None or g.is_empty else g.representative_point() for g in geom]
        communes = self.session.scenario.communes
        names: dict[str, str] = {}
        if communes is not None and len(communes) and "name" in communes.columns:
            names = dict(
                zip(communes["commune_id"].astype(str), communes["name"].astype(str), strict=False)
            )
        return {
            "village_id": [str(v) for v in vil["village_id"]],
            "name": [_text(v) or "" for v in vil["name"]],
            "commune": [names.get(str(c), _text(c) or "") for c in vil["commune_id"]],
            "population": [int(p) for p in vil["population"].fillna(0)],
            "lon": [None if p is None else round(p.x, 6) for p in pts],
            "lat": [None if p is None else round(p.y, 6) for p in pts],
        }

    # ------------------------------------------------------------- views
    def _status_codes(self) -> list[str]:
        """One letter per village (c/m/d/u) from the session's audit."""
        return [_STATUS_CODES.get(s, "u") for s in self.session.result.villages["status"]]

    def _follow(self, changed: Any) -> None:
        """Update the status letters from an edit's changed villages.

        Reading ``session.result`` would roll the commune tables up after every
        edit; the changed rows are all an edit needs.
        """
        if not self._unique_ids:
            self._status = self._status_codes()
            return
        for vid, st in zip(changed["village_id"], changed["status_after"], strict=True):
            self._status[self._vindex[str(vid)]] = _STATUS_CODES.get(st, "u")

    def village(self, index: int) -> dict[str, Any]:
        """One village's current audit row (``GET /api/village?i=INDEX``)."""
        with self.lock:
            n = len(self._status)
            if not 0 <= index < n:
                raise RequestError(f"village index was {index}; expected 0..{n - 1}", status=404)
            row = self.session.result.villages.iloc[index]
            out: dict[str, Any] = {"index": index, "version": self.version}
            for k in _VILLAGE_FIELDS:
                v = row.get(k)
                if k not in _VILLAGE_NUMBERS:
                    out[k] = _text(v)
                elif k in ("population", "servers_above_threshold"):
                    f = json_num(v)
                    out[k] = None if f is None else int(f)
                else:
                    out[k] = json_num(v, 1)
            out["commune"] = self._villages_static["commune"][index]
            return out

    def _towers(self) -> list[dict[str, Any]]:
        tw = self.session.towers
        out = []
        for rec in tw.drop(columns="geometry").to_dict("records"):
            row: dict[str, Any] = {}
            for k in _TOWER_FIELDS:
                v = rec.get(k)
                row[k] = _text(v) if k in ("tower_id", "tech") else json_num(v)
            out.append(row)
        return out

    def _totals(self) -> dict[str, int]:
        s = self.session.result.summary
        return {k: int(s[k]) for k in TOTAL_COUNTS}

    def state(self) -> dict[str, Any]:
        """Everything the page draws (``GET /api/state``)."""
        with self.lock:
            b = self.bounds
            return {
                "title": self.title,
                "version": self.version,
                "bounds": [[b.south, b.west], [b.north, b.east]],
                "overlay_bounds": self._overlay_bounds,
                "legend_html": self._legend(),
                "status_colors": dict(STATUS_COLORS),
                "limits": {
                    "height_m": list(HEIGHT_M),
                    "eirp_dbm": list(EIRP_DBM),
                    "freq_mhz": list(FREQ_MHZ),
                    "link_freq_mhz": list(LINK_FREQ_MHZ),
                },
                "link_defaults": {
                    "freq_mhz": DEFAULT_LINK_FREQ_MHZ,
                    "point_height_m": DEFAULT_POINT_HEIGHT_M,
                },
                "defaults": {
                    t: {
                        "freq_mhz": TOWER_DEFAULTS[t].freq_mhz,
                        "eirp_dbm": TOWER_DEFAULTS[t].eirp_dbm,
                        "height_m": TOWER_DEFAULTS[t].height_m,
                    }
                    for t in TECHS
                },
                "model": self.session.params.model,
                "towers": self._towers(),
                "villages": {**self._villages_static, "status": "".join(self._status)},
                "totals": self._totals(),
                "summary_lines": self.session.result.summary_lines()[:6],
                "last": self._last,
            }

    def coverage_png(self) -> tuple[bytes, int]:
        """The coverage PNG of the current state and its version."""
        with self.lock:
            if self._png_version != self.version:
                self._render_png()
            return self._png, self._png_version

    def _render_png(self) -> None:
        """Draw what the village statuses are decided on (:func:`overlay_layer`).

        One technology: the ramp of its metric (RSRP for 4G/5G, received
        level for 2G/3G), not total power; several: the audit's class per cell.
        """
        by_tech = self.session.coverage.by_tech
        layer = overlay_layer(by_tech, self._thresholds)
        if layer.classes:
            metric = {t: by_tech[t].best_dbm for t in layer.techs}
            self._png = self._image.render_classes(metric, self._thresholds)
        elif layer.techs:
            self._png = self._image.render(
                by_tech[layer.techs[0]].best_dbm, vmin=layer.vmin, vmax=layer.vmax
            )
        else:
            self._png = self._image.render(self.session.coverage.rx.best_dbm)
        self._png_version = self.version

    def _legend(self) -> str:
        """Legend HTML of the current technologies' layer (changes when an edit
        adds the first tower of a technology or removes the last)."""
        layer = overlay_layer(self.session.coverage.by_tech, self._thresholds)
        labels = self._status_labels if layer.techs == self._label_techs else None
        if labels is None and layer.techs:
            from deadzone.model.thresholds import status_labels

            labels = status_labels(self._thresholds, list(layer.techs))
        return legend_html(
            layer.covered_dbm,
            layer.marginal_dbm,
            layer.vmin,
            layer.vmax,
            labels,
            metric_label=layer.metric_label,
            class_labels=layer.class_labels,
        )

    def towers_csv(self) -> bytes:
        """The current tower table as CSV (UTF-8)."""
        with self.lock:
            towers = self._towers()
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(_TOWER_FIELDS), lineterminator="\n")
        w.writeheader()
        for t in towers:
            w.writerow({k: "" if v is None else v for k, v in t.items()})
        return buf.getvalue().encode("utf-8")

    # ------------------------------------------------------------- links
    def link(self, raw_body: bytes) -> dict[str, Any]:
        """The terrain profile between two ends (``POST /api/link``).

        The body is ``{"a": END, "b": END, "freq_mhz": F}`` (``b`` and
        ``freq_mhz`` optional), each END one of ``{"tower_id": ID}``,
        ``{"village": INDEX}``, ``{"village_id": ID}`` or ``{"lon": X,
        "lat": Y}``, with an optional ``height_m`` (see
        :class:`deadzone.web.validate.End`).  A tower is the session's
        current one (after adds, moves and edits), with its height,
        frequency and EIRP; a village has a handset at the session's
        ``rx_height_m``; a point gets
        :data:`deadzone.geo.link.DEFAULT_POINT_HEIGHT_M`.  Without ``b``,
        ``a`` must be a village and the profile runs from its best server
        (:func:`deadzone.geo.link.best_tower_for`, as ``deadzone link V``).
        The frequency is ``freq_mhz``, else a tower end's, else
        :data:`DEFAULT_LINK_FREQ_MHZ`; the loss is the session's model (ITU-R
        P.526 above ITM's 20 GHz) on :func:`deadzone.geo.link.link_profile`.

        Returns
        -------
        dict
            ``a``, ``b`` (the ends), ``best_server``, ``freq_mhz``, ``model``,
            ``k_factor``, ``distance_km``, ``step_m``, ``samples`` (of the
            full profile), ``profile`` (at most :data:`~deadzone.web.link_json.MAX_PROFILE_SAMPLES`
            samples: ``distance_km``, ``ground_m``, ``ground_bulge_m``,
            ``los_m``, ``f1_upper_m``, ``f1_lower_m``, ``f1_60_m``),
            ``worst`` (``distance_km``, ``ground_m``, ``ground_bulge_m``,
            ``clearance_m``, ``clearance_f1``, ``f1_m``), ``clear`` (60 % of
            F1), ``line_of_sight``, ``loss_db``, ``free_space_db``, ``mode``,
            ``itm_warnings``, ``eirp_dbm`` and ``rx_dbm`` (``EIRP - loss`` at
            a 0 dBi receiver; null without a tower end at its own
            frequency), ``radius_km`` (the session's), ``beyond_radius`` (a
            tower end farther than it: the audit does not count that
            tower), ``summary_lines``,
            ``version``.

        Raises
        ------
        RequestError
            A bad body or an end off the DEM (400), an unknown tower or
            village (404).
        """
        from deadzone.geo.link import best_tower_for, link_profile, summary_lines

        body = parse_body(raw_body, self.specs["link"])
        with self.lock:
            s = self.session
            scen = s.scenario_now()
            try:
                a = self._link_end(scen, "a", body["a"])
                b = self._link_end(scen, "b", body["b"]) if "b" in body else None
                best = b is None
                if b is None:
                    if a.kind != "village":
                        raise RequestError("without b, a must be a village (the profile then "
                                           "runs from its best server)")
                    b = a
                    a = best_tower_for(scen, b, params=s.params, thresholds=self._thresholds)
                freq = body.get("freq_mhz")
                if freq is None:
                    freq = next((e.freq_mhz for e in (a, b) if e.kind == "tower"),
                                DEFAULT_LINK_FREQ_MHZ)
                model = s.params.model
                if model == "itm" and freq > ITM_FREQ_MHZ[1]:  # ITM stops at 20 GHz
                    model = "p526"
                prof = link_profile(scen.dem, a, b, freq_mhz=float(freq), model=model,
                                    k_factor=s.params.k_factor, itm=s.params.itm)
            except RequestError:
                raise
            except DeadzoneError as exc:  # an end off the DEM, a model's frequency range
                raise RequestError(" ".join(str(exc).split())) from None
            version = self.version
        # a received level only at the tower's own frequency (as `deadzone link`)
        eirp = next((e.eirp_dbm for e in (a, b) if e.kind == "tower" and e.freq_mhz == freq),
                    None)
        out = profile_json(prof, eirp)
        lines = summary_lines(prof, eirp_dbm=eirp)
        radius_km = float(s.params.radius_km)
        beyond = any(e.kind == "tower" for e in (a, b)) and prof.distance_m > radius_km * 1000.0
        if beyond:
            lines.append(f"beyond the audit's {radius_km:g} km radius: not counted there")
        out.update({
            "version": version,
            "best_server": best,
            "radius_km": radius_km,
            "beyond_radius": beyond,
            "summary_lines": lines,
        })
        return out

    def _link_end(self, scen: Any, key: str, end: dict[str, Any]) -> Any:
        """A :class:`deadzone.geo.link.LinkEnd` from a checked END (lock held)."""
        from dataclasses import replace

        from deadzone.geo.link import point_end, resolve_end

        h = end.get("height_m")
        kind = end["kind"]
        if kind == "point":
            return point_end(scen.dem, end["lon"], end["lat"],
                             height_m=DEFAULT_POINT_HEIGHT_M if h is None else h)
        if kind == "tower_id":
            tid = end["tower_id"]
            if tid not in set(scen.towers["tower_id"].astype(str)):
                raise RequestError(f"{key}: no tower with tower_id {tid!r}", status=404)
            e = resolve_end(scen, tid)
        else:
            if kind == "village_id":
                vid = end["village_id"]
                if vid not in self._vindex:
                    raise RequestError(f"{key}: no village with village_id {vid!r}", status=404)
                i = self._vindex[vid]
            else:
                i = end["village"]
            vid = self._villages_static["village_id"][i]
            rx_h = self.session.params.rx_height_m
            towers = set(scen.towers["tower_id"].astype(str))
            if self._unique_ids and vid not in towers:
                e = resolve_end(scen, vid, village_height_m=rx_h)
            else:  # the id alone would not name this village: its own point
                lon, lat = self._villages_static["lon"][i], self._villages_static["lat"][i]
                if lon is None or lat is None:
                    raise RequestError(f"{key}: village {vid!r} has no location")
                name = self._villages_static["name"][i]
                p = point_end(scen.dem, lon, lat, height_m=rx_h)
                e = replace(p, kind="village", id=vid,
                            label=f"village {vid}" + (f" ({name})" if name else ""))
        return e if h is None else replace(e, height_m=float(h))

    # ------------------------------------------------------------- edits
    def apply(self, action: str, raw_body: bytes) -> dict[str, Any]:
        """Validate one edit request, apply it and return its delta as JSON data.

        Raises
        ------
        RequestError
            Unknown action (404), bad body (400) or unknown tower (404).
        """
        if action not in _ACTIONS:
            raise RequestError(f"no such action {action!r}", status=404)
        body = parse_body(raw_body, self.specs[action])
        with self.lock:
            t0 = time.perf_counter()
            s = self.session
            tid = body.pop("tower_id", None)
            if tid is not None and tid not in set(s.towers["tower_id"].astype(str)):
                raise RequestError(f"no tower with tower_id {tid!r}", status=404)
            for k in ("azimuth_deg", "beamwidth_deg"):
                if k in body and body[k] is None:
                    body[k] = math.nan
            try:
                if action == "add":
                    d = s.add(body.pop("lon"), body.pop("lat"), **body)
                elif action == "move":
                    d = s.move(tid, body["lon"], body["lat"])
                elif action == "edit":
                    d = s.edit(tid, **body)
                else:
                    d = s.remove(tid)
            except DeadzoneError as exc:
                raise RequestError(" ".join(str(exc).split())) from None
            if action == "add":
                tid = str(s.towers["tower_id"].iloc[-1])  # added towers come last
            self.version += 1
            elapsed = time.perf_counter() - t0
            self._last = self._delta_json(d, elapsed, tid)
            logger.info("%s in %.3f s", d.action, elapsed)
            self._follow(d.changed)
            return {
                "version": self.version,
                "delta": self._last,
                "towers": self._towers(),
                "villages": {"status": "".join(self._status)},
                "totals": {k: int(d.totals_after[k]) for k in TOTAL_COUNTS},
                "legend_html": self._legend(),
            }

    @staticmethod
    def _delta_json(d: Any, elapsed_s: float, tower_id: str) -> dict[str, Any]:
        def rows(frame: Any) -> list[dict[str, Any]]:
            return [
                {
                    "village_id": str(r.village_id),
                    "name": _text(r.name) or "",
                    "population": int(r.population),
                }
                for r in frame.itertuples()
            ]

        return {
            "action": d.action,
            "tower_id": tower_id,
            "elapsed_s": round(elapsed_s, 4),
            "villages_reaudited": int(d.villages_reaudited),
            "totals_before": {k: int(v) for k, v in d.totals_before.items()},
            "totals_after": {k: int(v) for k, v in d.totals_after.items()},
            "newly_covered": rows(d.newly_covered),
            "newly_lost": rows(d.newly_lost),
            "changed": [
                {"village_id": str(a), "status_before": str(b), "status_after": str(c)}
                for a, b, c in zip(
                    d.changed["village_id"],
                    d.changed["status_before"],
                    d.changed["status_after"],
                    strict=True,
                )
            ],
            "summary_lines": d.summary_lines(),
        }


# ------------------------------------------------------------------ HTTP layer


def _static_files() -> dict[str, tuple[bytes, str]]:
    out = {}
    for route, (pkg, name, ctype) in _STATIC.items():
        data = (resources.files(pkg) / name).read_bytes()
        if name.endswith("leaflet.js"):
            # The source map is not served; drop the comment that asks for it.
            data = b"\n".join(
                ln for ln in data.split(b"\n") if not ln.startswith(b"//# sourceMappingURL=")
            )
        out[route] = (data, ctype)
    return out


def _village_index(query: str) -> int:
    """``i=INDEX`` (and nothing else) from a query string."""
    key, eq, value = query.partition("=")
    if key != "i" or not eq or not value.isascii() or not value.isdigit() or len(value) > 9:
        raise RequestError("expected the query ?i=INDEX (a village's position, 0-based)")
    return int(value)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], app: WhatIfApp) -> None:
        self.app = app
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.static = _static_files()
        self.loopback = is_loopback(addr[0])
        super().__init__(addr, _Handler)
        port = self.server_address[1]
        bound = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        names = tuple(dict.fromkeys(("127.0.0.1", "localhost", "[::1]", bound)))
        self.allowed_hosts = {f"{h}:{port}" for h in names}
        if port == 80:
            self.allowed_hosts |= set(names)

    def process_request(self, request: Any, client_address: Any) -> None:
        """At most MAX_CONNECTIONS connections at once: one more is answered 503
        and closed at once, not given a thread (a flood cannot exhaust them)."""
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (closed, reset, timed out) is one log line,
        not a traceback; anything else keeps the traceback, in the log."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            logger.info("%s: connection ended (%s)", client_address[0], type(exc).__name__)
            return
        logger.exception("request from %s failed", client_address[0])

    def host_allowed(self, host: str) -> bool:
        """The Host header names this server: one of its loopback names, or
        (bound to another interface) any IP address literal, never a DNS name
        (a page whose name an attacker re-points at this server, "DNS
        rebinding", sends its own name)."""
        if host in self.allowed_hosts:
            return True
        if self.loopback:
            return False
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        try:
            ipaddress.ip_address(name.strip("[]"))
        except ValueError:
            return False
        return True

    @property
    def url(self) -> str:
        """``http://HOST:PORT/`` of the page."""
        host, port = self.server_address[:2]
        if ":" in str(host):
            host = f"[{host}]"
        return f"http://{host}:{port}/"


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "deadzone"
    sys_version = ""
    timeout = _SOCKET_TIMEOUT_S

    # -- plumbing
    def handle_one_request(self) -> None:
        """One request under :data:`REQUEST_DEADLINE_S`: a watchdog closes the
        connection if the request has not fully arrived by then (the socket
        timeout alone restarts with every byte of a trickle)."""
        self._watchdog = threading.Timer(REQUEST_DEADLINE_S, self._cut)
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            super().handle_one_request()
        finally:
            self._watchdog.cancel()

    def _received(self) -> None:
        """The request has fully arrived: handling it has no deadline."""
        self._watchdog.cancel()

    def _cut(self) -> None:
        logger.info("%s: request not received within %g s; connection closed",
                    self.client_address[0], REQUEST_DEADLINE_S)
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.info("%s %s", self.address_string(), format % args)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", {"Cache-Control": "no-store"})

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's errors (bad request line, URI too long, ...) as JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._error(code, message or phrase)

    def _guard(self) -> bool:
        """Host/Origin checks; False (and an answer sent) when refused."""
        srv = self.server
        host = self.headers.get("Host", "")
        if not srv.host_allowed(host):
            self.close_connection = True
            what = "this loopback server" if srv.loopback else "an address of this server"
            self._error(403, f"Host {host[:60]!r} is not {what}")
            return False
        origin = self.headers.get("Origin")
        if origin is not None and self.command != "GET":
            want = (
                {f"http://{h}" for h in srv.allowed_hosts} if srv.loopback else {f"http://{host}"}
            )
            if origin not in want:
                self.close_connection = True
                self._error(403, "cross-origin requests are refused")
                return False
        return True

    def _route(self) -> str | None:
        target = self.path
        if not target.startswith("/"):
            self._error(400, "request target must be an absolute path")
            return None
        return urlsplit(target).path

    # -- methods
    def do_GET(self) -> None:  # noqa: N802
        self._received()
        path = self._route()
        if path is None or not self._guard():
            return
        srv = self.server
        try:
            if path in srv.static:
                data, ctype = srv.static[path]
                self._send(200, data, ctype, {"Cache-Control": "no-cache"})
            elif path == "/api/state":
                self._json(200, srv.app.state())
            elif path == "/api/coverage.png":
                png, version = srv.app.coverage_png()
                self._send(
                    200,
                    png,
                    "image/png",
                    {"Cache-Control": "no-store", "X-Deadzone-Version": str(version)},
                )
            elif path == "/api/village":
                self._json(200, srv.app.village(_village_index(urlsplit(self.path).query)))
            elif path == "/api/towers.csv":
                self._send(
                    200,
                    srv.app.towers_csv(),
                    "text/csv; charset=utf-8",
                    {
                        "Cache-Control": "no-store",
                        "Content-Disposition": 'attachment; filename="towers.csv"',
                    },
                )
            else:
                self._error(404, "not found")
        except RequestError as exc:
            self._error(exc.status, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception:  # noqa: BLE001 - never a traceback to the client
            logger.exception("GET %s failed", path)
            self._error(500, "internal error; see the server log")

    def do_POST(self) -> None:  # noqa: N802
        path = self._route()
        if path is None:
            return
        # The body is read (within the size limit) before any refusal, so the
        # client always gets the answer rather than a reset connection.
        raw = self._read_body()
        self._received()
        if raw is None or not self._guard():
            return
        action = path.removeprefix("/api/") if path.startswith("/api/") else None
        if action not in _ACTIONS and action != "link":
            self._error(404, "not found")
            return
        try:
            app = self.server.app
            result = app.link(raw) if action == "link" else app.apply(action, raw)
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return
        except Exception:  # noqa: BLE001 - never a traceback to the client
            logger.exception("POST %s failed", path)
            self._error(500, "internal error; see the server log")
            return
        self._json(200, result)

    def _read_body(self) -> bytes | None:
        ctype = self.headers.get("Content-Type", "")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._error(411, "chunked bodies are not accepted; send Content-Length")
            return None
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            self._error(411, "Content-Length is required")
            return None
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            self._error(400, "Content-Length is not a non-negative integer")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            if length <= _DRAIN_LIMIT_BYTES:
                self._drain(length)
            self._error(413, f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}")
            return None
        raw = self.rfile.read(length)
        if len(raw) != length:
            self.close_connection = True
            self._error(400, "request body shorter than Content-Length")
            return None
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            self._error(415, "Content-Type must be application/json")
            return None
        return raw

    def _drain(self, length: int) -> None:
        left = length
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._error(405, "method not allowed")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_TRACE = _not_allowed  # noqa: N815


def make_server(
    app: WhatIfApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_bind: Callable[[str], None] | None = None,
) -> _Server:
    """Bind the app's HTTP server (port 0 picks a free port).

    Parameters
    ----------
    app : WhatIfApp
        The app to serve.
    host : str
        Interface to bind; loopback (127.0.0.1) by default.  Any other
        address exposes the session to the network.
    port : int
        TCP port, 0 for a free one (see the returned server's ``url``).
    on_bind : callable, optional
        Called with the page URL once bound.

    Returns
    -------
    ThreadingHTTPServer
        Call ``serve_forever()``; ``shutdown()`` from another thread stops it.
    """
    if not (0 <= port <= 65535):
        raise ParameterError(f"port was {port}; expected 0..65535")
    cls = _Server6 if ":" in host.strip("[]") else _Server
    try:
        srv = cls((host.strip("[]"), port), app)
    except OSError as exc:
        raise ParameterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    if on_bind is not None:
        on_bind(srv.url)
    return srv
