"""``deadzone whatif`` end to end on a small scenario folder and on the real SRTM tile."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from deadzone.errors import DeadzoneWarning
from deadzone.geo.audit import audit
from deadzone.geo.coverage import compute_coverage
from tests.conftest import shared_file, small_scenario

ENGINE = ["--model", "knife", "--radius-km", "3"]


@pytest.fixture(scope="module")
def scen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(5)
    z = (100.0 + 60.0 * rng.random((200, 200))).astype(np.float32)
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(30, 2))]
    s = small_scenario(
        z=z,
        villages=vil,
        towers=[
            {"x": 1500.0, "y": 1500.0},
            {"x": 4500.0, "y": 4500.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
        ],
    )
    d = tmp_path_factory.mktemp("wi") / "demo_like"
    write_scenario(s, d / "inputs")
    return d


def _lonlat(d: Path, x_m: float, y_m: float) -> tuple[float, float]:
    from tests.conftest import UTM48, X0, Y0

    p = gpd.GeoSeries(gpd.points_from_xy([X0 + x_m], [Y0 - y_m]), crs=UTM48).to_crs(4326)
    return float(p.x.iloc[0]), float(p.y.iloc[0])


def test_whatif_cli_writes_delta_and_maps(scen_dir: Path, tmp_path: Path) -> None:
    lon, lat = _lonlat(scen_dir, 4500.0, 1500.0)
    mlon, mlat = _lonlat(scen_dir, 3000.0, 3000.0)
    out = tmp_path / "wi"
    args = [
        "whatif",
        "--scenario",
        str(scen_dir),
        "--add",
        f"{lon},{lat},40",
        "--add",
        f"{lon + 0.001},{lat - 0.03},35,900,58",
        "--remove",
        "T1",
        "--move",
        f"T0:{mlon},{mlat}",
        "--edit",
        "T0:height_m=45,eirp_dbm=57",
        "--out",
        str(out),
        *ENGINE,
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    m = re.search(r"covered villages: (\d+)/30 → (\d+)/30", res.output)
    assert m, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["before"]["villages_covered"] == int(m.group(1))
    assert summary["after"]["villages_covered"] == int(m.group(2))
    # the final state equals a from-scratch audit of the edited towers
    towers = pd.read_csv(out / "towers_after.csv")
    assert list(towers["tower_id"]) == ["T0", "NEW1", "NEW2"]
    assert towers.loc[1, "tech"] == "4G" and towers.loc[2, "freq_mhz"] == 900.0
    assert towers.loc[0, "height_m"] == 45.0 and towers.loc[0, "eirp_dbm"] == 57.0
    from deadzone.cli.whatif import load_scenario_dir

    scen = load_scenario_dir(scen_dir)
    tw = gpd.GeoDataFrame(
        towers, geometry=gpd.points_from_xy(towers["lon"], towers["lat"]), crs=4326
    )
    cov = compute_coverage(scen.dem, tw, model="knife", radius_km=3.0)
    scen.towers = tw
    ref = audit(scen, coverage=cov)
    assert ref.summary["villages_covered"] == int(m.group(2))
    delta = pd.read_csv(out / "delta_villages.csv")
    v0 = ref.villages.set_index("village_id")
    for _, r in delta.iterrows():
        assert v0.loc[r["village_id"], "status"] == r["status_after"]
    assert len(delta) == len(gpd.read_file(out / "delta_villages.gpkg"))
    edits = pd.read_csv(out / "edits.csv")
    assert list(edits["action"]) == [
        "remove T1",
        "move T0",
        "edit T0 (height_m=45.0, eirp_dbm=57.0)",
        "add NEW1",
        "add NEW2",
    ]
    com = pd.read_csv(out / "delta_communes.csv")
    assert com["villages_covered_change"].sum() == int(m.group(2)) - int(m.group(1))
    for name in ("map_before.html", "map_after.html"):
        html = (out / name).read_text(encoding="utf-8")
        assert "L.map" in html and "cdn.jsdelivr" not in html
    # the two added towers are proposed sites on the after map (issue 16), none before
    assert "Proposed sites (2)" in (out / "map_after.html").read_text(encoding="utf-8")
    assert "Proposed sites" not in (out / "map_before.html").read_text(encoding="utf-8")
    # no overwrite without --overwrite
    res2 = CliRunner().invoke(cli, args)
    assert res2.exit_code == 2 and "already exists" in res2.output


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (["--add", "105.1,21.5"], "expected lon,lat,height_m"),
        (["--move", "T0-105,21"], "TOWER_ID:lon,lat"),
        (["--edit", "T0:colour=red"], "is not field=value"),
        (["--remove", "NOPE"], "no tower with tower_id 'NOPE'"),
        (["--edit", "NOPE:height_m=40"], "no tower with tower_id 'NOPE'"),
        (["--move", "T0:10.0,10.0"], "10.00000,10.00000 lies outside the scenario's DEM"),
        (["--add", "10.0,10.0,30"], "10.00000,10.00000 lies outside the scenario's DEM"),
        ([], "at least one"),
    ],
)
def test_whatif_cli_bad_input(scen_dir: Path, tmp_path: Path, extra: list[str], msg: str,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    import deadzone.geo.whatif as gw

    def no_session(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("a bad request must fail before the session's coverage")

    monkeypatch.setattr(gw, "Session", no_session)
    res = CliRunner().invoke(
        cli, ["whatif", "--scenario", str(scen_dir), "--out", str(tmp_path / "o"), *ENGINE, *extra]
    )
    assert res.exit_code == 2
    assert msg in res.output and "Traceback" not in res.output


def test_whatif_cli_real_srtm(shared_data: Path, tmp_path: Path) -> None:
    """Real SRTM box with OSM settlements: add a tower, the delta is consistent."""
    from deadzone.data.loaders import assign_communes, load_communes, load_dem
    from deadzone.model.scenario import Scenario

    bounds = (105.15, 21.75, 105.30, 21.90)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadzoneWarning)
        dem = load_dem(shared_file(shared_data, "srtm3/N21E105.hgt"), bounds_lonlat=bounds)
        communes = load_communes(
            shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg"), bbox=bounds
        )
        s = gpd.read_file(
            shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson"), bbox=bounds
        )
        villages = gpd.GeoDataFrame(
            {
                "village_id": [f"OSM{i}" for i in range(len(s))],
                "name": s["name"].fillna("").astype(str).to_numpy(),
                "commune_id": "",
                "population": 200,
                "households": 45,
            },
            geometry=s.geometry.to_numpy(),
            crs=4326,
        )
        villages = assign_communes(villages, communes)
    towers = gpd.GeoDataFrame(
        {
            "tower_id": ["T0"],
            "tech": ["4G"],
            "freq_mhz": [1800.0],
            "eirp_dbm": [61.0],
            "height_m": [30.0],
        },
        geometry=[villages.geometry.iloc[0]],
        crs=4326,
    )
    towers["lon"] = towers.geometry.x
    towers["lat"] = towers.geometry.y
    scen = Scenario(dem=dem, communes=communes, villages=villages, towers=towers, name="real")
    d = tmp_path / "real"
    write_scenario(scen, d)
    c = villages.geometry.iloc[len(villages) // 2]
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli,
        [
            "whatif",
            "--scenario",
            str(d),
            "--add",
            f"{c.x},{c.y},40",
            "--out",
            str(out),
            *ENGINE,
        ],
    )
    assert res.exit_code == 0, res.output
    m = re.search(r"covered villages: (\d+)/(\d+) → (\d+)/(\d+)", res.output)
    assert m and int(m.group(2)) == len(villages) >= 20
    assert int(m.group(3)) > int(m.group(1))
    delta = pd.read_csv(out / "delta_villages.csv")
    assert (delta["status_after"] == "covered").sum() == int(m.group(3)) - int(m.group(1))


def test_whatif_runs_on_an_audit_output(scen_dir: Path, tmp_path: Path) -> None:
    """``--scenario`` takes a ``deadzone audit`` folder: the inputs named in its
    summary.json are read again, as the audit read them."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(scen_dir / "inputs", src)
    audit_out = tmp_path / "audit_out"
    res = CliRunner().invoke(cli, [
        "audit", "--dem", str(src / "dem.tif"), "--villages", str(src / "villages.gpkg"),
        "--communes", str(src / "communes.gpkg"), "--towers", str(src / "towers.csv"),
        "--out", str(audit_out), "-q", *ENGINE])
    assert res.exit_code == 0, res.output
    base = json.loads((audit_out / "summary.json").read_text(encoding="utf-8"))
    lon, lat = _lonlat(scen_dir, 3000.0, 3000.0)
    out = tmp_path / "w"
    res = CliRunner().invoke(cli, ["whatif", "--scenario", str(audit_out), "--out", str(out),
                                   "--add", f"{lon},{lat},40", "-q", *ENGINE])
    assert res.exit_code == 0, res.output
    assert "covered villages" not in res.output  # -q: no summary, as its help says
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["before"]["villages_covered"] == base["villages_covered"]
    # an input changed since the audit: said, and used as it is now
    towers = src / "towers.csv"
    towers.write_text(towers.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["whatif", "--scenario", str(audit_out), "--out",
                                   str(tmp_path / "w3"), "--add", f"{lon},{lat},40", *ENGINE])
    assert res.exit_code == 0, res.output
    assert "towers.csv: changed since the audit" in res.output
    # a folder that is none of the three kinds: one line naming it
    res = CliRunner().invoke(cli, ["whatif", "--scenario", str(tmp_path), "--out",
                                   str(tmp_path / "w2"), "--remove", "T0", *ENGINE])
    assert res.exit_code == 2 and "not a scenario folder" in res.output
    assert "Traceback" not in res.output


def test_whatif_cli_too_small_a_memory_budget(scen_dir: Path, tmp_path: Path) -> None:
    """Issue 18 items 1 and 7: the refusal gives what the session needs and the
    smallest budget that works, and that budget runs."""
    args = ["whatif", "--scenario", str(scen_dir), *ENGINE, "-q",
            "--add", ",".join(f"{v:.6f}" for v in _lonlat(scen_dir, 3000, 3000)) + ",40"]
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a"), "--max-memory", "1MB"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    m = re.search(r"the smallest budget that works is --max-memory (\d+)MB", res.output)
    assert m, res.output
    assert "this process with the scenario" in res.output
    # more towers than --max-towers: refused before the session's coverage
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "c"), "--max-towers", "2"])
    assert res.exit_code == 2
    assert "the edits leave 3 towers, more than --max-towers 2" in res.output
    # the process grows a little between the two runs (imports, caches): 5% more
    ok = f"{int(int(m.group(1)) * 1.05)}MB"
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b"), "--max-memory", ok])
    assert res.exit_code == 0, res.output
