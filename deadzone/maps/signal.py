"""The signal a village's status came from, as every output shows it.

The audit gives each village a status from one technology's service metric
(received level for 2G/3G, RSRP for 4G/5G, :func:`deadzone.model.thresholds.metric_name`):
``status_tech`` names the technology and ``signal_<tech>_dbm`` holds the
value.  The map popup, the report's not-covered table and the KML all show
that value with that label (``4G RSRP -126.1 dBm``), never the total
received power beside a threshold it was not compared with.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.model.schema import TECHS
from deadzone.model.thresholds import metric_name

__all__ = ["TOTAL_POWER_LABEL", "status_signal"]

#: Label of the fallback: tables without ``status_tech`` (older audits) or
#: villages with no technology in reach show the total received power.
TOTAL_POWER_LABEL = "received power"


def status_signal(villages: pd.DataFrame) -> tuple[list[str], npt.NDArray[np.float64]]:
    """Per village, the metric label and value (dBm; NaN = none) its status came from.

    Parameters
    ----------
    villages : DataFrame
        An audit's village table (``status_tech``, ``signal_<tech>_dbm``,
        ``best_rx_dbm``; missing columns fall back as described).

    Returns
    -------
    labels : list of str
        ``"4G RSRP"``, ``"2G received level"``, ... or :data:`TOTAL_POWER_LABEL`.
    values_dbm : float64[n]
    """
    n = len(villages)
    labels = [TOTAL_POWER_LABEL] * n
    if "best_rx_dbm" in villages.columns:
        values = np.array(pd.to_numeric(villages["best_rx_dbm"], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan))
    else:
        values = np.full(n, np.nan)
    if "status_tech" not in villages.columns:
        return labels, values
    techs = villages["status_tech"].astype("string").fillna("").to_numpy(dtype=object)
    for tech in TECHS:
        col = f"signal_{tech.lower()}_dbm"
        rows = np.flatnonzero(techs == tech)
        if not rows.size or col not in villages.columns:
            continue
        v = pd.to_numeric(villages[col], errors="coerce").to_numpy(dtype=np.float64,
                                                                    na_value=np.nan)
        label = f"{tech} {metric_name(tech)}"
        for r in rows:
            labels[r] = label
        values[rows] = v[rows]
    return labels, values
