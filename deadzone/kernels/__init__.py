"""Numba kernels (private ``_*.py`` modules) and their numpy-array wrappers."""

from __future__ import annotations

from deadzone.kernels.coverage import (
    MODELS,
    Composite,
    ProfileLoss,
    RadioSite,
    line_profile,
    profile_loss,
    profile_sweep,
    tower_window,
)
from deadzone.kernels.itm import ItmResult, area_loss, p2p_loss, p2p_loss_batch
from deadzone.kernels.p526 import DeltaBullington, delta_bullington
from deadzone.kernels.viewshed import line_of_sight, viewshed

__all__ = [
    "DeltaBullington",
    "delta_bullington",
    "ItmResult",
    "area_loss",
    "p2p_loss",
    "p2p_loss_batch",
    "line_of_sight",
    "viewshed",
    "MODELS",
    "Composite",
    "ProfileLoss",
    "RadioSite",
    "line_profile",
    "profile_loss",
    "profile_sweep",
    "tower_window",
]
