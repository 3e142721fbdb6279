"""The engine's defaults, in one place: the library's keyword defaults, the
CLI's option defaults and ranges, and the batch TOML's checks all read these.

Each value is what a planner gets without saying anything; DOMAIN.md and the
README's "Which model" section say why.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_FLOOR_DBM",
    "DEFAULT_MODEL",
    "DEFAULT_RADIUS_KM",
    "DEFAULT_RX_HEIGHT_M",
    "RADIUS_KM_RANGE",
]

#: Propagation model: Longley-Rice ITM (NTIA ITM 1.4), terrain-aware, medians.
DEFAULT_MODEL = "itm"
#: Computation radius around each tower (km): beyond it a tower is not computed.
DEFAULT_RADIUS_KM = 25.0
#: Smallest and largest radius the CLI and batch files accept (km).
RADIUS_KM_RANGE = (0.5, 200.0)
#: Handset height above ground (m), outdoor.
DEFAULT_RX_HEIGHT_M = 1.5
#: Received power below which a cell is left empty ("no signal", dBm).
DEFAULT_FLOOR_DBM = -140.0
