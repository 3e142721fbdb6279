"""Fiber rollout planning: least-cost networks along roads, phased by yearly budget.

:func:`plan_fiber` joins targets (commune centres, towers, villages or any
points) to the existing fiber network along a :class:`~deadzone.geo.roads.RoadGraph`
and orders the build into yearly phases.

Model
-----
* **Existing network**: backbone nodes (points) and spans (lines).  Every
  backbone node is joined to the nearest road by a drop; road edges lying
  within ``span_buffer_m`` of an existing span are already lit (cost 0).  All
  of it is contracted into one root.
* **Last-mile drop**: each target joins the road graph at the nearest road.
  ``drop="straight"``: a straight drop from the target to the foot of the
  perpendicular on the nearest road (the road is split there).
  ``drop="road"``: the drop runs along the nearest road to its nearer end
  node (junction), length = gap to the road + distance along it.  A drop is
  costed at ``FiberCosts.drop_cost_per_km``; a target further than
  ``max_drop_m`` from any road is *unreachable (beyond max drop)*, one whose
  road has no path to the existing network is *unreachable (disconnected
  road component)*.  Nothing is dropped: every input target appears in the
  output with a status and a reason.
* **Weights**: road edges weigh ``weight_m`` (road-equivalent metres, see
  :mod:`deadzone.geo.roads`), drops ``drop_m * drop_cost_per_km /
  cost_per_km``; money = weight / 1000 * ``cost_per_km`` + ``site_cost`` per
  connected target.
* **Design**: Mehlhorn's Steiner tree + local search
  (:mod:`deadzone.geo._fiber_design`), and as an alternative the Giga-style
  greedy growth with a maximum link length; both totals and a lower bound on
  the optimum are reported.
* **Phasing**: each year the budget (km and/or money) is spent greedily on the
  connected extension (a tree path from the built network plus the whole
  sub-tree below it) with the largest value per cost that still fits; every
  phase is connected to the existing network and earlier phases, and no phase
  exceeds its budget.  When no whole extension fits, the rest of the year's
  budget builds whole edges along the path toward the best one, so long
  links progress over several years.  Unused budget does not carry over.  (Density greedy for
  budgeted problems, cf. Nemhauser, Wolsey & Fisher 1978; Khuller, Moss & Naor
  1999.)
* **Households reached**: a village counts as reached once fiber (existing or
  built) lies within ``reach_m`` (default 2 km).  ``reach_mode="straight"``
  (default) measures the straight-line distance to the nearest fiber line
  or node; ``reach_mode="road"`` measures gap-to-road plus distance along
  roads to the nearest fiber node.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse.csgraph import connected_components

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo._fiber_design import (
    dual_ascent_bound,
    greedy_growth,
    improve_tree,
    rooted_order,
    steiner_mehlhorn,
)
from deadzone.geo._fiber_graph import (
    _EPS_W,
    _SNAP_M,
    I64,
    _add_root,
    _attach,
    _Aug,
    _augment,
    _edge_lookup,
)
from deadzone.geo._fiber_outputs import plan_tables
from deadzone.geo._fiber_types import FiberCosts, _Net, _Phased
from deadzone.geo.fiber_targets import (
    F64,
    _points_xy,
    commune_targets,
    tower_targets,
    village_targets,
)
from deadzone.geo.roads import RoadGraph, _symmetric_min_csr
from deadzone.kernels.graph import phase_kernel

__all__ = [
    "FiberCosts",
    "FiberPlan",
    "plan_fiber",
    "commune_targets",
    "village_targets",
    "tower_targets",
    "DROP_MODES",
    "REACH_MODES",
    "METHODS",
    "phase_budget_used",
    "plan_to_ofds",
]

METHODS = ("steiner", "greedy")
REACH_MODES = ("straight", "road")

DROP_MODES = ("straight", "road")

logger = logging.getLogger(__name__)


@dataclass
class FiberPlan:
    """What :func:`plan_fiber` returns.

    Attributes
    ----------
    routes : GeoDataFrame
        EPSG:4326 lines, one per built road piece or drop: ``phase`` (1..K,
        -1 = designed but not within the K years), ``length_m``, ``cost``,
        ``kind`` (``road``/``drop``), ``road_class``, ``target_id`` (drops),
        ``design``.
    targets : GeoDataFrame
        Every input target: ``target_id, name, kind, value, status, reason,
        phase, drop_m, gap_m``; ``status`` is ``connected`` (phase >= 1),
        ``later`` (in the design, not within budget/years) or ``unreachable``.
    phases : DataFrame
        One row per phase (0 = existing network): ``phase, km, road_km,
        drop_km, cost, targets_connected, targets_connected_total,
        value_connected_total, households_reached, households_total,
        households_pct, communes_with_fiber, communes_total,
        communes_with_fiber_text``.
    designs : dict
        Totals per design (``steiner``, ``greedy``) and the lower bound.
    villages : GeoDataFrame or None
        Input villages with ``fiber_phase`` (first phase within reach, -1 never).
    existing : GeoDataFrame
        EPSG:4326 existing network (backbone nodes and spans) as drawn.
    crs : pyproj.CRS
        Projected CRS used for lengths.
    params : dict
        Every option used.
    """

    routes: gpd.GeoDataFrame
    targets: gpd.GeoDataFrame
    phases: pd.DataFrame
    designs: dict[str, Any]
    villages: gpd.GeoDataFrame | None
    existing: gpd.GeoDataFrame
    crs: Any
    params: dict[str, Any] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Short human-readable report lines (costs with their currency)."""
        lines = []
        d = self.designs
        lb = d.get("lower_bound_cost")
        cur = str(self.params.get("currency", "VND"))
        for name in METHODS:
            if name in d:
                x = d[name]
                gap = (
                    f", {x['gap_pct']:.1f}% above the lower bound"
                    if lb and "gap_pct" in x
                    else ", fewer targets (max link length)"
                    if lb
                    else ""
                )
                lines.append(
                    f"{name} design: {x['km']:,.1f} km, cost {x['cost']:,.0f} {cur}, "
                    f"{x['targets_connected']} targets{gap}"
                )
        if lb is not None:
            lines.append(
                f"lower bound on the optimal network cost: {lb:,.0f} {cur} "
                f"({d['lower_bound_method']})"
            )
        for r in self.phases.itertuples():
            hh = f"{r.households_pct:.2f}%" if r.households_total > 0 else "n/a (no villages)"
            lines.append(
                f"phase {r.phase}: {r.km:,.1f} km, cost {r.cost:,.0f} {cur}, "
                f"+{r.targets_connected} targets; households reached by fiber "
                f"{hh}; communes with fiber {r.communes_with_fiber_text}"
            )
        unr = self.targets[self.targets["status"] == "unreachable"]
        if len(unr):
            counts = unr["reason"].str.split(" \\(").str[0].value_counts()
            lines.append(
                "unreachable targets: " + ", ".join(f"{n} {why}" for why, n in counts.items())
            )
        return lines


# --------------------------------------------------------------------------- phasing


# --------------------------------------------------------------------------- main entry


def _resolve_ids(targets: gpd.GeoDataFrame, id_column: str | None) -> npt.NDArray[np.object_]:
    if id_column is not None:
        if id_column not in targets.columns:
            raise SchemaError(
                f"targets: id column {id_column!r} not found; columns are "
                f"{[c for c in targets.columns if c != targets.geometry.name]}"
            )
        col = id_column
    else:
        col = next(
            (
                c
                for c in (
                    "target_id",
                    "commune_id",
                    "village_id",
                    "tower_id",
                    "id",
                    "node_id",
                    "name",
                )
                if c in targets.columns
            ),
            None,
        )
    if col is None:
        return np.array([f"T{i}" for i in range(len(targets))], dtype=object)
    ids = targets[col].astype("string").fillna("").to_numpy(dtype=object)
    missing = ids == ""
    ids[missing] = [f"row{i}" for i in np.flatnonzero(missing)]
    return ids


def _values(targets: gpd.GeoDataFrame, value_column: str | None) -> tuple[F64, str]:
    if value_column is not None:
        if value_column not in targets.columns:
            raise SchemaError(f"targets: value column {value_column!r} not found")
        col = value_column
    else:
        col = next(
            (c for c in ("households", "population", "priority", "value") if c in targets.columns),
            None,
        )
    if col is None:
        return np.ones(len(targets)), "count"
    vals = pd.to_numeric(targets[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"targets row {i}: {col} was {targets[col].iloc[i]!r}; expected a number >= 0"
        )
    return vals, col


def _design_totals(
    aug: _Aug, eidx: I64, costs: FiberCosts, n_targets: int, lb_weight: float | None
) -> dict[str, Any]:
    new = (aug.kind[eidx] != "root") & ~aug.existing[eidx]
    e = eidx[new]
    road = aug.kind[e] == "road"
    w = float(aug.weight_m[e].sum())
    cost = w / 1000.0 * costs.cost_per_km + n_targets * costs.site_cost
    out = {
        "km": float(aug.length_m[e].sum()) / 1000.0,
        "road_km": float(aug.length_m[e][road].sum()) / 1000.0,
        "drop_km": float(aug.length_m[e][~road].sum()) / 1000.0,
        "weight_m": w,
        "cost": cost,
        "targets_connected": int(n_targets),
    }
    if lb_weight is not None:
        lb_cost = lb_weight / 1000.0 * costs.cost_per_km + n_targets * costs.site_cost
        out["gap_pct"] = 100.0 * (cost - lb_cost) / lb_cost if lb_cost > 0 else 0.0
    return out


def plan_fiber(
    graph: RoadGraph,
    targets: gpd.GeoDataFrame,
    backbone_nodes: gpd.GeoDataFrame | None,
    backbone_spans: gpd.GeoDataFrame | None = None,
    *,
    id_column: str | None = None,
    value_column: str | None = None,
    drop: str = "straight",
    max_drop_m: float = 5000.0,
    span_buffer_m: float = 100.0,
    method: str = "steiner",
    max_link_m: float = math.inf,
    improve_time_s: float = 10.0,
    bound_time_s: float = 10.0,
    budget_km_per_year: float | None = None,
    budget_per_year: float | None = None,
    years: int = 5,
    villages: gpd.GeoDataFrame | None = None,
    communes: gpd.GeoDataFrame | None = None,
    reach_m: float = 2000.0,
    reach_mode: str = "straight",
    costs: FiberCosts | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FiberPlan:
    """Design a fiber network from the existing network to the targets and phase it.

    Parameters
    ----------
    graph : RoadGraph
        From :func:`deadzone.geo.roads.build_road_graph` (projected metres).
    targets : GeoDataFrame
        Points (polygons: a point inside) in any CRS; ``target_id`` (or
        ``id_column``), optional ``name``, ``kind`` and a value column.
    backbone_nodes, backbone_spans : GeoDataFrame
        The existing network (points; lines), e.g. from
        :func:`deadzone.data.ofds.read_backbone`.  At least one usable node
        or span is needed.
    id_column, value_column : str, optional
        Target id and value columns (default value: ``households``, else
        ``population``, else ``priority``, else 1 per target).
    drop : {"straight", "road"}
        Last-mile drop model (module docstring).
    max_drop_m : float, default 5000
        Longest drop (m); further targets are unreachable.
    span_buffer_m : float, default 100
        Road edges within this distance of an existing span count as lit.
    method : {"steiner", "greedy"}
        Design that is phased (both are computed and reported).
    max_link_m : float, default inf
        Greedy design only: longest new link from the network to one target (m).
    improve_time_s : float, default 10
        Time budget of the Steiner local search (s).
    bound_time_s : float, default 10
        Time budget of the dual-ascent lower bound (s); the bound is valid
        (only weaker) when it stops early.
    budget_km_per_year, budget_per_year : float, optional
        Yearly budget in km of new fibre (roads + drops) and/or money.  With
        neither, the whole design is phase 1.
    years : int, default 5
        Number of phases.
    villages : GeoDataFrame, optional
        Villages with ``households`` (else ``population``) for the
        households-reached figures.
    communes : GeoDataFrame, optional
        Commune polygons for "communes with fiber X/Y" (a commune has fiber
        when fiber crosses or enters it).
    reach_m : float, default 2000
        A village is reached when fiber is this close (m).
    reach_mode : {"straight", "road"}
        Distance used for ``reach_m`` (module docstring).
    costs : FiberCosts, optional
        Unit costs.
    progress : callable, optional
        ``progress(done, total)`` after each stage.

    Returns
    -------
    FiberPlan

    Raises
    ------
    ParameterError
        Bad options, or no usable backbone node/span.
    SchemaError
        Missing id/value columns or bad values.

    Examples
    --------
    >>> plan = plan_fiber(graph, targets, nodes, spans, budget_km_per_year=50,
    ...                   years=3)  # doctest: +SKIP
    >>> plan.phases[["phase", "km", "households_pct"]]  # doctest: +SKIP
    """
    costs = costs or FiberCosts()
    _check_options(targets, drop=drop, reach_mode=reach_mode, method=method,
                   max_drop_m=max_drop_m, span_buffer_m=span_buffer_m, reach_m=reach_m,
                   improve_time_s=improve_time_s, bound_time_s=bound_time_s,
                   max_link_m=max_link_m, budget_km_per_year=budget_km_per_year,
                   budget_per_year=budget_per_year, years=years)
    stages = 6
    tick = progress or (lambda done, total: None)
    # 1. the inputs in the graph CRS, attached to the roads, under one root
    net = _network(graph, targets, backbone_nodes, backbone_spans, id_column=id_column,
                   value_column=value_column, drop=drop, max_drop_m=max_drop_m,
                   span_buffer_m=span_buffer_m, costs=costs)
    tick(1, stages)
    # 2-4. which targets cannot be reached and why; the designs
    gw, reason, reach_t, term = _unreachable(graph, net, max_drop_m)
    designs, pairs, lookup, designed = _designs(
        net, gw, term, reach_t, reason, method=method, max_link_m=max_link_m,
        improve_time_s=improve_time_s, bound_time_s=bound_time_s, costs=costs,
        tick=lambda done: tick(done, stages))
    # 5. phasing on the rooted design tree
    ph = _phase(net, pairs, lookup, designed, costs=costs,
                budget_km_per_year=budget_km_per_year, budget_per_year=budget_per_year,
                years=years)
    tick(5, stages)
    # 6. outputs
    plan = FiberPlan(**plan_tables(
                    graph, targets, net, ph, reason, designed, designs, method=method,
                    villages=villages, communes=communes, reach_m=reach_m,
                    reach_mode=reach_mode, costs=costs,
                    params={
                        "drop": drop,
                        "max_drop_m": max_drop_m,
                        "span_buffer_m": span_buffer_m,
                        "method": method,
                        "max_link_m": None if math.isinf(max_link_m) else max_link_m,
                        "improve_time_s": improve_time_s,
                        "bound_time_s": bound_time_s,
                        "budget_km_per_year": budget_km_per_year,
                        "budget_per_year": budget_per_year,
                    }))
    tick(6, stages)
    return plan


def _check_options(targets: gpd.GeoDataFrame, *, drop: str, reach_mode: str, method: str,
                   max_drop_m: float, span_buffer_m: float, reach_m: float,
                   improve_time_s: float, bound_time_s: float, max_link_m: float,
                   budget_km_per_year: float | None, budget_per_year: float | None,
                   years: int) -> None:
    """Refuse bad ``plan_fiber`` options with one line naming the option."""
    if drop not in DROP_MODES:
        raise ParameterError(f"drop was {drop!r}; expected one of {DROP_MODES}")
    if reach_mode not in REACH_MODES:
        raise ParameterError(f"reach_mode was {reach_mode!r}; expected one of {REACH_MODES}")
    if method not in METHODS:
        raise ParameterError(f"method was {method!r}; expected one of {METHODS}")
    for name, val in (
        ("max_drop_m", max_drop_m),
        ("span_buffer_m", span_buffer_m),
        ("reach_m", reach_m),
        ("improve_time_s", improve_time_s),
        ("bound_time_s", bound_time_s),
    ):
        if not (val >= 0 and math.isfinite(val)):
            raise ParameterError(f"{name} was {val!r}; expected a finite value >= 0")
    if not max_link_m > 0:
        raise ParameterError(f"max_link_m was {max_link_m!r}; expected > 0")
    for name, val in (
        ("budget_km_per_year", budget_km_per_year),
        ("budget_per_year", budget_per_year),
    ):
        if val is not None and not (val > 0 and math.isfinite(val)):
            raise ParameterError(f"{name} was {val!r}; expected a finite value > 0")
    if isinstance(years, bool) or not isinstance(years, int | np.integer) or years < 1:
        raise ParameterError(f"years was {years!r}; expected an int >= 1")
    if targets.crs is None:
        raise SchemaError("targets have no CRS")


def _network(graph: RoadGraph, targets: gpd.GeoDataFrame,
             backbone_nodes: gpd.GeoDataFrame | None, backbone_spans: gpd.GeoDataFrame | None,
             *, id_column: str | None, value_column: str | None, drop: str, max_drop_m: float,
             span_buffer_m: float, costs: FiberCosts) -> _Net:
    """Targets and backbone in the graph CRS, attached to the roads: the backbone
    to its nearest roads, the targets to the nearest road of the components the
    backbone reaches (the nearest road of any component only explains why a
    target is unreachable), lit roads along existing spans, one root."""
    crs = graph.crs
    tg = targets.to_crs(crs)
    t_ids = _resolve_ids(targets, id_column)
    t_val, value_name = _values(targets, value_column)
    t_xy, t_ok = _points_xy(tg)
    nb = 0 if backbone_nodes is None else len(backbone_nodes)
    if nb:
        bxy, b_ok = _points_xy(backbone_nodes.to_crs(crs))
    else:
        bxy, b_ok = np.zeros((0, 2)), np.zeros(0, bool)
    spans = None
    if backbone_spans is not None and len(backbone_spans):
        sp = np.asarray(backbone_spans.to_crs(crs).geometry.array, dtype=object)
        spans = sp[~(shapely.is_missing(sp) | shapely.is_empty(sp))]
        spans = spans if len(spans) else None
    if not b_ok.any() and spans is None:
        raise ParameterError(
            "the backbone has no usable node or span; the plan needs an "
            "existing fiber network to grow from"
        )

    nt = len(t_xy)
    zone = None
    lit_base = np.zeros(graph.n_edges, bool)
    if spans is not None:
        zone = shapely.union_all(shapely.buffer(spans, max(span_buffer_m, _SNAP_M)))
        shapely.prepare(zone)
        lit_base = shapely.contains(zone, graph.edge_geoms())
    b_edge, b_gap, b_pos = _attach(graph, bxy, b_ok, None)
    b_use = b_ok & (b_edge >= 0) & (b_gap <= max_drop_m)
    comp_of = graph.component
    live = np.zeros(int(comp_of.max()) + 1 if graph.n_nodes else 0, bool)
    live[comp_of[graph.edge_u[b_edge[b_use]]]] = True
    live[comp_of[graph.edge_u[lit_base]]] = True
    any_edge, any_gap, _ = _attach(graph, t_xy, t_ok, None)
    t_edge, t_gap, t_pos = _attach(graph, t_xy, t_ok, live[comp_of[graph.edge_u]])
    edge = np.concatenate([t_edge, b_edge])
    gap = np.concatenate([t_gap, b_gap])
    pos = np.concatenate([t_pos, b_pos])
    all_xy = np.vstack([t_xy, bxy])
    all_ok = np.concatenate([t_ok, b_ok])
    use = all_ok & (edge >= 0) & (gap <= max_drop_m)
    drop_ratio = costs.drop_cost_per_km / costs.cost_per_km
    aug, pnode, drop_m = _augment(graph, all_xy, edge, gap, pos, use, drop, drop_ratio)
    # existing spans: road edges inside the span buffer are lit
    src_nodes = [pnode[nt:][use[nt:]]]
    if zone is not None:
        road = np.flatnonzero(aug.kind == "road")
        lit = road[shapely.contains(zone, aug.geoms[road])]
        aug.existing[lit] = True
        aug.weight_m[lit] = _EPS_W
        src_nodes += [aug.u[lit], aug.v[lit]]
    src = np.concatenate(src_nodes).astype(np.int64)
    if len(src) == 0:
        raise ParameterError(
            f"no backbone node lies within the maximum drop of {max_drop_m / 1000:g} km "
            "(max_drop_m; CLI --max-drop-km) of a road and no road follows an existing span; "
            "nothing to grow from"
        )
    _add_root(aug, src)
    return _Net(t_ids, t_val, value_name, t_ok, bxy, b_ok, spans, nt, aug, pnode, drop_m, gap,
                any_edge, any_gap, t_edge, t_gap, comp_of)


def _unreachable(graph: RoadGraph, net: _Net, max_drop_m: float) -> tuple[Any, Any, Any, Any]:
    """The weighted graph, each target's reason it cannot be reached ("" if it
    can), the reachable targets and the Steiner terminals (root first)."""
    aug, nt, pnode, t_ok = net.aug, net.nt, net.pnode, net.t_ok
    any_edge, any_gap, t_edge, t_gap, comp_of = (net.any_edge, net.any_gap, net.t_edge,
                                                 net.t_gap, net.comp_of)
    gw = _symmetric_min_csr(aug.u, aug.v, aug.weight_m, aug.n)
    _, lab = connected_components(gw, directed=False)
    root_comp = lab[aug.root]
    reason = np.full(nt, "", dtype=object)
    for i in range(nt):
        if not t_ok[i]:
            reason[i] = "no location (empty or missing geometry)"
        elif any_edge[i] < 0:
            reason[i] = "beyond max drop (no road in the road layer)"
        elif any_gap[i] > max_drop_m:
            reason[i] = (
                f"beyond max drop ({any_gap[i]:,.0f} m to the nearest road > {max_drop_m:,.0f} m)"
            )
        elif t_edge[i] < 0 or t_gap[i] > max_drop_m:
            c = int(comp_of[graph.edge_u[any_edge[i]]])
            far = (
                f"; the nearest connected road is {t_gap[i]:,.0f} m away" if t_edge[i] >= 0 else ""
            )
            reason[i] = (
                f"disconnected road component (nearest road, {any_gap[i]:,.0f} m away, is in "
                f"component {c}, which no backbone node or span reaches{far})"
            )
        elif lab[pnode[i]] != root_comp:  # pragma: no cover - attached to a live component
            reason[i] = "disconnected road component"
    reach_t = np.flatnonzero(reason == "")
    term = np.concatenate([[aug.root], pnode[reach_t]]).astype(np.int64)

    return gw, reason, reach_t, term


def _designs(net: _Net, gw: Any, term: Any, reach_t: Any, reason: Any, *, method: str,
             max_link_m: float, improve_time_s: float, bound_time_s: float,
             costs: FiberCosts, tick: Callable[[int], None]) -> tuple[Any, Any, Any, Any]:
    """The Steiner and greedy designs and the lower bound; the chosen design's
    edge pairs, the edge lookup and the designed targets (``reason`` gains the
    greedy design's "beyond max link length")."""
    aug, nt, pnode = net.aug, net.nt, net.pnode
    lookup = _edge_lookup(aug)
    st = steiner_mehlhorn(gw, term)
    tick(2)
    pairs_st = improve_tree(gw, st.pairs, term, time_budget_s=improve_time_s)
    da_lb, da_done = dual_ascent_bound(gw, aug.root, term, time_budget_s=bound_time_s)
    # free edges (root links, lit roads) weigh _EPS_W in the graph but nothing in the
    # cost: take their largest possible share out of the bound
    n_free = int(aug.existing.sum())
    lb = max(0.0, max(st.lower_bound, da_lb) - _EPS_W * n_free)
    tick(3)
    lg = _symmetric_min_csr(
        aug.u,
        aug.v,
        np.maximum(aug.length_m, _EPS_W) * np.where(aug.existing, 0.0, 1.0) + _EPS_W * aug.existing,
        aug.n,
    )
    pairs_gr, gr_order, _ = greedy_growth(
        gw, lg, np.array([aug.root]), pnode[reach_t], max_link_m=max_link_m
    )
    tick(4)
    gr_conn = np.zeros(nt, bool)
    gr_conn[reach_t[gr_order]] = True
    designs: dict[str, Any] = {
        "lower_bound_weight_m": lb,
        "lower_bound_method": (
            ("dual ascent (Wong 1984)" + ("" if da_done else ", stopped at the time budget"))
            if da_lb >= st.lower_bound
            else "MST of the terminal distance graph / (2 (1 - 1/t))"
        ),
        "mehlhorn_weight_m": st.weight,
        "steiner": _design_totals(aug, lookup(pairs_st), costs, len(reach_t), lb),
        "greedy": _design_totals(
            aug,
            lookup(pairs_gr),
            costs,
            int(gr_conn.sum()),
            lb if gr_conn.sum() == len(reach_t) else None,
        ),
    }
    designs["steiner"]["mehlhorn_cost"] = (
        st.weight / 1000.0 * costs.cost_per_km + len(reach_t) * costs.site_cost
    )
    designs["lower_bound_cost"] = lb / 1000.0 * costs.cost_per_km + len(reach_t) * costs.site_cost
    designs["greedy"]["max_link_m"] = None if math.isinf(max_link_m) else max_link_m
    if method == "steiner":
        pairs = pairs_st
    else:
        pairs = pairs_gr
        for i in reach_t[~gr_conn[reach_t]]:
            reason[i] = f"beyond max link length ({max_link_m:,.0f} m from the grown network)"
    designed = np.flatnonzero(reason == "")

    return designs, pairs, lookup, designed


def _phase(net: _Net, pairs: Any, lookup: Any, designed: Any, *, costs: FiberCosts,
           budget_km_per_year: float | None, budget_per_year: float | None,
           years: int) -> _Phased:
    """Root the design tree and give every node the phase the budgets allow
    (:func:`phase_kernel`: highest value per cost first)."""
    aug, nt, pnode, t_val = net.aug, net.nt, net.pnode, net.t_val
    if len(pairs):
        order, parent = rooted_order(pairs, aug.root, aug.n)
    else:
        order, parent = np.array([aug.root]), np.full(aug.n, -9999)
    local = np.full(aug.n, -1, np.int64)
    local[order] = np.arange(len(order))
    par_l = np.where(parent[order] >= 0, local[np.maximum(parent[order], 0)], -1)
    par_l[0] = -1
    ch = order[1:]
    e_of = np.full(len(order), -1, np.int64)
    if len(ch):
        e_of[1:] = lookup(np.column_stack([np.minimum(ch, parent[ch]), np.maximum(ch, parent[ch])]))
    is_new = np.zeros(len(order), bool)
    is_new[1:] = (aug.kind[e_of[1:]] != "root") & ~aug.existing[e_of[1:]]
    km = np.where(is_new, aug.length_m[np.maximum(e_of, 0)] / 1000.0, 0.0)
    money = np.where(is_new, aug.weight_m[np.maximum(e_of, 0)] / 1000.0 * costs.cost_per_km, 0.0)
    value = np.zeros(len(order))
    tloc = np.full(nt, -1, np.int64)
    tloc[designed] = local[pnode[designed]]
    for i in designed:
        value[tloc[i]] += t_val[i] if t_val[i] > 0 else 1e-9  # zero-value targets still count
        money[tloc[i]] += costs.site_cost
    built0 = ~is_new & (par_l >= 0)
    built0[0] = True
    # nodes hanging below existing edges only are existing too
    for q in range(1, len(order)):
        if built0[q] and not built0[par_l[q]]:
            built0[q] = False
    if budget_km_per_year is None and budget_per_year is None:
        n_ph, ba, bb = 1, math.inf, math.inf
        cost_a, cost_b = money, km
    elif budget_km_per_year is not None and budget_per_year is not None:
        n_ph, ba, bb = years, budget_per_year, budget_km_per_year
        cost_a, cost_b = money, km
    elif budget_per_year is not None:
        n_ph, ba, bb = years, budget_per_year, math.inf
        cost_a, cost_b = money, km
    else:
        n_ph, ba, bb = years, budget_km_per_year, math.inf
        cost_a, cost_b = km, money
    ph = phase_kernel(
        par_l.astype(np.int64),
        cost_a.astype(float),
        cost_b.astype(float),
        value,
        built0,
        float(ba),
        float(bb),
        int(n_ph),
    )
    return _Phased(order, par_l, e_of, is_new, km, money, tloc, ph, int(n_ph), float(ba), cost_a)


def phase_budget_used(plan: FiberPlan) -> pd.DataFrame:
    """km and cost per phase from the routes (for checks against the budget)."""
    r = plan.routes[plan.routes["phase"] >= 1]
    return r.groupby("phase")[["length_m", "cost"]].sum()


def plan_to_ofds(
    plan: FiberPlan,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[str]]:
    """Nodes, spans and phase names of a plan for :func:`deadzone.data.ofds.write_ofds`.

    Existing spans are ``operational``; planned pieces are ``planned`` with
    phase ``"Phase p"``; pieces designed beyond the last phase are
    ``proposed`` without a phase.  Nodes sit at every span end (ids are UUIDs
    derived from the rounded coordinates, so the same point always gets the
    same id); a node at a target carries the target's name, and the existing
    backbone nodes are ``operational``.
    """
    import uuid

    names: dict[tuple[float, float], str] = {}
    for row, g in zip(plan.targets.to_dict("records"), plan.targets.geometry, strict=True):
        if g is not None and not g.is_empty and g.geom_type == "Point":
            names[(round(g.x, 7), round(g.y, 7))] = str(row["name"])
    nodes: dict[tuple[float, float], dict[str, Any]] = {}

    def node(x: float, y: float, status: str, phase: str | None) -> str:
        key = (round(x, 7), round(y, 7))
        if key not in nodes:
            nid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"deadzone:node:{key[0]:.7f},{key[1]:.7f}"))
            nodes[key] = {
                "node_id": nid,
                "name": names.get(key),
                "status": status,
                "phase": phase,
                "geometry": shapely.Point(key),
            }
        return nodes[key]["node_id"]

    spans = []
    ex = plan.existing
    for g in ex.geometry[ex["kind"] == "node"]:
        node(g.x, g.y, "operational", None)
    for k, g in enumerate(ex.geometry[ex["kind"] == "span"]):
        for part in shapely.get_parts(g):
            c = shapely.get_coordinates(part)
            a = node(*c[0], "operational", None)
            b = node(*c[-1], "operational", None)
            spans.append(
                {
                    "span_id": f"existing-{k}-{len(spans)}",
                    "name": "existing span",
                    "start_node_id": a,
                    "end_node_id": b,
                    "status": "operational",
                    "phase": None,
                    "length_m": None,
                    "cost": None,
                    "geometry": part,
                }
            )
    for k, (row, g) in enumerate(
        zip(plan.routes.to_dict("records"), plan.routes.geometry, strict=True)
    ):
        p = int(row["phase"])
        status, phase = ("planned", f"Phase {p}") if p >= 1 else ("proposed", None)
        c = shapely.get_coordinates(g)
        a = node(*c[0], status, phase)
        b = node(*c[-1], status, phase)
        spans.append(
            {
                "span_id": f"plan-{k}",
                "name": f"{row['kind']} {row['target_id'] or ''}".strip(),
                "start_node_id": a,
                "end_node_id": b,
                "status": status,
                "phase": phase,
                "length_m": float(row["length_m"]),
                "cost": float(row["cost"]),
                "geometry": g,
            }
        )
    n_gdf = (
        gpd.GeoDataFrame(list(nodes.values()), geometry="geometry", crs=4326)
        if nodes
        else gpd.GeoDataFrame({"node_id": []}, geometry=[], crs=4326)
    )
    s_gdf = (
        gpd.GeoDataFrame(spans, geometry="geometry", crs=4326)
        if spans
        else gpd.GeoDataFrame(
            {"span_id": [], "start_node_id": [], "end_node_id": []}, geometry=[], crs=4326
        )
    )
    phases = sorted({int(p) for p in plan.routes["phase"] if p >= 1})
    return n_gdf, s_gdf, [f"Phase {p}" for p in phases]
