"""deadzone: coverage and infrastructure analyzer for dead-zone villages."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
