"""``--population-raster`` end to end: audit (with and without rasters), the
village population from the raster, the rebuilt scenario of an audit folder,
bad rasters, and ``batch``'s TOML keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.app.scenario import load_scenario_dir
from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from deadzone.data.loaders import file_checksum
from deadzone.model.dem import Dem
from tests.conftest import small_scenario
from tests.population_fixtures import ARCSEC3, WORLDPOP_NODATA, worldpop


def _inputs(tmp_path: Path) -> tuple[list[str], Path, float]:
    """A small scenario's files and a WorldPop raster over it (1.5 people per cell,
    a strip of nodata); returns (audit arguments, raster path, people read)."""
    scen = small_scenario(villages=[(1500.0, 4500.0), (7500.0, 4500.0), (4500.0, 8000.0)],
                          towers=[{"x": 2500.0, "y": 4500.0, "eirp_dbm": 35.0}])
    scen.villages.loc[2, "population"] = 0
    scen.villages.loc[2, "households"] = 0
    d = tmp_path / "in"
    write_scenario(scen, d)
    dem: Dem = scen.dem
    w, s, e, n = dem.bounds_lonlat
    cols = int(np.ceil((e - w) / ARCSEC3)) + 4
    rows = int(np.ceil((n - s) / ARCSEC3)) + 4
    people = np.full((rows, cols), 1.5, dtype=np.float32)
    people[:, :3] = WORLDPOP_NODATA
    raster = worldpop(tmp_path / "vnm_ppp_2020.tif", people, west=w - 2 * ARCSEC3,
                      north=n + 2 * ARCSEC3)
    args = ["--dem", str(d / "dem.tif"), "--villages", str(d / "villages.gpkg"),
            "--communes", str(d / "communes.gpkg"), "--towers", str(d / "towers.csv"),
            "--radius-km", "5", "--model", "fspl", "-q"]
    return args, raster, float(people[people > 0].sum())


def test_audit_with_population_raster(tmp_path: Path) -> None:
    args, raster, read = _inputs(tmp_path)
    out = tmp_path / "a"
    r = CliRunner().invoke(cli, ["audit", *args, "--population-raster", str(raster),
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    p = s["population_raster"]
    assert s["inputs"]["population"] == {"path": str(raster.resolve()),
                                         "sha256": file_checksum(raster)}
    # the window over the DEM (plus a cell) is read, not the raster's margin
    assert 0.8 * read < p["people_read"] < read
    assert p["people_total"] + p["people_outside_dem"] == pytest.approx(p["people_read"], abs=0.2)
    parts = sum(p[f"people_{k}"] for k in ("covered", "marginal", "dead", "unknown"))
    assert parts == pytest.approx(p["people_total"], abs=0.2)
    assert 0 < p["people_covered"] < p["people_total"]
    assert p["dem_cells_without_data"] > 0  # the nodata strip on the west edge
    c = pd.read_csv(out / "communes.csv")
    pr = pd.read_csv(out / "provinces.csv")
    for col in ("people_raster", "people_covered", "people_marginal", "people_dead"):
        assert pr[col].sum() == pytest.approx(c[col].sum(), abs=0.2)
    assert c["people_raster"].sum() + p["people_outside_communes"] == pytest.approx(
        p["people_total"], abs=0.2)
    import geopandas as gpd

    g = gpd.read_file(out / "communes.gpkg", layer="communes")
    assert "people_covered" in g.columns
    # the summary the CLI prints carries the line
    r2 = CliRunner().invoke(cli, ["audit", *[a for a in args if a != "-q"],
                                  "--population-raster", str(raster), "--overwrite",
                                  "--out", str(out)])
    assert r2.exit_code == 0, r2.output
    line = next(x for x in r2.output.splitlines() if "people (population raster): " in x)
    assert line.endswith(f"; {p['dem_cells_without_data']:,} DEM cells without population data")
    # an audit folder rebuilds the scenario with the raster (whatif, place, serve)
    scen = load_scenario_dir(out)
    assert scen.population is not None and scen.population.checksum == file_checksum(raster)


def test_no_rasters_same_people_and_plain_audit_has_none(tmp_path: Path) -> None:
    args, raster, _ = _inputs(tmp_path)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, extra in ((a, []), (b, ["--no-rasters"])):
        r = CliRunner().invoke(cli, ["audit", *args, *extra, "--population-raster",
                                     str(raster), "--out", str(out)])
        assert r.exit_code == 0, r.output
    assert not (b / "coverage.tif").exists()
    sa = json.loads((a / "summary.json").read_text(encoding="utf-8"))
    sb = json.loads((b / "summary.json").read_text(encoding="utf-8"))
    assert sa["population_raster"] == sb["population_raster"]
    pd.testing.assert_frame_equal(pd.read_csv(a / "communes.csv"), pd.read_csv(b / "communes.csv"))
    r = CliRunner().invoke(cli, ["audit", *args, "--out", str(c)])
    assert r.exit_code == 0, r.output
    sc = json.loads((c / "summary.json").read_text(encoding="utf-8"))
    assert "population_raster" not in sc and "population" not in sc["inputs"]
    assert "village_population_km" not in sc["input_options"]
    assert not any(k.startswith("people") for k in pd.read_csv(c / "communes.csv").columns)
    # the village tables are the same with and without the raster
    pd.testing.assert_frame_equal(pd.read_csv(a / "villages.csv"), pd.read_csv(c / "villages.csv"))


def test_village_population_from_raster_option(tmp_path: Path) -> None:
    args, raster, _ = _inputs(tmp_path)
    out = tmp_path / "v"
    r = CliRunner().invoke(cli, ["audit", *args, "--population-raster", str(raster),
                                 "--village-population-from-raster", "0.5",
                                 "--persons-per-household", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    v = pd.read_csv(out / "villages.csv")
    assert v["population_source"].tolist() == ["input", "input", "raster"]
    # ~pi * 500^2 m^2 of 3" cells (~86 x 93 m) at 1.5 people each
    got = int(v.loc[2, "population"])
    assert 80 < got < 180
    assert v.loc[2, "households"] == round(got / 4)
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert s["population_raster"]["villages_population_from_raster"] == 1
    assert s["input_options"]["village_population_km"] == 0.5
    assert s["input_options"]["persons_per_household"] == 4.0
    scen = load_scenario_dir(out)  # rebuilt with the same filled villages
    assert scen.villages["population"].tolist() == v["population"].tolist()


@pytest.mark.parametrize("case", ["bands", "negative", "outside", "needs_raster"])
def test_bad_raster_one_line_error(tmp_path: Path, case: str) -> None:
    args, raster, _ = _inputs(tmp_path)
    bad = tmp_path / "bad.tif"
    extra = ["--population-raster", str(bad)]
    if case == "bands":
        worldpop(bad, np.ones((2, 5, 5)), west=105.0, north=21.0)
        want = "has 2 bands"
    elif case == "negative":
        import rasterio

        with rasterio.open(raster) as src:
            a, prof = src.read(1), src.profile
        a[4, 7] = -3.0
        with rasterio.open(bad, "w", **prof) as dst:
            dst.write(a, 1)
        want = "1 cell with negative people (first at row 4, col 7: -3)"
    elif case == "outside":
        worldpop(bad, np.ones((5, 5)), west=10.0, north=50.0)
        want = "does not cover the requested area"
    else:
        extra = ["--village-population-from-raster", "1"]
        want = "need --population-raster"
    r = CliRunner().invoke(cli, ["audit", *args, *extra, "--out", str(tmp_path / "o")])
    assert r.exit_code != 0
    lines = [x for x in r.output.splitlines() if x.strip()]
    err = next(x for x in lines if want in x)
    if case != "needs_raster":
        assert str(bad) in err
    assert not (tmp_path / "o" / "summary.json").exists()


def _batch_inputs(tmp_path: Path) -> Path:
    """Two provinces' files, a population raster over them, and a batch TOML with
    a whole job and a split-by-province job; returns the TOML."""
    from tests.app.test_batch import write_inputs

    d = write_inputs(tmp_path / "sc")
    from deadzone.data.loaders import load_dem

    dem = load_dem(d / "dem.tif")
    w, s, e, n = dem.bounds_lonlat
    cols = int(np.ceil((e - w) / ARCSEC3)) + 4
    rows = int(np.ceil((n - s) / ARCSEC3)) + 4
    rng = np.random.default_rng(5)
    worldpop(tmp_path / "pop.tif", rng.gamma(2.0, 1.0, (rows, cols)).astype(np.float32),
             west=w - 2 * ARCSEC3, north=n + 2 * ARCSEC3)
    toml = tmp_path / "batch.toml"
    toml.write_text("""
[defaults]
radius_km = 4
model = "fspl"
population = "pop.tif"

[[scenario]]
name = "whole"
dem = "sc/dem.tif"
villages = "sc/villages.gpkg"
communes = "sc/communes.gpkg"
towers = "sc/towers.csv"

[[scenario]]
name = "saved"
scenario = "sc"
village_population_km = 1.0
persons_per_household = 4.0
""", encoding="utf-8")
    return toml


def test_batch_toml_population_keys(tmp_path: Path) -> None:
    from deadzone.app.batch import load_batch, run_batch

    toml = _batch_inputs(tmp_path)
    scs = load_batch(toml)
    assert all(sc.files["population"] == (tmp_path / "pop.tif").resolve() for sc in scs)
    assert scs[1].village_population_km == 1.0 and scs[1].persons_per_household == 4.0
    assert "village_population_km" not in scs[0].parameters()  # old fingerprints unchanged
    df = run_batch(scs, tmp_path / "out", workers=1)
    assert (df["status"] == "ok").all(), df["error"].tolist()
    assert (df["people_raster"] > 0).all() and (df["people_covered"] >= 0).all()
    whole = json.loads((tmp_path / "out" / "whole" / "summary.json").read_text(encoding="utf-8"))
    # the same scenario through `deadzone audit` gives the same people
    d = tmp_path / "sc"
    r = CliRunner().invoke(cli, ["audit", "--dem", str(d / "dem.tif"), "--villages",
                                 str(d / "villages.gpkg"), "--communes", str(d / "communes.gpkg"),
                                 "--towers", str(d / "towers.csv"), "--radius-km", "4",
                                 "--model", "fspl", "--no-rasters", "-q", "--population-raster",
                                 str(tmp_path / "pop.tif"), "--out", str(tmp_path / "single")])
    assert r.exit_code == 0, r.output
    single = json.loads((tmp_path / "single" / "summary.json").read_text(encoding="utf-8"))
    assert whole["population_raster"] == single["population_raster"]
    v = pd.read_csv(tmp_path / "out" / "saved" / "villages.csv")
    assert "population_source" in v.columns


@pytest.mark.parametrize("body,needle", [
    ('village_population_km = 1.0', "key 'village_population_km' needs 'population'"),
    ('population = "pop.tif"\npersons_per_household = 3.0',
     "key 'persons_per_household' needs 'village_population_km'"),
    ('population = "missing.tif"', "key 'population'"),
])
def test_batch_population_key_errors(tmp_path: Path, body: str, needle: str) -> None:
    from deadzone.app.batch import load_batch
    from deadzone.errors import DataLoadError

    _batch_inputs(tmp_path)
    toml = tmp_path / "bad.toml"
    toml.write_text(f'[[scenario]]\nname = "x"\nscenario = "sc"\n{body}\n', encoding="utf-8")
    with pytest.raises(DataLoadError) as exc:
        load_batch(toml)
    assert needle in str(exc.value) and str(toml) in str(exc.value)


def _scenario_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A scenario folder (dem.tif, villages, ...) with roads and backbone, and a
    WorldPop raster over it."""
    import geopandas as gpd
    from shapely.geometry import LineString, Point

    from tests.conftest import UTM48, X0, Y0

    rng = np.random.default_rng(11)
    z = (100.0 + 50.0 * rng.random((200, 200))).astype(np.float32)
    z[:, 95:100] += 250.0
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(20, 2))]
    s = small_scenario(z=z, villages=vil, towers=[{"x": 1200.0, "y": 1500.0}])
    s.backbone = gpd.GeoDataFrame({"node_id": ["FN1"], "name": ["Nút quang"]},
                                  geometry=[Point(X0 + 500, Y0 - 500)], crs=UTM48).to_crs(4326)
    s.roads = gpd.GeoDataFrame(
        {"road_id": ["R1"], "road_class": ["provincial"]},
        geometry=[LineString([(X0 + 500, Y0 - 500), (X0 + 500, Y0 - 5500),
                              (X0 + 5500, Y0 - 5500)])], crs=UTM48).to_crs(4326)
    d = tmp_path / "scen"
    write_scenario(s, d)
    w, so, e, n = s.dem.bounds_lonlat
    cols = int(np.ceil((e - w) / ARCSEC3)) + 4
    rows = int(np.ceil((n - so) / ARCSEC3)) + 4
    raster = worldpop(tmp_path / "pop.tif", np.full((rows, cols), 2.0, np.float32),
                      west=w - 2 * ARCSEC3, north=n + 2 * ARCSEC3)
    return d, raster


def test_place_summary_carries_people_before_and_after(tmp_path: Path) -> None:
    d, raster = _scenario_folder(tmp_path)
    out = tmp_path / "pl"
    r = CliRunner().invoke(cli, ["place", "--scenario", str(d), "--budget-towers", "1",
                                 "--model", "knife", "--radius-km", "3", "--population-raster",
                                 str(raster), "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    before, after = s["population_raster_before"], s["population_raster_after"]
    assert before["people_total"] == pytest.approx(after["people_total"])
    assert after["people_covered"] >= before["people_covered"]
    assert s["inputs"]["population"]["sha256"] == file_checksum(raster)
    assert "after: people (population raster): " in r.output


@pytest.mark.slow
def test_plan_summary_carries_people(tmp_path: Path) -> None:
    d, raster = _scenario_folder(tmp_path)
    out = tmp_path / "plan"
    r = CliRunner().invoke(cli, ["plan", "--scenario", str(d), "--years", "2",
                                 "--budget-per-year", "30e9", "--start-year", "2027",
                                 "--model", "knife", "--radius-km", "3", "--max-candidates",
                                 "20", "--population-raster", str(raster), "--out", str(out),
                                 "-q"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert s["population_raster"]["people_total"] > 0
    assert s["inputs"]["population"]["sha256"] == file_checksum(raster)


@pytest.mark.slow
def test_plan_on_a_scenario_folder_with_its_own_population_tif(tmp_path: Path) -> None:
    """A scenario folder holding population.tif (as `deadzone demo` writes) and no
    --population-raster: the plan's summary has the people figures and no
    inputs entry to copy."""
    from deadzone.data.io import load_scenario
    from deadzone.data.population import load_population

    d, raster = _scenario_folder(tmp_path)
    s = load_scenario(d)
    s.population = load_population(raster)
    write_scenario(s, tmp_path / "with_pop")
    out = tmp_path / "plan"
    r = CliRunner().invoke(cli, ["plan", "--scenario", str(tmp_path / "with_pop"), "--years", "2",
                                 "--budget-per-year", "30e9", "--start-year", "2027",
                                 "--model", "knife", "--radius-km", "3", "--max-candidates",
                                 "20", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "plan_summary.json").read_text(encoding="utf-8"))
    assert summary["population_raster"]["people_total"] > 0


def test_batch_cli_population_raster_option(tmp_path: Path) -> None:
    from tests.app.test_batch import write_inputs

    write_inputs(tmp_path / "sc")
    _, raster = _scenario_folder(tmp_path)  # a raster over the same 300 x 300 cell area
    toml = tmp_path / "b.toml"
    toml.write_text('[[scenario]]\nname = "s"\nscenario = "sc"\nmodel = "fspl"\n'
                    'radius_km = 3\n', encoding="utf-8")
    r = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(tmp_path / "out"),
                                 "--workers", "1", "-q", "--population-raster", str(raster)])
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "out" / "s" / "summary.json").read_text(encoding="utf-8"))
    assert s["population_raster"]["people_total"] > 0
    df = pd.read_csv(tmp_path / "out" / "batch_summary.csv")
    assert df.loc[0, "people_raster"] == pytest.approx(s["population_raster"]["people_total"])
    # a batch job finds the unlisted settlements as deadzone audit does
    assert "unlisted_settlements" in s
    assert (tmp_path / "out" / "s" / "unlisted_settlements.csv").is_file()
    assert "unlisted_settlements.gpkg" in s["outputs"]
