"""``deadzone map``: one offline map of the demo audit + proposed sites + fiber phases.

The audit folder is the demo province (800 villages, 40 towers, 2000 x 2000
cells at 30 m) computed with Hata (fast); the fiber folder is a real
``deadzone fiber --demo`` run; the placement folder is a ``sites.csv`` in the
format ``deadzone place`` writes.  The map is opened in headless chromium
with the network blocked.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from tests.browser import (
    distinct_colours,
    leaflet_map_name,
    overlay_checkbox,
    overlays,
    wait_for_images,
)
from tests.conftest import demo_villages_only

MAX_MB = 20.0


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from deadzone.geo.audit import audit
    from deadzone.geo.export import write_audit

    root = tmp_path_factory.mktemp("map")
    scen = demo_villages_only(0)
    res = audit(scen, model="hata-open", radius_km=10.0)
    write_audit(res, root / "audit")
    towers = root / "towers.csv"
    t = pd.DataFrame(scen.towers.drop(columns="geometry"))
    t["lon"], t["lat"] = scen.towers.geometry.x, scen.towers.geometry.y
    t.to_csv(towers, index=False)

    fiber = root / "fiber"
    run = CliRunner().invoke(
        cli,
        [
            "fiber",
            "--demo",
            "--budget-km-per-year",
            "40",
            "--years",
            "3",
            "--improve-s",
            "1",
            "--bound-s",
            "1",
            "--out",
            str(fiber),
            "-q",
        ],
    )
    assert run.exit_code == 0, run.output

    place = root / "place"
    place.mkdir()
    dead = res.villages[res.villages["status"] == "dead"].head(3)
    pd.DataFrame(
        {
            "candidate_id": [f"C{i}" for i in range(len(dead))],
            "lon": dead.geometry.x.round(6) + 0.002,
            "lat": dead.geometry.y.round(6),
            "source": "near_dead",
            "tech": "4G",
            "height_m": 30.0,
            "total_vnd": [1.25e9, 1.5e9, 2.0e9],
            "villages_covered": [7, 5, 3],
            "new_villages": [7, 4, 2],
            "population_covered": [2100, 1300, 640],
            "households_covered": [450, 280, 130],
            "backhaul": "fiber",
        }
    ).to_csv(place / "sites.csv", index=False)
    return {
        "root": root,
        "audit": root / "audit",
        "fiber": fiber,
        "place": place,
        "towers": towers,
        "villages": res.villages,
    }


@pytest.fixture(scope="module")
def unified(folders: dict[str, Path]) -> tuple[Path, str, float]:
    out = folders["root"] / "unified.html"
    t0 = time.perf_counter()
    run = CliRunner().invoke(
        cli,
        [
            "map",
            "--audit",
            str(folders["audit"]),
            "--place",
            str(folders["place"]),
            "--fiber",
            str(folders["fiber"]),
            "--towers",
            str(folders["towers"]),
            "--out",
            str(out),
        ],
    )
    elapsed = time.perf_counter() - t0
    assert run.exit_code == 0, run.output
    return out, run.output, elapsed


def test_writes_one_offline_file_under_the_size_limit(unified) -> None:
    out, output, elapsed = unified
    size_mb = out.stat().st_size / 1e6
    assert f"map: {out} ({size_mb:.1f} MB" in output
    assert size_mb < MAX_MB, size_mb
    text = out.read_text(encoding="utf-8")
    assert "<script src" not in text and "<link " not in text
    assert "covered villages: " in text
    for name in (
        "Received power (dBm)",
        "Coverage class",
        "Best server (",
        "Towers (40)",
        "Proposed sites (3)",
        "Fiber phase 1:",
        "Communes: % villages covered",
        "Province outlines (1)",
        "District outlines (",
    ):
        assert name in text, name
    assert len(re.findall(r"data:image/png;base64,", text)) >= 3  # rx, classes, best server
    print(f"demo unified map: {size_mb:.2f} MB in {elapsed:.1f} s")


def test_refuses_to_overwrite_and_names_bad_folders(folders, unified, tmp_path) -> None:
    out, _, _ = unified
    before = out.stat().st_mtime_ns
    run = CliRunner().invoke(cli, ["map", "--audit", str(folders["audit"]), "--out", str(out)])
    assert run.exit_code == 2
    assert run.output.startswith("error: ") and "--overwrite" in run.output
    assert out.stat().st_mtime_ns == before
    run = CliRunner().invoke(
        cli, ["map", "--audit", str(tmp_path / "nope"), "--out", str(tmp_path / "m.html")]
    )
    err = run.stderr.strip()
    assert run.exit_code == 2 and err.startswith("error: --audit") and "nope" in err
    assert "\n" not in err
    run = CliRunner().invoke(
        cli,
        [
            "map",
            "--audit",
            str(folders["audit"]),
            "--fiber",
            str(folders["place"]),
            "--towers",
            str(folders["towers"]),
            "--out",
            str(tmp_path / "m.html"),
        ],
    )
    assert run.exit_code == 2 and "routes.gpkg" in run.output
    assert not (tmp_path / "m.html").exists()


def test_large_raster_read_reduced_and_missing_towers_warned(folders, tmp_path) -> None:
    """2000 x 2000 cells with --max-raster-px 200: read reduced (mode/average), aligned."""
    import base64
    import io

    from PIL import Image

    out = tmp_path / "small.html"
    run = CliRunner().invoke(
        cli,
        [
            "map",
            "--audit",
            str(folders["audit"]),
            "--max-raster-px",
            "200",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "warning: no towers file found" in run.stderr
    text = out.read_text(encoding="utf-8")
    assert "Towers (0)" in text and "Best server (" in text
    found = re.findall(
        r"L\.imageOverlay\(\s*\"(data:image/png;base64,[^\"]+)\",\s*(\[\[[^\]]+\], \[[^\]]+\]\])",
        text,
    )
    uris, bounds = [u for u, _ in found], [b for _, b in found]
    sizes = {Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))).size for u in uris}
    assert len(uris) == 3 and len(sizes) == 1 and max(next(iter(sizes))) <= 200
    assert len(bounds) == 3 and len(set(bounds)) == 1  # the three rasters on one grid


def test_help_explains() -> None:
    run = CliRunner().invoke(cli, ["map", "--help"])
    assert run.exit_code == 0
    for word in ("--audit", "--place", "--fiber", "--overwrite", "offline", "clustered"):
        assert word in run.output, word


# --------------------------------------------------------------------------- browser


_CONTROLS = (
    ".leaflet-control-layers, .dz-legend, .dz-summary, .dz-title, .leaflet-control-zoom, "
    ".leaflet-control-scale, .leaflet-control-attribution"
)


def _map_mask(page, shape: tuple[int, ...]) -> np.ndarray:
    """True on the map's pixels that no control box (legend, layer list, ...) covers."""
    mask = np.ones(shape[:2], dtype=bool)
    for box in page.eval_on_selector_all(
        _CONTROLS,
        "els => els.map(e => { const r = e.getBoundingClientRect(); "
        "return [r.left, r.top, r.right, r.bottom]; })",
    ):
        x0, y0, x1, y1 = (int(v) for v in box)
        mask[max(y0 - 2, 0) : y1 + 2, max(x0 - 2, 0) : x1 + 2] = False
    return mask


def test_unified_map_in_headless_chromium(unified, folders, browser_page, tmp_path) -> None:
    out, _, _ = unified
    bp = browser_page
    page = bp.page
    bp.goto(out)
    page.wait_for_selector(".leaflet-control-layers-overlays label")
    name = leaflet_map_name(page)

    labels = [t for t, _ in overlays(page)]
    expected = {
        # opens on the audit's own rule (issue 16): the class layer, not total power
        "Received power (dBm)": False,
        "Coverage class": True,
        "Best server": False,
        "Communes (": True,
        "Communes: % villages covered": False,
        "Province outlines": True,
        "District outlines": True,
        "Fiber: existing network": True,
        "Fiber phase 1": True,
        "Fiber phase 2": True,
        "Fiber designed, later": True,
        "Villages: covered": True,
        "Villages: dead": True,
        "Towers (40)": True,
        "Proposed sites (3)": True,
    }
    state = dict(overlays(page))
    for key, shown in expected.items():
        hits = [t for t in labels if key in t]
        assert len(hits) == 1, (key, labels)
        assert state[hits[0]] is shown, (key, state[hits[0]])

    wait_for_images(page)
    shot = bp.screenshot(tmp_path / "unified.png")
    mask = _map_mask(page, shot.shape)
    area = shot[mask][None]
    # Not blank: raster ramp + status colours + wedges + lines give many colours, and
    # the area is not Leaflet's plain grey background.
    assert distinct_colours(area) > 200, distinct_colours(area)
    assert np.abs(area.reshape(-1, 3).mean(axis=0) - 221.0).max() > 15.0

    # Raster overlays: their <img> is in the DOM only while the layer is on.
    for key, css in (
        ("Received power (dBm)", "img.dz-raster-rx"),
        ("Coverage class", "img.dz-raster-class"),
        ("Best server", "img.dz-raster-server"),
    ):
        box = overlay_checkbox(page, key)
        before = page.locator(css).count()
        box.click()
        assert page.locator(css).count() == 1 - before, key
        box.click()
        assert page.locator(css).count() == before, key
    wait_for_images(page)

    # Every overlay changes the picture when toggled and restores it when toggled back.
    a = bp.screenshot(tmp_path / "a.png")[mask]
    for label in labels:
        if label.endswith("(0)"):
            continue  # an empty layer draws nothing
        box = overlay_checkbox(page, label)
        box.click()
        page.wait_for_timeout(100)
        b = bp.screenshot(tmp_path / "b.png")[mask]
        box.click()
        page.wait_for_timeout(100)
        wait_for_images(page)
        c = bp.screenshot(tmp_path / "c.png")[mask]
        changed = int(np.any(a != b, axis=-1).sum())
        assert changed > 20, (label, changed)
        # Back as before (a few edge pixels may differ: the shared canvas redraws the
        # re-added group on top of its neighbours in the same stacking class).
        restored = int(np.any(a != c, axis=-1).sum())
        assert restored <= max(50, changed // 10), (label, changed, restored)
        a = c

    # A village popup: centre a dead village, click it, read name and status.
    v = folders["villages"]
    row = v[v["status"] == "dead"].iloc[0]
    lat, lon = float(row.geometry.y), float(row.geometry.x)
    page.evaluate(f"() => {{ {name}.setView([{lat}, {lon}], 16, {{animate: false}}); }}")
    page.wait_for_timeout(200)
    pt = page.evaluate(f"() => {name}.latLngToContainerPoint([{lat}, {lon}])")
    rect = page.locator(".folium-map").bounding_box()
    page.mouse.click(rect["x"] + pt["x"], rect["y"] + pt["y"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    text = popup.inner_text()
    assert str(row["name"]) in text and "dead" in text, text
    assert "Reason" in text and "Serving tower" in text
    bp.screenshot(tmp_path / "popup.png")

    bp.assert_clean()
