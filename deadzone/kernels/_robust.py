"""Robust regression kernel: Huber's M-estimator by iteratively reweighted least
squares (Huber 1964, "Robust estimation of a location parameter", Ann. Math.
Statist. 35(1); Holland & Welsch 1977, "Robust regression using iteratively
reweighted least-squares", Commun. Statist. A6(9)).

One pass over the samples per iteration builds the weighted normal equations
of a small design (a dozen columns at most) in a fixed order, so the result
does not depend on anything but the input.
"""

from __future__ import annotations

import numpy as np

from deadzone.kernels._jit import jit


@jit
def huber_irls(x: np.ndarray, r: np.ndarray, beta: np.ndarray, cut: float, iters: int,
               tol: float) -> int:
    """Refine ``beta`` (in place) for ``r ~ x @ beta`` under Huber's loss.

    Weights are 1 for ``|e| <= cut`` and ``cut / |e|`` beyond; iterates until
    no coefficient moves by ``tol`` or ``iters`` iterations.  Returns the
    iterations run.
    """
    n, p = x.shape
    a = np.empty((p, p))
    b = np.empty(p)
    for it in range(iters):
        a[:, :] = 0.0
        b[:] = 0.0
        for i in range(n):
            e = r[i]
            for j in range(p):
                e -= x[i, j] * beta[j]
            ae = abs(e)
            w = 1.0 if ae <= cut else cut / ae
            for j in range(p):
                xw = x[i, j] * w
                b[j] += xw * r[i]
                for k in range(j, p):
                    a[j, k] += xw * x[i, k]
        for j in range(p):
            for k in range(j):
                a[j, k] = a[k, j]
        new = np.linalg.lstsq(a, b)[0]
        delta = 0.0
        for j in range(p):
            delta = max(delta, abs(new[j] - beta[j]))
            beta[j] = new[j]
        if delta < tol:
            return it + 1
    return iters
