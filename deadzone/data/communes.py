"""Commune (xã) polygons: :func:`load_communes`."""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from deadzone.data._tables import (
    COMMUNE_CANDIDATES,
    PathLike,
    _also,
    _defers_warnings,
    _pick,
    _text,
    _where,
)
from deadzone.data._vectors import (
    _attrs,
    _check_unique,
    _extras,
    _geometry,
    _ids,
    _read_raw,
    _repair,
)
from deadzone.errors import (
    DataLoadError,
    ParameterError,
    SchemaError,
)

# --------------------------------------------------------------------------- communes


@_defers_warnings
def load_communes(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    province_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Load commune (ward) polygons.

    Parameters
    ----------
    path : str or os.PathLike
        GeoPackage, GeoJSON, Shapefile, GeoParquet or any vector file GDAL
        reads, e.g. ``vn_communes_2025.gpkg``.
    id_col, name_col, province_col : str, optional
        Source columns for ``commune_id``, ``name``, ``province``; default
        auto-detected from :data:`COMMUNE_CANDIDATES` (``ward_code`` ->
        ``commune_id``, ``province_name`` -> ``province``).
    district_col : str, optional
        Source column for ``district`` (the admin level between commune and
        province); default auto-detected from :data:`DISTRICT_CANDIDATES`
        (``district``, ``district_name``, ``ten_huyen``, ``huyen``,
        ``name_2``, ``district_id``, ``district_code``, ``ma_huyen``).  A file
        without such a column has no district level: the result then has no
        ``district`` column (as Vietnam's 2025 communes, which have none).
    layer : str or int, optional
        Layer of a multi-layer file (default: the only layer, or one named
        ``communes``).
    bbox : (min_lon, min_lat, max_lon, max_lat), optional
        Keep only communes intersecting this box (degrees, EPSG:4326); the
        read uses the file's spatial index.

    Returns
    -------
    GeoDataFrame
        EPSG:4326; ``commune_id``, ``name``, ``province`` (str) first, then
        ``district`` (str, ``""`` where missing) when the file has a district
        column, the file's other columns after them, polygon ``geometry``.  Invalid
        polygons are repaired with ``shapely.make_valid`` (polygonal parts
        kept) and counted in ``.attrs['repaired']``; none are dropped.

    Raises
    ------
    DataLoadError, SchemaError, CRSError

    Examples
    --------
    >>> c = load_communes("../shared/data/vn_admin_2025/vn_communes_2025.gpkg",
    ...                   bbox=(105, 21, 106, 22))  # doctest: +SKIP
    """
    return _load_communes(
        path,
        id_col=id_col,
        name_col=name_col,
        province_col=province_col,
        district_col=district_col,
        layer=layer,
        bbox=bbox,
        allow_empty=False,
    )


def _load_communes(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    province_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    if bbox is not None:
        if len(bbox) != 4 or not all(math.isfinite(float(v)) for v in bbox):
            raise ParameterError(
                f"bbox was {bbox!r}; expected (min_lon, min_lat, max_lon, max_lat)"
            )
        if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
            raise ParameterError(f"bbox was {bbox!r}; min must not exceed max")
    raw = _read_raw(path, layer=layer, kind="communes", bbox=bbox, allow_empty=True)
    p = raw.path
    if bbox is None and len(raw.table) == 0 and not allow_empty:
        raise DataLoadError(f"{p}: has no features")
    cols = list(raw.table.columns)
    c_id = _pick(cols, id_col, COMMUNE_CANDIDATES["commune_id"], path=p, option="id_col")
    c_name = _pick(cols, name_col, COMMUNE_CANDIDATES["name"], path=p, option="name_col")
    c_prov = _pick(
        cols, province_col, COMMUNE_CANDIDATES["province"], path=p, option="province_col"
    )
    c_dist = _pick(
        cols, district_col, COMMUNE_CANDIDATES["district"], path=p, option="district_col"
    )
    ids, generated = _ids(raw, c_id, id_field="commune_id", prefix="row-", warn=True)
    _check_unique(p, ids, raw.shown.tolist(), "commune_id", raw.row_label)
    geo = _geometry(raw, ids=ids, id_field="commune_id", allow_missing=True)
    gs, n_rep, n_empty = _repair(
        geo.geometry, p=p, rows=raw.shown, row_label=raw.row_label, polygonal=True
    )
    gtypes = gs.geom_type.to_numpy()
    bad = np.flatnonzero(
        ~gs.is_empty.to_numpy()
        & ~gs.isna().to_numpy()
        & ~np.isin(gtypes, ["Polygon", "MultiPolygon"])
    )
    if bad.size:
        i = int(bad[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'commune_id', 'geometry', None, raw.row_label)}: "
            f"expected a polygon, got {gtypes[i]}" + _also(raw.shown, raw.row_label, bad)
        )
    n = len(raw.table)
    used = {c for c in (c_id, c_name, c_prov, c_dist) if c is not None} | set(geo.consumed)
    data: dict[str, Any] = {
        "commune_id": pd.Series(ids, dtype=str),
        "name": _text(raw.table[c_name] if c_name else None, n),
        "province": _text(raw.table[c_prov] if c_prov else None, n),
    }
    if c_dist is not None:
        data["district"] = _text(raw.table[c_dist], n)
    data.update(_extras(raw, used, {"commune_id", "name", "province", "district", "geometry"}))
    out = gpd.GeoDataFrame(data, geometry=gs.reset_index(drop=True), crs=4326)
    if bbox is not None:
        keep = out.intersects(shapely.box(*bbox)).to_numpy() | out.geometry.is_empty.to_numpy()
        out = out[keep].reset_index(drop=True)
        if len(out) == 0 and not allow_empty:
            raise DataLoadError(f"{p}: has no features intersecting bbox {tuple(bbox)}")
    out.attrs = _attrs(
        p,
        repaired=n_rep,
        empty_geometries=n_empty,
        defaults={"commune_id": f"generated for {generated} rows"} if generated else {},
        reprojected_from=geo.reprojected_from,
    )
    return out


