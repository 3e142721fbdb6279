"""Viewshed kernel: analytic cases and agreement with the loss kernel."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.kernels.coverage import RadioSite, tower_window
from deadzone.kernels.viewshed import viewshed


def test_flat_ground_visible_to_the_horizon() -> None:
    dem = np.zeros((401, 401), dtype=np.float32)
    v = viewshed(dem, 200, 200, cell_w_m=100, cell_h_m=100, radius_m=20000,
                 observer_height_m=30.0, target_height_m=2.0, curvature_coeff=0.75)
    # radio horizon sqrt(2 k R h): 30 m -> 22.6 km, 2 m -> 5.8 km at k = 4/3
    horizon = math.sqrt(2 * 6371e3 / 0.75 * 30) + math.sqrt(2 * 6371e3 / 0.75 * 2)
    assert horizon > 20000
    assert (v[v != 255] == 1).all()
    v2 = viewshed(dem, 200, 200, cell_w_m=100, cell_h_m=100, radius_m=20000,
                  observer_height_m=5.0, target_height_m=0.0, curvature_coeff=0.75)
    rr, cc = np.mgrid[0:401, 0:401]
    d = np.hypot(rr - 200, cc - 200) * 100
    h5 = math.sqrt(2 * 6371e3 / 0.75 * 5.0)  # 9.2 km
    assert (v2[(d < h5 - 300)] == 1).all()
    assert (v2[(d > h5 + 300) & (d < 19_000)] == 0).all()


def test_wall_hides_what_is_behind_it() -> None:
    dem = np.zeros((201, 201), dtype=np.float32)
    dem[:, 120] = 100.0
    v = viewshed(dem, 100, 100, cell_w_m=30, cell_h_m=30, radius_m=2500,
                 observer_height_m=10.0, curvature_coeff=0.0)
    assert v[100, 119] == 1 and v[100, 120] == 1
    assert (v[100, 121:180] == 0).all()
    assert (v[100, 20:100] == 1).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_hidden_cells_are_trans_horizon_for_the_knife_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dem = (rng.normal(0, 1, (81, 81)).cumsum(0).cumsum(1) * 0.05 + 400).astype(np.float32)
    site = RadioSite(row=40, col=40, height_m=20.0, freq_mhz=900.0, eirp_dbm=55.0)
    knife, r0, c0 = tower_window(dem, site, cell_w_m=30, cell_h_m=30, radius_m=1100.0)
    fspl, _, _ = tower_window(dem, site, cell_w_m=30, cell_h_m=30, radius_m=1100.0,
                              model="fspl")
    v = viewshed(dem, 40, 40, cell_w_m=30, cell_h_m=30, radius_m=1100.0,
                 observer_height_m=20.0, target_height_m=1.5, curvature_coeff=0.75)
    w = v[r0 : r0 + knife.shape[0], c0 : c0 + knife.shape[1]] if r0 >= 0 else None
    assert w is not None
    computed = (w != 255) & np.isfinite(knife)
    hidden = (w == 0)[computed]
    # J(nu) >= 6.02 dB exactly when the knife-edge path is trans-horizon.  The
    # viewshed takes its horizon from bilinear heights (as GDAL does) and the
    # loss kernel from nearest-cell heights, so they agree on nearly all cells.
    trans = ((fspl - knife) >= 6.0)[computed]
    assert np.mean(hidden == trans) >= 0.97


def test_observer_outside_rejected() -> None:
    with pytest.raises(Exception, match="outside"):
        viewshed(np.zeros((5, 5)), 9, 0, cell_w_m=1, cell_h_m=1, radius_m=3,
                 observer_height_m=1)
