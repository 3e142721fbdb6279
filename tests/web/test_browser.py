"""The what-if page in headless Chromium (Playwright): add, edit, drag and delete a tower.

Uses the suite's ``browser_page`` fixture (``tests/browser.py``): fails, never
skips, without chromium; every request but the local server's is blocked.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from deadzone.model.thresholds import STATUS_COLORS
from tests.browser import OfflinePage, distinct_colours
from tests.web.conftest import DEAD_CORNER_M, Served, lonlat


def _covered(page: Any) -> tuple[int, int]:
    a, b = page.inner_text("#dz-covered").replace(",", "").split("/")
    return int(a), int(b)


def _wait_version(page: Any, v: int) -> float:
    t0 = time.perf_counter()
    page.wait_for_selector(f'body[data-version="{v}"][data-busy="0"]', timeout=20_000)
    return time.perf_counter() - t0


def _map_point(page: Any, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a lon/lat on the map."""
    x, y = page.evaluate(
        "([lat, lon]) => { const p = window.deadzone.map.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator("#dz-map").bounding_box()
    return box["x"] + x, box["y"] + y


def test_page_add_edit_drag_delete_tower(
    browser_page: OfflinePage, served: Served, tmp_path: Path
) -> None:
    bp = browser_page
    bp.allow(served.url)
    page = bp.page
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    bp.goto(served.url)
    start = served.app.version
    _wait_version(page, start)
    covered0, total = _covered(page)
    assert total == 30
    assert page.locator(".dz-tower").count() == 2
    assert page.locator(".leaflet-image-layer").count() == 1
    assert page.locator(".leaflet-control-layers-overlays input").count() == 3
    legend = page.inner_text("#dz-legend")  # 2G + 4G towers: the audit's class per cell
    assert "Coverage class" in legend and "4G RSRP" in legend and "2G level" in legend
    # villages are drawn in the status colours the server sends (model.thresholds)
    fills = page.evaluate(
        "() => { const c = {}; window.deadzone.map.eachLayer(l => {"
        " if (l instanceof L.CircleMarker && !(l instanceof L.Circle)) c[l.options.fillColor] ="
        " (c[l.options.fillColor] || 0) + 1; }); return c; }"
    )
    statuses = served.app.session.result.villages["status"].value_counts()
    assert fills == {STATUS_COLORS[k]: int(n) for k, n in statuses.items()}

    # 1. click the map near the dead villages: a tower is added there
    x, y = _map_point(page, *lonlat(*DEAD_CORNER_M))
    t0 = time.perf_counter()
    page.mouse.click(x, y)
    _wait_version(page, start + 1)
    add_s = time.perf_counter() - t0
    covered1, _ = _covered(page)
    assert covered1 > covered0
    assert page.locator(".dz-tower").count() == 3
    assert page.inner_text("#dz-selected") == "NEW1"
    assert "add NEW1" in page.inner_text("#dz-last")
    outlined = page.evaluate(
        "() => { let n = 0; window.deadzone.map.eachLayer(l => {"
        " if (l.options && l.options.color === '#ffd600') n++; }); return n; }"
    )
    assert outlined == len(served.app._last["changed"]) > 0
    assert int(page.inner_text("#dz-gained").lstrip("+")) >= covered1 - covered0
    assert "coverage.png?v=" + str(start + 1) in page.get_attribute(".leaflet-image-layer", "src")
    # a village popup shows the server's current row for it
    gained = served.app._last["newly_covered"][0]
    k = served.app._villages_static["village_id"].index(gained["village_id"])
    vx, vy = _map_point(
        page, served.app._villages_static["lon"][k], served.app._villages_static["lat"][k]
    )
    page.mouse.click(vx, vy)
    popup = page.locator(".dz-popup")
    popup.get_by_text("best signal").wait_for(timeout=10_000)
    assert gained["name"] in popup.inner_text() and "covered" in popup.inner_text()
    assert " dBm" in popup.inner_text() and "NEW1" in popup.inner_text()
    shot = tmp_path / "whatif_added.png"
    page.screenshot(path=str(shot))

    # 2. the form: lower the new tower to 1 m and raise it back
    page.fill("#dz-height", "1")
    page.click("#dz-apply")
    _wait_version(page, start + 2)
    assert served.app.session.towers.set_index("tower_id").loc["NEW1", "height_m"] == 1.0
    covered_low, _ = _covered(page)
    assert covered_low <= covered1
    page.fill("#dz-height", "40")
    page.click("#dz-apply")
    _wait_version(page, start + 3)
    assert _covered(page)[0] == covered1

    # 3. drag the new tower 150 px west, then delete it
    tx, ty = _map_point(page, *lonlat(*DEAD_CORNER_M))
    before = served.app.session.towers.set_index("tower_id").loc["NEW1", "lon"]
    page.mouse.move(tx, ty)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(tx - 15 * k, ty)
    page.mouse.up()
    _wait_version(page, start + 4)
    after = served.app.session.towers.set_index("tower_id").loc["NEW1", "lon"]
    assert after < before
    assert "move NEW1" in page.inner_text("#dz-last")
    page.click("#dz-delete")
    _wait_version(page, start + 5)
    assert _covered(page)[0] == covered0
    assert page.locator(".dz-tower").count() == 2
    assert page.inner_text("#dz-selected") == "new"

    # 4. an out-of-range value is refused by the server and shown, nothing changes
    page.click(".dz-tower >> nth=0")
    page.evaluate("document.getElementById('dz-height').removeAttribute('max')")
    page.fill("#dz-height", "5000")
    page.click("#dz-apply")
    page.wait_for_selector("#dz-message.dz-error", timeout=10_000)
    assert "height_m was 5000" in page.inner_text("#dz-message")
    assert served.app.version == start + 5
    # the refused edit is the only console error (the browser logs the 400)
    assert all("400 (Bad Request)" in e for e in bp.console_errors), bp.console_errors
    bp.console_errors.clear()
    bp.assert_clean()  # no other console error; nothing but the local server asked
    assert not failed, failed
    img = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert img.shape[:2] == (900, 1200)
    # not blank: the map shows coverage colours and village markers
    assert distinct_colours(img) > 50
    print(f"browser add (click -> count and image updated): {add_s:.2f} s; screenshot {shot}")
