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
      "</table></div>";
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
      m.bindPopup("");
      m.on("popupopen", (function (k, mk) { return function () { openVillage(k, mk); }; })(i, m));
      m.on("popupclose", function () { openPopup = null; });
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
      m.on("click", function () { select(t.tower_id); });
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
    if (!$("dz-add-mode").checked) { return; }
    var v = formValues();  // the form's settings, also when a tower was selected
    if (selected) { select(null); }
    v.lon = round6(e.latlng.lng);
    v.lat = round6(e.latlng.lat);
    edit("add", v);
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
    get state() { return state; }
  };

  api("/api/state").then(start).catch(function (err) { message(err.message, true); });
})();
