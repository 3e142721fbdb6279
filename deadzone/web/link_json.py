"""The JSON of a link profile for the ``deadzone serve`` page (``POST
/api/link``): the ends, the profile cut to at most :data:`MAX_PROFILE_SAMPLES`
samples that keep the ridge tops, the worst point and the summary."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_PROFILE_SAMPLES", "end_json", "json_num", "profile_indices", "profile_json"]

#: Most samples a link profile sends to the page (:func:`profile_indices`).
MAX_PROFILE_SAMPLES = 500


def json_num(v: Any, digits: int = 6) -> float | None:
    """A JSON-safe float: None for missing/NaN (the page's every number)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def profile_indices(
    clearance_m: npt.NDArray[np.float64], worst: int, max_n: int = MAX_PROFILE_SAMPLES
) -> npt.NDArray[np.intp]:
    """At most ``max_n`` sample indices of a profile for the page.

    Both ends, the worst point and, in each of ``max_n - 3`` equal runs of
    the interior, the sample of least clearance below the line of sight
    (the highest terrain relative to it): a decimated ridge keeps its top.
    """
    n = len(clearance_m)
    if n <= max_n:
        return np.arange(n)
    edges = np.linspace(1, n - 1, max_n - 2).astype(int)
    picks = [int(lo + np.argmin(clearance_m[lo:hi]))
             for lo, hi in zip(edges[:-1], edges[1:], strict=True) if hi > lo]
    keep = {0, n - 1, *picks}
    if 0 <= worst < n:
        keep.add(int(worst))
    return np.array(sorted(keep))


def end_json(e: Any) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "id": e.id,
        "label": e.label,
        "lon": json_num(e.lon),
        "lat": json_num(e.lat),
        "height_m": json_num(e.height_m, 2),
        "freq_mhz": json_num(e.freq_mhz, 3),
        "eirp_dbm": json_num(e.eirp_dbm, 2),
    }


def profile_json(p: Any, eirp_dbm: float | None) -> dict[str, Any]:
    """A :class:`deadzone.geo.link.LinkProfile` as the page draws it."""
    from deadzone.geo.link import CLEARANCE_RULE

    w = p.worst
    idx = profile_indices(p.clearance_m, w.index)
    ground_bulge = p.ground_m + p.bulge_m

    def arr(values: Any, digits: int = 2) -> list[float | None]:
        return [json_num(v, digits) for v in values[idx]]

    wi = w.index if 0 <= w.index < len(ground_bulge) else None
    rx = None if eirp_dbm is None or not math.isfinite(eirp_dbm) else eirp_dbm - p.loss_db
    return {
        "a": end_json(p.a),
        "b": end_json(p.b),
        "freq_mhz": json_num(p.freq_mhz, 3),
        "model": p.model,
        "k_factor": json_num(p.k_factor, 4),
        "distance_km": json_num(p.distance_m / 1000.0, 4),
        "step_m": json_num(p.step_m, 3),
        "samples": len(p.ground_m),
        "clearance_rule": CLEARANCE_RULE,
        "profile": {
            "distance_km": arr(p.distance_axis_m / 1000.0, 5),
            "ground_m": arr(p.ground_m),
            "ground_bulge_m": arr(ground_bulge),
            "los_m": arr(p.los_m),
            "f1_upper_m": arr(p.los_m + p.f1_m),
            "f1_lower_m": arr(p.los_m - p.f1_m),
            "f1_60_m": arr(p.los_m - CLEARANCE_RULE * p.f1_m),
        },
        "worst": {
            "distance_km": json_num(w.distance_m / 1000.0, 5),
            "ground_m": json_num(w.ground_m, 2),
            "ground_bulge_m": None if wi is None else json_num(ground_bulge[wi], 2),
            "clearance_m": json_num(w.clearance_m, 2),
            "clearance_f1": json_num(w.fraction, 4),
            "f1_m": json_num(w.f1_m, 2),
        },
        "clear": p.clear,
        "line_of_sight": p.line_of_sight,
        "loss_db": json_num(p.loss_db, 2),
        "free_space_db": json_num(p.free_space_db, 2),
        "mode": p.mode,
        "itm_warnings": list(p.itm_warnings),
        "eirp_dbm": None if rx is None else json_num(eirp_dbm, 2),
        "rx_dbm": None if rx is None else json_num(rx, 2),
    }
