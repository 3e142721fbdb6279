"""Geo layer: CRS and grids, coverage composites, the village audit."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "compute_coverage": "deadzone.geo.coverage",
    "CoverageResult": "deadzone.geo.coverage",
    "audit": "deadzone.geo.audit",
    "AuditResult": "deadzone.geo.audit",
    "rollup": "deadzone.geo.audit",
    "write_audit": "deadzone.geo.export",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deadzone.geo' has no attribute {name!r}")
