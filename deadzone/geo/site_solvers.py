"""The budgeted maximal covering problem and its two solvers: lazy greedy
(Minoux 1978; Nemhauser, Wolsey & Fisher 1978; Khuller, Moss & Naor 1999
for a money budget) and an exact MILP (HiGHS via :func:`scipy.optimize.milp`,
cheapest plan among equal objectives, never worse than greedy)."""

from __future__ import annotations

import contextlib
import heapq
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from deadzone.errors import ParameterError

__all__ = [
    "PlacementProblem",
    "Solution",
    "solve_greedy",
    "solve_milp",
]



# --------------------------------------------------------------------------- problem and solvers


@dataclass
class PlacementProblem:
    """Everything a solver needs, as arrays.

    Attributes
    ----------
    cover : csr_matrix of bool, (n_candidates, n_targets)
        Candidate covers target village.
    weights : float64[n_targets]
        Weight of each target village (objective).
    base_vnd : float64[n_candidates]
        Capex + power.
    anchor_vnd : float64[n_candidates]
        Backhaul cost when anchored directly (microwave to a fiber site or
        fiber spur; 0 for upgrades); ``inf`` when impossible.
    relay_vnd : float
        Cost of a microwave hop to another selected, anchored site.
    neighbours : list of list of int
        LOS relay neighbours per candidate.
    selectable : bool[n_candidates]
        Candidate ``status == "ok"``.
    target_index : int64[n_targets]
        Row of each target in the village table.
    """

    cover: sp.csr_matrix
    weights: npt.NDArray[np.float64]
    base_vnd: npt.NDArray[np.float64]
    anchor_vnd: npt.NDArray[np.float64]
    relay_vnd: float
    neighbours: list[list[int]]
    selectable: npt.NDArray[np.bool_]
    target_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n(self) -> int:
        """Number of candidates."""
        return int(self.cover.shape[0])

    def value(self, chosen: Sequence[int]) -> float:
        """Covered weight of a selection."""
        if not len(chosen):
            return 0.0
        hit = np.asarray(self.cover[list(chosen)].sum(axis=0)).ravel() > 0
        return float(self.weights[hit].sum())

    def reverse_neighbours(self) -> list[list[int]]:
        """For each site k, the sites that may relay through k."""
        rev: list[list[int]] = [[] for _ in range(self.n)]
        for j, nb in enumerate(self.neighbours):
            for k in nb:
                rev[k].append(j)
        return rev

    def cost(self, modes: dict[int, tuple[str, int]]) -> float:
        """Total VND of a selection with its backhaul modes (``inf`` if infeasible).

        ``modes[j]`` is ``("anchor", -1)`` (microwave to a fiber site, fiber
        spur, or an existing site's own transmission) or ``("relay", k)``
        (a hop to chosen site ``k``, which must itself be anchored and in
        line of sight).
        """
        total = 0.0
        for j, (mode, k) in modes.items():
            if mode == "anchor":
                extra = self.anchor_vnd[j]
            elif k in modes and modes[k][0] == "anchor" and k in self.neighbours[j]:
                extra = self.relay_vnd
            else:
                return math.inf
            total += self.base_vnd[j] + extra
        return float(total)


@dataclass
class Solution:
    """A solver's answer."""

    chosen: list[int]
    modes: dict[int, tuple[str, int]]
    value: float
    cost_vnd: float
    solver: str
    bound: float = math.nan
    gap: float = math.nan
    elapsed_s: float = 0.0
    status: str = ""


@contextlib.contextmanager
def quiet_native_stdout() -> Iterator[None]:
    """Silence what the HiGHS library writes to file descriptor 1 itself (some
    builds print debugging lines such as ``HighsMipSolverData::...`` past
    ``disp=False``), so a command's ``-q`` stays quiet and its output clean.
    Python's own ``sys.stdout`` is flushed first and works as before after."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (a test runner)
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def _budget_check(budget_towers: int | None, budget_vnd: float | None) -> None:
    if (budget_towers is None) == (budget_vnd is None):
        raise ParameterError("give exactly one of budget_towers and budget_vnd")
    if budget_towers is not None and budget_towers < 0:
        raise ParameterError(f"budget_towers was {budget_towers}; expected >= 0")
    if budget_vnd is not None and not (budget_vnd >= 0 and math.isfinite(budget_vnd)):
        raise ParameterError(f"budget_vnd was {budget_vnd}; expected >= 0")


def solve_greedy(
    prob: PlacementProblem,
    *,
    budget_towers: int | None = None,
    budget_vnd: float | None = None,
) -> Solution:
    """Lazy greedy (Minoux 1978) for the budgeted maximal covering problem.

    With a tower budget: add the site with the largest marginal covered
    weight, (1 - 1/e)-optimal (Nemhauser, Wolsey & Fisher 1978).  With a
    money budget: add the site with the largest marginal weight per VND that
    still fits, then return the better of that and the best single site
    (Khuller, Moss & Naor 1999).  Marginal gains only shrink as sites are
    added, so stale heap keys are upper bounds and only the top needs
    re-evaluating; a site's cost can drop when an anchored LOS neighbour is
    chosen (relay hop), so those neighbours are re-queued with fresh keys.
    A site with no backhaul of its own is offered as a pair with an
    anchored LOS neighbour (key: joint gain per tower or per VND).  The
    (1 - 1/e) guarantee holds for the problem without relay dependencies;
    with them greedy is a heuristic, and the MILP is the reference.
    """
    _budget_check(budget_towers, budget_vnd)
    t0 = time.perf_counter()
    A = prob.cover.tocsr()
    w = prob.weights
    covered = np.zeros(A.shape[1], dtype=bool)
    chosen: list[int] = []
    modes: dict[int, tuple[str, int]] = {}
    rev = prob.reverse_neighbours()
    anchored: set[int] = set()
    spent = 0.0
    by_money = budget_vnd is not None

    def cols_of(j: int) -> np.ndarray:
        return A.indices[A.indptr[j] : A.indptr[j + 1]]

    def plan(j: int) -> tuple[float, float, list[tuple[int, int]]]:
        """Best way to add ``j`` now: (gain, cost, [(site, relay parent or -1)]).

        ``j`` alone when it has its own backhaul or an anchored chosen
        neighbour; else ``j`` together with the LOS neighbour that gives the
        best joint gain, anchored, as its relay parent (a pair move).
        """
        cols = cols_of(j)
        g = float(w[cols[~covered[cols]]].sum())
        anchor = prob.anchor_vnd[j]
        via = next((k for k in prob.neighbours[j] if k in anchored), -1)
        relay = prob.relay_vnd if via >= 0 else math.inf
        if math.isfinite(min(anchor, relay)):
            if anchor <= relay:
                return g, prob.base_vnd[j] + anchor, [(j, -1)]
            return g, prob.base_vnd[j] + relay, [(j, via)]
        best: tuple[float, float, list[tuple[int, int]]] = (0.0, math.inf, [])
        for k in prob.neighbours[j]:
            if k in modes or not prob.selectable[k] or not math.isfinite(prob.anchor_vnd[k]):
                continue
            both = np.union1d(cols, cols_of(k))
            gk = float(w[both[~covered[both]]].sum())
            ck = prob.base_vnd[j] + prob.relay_vnd + prob.base_vnd[k] + prob.anchor_vnd[k]
            if gk > best[0] or (gk == best[0] and ck < best[1]):
                best = (gk, ck, [(k, -1), (j, k)])
        return best

    def key(j: int) -> float:
        g, c, steps = plan(j)
        if not steps:
            return 0.0
        if not by_money:
            return g / len(steps)
        return g / c if c > 0 else (math.inf if g > 0 else 0.0)

    stamp = np.zeros(prob.n, dtype=np.int64)
    heap = [(-key(j), j, 0) for j in range(prob.n) if prob.selectable[j]]
    heapq.heapify(heap)
    while heap:
        if budget_towers is not None and len(chosen) >= budget_towers:
            break
        negk, j, s = heapq.heappop(heap)
        if s != stamp[j] or j in modes:
            continue
        fresh = key(j)
        if fresh < -negk - 1e-12 * max(1.0, abs(negk)):
            stamp[j] += 1
            heapq.heappush(heap, (-fresh, j, int(stamp[j])))
            continue
        g, c, steps = plan(j)
        if fresh <= 0:
            break
        if (
            not steps
            or (by_money and spent + c > budget_vnd + 1e-6)
            or (budget_towers is not None and len(chosen) + len(steps) > budget_towers)
        ):
            continue  # may come back when a neighbour lowers its cost
        spent += c
        for site, parent in steps:
            chosen.append(site)
            modes[site] = ("anchor", -1) if parent < 0 else ("relay", parent)
            covered[cols_of(site)] = True
            if parent < 0:
                anchored.add(site)
                for k in rev[site]:
                    if k not in modes and prob.selectable[k]:
                        stamp[k] += 1
                        heapq.heappush(heap, (-key(k), k, int(stamp[k])))
    best = Solution(chosen, modes, prob.value(chosen), prob.cost(modes), "greedy")
    if by_money:
        # Khuller et al.: compare with the best affordable single site.
        single = prob.base_vnd + prob.anchor_vnd
        ok = np.flatnonzero(prob.selectable & (single <= budget_vnd + 1e-6))
        if ok.size:
            vals = np.asarray(A[ok].astype(np.float64) @ w).ravel()
            j = int(ok[int(np.argmax(vals))])
            if vals.max() > best.value:
                m1 = {j: ("anchor", -1)}
                best = Solution([j], m1, prob.value([j]), prob.cost(m1), "greedy")
    best.elapsed_s = time.perf_counter() - t0
    best.status = "heuristic"
    return best


def solve_milp(
    prob: PlacementProblem,
    *,
    budget_towers: int | None = None,
    budget_vnd: float | None = None,
    time_limit_s: float = 60.0,
    greedy: Solution | None = None,
) -> Solution:
    """Exact MILP (HiGHS via :func:`scipy.optimize.milp`) with a time limit.

    Variables: ``a_j`` (site j chosen and anchored: microwave to a fiber
    site, fiber spur, or existing site), ``r_j`` (chosen and relayed over a
    hop to an anchored chosen LOS neighbour), ``z_i`` in [0, 1] (target i
    covered).  Maximise ``sum w_i z_i`` subject to ``z_i <= sum_j A_ij (a_j
    + r_j)``, ``a_j + r_j <= 1``, ``r_j <= sum_{k in N(j)} a_k`` and the
    budget (``sum a + r <= N`` or ``sum cost_a a + cost_r r <= VND``).

    A second MILP then finds the cheapest selection reaching the first one's
    objective (budget and backhaul rules unchanged), and sites that still add
    nothing are dropped, so equal objectives go to the cheaper plan and no
    site is bought for nothing.  The answer is compared with ``greedy``
    (computed when not given) and the better selection is returned (more
    covered weight, or the same for less money), so the result is never
    worse than greedy in either; ``gap`` is ``(bound - value) / bound`` from
    HiGHS's dual bound of the first pass.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    _budget_check(budget_towers, budget_vnd)
    t0 = time.perf_counter()
    g = greedy or solve_greedy(prob, budget_towers=budget_towers, budget_vnd=budget_vnd)
    A = prob.cover.tocsr().astype(np.float64)
    w = prob.weights
    n = prob.n
    useful = np.flatnonzero(np.asarray(A.sum(axis=0)).ravel() > 0)
    A = A[:, useful]
    wu = w[useful]
    m = useful.size
    if m == 0 or n == 0:
        return Solution(
            g.chosen,
            g.modes,
            g.value,
            g.cost_vnd,
            "milp",
            g.value,
            0.0,
            time.perf_counter() - t0,
            "trivial",
        )
    can_a = prob.selectable & np.isfinite(prob.anchor_vnd)
    N = sp.lil_matrix((n, n))
    for j, nb in enumerate(prob.neighbours):
        for k in nb:
            N[j, k] = 1.0
    N = N.tocsr()
    can_r = prob.selectable & (np.asarray(N.sum(axis=1)).ravel() > 0)
    I_n = sp.identity(n, format="csr")
    I_m = sp.identity(m, format="csr")
    Z_nm = sp.csr_matrix((n, m))
    rows = [
        sp.hstack([-A.T, -A.T, I_m]),  # z_i <= covered by chosen
        sp.hstack([I_n, I_n, Z_nm]),  # a_j + r_j <= 1
        sp.hstack([-N, I_n, Z_nm]),  # r_j <= sum of anchored neighbours
    ]
    lo = [np.full(m, -np.inf), np.full(n, -np.inf), np.full(n, -np.inf)]
    hi = [np.zeros(m), np.ones(n), np.zeros(n)]
    ca = np.where(
        can_a, prob.base_vnd + np.where(np.isfinite(prob.anchor_vnd), prob.anchor_vnd, 0.0), 0.0
    )
    cr = np.where(can_r, prob.base_vnd + prob.relay_vnd, 0.0)
    # Money rows are scaled to O(1) coefficients (HiGHS tolerances are absolute).
    scale = max(float(budget_vnd or 0.0), float(ca.max(initial=0.0)),
                float(cr.max(initial=0.0)))
    scale = scale if scale > 0 else 1.0
    cost_row = np.concatenate([ca, cr, np.zeros(m)]) / scale
    if budget_towers is not None:
        rows.append(sp.csr_matrix(np.concatenate([np.ones(2 * n), np.zeros(m)])[None, :]))
        hi.append(np.array([float(budget_towers)]))
    else:
        rows.append(sp.csr_matrix(cost_row[None, :]))
        hi.append(np.array([float(budget_vnd) / scale]))
    lo.append(np.array([-np.inf]))
    cons = LinearConstraint(sp.vstack(rows).tocsr(), np.concatenate(lo), np.concatenate(hi))
    ub = np.concatenate([can_a.astype(float), can_r.astype(float), np.ones(m)])
    c = np.concatenate([np.zeros(2 * n), -wu])
    integrality = np.concatenate([np.ones(2 * n), np.zeros(m)])
    opts: dict[str, Any] = {"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False}
    bounds = Bounds(np.zeros(c.size), ub)
    with quiet_native_stdout():
        res = milp(c, constraints=cons, integrality=integrality, bounds=bounds, options=opts)
    if res.status == 4:
        # HiGHS's presolve occasionally reports a solve error on small models
        # that solve fine without it (seen with scipy 1.17); retry once.
        left = max(1.0, float(time_limit_s) - (time.perf_counter() - t0))
        opts.update(presolve=False, time_limit=left)
        with quiet_native_stdout():
            res = milp(c, constraints=cons, integrality=integrality, bounds=bounds,
                       options=opts)
    bound = (
        -float(res.mip_dual_bound)
        if getattr(res, "mip_dual_bound", None) is not None and np.isfinite(res.mip_dual_bound)
        else math.nan
    )
    status = "optimal" if res.status == 0 else f"stopped: {res.message}"
    chosen, modes, value = g.chosen, g.modes, g.value
    g_cost = prob.cost(g.modes)
    source = "greedy (kept: the MILP found nothing better)"
    if res.x is not None and res.status == 0:
        # Second pass: the cheapest plan reaching that objective (the first
        # pass is indifferent to cost, and picked sites that add nothing).
        v1 = prob.value(_milp_pick(prob, res.x, n)[0])
        left = max(1.0, float(time_limit_s) - (time.perf_counter() - t0))
        keep = LinearConstraint(
            sp.csr_matrix(np.concatenate([np.zeros(2 * n), wu])[None, :]),
            np.array([v1 - 1e-9 * max(abs(v1), 1.0)]), np.array([np.inf]))
        with quiet_native_stdout():
            res2 = milp(cost_row, constraints=[cons, keep], integrality=integrality,
                        bounds=bounds, options={**opts, "time_limit": left})
        if res2.x is not None and prob.value(_milp_pick(prob, res2.x, n)[0]) >= v1:
            res = res2
    if res.x is not None:
        pick, mm = _milp_pick(prob, res.x, n)
        pick, mm = _prune(prob, pick, mm)
        v = prob.value(pick)
        cost = prob.cost(mm)
        fits = math.isfinite(cost) and (
            (budget_towers is not None and len(pick) <= budget_towers)
            or (budget_vnd is not None and cost <= budget_vnd * (1 + 1e-12) + 1e-6)
        )
        # never worse than greedy: more covered weight, or as much for less money
        if fits and (v > value or (v == value and cost <= g_cost)):
            # Report in order of marginal gain, as greedy does.
            chosen, modes, value, source = _gain_order(prob, pick), mm, v, "milp"
    if res.status == 0 and source == "milp":
        bound = value
    gap = (bound - value) / bound if math.isfinite(bound) and bound > 0 else 0.0
    return Solution(
        chosen,
        modes,
        value,
        prob.cost(modes),
        "milp",
        bound,
        max(gap, 0.0),
        time.perf_counter() - t0,
        f"{status}; answer from {source}",
    )


def _milp_pick(prob: PlacementProblem, x: npt.NDArray[np.float64],
               n: int) -> tuple[list[int], dict[int, tuple[str, int]]]:
    """Chosen sites and their backhaul modes from a MILP solution vector."""
    xa = x[:n] > 0.5
    xr = x[n : 2 * n] > 0.5
    anchored = set(np.flatnonzero(xa).tolist())
    pick: list[int] = sorted(anchored | set(np.flatnonzero(xr).tolist()))
    mm: dict[int, tuple[str, int]] = {}
    for j in pick:
        if xa[j]:
            mm[j] = ("anchor", -1)
        else:
            mm[j] = ("relay", next((k for k in prob.neighbours[j] if k in anchored), -1))
    return pick, mm


def _prune(prob: PlacementProblem, pick: list[int], modes: dict[int, tuple[str, int]]
           ) -> tuple[list[int], dict[int, tuple[str, int]]]:
    """Drop chosen sites that add nothing to the objective (costliest first),
    unless a relayed site hops through them."""
    pick = list(pick)
    modes = dict(modes)
    full = prob.value(pick)
    for j in sorted(pick, key=lambda j: -(prob.base_vnd[j] + (
            prob.anchor_vnd[j] if modes[j][0] == "anchor" else prob.relay_vnd))):
        if any(m == "relay" and k == j for i, (m, k) in modes.items() if i != j):
            continue
        rest = [i for i in pick if i != j]
        if prob.value(rest) >= full:
            pick = rest
            del modes[j]
    return pick, modes


def _gain_order(prob: PlacementProblem, pick: list[int]) -> list[int]:
    """Order a selection by marginal covered weight (largest first)."""
    A = prob.cover.tocsr()
    covered = np.zeros(A.shape[1], dtype=bool)
    left = list(pick)
    out: list[int] = []
    while left:
        gains = []
        for j in left:
            cols = A.indices[A.indptr[j] : A.indptr[j + 1]]
            gains.append(float(prob.weights[cols[~covered[cols]]].sum()))
        k = int(np.argmax(gains))
        j = left.pop(k)
        out.append(j)
        covered[A.indices[A.indptr[j] : A.indptr[j + 1]]] = True
    return out
