"""``deadzone place --objective people``: unlisted settlements as demand points."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from pyproj import Transformer

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import UTM48, X0, Y0
from tests.settlement_fixtures import CANDIDATES, settlement_scenario

ENGINE = ["--model", "knife", "--radius-km", "3"]


def _candidates(path: Path) -> Path:
    to_ll = Transformer.from_crs(UTM48, 4326, always_xy=True)
    rows = []
    for cid, (x, y) in CANDIDATES.items():
        lon, lat = to_ll.transform(X0 + x, Y0 - y)
        rows.append({"candidate_id": cid, "lon": lon, "lat": lat, "tech": "2G",
                     "height_m": 30.0})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("people")
    write_scenario(settlement_scenario(), base / "with")
    write_scenario(settlement_scenario(population=False), base / "without")
    return base / "with", base / "without", _candidates(base / "cands.csv")


def _place(scen: Path, cands: Path, out: Path, objective: str, *extra: str):  # noqa: ANN202
    return CliRunner().invoke(cli, [
        "place", "--scenario", str(scen), "--budget-towers", "1", "--objective", objective,
        "--candidates", str(cands), "--no-auto-candidates", "--out", str(out), *extra, *ENGINE])


def test_people_objective_picks_the_site_of_the_big_unlisted_settlement(
        folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    scen, _, cands = folders
    # by village population alone the site beside the small dead village wins ...
    res = _place(scen, cands, tmp_path / "pop", "population")
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "pop" / "sites.csv")["candidate_id"].tolist() == ["C-V1"]
    # ... counting the raster's people, the 540 in the unlisted settlement do
    res = _place(scen, cands, tmp_path / "ppl", "people")
    assert res.exit_code == 0, res.output
    sites = pd.read_csv(tmp_path / "ppl" / "sites.csv")
    assert sites["candidate_id"].tolist() == ["C-SET"]
    assert sites.loc[0, "unlisted_settlements_covered"] == 1
    assert sites.loc[0, "unlisted_people_covered"] == pytest.approx(540.0)
    assert "unlisted settlements (population raster) reached: 1/1 dead or marginal, 540/540" \
        in res.output
    summary = json.loads((tmp_path / "ppl" / "summary.json").read_text(encoding="utf-8"))
    u = summary["unlisted_settlements"]
    assert (u["targeted"], u["reached"], u["reached_people"]) == (1, 1, 540)
    assert u["reached_ids"] == ["U0001"]
    assert summary["solver"]["value"] == pytest.approx(540.0)
    # the re-audit on the area rasters: the settlement's people are no longer in dead cells
    assert "people of unlisted settlements in dead cells 540 → 0" in res.output
    assert u["people_dead_after_reaudited"] == 0
    html = (tmp_path / "ppl" / "map.html").read_text(encoding="utf-8")
    assert "Unlisted settlements (1; ~540 people)" in html


def test_settlement_options_apply(folders: tuple[Path, Path, Path], tmp_path: Path) -> None:
    scen, _, cands = folders
    res = _place(scen, cands, tmp_path / "o", "people", "--settlement-min-people", "1000")
    assert res.exit_code == 0, res.output
    # no settlement that large: back to the village
    assert pd.read_csv(tmp_path / "o" / "sites.csv")["candidate_id"].tolist() == ["C-V1"]
    res = _place(scen, cands, tmp_path / "p", "people", "--settlement-min-density", "0")
    assert res.exit_code == 2 and "--settlement-min-density" in res.output


def test_people_needs_a_population_raster(folders: tuple[Path, Path, Path],
                                          tmp_path: Path) -> None:
    _, without, cands = folders
    res = _place(without, cands, tmp_path / "n", "people")
    assert res.exit_code == 2
    assert "--objective people counts people from a population raster" in res.output


def test_optimize_people_and_unlisted_go_together() -> None:
    from deadzone.errors import ParameterError
    from deadzone.geo.placement import optimize

    sc = settlement_scenario()
    with pytest.raises(ParameterError, match="objective 'people' needs the unlisted"):
        optimize(sc, budget_towers=1, objective="people")
    with pytest.raises(ParameterError, match="got objective 'population' with unlisted=given"):
        optimize(sc, budget_towers=1, objective="population", unlisted=sc.villages)


def test_candidates_on_high_ground_near_dead_unlisted_settlements() -> None:
    from deadzone.geo.audit import audit
    from deadzone.geo.settlements import audit_settlements
    from deadzone.geo.sites import candidate_sites
    from deadzone.model.thresholds import Thresholds

    sc = settlement_scenario()
    base = audit(sc, model="knife", radius_km=3.0)
    unlisted, _ = audit_settlements(sc, base.coverage, thresholds=Thresholds())
    kw = dict(baseline=base, peaks=False, commune_centres=False, existing=False)
    plain = candidate_sites(sc, **kw)
    assert set(plain["source"]) == {"near_dead"}  # V1 only
    more = candidate_sites(sc, unlisted=unlisted, **kw)
    assert sorted(more["source"]) == ["near_dead", "near_unlisted"]
    site = more[more["source"] == "near_unlisted"].to_crs(UTM48).geometry.iloc[0]
    u = unlisted.iloc[0]
    to_utm = Transformer.from_crs(4326, UTM48, always_xy=True)
    x, y = to_utm.transform(u["lon"], u["lat"])
    assert abs(site.x - x) <= 2000.0 + 30 and abs(site.y - y) <= 2000.0 + 30
