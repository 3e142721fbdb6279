"""Viewshed kernel: analytic cases, exact line-of-sight reference, loss-kernel agreement."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels.coverage import RadioSite, tower_window
from deadzone.kernels.viewshed import VIEWSHED_METHODS, line_of_sight, viewshed


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


def _rough_dem(seed: int, n: int = 241) -> np.ndarray:
    """Ridges and valleys at 12 scales (2-400 cells) plus 1 m noise; 600-950 m relief."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[0:n, 0:n].astype(float)
    z = np.zeros((n, n))
    for k in range(12):
        scale = 2.0 * 1.6**k
        a = rng.uniform(0, np.pi)
        ph = rng.uniform(0, 2 * np.pi)
        z += scale**0.9 * np.sin((np.cos(a) * cc + np.sin(a) * rr) / scale + ph)
    z += rng.normal(0, 1.0, (n, n))
    return (z * 3 + 500).astype(np.float32)


_KW = dict(cell_w_m=30.0, cell_h_m=30.0, observer_height_m=15.0, target_height_m=1.5,
           curvature_coeff=0.75)


@pytest.mark.parametrize("seed", range(6))
def test_sweep_agrees_with_exact_line_of_sight_on_rough_terrain(seed: int) -> None:
    # Measured 99.65-99.89% over seeds 0-39 with the octant sweep; the former
    # kernel (one nearest radial sample per cell, target evaluated at that
    # sample) gave 98.67-99.25% on seeds 0-5.
    z = _rough_dem(seed)
    o = z.shape[0] // 2
    v = viewshed(z, o, o, radius_m=3500.0, **_KW)
    inside = v != 255
    rr, cc = np.nonzero(inside)
    exact = line_of_sight(z, o, o, rr, cc, **_KW)
    assert 0.1 < exact.mean() < 0.3
    assert np.mean((v[inside] == 1) == exact) >= 0.996


def test_exact_line_of_sight_against_dense_sampling() -> None:
    # Sampling the bilinear surface every 1/64 cell can only miss a blocking
    # point, never invent one: sampled-hidden implies exact-hidden, and the two
    # agree everywhere but on a few grazing paths.
    z = _rough_dem(7, n=121).astype(np.float64)
    o = 60
    rng = np.random.default_rng(1)
    tr = rng.integers(0, 121, 400)
    tc = rng.integers(0, 121, 400)
    exact = line_of_sight(z, o, o, tr, tc, **_KW)
    inv2r = 0.75 / (2 * 6_371_000.0)
    z_obs = z[o, o] + 15.0
    sampled = np.ones(400, dtype=bool)
    for n, (r, c) in enumerate(zip(tr, tc, strict=True)):
        d = math.hypot(r - o, c - o) * 30.0
        if d == 0:
            continue
        z_t = z[r, c] + 1.5 - d * d * inv2r
        k = int(math.ceil(math.hypot(r - o, c - o) * 64))
        t = np.arange(1, k) / k
        pr, pc = o + t * (r - o), o + t * (c - o)
        r0 = np.minimum(np.floor(pr).astype(int), 119)
        c0 = np.minimum(np.floor(pc).astype(int), 119)
        fr, fc = pr - r0, pc - c0
        ground = ((z[r0, c0] * (1 - fc) + z[r0, c0 + 1] * fc) * (1 - fr)
                  + (z[r0 + 1, c0] * (1 - fc) + z[r0 + 1, c0 + 1] * fc) * fr)
        ground -= (t * d) ** 2 * inv2r
        sampled[n] = bool(np.all(ground <= z_obs + t * (z_t - z_obs)))
    assert not np.any(~sampled & exact)
    assert np.mean(sampled == exact) >= 0.99
    assert 0.05 < exact.mean() < 0.95


def test_exact_line_of_sight_analytic() -> None:
    dem = np.zeros((201, 201), dtype=np.float32)
    dem[:, 120] = 100.0
    vis = line_of_sight(dem, 100, 100, [100, 100, 100, 100], [119, 120, 121, 20], cell_w_m=30,
                        cell_h_m=30, observer_height_m=10.0, curvature_coeff=0.0)
    assert vis.tolist() == [True, True, False, True]
    flat = np.zeros((3, 401), dtype=np.float32)
    h5 = math.sqrt(2 * 6371e3 / 0.75 * 5.0) / 100  # 92 cells
    cols = np.arange(1, 401)
    vis = line_of_sight(flat, 1, 0, np.ones_like(cols), cols, cell_w_m=100, cell_h_m=100,
                        observer_height_m=5.0, curvature_coeff=0.75)
    assert vis[cols < h5 - 1].all() and not vis[cols > h5 + 1].any()


def test_one_thread_equals_n_threads() -> None:
    z = _rough_dem(3)
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = viewshed(z, 100, 130, radius_m=3500.0, **_KW)
    finally:
        numba.set_num_threads(n)
    assert np.array_equal(one, viewshed(z, 100, 130, radius_m=3500.0, **_KW))


@pytest.mark.parametrize(("row", "col", "cw", "ch"), [(0, 0, 30.0, 30.0), (5, 70, 20.0, 35.0),
                                                      (39, 2, 35.0, 20.0)])
def test_every_cell_within_the_radius_gets_an_answer(row: int, col: int, cw: float,
                                                     ch: float) -> None:
    z = _rough_dem(2, n=80)[:40]
    v = viewshed(z, row, col, cell_w_m=cw, cell_h_m=ch, radius_m=1000.0, observer_height_m=10.0,
                 target_height_m=1.5)
    rr, cc = np.mgrid[0:40, 0:80]
    d = np.hypot((rr - row) * ch, (cc - col) * cw)
    assert (v[d <= 1000.0] != 255).all() and (v[d > 1000.0] == 255).all()
    assert v[row, col] == 1
    sel = d <= 1000.0
    exact = line_of_sight(z, row, col, rr[sel], cc[sel], cell_w_m=cw, cell_h_m=ch,
                          observer_height_m=10.0, target_height_m=1.5)
    # measured 99.45-99.82% (the former kernel: 96.8-98.9%)
    assert np.mean((v[sel] == 1) == exact) >= 0.99


# --- method="reference-plane" (Wang et al. 2000, as gdal_viewshed -om NORMAL) ---

_RP = dict(method="reference-plane")


def test_reference_plane_flat_ground_visible_to_the_horizon() -> None:
    dem = np.zeros((401, 401), dtype=np.float32)
    v = viewshed(dem, 200, 200, cell_w_m=100, cell_h_m=100, radius_m=20000,
                 observer_height_m=30.0, target_height_m=2.0, curvature_coeff=0.75, **_RP)
    rr, cc = np.mgrid[0:401, 0:401]
    d = np.hypot(rr - 200, cc - 200) * 100
    assert (v[d <= 20000] == 1).all() and (v[d > 20000] == 255).all()
    v2 = viewshed(dem, 200, 200, cell_w_m=100, cell_h_m=100, radius_m=20000,
                  observer_height_m=5.0, target_height_m=0.0, curvature_coeff=0.75, **_RP)
    h5 = math.sqrt(2 * 6378137.0 / 0.75 * 5.0)  # 9.2 km (GDAL's R for WGS 84)
    # As in gdal_viewshed, the ring-1 cells off the observer's row are compared
    # with the observer's bare ground, which the 0.6 mm bulge at 100 m puts a
    # hair above a zero-height target (checked against GDAL 3.6.2).
    ring1 = (np.abs(rr - 200) == 1) & (np.abs(cc - 200) <= 1)
    assert (v2[ring1] == 0).all()
    assert (v2[(d < h5 - 300) & ~ring1] == 1).all()
    assert (v2[(d > h5 + 300) & (d < 19_000)] == 0).all()


def test_reference_plane_wall_hides_what_is_behind_it() -> None:
    dem = np.zeros((201, 201), dtype=np.float32)
    dem[:, 120] = 100.0
    v = viewshed(dem, 100, 100, cell_w_m=30, cell_h_m=30, radius_m=2500,
                 observer_height_m=10.0, curvature_coeff=0.0, **_RP)
    assert v[100, 119] == 1 and v[100, 120] == 1
    assert (v[100, 121:180] == 0).all()
    assert (v[100, 20:100] == 1).all()
    # the wall's shadow covers the whole cone behind it, diagonals included
    rr, cc = np.mgrid[0:201, 0:201]
    cone = (cc >= 125) & (np.abs(rr - 100) < 0.8 * (cc - 100)) & (v != 255)
    assert cone.sum() > 1000 and (v[cone] == 0).all()


@pytest.mark.parametrize(("row", "col"), [(0, 0), (20, 79), (39, 40), (17, 3)])
def test_reference_plane_observer_cell_visible_and_radius_respected(row: int, col: int) -> None:
    z = _rough_dem(4, n=80)[:40]
    v = viewshed(z, row, col, cell_w_m=30.0, cell_h_m=20.0, radius_m=900.0,
                 observer_height_m=0.0, **_RP)
    assert v[row, col] == 1
    rr, cc = np.mgrid[0:40, 0:80]
    d = np.hypot((rr - row) * 20.0, (cc - col) * 30.0)
    assert (v[d <= 900.0] != 255).all() and (v[d > 900.0] == 255).all()


def test_reference_plane_close_to_exact_line_of_sight() -> None:
    z = _rough_dem(0)
    v = viewshed(z, 120, 120, radius_m=3500.0, **_KW, **_RP)
    inside = v != 255
    rr, cc = np.nonzero(inside)
    exact = line_of_sight(z, 120, 120, rr, cc, **_KW)
    assert np.mean((v[inside] == 1) == exact) >= 0.98


def test_reference_plane_one_thread_equals_n_threads() -> None:
    z = _rough_dem(5)
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = viewshed(z, 100, 130, radius_m=3500.0, **_KW, **_RP)
    finally:
        numba.set_num_threads(n)
    assert np.array_equal(one, viewshed(z, 100, 130, radius_m=3500.0, **_KW, **_RP))


@pytest.mark.parametrize("method", ["Sweep", "gdal", "", None])
def test_bad_method_rejected(method: object) -> None:
    with pytest.raises(ParameterError, match="method was"):
        viewshed(np.zeros((5, 5)), 2, 2, cell_w_m=1, cell_h_m=1, radius_m=3,
                 observer_height_m=1, method=method)  # type: ignore[arg-type]
    assert VIEWSHED_METHODS == ("sweep", "reference-plane")


def _gdal_viewshed(z: np.ndarray, row: int, col: int, tmp: Path, *, cell_m: float,
                   radius_m: float, obs_h: float, tgt_h: float, cc: float) -> np.ndarray:
    """gdal_viewshed on ``z`` (EPSG:32648, square cells) as a full-grid uint8 (255 outside)."""
    import rasterio
    from rasterio.transform import from_origin

    transform = from_origin(500_000.0, 2_000_000.0, cell_m, cell_m)
    src, dst = tmp / "dem.tif", tmp / "vs.tif"
    with rasterio.open(src, "w", driver="GTiff", height=z.shape[0], width=z.shape[1], count=1,
                       dtype="float32", crs="EPSG:32648", transform=transform) as ds:
        ds.write(z, 1)
    x = transform.c + (col + 0.5) * cell_m
    y = transform.f - (row + 0.5) * cell_m
    subprocess.run(["gdal_viewshed", "-q", "-ox", f"{x:.3f}", "-oy", f"{y:.3f}", "-oz",
                    str(obs_h), "-tz", str(tgt_h), "-cc", str(cc), "-md", str(radius_m),
                    "-vv", "1", "-iv", "0", "-ov", "255", str(src), str(dst)],
                   check=True, capture_output=True)
    with rasterio.open(dst) as ds:
        g = ds.read(1)
        c0 = round((ds.transform.c - transform.c) / cell_m)
        r0 = round((transform.f - ds.transform.f) / cell_m)
    full = np.full(z.shape, 255, dtype=np.uint8)
    full[r0 : r0 + g.shape[0], c0 : c0 + g.shape[1]] = g
    return full


@pytest.mark.parametrize(("seed", "row", "col"), [(0, 120, 120), (1, 30, 200), (2, 239, 5)])
def test_reference_plane_matches_gdal_viewshed(seed: int, row: int, col: int,
                                               tmp_path: Path) -> None:
    if shutil.which("gdal_viewshed") is None:
        pytest.skip("gdal_viewshed not on PATH (Debian: apt-get install gdal-bin)")
    z = _rough_dem(seed)
    kw = dict(cell_m=30.0, radius_m=4000.0, obs_h=15.0, tgt_h=1.5, cc=0.75)
    g = _gdal_viewshed(z, row, col, tmp_path, **kw)
    v = viewshed(z, row, col, cell_w_m=30.0, cell_h_m=30.0, radius_m=4000.0,
                 observer_height_m=15.0, target_height_m=1.5, curvature_coeff=0.75, **_RP)
    rr, cc = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    d = np.hypot(rr - row, cc - col) * 30.0
    both = (d <= 4000.0 - 60.0) & (g != 255) & (v != 255)
    assert both.sum() > 10_000
    assert 0.02 < g[both].mean() < 0.98
    # measured: identical on every cell (bench/viewshed.py: 100% on the three bench cases)
    assert np.mean(g[both] == v[both]) >= 0.995
