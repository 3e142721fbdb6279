"""``deadzone audit`` end to end with a district column in the communes file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from deadzone.cli.main import cli
from deadzone.data.io import write_raster
from tests.conftest import UTM48, X0, Y0, small_scenario

W = 9000.0  # small_scenario's 300 x 300 cells of 30 m
# 4 communes (quadrants) in 2 districts (west, east) of one province
_COMMUNES = [  # id, name, district, (xmin, ymin, xmax, ymax) in metres from the top-left
    ("X1", "Xã Một", "Huyện Tây", (0, 0, W / 2, W / 2)),
    ("X2", "Xã Hai", "Huyện Đông", (W / 2, 0, W, W / 2)),
    ("X3", "Xã Ba", "Huyện Tây", (0, W / 2, W / 2, W)),
    ("X4", "Xã Bốn", "Huyện Đông", (W / 2, W / 2, W, W)),
]
_PTS = [(x, y) for x in (1000.0, 3500.0, 5500.0, 8000.0) for y in (1000.0, 4000.0, 6000.0)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("districts_in")
    sc = small_scenario(villages=_PTS, towers=[{"x": 2000.0, "y": 2000.0}])
    write_raster(root / "dem.tif", sc.dem.elevation_m, sc.dem.transform, sc.dem.crs)
    com = gpd.GeoDataFrame(
        {
            "ma_xa": [c[0] for c in _COMMUNES],
            "ten_xa": [c[1] for c in _COMMUNES],
            "ten_tinh": ["Lai Châu"] * 4,
            "Tên huyện": [c[2] for c in _COMMUNES],  # found as ten_huyen
        },
        geometry=[box(X0 + a, Y0 - d, X0 + c, Y0 - b) for *_, (a, b, c, d) in _COMMUNES],
        crs=UTM48,
    ).to_crs(4326)
    com.to_file(root / "xa.gpkg", layer="communes")
    com.drop(columns="Tên huyện").to_file(root / "xa_2025.gpkg", layer="communes")
    pts = sc.villages.geometry
    vil = pd.DataFrame({
        "ma_thon": [f"T{i}" for i in range(len(_PTS))], "lon": pts.x, "lat": pts.y,
        "dan_so": [100 + 10 * i for i in range(len(_PTS))], "so_ho": 25,
    })  # fmt: skip
    vil.to_csv(root / "thon.csv", index=False)
    # the first village (in X1, Huyện Tây) says Huyện Đông: inconsistent with xa.gpkg
    vil.assign(huyen=["Huyện Đông"] + [""] * (len(vil) - 1)).to_csv(root / "bad.csv", index=False)
    tw = sc.towers.drop(columns="geometry")
    tw.to_csv(root / "towers.csv", index=False)
    return {"dir": root, "dem": root / "dem.tif", "communes": root / "xa.gpkg",
            "communes_2025": root / "xa_2025.gpkg", "villages": root / "thon.csv",
            "bad": root / "bad.csv", "towers": root / "towers.csv"}  # fmt: skip


def _audit(inputs, out: Path, *, communes="communes", villages="villages", extra=()):
    args = ["audit", "--dem", str(inputs["dem"]), "--villages", str(inputs[villages]),
            "--communes", str(inputs[communes]), "--towers", str(inputs["towers"]),
            "--model", "knife", "--radius-km", "4", "--out", str(out), *extra]  # fmt: skip
    return CliRunner().invoke(cli, args)


def test_audit_rolls_up_communes_districts_provinces(inputs, tmp_path: Path) -> None:
    out = tmp_path / "a"
    res = _audit(inputs, out)
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["admin_levels"] == ["commune", "district", "province"]
    assert summary["districts_total"] == 2 and summary["villages_total"] == len(_PTS)
    full = summary["districts_fully_covered"]
    assert f"districts fully covered: {full}/2 ({50.0 * full:.1f}%)" in res.output
    assert f"districts: {out}/districts.csv" in res.output

    c = pd.read_csv(out / "communes.csv")
    d = pd.read_csv(out / "districts.csv")
    p = pd.read_csv(out / "provinces.csv")
    v = pd.read_csv(out / "villages.csv")
    assert dict(zip(c["commune_id"], c["district"], strict=True)) == {
        k: dist for k, _, dist, _ in _COMMUNES
    }
    assert sorted(d["district"]) == ["Huyện Tây", "Huyện Đông"]
    assert d["communes_total"].tolist() == [2, 2] and p["districts_total"].tolist() == [2]
    # each village once; commune -> district -> province -> all add up exactly
    assert len(v) == v["village_id"].nunique() == len(_PTS)
    cols = (
        "villages_total",
        "villages_covered",
        "villages_dead",
        "population_total",
        "population_covered",
        "households_covered",
        "not_covered_no_tower_in_range",
    )
    for col in cols:
        want = summary.get(col, int(c[col].sum()))
        assert c[col].sum() == d[col].sum() == p[col].sum() == want, col
    by_v = v.groupby("district")["village_id"].count()
    assert (d.set_index("district")["villages_total"] == by_v).all()
    assert (v["district"] == v["commune_id"].map(c.set_index("commune_id")["district"])).all()

    # GeoPackage: districts layer next to communes, polygons = union of their communes
    assert [name for name, _ in pyogrio.list_layers(out / "communes.gpkg")] == [
        "communes", "districts"
    ]  # fmt: skip
    gc = gpd.read_file(out / "communes.gpkg", layer="communes").to_crs(UTM48)
    gd = gpd.read_file(out / "communes.gpkg", layer="districts").to_crs(UTM48)
    assert gd["villages_total"].sum() == len(_PTS)
    for dist, geom in zip(gd["district"], gd.geometry, strict=True):
        union = gc[gc["district"] == dist].geometry.union_all()
        assert geom.symmetric_difference(union).area < 1.0  # m^2
        assert geom.area == pytest.approx(W * W / 2, rel=1e-6)

    # outputs are never replaced silently; the progress breakdown follows the districts
    again = _audit(inputs, out)
    assert again.exit_code == 2 and "already exists" in again.output
    prog = CliRunner().invoke(cli, ["progress", "--baseline", str(out), "--current", str(out),
                                    "--out", str(tmp_path / "p")])  # fmt: skip
    assert prog.exit_code == 0, prog.output
    pd_ = pd.read_csv(tmp_path / "p" / "progress_by_district.csv")
    assert sorted(pd_["district"]) == ["Huyện Tây", "Huyện Đông"]
    assert pd_["villages_total"].sum() == len(_PTS)


def test_no_district_column_writes_no_district_outputs(inputs, tmp_path: Path) -> None:
    out = tmp_path / "a"
    assert _audit(inputs, out).exit_code == 0
    assert (out / "districts.csv").is_file()
    # the same folder re-audited with 2025-style communes (no districts), with --overwrite
    res = _audit(inputs, out, communes="communes_2025", extra=["--overwrite"])
    assert res.exit_code == 0, res.output
    assert "districts fully covered" not in res.output and "districts.csv" not in res.output
    assert not (out / "districts.csv").exists()  # the earlier run's file is gone
    assert [name for name, _ in pyogrio.list_layers(out / "communes.gpkg")] == ["communes"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["admin_levels"] == ["commune", "province"]
    assert "district" not in pd.read_csv(out / "communes.csv").columns


def test_commune_in_two_districts_is_a_one_line_error(inputs, tmp_path: Path) -> None:
    res = _audit(inputs, tmp_path / "a", villages="bad")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "bad.csv: field 'district': village 'T0' is in district 'Huyện Đông' but its " \
           "commune 'X1' is in district 'Huyện Tây' in " in lines[0]  # fmt: skip
    assert not (tmp_path / "a" / "summary.json").exists()
