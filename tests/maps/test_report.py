"""HTML report and KML/KMZ/QML exports built from a real (small) audit folder."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from html.parser import HTMLParser
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from deadzone.errors import DataLoadError, OutputExistsError, ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from deadzone.geo.progress import compare_audits, write_progress
from deadzone.maps.export_kml import villages_from_table, write_kml, write_qml
from deadzone.maps.report import build_report, summary_lines, write_report
from deadzone.model.thresholds import Thresholds
from tests.conftest import small_scenario

KML = "{http://www.opengis.net/kml/2.2}"
PTS = [(4000, 4500), (1000, 1000), (8000, 4500), (2000, 8500), (5000, 4500), (-500, 100)]


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory):
    scen = small_scenario(villages=PTS, towers=[{"x": 4500, "y": 4500, "eirp_dbm": 5.0}])
    res = audit(scen, radius_km=4.0)
    folder = tmp_path_factory.mktemp("audit")
    write_audit(res, folder)
    return res, folder


class _Refs(HTMLParser):
    """Collects every src/href attribute value and the visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:  # noqa: ANN001
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data) -> None:  # noqa: ANN001
        self.text.append(data)


def _parse(text: str) -> _Refs:
    p = _Refs()
    p.feed(text)
    return p


def test_report_is_self_contained_and_complete(audit_dir, tmp_path) -> None:
    res, folder = audit_dir
    out = write_report(folder, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    p = _parse(text)
    assert p.refs, "the figures must be embedded"
    assert all(r.startswith("data:image/png;base64,") for r in p.refs)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text)
    assert "url(" not in text and "@import" not in text
    visible = "".join(p.text)
    assert res.summary_lines()[0] in visible  # "covered villages: 2/6 (33.3%)"
    s = res.summary
    assert f"covered villages: {s['villages_covered']}/{s['villages_total']}" in visible
    for name in res.communes["name"]:
        assert name in visible  # Vietnamese UTF-8 names, unescaped in the text
    for reason in res.villages["reason"].dropna().unique():
        assert reason in visible
    for v in res.villages.loc[res.villages["status"] != "covered", "name"]:
        assert v in visible
    # both figures decode to non-blank PNGs
    for ref in p.refs:
        px = imread(io.BytesIO(base64.b64decode(ref.split(",", 1)[1])), format="png")
        assert float(px[..., :3].std()) > 0.01


def _reseal(folder) -> None:  # noqa: ANN001
    """Record the folder's current files in its summary.json (as if written so)."""
    import json

    from deadzone.data.loaders import file_checksum

    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    s["outputs"] = {n: file_checksum(folder / n) for n in s["outputs"]}
    (folder / "summary.json").write_text(json.dumps(s), encoding="utf-8")


def test_names_are_escaped(audit_dir, tmp_path) -> None:
    _, folder = audit_dir
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in folder.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    c = pd.read_csv(bad / "communes.csv")
    c.loc[0, "name"] = "<script>alert('x')</script> & Xã"
    c.to_csv(bad / "communes.csv", index=False)
    with pytest.raises(DataLoadError, match="communes.csv: differs from the audit"):
        build_report(bad)  # an edited output is not the audit summary.json describes
    _reseal(bad)
    text = build_report(bad)
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Xã" in text


def test_summary_lines_match_audit(audit_dir) -> None:
    res, folder = audit_dir
    import json

    s = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary_lines(s) == res.summary_lines()


def test_report_optional_sections(audit_dir, tmp_path) -> None:
    _, folder = audit_dir
    prog = tmp_path / "progress"
    write_progress(compare_audits(folder, folder), prog)
    fib = tmp_path / "fiber"
    fib.mkdir()
    pd.DataFrame(
        {"phase": [1, 2], "km": [12.5, 7.25], "cost": [1e9, 6e8], "households_pct": [40.0, 75.0]}
    ).to_csv(fib / "phases.csv", index=False)
    (fib / "phases.json").write_text(
        '{"targets": {"total": 3, "connected": 2}, "designs": {"steiner": {"km": 19.75}}}',
        encoding="utf-8",
    )
    plc = tmp_path / "place"
    plc.mkdir()
    pd.DataFrame({"site_id": ["S1"], "name": ["Bản Lướt"], "cost_vnd": [2.5e9]}).to_csv(
        plc / "sites.csv", index=False
    )
    (plc / "report.txt").write_text("covered villages after: 5/6\n", encoding="utf-8")
    text = build_report(folder, progress_dir=prog, fiber_dir=fib, placement_dir=plc)
    assert "Programme progress" in text and "dead-zone villages covered since baseline" in text
    assert "Fiber rollout phases" in text and "12.50" in text and "19.80" in text
    assert "Proposed sites" in text and "Bản Lướt" in text and "covered villages after: 5/6" in text
    with pytest.raises(DataLoadError, match="--fiber"):
        build_report(folder, fiber_dir=tmp_path / "missing")


def test_report_refuses_overwrite(audit_dir, tmp_path) -> None:
    _, folder = audit_dir
    out = write_report(folder, tmp_path / "r.html")
    with pytest.raises(OutputExistsError):
        write_report(folder, out)
    assert write_report(folder, out, overwrite=True) == out


def test_kml_and_kmz(audit_dir, tmp_path) -> None:
    res, folder = audit_dir
    table = pd.read_csv(folder / "villages.csv")
    kml = write_kml(res.villages, tmp_path / "v.kml")
    root = ET.parse(kml).getroot()
    pms = root.findall(f".//{KML}Placemark")
    assert len(pms) == len(res.villages)  # every village, even the one outside the DEM
    names = [pm.findtext(f"{KML}name") for pm in pms]
    assert sorted(names) == sorted(res.villages["name"])
    styles = {pm.findtext(f"{KML}styleUrl") for pm in pms}
    assert styles == {f"#status-{s}" for s in res.villages["status"]}
    dead = res.villages[res.villages["status"] == "dead"].iloc[0]
    pm = next(p for p in pms if p.findtext(f"{KML}name") == dead["name"])
    desc = pm.findtext(f"{KML}description")
    assert f"commune: {dead['commune_id']}" in desc and f"reason: {dead['reason']}" in desc
    lon, lat = map(float, pm.findtext(f".//{KML}coordinates").split(","))
    p = dead.geometry
    assert abs(lon - p.x) < 1e-6 and abs(lat - p.y) < 1e-6

    kmz = write_kml(table, tmp_path / "v.kmz")
    with zipfile.ZipFile(kmz) as zf:
        assert zf.namelist()[0] == "doc.kml"
        root2 = ET.fromstring(zf.read("doc.kml"))
    assert len(root2.findall(f".//{KML}Placemark")) == len(table)
    with pytest.raises(OutputExistsError):
        write_kml(table, kmz)


def test_villages_from_table_keeps_rows_without_coordinates() -> None:
    t = pd.DataFrame({"lon": [105.0, np.nan], "lat": [21.0, 21.5], "name": ["a", "b"]})
    g = villages_from_table(t)
    assert len(g) == 2 and g.geometry.iloc[1] is None


def test_qml(tmp_path) -> None:
    thr = Thresholds.uniform(-95.0, marginal_db_below=12.0)
    out = write_qml(tmp_path / "c.qml", thr, tech="4G")
    root = ET.parse(out).getroot()
    rr = root.find("pipe/rasterrenderer")
    assert rr.get("type") == "singlebandpseudocolor"
    items = root.findall(".//colorrampshader/item")
    assert [i.get("value") for i in items] == ["-107", "-95", "inf"]
    assert root.find(".//colorrampshader").get("colorRampType") == "DISCRETE"
    # the summary.json form with an indoor margin
    d = {"covered_dbm": {"2G": -100}, "marginal_dbm": {"2G": -110}, "indoor_margin_db": 15}
    out2 = write_qml(tmp_path / "d.qml", d)
    vals = [i.get("value") for i in ET.parse(out2).getroot().findall(".//item")]
    assert vals == ["-95", "-85", "inf"]
    with pytest.raises(ParameterError, match="3G"):
        write_qml(tmp_path / "e.qml", d, tech="3G")


def test_real_names_kmz_and_commune_chart(shared_data, tmp_path) -> None:
    """Real OSM settlements and 2025 communes (Vietnamese names) through KMZ and the chart."""
    import geopandas as gpd
    from matplotlib.image import imread as _imread

    from deadzone.maps.figures import commune_bar_chart
    from tests.conftest import shared_file

    tile = (105.0, 21.0, 106.0, 22.0)
    s = gpd.read_file(shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson"))
    s = s[s.geometry.x.between(tile[0], tile[2]) & s.geometry.y.between(tile[1], tile[3])]
    c = gpd.read_file(shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg"), bbox=tile)
    assert len(s) > 200 and len(c) > 200
    v = gpd.sjoin(s, c[["ward_code", "geometry"]], how="left", predicate="within")
    v = v[~v.index.duplicated()].rename(columns={"ward_code": "commune_id"})
    v["status"] = np.where(v["fclass"].isin(["town", "city", "suburb"]), "covered", "dead")
    v["reason"] = np.where(v["status"] == "dead", "weak_signal", None)
    out = write_kml(v.drop(columns="index_right"), tmp_path / "real.kmz")
    with zipfile.ZipFile(out) as zf:
        root = ET.fromstring(zf.read("doc.kml").decode("utf-8"))
    pms = root.findall(f".//{KML}Placemark")
    assert len(pms) == len(s)
    kml_names = [pm.findtext(f"{KML}name") for pm in pms]
    named = [n for n in v["name"] if isinstance(n, str) and n]
    assert len(named) > 100 and set(named) <= set(kml_names)
    assert all(kml_names)  # unnamed settlements get their row number, never an empty label
    assert any(any(ch in n for ch in "ăâđêôơư") for n in kml_names)
    counts = v.groupby("commune_id").agg(
        villages_total=("status", "size"),
        villages_covered=("status", lambda x: int((x == "covered").sum())),
    )
    table = c.merge(counts, left_on="ward_code", right_index=True, how="left").fillna(
        {"villages_total": 0, "villages_covered": 0}
    )
    png = commune_bar_chart(pd.DataFrame(table.drop(columns="geometry")), tmp_path / "bars.png")
    assert float(_imread(png)[..., :3].std()) > 0.01


# --------------------------------------------------------------------------- fiber figure, PDF


def _fiber_folder(folder, res):
    """A fiber folder as ``deadzone fiber`` writes it (routes.gpkg layers, ofds/) near the audit."""
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    pts = res.villages.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    fib = folder.parent / "fiber_for_report"
    (fib / "ofds").mkdir(parents=True, exist_ok=True)
    routes = gpd.GeoDataFrame(
        {
            "phase": [1, 2, -1],
            "length_m": [4200.0, 3100.0, 2500.0],
            "cost": [1e9, 7e8, 5e8],
            "kind": ["road", "road", "drop"],
            "target_id": ["V0", "V2", "V3"],
        },
        geometry=[
            LineString([(x[4], y[4]), (x[0], y[0])]),
            LineString([(x[4], y[4]), (x[2], y[2])]),
            LineString([(x[0], y[0]), (x[3], y[3])]),
        ],
        crs=4326,
    )
    targets = gpd.GeoDataFrame(
        {
            "target_id": ["V0", "V2", "V3"],
            "name": ["a", "b", "c"],
            "status": ["connected", "connected", "later"],
            "phase": [1, 2, -1],
        },
        geometry=[Point(x[0], y[0]), Point(x[2], y[2]), Point(x[3], y[3])],
        crs=4326,
    )
    routes.to_file(fib / "routes.gpkg", layer="routes", driver="GPKG")
    targets.to_file(fib / "routes.gpkg", layer="targets", driver="GPKG", mode="a")
    gpd.GeoDataFrame({"status": ["operational"]}, geometry=[Point(x[4], y[4])], crs=4326).to_file(
        fib / "ofds" / "nodes.geojson", driver="GeoJSON"
    )
    pd.DataFrame({"phase": [1, 2], "km": [4.2, 3.1]}).to_csv(fib / "phases.csv", index=False)
    return fib


def _has_colour(png_bytes: bytes, hex_colour: str, tol: int = 12) -> int:
    px = (imread(io.BytesIO(png_bytes), format="png")[..., :3] * 255).round().astype(int)
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(px - rgb).max(axis=-1) <= tol).sum())


def test_fiber_figure_and_report_section(audit_dir, tmp_path) -> None:
    from deadzone.maps.fiber_map import PHASE_COLORS
    from deadzone.maps.figures import fiber_figure

    res, folder = audit_dir
    fib = _fiber_folder(folder, res)
    png = fiber_figure(fib, tmp_path / "fiber.png", communes=folder / "communes.gpkg")
    data = png.read_bytes()
    assert _has_colour(data, PHASE_COLORS[0]) > 50  # phase 1 drawn in its colour
    assert _has_colour(data, PHASE_COLORS[1]) > 50  # phase 2
    text = build_report(folder, fiber_dir=fib)
    refs = _parse(text).refs
    assert len(refs) == 3 and 'alt="fiber rollout by phase"' in text
    fig = next(
        r for r in refs if _has_colour(base64.b64decode(r.split(",", 1)[1]), PHASE_COLORS[0]) > 50
    )
    assert fig
    with pytest.raises(DataLoadError, match="routes.gpkg"):
        fiber_figure(tmp_path, tmp_path / "x.png")


def test_pdf_report_with_chromium(audit_dir, tmp_path) -> None:
    import shutil

    if shutil.which("chromium") is None:
        pytest.fail("chromium is missing: PDF reports need Debian's chromium (.ci/run installs it)")
    _, folder = audit_dir
    out = write_report(folder, tmp_path / "r.pdf")
    data = out.read_bytes()
    assert data[:5] == b"%PDF-" and data.count(b"/Type /Page") >= 2
    assert not list(tmp_path.glob("*.html"))  # only the PDF is left
    both = write_report(folder, tmp_path / "r2.html", pdf=True)
    assert both.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (tmp_path / "r2.pdf").read_bytes()[:5] == b"%PDF-"
    with pytest.raises(OutputExistsError):
        write_report(folder, out)
    both.unlink()
    with pytest.raises(OutputExistsError, match="r2.pdf"):  # the PDF is protected too
        write_report(folder, both, pdf=True)
    assert not both.exists()


def test_pdf_without_converter_is_one_clear_error(audit_dir, tmp_path, monkeypatch) -> None:
    from deadzone.maps.report import PdfConverterError

    _, folder = audit_dir
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DEADZONE_CHROMIUM", raising=False)
    with pytest.raises(PdfConverterError, match="no PDF converter found") as info:
        write_report(folder, tmp_path / "r.pdf")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "r.pdf").exists()
    with pytest.raises(PdfConverterError):
        write_report(folder, tmp_path / "r.html", pdf=True)
    assert not (tmp_path / "r.html").exists()  # checked before any work


def test_not_covered_table_shows_the_status_metric(audit_dir, tmp_path) -> None:
    """Issue 16: the table showed total power beside a 4G RSRP status; it shows
    the value the status came from, with its metric's name."""
    _, folder = audit_dir
    alt = tmp_path / "alt"
    alt.mkdir()
    for f in folder.iterdir():
        (alt / f.name).write_bytes(f.read_bytes())
    v = pd.read_csv(alt / "villages.csv", dtype={"commune_id": str})
    i = v.index[v["status"] != "covered"][0]
    v["status_tech"] = v["status_tech"].astype(object)
    v.loc[i, ["status_tech", "best_rx_dbm", "signal_4g_dbm"]] = ["4G", -98.3, -126.14]
    v.to_csv(alt / "villages.csv", index=False)
    _reseal(alt)
    text = build_report(alt)
    visible = "".join(_parse(text).text)
    assert "4G RSRP" in visible and "-126.1" in visible
    assert "-98.3" not in visible and "best_rx_dbm" not in visible


def test_progress_tables_keep_leading_zeros_in_codes(tmp_path) -> None:
    """Issue 16: commune codes printed as numbers ('7,840' for 07840)."""
    from deadzone.maps.report import _read_csv, _table

    p = tmp_path / "progress_communes.csv"
    p.write_text("commune_id,name,villages_total\n07840,Xã A,12\n00001,Xã B,3\n",
                 encoding="utf-8")
    html = _table(_read_csv(p))
    assert "07840" in html and "00001" in html and "7,840" not in html


def test_every_table_fits_an_a4_page(audit_dir, tmp_path, browser_page) -> None:  # noqa: ANN001
    """Issue 16 item 7: wide tables (sites with total_vnd and villages_covered,
    progress with unknown and newly_dead) ran off the PDF page.  In print media
    at A4's printable width (190 mm at 96 dpi), no table is wider than the page."""
    _, folder = audit_dir
    prog = tmp_path / "progress"
    write_progress(compare_audits(folder, folder), prog)
    plc = tmp_path / "place"
    plc.mkdir()
    n = 12
    pd.DataFrame({
        "candidate_id": [f"auto-{i:04d}" for i in range(n)],
        "name": ["Bản Nậm Nhùn Thượng Xã Phìn Hồ"] * n,
        "lon": [104.812345] * n, "lat": [22.312345] * n,
        "capex_vnd": [2.1e9] * n, "power_option": ["solar_off_grid"] * n,
        "power_vnd": [4.5e8] * n, "backhaul": ["microwave_relay"] * n,
        "backhaul_to": ["existing-T012"] * n, "backhaul_length_m": [12345.6] * n,
        "backhaul_vnd": [3.2e8] * n, "total_vnd": [2.87e9] * n,
        "villages_covered": [7] * n, "village_ids": ["V0001;V0002;V0003;V0004;V0005"] * n,
        "population_covered": [3120] * n, "households_covered": [702] * n,
        "new_villages": [5] * n,
    }).to_csv(plc / "sites.csv", index=False)
    (plc / "report.txt").write_text("covered villages after: 5/6\n", encoding="utf-8")
    html = tmp_path / "r.html"
    html.write_text(build_report(folder, progress_dir=prog, placement_dir=plc),
                    encoding="utf-8")
    page = browser_page.page
    page.set_viewport_size({"width": 718, "height": 1000})
    page.emulate_media(media="print")
    browser_page.goto(html)
    widths = page.eval_on_selector_all(
        "table", "ts => ts.map(t => [t.getBoundingClientRect().right, t.innerText.slice(0, 40)])")
    page_w = page.evaluate("document.documentElement.clientWidth")
    assert widths
    too_wide = [(round(r), t) for r, t in widths if r > page_w + 0.5]
    assert not too_wide, (page_w, too_wide)


def test_map_caption_names_only_what_the_figure_shows() -> None:
    """Issue 16 item 7: the caption named a colour bar the class map does not have."""
    from deadzone.maps.report import _map_caption

    one = _map_caption({"by_technology": {"4G": {}}})
    two = _map_caption({"by_technology": {"2G": {}, "4G": {}}})
    assert "colour bar" in one
    assert "colour bar" not in two and "status class" in two and "2G, 4G" in two


def test_figure_headings_stay_with_their_figures(audit_dir) -> None:
    _, folder = audit_dir
    text = build_report(folder)
    assert '<section class="keep"><h2>Coverage map</h2>' in text
    assert "section.keep{break-inside:avoid}" in text


def test_programme_tables_are_curated_for_print(audit_dir, tmp_path) -> None:
    """Issue 16 item 7, seen on real data: progress by commune listed 17 raw
    columns for every commune (names broke mid-word), a 'By phase' table of one
    '(none)' row, fiber designs as raw keys (weight_m, 7.1e10 with decimals)
    and 191 communes without villages in the commune table."""
    _, folder = audit_dir
    prog = tmp_path / "progress"
    prog.mkdir()
    cols = ["province", "commune_id", "commune_name", "villages_total", "baseline_total",
            "baseline_dead_zone", "baseline_covered", "newly_covered", "still_dead",
            "newly_dead", "still_covered", "unknown", "unmatched", "unmatched_baseline",
            "unmatched_current", "covered_since_baseline_pct"]
    pd.DataFrame([
        ["Tuyên Quang", "02512", "An Tường", 10, 10, 10, 0, 2, 8, 0, 0, 0, 0, 0, 0, 20.0],
        ["Hà Nội", "00004", "Ba Đình", 1, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, None],
        ["Phú Thọ", "08023", "Tây Cốc", 3, 3, 0, 3, 0, 0, 1, 2, 0, 0, 0, 0, None],
    ], columns=cols).to_csv(prog / "progress_by_commune.csv", index=False)
    pd.DataFrame([["(none)", 14, 14, 10, 4, 2, 8, 1, 3, 0, 0, 0, 0, 20.0]],
                 columns=["phase", *cols[3:]]).to_csv(prog / "progress_by_phase.csv",
                                                      index=False)
    fib = tmp_path / "fiber"
    fib.mkdir()
    pd.DataFrame({"phase": [1], "km": [98.69561], "cost": [17756444893.19],
                  "households_reached": [2256579.0], "households_pct": [96.576191],
                  "communes_with_fiber_text": ["n/a"]}).to_csv(fib / "phases.csv", index=False)
    (fib / "phases.json").write_text(
        '{"params": {"currency": "USD"}, "targets": {"total": 3}, "designs": '
        '{"lower_bound_weight_m": 277788.8, "lower_bound_cost": 70367211889.28, '
        '"lower_bound_method": "dual ascent", "steiner": {"km": 354.37, "weight_m": 280666.7, '
        '"cost": 71086690251.31, "targets_connected": 46, "gap_pct": 1.02}}}',
        encoding="utf-8")
    text = build_report(folder, progress_dir=prog, fiber_dir=fib)
    visible = "".join(_parse(text).text)
    assert "An Tường" in visible and "Tây Cốc" in visible  # dead zone then / newly dead
    assert "Ba Đình" not in visible and "Not listed: 1 commune with no dead-zone" in visible
    assert "By phase" not in visible and "(none)" not in visible
    assert "unmatched_baseline" not in visible and "dead zone at baseline" in visible
    assert "weight_m" not in visible and "Network designs" in visible
    assert "71,086,690,251" in visible and "cost (USD)" in visible
    assert "70,367,211,889 USD" in visible  # the lower bound, whole units
    assert "17,756,444,893" in visible and "96.58" in visible and "n/a" not in visible


def test_commune_table_lists_communes_with_villages(tmp_path) -> None:
    scen = small_scenario(villages=PTS[:2], towers=[{"x": 4500, "y": 4500, "eirp_dbm": 5.0}])
    folder = tmp_path / "a"
    write_audit(audit(scen, radius_km=4.0), folder)
    c = pd.read_csv(folder / "communes.csv")
    assert c.set_index("name")["villages_total"].to_dict() == {"Xã Mường Tè": 2, "Xã Pa Ủ": 0}
    visible = "".join(_parse(build_report(folder)).text)
    assert "Xã Mường Tè" in visible and "Xã Pa Ủ" not in visible
    assert "Not listed: 1 commune with no village in the inputs" in visible


def test_cut_tables_name_the_file_with_every_row(audit_dir, monkeypatch) -> None:
    """A table cut at MAX_ROWS said 'the full table is in the CSV next to it';
    a report mailed on its own has nothing next to it: name the file."""
    from deadzone.maps import report

    _, folder = audit_dir
    monkeypatch.setitem(report._table.__kwdefaults__, "max_rows", 1)
    visible = "".join(_parse(build_report(folder)).text)
    assert "every row is in villages.csv of the audit folder" in visible
    assert "next to it" not in visible
