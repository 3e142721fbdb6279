"""The fiber planner's graph: the road graph plus the backbone, the targets'
last-mile drops and a root joining the existing network (:func:`_augment`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
import shapely.ops

from deadzone.geo.fiber_targets import (
    F64,
)
from deadzone.geo.roads import RoadGraph, _cut_line

__all__ = [
    "I64",
]

_SNAP_M = 1.0
_EPS_W = 1e-6  # weight of free edges (csgraph reads a stored 0 as no edge)
I64 = npt.NDArray[np.int64]


# --------------------------------------------------------------------------- graph set-up


@dataclass
class _Aug:
    """The road graph augmented with split points, drops and the root."""

    n: int
    u: I64
    v: I64
    length_m: F64
    weight_m: F64
    kind: npt.NDArray[np.object_]  # road / drop / root
    road_class: npt.NDArray[np.object_]
    geoms: npt.NDArray[np.object_]
    owner: I64  # target index for drops (-1 otherwise)
    existing: npt.NDArray[np.bool_]
    node_xy: F64
    root: int


def _attach(
    graph: RoadGraph, xy: F64, ok: npt.NDArray[np.bool_], edge_mask: npt.NDArray[np.bool_] | None
) -> tuple[I64, F64, F64]:
    """Nearest edge (among ``edge_mask``), gap (m) and position along it (m); -1 if none."""
    n = len(xy)
    edge = np.full(n, -1, np.int64)
    gap = np.full(n, np.inf)
    pos = np.zeros(n)
    cand = np.arange(graph.n_edges) if edge_mask is None else np.flatnonzero(edge_mask)
    if len(cand) == 0 or not ok.any():
        return edge, gap, pos
    geoms = graph.edge_geoms()[cand]
    tree = shapely.STRtree(geoms)
    pts = shapely.points(xy[ok])
    (pi, ei), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    idx = np.flatnonzero(ok)[pi]
    edge[idx] = cand[ei]
    gap[idx] = dist
    pos[idx] = shapely.line_locate_point(geoms[ei], pts[pi])
    return edge, gap, pos


def _augment(
    graph: RoadGraph,
    pts_xy: F64,
    edge: I64,
    gap: F64,
    pos: F64,
    use: npt.NDArray[np.bool_],
    drop_mode: str,
    drop_ratio: float,
) -> tuple[_Aug, I64, F64]:
    """Split roads at attachment points and add one node + drop edge per used point."""
    geoms = graph.edge_geoms()
    n0 = graph.n_nodes
    L = graph.length_m
    attach = np.full(len(pts_xy), -1, np.int64)
    drop_m = np.full(len(pts_xy), np.inf)
    cuts: dict[int, list[float]] = {}
    for i in np.flatnonzero(use):
        e, s = int(edge[i]), float(pos[i])
        if drop_mode == "road":
            if s <= L[e] - s:
                attach[i], drop_m[i] = graph.edge_u[e], gap[i] + s
            else:
                attach[i], drop_m[i] = graph.edge_v[e], gap[i] + L[e] - s
        elif s <= _SNAP_M:
            attach[i], drop_m[i] = graph.edge_u[e], gap[i]
        elif s >= L[e] - _SNAP_M:
            attach[i], drop_m[i] = graph.edge_v[e], gap[i]
        else:
            cuts.setdefault(e, []).append(s)
            drop_m[i] = gap[i]
    new_xy: list[F64] = []
    cut_node: dict[tuple[int, float], int] = {}
    add_u, add_v, add_len, add_w, add_cls, add_geom = [], [], [], [], [], []
    split = np.zeros(graph.n_edges, bool)
    next_id = n0
    for e, ss in cuts.items():
        s_sorted = np.unique(np.round(np.asarray(ss), 3))
        keep = np.concatenate([[True], np.diff(s_sorted) > _SNAP_M]) if len(s_sorted) else []
        s_cut = s_sorted[keep]
        coords = shapely.get_coordinates(geoms[e])
        pieces = _cut_line(coords, s_cut)
        ids = [int(graph.edge_u[e])]
        for _ in s_cut:
            ids.append(next_id)
            new_xy.append(np.zeros(2))  # set to the cut point below
            next_id += 1
        ids.append(int(graph.edge_v[e]))
        for k, piece in enumerate(pieces):
            if k < len(s_cut):
                new_xy[ids[k + 1] - n0] = piece[-1]
            g = shapely.linestrings(piece)
            plen = float(shapely.length(g))
            add_u.append(ids[k])
            add_v.append(ids[k + 1])
            add_len.append(plen)
            add_w.append(max(graph.weight_m[e] * plen / max(L[e], 1e-9), _EPS_W))
            add_cls.append(graph.road_class[e])
            add_geom.append(g)
        for s in ss:  # map every original position to the node of its merged cut
            j = int(np.argmin(np.abs(s_cut - s)))
            cut_node[(e, s)] = ids[j + 1]
        split[e] = True
    for i in np.flatnonzero(use & (attach < 0)):
        attach[i] = cut_node[(int(edge[i]), float(pos[i]))]
    keep = ~split
    u = np.concatenate([graph.edge_u[keep], np.asarray(add_u, np.int64)])
    v = np.concatenate([graph.edge_v[keep], np.asarray(add_v, np.int64)])
    length = np.concatenate([L[keep], np.asarray(add_len, float)])
    weight = np.concatenate([graph.weight_m[keep], np.asarray(add_w, float)])
    cls = np.concatenate([graph.road_class[keep], np.asarray(add_cls, dtype=object)])
    gg = np.concatenate([geoms[keep], np.asarray(add_geom, dtype=object)])
    node_xy = np.vstack([graph.node_xy, np.asarray(new_xy).reshape(-1, 2)])
    # one node per used point, joined by its drop
    used = np.flatnonzero(use)
    pnode = np.full(len(pts_xy), -1, np.int64)
    pnode[used] = len(node_xy) + np.arange(len(used))
    node_xy = np.vstack([node_xy, pts_xy[used]])
    dl = drop_m[used]
    drop_geom = (
        shapely.linestrings(np.stack([pts_xy[used], node_xy[attach[used]]], axis=1))
        if len(used)
        else np.zeros(0, dtype=object)
    )
    if drop_mode == "road" and len(used):
        # draw the drop along the road: gap segment + the road stretch to the node
        gl = []
        for i in used:
            e = int(edge[i])
            line = geoms[e]
            foot = shapely.line_interpolate_point(line, pos[i])
            s = float(pos[i])
            stretch = (
                shapely.ops.substring(line, 0, s)
                if attach[i] == graph.edge_u[e]
                else shapely.ops.substring(line, s, L[e])
            )
            c = np.vstack(
                [
                    pts_xy[i],
                    shapely.get_coordinates(foot),
                    shapely.get_coordinates(stretch)[:: -1 if attach[i] == graph.edge_u[e] else 1],
                ]
            )
            gl.append(shapely.linestrings(c) if len(c) >= 2 else drop_geom[len(gl)])
        drop_geom = np.asarray(gl, dtype=object)
    n_road = len(u)
    u = np.concatenate([u, attach[used]])
    v = np.concatenate([v, pnode[used]])
    length = np.concatenate([length, dl])
    weight = np.concatenate([weight, np.maximum(dl * drop_ratio, _EPS_W)])
    cls = np.concatenate([cls, np.full(len(used), "", dtype=object)])
    gg = np.concatenate([gg, drop_geom])
    kind = np.array(["road"] * n_road + ["drop"] * len(used), dtype=object)
    owner = np.concatenate([np.full(n_road, -1, np.int64), used.astype(np.int64)])
    aug = _Aug(
        n=len(node_xy),
        u=u,
        v=v,
        length_m=length,
        weight_m=weight,
        kind=kind,
        road_class=cls,
        geoms=gg,
        owner=owner,
        existing=np.zeros(len(u), bool),
        node_xy=node_xy,
        root=-1,
    )
    return aug, pnode, drop_m


def _add_root(aug: _Aug, source_nodes: I64) -> None:
    """A virtual root joined to every node of the existing network at ~0 weight."""
    r = aug.n
    src = np.unique(source_nodes)
    aug.n += 1
    aug.root = r
    aug.node_xy = np.vstack([aug.node_xy, [np.nan, np.nan]])
    k = len(src)
    aug.u = np.concatenate([aug.u, np.full(k, r, np.int64)])
    aug.v = np.concatenate([aug.v, src])
    aug.length_m = np.concatenate([aug.length_m, np.zeros(k)])
    aug.weight_m = np.concatenate([aug.weight_m, np.full(k, _EPS_W)])
    aug.kind = np.concatenate([aug.kind, np.full(k, "root", dtype=object)])
    aug.road_class = np.concatenate([aug.road_class, np.full(k, "", dtype=object)])
    aug.geoms = np.concatenate([aug.geoms, np.full(k, None, dtype=object)])
    aug.owner = np.concatenate([aug.owner, np.full(k, -1, np.int64)])
    aug.existing = np.concatenate([aug.existing, np.ones(k, bool)])


def _edge_lookup(aug: _Aug) -> Callable[[I64], I64]:
    """Map tree node pairs to the lightest augmented edge between them."""
    a = np.minimum(aug.u, aug.v)
    b = np.maximum(aug.u, aug.v)
    key = a * aug.n + b
    order = np.lexsort((aug.weight_m, key))
    skey = key[order]
    first = np.ones(len(skey), bool)
    first[1:] = skey[1:] != skey[:-1]
    ukey, uidx = skey[first], order[first]

    def lookup(pairs: I64) -> I64:
        k = pairs[:, 0] * aug.n + pairs[:, 1]
        j = np.searchsorted(ukey, k)
        if len(k) and (j.max() >= len(ukey) or not np.array_equal(ukey[j], k)):
            raise RuntimeError("tree edge not found in the graph")  # pragma: no cover
        return uidx[j]

    return lookup
