"""One carrier for the engine settings (issue 17): ``params=EngineParams(...)``
runs the same engine as the loose keywords, and giving both is an error."""

from __future__ import annotations

import numpy as np
import pytest

from deadzone.errors import ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams, compute_coverage, engine_params
from deadzone.geo.whatif import Session
from deadzone.kernels.itm import ItmSettings
from tests.conftest import small_scenario

PTS = [(4000, 4500), (1000, 1000), (8000, 4500), (2000, 8500)]


@pytest.fixture(scope="module")
def scen():  # noqa: ANN201
    return small_scenario(villages=PTS, towers=[{"x": 4500, "y": 4500, "eirp_dbm": 30.0}])


def test_params_or_keywords_not_both() -> None:
    p = EngineParams(model="knife", radius_km=4.0)
    assert engine_params(p) is p
    assert engine_params(None, model="knife", radius_km=4.0) == p
    with pytest.raises(ParameterError, match="given twice: params= and radius_km="):
        engine_params(p, radius_km=3.0)
    with pytest.raises(ParameterError, match="itm="):
        engine_params(p, itm=ItmSettings(location_pct=90.0))


def test_audit_coverage_and_session_take_params(scen) -> None:  # noqa: ANN001
    p = EngineParams(model="knife", radius_km=4.0, rx_height_m=2.0)
    a = audit(scen, params=p)
    b = audit(scen, model="knife", radius_km=4.0, rx_height_m=2.0)
    assert a.villages["status"].tolist() == b.villages["status"].tolist()
    rx_a, rx_b = (r.villages["best_rx_dbm"].to_numpy() for r in (a, b))
    assert np.array_equal(rx_a, rx_b, equal_nan=True)
    assert a.summary["parameters"] == b.summary["parameters"]
    c1 = compute_coverage(scen.dem, scen.towers, params=p)
    c2 = compute_coverage(scen.dem, scen.towers, model="knife", radius_km=4.0, rx_height_m=2.0)
    assert np.array_equal(c1.rx.best_dbm, c2.rx.best_dbm, equal_nan=True)
    assert Session(scen, params=p).params == p
    with pytest.raises(ParameterError, match="coverage= or params="):
        audit(scen, coverage=c1, params=p)
