"""Batch audits: TOML parsing, failures, resume, Dask LocalCluster == serial."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.app.batch import MANIFEST, BatchScenario, load_batch, run_batch
from deadzone.data.io import write_scenario
from deadzone.errors import DataLoadError, DeadzoneError, DeadzoneWarning, OutputExistsError
from tests.conftest import small_scenario

# Two provinces so that split = "province" gives two jobs.
_TOWERS = [
    {"x": 2000.0, "y": 4500.0, "eirp_dbm": 12.0},
    {"x": 7000.0, "y": 4000.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 30.0},
]
# Near, mid-range and out-of-range villages: statuses differ between thresholds/models.
_VILLAGES = [
    (1500.0, 4500.0),
    (3000.0, 2000.0),
    (6000.0, 7000.0),
    (8500.0, 1000.0),
    (4500.0, 8800.0),
]


def write_inputs(folder: Path) -> Path:
    """A small two-province scenario saved as files; returns the folder."""
    sc = small_scenario(towers=_TOWERS, villages=_VILLAGES)
    sc.communes.loc[1, "province"] = "Điện Biên"
    write_scenario(sc, folder)
    return folder


BATCH_TOML = """
[defaults]
radius_km = 4
model = "knife"

[[scenario]]
name = "split"
dem = "sc/dem.tif"
villages = "sc/villages.gpkg"
communes = "sc/communes.gpkg"
towers = "sc/towers.csv"
split = "province"

[[scenario]]
name = "saved"
scenario = "sc"

[matrix]
area = [{name = "m", scenario = "sc"}]
threshold_dbm = [-95, -115]
model = ["fspl", "knife"]
"""


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    write_inputs(tmp_path / "sc")
    p = tmp_path / "batch.toml"
    p.write_text(BATCH_TOML, encoding="utf-8")
    return p


def test_load_batch_expands_split_and_matrix(batch_file: Path) -> None:
    scs = load_batch(batch_file)
    names = [s.name for s in scs]
    assert names == [
        "split-Lai_Chau",
        "split-Dien_Bien",
        "split-unassigned",  # villages of no province: every village is in one job
        "saved",
        "m-threshold_dbm-95-modelfspl",
        "m-threshold_dbm-95-modelknife",
        "m-threshold_dbm-115-modelfspl",
        "m-threshold_dbm-115-modelknife",
    ]
    assert [s.province for s in scs[:3]] == ["Lai Châu", "Điện Biên", ""]
    assert all(s.radius_km == 4 for s in scs)  # defaults apply everywhere
    assert scs[3].model == "knife" and scs[4].model == "fspl"
    assert scs[4].threshold_dbm == -95.0
    # Paths are resolved relative to the TOML file.
    assert scs[0].files["dem"] == (batch_file.parent / "sc" / "dem.tif").resolve()
    assert scs[3].files == {"scenario": (batch_file.parent / "sc").resolve()}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[[scenario]]\nname = 'a'\nscenario = 'nope'\n", "scenario 'a': key 'scenario'"),
        ("[[scenario]]\nname = 'a'\nscenario = 'sc'\nmodle = 'itm'\n", "unknown key 'modle'"),
        ("[[scenario]]\nname = 'a'\nscenario = 'sc'\nmodel = 'magic'\n", "key 'model'"),
        ("[[scenario]]\nname = 'a'\nscenario = 'sc'\nradius_km = 'far'\n", "key 'radius_km'"),
        ("[[scenario]]\nname = 'a'\ndem = 'sc/dem.tif'\n", "scenario 'a': key 'villages'"),
        ("[[scenario]]\nname = 'a b'\nscenario = 'sc'\n", "key 'name'"),
        ("[[scenario]]\nscenario = 'sc'\n", "key 'name'"),
        ("[[scenario]]\nname = 'a'\ndemo = {seed = 'x'}\n", "scenario 'a': key 'demo'"),
        (
            "[[scenario]]\nname = 'a'\nscenario = 'sc'\n" * 2,
            "duplicate",
        ),
        ("[[scenario]]\nname = 'a'\nscenario = 'sc'\nsplit = 'tile'\n", "key 'split'"),
        ("[[scenario]]\nname = 'a'\nscenario = 'sc'\nsplit = 'province'\n", "key 'split'"),
        ("[matrix]\narea = []\n", "key 'area'"),
        ("[scenarios]\nname = 'a'\n", "unknown table 'scenarios'"),
        ("name = 'a'\n[[scenario]\n", "invalid TOML"),
        ("", "no scenarios"),
    ],
)
def test_load_batch_errors_name_file_scenario_key(batch_file: Path, body: str, needle: str) -> None:
    p = batch_file.with_name("bad.toml")
    p.write_text(body, encoding="utf-8")
    with pytest.raises(DataLoadError) as ei:
        load_batch(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(p) in msg and needle in msg


def test_missing_batch_file(tmp_path: Path) -> None:
    with pytest.raises(DeadzoneError, match="batch file not found"):
        load_batch(tmp_path / "none.toml")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(-130, -60), min_size=1, max_size=3, unique=True),
        min_size=1,
        max_size=3,
    )
)
def test_matrix_is_cross_product(
    tmp_path_factory: pytest.TempPathFactory, axes: list[list[int]]
) -> None:
    d = tmp_path_factory.mktemp("m")
    (d / "sc").mkdir()
    keys = ["threshold_dbm", "indoor_margin_db", "rx_height_m"]
    lines = ["[matrix]", "scenario = 'sc'"]
    for k, vals in zip(keys, axes, strict=False):
        vals = [abs(v) % 50 + 1 for v in vals] if k != "threshold_dbm" else vals
        lines.append(f"{k} = {sorted(set(vals))}")
    (d / "b.toml").write_text("\n".join(lines), encoding="utf-8")
    scs = load_batch(d / "b.toml")
    n = 1
    for k, vals in zip(keys, axes, strict=False):
        vals = [abs(v) % 50 + 1 for v in vals] if k != "threshold_dbm" else vals
        n *= len(set(vals))
    assert len(scs) == n
    assert len({s.name for s in scs}) == n
    assert len({(s.threshold_dbm, s.indoor_margin_db, s.rx_height_m) for s in scs}) == n


def _tables(out: Path, names: list[str]) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(out / n / "villages.csv") for n in names}


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_s"]).reset_index(drop=True)


def test_serial_results_match_single_audits_and_split_covers_every_village(
    batch_file: Path, tmp_path: Path
) -> None:
    scs = load_batch(batch_file)[:4]
    seen: list[tuple[int, int]] = []
    df = run_batch(scs, tmp_path / "out", workers=1, progress=lambda d, t: seen.append((d, t)))
    # Every village has a province: the -unassigned job is skipped, with no folder.
    assert list(df["status"]) == ["ok", "ok", "skipped", "ok"]
    assert df.loc[2, "note"] == "no villages" and not (tmp_path / "out" / scs[2].name).exists()
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    # The two province jobs together hold every village exactly once, and agree with the
    # whole-scenario audit (same radius, same model) village by village.
    parts = pd.concat(
        [
            pd.read_csv(tmp_path / "out" / n / "villages.csv")
            for n in ("split-Dien_Bien", "split-Lai_Chau")
        ]
    )
    whole = pd.read_csv(tmp_path / "out" / "saved" / "villages.csv")
    assert sorted(parts["village_id"]) == sorted(whole["village_id"])
    cols = ["village_id", "status", "best_rx_dbm", "serving_tower_id"]
    pd.testing.assert_frame_equal(
        parts[cols].sort_values("village_id").reset_index(drop=True),
        whole[cols].sort_values("village_id").reset_index(drop=True),
    )
    row = df.set_index("scenario").loc["saved"]
    assert row["villages_total"] == len(_VILLAGES)
    assert int(df.loc[df.scenario.str.startswith("split"), "villages_total"].sum()) == len(
        _VILLAGES
    )
    reasons = sum(int(row[c]) for c in df.columns if c.startswith("reason_"))
    assert reasons == row["villages_total"] - row["villages_covered"]
    summary = json.loads((tmp_path / "out" / "batch_summary.json").read_text())
    assert summary["ok"] == 3 and summary["skipped"] == 1 and summary["failed"] == 0
    assert pd.read_csv(tmp_path / "out" / "batch_summary.csv")["scenario"].tolist() == [
        s.name for s in scs
    ]


def test_failed_scenario_is_reported_and_others_finish(batch_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(batch_file.parent / "sc", bad)
    (bad / "villages.gpkg").write_bytes(b"not a geopackage")
    (bad / "villages.csv").write_text("nonsense\n1\n", encoding="utf-8")
    good = load_batch(batch_file)[3]
    broken = BatchScenario(name="broken", files={"scenario": bad}, model="knife", radius_km=4)
    df = run_batch([broken, good], tmp_path / "out", workers=1)
    assert list(df["status"]) == ["failed", "ok"]
    err = df.loc[0, "error"]
    assert err and "\n" not in err
    assert not (tmp_path / "out" / "broken").exists()
    assert (tmp_path / "out" / "saved" / MANIFEST).is_file()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary folder left


def test_existing_output_needs_resume_or_overwrite(batch_file: Path, tmp_path: Path) -> None:
    scs = load_batch(batch_file)[3:4]
    run_batch(scs, tmp_path / "out", workers=1)
    with pytest.raises(OutputExistsError, match="--resume"):
        run_batch(scs, tmp_path / "out", workers=1)
    before = (tmp_path / "out" / "saved" / MANIFEST).stat().st_mtime_ns
    files = ("batch_summary.csv", "batch_summary.json", f"saved/{MANIFEST}")
    first = {f: (tmp_path / "out" / f).read_bytes() for f in files}
    run_batch(scs, tmp_path / "out", workers=1, overwrite=True)
    assert (tmp_path / "out" / "saved" / MANIFEST).stat().st_mtime_ns != before
    # issue 18 item 9: the run time was in the summaries and manifests, so no two
    # runs were byte-identical; it lives in batch_timings.csv only
    assert {f: (tmp_path / "out" / f).read_bytes() for f in files} == first
    assert b"wall_s" not in first["batch_summary.csv"] + first[f"saved/{MANIFEST}"]
    timings = pd.read_csv(tmp_path / "out" / "batch_timings.csv")
    assert list(timings.columns) == ["scenario", "status", "wall_s"]
    assert (timings["wall_s"] > 0).all()


def test_resume_recomputes_only_missing_or_stale(batch_file: Path, tmp_path: Path) -> None:
    scs = load_batch(batch_file)[3:6]
    out = tmp_path / "out"
    first = run_batch(scs, out, workers=1)
    names = [s.name for s in scs]
    ref = _tables(out, names)
    mtimes = {n: (out / n / MANIFEST).stat().st_mtime_ns for n in names}
    shutil.rmtree(out / names[1])
    # A half-written folder left by a crash is never taken for a result.
    (out / names[2] / "summary.json").unlink()
    with pytest.warns(DeadzoneWarning, match=rf"recomputes 1 scenario\(s\).*{names[2]} "
                      r"\(summary.json is missing\)"):
        again = run_batch(scs, out, workers=1, resume=True)
    assert (out / names[0] / MANIFEST).stat().st_mtime_ns == mtimes[names[0]]
    assert (out / names[1] / MANIFEST).is_file()
    assert (out / names[2] / MANIFEST).stat().st_mtime_ns != mtimes[names[2]]
    pd.testing.assert_frame_equal(_comparable(first), _comparable(again))
    for n, t in _tables(out, names).items():
        pd.testing.assert_frame_equal(t, ref[n])
    # Changed input bytes -> the manifest checksum no longer matches -> recomputed.
    sc_dir = batch_file.parent / "sc"
    towers = sc_dir / "towers.csv"
    towers.write_text(towers.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    mt = {n: (out / n / MANIFEST).stat().st_mtime_ns for n in names}
    with pytest.warns(DeadzoneWarning, match="recomputes 3 scenario.*inputs or parameters changed"):
        run_batch(scs, out, workers=1, resume=True)
    assert all((out / n / MANIFEST).stat().st_mtime_ns != mt[n] for n in names)


def test_resume_recomputes_damaged_or_older_outputs(batch_file: Path, tmp_path: Path) -> None:
    """Issue 18 item 5: a villages.csv truncated to 0 bytes was kept as "ok", and
    results of an older deadzone were reused after an upgrade."""
    scs = load_batch(batch_file)[3:5]
    out = tmp_path / "out"
    run_batch(scs, out, workers=1)
    a, b = (s.name for s in scs)
    ref = (out / a / "villages.csv").read_bytes()
    (out / a / "villages.csv").write_bytes(b"")
    man = json.loads((out / b / MANIFEST).read_text(encoding="utf-8"))
    man["deadzone_version"] = "0.0.1"
    (out / b / MANIFEST).write_text(json.dumps(man), encoding="utf-8")
    with pytest.warns(DeadzoneWarning) as rec:
        df = run_batch(scs, out, workers=1, resume=True)
    msg = " ".join(str(w.message) for w in rec)
    assert f"{a} (villages.csv changed since it was written)" in msg
    assert f"{b} (written by deadzone 0.0.1)" in msg
    assert (df["status"] == "ok").all()
    assert (out / a / "villages.csv").read_bytes() == ref  # recomputed, not kept
    # a clean folder is kept silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_batch(scs, out, workers=1, resume=True)


def test_kill_between_the_overwrite_renames_keeps_the_old_result(
    batch_file: Path, tmp_path: Path
) -> None:
    scs = load_batch(batch_file)[3:4]
    out = tmp_path / "out"
    run_batch(scs, out, workers=1)
    name = scs[0].name
    ref = _tables(out, [name])
    # What a kill leaves after the old folder moved aside and before the new one moved in.
    os.replace(out / name, out / f".{name}.old-dead")
    (out / f".{name}.tmp-beef").mkdir()
    again = run_batch(scs, out, workers=1, resume=True)
    assert (again["status"] == "ok").all()
    assert not list(out.glob(".*"))
    for n, t in _tables(out, [name]).items():
        pd.testing.assert_frame_equal(t, ref[n])


def test_dask_local_cluster_equals_serial(batch_file: Path, tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    scs = load_batch(batch_file)
    serial = run_batch(scs, tmp_path / "serial", workers=1)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        dist = run_batch(scs, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert list(serial["status"] == "ok") == [s.province != "" for s in scs]
    pd.testing.assert_frame_equal(_comparable(serial), _comparable(dist))
    names = [s.name for s in scs if s.province != ""]
    for n, t in _tables(tmp_path / "serial", names).items():
        pd.testing.assert_frame_equal(t, pd.read_csv(tmp_path / "dask" / n / "villages.csv"))


def test_dask_client_object_equals_serial_bytes(batch_file: Path, tmp_path: Path) -> None:
    from dask.distributed import Client, LocalCluster

    scs = load_batch(batch_file)[3:6]
    serial = run_batch(scs, tmp_path / "serial", workers=1)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        dist = run_batch(scs, tmp_path / "dask", scheduler=client)
        assert client.status == "running"  # the caller's client is left open
    pd.testing.assert_frame_equal(_comparable(serial), _comparable(dist))
    for s in scs:
        a = (tmp_path / "serial" / s.name / "villages.csv").read_bytes()
        assert a == (tmp_path / "dask" / s.name / "villages.csv").read_bytes()


def test_input_deleted_after_loading_fails_only_that_scenario(
    batch_file: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(batch_file.parent / "sc", copy)
    toml = tmp_path / "two.toml"
    toml.write_text(
        "[defaults]\nmodel = 'knife'\nradius_km = 4\n"
        "[[scenario]]\nname = 'gone'\ndem = 'copy/dem.tif'\nvillages = 'copy/villages.gpkg'\n"
        "communes = 'copy/communes.gpkg'\ntowers = 'copy/towers.csv'\n"
        "[[scenario]]\nname = 'kept'\nscenario = 'sc'\n",
        encoding="utf-8",
    )
    scs = load_batch(toml)
    (copy / "towers.csv").unlink()  # vanishes between planning and running
    df = run_batch(scs, tmp_path / "out", workers=1)
    assert list(df["status"]) == ["failed", "ok"]
    assert "towers.csv" in df.loc[0, "error"] and "\n" not in df.loc[0, "error"]
    assert df.loc[1, "villages_total"] == len(_VILLAGES)
    summary = json.loads((tmp_path / "out" / "batch_summary.json").read_text())
    assert summary["failed"] == 1 and summary["ok"] == 1


def test_split_by_tile_partitions_villages_and_matches_whole(
    batch_file: Path, tmp_path: Path
) -> None:
    toml = tmp_path / "tiles.toml"
    toml.write_text(
        "[defaults]\nmodel = 'knife'\nradius_km = 4\n"
        "[[scenario]]\nname = 't'\ndem = 'sc/dem.tif'\nvillages = 'sc/villages.gpkg'\n"
        "communes = 'sc/communes.gpkg'\ntowers = 'sc/towers.csv'\nsplit = 'tile'\ntile_km = 4\n"
        "[[scenario]]\nname = 'whole'\nscenario = 'sc'\n",
        encoding="utf-8",
    )
    scs = load_batch(toml)
    tiles = [s for s in scs if s.tile is not None]
    assert len(tiles) >= 3 and all(s.name.startswith("t-y") for s in tiles)
    assert sum(s.tile[4] for s in tiles) == 1  # exactly one tile takes unlocated villages
    df = run_batch(scs, tmp_path / "out", workers=1)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    parts = pd.concat([pd.read_csv(tmp_path / "out" / s.name / "villages.csv") for s in tiles])
    whole = pd.read_csv(tmp_path / "out" / "whole" / "villages.csv")
    assert sorted(parts["village_id"]) == sorted(whole["village_id"])  # each village once
    cols = ["village_id", "status", "best_rx_dbm", "serving_tower_id"]
    pd.testing.assert_frame_equal(
        parts[cols].sort_values("village_id").reset_index(drop=True),
        whole[cols].sort_values("village_id").reset_index(drop=True),
        check_dtype=False,  # a tile with no served village reads an all-empty column
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [("tile_km = 0", "key 'tile_km'"), ("tile_km = 'big'", "key 'tile_km'")],
)
def test_split_tile_errors(batch_file: Path, extra: str, needle: str) -> None:
    p = batch_file.with_name("t.toml")
    p.write_text(
        "[[scenario]]\nname = 'a'\ndem = 'sc/dem.tif'\nvillages = 'sc/villages.gpkg'\n"
        f"communes = 'sc/communes.gpkg'\ntowers = 'sc/towers.csv'\nsplit = 'tile'\n{extra}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataLoadError, match=needle):
        load_batch(p)
    p.write_text("[[scenario]]\nname = 'a'\nscenario = 'sc'\ntile_km = 5\n", encoding="utf-8")
    with pytest.raises(DataLoadError, match="needs split"):
        load_batch(p)


# SRTM voids are filled with a warning (as `deadzone audit` prints it); not what is tested here.
@pytest.mark.filterwarnings("ignore::deadzone.errors.DeadzoneWarning")
def test_split_by_tile_real_srtm_tile(shared_data: Path, tmp_path: Path) -> None:
    """OSM settlements on the SRTM tile, 50 km tiles: every settlement audited exactly once."""
    import geopandas as gpd

    from tests.conftest import shared_file

    box = (105.0, 21.0, 106.0, 22.0)
    dem = shared_file(shared_data, "srtm3/N21E105.hgt")
    communes = shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg")
    s = gpd.read_file(
        shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson"), bbox=box
    )
    s = s[s.geometry.x.between(box[0], box[2]) & s.geometry.y.between(box[1], box[3])]
    s.to_file(tmp_path / "villages.geojson", driver="GeoJSON")
    c = gpd.read_file(communes, bbox=box).iloc[::4]  # a tower at every 4th commune centre
    pd.DataFrame(
        {
            "tower_id": "T" + c["ward_code"].astype(str),
            "lon": c["center_lon"],
            "lat": c["center_lat"],
            "tech": "4G",
        }
    ).to_csv(tmp_path / "towers.csv", index=False)
    (tmp_path / "b.toml").write_text(
        f'[[scenario]]\nname = "t"\ndem = "{dem}"\nvillages = "villages.geojson"\n'
        f'communes = "{communes}"\ntowers = "towers.csv"\nmodel = "knife"\nradius_km = 8\n'
        'split = "tile"\ntile_km = 50\n\n'
        f'[[scenario]]\nname = "whole"\ndem = "{dem}"\nvillages = "villages.geojson"\n'
        f'communes = "{communes}"\ntowers = "towers.csv"\nmodel = "knife"\nradius_km = 8\n',
        encoding="utf-8",
    )
    scs = load_batch(tmp_path / "b.toml")
    assert 5 <= len(scs) <= 10  # 1 x 1 degree ~ 104 x 111 km in 50 km squares, + whole
    df = run_batch(scs, tmp_path / "out", workers=1)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    tiles = [n for n in df["scenario"] if n != "whole"]
    assert int(df.set_index("scenario").loc[tiles, "villages_total"].sum()) == len(s)
    v = pd.concat([pd.read_csv(tmp_path / "out" / n / "villages.csv") for n in tiles])
    assert len(v) == len(s) and v["village_id"].is_unique
    assert v.loc[v["status"] != "covered", "reason"].notna().all()
    assert (v["status"] == "covered").any() and (v["status"] != "covered").any()
    # Every tile's DEM window is a sub-grid of the tile's own UTM grid, with the same
    # cells: each settlement gets the unsplit audit's status and best signal.
    whole = pd.read_csv(tmp_path / "out" / "whole" / "villages.csv").set_index("village_id")
    v = v.set_index("village_id").loc[whole.index]
    assert (v["status"] == whole["status"]).all()
    pd.testing.assert_series_equal(v["best_rx_dbm"], whole["best_rx_dbm"])


# --------------------------------------------------------------------------- border villages
# Metres from the DEM's top-left corner (x east, y south); the DEM is 9 x 9 km.
_BORDER_COMMUNES = [
    # commune id, province, (x0, y0, x1, y1)
    ("A", "Lai Châu", (0.0, 0.0, 4000.0, 9000.0)),
    ("B", "Điện Biên", (4300.0, 0.0, 9000.0, 6000.0)),  # a 300 m gap west of it
    ("D", "Hà Giang", (4300.0, 6000.0, 9000.0, 9000.0)),  # on the DEM, no village
    ("F", "Sơn La", (9000.0, 0.0, 20000.0, 9000.0)),  # meets the DEM, village 6 km off it
    ("E", "Cao Bằng", (60000.0, 0.0, 70000.0, 9000.0)),  # far off the DEM, no village
]
_BORDER_VILLAGES = {
    # village id: (x, y, commune the unsplit audit gives it)
    "v_in_a_near_b": (3600.0, 3000.0, "A"),  # in A, 700 m from B: the old split put it in both
    "v_gap": (4200.0, 2000.0, "B"),  # in no commune: the nearest (B, 100 m; A is 200 m)
    "v_in_b": (7000.0, 3000.0, "B"),
    "v_in_a": (1500.0, 4500.0, "A"),
    "v_off_dem_in_f": (15000.0, 4500.0, "F"),  # unknown / outside_dem in Sơn La's job
    "v_nowhere": (4500.0, 40000.0, ""),  # 31 km south: no commune, outside the DEM
}


def write_border_case(folder: Path) -> Path:
    """Villages near a province border, off the DEM and in no commune; returns the TOML.

    Scenario ``split`` is split by province; ``whole`` is the same files unsplit.
    """
    import geopandas as gpd
    from shapely.geometry import Point, box

    from tests.conftest import UTM48, X0, Y0

    sc = small_scenario(towers=[{"x": 2000.0, "y": 4500.0}, {"x": 6500.0, "y": 2500.0}])
    write_scenario(sc, folder / "sc")
    gpd.GeoDataFrame(
        {
            "commune_id": [c for c, _, _ in _BORDER_COMMUNES],
            "name": [f"Xã {c}" for c, _, _ in _BORDER_COMMUNES],
            "province": [p for _, p, _ in _BORDER_COMMUNES],
        },
        geometry=[box(X0 + a, Y0 - d, X0 + c, Y0 - b) for _, _, (a, b, c, d) in _BORDER_COMMUNES],
        crs=UTM48,
    ).to_crs(4326).to_file(folder / "communes.gpkg", driver="GPKG")
    gpd.GeoDataFrame(
        {
            "village_id": list(_BORDER_VILLAGES),
            "name": list(_BORDER_VILLAGES),
            "population": [100 * (i + 1) for i in range(len(_BORDER_VILLAGES))],
        },
        geometry=[Point(X0 + x, Y0 - y) for x, y, _ in _BORDER_VILLAGES.values()],
        crs=UTM48,
    ).to_crs(4326).to_file(folder / "villages.geojson", driver="GeoJSON")
    toml = folder / "border.toml"
    files = (
        "dem = 'sc/dem.tif'\nvillages = 'villages.geojson'\ncommunes = 'communes.gpkg'\n"
        "towers = 'sc/towers.csv'\n"
    )
    toml.write_text(
        "[defaults]\nmodel = 'knife'\nradius_km = 4\n"
        f"[[scenario]]\nname = 'split'\n{files}split = 'province'\n"
        f"[[scenario]]\nname = 'whole'\n{files}",
        encoding="utf-8",
    )
    return toml


# The villages file has no households; communes F and E are off the DEM.
@pytest.mark.filterwarnings("ignore::deadzone.errors.DeadzoneWarning")
def test_province_split_partitions_border_villages_like_the_unsplit_audit(tmp_path: Path) -> None:
    """Each village in exactly one province job, with the unsplit audit's commune.

    A village inside commune A (Lai Châu) within 1000 m of commune B (Điện Biên) used
    to be counted by both jobs (each job assigned communes among its own province's
    only, with the 1000 m nearest-commune fallback); the jobs now add up to the
    unsplit audit, village by village.
    """
    scs = load_batch(write_border_case(tmp_path))
    df = run_batch(scs, tmp_path / "out", workers=1).set_index("scenario")
    assert df.loc["whole", "status"] == "ok"
    status = df["status"].drop("whole").to_dict()
    note = df["note"].drop("whole").to_dict()
    assert status == {
        "split-Cao_Bang": "skipped",
        "split-Ha_Giang": "skipped",
        "split-Lai_Chau": "ok",
        "split-Son_La": "ok",
        "split-Dien_Bien": "ok",
        "split-unassigned": "ok",
    }
    assert note["split-Cao_Bang"] == "outside DEM" and note["split-Ha_Giang"] == "no villages"
    ok = [n for n, s in status.items() if s == "ok"]
    assert not any((tmp_path / "out" / n).exists() for n, s in status.items() if s != "ok")
    parts = pd.concat(
        [
            pd.read_csv(tmp_path / "out" / n / "villages.csv", dtype={"commune_id": str}).assign(
                job=n
            )
            for n in ok
        ]
    ).fillna({"commune_id": ""})
    whole = pd.read_csv(tmp_path / "out" / "whole" / "villages.csv", dtype={"commune_id": str})
    whole = whole.fillna({"commune_id": ""})
    # A partition: no village twice, none dropped.
    assert parts["village_id"].is_unique
    assert sorted(parts["village_id"]) == sorted(whole["village_id"]) == sorted(_BORDER_VILLAGES)
    # The commune (hence the province) of each village is the unsplit audit's.
    got = parts.set_index("village_id")
    assert got["commune_id"].to_dict() == {v: c for v, (_, _, c) in _BORDER_VILLAGES.items()}
    assert got.loc["v_in_a_near_b", "job"] == "split-Lai_Chau"
    assert got.loc["v_gap", "job"] == "split-Dien_Bien"
    # Villages off the DEM are audited as unknown / outside_dem, as the unsplit audit does.
    for v, job in (("v_off_dem_in_f", "split-Son_La"), ("v_nowhere", "split-unassigned")):
        assert (got.loc[v, "job"], got.loc[v, "status"], got.loc[v, "reason"]) == (
            job,
            "unknown",
            "outside_dem",
        )
    cols = ["village_id", "commune_id", "status", "reason", "best_rx_dbm", "serving_tower_id"]
    pd.testing.assert_frame_equal(
        parts[cols].sort_values("village_id").reset_index(drop=True),
        whole[cols].sort_values("village_id").reset_index(drop=True),
        check_dtype=False,  # a job whose villages all have a reason reads str, not object
    )
    for k in (
        "villages_total",
        "villages_covered",
        "villages_unknown",
        "population_total",
        "population_covered",
    ):
        assert int(df.loc[ok, k].sum()) == int(df.loc["whole", k]), k
    summary = json.loads((tmp_path / "out" / "batch_summary.json").read_text(encoding="utf-8"))
    assert (summary["ok"], summary["skipped"], summary["failed"]) == (5, 2, 0)
    assert summary["totals_ok"]["villages_total"] == 2 * len(_BORDER_VILLAGES)  # split + whole


@pytest.mark.filterwarnings("ignore::deadzone.errors.DeadzoneWarning")
def test_resume_recomputes_province_jobs_of_the_old_split_rule(tmp_path: Path) -> None:
    """Province folders written before the one-assignment rule are stale for --resume,
    and a job that became skipped loses its old folder."""
    scs = [s for s in load_batch(write_border_case(tmp_path)) if s.province is not None]
    out = tmp_path / "out"
    run_batch(scs, out, workers=1)
    lai = out / "split-Lai_Chau" / MANIFEST
    man = json.loads(lai.read_text(encoding="utf-8"))
    del man["parameters"]["split_rule"]  # as written by the old rule
    lai.write_text(json.dumps(man), encoding="utf-8")
    shutil.copytree(out / "split-Lai_Chau", out / "split-Ha_Giang")  # a stale result
    before = {
        n: (out / n / MANIFEST).stat().st_mtime_ns for n in ("split-Lai_Chau", "split-Dien_Bien")
    }
    df = run_batch(scs, out, workers=1, resume=True).set_index("scenario")
    assert (out / "split-Lai_Chau" / MANIFEST).stat().st_mtime_ns != before["split-Lai_Chau"]
    assert (out / "split-Dien_Bien" / MANIFEST).stat().st_mtime_ns == before["split-Dien_Bien"]
    assert df.loc["split-Ha_Giang", "status"] == "skipped"
    assert not (out / "split-Ha_Giang").exists()


def test_worker_warnings_are_one_line_with_the_job_name(monkeypatch, capsys) -> None:  # noqa: ANN001
    """Issue 16: batch printed raw 'process.py:261: DeadzoneWarning' lines from workers."""
    import warnings as _w

    from deadzone.app import batch as batch_mod
    from deadzone.errors import DeadzoneWarning

    def fake(sc, out, n_threads=None):  # noqa: ANN001, ANN202
        _w.warn("villages.csv: 3 villages have population 0\n  (or missing)", DeadzoneWarning,
                stacklevel=2)
        _w.warn("odd", UserWarning, stacklevel=2)
        _w.warn("old", DeprecationWarning, stacklevel=2)
        return {"status": "ok"}

    monkeypatch.setattr(batch_mod, "run_scenario", fake)

    class Sc:
        name = "lai-chau"

    assert batch_mod._pool_job(Sc(), "out", 1) == {"status": "ok"}
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: lai-chau: villages.csv: 3 villages have population 0 (or missing)",
                   "warning: lai-chau: UserWarning: odd"]


def test_second_batch_into_the_same_folder_names_the_holder(batch_file: Path,
                                                          tmp_path: Path) -> None:
    """Issue 18 item 2: two runs into one folder raced each other."""
    from deadzone.app.batch import _FolderLock

    out = tmp_path / "out"
    out.mkdir()
    scs = load_batch(batch_file)[3:4]
    with _FolderLock(out), pytest.raises(OutputExistsError,
                                         match=f"another deadzone batch \\(PID {os.getpid()}\\)"):
        run_batch(scs, out, workers=1)
    run_batch(scs, out, workers=1)  # released: runs
    assert not (out / _FolderLock.NAME).exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_batch(batch_file: Path, tmp_path: Path) -> None:
    """Issue 18 item 2: after ``kill -9`` of ``deadzone batch`` its pool workers
    re-parented to PID 1 and ran the whole queue."""
    import signal
    import subprocess

    def children(pid: int) -> set[int]:
        kids = set()
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    kids.add(int(d.name))
        return kids

    def alive(pid: int) -> bool:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "deadzone", "-q", "batch", str(batch_file),
                             "--out", str(tmp_path / "out"), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            # the pool's workers (the resource tracker is a child too)
            workers = {k for k in children(proc.pid)
                       if b"spawn_main" in (Path("/proc") / str(k) / "cmdline").read_bytes()}
            time.sleep(0.2)
        assert len(workers) == 2, "the pool never started"
        time.sleep(1.0)  # let them take work
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(alive(w) for w in workers)
    finally:
        proc.kill()
        for w in workers:  # never leave orphans behind, pass or fail
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass


def test_temporaries_of_a_killed_worker_are_swept_at_the_end(batch_file: Path, tmp_path: Path,
                                                            monkeypatch) -> None:  # noqa: ANN001
    """Issue 18 item 6: a Dask worker killed mid-scenario left ``.<name>.tmp-*``
    in a batch that then succeeded (the task ran again elsewhere)."""
    from deadzone.app import batch as batch_mod

    real = batch_mod._execute

    def dying_worker(todo, out, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        (out / f".{todo[0].name}.tmp-deadbeef").mkdir()  # what the killed worker left
        return real(todo, out, *a, **k)

    monkeypatch.setattr(batch_mod, "_execute", dying_worker)
    out = tmp_path / "out"
    df = run_batch(load_batch(batch_file)[3:4], out, workers=1)
    assert (df["status"] == "ok").all()
    assert not list(out.glob(".*.tmp-*"))
