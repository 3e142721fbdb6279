"""Calibration against a known truth (issue 19 item 6): drives along the demo's
roads whose values are the ITM prediction plus known offsets, Gudmundson
shadowing and receiver noise (:mod:`deadzone.geo.truth`)."""

from __future__ import annotations

import numpy as np
import pytest

from deadzone.data.loaders import load_measurements, write_measurements
from deadzone.geo.audit import audit
from deadzone.geo.calibration import calibrate
from deadzone.geo.coverage import EngineParams
from deadzone.geo.truth import SyntheticTruth, demo_landcover
from tests.conftest import demo_villages_only

ITM = EngineParams(model="itm", radius_km=15.0)
OFFSETS = {"2G": -3.0, "4G": -6.0}
CLUTTER = {"open-rural": 0.0, "suburban": -2.0, "urban-trees-forest": -5.0}


@pytest.fixture(scope="module")
def case():  # noqa: ANN201
    scenario = demo_villages_only(0)
    lc = demo_landcover(scenario)
    truth = SyntheticTruth(scenario, params=ITM, offsets_db=OFFSETS, clutter_offsets_db=CLUTTER,
                           sigma_db=7.0, decorrelation_m=75.0, noise_db=1.0, landcover=lc,
                           clutter_loss=True, seed=4)
    drive = truth.drive(spacing_m=25.0, max_samples=40_000, seed=4)
    res = calibrate(scenario.dem, scenario.towers, drive, params=ITM,
                    models=["itm", "knife", "p526"], clutter=lc, block_km=2.0)
    return scenario, lc, truth, drive, res


def test_cv_picks_the_truths_model_and_recovers_its_offsets(case) -> None:  # noqa: ANN001
    _, _, truth, drive, res = case
    assert res.chosen is not None, res.reason
    assert res.chosen.model == "itm"
    cand = res.candidates.set_index(["model", "fit"])["cv_rmse_db"]
    for m in ("knife", "p526"):
        assert cand[m].min() > cand["itm"].min() + 1.0
    for tech, off in OFFSETS.items():
        assert abs(res.chosen.offsets_db[tech] - off) < 1.0, res.chosen
    if res.chosen.clutter_offsets_db:
        # a class's offset is known only as well as its roads average the shadowing
        # out (one field per position: driving a road twice adds nothing): compare
        # with the offset plus the mean shadowing of the samples the fit used
        xy = drive.geometry.to_crs(case[0].dem.crs)
        shadow = truth.at(xy.x.to_numpy(), xy.y.to_numpy()).shadowing_db
        used = res.samples["use"].to_numpy()
        cls = res.samples["clutter"].to_numpy()

        def realised(name: str) -> float:
            return float(shadow[used & (cls == name)].mean())

        assert res.chosen.clutter_reference == "open-rural"
        for name, off in CLUTTER.items():
            if name in res.chosen.clutter_offsets_db:
                want = off + realised(name) - realised("open-rural")
                assert abs(res.chosen.clutter_offsets_db[name] - want) < 1.0, (name, want,
                                                                                res.chosen)
    assert abs(res.chosen.sigma_db - truth.residual_sigma_db) < 1.0
    # nothing silently dropped: every sample is in the table, with why it was not used
    assert len(res.samples) == len(drive)
    assert (res.samples.loc[~res.samples["use"], "note"] != "").all()


def test_the_calibrated_audit_moves_toward_the_truth(case) -> None:  # noqa: ANN001
    scenario, lc, truth, _, res = case
    t = truth.village_truth()
    plain = audit(scenario, params=ITM, clutter=lc, rasters=False).villages
    cal = EngineParams(model="itm", radius_km=15.0, calibration=res.chosen)
    fixed = audit(scenario, params=cal, clutter=lc, rasters=False).villages
    # the signal: the systematic error goes, the shadowing (unpredictable) stays
    for tech in OFFSETS:
        col = f"signal_{tech.lower()}_dbm"
        shadow = t["shadowing_db"].to_numpy(dtype=float)  # the village's own luck
        e0 = (plain[col] - t[col]).to_numpy(dtype=float) + shadow
        e1 = (fixed[col] - t[col]).to_numpy(dtype=float) + shadow
        # at least three quarters of the systematic error is gone (what is left is
        # the fit's error: a drive's shadowing averages out only over its length)
        assert abs(np.nanmean(e0)) > 2.0, (tech, np.nanmean(e0))
        assert abs(np.nanmean(e1)) < 0.25 * abs(np.nanmean(e0)), (tech, np.nanmean(e0),
                                                                  np.nanmean(e1))
        assert np.nanmean(np.abs(e1)) < np.nanmean(np.abs(e0))
    # the statuses: the covered count comes closer to the truth's, agreement never drops
    n_true = int((t["status"] == "covered").sum())
    n0 = int((plain["status"] == "covered").sum())
    n1 = int((fixed["status"] == "covered").sum())
    assert abs(n1 - n_true) < abs(n0 - n_true), (n0, n1, n_true)
    hit0 = float(np.mean(plain["status"].to_numpy() == t["status"].to_numpy()))
    hit1 = float(np.mean(fixed["status"].to_numpy() == t["status"].to_numpy()))
    assert hit1 >= hit0, (hit0, hit1)


@pytest.mark.parametrize(("fmt", "name"), [("generic", "d.gpkg"), ("opencellid", "d.csv"),
                                          ("gnettrack", "d.txt")])
def test_every_file_format_calibrates_alike(case, tmp_path, fmt, name) -> None:  # noqa: ANN001
    """The truth's drive written in each supported format and read back gives the
    same calibration (OpenCelliD and G-NetTrack files name no serving tower: the
    best server is predicted, which the truth's serving tower is)."""
    scenario, lc, _, drive, res = case
    back = load_measurements(write_measurements(drive, tmp_path / name, format=fmt),
                             towers=scenario.towers)
    assert len(back) == len(drive)
    got = calibrate(scenario.dem, scenario.towers, back, params=ITM, models=["itm"],
                    clutter=lc, block_km=2.0)
    assert got.chosen is not None, got.reason
    for tech, off in got.chosen.offsets_db.items():
        assert abs(off - res.chosen.offsets_db[tech]) < 0.25, (fmt, tech)
