"""Presentation: offline folium maps."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "coverage_map": "deadzone.maps.folium_map",
    "save_map": "deadzone.maps.folium_map",
    "audit_map": "deadzone.maps.audit_map",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deadzone.maps' has no attribute {name!r}")
