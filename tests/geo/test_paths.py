"""The exact-path village engine against outside references.

* Profiles: an independent bilinear sampler (scipy.ndimage.map_coordinates,
  order 1) on the definition (straight line from the tower's position to the
  village point, n = max(2, ceil(d / cell)) intervals, both ends).
* ITM: NTIA ITM 1.4's method through ``p2p_loss`` (itself checked against
  NTIA's published vectors in tests/kernels/test_itm.py and against NTIA's
  C++ to 5e-12 dB by bench/ntia_ref.py).
* P.526: ``delta_bullington`` (the Recommendation as written, checked against
  ITU-R SG3's validation cases in tests/kernels/test_p526.py).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams, towers_on_grid
from deadzone.geo.paths import candidate_pairs, fractional_rc, village_signals
from deadzone.kernels.coverage import profile_loss
from deadzone.kernels.itm import ItmSettings, p2p_loss
from deadzone.kernels.p526 import delta_bullington
from deadzone.kernels.paths import path_profile
from deadzone.model.thresholds import Thresholds
from tests.conftest import demo_villages_only


@pytest.fixture(scope="module")
def demo():
    return demo_villages_only(0)


def _reference_profile(dem, t_rc, v_rc, d_m, cell_m):
    n = max(2, math.ceil(max(d_m, 1.0) / cell_m))
    t = np.arange(n + 1) / n
    r = t_rc[0] + (v_rc[0] - t_rc[0]) * t
    c = t_rc[1] + (v_rc[1] - t_rc[1]) * t
    z = ndimage.map_coordinates(dem.astype(np.float64), [r, c], order=1, mode="nearest")
    return z, max(d_m, 1.0) / n


def test_profile_equals_independent_bilinear_sampler(demo):
    dem = demo.dem
    rng = np.random.default_rng(1)
    rows, cols = dem.shape
    for _ in range(50):
        a = rng.uniform([0, 0], [rows - 1, cols - 1])
        b = rng.uniform([0, 0], [rows - 1, cols - 1])
        d = float(np.hypot((b[0] - a[0]) * dem.cell_h_m, (b[1] - a[1]) * dem.cell_w_m))
        z, step = path_profile(dem.elevation_m, a[0], a[1], b[0], b[1],
                               cell_m=dem.cell_w_m, distance_m=d)
        z_ref, step_ref = _reference_profile(dem.elevation_m, a, b, d, dem.cell_w_m)
        assert step == pytest.approx(step_ref, rel=1e-15)
        np.testing.assert_allclose(z, z_ref, rtol=0, atol=1e-9)


def _gain_3gpp(site, bearing_deg, elevation_deg):
    """3GPP TR 36.814 Table A.2.1.1-2 sector pattern (0 dB for omni)."""
    if math.isnan(site.azimuth_deg):
        return 0.0
    phi = (bearing_deg - site.azimuth_deg + 180.0) % 360.0 - 180.0
    a_h = -min(12 * (phi / site.beamwidth_deg) ** 2, site.front_to_back_db)
    a_v = -min(12 * ((elevation_deg + site.tilt_deg) / site.vbeamwidth_deg) ** 2, 20.0)
    return -min(-(a_h + a_v), site.front_to_back_db)


def _recompute(demo, res, sample, model, itm):
    """Received power of sampled pairs, recomputed from the definition."""
    dem = demo.dem
    grid = res.grid
    sig = res.signals
    vil = demo.villages.to_crs(dem.crs).geometry.representative_point()
    t_rc = fractional_rc(dem, grid.x_m, grid.y_m)
    out = []
    for p in sample:
        t = int(sig.pair_tower[p])
        v = int(sig.pair_village[p])
        site = grid.sites[t]
        vx, vy = vil.iloc[v].x, vil.iloc[v].y
        v_rc = fractional_rc(dem, [vx], [vy])[0]
        d = float(np.hypot(vx - grid.x_m[t], vy - grid.y_m[t]))
        z, step = _reference_profile(dem.elevation_m, t_rc[t], v_rc, d, dem.cell_w_m)
        if model == "itm":
            loss = p2p_loss(z, step, site.height_m, 1.5, site.freq_mhz, climate=itm.climate,
                            n0=itm.n0, pol=itm.pol, epsilon=itm.epsilon, sigma=itm.sigma,
                            mdvar=itm.mdvar, time=itm.time_pct, location=itm.location_pct,
                            situation=itm.situation_pct).loss_db
        elif model == "p526":
            dist_km = np.arange(z.size) * step / 1000.0
            db = delta_bullington(dist_km, z, h_tx_m=site.height_m, h_rx_m=1.5,
                                  freq_mhz=site.freq_mhz, epsilon=itm.epsilon,
                                  sigma=itm.sigma, pol=itm.pol)
            slant = math.hypot(d, z[0] + site.height_m - z[-1] - 1.5)
            loss = 32.45 + 20 * math.log10(site.freq_mhz) + 20 * math.log10(slant / 1000) \
                + db.loss_db
        else:
            loss = profile_loss(z, step, h_tx_m=site.height_m, h_rx_m=1.5,
                                freq_mhz=site.freq_mhz, model=model).loss_db
        elev = math.degrees(math.atan2(z[-1] + 1.5 - z[0] - site.height_m, d))
        bearing = math.degrees(math.atan2(vx - grid.x_m[t], vy - grid.y_m[t]))
        out.append(site.eirp_dbm + _gain_3gpp(site, bearing, elev) - loss)
    return np.array(out)


@pytest.mark.parametrize("model", ["itm", "p526", "knife", "fspl", "hata-open"])
def test_village_values_equal_the_model_on_the_exact_path(demo, model):
    itm = ItmSettings()
    res = audit(demo, model=model, rasters=False)
    sig = res.signals
    rng = np.random.default_rng(0)
    sample = rng.choice(len(sig.pair_tower), size=40, replace=False)
    want = _recompute(demo, res, sample, model, itm)
    np.testing.assert_allclose(sig.rx_dbm[sample], want, rtol=0, atol=1e-6)
    # and the village's best value is the best of its pairs
    for v in np.unique(sig.pair_village[sample])[:10]:
        rows = sig.pair_village == v
        assert res.villages["best_rx_dbm"].iloc[v] == pytest.approx(sig.rx_dbm[rows].max())


def test_threads_do_not_change_results(demo):
    grid = towers_on_grid(demo.towers, demo.dem)
    pts = demo.villages.to_crs(demo.dem.crs).geometry.representative_point()
    args = (demo.dem, grid, pts.x.to_numpy(), pts.y.to_numpy())
    kw = dict(params=EngineParams(), thresholds=Thresholds())
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = village_signals(*args, **kw)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = village_signals(*args, **kw)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one.rx_dbm, many.rx_dbm)
    np.testing.assert_array_equal(one.best_server, many.best_server)


def test_tiled_dem_does_not_change_results(demo, monkeypatch):
    import deadzone.kernels.paths as kpaths

    grid = towers_on_grid(demo.towers, demo.dem)
    pts = demo.villages.to_crs(demo.dem.crs).geometry.representative_point()
    args = (demo.dem, grid, pts.x.to_numpy(), pts.y.to_numpy())
    kw = dict(params=EngineParams(), thresholds=Thresholds())
    tiled = village_signals(*args, **kw)  # the demo's pairs read far more samples than cells
    monkeypatch.setattr(kpaths, "_MAX_TILED_BYTES", 0)
    row_major = village_signals(*args, **kw)
    assert tiled.pair_tower.size > 10_000
    np.testing.assert_array_equal(tiled.rx_dbm, row_major.rx_dbm)
    np.testing.assert_array_equal(tiled.paths.loss_db, row_major.paths.loss_db)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-2000, 9000), st.floats(0, 5000)), min_size=1, max_size=12),
       st.lists(st.tuples(st.floats(0, 5000), st.floats(-3000, 5000)), min_size=1, max_size=40),
       st.floats(1, 3000), st.integers(0, 7))
def test_candidate_pairs_equal_brute_force(towers, villages, reach, holes):
    t = np.array(towers, dtype=np.float64)
    v = np.array(villages, dtype=np.float64)
    r = np.full(len(t), reach)
    r[::3] = reach / 2
    if holes & 1:
        r[-1] = np.nan  # a tower left out
    if holes & 2:
        v[0] = np.nan  # a village without a position
    if holes & 4:
        t[0, 1] = np.inf
    pt, pv = candidate_pairs(t, r, v)
    with np.errstate(invalid="ignore"):
        d = np.hypot(v[:, None, 0] - t[None, :, 0], v[:, None, 1] - t[None, :, 1])
        vv, tt = np.nonzero(d <= r[None, :])
    assert list(zip(pv, pt, strict=True)) == sorted(zip(vv, tt, strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidate_pairs_on_many_buckets_equal_brute_force(seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 20_000, (150, 2))
    v = rng.uniform(-1_000, 21_000, (1_500, 2))
    r = rng.uniform(300, 1_500, 150)
    pt, pv = candidate_pairs(t, r, v)
    d = np.hypot(v[:, None, 0] - t[None, :, 0], v[:, None, 1] - t[None, :, 1])
    vv, tt = np.nonzero(d <= r[None, :])
    assert len(pt) > 500
    np.testing.assert_array_equal(pv, vv)
    np.testing.assert_array_equal(pt, tt)


def test_candidate_pairs_at_exactly_the_reach():
    # a lattice: many pairs at exactly the reach, which is also the bucket size
    g = np.arange(0.0, 10_001.0, 1_000.0)
    t = np.array([(x, y) for x in g[::2] for y in g[::3]])
    v = np.array([(x + dx, y) for x in g for y in g for dx in (0.0, 0.1)])
    r = np.full(len(t), 1_000.0)
    pt, pv = candidate_pairs(t, r, v)
    d = np.hypot(v[:, None, 0] - t[None, :, 0], v[:, None, 1] - t[None, :, 1])
    vv, tt = np.nonzero(d <= r[None, :])
    assert (d == 1_000.0).sum() > 50
    np.testing.assert_array_equal(pv, vv)
    np.testing.assert_array_equal(pt, tt)


def _nearest_brute(s_xy: np.ndarray, p_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dist = np.full(len(p_xy), np.nan)
    idx = np.full(len(p_xy), -1, dtype=np.int64)
    for i, (x, y) in enumerate(p_xy):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        best, best_k = np.inf, -1
        for k, (sx, sy) in enumerate(s_xy):
            if not (np.isfinite(sx) and np.isfinite(sy)):
                continue
            d = math.sqrt((x - sx) * (x - sx) + (y - sy) * (y - sy))
            if d < best:
                best, best_k = d, k
        if best_k >= 0:
            dist[i], idx[i] = best, best_k
    return dist, idx


_coord = st.one_of(st.floats(-5e4, 5e4), st.integers(-5, 5).map(lambda v: v * 1000.0),
                   st.just(float("nan")))


@settings(max_examples=300, deadline=None)
@given(
    sites=st.lists(st.tuples(_coord, _coord), min_size=0, max_size=40),
    points=st.lists(st.tuples(_coord, _coord), min_size=0, max_size=40),
)
def test_nearest_sites_equals_brute_force(sites, points) -> None:  # noqa: ANN001
    """Lattice coordinates make many exact ties (the lowest index wins), NaN
    holes leave sites and points out, and points fall far outside the sites."""
    from deadzone.kernels.paths import nearest_sites

    s_xy = np.array(sites, dtype=np.float64).reshape(-1, 2)
    p_xy = np.array(points, dtype=np.float64).reshape(-1, 2)
    d, k = nearest_sites(s_xy, p_xy)
    d_ref, k_ref = _nearest_brute(s_xy, p_xy)
    np.testing.assert_array_equal(k, k_ref)
    np.testing.assert_array_equal(d, d_ref)


def test_nearest_sites_many_buckets_and_clusters() -> None:
    from deadzone.kernels.paths import nearest_sites

    rng = np.random.default_rng(3)
    # a dense cluster, a sparse spread and points far outside both
    s_xy = np.concatenate([rng.normal(0, 50, (300, 2)), rng.uniform(-2e5, 2e5, (200, 2))])
    p_xy = np.concatenate([rng.uniform(-3e5, 3e5, (700, 2)), rng.normal(0, 60, (300, 2))])
    d, k = nearest_sites(s_xy, p_xy)
    d_ref, k_ref = _nearest_brute(s_xy, p_xy)
    np.testing.assert_array_equal(k, k_ref)
    np.testing.assert_array_equal(d, d_ref)


def test_nearest_sites_ties_go_to_the_lowest_index() -> None:
    from deadzone.kernels.paths import nearest_sites

    # four sites 10 km around the origin, each in its own bucket (filler sites
    # beyond 15 km make the buckets ~4 km), listed so that the buckets are
    # met in another order than the indices
    ring = np.array([[1e4, 0.0], [0.0, 1e4], [-1e4, 0.0], [0.0, -1e4]])
    g = np.linspace(-1e5, 1e5, 50)
    filler = np.array([(a, b) for a in g for b in g if max(abs(a), abs(b)) > 1.5e4])
    for perm in ([0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]):
        s_xy = np.concatenate([filler, ring[perm]])
        d, k = nearest_sites(s_xy, np.array([[0.0, 0.0], [1.0, 0.0]]))
        assert k.tolist() == [len(filler), len(filler) + perm.index(0)] and d[0] == 1e4
