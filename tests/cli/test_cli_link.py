"""``deadzone link`` end to end on the demo scenario: one link, a village
alone, a microwave hop with its budget, --pairs, and the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.conftest import demo_villages_only


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("link") / "scen"
    write_scenario(demo_villages_only(0), d)
    return d


def _run(*args: str):  # noqa: ANN202
    return CliRunner().invoke(cli, ["link", *args])


def test_village_alone_is_why_dead(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "why"
    res = _run("--scenario", str(demo_dir), "V0001", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "tower T008 -> village V0001" in res.output
    assert "BLOCKED by terrain" in res.output
    doc = json.loads((out / "link.json").read_text(encoding="utf-8"))
    assert doc["a"]["id"] == "T008" and doc["b"]["id"] == "V0001"
    assert doc["b"]["height_m"] == 1.5
    assert doc["clear_60pct_f1"] is False and doc["worst"]["clearance_m"] < 0
    prof = pd.read_csv(out / "profile.csv", encoding="utf-8-sig")
    assert len(prof) == doc["intervals"] + 1
    i = doc["worst"]["index"]
    assert prof.clearance_m[i] == pytest.approx(doc["worst"]["clearance_m"], rel=1e-5)
    assert (out / "link.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (out / "link.svg").read_text(encoding="utf-8")[:400]
    # the same two ends given explicitly give the same numbers
    out2 = tmp_path / "explicit"
    res = _run("--scenario", str(demo_dir), "T008", "V0001", "--out", str(out2), "-q")
    assert res.exit_code == 0 and res.output == ""
    doc2 = json.loads((out2 / "link.json").read_text(encoding="utf-8"))
    assert doc2["worst"] == doc["worst"] and doc2["loss_db"] == doc["loss_db"]


def test_microwave_hop_budget(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hop"
    res = _run("--scenario", str(demo_dir), "T036", "T037", "--band", "13GHz",
               "--height-a-m", "40", "--height-b-m", "40", "--model", "p526",
               "--rain-rate-mm-h", "100", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "link.json").read_text(encoding="utf-8"))
    b = doc["budget"]
    assert doc["freq_mhz"] == 13_000.0 and doc["clear_60pct_f1"] is True
    assert doc["climate"]["rain_rate_mm_h"] == 100.0
    assert b["availability_pct"] == pytest.approx(100 - b["rain_pct"] - b["multipath_pct"])
    assert b["fade_margin_db"] == pytest.approx(b["rx_dbm"] + 70.0)
    assert "availability" in res.output and "margin needed" in res.output


def test_above_20ghz_default_model_is_p526(demo_dir: Path, tmp_path: Path) -> None:
    res = _run("--scenario", str(demo_dir), "T036", "T037", "--band", "23GHz",
               "--out", str(tmp_path / "k"))
    assert res.exit_code == 0, res.output
    assert "using --model p526" in res.output
    res = _run("--scenario", str(demo_dir), "T036", "T037", "--band", "23GHz",
               "--model", "itm", "--out", str(tmp_path / "k2"))
    assert res.exit_code == 2 and "ITM is defined" in res.output


def test_pairs(demo_dir: Path, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"a": ["T036", "T001", "T008"], "b": ["T037", "T008", "V0001"],
                  "height_a_m": [40, 40, ""], "height_b_m": [40, 40, 1.5]}).to_csv(
        pairs, index=False)
    out = tmp_path / "many"
    res = _run("--scenario", str(demo_dir), "--pairs", str(pairs), "--band", "13GHz",
               "--model", "p526", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "3 links:" in res.output
    t = pd.read_csv(out / "links.csv", encoding="utf-8-sig")
    assert list(t.a) == ["T036", "T001", "T008"]
    for col in ("clearance_f1", "worst_distance_m", "loss_db", "availability_pct",
                "required_margin_db", "rx_dbm"):
        assert col in t.columns
    # row 0 equals the single link
    one = tmp_path / "one"
    _run("--scenario", str(demo_dir), "T036", "T037", "--band", "13GHz", "--height-a-m",
         "40", "--height-b-m", "40", "--model", "p526", "--out", str(one), "-q")
    doc = json.loads((one / "link.json").read_text(encoding="utf-8"))
    assert t.loss_db[0] == pytest.approx(doc["loss_db"], rel=1e-5)
    assert t.clearance_f1[0] == pytest.approx(doc["worst"]["fraction"], rel=1e-5)
    assert np.isfinite(t.availability_pct).all()


@pytest.mark.parametrize(("args", "message"), [
    (["NOPE", "T001"], "error: link end 'NOPE' is not a tower id, a village id"),
    (["T001", "110.5,10.2"], "lies outside the DEM"),
    (["T001"], "only a village id may stand alone"),
    (["T001", "V0001", "--band", "13GHz", "--freq-mhz", "900"], "not both"),
])
def test_errors_are_one_line(demo_dir: Path, tmp_path: Path, args, message) -> None:  # noqa: ANN001
    res = _run("--scenario", str(demo_dir), *args, "--out", str(tmp_path / "e"))
    assert res.exit_code == 2
    assert message in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_bad_pairs_file(demo_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\nT001,T002\nT001,ZZZ\n", encoding="utf-8")
    res = _run("--scenario", str(demo_dir), "--pairs", str(bad), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "row 3" in res.output and "'ZZZ'" in res.output


def test_no_overwrite(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["--scenario", str(demo_dir), "T001", "T002", "--out", str(out), "-q"]
    assert _run(*args).exit_code == 0
    png = (out / "link.png").stat().st_mtime_ns
    res = _run(*args)
    assert res.exit_code == 2 and "already exists" in res.output
    assert (out / "link.png").stat().st_mtime_ns == png
    assert _run(*args, "--overwrite").exit_code == 0


def test_dem_only_with_points(demo_dir: Path, tmp_path: Path) -> None:
    s = demo_villages_only(0)
    w, so, e, n = s.dem.bounds_lonlat
    a = f"{w + 0.2 * (e - w)},{so + 0.3 * (n - so)},30"
    b = f"{w + 0.6 * (e - w)},{so + 0.5 * (n - so)},25"
    res = _run("--dem", str(demo_dir / "dem.tif"), a, b, "--freq-mhz", "7500",
               "--out", str(tmp_path / "p"))
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p" / "link.json").read_text(encoding="utf-8"))
    assert doc["a"]["kind"] == "point" and doc["a"]["height_m"] == 30.0
    assert doc["budget"] is not None


def test_real_srtm_ba_vi_blocks(shared_data: Path, tmp_path: Path) -> None:
    """A 26 km hop across the Ba Vi massif (peak 1,296 m at about 105.37 E,
    21.06 N) on the real SRTM tile is blocked there; one along the Red River
    plain east of Hanoi is clear."""
    from tests.conftest import shared_file

    hgt = shared_file(shared_data, "srtm3/N21E105.hgt")
    out = tmp_path / "bavi"
    res = _run("--dem", str(hgt), "105.25,21.07,30", "105.50,21.07,30", "--freq-mhz", "7500",
               "--model", "p526", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "link.json").read_text(encoding="utf-8"))
    w = doc["worst"]
    lon = 105.25 + (105.50 - 105.25) * w["distance_m"] / doc["distance_m"]
    assert 105.33 < lon < 105.40 and w["ground_m"] > 900 and w["clearance_m"] < -500
    assert doc["clear_60pct_f1"] is False and doc["mode"] == "diffraction"
    assert "below threshold" in res.output
    out = tmp_path / "plain"
    res = _run("--dem", str(hgt), "105.90,21.10,40", "105.99,21.02,40", "--freq-mhz", "7500",
               "--model", "p526", "--out", str(out))
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "link.json").read_text(encoding="utf-8"))
    assert doc["clear_60pct_f1"] is True and doc["worst"]["fraction"] > 0.6
