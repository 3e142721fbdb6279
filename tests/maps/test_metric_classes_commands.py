"""place / whatif / serve / report draw coverage by the audit's metric per technology.

Their maps classed total received power at the 2G thresholds (-100/-110
dBm), while 4G village statuses use RSRP (total power minus ~28 dB at 10
MHz) at -110/-120 dBm: the maps showed covered cells around dead villages.
On a 4G-only scenario, each output's covered share must be the audit rule's
share on the same cells, each village's class its status, and the legend
must name 4G RSRP.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage

import deadzone.maps.folium_map as folium_map
from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from deadzone.geo.whatif import Session
from deadzone.maps.figures import _from_folder, _from_result, coverage_figure, read_audit_folder
from deadzone.model.thresholds import Thresholds, coverage_class
from deadzone.web.app import WhatIfApp
from deadzone.web.overlay import legend_html, overlay_layer
from tests.conftest import UTM48, X0, Y0, small_scenario

ENGINE = ["--model", "knife", "--radius-km", "3"]
CLASS = {0: "dead", 1: "marginal", 2: "covered"}


def _scenario_4g():  # noqa: ANN202
    rng = np.random.default_rng(5)
    # rough hills (white noise smoothed over ~3 cells), not cell-to-cell noise: on
    # noise, bilinear and nearest-cell heights differ by tens of metres and the
    # map's raster says little about a village point (see _agreement)
    z = ndimage.gaussian_filter(100.0 + 600.0 * rng.random((200, 200)), 3.0).astype(np.float32)
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(30, 2))]
    return small_scenario(
        z=z,
        villages=vil,
        towers=[
            {"x": 1500.0, "y": 1500.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 40.0},
            {"x": 4500.0, "y": 4500.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 40.0},
        ],
    )


@pytest.fixture(scope="module")
def scen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("metric4g") / "scen"
    write_scenario(_scenario_4g(), d / "inputs")
    return d


def _lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    p = gpd.GeoSeries(gpd.points_from_xy([X0 + x_m], [Y0 - y_m]), crs=UTM48).to_crs(4326)
    return float(p.x.iloc[0]), float(p.y.iloc[0])


@pytest.fixture()
def maps_drawn(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every coverage_map call (the map is still drawn)."""
    calls: list[dict[str, Any]] = []
    real = folium_map.coverage_map

    def spy(**kw: Any) -> Any:
        calls.append(kw)
        return real(**kw)

    monkeypatch.setattr(folium_map, "coverage_map", spy)
    return calls


def _village_cells(villages: gpd.GeoDataFrame, transform: Any, crs: Any) -> list[tuple[int, int]]:
    pts = villages.geometry.to_crs(crs)
    inv = ~transform
    return [tuple(int(np.floor(a)) for a in inv @ (p.x, p.y))[::-1] for p in pts]


def _check_map_call(kw: dict[str, Any]) -> None:
    """The map's ramp is 4G RSRP, its class layer is the audit rule, villages agree."""
    thr = Thresholds()
    assert kw["metric_label"] == "4G RSRP"
    assert kw["thresholds_dbm"] == (thr.covered("4G"), thr.marginal("4G")) == (-110.0, -120.0)
    assert kw["coverage_classes"] is True
    rsrp = np.asarray(kw["rx_dbm"], dtype=np.float64)
    cls = kw["coverage_class"]
    ok = np.isfinite(rsrp)
    rule = float((rsrp[ok] >= -110.0).mean())
    assert float((cls[ok] == 2).mean()) == rule and 0.0 < rule < 1.0
    np.testing.assert_array_equal(cls, coverage_class({"4G": rsrp}, thr))
    v = kw["villages"]
    cells = _village_cells(v, kw["transform"], kw["crs"])
    assert _agreement(cells, v, lambda r, c: cls[r, c]) > 0.85
    assert v["status"].nunique() >= 2


def _agreement(cells: list[tuple[int, int]], villages: Any, class_at: Any) -> float:
    """Check each village's status against the rule, return the map's agreement.

    A village's status is the audit rule applied to its own signal columns
    (``signal_<tech>_dbm``, from its exact tower -> village path): checked
    for every village.  The map classes the area raster by the same rule; its
    radial passes near the village point over nearest-cell terrain, so on
    rough terrain a few villages near a threshold differ.
    """
    techs = [t for t in ("2G", "3G", "4G", "5G") if f"signal_{t.lower()}_dbm" in villages]
    own = coverage_class(
        {t: villages[f"signal_{t.lower()}_dbm"].to_numpy(dtype=np.float64)[None, :]
         for t in techs}, Thresholds())[0]
    assert [CLASS.get(int(k), "dead") for k in own] == list(villages["status"])
    same = [CLASS.get(int(class_at(r, c)), "dead") == s
            for (r, c), s in zip(cells, villages["status"], strict=True)]
    return float(np.mean(same))


def _check_html(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "4G RSRP (dBm)" in text
    assert "covered: 4G RSRP \\u0026ge; -110 dBm" in text  # class legend (JS-escaped)
    assert not re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", text)


def test_place_map_classes_by_the_audit_rule(scen_dir: Path, tmp_path: Path, maps_drawn) -> None:
    out = tmp_path / "pl"
    res = CliRunner().invoke(
        cli,
        ["place", "--scenario", str(scen_dir), "--budget-towers", "1", "--site-tech", "4G",
         "--out", str(out), *ENGINE],
    )
    assert res.exit_code == 0, res.output
    (kw,) = maps_drawn
    _check_map_call(kw)
    _check_html(out / "map.html")


def test_whatif_maps_class_by_the_audit_rule(scen_dir: Path, tmp_path: Path, maps_drawn) -> None:
    lon, lat = _lonlat(4500.0, 1500.0)
    out = tmp_path / "wi"
    res = CliRunner().invoke(
        cli,
        ["whatif", "--scenario", str(scen_dir), "--add", f"{lon},{lat},40", "--add-tech", "4G",
         "--remove", "T1", "--out", str(out), *ENGINE],
    )
    assert res.exit_code == 0, res.output
    before, after = maps_drawn
    assert before["title"] == "what-if: before" and after["title"] == "what-if: after"
    for kw in (before, after):
        _check_map_call(kw)
    # the before map is the state before the edits (not the patched composite)
    assert not np.array_equal(before["coverage_class"], after["coverage_class"])
    _check_html(out / "map_before.html")
    _check_html(out / "map_after.html")


def _png_index(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_serve_overlay_is_the_4g_rsrp_ramp() -> None:
    session = Session(_scenario_4g(), n_threads=1, model="knife", radius_km=3.0)
    app = WhatIfApp(session, max_raster_px=256)
    rsrp = session.coverage.by_tech["4G"].best_dbm
    layer = overlay_layer(session.coverage.by_tech, session.thresholds)
    assert not layer.classes and layer.metric_label == "4G RSRP"
    assert (layer.covered_dbm, layer.marginal_dbm) == (-110.0, -120.0)
    png, _ = app.coverage_png()
    assert png == app._image.render(rsrp, vmin=layer.vmin, vmax=layer.vmax)
    assert png != app._image.render(session.coverage.rx.best_dbm)  # not total power
    # the ramp position of -110 dBm splits the drawn pixels by the audit rule
    idx = _png_index(png)
    drawn = idx[idx < 255].astype(np.float64)
    dbm = layer.vmin + drawn / 254.0 * (layer.vmax - layer.vmin)
    share_png = float((dbm >= -110.0 - 0.5 * (layer.vmax - layer.vmin) / 254.0).mean())
    img = app._image
    coarse = rsrp[: img._shape[0], : img._shape[1]]
    assert img._k == 1  # 200 x 200 grid under 256 px: one cell per drawn pixel
    vals = coarse.ravel()[img._src]
    vals = vals[np.isfinite(vals)]
    assert share_png == pytest.approx(float((vals >= -110.0).mean()), abs=0.01)
    legend = app.state()["legend_html"]
    assert "4G RSRP (dBm)" in legend and "4G RSRP ≥ -110 dBm" in legend
    assert "Best received power" not in legend


def test_serve_overlay_classes_match_village_statuses_with_two_techs() -> None:
    scen = _scenario_4g()
    scen.towers.loc[0, "tech"] = "2G"
    scen.towers.loc[0, "freq_mhz"] = 900.0
    session = Session(scen, n_threads=1, model="knife", radius_km=3.0)
    app = WhatIfApp(session, max_raster_px=256)
    by_tech = session.coverage.by_tech
    assert list(by_tech) == ["2G", "4G"]
    idx = _png_index(app.coverage_png()[0]).ravel()
    img = app._image
    assert img._k == 1
    want = coverage_class({t: c.best_dbm for t, c in by_tech.items()}, session.thresholds)
    got = np.full(want.size, -9, dtype=np.int64)
    px = idx[img._pix].astype(np.int64)
    got[img._src] = np.where(px == 255, -1, px)
    seen = got != -9
    # every drawn cell has the audit rule's class; covered share is the rule's
    np.testing.assert_array_equal(got[seen], want.ravel()[seen])
    assert float((got[seen] == 2).mean()) == float((want.ravel()[seen] == 2).mean())
    v = session.result.villages
    cells = _village_cells(v, scen.dem.transform, scen.dem.crs)
    drawn = [(i, (r, c)) for i, (r, c) in enumerate(cells) if seen[r * scen.dem.shape[1] + c]]
    assert len(drawn) >= 20
    assert _agreement([rc for _, rc in drawn], v.iloc[[i for i, _ in drawn]],
                      lambda r, c: got[r * scen.dem.shape[1] + c]) > 0.85
    legend = app.state()["legend_html"]
    assert "Coverage class" in legend and "4G RSRP" in legend and "2G level" in legend


def test_serve_legend_follows_a_new_technology() -> None:
    session = Session(_scenario_4g(), n_threads=1, model="knife", radius_km=3.0)
    app = WhatIfApp(session, max_raster_px=128)
    lon, lat = _lonlat(3000.0, 3000.0)
    body = f'{{"lon": {lon}, "lat": {lat}, "height_m": 30, "tech": "2G"}}'.encode()
    res = app.apply("add", body)
    assert "Coverage class" in res["legend_html"] and "2G level" in res["legend_html"]
    assert "Coverage class" in app.state()["legend_html"]


def test_legend_default_keeps_plain_rows() -> None:
    text = legend_html(-110.0, -120.0, -140.0, -70.0, metric_label="4G RSRP")
    assert "4G RSRP (dBm)" in text and "covered: 4G RSRP &ge; -110 dBm" in text


@pytest.fixture(scope="module")
def audit_4g(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    scen = _scenario_4g()
    res = audit(scen, model="knife", radius_km=3.0)
    folder = tmp_path_factory.mktemp("rep4g")
    write_audit(res, folder)
    return scen, res, folder


def test_report_figure_draws_4g_rsrp_at_its_thresholds(audit_4g, tmp_path) -> None:
    scen, res, folder = audit_4g
    for d in (_from_result(res, scen), _from_folder(read_audit_folder(folder), None)):
        assert d.metric_label == "4G RSRP" and d.coverage_class is None
        assert (d.covered_dbm, d.marginal_dbm) == (-110.0, -120.0)
        np.testing.assert_array_equal(
            d.rx_dbm, np.asarray(res.coverage.by_tech["4G"].best_dbm, dtype=np.float64)
        )
        ok = np.isfinite(d.rx_dbm)
        assert float((d.rx_dbm[ok] >= d.covered_dbm).mean()) < float(
            (np.asarray(res.coverage.rx.best_dbm)[ok] >= -100.0).mean()
        )
    cells = _village_cells(res.villages, res.coverage.transform, res.coverage.crs)
    cls = coverage_class({"4G": d.rx_dbm}, Thresholds())
    assert _agreement(cells, res.villages, lambda r, c: cls[r, c]) > 0.85
    out = coverage_figure(folder, None, tmp_path / "cov.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_figure_two_techs_draws_the_audit_classes(tmp_path) -> None:
    scen = _scenario_4g()
    scen.towers.loc[0, "tech"] = "2G"
    scen.towers.loc[0, "freq_mhz"] = 900.0
    res = audit(scen, model="knife", radius_km=3.0)
    folder = tmp_path / "a"
    write_audit(res, folder)
    thr = Thresholds()
    want = coverage_class({t: c.best_dbm for t, c in res.coverage.by_tech.items()}, thr)
    for d in (_from_result(res, scen), _from_folder(read_audit_folder(folder), None)):
        np.testing.assert_array_equal(d.coverage_class, want)
        assert "4G RSRP" in d.class_labels["covered"] and "2G level" in d.class_labels["covered"]
    cells = _village_cells(res.villages, res.coverage.transform, res.coverage.crs)
    assert _agreement(cells, res.villages, lambda r, c: want[r, c]) > 0.85
    assert coverage_figure(res, scen, tmp_path / "c.png").is_file()
