"""Cell-list kernels of the incremental what-if composite (see
:mod:`deadzone.kernels._whatif`): take one tower's window out of the
composite (best, server, second, count) and put another in, cell by cell,
so that the result equals a from-scratch fold bit for bit."""

from __future__ import annotations

from deadzone.kernels._whatif import (
    fold_cells,
    insert_cells,
    list_cells,
    remove_cells,
    scatter_cells,
)

__all__ = ["fold_cells", "insert_cells", "list_cells", "remove_cells", "scatter_cells"]
