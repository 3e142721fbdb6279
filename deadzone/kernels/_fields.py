"""Numba kernel of the random-field synthesis: a sum of cosine modes at points.

See :mod:`deadzone.kernels.fields` for the method and the array API.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from deadzone.kernels._jit import jit_parallel

#: Points per block: the inner loop runs over a block's points (SIMD lanes),
#: the middle loop over modes, so each point still sums its modes in order.
BLOCK = 256

# Taylor coefficients of cos(x) = sum_n (-1)^n x^2n / (2n)!, n = 0..11: on
# |x| <= pi the first omitted term is pi^24 / 24! < 1e-13.
_C = np.array([(-1.0) ** n / math.factorial(2 * n) for n in range(12)])


@jit_parallel
def cosine_sum(x: np.ndarray, y: np.ndarray, kx: np.ndarray, ky: np.ndarray,
               phase: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = sum_m cos(2 pi (kx[m] x[i] + ky[m] y[i] + phase[m]))``.

    ``kx``, ``ky`` in cycles per metre and ``phase`` in cycles (turns).  The
    argument is reduced to [-1/2, 1/2] turn (``t - floor(t + 1/2)``) and the
    cosine is its Taylor polynomial to degree 22 (error < 1e-13), which,
    unlike a libm call, runs in SIMD lanes over a block of points.  Blocks
    are independent (``prange``) and each point sums its modes in order, so
    the result does not depend on the thread count.
    """
    n = x.shape[0]
    m = kx.shape[0]
    c0, c1, c2, c3, c4, c5 = _C[0], _C[1], _C[2], _C[3], _C[4], _C[5]
    c6, c7, c8, c9, c10, c11 = _C[6], _C[7], _C[8], _C[9], _C[10], _C[11]
    two_pi = 2.0 * math.pi
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in numba.prange(n_blocks):
        lo = b * BLOCK
        hi = min(n, lo + BLOCK)
        acc = np.zeros(hi - lo)
        for j in range(m):
            a1 = kx[j]
            a2 = ky[j]
            a0 = phase[j]
            for i in range(lo, hi):
                t = a1 * x[i] + a2 * y[i] + a0
                r = two_pi * (t - math.floor(t + 0.5))
                r2 = r * r
                p = c11
                p = p * r2 + c10
                p = p * r2 + c9
                p = p * r2 + c8
                p = p * r2 + c7
                p = p * r2 + c6
                p = p * r2 + c5
                p = p * r2 + c4
                p = p * r2 + c3
                p = p * r2 + c2
                p = p * r2 + c1
                p = p * r2 + c0
                acc[i - lo] += p
        for i in range(lo, hi):
            out[i] = acc[i - lo]
