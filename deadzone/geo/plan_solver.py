"""Which option to build in which year: the multi-year selection of a
programme plan (issue 20), as an exact MILP (HiGHS through
:func:`scipy.optimize.milp`, with a time limit and its gap) and a greedy
fallback; the better answer of the two is kept.

Two questions, on the same options:

* **Budget per year** (``budgets``): connect as many (weighted) target
  villages as early as possible, i.e. maximise the village-years of
  connection within the plan, ``sum_i w_i (N - year_i)``, then spend the
  least present value for that.  A year's spending is the build cost of
  what is built that year plus the running costs and replacements of
  everything built so far; with ``rollover`` money not spent in a year is
  kept for the next ones.
* **Target** (``target = (year, count)``): the plan of least present value
  that connects at least ``count`` target villages by ``year`` (with the
  yearly budgets too, when given).

The model (a multi-period maximal covering location problem, e.g. Church &
ReVelle 1974 with a time index): ``b[o, t]`` in {0, 1} builds option ``o``
in year ``t`` (at most once), ``x[i, y]`` in [0, 1] is village ``i``
connected in year ``y``, ``x[i, y] <= sum over options covering i built in
years <= y``.  A site covers all its villages at once, so a site shared by
many villages is paid once.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from deadzone.errors import ParameterError
from deadzone.geo.site_solvers import quiet_native_stdout

__all__ = ["PlanProblem", "PlanSolution", "solve_plan"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Relative slack of a budget check (float sums of many terms).
_BUDGET_RTOL = 1e-9


@dataclass
class PlanProblem:
    """Options, their money over time, and the question.

    Attributes
    ----------
    cover : scipy.sparse.csr_matrix of bool, (n_options, n_targets)
        Target villages each option connects.
    weights : float64[n_targets]
        Weight of each target in the budget objective (1, population or
        households).
    cash : float64[n_options, n_years, n_years]
        ``cash[o, t, y]``: VND paid in plan year ``y`` when ``o`` is built
        in year ``t`` (0 for ``y < t``).
    npv : float64[n_options, n_years]
        Present value over the horizon of building ``o`` in year ``t``.
    budgets : float64[n_years] or None
        Money per year (build + running costs), or no limit.
    rollover : bool
        Unspent money is kept for later years.
    target : (int, int) or None
        ``(year index, villages)``: connect at least that many targets by
        that year at least present value; None for the budget question.
    earliest : int64[n_options] or None
        First year index each option can be built (e.g. once the fiber it
        hangs on is laid); 0 for all when None.
    group : int64[n_options] or None
        Options of one group are variants of one site (at most one of them
        is built); -1: an option on its own.
    """

    cover: sp.csr_matrix
    weights: F64
    cash: F64
    npv: F64
    budgets: F64 | None = None
    rollover: bool = False
    target: tuple[int, int] | None = None
    earliest: I64 | None = None
    group: I64 | None = None

    def __post_init__(self) -> None:
        o, t = self.cover.shape
        n = self.npv.shape[1] if self.npv.ndim == 2 else 0
        if self.npv.shape != (o, n) or self.cash.shape != (o, n, n) or n < 1:
            raise ParameterError("cash must be (options, years, years) and npv (options, years)")
        if self.weights.shape != (t,):
            raise ParameterError("weights must have one value per target village")
        if self.budgets is not None and self.budgets.shape != (n,):
            raise ParameterError(f"budgets must have one value per year ({n})")
        if self.budgets is None and self.target is None:
            raise ParameterError("give yearly budgets, a target, or both")
        if self.target is not None and not (0 <= self.target[0] < n):
            raise ParameterError(f"target year index {self.target[0]} is outside 0..{n - 1}")
        self.earliest = (np.zeros(o, dtype=np.int64) if self.earliest is None
                         else np.asarray(self.earliest, dtype=np.int64))
        self.group = (np.full(o, -1, dtype=np.int64) if self.group is None
                      else np.asarray(self.group, dtype=np.int64))
        if self.earliest.shape != (o,) or self.group.shape != (o,):
            raise ParameterError("earliest and group must have one value per option")

    def groups(self) -> I64:
        """Each option's group, options on their own numbered after the others."""
        g = self.group.copy()
        alone = g < 0
        g[alone] = (g.max() + 1 if g.size else 0) + np.arange(int(alone.sum()))
        return g

    @property
    def n_options(self) -> int:
        """Number of options."""
        return int(self.cover.shape[0])

    @property
    def n_targets(self) -> int:
        """Number of target villages."""
        return int(self.cover.shape[1])

    @property
    def n_years(self) -> int:
        """Years of the plan."""
        return int(self.npv.shape[1])

    def connected_year(self, build_year: I64) -> I64:
        """Year each target is first connected (``n_years`` where never)."""
        n = self.n_years
        out = np.full(self.n_targets, n, dtype=np.int64)
        built = np.flatnonzero(build_year >= 0)
        if built.size:
            sub = self.cover[built].tocoo()
            np.minimum.at(out, sub.col, build_year[built][sub.row])
        return out

    def spend(self, build_year: I64) -> F64:
        """VND paid in each plan year."""
        built = np.flatnonzero(build_year >= 0)
        if not built.size:
            return np.zeros(self.n_years)
        return self.cash[built, build_year[built], :].sum(axis=0)

    def total_npv(self, build_year: I64) -> float:
        """Present value of the plan (VND of year 0)."""
        built = np.flatnonzero(build_year >= 0)
        return float(self.npv[built, build_year[built]].sum()) if built.size else 0.0

    def value(self, build_year: I64) -> float:
        """Weighted village-years of connection within the plan."""
        y = self.connected_year(build_year)
        return float(np.sum(self.weights * (self.n_years - y)))

    def connected_by(self, build_year: I64, year: int) -> int:
        """Targets connected by ``year`` (index)."""
        return int((self.connected_year(build_year) <= year).sum())

    def within_budget(self, build_year: I64) -> bool:
        """Every year's spending (or the running sum, with rollover) within budget."""
        if self.budgets is None:
            return True
        return _fits(self.spend(build_year), self.budgets, self.rollover)

    def feasible(self, build_year: I64) -> bool:
        """Within budget, no option before its earliest year, one per group."""
        built = build_year >= 0
        if np.any(build_year[built] < self.earliest[built]):
            return False
        g = self.groups()[built]
        return bool(np.unique(g).size == g.size) and self.within_budget(build_year)


def _fits(spend: F64, budgets: F64, rollover: bool) -> bool:
    if rollover:
        spend, budgets = np.cumsum(spend), np.cumsum(budgets)
    return bool(np.all(spend <= budgets * (1 + _BUDGET_RTOL) + 1e-6))


@dataclass
class PlanSolution:
    """A plan: which option is built in which year.

    Attributes
    ----------
    build_year : int64[n_options]
        Year index each option is built (-1: not built).
    solver : str
        ``milp`` or ``greedy``.
    status : str
        Solver status (``optimal``, ``time_limit``, ``greedy``, ...).
    value : float
        Budget question: weighted village-years; target question: targets
        connected by the target year.
    npv_vnd : float
        Present value of the plan.
    bound, gap : float
        MILP bound on the first objective and relative gap (NaN for greedy).
    elapsed_s : float
        Solver time.
    notes : list of str
        What happened (fallbacks, comparisons).
    """

    build_year: I64
    solver: str
    status: str
    value: float
    npv_vnd: float
    bound: float = math.nan
    gap: float = math.nan
    elapsed_s: float = 0.0
    notes: list[str] | None = None


# --------------------------------------------------------------------------- greedy


def _budget_greedy(prob: PlanProblem) -> I64:
    """Year by year, the option of most new weight-years per present value
    that fits every year's budget from now on (lazy evaluation, Minoux 1978)."""
    n = prob.n_years
    assert prob.budgets is not None
    build = np.full(prob.n_options, -1, dtype=np.int64)
    conn = np.full(prob.n_targets, n, dtype=np.int64)
    spend = np.zeros(n)
    cov = prob.cover
    w = prob.weights

    def gain(o: int, t: int) -> float:
        cols = cov.indices[cov.indptr[o]: cov.indptr[o + 1]]
        cols = cols[conn[cols] > t]
        return float(w[cols].sum()) * (n - t)

    def ratio(o: int, t: int, g: float) -> float:
        c = prob.npv[o, t]
        return math.inf if c <= 0 else g / c

    groups = prob.groups()
    used: set[int] = set()
    for t in range(n):
        heap = []
        for o in np.flatnonzero((build < 0) & (prob.earliest <= t)):
            g = gain(int(o), t)
            if g > 0:
                heap.append((-ratio(int(o), t, g), int(o)))
        heapq.heapify(heap)
        while heap:
            neg, o = heapq.heappop(heap)
            if int(groups[o]) in used:
                continue
            g = gain(o, t)
            if g <= 0:
                continue
            r = ratio(o, t, g)
            if heap and r < -heap[0][0]:
                heapq.heappush(heap, (-r, o))
                continue
            trial = spend + prob.cash[o, t]
            if _fits(trial, prob.budgets, prob.rollover):
                spend = trial
                build[o] = t
                used.add(int(groups[o]))
                cols = cov.indices[cov.indptr[o]: cov.indptr[o + 1]]
                conn[cols] = np.minimum(conn[cols], t)
    return build


def _target_greedy(prob: PlanProblem) -> I64:
    """Options of most new targets per present value until the target is
    met; each built in the latest year by the target year its money fits."""
    assert prob.target is not None
    ty, k = prob.target
    build = np.full(prob.n_options, -1, dtype=np.int64)
    hit = np.zeros(prob.n_targets, dtype=bool)
    spend = np.zeros(prob.n_years)
    cov = prob.cover

    def new(o: int) -> int:
        cols = cov.indices[cov.indptr[o]: cov.indptr[o + 1]]
        return int((~hit[cols]).sum())

    def ratio(o: int, g: int) -> float:
        c = prob.npv[o, ty]
        return math.inf if c <= 0 else g / c

    groups = prob.groups()
    used: set[int] = set()
    heap = [(-ratio(o, new(o)), o) for o in range(prob.n_options)
            if new(o) > 0 and prob.earliest[o] <= ty]
    heapq.heapify(heap)
    while heap and hit.sum() < k:
        _, o = heapq.heappop(heap)
        if int(groups[o]) in used:
            continue
        g = new(o)
        if g <= 0:
            continue
        r = ratio(o, g)
        if heap and r < -heap[0][0]:
            heapq.heappush(heap, (-r, o))
            continue
        year = ty
        if prob.budgets is not None:
            year = -1
            for t in range(ty, int(prob.earliest[o]) - 1, -1):
                if _fits(spend + prob.cash[o, t], prob.budgets, prob.rollover):
                    year = t
                    break
            if year < 0:
                continue
        spend = spend + prob.cash[o, year]
        build[o] = year
        used.add(int(groups[o]))
        hit[cov.indices[cov.indptr[o]: cov.indptr[o + 1]]] = True
    return _prune_target(prob, build)


def _prune_target(prob: PlanProblem, build: I64) -> I64:
    """Drop built options (dearest first) the target does not need."""
    assert prob.target is not None
    ty, k = prob.target
    build = build.copy()
    for o in sorted(np.flatnonzero(build >= 0), key=lambda o: -prob.npv[o, build[o]]):
        keep = build[o]
        build[o] = -1
        if prob.connected_by(build, ty) < min(k, prob.connected_by(_with(build, o, keep), ty)):
            build[o] = keep
    return build


def _with(build: I64, o: int, t: int) -> I64:
    b = build.copy()
    b[o] = t
    return b


def _prune_budget(prob: PlanProblem, build: I64) -> I64:
    """Drop built options that connect no target earlier than the others do."""
    build = build.copy()
    v = prob.value(build)
    for o in sorted(np.flatnonzero(build >= 0), key=lambda o: -prob.npv[o, build[o]]):
        keep = build[o]
        build[o] = -1
        if prob.value(build) < v - 1e-9:
            build[o] = keep
    return build


# --------------------------------------------------------------------------- MILP


def _milp(prob: PlanProblem, time_limit_s: float) -> tuple[I64 | None, str, float, float]:
    """Exact model; returns (build_year or None, status, bound, gap)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_o, n_t, n = prob.n_options, prob.n_targets, prob.n_years
    nb = n_o * n
    nx = n_t * n
    nv = nb + nx
    t0 = time.perf_counter()

    def bi(o: npt.ArrayLike, t: npt.ArrayLike) -> npt.NDArray[np.int64]:
        return np.asarray(o, dtype=np.int64) * n + np.asarray(t, dtype=np.int64)

    rows: list[sp.spmatrix] = []
    lo: list[F64] = []
    hi: list[F64] = []
    # each site at most once (an option, or one of its group's variants)
    g_of, g_row = np.unique(prob.groups(), return_inverse=True)
    n_g = g_of.size
    rows.append(sp.csr_matrix((np.ones(nb), (np.repeat(g_row, n), np.arange(nb))),
                              shape=(n_g, nv)))
    lo.append(np.full(n_g, -np.inf))
    hi.append(np.ones(n_g))
    # x[i, y] <= sum_{o covers i, t <= y} b[o, t]
    coo = prob.cover.tocoo()
    ro, ci = coo.row.astype(np.int64), coo.col.astype(np.int64)
    r_l, c_l, d_l = [], [], []
    for y in range(n):
        for t in range(y + 1):
            r_l.append(ci * n + y)
            c_l.append(bi(ro, t))
            d_l.append(np.full(ro.size, -1.0))
        r_l.append(np.arange(n_t, dtype=np.int64) * n + y)
        c_l.append(nb + np.arange(n_t, dtype=np.int64) * n + y)
        d_l.append(np.ones(n_t))
    rows.append(sp.csr_matrix((np.concatenate(d_l), (np.concatenate(r_l), np.concatenate(c_l))),
                              shape=(nx, nv)))
    lo.append(np.full(nx, -np.inf))
    hi.append(np.zeros(nx))
    # money per year (or running sums with rollover)
    if prob.budgets is not None:
        cash = prob.cash  # (o, t, y)
        if prob.rollover:
            cash = np.cumsum(cash, axis=2)
            cap = np.cumsum(prob.budgets)
        else:
            cap = prob.budgets
        oo, tt, yy = np.nonzero(cash)
        rows.append(sp.csr_matrix((cash[oo, tt, yy], (yy, bi(oo, tt))), shape=(n, nv)))
        lo.append(np.full(n, -np.inf))
        hi.append(cap * (1 - 1e-12))
    if prob.target is not None:
        ty, k = prob.target
        rows.append(sp.csr_matrix((np.ones(n_t), (np.zeros(n_t, dtype=np.int64),
                                                  nb + np.arange(n_t) * n + ty)), shape=(1, nv)))
        lo.append(np.array([float(k)]))
        hi.append(np.array([np.inf]))
    a = sp.vstack(rows, format="csr")
    cons = [LinearConstraint(a, np.concatenate(lo), np.concatenate(hi))]
    integrality = np.concatenate([np.ones(nb), np.zeros(nx)])
    ub = np.ones(nv)
    ub[:nb] = (np.arange(n)[None, :] >= prob.earliest[:, None]).reshape(-1)  # not before
    bounds = Bounds(np.zeros(nv), ub)
    npv_c = np.concatenate([prob.npv.reshape(-1), np.zeros(nx)])
    scale = max(float(np.abs(prob.npv).max()) if prob.npv.size else 1.0, 1.0)

    def run(c: F64, extra: list[LinearConstraint], limit: float):  # noqa: ANN202
        with quiet_native_stdout():
            return milp(c, constraints=cons + extra, integrality=integrality, bounds=bounds,
                        options={"time_limit": max(limit, 1.0), "disp": False,
                                 "mip_rel_gap": 1e-3})

    def pick(xv: F64) -> I64:
        bv = xv[:nb].reshape(n_o, n) > 0.5
        out = np.full(n_o, -1, dtype=np.int64)
        has = bv.any(axis=1)
        out[has] = np.argmax(bv[has], axis=1)
        return out

    if prob.target is not None:
        res = run(npv_c / scale, [], time_limit_s)
        if res.x is None:
            return None, _status(res), math.nan, math.nan
        bound = float(getattr(res, "mip_dual_bound", math.nan)) * scale
        gap = float(getattr(res, "mip_gap", math.nan))
        return pick(res.x), _status(res), bound, gap
    wx = np.concatenate([np.zeros(nb), np.repeat(prob.weights, n)])
    res = run(-wx, [], time_limit_s * 2 / 3)
    t1 = time.perf_counter() - t0
    if res.x is None:
        return None, _status(res), math.nan, math.nan
    b1 = pick(res.x)
    v1 = prob.value(b1)
    bound = -float(getattr(res, "mip_dual_bound", math.nan))
    gap = float(getattr(res, "mip_gap", math.nan))
    status = _status(res)
    # the least cost of that value: a harder search for little money, so it gets
    # at most three times the first pass (10 s at least) of what is left
    left = min(time_limit_s - (time.perf_counter() - t0), max(10.0, 3.0 * t1))
    keep = LinearConstraint(sp.csr_matrix(wx.reshape(1, -1)), v1 - 1e-6 * max(v1, 1.0), np.inf)
    res2 = run(npv_c / scale, [keep], max(left, 1.0))
    if res2.x is not None:
        b2 = pick(res2.x)
        if prob.value(b2) >= v1 - 1e-6 * max(v1, 1.0) and prob.feasible(b2):
            return b2, status, bound, gap
    return b1, status, bound, gap


def _status(res) -> str:  # noqa: ANN001
    return {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded"}.get(
        int(res.status), f"status_{res.status}")


# --------------------------------------------------------------------------- both


def solve_plan(prob: PlanProblem, *, solver: str = "milp", time_limit_s: float = 60.0
               ) -> PlanSolution:
    """Solve a plan: greedy always, the MILP when asked; the better is kept.

    Better: for the budget question, more weighted village-years, then less
    present value; for the target question, meeting the target (or coming
    closer), then less present value.  Every answer is checked against the
    budgets before it is returned.

    Parameters
    ----------
    prob : PlanProblem
    solver : {"milp", "greedy"}
    time_limit_s : float
        MILP time limit (s), shared by its two passes.
    """
    if solver not in ("milp", "greedy"):
        raise ParameterError(f"solver was {solver!r}; expected 'milp' or 'greedy'")
    t0 = time.perf_counter()
    notes: list[str] = []
    if prob.target is not None:
        g = _target_greedy(prob)
    else:
        g = _budget_greedy(prob)
        g = _prune_budget(prob, g)

    def score(b: I64) -> tuple[float, float]:
        if prob.target is not None:
            return (min(prob.connected_by(b, prob.target[0]), prob.target[1]),
                    -prob.total_npv(b))
        return (round(prob.value(b), 6), -prob.total_npv(b))

    best, name, status, bound, gap = g, "greedy", "greedy", math.nan, math.nan
    if prob.n_options == 0 or prob.n_targets == 0:
        status = "nothing to choose"
    elif solver == "milp":
        m, st, bd, gp = _milp(prob, time_limit_s)
        if m is None:
            notes.append(f"the MILP found no plan ({st}); the greedy plan is kept")
        elif not prob.feasible(m):
            notes.append("the MILP plan broke a budget by rounding; the greedy plan is kept")
        else:
            if prob.target is not None:
                m = _prune_target(prob, m)
            if score(m) >= score(g):
                best, name, status, bound, gap = m, "milp", st, bd, gp
            else:
                notes.append(f"the MILP stopped ({st}) at a plan worse than greedy's; "
                             "the greedy plan is kept")
    assert prob.feasible(best)
    value = (prob.connected_by(best, prob.target[0]) if prob.target is not None
             else prob.value(best))
    return PlanSolution(build_year=best, solver=name, status=status, value=float(value),
                        npv_vnd=prob.total_npv(best), bound=bound, gap=gap,
                        elapsed_s=time.perf_counter() - t0, notes=notes)
