"""What a what-if edit changed: :class:`WhatIfDelta` (villages newly
covered or lost, before/after totals) and :func:`village_delta` between two
audits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.errors import ParameterError

__all__ = [
    "WhatIfDelta",
    "village_delta",
]



@dataclass
class WhatIfDelta:
    """What one edit (or a sequence of edits) changed.

    Attributes
    ----------
    action : str
        What was done, e.g. ``"add T-NEW1"``.
    changed : GeoDataFrame
        Villages whose status changed (EPSG:4326): ``village_id, name,
        commune_id, population, households, status_before, status_after,
        best_rx_before_dbm, best_rx_after_dbm, serving_before,
        serving_after``.
    communes : DataFrame
        Communes with any change: ``commune_id, name,
        villages_covered_before/after/change``, the same for population and
        households.
    totals_before, totals_after : dict
        ``villages_total``, ``villages_covered/marginal/dead/unknown``,
        ``population_total/covered``, ``households_total/covered``.
    villages_reaudited : int
        Villages the edit re-audited (those within the tower's reach).
    elapsed_s : float
        Wall time of the edit (s).
    """

    action: str
    changed: gpd.GeoDataFrame
    communes: pd.DataFrame
    totals_before: dict[str, int]
    totals_after: dict[str, int]
    villages_reaudited: int = 0
    elapsed_s: float = 0.0

    @property
    def newly_covered(self) -> gpd.GeoDataFrame:
        """Villages not covered before and covered after."""
        c = self.changed
        return c[(c["status_after"] == "covered") & (c["status_before"] != "covered")]

    @property
    def newly_lost(self) -> gpd.GeoDataFrame:
        """Villages covered before and not covered after."""
        c = self.changed
        return c[(c["status_before"] == "covered") & (c["status_after"] != "covered")]

    def summary_lines(self) -> list[str]:
        """``covered villages: X/Y → X'/Y`` and the population/household lines."""
        b, a = self.totals_before, self.totals_after
        out = []
        for what in ("villages", "population", "households"):
            out.append(
                f"covered {what}: {b[f'{what}_covered']:,}/{b[f'{what}_total']:,} → "
                f"{a[f'{what}_covered']:,}/{a[f'{what}_total']:,}"
            )
        nc, nl = self.newly_covered, self.newly_lost
        def villages(n: int) -> str:
            return f"{n:,} village" + ("" if n == 1 else "s")

        out.append(
            f"newly covered: {villages(len(nc))} ({int(nc['population'].sum()):,} people, "
            f"{int(nc['households'].sum()):,} households); newly lost: {villages(len(nl))} "
            f"({int(nl['population'].sum()):,} people)"
        )
        return out


def _totals(
    status: npt.NDArray[np.object_],
    population: npt.NDArray[np.int64],
    households: npt.NDArray[np.int64],
) -> dict[str, int]:
    cov = status == "covered"
    out = {"villages_total": int(status.size)}
    for st in ("covered", "marginal", "dead", "unknown"):
        out[f"villages_{st}"] = int((status == st).sum())
    for w, x in (("population", population), ("households", households)):
        out[f"{w}_total"] = int(x.sum())
        out[f"{w}_covered"] = int(x[cov].sum())
    return out


@dataclass(frozen=True)
class _Snapshot:
    """The audit columns a delta compares, taken before an edit."""

    status: npt.NDArray[np.object_]
    best_rx_dbm: npt.NDArray[np.float64]
    serving_tower_id: npt.NDArray[np.object_]

    @classmethod
    def of(cls, v: pd.DataFrame) -> _Snapshot:
        return cls(
            status=v["status"].to_numpy(dtype=object, copy=True),
            best_rx_dbm=v["best_rx_dbm"].to_numpy(dtype=np.float64, copy=True),
            serving_tower_id=v["serving_tower_id"].to_numpy(dtype=object, copy=True),
        )


def _delta(
    villages: gpd.GeoDataFrame,
    before: _Snapshot,
    after: _Snapshot,
    *,
    communes: pd.DataFrame | None,
    action: str,
    villages_reaudited: int,
    elapsed_s: float,
) -> WhatIfDelta:
    """The delta between two snapshots of the same villages (``villages``: ids, names, ...)."""
    sb, sa = before.status, after.status
    moved = np.flatnonzero(sb != sa)
    cid = villages["commune_id"].to_numpy(dtype=object)
    pop = villages["population"].to_numpy(dtype=np.int64)
    hh = villages["households"].to_numpy(dtype=np.int64)
    changed = gpd.GeoDataFrame(
        {
            "village_id": villages["village_id"].to_numpy()[moved],
            "name": villages["name"].to_numpy()[moved],
            "commune_id": cid[moved],
            "population": pop[moved],
            "households": hh[moved],
            "status_before": sb[moved],
            "status_after": sa[moved],
            "best_rx_before_dbm": before.best_rx_dbm[moved],
            "best_rx_after_dbm": after.best_rx_dbm[moved],
            "serving_before": before.serving_tower_id[moved],
            "serving_after": after.serving_tower_id[moved],
        },
        geometry=villages.geometry.to_numpy()[moved],
        crs=villages.crs,
    )
    rows = []
    cb = sb == "covered"
    ca = sa == "covered"
    for c in pd.unique(cid[moved]):
        mb = cid == c
        row: dict[str, Any] = {"commune_id": c, "villages_total": int(mb.sum())}
        for what, wt in (("villages", None), ("population", pop), ("households", hh)):
            if wt is None:
                vb, va = int((cb & mb).sum()), int((ca & mb).sum())
            else:
                vb, va = int(wt[cb & mb].sum()), int(wt[ca & mb].sum())
            row[f"{what}_covered_before"] = vb
            row[f"{what}_covered_after"] = va
            row[f"{what}_covered_change"] = va - vb
        rows.append(row)
    cols = ["commune_id", "villages_total"] + [
        f"{w}_covered_{k}"
        for w in ("villages", "population", "households")
        for k in ("before", "after", "change")
    ]
    ctab = pd.DataFrame(rows, columns=cols)
    if communes is not None and "name" in communes.columns:
        names = dict(zip(communes["commune_id"].astype(str), communes["name"], strict=False))
        ctab.insert(1, "name", [names.get(str(c), "") for c in ctab["commune_id"]])
    return WhatIfDelta(
        action=action,
        changed=changed,
        communes=ctab,
        totals_before=_totals(sb, pop, hh),
        totals_after=_totals(sa, pop, hh),
        villages_reaudited=villages_reaudited,
        elapsed_s=elapsed_s,
    )


def village_delta(
    before: gpd.GeoDataFrame,
    after: gpd.GeoDataFrame,
    *,
    communes: pd.DataFrame | None = None,
    action: str = "",
    villages_reaudited: int = 0,
    elapsed_s: float = 0.0,
) -> WhatIfDelta:
    """Compare two audits of the same villages (same order).

    Parameters
    ----------
    before, after : GeoDataFrame
        ``AuditResult.villages`` tables of the same villages in the same order.
    communes : DataFrame, optional
        Commune table (``commune_id``, ``name``) used for names.
    action : str
        Label stored on the delta.
    villages_reaudited : int
        Stored on the delta.
    elapsed_s : float
        Stored on the delta (s).

    Returns
    -------
    WhatIfDelta
    """
    if len(before) != len(after) or not np.array_equal(
        before["village_id"].to_numpy(), after["village_id"].to_numpy()
    ):
        raise ParameterError("before and after audits hold different villages")
    return _delta(
        after,
        _Snapshot.of(before),
        _Snapshot.of(after),
        communes=communes,
        action=action,
        villages_reaudited=villages_reaudited,
        elapsed_s=elapsed_s,
    )
