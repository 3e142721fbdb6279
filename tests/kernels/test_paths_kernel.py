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
