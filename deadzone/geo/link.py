"""Point-to-point links: the terrain between two points, its first Fresnel
zone clearance, the path loss and a microwave budget (issue 22, items 1, 2, 5).

A link runs between two ends, each a tower, a village or a lon/lat point
with an antenna height.  Its profile is the one the village engine uses for
a tower -> village pair (:func:`deadzone.kernels.paths.path_profile`: bilinear
heights at ``n = max(2, ceil(d / cell))`` equal intervals from end A's exact
position to end B's, on the DEM's grid), so a link from a tower to a village
shows exactly the path the audit computed.  On that profile:

* the earth bulge for the effective radius ``k * 6371 km``, the line of
  sight between the antennas, the first Fresnel zone radius and the 60 %
  clearance line (ITU-R P.530-17 §2.2.2), the worst point (smallest
  clearance in F1 radii; :mod:`deadzone.kernels._link`);
* the basic transmission loss by the engine's model (NTIA ITM 1.4 with its
  mode and warnings, ITU-R P.526-15 §4.5, free space, ...), the same
  kernel as the audit's (:func:`deadzone.kernels._paths.path_loss`);
* optionally a microwave budget (:mod:`deadzone.model.microwave`).

:func:`link_profile` is the public entry point for one link (the programme
planner calls it for backhaul hops); :func:`link_table` evaluates many links
in the parallel kernel (``deadzone link --pairs``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from pyproj import Transformer

from deadzone.errors import ParameterError
from deadzone.geo.coverage import EngineParams, towers_on_grid
from deadzone.geo.paths import fractional_rc, village_signals
from deadzone.kernels.coverage import DEFAULT_K_FACTOR
from deadzone.kernels.itm import ItmSettings, p2p_loss, warning_names
from deadzone.kernels.link import Clearance, LinkPairs, link_pairs
from deadzone.kernels.paths import path_profile
from deadzone.model import microwave as mw
from deadzone.model.defaults import DEFAULT_RX_HEIGHT_M
from deadzone.model.dem import Dem
from deadzone.model.geometry import representative_points
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = [
    "CLEARANCE_RULE",
    "LinkEnd",
    "LinkProfile",
    "best_tower_for",
    "climate_for",
    "link_budget",
    "link_profile",
    "link_table",
    "point_end",
    "resolve_end",
    "resolve_ends",
    "summary_lines",
    "terrain_roughness_m",
]

F64 = npt.NDArray[np.float64]

#: The clearance a microwave hop needs, in first Fresnel zone radii (ITU-R
#: P.530-17 §2.2.2.1, the usual planning rule for k = 4/3; the same rule as
#: ``place``'s backhaul, :attr:`deadzone.geo.site_costs.CostModel.fresnel_clearance`).
CLEARANCE_RULE = 0.6
#: Antenna height (m above ground) of a lon/lat end given without one.
DEFAULT_POINT_HEIGHT_M = 30.0
#: Half the side of the square over which the terrain roughness s_a is taken
#: (P.530-17 §2.3.1: a 110 km x 110 km area), m.
ROUGHNESS_HALF_SIDE_M = 55_000.0

_MODE_NAMES = {1: "los", 2: "diffraction", 3: "troposcatter"}


@dataclass(frozen=True)
class LinkEnd:
    """One end of a link.

    Attributes
    ----------
    kind : str
        ``"tower"``, ``"village"`` or ``"point"``.
    id : str
        The tower or village id; ``"lon,lat"`` for a point.
    label : str
        A short text for titles (``"tower T3"``, ``"village V12 (Thôn Nà)"``).
    lon, lat : float
        EPSG:4326 position (degrees).
    x_m, y_m : float
        Position in the DEM's projected CRS (m).
    height_m : float
        Antenna height above the ground (m).
    freq_mhz, eirp_dbm : float
        A tower's frequency and boresight EIRP (NaN for other ends).
    """

    kind: str
    id: str
    label: str
    lon: float
    lat: float
    x_m: float
    y_m: float
    height_m: float
    freq_mhz: float = math.nan
    eirp_dbm: float = math.nan


@dataclass(frozen=True)
class LinkProfile:
    """The terrain, clearance and loss of one link A -> B (:func:`link_profile`).

    Profile arrays have ``n + 1`` values, index 0 under A.

    Attributes
    ----------
    a, b : LinkEnd
    freq_mhz, k_factor : float
    model : str
        The loss model.
    distance_m, step_m : float
        Horizontal length and profile spacing (m).
    distance_axis_m : float64[n+1]
        Distance of each sample from A (m).
    ground_m : float64[n+1]
        Terrain height (m above sea level).
    bulge_m : float64[n+1]
        Earth bulge ``d1 d2 / (2 k R)`` (m).
    los_m : float64[n+1]
        Line of sight between the antennas (m above sea level).
    f1_m : float64[n+1]
        First Fresnel zone radius (m).
    clearance_m : float64[n+1]
        ``los_m - ground_m - bulge_m`` (m).
    worst : Clearance
        The interior point of smallest clearance in F1 radii.
    loss_db, free_space_db : float
        Basic transmission loss of the model and free space (slant, dB).
    mode : str
        ``los``, ``diffraction`` or ``troposcatter`` (ITM), else ``los`` or
        ``diffraction``.
    itm_warnings : list of str
        ITM's warnings about its input ranges (empty for other models).
    """

    a: LinkEnd
    b: LinkEnd
    freq_mhz: float
    k_factor: float
    model: str
    distance_m: float
    step_m: float
    distance_axis_m: F64
    ground_m: F64
    bulge_m: F64
    los_m: F64
    f1_m: F64
    clearance_m: F64
    worst: Clearance
    loss_db: float
    free_space_db: float
    mode: str
    itm_warnings: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        """Whether the worst point keeps :data:`CLEARANCE_RULE` of F1 clear."""
        return bool(self.worst.fraction >= CLEARANCE_RULE)

    @property
    def line_of_sight(self) -> bool:
        """Whether the terrain (with the bulge) stays below the line of sight."""
        return bool(self.worst.clearance_m > 0.0)

    def table(self) -> pd.DataFrame:
        """The profile as a table (one row per sample), for the CSV."""
        return pd.DataFrame({
            "distance_m": self.distance_axis_m,
            "ground_m": self.ground_m,
            "bulge_m": self.bulge_m,
            "ground_with_bulge_m": self.ground_m + self.bulge_m,
            "los_m": self.los_m,
            "f1_m": self.f1_m,
            "f1_60_lower_m": self.los_m - CLEARANCE_RULE * self.f1_m,
            "clearance_m": self.clearance_m,
            "clearance_f1": np.where(self.f1_m > 0, self.clearance_m / np.where(
                self.f1_m > 0, self.f1_m, 1.0), np.nan),
        })


@functools.lru_cache(maxsize=8)
def _transformer(crs_wkt: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", crs_wkt, always_xy=True)


def _to_dem(dem: Dem, lon: F64, lat: F64) -> tuple[F64, F64]:
    t = _transformer(dem.crs.to_wkt())
    x, y = t.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def point_end(dem: Dem, lon: float, lat: float, *, height_m: float = DEFAULT_POINT_HEIGHT_M,
              label: str | None = None) -> LinkEnd:
    """A lon/lat end (EPSG:4326 degrees) with an antenna ``height_m`` above ground."""
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ParameterError(f"point {lon},{lat}: expected lon in -180..180 and lat in -90..90")
    if not (0.0 < height_m <= 3000.0):
        raise ParameterError(f"height_m was {height_m}; expected 0..3000 m")
    x, y = _to_dem(dem, np.array([lon]), np.array([lat]))
    ident = f"{lon:.6f},{lat:.6f}"
    text = f"{abs(lon):.4f}{'E' if lon >= 0 else 'W'} {abs(lat):.4f}{'N' if lat >= 0 else 'S'}"
    return LinkEnd("point", ident, label or text, float(lon), float(lat), float(x[0]),
                   float(y[0]), float(height_m))


def _ids(frame: gpd.GeoDataFrame, col: str) -> pd.Series:
    if col not in frame.columns:
        return pd.Series([], dtype=object)
    return frame[col].astype(str)


def resolve_end(
    scenario: Scenario,
    spec: str,
    *,
    height_m: float | None = None,
    village_height_m: float = DEFAULT_RX_HEIGHT_M,
) -> LinkEnd:
    """One end from what a planner types: a tower id, a village id, or
    ``lon,lat[,height_m]``.

    A tower stands at its position with its own antenna height, frequency
    and EIRP (the scenario's values, defaults per technology); a village is
    its representative point with a handset at ``village_height_m``; a point
    has the height after its second comma, else ``height_m``, else
    :data:`DEFAULT_POINT_HEIGHT_M`.  ``height_m`` overrides a tower's and a
    village's height too.

    Raises
    ------
    ParameterError
        When ``spec`` is none of these.
    """
    return resolve_ends(scenario, [spec], heights_m=[height_m],
                        village_height_m=village_height_m)[0]


def resolve_ends(
    scenario: Scenario,
    specs: Sequence[str],
    *,
    heights_m: Sequence[float | None] | None = None,
    village_height_m: float = DEFAULT_RX_HEIGHT_M,
) -> list[LinkEnd]:
    """:func:`resolve_end` for many ends at once (the towers are put on the
    grid and the villages projected once, not once per end).

    ``heights_m[i]`` (None: the end's own) as ``height_m`` of :func:`resolve_end`.
    """
    dem = scenario.dem
    towers = scenario.towers
    villages = scenario.villages
    heights = list(heights_m) if heights_m is not None else [None] * len(specs)
    if len(heights) != len(specs):
        raise ParameterError(f"{len(specs)} ends but {len(heights)} heights")
    keys = [str(s).strip() for s in specs]
    t_index = {k: i for i, k in reversed(list(enumerate(_ids(towers, "tower_id"))))}
    v_index = {k: i for i, k in reversed(list(enumerate(_ids(villages, "village_id"))))}
    used_t = sorted({t_index[k] for k in keys if k in t_index})
    used_v = sorted({v_index[k] for k in keys if k in v_index and k not in t_index})
    t_info: dict[int, tuple] = {}
    if used_t:
        sub = towers.iloc[used_t]
        grid = towers_on_grid(sub, dem)
        ll = sub.geometry.to_crs(4326)
        for j, i in enumerate(used_t):
            t_info[i] = (grid.sites[j], float(ll.iloc[j].x), float(ll.iloc[j].y),
                         float(grid.x_m[j]), float(grid.y_m[j]))
    v_info: dict[int, tuple] = {}
    if used_v:
        geoms = villages.geometry.iloc[used_v]
        pts = representative_points(geoms).to_crs(4326)
        ok = ~(pts.isna() | pts.is_empty).to_numpy()
        lon = pts.x.to_numpy(dtype=np.float64, na_value=np.nan)  # NaN where no point
        lat = pts.y.to_numpy(dtype=np.float64, na_value=np.nan)
        x, y = _to_dem(dem, lon, lat)
        names = villages["name"].iloc[used_v] if "name" in villages.columns else None
        for j, i in enumerate(used_v):
            name = names.iloc[j] if names is not None else None
            v_info[i] = (ok[j], float(lon[j]), float(lat[j]), float(x[j]), float(y[j]),
                         name if isinstance(name, str) and name else None)
    out: list[LinkEnd] = []
    for k, h in zip(keys, heights, strict=True):
        if k in t_index:
            site, lon, lat, x, y = t_info[t_index[k]]
            if site is None:
                raise ParameterError(f"tower {k!r} at {lon:.5f},{lat:.5f} lies outside the DEM")
            out.append(LinkEnd("tower", k, f"tower {k}", lon, lat, x, y,
                               float(h or site.height_m), float(site.freq_mhz),
                               float(site.eirp_dbm)))
        elif k in v_index:
            ok, lon, lat, x, y, name = v_info[v_index[k]]
            if not ok:
                raise ParameterError(f"village {k!r} has no location")
            label = f"village {k}" + (f" ({name})" if name else "")
            out.append(LinkEnd("village", k, label, lon, lat, x, y,
                               float(h or village_height_m)))
        else:
            out.append(_point_spec(scenario, k, h))
    return out


def _point_spec(scenario: Scenario, s: str, height_m: float | None) -> LinkEnd:
    parts = s.split(",")
    if len(parts) in (2, 3):
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if vals and all(math.isfinite(v) for v in vals):
            h = vals[2] if len(vals) == 3 else (height_m or DEFAULT_POINT_HEIGHT_M)
            return point_end(scenario.dem, vals[0], vals[1], height_m=h)
    raise ParameterError(
        f"link end {s!r} is not a tower id, a village id or lon,lat[,height_m] "
        f"(the scenario has {len(scenario.towers)} towers and "
        f"{len(scenario.villages)} villages)")


def _lonlat(geom: object, crs: object) -> tuple[float, float]:
    p = gpd.GeoSeries([geom], crs=crs).to_crs(4326).iloc[0]
    return float(p.x), float(p.y)


def _check_on_dem(dem: Dem, ends: Sequence[LinkEnd]) -> None:
    x = np.array([e.x_m for e in ends])
    y = np.array([e.y_m for e in ends])
    rows, cols, inside = dem.rowcol(x, y)
    ok = inside & ~dem.outside_footprint_mask[rows, cols]
    for e, good in zip(ends, ok, strict=True):
        if not good:
            w, s, east, n = dem.bounds_lonlat
            raise ParameterError(
                f"{e.label} at {e.lon:.5f},{e.lat:.5f} lies outside the DEM "
                f"(lon {w:.4f}..{east:.4f}, lat {s:.4f}..{n:.4f})")


def _ends_arrays(dem: Dem, a: Sequence[LinkEnd], b: Sequence[LinkEnd]
                 ) -> tuple[F64, F64, F64, F64]:
    a_xy = np.array([[e.x_m, e.y_m] for e in a], dtype=np.float64).reshape(-1, 2)
    b_xy = np.array([[e.x_m, e.y_m] for e in b], dtype=np.float64).reshape(-1, 2)
    return (fractional_rc(dem, a_xy[:, 0], a_xy[:, 1]), a_xy,
            fractional_rc(dem, b_xy[:, 0], b_xy[:, 1]), b_xy)


def link_profile(
    dem: Dem,
    a: LinkEnd,
    b: LinkEnd,
    *,
    freq_mhz: float,
    model: str = "itm",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> LinkProfile:
    """Terrain profile, first-Fresnel-zone clearance and path loss of a link.

    Parameters
    ----------
    dem : Dem
        Terrain in a projected metric CRS.
    a, b : LinkEnd
        The ends (:func:`resolve_end`, :func:`point_end`); the profile runs
        from ``a`` to ``b`` as the village engine's runs from the tower.
    freq_mhz : float
        Frequency (MHz).
    model : str
        Loss model, one of :data:`deadzone.kernels.coverage.MODELS` (ITM is
        defined up to 20 000 MHz; use ``p526`` or ``fspl`` above).
    k_factor : float
        Effective earth-radius factor of the bulge and the clearance (and
        of every model but ITM, which derives its own from ``itm.n0``).
    itm : ItmSettings, optional
        ITM settings (default :class:`ItmSettings`()).

    Returns
    -------
    LinkProfile

    Raises
    ------
    ParameterError
        An end outside the DEM, or a frequency the model does not cover.

    Examples
    --------
    >>> from deadzone.data.demo import demo_scenario
    >>> s = demo_scenario(seed=0)
    >>> a, b = resolve_end(s, "T036", height_m=40), resolve_end(s, "T037", height_m=40)
    >>> p = link_profile(s.dem, a, b, freq_mhz=13_000, model="p526")
    >>> p.clear, round(p.worst.fraction, 2), round(p.distance_m), round(p.loss_db, 1)
    (True, 17.07, 7361, 132.1)
    """
    _check_on_dem(dem, (a, b))
    itm = itm or ItmSettings()
    a_rc, a_xy, b_rc, b_xy = _ends_arrays(dem, [a], [b])
    cell_m = min(dem.cell_w_m, dem.cell_h_m)
    res = link_pairs(dem.elevation_m, cell_m=cell_m, a_rc=a_rc, a_xy=a_xy, b_rc=b_rc,
                     b_xy=b_xy, h_a_m=np.array([a.height_m]), h_b_m=np.array([b.height_m]),
                     freq_mhz=np.array([float(freq_mhz)]), model=model, k_factor=k_factor,
                     itm=itm)
    z, step = path_profile(dem.elevation_m, float(a_rc[0, 0]), float(a_rc[0, 1]),
                           float(b_rc[0, 0]), float(b_rc[0, 1]), cell_m=cell_m,
                           distance_m=float(res.distance_m[0]))
    n = z.size - 1
    d = n * step
    x = np.arange(n + 1, dtype=np.float64) * step
    x[n] = d
    lam = 299_792_458.0 / (float(freq_mhz) * 1e6)
    bulge = x * (d - x) / (2.0 * k_factor * 6_371_000.0)
    los = (z[0] + a.height_m) + ((z[n] + b.height_m) - (z[0] + a.height_m)) * x / d
    f1 = np.sqrt(np.maximum(lam * x * (d - x) / d, 0.0))
    worst = Clearance(fraction=float(res.fraction[0]),
                      index=int(round(float(res.distance_worst_m[0]) / step)),
                      distance_m=float(res.distance_worst_m[0]),
                      ground_m=float(res.ground_worst_m[0]),
                      clearance_m=float(res.clearance_m[0]), f1_m=float(res.f1_m[0]))
    warnings: list[str] = []
    mode = _MODE_NAMES.get(int(res.mode[0]), "los")
    if model == "itm":
        r = p2p_loss(z, step, a.height_m, b.height_m, float(freq_mhz), climate=itm.climate,
                     n0=itm.n0, pol=itm.pol, epsilon=itm.epsilon, sigma=itm.sigma,
                     mdvar=itm.mdvar, time=itm.time_pct, location=itm.location_pct,
                     situation=itm.situation_pct)
        warnings = warning_names(r.warnings)
        mode = r.mode
    return LinkProfile(
        a=a, b=b, freq_mhz=float(freq_mhz), k_factor=float(k_factor), model=model,
        distance_m=float(d), step_m=float(step), distance_axis_m=x, ground_m=z,
        bulge_m=bulge, los_m=los, f1_m=f1, clearance_m=los - z - bulge, worst=worst,
        loss_db=float(res.loss_db[0]), free_space_db=float(res.free_space_db[0]),
        mode=mode, itm_warnings=warnings,
    )


def link_table(
    dem: Dem,
    a: Sequence[LinkEnd],
    b: Sequence[LinkEnd],
    *,
    freq_mhz: float | npt.ArrayLike,
    model: str = "itm",
    k_factor: float = DEFAULT_K_FACTOR,
    itm: ItmSettings | None = None,
) -> pd.DataFrame:
    """Profile, clearance and loss of many links ``a[i] -> b[i]`` at once, in
    the parallel kernel (the same numbers as :func:`link_profile` per link).

    Returns
    -------
    DataFrame
        One row per link: ``a_id``, ``b_id``, ``distance_m``, ``freq_mhz``,
        ``loss_db``, ``free_space_db``, ``mode``, ``clearance_f1`` (worst
        clearance in F1 radii), ``clear`` (>= 0.6), ``worst_distance_m``,
        ``worst_ground_m``, ``worst_clearance_m``, ``worst_f1_m``,
        ``ground_a_m``, ``ground_b_m``.
    """
    if len(a) != len(b):
        raise ParameterError(f"{len(a)} A ends but {len(b)} B ends; expected pairs")
    _check_on_dem(dem, [*a, *b])
    f = np.broadcast_to(np.asarray(freq_mhz, dtype=np.float64), (len(a),)).copy()
    a_rc, a_xy, b_rc, b_xy = _ends_arrays(dem, a, b)
    res: LinkPairs = link_pairs(
        dem.elevation_m, cell_m=min(dem.cell_w_m, dem.cell_h_m), a_rc=a_rc, a_xy=a_xy,
        b_rc=b_rc, b_xy=b_xy, h_a_m=np.array([e.height_m for e in a], dtype=np.float64),
        h_b_m=np.array([e.height_m for e in b], dtype=np.float64), freq_mhz=f, model=model,
        k_factor=k_factor, itm=itm)
    return pd.DataFrame({
        "a_id": [e.id for e in a],
        "b_id": [e.id for e in b],
        "distance_m": res.distance_m,
        "freq_mhz": f,
        "loss_db": res.loss_db,
        "free_space_db": res.free_space_db,
        "mode": [_MODE_NAMES.get(int(m), "los") for m in res.mode],
        "clearance_f1": res.fraction,
        "clear": res.fraction >= CLEARANCE_RULE,
        "worst_distance_m": res.distance_worst_m,
        "worst_ground_m": res.ground_worst_m,
        "worst_clearance_m": res.clearance_m,
        "worst_f1_m": res.f1_m,
        "ground_a_m": res.ground_a_m,
        "ground_b_m": res.ground_b_m,
    })


def best_tower_for(
    scenario: Scenario,
    village: LinkEnd,
    *,
    params: EngineParams,
    thresholds: Thresholds,
) -> LinkEnd:
    """The tower a village's status comes from: the best server among the
    towers in reach on the village's exact paths (as the audit finds it),
    else the nearest tower on the DEM.

    Raises
    ------
    ParameterError
        When the scenario has no tower on the DEM.
    """
    dem = scenario.dem
    grid = towers_on_grid(scenario.towers, dem)
    on = np.flatnonzero([s is not None for s in grid.sites])
    if not on.size:
        raise ParameterError("the scenario has no tower on the DEM")
    sig = village_signals(dem, grid, np.array([village.x_m]), np.array([village.y_m]),
                          params=params, thresholds=thresholds)
    t = int(sig.best_server[0])
    if t < 0:
        d = np.hypot(grid.x_m[on] - village.x_m, grid.y_m[on] - village.y_m)
        t = int(on[np.argmin(d)])
    return resolve_end(scenario, grid.tower_ids[t])


def terrain_roughness_m(dem: Dem, x_m: float, y_m: float) -> float:
    """s_a (m): standard deviation of the terrain heights within
    :data:`ROUGHNESS_HALF_SIDE_M` of a point (ITU-R P.530-17 §2.3.1's
    110 km x 110 km area, cut to the DEM and its source footprint)."""
    r0, c0, _ = dem.rowcol([x_m - ROUGHNESS_HALF_SIDE_M], [y_m + ROUGHNESS_HALF_SIDE_M])
    r1, c1, _ = dem.rowcol([x_m + ROUGHNESS_HALF_SIDE_M], [y_m - ROUGHNESS_HALF_SIDE_M])
    rs = slice(int(min(r0[0], r1[0])), int(max(r0[0], r1[0])) + 1)
    cs = slice(int(min(c0[0], c1[0])), int(max(c0[0], c1[0])) + 1)
    z = dem.elevation_m[rs, cs]
    keep = ~dem.outside_footprint_mask[rs, cs]
    vals = z[keep].astype(np.float64)
    return float(vals.std()) if vals.size else 0.0


def climate_for(lon: float, lat: float, *, rain_rate_mm_h: float | None = None
                ) -> mw.MicrowaveClimate:
    """The climate of a hop at its midpoint: the ITU-R maps through the
    optional ``itur`` package when it is installed, else the defaults of
    :class:`deadzone.model.microwave.MicrowaveClimate` (Hanoi); a given
    ``rain_rate_mm_h`` replaces the map's R0.01."""
    try:
        c = mw.climate_at(lon, lat)
    except ImportError:
        c = mw.MicrowaveClimate()
    if rain_rate_mm_h is not None:
        from dataclasses import replace

        c = replace(c, rain_rate_mm_h=float(rain_rate_mm_h),
                    source=c.source + f"; R0.01 {rain_rate_mm_h:g} mm/h given")
    return c


def link_budget(
    profile: LinkProfile,
    radio: mw.MicrowaveRadio,
    *,
    dem: Dem,
    climate: mw.MicrowaveClimate | None = None,
    target_pct: float = 99.99,
) -> mw.LinkBudget:
    """The microwave budget of a profiled link (:func:`deadzone.model.microwave.link_budget`).

    The basic loss is free space on the slant path plus the terrain model's
    excess over free space when it has one (a hop with the first Fresnel
    zone obstructed pays its diffraction loss); the multipath model gets the
    antennas' heights above sea level and s_a from the DEM around the
    midpoint (:func:`terrain_roughness_m`).
    """
    if abs(radio.freq_ghz * 1000.0 - profile.freq_mhz) > 1e-6 * profile.freq_mhz:
        raise ParameterError(f"the radio is at {radio.freq_ghz} GHz but the profile at "
                             f"{profile.freq_mhz} MHz")
    a, b = profile.a, profile.b
    mid_lon, mid_lat = (a.lon + b.lon) / 2.0, (a.lat + b.lat) / 2.0
    c = climate or climate_for(mid_lon, mid_lat)
    excess = max(profile.loss_db - profile.free_space_db, 0.0)
    return mw.link_budget(
        profile.distance_m / 1000.0, radio, basic_loss_db=profile.free_space_db + excess,
        climate=c,
        sa_m=terrain_roughness_m(dem, (a.x_m + b.x_m) / 2.0, (a.y_m + b.y_m) / 2.0),
        h_e_m=float(profile.ground_m[0] + a.height_m),
        h_r_m=float(profile.ground_m[-1] + b.height_m), target_pct=target_pct)


def summary_lines(
    profile: LinkProfile,
    *,
    budget: mw.LinkBudget | None = None,
    radio: mw.MicrowaveRadio | None = None,
    climate: mw.MicrowaveClimate | None = None,
    eirp_dbm: float | None = None,
) -> list[str]:
    """The short text of a link (the command's output and the figure's box).

    ``eirp_dbm`` (a tower's boresight EIRP, when there is no microwave
    budget) gives a received level ``EIRP - loss`` at a 0 dBi receiver.
    """
    p = profile
    w = p.worst
    mode = f"ITM mode {p.mode}" if p.model == "itm" else p.mode
    rule = "met" if p.clear else "NOT MET"
    lines = [
        f"distance      {p.distance_m / 1000.0:.2f} km",
        f"frequency     {p.freq_mhz:g} MHz",
        f"model         {p.model} ({mode})",
        f"path loss     {p.loss_db:.1f} dB",
        f"free space    {p.free_space_db:.1f} dB",
        f"line of sight {'clear' if w.clearance_m > 0 else 'BLOCKED by terrain'}",
        f"worst point   {w.distance_m / 1000.0:.2f} km, ground {w.ground_m:.0f} m",
        f"clearance     {w.clearance_m:+.1f} m = {w.fraction:+.2f} F1",
        f"F1 there      {w.f1_m:.1f} m",
        f"60% F1 rule   {rule}",
    ]
    if p.itm_warnings:
        lines.append(f"ITM warnings  {len(p.itm_warnings)} (input ranges)")
    if budget is None and eirp_dbm is not None and math.isfinite(eirp_dbm):
        lines.append(f"received      {eirp_dbm - p.loss_db:.1f} dBm")
        lines.append(f"              (EIRP {eirp_dbm:g} dBm, 0 dBi rx)")
    if budget is not None and radio is not None:
        b = budget
        lines += [
            "",
            f"tx power      {radio.tx_power_dbm:g} dBm",
            f"antennas      {radio.tx_gain_dbi:.1f} + {radio.rx_gain_dbi:.1f} dBi",
            f"other losses  {radio.other_losses_db:g} dB",
            f"gaseous       {b.gaseous_db:.2f} dB",
            f"rx level      {b.rx_dbm:.1f} dBm",
            f"threshold     {radio.rx_threshold_dbm:g} dBm",
            f"fade margin   {b.fade_margin_db:.1f} dB",
            f"rain A0.01    {b.rain_001_db:.1f} dB"
            + (f" (R {climate.rain_rate_mm_h:.0f} mm/h)" if climate else ""),
        ]
        if b.fade_margin_db <= 0.0:
            lines.append("availability  0 % (below threshold)")
        else:
            lines += [
                f"rain outage   {b.rain_pct:.4f} % of year",
                f"multipath     {b.multipath_pct:.2g} % worst mo.",
                f"availability  {b.availability_pct:.4f} %",
            ]
        lines.append(f"margin needed {b.required_margin_db:.1f} dB for {b.target_pct:g} %")
    return lines
