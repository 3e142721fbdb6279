"""Numba kernels of the fiber planner's graph work (pure arrays, no objects).

Called through :mod:`deadzone.kernels.graph` by :mod:`deadzone.geo.fiber`
(phasing) and :mod:`deadzone.geo._fiber_design` (Steiner tree pruning and
path walks, Giga-style greedy growth, the dual-ascent lower bound of Wong
1984).  Moved here unchanged from those modules.
"""

from __future__ import annotations

import heapq

import numpy as np
import numpy.typing as npt

from deadzone.kernels._jit import jit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@jit
def prune_kernel(n: int, a: I64, b: I64, is_terminal: npt.NDArray[np.bool_]) -> npt.NDArray:
    """Remove non-terminal leaves repeatedly; returns a keep mask over edges."""
    m = len(a)
    deg = np.zeros(n, np.int64)
    for k in range(m):
        deg[a[k]] += 1
        deg[b[k]] += 1
    # incidence lists
    start = np.zeros(n + 1, np.int64)
    for i in range(n):
        start[i + 1] = start[i] + deg[i]
    fill = start[:-1].copy()
    inc = np.empty(2 * m, np.int64)
    for k in range(m):
        inc[fill[a[k]]] = k
        fill[a[k]] += 1
        inc[fill[b[k]]] = k
        fill[b[k]] += 1
    keep = np.ones(m, np.bool_)
    stack = []
    for i in range(n):
        if deg[i] == 1 and not is_terminal[i]:
            stack.append(i)
    while len(stack) > 0:
        x = stack.pop()
        if deg[x] != 1 or is_terminal[x]:
            continue
        for q in range(start[x], start[x + 1]):
            k = inc[q]
            if keep[k]:
                keep[k] = False
                y = b[k] if a[k] == x else a[k]
                deg[x] -= 1
                deg[y] -= 1
                if deg[y] == 1 and not is_terminal[y]:
                    stack.append(y)
                break
    return keep


@jit
def walk_kernel(a: I64, b: I64, pred: I64, n: int) -> I64:
    mark = np.zeros(n, np.bool_)
    out = []
    for k in range(len(a)):
        for start in (a[k], b[k]):
            x = start
            while x >= 0 and not mark[x]:
                mark[x] = True
                out.append(x)
                x = pred[x]
    res = np.empty(len(out), np.int64)
    for i in range(len(out)):
        res[i] = out[i]
    return res


@jit
def greedy_kernel(
    indptr: I64,
    indices: I64,
    weights: F64,
    lengths: F64,
    sources: I64,
    targets: I64,
    max_link_m: float,
) -> tuple[I64, I64, I64, F64]:
    """Giga-style growth; returns (pred_of_new_node, new_nodes_order, target_order, link_m)."""
    n = len(indptr) - 1
    inf = np.inf
    dist = np.full(n, inf)
    pred = np.full(n, -1, np.int64)
    in_net = np.zeros(n, np.bool_)
    heap = [(0.0, np.int64(0))]
    heap.pop()
    for s in sources:
        dist[s] = 0.0
        in_net[s] = True
        heapq.heappush(heap, (0.0, np.int64(s)))
    tree_pred = np.full(n, -1, np.int64)
    added = []
    t_order = []
    t_link = []
    connected = np.zeros(len(targets), np.bool_)
    blocked = np.zeros(len(targets), np.bool_)
    while True:
        # (re)settle distances from the current network
        while len(heap) > 0:
            d, x = heapq.heappop(heap)
            if d > dist[x]:
                continue
            for q in range(indptr[x], indptr[x + 1]):
                y = indices[q]
                nd = d + weights[q]
                if nd < dist[y]:
                    dist[y] = nd
                    pred[y] = x
                    heapq.heappush(heap, (nd, np.int64(y)))
        best = -1
        bd = inf
        for i in range(len(targets)):
            if connected[i] or blocked[i]:
                continue
            if dist[targets[i]] < bd:
                bd = dist[targets[i]]
                best = i
        if best < 0:
            break
        # physical length of the new link
        x = targets[best]
        link = 0.0
        while not in_net[x]:
            p = pred[x]
            for q in range(indptr[p], indptr[p + 1]):
                if indices[q] == x:
                    link += lengths[q]
                    break
            x = p
        if link > max_link_m:
            blocked[best] = True
            continue
        connected[best] = True
        t_order.append(best)
        t_link.append(link)
        x = targets[best]
        while not in_net[x]:
            in_net[x] = True
            tree_pred[x] = pred[x]
            added.append(x)
            dist[x] = 0.0
            heapq.heappush(heap, (0.0, np.int64(x)))
            x = pred[x]
        blocked[:] = False
    nodes = np.empty(len(added), np.int64)
    for i in range(len(added)):
        nodes[i] = added[i]
    order = np.empty(len(t_order), np.int64)
    links = np.empty(len(t_order), np.float64)
    for i in range(len(t_order)):
        order[i] = t_order[i]
        links[i] = t_link[i]
    return tree_pred, nodes, order, links


@jit
def reverse_arcs(indptr: I64, indices: I64) -> I64:
    """For the entry p = (x, u) of row x, the position of the arc u -> x in row u."""
    rev = np.empty(len(indices), np.int64)
    for x in range(len(indptr) - 1):
        for p in range(indptr[x], indptr[x + 1]):
            u = indices[p]
            lo, hi = indptr[u], indptr[u + 1]
            while lo < hi:  # rows are sorted: binary search for x
                mid = (lo + hi) // 2
                if indices[mid] < x:
                    lo = mid + 1
                else:
                    hi = mid
            rev[p] = lo
    return rev


@jit
def dual_ascent_kernel(
    indptr: I64,
    indices: I64,
    rev: I64,
    rc: F64,
    root: int,
    terminals: I64,
    active: npt.NDArray[np.bool_],
    size_w: I64,
    max_steps: int,
) -> float:
    """Run up to ``max_steps`` dual-ascent steps; returns the bound gained (Wong 1984)."""
    n = len(indptr) - 1
    in_w = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    members = np.empty(n, np.int64)
    gained = 0.0
    for _ in range(max_steps):
        # the active terminal with the smallest component first
        best = -1
        for i in range(len(terminals)):
            if active[i] and (best < 0 or size_w[i] < size_w[best]):
                best = i
        if best < 0:
            break
        t = terminals[best]
        # W: nodes that reach t along arcs of zero reduced cost
        k = 0
        top = 0
        stack[top] = t
        top += 1
        in_w[t] = True
        hit_root = False
        while top > 0:
            top -= 1
            x = stack[top]
            members[k] = x
            k += 1
            if x == root:
                hit_root = True
            for p in range(indptr[x], indptr[x + 1]):
                u = indices[p]
                if not in_w[u] and rc[rev[p]] <= 1e-12:
                    in_w[u] = True
                    stack[top] = u
                    top += 1
        if hit_root:
            active[best] = False
        else:
            delta = np.inf
            for j in range(k):
                x = members[j]
                for p in range(indptr[x], indptr[x + 1]):
                    if not in_w[indices[p]] and rc[rev[p]] < delta:
                        delta = rc[rev[p]]
            if delta == np.inf:  # t cannot reach the root at all
                active[best] = False
            else:
                for j in range(k):
                    x = members[j]
                    for p in range(indptr[x], indptr[x + 1]):
                        if not in_w[indices[p]]:
                            rc[rev[p]] -= delta
                            if rc[rev[p]] < 0.0:
                                rc[rev[p]] = 0.0
                gained += delta
        size_w[best] = k
        for j in range(k):
            in_w[members[j]] = False
    return gained


@jit
def phase_kernel(
    parent: I64,
    cost_a: F64,
    cost_b: F64,
    value: F64,
    built0: npt.NDArray[np.bool_],
    budget_a: float,
    budget_b: float,
    n_phases: int,
) -> I64:
    """Phase of every tree node (0 = existing, 1..K, -1 = not built).

    Nodes are numbered in BFS order from the root (parents before children).  Each
    pick is an unbuilt node c: build the tree path from the built network to
    c and the whole sub-tree below c; value = targets in that sub-tree; the
    pick with the best value / cost_a (cost_b when cost_a is all zero) that
    fits both remaining budgets is taken, until nothing fits; the rest of
    the budget then extends the path toward the best extension that did not
    fit, edge by edge from the built network.
    """
    n = len(parent)
    phase = np.full(n, -1, np.int64)
    built = built0.copy()
    for i in range(n):
        if built[i]:
            phase[i] = 0
    path_a = np.zeros(n)
    path_b = np.zeros(n)
    sub_a = np.zeros(n)
    sub_b = np.zeros(n)
    sub_v = np.zeros(n)
    mark = np.zeros(n, np.bool_)
    use_b = budget_a == np.inf
    for p in range(1, n_phases + 1):
        rem_a = budget_a
        rem_b = budget_b
        while True:
            for c in range(n):
                if built[c] or parent[c] < 0:
                    path_a[c] = 0.0
                    path_b[c] = 0.0
                else:
                    path_a[c] = cost_a[c] + path_a[parent[c]]
                    path_b[c] = cost_b[c] + path_b[parent[c]]
                sub_a[c] = 0.0
                sub_b[c] = 0.0
                sub_v[c] = 0.0
            for c in range(n - 1, -1, -1):
                if built[c]:
                    continue
                sub_a[c] += cost_a[c]
                sub_b[c] += cost_b[c]
                sub_v[c] += value[c]
                pc = parent[c]
                if pc >= 0 and not built[pc]:
                    sub_a[pc] += sub_a[c]
                    sub_b[pc] += sub_b[c]
                    sub_v[pc] += sub_v[c]
            best = -1
            best_r = -1.0
            best_cost = np.inf
            for c in range(n):
                if built[c] or sub_v[c] <= 0:
                    continue
                pc = parent[c]
                ca = path_a[pc] + sub_a[c]
                cb = path_b[pc] + sub_b[c]
                if ca > rem_a * (1 + 1e-12) or cb > rem_b * (1 + 1e-12):
                    continue
                denom = cb if use_b else ca
                r = sub_v[c] / denom if denom > 0 else np.inf
                if r > best_r or (r == best_r and denom < best_cost):
                    best_r = r
                    best = c
                    best_cost = denom
            if best < 0:
                # nothing whole fits: spend what is left building toward the
                # extension with the best value per cost (whole edges, from the
                # built network down), so long links progress over several years
                far = -1
                far_r = -1.0
                for c in range(n):
                    if built[c] or sub_v[c] <= 0:
                        continue
                    pc = parent[c]
                    denom = path_b[pc] + sub_b[c] if use_b else path_a[pc] + sub_a[c]
                    r = sub_v[c] / denom if denom > 0 else np.inf
                    if r > far_r:
                        far_r = r
                        far = c
                if far >= 0:
                    chain = []
                    x = far
                    while x >= 0 and not built[x]:
                        chain.append(x)
                        x = parent[x]
                    for k in range(len(chain) - 1, -1, -1):
                        x = chain[k]
                        if cost_a[x] > rem_a * (1 + 1e-12) or cost_b[x] > rem_b * (1 + 1e-12):
                            break
                        rem_a -= cost_a[x]
                        rem_b -= cost_b[x]
                        built[x] = True
                        phase[x] = p
                break
            pc = parent[best]
            rem_a -= path_a[pc] + sub_a[best]
            rem_b -= path_b[pc] + sub_b[best]
            x = pc
            while x >= 0 and not built[x]:
                built[x] = True
                phase[x] = p
                x = parent[x]
            # the whole sub-tree of best (descendants come later in BFS order)
            built[best] = True
            phase[best] = p
            mark[best] = True
            for c in range(best + 1, n):
                if not built[c] and parent[c] >= 0 and mark[parent[c]]:
                    built[c] = True
                    phase[c] = p
                    mark[c] = True
            for c in range(best, n):
                mark[c] = False
    return phase
