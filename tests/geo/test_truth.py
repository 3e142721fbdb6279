"""Synthetic ground truth (issue #19): the known truth calibration is tested against."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from deadzone.errors import ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.clutter import CATEGORIES, load_landcover
from deadzone.geo.coverage import EngineParams
from deadzone.geo.paths import village_signals
from deadzone.geo.truth import (
    DRIVE_START,
    MEASUREMENT_COLUMNS,
    METRICS,
    P2108_MAPPING,
    Shadowing,
    SyntheticTruth,
    demo_landcover,
    write_landcover,
)
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds
from tests.conftest import demo_villages_only

KNIFE = EngineParams(model="knife")
CODE = {c.name: i for i, c in enumerate(CATEGORIES)}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return demo_villages_only(0)


@pytest.fixture(scope="module")
def landcover(scenario: Scenario) -> np.ndarray:
    return demo_landcover(scenario, seed=0)


@pytest.fixture(scope="module")
def truth(scenario: Scenario, landcover: np.ndarray) -> SyntheticTruth:
    return SyntheticTruth(
        scenario, params=KNIFE, offsets_db={"2G": -4.0, "4G": 3.0},
        clutter_offsets_db={"suburban": -2.0, "urban-trees-forest": -5.0},
        sigma_db=7.0, decorrelation_m=75.0, noise_db=1.0, landcover=landcover, seed=5)


@pytest.fixture(scope="module")
def drive(truth: SyntheticTruth) -> gpd.GeoDataFrame:
    return truth.drive(route_km=60.0, seed=2)


def road_points(scenario: Scenario, spacing_m: float, n: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    lines = shapely.get_parts(scenario.roads.to_crs(scenario.dem.crs).geometry.to_numpy())
    xy = [shapely.get_coordinates(shapely.line_interpolate_point(g, np.arange(0, g.length,
                                                                              spacing_m)))
          for g in lines]
    pts = np.concatenate(xy)[:n]
    return pts[:, 0], pts[:, 1]


# --- land cover ---------------------------------------------------------------------------

def test_landcover_is_deterministic_and_plausible(scenario: Scenario,
                                                  landcover: np.ndarray) -> None:
    assert landcover.dtype == np.uint8 and landcover.shape == scenario.dem.shape
    assert np.array_equal(landcover, demo_landcover(scenario, seed=0))
    assert not np.array_equal(landcover, demo_landcover(scenario, seed=1))
    share = np.bincount(landcover.ravel(), minlength=len(CATEGORIES)) / landcover.size
    assert 0.35 < share[CODE["urban-trees-forest"]] < 0.5
    assert 0.4 < share[CODE["open-rural"]] < 0.65
    assert 0.01 < share[CODE["suburban"]] < 0.1
    assert share[CODE["dense-urban"]] > 0
    # forest on steep and high ground
    z = scenario.dem.elevation_m.astype(float)
    gy, gx = np.gradient(z, 30.0)
    slope = np.hypot(gx, gy)
    forest = landcover == CODE["urban-trees-forest"]
    open_ = landcover == CODE["open-rural"]
    assert slope[forest].mean() > 1.3 * slope[open_].mean()
    assert z[forest].mean() > z[open_].mean() + 100.0
    # every village stands in a built-up patch
    v = scenario.villages.geometry.to_crs(scenario.dem.crs)
    r, c, _ = scenario.dem.rowcol(v.x.to_numpy(), v.y.to_numpy())
    assert np.isin(landcover[r, c], [CODE["suburban"], CODE["dense-urban"]]).all()
    # patches, not speckle: most cells share the class of their right neighbour
    assert (landcover[:, 1:] == landcover[:, :-1]).mean() > 0.95


def test_landcover_geotiff_round_trip(tmp_path: Path, scenario: Scenario,
                                      landcover: np.ndarray) -> None:
    lc = landcover.copy()
    lc[:3, :3] = 0  # every code, "none" included
    lc[5:9, 5:9] = 1
    path = write_landcover(tmp_path / "landcover.tif", lc, scenario.dem)
    back = load_landcover(path, scenario.dem, mapping=P2108_MAPPING)
    assert back.dtype == np.uint8
    assert np.array_equal(back, lc)


def test_landcover_writer_refuses_bad_input(tmp_path: Path, scenario: Scenario) -> None:
    with pytest.raises(ParameterError, match="shape"):
        write_landcover(tmp_path / "a.tif", np.zeros((3, 3), np.uint8), scenario.dem)
    with pytest.raises(ParameterError, match="category"):
        write_landcover(tmp_path / "a.tif", np.full(scenario.dem.shape, 9, np.uint8),
                        scenario.dem)


# --- shadowing -------------------------------------------------------------------------------

def test_shadowing_statistics() -> None:
    """Sample sigma within 0.3 dB; correlation exp(-d/a) (1/e at a) in any direction."""
    a = 75.0
    field = Shadowing.draw(sigma_db=7.0, decorrelation_m=a, origin=(0.0, 0.0),
                           rng=np.random.default_rng(11))
    rng = np.random.default_rng(12)
    n = 200_000
    x, y = rng.uniform(0.0, 60_000.0, (2, n))
    f = field.at(x, y)
    assert abs(f.std() - 7.0) < 0.3
    assert abs(f.mean()) < 0.3
    for d in (a / 4, a, 2 * a):
        th = rng.uniform(0.0, 2 * np.pi, n)
        g = field.at(x + d * np.cos(th), y + d * np.sin(th))
        rho = np.corrcoef(f, g)[0, 1]
        assert abs(rho - math.exp(-d / a)) < 0.03, (d, rho)
    # a place revisited sees the same shadowing (the field is a function of position)
    assert np.array_equal(field.at(x[::-1], y[::-1])[::-1], f)


def test_shadowing_along_roads(scenario: Scenario, truth: SyntheticTruth) -> None:
    """What a drive sees: sigma and the 1/e correlation at 75 m along the roads."""
    x, y = road_points(scenario, 25.0)
    s = truth.shadowing.at(x, y)
    assert abs(s.std() - 7.0) < 0.3
    lag = 3  # 75 m along a road (pairs across two roads' ends are few)
    rho = np.corrcoef(s[:-lag], s[lag:])[0, 1]
    assert abs(rho - math.exp(-1.0)) < 0.06


def test_shadowing_zero_sigma(scenario: Scenario) -> None:
    field = Shadowing.draw(sigma_db=0.0, decorrelation_m=50.0, origin=(0.0, 0.0),
                           rng=np.random.default_rng(0))
    assert np.array_equal(field.at([1.0, np.nan], [2.0, 3.0]), [0.0, np.nan], equal_nan=True)


# --- truth at points ------------------------------------------------------------------------

def test_truth_is_prediction_plus_known_offsets(scenario: Scenario, truth: SyntheticTruth,
                                                landcover: np.ndarray) -> None:
    x, y = road_points(scenario, 200.0)
    got = truth.at(x, y)
    sig = village_signals(scenario.dem, truth.grid, x, y, params=KNIFE,
                          thresholds=Thresholds())
    r, c, _ = scenario.dem.rowcol(x, y)
    assert np.array_equal(got.category, landcover[r, c])
    clutter_off = np.array([truth.clutter_offsets_db.get(CATEGORIES[k].name, 0.0)
                            for k in got.category])
    assert set(np.unique(got.category)) >= {CODE["suburban"], CODE["urban-trees-forest"],
                                            CODE["open-rural"]}
    ids = np.array(truth.grid.tower_ids)
    for tech, off in (("2G", -4.0), ("4G", 3.0)):
        has = sig.metric_server[tech] >= 0
        assert has.mean() > 0.99
        assert np.array_equal(got.server[tech], sig.metric_server[tech])
        assert np.array_equal(got.predicted_dbm[tech], sig.metric_dbm[tech], equal_nan=True)
        np.testing.assert_allclose(
            (got.true_dbm[tech] - sig.metric_dbm[tech])[has],
            (off + clutter_off + got.shadowing_db)[has], rtol=0, atol=1e-9)
        assert set(ids[got.server[tech][has]]) <= set(scenario.towers["tower_id"])
    np.testing.assert_array_equal(got.shadowing_db, truth.shadowing.at(x, y))


def test_slope_term_and_serving_tower(scenario: Scenario, landcover: np.ndarray) -> None:
    """With a distance slope the serving tower is the best true one, and the
    truth adds slope * log10(d / 1 km) to that tower's prediction."""
    sloped = SyntheticTruth(scenario, params=KNIFE, slope_db_per_decade=-8.0, sigma_db=0.0,
                            landcover=landcover)
    x, y = road_points(scenario, 500.0)
    got = sloped.at(x, y)
    sig = village_signals(scenario.dem, sloped.grid, x, y, params=KNIFE,
                          thresholds=Thresholds())
    off = np.asarray(sloped.grid.metric_offset_db)
    techs = np.array(sloped.grid.techs)
    for tech in sloped.techs:
        srv, d = got.server[tech], got.distance_m[tech]
        np.testing.assert_allclose(
            got.true_dbm[tech] - got.predicted_dbm[tech],
            -8.0 * np.log10(np.maximum(d, 10.0) / 1000.0), atol=1e-9)
        # brute force: the best of every pair of this technology
        sel = techs[sig.pair_tower] == tech
        val = (sig.rx_dbm - off[sig.pair_tower]
               - 8.0 * np.log10(np.maximum(sig.paths.distance_m, 10.0) / 1000.0))
        best = np.full(x.size, -np.inf)
        np.maximum.at(best, sig.pair_village[sel], val[sel])
        np.testing.assert_allclose(got.true_dbm[tech], best, atol=1e-9)
        assert (srv != sig.metric_server[tech]).any()  # the slope changes some servers


def test_bad_parameters(scenario: Scenario, landcover: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="offsets_db"):
        SyntheticTruth(scenario, offsets_db={"6G": 1.0}, landcover=landcover)
    with pytest.raises(ParameterError, match="clutter_offsets_db"):
        SyntheticTruth(scenario, clutter_offsets_db={"forest": 1.0}, landcover=landcover)
    with pytest.raises(ParameterError, match="landcover"):
        SyntheticTruth(scenario, landcover=landcover[:10])


# --- drives --------------------------------------------------------------------------------

def test_drive_is_the_canonical_table(truth: SyntheticTruth,
                                      drive: gpd.GeoDataFrame) -> None:
    d = drive
    assert list(d.columns) == [*MEASUREMENT_COLUMNS, "geometry"]
    assert d.crs.to_epsg() == 4326
    n = len(d)
    assert n > 4000
    assert list(d["sample_id"][:3]) == ["S1", "S2", "S3"] and d["sample_id"].is_unique
    assert d["source_row"].dtype == np.int64
    assert np.array_equal(d["source_row"], np.arange(2, n + 2))
    for col in ("lon", "lat", "measured_dbm"):
        assert d[col].dtype == np.float64
    assert str(d["measured_at"].dtype) == "datetime64[ns, UTC]"
    assert np.array_equal(d["lon"], d.geometry.x) and np.array_equal(d["lat"], d.geometry.y)
    assert set(d["tech"]) == {"2G", "4G"}
    assert (d["metric"] == d["tech"].map(METRICS)).all()
    assert d["cell"].isna().all()
    assert (d["qc"] == "ok").all()
    assert set(d["tower_id"]) <= set(truth.scenario.towers["tower_id"])
    assert (d["measured_dbm"] == np.round(d["measured_dbm"])).all()
    # 40 km/h from the fixed start; the same instant for both technologies at a point
    t = d["measured_at"]
    assert t.iloc[0] >= DRIVE_START and t.is_monotonic_increasing
    step = t.drop_duplicates().diff().dt.total_seconds().median()
    assert step == pytest.approx(20.0 / (40.0 / 3.6), abs=0.002)
    a = d.attrs
    assert a["format"] == "generic"
    tr = a["truth"]
    assert tr["offsets_db"] == {"2G": -4.0, "4G": 3.0} and tr["sigma_db"] == 7.0
    assert tr["model"] == "knife" and tr["route_km"] == pytest.approx(60.0)
    assert tr["residual_sigma_db"] == pytest.approx(math.sqrt(49 + 1 + 1 / 12))
    per_tech = d["tech"].value_counts()
    for tech in ("2G", "4G"):
        assert per_tech[tech] + tr["no_service"][tech] + tr["out_of_reach"][tech] \
            == tr["points"]


def test_drive_is_deterministic(truth: SyntheticTruth, drive: gpd.GeoDataFrame,
                                tmp_path: Path) -> None:
    again = truth.drive(route_km=60.0, seed=2)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    drive.to_csv(a, index=False)
    again.to_csv(b, index=False)
    assert a.read_bytes() == b.read_bytes()
    assert again.attrs == drive.attrs
    other = truth.drive(route_km=60.0, seed=3)
    assert not np.array_equal(other["measured_dbm"][:500], drive["measured_dbm"][:500])


def test_samples_lie_on_roads(scenario: Scenario, drive: gpd.GeoDataFrame) -> None:
    roads = shapely.union_all(scenario.roads.to_crs(scenario.dem.crs).geometry.to_numpy())
    pts = drive.geometry.to_crs(scenario.dem.crs)
    dist = shapely.distance(pts.to_numpy(), roads)
    assert dist.max() < 0.01  # m: on the line, up to the lon/lat round trip


def test_measurements_are_truth_plus_noise(scenario: Scenario, truth: SyntheticTruth,
                                           drive: gpd.GeoDataFrame) -> None:
    """measured - true: N(0, noise) then 1 dB rounding; tower = the truth's server."""
    xy = drive.geometry.to_crs(scenario.dem.crs)
    got = truth.at(xy.x.to_numpy(), xy.y.to_numpy())
    ids = np.array(truth.grid.tower_ids)
    from deadzone.model.schema import TOP_REPORTED_DBM

    for tech in ("2G", "4G"):
        top = TOP_REPORTED_DBM[tech]
        t_all = (drive["tech"] == tech).to_numpy()
        # a value the phone would report above the top of its range is reported as the top
        assert (drive["measured_dbm"].to_numpy()[t_all] <= top).all()
        m = t_all & (got.true_dbm[tech] < top - 6.0)
        err = drive["measured_dbm"].to_numpy()[m] - got.true_dbm[tech][m]
        assert abs(err.mean()) < 0.05
        assert err.std() == pytest.approx(math.sqrt(1.0 + 1.0 / 12.0), abs=0.05)
        assert (ids[got.server[tech][m]] == drive["tower_id"].to_numpy()[m]).all()


def test_no_service_is_counted_not_emitted(scenario: Scenario, landcover: np.ndarray) -> None:
    strict = SyntheticTruth(scenario, params=KNIFE, noise_db=0.0, landcover=landcover,
                            sensitivity_dbm={"2G": -85.0, "4G": -100.0})
    d = strict.drive(route_km=30.0, seed=1)
    tr = d.attrs["truth"]
    assert tr["sensitivity_dbm"] == {"2G": -85.0, "4G": -100.0}
    for tech, floor in (("2G", -85.0), ("4G", -100.0)):
        m = d["tech"] == tech
        assert (d.loc[m, "measured_dbm"] >= floor - 0.5).all()
        assert tr["no_service"][tech] > 50
        assert m.sum() + tr["no_service"][tech] + tr["out_of_reach"][tech] == tr["points"]


def test_drive_options(truth: SyntheticTruth, scenario: Scenario) -> None:
    only = truth.drive(route_km=10.0, techs=["4G"], seed=1)
    assert set(only["tech"]) == {"4G"}
    both = truth.drive(route_km=10.0, seed=1)
    four = both[both["tech"] == "4G"]
    for col in ("lon", "lat", "tower_id", "measured_at"):  # the 2G towers were not computed
        assert np.array_equal(only[col].to_numpy(), four[col].to_numpy())
    capped = truth.drive(route_km=10.0, max_samples=100, seed=1)
    assert len(capped) == 100 and capped["source_row"].iloc[-1] == 101
    total_km = scenario.roads.to_crs(scenario.dem.crs).length.sum() / 1000.0
    twice = truth.drive(route_km=1.5 * total_km, spacing_m=200.0, seed=1)
    assert twice.attrs["truth"]["route_km"] == pytest.approx(1.5 * total_km)
    with pytest.raises(ParameterError, match="techs"):
        truth.drive(route_km=1.0, techs=["3G"])
    with pytest.raises(ParameterError, match="spacing_m"):
        truth.drive(spacing_m=0.0)


# --- villages ------------------------------------------------------------------------------

@pytest.mark.parametrize("clutter_loss", [False, True])
def test_village_truth_without_errors_is_the_audit(scenario: Scenario, landcover: np.ndarray,
                                                   clutter_loss: bool) -> None:
    """No offsets, no shadowing: the truth's statuses are the audit's, village for village."""
    thr = Thresholds()
    exact = SyntheticTruth(scenario, params=KNIFE, sigma_db=0.0, noise_db=0.0,
                           landcover=landcover, clutter_loss=clutter_loss)
    vt = exact.village_truth(thr)
    res = audit(scenario, params=KNIFE, thresholds=thr, rasters=False,
                clutter=landcover if clutter_loss else None)
    v = res.villages
    assert list(vt["village_id"]) == list(v["village_id"])
    assert np.array_equal(vt["status"].to_numpy(), v["status"].to_numpy())
    for t in ("2g", "4g"):
        assert np.array_equal(vt[f"status_{t}"].to_numpy(), v[f"status_{t}"].to_numpy())
        assert np.array_equal(vt[f"signal_{t}_dbm"], v[f"signal_{t}_dbm"], equal_nan=True)
    assert {"covered", "dead"} <= set(vt["status"])


def test_village_truth_with_itm_is_the_audit(scenario: Scenario, landcover: np.ndarray
                                             ) -> None:
    itm = EngineParams(model="itm")
    exact = SyntheticTruth(scenario, params=itm, sigma_db=0.0, noise_db=0.0,
                           landcover=landcover)
    vt = exact.village_truth()
    v = audit(scenario, params=itm, rasters=False).villages
    assert np.array_equal(vt["status"].to_numpy(), v["status"].to_numpy())
    assert np.array_equal(vt["signal_4g_dbm"], v["signal_4g_dbm"], equal_nan=True)


def test_known_offsets_move_the_audit_to_the_truth(scenario: Scenario,
                                                   landcover: np.ndarray) -> None:
    """A truth 6 dB below the model on 2G and 4 dB below on 4G, without shadowing:
    the audit is optimistic, and the audit corrected by exactly those offsets
    (thresholds raised by them) gives the truth's statuses."""
    offsets = {"2G": -6.0, "4G": -4.0}
    tr = SyntheticTruth(scenario, params=KNIFE, offsets_db=offsets, sigma_db=0.0,
                        noise_db=0.0, landcover=landcover)
    thr = Thresholds()
    vt = tr.village_truth(thr)
    raw = audit(scenario, params=KNIFE, thresholds=thr, rasters=False).villages
    shifted = Thresholds(
        covered_dbm={t: v - offsets.get(t, 0.0) for t, v in thr.covered_dbm.items()},
        marginal_dbm={t: v - offsets.get(t, 0.0) for t, v in thr.marginal_dbm.items()})
    fixed = audit(scenario, params=KNIFE, thresholds=shifted, rasters=False).villages
    agree_raw = (raw["status"].to_numpy() == vt["status"].to_numpy()).mean()
    agree_fixed = (fixed["status"].to_numpy() == vt["status"].to_numpy()).mean()
    assert (vt["status"] == "covered").sum() < (raw["status"] == "covered").sum()
    assert agree_raw < 0.97
    # equal but for villages within float rounding of a threshold
    assert agree_fixed > 0.995


def test_village_truth_columns(truth: SyntheticTruth) -> None:
    vt = truth.village_truth()
    assert vt.crs.to_epsg() == 4326
    assert list(vt.columns) == [
        "village_id", "status", "status_2g", "signal_2g_dbm", "predicted_2g_dbm", "tower_2g",
        "status_4g", "signal_4g_dbm", "predicted_4g_dbm", "tower_4g", "clutter",
        "shadowing_db", "geometry"]
    assert set(vt["clutter"]) <= {c.name for c in CATEGORIES}
    assert vt["shadowing_db"].std() == pytest.approx(7.0, abs=1.0)
    assert isinstance(vt, pd.DataFrame)


def test_a_least_squares_fit_recovers_the_offsets(scenario: Scenario,
                                                  truth: SyntheticTruth) -> None:
    """What calibration must do, in its simplest form: per-technology and
    per-class offsets by least squares on rows predicted 20 dB above the
    sensitivity and 20 dB below the top of the reporting range recover the
    truth's within 1 dB (here 0.3 dB), and the residual sigma is the truth's
    residual_sigma_db."""
    d = truth.drive(seed=2)  # every road once, ~515 km
    xy = d.geometry.to_crs(scenario.dem.crs)
    at = truth.at(xy.x.to_numpy(), xy.y.to_numpy())
    tech = d["tech"].to_numpy()
    pred = np.where(tech == "2G", at.predicted_dbm["2G"], at.predicted_dbm["4G"])
    off = np.where(tech == "2G", -4.0, 3.0)
    far = ((pred + off >= np.where(tech == "2G", -110.0, -140.0) + 20.0)
           & (pred + off <= np.where(tech == "2G", -48.0, -44.0) - 20.0))  # both ends clip
    r = d["measured_dbm"].to_numpy() - pred
    classes = ["suburban", "urban-trees-forest"]
    x = np.column_stack([tech == "2G", tech == "4G",
                         *(at.category == CODE[c] for c in classes)]).astype(float)
    b, *_ = np.linalg.lstsq(x[far], r[far], rcond=None)
    np.testing.assert_allclose(b, [-4.0, 3.0, -2.0, -5.0], atol=0.3)
    resid = r[far] - x[far] @ b
    assert resid.std() == pytest.approx(truth.residual_sigma_db, abs=0.3)
    real = d.attrs["truth"]["realised"]
    assert sum(v["rows"] for v in real["by_tech"].values()) == len(d)
    assert sum(v["rows"] for v in real["by_clutter"].values()) == len(d)
    # one realisation: the mean shadowing over a class's rows is what its fit adds
    assert abs(real["by_tech"]["4G"]["mean_shadowing_db"]) < 0.5


def test_chunks_do_not_change_results(monkeypatch: pytest.MonkeyPatch, scenario: Scenario,
                                      truth: SyntheticTruth, drive: gpd.GeoDataFrame) -> None:
    import deadzone.geo.truth as truth_mod

    x, y = road_points(scenario, 100.0, 1200)
    x[7] = np.nan
    whole = truth.at(x, y)
    monkeypatch.setattr(truth_mod, "CHUNK_POINTS", 500)
    parts = truth.at(x, y)
    assert parts.n_pairs == whole.n_pairs
    for f in ("x_m", "y_m", "category", "shadowing_db"):
        assert np.array_equal(getattr(parts, f), getattr(whole, f), equal_nan=True)
    for f in ("server", "predicted_dbm", "true_dbm", "distance_m"):
        for t in truth.techs:
            assert np.array_equal(getattr(parts, f)[t], getattr(whole, f)[t], equal_nan=True)
    again = truth.drive(route_km=60.0, seed=2)
    assert np.array_equal(again["measured_dbm"], drive["measured_dbm"])
    assert again.attrs == drive.attrs
