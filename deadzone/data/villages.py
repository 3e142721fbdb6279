"""Villages (points or polygons with population and households):
:func:`load_villages`, and :func:`assign_communes`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.data._tables import (
    LAT_CANDIDATES,
    LON_CANDIDATES,
    PERSONS_PER_HOUSEHOLD,
    VILLAGE_CANDIDATES,
    WKT_CANDIDATES,
    PathLike,
    _also,
    _defers_warnings,
    _list_rows,
    _near_misses,
    _numeric,
    _pick,
    _plural,
    _text,
    _to_bool,
    _warn,
    _where,
)
from deadzone.data._vectors import (
    _attrs,
    _check_unique,
    _extras,
    _geometry,
    _ids,
    _Raw,
    _read_raw,
    _repair,
)
from deadzone.errors import (
    CRSError,
    ParameterError,
    SchemaError,
)
from deadzone.model.geodesy import utm_crs
from deadzone.model.geometry import representative_points

# --------------------------------------------------------------------------- villages


#: ``attrs`` key set on a villages table whose empty commune ids went through the
#: spatial join (:func:`assign_communes`, ``load_villages(communes=...)``): those
#: still empty lie in no commune, and joining again would only repeat the work
#: and its warning.
COMMUNES_JOINED = "communes_joined"


@_defers_warnings
def load_villages(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    commune_col: str | None = None,
    population_col: str | None = None,
    households_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    communes: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Load villages (points or polygons) with population.

    Parameters
    ----------
    path : str or os.PathLike
        GeoPackage, GeoJSON, Shapefile, GeoParquet (or any vector file GDAL
        reads), or a CSV (``,``/``;``/tab, UTF-8 with or without BOM) with
        longitude/latitude columns (:data:`LON_CANDIDATES`,
        :data:`LAT_CANDIDATES`, any case) in EPSG:4326 degrees, or a WKT column.
    id_col, name_col, commune_col, population_col, households_col : str, optional
        Source columns; default auto-detected from :data:`VILLAGE_CANDIDATES`.
        A named column that does not exist is an error.
    district_col : str, optional
        Source column for ``district`` (default auto-detected from
        :data:`DISTRICT_CANDIDATES`); absent means the villages carry no
        district (the audit then takes districts from the communes, if any).
    layer : str or int, optional
        Layer of a multi-layer file (default: the only layer, or ``villages``).
    communes : GeoDataFrame, optional
        Commune polygons with ``commune_id`` (as from :func:`load_communes`).
        Villages without a commune id get the commune containing them, else
        the nearest commune within 1 km, else ``""`` (with a warning).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 with ``village_id``, ``name``, ``commune_id`` (str),
        ``population``, ``households`` (int64, persons and households),
        ``has_grid_power`` (bool, only if the file has it), ``district``
        (str, ``""`` where missing; only if the file has it), the file's other
        columns, ``source_row`` (0-based row of the feature in the file) and
        ``geometry`` (kept as given; invalid ones repaired, empty ones kept).
        ``.attrs`` records ``source``, ``checksum``, ``repaired``,
        ``empty_geometries``, ``defaults`` (what was filled and why) and
        ``reprojected_from``.

    Notes
    -----
    * No population column: population 0 (warning).  Missing values: 0
      (warning).  Non-integer values are rounded to the nearest person.
    * No households column / missing values:
      ``round(population / PERSONS_PER_HOUSEHOLD)`` (3.5, the 2019 census
      average household size; warning).
    * No id column: ``"row-<n>"`` (warning).  Duplicated ids are an error.

    Raises
    ------
    DataLoadError, SchemaError, CRSError

    Examples
    --------
    >>> v = load_villages("villages.csv")  # doctest: +SKIP
    >>> list(v.columns[:5])  # doctest: +SKIP
    ['village_id', 'name', 'commune_id', 'population', 'households']
    """
    return _load_villages(
        path,
        id_col=id_col,
        name_col=name_col,
        commune_col=commune_col,
        population_col=population_col,
        households_col=households_col,
        district_col=district_col,
        layer=layer,
        communes=communes,
        allow_empty=False,
    )


def _count_positive_int(
    values: npt.NDArray[np.float64],
    *,
    p: Path,
    raw: _Raw,
    ids: Sequence[str],
    field: str,
    column: str,
) -> None:
    inf = np.flatnonzero(np.isinf(values))
    if inf.size:
        i = int(inf[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'village_id', field, column, raw.row_label)}: "
            f"value {values[i]:g} is not a finite number" + _also(raw.shown, raw.row_label, inf)
        )
    neg = np.flatnonzero(values < 0)
    if neg.size:
        i = int(neg[0])
        raise SchemaError(
            f"{_where(p, raw.shown[i], ids[i], 'village_id', field, column, raw.row_label)}: "
            f"value {values[i]:g} is negative" + _also(raw.shown, raw.row_label, neg)
        )


#: Village field -> (what a missing column means, the loader option naming a column).
_VILLAGE_MISSING: dict[str, tuple[str, str | None]] = {
    "village_id": ("ids are generated", "id_col= (--village-id-col)"),
    "name": ("villages have no name", "name_col= (--village-name-col)"),
    "commune_id": ("commune ids come from the communes layer", "commune_col="),
    "population": ("population is 0 in every village", "population_col= (--population-col)"),
    "households": (
        "households are estimated from population",
        "households_col= (--households-col)",
    ),
    "has_grid_power": ("grid power is unknown", None),
    "district": ("there is no district level", "district_col="),
}


def _village_near_misses(raw: _Raw, missing: dict[str, Sequence[str]]) -> None:
    """Warn about unused columns that look like a misspelt village column (see _near_misses)."""
    if not missing:
        return
    known = [
        *(c for cands in VILLAGE_CANDIDATES.values() for c in cands),
        *LON_CANDIDATES,
        *LAT_CANDIDATES,
        *WKT_CANDIDATES,
        "source_row",
    ]
    for m in _near_misses(list(raw.table.columns), missing, known):
        effect, option = _VILLAGE_MISSING[m.field]
        how = f"rename it or pass it as {option}" if option else "rename it"
        _warn(
            f"{raw.path}: column {m.column!r} is not used: did you mean {m.suggestion!r}? "
            f"Without it {effect}; {how}"
        )


def _load_villages(
    path: PathLike,
    *,
    id_col: str | None = None,
    name_col: str | None = None,
    commune_col: str | None = None,
    population_col: str | None = None,
    households_col: str | None = None,
    district_col: str | None = None,
    layer: str | int | None = None,
    communes: gpd.GeoDataFrame | None = None,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    raw = _read_raw(path, layer=layer, kind="villages", allow_empty=allow_empty)
    p = raw.path
    cols = list(raw.table.columns)
    cand = VILLAGE_CANDIDATES
    c_id = _pick(cols, id_col, cand["village_id"], path=p, option="id_col")
    c_name = _pick(cols, name_col, cand["name"], path=p, option="name_col")
    c_comm = _pick(cols, commune_col, cand["commune_id"], path=p, option="commune_col")
    c_pop = _pick(cols, population_col, cand["population"], path=p, option="population_col")
    c_hh = _pick(cols, households_col, cand["households"], path=p, option="households_col")
    c_grid = _pick(cols, None, cand["has_grid_power"], path=p, option="has_grid_power")
    c_dist = _pick(cols, district_col, cand["district"], path=p, option="district_col")
    n = len(raw.table)
    defaults: dict[str, str] = {}
    found = {
        "village_id": c_id,
        "name": c_name,
        "commune_id": c_comm,
        "population": c_pop,
        "households": c_hh,
        "has_grid_power": c_grid,
        "district": c_dist,
    }
    _village_near_misses(raw, {f: cand[f] for f, c in found.items() if c is None})

    ids, generated = _ids(raw, c_id, id_field="village_id", prefix="row-", warn=True)
    if generated:
        defaults["village_id"] = f"'row-<n>' generated for {generated} rows"
    _check_unique(p, ids, raw.shown.tolist(), "village_id", raw.row_label)

    # population
    if c_pop is None:
        pop = np.zeros(n, dtype=np.float64)
        if n:
            defaults["population"] = "0 (no population column)"
            _warn(
                f"{p}: field 'population': no population column "
                f"(looked for {cand['population']}); population set to 0"
            )
    else:
        pop = _numeric(
            raw.table[c_pop],
            path=p,
            field="population",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
        _count_positive_int(pop, p=p, raw=raw, ids=ids, field="population", column=c_pop)
        miss = ~np.isfinite(pop)
        if miss.any():
            pop[miss] = 0.0
            defaults["population"] = f"0 in {int(miss.sum())} rows without a value"
            _warn(
                f"{p}: field 'population': {_plural(int(miss.sum()), 'row')} without a value "
                f"({raw.row_label}s {_list_rows(raw.shown[miss].tolist(), 5)}) set to 0"
            )
    population = np.rint(pop).astype(np.int64)

    # households
    est = np.rint(population / PERSONS_PER_HOUSEHOLD).astype(np.int64)
    if c_hh is None:
        households = est
        if n:
            defaults["households"] = f"population / {PERSONS_PER_HOUSEHOLD} (no households column)"
            _warn(
                f"{p}: field 'households': no households column; estimated as "
                f"round(population / {PERSONS_PER_HOUSEHOLD})"
            )
    else:
        hh = _numeric(
            raw.table[c_hh],
            path=p,
            field="households",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
        _count_positive_int(hh, p=p, raw=raw, ids=ids, field="households", column=c_hh)
        miss = ~np.isfinite(hh)
        hh[miss] = est[miss]
        households = np.rint(hh).astype(np.int64)
        if miss.any():
            defaults["households"] = (
                f"population / {PERSONS_PER_HOUSEHOLD} in {int(miss.sum())} rows without a value"
            )
            _warn(
                f"{p}: field 'households': {_plural(int(miss.sum()), 'row')} without a value "
                f"estimated as round(population / {PERSONS_PER_HOUSEHOLD})"
            )

    geo = _geometry(raw, ids=ids, id_field="village_id", allow_missing=True)
    gs, n_rep, n_empty = _repair(
        geo.geometry, p=p, rows=raw.shown, row_label=raw.row_label, polygonal=False
    )

    commune_ids = _text(raw.table[c_comm] if c_comm else None, n)
    if communes is not None:
        commune_ids = _join_communes(gs, commune_ids, communes, p=p, defaults=defaults)
    elif n and (commune_ids == "").any():
        k = int((commune_ids == "").sum())
        defaults["commune_id"] = f"'' in {k} rows (no commune column or value, no communes=)"

    data: dict[str, Any] = {
        "village_id": pd.Series(ids, dtype=str),
        "name": _text(raw.table[c_name] if c_name else None, n),
        "commune_id": commune_ids.reset_index(drop=True),
        "population": population,
        "households": households,
    }
    if c_grid is not None:
        data["has_grid_power"] = _to_bool(
            raw.table[c_grid],
            path=p,
            field="has_grid_power",
            rows=raw.shown,
            ids=ids,
            id_field="village_id",
            row_label=raw.row_label,
        )
    if c_dist is not None:
        data["district"] = _text(raw.table[c_dist], n)
    used = {c for c in (c_id, c_name, c_comm, c_pop, c_hh, c_grid, c_dist) if c is not None}
    used |= set(geo.consumed)
    reserved = set(data) | {"has_grid_power", "district", "source_row", "geometry"}
    data.update(_extras(raw, used, reserved))
    data["source_row"] = raw.rows.astype(np.int64)
    out = gpd.GeoDataFrame(data, geometry=gs.reset_index(drop=True), crs=4326)
    out.attrs = _attrs(
        p,
        repaired=n_rep,
        empty_geometries=n_empty,
        defaults=defaults,
        reprojected_from=geo.reprojected_from,
        **({COMMUNES_JOINED: True} if communes is not None else {}),
    )
    return out


def _set_ids(ids: pd.Series, rows: np.ndarray, values: np.ndarray) -> None:
    """``ids[rows] = str(values)`` in one assignment (row by row cost ~60 us each)."""
    if len(rows):
        ids.iloc[rows.astype(np.int64)] = [str(v) for v in values]


def _join_communes(
    gs: gpd.GeoSeries,
    commune_ids: pd.Series,
    communes: gpd.GeoDataFrame,
    *,
    p: Path,
    defaults: dict[str, str],
    max_distance_m: float = 1000.0,
) -> pd.Series:
    """Fill empty commune ids by point-in-polygon, then nearest within 1 km."""
    if not isinstance(communes, gpd.GeoDataFrame) or "commune_id" not in communes.columns:
        raise ParameterError("communes must be a GeoDataFrame with a 'commune_id' column")
    if communes.crs is None:
        raise CRSError("communes has no CRS; expected EPSG:4326 (use load_communes)")
    ids = commune_ids.reset_index(drop=True).copy()
    need = (ids == "").to_numpy()
    has_geom = ~(gs.isna().to_numpy() | gs.is_empty.to_numpy())
    todo = np.flatnonzero(need & has_geom)
    if todo.size == 0 or len(communes) == 0:
        return ids
    polys = communes[["commune_id", communes.geometry.name]].to_crs(4326).reset_index(drop=True)
    polys = polys[~(polys.geometry.isna() | polys.geometry.is_empty)]
    pts = gpd.GeoDataFrame(
        {"_i": todo}, geometry=representative_points(gs.iloc[todo]).to_numpy(), crs=4326
    )
    joined = gpd.sjoin(pts, polys, how="left", predicate="intersects")
    joined = joined[~joined.index.duplicated(keep="first")]
    got = joined["commune_id"].notna().to_numpy()
    _set_ids(ids, joined["_i"].to_numpy()[got], joined["commune_id"].to_numpy()[got])
    rest = pts[~got]
    n_near = 0
    if len(rest):
        w, so, e, n = rest.total_bounds
        utm = utm_crs((w + e) / 2.0, (so + n) / 2.0)
        near = gpd.sjoin_nearest(
            rest.to_crs(utm), polys.to_crs(utm), how="left", max_distance=max_distance_m
        )
        near = near[~near.index.duplicated(keep="first")]
        ok = near["commune_id"].notna().to_numpy()
        _set_ids(ids, near["_i"].to_numpy()[ok], near["commune_id"].to_numpy()[ok])
        n_near = int(ok.sum())
    n_none = int((ids == "").sum())
    n_in = int(got.sum())
    defaults["commune_id"] = (
        f"spatial join: {n_in} inside a commune, {n_near} nearest within "
        f"{max_distance_m:g} m, {n_none} none"
    )
    if n_none:
        _warn(
            f"{p}: field 'commune_id': {_plural(n_none, 'village')} not inside or within "
            f"{max_distance_m:g} m of any commune; commune_id left ''"
        )
    return ids


@_defers_warnings
def assign_communes(
    villages: gpd.GeoDataFrame,
    communes: gpd.GeoDataFrame,
    *,
    max_distance_m: float = 1000.0,
) -> gpd.GeoDataFrame:
    """Fill villages' empty ``commune_id`` from commune polygons.

    The same rule :func:`load_villages` applies with ``communes=``: the
    commune containing the village's representative point, else the nearest
    within ``max_distance_m``, else ``""`` (with a warning).  Villages that
    already have a commune id keep it.

    Returns
    -------
    GeoDataFrame
        A copy of ``villages``; ``attrs["defaults"]["commune_id"]`` records
        the counts and ``attrs[COMMUNES_JOINED]`` that the join was done.
    """
    out = villages.copy()
    defaults = dict(out.attrs.get("defaults", {}))
    source = Path(str(out.attrs.get("source", "villages")))
    ids = out["commune_id"].fillna("").astype(str).reset_index(drop=True)
    joined = _join_communes(
        out.geometry.to_crs(4326).reset_index(drop=True),
        ids,
        communes,
        p=source,
        defaults=defaults,
        max_distance_m=max_distance_m,
    )
    out["commune_id"] = joined.to_numpy()
    out.attrs["defaults"] = defaults
    out.attrs[COMMUNES_JOINED] = True
    return out


