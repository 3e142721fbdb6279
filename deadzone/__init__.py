"""deadzone: coverage and infrastructure analyzer for dead-zone villages.

The most used entry points are importable from the top level::

    import deadzone
    scenario = deadzone.demo_scenario(seed=0)
    result = deadzone.audit(scenario)
    print("\\n".join(result.summary_lines()))

Top level (imported on first use): ``audit`` / ``AuditResult`` (village
statuses, roll-ups), ``compute_coverage`` (alias ``coverage``) /
``CoverageResult`` (area rasters), ``Thresholds``, ``Dem``, ``Scenario``,
``demo_scenario``, ``load_dem``, ``load_villages``, ``load_communes``,
``load_towers``, ``load_measurements``, ``load_population`` (a gridded
population raster for ``Scenario.population``), ``write_audit``, ``optimize`` (new
sites for a budget), ``calibrate`` / ``Calibration`` (predictions against
measurements; ``EngineParams(calibration=...)`` applies one), ``EngineParams``,
``plan_fiber``, ``Session`` (what-if edits) and ``link_profile`` (the
terrain, Fresnel clearance and loss between two points).  The command line is
``deadzone`` (``deadzone --help``).

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
    "Thresholds": "deadzone.model.thresholds",
    "Dem": "deadzone.model.dem",
    "Scenario": "deadzone.model.scenario",
    "demo_scenario": "deadzone.data.demo",
    "load_dem": "deadzone.data.loaders",
    "load_villages": "deadzone.data.loaders",
    "load_communes": "deadzone.data.loaders",
    "load_towers": "deadzone.data.loaders",
    "load_measurements": "deadzone.data.loaders",
    "load_population": "deadzone.data.loaders",
    "write_audit": "deadzone.geo.export",
    "optimize": "deadzone.geo.placement",
    "plan_fiber": "deadzone.geo.fiber",
    "Session": "deadzone.geo.whatif",
    "calibrate": "deadzone.geo.calibration",
    "Calibration": "deadzone.model.calibration",
    "EngineParams": "deadzone.geo.coverage",
    "link_profile": "deadzone.geo.link",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # PEP 562: import heavy submodules only when first used.
    if name in _LAZY:
        # ``deadzone.coverage(...)`` is the short name of compute_coverage.
        attr = "compute_coverage" if name == "coverage" else name
        return getattr(import_module(_LAZY[name]), attr)
    raise AttributeError(f"module 'deadzone' has no attribute {name!r}")


def __dir__() -> list[str]:
    # PEP 562: dir(deadzone) lists the lazy entry points too
    return sorted({*(n for n in globals() if n.startswith("__")), *_LAZY})
