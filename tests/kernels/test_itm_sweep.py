"""ITM along a radial: sweep == point, area == point, threads, and agreement with NTIA p2p."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels.coverage import (
    RadioSite,
    profile_loss,
    profile_sweep,
    tower_window,
)
from deadzone.kernels.itm import ItmSettings, p2p_loss
from tests.conftest import rough_dem, shared_file

S = ItmSettings()


def ntia(z: np.ndarray, step: float, h_tx: float, h_rx: float, f: float,
         s: ItmSettings = S) -> float:
    """NTIA ITM p2p (full profile analysis per receiver), our reference port."""
    return p2p_loss(z, step, h_tx, h_rx, f, climate=s.climate, n0=s.n0, pol=s.pol,
                    epsilon=s.epsilon, sigma=s.sigma, mdvar=s.mdvar, time=s.time_pct,
                    location=s.location_pct, situation=s.situation_pct).loss_db


profiles = st.lists(
    st.floats(min_value=-50.0, max_value=2500.0, allow_nan=False), min_size=1, max_size=90
)


@settings(max_examples=120, deadline=None)
@given(
    z=profiles,
    step=st.floats(min_value=10.0, max_value=200.0),
    h_tx=st.floats(min_value=2.0, max_value=100.0),
    f=st.sampled_from([700.0, 900.0, 1800.0, 2600.0]),
)
def test_itm_sweep_equals_point_at_its_anchors(z, step, h_tx, f) -> None:
    """Delta h is NTIA's own at every DH_ANCHOR-th receiver and the last; there
    the sweep and the point function run the same arithmetic (the sweep's SIMD
    passes included): the same bits.  Elsewhere the sweep rescales the moment
    form between anchors (measured against NTIA in bench/area_bias.py)."""
    from deadzone.kernels._itm_sweep import DH_ANCHOR

    zz = np.asarray(z)
    sweep = profile_sweep(zz, step, h_tx_m=h_tx, h_rx_m=1.5, freq_mhz=f, model="itm")
    assert np.isfinite(sweep).all()
    for j in range(zz.size):
        if j < 2 or (j - 2) % DH_ANCHOR == 0 or j == zz.size - 1:
            p = profile_loss(zz[: j + 1], step, h_tx_m=h_tx, h_rx_m=1.5, freq_mhz=f,
                             model="itm")
            assert p.loss_db == sweep[j]


def test_point_function_is_ntia_p2p_on_real_terrain(shared_data: Path) -> None:
    """profile_loss(model='itm') takes NTIA's Delta h: on real SRTM profiles it
    equals NTIA's p2p up to rounding of the running sums."""
    from deadzone.data.loaders import load_dem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dem = load_dem(shared_file(shared_data, "srtm3/N21E105.hgt"))
    rng = np.random.default_rng(3)
    for _ in range(8):
        r0 = int(rng.integers(300, dem.elevation_m.shape[0] - 300))
        c0 = int(rng.integers(300, dem.elevation_m.shape[1] - 300))
        ang = rng.uniform(0, 2 * np.pi)
        k = np.arange(250)
        z = dem.elevation_m[np.round(r0 + k * np.sin(ang)).astype(int),
                            np.round(c0 + k * np.cos(ang)).astype(int)].astype(np.float64)
        p = profile_loss(z, dem.cell_w_m, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0,
                         model="itm")
        assert p.loss_db == pytest.approx(ntia(z, dem.cell_w_m, 30.0, 1.5, 900.0), abs=1e-6)


@pytest.mark.parametrize("slope", [0.0, 0.02, -0.03])
def test_smooth_terrain_matches_ntia_exactly(slope: float) -> None:
    """With no irregularity (Delta h = 0 both ways) the sweep is NTIA's p2p."""
    z = 200.0 + slope * 30.0 * np.arange(600)
    sweep = profile_sweep(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="itm")
    for j in (10, 50, 200, 599):
        assert sweep[j] == pytest.approx(ntia(z[: j + 1], 30.0, 30.0, 1.5, 900.0), abs=0.01)


def test_agrees_with_ntia_p2p_on_real_terrain(shared_data: Path) -> None:
    """The moment form of Delta h costs little accuracy on real SRTM profiles."""
    from deadzone.data.loaders import load_dem

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dem = load_dem(shared_file(shared_data, "srtm3/N21E105.hgt"))
    z2 = dem.elevation_m
    rng = np.random.default_rng(7)
    diffs = []
    for _ in range(12):
        r0 = int(rng.integers(290, z2.shape[0] - 290))
        c0 = int(rng.integers(290, z2.shape[1] - 290))
        ang = rng.uniform(0, 2 * np.pi)
        k = np.arange(280)
        rr = np.round(r0 + k * np.sin(ang)).astype(int)
        cc = np.round(c0 + k * np.cos(ang)).astype(int)
        z = z2[rr, cc].astype(np.float64)
        step = dem.cell_w_m
        sweep = profile_sweep(z, step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="itm")
        for j in range(6, 280, 13):
            diffs.append(sweep[j] - ntia(z[: j + 1], step, 30.0, 1.5, 900.0))
    d = np.abs(np.array(diffs))
    assert np.median(d) < 0.6
    assert np.percentile(d, 90) < 3.0


@pytest.mark.parametrize("seed", [0, 1])
def test_itm_area_follows_point_on_cells_crossed_exactly(seed: int) -> None:
    """On the 8 radials that run through cell centres, the area value is the
    point function on the radial's own profile (two bilinear samples per ring,
    as the sweep walks it): equal where Delta h is NTIA's own, within the
    rescaled moment form's error elsewhere."""
    from deadzone.kernels._basic import bilinear_from

    dem = rough_dem(seed, 121)
    site = RadioSite(row=60, col=60, height_m=25.0, freq_mhz=900.0, eirp_dbm=55.0)
    win, r0, c0 = tower_window(dem, site, cell_w_m=30.0, cell_h_m=30.0, radius_m=1800.0,
                               model="itm")
    diffs = []
    for dr, dc in [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)]:
        step = 30.0 * float(np.hypot(dr, dc))
        for k in range(1, 43):
            if k * step > 1800.0:
                continue
            z = np.array([bilinear_from(dem, 60, 60, 0.5 * j * dr, 0.5 * j * dc)
                          for j in range(2 * k + 1)])
            p = profile_loss(z, 0.5 * step, h_tx_m=25.0, h_rx_m=1.5, freq_mhz=900.0,
                             model="itm")
            diffs.append(win[60 + k * dr - r0, 60 + k * dc - c0] - (55.0 - p.loss_db))
    d = np.abs(np.array(diffs))
    assert d.size > 250
    assert (d < 0.01).mean() > 0.5, np.percentile(d, [50, 90, 100])
    assert np.percentile(d, 90) < 0.5 and d.max() < 1.5, np.percentile(d, [50, 90, 100])


@pytest.mark.parametrize("model", ["itm", "knife", "hata-urban"])
def test_radials_split_over_threads_give_identical_windows(model: str) -> None:
    dem = rough_dem(5, 151)
    site = RadioSite(row=70, col=80, height_m=30.0, freq_mhz=1800.0, eirp_dbm=61.0,
                     azimuth_deg=120.0, beamwidth_deg=65.0, tilt_deg=2.0)
    kw = dict(cell_w_m=30.0, cell_h_m=30.0, radius_m=2500.0, model=model)
    a, ra, ca = tower_window(dem, site, n_threads=1, **kw)
    b, rb, cb = tower_window(dem, site, n_threads=3, **kw)
    assert (ra, ca) == (rb, cb)
    np.testing.assert_array_equal(a, b)


def test_location_quantile_raises_the_loss() -> None:
    z = 300.0 + 60.0 * np.sin(np.linspace(0.0, 9.0, 300))
    median = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="itm")
    strict = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="itm",
                          itm=ItmSettings(location_pct=90.0))
    assert strict.loss_db > median.loss_db + 1.0


def test_blocked_path_names_the_ridge() -> None:
    z = np.full(200, 100.0)
    z[150] = 400.0  # a ridge 4.5 km out hides the receiver at 6 km
    r = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="itm")
    assert r.trans_horizon
    assert r.edge_distance_m == pytest.approx(150 * 30.0)
    assert r.edge_height_m == pytest.approx(400.0)
    assert r.diffraction_db > 10.0


@pytest.mark.parametrize(
    "kwargs, field",
    [({"climate": 9}, "climate"), ({"n0": 100.0}, "n0"), ({"location_pct": 100.0}, "location"),
     ({"mdvar": 5}, "mdvar"), ({"sigma": 0.0}, "sigma")],
)
def test_bad_itm_settings_are_rejected(kwargs: dict, field: str) -> None:
    with pytest.raises(ParameterError, match=field):
        ItmSettings(**kwargs)
