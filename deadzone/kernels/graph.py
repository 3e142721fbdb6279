"""Graph kernels of the fiber planner (see :mod:`deadzone.kernels._graph`)."""

from __future__ import annotations

from deadzone.kernels._graph import (
    dual_ascent_kernel,
    greedy_kernel,
    phase_kernel,
    prune_kernel,
    reverse_arcs,
    walk_kernel,
)

__all__ = [
    "dual_ascent_kernel",
    "greedy_kernel",
    "phase_kernel",
    "prune_kernel",
    "reverse_arcs",
    "walk_kernel",
]
