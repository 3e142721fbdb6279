"""Elementary functions that inline and vectorize: exp, log, log10, cbrt, sincos.

Why not ``math.exp``: Numba turns ``math.exp`` / ``math.log`` into calls to
the C library.  A loop with such a call cannot be vectorized (the PyPI
builds of llvmlite ship no vector math library), and every call spills the
live floating-point registers.  The functions here are plain arithmetic on
the IEEE bit pattern, so a loop over many cells (the area ITM, see
:mod:`deadzone.kernels._itm`) compiles to AVX2/AVX-512 code that evaluates
four or eight cells per instruction.  Each is branch-free (selects only) and
declared ``forceinline`` so that LLVM sees the whole loop body.

Methods (written here from the publications)
--------------------------------------------
* exp: Cody & Waite's two-constant argument reduction x = k ln 2 + r,
  |r| <= ln(2)/2 [W. J. Cody, W. Waite, "Software Manual for the Elementary
  Functions", 1980, ch. 6], e^r by its Taylor series to r^13 (truncation
  < 1e-17 relative) evaluated by Estrin's scheme [Knuth, TAOCP vol. 2,
  4.6.4], scaled by 2^k built in the exponent field in two halves
  so that results down to the subnormal range are right.
* log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
  s = (m - 1)/(m + 1), |s| <= 0.1716, by the odd series of atanh to s^23
  [Cody & Waite ch. 5; Abramowitz & Stegun 4.1.27], plus e ln 2 in two parts.
* cbrt: x = m 2^(3q + r) split from the bit pattern, so that cbrt x =
  cbrt(m 2^r) 2^q with m 2^r in [1, 8); a quadratic start (least squares on
  [1, 2], relative error < 7.1e-4) times 2^(r/3), one step of Halley's
  method on y^3 = m 2^r (third order: to < 1e-9) and one Newton step.
* sin/cos on [-pi/2, pi]: Taylor series to degree 23/22 on [-pi/2, pi/2],
  with sin(pi - y) = sin y, cos(pi - y) = -cos y above pi/2.

Accuracy against the C library (``tests/kernels/test_vmath.py``, millions of
random arguments): exp and log within 2 ulp, log10 within 4 ulp, cbrt
within 1 ulp, sin/cos within 4e-16 absolute.  Special values follow C99: exp(-inf)
= 0, exp(+inf) = inf, log(0) = -inf, log(x < 0) = NaN, NaN in, NaN out.

These run wherever the same arithmetic runs, so a cell computed in a
vectorized loop equals the same cell computed alone, bit for bit (no
fused multiply-add: ``fastmath`` stays off).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from deadzone.kernels import _jit  # noqa: F401  (drops stale caches before any compile)

#: Decorator of these functions and of the kernels built on them for SIMD
#: loops: LLVM ``alwaysinline`` (``forceinline``), so that a loop calling
#: them is one body LLVM can vectorize; IEEE division (``error_model=
#: "numpy"``: x / 0 is inf or NaN instead of a Python exception, whose
#: check would stop vectorization).  Inlining at the LLVM level compiles in
#: about a second where Numba's ``inline="always"`` (which re-types the
#: inlined IR at every call site) took 40 s.
vjit = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy", forceinline=True)
#: Decorator of the vectorized loops themselves (not inlined).
vloop = numba.njit(cache=True, nogil=True, fastmath=False, error_model="numpy")

INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # ln 2 = LN2_HI + LN2_LO, LN2_HI with 21 zero low bits
LN2_LO = 1.90821492927058770002e-10
INV_LN10 = 0.43429448190325182765
PI_HI = 3.14159265358979311600e+00  # pi = PI_HI + PI_LO
PI_LO = 1.22464679914735317720e-16
HALF_PI = 1.57079632679489661923
SMALLEST_NORMAL = 2.2250738585072014e-308
TWO_54 = 18014398509481984.0


@intrinsic
def _f2i(typingctx, x):  # noqa: ANN001, ANN202
    """Reinterpret a float64's bits as an int64 (LLVM ``bitcast``)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@intrinsic
def _i2f(typingctx, x):  # noqa: ANN001, ANN202
    """Reinterpret an int64's bits as a float64 (LLVM ``bitcast``)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@vjit
def vexp(x: float) -> float:
    """e^x (see the module doc for the method and accuracy)."""
    xc = min(max(x, -746.0), 710.0)
    k = math.floor(xc * INV_LN2 + 0.5)
    r = (xc - k * LN2_HI) - k * LN2_LO
    # e^r = sum r^i / i!, i <= 13, by Estrin's scheme (shorter dependency chains
    # than Horner: the loops this serves are latency-bound)
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    q01 = 1.0 + r
    q23 = 0.5 + r * (1.0 / 6.0)
    q45 = 1.0 / 24.0 + r * (1.0 / 120.0)
    q67 = 1.0 / 720.0 + r * (1.0 / 5040.0)
    q89 = 1.0 / 40320.0 + r * (1.0 / 362880.0)
    q1011 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0)
    q1213 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0)
    q03 = q01 + r2 * q23
    q47 = q45 + r2 * q67
    q811 = q89 + r2 * q1011
    q07 = q03 + r4 * q47
    q813 = q811 + r4 * q1213
    p = q07 + r8 * q813
    ki = np.int64(k)
    k1 = ki >> 1
    y = p * _i2f((k1 + 1023) << 52) * _i2f((ki - k1 + 1023) << 52)
    return y if x == x else x


@vjit
def vlog(x: float) -> float:
    """Natural logarithm (see the module doc for the method and accuracy)."""
    sub = x < SMALLEST_NORMAL
    xs = x * TWO_54 if sub else x
    bits = _f2i(xs)
    e = ((bits >> 52) & 0x7FF) - (1023 + 54 if sub else 1023)
    m = _i2f((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # [1, 2)
    big = m > 1.4142135623730951
    m = 0.5 * m if big else m
    ee = float(e) + (1.0 if big else 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    # atanh series by Estrin's scheme in t = s^2: p = sum t^i / (2 i + 3), i <= 10
    t = s2
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    p01 = 1.0 / 3.0 + t * (1.0 / 5.0)
    p23 = 1.0 / 7.0 + t * (1.0 / 9.0)
    p45 = 1.0 / 11.0 + t * (1.0 / 13.0)
    p67 = 1.0 / 15.0 + t * (1.0 / 17.0)
    p89 = 1.0 / 19.0 + t * (1.0 / 21.0)
    p03 = p01 + t2 * p23
    p47 = p45 + t2 * p67
    p8a = p89 + t2 * (1.0 / 23.0)
    p = (p03 + t4 * p47) + t8 * p8a
    y = ee * LN2_HI + (2.0 * s + (2.0 * s * s2 * p + ee * LN2_LO))
    y = y if x < math.inf else x  # +inf and NaN pass through
    y = -math.inf if x == 0.0 else y
    return math.nan if x < 0.0 else y


@vjit
def vlog10(x: float) -> float:
    """Common logarithm, ``vlog(x) / ln 10``."""
    return vlog(x) * INV_LN10


#: 2^(1/3) and 2^(2/3).
CBRT2 = 1.2599210498948732
CBRT4 = 1.5874010519681994


@vjit
def vcbrt(x: float) -> float:
    """Cube root of x >= 0 (see the module doc for the method); NaN below 0."""
    sub = x < SMALLEST_NORMAL
    xs = x * TWO_54 if sub else x  # 2^54 = (2^18)^3: subnormals scaled exactly
    bits = _f2i(xs)
    e = float(((bits >> 52) & 0x7FF) - 1023)
    m = _i2f((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)  # [1, 2)
    # x = m 2^(3 q + r), r in {0, 1, 2}: cbrt x = cbrt(m 2^r) 2^q
    q = math.floor((e + 0.5) * (1.0 / 3.0))
    r = e - 3.0 * q
    v = m * (4.0 if r == 2.0 else (2.0 if r == 1.0 else 1.0))  # [1, 8)
    # least-squares quadratic of cbrt on [1, 2] (relative error < 7.1e-4) ...
    y = (-0.05965807 * m + 0.43747636) * m + 0.62289088
    y = y * (CBRT4 if r == 2.0 else (CBRT2 if r == 1.0 else 1.0))
    # ... one Halley step (cubic convergence: < 1e-9) and one Newton step
    y3 = y * y * y
    y = y - y * (y3 - v) / (2.0 * y3 + v)
    y = y - (y * y * y - v) / (3.0 * y * y)
    qi = np.int64(q) - (18 if sub else 0)
    y = y * _i2f((qi + 1023) << 52)
    y = y if x < math.inf else x
    return y if x > 0.0 else (0.0 if x == 0.0 else math.nan)


@vjit
def vsincos(x: float) -> tuple[float, float]:
    """(sin x, cos x) for -pi/2 <= x <= pi (the range of ITM's phase difference)."""
    upper = x > HALF_PI
    y = ((PI_HI - x) + PI_LO) if upper else x
    y2 = y * y
    s = 1.0 / 25852016738884976640000.0  # 1/23!
    s = -s * y2 + 1.0 / 51090942171709440000.0  # 1/21!
    s = -s * y2 + 1.0 / 121645100408832000.0  # 1/19!
    s = -s * y2 + 1.0 / 355687428096000.0  # 1/17!
    s = -s * y2 + 1.0 / 1307674368000.0  # 1/15!
    s = -s * y2 + 1.0 / 6227020800.0  # 1/13!
    s = -s * y2 + 1.0 / 39916800.0  # 1/11!
    s = -s * y2 + 1.0 / 362880.0  # 1/9!
    s = -s * y2 + 1.0 / 5040.0  # 1/7!
    s = -s * y2 + 1.0 / 120.0  # 1/5!
    s = -s * y2 + 1.0 / 6.0  # 1/3!
    sin_y = y - y * y2 * s
    c = 1.0 / 1124000727777607680000.0  # 1/22!
    c = -c * y2 + 1.0 / 2432902008176640000.0  # 1/20!
    c = -c * y2 + 1.0 / 6402373705728000.0  # 1/18!
    c = -c * y2 + 1.0 / 20922789888000.0  # 1/16!
    c = -c * y2 + 1.0 / 87178291200.0  # 1/14!
    c = -c * y2 + 1.0 / 479001600.0  # 1/12!
    c = -c * y2 + 1.0 / 3628800.0  # 1/10!
    c = -c * y2 + 1.0 / 40320.0  # 1/8!
    c = -c * y2 + 1.0 / 720.0  # 1/6!
    c = -c * y2 + 1.0 / 24.0  # 1/4!
    c = -c * y2 + 0.5  # 1/2!
    cos_y = 1.0 - y2 * c
    return sin_y, (-cos_y if upper else cos_y)
