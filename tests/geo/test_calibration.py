"""Calibration: predictions at samples, robust fits, spatially blocked CV."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.calibration import (
    Calibration,
    calibrate,
    error_table,
    predict_samples,
    spatial_folds,
)
from deadzone.geo.coverage import EngineParams
from deadzone.kernels.robust import huber_fit
from tests.conftest import demo_villages_only

KNIFE = EngineParams(model="knife", radius_km=10.0)


@pytest.fixture(scope="module")
def demo():  # noqa: ANN201
    return demo_villages_only(0)


def _samples(dem, xy: np.ndarray, tech: str = "4G", **cols) -> gpd.GeoDataFrame:  # noqa: ANN001
    pts = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=dem.crs).to_crs(4326)
    n = len(xy)
    data = {"sample_id": [f"S{i + 1}" for i in range(n)], "tech": tech, "measured_dbm": 0.0,
            "qc": "ok", **cols}
    return gpd.GeoDataFrame(data, geometry=pts)


def _random_xy(dem, n: int, seed: int = 0) -> np.ndarray:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    b = dem.bounds
    return np.column_stack([rng.uniform(b[0] + 1500, b[2] - 1500, n),
                            rng.uniform(b[1] + 1500, b[3] - 1500, n)])


def test_a_sample_at_a_village_is_predicted_as_the_audit_reads_it(demo) -> None:  # noqa: ANN001
    # the trust rule: the same engine, the same path, the same number
    res = audit(demo, params=KNIFE, rasters=False)
    v = res.villages
    # the villages' own points: the same projection as the audit's, bit for bit
    s = gpd.GeoDataFrame({"tech": ["4G"] * len(v), "measured_dbm": 0.0, "qc": "ok"},
                         geometry=v.geometry.to_crs(4326).to_numpy(), crs=4326)
    pred = predict_samples(demo.dem, demo.towers, s, params=KNIFE)
    got = pred["predicted_dbm"].to_numpy()
    want = v["signal_4g_dbm"].to_numpy(dtype=float)
    both = np.isfinite(want)
    assert both.sum() > 100
    np.testing.assert_array_equal(got[both], want[both])
    assert (pred.loc[both, "server"] == "best").all()


def test_a_named_serving_tower_is_used_even_when_another_is_stronger(demo) -> None:  # noqa: ANN001
    xy = _random_xy(demo.dem, 300, seed=3)
    best = predict_samples(demo.dem, demo.towers, _samples(demo.dem, xy), params=KNIFE)
    # each sample names the nearest 4G tower that is not its best server
    t4 = demo.towers[demo.towers["tech"] == "4G"].to_crs(demo.dem.crs)
    ids = t4["tower_id"].to_numpy()
    d = np.hypot(xy[:, :1] - t4.geometry.x.to_numpy(), xy[:, 1:] - t4.geometry.y.to_numpy())
    d[ids[None, :] == best["predicted_tower_id"].to_numpy()[:, None]] = np.inf
    other = ids[np.argmin(d, axis=1)]
    s = _samples(demo.dem, xy, tower_id=other)
    named = predict_samples(demo.dem, demo.towers, s, params=KNIFE)
    ok = named["use"].to_numpy() & best["use"].to_numpy()
    assert (named.loc[ok, "server"] == "serving").all()
    assert (named.loc[ok, "predicted_tower_id"].to_numpy() == other[ok]).all()
    # within the radius, never above the best server of the technology (beyond it, a
    # named server is still predicted: a phone can camp on a tower the audit leaves out)
    near = ok & (named["distance_m"].to_numpy() < KNIFE.radius_m)
    assert near.sum() > 50 and (ok & ~near).any()
    assert (named.loc[near, "predicted_dbm"] <= best.loc[near, "predicted_dbm"] + 1e-9).all()


def test_unusable_samples_are_kept_with_a_reason(demo) -> None:  # noqa: ANN001
    xy = _random_xy(demo.dem, 6, seed=1)
    xy[1] = [demo.dem.bounds[0] - 50_000, demo.dem.bounds[1]]  # off the DEM
    s = _samples(demo.dem, xy, tech=["4G", "4G", "4G", "5G", "4G", "4G"],
                 qc=["ok", "ok", "duplicate", "ok", "ok", "ok"])
    s.loc[4, "tower_id"] = "NOPE"  # unknown serving tower: best server instead
    pred = predict_samples(demo.dem, demo.towers, s, params=KNIFE)
    assert len(pred) == 6
    assert list(pred["note"][1:4]) == ["outside_dem", "duplicate", "no_5G_tower"]
    assert not pred["use"][1:4].any()
    assert pred.at[4, "server"] in ("best", "")


def test_spatial_folds_keep_each_block_in_one_fold() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 20_000, 5000), rng.uniform(0, 20_000, 5000)
    fold, k = spatial_folds(x, y, block_m=5000, k=5)
    assert k == 5 and set(np.unique(fold)) == set(range(5))
    block = np.floor(x / 5000) * 1000 + np.floor(y / 5000)
    for b in np.unique(block):
        assert len(np.unique(fold[block == b])) == 1
    _, k1 = spatial_folds(x[:10] * 0, y[:10] * 0, block_m=5000, k=5)
    assert k1 == 1


@settings(max_examples=30, deadline=None)
@given(
    offset=st.floats(-20, 20),
    outliers=st.integers(0, 40),
    seed=st.integers(0, 1000),
)
def test_huber_recovers_an_offset_through_outliers(offset, outliers, seed) -> None:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    r = offset + rng.normal(0, 6, 400)
    r[:outliers] += 60.0  # e.g. samples logged indoors as outdoors
    beta = huber_fit(np.ones((400, 1)), r)
    assert abs(beta[0] - offset) < 2.0 + 0.05 * outliers
    plain = np.mean(r)
    if outliers >= 20:
        assert abs(beta[0] - offset) < abs(plain - offset)


def test_calibrate_recovers_offset_and_slope_and_sigma(demo) -> None:  # noqa: ANN001
    xy = _random_xy(demo.dem, 3000, seed=5)
    s = _samples(demo.dem, xy)
    pred = predict_samples(demo.dem, demo.towers, s, params=KNIFE)
    rng = np.random.default_rng(7)
    logd = np.log10(np.maximum(pred["distance_m"].to_numpy(), 50.0) / 1000.0)
    s["measured_dbm"] = pred["predicted_dbm"].to_numpy() - 6.0 - 8.0 * logd + rng.normal(0, 5,
                                                                                         len(s))
    # values below the sensitivity are kept here (nothing censored): fit them all
    res = calibrate(demo.dem, demo.towers, s, params=KNIFE, models=["knife"], block_km=4.0,
                    censor_margin_db=0.0)
    assert res.chosen is not None, res.reason
    assert res.chosen.model == "knife" and res.chosen.fit == "offset+slope"
    # the 1 km intercept is extrapolated from samples mostly 2-10 km out: it and the
    # slope trade off (here -6.8 dB and -7.1 dB/decade), within the 1 dB
    assert abs(res.chosen.offsets_db["4G"] + 6.0) < 1.0
    assert abs(res.chosen.slopes_db_per_decade["4G"] + 8.0) < 1.5
    assert abs(res.chosen.sigma_db - 5.0) < 0.3
    cand = res.candidates.set_index("fit")
    assert cand.at["offset+slope", "cv_rmse_db"] < cand.at["none", "cv_rmse_db"]
    # the calibrated residuals are centred
    used = res.samples["use"]
    assert abs(res.samples.loc[used, "residual_cal_db"].mean()) < 0.3
    t = error_table(res.samples, "distance_band", residual="residual_cal_db")
    assert t["n"].iloc[-1] == used.sum() and t["n"].iloc[:-1].sum() == used.sum()


def test_nothing_is_applied_when_no_fit_beats_the_model(demo) -> None:  # noqa: ANN001
    xy = _random_xy(demo.dem, 1500, seed=9)
    s = _samples(demo.dem, xy)
    pred = predict_samples(demo.dem, demo.towers, s, params=KNIFE)
    s["measured_dbm"] = pred["predicted_dbm"].to_numpy() + np.random.default_rng(1).normal(
        0, 6, len(s))
    res = calibrate(demo.dem, demo.towers, s, params=KNIFE, models=["knife"], block_km=4.0)
    assert res.chosen is None
    assert "nothing applied" in res.reason and "knife" in res.reason
    assert res.samples["calibrated_dbm"].isna().all()


def test_too_few_samples_is_said_plainly(demo) -> None:  # noqa: ANN001
    s = _samples(demo.dem, _random_xy(demo.dem, 20))
    res = calibrate(demo.dem, demo.towers, s, params=KNIFE, models=["knife"], min_samples=100)
    assert res.chosen is None and res.reason.startswith("too few usable samples")
    with pytest.raises(ParameterError, match="folds"):
        calibrate(demo.dem, demo.towers, s, params=KNIFE, folds=1)


def test_correction_and_json_round_trip() -> None:
    c = Calibration(model="itm", fit="offset+slope+clutter", offsets_db={"4G": -3.0},
                    slopes_db_per_decade={"4G": -5.0}, clutter_offsets_db={"suburban": -4.0},
                    clutter_reference="open-rural", sigma_db=7.0)
    got = c.correction_db(["4G", "4G", "2G"], [1000.0, 10_000.0, 10_000.0],
                          ["open-rural", "suburban", "suburban"])
    np.testing.assert_allclose(got, [-3.0, -3.0 - 5.0 - 4.0, -4.0])
    assert Calibration.from_dict(c.to_dict()) == c


# --------------------------------------------------------------------------- applying


def _offset_cal(model: str = "knife", off: float = -5.0, slope: float = 0.0) -> Calibration:
    return Calibration(model=model, fit="offset+slope", offsets_db={"4G": off},
                       slopes_db_per_decade={"4G": slope} if slope else {}, sigma_db=6.0)


def test_audit_applies_the_calibration_on_every_path(demo) -> None:  # noqa: ANN001
    plain = audit(demo, params=KNIFE, rasters=False).villages
    cal = EngineParams(model="knife", radius_km=10.0, calibration=_offset_cal())
    got = audit(demo, params=cal, rasters=False)
    v = got.villages
    d = (v["signal_4g_dbm"] - plain["signal_4g_dbm"]).to_numpy(dtype=float)
    np.testing.assert_array_equal(np.isnan(d), plain["signal_4g_dbm"].isna().to_numpy())
    np.testing.assert_allclose(d[~np.isnan(d)], -5.0, atol=1e-9)
    np.testing.assert_array_equal(v["signal_2g_dbm"], plain["signal_2g_dbm"])
    assert got.summary["parameters"]["calibration"]["offsets_db"] == {"4G": -5.0}
    # sigma known: every evaluated village has a probability of being covered
    p = v.loc[v["status"] != "unknown", "p_covered"]
    assert p.between(0.0, 1.0).all() and p.notna().all()
    assert (v.loc[v["status"] == "covered", "p_covered"] >= 0.5 - 1e-12).all()
    assert "p_covered" not in plain.columns


def test_area_windows_get_the_same_correction(demo) -> None:  # noqa: ANN001
    from deadzone.geo.coverage import compute_coverage

    plain = compute_coverage(demo.dem, demo.towers, params=KNIFE)
    cal = compute_coverage(demo.dem, demo.towers,
                           params=EngineParams(model="knife", radius_km=10.0,
                                               calibration=_offset_cal()))
    a, b = plain.by_tech["4G"].best_dbm, cal.by_tech["4G"].best_dbm
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    # float32: (window + correction) - RSRP offset, one rounding from the plain order
    np.testing.assert_allclose(b, a - 5.0, atol=3e-5, rtol=0)
    np.testing.assert_array_equal(cal.by_tech["2G"].best_dbm, plain.by_tech["2G"].best_dbm)
    assert cal.parameters["calibration"]["model"] == "knife"


def test_whatif_session_with_a_calibration_equals_the_audit(demo) -> None:  # noqa: ANN001
    from deadzone.geo.whatif import Session

    p = EngineParams(model="knife", radius_km=10.0, calibration=_offset_cal(slope=-6.0))
    want = audit(demo, params=p, rasters=False).villages
    s = Session(demo, params=p, n_threads=2)
    got = s.result.villages
    np.testing.assert_array_equal(got["status"].to_numpy(), want["status"].to_numpy())
    np.testing.assert_allclose(got["signal_4g_dbm"], want["signal_4g_dbm"], atol=1e-9)


def test_a_calibration_for_another_model_is_refused() -> None:
    with pytest.raises(ParameterError, match="made for the itm model"):
        EngineParams(model="knife", calibration=_offset_cal(model="itm"))


def test_confidence_raises_thresholds_by_z_sigma(demo) -> None:  # noqa: ANN001
    from deadzone.model.thresholds import Thresholds

    t = Thresholds().at_confidence(90.0, 7.0)
    assert abs(t.confidence_margin_db - 1.2815515655446004 * 7.0) < 1e-9
    assert t.covered("4G") == -110.0 + t.confidence_margin_db
    assert Thresholds.from_dict(t.as_dict()) == t
    assert "confidence_pct" not in Thresholds().as_dict()  # unchanged summaries without it
    p = EngineParams(model="knife", radius_km=10.0, calibration=_offset_cal())
    med = audit(demo, params=p, rasters=False).villages
    hi = audit(demo, params=p, thresholds=t, rasters=False).villages
    rank = {"covered": 0, "marginal": 1, "dead": 2, "unknown": 3}
    assert (hi["status"].map(rank) >= med["status"].map(rank)).all()
    assert (hi["status"] == "covered").sum() < (med["status"] == "covered").sum()
    # a village covered at 90% has p_covered >= 0.9
    assert (hi.loc[hi["status"] == "covered", "p_covered"] >= 0.9 - 1e-9).all()


def test_clutter_offsets_without_land_cover_are_said(demo) -> None:  # noqa: ANN001
    from deadzone.errors import DeadzoneWarning

    c = Calibration(model="knife", fit="offset+slope+clutter", offsets_db={"4G": -3.0},
                    clutter_offsets_db={"suburban": -4.0}, clutter_reference="open-rural",
                    sigma_db=6.0)
    p = EngineParams(model="knife", radius_km=10.0, calibration=c)
    with pytest.warns(DeadzoneWarning, match="no land cover was given"):
        audit(demo, params=p, rasters=False)


def test_offsets_per_band_when_a_technology_has_two(demo) -> None:  # noqa: ANN001
    # half the 4G towers on 900 MHz: their samples get their own offset
    s = demo_villages_only(0)
    towers = s.towers.copy()
    four = np.flatnonzero((towers["tech"] == "4G").to_numpy())
    towers.loc[towers.index[four[::2]], "freq_mhz"] = 900.0
    s.towers = towers
    xy = _random_xy(s.dem, 4000, seed=11)
    smp = _samples(s.dem, xy)
    pred = predict_samples(s.dem, s.towers, smp, params=KNIFE)
    assert set(pred.loc[pred["use"], "band"]) == {"4G-900", "4G-1800"}
    off = np.where(pred["band"] == "4G-900", -2.0, -8.0)
    smp["measured_dbm"] = pred["predicted_dbm"].to_numpy() + off + np.random.default_rng(
        3).normal(0, 4, len(smp))
    res = calibrate(s.dem, s.towers, smp, params=KNIFE, models=["knife"], block_km=4.0,
                    fits=["none", "offset"], censor_margin_db=0.0)
    c = res.chosen
    assert c is not None, res.reason
    assert abs(c.offsets_db["4G-900"] + 2.0) < 0.5 and abs(c.offsets_db["4G-1800"] + 8.0) < 0.5
    assert -8.0 < c.offsets_db["4G"] < -2.0  # the samples-weighted mean, for other bands
    np.testing.assert_allclose(
        c.correction_db(["4G", "4G", "4G"], [1e3] * 3, None, ["4G-900", "4G-1800", "4G-2100"]),
        [c.offsets_db["4G-900"], c.offsets_db["4G-1800"], c.offsets_db["4G"]])
    # applied on the exact paths by each village's own tower band
    plain = audit(s, params=KNIFE, rasters=False).villages
    cal = audit(s, params=EngineParams(model="knife", radius_km=10.0, calibration=c),
                rasters=False).villages
    # (the best of max_i(p_i + o_band(i)) against max_i p_i: between the two offsets,
    # each of them where the server stays)
    d = (cal["signal_4g_dbm"] - plain["signal_4g_dbm"]).dropna().round(6)
    lo, hi = sorted([c.offsets_db["4G-900"], c.offsets_db["4G-1800"]])
    assert d.between(lo - 1e-6, hi + 1e-6).all()
    assert {round(lo, 6), round(hi, 6)} <= set(d.unique())
