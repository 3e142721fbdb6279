"""Inputs: loaders for real data, writers, and the embedded demo scenario."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "demo_scenario": "deadzone.data.demo",
    "load_dem": "deadzone.data.loaders",
    "load_villages": "deadzone.data.loaders",
    "load_communes": "deadzone.data.loaders",
    "load_towers": "deadzone.data.loaders",
    "load_measurements": "deadzone.data.loaders",
    "load_population": "deadzone.data.loaders",
    "write_measurements": "deadzone.data.loaders",
    "file_checksum": "deadzone.data.loaders",
    "write_scenario": "deadzone.data.io",
    "load_scenario": "deadzone.data.io",
    "write_raster": "deadzone.data.io",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deadzone.data' has no attribute {name!r}")
