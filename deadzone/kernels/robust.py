"""Robust regression: Huber's M-estimator (the kernel is :mod:`deadzone.kernels._robust`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from deadzone.kernels import _robust as _k

__all__ = ["huber_fit"]

#: Huber's tuning constant (95% efficiency under Gaussian errors).
HUBER_K = 1.345


def huber_fit(
    x: npt.ArrayLike, r: npt.ArrayLike, *, iters: int = 50, tol: float = 1e-4
) -> npt.NDArray[np.float64]:
    """Huber M-estimate of ``r ~ x @ beta`` (iteratively reweighted least squares).

    The scale is the normalised median absolute deviation of the residuals
    (1.4826 MAD), taken from the least-squares fit and once more from the
    converged fit; the cut is ``HUBER_K`` scales.

    Parameters
    ----------
    x : array_like, shape (n, p)
        Design matrix (p small: the weighted normal equations are solved).
    r : array_like, shape (n,)
        Observations (e.g. residuals in dB).
    iters : int
        Most iterations per scale.
    tol : float
        Stop when no coefficient moves by more (in the units of ``r``).

    Returns
    -------
    ndarray, shape (p,)
    """
    xx = np.ascontiguousarray(x, dtype=np.float64)
    rr = np.ascontiguousarray(r, dtype=np.float64)
    if xx.ndim != 2 or rr.shape != (xx.shape[0],):
        raise ValueError("x must be (n, p) and r (n,)")
    if xx.shape[1] == 0 or xx.shape[0] == 0:
        return np.zeros(xx.shape[1])
    beta = np.linalg.lstsq(xx, rr, rcond=None)[0]
    for _stage in range(2):
        e = rr - xx @ beta
        scale = 1.4826 * float(np.median(np.abs(e - np.median(e))))
        if not scale > 0:
            break
        _k.huber_irls(xx, rr, beta, HUBER_K * scale, iters, tol)
    return beta
