"""What the fiber plan connects: commune centres, villages (their households)
or towers, as point targets with an id and a value."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import shapely.ops

__all__ = [
    "F64",
    "commune_targets",
    "tower_targets",
    "village_targets",
]


F64 = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- targets


def _points_xy(gdf: gpd.GeoDataFrame) -> tuple[F64, npt.NDArray[np.bool_]]:
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    xy = np.full((len(geoms), 2), np.nan)
    if ok.any():
        pts = geoms[ok].copy()
        not_pt = shapely.get_type_id(pts) != 0
        if not_pt.any():
            pts[not_pt] = shapely.point_on_surface(pts[not_pt])
        xy[ok, 0] = shapely.get_x(pts)
        xy[ok, 1] = shapely.get_y(pts)
    ok &= np.isfinite(xy).all(axis=1)
    return xy, ok


def _num(series: Any, n: int) -> F64:
    if series is None:
        return np.zeros(n)
    return pd.to_numeric(series, errors="coerce").fillna(0.0).to_numpy(dtype=np.float64)


def commune_targets(
    communes: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Commune centres as targets (``center_lon/center_lat`` if given, else a point inside).

    ``households``/``population`` are the sums of the commune's villages when
    villages are given, else the commune's own ``population`` column.
    """
    c = communes.to_crs(4326)
    if {"center_lon", "center_lat"} <= set(c.columns):
        lon = pd.to_numeric(c["center_lon"], errors="coerce").to_numpy(dtype=float)
        lat = pd.to_numeric(c["center_lat"], errors="coerce").to_numpy(dtype=float)
        inside = np.asarray(shapely.point_on_surface(np.asarray(c.geometry.array, dtype=object)))
        pts = np.where(np.isfinite(lon) & np.isfinite(lat), shapely.points(lon, lat), inside)
    else:
        pts = shapely.point_on_surface(np.asarray(c.geometry.array, dtype=object))
    id_col = "commune_id" if "commune_id" in c.columns else None
    ids = c[id_col].astype(str).to_numpy() if id_col else np.array([f"C{i}" for i in range(len(c))])
    out = gpd.GeoDataFrame(
        {"target_id": ids, "name": c["name"].to_numpy() if "name" in c else ids, "kind": "commune"},
        geometry=pts,
        crs=4326,
    )
    if villages is not None and "commune_id" in villages.columns:
        v = pd.DataFrame(
            {
                "commune_id": villages["commune_id"].astype(str),
                "households": _num(villages.get("households"), len(villages)),
                "population": _num(villages.get("population"), len(villages)),
            }
        )
        agg = v.groupby("commune_id")[["households", "population"]].sum()
        out["households"] = agg["households"].reindex(ids).fillna(0).to_numpy()
        out["population"] = agg["population"].reindex(ids).fillna(0).to_numpy()
    elif "population" in c.columns:
        out["population"] = _num(c["population"], len(c))
    return out


def village_targets(villages: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Villages as targets, valued by their households (and population)."""
    v = villages.to_crs(4326)
    ids = (
        v["village_id"].astype(str).to_numpy()
        if "village_id" in v
        else np.array([f"V{i}" for i in range(len(v))])
    )
    out = gpd.GeoDataFrame(
        {"target_id": ids, "name": v["name"].to_numpy() if "name" in v else ids, "kind": "village"},
        geometry=v.geometry.to_numpy(),
        crs=4326,
    )
    for col in ("households", "population", "commune_id"):
        if col in v.columns:
            out[col] = v[col].to_numpy()
    return out


def tower_targets(
    towers: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Towers as backhaul targets.

    With villages, each tower is valued by the households and population of
    the villages for which it is the nearest tower (a Voronoi share).
    """
    t = towers.to_crs(4326)
    ids = (
        t["tower_id"].astype(str).to_numpy()
        if "tower_id" in t
        else np.array([f"T{i}" for i in range(len(t))])
    )
    # one target per site: several technologies share a mast
    out = gpd.GeoDataFrame(
        {"target_id": ids, "name": ids, "kind": "tower"}, geometry=t.geometry.to_numpy(), crs=4326
    )
    out = out.drop_duplicates(subset="target_id").reset_index(drop=True)
    if villages is not None and len(villages) and len(out):
        crs = out.estimate_utm_crs()
        txy, tok = _points_xy(out.to_crs(crs))
        vxy, vok = _points_xy(villages.to_crs(crs))
        from scipy.spatial import cKDTree

        if tok.any() and vok.any():
            _, k = cKDTree(txy[tok]).query(vxy[vok])
            owner = np.flatnonzero(tok)[k]
            for col in ("households", "population"):
                if col in villages.columns:
                    vals = _num(villages[col], len(villages))[vok]
                    out[col] = np.bincount(owner, weights=vals, minlength=len(out))
    return out
