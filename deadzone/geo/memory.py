"""Memory budgets: physical memory, ``--max-memory`` sizes ("2GB", "25%"),
the process's resident size, and a tiled GeoTIFF profile."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from affine import Affine

from deadzone.errors import ParameterError

__all__ = [
    "default_memory_bytes",
    "format_bytes",
    "parse_memory",
    "physical_memory_bytes",
    "process_rss_bytes",
    "release_freed_memory",
]

_MEMORY_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z%]*)\s*$", re.IGNORECASE)

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
#: Preferred tile edge: the output GeoTIFFs' block size.
_BLOCK = 256


def _tiled_gtiff(width: int, height: int, dtype: str, crs: Any, transform: Affine,
                 nodata: float) -> dict[str, Any]:
    """Creation options of the single-band, tiled, deflated (BigTIFF) GeoTIFFs written here."""
    return dict(driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs,
                transform=transform, nodata=nodata, tiled=True, blockxsize=_BLOCK,
                blockysize=_BLOCK, compress="deflate", zlevel=1, BIGTIFF="YES")



def physical_memory_bytes() -> int:
    """Physical memory of the machine, or the cgroup (container) limit if lower (bytes)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for p in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(p).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total)


def default_memory_bytes(fraction: float = 0.5) -> int:
    """Default ``--max-memory``: ``fraction`` of :func:`physical_memory_bytes`."""
    return int(physical_memory_bytes() * fraction)


def parse_memory(text: str | int) -> int:
    """A memory size in bytes from ``"2GB"``, ``"500MB"``, ``"1.5GiB"``, ``"25%"``.

    Parameters
    ----------
    text : str or int
        A number with an optional unit: ``B``, ``KB``/``MB``/``GB``/``TB``
        (powers of 1000; ``K``/``M``/``G``/``T`` too), ``KiB``/``MiB``/``GiB``/
        ``TiB`` (powers of 1024), or ``N%`` of physical memory.  An int is bytes.

    Returns
    -------
    int
        Bytes.

    Raises
    ------
    ParameterError
        Unparsable, zero or negative.

    Examples
    --------
    >>> parse_memory("2GB"), parse_memory("500MiB")
    (2000000000, 524288000)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = _MEMORY_RE.match(str(text))
        unit = m.group(2).lower() if m else ""
        if m is None or (unit not in _UNITS and unit != "%"):
            raise ParameterError(
                f"max memory was {text!r}; expected a size like 2GB, 500MB, 1.5GiB or 50%"
            )
        number = float(m.group(1))
        if unit == "%":
            if not 0.0 < number <= 100.0:
                raise ParameterError(f"max memory was {text!r}; a percentage must be 0..100")
            value = int(physical_memory_bytes() * number / 100.0)
        else:
            value = int(number * _UNITS[unit])
    if value <= 0:
        raise ParameterError(f"max memory was {text!r}; expected a positive size")
    return value


def format_bytes(n: float) -> str:
    """``1_500_000_000`` -> ``"1.5 GB"`` (powers of 1000)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def process_rss_bytes() -> int:
    """Resident memory of this process now (bytes; Linux ``/proc``, else the peak so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - non-Linux
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def release_freed_memory() -> None:
    """Hand memory freed by the process back to the system (glibc ``malloc_trim``).

    Arrays of a few megabytes freed after glibc raised its mmap threshold stay
    in the heap, so the resident size grows past what is in use; a session
    that frees and reads windows edit after edit calls this to stay within
    its budget.  A no-op where glibc is not the allocator.
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None
