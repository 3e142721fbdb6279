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

Numba's on-disk cache checks only the source file of the function it
compiled, while the machine code inlines callees from other files: after an
edit to ``_itm.py``, a cached ``_paths.pairs_rx`` would still run the old ITM.
So the cache next to these files is dropped whenever any kernel source
changes (:func:`drop_stale_caches`, run once at import).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba

#: Name of the file that records which kernel sources the cache was built from.
STAMP_NAME = "deadzone-kernels.stamp"


def kernel_digest(folder: Path) -> str:
    """Digest of every kernel source (``_*.py``) in ``folder``."""
    h = hashlib.sha256()
    for p in sorted(folder.glob("_*.py")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def drop_stale_caches(folder: Path) -> bool:
    """Delete Numba's cache files in ``folder/__pycache__`` unless they were
    built from the current kernel sources; returns True when it deleted.

    A read-only install (caches in Numba's user-wide folder) is left alone.
    """
    cache = folder / "__pycache__"
    stamp = cache / STAMP_NAME
    digest = kernel_digest(folder)
    try:
        if stamp.read_text(encoding="ascii") == digest:
            return False
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            f.unlink(missing_ok=True)
        stamp.write_text(digest, encoding="ascii")
    except OSError:
        return False
    return True


drop_stale_caches(Path(__file__).resolve().parent)

jit = numba.njit(cache=True, nogil=True, fastmath=False)
jit_parallel = numba.njit(cache=True, nogil=True, fastmath=False, parallel=True)
