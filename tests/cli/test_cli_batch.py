"""``deadzone batch`` end to end: CLI, errors, kill + resume, real data split by province."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
from click.testing import CliRunner

from deadzone.app.batch import MANIFEST
from deadzone.cli.main import cli
from deadzone.geo.export import RASTER_FILES, TABLE_FILES
from tests.app.test_batch import _BORDER_VILLAGES, write_border_case, write_inputs
from tests.conftest import shared_file

ROOT = Path(__file__).resolve().parents[2]


def _matrix_toml(folder: Path, n_thresholds: int) -> Path:
    write_inputs(folder / "sc")
    thr = [-80 - 3 * i for i in range(n_thresholds)]
    p = folder / "batch.toml"
    p.write_text(
        f"""
[defaults]
radius_km = 4

[matrix]
scenario = "sc"
model = ["fspl", "knife"]
threshold_dbm = {thr}
""",
        encoding="utf-8",
    )
    return p


def _snapshot(out: Path) -> dict[str, pd.DataFrame]:
    return {d.name: pd.read_csv(d / "villages.csv") for d in sorted(out.iterdir()) if d.is_dir()}


def test_cli_batch_end_to_end(tmp_path: Path) -> None:
    toml = _matrix_toml(tmp_path, 2)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "4/4 scenarios ok" in res.output
    assert "covered villages" in res.output
    df = pd.read_csv(out / "batch_summary.csv")
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert (df["villages_total"] == 5).all()
    assert (
        df["covered_pct"] == (100 * df["villages_covered"] / df["villages_total"]).round(2)
    ).all()
    for name in df["scenario"]:
        for f in (*TABLE_FILES, MANIFEST):
            assert (out / name / f).is_file(), (name, f)
        # a batch writes the tables only unless its TOML says rasters = true
        assert not any((out / name / f).exists() for f in RASTER_FILES)
    doc = json.loads((out / "batch_summary.json").read_text(encoding="utf-8"))
    assert doc["ok"] == 4 and len(doc["rows"]) == 4
    assert doc["totals_ok"]["villages_total"] == int(df["villages_total"].sum())

    # Again without a flag: a one-line error, exit 2, nothing touched.
    res2 = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1"])
    assert res2.exit_code == 2
    assert "already exists" in res2.output and "--resume" in res2.output
    assert "Traceback" not in res2.output
    res3 = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--resume", "-q"])
    assert res3.exit_code == 0, res3.output
    assert res3.output == ""


def test_cli_batch_bad_toml_is_one_line_error(tmp_path: Path) -> None:
    write_inputs(tmp_path / "sc")
    toml = tmp_path / "b.toml"
    toml.write_text(
        "[[scenario]]\nname = 'x'\nscenario = 'sc'\nthreshold_dbm = 'low'\n", encoding="utf-8"
    )
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    line = res.output.strip()
    assert line.startswith("error:") and "\n" not in line
    assert "b.toml" in line and "scenario 'x'" in line and "threshold_dbm" in line


def test_cli_batch_local_process_pool(tmp_path: Path) -> None:
    """Two worker processes give the same tables as one."""
    toml = _matrix_toml(tmp_path, 1)
    r1 = CliRunner().invoke(
        cli, ["batch", str(toml), "--out", str(tmp_path / "a"), "--workers", "1", "-q"]
    )
    r2 = CliRunner().invoke(
        cli, ["batch", str(toml), "--out", str(tmp_path / "b"), "--workers", "2", "-q"]
    )
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    a, b = _snapshot(tmp_path / "a"), _snapshot(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])


def test_killed_batch_leaves_no_half_written_scenario_and_resumes(tmp_path: Path) -> None:
    toml = _matrix_toml(tmp_path, 8)  # 16 scenarios, run one at a time
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "deadzone",
        "batch",
        str(toml),
        "--out",
        str(out),
        "--workers",
        "1",
        "-q",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err_path = tmp_path / "stderr.txt"
    with err_path.open("w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            done = [d for d in out.glob("[!.]*") if d.is_dir()] if out.exists() else []
            if len(done) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, err_path.read_text(encoding="utf-8")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not (out / "batch_summary.csv").exists()  # killed mid-run
    finished = [d for d in out.iterdir() if d.is_dir() and not d.name.startswith(".")]
    assert 2 <= len(finished) < 16
    for d in finished:  # every visible scenario folder is complete
        assert all((d / f).is_file() for f in (*TABLE_FILES, MANIFEST)), d
    mtimes = {d.name: (d / MANIFEST).stat().st_mtime_ns for d in finished}

    res = CliRunner().invoke(
        cli, ["batch", str(toml), "--out", str(out), "--resume", "--workers", "1", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temporaries swept
    for name, m in mtimes.items():
        assert (out / name / MANIFEST).stat().st_mtime_ns == m  # not recomputed
    df = pd.read_csv(out / "batch_summary.csv")
    assert len(df) == 16 and (df["status"] == "ok").all()
    # Identical to an uninterrupted run.
    ref = tmp_path / "ref"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(ref), "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    got, want = _snapshot(out), _snapshot(ref)
    assert got.keys() == want.keys()
    for k in want:
        pd.testing.assert_frame_equal(got[k], want[k])
    cols = [c for c in df.columns if c != "wall_s"]
    pd.testing.assert_frame_equal(df[cols], pd.read_csv(ref / "batch_summary.csv")[cols])


TILE = (105.0, 21.0, 106.0, 22.0)


def _real_tile_inputs(shared_data: Path, tmp_path: Path, *, tower_every: int = 1):  # noqa: ANN202
    """The SRTM tile, the 2025 communes, the tile's OSM settlements written to
    villages.geojson and a 4G tower at every ``tower_every``-th commune centre
    (towers.csv).  Returns (dem path, communes path, settlements, communes)."""
    dem = shared_file(shared_data, "srtm3/N21E105.hgt")
    communes = shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg")
    s = gpd.read_file(
        shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson"), bbox=TILE
    )
    s = s[s.geometry.x.between(TILE[0], TILE[2]) & s.geometry.y.between(TILE[1], TILE[3])]
    s.to_file(tmp_path / "villages.geojson", driver="GeoJSON")
    c = gpd.read_file(communes, bbox=TILE).iloc[::tower_every]
    pd.DataFrame(
        {
            "tower_id": "T-" + c["ward_code"].astype(str),
            "lon": c["center_lon"],
            "lat": c["center_lat"],
            "tech": "4G",
        }
    ).to_csv(tmp_path / "towers.csv", index=False)
    return dem, communes, s, c


def test_batch_real_data_split_by_province(shared_data: Path, tmp_path: Path) -> None:
    """SRTM tile + national 2025 communes, one job per province, each a DEM window."""
    dem, communes, s, c = _real_tile_inputs(shared_data, tmp_path)
    want = gpd.sjoin(s, c[["province_name", "geometry"]])["province_name"].value_counts()
    provs = ["Bắc Ninh", "Lào Cai"]
    (tmp_path / "b.toml").write_text(
        f"""
[[scenario]]
name = "tile"
dem = "{dem}"
villages = "villages.geojson"
communes = "{communes}"
towers = "towers.csv"
model = "knife"
radius_km = 8
split = "province"
provinces = {json.dumps(provs, ensure_ascii=False)}
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["batch", str(tmp_path / "b.toml"), "--out", str(out), "--workers", "1", "-q"]
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "batch_summary.csv").set_index("province")
    assert sorted(df.index) == sorted(provs)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    for p in provs:
        assert df.loc[p, "villages_total"] == want[p] > 0
    for name in df["scenario"]:
        v = pd.read_csv(out / name / "villages.csv")
        assert v.loc[v["status"] != "covered", "reason"].notna().all()
        summary = json.loads((out / name / "summary.json").read_text(encoding="utf-8"))
        # The DEM window is the province's villages grown by the radius, not the tile.
        assert summary["dem"]["shape"][0] * summary["dem"]["shape"][1] < 1201 * 1201


def test_cli_batch_failed_scenario_exit_1_others_written(tmp_path: Path) -> None:
    toml = _matrix_toml(tmp_path, 1)
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in (tmp_path / "sc").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "villages.gpkg").write_bytes(b"not a geopackage")
    (bad / "villages.csv").write_text("nonsense\n1\n", encoding="utf-8")
    text = toml.read_text(encoding="utf-8")
    toml.write_text(
        text.replace("[matrix]", "[[scenario]]\nname = 'broken'\nscenario = 'bad'\n\n[matrix]"),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 1, res.output
    assert "broken: FAILED:" in res.output and "2/3 scenarios ok" in res.output
    df = pd.read_csv(out / "batch_summary.csv")
    assert df["status"].tolist() == ["failed", "ok", "ok"]
    assert not (out / "broken").exists()
    assert all((out / n / MANIFEST).is_file() for n in df["scenario"][1:])


def _audit_cli(out: Path, *args: str) -> dict:
    res = CliRunner().invoke(cli, ["audit", *args, "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def _split_villages(out: Path, df: pd.DataFrame) -> pd.DataFrame:
    ok = df.loc[df["status"] == "ok", "scenario"]
    return pd.concat(
        [pd.read_csv(out / n / "villages.csv", dtype={"commune_id": str}) for n in ok]
    ).fillna({"commune_id": ""})


_TOTALS = ("villages_total", "villages_covered", "villages_unknown", "population_total")


def test_cli_batch_province_split_adds_up_to_audit_and_skips_empty_provinces(
    tmp_path: Path,
) -> None:
    """A village in one province within 1000 m of another is counted once; provinces with
    no villages (on the DEM or off it) are skipped, not failed, and the batch exits 0."""
    toml = write_border_case(tmp_path)
    toml.write_text(toml.read_text(encoding="utf-8").split("[[scenario]]\nname = 'whole'")[0])
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "split-Ha_Giang: skipped: no villages" in res.output
    assert "split-Cao_Bang: skipped: outside DEM" in res.output
    assert "4/6 scenarios ok, 2 skipped" in res.output
    assert "nan" not in res.output and "FAILED" not in res.output
    df = pd.read_csv(out / "batch_summary.csv")
    v = _split_villages(out, df)
    assert v["village_id"].is_unique and sorted(v["village_id"]) == sorted(_BORDER_VILLAGES)
    d = tmp_path
    whole = _audit_cli(
        tmp_path / "audit",
        *("--dem", str(d / "sc" / "dem.tif"), "--villages", str(d / "villages.geojson")),
        *("--communes", str(d / "communes.gpkg"), "--towers", str(d / "sc" / "towers.csv")),
        *("--model", "knife", "--radius-km", "4"),
    )
    for k in _TOTALS:
        assert int(df.loc[df["status"] == "ok", k].sum()) == whole[k], k
    a = pd.read_csv(tmp_path / "audit" / "villages.csv", dtype={"commune_id": str})
    a = a.fillna({"commune_id": ""}).set_index("village_id")
    v = v.set_index("village_id").loc[a.index]
    assert (v["commune_id"] == a["commune_id"]).all() and (v["status"] == a["status"]).all()
    # --resume: nothing to recompute, still exit 0 (skipped jobs are not failures).
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--resume", "-q"])
    assert res.exit_code == 0, res.output


def test_batch_real_data_province_split_partitions_like_audit(
    shared_data: Path, tmp_path: Path
) -> None:
    """SRTM tile + national 2025 communes, all 34 provinces: the jobs add up to the audit.

    Every OSM settlement of the tile is in exactly one job, with the commune the unsplit
    audit gives it (before the fix 13 border settlements were in two provinces, and the 24
    provinces off the tile failed with "does not cover the requested area").
    """
    dem, communes, s, c = _real_tile_inputs(shared_data, tmp_path, tower_every=3)
    (tmp_path / "b.toml").write_text(
        f"""
[[scenario]]
name = "tile"
dem = "{dem}"
villages = "villages.geojson"
communes = "{communes}"
towers = "towers.csv"
model = "knife"
radius_km = 8
split = "province"
""",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    res = CliRunner().invoke(
        cli, ["batch", str(tmp_path / "b.toml"), "--out", str(out), "--workers", "2"]
    )
    assert res.exit_code == 0, res.output
    assert "FAILED" not in res.output and "nan" not in res.output
    df = pd.read_csv(out / "batch_summary.csv")
    assert len(df) == 35 and set(df["status"]) == {"ok", "skipped"}
    assert (df["status"] == "ok").sum() >= 5
    assert set(df.loc[df["status"] == "skipped", "note"]) == {"no villages", "outside DEM"}
    v = _split_villages(out, df)
    assert len(v) == len(s) and v["village_id"].is_unique
    whole = _audit_cli(
        tmp_path / "audit",
        *("--dem", str(dem), "--villages", str(tmp_path / "villages.geojson")),
        *("--communes", str(communes), "--towers", str(tmp_path / "towers.csv")),
        *("--model", "knife", "--radius-km", "8"),
    )
    ok = df["status"] == "ok"
    for k in ("villages_total", "villages_unknown", "population_total"):
        assert int(df.loc[ok, k].sum()) == whole[k], k
    a = pd.read_csv(tmp_path / "audit" / "villages.csv", dtype={"commune_id": str})
    a = a.fillna({"commune_id": ""}).set_index("village_id")
    v = v.set_index("village_id").loc[a.index]
    assert (v["commune_id"] == a["commune_id"]).all()
    # Statuses: each job reads its DEM window as a sub-grid of the tile's own UTM grid
    # (load_dem takes CRS, cell size and origin from the whole raster), so every village
    # samples the same terrain as in the audit (before, each window built its own grid,
    # 89.30 m cells for Phu Tho vs 89.26 m for the tile: 248/252 agreed here, 245/252
    # with ITM at 25 km; now 252/252 for both).
    differ = v.index[v["status"] != a["status"]].tolist()
    assert not differ, (differ, v.loc[differ, "status"].tolist(), a.loc[differ, "status"].tolist())


def test_batch_rasters_key_writes_the_area_rasters(tmp_path: Path) -> None:
    toml = _matrix_toml(tmp_path, 1)
    text = toml.read_text(encoding="utf-8")
    text = text.replace("radius_km = 4", "radius_km = 4\nrasters = true")
    text = text.replace('model = ["fspl", "knife"]', 'model = ["fspl"]')
    toml.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    (d,) = [p for p in out.iterdir() if p.is_dir()]
    assert all((d / f).is_file() for f in (*TABLE_FILES, *RASTER_FILES)), sorted(os.listdir(d))
    bad = toml.read_text(encoding="utf-8").replace("rasters = true", 'rasters = "yes"')
    toml.write_text(bad, encoding="utf-8")
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(tmp_path / "o2")])
    assert res.exit_code == 2 and "key 'rasters': expected a bool" in res.output, res.output
