"""What-if tower edits (``deadzone.whatif.Session``); see :mod:`deadzone.geo.whatif`."""

from __future__ import annotations

from deadzone.geo.whatif import (
    EDITABLE,
    EngineParams,
    Footprint,
    Session,
    WhatIfDelta,
    tower_footprint,
    village_delta,
)

__all__ = [
    "Session",
    "WhatIfDelta",
    "EngineParams",
    "Footprint",
    "tower_footprint",
    "village_delta",
    "EDITABLE",
]
