"""Unlisted settlements in an audit's outputs: files, summary, map (deadzone.app.audit)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from deadzone.app.audit import run_audit
from deadzone.geo.coverage import EngineParams
from deadzone.geo.export import SETTLEMENT_FILES
from deadzone.geo.settlements import SettlementParams
from deadzone.maps.audit_map import audit_map
from deadzone.maps.folium_map import save_map
from deadzone.model.thresholds import Thresholds
from tests.settlement_fixtures import settlement_scenario

PARAMS = EngineParams(model="knife", radius_km=3.0)


def _audit(out: Path, *, population: bool = True, rasters: bool = True,
           settlements: SettlementParams | None = None):  # noqa: ANN202
    return run_audit(settlement_scenario(population=population), out, params=PARAMS,
                     thresholds=Thresholds(), rasters=rasters, settlements=settlements)


def test_audit_writes_unlisted_settlements(tmp_path: Path) -> None:
    res = _audit(tmp_path / "a")
    s = res.settlements
    assert len(s) == 1  # the cluster beside V0 is V0's people, not a missing village
    row = s.iloc[0]
    assert row["people"] == pytest.approx(540.0)
    assert row["status"] == "dead" and row["people_dead"] == pytest.approx(540.0)
    assert row["nearest_village_id"] == "V0" and row["commune_id"] == "C2"  # 6.7 km vs 7.2
    assert row["nearest_village_distance_m"] == pytest.approx(6708.0, abs=200.0)  # nearest cell
    g = gpd.read_file(tmp_path / "a" / "unlisted_settlements.gpkg", layer="unlisted_settlements")
    assert g["settlement_id"].tolist() == ["U0001"] and g.crs.to_epsg() == 4326
    raw = (tmp_path / "a" / "unlisted_settlements.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM of every CSV table
    csv = pd.read_csv(tmp_path / "a" / "unlisted_settlements.csv", encoding="utf-8-sig")
    assert csv.loc[0, "people"] == 540 and csv.loc[0, "people_dead"] == 540
    summary = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    entry = summary["unlisted_settlements"]
    assert (entry["settlements"], entry["people"], entry["people_dead"]) == (1, 540, 540)
    assert entry["parameters"]["min_density_per_km2"] == 500.0
    for name in SETTLEMENT_FILES:
        assert name in summary["outputs"]
    assert ("unlisted settlements: 540 people in 1 unlisted settlement, 540 of them in dead "
            "zones") in res.summary_lines()


def test_options_reach_the_audit(tmp_path: Path) -> None:
    res = _audit(tmp_path / "a", settlements=SettlementParams(min_distance_km=0.0))
    assert sorted(res.settlements["people"].round(3)) == [360.0, 540.0]
    res = _audit(tmp_path / "b", settlements=SettlementParams(min_people=600))
    assert len(res.settlements) == 0
    assert res.summary["unlisted_settlements"]["settlements"] == 0
    assert (tmp_path / "b" / "unlisted_settlements.csv").is_file()  # an empty table, said so
    assert "none found" in res.summary_lines()[-2]


def test_without_rasters_coverage_comes_from_the_same_area_statuses(tmp_path: Path) -> None:
    """--no-rasters: the sweep the people figures need (not written) gives the
    settlements their coverage, the same as with rasters."""
    with_rasters = _audit(tmp_path / "a")
    res = _audit(tmp_path / "b", rasters=False)
    assert res.coverage is None and not (tmp_path / "b" / "coverage.tif").exists()
    assert res.summary["unlisted_settlements"]["status_known"] is True
    cols = ["status", "people_covered", "people_marginal", "people_dead", "people_unknown"]
    pd.testing.assert_frame_equal(pd.DataFrame(res.settlements[cols]),
                                  pd.DataFrame(with_rasters.settlements[cols]))


def test_no_raster_no_files_and_stale_ones_removed(tmp_path: Path) -> None:
    _audit(tmp_path / "a")
    res = _audit(tmp_path / "a", population=False)  # run_audit overwrites
    assert res.settlements is None
    for name in SETTLEMENT_FILES:
        assert not (tmp_path / "a" / name).exists()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text(encoding="utf-8"))
    assert "unlisted_settlements" not in summary
    assert not any("unlisted" in k for k in summary["outputs"])


def test_the_map_draws_them(tmp_path: Path) -> None:
    sc = settlement_scenario()
    run_audit(sc, tmp_path / "a", params=PARAMS, thresholds=Thresholds())
    towers = tmp_path / "towers.csv"
    pd.DataFrame(sc.towers.drop(columns="geometry")).to_csv(towers, index=False)
    m = audit_map(tmp_path / "a", towers_path=towers)
    save_map(m, tmp_path / "map.html", overwrite=True)
    html = (tmp_path / "map.html").read_text(encoding="utf-8")
    assert "Unlisted settlements (1; ~540 people)" in html
    assert "Unlisted settlement U0001" in html and "dead 540" in html


def test_settlement_files_are_reproducible(tmp_path: Path) -> None:
    _audit(tmp_path / "a")
    _audit(tmp_path / "b")
    for name in SETTLEMENT_FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_database_tables_include_the_settlements(tmp_path: Path) -> None:
    """``--out-db`` publishes what the folder holds: the settlements too (no server needed
    to see which tables it would write)."""
    from deadzone.app.out_db import audit_tables, folder_audit_tables

    res = _audit(tmp_path / "a")
    assert audit_tables(res)["unlisted_settlements"] is res.settlements
    back = folder_audit_tables(tmp_path / "a")["unlisted_settlements"]
    assert back["settlement_id"].tolist() == ["U0001"]
    res = _audit(tmp_path / "b", population=False)
    assert "unlisted_settlements" not in audit_tables(res)
    assert "unlisted_settlements" not in folder_audit_tables(tmp_path / "b")
