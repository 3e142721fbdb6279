"""The DEM warp kernel equals the array reference it replaced, bit for bit.

The reference below is the NumPy code ``load_dem`` ran before the kernel
(source positions bilinear in a lattice of exactly projected nodes, then a
separable tent filter that leaves NaN cells out), kept here as the
definition the kernel must reproduce.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels.resample import edge_connected, warp_tent

K = 16


def _positions_ref(col_nodes, row_nodes, i0, j0, r0, c0, h, w, src_shape):
    rows = np.arange(r0, r0 + h, dtype=np.int64)
    cols = np.arange(c0, c0 + w, dtype=np.int64)
    i = rows // K
    j = cols // K
    ti = ((rows - i * K) / K)[:, None]
    tj = ((cols - j * K) / K)[None, :]
    ii = i - i0
    jj = j - j0
    out = []
    for nodes in (col_nodes, row_nodes):
        a = nodes[np.ix_(ii, jj)]
        b = nodes[np.ix_(ii, jj + 1)]
        c = nodes[np.ix_(ii + 1, jj)]
        d = nodes[np.ix_(ii + 1, jj + 1)]
        out.append((1.0 - ti) * ((1.0 - tj) * a + tj * b) + ti * ((1.0 - tj) * c + tj * d))
    col_f, row_f = out
    height, width = src_shape
    inside = (np.isfinite(col_f) & np.isfinite(row_f) & (col_f >= 0) & (col_f < width)
              & (row_f >= 0) & (row_f < height))
    col_f[~inside] = np.nan
    row_f[~inside] = np.nan
    return col_f, row_f


def _tent_ref(values, col_f, row_f, col_off, row_off, kernel_x, kernel_y):
    h, w = values.shape
    ok = np.isfinite(col_f) & np.isfinite(row_f)
    u = np.where(ok, col_f - 0.5, 0.0)
    v = np.where(ok, row_f - 0.5, 0.0)
    u0 = np.floor(u).astype(np.int64)
    v0 = np.floor(v).astype(np.int64)
    kx, ky = math.ceil(kernel_x), math.ceil(kernel_y)
    total = np.zeros(u.shape)
    wsum = np.zeros(u.shape)
    for dy in range(1 - ky, ky + 1):
        rr = v0 + dy
        wy = np.maximum(0.0, 1.0 - np.abs(v - rr) / kernel_y)
        lr = rr - row_off
        okr = ok & (lr >= 0) & (lr < h)
        lr = np.clip(lr, 0, h - 1)
        for dx in range(1 - kx, kx + 1):
            cc = u0 + dx
            wx = np.maximum(0.0, 1.0 - np.abs(u - cc) / kernel_x)
            lc = cc - col_off
            okc = okr & (lc >= 0) & (lc < w)
            val = values[lr, np.clip(lc, 0, w - 1)].astype(np.float64)
            wgt = np.where(okc & np.isfinite(val), wx * wy, 0.0)
            total += np.where(wgt > 0.0, val, 0.0) * wgt
            wsum += wgt
    out = np.full(u.shape, np.nan, dtype=np.float32)
    good = wsum > 0.0
    out[good] = (total[good] / wsum[good]).astype(np.float32)
    return out


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.sampled_from([(1.0, 1.0), (2.5, 1.7), (3.0, 3.0)]),
    nan_frac=st.sampled_from([0.0, 0.05, 0.5]),
    r0=st.integers(0, 40),
    c0=st.integers(0, 40),
)
def test_warp_tent_equals_array_reference(seed, kernel, nan_frac, r0, c0) -> None:
    rng = np.random.default_rng(seed)
    src_shape = (90, 110)
    # a window of the source (offset), holes, and positions that leave it at the edges
    row_off, col_off = 5, 7
    values = rng.normal(500.0, 200.0, (70, 95)).astype(np.float32)
    values[rng.random(values.shape) < nan_frac] = np.nan
    void = rng.random(values.shape) < 0.1
    h, w = 37, 45
    i0, j0 = r0 // K, c0 // K
    ni = (r0 + h - 1) // K - i0 + 2
    nj = (c0 + w - 1) // K - j0 + 2
    # a smooth, slightly rotated and scaled mapping plus noise; some nodes off the source
    ii, jj = np.meshgrid(np.arange(i0, i0 + ni) * K + 0.5, np.arange(j0, j0 + nj) * K + 0.5,
                         indexing="ij")
    col_nodes = 0.8 * jj + 0.1 * ii - 3.0 + rng.normal(0, 0.3, ii.shape)
    row_nodes = 0.9 * ii - 0.05 * jj + 2.0 + rng.normal(0, 0.3, ii.shape)
    if seed % 5 == 0:
        col_nodes[0, 0] = np.nan
    got, vm = warp_tent(values, void, lattice_col=col_nodes, lattice_row=row_nodes,
                        lattice_origin=(i0, j0), lattice_step=K, target_origin=(r0, c0),
                        target_shape=(h, w), source_shape=src_shape,
                        window_origin=(row_off, col_off), kernel_x=kernel[0], kernel_y=kernel[1])
    col_f, row_f = _positions_ref(col_nodes, row_nodes, i0, j0, r0, c0, h, w, src_shape)
    want = _tent_ref(values, col_f, row_f, col_off, row_off, *kernel)
    assert got.tobytes() == want.tobytes()
    inside = np.isfinite(col_f)
    rr = np.floor(row_f[inside]).astype(np.int64) - row_off
    cc = np.floor(col_f[inside]).astype(np.int64) - col_off
    okv = (rr >= 0) & (rr < values.shape[0]) & (cc >= 0) & (cc < values.shape[1])
    want_vm = np.zeros((h, w), dtype=bool)
    want_vm[inside] = np.where(okv, void[np.clip(rr, 0, 69), np.clip(cc, 0, 94)], False)
    assert np.array_equal(vm, want_vm)


def test_warp_tent_rejects_a_short_lattice() -> None:
    with pytest.raises(ParameterError, match="lattice does not cover"):
        warp_tent(np.zeros((4, 4), np.float32), np.zeros((4, 4), bool),
                  lattice_col=np.zeros((1, 1)), lattice_row=np.zeros((1, 1)),
                  lattice_origin=(0, 0), lattice_step=K, target_origin=(0, 0),
                  target_shape=(4, 4), source_shape=(4, 4), window_origin=(0, 0),
                  kernel_x=1.0, kernel_y=1.0)


def _edge_components(mask: np.ndarray) -> np.ndarray:
    """The definition: scipy's 4-connected components that touch the edge."""
    from scipy import ndimage

    labels, _ = ndimage.label(mask)
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    edge = np.unique(edge[edge > 0])
    return np.isin(labels, edge) if edge.size else np.zeros(mask.shape, dtype=bool)


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_edge_connected_equals_scipy_components(h: int, w: int, p: float, seed: int) -> None:
    mask = np.random.default_rng(seed).random((h, w)) < p
    np.testing.assert_array_equal(edge_connected(mask), _edge_components(mask))


def test_edge_connected_large_components_and_diagonals() -> None:
    # near the percolation threshold (p ~ 0.59): long winding components
    rng = np.random.default_rng(7)
    for p in (0.55, 0.6, 0.65):
        m = rng.random((300, 400)) < p
        np.testing.assert_array_equal(edge_connected(m), _edge_components(m))
    # a diagonal touch is no connection (4-connectivity)
    diag = np.zeros((5, 5), dtype=bool)
    diag[0, 0] = diag[1, 1] = True
    want = np.zeros((5, 5), dtype=bool)
    want[0, 0] = True
    np.testing.assert_array_equal(edge_connected(diag), want)
    with pytest.raises(ParameterError):
        edge_connected(np.zeros(3, dtype=bool))
