"""End-to-end CLI tests on real data from ../shared/data (fail when missing)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from tests.conftest import shared_file

pytestmark = pytest.mark.slow

TILE = (105.0, 21.0, 106.0, 22.0)


@pytest.fixture(scope="module")
def real_inputs(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SRTM tile + 2025 communes on it + OSM settlements in it + a tower per commune."""
    d = tmp_path_factory.mktemp("real")
    dem = shared_file(shared_data, "srtm3/N21E105.hgt")
    communes = shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg")
    settlements = shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson")
    s = gpd.read_file(settlements)
    inside = s.geometry.x.between(TILE[0], TILE[2]) & s.geometry.y.between(TILE[1], TILE[3])
    villages = d / "villages.geojson"
    s[inside].to_file(villages, driver="GeoJSON")
    c = gpd.read_file(communes, bbox=TILE)
    on_tile = c["center_lon"].between(TILE[0], TILE[2]) & c["center_lat"].between(TILE[1], TILE[3])
    towers = d / "towers.csv"
    pd.DataFrame({
        "tower_id": "T-" + c.loc[on_tile, "ward_code"].astype(str),
        "lon": c.loc[on_tile, "center_lon"], "lat": c.loc[on_tile, "center_lat"],
        "tech": "4G",
    }).to_csv(towers, index=False)
    return {"dem": dem, "communes": communes, "villages": villages, "towers": towers,
            "n_villages": int(inside.sum())}


def test_audit_on_real_srtm_tile(real_inputs: dict, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    args = ["audit", "--dem", str(real_inputs["dem"]), "--villages",
            str(real_inputs["villages"]), "--communes", str(real_inputs["communes"]),
            "--towers", str(real_inputs["towers"]), "--out", str(out), "--quiet"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    for name in ("villages.gpkg", "villages.csv", "communes.csv", "provinces.csv",
                 "summary.json", "coverage.tif", "best_server.tif", "map.html"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    n = real_inputs["n_villages"]
    assert summary["villages_total"] == n > 200
    v = gpd.read_file(out / "villages.gpkg", layer="villages")
    assert len(v) == n and v["village_id"].is_unique
    communes = pd.read_csv(out / "communes.csv")
    for col in ("villages_total", "villages_covered", "villages_marginal", "villages_dead"):
        assert communes[col].sum() == summary[col]
    share = summary["villages_covered"] / summary["villages_total"]
    assert 0.0 < share < 1.0
    assert summary["towers"] > 200
    assert summary["dem"]["voids_filled"] > 0
    assert summary["inputs"]["dem"]["sha256"]
    # the 2025 commune set contributes the commune rows
    assert len(communes) >= 250

    # a second run refuses to overwrite, with a one-line error and exit code 2
    res2 = CliRunner().invoke(cli, args)
    assert res2.exit_code == 2
    assert "already exists" in res2.output and "Traceback" not in res2.output

    # every village that is not covered carries a reason; covered ones carry none
    not_cov = v["status"] != "covered"
    assert v.loc[not_cov, "reason"].notna().all()
    assert v.loc[~not_cov, "reason"].isna().all()
    assert sum(summary["reasons"].values()) == int(not_cov.sum())

    # progress of the audit against itself: nothing changes, every village matched by id
    prog = tmp_path / "progress"
    res3 = CliRunner().invoke(
        cli, ["progress", "--baseline", str(out), "--current", str(out), "--out", str(prog)]
    )
    assert res3.exit_code == 0, res3.output
    ps = json.loads((prog / "progress_summary.json").read_text(encoding="utf-8"))
    pv = pd.read_csv(prog / "progress_villages.csv")
    assert len(pv) == n
    trans = pv["transition"].value_counts().to_dict()
    assert set(trans) <= {"still_covered", "still_dead"}
    assert trans.get("still_covered", 0) == summary["villages_covered"]
    assert ps["transitions"]["newly_dead"] == ps["transitions"]["newly_covered"] == 0
