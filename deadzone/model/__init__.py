"""Model layer: the data every other layer shares, with no I/O and no analysis.

``Dem`` (a terrain grid with its CRS and transform), the input schema and
tower defaults (:mod:`deadzone.model.schema`), the coverage ``Thresholds``
with their status labels (:mod:`deadzone.model.thresholds`), the in-memory
``Scenario`` and lon/lat box helpers (:mod:`deadzone.model.bounds`).  It
imports only :mod:`deadzone.kernels` and :mod:`deadzone.errors`; everything
above it (``data``, ``geo``, ``app``, ``maps``, ``web``, ``cli``) may import it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Dem": "deadzone.model.dem",
    "Thresholds": "deadzone.model.thresholds",
    "Scenario": "deadzone.model.scenario",
    "reach_bounds": "deadzone.model.bounds",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'deadzone.model' has no attribute {name!r}")
