"""Road graphs for fiber routing: any line layer -> a repaired, metric, weighted graph.

:func:`build_road_graph` turns road lines (national roads, the demo's roads,
an OSM extract) into a :class:`RoadGraph`:

1. the lines are projected to the UTM zone picked from the data
   (``GeoDataFrame.estimate_utm_crs``), multi-lines exploded;
2. **topology repair**: every line is split where it crosses or touches
   another line, and a line end that stops short of another line by at most
   ``join_tolerance_m`` (a near-miss, common in digitised data) is joined to
   it by a straight ``connector`` edge;
3. line ends closer than ``snap_tolerance_m`` become one node;
4. each piece becomes an edge with its length in metres and a routing weight
   ``weight_m = length_m * multiplier[road_class] + crossings * river_crossing_m``
   (road-equivalent metres; money is ``weight_m / 1000 * cost_per_km``).

The graph keeps each edge's geometry so routes can be drawn along the roads,
labels connected components, and counts every repair in ``RoadGraph.repairs``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from deadzone.errors import CRSError, ParameterError, SchemaError

__all__ = ["RoadGraph", "build_road_graph", "grid_road_graph", "utm_crs_for"]

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Class given to the straight edges that join near-miss line ends.
CONNECTOR_CLASS = "connector"


@dataclass
class RoadGraph:
    """An undirected road graph in a projected metric CRS.

    Attributes
    ----------
    crs : pyproj.CRS
        Projected CRS of ``node_xy`` and the geometries (metres).
    node_xy : ndarray, shape (n_nodes, 2)
        Node coordinates ``x, y`` (m).
    edge_u, edge_v : ndarray of int64, shape (n_edges,)
        End nodes of each edge.
    length_m : ndarray of float64
        Geometric length of each edge (m).
    weight_m : ndarray of float64
        Routing weight (road-equivalent metres, >= ``length_m`` unless a class
        multiplier below 1 is given).
    road_class : ndarray of object
        Road class of each edge (``""`` when the input had none).
    crossings : ndarray of int64
        River crossings of each edge (0 without a river layer).
    geoms : ndarray of object or None
        Shapely LineStrings per edge (projected); None means straight edges
        between the end nodes (generated graphs).
    repairs : dict
        Counts of the repairs applied (``split_points``, ``joined_near_misses``,
        ``snapped_ends``, ``dropped_degenerate``, ``lines_in``).
    """

    crs: CRS
    node_xy: F64
    edge_u: I64
    edge_v: I64
    length_m: F64
    weight_m: F64
    road_class: npt.NDArray[np.object_]
    crossings: I64
    geoms: npt.NDArray[np.object_] | None = None
    repairs: dict[str, int] = field(default_factory=dict)
    _component: I64 | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(len(self.node_xy))

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(len(self.edge_u))

    def edge_geoms(self) -> npt.NDArray[np.object_]:
        """Edge LineStrings (built from the end nodes for straight-edge graphs)."""
        if self.geoms is not None:
            return self.geoms
        coords = np.stack([self.node_xy[self.edge_u], self.node_xy[self.edge_v]], axis=1)
        return shapely.linestrings(coords)

    def csr(self, weights: F64 | None = None) -> csr_matrix:
        """Symmetric sparse adjacency with the smallest weight of parallel edges."""
        return _symmetric_min_csr(
            self.edge_u, self.edge_v, self.weight_m if weights is None else weights, self.n_nodes
        )

    @property
    def component(self) -> I64:
        """Connected-component label of every node (0 = largest component)."""
        if self._component is None:
            self._component = _components(self.edge_u, self.edge_v, self.n_nodes)
        return self._component

    def components_table(self) -> pd.DataFrame:
        """One row per connected component: nodes, edges, km of road, bounding box.

        Returns
        -------
        DataFrame
            ``component, n_nodes, n_edges, length_km, xmin, ymin, xmax, ymax``
            (projected metres), largest component first.
        """
        comp = self.component
        k = int(comp.max()) + 1 if len(comp) else 0
        n_nodes = np.bincount(comp, minlength=k)
        ec = comp[self.edge_u] if self.n_edges else np.zeros(0, np.int64)
        n_edges = np.bincount(ec, minlength=k)
        km = np.bincount(ec, weights=self.length_m, minlength=k) / 1000.0
        df = pd.DataFrame(
            {"component": np.arange(k), "n_nodes": n_nodes, "n_edges": n_edges, "length_km": km}
        )
        for name, fn, col in (
            ("xmin", np.minimum, 0),
            ("ymin", np.minimum, 1),
            ("xmax", np.maximum, 0),
            ("ymax", np.maximum, 1),
        ):
            init = np.inf if fn is np.minimum else -np.inf
            out = np.full(k, init)
            fn.at(out, comp, self.node_xy[:, col])
            df[name] = out
        return df

    def to_gdf(self) -> gpd.GeoDataFrame:
        """Edges as a GeoDataFrame (projected CRS) with the edge attributes."""
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "length_m": self.length_m,
                "weight_m": self.weight_m,
                "road_class": self.road_class,
                "crossings": self.crossings,
                "component": self.component[self.edge_u] if self.n_edges else [],
            },
            geometry=self.edge_geoms(),
            crs=self.crs,
        )


def _symmetric_min_csr(u: I64, v: I64, w: F64, n: int) -> csr_matrix:
    """CSR adjacency with both directions and the minimum over parallel edges.

    ``scipy.sparse`` sums duplicates, so the minimum is taken first.  Weights
    must be > 0 (csgraph reads a stored zero as a missing edge).
    """
    if len(u) == 0:
        return csr_matrix((n, n))
    a = np.minimum(u, v)
    b = np.maximum(u, v)
    keep = a != b
    a, b, ww = a[keep], b[keep], w[keep]
    order = np.lexsort((ww, b, a))
    a, b, ww = a[order], b[order], ww[order]
    first = np.ones(len(a), bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    a, b, ww = a[first], b[first], ww[first]
    rows = np.concatenate([a, b])
    cols = np.concatenate([b, a])
    data = np.concatenate([ww, ww])
    return coo_matrix((data, (rows, cols)), shape=(n, n)).tocsr()


def _components(u: I64, v: I64, n: int) -> I64:
    """Component labels with 0 for the largest component, then by size."""
    if n == 0:
        return np.zeros(0, np.int64)
    g = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    _, lab = connected_components(g, directed=False)
    sizes = np.bincount(lab)
    rank = np.empty(len(sizes), np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    return rank[lab].astype(np.int64)


def utm_crs_for(gdf: gpd.GeoDataFrame) -> CRS:
    """The UTM CRS of the data's centre (``estimate_utm_crs``), or the CRS if projected.

    Raises
    ------
    CRSError
        ``gdf`` has no CRS.
    """
    if gdf.crs is None:
        raise CRSError("road layer has no CRS; expected EPSG:4326 or a projected CRS in metres")
    crs = CRS.from_user_input(gdf.crs)
    if crs.is_projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else "metre"
        if unit not in ("metre", "meter"):
            raise CRSError(f"road layer CRS {crs.name!r} is in {unit}; expected metres")
        return crs
    return CRS.from_user_input(gdf.to_crs(4326).estimate_utm_crs())


def _explode_lines(geoms: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.object_], I64, int]:
    """Single LineStrings and the input row of each; count of unusable rows."""
    geoms = np.asarray(geoms, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    parts, idx = shapely.get_parts(geoms[ok], return_index=True)
    rows = np.flatnonzero(ok)[idx]
    is_line = shapely.get_type_id(parts) == 1
    # LinearRings (2) count as lines; polygons/points are not roads
    ring = shapely.get_type_id(parts) == 2
    if ring.any():
        parts[ring] = np.array([shapely.LineString(p.coords) for p in parts[ring]], dtype=object)
        is_line |= ring
    n_bad = int((~ok).sum() + (~is_line).sum())
    parts, rows = parts[is_line], rows[is_line]
    parts = shapely.force_2d(parts)
    long_enough = shapely.length(parts) > 0
    n_bad += int((~long_enough).sum())
    return parts[long_enough], rows[long_enough].astype(np.int64), n_bad


def _split_positions(
    lines: npt.NDArray[np.object_], snap_m: float, join_m: float
) -> tuple[list[list[float]], list[Any], int, int]:
    """Where each line must be split, and connector lines for near-misses."""
    n = len(lines)
    splits: list[list[float]] = [[] for _ in range(n)]
    tree = shapely.STRtree(lines)
    # crossings and touches
    pairs = tree.query(lines, predicate="intersects")
    i, j = pairs
    sel = i < j
    i, j = i[sel], j[sel]
    n_split = 0
    if len(i):
        inter = shapely.intersection(lines[i], lines[j])
        pts, which = shapely.get_coordinates(inter, return_index=True)
        if len(pts):
            p = shapely.points(pts)
            si = shapely.line_locate_point(lines[i[which]], p)
            sj = shapely.line_locate_point(lines[j[which]], p)
            for a, b, da, db in zip(i[which], j[which], si, sj, strict=True):
                splits[a].append(float(da))
                splits[b].append(float(db))
            n_split = len(pts)
    # near-misses: a line end within join_m of another line it does not touch
    connectors: list[Any] = []
    n_join = 0
    if join_m > 0 and n > 1:
        ends = np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
        owner = np.concatenate([np.arange(n), np.arange(n)])
        e_idx, l_idx = tree.query(ends, predicate="dwithin", distance=join_m)
        # a line the end's own line already touches is no near-miss (it would only
        # add a short-cut along a junction that exists)
        touching = set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))
        sel = np.array(
            [
                lo != oi and (oi, lo) not in touching
                for oi, lo in zip(owner[e_idx].tolist(), l_idx.tolist(), strict=True)
            ],
            dtype=bool,
        )
        e_idx, l_idx = e_idx[sel], l_idx[sel]
        if len(e_idx):
            d = shapely.distance(ends[e_idx], lines[l_idx])
            order = np.lexsort((d, e_idx))
            e_idx, l_idx, d = e_idx[order], l_idx[order], d[order]
            first = np.ones(len(e_idx), bool)
            first[1:] = e_idx[1:] != e_idx[:-1]
            # an end already touching some line (d <= snap) is connected: skip it
            min_d = d[first]
            ends_first = e_idx[first]
            lines_first = l_idx[first]
            for e, line, dist in zip(ends_first, lines_first, min_d, strict=True):
                pos = float(shapely.line_locate_point(lines[line], ends[e]))
                foot = shapely.line_interpolate_point(lines[line], pos)
                L = float(shapely.length(lines[line]))
                at_end = pos <= snap_m or pos >= L - snap_m
                if dist <= snap_m and not at_end:
                    splits[line].append(pos)  # a T-junction that stops a hair short
                    continue
                if dist <= snap_m:
                    continue
                if at_end:
                    foot = shapely.get_point(lines[line], 0 if pos <= snap_m else -1)
                else:
                    splits[line].append(pos)
                connectors.append(shapely.LineString([ends[e].coords[0], foot.coords[0]]))
                n_join += 1
    return splits, connectors, n_split, n_join


def _cut_line(coords: F64, cuts: F64) -> list[F64]:
    """Cut a polyline at the given distances along it (sorted, strictly inside)."""
    seg = np.hypot(*np.diff(coords, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    bounds = np.concatenate([[0.0], cuts, [s[-1]]])
    pts = np.column_stack([np.interp(bounds, s, coords[:, 0]), np.interp(bounds, s, coords[:, 1])])
    pieces = []
    for k in range(len(bounds) - 1):
        a, b = bounds[k], bounds[k + 1]
        inner = coords[(s > a) & (s < b)]
        pieces.append(np.vstack([pts[k], inner, pts[k + 1]]))
    return pieces


def build_road_graph(
    roads: gpd.GeoDataFrame,
    *,
    snap_tolerance_m: float = 1.0,
    join_tolerance_m: float = 25.0,
    class_column: str | None = None,
    class_multipliers: Mapping[str, float] | None = None,
    rivers: gpd.GeoDataFrame | None = None,
    river_crossing_m: float = 0.0,
    crs: Any = None,
) -> RoadGraph:
    """Build a repaired, weighted road graph from any line layer.

    Parameters
    ----------
    roads : GeoDataFrame
        LineStrings/MultiLineStrings in any CRS (EPSG:4326 or projected metres).
    snap_tolerance_m : float, default 1.0
        Line ends and split points closer than this become one node (m).
    join_tolerance_m : float, default 25.0
        A line end within this distance of another line it does not touch is
        joined to it by a straight ``connector`` edge (m); 0 disables.
    class_column : str, optional
        Column holding the road class (default: the first of ``road_class``,
        ``loai_duong`` (Vietnamese road data), ``highway`` / ``fclass`` (OSM)
        present, else none).
    class_multipliers : mapping of str to float, optional
        Weight multiplier per road class (e.g. ``{"national": 1.0,
        "commune": 1.3}``); classes not listed get 1.0.
    rivers : GeoDataFrame, optional
        River lines or polygons; each crossing of an edge adds
        ``river_crossing_m`` to its weight.
    river_crossing_m : float, default 0
        Extra weight of one river crossing (road-equivalent metres).
    crs : CRS-like, optional
        Projected metric CRS to work in (default: UTM zone of the data).

    Returns
    -------
    RoadGraph

    Raises
    ------
    SchemaError
        ``class_column`` is not a column or no line is usable.
    ParameterError
        Negative tolerances, multipliers <= 0 or negative crossing weight.
    CRSError
        No CRS, or a projected CRS not in metres.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> r = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]),
    ...     LineString([(50, -50), (50, 50)])], crs="EPSG:32648")
    >>> g = build_road_graph(r)
    >>> g.n_nodes, g.n_edges, round(float(g.length_m.sum()))
    (5, 4, 200)
    """
    if snap_tolerance_m < 0 or join_tolerance_m < 0 or river_crossing_m < 0:
        raise ParameterError(
            f"snap_tolerance_m={snap_tolerance_m}, join_tolerance_m={join_tolerance_m}, "
            f"river_crossing_m={river_crossing_m}; expected values >= 0"
        )
    mult = dict(class_multipliers or {})
    bad = {k: v for k, v in mult.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise ParameterError(f"class_multipliers {bad}; expected finite values > 0")
    if class_column is None:
        class_column = next(
            (c for c in ("road_class", "loai_duong", "highway", "fclass") if c in roads.columns),
            None,
        )
    elif class_column not in roads.columns:
        raise SchemaError(
            f"roads: class_column {class_column!r} is not a column; columns are "
            f"{[c for c in roads.columns if c != roads.geometry.name]}"
        )
    target = CRS.from_user_input(crs) if crs is not None else utm_crs_for(roads)
    if not target.is_projected:
        raise CRSError(f"crs {target.name!r} is not projected; expected metres")
    src = roads.to_crs(target) if roads.crs is not None else roads
    if roads.crs is None:
        raise CRSError("road layer has no CRS")
    lines, rows, n_bad = _explode_lines(np.asarray(src.geometry.array, dtype=object))
    if len(lines) == 0:
        raise SchemaError("roads: no usable line geometry (all rows empty or not lines)")
    if n_bad:
        logger.info("roads: %d empty or non-line parts ignored", n_bad)
    cls_in = (
        src[class_column].astype("string").fillna("").to_numpy(dtype=object)
        if class_column
        else np.full(len(src), "", dtype=object)
    )
    splits, connectors, n_split, n_join = _split_positions(
        lines, snap_tolerance_m, join_tolerance_m
    )
    pieces: list[F64] = []
    piece_cls: list[str] = []
    for k, line in enumerate(lines):
        coords = shapely.get_coordinates(line)
        L = float(shapely.length(line))
        cuts = np.unique(np.round(np.asarray(splits[k], dtype=np.float64), 6))
        cuts = cuts[(cuts > snap_tolerance_m) & (cuts < L - snap_tolerance_m)]
        if len(cuts) > 1:  # merge cuts closer than the snap tolerance
            keep = np.concatenate([[True], np.diff(cuts) > snap_tolerance_m])
            cuts = cuts[keep]
        got = _cut_line(coords, cuts) if len(cuts) else [coords]
        pieces.extend(got)
        piece_cls.extend([cls_in[rows[k]]] * len(got))
    for c in connectors:
        pieces.append(shapely.get_coordinates(c))
        piece_cls.append(CONNECTOR_CLASS)

    starts = np.array([p[0] for p in pieces])
    stops = np.array([p[-1] for p in pieces])
    ends = np.vstack([starts, stops])
    # cluster ends within the snap tolerance (single linkage)
    m = len(ends)
    if snap_tolerance_m > 0:
        pairs = cKDTree(ends).query_pairs(snap_tolerance_m, output_type="ndarray")
    else:
        pairs = np.zeros((0, 2), np.int64)
    # exact duplicates always merge
    _, rep_first, exact = np.unique(
        np.round(ends, 6), axis=0, return_index=True, return_inverse=True
    )
    rep = rep_first[exact.ravel()]
    g = coo_matrix(
        (
            np.ones(len(pairs) + m),
            (np.concatenate([pairs[:, 0], np.arange(m)]), np.concatenate([pairs[:, 1], rep])),
        ),
        shape=(m, m),
    )
    n_nodes, lab = connected_components(g, directed=False)
    # renumber to consecutive node ids in first-seen order
    _, first_idx, inv = np.unique(lab, return_index=True, return_inverse=True)
    order = np.argsort(first_idx)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    node_of_end = rank[inv.ravel()]
    node_xy = np.zeros((len(order), 2))
    np.add.at(node_xy, node_of_end, ends)
    node_xy /= np.bincount(node_of_end, minlength=len(order))[:, None]
    n_pieces = len(pieces)
    u = node_of_end[:n_pieces].astype(np.int64)
    v = node_of_end[n_pieces:].astype(np.int64)
    # snap the first and last vertex of each piece onto its node
    geoms = []
    for k, p in enumerate(pieces):
        q = p.copy()
        q[0] = node_xy[u[k]]
        q[-1] = node_xy[v[k]]
        geoms.append(q)
    geom_arr = np.array([shapely.linestrings(q) for q in geoms], dtype=object)
    length = shapely.length(geom_arr).astype(np.float64)
    keep = (u != v) & (length > 0)
    n_degenerate = int((~keep).sum())
    cls = np.array(piece_cls, dtype=object)
    u, v, length, cls, geom_arr = u[keep], v[keep], length[keep], cls[keep], geom_arr[keep]
    # drop nodes no edge uses (ends of dropped loops)
    used = np.zeros(len(node_xy), bool)
    used[u] = True
    used[v] = True
    remap = np.cumsum(used) - 1
    node_xy = node_xy[used]
    u, v = remap[u].astype(np.int64), remap[v].astype(np.int64)

    mults = np.array([mult.get(c, 1.0) for c in cls], dtype=np.float64)
    crossings = np.zeros(len(u), np.int64)
    if rivers is not None and len(rivers) and len(u):
        if rivers.crs is None:
            raise CRSError("rivers layer has no CRS")
        rgeom = np.asarray(rivers.to_crs(target).geometry.array, dtype=object)
        rgeom = rgeom[~(shapely.is_missing(rgeom) | shapely.is_empty(rgeom))]
        rlines = shapely.boundary(rgeom)
        is_line = np.isin(shapely.get_type_id(rgeom), (1, 5))
        rlines[is_line] = rgeom[is_line]
        rtree = shapely.STRtree(rlines)
        ei, ri = rtree.query(geom_arr, predicate="intersects")
        if len(ei):
            inter = shapely.intersection(geom_arr[ei], rlines[ri])
            pts = shapely.get_num_coordinates(shapely.extract_unique_points(inter))
            np.add.at(crossings, ei, np.maximum(pts, 1))
    weight = length * mults + crossings * river_crossing_m
    weight = np.maximum(weight, 1e-6)
    repairs = {
        "lines_in": int(len(roads)),
        "parts_ignored": int(n_bad),
        "split_points": int(n_split),
        "joined_near_misses": int(n_join),
        "snapped_ends": int(m - len(np.unique(lab))),
        "dropped_degenerate": n_degenerate,
    }
    return RoadGraph(
        crs=target,
        node_xy=node_xy,
        edge_u=u,
        edge_v=v,
        length_m=length,
        weight_m=weight,
        road_class=cls,
        crossings=crossings,
        geoms=geom_arr,
        repairs=repairs,
    )


def grid_road_graph(
    n_edges: int,
    *,
    spacing_m: float = 500.0,
    jitter: float = 0.25,
    drop_fraction: float = 0.05,
    seed: int = 0,
    crs: Any = "EPSG:32648",
    origin_xy: tuple[float, float] = (400_000.0, 2_300_000.0),
) -> RoadGraph:
    """A generated grid-like road network with about ``n_edges`` straight edges.

    Nodes lie on a square grid with ``spacing_m`` and a random offset of up
    to ``jitter * spacing_m``; a fraction ``drop_fraction`` of the grid links
    is removed (dead ends, blocks), and weights are lengths times a random
    class multiplier of 1.0 (``provincial``) or 1.25 (``commune``).  Used by
    the benchmark and tests.

    Returns
    -------
    RoadGraph
        Straight edges (``geoms`` is None).
    """
    if n_edges < 4:
        raise ParameterError(f"n_edges was {n_edges}; expected >= 4")
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_edges / (2.0 * (1.0 - drop_fraction))))) + 1
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    idx = (ii * side + jj).ravel()
    xy = np.column_stack([jj.ravel(), -ii.ravel()]).astype(np.float64) * spacing_m
    xy += rng.uniform(-jitter, jitter, xy.shape) * spacing_m
    xy += np.asarray(origin_xy)
    grid = idx.reshape(side, side)
    h = np.column_stack([grid[:, :-1].ravel(), grid[:, 1:].ravel()])
    v = np.column_stack([grid[:-1, :].ravel(), grid[1:, :].ravel()])
    e = np.vstack([h, v])
    e = e[rng.random(len(e)) >= drop_fraction][:n_edges]
    length = np.hypot(*(xy[e[:, 0]] - xy[e[:, 1]]).T)
    commune = rng.random(len(e)) < 0.5
    cls = np.where(commune, "commune", "provincial").astype(object)
    weight = length * np.where(commune, 1.25, 1.0)
    return RoadGraph(
        crs=CRS.from_user_input(crs),
        node_xy=xy,
        edge_u=e[:, 0].astype(np.int64),
        edge_v=e[:, 1].astype(np.int64),
        length_m=length,
        weight_m=weight,
        road_class=cls,
        crossings=np.zeros(len(e), np.int64),
        geoms=None,
        repairs={"generated": int(len(e))},
    )
