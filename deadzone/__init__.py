"""deadzone: coverage and infrastructure analyzer for dead-zone villages.

The most used entry points are importable from the top level::

    import deadzone
    scenario = deadzone.demo_scenario(seed=0)
    result = deadzone.audit(scenario)
    print("\\n".join(result.summary_lines()))

Submodules: :mod:`deadzone.kernels` (Numba kernels), :mod:`deadzone.geo`
(CRS, coverage, audit), :mod:`deadzone.data` (loaders, demo),
:mod:`deadzone.maps` (offline maps), :mod:`deadzone.cli`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "audit": "deadzone.geo.audit",
    "AuditResult": "deadzone.geo.audit",
    "compute_coverage": "deadzone.geo.coverage",
    "coverage": "deadzone.geo.coverage",
    "CoverageResult": "deadzone.geo.coverage",
    "Thresholds": "deadzone.geo.thresholds",
    "Dem": "deadzone.geo.raster",
    "Scenario": "deadzone.data.scenario",
    "demo_scenario": "deadzone.data.demo",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # PEP 562: import heavy submodules only when first used.
    if name in _LAZY:
        # ``deadzone.coverage(...)`` is the short name of compute_coverage.
        attr = "compute_coverage" if name == "coverage" else name
        return getattr(import_module(_LAZY[name]), attr)
    raise AttributeError(f"module 'deadzone' has no attribute {name!r}")
