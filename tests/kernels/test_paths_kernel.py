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

_DEMS = {
    shape: np.random.default_rng(sum(shape)).normal(300.0, 120.0, shape).astype(np.float32)
    for shape in [(40, 57), (1, 9), (7, 1), (2, 2)]
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_DEMS)), st.floats(-0.2, 1.2), st.floats(-0.2, 1.2),
       st.floats(-0.2, 1.2), st.floats(-0.2, 1.2), st.integers(2, 400))
def test_fast_sampler_equals_the_definition(shape, a, b, c, d, n):
    dem = _DEMS[shape]
    rows, cols = dem.shape
    # fractions of the grid, beyond it on both sides by a fifth of the grid
    r0, r1 = a * (rows - 1), c * (rows - 1)
    c0, c1 = b * (cols - 1), d * (cols - 1)
    want = np.empty(n + 1)
    got = np.full(n + 1, np.nan)
    kp.sample_path(dem, r0, c0, r1, c1, n, want)
    kp.sample_path_fast(dem, r0, c0, r1, c1, n, got, np.empty(n + 1, dtype=np.int64),
                        np.empty(n + 1))
    np.testing.assert_array_equal(got, want)


def test_fast_sampler_on_interior_corners():
    dem = _DEMS[(40, 57)]
    eps = np.nextafter(39.0, 0.0)
    for r0, c0, r1, c1 in [(0.0, 0.0, eps, np.nextafter(56.0, 0.0)), (eps, 0.0, 0.0, 3.5),
                           (12.25, 30.5, 12.25, 30.5)]:
        want = np.empty(101)
        got = np.empty(101)
        kp.sample_path(dem, r0, c0, r1, c1, 100, want)
        kp.sample_path_fast(dem, r0, c0, r1, c1, 100, got, np.empty(101, dtype=np.int64),
                            np.empty(101))
        np.testing.assert_array_equal(got, want)


_SHAPES = [(40, 57), (16, 16), (17, 33), (3, 70)]
_TILED = {shape: kp.tile_dem(np.random.default_rng(len(shape) + shape[0]).normal(
    300.0, 120.0, shape).astype(np.float32)) for shape in _SHAPES}


def test_tiled_layout_holds_every_height():
    for shape, (tiles, t_cols) in _TILED.items():
        dem = np.random.default_rng(len(shape) + shape[0]).normal(
            300.0, 120.0, shape).astype(np.float32)
        rows, cols = shape
        for r in range(rows):
            for c in range(cols):
                i = ((r // kp.TILE) * t_cols + c // kp.TILE) * kp.TILE**2 \
                    + (r % kp.TILE) * kp.TILE + c % kp.TILE
                assert tiles[i] == dem[r, c]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_SHAPES), st.floats(-0.2, 1.2), st.floats(-0.2, 1.2),
       st.floats(-0.2, 1.2), st.floats(-0.2, 1.2), st.integers(2, 400))
def test_tiled_sampler_equals_the_definition(shape, a, b, c, d, n):
    dem = np.random.default_rng(len(shape) + shape[0]).normal(
        300.0, 120.0, shape).astype(np.float32)
    tiles, t_cols = _TILED[shape]
    rows, cols = dem.shape
    r0, r1 = a * (rows - 1), c * (rows - 1)
    c0, c1 = b * (cols - 1), d * (cols - 1)
    want = np.empty(n + 1)
    got = np.full(n + 1, np.nan)
    kp.sample_path(dem, r0, c0, r1, c1, n, want)
    kp.sample_path_tiled(dem, tiles, t_cols, r0, c0, r1, c1, n, got,
                         np.empty((4, n + 1), dtype=np.int64), np.empty(n + 1))
    np.testing.assert_array_equal(got, want)
