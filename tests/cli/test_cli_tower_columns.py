"""Tower column mapping (issue 16 item 9): --tower-col FIELD=COLUMN, kept for what-if."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.loaders import load_towers
from deadzone.errors import ParameterError, SchemaError

BASE = Path(__file__).resolve().parents[1] / "data" / "bad" / "base"


def _renamed(tmp_path: Path) -> Path:
    text = (BASE / "towers.csv").read_text(encoding="utf-8-sig")
    head, *rows = text.splitlines()
    head = head.replace("height_m", "cao_anten").replace("tech", "loai")
    rows = [r.replace(",30.0,", ",42.0,") for r in rows]
    p = tmp_path / "towers.csv"
    p.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    return p


def test_load_towers_with_a_column_mapping(tmp_path: Path) -> None:
    p = _renamed(tmp_path)
    t = load_towers(p, columns={"height_m": "cao_anten", "tech": "loai"})
    assert t["height_m"].tolist() == [42.0] and t["tech"].tolist() == ["2G"]
    with pytest.warns(Warning):  # without the mapping the height is a default
        assert load_towers(p)["height_m"].tolist() == [30.0]
    with pytest.raises(ParameterError, match="unknown field"):
        load_towers(p, columns={"mast": "cao_anten"})
    with pytest.raises(SchemaError, match="'nope'.*not found"):
        load_towers(p, columns={"height_m": "nope"})


def test_audit_tower_col_option_is_recorded(tmp_path: Path) -> None:
    p = _renamed(tmp_path)
    out = tmp_path / "a"
    args = ["-q", "audit", "--dem", str(BASE / "dem.tif"), "--villages",
            str(BASE / "villages.csv"), "--communes", str(BASE / "communes.geojson"),
            "--towers", str(p), "--radius-km", "1", "--no-rasters", "--out", str(out),
            "--tower-col", "height_m=cao_anten", "--tower-col", "tech=loai"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["input_options"]["tower_columns"] == {"height_m": "cao_anten", "tech": "loai"}
    from deadzone.cli.options import load_scenario_dir

    scen = load_scenario_dir(out)  # what-if / place rebuild the towers the same way
    assert scen.towers["height_m"].tolist() == [42.0]
    bad = CliRunner().invoke(cli, [*args[:-4], "--tower-col", "height_m", "--overwrite"])
    assert bad.exit_code == 2 and "FIELD=COLUMN" in bad.output
