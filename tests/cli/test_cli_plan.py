"""``deadzone plan`` end to end: the demo province (budget and target), bad
input, and the real SRTM tile."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from deadzone.app.plan import PLAN_FILES, load_costs
from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import demo_villages_only

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("plan") / "demo"
    write_scenario(demo_villages_only(0), d)
    return d


def _run(args: list[str]):  # noqa: ANN202
    return CliRunner().invoke(cli, ["plan", *args])


@pytest.fixture(scope="module")
def budget_run(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("plan") / "out"
    t0 = time.perf_counter()
    r = _run(["--scenario", str(demo_dir), "--years", "4", "--budget-per-year", "25e9",
              "--start-year", "2027", "--time-limit-s", "15", "--out", str(out)])
    elapsed = time.perf_counter() - t0
    assert r.exit_code == 0, r.output
    return out, r.output, elapsed


def test_demo_budget_plan_outputs(budget_run) -> None:  # noqa: ANN001
    out, text, elapsed = budget_run
    assert elapsed < 60.0  # the demo province plans in under a minute
    for f in PLAN_FILES:
        assert (out / f).is_file(), f
    m = re.search(r"by 2030: ([\d,]+)/([\d,]+) dead-zone villages connected \(([\d,]+) by mobile "
                  r"signal, ([\d,]+) by satellite\); cost ([\d,]+) bn VND NPV", text)
    assert m, text
    connected, total, mobile, sat, _ = (int(g.replace(",", "")) for g in m.groups())
    assert connected == mobile + sat and 0 < connected <= total
    assert "(matches the plan)" in text
    s = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert s["reaudit_matches"] is True
    assert (s["connected"], s["dead_zone_villages"]) == (connected, total)
    assert s["parameters"]["budget_per_year_vnd"] == 25e9
    assert set(s["outputs"]) == set(PLAN_FILES) - {"plan_summary.json"}
    y = pd.read_csv(out / "plan_years.csv")
    assert list(y["year"]) == [2027, 2028, 2029, 2030]
    assert (y["spend_vnd"] <= 25e9).all()
    assert (y["covered_villages_predicted"] == y["covered_villages_reaudited"]).all()
    v = pd.read_csv(out / "plan_villages.csv")
    assert len(v) == s["villages_total"] and v["village_id"].is_unique
    assert (v["option_id"].notna()).sum() == connected
    assert v.loc[v["option_id"].isna() & v["status_now"].isin(["dead", "marginal"]),
                 "plan_note"].str.startswith("not reached within the budget").all()
    sites = gpd.read_file(out / "plan_sites.gpkg", layer="sites")
    assert set(sites["kind"]) <= {"macro", "upgrade", "small_cell", "satellite"}
    assert (sites.loc[sites["power_option"] == "solar", "pv_kwp"] > 0).all()
    assert {"sites", "backhaul"} <= {n for n, _ in pyogrio.list_layers(out / "plan_sites.gpkg")}
    # every microwave hop with its profile; its check is the one that chose it
    hops = pd.read_csv(out / "hops.csv")
    mw_sites = sites[sites["backhaul"] == "microwave"].set_index("option_id")
    assert sorted(hops["option_id"]) == sorted(mw_sites.index)
    assert (hops["clearance_f1"] >= 0.6).all() and (hops["availability_pct"] >= 99.99).all()
    assert (hops["clearance_f1"].to_numpy()
            == mw_sites.loc[hops["option_id"], "hop_clearance_f1"].to_numpy()).all()
    prof = pd.read_csv(out / "hop_profiles.csv")
    assert set(prof["option_id"]) == set(hops["option_id"])
    # the costs it used, as a costs file that reads back to the defaults
    assert load_costs(out / "plan_costs.toml") == load_costs(None)
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "2027:" in html and "Dead-zone villages not planned" in html
    assert not re.search(r'<(script|link|img)[^>]+(src|href)\s*=\s*"https?://', html)  # offline


def test_demo_target_plan_reaches_it(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    r = _run(["--scenario", str(demo_dir), "--target", "all by 2028", "--start-year", "2027",
              "--budget-per-year", "200e9", "--time-limit-s", "15", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert s["target_met"] is True and s["connected"] == s["dead_zone_villages"]
    assert s["question"] == "target"


@pytest.mark.parametrize(("args", "msg"), [
    (["--target", "everyone by 2030"], "target 'everyone by 2030'"),
    (["--target", "all by 2020"], "before the plan's start"),
    ([], "give --budget-per-year, --target, or both"),
    (["--budget-per-year", "1e9", "--years", "30"], "longer than the horizon"),
])
def test_bad_requests_one_line(demo_dir: Path, tmp_path: Path, args: list[str],
                               msg: str) -> None:
    r = _run(["--scenario", str(demo_dir), "--start-year", "2027", "--out",
              str(tmp_path / "x"), *args])
    assert r.exit_code == 2
    assert msg in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x" / "plan_summary.json").exists()


def test_bad_costs_file_names_file_and_key(demo_dir: Path, tmp_path: Path) -> None:
    c = tmp_path / "costs.toml"
    c.write_text("[satellite]\nfee = 1\n", encoding="utf-8")
    r = _run(["--scenario", str(demo_dir), "--budget-per-year", "1e9", "--costs", str(c),
              "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert f"{c} [satellite]: unknown key 'fee'" in r.output


def test_never_overwrites_without_flag(budget_run, demo_dir: Path) -> None:  # noqa: ANN001
    out, _, _ = budget_run
    before = (out / "plan_summary.json").read_bytes()
    r = _run(["--scenario", str(demo_dir), "--budget-per-year", "1e9", "--out", str(out)])
    assert r.exit_code != 0 and "--overwrite" in r.output
    assert (out / "plan_summary.json").read_bytes() == before


def test_plan_on_the_real_tile(shared_data: Path, tmp_path: Path) -> None:
    """Audit of the SRTM N21E105 tile (OSM settlements, a 4G tower at every
    fourth commune centre), then its plan from the audit folder."""
    from tests.conftest import real_tile_inputs

    dem, communes, s, _ = real_tile_inputs(shared_data, tmp_path)
    engine = ["--radius-km", "10"]
    a = tmp_path / "audit"
    r = CliRunner().invoke(cli, ["audit", "--dem", str(dem), "--villages",
                                 str(tmp_path / "villages.geojson"), "--communes", str(communes),
                                 "--towers", str(tmp_path / "towers.csv"), "--no-rasters",
                                 *engine, "--out", str(a), "-q"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "plan"
    r = _run(["--scenario", str(a), "--target", "all by 2029", "--start-year", "2027",
              "--objective", "villages", "--max-candidates", "60", "--time-limit-s", "20",
              *engine, "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    audit = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    assert summary["villages_total"] == audit["villages_total"] == len(s)
    assert summary["covered_now"] == audit["villages_covered"]
    assert summary["dead_zone_villages"] == audit["villages_dead"] + audit["villages_marginal"] > 0
    assert summary["reaudit_matches"] is True
    assert summary["target_met"] is True
    v = pd.read_csv(out / "plan_villages.csv")
    assert len(v) == len(s)


def test_report_has_the_plan_section(budget_run, demo_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out, _, _ = budget_run
    a = tmp_path / "audit"
    r = CliRunner().invoke(cli, ["audit", "--dem", str(demo_dir / "dem.tif"), "--villages",
                                 str(demo_dir / "villages.gpkg"), "--communes",
                                 str(demo_dir / "communes.gpkg"), "--towers",
                                 str(demo_dir / "towers.csv"), "--no-rasters", "--out", str(a),
                                 "-q"])
    assert r.exit_code == 0, r.output
    page = tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["report", "--audit", str(a), "--plan", str(out), "--out",
                                 str(page), "-q"])
    assert r.exit_code == 0, r.output
    html = page.read_text(encoding="utf-8")
    for text in ("<h2>Programme plan</h2>", "<h3>By year</h3>", "<h3>By option</h3>",
                 "<h3>Costs used</h3>", "<td>2027</td>", "tower_capex_vnd"):
        assert text in html, text
    hops = pd.read_csv(out / "hops.csv")
    assert html.count('<img alt="hop ') == min(len(hops), 30) > 0
    first = (out / "report.txt").read_text(encoding="utf-8").splitlines()[0]
    assert first.replace("->", "-&gt;") in html


def test_plan_from_an_audit_of_other_settings_stops(demo_dir: Path, tmp_path: Path) -> None:
    a = tmp_path / "audit"
    r = CliRunner().invoke(cli, ["audit", "--dem", str(demo_dir / "dem.tif"), "--villages",
                                 str(demo_dir / "villages.gpkg"), "--communes",
                                 str(demo_dir / "communes.gpkg"), "--towers",
                                 str(demo_dir / "towers.csv"), "--no-rasters", "--model", "fspl",
                                 "--out", str(a), "-q"])
    assert r.exit_code == 0, r.output
    r = _run(["--scenario", str(a), "--budget-per-year", "1e9", "--out", str(tmp_path / "p")])
    assert r.exit_code == 2
    assert "village statuses differ from this run's (model itm" in r.output
    assert "villages.csv" in r.output


def test_plan_hangs_sites_on_the_planned_fiber(demo_dir: Path, tmp_path: Path) -> None:
    """With --fiber, a site may take a spur to a route of the fiber plan, never
    before the year that route is laid."""
    from deadzone.app.plan import fiber_plan_anchors

    fib = tmp_path / "fiber"
    r = CliRunner().invoke(cli, ["fiber", "--scenario", str(demo_dir), "--budget-km-per-year",
                                 "40", "--years", "3", "--out", str(fib), "-q"])
    assert r.exit_code == 0, r.output
    anchors = fiber_plan_anchors(fib)
    routes = gpd.read_file(fib / "routes.gpkg", layer="routes")
    assert set(anchors["year_index"]) == {p - 1 for p in routes["phase"] if p >= 1}
    out = tmp_path / "plan"
    r = _run(["--scenario", str(demo_dir), "--years", "4", "--budget-per-year", "25e9",
              "--start-year", "2027", "--time-limit-s", "15", "--fiber", str(fib),
              "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert s["reaudit_matches"] is True and s["parameters"]["fiber_plan"] == str(fib)
    sites = pd.read_csv(out / "plan_sites.csv")
    on_plan = sites[sites["backhaul"] == "planned_fiber"]
    assert len(on_plan)  # the demo's fiber plan is cheaper for some sites
    year_of = dict(zip(anchors["anchor_id"], anchors["year_index"], strict=True))
    for _, row in on_plan.iterrows():
        assert row["year"] - 2027 >= year_of[row["backhaul_to"]] == row["earliest_year_index"]
    # one site is never built twice (its own backhaul and on the planned fiber)
    base = sites["option_id"].str.split("+").str[0]
    assert base.is_unique
    bh = gpd.read_file(out / "plan_sites.gpkg", layer="backhaul")
    assert set(on_plan["option_id"]) <= set(bh["option_id"])
    km = routes.loc[routes["phase"] >= 1, "length_m"].sum() / 1000
    assert f"Planned fiber ({km:,.1f} km)" in (out / "map.html").read_text(encoding="utf-8")


def test_fiber_folder_must_be_a_fiber_plan(demo_dir: Path, tmp_path: Path) -> None:
    r = _run(["--scenario", str(demo_dir), "--budget-per-year", "1e9", "--fiber",
              str(demo_dir), "--out", str(tmp_path / "p")])
    assert r.exit_code == 2
    assert "no routes.gpkg" in r.output


def _irradiation_tif(path: Path, value_fn, crs: str = "EPSG:4326") -> Path:  # noqa: ANN001
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    lon0, lat0, step = 104.5, 22.6, 0.01
    n = 80
    lat = lat0 - step * (np.arange(n) + 0.5)
    lon = lon0 + step * (np.arange(n) + 0.5)
    z = value_fn(*np.meshgrid(lon, lat)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32",
                       crs=crs, transform=from_origin(lon0, lat0, step, step),
                       nodata=-9999.0) as dst:
        dst.write(z, 1)
    return path


def test_irradiation_raster_sizes_solar_per_site(tmp_path: Path) -> None:
    """Solar is sized for the irradiation under each site: PV kWp x irradiation
    is the same daily energy everywhere (hand check: E / (H x PR))."""
    import numpy as np

    from deadzone.app.plan import irradiation_sampler

    tif = _irradiation_tif(tmp_path / "ghi.tif", lambda lon, lat: 2.5 + (lon - 104.5) * 3)
    f = irradiation_sampler(tif)
    got = f(np.array([104.505, 104.905, 110.0]), np.array([22.3, 22.3, 22.3]))
    assert got[0] == pytest.approx(2.5 + 0.005 * 3, abs=1e-5)
    assert got[1] == pytest.approx(2.5 + 0.405 * 3, abs=1e-5)
    assert np.isnan(got[2])  # off the raster: the [solar] constant is used
    yearly = _irradiation_tif(tmp_path / "y.tif", lambda lon, lat: 1300 + 0 * lon)
    from deadzone.errors import DataLoadError

    with pytest.raises(DataLoadError, match="kWh/m²/year: divide by 365"):
        irradiation_sampler(yearly)


def test_plan_with_an_irradiation_raster(demo_dir: Path, tmp_path: Path) -> None:
    tif = _irradiation_tif(tmp_path / "ghi.tif", lambda lon, lat: 2.5 + (lon - 104.5) * 3)
    out = tmp_path / "p"
    r = _run(["--scenario", str(demo_dir), "--years", "2", "--budget-per-year", "30e9",
              "--start-year", "2027", "--solver", "greedy", "--irradiation-raster", str(tif),
              "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    sites = pd.read_csv(out / "plan_sites.csv")
    solar = sites[sites["power_option"] == "solar"]
    assert len(solar) and solar["irradiation_kwh_m2_day"].nunique() > 1
    load = solar["kind"].map({"macro": 1200.0, "small_cell": 150.0})
    energy = solar["pv_kwp"] * solar["irradiation_kwh_m2_day"] * 0.75
    assert (energy - load * 24 / 1000).abs().max() < 0.05  # rounded kWp in the CSV
    s = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert s["parameters"]["irradiation_raster"] == str(tif)
