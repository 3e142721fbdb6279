"""``plan_fiber``'s last stage: the plan's tables from the phased design
(routes, targets with status and reason, the existing network, households
and communes reached per phase), and the first phase that reaches each
village."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from deadzone.geo._fiber_graph import _EPS_W, I64, _Aug
from deadzone.geo.fiber_targets import F64, _num, _points_xy
from deadzone.geo.roads import RoadGraph, _symmetric_min_csr

if TYPE_CHECKING:
    from deadzone.geo._fiber_types import FiberCosts, _Net, _Phased

__all__ = ["plan_tables"]


def plan_tables(graph: RoadGraph, targets: gpd.GeoDataFrame, net: _Net, phased: _Phased,
                reason: Any, designed: Any, designs: dict[str, Any], *, method: str,
                villages: gpd.GeoDataFrame | None, communes: gpd.GeoDataFrame | None,
                reach_m: float, reach_mode: str, costs: FiberCosts,
                params: dict[str, Any]) -> dict[str, Any]:
    """The fields of a :class:`~deadzone.geo.fiber.FiberPlan`: routes, targets
    (status, reason, phase), existing network, households and communes
    reached per phase, and the plan's parameters."""
    crs = graph.crs
    aug, nt, t_ids, t_val, value_name = net.aug, net.nt, net.t_ids, net.t_val, net.value_name
    gap, drop_m, b_ok, bxy, spans = net.gap, net.drop_m, net.b_ok, net.bxy, net.spans
    order, par_l, e_of, is_new = phased.order, phased.par_l, phased.e_of, phased.is_new
    km, money, tloc, ph = phased.km, phased.money, phased.tloc, phased.ph
    n_ph, ba, cost_a = phased.n_ph, phased.ba, phased.cost_a
    t_phase = np.full(nt, -1, np.int64)
    t_phase[designed] = ph[tloc[designed]]
    status = np.where(reason != "", "unreachable", np.where(t_phase >= 1, "connected", "later"))
    # a later target: tell why
    for i in np.flatnonzero(status == "later"):
        q = tloc[i]
        need_a = 0.0
        x = q
        while x >= 0 and ph[x] < 0:
            need_a += cost_a[x]
            x = par_l[x]
        unit = "km" if cost_a is km else "cost"
        if need_a > ba:
            reason[i] = (
                f"its connection alone ({need_a:,.1f} {unit}) exceeds the yearly budget "
                f"({ba:,.1f} {unit})"
            )
        else:
            reason[i] = f"not within the {n_ph} phase(s) of budget (lower value per cost)"
    route_q = np.flatnonzero(is_new)
    re = e_of[route_q]
    rphase = ph[route_q]
    r_cost = money[route_q].copy()
    drop_owner = aug.owner[re]
    r_target = np.array(
        [t_ids[o] if 0 <= o < nt else None for o in drop_owner.tolist()], dtype=object
    )
    routes = gpd.GeoDataFrame(
        {
            "phase": rphase.astype(np.int64),
            "length_m": aug.length_m[re],
            "cost": r_cost,
            "kind": aug.kind[re],
            "road_class": aug.road_class[re],
            "target_id": r_target,
            "design": method,
        },
        geometry=aug.geoms[re],
        crs=crs,
    ).sort_values(["phase"], key=lambda s: s.where(s >= 1, 10**9), kind="stable")
    routes = routes.reset_index(drop=True).to_crs(4326)
    gap_out = np.where(np.isfinite(gap[:nt]), gap[:nt], np.nan)
    t_out = gpd.GeoDataFrame(
        {
            "target_id": t_ids,
            "name": targets["name"].to_numpy() if "name" in targets else t_ids,
            "kind": targets["kind"].to_numpy() if "kind" in targets else "target",
            "value": t_val,
            "status": status,
            "reason": pd.Series([None if x == "" else x for x in reason], dtype=object),
            "phase": t_phase,
            "drop_m": np.where(np.isfinite(drop_m[:nt]), drop_m[:nt], np.nan),
            "gap_m": gap_out,
        },
        geometry=targets.to_crs(4326).geometry.to_numpy(),
        crs=4326,
    )
    for col in ("households", "population", "commune_id"):
        if col in targets.columns and col not in t_out.columns:
            t_out[col] = targets[col].to_numpy()

    existing_geoms = []
    if b_ok.any():
        existing_geoms.append(shapely.points(bxy[b_ok]))
    if spans is not None:
        existing_geoms.append(spans)
    existing_arr = np.concatenate(existing_geoms) if existing_geoms else np.zeros(0, object)
    existing = gpd.GeoDataFrame(
        {"kind": ["node" if shapely.get_type_id(g) == 0 else "span" for g in existing_arr]},
        geometry=existing_arr,
        crs=crs,
    ).to_crs(4326)

    # fiber geometries by phase (0 existing, lit roads count as existing)
    lit_geoms = aug.geoms[aug.existing & (aug.kind == "road")]
    fib_geom = np.concatenate([existing_arr, lit_geoms, aug.geoms[re]])
    fib_phase = np.concatenate([np.zeros(len(existing_arr) + len(lit_geoms), np.int64), rphase])
    sel = fib_phase >= 0
    fib_geom, fib_phase = fib_geom[sel], fib_phase[sel]

    v_out = None
    hh_first = np.zeros(0, np.int64)
    hh = np.zeros(0)
    if villages is not None and len(villages):
        vg = villages.to_crs(crs)
        vxy, vok = _points_xy(vg)
        hh_col = (
            "households"
            if "households" in vg.columns
            else ("population" if "population" in vg.columns else None)
        )
        hh = _num(vg[hh_col], len(vg)) if hh_col else np.ones(len(vg))
        if reach_mode == "straight":
            hh_first = _first_phase_straight(vxy, vok, fib_geom, fib_phase, reach_m)
        else:
            bb_drop = (aug.kind == "drop") & (aug.owner >= nt)
            hh_first = _first_phase_road(aug, vxy, vok, ph, order, reach_m, n_ph, aug.u[bb_drop])
        v_out = villages.to_crs(4326).copy()
        v_out["fiber_phase"] = hh_first
    com_first = None
    n_com = 0
    if communes is not None and len(communes):
        cg = np.asarray(communes.to_crs(crs).geometry.array, dtype=object)
        cg = shapely.make_valid(cg)
        n_com = len(cg)
        com_first = np.full(n_com, -1, np.int64)
        if len(fib_geom):
            ci, fi = shapely.STRtree(fib_geom).query(cg, predicate="intersects")
            first = np.full(n_com, np.iinfo(np.int64).max)
            np.minimum.at(first, ci, fib_phase[fi])
            com_first = np.where(first == np.iinfo(np.int64).max, -1, first)
    rows = []
    hh_total = float(hh.sum())
    for p in range(0, n_ph + 1):
        in_p = rphase == p
        k_road = float(aug.length_m[re][in_p & (aug.kind[re] == "road")].sum()) / 1000.0
        k_drop = float(aug.length_m[re][in_p & (aug.kind[re] == "drop")].sum()) / 1000.0
        tp = (t_phase == p) & (status == "connected")
        reached = float(hh[(hh_first >= 0) & (hh_first <= p)].sum()) if len(hh) else 0.0
        cw = int(((com_first >= 0) & (com_first <= p)).sum()) if com_first is not None else 0
        rows.append(
            {
                "phase": p,
                "km": k_road + k_drop,
                "road_km": k_road,
                "drop_km": k_drop,
                "cost": float(r_cost[in_p].sum()),
                "targets_connected": int(tp.sum()),
                "targets_connected_total": int(((t_phase >= 1) & (t_phase <= p)).sum()),
                "value_connected_total": float(t_val[(t_phase >= 1) & (t_phase <= p)].sum()),
                "households_reached": reached,
                "households_total": hh_total,
                "households_pct": 100.0 * reached / hh_total if hh_total > 0 else 0.0,
                "communes_with_fiber": cw,
                "communes_total": n_com,
                "communes_with_fiber_text": f"{cw}/{n_com}" if com_first is not None else "n/a",
            }
        )
    phases = pd.DataFrame(rows)
    params = {
        **params,
        "years": n_ph,
        "reach_m": reach_m,
        "reach_mode": reach_mode,
        "value_column": value_name,
        "cost_per_km": costs.cost_per_km,
        "drop_cost_per_km": costs.drop_cost_per_km,
        "site_cost": costs.site_cost,
        "currency": costs.currency,
        "crs": crs.to_string(),
        "road_repairs": graph.repairs,
        "road_components": int(graph.component.max() + 1) if graph.n_nodes else 0,
    }
    return {"routes": routes, "targets": t_out, "phases": phases, "designs": designs,
            "villages": v_out, "existing": existing, "crs": crs, "params": params}


def _first_phase_straight(
    vxy: F64,
    vok: npt.NDArray[np.bool_],
    geoms: npt.NDArray[np.object_],
    phase: I64,
    reach_m: float,
) -> I64:
    first = np.full(len(vxy), -1, np.int64)
    if not vok.any() or len(geoms) == 0:
        return first
    pts = shapely.points(vxy[vok])
    vi, gi = shapely.STRtree(geoms).query(pts, predicate="dwithin", distance=reach_m)
    big = np.iinfo(np.int64).max
    f = np.full(int(vok.sum()), big)
    np.minimum.at(f, vi, phase[gi])
    first[vok] = np.where(f == big, -1, f)
    return first


def _first_phase_road(
    aug: _Aug,
    vxy: F64,
    vok: npt.NDArray[np.bool_],
    ph: I64,
    order: I64,
    reach_m: float,
    n_ph: int,
    backbone_road_nodes: I64,
) -> I64:
    """First phase whose fiber nodes are within ``reach_m`` along roads (+ gap)."""
    first = np.full(len(vxy), -1, np.int64)
    road = np.flatnonzero(aug.kind == "road")
    if not vok.any() or len(road) == 0:
        return first
    g = _symmetric_min_csr(aug.u[road], aug.v[road], np.maximum(aug.length_m[road], _EPS_W), aug.n)
    tree = shapely.STRtree(aug.geoms[road])
    pts = shapely.points(vxy[vok])
    (pi, ei), d = tree.query_nearest(pts, return_distance=True, all_matches=False)
    e = road[ei]
    s = shapely.line_locate_point(aug.geoms[e], pts[pi])
    node_phase = np.full(aug.n, -1, np.int64)
    node_phase[order] = ph
    lit = aug.existing & (aug.kind == "road")
    node_phase[aug.u[lit]] = 0
    node_phase[aug.v[lit]] = 0
    node_phase[backbone_road_nodes] = 0
    idx = np.flatnonzero(vok)[pi]
    for p in range(0, n_ph + 1):
        srcs = np.flatnonzero(
            (node_phase >= 0) & (node_phase <= p) & (np.arange(aug.n) != aug.root)
        )
        if len(srcs) == 0:
            continue
        dist = dijkstra(g, indices=srcs, min_only=True, limit=reach_m)
        du = dist[aug.u[e]] + s
        dv = dist[aug.v[e]] + (aug.length_m[e] - s)
        tot = d + np.minimum(du, dv)
        hit = (tot <= reach_m) & (first[idx] < 0)
        first[idx[hit]] = p
    return first
