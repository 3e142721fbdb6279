"""``deadzone fiber`` end to end: demo, scenario folder, files, errors."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.ofds import read_backbone
from tests.conftest import demo_villages_only


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fiber") / "out"
    res = CliRunner().invoke(
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
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return out, res.output


def test_demo_writes_every_output(demo_run):
    out, output = demo_run
    assert "steiner design" in output and "greedy design" in output
    assert "lower bound" in output and "communes with fiber" in output
    routes = gpd.read_file(out / "routes.gpkg", layer="routes")
    assert {"phase", "length_m", "cost"} <= set(routes.columns)
    assert routes.crs.to_epsg() == 4326
    phases = pd.read_csv(out / "phases.csv")
    assert phases["phase"].tolist() == [0, 1, 2, 3]
    assert (phases["km"].iloc[1:] <= 40 + 1e-6).all()
    by_phase = routes[routes["phase"] >= 1].groupby("phase")["length_m"].sum() / 1000
    assert (by_phase <= 40 + 1e-6).all()
    assert phases["households_pct"].is_monotonic_increasing
    doc = json.loads((out / "phases.json").read_text(encoding="utf-8"))
    # phases.csv is rounded for reading (metres, whole money); phases.json is not
    assert (phases["km"] == phases["km"].round(3)).all()
    assert (phases["cost"] == phases["cost"].round(0)).all()
    assert phases["cost"].sum() == pytest.approx(sum(p["cost"] for p in doc["phases"]), abs=5)
    assert doc["designs"]["lower_bound_cost"] <= doc["designs"]["steiner"]["cost"]
    targets = pd.read_csv(out / "targets.csv", encoding="utf-8-sig")
    assert len(targets) == 42  # every demo commune, with a status
    assert targets["status"].isin(["connected", "later", "unreachable"]).all()
    assert targets.loc[targets["status"] != "connected", "reason"].notna().all()
    layers = [name for name, _ in pyogrio.list_layers(out / "routes.gpkg")]
    assert layers == ["routes", "targets"]
    nodes, spans = read_backbone(out / "ofds" / "nodes.geojson")
    assert len(spans) == len(routes)
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "Phase 1:" in html and "Phase 3:" in html and "Existing fiber" in html
    assert "cdn.jsdelivr" not in html and '<script src="http' not in html


def test_refuses_to_overwrite_and_reports_errors(demo_run, tmp_path):
    out, _ = demo_run
    r = CliRunner().invoke(cli, ["fiber", "--demo", "--out", str(out)])
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = CliRunner().invoke(cli, ["fiber", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "error:" in r.output and "no roads" in r.output
    r = CliRunner().invoke(
        cli, ["fiber", "--demo", "--targets", "nowhere.gpkg", "--out", str(tmp_path / "y")]
    )
    assert r.exit_code == 2 and "nowhere.gpkg" in r.output
    r = CliRunner().invoke(
        cli, ["fiber", "--demo", "--class-cost", "bad", "--out", str(tmp_path / "z")]
    )
    assert r.exit_code == 2 and "CLASS=MULTIPLIER" in r.output


def test_files_only_run_with_villages_file_targets_and_greedy(tmp_path):

    s = demo_villages_only(0)
    s.roads.to_file(tmp_path / "roads.gpkg")
    s.backbone.to_file(tmp_path / "backbone.geojson")
    v = s.villages.iloc[:60].copy()
    v[["village_id", "name", "households", "geometry"]].to_file(tmp_path / "t.gpkg")
    r = CliRunner().invoke(
        cli,
        [
            "fiber",
            "--roads",
            str(tmp_path / "roads.gpkg"),
            "--backbone",
            str(tmp_path / "backbone.geojson"),
            "--targets",
            str(tmp_path / "t.gpkg"),
            "--method",
            "greedy",
            "--max-link-km",
            "8",
            "--drop",
            "road",
            "--reach-mode",
            "road",
            "--budget-per-year",
            "3e9",
            "--years",
            "2",
            "-q",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "o" / "targets.csv", encoding="utf-8-sig")
    assert len(t) == 60 and t["target_id"].str.startswith("V").all()
    routes = gpd.read_file(tmp_path / "o" / "routes.gpkg", layer="routes")
    assert (routes["design"] == "greedy").all()
    assert (routes[routes["phase"] >= 1].groupby("phase")["cost"].sum() <= 3e9 * 1.000001).all()


@pytest.mark.slow
def test_map_renders_offline_with_one_layer_per_phase(demo_run, tmp_path):
    from tests.maps.test_folium_map import _chromium, _run_chromium

    browser = _chromium()
    if browser is None:
        pytest.fail("chromium is required for the browser tests (apt-get install chromium)")
    out, _ = demo_run
    dom = _run_chromium(
        browser, tmp_path / "profile", "--dump-dom", (out / "map.html").resolve().as_uri()
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for p in (1, 2, 3):
        assert f"Phase {p}: " in html
    assert "Existing fiber" in html and "leaflet-control-layers-selector" in html
    assert "<canvas" in html  # Leaflet drew the vectors (prefer_canvas)


def test_scenario_folder_with_tower_targets(tmp_path):
    from deadzone.data.io import write_scenario

    write_scenario(demo_villages_only(0), tmp_path / "inputs")
    r = CliRunner().invoke(
        cli,
        [
            "fiber",
            "--scenario",
            str(tmp_path / "inputs"),
            "--targets",
            "towers",
            "--improve-s",
            "0.5",
            "--bound-s",
            "1",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "o" / "targets.csv", encoding="utf-8-sig")
    assert (t["kind"] == "tower").all() and t["target_id"].is_unique
    assert t["households"].sum() > 0  # each tower valued by its nearest villages
    phases = pd.read_csv(tmp_path / "o" / "phases.csv")
    assert phases["phase"].tolist() == [0, 1]  # no budget: the whole design is phase 1
    assert phases["households_pct"].iloc[-1] > phases["households_pct"].iloc[0]


def test_fiber_costs_carry_their_currency(tmp_path) -> None:  # noqa: ANN001
    """Issue 16 item 8: costs printed without their unit."""
    from click.testing import CliRunner

    from deadzone.cli.main import cli

    r = CliRunner().invoke(cli, ["fiber", "--demo", "--budget-km-per-year", "40", "--years", "1",
                                 "--currency", "USD", "--cost-per-km", "10000",
                                 "--drop-cost-per-km", "5000", "--site-cost", "800",
                                 "--out", str(tmp_path / "f")])
    assert r.exit_code == 0, r.output
    costs = [ln for ln in r.output.splitlines() if "cost " in ln]
    assert costs and all(" USD" in ln for ln in costs), costs
