"""The page's coverage image: precomputed warp == rasterio's nearest warp; block-mean rule."""

from __future__ import annotations

import io

import numpy as np
import pytest
from affine import Affine
from PIL import Image
from rasterio.crs import CRS
from rasterio.warp import Resampling, reproject, transform_bounds

from deadzone.errors import ParameterError
from deadzone.web.overlay import CoverageImage, _block_mean, legend_html

T = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 2_400_000.0)
UTM48 = "EPSG:32648"


def _index(png: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(png))
    assert im.mode == "P" and im.info.get("transparency") == 255
    return np.asarray(im)


def test_matches_rasterio_nearest_warp() -> None:
    rng = np.random.default_rng(0)
    rx = rng.uniform(-140.0, -50.0, size=(300, 240)).astype(np.float32)
    rx[:40, :] = np.nan
    img = CoverageImage(rx.shape, T, UTM48, max_px=400, vmin=-130.0, vmax=-60.0)
    got = _index(img.render(rx))
    assert got.shape == img.size and max(img.size) <= 400
    # peer: rasterio's nearest-neighbour warp onto the same Web Mercator grid
    (s, w), (n, e) = img.bounds
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", "EPSG:3857", w, s, e, n)
    h, wd = img.size
    dst = np.full((h, wd), np.nan, dtype=np.float32)
    reproject(
        rx,
        dst,
        src_transform=T,
        src_crs=CRS.from_string(UTM48),
        src_nodata=np.nan,
        dst_transform=Affine((x1 - x0) / wd, 0, x0, 0, -(y1 - y0) / h, y1),
        dst_crs=CRS.from_epsg(3857),
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    want = np.full(dst.shape, 255, dtype=np.uint8)
    fin = np.isfinite(dst)
    want[fin] = np.clip(np.rint((dst[fin] + 130.0) / 70.0 * 254.0), 0, 254)
    assert np.mean(got == want) > 0.995  # equal but where a pixel centre sits on a cell edge
    assert (got == 255).any() and (got < 255).any()


def test_transparent_without_signal_and_scale_ends() -> None:
    img = CoverageImage((100, 100), T, UTM48, max_px=64, vmin=-130.0, vmax=-60.0)
    assert (_index(img.render(np.full((100, 100), np.nan, np.float32))) == 255).all()
    assert (_index(img.render(np.full((100, 100), -np.inf, np.float32))) == 255).all()
    hot = _index(img.render(np.full((100, 100), -20.0, np.float32)))
    assert set(np.unique(hot)) <= {254, 255} and (hot == 254).sum() > 0.9 * hot.size
    cold = _index(img.render(np.full((100, 100), -200.0, np.float32)))
    assert set(np.unique(cold)) <= {0, 255}
    (s, w), (n, e) = img.bounds
    assert s < n and w < e and 104.9 < w < 105.1 and 21.6 < s < 21.8
    with pytest.raises(ParameterError, match="shape"):
        img.render(np.zeros((10, 10), np.float32))
    with pytest.raises(ParameterError, match="vmin"):
        CoverageImage((10, 10), T, UTM48, max_px=64, vmin=-60.0, vmax=-60.0)


def test_block_mean_needs_half_the_cells() -> None:
    a = np.full((4, 4), np.nan, dtype=np.float32)
    a[0, 0] = -80.0  # 1 of 4 cells: no signal
    a[0, 2:4] = [-90.0, -70.0]  # 2 of 4: mean
    a[2:4, 2:4] = -100.0
    out = _block_mean(a, 2)
    assert np.isnan(out[0, 0]) and out[0, 1] == -80.0 and out[1, 1] == -100.0
    assert np.isnan(out[1, 0])
    # ragged edge: a 3x3 grid in 2x2 blocks; the corner block holds one cell
    b = np.full((3, 3), -90.0, dtype=np.float32)
    assert np.array_equal(_block_mean(b, 2), np.full((2, 2), -90.0, np.float32))


def test_legend_escapes_labels() -> None:
    text = legend_html(-100.0, -110.0, -130.0, -60.0, {"dead": "<b>dead</b> & gone"})
    assert "&lt;b&gt;dead&lt;/b&gt; &amp; gone" in text and "<b>dead" not in text
    assert "covered: &ge; -100 dBm" in text
