"""Offline coverage map: inlined Leaflet, no remote references, headless render."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Point, box

from deadzone.errors import (
    CRSError,
    DeadzoneError,
    DeadzoneWarning,
    OutputExistsError,
    ParameterError,
    SchemaError,
)
from deadzone.maps._leaflet import _remote_references
from deadzone.maps.folium_map import (
    LEAFLET_VERSION,
    coverage_map,
    save_map,
)

STATUSES = ("covered", "marginal", "dead", "unknown")
NAMES = ["Bản Phiêng Lứng", "Nà Hừ", "Thôn Ải & <Co>", "Đồng Tâm", "Khuổi Mỵ", "Lũng Cú"]
LON0, LAT0 = 105.0, 21.5
N = 200


# --------------------------------------------------------------------------- fixtures


def _raster() -> tuple[np.ndarray, Affine]:
    """200 x 200 received power (dBm) on a 30 m UTM 48N grid centred on (105, 21.5)."""
    cx, cy = Transformer.from_crs(4326, 32648, always_xy=True).transform(LON0, LAT0)
    cell = 30.0
    transform = Affine(cell, 0.0, cx - N * cell / 2, 0.0, -cell, cy + N * cell / 2)
    rows, cols = np.mgrid[0:N, 0:N]
    x = transform.c + (cols + 0.5) * cell
    y = transform.f - (rows + 0.5) * cell
    rx = (-20.0 - 30.0 * np.log10(np.hypot(x - cx, y - cy) + 10.0)).astype(np.float32)
    rx[:40, :40] = np.nan  # no signal, north-west corner
    rx[-30:, -30:] = -np.inf  # no signal, south-east corner
    return rx, transform


def _villages() -> gpd.GeoDataFrame:
    lon = LON0 + np.array([-0.01, 0.02, -0.015, 0.018, -0.008, 0.01])
    lat = LAT0 + np.array([0.015, -0.005, 0.007, -0.02, 0.012, -0.012])
    geoms: list = [Point(a, b) for a, b in zip(lon, lat, strict=True)]
    geoms[-1] = box(lon[-1], lat[-1], lon[-1] + 0.003, lat[-1] + 0.002)  # polygon village
    return gpd.GeoDataFrame(
        {
            "village_id": [f"V{i}" for i in range(6)],
            "name": NAMES,
            "commune_id": ["C1" if a < LON0 else "C2" for a in lon],
            "population": [420, 1022, 1385, np.nan, 415, 944],
            "status": ["covered", "marginal", "dead", "unknown", "covered", "dead"],
            "reason": [None, "weak_signal", "terrain_blocked", "outside_dem", None, np.nan],
            "best_rx_dbm": [-92.46, -104.0, -113.9, np.nan, -99.5, -121.0],
            "serving_tower_id": ["T1", "T1", None, None, "T2", None],
        },
        geometry=geoms,
        crs=4326,
    )


def _towers() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "tower_id": ["T1", "T2"],
            "tech": ["4G", "2G"],
            "freq_mhz": [1800.0, 900.0],
            "eirp_dbm": [61.0, 55.0],
            "height_m": [30.0, 25.0],
            "azimuth_deg": [np.nan, 120.0],
        },
        geometry=[Point(LON0, LAT0), Point(LON0 - 0.015, LAT0 - 0.01)],
        crs=4326,
    )


def _communes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "commune_id": ["C1", "C2"],
            "name": ["Xã Tân Lập", "Xã Mường Lống"],
            "villages_total": [3, 3],
            "villages_covered": [2, 0],
            "population_covered_pct": [64.2, np.nan],
        },
        geometry=[box(104.97, 21.47, 105.0, 21.53), box(105.0, 21.47, 105.03, 21.53)],
        crs=4326,
    )


@pytest.fixture
def inputs() -> dict:
    rx, transform = _raster()
    return {
        "rx_dbm": rx,
        "transform": transform,
        "crs": "EPSG:32648",
        "villages": _villages(),
        "towers": _towers(),
        "communes": _communes(),
        "title": "Coverage — Huyện Mèo Vạc",
        "summary_lines": ["covered villages: 2/6 (33.3%)", "population covered: 41.2%"],
    }


@pytest.fixture
def saved(tmp_path: Path, inputs: dict) -> tuple[Path, str]:
    out = tmp_path / "coverage.html"
    save_map(coverage_map(**inputs), out)
    return out, out.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- HTML helpers


class _Page(HTMLParser):
    """Tags with their attributes, and the text of <script> and <style> blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open == "script":
            self.scripts[-1] += data
        elif self._open == "style":
            self.styles[-1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


REMOTE_ATTR = re.compile(r"\b(?:src|href)\s*=\s*\\?[\"']?\s*((?:https?:)?//[^\"'\\\s>]+)", re.I)
CSS_URL = re.compile(r"url\(\s*[\"']?([^)\"']*)", re.I)


# --------------------------------------------------------------------------- offline-ness


def test_no_remote_reference_in_src_href_or_url(saved: tuple[Path, str]) -> None:
    _, text = saved
    page = _parse(text)
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "poster"):
            value = attrs.get(key) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, key, value)
    assert not [a for t, a in page.tags if t == "script" and a.get("src")]
    assert not [a for t, a in page.tags if t == "link"]
    # Every url() in CSS (blocks and inline styles) is a data: URI or a #fragment.
    css = "\n".join(page.styles) + "\n".join(a.get("style") or "" for _, a in page.tags)
    for url in CSS_URL.findall(css):
        assert url.startswith(("data:", "#")), url
    # Inside scripts the only http(s) src/href is Leaflet's attribution hyperlink
    # (an <a href>, never fetched); no tile layer without a basemap.
    assert set(REMOTE_ATTR.findall(text)) == {"https://leafletjs.com"}
    assert "L.tileLayer(" not in text
    assert _remote_references(text) == []


def test_leaflet_is_inlined(saved: tuple[Path, str]) -> None:
    _, text = saved
    assert f"Leaflet {LEAFLET_VERSION}, a JS library for interactive maps" in text
    assert "L.map(" in text
    assert ".leaflet-control-layers-toggle" in text  # leaflet.css
    assert "sourceMappingURL" not in text
    for cdn in ("jquery", "bootstrap", "awesome-markers", "d3.min.js", "font-awesome"):
        assert cdn not in text.lower(), cdn


def test_vendored_files_are_packaged() -> None:
    vendor = Path(__import__("deadzone.maps", fromlist=["x"]).__file__).parent / "_vendor"
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "README.md"):
        assert (vendor / name).is_file(), name
    css = (vendor / "leaflet.css").read_text(encoding="utf-8")
    assert all(u.startswith(("data:", "#")) for u in CSS_URL.findall(css))


def test_utf8_and_escaping(saved: tuple[Path, str]) -> None:
    path, text = saved
    assert text.lstrip().startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8" />' in text[:1024]
    assert "<title>Coverage — Huyện Mèo Vạc</title>" in text
    for name in NAMES[:2] + NAMES[3:]:
        assert name in text, name
    assert "Xã Tân Lập" in text and "Xã Mường Lống" in text
    assert "<Co>" not in text  # html-escaped, then JSON-escaped for the script
    assert "\\u0026lt;Co\\u0026gt;" in text
    assert path.read_bytes().decode("utf-8") == text


def test_popup_fields_and_formatting(saved: tuple[Path, str]) -> None:
    _, text = saved
    assert "-92.5 dBm" in text  # 1 decimal
    assert '"\u2014"' in text  # missing dBm / population / reason
    assert "weak signal" in text and "terrain blocked" in text
    assert "Xã Tân Lập (C1)" in text  # commune name from communes
    assert "omni" in text and "120&deg;" not in text  # tower azimuth escaped in JSON
    assert "120\\u0026deg;" in text
    assert "population covered: 64.2%" in text


def test_one_layer_per_status(inputs: dict) -> None:
    m = coverage_map(**inputs)
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    names = [g.layer_name for g in groups]
    counts = {"covered": 2, "marginal": 1, "dead": 2, "unknown": 1}
    for status in STATUSES:
        matching = [n for n in names if f"Villages: {status} " in n]
        assert len(matching) == 1, (status, names)
        assert matching[0].endswith(f"({counts[status]})")
    text = m.get_root().render()
    control = re.search(r"overlays :\s*\{(.*?)\}", text, re.S)
    assert control is not None
    for status in STATUSES:
        assert f"Villages: {status} ({counts[status]})" in control.group(1)
    assert "Towers (2)" in control.group(1) and "Communes (2)" in control.group(1)


def test_polygon_village_drawn_at_representative_point(inputs: dict) -> None:
    m = coverage_map(**inputs)
    text = m.get_root().render()
    poly = inputs["villages"].geometry.iloc[-1]
    row = re.search(r"\[([\d.]+),([\d.]+),\"Lũng Cú\"", text)
    assert row is not None
    assert poly.contains(Point(float(row.group(2)), float(row.group(1))))


def _overlay_png(m: folium.Map):
    from PIL import Image

    overlays = [c for c in m._children.values() if isinstance(c, folium.raster_layers.ImageOverlay)]
    assert len(overlays) == 1
    url = overlays[0].url
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), overlays[0].bounds


def test_raster_overlay_is_downsampled_and_transparent(inputs: dict) -> None:
    image, bounds = _overlay_png(coverage_map(**{**inputs, "max_raster_px": 32}))
    assert max(image.size) <= 32
    (south, west), (north, east) = bounds
    assert south < LAT0 < north and west < LON0 < east
    assert north - south < 0.1 and east - west < 0.1
    rgba = np.asarray(image.convert("RGBA"))
    assert rgba[1, 1, 3] == 0  # NaN corner
    assert rgba[-2, -2, 3] == 0  # -inf corner
    assert rgba[rgba.shape[0] // 2, rgba.shape[1] // 2, 3] == 255  # near the tower


def test_raster_full_size_when_small(inputs: dict) -> None:
    image, _ = _overlay_png(coverage_map(**inputs))
    assert 180 <= max(image.size) <= 230


def test_basemap_allows_only_its_tiles(tmp_path: Path, inputs: dict) -> None:
    out = tmp_path / "osm.html"
    save_map(coverage_map(**inputs, basemap="openstreetmap"), out)
    text = out.read_text(encoding="utf-8")
    assert 'L.tileLayer(\n                "https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in text
    with pytest.raises(ParameterError, match="basemap"):
        coverage_map(**inputs, basemap="satellite")


def test_remote_resources_are_refused(tmp_path: Path, inputs: dict) -> None:
    with pytest.raises(DeadzoneError, match="jquery"):
        save_map(folium.Map(tiles=None), tmp_path / "plain.html")
    m = coverage_map(**inputs)
    folium.TileLayer("https://tiles.example.com/{z}/{x}/{y}.png", attr="x").add_to(m)
    with pytest.raises(DeadzoneError, match="tiles.example.com"):
        save_map(m, tmp_path / "tiles.html")
    assert list(tmp_path.iterdir()) == []


def test_remote_reference_scanner() -> None:
    bad = (
        "<img src=\"http://a.example/x.png\"> <link href='//cdn.example/y.css'>"
        " <style>b { background: url(https://c.example/z.png) } @import 'https://d.example/i.css';</style>"
        ' <script>L.imageOverlay("https://e.example/o.png", b);</script>'
    )
    found = " ".join(_remote_references(bad))
    for host in ("a.example", "cdn.example", "c.example", "d.example", "e.example"):
        assert host in found, host
    ok = (
        '<a href="https://leafletjs.com">L</a> "\\u003ca href=\\"https://osm.org/c\\"\\u003e"'
        ' <img src="data:image/png;base64,AAAA">'
        ' <div style="background:url(data:image/png;base64,A)">'
    )
    assert _remote_references(ok) == []


# --------------------------------------------------------------------------- save_map


def test_overwrite_protection(tmp_path: Path, inputs: dict) -> None:
    m = coverage_map(**inputs)
    out = tmp_path / "map.html"
    out.write_text("old", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="overwrite"):
        save_map(m, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert isinstance(OutputExistsError("x"), FileExistsError)
    save_map(m, out, overwrite=True)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]  # no temp file left


def test_save_map_accepts_str_path(tmp_path: Path, inputs: dict) -> None:
    out = tmp_path / "s.html"
    save_map(coverage_map(**inputs), str(out))
    assert out.stat().st_size > 150_000


# --------------------------------------------------------------------------- validation


def test_validation_errors(inputs: dict) -> None:
    with pytest.raises(SchemaError, match="status"):
        coverage_map(**{**inputs, "villages": inputs["villages"].drop(columns="status")})
    bad = inputs["villages"].copy()
    bad.loc[0, "status"] = "great"
    with pytest.raises(SchemaError, match="V0"):
        coverage_map(**{**inputs, "villages": bad})
    with pytest.raises(SchemaError, match="azimuth_deg"):
        coverage_map(**{**inputs, "towers": inputs["towers"].drop(columns="azimuth_deg")})
    with pytest.raises(ParameterError, match="thresholds_dbm"):
        coverage_map(**inputs, thresholds_dbm=(-110.0, -100.0))
    with pytest.raises(ParameterError, match="max_raster_px"):
        coverage_map(**inputs, max_raster_px=4)
    with pytest.raises(ParameterError, match="rx_dbm"):
        coverage_map(**{**inputs, "rx_dbm": np.zeros(10, dtype=np.float32)})
    with pytest.raises(CRSError):
        coverage_map(**{**inputs, "crs": None})
    with pytest.raises(CRSError, match="villages"):
        coverage_map(
            **{**inputs, "villages": inputs["villages"].set_crs(None, allow_override=True)}
        )


def test_projected_vectors_are_reprojected_with_warning(inputs: dict) -> None:
    with pytest.warns(DeadzoneWarning, match="towers"):
        m = coverage_map(**{**inputs, "towers": inputs["towers"].to_crs(32648)})
    assert "Towers (2)" in m.get_root().render()


def test_empty_layers_and_no_communes(tmp_path: Path, inputs: dict) -> None:
    m = coverage_map(
        **{
            **inputs,
            "villages": inputs["villages"].iloc[:0],
            "towers": inputs["towers"].iloc[:0],
            "communes": None,
            "summary_lines": (),
        }
    )
    out = tmp_path / "empty.html"
    save_map(m, out)
    text = out.read_text(encoding="utf-8")
    for status in STATUSES:
        assert f"Villages: {status} (0)" in text


# --------------------------------------------------------------------------- browser


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def _run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            # No DNS: any attempt to reach the network fails, as on an offline laptop.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=5000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_renders_offline_in_headless_chromium(tmp_path: Path, saved: tuple[Path, str]) -> None:
    from PIL import Image

    browser = _chromium()
    if browser is None:
        pytest.fail("chromium is missing: the browser tests need Debian's chromium on PATH")
    path, _ = saved
    url = path.resolve().as_uri()

    # Leaflet built the map: layer control with 7 overlays, raster image, canvas, boxes.
    dom = _run_chromium(browser, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count('<input type="checkbox" class="leaflet-control-layers-selector"') == 7
    for status in STATUSES:
        assert re.search(rf"</span>Villages: {status} \(\d\)</span>", html), status
    assert re.search(r'<img class="leaflet-image-layer[^"]*" src="data:image/png;base64,', html)
    assert "<canvas" in html
    for css_class in ("dz-title", "dz-summary", "dz-legend", "leaflet-control-scale"):
        assert css_class in html, css_class

    shot = tmp_path / "coverage.png"
    run = _run_chromium(
        browser, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,900", url
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape[:2] == (900, 1200)
    assert pixels.std() > 10.0  # not blank
    centre = pixels[300:600, 450:750]  # the map is fitted to the data, so the raster is here
    assert centre.std() > 5.0
    assert np.abs(centre.mean(axis=(0, 1)) - 221.0).max() > 15.0  # not Leaflet's grey #ddd


def test_popup_shows_the_metric_the_status_came_from() -> None:
    from deadzone.maps.folium_map import _status_signals

    v = gpd.GeoDataFrame(
        {
            "best_rx_dbm": [-88.04, -95.0, np.nan],
            "status_tech": pd.array(["4G", "2G", None], dtype="string"),
            "signal_4g_dbm": [-116.44, -140.0, np.nan],
            "signal_2g_dbm": [-99.0, -95.0, np.nan],
        },
        geometry=gpd.points_from_xy([0, 1, 2], [0, 1, 2]), crs=4326,
    )
    got = _status_signals(v)
    assert got[0] == "4G RSRP -116.4 dBm"
    assert got[1] == "2G received level -95.0 dBm"
    assert "RSRP" not in got[2] and "level" not in got[2]
    assert _status_signals(v.drop(columns="status_tech"))[0] == "-88.0 dBm"


def test_audit_map_opens_on_the_class_layer_with_single_legend_labels(tmp_path) -> None:  # noqa: ANN001
    """Issue 16 item 6: the audit map opened on total power (2G ticks beside 4G
    statuses) with the audit's class layer off, and its legend said 'covered: covered:'."""
    from click.testing import CliRunner

    from deadzone.cli.main import cli

    out = tmp_path / "d"
    r = CliRunner().invoke(cli, ["-q", "demo", "--out", str(out), "--model", "fspl",
                                 "--radius-km", "5"])
    assert r.exit_code == 0, r.output
    text = (out / "map.html").read_text(encoding="utf-8")
    assert "covered: covered:" not in text and "marginal: marginal:" not in text
    # the class overlay is on the map at load, the received-power overlay is not
    import re

    adds = set(re.findall(r"(image_overlay_[0-9a-f]+)\.addTo\(map_[0-9a-f]+\)", text))
    by_class = {}
    for m in re.finditer(r"var (image_overlay_[0-9a-f]+) = L\.imageOverlay", text):
        cls = re.search(r'"className": "(dz-raster-[a-z]+)"', text[m.end():])
        by_class[cls.group(1)] = m.group(1)
    assert by_class["dz-raster-class"] in adds
    assert by_class["dz-raster-rx"] not in adds


def test_fiber_phase_colours_differ_from_status_colours() -> None:
    """Issue 16 item 6: fiber phase 5 and 'targets connected' shared one green."""
    from deadzone.maps.fiber_map import PHASE_COLORS, TARGET_COLORS
    from deadzone.maps.folium_map import _SITE_COLOR

    taken = {c.lower() for c in (*TARGET_COLORS.values(), _SITE_COLOR)}
    assert len(set(PHASE_COLORS)) == len(PHASE_COLORS)
    assert not taken & {c.lower() for c in PHASE_COLORS}
