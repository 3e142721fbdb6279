"""One offline map from output folders: audit, plus optional placement and fiber plan.

:func:`audit_map` reads what ``deadzone audit`` / ``deadzone demo`` wrote
(``villages.parquet``/``.gpkg``/``.csv``, ``communes.gpkg``, ``coverage.tif``,
``signal_<tech>_dbm.tif``, ``best_server.tif``, ``servers.csv``, ``summary.json``,
``unlisted_settlements.gpkg`` when the audit had a population raster), and optionally a
``deadzone place`` folder (``sites.gpkg``/``sites.csv``) and a
``deadzone fiber`` folder (``routes.gpkg``, ``ofds/``), and hands them to
:func:`deadzone.maps.folium_map.coverage_map` with every layer switched on.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deadzone.data.postgis import is_pg_url
from deadzone.errors import DataLoadError, DeadzoneWarning, SchemaError

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

__all__ = ["audit_map", "find_towers_file", "metric_layers"]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Admin levels drawn as outlines when ``communes.gpkg`` has the column.
ADMIN_LEVELS = ("district", "province")


def _read_geo(path: Path, layer: str | None = None) -> gpd.GeoDataFrame:
    import geopandas as gpd

    try:
        if path.suffix == ".parquet":
            return gpd.read_parquet(path)
        return gpd.read_file(path, layer=layer)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one line naming the file
        raise DataLoadError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None


def _points_csv(path: Path) -> gpd.GeoDataFrame:
    import geopandas as gpd

    try:
        df = pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    except (ValueError, OSError) as exc:
        raise DataLoadError(f"{path}: cannot read CSV ({exc})") from exc
    for col in ("lon", "lat"):
        if col not in df.columns:
            raise SchemaError(f"{path}: missing column {col!r}")
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)


def _villages(folder: Path) -> gpd.GeoDataFrame:
    for name in ("villages.parquet", "villages.gpkg"):
        if (folder / name).is_file():
            return _read_geo(folder / name)
    if (folder / "villages.csv").is_file():
        v = _points_csv(folder / "villages.csv")
        for col in ("village_id", "commune_id", "serving_tower_id", "name"):
            if col in v.columns:
                v[col] = v[col].astype("string")
        return v
    raise DataLoadError(
        f"{folder} is not an audit folder: no villages.parquet, villages.gpkg or villages.csv "
        "(write one with `deadzone audit` or `deadzone demo`)"
    )


def find_towers_file(audit_dir: str | os.PathLike[str]) -> Path | str | None:
    """The towers file an audit folder was computed from, when it can be found.

    Looks at ``summary.json`` ``inputs.towers.path`` (``deadzone audit``), then
    ``inputs/towers.gpkg`` / ``inputs/towers.csv`` (``deadzone demo``).
    """
    folder = Path(audit_dir)
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        summary = {}
    path = ((summary.get("inputs") or {}).get("towers") or {}).get("path")
    if is_pg_url(path):  # a database table (its password from the environment)
        return path
    candidates = [Path(path)] if path else []
    candidates += [folder / "inputs" / "towers.gpkg", folder / "inputs" / "towers.csv"]
    return next((p for p in candidates if p.is_file()), None)


def _thresholds(summary: dict[str, Any]) -> Any:
    from deadzone.model.thresholds import Thresholds

    return Thresholds.from_dict((summary.get("parameters") or {}).get("thresholds"))


def metric_layers(
    signal_dbm: dict[str, np.ndarray],
    rx_total_dbm: np.ndarray,
    thresholds: Any,
) -> dict[str, Any]:
    """The coverage-map raster arguments that agree with the audit's statuses.

    Village statuses come from each technology's service metric (received
    level for 2G/3G, RSRP for 4G/5G: total power minus a per-tower offset
    that depends on the tower's bandwidth, so it cannot be undone on the
    total-power raster) at that technology's thresholds, best class over the
    technologies.  The class layer is that rule applied to every cell
    (:func:`deadzone.model.thresholds.coverage_class`).  With one technology
    the received-power layer is its metric raster with its thresholds on the
    legend; with several it is the best total power (``rx_total_dbm``).

    Parameters
    ----------
    signal_dbm : dict of str to ndarray
        Technology -> metric raster (dBm, NaN none), e.g. the audit's
        ``signal_<tech>_dbm.tif``; empty when unknown (older audit folders).
    rx_total_dbm : ndarray
        Best total received power (``coverage.tif``), same grid.
    thresholds : Thresholds
        The audit's thresholds.

    Returns
    -------
    dict
        Keyword arguments for :func:`deadzone.maps.folium_map.coverage_map`:
        ``rx_dbm``, ``thresholds_dbm``, ``metric_label``, ``coverage_class``,
        ``class_labels``.
    """
    from deadzone.model.schema import TECHS
    from deadzone.model.thresholds import coverage_class, metric_name, status_labels

    techs = [t for t in TECHS if t in signal_dbm]
    if len(techs) == 1:
        t = techs[0]
        return {
            "rx_dbm": signal_dbm[t],
            "thresholds_dbm": (thresholds.covered(t), thresholds.marginal(t)),
            "metric_label": f"{t} {metric_name(t)}",
            "coverage_class": coverage_class(signal_dbm, thresholds),
            "class_labels": None,
        }
    # Total power is the metric of 2G/3G (offset 0): put their thresholds on the ramp.
    ramp = next((t for t in techs if metric_name(t) == "received level"), "2G")
    return {
        "rx_dbm": rx_total_dbm,
        "thresholds_dbm": (thresholds.covered(ramp), thresholds.marginal(ramp)),
        "metric_label": "Best total received power",
        "coverage_class": coverage_class(signal_dbm, thresholds) if techs else None,
        "class_labels": status_labels(thresholds, techs) if techs else None,
    }


def _raster(path: Path, *, max_px: int, categorical: bool) -> tuple[np.ndarray, Any, Any]:
    """Read band 1; a raster over ``4 * max_px`` cells a side is read reduced.

    The reduction factor ``f = side // (2 * max_px)`` keeps memory bounded for
    national rasters (GDAL ``average`` of the cells with data for dBm,
    ``mode`` for the best-server classes); :func:`coverage_map` then
    block-averages the rest of the way.  Both rasters of an audit have the
    same shape, so they are reduced onto the same grid.
    """
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    try:
        with rasterio.open(path) as src:
            f = max(src.height, src.width) // (2 * max_px)
            if max(src.height, src.width) > 4 * max_px and f > 1:
                shape = (-(-src.height // f), -(-src.width // f))
                arr = src.read(
                    1,
                    out_shape=shape,
                    resampling=Resampling.mode if categorical else Resampling.average,
                )
                transform = src.transform @ Affine.scale(
                    src.width / shape[1], src.height / shape[0]
                )
            else:
                arr, transform = src.read(1), src.transform
            if src.nodata is not None and np.issubdtype(arr.dtype, np.floating):
                if not np.isnan(src.nodata):
                    arr = np.where(arr == src.nodata, np.nan, arr)
            return arr, transform, src.crs
    except rasterio.errors.RasterioIOError as exc:
        raise DataLoadError(f"{path}: cannot read raster ({exc})") from exc


def audit_map(
    audit_dir: str | os.PathLike[str],
    *,
    place_dir: str | os.PathLike[str] | None = None,
    fiber_dir: str | os.PathLike[str] | None = None,
    towers_path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    max_raster_px: int = 1600,
    cluster_villages: bool | None = None,
    basemap: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> folium.Map:
    """Build the unified coverage map of an audit folder (and optional plans).

    Parameters
    ----------
    audit_dir : path
        ``deadzone audit`` / ``deadzone demo`` output folder; ``coverage.tif``
        and the villages are required, the rest is drawn when present.
    place_dir : path, optional
        ``deadzone place`` output folder: proposed sites with cost and villages
        covered in their popups.
    fiber_dir : path, optional
        ``deadzone fiber`` output folder: one layer per fiber phase and the
        existing network (OFDS ``operational`` nodes and spans).
    towers_path : path, optional
        Towers file (any format ``deadzone audit --towers`` reads); default:
        :func:`find_towers_file`.  Without one the map has no tower layer
        content and a :class:`~deadzone.errors.DeadzoneWarning` says so.
    title : str, optional
        Map title (default ``Coverage audit: <scenario>``).
    max_raster_px : int
        Longest side (pixels) of each embedded raster; keeps a province map
        under ~20 MB.
    cluster_villages : bool, optional
        Forwarded to :func:`~deadzone.maps.folium_map.coverage_map`.
    basemap : str, optional
        Forwarded (None: no base tiles, fully offline).
    progress : callable, optional
        Called as ``progress(done, 3)`` after reading the audit, after reading
        the other inputs and after building the map.

    Returns
    -------
    folium.Map
        Write it with :func:`deadzone.maps.folium_map.save_map`.

    Raises
    ------
    DataLoadError
        A folder or a required file is missing or unreadable.
    """
    import geopandas as gpd

    from deadzone.data.io import verify_folder
    from deadzone.geo.audit import map_summary_lines
    from deadzone.geo.export import verify_audit_folder
    from deadzone.maps.folium_map import coverage_map
    from deadzone.model.thresholds import status_labels

    folder = Path(audit_dir)
    if not folder.is_dir():
        raise DataLoadError(f"--audit {folder}: audit folder does not exist or is not a folder")
    verify_audit_folder(folder)
    for p, flag, summary, command in ((place_dir, "--place", "summary.json", "place"),
                                      (fiber_dir, "--fiber", "phases.json", "fiber")):
        if p is not None and not Path(p).is_dir():
            raise DataLoadError(f"{flag} {p}: folder does not exist or is not a folder")
        if p is not None:
            verify_folder(p, summary, command=command)
    if not (folder / "summary.json").is_file():
        raise DataLoadError(f"{folder} is not an audit folder: missing summary.json")
    if not (folder / "coverage.tif").is_file():
        raise DataLoadError(f"{folder} is not an audit folder: missing coverage.tif")
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataLoadError(f"{folder / 'summary.json'}: cannot read JSON ({exc})") from exc

    villages = _villages(folder)
    rx, transform, crs = _raster(folder / "coverage.tif", max_px=max_raster_px, categorical=False)
    best = server_ids = None
    if (folder / "best_server.tif").is_file():
        best, _, _ = _raster(folder / "best_server.tif", max_px=max_raster_px, categorical=True)
        if best.shape != rx.shape or not np.issubdtype(best.dtype, np.integer):
            warnings.warn(
                f"{folder / 'best_server.tif'} does not match coverage.tif; not drawn",
                DeadzoneWarning,
                stacklevel=2,
            )
            best = None
    techs = list((summary.get("by_technology") or {}).keys())
    server_techs: set[str] = set()
    if (folder / "servers.csv").is_file():
        servers = pd.read_csv(folder / "servers.csv", dtype={"tower_id": str})
        server_ids = servers.sort_values("server_index")["tower_id"].astype(str).tolist()
        server_techs = set(servers["tech"].astype(str))
        techs = techs or sorted(server_techs)
    signal = _signal_rasters(folder, techs, rx.shape, server_techs, rx, max_raster_px)
    step = progress or (lambda done, total: None)
    step(1, 3)
    communes = (
        _read_geo(folder / "communes.gpkg", layer="communes")
        if (folder / "communes.gpkg").is_file()
        else None
    )

    tower_file: Path | str | None = (
        towers_path if is_pg_url(towers_path) else Path(towers_path)  # type: ignore[arg-type]
    ) if towers_path is not None else find_towers_file(folder)
    if tower_file is not None:
        from deadzone.data.loaders import load_towers

        towers = load_towers(tower_file)
    else:
        warnings.warn(
            f"no towers file found for {folder} (give --towers FILE); the map has no towers",
            DeadzoneWarning,
            stacklevel=2,
        )
        towers = gpd.GeoDataFrame(
            {c: [] for c in ("tower_id", "tech", "freq_mhz", "eirp_dbm", "height_m")}
            | {"azimuth_deg": []},
            geometry=[],
            crs=4326,
        )

    sites = None
    if place_dir is not None:
        pd_dir = Path(place_dir)
        if (pd_dir / "sites.gpkg").is_file():
            sites = _read_geo(pd_dir / "sites.gpkg")
        elif (pd_dir / "sites.csv").is_file():
            sites = _points_csv(pd_dir / "sites.csv")
        else:
            raise DataLoadError(f"--place {pd_dir}: no sites.gpkg or sites.csv (`deadzone place`)")
    routes = existing = None
    if fiber_dir is not None:
        fd = Path(fiber_dir)
        if not (fd / "routes.gpkg").is_file():
            raise DataLoadError(f"--fiber {fd}: no routes.gpkg (`deadzone fiber`)")
        routes = _read_geo(fd / "routes.gpkg", layer="routes")
        parts = []
        for name in ("spans.geojson", "nodes.geojson"):
            if (fd / "ofds" / name).is_file():
                g = _read_geo(fd / "ofds" / name)
                if "status" in g.columns:
                    parts.append(g.loc[g["status"] == "operational", ["geometry"]])
        if parts:
            existing = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)

    settlements = None
    if (folder / "unlisted_settlements.gpkg").is_file():
        settlements = _read_geo(folder / "unlisted_settlements.gpkg",
                                layer="unlisted_settlements")
    step(2, 3)
    thr = _thresholds(summary)
    layers = metric_layers(signal, rx, thr)
    name = str(summary.get("scenario") or folder.name)
    outlines = ()
    if communes is not None:
        outlines = tuple(
            c for c in ADMIN_LEVELS if c in communes.columns and communes[c].notna().any()
        )
    m = coverage_map(
        **layers,
        transform=transform,
        crs=crs,
        villages=villages,
        towers=towers,
        communes=communes,
        title=title or f"Coverage audit: {name}",
        summary_lines=map_summary_lines(summary),
        status_labels=status_labels(thr, techs),
        max_raster_px=max_raster_px,
        basemap=basemap,
        coverage_classes=layers["coverage_class"] is not None,
        open_on_classes=layers["coverage_class"] is not None,
        best_server=best,
        server_ids=server_ids,
        proposed_sites=sites,
        fiber_routes=routes,
        fiber_existing=existing,
        cluster_villages=cluster_villages,
        commune_choropleth=communes is not None,
        admin_outlines=outlines,
        unlisted_settlements=settlements,
    )
    step(3, 3)
    return m


def _signal_rasters(
    folder: Path,
    techs: list[str],
    shape: tuple[int, ...],
    server_techs: set[str],
    rx: np.ndarray,
    max_px: int,
) -> dict[str, np.ndarray]:
    """Per-technology metric rasters of an audit folder (``signal_<tech>_dbm.tif``).

    An older folder without them: when every tower is of one 2G/3G
    technology, ``coverage.tif`` is that metric (no offset); otherwise the
    class layer cannot be drawn consistently and a warning says so.
    """
    from deadzone.geo.export import signal_raster_name

    out: dict[str, np.ndarray] = {}
    for tech in techs:
        path = folder / signal_raster_name(tech)
        if not path.is_file():
            break
        arr, _, _ = _raster(path, max_px=max_px, categorical=False)
        if arr.shape != shape:
            warnings.warn(f"{path} does not match coverage.tif; not used", DeadzoneWarning,
                          stacklevel=3)
            break
        out[tech] = arr
    else:
        if out:
            return out
    if not techs:
        return {}
    if len(techs) == 1 and server_techs <= {techs[0]} and techs[0] in ("2G", "3G"):
        return {techs[0]: rx}
    warnings.warn(
        f"{folder} has no per-technology signal rasters (signal_<tech>_dbm.tif, written by "
        "newer `deadzone audit` runs); the coverage-class layer is left out because "
        "coverage.tif holds total power, not the RSRP the 4G/5G thresholds apply to. "
        "Re-run `deadzone audit` to get it",
        DeadzoneWarning,
        stacklevel=3,
    )
    return {}
