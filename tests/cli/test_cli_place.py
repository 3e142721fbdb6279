"""``deadzone place`` end to end on a small scenario folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from shapely.geometry import LineString, Point

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import UTM48, X0, Y0, small_scenario

ENGINE = ["--model", "knife", "--radius-km", "3"]


@pytest.fixture(scope="module")
def scen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    z = (100.0 + 50.0 * rng.random((200, 200))).astype(np.float32)
    z[:, 95:100] += 250.0
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(40, 2))]
    s = small_scenario(z=z, villages=vil, towers=[{"x": 1200.0, "y": 1500.0}])
    s.villages["has_grid_power"] = [i % 3 != 0 for i in range(len(s.villages))]
    s.backbone = gpd.GeoDataFrame(
        {"node_id": ["FN1"], "name": ["Nút quang"]}, geometry=[Point(X0 + 500, Y0 - 500)], crs=UTM48
    ).to_crs(4326)
    s.roads = gpd.GeoDataFrame(
        {"road_id": ["R1"], "road_class": ["provincial"]},
        geometry=[
            LineString([(X0 + 500, Y0 - 500), (X0 + 500, Y0 - 5500), (X0 + 5500, Y0 - 5500)])
        ],
        crs=UTM48,
    ).to_crs(4326)
    d = tmp_path_factory.mktemp("pl") / "scen"
    write_scenario(s, d)
    return d


def _run(args: list[str]):  # noqa: ANN202
    return CliRunner().invoke(cli, ["place", *args, *ENGINE])


def test_place_cli_milp_outputs(scen_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "pl"
    res = _run(
        [
            "--scenario",
            str(scen_dir),
            "--budget-towers",
            "3",
            "--objective",
            "villages",
            "--solver",
            "milp",
            "--min-spacing-m",
            "800",
            "--out",
            str(out),
        ]
    )
    assert res.exit_code == 0, res.output
    m = re.search(r"covered villages: (\d+)/40 → (\d+)/40", res.output)
    assert m and int(m.group(2)) > int(m.group(1))
    assert "matches the prediction" in res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["villages_covered_after_predicted"] == int(m.group(2))
    assert summary["villages_covered_after_reaudited"] == int(m.group(2))
    assert summary["solver"]["gap"] == 0.0
    # the chosen sites are drawn as proposed sites, not as existing towers (issue 16)
    import pandas as pd

    n_sites = len(pd.read_csv(out / "sites.csv"))
    html = (out / "map.html").read_text(encoding="utf-8")
    assert f"Proposed sites ({n_sites})" in html
    from deadzone.cli.whatif import load_scenario_dir

    assert f"Towers ({len(load_scenario_dir(scen_dir).towers)})" in html
    sites = pd.read_csv(out / "sites.csv")
    assert 1 <= len(sites) <= 3
    for col in (
        "capex_vnd",
        "power_option",
        "power_vnd",
        "backhaul",
        "backhaul_vnd",
        "total_vnd",
        "villages_covered",
        "village_ids",
    ):
        assert col in sites.columns
    np.testing.assert_allclose(
        sites["total_vnd"], sites["capex_vnd"] + sites["power_vnd"] + sites["backhaul_vnd"]
    )
    assert set(sites["backhaul"]) <= {"microwave", "fiber", "existing", "microwave_relay"}
    assert sites["new_villages"].sum() == int(m.group(2)) - int(m.group(1))
    assert len(gpd.read_file(out / "sites.gpkg")) == len(sites)
    cand = pd.read_csv(out / "candidates.csv")
    assert cand["chosen"].sum() == len(sites)
    assert "covered villages:" in (out / "report.txt").read_text(encoding="utf-8")
    assert "NEW-" in (out / "map.html").read_text(encoding="utf-8")
    # each microwave hop to a fiber site, with its check and its profile (issue 22 item 3)
    hops = pd.read_csv(out / "hops.csv")
    mw = sites[sites["backhaul"] == "microwave"].set_index("candidate_id")
    assert sorted(hops["option_id"].astype(str)) == sorted(mw.index.astype(str))
    if len(hops):
        assert (hops["clearance_f1"] >= 0.6).all()
        np.testing.assert_allclose(hops["clearance_f1"],
                                   mw.loc[hops["option_id"], "hop_clearance_f1"], rtol=1e-9)
        prof = pd.read_csv(out / "hop_profiles.csv")
        assert set(prof["option_id"]) == set(hops["option_id"])


def test_place_cli_money_budget_costs_file_and_user_candidates(
    scen_dir: Path, tmp_path: Path
) -> None:
    from tests.conftest import UTM48 as crs

    pts = gpd.GeoSeries([Point(X0 + 4000, Y0 - 3000), Point(X0 + 2000, Y0 - 4500)], crs=crs).to_crs(
        4326
    )
    cfile = tmp_path / "c.csv"
    pd.DataFrame(
        {"candidate_id": ["U1", "U2"], "lon": pts.x, "lat": pts.y, "height_m": [40, 35]}
    ).to_csv(cfile, index=False)
    costs = tmp_path / "costs.toml"
    costs.write_text("tower_capex_vnd = 1.0e9\nsolar_vnd = 0.2e9\n", encoding="utf-8")
    out = tmp_path / "pl2"
    res = _run(
        [
            "--scenario",
            str(scen_dir),
            "--budget-vnd",
            "2.5e9",
            "--objective",
            "population",
            "--candidates",
            str(cfile),
            "--no-auto-candidates",
            "--costs",
            str(costs),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert res.exit_code == 0, res.output
    assert "covered villages" not in res.output  # --quiet: no summary
    sites = pd.read_csv(out / "sites.csv")
    assert set(sites["candidate_id"]) <= {"U1", "U2"}
    assert sites["total_vnd"].sum() <= 2.5e9
    assert (sites["capex_vnd"] == 1.0e9).all()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["costs"]["tower_capex_vnd"] == 1.0e9
    report = (out / "report.txt").read_text(encoding="utf-8")
    assert "tower_capex_vnd = 1,000,000,000" in report and "e+09" not in report
    assert summary["candidates"] == {"user": 2}


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (["--budget-towers", "2", "--budget-vnd", "1e9"], "exactly one"),
        ([], "exactly one"),
        (["--budget-towers", "2", "--no-auto-candidates"], "needs --candidates"),
        (["--budget-vnd", "1e6"], "below the cheapest possible site, 0.60 billion VND"),
    ],
)
def test_place_cli_bad_options(scen_dir: Path, tmp_path: Path, extra: list[str], msg: str) -> None:
    res = _run(["--scenario", str(scen_dir), "--out", str(tmp_path / "o"), *extra])
    assert res.exit_code == 2 and msg in res.output


def test_place_cli_bad_costs_key(scen_dir: Path, tmp_path: Path) -> None:
    costs = tmp_path / "costs.toml"
    costs.write_text("tower_capex = 1.0e9\n", encoding="utf-8")
    res = _run(
        [
            "--scenario",
            str(scen_dir),
            "--budget-towers",
            "1",
            "--costs",
            str(costs),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert res.exit_code == 2
    assert "unknown key 'tower_capex'" in res.output and "Traceback" not in res.output
