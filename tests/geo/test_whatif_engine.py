"""A what-if session re-audits villages with its whole engine, not a rebuilt one."""

from __future__ import annotations

import numpy as np

from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams
from deadzone.geo.whatif import Session
from deadzone.kernels.itm import ItmSettings
from tests.conftest import small_scenario


def test_p526_ground_constants_reach_the_reaudited_villages() -> None:
    # p526 reads the ground constants from the ITM settings; a session once
    # rebuilt its engine from the recorded parameters and lost them
    # villages beyond the smooth-earth horizon of a tower on flat ground (30 m mast,
    # 100 x 100 cells of 500 m): P.526's spherical-earth term depends on the ground
    # constants (sea water here; a few hundredths of a dB at 900 MHz)
    vills = [(5_000.0 + 5_000.0 * i, 25_000.0) for i in range(9)]
    scenario = small_scenario(z=np.full((100, 100), 10.0, np.float32), cell_m=500.0,
                              villages=vills, towers=[{"x": 1_000.0, "y": 25_000.0}])
    p = EngineParams(model="p526", radius_km=49.0, itm=ItmSettings(epsilon=80.0, sigma=5.0))
    want = audit(scenario, params=p, rasters=False).villages
    default = audit(scenario, params=EngineParams(model="p526", radius_km=49.0),
                    rasters=False).villages
    assert np.nanmax(np.abs(want["best_rx_dbm"] - default["best_rx_dbm"])) > 0.01
    s = Session(scenario, params=p)
    got = s.result.villages
    np.testing.assert_array_equal(got["status"].to_numpy(), want["status"].to_numpy())
    np.testing.assert_allclose(got["best_rx_dbm"], want["best_rx_dbm"], atol=1e-9)
    assert s.result.summary["parameters"]["p526"]["epsilon"] == 80.0
