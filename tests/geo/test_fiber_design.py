"""Steiner tree, local search, lower bound and greedy growth on small graphs."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from deadzone.geo._fiber_design import (
    dual_ascent_bound,
    greedy_growth,
    improve_tree,
    steiner_mehlhorn,
    tree_weight,
)
from deadzone.geo.roads import _symmetric_min_csr, grid_road_graph


def _graph(edges, n):
    e = np.asarray(edges, dtype=float)
    return _symmetric_min_csr(e[:, 0].astype(np.int64), e[:, 1].astype(np.int64), e[:, 2], n)


def _optimum(g, terminals):
    """Exact Steiner tree weight: best MST over terminal + Steiner-node subsets."""
    n = g.shape[0]
    others = [x for x in range(n) if x not in set(terminals)]
    best = np.inf
    for r in range(len(others) + 1):
        for extra in itertools.combinations(others, r):
            nodes = np.array(sorted([*terminals, *extra]))
            sub = g[nodes][:, nodes]
            if connected_components(sub, directed=False)[0] == 1:
                best = min(best, float(minimum_spanning_tree(sub).sum()))
    return best


def _spans(pairs, terminals):
    if len(terminals) <= 1:
        return True
    nodes = np.unique(pairs)
    if not set(terminals) <= set(nodes.tolist()):
        return False
    g = nx.Graph()
    g.add_edges_from(pairs.tolist())
    return nx.is_tree(g) and nx.is_connected(g)


def test_star_optimum_needs_the_steiner_point():
    # terminals 0,1,2 pairwise 2 apart; centre 3 at 1.1 from each: optimum 3.3
    g = _graph([(0, 1, 2), (1, 2, 2), (2, 0, 2), (0, 3, 1.1), (1, 3, 1.1), (2, 3, 1.1)], 4)
    t = np.array([0, 1, 2])
    r = steiner_mehlhorn(g, t)
    assert r.weight == pytest.approx(4.0)  # Mehlhorn alone: two direct links
    assert r.lower_bound <= 3.3 + 1e-9
    best = improve_tree(g, r.pairs, t)
    assert tree_weight(g, best) == pytest.approx(3.3)
    assert _spans(best, [0, 1, 2])


def test_path_detour_found_by_key_path_exchange():
    # ring 0-1-2-3-4-5-0; terminals 0 and 3; the short side is 0-1-2-3 (3) vs 0-5-4-3 (30)
    g = _graph([(0, 1, 1), (1, 2, 1), (2, 3, 1), (3, 4, 10), (4, 5, 10), (5, 0, 10)], 6)
    t = np.array([0, 3])
    r = steiner_mehlhorn(g, t)
    assert r.weight == pytest.approx(3.0)
    assert r.lower_bound == pytest.approx(3.0)  # two terminals: the bound is exact


def test_grid_corners_optimum():
    # 3x3 unit grid, terminals at the four corners: optimum 6 (an H or a comb)
    edges = []
    for i in range(3):
        for j in range(3):
            k = 3 * i + j
            if j < 2:
                edges.append((k, k + 1, 1.0))
            if i < 2:
                edges.append((k, k + 3, 1.0))
    g = _graph(edges, 9)
    t = np.array([0, 2, 6, 8])
    best = improve_tree(g, steiner_mehlhorn(g, t).pairs, t)
    assert tree_weight(g, best) == pytest.approx(_optimum(g, [0, 2, 6, 8])) == pytest.approx(6.0)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_bounds_hold_on_random_small_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 10))
    m = int(rng.integers(n, 3 * n))
    u, v = rng.integers(0, n, m), rng.integers(0, n, m)
    w = rng.uniform(1, 10, m).round(1)
    g = _symmetric_min_csr(u, v, w, n)
    _, lab = connected_components(g, directed=False)
    comp = np.flatnonzero(lab == lab[u[0]])
    if len(comp) < 2:
        return
    t = rng.choice(comp, size=min(len(comp), int(rng.integers(2, 5))), replace=False)
    r = steiner_mehlhorn(g, t)
    opt = _optimum(g, t.tolist())
    best = improve_tree(g, r.pairs, t)
    assert _spans(r.pairs, t.tolist()) and _spans(best, t.tolist())
    assert r.lower_bound <= opt + 1e-9
    assert opt - 1e-9 <= tree_weight(g, best) <= r.weight + 1e-9
    assert r.weight <= 2 * (1 - 1 / len(t)) * opt + 1e-9  # Mehlhorn's guarantee
    da, done = dual_ascent_bound(g, int(t[0]), t)
    assert done and da <= opt + 1e-9


def test_matches_networkx_mehlhorn_on_a_grid():
    gr = grid_road_graph(3000, seed=1)
    g = gr.csr()
    rng = np.random.default_rng(0)
    t = rng.choice(np.flatnonzero(gr.component == 0), 40, replace=False)
    ours = steiner_mehlhorn(g, t)
    nxg = nx.Graph()
    nxg.add_weighted_edges_from(
        zip(gr.edge_u.tolist(), gr.edge_v.tolist(), gr.weight_m.tolist(), strict=True)
    )
    nxg = nxg.subgraph(np.flatnonzero(gr.component == 0).tolist()).copy()
    ref = nx.algorithms.approximation.steiner_tree(nxg, t.tolist(), method="mehlhorn")
    ref_w = ref.size(weight="weight")
    assert ours.weight == pytest.approx(ref_w, rel=0.03)  # ties may break differently
    assert ours.lower_bound <= min(ours.weight, ref_w)
    assert tree_weight(g, improve_tree(g, ours.pairs, t, time_budget_s=2)) <= ours.weight


def test_greedy_growth_connects_nearest_first_and_respects_max_link():
    # path 0 -1- 1 -1- 2 -5- 3 ; source 0, targets 2 and 3
    g = _graph([(0, 1, 1), (1, 2, 1), (2, 3, 5)], 4)
    pairs, order, link = greedy_growth(g, g, np.array([0]), np.array([3, 2]))
    assert order.tolist() == [1, 0]  # node 2 first (nearer), then 3 from the grown network
    np.testing.assert_allclose(link, [2.0, 5.0])
    assert len(pairs) == 3
    pairs, order, link = greedy_growth(g, g, np.array([0]), np.array([3, 2]), max_link_m=4.0)
    assert order.tolist() == [1]  # 3 is 5 from the network: beyond the max link


def test_dual_ascent_bound_is_tight_on_the_star_and_valid_when_stopped():
    g = _graph([(0, 1, 2), (1, 2, 2), (2, 0, 2), (0, 3, 1.1), (1, 3, 1.1), (2, 3, 1.1)], 4)
    lb, done = dual_ascent_bound(g, 0, np.array([0, 1, 2]))
    assert done and lb == pytest.approx(3.3)
    gr = grid_road_graph(20_000, seed=2)
    rng = np.random.default_rng(1)
    t = rng.choice(np.flatnonzero(gr.component == 0), 60, replace=False)
    full, done = dual_ascent_bound(gr.csr(), int(t[0]), t)
    early, done0 = dual_ascent_bound(gr.csr(), int(t[0]), t, time_budget_s=0.0)
    best = tree_weight(gr.csr(), improve_tree(gr.csr(), steiner_mehlhorn(gr.csr(), t).pairs, t))
    assert done and not done0 and 0 < early < full <= best
    assert full > 0.9 * best  # far tighter than MST/2 on a grid
