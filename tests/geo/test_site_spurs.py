"""Fiber spurs of candidate sites: csgraph's multi-source Dijkstra against networkx."""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from deadzone.geo.site_costs import CostModel, _fiber_spurs, _road_graph

CRS = "EPSG:32648"


def _nx_spurs(roads, cx, cy, a_xy, anc_id, cm):  # noqa: ANN001, ANN202
    """The reference: networkx's Dijkstra from a virtual source over the same road
    vertices (densified lines, vertices of different lines within 60 m joined)."""
    g = nx.Graph()
    csr, vxy = _road_graph(roads, CRS)
    coo = csr.tocoo()
    g.add_nodes_from(range(len(vxy)))
    g.add_weighted_edges_from(
        zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True)
    )
    tree = cKDTree(vxy)
    da, va = tree.query(a_xy)
    sources: dict[int, tuple[float, int]] = {}
    for k, (d, v) in enumerate(zip(da, va, strict=True)):
        off = d * cm.offroad_detour_factor
        if int(v) not in sources or off < sources[int(v)][0]:
            sources[int(v)] = (off, k)
    for v, (off, _k) in sources.items():
        g.add_edge(-1, v, weight=off * cm.fiber_offroad_vnd_per_km / cm.fiber_vnd_per_km)
    dist, paths = nx.single_source_dijkstra(g, -1, weight="weight")
    dc, vc = tree.query(np.column_stack([cx, cy]))
    out = []
    for j, v in enumerate(vc.tolist()):
        if v not in dist:
            out.append((np.inf, np.inf, None))
            continue
        off_a, k = sources[paths[v][1]]
        out.append(
            (
                dist[v] - off_a * cm.fiber_offroad_vnd_per_km / cm.fiber_vnd_per_km,
                off_a + dc[j] * cm.offroad_detour_factor,
                anc_id[k],
            )
        )
    return out


_xy = st.tuples(st.floats(0, 8000), st.floats(0, 8000))


@settings(max_examples=40, deadline=None)
@given(
    lines=st.lists(st.lists(_xy, min_size=2, max_size=5), min_size=1, max_size=6),
    anchors=st.lists(_xy, min_size=1, max_size=4),
    sites=st.lists(_xy, min_size=1, max_size=8),
)
def test_spurs_equal_networkx(lines, anchors, sites) -> None:  # noqa: ANN001
    roads = gpd.GeoDataFrame(geometry=[LineString(p) for p in lines], crs=CRS)
    scenario = SimpleNamespace(roads=roads, dem=SimpleNamespace(crs=CRS))
    cm = CostModel()
    cx = np.array([p[0] for p in sites])
    cy = np.array([p[1] for p in sites])
    a_xy = np.array(anchors, dtype=float)
    anc_id = [f"A{k}" for k in range(len(anchors))]
    best, to = _fiber_spurs(scenario, cx, cy, a_xy, anc_id, cm)
    ref = _nx_spurs(roads, cx, cy, a_xy, anc_id, cm)
    direct = (
        np.hypot(cx[:, None] - a_xy[None, :, 0], cy[:, None] - a_xy[None, :, 1]).min(axis=1)
        * cm.offroad_detour_factor
    )
    for j, (road_m, off_m, anchor) in enumerate(ref):
        via = road_m / 1000 * cm.fiber_vnd_per_km + off_m / 1000 * cm.fiber_offroad_vnd_per_km
        if np.isfinite(via) and via < direct[j] / 1000 * cm.fiber_offroad_vnd_per_km:
            # the road route wins: the same metres, bit for bit, and the same anchor
            assert (best[j, 0], best[j, 1], to[j]) == (road_m, off_m, anchor)
        else:
            assert best[j, 0] == 0.0
            assert best[j, 1] == direct[j]


def test_zero_length_segment_keeps_the_road_connected() -> None:
    # a repeated vertex is a zero-length edge, which csgraph must keep as an edge;
    # a line of one repeated point (GEOS cannot segmentize it) is one vertex
    roads = gpd.GeoDataFrame(
        geometry=[
            LineString([(0, 0), (500, 0), (500, 0), (5000, 0)]),
            LineString([(9e3, 9e3)] * 2),
        ],
        crs=CRS,
    )
    scenario = SimpleNamespace(roads=roads, dem=SimpleNamespace(crs=CRS))
    cm = CostModel()
    best, to = _fiber_spurs(
        scenario, np.array([5000.0]), np.array([10.0]), np.array([[0.0, 10.0]]), ["A"], cm
    )
    assert to[0] == "A"
    assert np.isclose(best[0, 0], 5000.0)
    assert np.isclose(best[0, 1], 20.0 * cm.offroad_detour_factor)
