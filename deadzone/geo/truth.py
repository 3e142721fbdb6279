"""Synthetic ground truth: drive-test measurements with known errors (issue #19).

A :class:`SyntheticTruth` is "the world as it is" for a scenario: the engine's
own prediction (exact tower -> point paths, :func:`deadzone.geo.paths.village_signals`,
as :func:`deadzone.geo.audit.audit` computes it) plus errors whose size is
known, so that a calibration fitted on its measurements can be checked
against the numbers the truth was built from:

``true = predicted + offsets_db[tech] + clutter_offsets_db[class]
+ slope_db_per_decade * log10(d / 1 km) + shadowing``

* ``predicted``: the technology's audit metric (2G level, 3G RSCP, 4G/5G
  RSRP, dBm) from the serving tower, the tower of that technology with the
  best true metric (the best predicted one whenever the slope is 0);
* ``class``: the P.2108 clutter category of the point's cell in the land
  cover (:func:`demo_landcover` unless one is given);
* ``d``: horizontal distance from the serving tower (at least 10 m);
* ``shadowing``: a stationary Gaussian field of standard deviation
  ``sigma_db`` with exponential autocorrelation ``exp(-d / decorrelation_m)``
  (Gudmundson 1991, "Correlation model for shadow fading in mobile radio
  systems", Electronics Letters 27(23)), synthesised as a sum of cosine modes
  (:mod:`deadzone.kernels.fields`), a deterministic function of position.

A measurement (:meth:`SyntheticTruth.drive`) is the true value plus receiver
noise (Gaussian, ``noise_db``, independent per sample) rounded to 1 dB, so a
calibration sees residuals of standard deviation
``sqrt(sigma_db^2 + noise_db^2 + 1/12)`` (:attr:`SyntheticTruth.residual_sigma_db`).

One shadowing field per position
--------------------------------
Shadowing is one field of position, shared by every tower and technology,
not one field per link.  Shadowing comes mostly from the clutter and terrain
around the receiver, which all links of a point share (measured
inter-site correlations are about 0.5 and more for co-sited cells); with one
field the serving tower is the same with and without shadowing (every tower
of a technology moves by the same dB), so the serving tower in a measurement
is the one the engine predicts, and the residual ``measured - predicted`` of
a sample is ``offset + shadowing + noise`` exactly, no bias from picking the
best of several independently faded links.  This is what a calibration sees
as a single residual sigma.

Measurements below the receiver's sensitivity (:data:`SENSITIVITY_DBM`, the
bottom of the 3GPP reporting ranges) are "no service" and not emitted; the
selection is on the true value, so near the sensitivity the emitted samples
lean to positive shadowing (a real drive test's censoring, too).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy import ndimage

from deadzone.data.io import atomic_path
from deadzone.errors import ParameterError
from deadzone.geo.clutter import CATEGORIES, P2108_CLASSES, P2108_CLASSES_TAG
from deadzone.geo.coverage import (
    EngineParams,
    TowerGrid,
    coverage_parameters,
    towers_on_grid,
)
from deadzone.geo.paths import village_points, village_signals
from deadzone.kernels.fields import cosine_sum, exponential_modes
from deadzone.kernels.paths import fold_pairs
from deadzone.model.dem import Dem
from deadzone.model.geometry import representative_points
from deadzone.model.scenario import Scenario
from deadzone.model.schema import (
    MEASUREMENT_COLUMNS,
    METRICS,
    SENSITIVITY_DBM,
    TECHS,
    TOP_REPORTED_DBM,
)
from deadzone.model.thresholds import Thresholds, coverage_class

__all__ = [
    "DRIVE_START",
    "MEASUREMENT_COLUMNS",
    "METRICS",
    "P2108_MAPPING",
    "SENSITIVITY_DBM",
    "PointTruth",
    "Shadowing",
    "SyntheticTruth",
    "demo_landcover",
    "write_landcover",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Start of every synthetic drive: 08:00 in Vietnam (UTC+7).
DRIVE_START = pd.Timestamp("2026-03-02T01:00:00", tz="UTC")
#: Land-cover value -> P.2108 category name of :func:`write_landcover`'s files
#: (the values are the category codes), the ``mapping`` to read them with.
P2108_MAPPING: dict[int, str] = {i: c.name for i, c in enumerate(CATEGORIES)}
#: Cosine modes of the shadowing field (see :mod:`deadzone.kernels.fields`).
N_MODES = 1024
#: Measurement resolution (dB).
QUANTUM_DB = 1.0
#: The distance of the slope term is at least this (m).
MIN_SLOPE_DISTANCE_M = 10.0
#: Points evaluated at once (bounds the per-pair arrays, ~100 B a pair).
CHUNK_POINTS = 50_000

_CODE = {c.name: i for i, c in enumerate(CATEGORIES)}
_SUBURBAN, _FOREST, _DENSE = _CODE["suburban"], _CODE["urban-trees-forest"], _CODE["dense-urban"]
_OPEN = _CODE["open-rural"]


# --- land cover -------------------------------------------------------------------------

#: Share of the land the demo land cover puts under forest (before villages).
FOREST_SHARE = 0.45
#: Smoothing (m) of the noise that shapes forest patches: a broad and a fine scale.
PATCH_SCALES_M = (300.0, 90.0)
#: Smoothing (m) of the slope, so that forest edges follow hillsides, not single cells.
SLOPE_SMOOTH_M = 90.0
#: Radius (m) of a village's suburban patch: base + per sqrt(person), clipped.
VILLAGE_RADIUS_M = (100.0, 6.0, 150.0, 450.0)
#: Villages in the top share by population get a dense-urban core of a third the radius.
DENSE_SHARE = 0.03


def demo_landcover(scenario: Scenario, *, seed: int = 0) -> npt.NDArray[np.uint8]:
    """A synthetic land cover on the scenario's DEM grid, as P.2108 category codes.

    Forest (``urban-trees-forest``) on steep and high ground, in patches of a
    few hundred metres (smoothed noise, thresholded so that
    :data:`FOREST_SHARE` of the land is forest); ``suburban`` within 150-450 m
    of every village (more for larger villages, the edge roughened by the
    noise), with a ``dense-urban`` core at the largest :data:`DENSE_SHARE` of
    villages; ``open-rural`` (fields, paddies, scrub) elsewhere.  Codes index
    :data:`deadzone.geo.clutter.CATEGORIES`.

    Parameters
    ----------
    scenario : Scenario
        The DEM (metric CRS) and the villages (any CRS).
    seed : int
        Seed of the noise; the same seed gives the same array.

    Returns
    -------
    ndarray of uint8, the DEM's shape
    """
    dem = scenario.dem
    z = np.asarray(dem.elevation_m, dtype=np.float64)
    rng = np.random.default_rng(seed)
    cell = math.sqrt(dem.cell_w_m * dem.cell_h_m)
    gy, gx = np.gradient(z, dem.cell_h_m, dem.cell_w_m)
    slope = ndimage.gaussian_filter(np.clip(np.hypot(gx, gy) / 0.6, 0.0, 1.0),
                                    SLOPE_SMOOTH_M / cell)
    span = float(z.max() - z.min())
    height = (z - z.min()) / span if span > 0 else np.zeros_like(z)
    noise = np.zeros_like(z)
    for scale_m, weight in zip(PATCH_SCALES_M, (0.8, 0.2), strict=True):
        n = ndimage.gaussian_filter(rng.standard_normal(z.shape), scale_m / cell, mode="wrap")
        noise += weight * n / n.std()
    score = 1.2 * slope + 1.0 * height + 0.35 * noise
    out = np.full(z.shape, _OPEN, dtype=np.uint8)
    out[score >= np.quantile(score, 1.0 - FOREST_SHARE)] = _FOREST

    vil = scenario.villages
    rep = representative_points(vil.geometry.to_crs(dem.crs))
    x = rep.x.to_numpy(dtype=np.float64, na_value=np.nan)  # NaN where no point
    y = rep.y.to_numpy(dtype=np.float64, na_value=np.nan)
    pop = pd.to_numeric(vil.get("population", pd.Series(0, index=vil.index)),
                        errors="coerce").fillna(0).to_numpy(dtype=np.float64)
    base, per, lo, hi = VILLAGE_RADIUS_M
    radius = np.clip(base + per * np.sqrt(np.maximum(pop, 0.0)), lo, hi)
    dense = pop >= np.quantile(pop, 1.0 - DENSE_SHARE) if pop.size else pop.astype(bool)
    rows, cols = z.shape
    t = dem.transform
    for i in np.flatnonzero(np.isfinite(x) & np.isfinite(y)):
        c0, r0 = ~t @ (x[i], y[i])
        reach = int(math.ceil(1.3 * radius[i] / cell)) + 1
        ra, rb = max(0, int(r0) - reach), min(rows, int(r0) + reach + 1)
        ca, cb = max(0, int(c0) - reach), min(cols, int(c0) + reach + 1)
        if ra >= rb or ca >= cb:
            continue
        rr, cc = np.mgrid[ra:rb, ca:cb]
        d = np.hypot((cc + 0.5 - c0) * dem.cell_w_m, (rr + 0.5 - r0) * dem.cell_h_m)
        edge = radius[i] * (1.0 + 0.2 * noise[ra:rb, ca:cb])
        win = out[ra:rb, ca:cb]
        win[d <= edge] = _SUBURBAN
        if dense[i]:
            win[d <= edge / 3.0] = _DENSE
    return out


def write_landcover(path: str | Path, landcover: npt.NDArray[np.uint8], dem: Dem) -> Path:
    """Write category codes on ``dem``'s grid as a GeoTIFF (uint8, nodata 0).

    The file is tagged as holding P.2108 category codes
    (:data:`deadzone.geo.clutter.P2108_CLASSES_TAG`), so
    :func:`deadzone.geo.clutter.load_landcover` (and ``--landcover``) read
    the same array back, cell for cell, without a mapping.
    """
    import rasterio

    lc = np.asarray(landcover)
    if lc.shape != dem.shape:
        raise ParameterError(f"landcover has shape {lc.shape}; expected the DEM's {dem.shape}")
    if lc.size and int(lc.max()) >= len(CATEGORIES):
        raise ParameterError(f"landcover code {int(lc.max())} is not a P.2108 category "
                             f"(0..{len(CATEGORIES) - 1})")
    p = Path(path)
    rows, cols = dem.shape
    with atomic_path(p) as tmp, rasterio.open(
        tmp, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="uint8",
        crs=dem.crs, transform=dem.transform, nodata=0, tiled=True, blockxsize=256,
        blockysize=256, compress="deflate",
    ) as dst:
        dst.write(lc.astype(np.uint8), 1)
        dst.update_tags(**{P2108_CLASSES_TAG: P2108_CLASSES})
    return p


# --- shadowing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shadowing:
    """A log-normal shadowing field: Gaussian in dB, exponential autocorrelation.

    ``at(x, y)`` is ``sigma_db sqrt(2 / M) sum_m cos(k_m . (p - origin) + phi_m)``
    (:mod:`deadzone.kernels.fields`), whose autocorrelation is
    ``exp(-d / decorrelation_m)`` (Gudmundson 1991) in every direction.

    Attributes
    ----------
    sigma_db, decorrelation_m : float
        Standard deviation (dB) and the distance where the correlation is 1/e (m).
    origin_x, origin_y : float
        Subtracted from the coordinates (a corner of the DEM), m.
    kx, ky, phase : float64[M]
        The modes (rad/m, rad).
    """

    sigma_db: float
    decorrelation_m: float
    origin_x: float
    origin_y: float
    kx: npt.NDArray[np.float64]
    ky: npt.NDArray[np.float64]
    phase: npt.NDArray[np.float64]

    @classmethod
    def draw(cls, *, sigma_db: float, decorrelation_m: float, origin: tuple[float, float],
             rng: np.random.Generator, n_modes: int = N_MODES) -> Shadowing:
        """A new field from ``rng``."""
        if not (sigma_db >= 0.0 and math.isfinite(sigma_db)):
            raise ParameterError(f"sigma_db was {sigma_db}; expected >= 0 dB")
        kx, ky, ph = exponential_modes(decorrelation_m, n_modes, rng)
        return cls(float(sigma_db), float(decorrelation_m), float(origin[0]), float(origin[1]),
                   kx, ky, ph)

    def at(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Shadowing (dB) at projected points (the DEM's CRS); NaN at NaN points."""
        x = np.asarray(x_m, dtype=np.float64) - self.origin_x
        y = np.asarray(y_m, dtype=np.float64) - self.origin_y
        if self.sigma_db == 0.0:
            return np.where(np.isfinite(x) & np.isfinite(y), 0.0, np.nan)
        s = cosine_sum(x, y, self.kx, self.ky, self.phase)
        return s * (self.sigma_db * math.sqrt(2.0 / self.kx.size))


# --- truth at points --------------------------------------------------------------------


@dataclass(frozen=True)
class PointTruth:
    """The truth at a set of points (what :meth:`SyntheticTruth.at` returns).

    Attributes
    ----------
    x_m, y_m : float64[n]
        The points (DEM CRS, m).
    category : uint8[n]
        P.2108 category code of each point's cell (0 off the grid).
    shadowing_db : float64[n]
        The shadowing field there (dB).
    server : dict[str, int64[n]]
        Per technology among the towers: the serving tower (index into
        :attr:`SyntheticTruth.grid`; -1: none of it in reach).
    predicted_dbm : dict[str, float64[n]]
        The engine's metric from that tower (dBm; NaN: none).
    true_dbm : dict[str, float64[n]]
        ``predicted`` plus the technology's offset, the category's offset,
        the slope term and the shadowing (dBm).
    distance_m : dict[str, float64[n]]
        Horizontal distance to the serving tower (m).
    n_pairs : int
        Tower -> point paths the engine evaluated.
    """

    x_m: npt.NDArray[np.float64]
    y_m: npt.NDArray[np.float64]
    category: npt.NDArray[np.uint8]
    shadowing_db: npt.NDArray[np.float64]
    server: dict[str, npt.NDArray[np.int64]]
    predicted_dbm: dict[str, npt.NDArray[np.float64]]
    true_dbm: dict[str, npt.NDArray[np.float64]]
    distance_m: dict[str, npt.NDArray[np.float64]]
    n_pairs: int = 0


class SyntheticTruth:
    """A known truth over a scenario, and drive tests sampled from it.

    Parameters
    ----------
    scenario : Scenario
        DEM (metric CRS), towers, villages and ``roads`` (for :meth:`drive`).
    params : EngineParams, optional
        The truth's propagation model (default ``EngineParams()``: ITM); the
        offsets are relative to this model's prediction.
    offsets_db : mapping of str to float, optional
        Technology -> offset added to its metric (dB; missing: 0).
    clutter_offsets_db : mapping of str to float, optional
        P.2108 category name (:data:`deadzone.geo.clutter.CATEGORIES`) ->
        offset at points in that class (dB; missing: 0).
    slope_db_per_decade : float
        Added ``slope * log10(d / 1 km)``, ``d`` the distance to the serving
        tower (dB per decade of distance; 0: none).
    sigma_db, decorrelation_m : float
        Shadowing standard deviation (dB) and decorrelation distance (m).
    noise_db : float
        Receiver noise standard deviation of each measurement (dB).
    landcover : uint8[rows, cols], optional
        P.2108 category codes on the DEM grid (default:
        :func:`demo_landcover` ``(scenario, seed=seed)``).
    clutter_loss : bool
        Also apply the P.2108 terminal clutter loss of ``landcover`` in the
        prediction (as ``audit(..., clutter=landcover)``); default False (as
        ``audit`` without land cover).
    sensitivity_dbm : mapping of str to float, optional
        Per technology, the lowest value measured (default :data:`SENSITIVITY_DBM`).
    seed : int
        Seed of the shadowing field (and of the default land cover).

    Examples
    --------
    >>> from deadzone.data.demo import demo_scenario
    >>> truth = SyntheticTruth(demo_scenario(0), params=EngineParams(model="knife"),
    ...                        offsets_db={"2G": -3.0, "4G": 2.0})
    >>> table = truth.drive(route_km=5.0, seed=1)
    >>> list(table.columns[:4])
    ['sample_id', 'lon', 'lat', 'tech']
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        params: EngineParams | None = None,
        offsets_db: Mapping[str, float] | None = None,
        clutter_offsets_db: Mapping[str, float] | None = None,
        slope_db_per_decade: float = 0.0,
        sigma_db: float = 7.0,
        decorrelation_m: float = 75.0,
        noise_db: float = 1.0,
        landcover: npt.NDArray[np.uint8] | None = None,
        clutter_loss: bool = False,
        sensitivity_dbm: Mapping[str, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.scenario = scenario
        self.params = params if params is not None else EngineParams()
        self.offsets_db = {t: float(v) for t, v in (offsets_db or {}).items()}
        for t in self.offsets_db:
            if t not in TECHS:
                raise ParameterError(f"offsets_db key was {t!r}; expected one of {TECHS}")
        self.clutter_offsets_db = {c: float(v) for c, v in (clutter_offsets_db or {}).items()}
        for c in self.clutter_offsets_db:
            if c not in _CODE:
                raise ParameterError(f"clutter_offsets_db key was {c!r}; expected one of "
                                     f"{list(_CODE)}")
        for name, v in (("slope_db_per_decade", slope_db_per_decade), ("noise_db", noise_db)):
            if not math.isfinite(v) or (name == "noise_db" and v < 0):
                raise ParameterError(f"{name} was {v}; expected a finite value"
                                     + (" >= 0" if name == "noise_db" else ""))
        self.slope_db_per_decade = float(slope_db_per_decade)
        self.noise_db = float(noise_db)
        self.sensitivity_dbm = dict(SENSITIVITY_DBM)
        for t, v in (sensitivity_dbm or {}).items():
            if t not in TECHS:
                raise ParameterError(f"sensitivity_dbm key was {t!r}; expected one of {TECHS}")
            self.sensitivity_dbm[t] = float(v)
        dem = scenario.dem
        if landcover is None:
            landcover = demo_landcover(scenario, seed=seed)
        lc = np.asarray(landcover)
        if lc.shape != dem.shape:
            raise ParameterError(f"landcover has shape {lc.shape}; expected the DEM's "
                                 f"{dem.shape}")
        if lc.size and int(lc.max()) >= len(CATEGORIES):
            raise ParameterError(f"landcover code {int(lc.max())} is not a P.2108 category")
        self.landcover = np.array(lc, dtype=np.uint8)  # ours: the caller may edit theirs
        self.clutter_loss = bool(clutter_loss)
        self.seed = int(seed)
        rng = np.random.default_rng([int(seed), 0x5AD0])
        self.shadowing = Shadowing.draw(sigma_db=sigma_db, decorrelation_m=decorrelation_m,
                                        origin=(dem.transform.c, dem.transform.f), rng=rng)
        self.grid: TowerGrid = towers_on_grid(scenario.towers, dem)
        self.techs = [t for t in TECHS if t in self.grid.techs]
        self._offset_by_code = np.array(
            [self.clutter_offsets_db.get(c.name, 0.0) for c in CATEGORIES], dtype=np.float64)

    @property
    def residual_sigma_db(self) -> float:
        """Standard deviation of ``measured - true mean`` a calibration sees (dB):
        shadowing, receiver noise and the 1 dB rounding (``1/12`` dB^2)."""
        return math.sqrt(self.shadowing.sigma_db ** 2 + self.noise_db ** 2
                         + QUANTUM_DB ** 2 / 12.0)

    def parameters(self) -> dict[str, Any]:
        """The truth's parameters as plain JSON values (the measurement table's
        ``attrs["truth"]``)."""
        p = self.params
        engine = coverage_parameters(model=p.model, radius_km=p.radius_km,
                                     rx_height_m=p.rx_height_m, k_factor=p.k_factor,
                                     floor_dbm=p.floor_dbm, itm=p.itm)
        return {
            "scenario": self.scenario.name,
            **engine,  # the model's own settings with it, as coverage.json has them
            "clutter_loss": self.clutter_loss,
            "offsets_db": dict(self.offsets_db),
            "clutter_offsets_db": dict(self.clutter_offsets_db),
            "slope_db_per_decade": self.slope_db_per_decade, "slope_reference_km": 1.0,
            "sigma_db": self.shadowing.sigma_db,
            "decorrelation_m": self.shadowing.decorrelation_m,
            "noise_db": self.noise_db, "quantum_db": QUANTUM_DB,
            "residual_sigma_db": self.residual_sigma_db,
            "sensitivity_dbm": {t: self.sensitivity_dbm[t] for t in self.techs},
            "seed": self.seed,
        }

    def category_at(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """P.2108 category code of the cells holding the points (0 off the grid)."""
        x = np.asarray(x_m, dtype=np.float64)
        y = np.asarray(y_m, dtype=np.float64)
        fin = np.isfinite(x) & np.isfinite(y)
        rows, cols, inside = self.scenario.dem.rowcol(np.where(fin, x, 0.0),
                                                      np.where(fin, y, 0.0))
        return np.where(fin & inside, self.landcover[rows, cols], 0).astype(np.uint8)

    def at(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> PointTruth:
        """The truth at projected points (the DEM's CRS, m; NaN: not evaluated).

        Points are evaluated :data:`CHUNK_POINTS` at a time.
        """
        x = np.asarray(x_m, dtype=np.float64).ravel()
        y = np.asarray(y_m, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise ParameterError(f"x_m and y_m have {x.size} and {y.size} values; "
                                 "expected one length")
        parts = [self._at(x[i:i + CHUNK_POINTS], y[i:i + CHUNK_POINTS])
                 for i in range(0, max(x.size, 1), CHUNK_POINTS)]
        if len(parts) == 1:
            return parts[0]

        def cat(get: Any) -> Any:
            return np.concatenate([get(p) for p in parts])

        return PointTruth(
            x_m=cat(lambda p: p.x_m), y_m=cat(lambda p: p.y_m),
            category=cat(lambda p: p.category),
            shadowing_db=cat(lambda p: p.shadowing_db), n_pairs=sum(p.n_pairs for p in parts),
            **{f: {t: cat(lambda p, f=f, t=t: getattr(p, f)[t]) for t in self.techs}
               for f in ("server", "predicted_dbm", "true_dbm", "distance_m")},
        )

    def _at(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
            techs: Sequence[str] | None = None) -> PointTruth:
        """:meth:`at` on one chunk; ``techs``: only these technologies' towers are
        computed (the others' results stay empty: server -1, NaN)."""
        dem, grid = self.scenario.dem, self.grid
        if techs is not None and set(techs) != set(self.techs):
            grid = dataclasses.replace(grid, sites=[
                s if t in techs else None for s, t in zip(grid.sites, grid.techs, strict=True)])
        n = x.size
        fin = np.isfinite(x) & np.isfinite(y)
        _, _, inside = dem.rowcol(np.where(fin, x, 0.0), np.where(fin, y, 0.0))
        ok = fin & inside
        x, y = np.where(ok, x, np.nan), np.where(ok, y, np.nan)
        sig = village_signals(dem, grid, x, y, params=self.params, thresholds=Thresholds(),
                              clutter=self.landcover if self.clutter_loss else None)
        pt, pv = sig.pair_tower, sig.pair_village
        dist = sig.paths.distance_m
        rx = sig.rx_dbm
        if self.slope_db_per_decade != 0.0:
            rx = rx + self._slope_db(dist)
        n_t, n_k = len(grid.tower_ids), len(self.techs)
        offset = np.asarray(grid.metric_offset_db, dtype=np.float64)
        tech_code = np.array([self.techs.index(t) for t in grid.techs], dtype=np.int64)
        best = np.full((n, n_k), np.nan)
        server = np.full((n, n_k), -1, dtype=np.int64)
        b_rx, s_rx = np.full(n, np.nan), np.full(n, np.nan)
        srv_rx, n_srv = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
        if n_k:
            fold_pairs(np.searchsorted(pv, np.arange(n + 1)).astype(np.int64), pt, rx, offset,
                       tech_code, np.zeros(n_k), best, server, b_rx, srv_rx, s_rx, n_srv)
        category = self.category_at(x, y)
        shadow = self.shadowing.at(x, y)
        place = self._offset_by_code[category] + shadow
        key = pv * n_t + pt  # pairs are sorted by village, then tower
        out: dict[str, dict[str, npt.NDArray[Any]]] = {
            "server": {}, "predicted_dbm": {}, "true_dbm": {}, "distance_m": {}}
        for k, tech in enumerate(self.techs):
            srv = server[:, k]
            has = srv >= 0
            p = np.searchsorted(key, np.arange(n) * n_t + srv)[has]
            pred = np.full(n, np.nan)
            pred[has] = sig.rx_dbm[p] - offset[srv[has]]
            d = np.full(n, np.nan)
            d[has] = dist[p]
            true = pred + self.offsets_db.get(tech, 0.0)
            if self.slope_db_per_decade != 0.0:
                true = true + self._slope_db(d)
            out["server"][tech] = srv.copy()
            out["predicted_dbm"][tech] = pred
            out["true_dbm"][tech] = true + place
            out["distance_m"][tech] = d
        return PointTruth(x_m=x, y_m=y, category=category, shadowing_db=shadow, **out,
                          n_pairs=int(pt.size))

    def _slope_db(self, distance_m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        d_km = np.maximum(distance_m, MIN_SLOPE_DISTANCE_M) / 1000.0
        return self.slope_db_per_decade * np.log10(d_km)

    # --- villages ------------------------------------------------------------------------

    def village_truth(self, thresholds: Thresholds | None = None) -> gpd.GeoDataFrame:
        """The true metric and status of every village, by the audit's rule.

        Villages are evaluated where :func:`deadzone.geo.audit.audit` evaluates
        them (:func:`deadzone.geo.paths.village_points`), and a status is
        given as it gives one: per technology covered at or above its covered
        threshold, marginal at or above its marginal one, else dead (also
        with no tower of it in reach); the village takes the best over
        technologies; ``unknown`` where the audit has no radio status
        (invalid location, outside the DEM).  No receiver noise.

        Returns
        -------
        GeoDataFrame
            Input order, EPSG:4326: ``village_id``, ``status``, and per
            technology ``status_<tech>``, ``signal_<tech>_dbm`` (true),
            ``predicted_<tech>_dbm``, ``tower_<tech>`` (serving tower id),
            then ``clutter`` (category name) and ``shadowing_db``.
        """
        thr = thresholds or Thresholds()
        vil = self.scenario.villages
        vp = village_points(vil, self.scenario.dem)
        ok = vp.ok
        tr = self.at(np.where(ok, vp.x_m, np.nan), np.where(ok, vp.y_m, np.nan))
        ids = np.array(self.grid.tower_ids, dtype=object)
        cols: dict[str, Any] = {"village_id": vil["village_id"].astype(str).to_numpy()}
        names = np.array(["dead", "dead", "marginal", "covered"], dtype=object)
        overall = np.where(ok, names[coverage_class(tr.true_dbm, thr) + 1], "unknown") \
            if self.techs else np.where(ok, "dead", "unknown")
        cols["status"] = overall.astype(object)
        for tech in self.techs:
            t = tech.lower()
            cls = coverage_class({tech: tr.true_dbm[tech]}, thr)
            cols[f"status_{t}"] = np.where(ok, names[cls + 1], "unknown").astype(object)
            cols[f"signal_{t}_dbm"] = tr.true_dbm[tech]
            cols[f"predicted_{t}_dbm"] = tr.predicted_dbm[tech]
            srv = tr.server[tech]
            cols[f"tower_{t}"] = np.where(srv >= 0, ids[np.maximum(srv, 0)], None)
        cols["clutter"] = np.array([CATEGORIES[c].name for c in tr.category], dtype=object)
        cols["shadowing_db"] = tr.shadowing_db
        return gpd.GeoDataFrame(cols, geometry=vil.geometry.to_numpy(),
                                crs=vil.crs).to_crs(4326)

    # --- drive tests ---------------------------------------------------------------------

    def drive(
        self,
        *,
        spacing_m: float = 20.0,
        route_km: float | None = None,
        max_samples: int | None = None,
        techs: Sequence[str] | None = None,
        speed_kmh: float = 40.0,
        seed: int = 0,
    ) -> gpd.GeoDataFrame:
        """A drive test along the scenario's roads, as the canonical measurement table.

        Each pass drives every road once, in an order and directions drawn
        from ``seed``, the first sample of a road a random fraction of
        ``spacing_m`` from its start; passes repeat until ``route_km`` have
        been driven (default: one pass).  At every sample point, every
        technology of ``techs`` with a tower in reach gives one row: its
        serving tower and the true metric plus receiver noise, rounded to
        1 dB, unless the true metric is below the technology's sensitivity
        ("no service", counted in ``attrs["truth"]["no_service"]``).  The
        clock runs at ``speed_kmh`` from :data:`DRIVE_START`, also over the
        straight gaps between consecutive roads (not sampled).

        Parameters
        ----------
        spacing_m : float
            Distance between samples along a road (m).
        route_km : float, optional
            Kilometres of road to drive (default: every road once).
        max_samples : int, optional
            Stop after this many rows.
        techs : sequence of str, optional
            Technologies measured (default: every one among the towers).
        speed_kmh : float
            Driving speed for the timestamps.
        seed : int
            Seed of the route and the receiver noise (the shadowing is the truth's).

        Returns
        -------
        GeoDataFrame
            EPSG:4326 points with :data:`MEASUREMENT_COLUMNS`; ``attrs``:
            ``{"format": "generic", "truth": {...}}``: :meth:`parameters`
            plus the drive's settings, counts over the points evaluated
            (``points``, ``paths``, per technology ``no_service`` and
            ``out_of_reach``) and ``realised``: per technology and per
            clutter class of the rows, their number and the mean shadowing
            over them.

        Notes
        -----
        The shadowing of a road is one realisation, the same on every pass:
        driving a road again adds rows but no new shadowing, so a class
        offset fitted on ``L`` km of road carries an error of about
        ``sigma_db * sqrt(2 * decorrelation_m / L)`` that more passes do not
        reduce (``realised[...]["mean_shadowing_db"]`` is its size for a
        model of one offset).  Censoring at the sensitivity biases offsets
        fitted near it upwards: fit on rows predicted well above it (e.g.
        20 dB, about 3 sigma) or model the censoring.
        """
        if not (spacing_m > 0.0 and math.isfinite(spacing_m)):
            raise ParameterError(f"spacing_m was {spacing_m}; expected > 0 m")
        if not (speed_kmh > 0.0 and math.isfinite(speed_kmh)):
            raise ParameterError(f"speed_kmh was {speed_kmh}; expected > 0 km/h")
        if route_km is not None and not (route_km > 0.0 and math.isfinite(route_km)):
            raise ParameterError(f"route_km was {route_km}; expected > 0 km")
        if max_samples is not None and max_samples < 0:
            raise ParameterError(f"max_samples was {max_samples}; expected >= 0")
        use = list(self.techs if techs is None else techs)
        for t in use:
            if t not in self.techs:
                raise ParameterError(f"techs has {t!r}; the towers have {self.techs}")
        use = [t for t in self.techs if t in use]
        rng = np.random.default_rng([int(seed), 0xD21E])
        x, y, t_s, driven_m = _route(self._road_lines(), spacing_m=spacing_m,
                                     route_m=None if route_km is None else 1000.0 * route_km,
                                     speed_ms=speed_kmh / 3.6, rng=rng)
        noise_rng = np.random.default_rng([int(seed), 0x401E])
        limit = math.inf if max_samples is None else int(max_samples)
        got: list[tuple[Any, ...]] = []
        n_rows = 0
        no_service = dict.fromkeys(use, 0)
        out_of_reach = dict.fromkeys(use, 0)
        engine_s = 0.0
        n_pos = n_pairs = 0
        for i in range(0, x.size, CHUNK_POINTS):
            if n_rows >= limit:
                break
            sl = slice(i, i + CHUNK_POINTS)
            t0 = time.perf_counter()
            tr = self._at(x[sl], y[sl], use)
            engine_s += time.perf_counter() - t0
            n_pos += tr.x_m.size
            n_pairs += tr.n_pairs
            pos, code, tower, value = [], [], [], []
            for k, tech in enumerate(use):
                true = tr.true_dbm[tech]
                has = tr.server[tech] >= 0
                heard = has & (true >= self.sensitivity_dbm[tech])
                out_of_reach[tech] += int((~has).sum())
                no_service[tech] += int((has & ~heard).sum())
                idx = np.flatnonzero(heard)
                pos.append(idx)
                code.append(np.full(idx.size, k, dtype=np.int64))
                tower.append(tr.server[tech][idx])
                value.append(true[idx])
            p, c = np.concatenate(pos), np.concatenate(code)
            order = np.lexsort((c, p))
            p, c = p[order], c[order]
            v = np.concatenate(value)[order]
            if self.noise_db > 0.0:
                v = v + noise_rng.normal(0.0, self.noise_db, v.size)
            v = np.round(v / QUANTUM_DB) * QUANTUM_DB
            # a phone reports the top of the range for anything stronger
            v = np.minimum(v, np.array([TOP_REPORTED_DBM[t] for t in use])[c])
            got.append((p + i, c, np.concatenate(tower)[order], v, tr.shadowing_db[p],
                        tr.category[p]))
            n_rows += v.size
        logger.info("truth: %d points, %d paths, %d rows in %.2f s of engine time", n_pos,
                    n_pairs, n_rows, engine_s)
        if got:
            p, c, tw, v, sh, cat = (np.concatenate(a) for a in zip(*got, strict=True))
        else:
            p = c = tw = np.zeros(0, dtype=np.int64)
            v = sh = np.zeros(0)
            cat = np.zeros(0, dtype=np.uint8)
        if n_rows > limit:
            p, c, tw, v, sh, cat = (a[:limit] for a in (p, c, tw, v, sh, cat))
        attrs = {
            **self.parameters(), "drive_seed": int(seed), "spacing_m": float(spacing_m),
            "speed_kmh": float(speed_kmh), "route_km": driven_m / 1000.0,
            "points": int(n_pos), "paths": int(n_pairs), "techs": use, "no_service": no_service,
            "out_of_reach": out_of_reach,
            "realised": {
                "by_tech": {t: _realised(sh[c == k]) for k, t in enumerate(use)},
                "by_clutter": {CATEGORIES[k].name: _realised(sh[cat == k])
                               for k in np.unique(cat).tolist()},
            },
        }
        return self._table(x[p], y[p], t_s[p], np.array(use, dtype=object)[c], tw, v, attrs)

    def _road_lines(self) -> list[shapely.LineString]:
        roads = self.scenario.roads
        if roads is None or not len(roads):
            raise ParameterError(f"scenario {self.scenario.name!r} has no roads to drive")
        parts = shapely.get_parts(roads.to_crs(self.scenario.dem.crs).geometry.to_numpy())
        return [g for g in parts if isinstance(g, shapely.LineString) and g.length > 0.0]

    def _table(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64],
               t_s: npt.NDArray[np.float64], tech: npt.NDArray[np.object_],
               tower: npt.NDArray[np.int64], value: npt.NDArray[np.float64],
               truth: dict[str, Any]) -> gpd.GeoDataFrame:
        from pyproj import Transformer

        to_ll = Transformer.from_crs(self.scenario.dem.crs, "EPSG:4326", always_xy=True)
        lon, lat = to_ll.transform(x, y)
        lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        n = value.size
        ms = np.round(t_s * 1000.0).astype(np.int64)
        df = gpd.GeoDataFrame(
            {
                "sample_id": np.char.add("S", np.arange(1, n + 1).astype(str)).astype(object),
                "lon": lon,
                "lat": lat,
                "tech": tech.astype(object),
                "measured_dbm": value.astype(np.float64),
                "metric": np.array([METRICS[t] for t in tech], dtype=object),
                "cell": np.full(n, None, dtype=object),
                "tower_id": np.array(self.grid.tower_ids, dtype=object)[tower],
                "measured_at": (DRIVE_START + pd.to_timedelta(ms, unit="ms")).as_unit("ns"),
                "qc": np.full(n, "ok", dtype=object),
                "source_row": np.arange(2, n + 2, dtype=np.int64),
            },
            geometry=gpd.points_from_xy(lon, lat),
            crs=4326,
        )
        df.attrs = {"format": "generic", "truth": truth}
        return df


def _realised(shadowing_db: npt.NDArray[np.float64]) -> dict[str, float | int]:
    """Rows and the mean shadowing over them: what a calibration fitted on these
    rows adds to the nominal offset (the field is one realisation, and
    censoring at the sensitivity keeps more positive than negative values)."""
    n = int(shadowing_db.size)
    return {"rows": n, "mean_shadowing_db": float(shadowing_db.mean()) if n else math.nan}


def _route(lines: list[shapely.LineString], *, spacing_m: float, route_m: float | None,
           speed_ms: float, rng: np.random.Generator
           ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64],
                      npt.NDArray[np.float64], float]:
    """Sample points (x, y), their times (s from the start) and the km driven on roads."""
    total = sum(g.length for g in lines)
    target = total if route_m is None else route_m
    xs, ys, ts = [], [], []
    driven = 0.0  # on roads
    clock_m = 0.0  # on roads and across the gaps between them
    last: tuple[float, float] | None = None
    while driven < target - 1e-9:
        order = rng.permutation(len(lines))
        flip = rng.random(len(lines)) < 0.5
        start = rng.random(len(lines)) * spacing_m
        for k in order:
            if driven >= target - 1e-9:
                break
            g = lines[k].reverse() if flip[k] else lines[k]
            a = shapely.get_coordinates(g)
            if last is not None:
                clock_m += math.hypot(a[0, 0] - last[0], a[0, 1] - last[1])
            length = min(g.length, target - driven)
            d = np.arange(start[k], length, spacing_m)
            if d.size:
                pts = shapely.get_coordinates(shapely.line_interpolate_point(g, d))
                xs.append(pts[:, 0])
                ys.append(pts[:, 1])
                ts.append((clock_m + d) / speed_ms)
            driven += length
            clock_m += length
            end = shapely.get_coordinates(shapely.line_interpolate_point(g, length))[0]
            last = (float(end[0]), float(end[1]))
    if not xs:
        z = np.zeros(0)
        return z, z.copy(), z.copy(), driven
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), driven
