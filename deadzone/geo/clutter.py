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
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from rasterio.crs import CRS

from deadzone.errors import CRSError, DataLoadError, ParameterError

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "WINDOW_WORK_BYTES",
    "WORLDCOVER",
    "ClutterCategory",
    "category_codes",
    "clutter_loss_db",
    "landcover_window",
    "loss_table_db",
    "load_landcover",
    "open_landcover",
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
#: Category names in code order (``CATEGORY_NAMES[code]``).
CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
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
    22.58
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


#: DEM cells resampled at once by :func:`landcover_window` (bounds its temporaries).
_CHUNK_CELLS = 2**14
#: Largest land-cover window (bytes) :func:`landcover_window` reads at once.
_READ_BYTES = 2**21
#: Bound on the memory :func:`landcover_window` uses beside its output (bytes):
#: about 160 bytes of coordinates, indices and values per cell of a chunk,
#: plus one land-cover read.
WINDOW_WORK_BYTES = _CHUNK_CELLS * 160 + _READ_BYTES


#: GeoTIFF tag (and its value) of a land-cover raster whose class values are
#: P.2108 category codes (:data:`CATEGORIES` order), read without a mapping.
P2108_CLASSES_TAG = "DEADZONE_CLASSES"
P2108_CLASSES = "ITU-R P.2108-1 categories"


def category_codes(mapping: Mapping[int, str] | None) -> dict[int, int]:
    """Land-cover class value -> P.2108 category code (index into :data:`CATEGORIES`).

    ``mapping`` maps class values to category names (default
    :data:`WORLDCOVER`); a name that is not a category is a
    :class:`~deadzone.errors.ParameterError`.
    """
    table = dict(WORLDCOVER if mapping is None else mapping)
    for v, name in table.items():
        if name not in _CODE:
            raise ParameterError(f"clutter mapping: class {v} -> {name!r}; expected one of "
                                 f"{list(_CODE)}")
    return {v: _CODE[name] for v, name in table.items()}


def open_landcover(path: str | Path) -> DatasetReader:
    """Open a land-cover raster for :func:`landcover_window` (the caller closes it).

    Raises
    ------
    DataLoadError
        Not a raster rasterio reads.
    CRSError
        The raster has no CRS.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    p = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(p)
        except rasterio.errors.RasterioIOError as exc:
            msg = " ".join(str(exc).split())
            raise DataLoadError(f"{p}: not a readable land-cover raster ({msg})") from None
    if src.crs is None or not src.crs.to_wkt():
        src.close()
        raise CRSError(f"{p}: land-cover raster has no CRS")
    return src


def landcover_window(
    src: Any,
    dem: Any,
    row0: int,
    col0: int,
    rows: int,
    cols: int,
    *,
    mapping: Mapping[int, str] | None = None,
) -> npt.NDArray[np.uint8]:
    """P.2108 category codes of DEM rows ``row0:row0+rows``, cols ``col0:col0+cols``.

    Nearest-neighbour resampling of the land-cover raster onto the DEM grid:
    each DEM cell takes the class of the land-cover cell that holds its
    centre.  The centre is computed from the cell's index in the whole grid
    (``dem.transform @ (col + 0.5, row + 0.5)``, then projected to the
    land-cover CRS point by point), so a window gives exactly the same codes
    as the same cells of the whole grid (:func:`load_landcover`), whatever
    the window; the land-cover raster is read in small windows (at most
    :data:`WINDOW_WORK_BYTES` of work memory besides the output).

    Parameters
    ----------
    src : rasterio dataset
        The land-cover raster, open (:func:`open_landcover`); band 1 is read.
    dem : Dem or DiskDem
        The grid: ``shape``, ``transform`` and ``crs`` (any CRS).
    row0, col0, rows, cols : int
        The window (cells); it must lie inside ``dem.shape``.
    mapping : mapping of int to str, optional
        Land-cover class value -> P.2108 category name (default
        :data:`WORLDCOVER`).  Cells on nodata or outside the raster get
        category ``none`` (no clutter loss); a class value found but not in
        the mapping is an error naming it.

    Returns
    -------
    ndarray of uint8, shape (rows, cols)

    Raises
    ------
    DataLoadError
        Class values without a category (the file and the values named).
    ParameterError
        A bad mapping, or a window outside the grid.
    """
    from rasterio.windows import Window

    if mapping is None and src.tags().get(P2108_CLASSES_TAG) == P2108_CLASSES:
        mapping = dict(enumerate(CATEGORY_NAMES))  # deadzone's own classes
    table = category_codes(mapping)
    shape = (int(dem.shape[0]), int(dem.shape[1]))
    if not (0 <= row0 and 0 <= col0 and rows > 0 and cols > 0
            and row0 + rows <= shape[0] and col0 + cols <= shape[1]):
        raise ParameterError(f"window ({row0}, {col0}, {rows}, {cols}) is outside the grid "
                             f"{shape}")
    to_src = None
    if CRS.from_user_input(src.crs) != CRS.from_user_input(dem.crs):
        from pyproj import CRS as ProjCRS
        from pyproj import Transformer

        to_src = Transformer.from_crs(ProjCRS.from_wkt(dem.crs.to_wkt()),
                                      ProjCRS.from_wkt(src.crs.to_wkt()), always_xy=True)
    t = dem.transform
    inv = ~src.transform
    nodata = src.nodata
    itemsize = np.dtype(src.dtypes[0]).itemsize
    out = np.zeros((rows, cols), dtype=np.uint8)
    unknown: set[int | float] = set()
    band_rows = max(1, _CHUNK_CELLS // cols)
    piece = min(cols, _CHUNK_CELLS)
    todo = [(r, c, min(band_rows, rows - r), min(piece, cols - c))
            for r in range(0, rows, band_rows) for c in range(0, cols, piece)]
    while todo:
        r, c, h, w = todo.pop()
        cc, rr = np.meshgrid(np.arange(col0 + c, col0 + c + w) + 0.5,
                             np.arange(row0 + r, row0 + r + h) + 0.5)
        x = t.a * cc + t.b * rr + t.c
        y = t.d * cc + t.e * rr + t.f
        del cc, rr
        if to_src is not None:
            x, y = to_src.transform(x, y)
        sc = inv.a * x + inv.b * y + inv.c
        sr = inv.d * x + inv.e * y + inv.f
        del x, y
        with np.errstate(invalid="ignore"):
            inside = ((sc >= 0) & (sc < src.width) & (sr >= 0) & (sr < src.height))
        if not inside.any():
            continue
        ic = np.floor(sc[inside]).astype(np.int64)
        ir = np.floor(sr[inside]).astype(np.int64)
        del sc, sr
        a0, b0 = int(ir.min()), int(ic.min())
        a1, b1 = int(ir.max()) + 1, int(ic.max()) + 1
        if (a1 - a0) * (b1 - b0) * itemsize > _READ_BYTES and h * w > 1:
            # Finer land cover than the grid: split the chunk, read less at once.
            if h > 1 and (h >= w or w == 1):
                todo += [(r, c, h // 2, w), (r + h // 2, c, h - h // 2, w)]
            else:
                todo += [(r, c, h, w // 2), (r, c + w // 2, h, w - w // 2)]
            continue
        block = src.read(1, window=Window(b0, a0, b1 - b0, a1 - a0))
        values = block[ir - a0, ic - b0]
        del block, ir, ic
        valid = np.ones(values.shape, dtype=bool)
        if np.issubdtype(values.dtype, np.floating):
            valid &= np.isfinite(values)
        if nodata is not None and not math.isnan(nodata):
            valid &= values != nodata
        classes, where = np.unique(values[valid], return_inverse=True)
        codes = np.zeros(len(classes), dtype=np.uint8)
        for k, v in enumerate(classes.tolist()):
            if v in table:
                codes[k] = table[v]
            else:
                unknown.add(v)
        cell = np.zeros(values.shape, dtype=np.uint8)
        cell[valid] = codes[where.reshape(-1)]
        out[r:r + h, c:c + w][inside] = cell
    if unknown:
        raise DataLoadError(f"{src.name}: land-cover class value(s) {sorted(unknown)[:10]} have "
                            "no clutter category; give a mapping")
    return out


def load_landcover(path: str | Path, dem: object, *,
                   mapping: Mapping[int, str] | None = None) -> npt.NDArray[np.uint8]:
    """Land-cover raster resampled (nearest) onto the DEM grid, as P.2108 category codes.

    :func:`landcover_window` over the whole grid (the windowed coverage of
    :mod:`deadzone.geo.tiled` reads the same codes window by window).

    Parameters
    ----------
    path : str or Path
        Any raster rasterio reads (e.g. an ESA WorldCover tile), with a CRS.
    dem : Dem
        The grid to match (:class:`deadzone.model.dem.Dem`).
    mapping : mapping of int to str, optional
        Land-cover class value -> P.2108 category name (default
        :data:`WORLDCOVER`).  Cells with nodata or outside the raster get
        category ``none`` (no clutter loss); a class value present in the
        raster but not in the mapping is an error naming it.

    Returns
    -------
    ndarray of uint8, the DEM's shape
    """
    category_codes(mapping)  # a bad mapping fails before the file is opened
    rows, cols = dem.shape  # type: ignore[attr-defined]
    with open_landcover(path) as src:
        return landcover_window(src, dem, 0, 0, int(rows), int(cols), mapping=mapping)
