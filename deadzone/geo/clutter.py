"""Terminal clutter loss from a land-cover raster (ITU-R P.2108-1 §3.1).

P.2108 §3.1 ("height gain terminal correction model") gives the extra loss
of a terminal of height ``h`` standing in clutter of representative height
``R`` (Table 2):

* ``h >= R``: no clutter loss;
* eq. (2a), urban / suburban / trees / dense urban:
  ``A_h = J(nu) - 6.03`` with ``nu = K_nu sqrt(h_dif theta_clut)``,
  ``K_nu = 0.342 sqrt(f_GHz)``, ``h_dif = R - h`` and
  ``theta_clut = atan(h_dif / w_s)`` in degrees, street width ``w_s = 27 m``;
  ``J`` the knife-edge loss of ITU-R P.526 eq. (31);
* eq. (2b), open/rural and water: ``A_h = -K_h2 log10(h / R)`` with
  ``K_h2 = 21.8 + 6.2 log10(f_GHz)``.

The recommendation is stated for 0.03-3 GHz.  As P.2108 intends, the
propagation model carries the path to the top of the clutter: a cell in
clutter of height R above the handset height h gets its loss computed for a
receiver at R (:func:`rx_height_grid`, passed to the sweep), then ``A_h`` is
added (:func:`loss_table_db`).  Towers stand above their clutter, so only
the receiving end is corrected.  Land-cover classes map to the P.2108
categories through a table (default: ESA WorldCover codes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from deadzone.errors import DataLoadError, ParameterError

__all__ = [
    "CATEGORIES",
    "WORLDCOVER",
    "ClutterCategory",
    "clutter_loss_db",
    "loss_table_db",
    "load_landcover",
    "rx_height_grid",
]

STREET_WIDTH_M = 27.0


@dataclass(frozen=True)
class ClutterCategory:
    """One P.2108 Table 2 clutter type: representative height and equation."""

    name: str
    height_m: float
    diffraction: bool  # True: eq. (2a); False: eq. (2b)


#: P.2108-1 Table 2, in category-code order (code 0 = no clutter).
CATEGORIES: tuple[ClutterCategory, ...] = (
    ClutterCategory("none", 0.0, False),
    ClutterCategory("water-sea", 10.0, False),
    ClutterCategory("open-rural", 10.0, False),
    ClutterCategory("suburban", 10.0, True),
    ClutterCategory("urban-trees-forest", 15.0, True),
    ClutterCategory("dense-urban", 20.0, True),
)
_CODE = {c.name: i for i, c in enumerate(CATEGORIES)}

#: ESA WorldCover 2020/2021 class codes -> P.2108 category names.
WORLDCOVER: dict[int, str] = {
    10: "urban-trees-forest",  # tree cover
    20: "open-rural",  # shrubland
    30: "open-rural",  # grassland
    40: "open-rural",  # cropland (rice paddies)
    50: "urban-trees-forest",  # built-up
    60: "open-rural",  # bare / sparse vegetation
    70: "open-rural",  # snow and ice
    80: "water-sea",  # permanent water bodies
    90: "open-rural",  # herbaceous wetland
    95: "urban-trees-forest",  # mangroves
    100: "open-rural",  # moss and lichen
}


def _knife_j(nu: float) -> float:
    """ITU-R P.526-15 eq. (31), 0 for nu <= -0.78."""
    if nu <= -0.78:
        return 0.0
    return 6.9 + 20.0 * math.log10(math.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)


def clutter_loss_db(category: str, *, freq_mhz: float, rx_height_m: float) -> float:
    """Clutter loss (dB) of a receiver of ``rx_height_m`` in ``category`` (P.2108 §3.1).

    Examples
    --------
    >>> round(clutter_loss_db("urban-trees-forest", freq_mhz=900, rx_height_m=1.5), 2)
    19.53
    """
    if category not in _CODE:
        raise ParameterError(f"clutter category was {category!r}; expected one of {list(_CODE)}")
    if not (rx_height_m > 0.0):
        raise ParameterError(f"rx_height_m was {rx_height_m}; expected > 0 m")
    if not (30.0 <= freq_mhz <= 100_000.0):
        raise ParameterError(f"freq_mhz was {freq_mhz}; expected 30..100000 MHz")
    cat = CATEGORIES[_CODE[category]]
    if rx_height_m >= cat.height_m:
        return 0.0
    f_ghz = freq_mhz / 1000.0
    if cat.diffraction:
        h_dif = cat.height_m - rx_height_m
        theta_deg = math.degrees(math.atan(h_dif / STREET_WIDTH_M))
        nu = 0.342 * math.sqrt(f_ghz) * math.sqrt(h_dif * theta_deg)
        return _knife_j(nu) - 6.03
    k_h2 = 21.8 + 6.2 * math.log10(f_ghz)
    return -k_h2 * math.log10(rx_height_m / cat.height_m)


def loss_table_db(*, freq_mhz: float, rx_height_m: float) -> npt.NDArray[np.float32]:
    """Loss (dB) per category code, for indexing a category raster."""
    return np.array(
        [clutter_loss_db(c.name, freq_mhz=freq_mhz, rx_height_m=rx_height_m)
         if c.height_m > 0 else 0.0 for c in CATEGORIES],
        dtype=np.float32,
    )


def rx_height_grid(categories: npt.NDArray[np.uint8], *,
                   rx_height_m: float) -> npt.NDArray[np.float32]:
    """Receiver height per cell for the propagation model: max(handset, clutter height)."""
    heights = np.array([c.height_m for c in CATEGORIES], dtype=np.float32)
    if categories.size and int(categories.max()) >= len(CATEGORIES):
        raise ParameterError(f"clutter category code {int(categories.max())} is unknown")
    return np.maximum(heights[categories], np.float32(rx_height_m))


def load_landcover(path: str | Path, dem: object, *,
                   mapping: Mapping[int, str] | None = None) -> npt.NDArray[np.uint8]:
    """Land-cover raster resampled (nearest) onto the DEM grid, as P.2108 category codes.

    Parameters
    ----------
    path : str or Path
        Any raster rasterio reads (e.g. an ESA WorldCover tile).
    dem : Dem
        The grid to match (:class:`deadzone.geo.raster.Dem`).
    mapping : mapping of int to str, optional
        Land-cover class value -> P.2108 category name (default
        :data:`WORLDCOVER`).  Cells with nodata or outside the raster get
        category ``none`` (no clutter loss); a class value present in the
        raster but not in the mapping is an error naming it.

    Returns
    -------
    ndarray of uint8, the DEM's shape
    """
    import rasterio
    from rasterio.warp import Resampling, reproject

    table = dict(WORLDCOVER if mapping is None else mapping)
    for v, name in table.items():
        if name not in _CODE:
            raise ParameterError(f"clutter mapping: class {v} -> {name!r}; expected one of "
                                 f"{list(_CODE)}")
    p = Path(path)
    try:
        src = rasterio.open(p)
    except rasterio.errors.RasterioIOError as exc:
        raise DataLoadError(f"{p}: not a readable land-cover raster ({exc})") from None
    with src:
        nodata = src.nodata
        dst = np.full(dem.shape, -1, dtype=np.int32)  # type: ignore[attr-defined]
        reproject(
            source=rasterio.band(src, 1), destination=dst, src_nodata=nodata, dst_nodata=-1,
            dst_transform=dem.transform, dst_crs=dem.crs,  # type: ignore[attr-defined]
            resampling=Resampling.nearest,
        )
    out = np.zeros(dst.shape, dtype=np.uint8)
    values = np.unique(dst)
    unknown = [int(v) for v in values if v != -1 and int(v) not in table]
    if unknown:
        raise DataLoadError(f"{p}: land-cover class value(s) {unknown[:10]} have no clutter "
                            "category; give a mapping")
    for v, name in table.items():
        out[dst == v] = _CODE[name]
    return out
