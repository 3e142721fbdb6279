"""CSV tables a planner opens in Excel: BOM, readable precision, names (issue 16 item 8)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from tests.conftest import demo_villages_only


def test_audit_csvs_open_in_excel(tmp_path: Path) -> None:
    res = audit(demo_villages_only(0), rasters=False)
    write_audit(res, tmp_path / "x")
    write_audit(res, tmp_path / "p", plain_csv=True)
    for name in ("villages.csv", "communes.csv", "provinces.csv", "servers.csv"):
        assert (tmp_path / "x" / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
        assert not (tmp_path / "p" / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    x = pd.read_csv(tmp_path / "x" / "villages.csv", encoding="utf-8-sig",
                    dtype={"commune_id": str})
    p = pd.read_csv(tmp_path / "p" / "villages.csv", dtype={"commune_id": str})
    assert list(x.columns) == list(p.columns)
    assert x.columns[0] == "village_id"
    # levels to 0.1 dB, distances to 1 m; plain keeps full precision
    for col in ("best_rx_dbm", "signal_2g_dbm"):
        v = x[col].dropna()
        assert ((v * 10).round() == v * 10).all() and len(v)
        assert (p[col].dropna() != p[col].dropna().round(1)).any()
    d = x["distance_to_nearest_tower_m"].dropna()
    assert (d == d.round()).all()
    # commune and province names beside the id
    names = res.communes.set_index("commune_id")
    i = x["commune_id"].str.len().gt(0)
    assert (x.loc[i, "commune_name"] == x.loc[i, "commune_id"].map(names["name"])).all()
    assert (x.loc[i, "province"] == x.loc[i, "commune_id"].map(names["province"])).all()
    at = list(x.columns).index("commune_id")
    assert list(x.columns[at:at + 3]) == ["commune_id", "commune_name", "province"]


def test_audit_plain_csv_flag(tmp_path: Path) -> None:
    d = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["-q", "demo", "--out", str(d), "--model", "fspl",
                                 "--radius-km", "5"])
    assert r.exit_code == 0, r.output
    assert (d / "villages.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    inputs = d / "inputs"
    files = {p.suffix: p for p in inputs.iterdir()}
    args = ["-q", "audit", "--dem", str(inputs / "dem.tif")]
    for role in ("villages", "communes", "towers"):
        args += [f"--{role}", str(next(p for p in inputs.iterdir() if p.stem == role))]
    out = tmp_path / "a"
    r = CliRunner().invoke(cli, [*args, "--out", str(out), "--no-rasters", "--plain-csv",
                                 "--model", "fspl", "--radius-km", "5"])
    assert r.exit_code == 0, r.output
    assert not (out / "villages.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert files  # the demo wrote its inputs
