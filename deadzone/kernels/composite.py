"""Cell-list kernels of the incremental what-if composite (see
:mod:`deadzone.kernels._whatif`): take one tower's window out of the
composite (best, server, second, count, and the ranks below the best) and
put another in, cell by cell, so that the result equals a from-scratch fold
bit for bit."""

from __future__ import annotations

from deadzone.kernels._whatif import (
    RANK_GONE,
    RANK_NONE,
    RANK_UNKNOWN,
    fold_cells,
    forget_ranks,
    list_cells,
    merge_ranked,
    patch_cells,
    scatter_cells,
)

__all__ = [
    "RANK_GONE",
    "RANK_NONE",
    "RANK_UNKNOWN",
    "fold_cells",
    "forget_ranks",
    "list_cells",
    "merge_ranked",
    "patch_cells",
    "scatter_cells",
]
