"""The what-if page's link profile in headless Chromium (issue 22 item 4): two
points clicked on the map, a village and a tower (redrawn when the tower is
dragged), a village's best tower from its popup.

Uses the suite's ``browser_page`` fixture (``tests/browser.py``): fails, never
skips, without chromium; every request but the local server's is blocked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deadzone.geo.link import resolve_end
from tests.browser import OfflinePage, distinct_colours
from tests.web.conftest import Served, lonlat
from tests.web.test_browser import _map_point, _wait_version

_PARTS = (".dz-terrain", ".dz-los", ".dz-f1", ".dz-rule", ".dz-worst")


def _link(page: Any) -> dict[str, Any]:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.deadzone.link))")


def _wait_link(page: Any, version: int) -> None:
    page.wait_for_selector(
        f'body[data-link-version="{version}"][data-link-busy="0"] #dz-profile-svg',
        timeout=20_000,
    )


def _click_village(page: Any, served: Served, i: int) -> None:
    v = served.app._villages_static
    page.mouse.click(*_map_point(page, v["lon"][i], v["lat"][i]))


def test_profile_of_two_points_a_tower_and_a_village(
    browser_page: OfflinePage, served: Served, tmp_path: Path
) -> None:
    bp = browser_page
    bp.allow(served.url)
    page = bp.page
    bp.goto(served.url)
    v0 = served.app.version
    _wait_version(page, v0)
    assert page.locator("#dz-profile").is_hidden()
    page.check("#dz-link-mode")
    assert not page.is_checked("#dz-add-mode")  # a click picks an end, adds no tower

    # 1. two points on the map (off the villages and towers)
    page.mouse.click(*_map_point(page, *lonlat(40.0, 40.0)))
    assert "point" in page.inner_text("#dz-link-a")
    page.mouse.click(*_map_point(page, *lonlat(5960.0, 5960.0)))
    _wait_link(page, v0)
    assert served.app.version == v0 and len(served.app.session.towers) == 2
    for part in _PARTS:
        assert page.locator(f"#dz-profile-svg {part}").count() == 1, part
    r = _link(page)
    assert (r["a"]["kind"], r["b"]["kind"]) == ("point", "point")
    assert r["freq_mhz"] == 8000 and r["a"]["height_m"] == 30
    assert r["distance_km"] == pytest.approx(5.92 * 2**0.5, abs=0.05)
    assert page.locator("path.dz-link-line").count() == 1  # the path on the map
    worst = "dz-worst-clear" if r["clear"] else "dz-worst-blocked"
    assert page.locator(f"#dz-profile-svg circle.{worst}").count() == 1
    summary = page.inner_text("#dz-profile-summary")
    assert "8000 MHz" in summary and "60% F1 rule" in summary
    assert "received" not in summary  # no tower end
    ticks = page.eval_on_selector_all("#dz-profile-svg text", "els => els.map(e => e.textContent)")
    assert f"distance from {r['a']['label']} (km)" in ticks
    assert "height above sea level (m)" in ticks
    page.screenshot(path=str(tmp_path / "link_points.png"))

    # 2. a village, then tower T1: the profile from the village at T1's 1800 MHz
    _click_village(page, served, 3)
    assert page.locator(".dz-popup").count() == 0  # link mode: no popup
    page.click(".dz-tower >> nth=1")
    _wait_link(page, v0)
    r = _link(page)
    assert (r["a"]["kind"], r["b"]["id"]) == ("village", "T1")
    assert r["freq_mhz"] == 1800 and r["rx_dbm"] == pytest.approx(61.0 - r["loss_db"], abs=0.02)
    assert "received" in page.inner_text("#dz-profile-summary")
    # another frequency redraws the same link; the tower's EIRP no longer applies
    page.fill("#dz-link-freq", "2600")
    page.press("#dz-link-freq", "Enter")
    page.wait_for_function("() => window.deadzone.link.freq_mhz === 2600")
    assert "received" not in page.inner_text("#dz-profile-summary")
    page.fill("#dz-link-freq", "")
    page.press("#dz-link-freq", "Enter")
    page.wait_for_function("() => window.deadzone.link.freq_mhz === 1800")
    assert page.locator(".dz-tower-end").count() == 1

    # 3. drag T1 120 px east: the profile is fetched again for where it stands now
    tower = served.app.session.towers.set_index("tower_id").loc["T1"]
    tx, ty = _map_point(page, float(tower.geometry.x), float(tower.geometry.y))
    page.mouse.move(tx, ty)
    page.mouse.down()
    for k in range(1, 13):
        page.mouse.move(tx + 10 * k, ty)
    page.mouse.up()
    _wait_version(page, v0 + 1)
    _wait_link(page, v0 + 1)
    moved = _link(page)
    now = served.app.session.towers.set_index("tower_id").loc["T1"]
    assert float(now.geometry.x) > float(tower.geometry.x)
    assert moved["b"]["lon"] == pytest.approx(float(now.geometry.x), abs=1e-6)
    assert moved["distance_km"] != r["distance_km"]
    scen = served.app.session.scenario_now()
    assert moved["samples"] == len(
        __import__("deadzone.geo.link", fromlist=["link_profile"]).link_profile(
            scen.dem, resolve_end(scen, served.app._villages_static["village_id"][3]),
            resolve_end(scen, "T1"), freq_mhz=1800.0, model="knife").ground_m)

    # 4. out of link mode, a village's popup: "Profile from its best tower"
    page.uncheck("#dz-link-mode")
    _click_village(page, served, 25)
    page.locator(".dz-popup .dz-why").click()
    page.wait_for_function("() => window.deadzone.link && window.deadzone.link.best_server")
    r = _link(page)
    assert r["b"]["kind"] == "village" and r["a"]["kind"] == "tower"
    assert page.inner_text("#dz-profile-title").startswith(f"best tower {r['a']['id']} \u2192 ")
    # V25 is 3.5 km from T0, beyond the test engine's 3 km: the audit does not count it
    assert r["beyond_radius"] and "beyond the audit's 3 km radius" in page.inner_text(
        "#dz-profile-summary")
    img = bp.screenshot(tmp_path / "link_best.png")
    assert distinct_colours(img[600:, :900]) > 20  # the panel is drawn, not blank

    # 5. closing the panel gives the map its height back
    page.click("#dz-profile-close")
    assert page.locator("#dz-profile").is_hidden()
    assert page.locator("path.dz-link-line").count() == 0
    bp.assert_clean()
    print(f"screenshots {tmp_path / 'link_points.png'}, {tmp_path / 'link_best.png'}")
