/* deadzone what-if page: Leaflet map + a small JSON API (see deadzone/web/app.py). */
(function () {
  "use strict";

  var COLORS = {};  // status -> colour, from /api/state (model.thresholds.STATUS_COLORS)
  var CODES = { c: "covered", m: "marginal", d: "dead", u: "unknown" };
  var state = null;        // last GET /api/state, kept up to date by edits
  var map = null;
  var overlay = null;
  var villageLayer = null;
  var towerLayer = null;
  var villageMarkers = [];
  var towerMarkers = {};   // tower_id -> L.Marker
  var selected = null;     // selected tower_id or null (= new tower)
  var busy = false;

  function $(id) { return document.getElementById(id); }

  function esc(value) {
    return String(value === null || value === undefined ? "\u2014" : value).replace(
      /[&<>"']/g,
      function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }
    );
  }

  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  function message(text, isError) {
    var el = $("dz-message");
    el.textContent = text || "";
    el.className = isError ? "dz-error" : "";
  }

  function setBusy(flag) {
    busy = flag;
    document.body.dataset.busy = flag ? "1" : "0";
  }

  function api(path, body) {
    var opts = { method: "GET", headers: {}, cache: "no-store" };
    if (body !== undefined) {
      opts.method = "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error || ("HTTP " + r.status)); }
        return data;
      });
    });
  }

  // ------------------------------------------------------------- summary
  function renderTotals(totals, lines) {
    $("dz-covered").textContent = fmt(totals.villages_covered) + "/" + fmt(totals.villages_total);
    var pct = totals.population_total ? (100 * totals.population_covered / totals.population_total) : 0;
    $("dz-population").textContent = fmt(totals.population_covered) + "/" +
      fmt(totals.population_total) + " (" + pct.toFixed(1) + "%)";
    $("dz-other").textContent = fmt(totals.villages_marginal) + " / " + fmt(totals.villages_dead) +
      " / " + fmt(totals.villages_unknown);
    $("dz-summary").title = (lines || []).join("\n");
  }

  function renderLast(delta) {
    var el = $("dz-last");
    if (!delta) { el.textContent = ""; return; }
    var b = delta.totals_before, a = delta.totals_after;
    var gained = delta.newly_covered.length, lost = delta.newly_lost.length;
    var names = delta.newly_covered.slice(0, 5).map(function (v) { return esc(v.name); }).join(", ");
    el.innerHTML =
      "<b>" + esc(delta.action) + "</b> (" + delta.elapsed_s.toFixed(2) + " s)<br>" +
      "covered villages: " + fmt(b.villages_covered) + " \u2192 " + fmt(a.villages_covered) + "<br>" +
      "<span id=\"dz-gained\">+" + gained + "</span> newly covered" +
      (names ? " (" + names + (gained > 5 ? ", \u2026" : "") + ")" : "") +
      ", <span id=\"dz-lost\">\u2212" + lost + "</span> newly lost";
  }

  // ------------------------------------------------------------- villages
  // Popup of village i: what the page knows now, then the server's current row.
  function villagePopup(i, detail) {
    var v = state.villages;
    var st = CODES[v.status.charAt(i)];
    var rx = detail ? detail.best_rx_dbm : undefined;
    var more = detail ?
      "<tr><th>reason</th><td>" + esc(detail.reason) + "</td></tr>" +
      "<tr><th>best signal</th><td>" + (rx === null ? "\u2014" : esc(rx.toFixed(1) + " dBm")) + "</td></tr>" +
      "<tr><th>serving tower</th><td>" + esc(detail.serving_tower_id) + "</td></tr>" +
      "<tr><th>nearest tower</th><td>" + (detail.distance_to_nearest_tower_m === null ? "\u2014" :
        esc((detail.distance_to_nearest_tower_m / 1000).toFixed(1) + " km")) + "</td></tr>"
      : "<tr><td colspan=\"2\">\u2026</td></tr>";
    return "<div class=\"dz-popup\"><b>" + esc(v.name[i]) + "</b><table>" +
      "<tr><th>id</th><td>" + esc(v.village_id[i]) + "</td></tr>" +
      "<tr><th>commune</th><td>" + esc(v.commune[i]) + "</td></tr>" +
      "<tr><th>population</th><td>" + esc(fmt(v.population[i])) + "</td></tr>" +
      "<tr><th>status</th><td class=\"dz-status\">" + esc(st) + "</td></tr>" + more +
      "</table><button type=\"button\" class=\"dz-why\" data-village=\"" + i + "\">" +
      "Profile from its best tower</button></div>";
  }

  var openPopup = null;    // [index, marker] of the open village popup

  function openVillage(i, marker) {
    openPopup = [i, marker];
    marker.setPopupContent(villagePopup(i, null));
    api("/api/village?i=" + i).then(function (d) {
      if (marker.isPopupOpen()) { marker.setPopupContent(villagePopup(i, d)); }
    }).catch(function (err) { message(err.message, true); });
  }

  function drawVillages() {
    var v = state.villages;
    villageLayer.clearLayers();
    villageMarkers = [];
    var renderer = L.canvas({ padding: 0.5 });
    for (var i = 0; i < v.village_id.length; i++) {
      if (v.lat[i] === null || v.lon[i] === null) { villageMarkers.push(null); continue; }
      var st = CODES[v.status.charAt(i)];
      var m = L.circleMarker([v.lat[i], v.lon[i]], {
        renderer: renderer, radius: 5, weight: 1, color: "#222", fillOpacity: 0.9,
        fillColor: COLORS[st], bubblingMouseEvents: false
      });
      if (!linkMode()) { m.bindPopup(""); }
      m.on("popupopen", (function (k, mk) { return function () { openVillage(k, mk); }; })(i, m));
      m.on("popupclose", function () { openPopup = null; });
      m.on("click", (function (k, mk) {
        return function () {
          if (!linkMode()) { return; }
          pickEnd({ village: k }, "village " + v.village_id[k] + (v.name[k] ? " (" + v.name[k] + ")" : ""));
        };
      })(i, m));
      m.addTo(villageLayer);
      villageMarkers.push(m);
    }
  }

  var lastChanged = [];    // villages outlined as changed by the last edit

  function updateVillages(dyn) {
    var old = state.villages.status;
    state.villages.status = dyn.status;
    lastChanged.forEach(function (i) {
      if (villageMarkers[i]) {
        villageMarkers[i].setStyle({ weight: 1, color: "#222" });
        villageMarkers[i].setRadius(5);
      }
    });
    lastChanged = [];
    for (var i = 0; i < dyn.status.length; i++) {
      if (dyn.status.charAt(i) !== old.charAt(i) && villageMarkers[i]) {
        villageMarkers[i].setStyle({
          fillColor: COLORS[CODES[dyn.status.charAt(i)]], weight: 3, color: "#ffd600"
        });
        villageMarkers[i].setRadius(7);
        villageMarkers[i].bringToFront();
        lastChanged.push(i);
      }
    }
  }

  // ------------------------------------------------------------- towers
  function towerIcon(t) {
    var cls = "dz-tower" + (t.tower_id === selected ? " dz-tower-selected" : "") +
      (linkTowers().indexOf(t.tower_id) >= 0 ? " dz-tower-end" : "") +
      (/^NEW\d+$/.test(t.tower_id) ? " dz-tower-new" : "");
    return L.divIcon({ className: cls, iconSize: [14, 14] });
  }

  function towerById(id) {
    for (var i = 0; i < state.towers.length; i++) {
      if (state.towers[i].tower_id === id) { return state.towers[i]; }
    }
    return null;
  }

  function drawTowers() {
    towerLayer.clearLayers();
    towerMarkers = {};
    state.towers.forEach(function (t) {
      if (t.lat === null || t.lon === null) { return; }
      var m = L.marker([t.lat, t.lon], {
        icon: towerIcon(t), draggable: true, keyboard: false,
        title: t.tower_id + " (" + t.tech + ", " + t.freq_mhz + " MHz, " + t.height_m + " m)"
      });
      m.on("click", function () {
        if (linkMode()) { pickEnd({ tower_id: t.tower_id }, "tower " + t.tower_id); return; }
        select(t.tower_id);
      });
      m.on("dragend", function () {
        var p = m.getLatLng();
        edit("move", { tower_id: t.tower_id, lon: round6(p.lng), lat: round6(p.lat) });
      });
      m.addTo(towerLayer);
      towerMarkers[t.tower_id] = m;
    });
  }

  function round6(x) { return Math.round(x * 1e6) / 1e6; }

  // ------------------------------------------------------------- form
  function select(id) {
    selected = id && towerById(id) ? id : null;
    var t = selected ? towerById(selected) : null;
    $("dz-selected").textContent = t ? t.tower_id : "new";
    $("dz-apply").disabled = !t;
    $("dz-delete").disabled = !t;
    if (t) {
      $("dz-tech").value = t.tech;
      $("dz-freq").value = t.freq_mhz;
      $("dz-eirp").value = t.eirp_dbm;
      $("dz-height").value = t.height_m;
    }
    drawTowers();
  }

  function techDefaults() {
    var d = state.defaults[$("dz-tech").value];
    if (!selected && d) {
      $("dz-freq").value = d.freq_mhz;
      $("dz-eirp").value = d.eirp_dbm;
    }
  }

  function formValues() {
    return {
      tech: $("dz-tech").value,
      freq_mhz: Number($("dz-freq").value),
      eirp_dbm: Number($("dz-eirp").value),
      height_m: Number($("dz-height").value)
    };
  }

  // ------------------------------------------------------------- edits
  function edit(action, body) {
    if (busy) { message("busy: wait for the last edit", true); drawTowers(); return; }
    setBusy(true);
    message(action + "\u2026");
    var t0 = performance.now();
    api("/api/" + action, body).then(function (res) {
      state.towers = res.towers;
      state.totals = res.totals;
      state.version = res.version;
      if (res.legend_html) { $("dz-legend").innerHTML = res.legend_html; }  // technologies may change
      updateVillages(res.villages);
      renderTotals(res.totals, res.delta.summary_lines);
      if (openPopup) { openVillage(openPopup[0], openPopup[1]); }  // refresh its signal
      renderLast(res.delta);
      refreshLink(res.delta.tower_id);
      if (action === "add") { selected = res.delta.tower_id; }
      if (action === "remove") { selected = null; }
      select(selected);
      onOverlay(function (ok) {
        var ms = performance.now() - t0;
        document.body.dataset.version = String(res.version);
        document.body.dataset.lastEditMs = ms.toFixed(0);
        message(res.delta.action + ": updated in " + (ms / 1000).toFixed(2) + " s" +
          (ok ? "" : " (coverage image failed to load)"), !ok);
        setBusy(false);
      });
      overlay.setUrl("/api/coverage.png?v=" + res.version);
    }).catch(function (err) {
      message(err.message, true);
      drawTowers();  // a refused drag goes back to where the tower is
      setBusy(false);
    });
  }

  // Call done(true) when the coverage image has loaded, done(false) if it failed.
  function onOverlay(done) {
    function ok() { overlay.off("error", bad); done(true); }
    function bad() { overlay.off("load", ok); done(false); }
    overlay.once("load", ok);
    overlay.once("error", bad);
  }

  function onMapClick(e) {
    if (linkMode()) {
      var lon = round6(e.latlng.lng), lat = round6(e.latlng.lat);
      var end = { lon: lon, lat: lat };
      var h = Number($("dz-link-height").value);
      if ($("dz-link-height").value !== "" && isFinite(h)) { end.height_m = h; }
      pickEnd(end, "point " + lat.toFixed(5) + ", " + lon.toFixed(5) +
        (end.height_m !== undefined ? " (" + end.height_m + " m)" : ""));
      return;
    }
    if (!$("dz-add-mode").checked) { return; }
    var v = formValues();  // the form's settings, also when a tower was selected
    if (selected) { select(null); }
    v.lon = round6(e.latlng.lng);
    v.lat = round6(e.latlng.lat);
    edit("add", v);
  }


  // ------------------------------------------------------------- link profile
  // Two ends picked on the map (tower, village or point) -> POST /api/link ->
  // an inline SVG of the terrain, line of sight, first Fresnel zone and 60 %
  // line with the worst point, drawn here (no chart library: the page is offline).
  var linkEnds = [];       // [{body, label}] picked so far (0..2)
  var linkBody = null;     // body of the profile shown (refetched after tower edits)
  var linkData = null;     // last /api/link answer
  var linkSeq = 0;         // answers to older requests are dropped
  var linkLayer = null;    // the path on the map: a line A -> B and its two ends
  // The SVG namespace, as the HTML parser gives it (the page's scripts hold no URL).
  var SVGNS = (function () {
    var d = document.createElement("div");
    d.innerHTML = "<svg></svg>";
    return d.firstChild.namespaceURI;
  })();
  var PCOL = { terrain: "#b08d57", edge: "#6b5432", los: "#1f4e9c", f1: "#8fb8e8",
               rule: "#e07b00", bad: "#c62828", good: "#2e7d32" };

  function linkMode() { return $("dz-link-mode").checked; }

  function linkTowers() {
    var ids = [];
    linkEnds.forEach(function (e) { if (e.body.tower_id) { ids.push(e.body.tower_id); } });
    if (linkData) {
      [linkData.a, linkData.b].forEach(function (e) { if (e.kind === "tower") { ids.push(e.id); } });
    }
    return ids;
  }

  function showEnds() {
    $("dz-link-a").textContent = linkEnds[0] ? linkEnds[0].label : "\u2013";
    $("dz-link-b").textContent = linkEnds[1] ? linkEnds[1].label : "\u2013";
    $("dz-link-best").disabled = !(linkEnds.length === 1 && linkEnds[0].body.village !== undefined);
  }

  function pickEnd(body, label) {
    if (linkEnds.length >= 2) { linkEnds = []; }
    linkEnds.push({ body: body, label: label });
    showEnds();
    if (linkEnds.length === 2) {
      requestLink({ a: linkEnds[0].body, b: linkEnds[1].body });
    } else {
      message("link: now pick end B (or \u201cFrom A's best tower\u201d for a village)");
      drawTowers();
    }
  }

  function requestLink(body) {
    var f = $("dz-link-freq").value;
    delete body.freq_mhz;
    if (f !== "" && isFinite(Number(f))) { body.freq_mhz = Number(f); }
    linkBody = body;
    fetchLink();
  }

  function fetchLink() {
    if (!linkBody) { return; }
    var seq = ++linkSeq;
    document.body.dataset.linkBusy = "1";
    api("/api/link", linkBody).then(function (r) {
      if (seq !== linkSeq) { return; }
      linkData = r;
      drawProfile(r);
      drawLinkPath(r);
      document.body.dataset.linkVersion = String(r.version);
      document.body.dataset.linkBusy = "0";
      drawTowers();
    }).catch(function (err) {
      if (seq !== linkSeq) { return; }
      document.body.dataset.linkBusy = "0";
      message("link: " + err.message, true);
      if (linkData) { $("dz-profile-summary").textContent = "not updated: " + err.message; }
    });
  }

  // After an edit of tower_id: refetch when the profile shown depends on it
  // (one of its ends, or a village's best server, which any edit may change).
  function refreshLink(towerId) {
    if (!linkBody || $("dz-profile").hidden) { return; }
    var ends = [linkBody.a, linkBody.b];
    var uses = !linkBody.b || ends.some(function (e) { return e && e.tower_id === towerId; });
    if (uses) { fetchLink(); }
  }

  function drawLinkPath(r) {
    if (!linkLayer) {
      // its own pane, above the villages, that never takes a click (they reach the villages)
      var pane = map.createPane("dzLink");
      pane.style.zIndex = 450;
      pane.style.pointerEvents = "none";
      linkLayer = L.layerGroup().addTo(map);
      linkLayer.renderer = L.svg({ pane: "dzLink" });
    }
    linkLayer.clearLayers();
    var opts = { pane: "dzLink", renderer: linkLayer.renderer, interactive: false };
    var col = r.clear ? PCOL.good : PCOL.bad;
    var a = [r.a.lat, r.a.lon], b = [r.b.lat, r.b.lon];
    L.polyline([a, b], L.extend({ color: "#000", weight: 6, opacity: 0.5 }, opts)).addTo(linkLayer);
    L.polyline([a, b], L.extend({ color: col, weight: 3, dashArray: "8 5",
      className: "dz-link-line" }, opts)).addTo(linkLayer);
    [[a, "A"], [b, "B"]].forEach(function (e) {
      L.circleMarker(e[0], L.extend({ radius: 4, color: "#000", weight: 2, fillColor: "#fff",
        fillOpacity: 1 }, opts)).bindTooltip(e[1], { permanent: true, direction: "top",
        className: "dz-link-tip" }).addTo(linkLayer);
    });
  }

  function closeProfile() {
    if (linkLayer) { linkLayer.clearLayers(); }
    $("dz-profile").hidden = true;
    document.body.classList.remove("dz-profile-open");
    linkBody = null;
    linkData = null;
    linkSeq++;
    if (map) { map.invalidateSize(); drawTowers(); }
  }

  function svg(tag, attrs, parent) {
    var el = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function svgText(parent, x, y, text, attrs) {
    var a = attrs || {};
    a.x = x; a.y = y;
    var t = svg("text", a, parent);
    t.textContent = text;
    return t;
  }

  // Round ticks (1, 2, 5 x 10^k) covering [lo, hi], about n of them.
  function ticks(lo, hi, n) {
    var span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    var raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 5, 10].map(function (m) { return m * mag; })
      .filter(function (s) { return s >= raw; })[0];
    var out = [];
    for (var v = Math.ceil(lo / step) * step; v <= hi + 1e-9 * span; v += step) {
      out.push(Math.round(v / step) * step);
    }
    return out;
  }

  function drawProfile(r) {
    var box = $("dz-profile");
    var first = box.hidden;
    box.hidden = false;
    document.body.classList.add("dz-profile-open");
    if (first) { map.invalidateSize(); }
    var p = r.profile, w = r.worst;
    var blocked = !r.clear;
    $("dz-profile-title").textContent = (r.best_server ? "best " : "") + r.a.label + " \u2192 " +
      r.b.label + ": " + r.distance_km.toFixed(2) + " km, " +
      r.freq_mhz + " MHz";

    var host = $("dz-profile-chart");
    host.textContent = "";
    var W = Math.max(320, host.clientWidth), H = Math.max(200, host.clientHeight || 268);
    var m = { l: 54, r: 14, t: 38, b: 36 };
    var root = svg("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H,
      role: "img", "aria-label": "terrain profile", id: "dz-profile-svg" }, host);
    var x0 = 0, x1 = r.distance_km;
    var lo = Infinity, hi = -Infinity;
    for (var i = 0; i < p.distance_km.length; i++) {
      lo = Math.min(lo, p.ground_bulge_m[i], p.f1_lower_m[i]);
      hi = Math.max(hi, p.ground_bulge_m[i], p.f1_upper_m[i], p.los_m[i]);
    }
    var pad = Math.max(0.08 * (hi - lo), 5);
    lo -= pad; hi += pad;
    function X(d) { return m.l + (d - x0) / ((x1 - x0) || 1) * (W - m.l - m.r); }
    function Y(z) { return H - m.b - (z - lo) / (hi - lo) * (H - m.t - m.b); }
    function line(ys) {
      return p.distance_km.map(function (d, k) { return X(d).toFixed(1) + "," + Y(ys[k]).toFixed(1); }).join(" ");
    }
    // grid and axes
    var grid = svg("g", { stroke: "#e2e2e2", "stroke-width": 1 }, root);
    var labels = svg("g", { fill: "#333" }, root);
    ticks(x0, x1, 8).forEach(function (d) {
      svg("line", { x1: X(d), x2: X(d), y1: m.t, y2: H - m.b }, grid);
      svgText(labels, X(d), H - m.b + 13, String(+d.toFixed(3)), { "text-anchor": "middle" });
    });
    ticks(lo, hi, 5).forEach(function (z) {
      svg("line", { x1: m.l, x2: W - m.r, y1: Y(z), y2: Y(z) }, grid);
      svgText(labels, m.l - 4, Y(z) + 3, String(+z.toFixed(1)), { "text-anchor": "end" });
    });
    svgText(labels, (m.l + W - m.r) / 2, H - 4, "distance from " + r.a.label + " (km)",
      { "text-anchor": "middle" });
    svgText(labels, 11, (m.t + H - m.b) / 2, "height above sea level (m)",
      { "text-anchor": "middle", transform: "rotate(-90 11 " + (m.t + H - m.b) / 2 + ")" });
    // first Fresnel zone, terrain with the earth bulge, 60 % line, line of sight
    var upper = line(p.f1_upper_m);
    var lower = p.distance_km.map(function (d, k) { return X(d).toFixed(1) + "," + Y(p.f1_lower_m[k]).toFixed(1); })
      .reverse().join(" ");
    svg("polygon", { points: upper + " " + lower, fill: PCOL.f1, "fill-opacity": 0.45,
      stroke: "none", "class": "dz-f1" }, root);
    svg("polygon", { points: X(x0) + "," + Y(lo) + " " + line(p.ground_bulge_m) + " " + X(x1) + "," + Y(lo),
      fill: PCOL.terrain, "fill-opacity": 0.9, stroke: PCOL.edge, "stroke-width": 1,
      "class": "dz-terrain" }, root);
    svg("polyline", { points: line(p.f1_60_m), fill: "none", stroke: PCOL.rule,
      "stroke-width": 1.3, "stroke-dasharray": "6 4", "class": "dz-rule" }, root);
    svg("polyline", { points: line(p.los_m), fill: "none", stroke: PCOL.los,
      "stroke-width": 1.8, "class": "dz-los" }, root);
    // masts
    var n = p.distance_km.length - 1;
    [[0, r.a], [n, r.b]].forEach(function (e) {
      var k = e[0];
      svg("line", { x1: X(p.distance_km[k]), x2: X(p.distance_km[k]), y1: Y(p.ground_m[k]),
        y2: Y(p.los_m[k]), stroke: "#000", "stroke-width": 3 }, root);
    });
    svgText(root, X(x0) + 2, m.t - 6, "A: " + r.a.label + ", " + r.a.height_m + " m",
      { "text-anchor": "start", fill: "#000" });
    svgText(root, X(x1) - 2, m.t - 6, "B: " + r.b.label + ", " + r.b.height_m + " m",
      { "text-anchor": "end", fill: "#000" });
    // the worst point: red when it breaks the 60 % rule, green when clear
    if (w.distance_km !== null && w.ground_bulge_m !== null) {
      var col = blocked ? PCOL.bad : PCOL.good;
      var wx = X(w.distance_km), wy = Y(w.ground_bulge_m);
      svg("line", { x1: wx, x2: wx, y1: wy, y2: Y(w.ground_bulge_m + w.clearance_m),
        stroke: col, "stroke-width": 1.5 }, root);
      svg("circle", { cx: wx, cy: wy, r: 5, fill: "none", stroke: col, "stroke-width": 2.5,
        "class": "dz-worst " + (blocked ? "dz-worst-blocked" : "dz-worst-clear") }, root);
      var right = wx < (m.l + W - m.r) / 2;
      var verdict = r.clear ? "clear" : (w.clearance_m < 0 ? "blocks the line of sight" : "inside 60% of F1");
      var tg = svg("g", { fill: col, "font-weight": 600, "class": "dz-halo" }, root);
      var tx = wx + (right ? 9 : -9), anchor = right ? "start" : "end";
      var ty = wy - 24 > m.t + 30 ? wy - 24 : Math.min(wy + 16, H - m.b - 18);
      svgText(tg, tx, ty, verdict, { "text-anchor": anchor });
      svgText(tg, tx, ty + 13, (w.clearance_m >= 0 ? "+" : "") + w.clearance_m.toFixed(1) + " m = " +
        (w.clearance_f1 >= 0 ? "+" : "") + w.clearance_f1.toFixed(2) + " F1", { "text-anchor": anchor });
    }
    // legend
    var lg = svg("g", {}, root), lx = m.l, ly = 3;
    [["terrain + earth bulge", PCOL.terrain, "box"], ["first Fresnel zone", PCOL.f1, "box"],
     ["line of sight", PCOL.los, "line"], ["60% of F1", PCOL.rule, "dash"]].forEach(function (it) {
      if (it[2] === "box") {
        svg("rect", { x: lx, y: ly, width: 12, height: 9, fill: it[1], stroke: "#777", "stroke-width": 0.5 }, lg);
      } else {
        svg("line", { x1: lx, x2: lx + 12, y1: ly + 5, y2: ly + 5, stroke: it[1], "stroke-width": 2,
          "stroke-dasharray": it[2] === "dash" ? "4 2" : "none" }, lg);
      }
      var t = svgText(lg, lx + 15, ly + 8, it[0], { fill: "#222" });
      lx += 15 + t.getComputedTextLength() + 12;
    });
    // text summary: the same lines as `deadzone link`
    var sum = $("dz-profile-summary");
    sum.textContent = "";
    var head = document.createElement("span");
    head.className = r.clear ? "dz-good" : "dz-bad";
    head.textContent = (r.clear ? "CLEAR: 60% of F1 free" : (r.line_of_sight ?
      "OBSTRUCTED: inside 60% of F1" : "BLOCKED: no line of sight")) + "\n";
    sum.appendChild(head);
    sum.appendChild(document.createTextNode(r.summary_lines.join("\n") +
      (r.itm_warnings.length ? "\nITM: " + r.itm_warnings.join(", ") : "") +
      "\nprofile " + r.samples + " samples at " + r.step_m.toFixed(1) + " m" +
      (r.samples > p.distance_km.length ? " (" + p.distance_km.length + " drawn)" : "")));
    message("link: " + r.a.label + " \u2192 " + r.b.label + ": " + (r.clear ? "clear" : "obstructed") +
      ", " + r.loss_db.toFixed(1) + " dB");
  }

  function setupLink() {
    // link mode: a click on a village picks it as an end instead of opening its popup
    function villagePopups() {
      map.closePopup();
      villageMarkers.forEach(function (mk) {
        if (!mk) { return; }
        if (linkMode()) { mk.unbindPopup(); } else if (!mk.getPopup()) { mk.bindPopup(""); }
      });
    }
    $("dz-link-mode").addEventListener("change", function () {
      if (linkMode()) {
        $("dz-add-mode").checked = false;
        message("link: pick end A: a tower, a village or a point on the map");
      }
      villagePopups();
    });
    $("dz-add-mode").addEventListener("change", function () {
      if ($("dz-add-mode").checked && linkMode()) {
        $("dz-link-mode").checked = false;
        villagePopups();
      }
    });
    $("dz-link-best").addEventListener("click", function () {
      if (linkEnds.length === 1 && linkEnds[0].body.village !== undefined) {
        requestLink({ a: linkEnds[0].body });
      }
    });
    $("dz-link-clear").addEventListener("click", function () {
      linkEnds = [];
      showEnds();
      closeProfile();
    });
    $("dz-profile-close").addEventListener("click", closeProfile);
    $("dz-link-freq").addEventListener("change", function () {
      if (linkBody) { requestLink(linkBody); }  // the profile shown, at the new frequency
    });
    // the village popup's button (delegated: popups are rebuilt)
    document.addEventListener("click", function (e) {
      var b = e.target.closest ? e.target.closest(".dz-why") : null;
      if (!b) { return; }
      var i = Number(b.dataset.village);
      var v = state.villages;
      linkEnds = [{ body: { village: i }, label: "village " + v.village_id[i] +
        (v.name[i] ? " (" + v.name[i] + ")" : "") }];
      showEnds();
      map.closePopup();
      requestLink({ a: { village: i } });
    });
    window.addEventListener("resize", function () { if (linkData) { drawProfile(linkData); } });
  }

  // ------------------------------------------------------------- start
  function start(s) {
    state = s;
    COLORS = s.status_colors;
    document.title = s.title;
    $("dz-title").textContent = s.title + " (" + s.model + ")";
    $("dz-legend").innerHTML = s.legend_html;
    var lim = s.limits;
    [["dz-height", lim.height_m], ["dz-eirp", lim.eirp_dbm], ["dz-freq", lim.freq_mhz]].forEach(
      function (p) { $(p[0]).min = p[1][0]; $(p[0]).max = p[1][1]; }
    );
    map = L.map("dz-map", { preferCanvas: true, zoomControl: true });
    map.fitBounds(s.bounds, { padding: [10, 10] });
    overlay = L.imageOverlay("/api/coverage.png?v=" + s.version, s.overlay_bounds, {
      opacity: 0.7, interactive: false
    }).addTo(map);
    villageLayer = L.layerGroup().addTo(map);
    towerLayer = L.layerGroup().addTo(map);
    L.control.layers(null, { "coverage (best dBm)": overlay, "villages": villageLayer, "towers": towerLayer },
      { collapsed: false }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    drawVillages();
    drawTowers();
    renderTotals(s.totals, s.summary_lines);
    renderLast(s.last);
    techDefaults();
    map.on("click", onMapClick);
    setupLink();
    $("dz-link-freq").min = s.limits.link_freq_mhz[0];
    $("dz-link-freq").max = s.limits.link_freq_mhz[1];
    $("dz-link-height").value = s.link_defaults.point_height_m;
    $("dz-tech").addEventListener("change", techDefaults);
    $("dz-new").addEventListener("click", function () { select(null); techDefaults(); });
    $("dz-delete").addEventListener("click", function () {
      if (selected) { edit("remove", { tower_id: selected }); }
    });
    $("dz-form").addEventListener("submit", function (e) {
      e.preventDefault();
      if (!selected) { message("click the map to place a new tower", false); return; }
      var body = formValues();
      body.tower_id = selected;
      edit("edit", body);
    });
    onOverlay(function (ok) {
      document.body.dataset.version = String(s.version);
      message(ok ? "ready: click the map to add a tower" : "coverage image failed to load", !ok);
    });
  }

  // For scripts and browser tests: the Leaflet map and the page state.
  window.deadzone = {
    get map() { return map; },
    get state() { return state; },
    get link() { return linkData; }
  };

  api("/api/state").then(start).catch(function (err) { message(err.message, true); });
})();
