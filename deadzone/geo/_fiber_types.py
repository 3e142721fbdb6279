"""The data ``plan_fiber``'s stages pass on: unit costs, the network the
targets are attached to, and the phased design tree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.geo.fiber_targets import F64

__all__ = ["FiberCosts"]


@dataclass(frozen=True)
class FiberCosts:
    """Unit costs of the build (any currency; defaults are illustrative VND).

    Attributes
    ----------
    cost_per_km : float
        Fibre along roads per km (duct/trench or poles + cable + labour).
        Default 250 million VND (~10,000 USD) per km.
    drop_cost_per_km : float
        Last-mile drop per km (aerial/short trench).  Default 120 million.
    site_cost : float
        Fixed cost per connected target (splice closure, ODF, termination).
        Default 20 million.
    currency : str
        Unit of the three costs, printed with every cost figure.  Default "VND".
    """

    cost_per_km: float = 250e6
    drop_cost_per_km: float = 120e6
    site_cost: float = 20e6
    currency: str = "VND"

    def __post_init__(self) -> None:
        if not (isinstance(self.currency, str) and self.currency.strip()):
            raise ParameterError(f"FiberCosts.currency was {self.currency!r}; expected a "
                                 "non-empty unit such as 'VND'")
        for name in ("cost_per_km", "drop_cost_per_km", "site_cost"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParameterError(f"FiberCosts.{name} was {v!r}; expected a finite value >= 0")
        if self.cost_per_km <= 0:
            raise ParameterError("FiberCosts.cost_per_km must be > 0")



@dataclass
class _Net:
    """The targets and the backbone attached to the road graph (``plan_fiber`` stage 1)."""

    t_ids: npt.NDArray[np.object_]
    t_val: F64
    value_name: str
    t_ok: npt.NDArray[np.bool_]
    bxy: F64
    b_ok: npt.NDArray[np.bool_]
    spans: Any
    nt: int
    aug: Any
    pnode: npt.NDArray[np.int64]
    drop_m: F64
    gap: F64
    any_edge: npt.NDArray[np.int64]
    any_gap: F64
    t_edge: npt.NDArray[np.int64]
    t_gap: F64
    comp_of: npt.NDArray[np.int64]


@dataclass
class _Phased:
    """The rooted design tree and each node's phase (``plan_fiber`` stage 5)."""

    order: npt.NDArray[np.int64]
    par_l: npt.NDArray[np.int64]
    e_of: npt.NDArray[np.int64]
    is_new: npt.NDArray[np.bool_]
    km: F64
    money: F64
    tloc: npt.NDArray[np.int64]
    ph: npt.NDArray[np.int64]
    n_ph: int
    ba: float
    cost_a: F64
