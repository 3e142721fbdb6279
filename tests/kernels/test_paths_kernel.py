"""The pair kernel's two-pass profile samplers against the one-pass definition.

``sample_path_fast`` (row-major DEM) and ``sample_path_tiled`` (the DEM in
16 x 16 tiles, what ``pairs_rx`` reads when many pairs share a DEM) must give
``sample_path``'s heights to the last bit everywhere: inside the grid, along
its edges, on segments that leave the interior, on grids that are not whole
tiles, and on single-row or single-column grids (``sample_path`` itself is
checked against scipy's bilinear sampler in tests/geo/test_paths.py).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.kernels import _paths as kp

_SHAPES = [(40, 57), (16, 16), (17, 33), (3, 70), (1, 9), (7, 1), (2, 2)]
_DEMS = {shape: np.random.default_rng(sum(shape)).normal(300.0, 120.0, shape).astype(np.float32)
         for shape in _SHAPES}
_TILED = {shape: kp.tile_dem(dem) for shape, dem in _DEMS.items()}


def _sample(how, dem, r0, c0, r1, c1, n):
    out = np.full(n + 1, np.nan)
    if how == "definition":
        kp.sample_path(dem, r0, c0, r1, c1, n, out)
    elif how == "fast":
        kp.sample_path_fast(dem, r0, c0, r1, c1, n, out, np.empty(n + 1, dtype=np.int64),
                            np.empty(n + 1))
    else:
        tiles, t_cols = _TILED[dem.shape]
        kp.sample_path_tiled(dem, tiles, t_cols, r0, c0, r1, c1, n, out,
                             np.empty((4, n + 1), dtype=np.int64), np.empty(n + 1))
    return out


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["fast", "tiled"]), st.sampled_from(_SHAPES), st.floats(-0.2, 1.2),
       st.floats(-0.2, 1.2), st.floats(-0.2, 1.2), st.floats(-0.2, 1.2), st.integers(2, 400))
def test_two_pass_samplers_equal_the_definition(how, shape, a, b, c, d, n):
    dem = _DEMS[shape]
    rows, cols = shape
    # fractions of the grid, beyond it on both sides by a fifth of the grid
    r0, r1 = a * (rows - 1), c * (rows - 1)
    c0, c1 = b * (cols - 1), d * (cols - 1)
    np.testing.assert_array_equal(_sample(how, dem, r0, c0, r1, c1, n),
                                  _sample("definition", dem, r0, c0, r1, c1, n))


def test_samplers_on_interior_corners():
    dem = _DEMS[(40, 57)]
    eps = np.nextafter(39.0, 0.0)
    for r0, c0, r1, c1 in [(0.0, 0.0, eps, np.nextafter(56.0, 0.0)), (eps, 0.0, 0.0, 3.5),
                           (12.25, 30.5, 12.25, 30.5), (15.5, 15.99, 16.5, 31.01)]:
        want = _sample("definition", dem, r0, c0, r1, c1, 100)
        for how in ("fast", "tiled"):
            np.testing.assert_array_equal(_sample(how, dem, r0, c0, r1, c1, 100), want)


def test_tiled_layout_holds_every_height():
    for shape, (tiles, t_cols) in _TILED.items():
        dem = _DEMS[shape]
        rows, cols = shape
        for r in range(rows):
            for c in range(cols):
                i = ((r // kp.TILE) * t_cols + c // kp.TILE) * kp.TILE**2 \
                    + (r % kp.TILE) * kp.TILE + c % kp.TILE
                assert tiles[i] == dem[r, c]


def test_itm_pairs_in_blocks_equal_one_pair_at_a_time() -> None:
    """``pairs_rx`` runs ITM on a tower's consecutive pairs at once (profile
    and geometry per pair, the tails in one SIMD batch): every output of every
    pair must equal :func:`one_pair`'s (``p2p`` per path) to the last bit,
    across block edges, towers of one and of many pairs, heights, climates
    and variability settings."""
    from deadzone.kernels._propagation import MODEL_ITM
    from deadzone.kernels.itm import ItmSettings
    from deadzone.kernels.paths import PairRadio, pair_signals

    rng = np.random.default_rng(11)
    # two ridges on a 90 x 96 km grid of 300 m cells: paths in line of sight,
    # in diffraction and in troposcatter (ITM's three modes)
    yy, xx = np.mgrid[0:300, 0:320]
    dem = (200 + 900 * np.exp(-((xx - 160) / 6.0) ** 2) + 400 * np.exp(-((yy - 80) / 5.0) ** 2)
           + rng.normal(0, 10, xx.shape)).astype(np.float32)
    cell = 300.0
    n_t, n_v = 9, 160
    t_rc = np.column_stack([rng.uniform(1, 298, n_t), rng.uniform(1, 318, n_t)])
    v_rc = np.column_stack([rng.uniform(1, 298, n_v), rng.uniform(1, 318, n_v)])
    t_xy = np.column_stack([(t_rc[:, 1] + 0.5) * cell, -(t_rc[:, 0] + 0.5) * cell])
    v_xy = np.column_stack([(v_rc[:, 1] + 0.5) * cell, -(v_rc[:, 0] + 0.5) * cell])
    table = np.full((n_t, kp.R_SIZE), np.nan)
    table[:, kp.R_HEIGHT] = rng.uniform(10, 80, n_t)
    table[:, kp.R_FREQ] = rng.choice([450.0, 900.0, 1800.0, 2600.0], n_t)
    table[:, kp.R_EIRP] = 55.0
    table[:, kp.R_PATTERN] = -1.0
    table[::2, kp.R_AZIMUTH] = rng.uniform(0, 360, len(table[::2]))
    table[::2, kp.R_BEAMWIDTH] = 65.0
    table[::2, kp.R_TILT] = 3.0
    table[::2, kp.R_VBEAMWIDTH] = 10.0
    table[::2, kp.R_FRONT_TO_BACK] = 25.0
    radio = PairRadio(table, np.zeros((1, 360)), np.zeros((1, 360)))
    h_rx = rng.uniform(1.5, 12.0, n_v)
    # towers with many pairs (blocks of 16 and a remainder) and with one
    pt = np.concatenate([np.repeat(np.arange(n_t - 1), 37), [n_t - 1]])
    pv = rng.integers(0, n_v, pt.size)
    for itm in (ItmSettings(), ItmSettings(climate=1, pol=0, time_pct=90.0, location_pct=10.0,
                                           situation_pct=70.0, mdvar=1)):
        res = pair_signals(dem, cell_m=cell, tower_rc=t_rc, tower_xy=t_xy, radio=radio,
                           rx_rc=v_rc, rx_xy=v_xy, rx_height_m=h_rx, pair_tower=pt, pair_rx=pv,
                           model="itm", itm=itm)
        assert set(np.unique(res.mode)) == {1, 2, 3}
        n_max = int(res.intervals.max())
        z = np.empty(n_max + 1)
        dist = np.empty(n_max + 1)
        idx = np.empty((4, n_max + 1), dtype=np.int64)
        work = np.empty(2048)
        iv = np.empty(64)
        none = np.zeros(0, dtype=np.float32)
        for p in range(pt.size):
            t, v = pt[p], pv[p]
            o = np.full(kp.O_SIZE, np.nan)
            kp.one_pair(dem, none, 0, cell, t_rc[t], t_xy[t], table[t], radio.pattern_h_db,
                        radio.pattern_v_db, v_rc[v], v_xy[v], h_rx[v], MODEL_ITM, 4.0 / 3.0,
                        itm.as_array(), z, work, iv, dist, idx, o)
            got = [res.rx_dbm[p], res.loss_db[p], res.distance_m[p], res.mode[p],
                   res.free_space_db[p], res.knife_db[p], res.edge_distance_m[p],
                   res.edge_height_m[p], res.intervals[p], res.gain_db[p]]
            want = [o[kp.O_RX], o[kp.O_LOSS], o[kp.O_DIST], o[kp.O_MODE], o[kp.O_FREE],
                    o[kp.O_KNIFE], o[kp.O_EDGE_D], o[kp.O_EDGE_Z], o[kp.O_INTERVALS],
                    o[kp.O_GAIN]]
            np.testing.assert_array_equal(np.array(got, dtype=float), np.array(want),
                                          err_msg=str(p))
