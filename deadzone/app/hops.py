"""The microwave hops of new sites, written with their terrain profiles
(``hops.csv``, ``hop_profiles.csv`` of ``deadzone plan`` and ``deadzone
place``; ``deadzone report`` draws one figure per hop)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from deadzone.geo.site_costs import CostModel, fiber_anchors
from deadzone.model.scenario import Scenario

__all__ = ["HOP_TABLE_COLUMNS", "hop_profiles"]


#: Columns of ``hops.csv``: one microwave hop of a planned site a row.
HOP_TABLE_COLUMNS: tuple[str, ...] = (
    "option_id", "year", "kind", "site_lon", "site_lat", "site_height_m", "anchor",
    "anchor_lon", "anchor_lat", "anchor_height_m", "freq_mhz", "k_factor", "distance_m",
    "clearance_f1", "worst_distance_m", "worst_ground_m", "worst_clearance_m", "worst_f1_m",
    "free_space_db", "availability_pct", "fade_margin_db", "target_pct",
)


def hop_profiles(
    sites: pd.DataFrame, scenario: Scenario, site_prices: CostModel, *, k_factor: float,
    id_col: str = "option_id",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """New sites' microwave hops and their terrain profiles (``plan``, ``place``).

    ``sites``: ``lon, lat, height_m, backhaul, backhaul_to``, the ``hop_*``
    columns of :func:`deadzone.geo.site_costs.site_costs`, the id in
    ``id_col`` and, when present, ``year`` and ``kind``.  Each hop is
    profiled by :func:`deadzone.geo.link.link_profile` (the kernel that
    accepted it, free space at the band of ``site_prices``); its
    availability and fade margin are the ones that accepted it (the site's
    ``hop_*`` columns; for a ``place`` relay hop to another chosen site,
    ``anchor`` ``site:ID``, the same check run again).

    Returns
    -------
    (DataFrame, DataFrame)
        ``hops.csv`` (:data:`HOP_TABLE_COLUMNS`) and ``hop_profiles.csv``
        (``option_id`` and the profile's samples: ``distance_m, ground_m,
        bulge_m, los_m, f1_m, clearance_m``).
    """
    from deadzone.geo.link import link_profile, point_end
    from deadzone.geo.site_costs import microwave_hops

    hops = sites[sites["backhaul"].isin(("microwave", "microwave_relay"))]
    by_id = {str(i): r for i, (_, r) in zip(sites[id_col], sites.iterrows(), strict=True)}
    ends = fiber_anchors(scenario, anchor_mast_m=site_prices.anchor_mast_m).by_id()
    rows, prof = [], []
    f_mhz = site_prices.microwave_freq_ghz * 1000.0
    for _, r in hops.iterrows():
        anchor = str(r["backhaul_to"])
        sid = str(r[id_col])
        relay = r["backhaul"] == "microwave_relay"
        if relay and anchor in by_id:  # a hop to another new site, itself anchored
            far = by_id[anchor]
            lon, lat, h = float(far["lon"]), float(far["lat"]), float(far["height_m"])
            anchor = f"site:{anchor}"
        elif anchor in ends:
            lon, lat, h = ends[anchor]
        else:
            continue
        a = point_end(scenario.dem, float(r["lon"]), float(r["lat"]),
                      height_m=float(r["height_m"]), label=f"site {sid}")
        b = point_end(scenario.dem, lon, lat, height_m=float(h), label=anchor)
        p = link_profile(scenario.dem, a, b, freq_mhz=f_mhz, model="fspl", k_factor=k_factor)
        w = p.worst
        avail, margin = r.get("hop_availability_pct"), r.get("hop_fade_margin_db")
        if relay:  # the relay check is not stored per site: the same check again
            chk = microwave_hops(scenario.dem, np.array([[a.x_m, a.y_m]]),
                                 np.array([a.height_m]), np.array([[b.x_m, b.y_m]]),
                                 np.array([b.height_m]), freq_ghz=site_prices.microwave_freq_ghz,
                                 k_factor=k_factor, costs=site_prices)
            avail, margin = float(chk.availability_pct[0]), float(chk.fade_margin_db[0])
        rows.append({
            "option_id": sid, "year": int(r["year"]) if "year" in r else math.nan,
            "kind": r.get("kind", "macro"),
            "site_lon": a.lon, "site_lat": a.lat, "site_height_m": a.height_m,
            "anchor": anchor, "anchor_lon": lon, "anchor_lat": lat, "anchor_height_m": h,
            "freq_mhz": f_mhz, "k_factor": k_factor, "distance_m": p.distance_m,
            "clearance_f1": w.fraction, "worst_distance_m": w.distance_m,
            "worst_ground_m": w.ground_m, "worst_clearance_m": w.clearance_m,
            "worst_f1_m": w.f1_m, "free_space_db": p.free_space_db,
            "availability_pct": avail, "fade_margin_db": margin,
            "target_pct": site_prices.microwave_availability_pct,
        })
        t = p.table()[["distance_m", "ground_m", "bulge_m", "los_m", "f1_m", "clearance_m"]]
        t.insert(0, "option_id", sid)
        prof.append(t)
    cols = ["option_id", "distance_m", "ground_m", "bulge_m", "los_m", "f1_m", "clearance_m"]
    return (pd.DataFrame(rows, columns=list(HOP_TABLE_COLUMNS)),
            pd.concat(prof, ignore_index=True) if prof else pd.DataFrame(columns=cols))
