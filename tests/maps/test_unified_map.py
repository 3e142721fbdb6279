"""coverage_map's optional layers: province-size output, clustered villages in a browser."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from shapely.geometry import LineString, Point, box

from deadzone.errors import ParameterError, SchemaError
from deadzone.maps.folium_map import (
    CLUSTER_MIN_VILLAGES,
    STATUS_COLORS,
    coverage_map,
    save_map,
    server_colors,
)
from tests.browser import (
    distinct_colours,
    leaflet_map_name,
    overlay_checkbox,
    overlays,
    wait_for_images,
)

LON0, LAT0 = 105.0, 21.5
STATUSES = ("covered", "marginal", "dead", "unknown")


def _grid(n: int, cell_m: float) -> tuple[Affine, float, float]:
    cx, cy = Transformer.from_crs(4326, 32648, always_xy=True).transform(LON0, LAT0)
    return Affine(cell_m, 0.0, cx - n * cell_m / 2, 0.0, -cell_m, cy + n * cell_m / 2), cx, cy


def _rx(n: int, cell_m: float, *, noise_db: float, seed: int = 0):
    """Received power from 9 towers plus white noise (incompressible: a worst case)."""
    transform, cx, cy = _grid(n, cell_m)
    rng = np.random.default_rng(seed)
    xs = transform.c + (np.arange(n) + 0.5) * cell_m
    ys = transform.f - (np.arange(n) + 0.5) * cell_m
    rx = np.full((n, n), -np.inf, dtype=np.float32)
    best = np.full((n, n), -1, dtype=np.int32)
    span = n * cell_m
    k = 0
    for fx in (0.2, 0.5, 0.8):
        for fy in (0.2, 0.5, 0.8):
            tx, ty = transform.c + fx * span, transform.f - fy * span
            d = np.hypot(xs[None, :] - tx, ys[:, None] - ty).astype(np.float32)
            p = (10.0 - 35.0 * np.log10(d + 30.0)).astype(np.float32)
            better = p > rx
            rx[better], best[better] = p[better], k
            k += 1
    rx += rng.normal(0.0, noise_db, rx.shape).astype(np.float32)
    dead = rx < -140.0
    rx[dead], best[dead] = np.nan, -1
    return rx, best, transform


def _villages(n: int, half_deg: float, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    lon = LON0 + rng.uniform(-half_deg, half_deg, n)
    lat = LAT0 + rng.uniform(-half_deg, half_deg, n)
    status = np.array(STATUSES)[rng.integers(0, 4, n)]
    return gpd.GeoDataFrame(
        {
            "village_id": [f"V{i:05d}" for i in range(n)],
            "name": [f"Thôn Nà Hừ {i}" for i in range(n)],
            "commune_id": ["C1" if x < LON0 else "C2" for x in lon],
            "population": rng.integers(50, 2000, n),
            "status": status,
            "reason": np.where(status == "dead", "terrain_blocked", None),
            "best_rx_dbm": rng.uniform(-130, -70, n).round(1),
            "serving_tower_id": "T1",
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=4326,
    )


def _towers(n: int = 9) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "tower_id": [f"T{i}" for i in range(n)],
            "tech": "4G",
            "freq_mhz": 1800.0,
            "eirp_dbm": 61.0,
            "height_m": 30.0,
            "azimuth_deg": [np.nan if i % 2 else 30.0 * i for i in range(n)],
        },
        geometry=[Point(LON0 + 0.01 * (i % 3 - 1), LAT0 + 0.01 * (i // 3 - 1)) for i in range(n)],
        crs=4326,
    )


def _communes(half_deg: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "commune_id": ["C1", "C2"],
            "name": ["Xã Tân Lập", "Xã Mường Lống"],
            "district": ["Huyện A", "Huyện A"],
            "province": ["Tỉnh B", "Tỉnh B"],
            "villages_total": [10, 10],
            "villages_covered": [2, 9],
        },
        geometry=[
            box(LON0 - half_deg, LAT0 - half_deg, LON0, LAT0 + half_deg),
            box(LON0, LAT0 - half_deg, LON0 + half_deg, LAT0 + half_deg),
        ],
        crs=4326,
    )


def _fiber(half_deg: float) -> gpd.GeoDataFrame:
    h = half_deg * 0.8
    return gpd.GeoDataFrame(
        {
            "phase": [1, 2, -1],
            "length_m": [12000.0, 8000.0, 5000.0],
            "cost": [1e9, 7e8, 4e8],
            "kind": ["road", "road", "drop"],
            "target_id": ["C1", None, "C2"],
        },
        geometry=[
            LineString([(LON0 - h, LAT0 - h), (LON0, LAT0)]),
            LineString([(LON0, LAT0), (LON0 + h, LAT0 - h)]),
            LineString([(LON0, LAT0), (LON0, LAT0 + h)]),
        ],
        crs=4326,
    )


def _sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "candidate_id": ["K1", "K2"],
            "total_vnd": [1.5e9, 2.25e9],
            "villages_covered": [12, 4],
            "new_villages": [12, 3],
            "source": ["peak", "near_dead"],
        },
        geometry=[Point(LON0 + 0.02, LAT0 + 0.02), Point(LON0 - 0.02, LAT0 - 0.015)],
        crs=4326,
    )


def _png(uri: str):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_province_size_map_stays_under_20_mb(tmp_path: Path) -> None:
    """120 x 120 km at 30 m (4000 x 4000 cells, noisy), 5000 villages: < 20 MB."""
    rx, best, transform = _rx(4000, 30.0, noise_db=4.0)
    half = 0.65
    m = coverage_map(
        rx_dbm=rx,
        transform=transform,
        crs="EPSG:32648",
        villages=_villages(5000, half),
        towers=_towers(),
        communes=_communes(half),
        coverage_classes=True,
        best_server=best,
        server_ids=[f"T{i}" for i in range(9)],
        proposed_sites=_sites(),
        fiber_routes=_fiber(half),
        commune_choropleth=True,
        admin_outlines=("province",),
    )
    overlays_ = [
        c for c in m._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)
    ]
    assert len(overlays_) == 3
    sizes = {_png(o.url).size for o in overlays_}
    assert len(sizes) == 1 and max(next(iter(sizes))) <= 1600  # same grid, downsampled
    out = tmp_path / "province.html"
    save_map(m, out)
    size_mb = out.stat().st_size / 1e6
    print(f"province-size map: {size_mb:.1f} MB")
    assert size_mb < 20.0
    text = out.read_text(encoding="utf-8")
    assert "L.markerClusterGroup(" in text  # 5000 > CLUSTER_MIN_VILLAGES: clustered


def test_best_server_is_categorical_and_aligned() -> None:
    rx, best, transform = _rx(300, 30.0, noise_db=0.0)
    m = coverage_map(
        rx_dbm=rx,
        transform=transform,
        crs="EPSG:32648",
        villages=_villages(5, 0.03),
        towers=_towers(),
        best_server=best,
        server_ids=[f"T{i}" for i in range(9)],
        max_raster_px=100,
    )
    imgs = [c for c in m._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)]
    assert [i.layer_name for i in imgs] == ["Received power (dBm)", "Best server (9 towers)"]
    assert imgs[0].bounds == imgs[1].bounds
    rx_png, bs_png = (np.asarray(_png(i.url).convert("RGBA")) for i in imgs)
    assert rx_png.shape == bs_png.shape
    assert ((rx_png[..., 3] == 0) == (bs_png[..., 3] == 0)).mean() > 0.99  # same no-signal
    colours = {tuple(c) for c in bs_png[bs_png[..., 3] > 0][:, :3]}
    expected = {tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in server_colors(9)}
    assert colours == expected  # exactly one colour per server, never a blend
    text = m.get_root().render()
    assert "Best-server colour" in text and server_colors(9)[4] in text


def test_options_are_validated() -> None:
    rx, best, transform = _rx(50, 30.0, noise_db=0.0)
    base = {
        "rx_dbm": rx,
        "transform": transform,
        "crs": "EPSG:32648",
        "villages": _villages(3, 0.005),
        "towers": _towers(),
    }
    with pytest.raises(ParameterError, match="best_server"):
        coverage_map(**base, best_server=best[:10])
    with pytest.raises(ParameterError, match="need communes"):
        coverage_map(**base, commune_choropleth=True)
    with pytest.raises(SchemaError, match="district"):
        coverage_map(
            **base, communes=_communes(0.01).drop(columns="district"), admin_outlines=("district",)
        )
    with pytest.raises(SchemaError, match="phase"):
        coverage_map(**base, fiber_routes=_fiber(0.01).drop(columns="phase"))


def _settled_count(page, selector: str, *, tries: int = 50) -> int:
    """Count of ``selector`` once it is the same on three readings 150 ms apart."""
    counts = [-1, -2]
    for _ in range(tries):
        counts.append(page.locator(selector).count())
        if counts[-1] == counts[-2] == counts[-3]:
            return counts[-1]
        page.wait_for_timeout(150)
    raise AssertionError(f"{selector} never settled: {counts[2:]}")


def test_clustered_villages_in_headless_chromium(browser_page, tmp_path: Path) -> None:
    n = CLUSTER_MIN_VILLAGES + 500
    rx, best, transform = _rx(400, 30.0, noise_db=1.0)
    villages = _villages(n, 0.05)
    m = coverage_map(
        rx_dbm=rx,
        transform=transform,
        crs="EPSG:32648",
        villages=villages,
        towers=_towers(),
        communes=_communes(0.05),
        best_server=best,
        proposed_sites=_sites(),
        fiber_routes=_fiber(0.05),
        commune_choropleth=True,
        admin_outlines=("district",),
        title="Clustered villages",
    )
    out = tmp_path / "clustered.html"
    save_map(m, out)

    bp = browser_page
    page = bp.page
    bp.goto(out)
    page.wait_for_selector(".dz-cluster")
    name = leaflet_map_name(page)
    labels = [t for t, _ in overlays(page)]
    for key in (
        "Best server",
        "Communes: % villages covered",
        "District outlines (1)",
        "Fiber phase 1",
        "Fiber phase 2",
        "Fiber designed, later",
        "Proposed sites (2)",
    ):
        assert sum(key in t for t in labels) == 1, (key, labels)

    sel = f'.dz-cluster div[style*="{STATUS_COLORS["covered"]}"]'
    n_clusters = _settled_count(page, sel)  # chunked loading adds clusters over ~1 s
    assert n_clusters > 0
    assert page.locator(".dz-cluster").count() > n_clusters  # other statuses cluster too
    wait_for_images(page)
    shot = bp.screenshot(tmp_path / "clustered.png")
    assert distinct_colours(shot[100:800, 100:700]) > 100

    box = overlay_checkbox(page, "Villages: covered")
    box.click()
    assert page.locator(sel).count() == 0  # the covered clusters left the DOM
    box.click()
    assert _settled_count(page, sel) == n_clusters

    # Zoomed in past the clustering zoom, a village is a marker with a popup.
    row = villages.iloc[7]
    lat, lon = float(row.geometry.y), float(row.geometry.x)
    page.evaluate(f"() => {{ {name}.setView([{lat}, {lon}], 18, {{animate: false}}); }}")
    page.wait_for_timeout(300)
    pt = page.evaluate(f"() => {name}.latLngToContainerPoint([{lat}, {lon}])")
    rect = page.locator(".folium-map").bounding_box()
    page.mouse.click(rect["x"] + pt["x"], rect["y"] + pt["y"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    text = popup.inner_text()
    assert row["name"] in text and str(row["status"]) in text, text
    bp.screenshot(tmp_path / "clustered-popup.png")
    bp.assert_clean()
    assert re.search(r"Villages: covered \(\d+\)", " ".join(labels))


def test_view_fits_the_audit_area_not_a_national_fiber_plan() -> None:
    """Issue 16 item 6: map --fiber with a national plan zoomed out to the country."""
    rx, _best, transform = _rx(300, 30.0, noise_db=0.0)
    far = _fiber(0.01).copy()
    far.geometry = [LineString([(LON0, LAT0), (LON0 + 5.0, LAT0 + 5.0)])] * len(far)
    m = coverage_map(rx_dbm=rx, transform=transform, crs="EPSG:32648",
                     villages=_villages(5, 0.03), towers=_towers(), fiber_routes=far)
    fit = next(c for c in m._children.values() if type(c).__name__ == "FitBounds")
    (south, west), (north, east) = fit.bounds
    assert north - south < 1.0 and east - west < 1.0  # the area, not 5 degrees of plan
