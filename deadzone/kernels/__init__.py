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

__all__ = [
    "MODELS",
    "Composite",
    "ProfileLoss",
    "RadioSite",
    "line_profile",
    "profile_loss",
    "profile_sweep",
    "tower_window",
]
