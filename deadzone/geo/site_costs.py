"""What a new site costs: tower capex, power (grid line or solar kit) and
backhaul (a microwave hop with 60% of the first Fresnel zone clear, ITU-R
P.530, to a fiber-connected site, else a fiber spur along the roads), with
every price in :class:`CostModel`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from deadzone.errors import ParameterError
from deadzone.kernels.coverage import EARTH_RADIUS_M
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario

__all__ = [
    "Anchors",
    "Backhaul",
    "CostModel",
    "EARTH_RADIUS_M",
    "Hops",
    "fiber_anchors",
    "fresnel_clearance",
    "microwave_hops",
    "site_costs",
]


@dataclass(frozen=True)
class CostModel:
    """Prices and engineering rules for a new site (VND, metres, GHz).

    The defaults are planning assumptions for rural northern Vietnam, in
    2024 VND, of the order of magnitude seen in public procurement notices
    and operator statements; they are not quotes.  Replace them with your
    own figures (``--costs FILE.toml`` in ``deadzone place``).

    Attributes
    ----------
    tower_capex_vnd : float
        Greenfield site: 30-45 m self-supporting mast, foundation, shelter or
        outdoor cabinet, one 4G radio with antennas, installation
        (assumption: 1.8 billion VND; rural BTS are commonly reported between
        1 and 3 billion VND).
    upgrade_capex_vnd : float
        New radio and antennas on an existing mast (no civil works), for
        candidates at existing tower sites (assumption: 0.6 billion VND).
    grid_line_vnd_per_km : float
        Medium/low-voltage line extension to the nearest grid-powered
        village or existing tower, straight-line distance (assumption:
        0.5 billion VND/km).
    grid_connection_vnd : float
        Transformer and meter at a grid-fed site (assumption: 0.05 billion).
    solar_vnd : float
        Off-grid solar array and battery bank sized for one BTS (about
        6 kWp, 2 days of autonomy); used when cheaper than the grid line
        (assumption: 0.7 billion VND).
    microwave_hop_vnd : float
        One microwave link: two radios, two dishes, installation
        (assumption: 0.3 billion VND).
    fiber_vnd_per_km : float
        Aerial fiber (ADSS) along existing road-side poles (assumption:
        0.12 billion VND/km).
    fiber_offroad_vnd_per_km : float
        Fiber from the road to the site, or where no road path exists,
        straight line (assumption: 0.25 billion VND/km, trenched).
    offroad_detour_factor : float
        Straight-line length is multiplied by this off the road network.
    microwave_freq_ghz : float
        Microwave band for the Fresnel clearance (7/8 GHz suits long rural
        hops).
    max_hop_km : float
        Longest microwave hop (km).
    fresnel_clearance : float
        Fraction of the first Fresnel zone that must be clear of terrain
        (0.6, ITU-R P.530 clearance criterion for k = 4/3).
    microwave_availability_pct : float
        Availability a hop must reach (%, rain by ITU-R P.530 §2.4 and
        multipath fading by §2.3 on its fade margin,
        :mod:`deadzone.model.microwave`); 0 checks the clearance only
        (99.99, a common objective for an access backhaul hop).
    microwave_tx_power_dbm, microwave_antenna_gain_dbi : float
        Radio output power and the gain of each of the two dishes (20 dBm,
        35 dBi: about a 1.2 m dish at 8 GHz).
    microwave_rx_threshold_dbm : float
        Receiver threshold at the target bit error ratio (-70 dBm, a
        high-order modulation on a 28 MHz channel).
    anchor_mast_m : float
        Antenna height at a fiber node that has no mast of its own (m).
    relay_neighbours : int
        Relay hops to other candidates are considered only to this many
        nearest candidates within ``max_hop_km`` (keeps LOS checks linear
        in the number of candidates).
    """

    tower_capex_vnd: float = 1.8e9
    upgrade_capex_vnd: float = 0.6e9
    grid_line_vnd_per_km: float = 0.5e9
    grid_connection_vnd: float = 0.05e9
    solar_vnd: float = 0.7e9
    microwave_hop_vnd: float = 0.3e9
    fiber_vnd_per_km: float = 0.12e9
    fiber_offroad_vnd_per_km: float = 0.25e9
    offroad_detour_factor: float = 1.3
    microwave_freq_ghz: float = 8.0
    max_hop_km: float = 25.0
    fresnel_clearance: float = 0.6
    microwave_availability_pct: float = 99.99
    microwave_tx_power_dbm: float = 20.0
    microwave_antenna_gain_dbi: float = 35.0
    microwave_rx_threshold_dbm: float = -70.0
    anchor_mast_m: float = 30.0
    relay_neighbours: int = 8

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            signed = name in ("microwave_rx_threshold_dbm", "microwave_tx_power_dbm")
            if not (isinstance(value, int | float) and math.isfinite(value)
                    and (signed or value >= 0)):
                raise ParameterError(f"cost model field {name!r} was {value!r}; expected "
                                     + ("a finite dBm" if signed else ">= 0"))
        if not self.microwave_availability_pct < 100.0:
            raise ParameterError(f"microwave_availability_pct was "
                                 f"{self.microwave_availability_pct}; expected 0 (no budget "
                                 "check) up to below 100 %")
        if not (0.1 <= self.microwave_freq_ghz <= 100.0):
            raise ParameterError(
                f"microwave_freq_ghz was {self.microwave_freq_ghz}; expected 0.1..100 GHz"
            )

    @classmethod
    def from_mapping(cls, values: dict[str, Any], *, source: str = "costs") -> CostModel:
        """Build from a dict (e.g. a TOML table), naming unknown keys."""
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(values) - known)
        if bad:
            raise ParameterError(
                f"{source}: unknown key {bad[0]!r}; expected one of {sorted(known)}"
            )
        return cls(
            **{k: float(v) if k != "relay_neighbours" else int(v) for k, v in values.items()}
        )


# --------------------------------------------------------------------------- backhaul and costs


def fresnel_clearance(
    dem: Dem,
    a_xy: tuple[float, float],
    a_height_m: float,
    b_xy: tuple[float, float],
    b_height_m: float,
    *,
    freq_ghz: float,
    k_factor: float = 4.0 / 3.0,
    elevation_m: npt.NDArray[np.floating] | None = None,
) -> float:
    """Smallest terrain clearance of a microwave path, in first-Fresnel-zone radii.

    The path runs between antennas ``a_height_m`` / ``b_height_m`` above the
    ground at ``a_xy`` / ``b_xy`` (DEM CRS metres), over the terrain profile
    of the village engine (bilinear heights at the DEM's cell size,
    :func:`deadzone.kernels.link.link_pairs`, the profile of ``deadzone
    link``) plus the earth bulge for the effective radius ``k_factor * 6371
    km``.  At distance ``d1`` from one end and ``d2`` from the other the
    first Fresnel zone radius is ``sqrt(lambda d1 d2 / (d1 + d2))`` (ITU-R
    P.530 §2.2.2).  A hop is clear when the result is at least 0.6.

    Returns
    -------
    float
        ``min((line height - terrain - bulge) / F1)`` over interior samples;
        ``-inf`` when an end is off the DEM.
    """
    hop = microwave_hops(dem, np.array([a_xy], dtype=np.float64), np.array([a_height_m]),
                         np.array([b_xy], dtype=np.float64), np.array([b_height_m]),
                         freq_ghz=freq_ghz, k_factor=k_factor, elevation_m=elevation_m)
    return float(hop.fraction[0])


@dataclass(frozen=True)
class Hops:
    """Microwave hops checked by :func:`microwave_hops` (float64[n] unless noted).

    Attributes
    ----------
    fraction : worst clearance in first-Fresnel-zone radii (-inf: an end off the DEM).
    distance_m : horizontal length (m).
    availability_pct, fade_margin_db : the budget's (NaN where not computed:
        no budget asked, or the hop is not clear).
    ok : bool[n]; clear (``fraction >= clearance``) and, with a budget,
        ``availability_pct >= target``.
    """

    fraction: npt.NDArray[np.float64]
    distance_m: npt.NDArray[np.float64]
    availability_pct: npt.NDArray[np.float64]
    fade_margin_db: npt.NDArray[np.float64]
    ok: npt.NDArray[np.bool_]


def microwave_hops(
    dem: Dem,
    a_xy: npt.NDArray[np.float64],
    a_height_m: npt.NDArray[np.float64],
    b_xy: npt.NDArray[np.float64],
    b_height_m: npt.NDArray[np.float64],
    *,
    freq_ghz: float,
    k_factor: float = 4.0 / 3.0,
    elevation_m: npt.NDArray[np.floating] | None = None,
    costs: CostModel | None = None,
) -> Hops:
    """Clearance and, with ``costs``, the link budget of many hops at once.

    The profiles and the clearance come from the link kernel
    (:func:`deadzone.kernels.link.link_pairs`, in parallel; the profile of
    ``deadzone link`` and of the village engine); the budget of each clear
    hop from :func:`deadzone.model.microwave.link_budget` with the radio of
    ``costs`` (``microwave_*``), free-space loss on the slant path, the
    climate of :func:`deadzone.geo.link.climate_for` at the DEM's centre and
    its terrain roughness there.  A hop is ``ok`` when it keeps
    ``costs.fresnel_clearance`` (0.6 without costs) of F1 clear and reaches
    ``costs.microwave_availability_pct`` (when above 0).
    """
    from deadzone.geo.link import climate_for, terrain_roughness_m
    from deadzone.geo.paths import fractional_rc
    from deadzone.kernels.link import link_pairs
    from deadzone.model import microwave as mw

    a_xy = np.asarray(a_xy, dtype=np.float64).reshape(-1, 2)
    b_xy = np.asarray(b_xy, dtype=np.float64).reshape(-1, 2)
    n = a_xy.shape[0]
    frac = np.full(n, -np.inf)
    dist = np.hypot(*(b_xy - a_xy).T)
    avail = np.full(n, np.nan)
    margin = np.full(n, np.nan)
    rule = costs.fresnel_clearance if costs is not None else 0.6
    if n:
        _, _, ia = dem.rowcol(a_xy[:, 0], a_xy[:, 1])
        _, _, ib = dem.rowcol(b_xy[:, 0], b_xy[:, 1])
        on = np.flatnonzero(ia & ib & np.isfinite(a_xy).all(axis=1)
                            & np.isfinite(b_xy).all(axis=1))
        if on.size:
            z = dem.elevation_m if elevation_m is None else elevation_m
            res = link_pairs(
                z, cell_m=min(dem.cell_w_m, dem.cell_h_m),
                a_rc=fractional_rc(dem, a_xy[on, 0], a_xy[on, 1]), a_xy=a_xy[on],
                b_rc=fractional_rc(dem, b_xy[on, 0], b_xy[on, 1]), b_xy=b_xy[on],
                h_a_m=np.asarray(a_height_m, dtype=np.float64)[on],
                h_b_m=np.asarray(b_height_m, dtype=np.float64)[on],
                freq_mhz=np.full(on.size, float(freq_ghz) * 1000.0), model="fspl",
                k_factor=k_factor)
            frac[on] = np.where(res.distance_m > 0, res.fraction, np.inf)
            if costs is not None and costs.microwave_availability_pct > 0:
                radio = mw.MicrowaveRadio(
                    freq_ghz=float(freq_ghz), tx_power_dbm=costs.microwave_tx_power_dbm,
                    tx_gain_dbi=costs.microwave_antenna_gain_dbi,
                    rx_gain_dbi=costs.microwave_antenna_gain_dbi,
                    rx_threshold_dbm=costs.microwave_rx_threshold_dbm)
                cx, cy = dem.transform @ (dem.shape[1] / 2.0, dem.shape[0] / 2.0)
                lon, lat = _lonlat_of(dem, cx, cy)
                climate = climate_for(lon, lat)
                sa = terrain_roughness_m(dem, cx, cy)
                for k in np.flatnonzero(res.fraction >= rule):
                    i = on[k]
                    b = mw.link_budget(
                        max(float(res.distance_m[k]), 1.0) / 1000.0, radio,
                        basic_loss_db=float(res.free_space_db[k]), climate=climate, sa_m=sa,
                        h_e_m=float(res.ground_a_m[k] + a_height_m[i]),
                        h_r_m=float(res.ground_b_m[k] + b_height_m[i]),
                        target_pct=costs.microwave_availability_pct)
                    avail[i], margin[i] = b.availability_pct, b.fade_margin_db
    ok = frac >= rule
    if costs is not None and costs.microwave_availability_pct > 0:
        ok &= np.nan_to_num(avail, nan=-1.0) >= costs.microwave_availability_pct
    return Hops(frac, dist, avail, margin, ok)


def _lonlat_of(dem: Dem, x: float, y: float) -> tuple[float, float]:
    from pyproj import Transformer

    t = Transformer.from_crs(dem.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(x, y)
    return float(lon), float(lat)


def _road_graph(
    roads: gpd.GeoDataFrame, crs: Any, *, step_m: float = 100.0, snap_m: float = 60.0
) -> tuple[Any, np.ndarray]:
    """Undirected road graph in metres: densified vertices, crossings snapped.

    Returns the edges as a symmetric CSR matrix of lengths (m) for
    ``scipy.sparse.csgraph``, the one graph library of the package, and
    the vertices' ``x, y``.  The vertices are the lines' own, densified to
    ``step_m`` so that a site attaches to the road within ``step_m / 2`` of
    its nearest point; lines are joined where vertices of two lines (or of
    one line folding back) lie within ``snap_m``.  A zero-length segment
    (a repeated vertex) is a stored zero, which csgraph keeps as an edge.
    """
    import shapely

    lines = roads.to_crs(crs).geometry.explode(index_parts=False)
    coords: list[np.ndarray] = []
    owner: list[np.ndarray] = []
    for li, line in enumerate(lines):
        if line is None or line.is_empty:
            continue
        if line.length > 0:
            coords.append(np.asarray(shapely.segmentize(line, step_m).coords)[:, :2])
        else:  # a line of one repeated point (GEOS cannot segmentize it): one vertex
            coords.append(np.asarray(line.coords)[:1, :2])
        owner.append(np.full(len(coords[-1]), li))
    if not coords:
        return csr_matrix((0, 0)), np.empty((0, 2))
    allxy = np.vstack(coords)
    own = np.concatenate(owner)
    n = len(allxy)
    # consecutive vertices of one line, then vertex pairs of different lines
    # (or of one line, not neighbours) within snap_m
    along = np.flatnonzero(own[1:] == own[:-1])
    pairs = cKDTree(allxy).query_pairs(snap_m, output_type="ndarray").reshape(-1, 2)
    pi, pj = pairs[:, 0], pairs[:, 1]
    snap = (own[pi] != own[pj]) | (np.abs(pi - pj) > 1)
    u = np.concatenate([along, pi[snap]])
    v = np.concatenate([along + 1, pj[snap]])
    w = np.hypot(*(allxy[u] - allxy[v]).T)
    g = coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)
    ).tocsr()
    return g, allxy


@dataclass(frozen=True)
class Anchors:
    """The fiber-connected places a new site's backhaul can reach.

    Attributes
    ----------
    ids : list of str
        ``backbone:<node_id>`` and ``tower:<tower_id>``, backbone first.
    xy : float64[n, 2]
        Positions in the DEM's CRS (m).
    lonlat : float64[n, 2]
        Positions in EPSG:4326 (degrees).
    height_m : float64[n]
        Antenna height there: a tower's own, else ``anchor_mast_m``.
    """

    ids: list[str]
    xy: npt.NDArray[np.float64]
    lonlat: npt.NDArray[np.float64]
    height_m: npt.NDArray[np.float64]

    def by_id(self) -> dict[str, tuple[float, float, float]]:
        """``id -> (lon, lat, height_m)``."""
        return {i: (float(ll[0]), float(ll[1]), float(h))
                for i, ll, h in zip(self.ids, self.lonlat, self.height_m, strict=True)}


def fiber_anchors(scenario: Scenario, *, towers_have_fiber: bool = True,
                  anchor_mast_m: float = 30.0) -> Anchors:
    """Backbone nodes and (``towers_have_fiber``) existing towers, the far ends
    of the microwave hops and fiber spurs of :func:`site_costs`; the one list
    the hops, their profiles and the plan's backhaul lines are drawn from."""
    dem = scenario.dem
    ids: list[str] = []
    heights: list[float] = []
    parts: list[gpd.GeoSeries] = []
    if scenario.backbone is not None and len(scenario.backbone):
        b = scenario.backbone
        names = b["node_id"].astype(str) if "node_id" in b.columns else b.index.astype(str)
        keep = (b.geometry.notna() & ~b.geometry.is_empty).to_numpy()
        parts.append(b.geometry[keep])
        ids += [f"backbone:{i}" for i in names[keep]]
        heights += [anchor_mast_m] * int(keep.sum())
    if towers_have_fiber and len(scenario.towers):
        t = scenario.towers
        hs = (t["height_m"].to_numpy(dtype=float) if "height_m" in t.columns
              else np.full(len(t), anchor_mast_m))
        keep = (t.geometry.notna() & ~t.geometry.is_empty).to_numpy()
        parts.append(t.geometry[keep])
        ids += [f"tower:{i}" for i in t["tower_id"].astype(str)[keep]]
        heights += [float(h) if math.isfinite(h) else anchor_mast_m for h in hs[keep]]
    xy = np.empty((0, 2))
    lonlat = np.empty((0, 2))
    if parts:
        m = [g.to_crs(dem.crs) for g in parts]
        ll = [g.to_crs(4326) for g in parts]
        xy = np.column_stack([np.concatenate([g.x.to_numpy() for g in m]),
                              np.concatenate([g.y.to_numpy() for g in m])])
        lonlat = np.column_stack([np.concatenate([g.x.to_numpy() for g in ll]),
                                  np.concatenate([g.y.to_numpy() for g in ll])])
    return Anchors(ids, xy.astype(np.float64).reshape(-1, 2), lonlat.reshape(-1, 2),
                   np.asarray(heights, dtype=np.float64))


@dataclass
class Backhaul:
    """Backhaul options per candidate (see :func:`site_costs`)."""

    anchor_kind: npt.NDArray[np.object_]
    anchor_to: npt.NDArray[np.object_]
    anchor_length_m: npt.NDArray[np.float64]
    anchor_vnd: npt.NDArray[np.float64]
    relay_neighbours: list[list[int]]
    #: Both ways to the network per candidate, for a caller that prices them
    #: over a lifetime (``deadzone plan``): the microwave hop (``None`` /
    #: NaN where no anchor is in clear line of sight within the longest
    #: hop) and the cheapest fiber spur (road and off-road metres; ``None``
    #: / inf where no anchor exists).
    microwave_to: npt.NDArray[np.object_] | None = None
    microwave_length_m: npt.NDArray[np.float64] | None = None
    fiber_to: npt.NDArray[np.object_] | None = None
    fiber_road_m: npt.NDArray[np.float64] | None = None
    fiber_offroad_m: npt.NDArray[np.float64] | None = None
    #: The microwave hop's worst clearance (F1 radii), availability (%) and
    #: fade margin (dB), NaN where there is no hop.
    microwave_clearance_f1: npt.NDArray[np.float64] | None = None
    microwave_availability_pct: npt.NDArray[np.float64] | None = None
    microwave_fade_margin_db: npt.NDArray[np.float64] | None = None


def site_costs(
    scenario: Scenario,
    candidates: gpd.GeoDataFrame,
    *,
    costs: CostModel | None = None,
    towers_have_fiber: bool = True,
    k_factor: float = 4.0 / 3.0,
) -> tuple[pd.DataFrame, Backhaul]:
    """Capex, power and backhaul options of every candidate.

    Parameters
    ----------
    scenario : Scenario
        Needs the DEM; uses ``backbone`` (fiber nodes), ``roads`` (fiber
        spurs), villages' ``has_grid_power`` (all villages are taken as
        grid-powered when the column is missing) and the existing towers
        (powered, and fiber-connected when ``towers_have_fiber``).
    candidates : GeoDataFrame
        From :func:`candidate_sites`.
    costs : CostModel, optional
        Prices and rules.
    towers_have_fiber : bool
        Treat existing towers as fiber-connected sites (hop or spur targets).
    k_factor : float
        Effective earth-radius factor for the Fresnel check.

    Returns
    -------
    table : DataFrame
        Per candidate: ``capex_vnd, power_option (existing/grid/solar),
        grid_distance_m, power_vnd, backhaul_anchor (existing/microwave/fiber/
        none), backhaul_to, backhaul_length_m, backhaul_vnd``.
    backhaul : Backhaul
        Anchor options and LOS relay neighbours (candidate indices).
    """
    cm = costs or CostModel()
    dem = scenario.dem
    n = len(candidates)
    p = candidates.geometry.to_crs(dem.crs)
    cx, cy = p.x.to_numpy(), p.y.to_numpy()
    upgrade = candidates["existing_tower_id"].notna().to_numpy() & (
        candidates["source"].to_numpy() == "upgrade"
    )
    capex = np.where(upgrade, cm.upgrade_capex_vnd, cm.tower_capex_vnd)

    # Power: nearest grid-powered village or existing tower.
    vil = scenario.villages
    if "has_grid_power" in vil.columns:
        powered = vil[vil["has_grid_power"].fillna(False).astype(bool)]
    else:
        powered = vil
    pts = [powered.geometry.representative_point().to_crs(dem.crs)]
    if len(scenario.towers):
        pts.append(scenario.towers.geometry.to_crs(dem.crs))
    pxy = np.column_stack(
        [
            np.concatenate([q.x.to_numpy() for q in pts]),
            np.concatenate([q.y.to_numpy() for q in pts]),
        ]
    )
    pxy = pxy[np.isfinite(pxy).all(axis=1)]
    grid_d = cKDTree(pxy).query(np.column_stack([cx, cy]))[0] if len(pxy) else np.full(n, np.inf)
    grid_vnd = grid_d / 1000.0 * cm.grid_line_vnd_per_km + cm.grid_connection_vnd
    use_solar = cm.solar_vnd < grid_vnd
    power_opt = np.where(upgrade, "existing", np.where(use_solar, "solar", "grid")).astype(object)
    power_vnd = np.where(upgrade, 0.0, np.minimum(grid_vnd, cm.solar_vnd))

    # Fiber-connected anchors (backbone nodes, optionally existing towers).
    anchors = fiber_anchors(scenario, towers_have_fiber=towers_have_fiber,
                            anchor_mast_m=cm.anchor_mast_m)
    anc_id, anc_h, a_xy = anchors.ids, list(anchors.height_m), anchors.xy
    hop_m = cm.max_hop_km * 1000.0
    kind = np.full(n, "none", dtype=object)
    to = np.full(n, None, dtype=object)
    length = np.full(n, np.nan)
    vnd = np.full(n, np.inf)
    elev = dem.elevation_m
    heights = candidates["height_m"].to_numpy(dtype=float)
    ok = candidates["status"].to_numpy() == "ok"
    kind[upgrade] = "existing"
    vnd[upgrade] = 0.0
    # Microwave hop to the nearest anchor whose hop is clear and meets the
    # availability: every candidate's 16 nearest anchors within a hop, checked
    # at once (link kernel and budget, :func:`microwave_hops`).
    hop_frac = np.full(n, np.nan)
    hop_avail = np.full(n, np.nan)
    hop_margin = np.full(n, np.nan)
    if len(a_xy):
        atree = cKDTree(a_xy)
        todo = np.flatnonzero(ok & ~upgrade)
        kq = min(len(a_xy), 16)
        dq, kk = atree.query(np.column_stack([cx[todo], cy[todo]]), k=kq,
                             distance_upper_bound=hop_m)
        dq = np.asarray(dq, dtype=np.float64).reshape(todo.size, kq)
        kk = np.asarray(kk).reshape(todo.size, kq)
        pj, pk = np.nonzero(np.isfinite(dq) & (kk < len(a_xy)))  # by candidate, nearest first
        cj, ak = todo[pj], kk[pj, pk]
        anc_h_a = np.asarray(anc_h, dtype=np.float64)
        hops = microwave_hops(dem, np.column_stack([cx[cj], cy[cj]]), heights[cj],
                              a_xy[ak], anc_h_a[ak], freq_ghz=cm.microwave_freq_ghz,
                              k_factor=k_factor, elevation_m=elev, costs=cm)
        taken = np.zeros(n, dtype=bool)
        for i in np.flatnonzero(hops.ok):
            j = cj[i]
            if taken[j]:
                continue
            taken[j] = True
            kind[j], to[j], length[j] = "microwave", anc_id[ak[i]], float(dq[pj[i], pk[i]])
            vnd[j] = cm.microwave_hop_vnd
            hop_frac[j], hop_avail[j] = hops.fraction[i], hops.availability_pct[i]
            hop_margin[j] = hops.fade_margin_db[i]
    mw_to = np.where(kind == "microwave", to, None)
    mw_len = np.where(kind == "microwave", length, np.nan)
    spur_m = np.full((n, 2), np.inf)
    spur_to = np.full(n, None, dtype=object)
    # Fiber spur along the roads to the nearest anchor, where cheaper.
    if len(a_xy):
        spur_m, spur_to = _fiber_spurs(scenario, cx, cy, a_xy, anc_id, cm)
        spur_vnd = (
            spur_m[:, 0] / 1000.0 * cm.fiber_vnd_per_km
            + spur_m[:, 1] / 1000.0 * cm.fiber_offroad_vnd_per_km
        )
        better = ok & ~upgrade & (spur_vnd < vnd)
        kind[better] = "fiber"
        to[better] = spur_to[better]
        length[better] = spur_m[better].sum(axis=1)
        vnd[better] = spur_vnd[better]

    # Relay neighbours: other candidates within a hop, clear and available.
    relay: list[list[int]] = [[] for _ in range(n)]
    okj = np.flatnonzero(ok)
    if okj.size > 1 and cm.relay_neighbours > 0:
        ctree = cKDTree(np.column_stack([cx[okj], cy[okj]]))
        kq = min(okj.size, int(cm.relay_neighbours) + 1)
        dd, kk = ctree.query(np.column_stack([cx[okj], cy[okj]]), k=kq, distance_upper_bound=hop_m)
        dd = np.asarray(dd).reshape(okj.size, kq)
        kk = np.asarray(kk).reshape(okj.size, kq)
        pairs: list[tuple[int, int]] = []  # (j, k) in each candidate's neighbour order
        for a, j in enumerate(okj):
            for dist, b in zip(dd[a], kk[a], strict=True):
                if math.isfinite(dist) and b < okj.size and int(okj[b]) != j:
                    pairs.append((int(j), int(okj[b])))
        keys = sorted({(min(j, k), max(j, k)) for j, k in pairs})
        if keys:
            kj = np.array(keys, dtype=np.int64)
            hops = microwave_hops(dem, np.column_stack([cx[kj[:, 0]], cy[kj[:, 0]]]),
                                  heights[kj[:, 0]], np.column_stack([cx[kj[:, 1]],
                                                                      cy[kj[:, 1]]]),
                                  heights[kj[:, 1]], freq_ghz=cm.microwave_freq_ghz,
                                  k_factor=k_factor, elevation_m=elev, costs=cm)
            clear = dict(zip(keys, hops.ok.tolist(), strict=True))
            for j, k in pairs:
                if clear[(min(j, k), max(j, k))]:
                    relay[j].append(k)
    table = pd.DataFrame(
        {
            "capex_vnd": capex.astype(np.float64),
            "power_option": power_opt,
            "grid_distance_m": np.where(upgrade, 0.0, grid_d),
            "power_vnd": power_vnd.astype(np.float64),
            "backhaul_anchor": kind,
            "backhaul_to": to,
            "backhaul_length_m": length,
            "backhaul_vnd": vnd,
            # the hop's check, where the site's backhaul is the microwave hop
            "hop_clearance_f1": np.where(kind == "microwave", hop_frac, np.nan),
            "hop_availability_pct": np.where(kind == "microwave", hop_avail, np.nan),
            "hop_fade_margin_db": np.where(kind == "microwave", hop_margin, np.nan),
        }
    )
    return table, Backhaul(kind, to, length, vnd, relay, mw_to, mw_len, spur_to,
                           spur_m[:, 0].copy(), spur_m[:, 1].copy(), hop_frac, hop_avail,
                           hop_margin)


def _path_origin(pred: npt.NDArray[np.int32], virtual: int) -> npt.NDArray[np.int64]:
    """The first real vertex on each vertex's shortest path from ``virtual``.

    ``pred`` is csgraph's predecessor array over the real vertices (``virtual``
    for a source vertex, -9999 where unreachable); pointer jumping follows
    every chain to its source in O(log length) passes.  -1 where unreachable.
    """
    root = np.where(pred == virtual, np.arange(len(pred)), pred).astype(np.int64)
    root[root < 0] = -1
    live = root >= 0
    while True:
        nxt = root.copy()
        nxt[live] = root[root[live]]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _fiber_spurs(
    scenario: Scenario,
    cx: np.ndarray,
    cy: np.ndarray,
    a_xy: np.ndarray,
    anc_id: list[str],
    cm: CostModel,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: (road metres, off-road metres) of the cheapest spur, and its anchor."""
    n = cx.size
    off_only = (
        np.hypot(cx[:, None] - a_xy[None, :, 0], cy[:, None] - a_xy[None, :, 1])
        * cm.offroad_detour_factor
    )
    k_off = np.argmin(off_only, axis=1)
    best = np.column_stack([np.zeros(n), off_only[np.arange(n), k_off]])
    best_to = np.array([anc_id[k] for k in k_off], dtype=object)
    roads = scenario.roads
    if roads is None or not len(roads):
        return best, best_to
    g, vxy = _road_graph(roads, scenario.dem.crs)
    if not len(vxy):
        return best, best_to
    vtree = cKDTree(vxy)
    da, va = vtree.query(a_xy)
    off = da * cm.offroad_detour_factor

    def road_equivalent(off_m: np.ndarray) -> np.ndarray:
        """Off-road metres at the road price (m)."""
        if cm.fiber_vnd_per_km <= 0:
            return np.zeros_like(off_m)
        return off_m * cm.fiber_offroad_vnd_per_km / cm.fiber_vnd_per_km

    # Multi-source Dijkstra (Dijkstra 1959) from a virtual vertex joined to each
    # anchor's road vertex by the anchor's off-road connector, priced in road
    # metres; anchors sharing a vertex: the cheapest, the first on a tie.
    by_vertex = np.lexsort((np.arange(len(va)), off, va))
    first = np.ones(len(by_vertex), bool)
    first[1:] = va[by_vertex[1:]] != va[by_vertex[:-1]]
    src_k = by_vertex[first]
    src_v = va[src_k]
    nv = len(vxy)
    roads_coo = g.tocoo()
    graph = coo_matrix(
        (
            np.concatenate([roads_coo.data, road_equivalent(off[src_k])]),
            (
                np.concatenate([roads_coo.row, np.full(len(src_k), nv)]),
                np.concatenate([roads_coo.col, src_v]),
            ),
        ),
        shape=(nv + 1, nv + 1),
    ).tocsr()
    dist, pred = dijkstra(graph, directed=True, indices=nv, return_predecessors=True)
    anchor_of = np.full(nv, -1, np.int64)
    anchor_of[src_v] = src_k
    origin = _path_origin(pred[:nv], nv)
    k_of = np.where(origin >= 0, anchor_of[origin], -1)  # -1: no road path to an anchor
    dc, vc = vtree.query(np.column_stack([cx, cy]))
    k = k_of[vc]
    ok = k >= 0
    road_m = np.full(n, np.inf)
    off_m = np.full(n, np.inf)
    to = np.full(n, None, dtype=object)
    road_m[ok] = dist[vc[ok]] - road_equivalent(off[k[ok]])
    off_m[ok] = off[k[ok]] + dc[ok] * cm.offroad_detour_factor
    to[ok] = np.asarray(anc_id, dtype=object)[k[ok]]
    via_road = road_m / 1000.0 * cm.fiber_vnd_per_km + off_m / 1000.0 * cm.fiber_offroad_vnd_per_km
    direct = best[:, 1] / 1000.0 * cm.fiber_offroad_vnd_per_km
    use = np.isfinite(via_road) & (via_road < direct)
    best[use, 0] = road_m[use]
    best[use, 1] = off_m[use]
    best_to[use] = to[use]
    return best, best_to
