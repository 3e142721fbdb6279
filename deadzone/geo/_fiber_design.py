"""Network design on a weighted undirected graph: Steiner trees and greedy growth.

Pure graph algorithms on a symmetric ``scipy.sparse`` CSR matrix (weights > 0);
:mod:`deadzone.geo.fiber` maps roads, targets and the existing network onto
such a graph.  Trees are returned as arrays of node pairs ``(a, b)`` with
``a < b``.

* :func:`steiner_mehlhorn`: Mehlhorn's 2-approximation (K. Mehlhorn, "A faster
  approximation algorithm for the Steiner problem in graphs", Inf. Process.
  Lett. 27, 1988): one multi-source Dijkstra from all terminals (Voronoi
  regions), the minimum spanning tree of the terminal graph built from the
  bridge edges between regions, expansion into shortest paths, then the MST
  of the induced subgraph with non-terminal leaves pruned (Kou, Markowsky &
  Berman 1981, steps 4-5).
* :func:`improve_tree`: local search (Uchoa & Werneck, "Fast local search for
  Steiner trees in graphs", ALENEX 2010): key-path exchange (remove a key
  path, reconnect the two parts by a shortest path if shorter) and Steiner
  vertex insertion (Minoux 1990: add a vertex, re-run the MST on the induced
  subgraph, prune), within a time budget.
* :func:`greedy_growth`: UNICEF Giga-style growth from the existing network:
  connect the nearest unconnected target by its shortest road path, one at a
  time, refusing paths longer than a maximum link length.
* :func:`steiner_lower_bound`: max of MST(terminal distance graph) /
  (2 (1 - 1/t)) (Mehlhorn's MST equals the metric-closure MST, which is at
  most 2 (1 - 1/t) OPT; Takahashi & Matsuyama 1980) and half the sum of each
  terminal's distance to its nearest other terminal (an Euler tour of the
  optimal tree visits every terminal and has length 2 OPT).
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix, triu
from scipy.sparse.csgraph import breadth_first_order, connected_components, dijkstra
from scipy.sparse.csgraph import minimum_spanning_tree as _mst

from deadzone.kernels.graph import (
    dual_ascent_kernel,
    greedy_kernel,
    prune_kernel,
    reverse_arcs,
    walk_kernel,
)

__all__ = [
    "SteinerResult",
    "steiner_mehlhorn",
    "improve_tree",
    "greedy_growth",
    "tree_weight",
    "prune_tree",
    "dual_ascent_bound",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class SteinerResult:
    """Mehlhorn tree plus what the lower bound needs.

    Attributes
    ----------
    pairs : ndarray, shape (k, 2)
        Tree edges as node pairs ``a < b``.
    weight : float
        Total tree weight.
    lower_bound : float
        A lower bound on the optimal Steiner tree weight.
    mst_closure : float
        Weight of the MST of the terminal distance graph.
    """

    def __init__(self, pairs: I64, weight: float, lower_bound: float, mst_closure: float) -> None:
        self.pairs = pairs
        self.weight = weight
        self.lower_bound = lower_bound
        self.mst_closure = mst_closure


def tree_weight(graph: csr_matrix, pairs: I64) -> float:
    """Sum of the graph weights of the tree edges."""
    if len(pairs) == 0:
        return 0.0
    return float(np.asarray(graph[pairs[:, 0], pairs[:, 1]]).ravel().sum())


def _norm_pairs(a: I64, b: I64) -> I64:
    p = np.column_stack([np.minimum(a, b), np.maximum(a, b)]).astype(np.int64)
    if len(p) == 0:
        return p.reshape(0, 2)
    return np.unique(p, axis=0)


def prune_tree(pairs: I64, terminal_mask: npt.NDArray[np.bool_]) -> I64:
    """Drop non-terminal leaves until every leaf is a terminal."""
    if len(pairs) == 0:
        return pairs
    keep = prune_kernel(len(terminal_mask), pairs[:, 0], pairs[:, 1], terminal_mask)
    return pairs[keep]


def _mst_prune(graph: csr_matrix, nodes: I64, terminal_mask: npt.NDArray[np.bool_]) -> I64:
    """MST of the subgraph induced by ``nodes``, non-terminal leaves pruned."""
    nodes = np.unique(nodes)
    sub = graph[nodes][:, nodes]
    t = _mst(sub).tocoo()
    pairs = _norm_pairs(nodes[t.row], nodes[t.col])
    return prune_tree(pairs, terminal_mask)


def _voronoi(graph: csr_matrix, terminals: I64) -> tuple[F64, I64, I64]:
    dist, pred, src = dijkstra(
        graph, directed=True, indices=terminals, return_predecessors=True, min_only=True
    )
    return dist, pred.astype(np.int64), src.astype(np.int64)


def steiner_mehlhorn(graph: csr_matrix, terminals: I64) -> SteinerResult:
    """Mehlhorn's Steiner tree joining ``terminals`` (all in one component).

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix
        Symmetric adjacency, weights > 0.
    terminals : ndarray of int
        Distinct node ids to join.

    Returns
    -------
    SteinerResult
    """
    n = graph.shape[0]
    terminals = np.unique(np.asarray(terminals, dtype=np.int64))
    t = len(terminals)
    if t <= 1:
        return SteinerResult(np.zeros((0, 2), np.int64), 0.0, 0.0, 0.0)
    dist, pred, src = _voronoi(graph, terminals)
    up = triu(graph, k=1).tocoo()
    a, b, w = up.row.astype(np.int64), up.col.astype(np.int64), up.data
    ok = (src[a] >= 0) & (src[b] >= 0) & (src[a] != src[b])
    a, b, w = a[ok], b[ok], w[ok]
    key = dist[a] + w + dist[b]
    tix = np.full(n, -1, np.int64)
    tix[terminals] = np.arange(t)
    sa, sb = tix[src[a]], tix[src[b]]
    lo, hi = np.minimum(sa, sb), np.maximum(sa, sb)
    order = np.lexsort((key, hi, lo))
    lo, hi, key, a, b = lo[order], hi[order], key[order], a[order], b[order]
    first = np.ones(len(lo), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, key, a, b = lo[first], hi[first], key[first], a[first], b[first]
    # terminal graph MST (Mehlhorn 1988: it is an MST of the metric closure too)
    tg = coo_matrix((key, (lo, hi)), shape=(t, t)).tocsr()
    tm = _mst(tg).tocoo()
    mst_w = float(tm.data.sum())
    # nearest other terminal per terminal, from the bridge edges
    near = np.full(t, np.inf)
    np.minimum.at(near, lo, key)
    np.minimum.at(near, hi, key)
    lb_tour = 0.5 * float(near[np.isfinite(near)].sum())
    lb_mst = mst_w / (2.0 * (1.0 - 1.0 / t))
    # expand the MST edges into graph paths
    pick = {(int(x), int(y)) for x, y in zip(tm.row, tm.col, strict=True)}
    sel = np.array(
        [(int(x), int(y)) in pick or (int(y), int(x)) in pick for x, y in zip(lo, hi, strict=True)],
        dtype=bool,
    )
    nodes = _expand_paths(a[sel], b[sel], pred)
    term_mask = np.zeros(n, bool)
    term_mask[terminals] = True
    pairs = _mst_prune(graph, nodes, term_mask)
    return SteinerResult(pairs, tree_weight(graph, pairs), max(lb_mst, lb_tour), mst_w)


def _expand_paths(a: I64, b: I64, pred: I64) -> I64:
    """Every node on the paths from ``a`` and ``b`` back to their terminals."""
    if len(a) == 0:
        return np.zeros(0, np.int64)
    return walk_kernel(a.astype(np.int64), b.astype(np.int64), pred, len(pred))


# --------------------------------------------------------------------------- local search


def _key_paths(pairs: I64, terminal_mask: npt.NDArray[np.bool_]) -> list[list[int]]:
    """Key paths of a tree: maximal paths whose inner nodes are degree-2 non-terminals."""
    adj: dict[int, list[int]] = {}
    for x, y in pairs.tolist():
        adj.setdefault(x, []).append(y)
        adj.setdefault(y, []).append(x)

    def is_key(x: int) -> bool:
        return bool(terminal_mask[x]) or len(adj[x]) != 2

    paths = []
    seen: set[tuple[int, int]] = set()
    for s in adj:
        if not is_key(s):
            continue
        for nb in adj[s]:
            if (s, nb) in seen:
                continue
            path = [s, nb]
            prev, cur = s, nb
            while not is_key(cur):
                nxt = adj[cur][0] if adj[cur][0] != prev else adj[cur][1]
                path.append(nxt)
                prev, cur = cur, nxt
            seen.add((path[-1], path[-2]))
            seen.add((s, nb))
            paths.append(path)
    return paths


def _path_pairs(path: list[int]) -> I64:
    p = np.asarray(path, dtype=np.int64)
    return _norm_pairs(p[:-1], p[1:])


def _pair_weights(graph: csr_matrix, pairs: I64) -> F64:
    return np.asarray(graph[pairs[:, 0], pairs[:, 1]]).ravel()


def _key_path_exchange(
    graph: csr_matrix, pairs: I64, terminal_mask: npt.NDArray[np.bool_], deadline: float
) -> tuple[I64, bool]:
    """One pass of key-path exchange; returns the tree and whether it improved."""
    n = graph.shape[0]
    improved = False
    paths = _key_paths(pairs, terminal_mask)
    paths.sort(key=len, reverse=True)
    for path in paths:
        if time.perf_counter() > deadline:
            break
        pp = _path_pairs(path)
        cur = pairs
        # is this key path still in the tree?
        key_cur = cur[:, 0] * n + cur[:, 1]
        key_pp = pp[:, 0] * n + pp[:, 1]
        present = np.isin(key_pp, key_cur)
        if not present.all():
            continue
        cost = float(_pair_weights(graph, pp).sum())
        rest = cur[~np.isin(key_cur, key_pp)]
        inner = set(path[1:-1])
        tree_nodes = np.unique(cur)
        tree_nodes = tree_nodes[~np.isin(tree_nodes, list(inner))] if inner else tree_nodes
        if len(rest):
            sub = coo_matrix((np.ones(len(rest)), (rest[:, 0], rest[:, 1])), shape=(n, n))
            _, lab = connected_components(sub, directed=False)
        else:
            lab = np.arange(n)
        la, lb = lab[path[0]], lab[path[-1]]
        side_a = tree_nodes[lab[tree_nodes] == la]
        side_b = tree_nodes[lab[tree_nodes] == lb]
        if len(side_a) > len(side_b):
            side_a, side_b = side_b, side_a
        dist, pred, _ = dijkstra(
            graph, indices=side_a, return_predecessors=True, min_only=True, limit=cost
        )
        db = dist[side_b]
        j = int(np.argmin(db))
        if not db[j] < cost * (1.0 - 1e-9) - 1e-9:
            continue
        x = int(side_b[j])
        walk = [x]
        while pred[x] >= 0:
            x = int(pred[x])
            walk.append(x)
        new = np.vstack([rest, _path_pairs(walk)]) if len(walk) > 1 else rest
        nodes = np.unique(new)
        cand = _mst_prune(graph, nodes, terminal_mask)
        if tree_weight(graph, cand) < tree_weight(graph, pairs) - 1e-9:
            pairs = cand
            improved = True
    return pairs, improved


def _vertex_insertion(
    graph: csr_matrix, pairs: I64, terminal_mask: npt.NDArray[np.bool_], deadline: float
) -> tuple[I64, bool]:
    """Try adding each non-tree neighbour of the tree (Minoux 1990)."""
    improved = False
    best_w = tree_weight(graph, pairs)
    nodes = np.unique(pairs)
    in_tree = np.zeros(graph.shape[0], bool)
    in_tree[nodes] = True
    cand = np.unique(graph[nodes].indices)
    cand = cand[~in_tree[cand]]
    # most tree neighbours first: likely Steiner points
    hits = np.asarray((graph[cand][:, nodes] > 0).sum(axis=1)).ravel()
    cand = cand[np.argsort(-hits, kind="stable")]
    cand = cand[hits[np.argsort(-hits, kind="stable")] >= 2]
    for v in cand.tolist():
        if time.perf_counter() > deadline:
            break
        trial = _mst_prune(graph, np.append(np.unique(pairs), v), terminal_mask)
        w = tree_weight(graph, trial)
        if w < best_w - 1e-9:  # the induced MST still spans every terminal
            pairs, best_w, improved = trial, w, True
    return pairs, improved


def improve_tree(
    graph: csr_matrix,
    pairs: I64,
    terminals: I64,
    *,
    time_budget_s: float = 10.0,
    max_rounds: int = 20,
) -> I64:
    """Local search on a Steiner tree: MST re-run, key-path exchange, vertex insertion.

    Never returns a heavier tree than it got; stops when a round brings no
    improvement, after ``max_rounds`` rounds or when ``time_budget_s`` is spent.
    """
    n = graph.shape[0]
    term_mask = np.zeros(n, bool)
    term_mask[np.asarray(terminals, dtype=np.int64)] = True
    if len(pairs) == 0:
        return pairs
    deadline = time.perf_counter() + time_budget_s
    best = _mst_prune(graph, np.unique(pairs), term_mask)
    if tree_weight(graph, best) > tree_weight(graph, pairs):
        best = pairs
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        best, imp1 = _key_path_exchange(graph, best, term_mask, deadline)
        best, imp2 = _vertex_insertion(graph, best, term_mask, deadline)
        if not (imp1 or imp2):
            break
    return best


# --------------------------------------------------------------------------- greedy growth


def greedy_growth(
    graph: csr_matrix,
    length_graph: csr_matrix,
    sources: I64,
    targets: I64,
    *,
    max_link_m: float = np.inf,
) -> tuple[I64, I64, F64]:
    """Grow from ``sources``: connect the nearest target by its shortest path, repeat.

    Parameters
    ----------
    graph : csr_matrix
        Symmetric weights (paths are chosen by weight).
    length_graph : csr_matrix
        The same structure with physical lengths (m) as data, for the
        maximum-link test.
    sources : ndarray of int
        Nodes of the existing network.
    targets : ndarray of int
        Target nodes.
    max_link_m : float
        A target whose shortest path from the current network is longer than
        this (physical metres) waits; it is connected later if the network
        grows close enough, else never.

    Returns
    -------
    pairs : ndarray, shape (k, 2)
        Tree edges added.
    order : ndarray of int
        Indices into ``targets`` in connection order.
    link_m : ndarray of float
        Physical length of each target's new link.
    """
    g = graph.tocsr()
    lg = length_graph.tocsr()
    if not (np.array_equal(g.indptr, lg.indptr) and np.array_equal(g.indices, lg.indices)):
        raise ValueError("graph and length_graph must share their sparsity structure")
    tree_pred, nodes, order, links = greedy_kernel(
        g.indptr.astype(np.int64),
        g.indices.astype(np.int64),
        g.data.astype(np.float64),
        lg.data.astype(np.float64),
        np.asarray(sources, np.int64),
        np.asarray(targets, np.int64),
        float(max_link_m),
    )
    pairs = _norm_pairs(nodes, tree_pred[nodes]) if len(nodes) else np.zeros((0, 2), np.int64)
    return pairs, order, links


def rooted_order(pairs: I64, root: int, n: int) -> tuple[I64, I64]:
    """BFS order and parent of the tree nodes, from ``root``."""
    g = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)).tocsr()
    order, parent = breadth_first_order(g, root, directed=False, return_predecessors=True)
    return order.astype(np.int64), parent.astype(np.int64)


# --------------------------------------------------------------------------- dual ascent bound


def dual_ascent_bound(
    graph: csr_matrix, root: int, terminals: I64, *, time_budget_s: float = 5.0
) -> tuple[float, bool]:
    """Lower bound on the Steiner tree weight by dual ascent (Wong 1984).

    Works on the directed cut relaxation rooted at ``root``: repeatedly takes
    an active terminal t, the set W of nodes reaching t along arcs of zero
    reduced cost, and raises the dual of the cut into W by the smallest
    reduced cost entering it.  The sum of the raises is a feasible dual
    value, so the bound is valid whenever the loop stops; it stops when no
    terminal is active or ``time_budget_s`` is spent.

    Returns
    -------
    bound : float
    converged : bool
        Whether every terminal became inactive (the full dual-ascent bound).
    """
    g = graph.tocsr().copy()
    g.sort_indices()
    indptr = g.indptr.astype(np.int64)
    indices = g.indices.astype(np.int64)
    rc = g.data.astype(np.float64).copy()
    rev = reverse_arcs(indptr, indices)
    terms = np.unique(np.asarray(terminals, dtype=np.int64))
    terms = terms[terms != root]
    active = np.ones(len(terms), np.bool_)
    size_w = np.ones(len(terms), np.int64)
    deadline = time.perf_counter() + time_budget_s
    lb = 0.0
    steps = 64
    while active.any():
        t0 = time.perf_counter()
        lb += dual_ascent_kernel(indptr, indices, rev, rc, int(root), terms, active, size_w, steps)
        if time.perf_counter() > deadline:
            break
        # aim at ~50 ms per call
        took = max(time.perf_counter() - t0, 1e-4)
        steps = int(min(max(steps * 0.05 / took, 1), 1_000_000))
    return lb, not active.any()
