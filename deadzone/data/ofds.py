"""Fiber networks in the Open Fibre Data Standard (OFDS) and simple point/line files.

OFDS (https://standard.ofds.info, version 0.3+) publishes a network as
``nodes`` (points) and ``spans`` (lines between two nodes).  Its GeoJSON
publication format is two FeatureCollections whose properties nest the
network (``network: {id, name, links}``) and, for spans, the start and end
nodes (``start: {id, name, location}``); its JSON format is
``{"networks": [{"id", "name", "nodes": [...], "spans": [...]}]}``.

:func:`read_backbone` reads either OFDS form, or any vector file of points
(nodes) and/or lines (spans).  :func:`write_ofds` writes nodes, spans and
phases back as OFDS GeoJSON (``nodes.geojson``, ``spans.geojson``) and OFDS
JSON (``network.json``), so a plan can be loaded by OFDS tools; a read of
what was written gives the same ids, names, phases, statuses and geometries.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import mapping, shape

from deadzone.data.io import write_json
from deadzone.data.postgis import is_pg_url, read_frame, shown_source
from deadzone.errors import DataLoadError, OutputExistsError, SchemaError

__all__ = ["read_backbone", "write_ofds", "OFDS_FILES", "OFDS_SCHEMA_URL"]

PathLike = str | os.PathLike[str]

OFDS_FILES: tuple[str, ...] = ("nodes.geojson", "spans.geojson", "network.json")
OFDS_SCHEMA_URL = "https://standard.ofds.info/en/0__3__0/network-schema.json"

_NODE_COLS = ["node_id", "name", "status", "phase", "network_id", "network_name"]
_SPAN_COLS = [
    "span_id",
    "name",
    "start_node_id",
    "end_node_id",
    "status",
    "phase",
    "network_id",
    "network_name",
]


def _empty(cols: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in cols}, geometry=[], crs=4326)


def _phase_name(p: Any) -> Any:
    if isinstance(p, dict):
        return p.get("name") or p.get("id")
    return p


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise DataLoadError(f"{path}: not readable JSON ({' '.join(str(exc).split())})") from None


def _features_to_gdf(features: list[dict], kind: str, path: Path) -> gpd.GeoDataFrame:
    rows, geoms = [], []
    for k, f in enumerate(features):
        props = f.get("properties") or {}
        g = f.get("geometry") or props.get("location") or props.get("route")
        if g is None:
            raise SchemaError(
                f"{path}: {kind} feature {k} (id {props.get('id')!r}) has no geometry"
            )
        net = props.get("network") or {}
        row = {
            f"{kind}_id": str(props.get("id", f"{kind}-{k}")),
            "name": props.get("name"),
            "status": props.get("status"),
            "phase": _phase_name(props.get("phase")),
            "network_id": net.get("id") if isinstance(net, dict) else None,
            "network_name": net.get("name") if isinstance(net, dict) else None,
        }
        if kind == "span":
            for end in ("start", "end"):
                e = props.get(end)
                row[f"{end}_node_id"] = (
                    str(e.get("id")) if isinstance(e, dict) else (str(e) if e is not None else None)
                )
        for key, val in props.items():
            if key not in (
                "id",
                "name",
                "status",
                "phase",
                "network",
                "start",
                "end",
                "featureType",
                "location",
                "route",
            ) and not isinstance(val, dict | list):
                row.setdefault(key, val)
        rows.append(row)
        geoms.append(shape(g))
    if not rows:
        return _empty(_NODE_COLS if kind == "node" else _SPAN_COLS)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=4326)


def _read_ofds_json(data: dict, path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    nodes, spans = [], []
    for net in data.get("networks") or []:
        meta = {"id": net.get("id"), "name": net.get("name")}
        for n in net.get("nodes") or []:
            nodes.append({"geometry": n.get("location"), "properties": {**n, "network": meta}})
        for s in net.get("spans") or []:
            spans.append({"geometry": s.get("route"), "properties": {**s, "network": meta}})
    return _features_to_gdf(nodes, "node", path), _features_to_gdf(spans, "span", path)


def read_backbone(
    path: PathLike, spans_path: PathLike | None = None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Read an existing fiber network: OFDS GeoJSON/JSON or a plain point/line file.

    Parameters
    ----------
    path : str or os.PathLike
        A ``postgresql://`` table or query of points and/or lines
        (:mod:`deadzone.data.postgis`), or one of: an OFDS nodes GeoJSON
        (its spans file is found beside it by replacing ``nodes`` with
        ``spans`` in the name, or given as
        ``spans_path``); an OFDS spans GeoJSON (nodes found likewise); an OFDS
        JSON package (``{"networks": [...]}``); any vector file GDAL reads
        holding points (nodes) and/or lines (spans).
    spans_path : str or os.PathLike, optional
        The spans file when it cannot be found from ``path``.

    Returns
    -------
    nodes : GeoDataFrame
        EPSG:4326 points: ``node_id, name, status, phase, network_id,
        network_name`` (+ other scalar properties).
    spans : GeoDataFrame
        EPSG:4326 lines: ``span_id, name, start_node_id, end_node_id, status,
        phase, network_id, network_name`` (possibly empty).

    Raises
    ------
    DataLoadError
        Missing or unreadable file, or no node and no span in it.
    SchemaError
        A feature without geometry.

    Examples
    --------
    >>> nodes, spans = read_backbone("RWA_ofds-nodes_16apr2024.geojson")  # doctest: +SKIP
    """
    if is_pg_url(path):  # a table or query of points and/or lines
        nodes, spans = _split_plain(read_frame(str(path)).to_crs(4326))
        if len(nodes) == 0 and len(spans) == 0:
            raise DataLoadError(f"{shown_source(path)}: holds no fiber node (point) and no "
                                "span (line)")
        return nodes, spans
    p = Path(os.fspath(path))
    if not p.exists():
        raise DataLoadError(f"{p}: backbone file not found")
    data = _read_json(p) if p.suffix.lower() in (".geojson", ".json") else None
    if isinstance(data, dict) and "networks" in data:
        nodes, spans = _read_ofds_json(data, p)
    elif isinstance(data, dict) and _is_ofds_geojson(data):
        kind = _ofds_kind(data)
        other_path = Path(os.fspath(spans_path)) if spans_path is not None else _sibling(p, kind)
        other = _read_json(other_path) if other_path is not None and other_path.exists() else None
        feats = {kind: data.get("features", [])}
        if other is not None:
            feats[_ofds_kind(other)] = other.get("features", [])
        nodes = _features_to_gdf(feats.get("node", []), "node", p)
        spans = _features_to_gdf(feats.get("span", []), "span", other_path or p)
    else:
        nodes, spans = _read_plain(p)
        if spans_path is not None:
            _, spans = _read_plain(Path(os.fspath(spans_path)))
    if len(nodes) == 0 and len(spans) == 0:
        raise DataLoadError(f"{p}: holds no fiber node (point) and no span (line)")
    return nodes, spans


def _is_ofds_geojson(data: dict) -> bool:
    feats = data.get("features") or []
    return bool(feats) and "featureType" in (feats[0].get("properties") or {})


def _ofds_kind(data: dict) -> str:
    feats = data.get("features") or []
    ft = (feats[0].get("properties") or {}).get("featureType") if feats else None
    return "span" if ft == "span" else "node"


def _sibling(p: Path, kind: str) -> Path | None:
    a, b = ("nodes", "spans") if kind == "node" else ("spans", "nodes")
    if a in p.name:
        return p.with_name(p.name.replace(a, b))
    return None


def _points_csv(p: Path) -> gpd.GeoDataFrame:
    """A CSV of points with longitude/latitude columns (a towers file, a list
    of fiber nodes), read as the towers loader reads it: the same column
    detection and checks; ``tower_id`` (or a generated id) becomes the id."""
    from deadzone.data.loaders import load_towers

    with warnings.catch_warnings():
        # radio parameters do not matter for a network node
        warnings.filterwarnings("ignore", message=".*radio parameters.*")
        t = load_towers(p)
    return gpd.GeoDataFrame({"node_id": t["tower_id"].astype(str).to_numpy(),
                             "name": t["tower_id"].astype(str).to_numpy()},
                            geometry=t.geometry.to_numpy(), crs=t.crs)


def _read_plain(p: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    if p.suffix.lower() in (".csv", ".txt"):
        gdf = _points_csv(p)
        return _split_plain(gdf.to_crs(4326))
    try:
        gdf = pyogrio.read_dataframe(p)
    except Exception as exc:
        raise DataLoadError(f"{p}: cannot read ({' '.join(str(exc).split())})") from None
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.crs is None:
        raise DataLoadError(f"{p}: no geometry or no CRS")
    return _split_plain(gdf.to_crs(4326))


def _split_plain(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Points of a plain file as nodes, lines as spans (EPSG:4326 in)."""
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    tid = np.full(len(gdf), -1)
    tid[ok] = shapely.get_type_id(geoms[ok])
    id_col = next((c for c in ("node_id", "id", "span_id", "name") if c in gdf.columns), None)
    ids = gdf[id_col].astype(str) if id_col else pd.Series([f"F{i}" for i in range(len(gdf))])
    name = gdf["name"] if "name" in gdf.columns else pd.Series([None] * len(gdf))
    pts = np.isin(tid, (0, 4))
    lines = np.isin(tid, (1, 5))
    nodes = gpd.GeoDataFrame(
        {
            "node_id": ids[pts].to_numpy(),
            "name": name[pts].to_numpy(),
            "status": None,
            "phase": None,
        },
        geometry=geoms[pts],
        crs=4326,
    )
    if pts.any():
        nodes = nodes.explode(index_parts=False).reset_index(drop=True)
    spans = gpd.GeoDataFrame(
        {
            "span_id": ids[lines].to_numpy(),
            "name": name[lines].to_numpy(),
            "start_node_id": None,
            "end_node_id": None,
            "status": None,
            "phase": None,
        },
        geometry=geoms[lines],
        crs=4326,
    )
    return nodes, spans


def _uuid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "deadzone:" + seed))


def write_ofds(
    nodes: gpd.GeoDataFrame,
    spans: gpd.GeoDataFrame,
    out_dir: PathLike,
    *,
    network_name: str = "deadzone fiber plan",
    network_id: str | None = None,
    phases: Sequence[str] = (),
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write a network as OFDS GeoJSON (nodes + spans) and OFDS JSON.

    Parameters
    ----------
    nodes : GeoDataFrame
        Points with ``node_id`` and optionally ``name, status, phase``.
    spans : GeoDataFrame
        Lines with ``span_id, start_node_id, end_node_id`` and optionally
        ``name, status, phase`` and numeric extras (e.g. ``length_m``, ``cost``),
        written as extra properties.
    out_dir : str or os.PathLike
        Folder (created if missing).
    network_name, network_id : str
        Network metadata (the id defaults to a UUID derived from the name).
    phases : sequence of str
        Phase names in order; written as the network's ``phases`` with ids
        ``"1"``, ``"2"``...; a node/span ``phase`` must be one of them.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    dict of str to Path
        ``nodes.geojson``, ``spans.geojson``, ``network.json``.
    """
    out = Path(os.fspath(out_dir))
    if not overwrite:
        for name in OFDS_FILES:
            if (out / name).exists():
                raise OutputExistsError(f"{out / name} exists; pass overwrite=True to replace it")
    for col in ("node_id",):
        if col not in nodes.columns:
            raise SchemaError(f"nodes: missing column {col!r}")
    for col in ("span_id", "start_node_id", "end_node_id"):
        if col not in spans.columns:
            raise SchemaError(f"spans: missing column {col!r}")
    nodes = nodes.to_crs(4326) if nodes.crs is not None and nodes.crs.to_epsg() != 4326 else nodes
    spans = spans.to_crs(4326) if spans.crs is not None and spans.crs.to_epsg() != 4326 else spans
    net_id = network_id or _uuid(network_name)
    net = {
        "id": net_id,
        "name": network_name,
        "links": [{"rel": "describedby", "href": OFDS_SCHEMA_URL}],
    }
    phase_ids = {name: str(i + 1) for i, name in enumerate(phases)}
    phase_list = [{"id": phase_ids[p], "name": p} for p in phases]

    def phase_obj(p: Any) -> dict | None:
        if p is None or (isinstance(p, float) and np.isnan(p)):
            return None
        p = str(p)
        if p not in phase_ids:
            raise SchemaError(f"phase {p!r} is not one of the phases {list(phases)}")
        return {"id": phase_ids[p], "name": p}

    node_objs: dict[str, dict] = {}
    node_feats = []
    for row, geom in zip(nodes.to_dict("records"), nodes.geometry, strict=True):
        obj = {
            "id": str(row["node_id"]),
            "name": _clean(row.get("name")),
            "location": mapping(geom),
        }
        for key in ("status",):
            if _clean(row.get(key)) is not None:
                obj[key] = row[key]
        ph = phase_obj(_clean(row.get("phase")))
        if ph:
            obj["phase"] = ph
        node_objs[obj["id"]] = obj
        props = {k: v for k, v in obj.items() if k != "location"}
        node_feats.append(
            {
                "type": "Feature",
                "geometry": obj["location"],
                "properties": {**props, "network": net, "featureType": "node"},
            }
        )
    span_json, span_feats = [], []
    extra_cols = [c for c in spans.columns if c not in (*_SPAN_COLS, spans.geometry.name)]
    for row, geom in zip(spans.to_dict("records"), spans.geometry, strict=True):
        s_id, e_id = str(row["start_node_id"]), str(row["end_node_id"])
        for end in (s_id, e_id):
            if end not in node_objs:
                raise SchemaError(f"span {row['span_id']!r}: node {end!r} is not in nodes")
        obj = {
            "id": str(row["span_id"]),
            "name": _clean(row.get("name")),
            "start": s_id,
            "end": e_id,
            "directed": False,
            "route": mapping(geom),
        }
        if _clean(row.get("status")) is not None:
            obj["status"] = row["status"]
        ph = phase_obj(_clean(row.get("phase")))
        if ph:
            obj["phase"] = ph
        for c in extra_cols:
            v = _clean(row.get(c))
            if v is not None:
                obj[c] = v.item() if isinstance(v, np.generic) else v
        span_json.append(obj)
        props = {k: v for k, v in obj.items() if k not in ("route", "start", "end")}
        props["start"] = {k: v for k, v in node_objs[s_id].items()}
        props["end"] = {k: v for k, v in node_objs[e_id].items()}
        span_feats.append(
            {
                "type": "Feature",
                "geometry": obj["route"],
                "properties": {**props, "network": net, "featureType": "span"},
            }
        )
    package = {
        "networks": [
            {**net, "phases": phase_list, "nodes": list(node_objs.values()), "spans": span_json}
        ]
    }
    written = {}
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in (
        ("nodes.geojson", {"type": "FeatureCollection", "features": node_feats}),
        ("spans.geojson", {"type": "FeatureCollection", "features": span_feats}),
        ("network.json", package),
    ):
        written[name] = write_json(out / name, obj, indent=None)
    return written


def _clean(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NA:
        return None
    return v
