"""The one place where the Numba compilation policy lives.

Every kernel in :mod:`deadzone.kernels` is decorated with :func:`jit` (serial)
or :func:`jit_parallel` (``prange`` over independent outer work only), except
the SIMD code of the ITM sweep and the small helpers called once per cell or
sample in the radial walks (profile analysis, prefix sums, the horizon hull),
which use the two decorators of :mod:`deadzone.kernels._vmath` (``vjit``:
LLVM always-inline, so a call costs no function call and no reference
counting of its array arguments; ``vloop``: the vectorized loops; both with
IEEE division, ``error_model="numpy"``).
``fastmath`` stays off so that results are bit-identical for 1 and N threads
and between the area sweep and the point-to-point functions.
"""

from __future__ import annotations

import numba

jit = numba.njit(cache=True, nogil=True, fastmath=False)
jit_parallel = numba.njit(cache=True, nogil=True, fastmath=False, parallel=True)
