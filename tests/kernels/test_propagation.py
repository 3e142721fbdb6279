"""Kernel tests: analytic cases, published formulas, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels._propagation import knife_edge_loss_db
from deadzone.kernels.coverage import (
    RadioSite,
    line_profile,
    merge_into,
    new_composite,
    profile_loss,
    profile_sweep,
    tower_window,
)
from tests.conftest import rough_dem


def fspl(d_m: float, f_mhz: float) -> float:
    """ITU-R P.525-4 eq. (8), written independently of the kernel."""
    return 32.45 + 20 * math.log10(f_mhz) + 20 * math.log10(d_m / 1000.0)


# --- analytic cases -------------------------------------------------------


@pytest.mark.parametrize("f_mhz", [700.0, 900.0, 1800.0, 2600.0])
@pytest.mark.parametrize("n", [2, 50, 400])
def test_flat_profile_fspl_model_equals_free_space(f_mhz: float, n: int) -> None:
    step = 30.0
    r = profile_loss(np.zeros(n), step, h_tx_m=30.0, h_rx_m=30.0, freq_mhz=f_mhz, model="fspl")
    assert r.loss_db == pytest.approx(fspl((n - 1) * step, f_mhz), abs=1e-9)
    assert r.diffraction_db == 0.0


def test_flat_earth_knife_model_is_free_space_with_clear_fresnel_zone() -> None:
    # 10 m receiver, 5 km: the ground stays far below the first Fresnel zone.
    z = np.zeros(167)
    r = profile_loss(z, 30.0, h_tx_m=40.0, h_rx_m=10.0, freq_mhz=900.0, model="knife")
    slant = math.hypot(166 * 30.0, 30.0)
    assert r.diffraction_db == 0.0
    assert r.loss_db == pytest.approx(fspl(slant, 900.0), abs=1e-9)


def test_flat_earth_low_receiver_loses_at_most_a_grazing_dB() -> None:
    # 1.5 m handset: ground near the handset enters the Fresnel zone (nu > -0.78)
    z = np.zeros(334)
    sweep = profile_sweep(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    free = np.array([fspl(max(math.hypot(j * 30.0, 28.5), 1.0), 900.0) for j in range(334)])
    assert np.all(sweep - free >= -1e-9)
    assert np.all(sweep - free <= 6.0)


def test_ridge_shadows_cells_behind_it() -> None:
    z = np.zeros(301)
    z[100] = 200.0  # a 200 m ridge 3 km from the tower
    sweep = profile_sweep(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    flat = profile_sweep(np.zeros(301), 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    extra = sweep - flat
    assert np.all(np.abs(extra[:100]) < 1e-9)  # in front of the ridge: unchanged
    assert np.all(extra[110:] > 15.0)  # behind it: deep shadow
    r = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    assert r.trans_horizon
    assert r.edge_distance_m == pytest.approx(3000.0)
    assert r.edge_height_m == pytest.approx(200.0)


def test_knife_edge_matches_p526_reference_values() -> None:
    # ITU-R P.526-15 eq. (31): J(0) = 6.02 dB; J(-0.78) = 0; J(1) ~ 13.96 dB,
    # J(2.4) ~ 20.5 dB (Fig. 7 / the classic 6.9 + 20 log ... curve).
    assert knife_edge_loss_db(0.0) == pytest.approx(6.0, abs=0.05)
    assert knife_edge_loss_db(-0.78) == 0.0
    assert knife_edge_loss_db(-2.0) == 0.0
    assert knife_edge_loss_db(1.0) == pytest.approx(13.96, abs=0.05)
    assert knife_edge_loss_db(2.4) == pytest.approx(20.5, abs=0.2)


def test_single_edge_nu_matches_hand_computation() -> None:
    # Tx and rx both at 0 m + antennas of 10 m; edge 20 m high midway, 2 km
    # path; curvature effectively off (huge k) so the geometry is textbook.
    n = 201
    step = 10.0
    z = np.zeros(n)
    z[100] = 20.0
    r = profile_loss(z, step, h_tx_m=10.0, h_rx_m=10.0, freq_mhz=300.0, k_factor=1e9)
    lam = 299_792_458.0 / 300e6
    h = 10.0
    nu = h * math.sqrt(2 * 2000.0 / (lam * 1000.0 * 1000.0))
    t = nu - 0.1
    j = 6.9 + 20 * math.log10(math.sqrt(t * t + 1) + t)
    assert r.diffraction_db == pytest.approx(j, abs=1e-6)


def test_earth_curvature_hides_far_flat_ground() -> None:
    # Radio horizon for 30 m + 1.5 m at k=4/3: sqrt(2 a h) ~ 22.6 + 5.0 km.
    z = np.zeros(1201)  # 36 km
    near = profile_loss(z[:500], 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    far = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    assert not near.trans_horizon
    assert far.trans_horizon and far.diffraction_db > 6.0


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ParameterError, match="model"):
        profile_loss([0, 0, 0], 30.0, h_tx_m=30, h_rx_m=1.5, freq_mhz=900, model="nope")
    with pytest.raises(ParameterError, match="NaN"):
        profile_loss([0, np.nan, 0], 30.0, h_tx_m=30, h_rx_m=1.5, freq_mhz=900)
    with pytest.raises(ParameterError, match="freq_mhz"):
        profile_loss([0, 0, 0], 30.0, h_tx_m=30, h_rx_m=1.5, freq_mhz=5)
    with pytest.raises(ParameterError, match="step_m"):
        profile_loss([0, 0, 0], 0.0, h_tx_m=30, h_rx_m=1.5, freq_mhz=900)


# --- invariants ------------------------------------------------------------

profiles = st.lists(
    st.floats(min_value=-50.0, max_value=2500.0, allow_nan=False), min_size=1, max_size=120
)


@settings(max_examples=150, deadline=None)
@given(
    z=profiles,
    step=st.floats(min_value=5.0, max_value=200.0),
    h_tx=st.floats(min_value=1.0, max_value=100.0),
    f=st.sampled_from([700.0, 900.0, 1800.0, 2100.0, 3500.0]),
)
def test_sweep_equals_point_to_point_everywhere(z, step, h_tx, f) -> None:
    zz = np.asarray(z)
    sweep = profile_sweep(zz, step, h_tx_m=h_tx, h_rx_m=1.5, freq_mhz=f)
    for j in range(zz.size):
        p = profile_loss(zz[: j + 1], step, h_tx_m=h_tx, h_rx_m=1.5, freq_mhz=f)
        assert p.loss_db == pytest.approx(sweep[j], abs=0.01)
        assert np.isfinite(sweep[j])


@settings(max_examples=100, deadline=None)
@given(z=profiles, step=st.floats(min_value=5.0, max_value=200.0))
def test_loss_is_at_least_free_space(z, step) -> None:
    zz = np.asarray(z)
    knife = profile_sweep(zz, step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    free = profile_sweep(zz, step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="fspl")
    assert np.all(knife >= free - 1e-9)


@settings(max_examples=100, deadline=None)
@given(z=profiles, step=st.floats(min_value=5.0, max_value=200.0))
def test_input_profile_is_not_mutated(z, step) -> None:
    zz = np.asarray(z)
    before = zz.copy()
    profile_sweep(zz, step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0)
    np.testing.assert_array_equal(zz, before)


@pytest.mark.parametrize(("model", "seed"),
                         [("knife", 0), ("knife", 1), ("knife", 2), ("p526", 0), ("p526", 1)])
def test_area_equals_point_on_cells_crossed_exactly(model: str, seed: int) -> None:
    dem = rough_dem(seed)
    site = RadioSite(row=80, col=80, height_m=25.0, freq_mhz=900.0, eirp_dbm=55.0)
    win, r0, c0 = tower_window(dem, site, cell_w_m=30.0, cell_h_m=30.0, radius_m=2400.0,
                               model=model)
    win3, _, _ = tower_window(dem, site, cell_w_m=30.0, cell_h_m=30.0, radius_m=2400.0,
                              model=model, n_threads=3)
    np.testing.assert_array_equal(win, win3)
    checked = 0
    for dr, dc in [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)]:
        for k in range(2, 57):
            rr, cc = 80 + k * dr, 80 + k * dc
            z, step = line_profile(dem, 80, 80, rr, cc, cell_w_m=30.0, cell_h_m=30.0)
            if step * (z.size - 1) > 2400.0:
                continue
            p = profile_loss(z, step, h_tx_m=25.0, h_rx_m=1.5, freq_mhz=900.0, model=model)
            assert win[rr - r0, cc - c0] == pytest.approx(55.0 - p.loss_db, abs=0.01)
            checked += 1
    assert checked > 300


def test_window_has_no_holes_inside_radius() -> None:
    dem = rough_dem(3, 301)
    site = RadioSite(row=150, col=150, height_m=30.0, freq_mhz=1800.0, eirp_dbm=61.0)
    win, r0, c0 = tower_window(dem, site, cell_w_m=30.0, cell_h_m=30.0, radius_m=4000.0)
    rr, cc = np.mgrid[0 : win.shape[0], 0 : win.shape[1]]
    dist = np.hypot(rr + r0 - 150, cc + c0 - 150) * 30.0
    inner = dist <= 3900.0
    assert np.isfinite(win[inner]).all()
    assert np.isnan(win[dist > 4100.0]).all()


def test_window_clipped_at_dem_edge_and_thread_independent() -> None:
    dem = rough_dem(4, 200)
    sites = [
        RadioSite(row=5, col=7, height_m=30.0, freq_mhz=900.0, eirp_dbm=55.0),
        RadioSite(row=100, col=120, height_m=20.0, freq_mhz=1800.0, eirp_dbm=61.0,
                  azimuth_deg=45.0, beamwidth_deg=65.0, tilt_deg=3.0),
        RadioSite(row=190, col=30, height_m=40.0, freq_mhz=700.0, eirp_dbm=58.0),
    ]
    from deadzone.kernels.coverage import iter_windows

    def run(threads: int):
        comp = new_composite(dem.shape, threshold_dbm=-100.0)

        def one(i):
            return tower_window(dem, sites[i], cell_w_m=30, cell_h_m=30, radius_m=5000.0)

        for i, (w, r0, c0) in iter_windows(one, range(3), n_threads=threads):
            merge_into(comp, w, r0, c0, i)
        return comp

    a, b = run(1), run(4)
    np.testing.assert_array_equal(a.best_dbm, b.best_dbm)
    np.testing.assert_array_equal(a.best_server, b.best_server)
    np.testing.assert_array_equal(a.second_dbm, b.second_dbm)
    np.testing.assert_array_equal(a.n_servers, b.n_servers)
    assert set(np.unique(a.best_server)) <= {-1, 0, 1, 2}


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 60), cols=st.integers(1, 60), data=st.data(),
       r=st.integers(0, 25), cw=st.sampled_from([30.0, 25.0, 92.6]),
       ch=st.sampled_from([30.0, 30.9]), d_frac=st.floats(0.3, 1.6))
def test_shared_owner_table_equals_the_grid_clipped_one(rows, cols, data, r, cw, ch,
                                                        d_frac) -> None:
    """The cached window-frame owner table gives every in-grid cell the owner
    that :func:`tower_owners` computes on the real grid, wherever the tower is."""
    from deadzone.kernels import _propagation as _k
    from deadzone.kernels.coverage import owner_table

    row0 = data.draw(st.integers(0, rows - 1))
    col0 = data.draw(st.integers(0, cols - 1))
    d_max = d_frac * r * max(cw, ch)
    n = 2 * r + 1
    clipped = np.full((n, n), -1, dtype=np.int32)
    _k.tower_owners(rows, cols, cw, ch, row0, col0, r, d_max, clipped,
                    np.full((n, n), np.inf))
    shared = owner_table(r, cw, ch, d_max)
    wr, wc = np.mgrid[0:n, 0:n]
    inside = ((wr + row0 - r >= 0) & (wr + row0 - r < rows)
              & (wc + col0 - r >= 0) & (wc + col0 - r < cols))
    np.testing.assert_array_equal(shared[inside], clipped[inside])
    assert (clipped[~inside] == -1).all()


def test_sector_antenna_favours_its_azimuth() -> None:
    dem = np.full((201, 201), 100.0, dtype=np.float32)
    site = RadioSite(row=100, col=100, height_m=30.0, freq_mhz=1800.0, eirp_dbm=61.0,
                     azimuth_deg=90.0, beamwidth_deg=65.0, tilt_deg=0.0)
    win, r0, c0 = tower_window(dem, site, cell_w_m=30, cell_h_m=30, radius_m=3000.0)
    east = win[100 - r0, 160 - c0]
    west = win[100 - r0, 40 - c0]
    assert east - west == pytest.approx(25.0, abs=0.5)  # front-to-back ratio


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), h=st.floats(min_value=5.0, max_value=60.0))
def test_taller_mast_never_loses_line_of_sight(seed: int, h: float) -> None:
    dem = rough_dem(seed, 81)
    lo = RadioSite(row=40, col=40, height_m=h, freq_mhz=900.0, eirp_dbm=55.0)
    hi = RadioSite(row=40, col=40, height_m=h + 20.0, freq_mhz=900.0, eirp_dbm=55.0)
    wl, _, _ = tower_window(dem, lo, cell_w_m=30, cell_h_m=30, radius_m=1200.0, model="knife")
    wh, _, _ = tower_window(dem, hi, cell_w_m=30, cell_h_m=30, radius_m=1200.0, model="knife")
    fl, _, _ = tower_window(dem, lo, cell_w_m=30, cell_h_m=30, radius_m=1200.0, model="fspl")
    fh, _, _ = tower_window(dem, hi, cell_w_m=30, cell_h_m=30, radius_m=1200.0, model="fspl")
    los_lo = np.abs(wl - fl) < 1e-6
    los_hi = np.abs(wh - fh) < 1e-6
    assert np.all(los_hi[los_lo])


def test_site_outside_dem_rejected() -> None:
    dem = rough_dem(0, 20)
    with pytest.raises(ParameterError, match="outside"):
        tower_window(dem, RadioSite(row=50, col=0, height_m=30, freq_mhz=900, eirp_dbm=55),
                     cell_w_m=30, cell_h_m=30, radius_m=1000)


# --- empirical models in the sweep ----------------------------------------

EMPIRICAL = ["hata-urban-large", "hata-urban", "hata-suburban", "hata-open", "cost231",
             "cost231-metro"]


@settings(max_examples=40, deadline=None)
@given(z=profiles, step=st.floats(min_value=20.0, max_value=300.0),
       model=st.sampled_from(EMPIRICAL))
def test_empirical_sweep_equals_point(z, step, model) -> None:
    zz = np.asarray(z)
    sweep = profile_sweep(zz, step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model=model)
    for j in range(zz.size):
        p = profile_loss(zz[: j + 1], step, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0,
                         model=model)
        assert p.loss_db == pytest.approx(sweep[j], abs=0.01)


def test_hata_on_flat_ground_matches_the_formula() -> None:
    # flat ground at 200 m a.s.l.: effective height = mast, handset above LOCAL ground
    z = np.full(334, 200.0)  # 10 km at 30 m
    r = profile_loss(z, 30.0, h_tx_m=30.0, h_rx_m=1.5, freq_mhz=900.0, model="hata-urban")
    f, hb, hm, d = 900.0, 30.0, 1.5, 333 * 30.0 / 1000.0
    a = (1.1 * math.log10(f) - 0.7) * hm - (1.56 * math.log10(f) - 0.8)
    hata = (69.55 + 26.16 * math.log10(f) - 13.82 * math.log10(hb) - a
            + (44.9 - 6.55 * math.log10(hb)) * math.log10(d))
    assert r.loss_db == pytest.approx(hata, abs=1e-6)
