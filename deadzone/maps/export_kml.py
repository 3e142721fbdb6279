"""Exports for desktop tools: KML/KMZ villages (Google Earth) and a QGIS raster style.

KML 2.2 (OGC 07-147r2) is written with :mod:`xml.etree.ElementTree`: one
shared ``Style`` per village status and one ``Placemark`` per village (every
input village, including those without a location, which get a placemark
without geometry so nothing is silently dropped).  A ``.kmz`` is a zip whose
first entry is ``doc.kml``.

The QGIS style (``.qml``) colours the ``coverage.tif`` received-power raster
(dBm) with a discrete ``singlebandpseudocolor`` ramp whose class breaks are the
marginal and covered thresholds: dead / marginal / covered.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd

from deadzone.data.io import atomic_path
from deadzone.errors import OutputExistsError, ParameterError, SchemaError
from deadzone.maps.signal import status_signal
from deadzone.model.thresholds import STATUS_COLORS, Thresholds, dbm_text

__all__ = ["villages_from_table", "write_kml", "write_qml"]

KML_NS = "http://www.opengis.net/kml/2.2"


def _kml_colour(rgb_hex: str) -> str:
    """``#rrggbb`` -> KML's opaque ``aabbggrr``."""
    r, g, b = rgb_hex[1:3], rgb_hex[3:5], rgb_hex[5:7]
    return f"ff{b}{g}{r}".lower()


#: The status colours of every output (:data:`STATUS_COLORS`), as KML writes them.
_KML_COLOURS = {k: _kml_colour(v) for k, v in STATUS_COLORS.items()}


def _refuse(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass --overwrite (overwrite=True)")


def villages_from_table(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Audit ``villages.csv`` (``lon``/``lat`` columns) as a point GeoDataFrame in EPSG:4326.

    Rows without coordinates keep an empty (None) geometry.
    """
    for col in ("lon", "lat"):
        if col not in table.columns:
            raise SchemaError(f"villages table lacks column {col!r}")
    lon = pd.to_numeric(table["lon"], errors="coerce")
    lat = pd.to_numeric(table["lat"], errors="coerce")
    ok = lon.notna() & lat.notna()
    geom = gpd.GeoSeries(gpd.points_from_xy(lon.fillna(0), lat.fillna(0)), crs=4326)
    geom[~ok.to_numpy()] = None
    return gpd.GeoDataFrame(table.copy(), geometry=geom.to_numpy(), crs=4326)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _fmt_dbm(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if not math.isfinite(v) else f"{v:.1f} dBm"


def _kml_document(villages: gpd.GeoDataFrame, name: str) -> ET.ElementTree:
    ET.register_namespace("", KML_NS)
    q = f"{{{KML_NS}}}"
    root = ET.Element(f"{q}kml")
    doc = ET.SubElement(root, f"{q}Document")
    ET.SubElement(doc, f"{q}name").text = name
    for st, colour in _KML_COLOURS.items():
        style = ET.SubElement(doc, f"{q}Style", id=f"status-{st}")
        icon = ET.SubElement(style, f"{q}IconStyle")
        ET.SubElement(icon, f"{q}color").text = colour
        ET.SubElement(icon, f"{q}scale").text = "0.9"
    geoms = villages.geometry
    if villages.crs is not None and not villages.crs.equals("EPSG:4326"):
        geoms = geoms.to_crs(4326)
    cols = villages.columns
    sig_labels, sig_values = status_signal(villages)
    folders: dict[str, ET.Element] = {}
    for i in range(len(villages)):
        row = villages.iloc[i]
        st = _text(row["status"]) if "status" in cols else "unknown"
        st = st if st in _KML_COLOURS else "unknown"
        if st not in folders:
            folders[st] = ET.SubElement(doc, f"{q}Folder")
            ET.SubElement(folders[st], f"{q}name").text = f"{st} villages"
        pm = ET.SubElement(folders[st], f"{q}Placemark")
        if "village_id" in cols:
            pm.set("id", f"v-{_text(row['village_id'])}")
        label = _text(row["name"]) if "name" in cols else ""
        ET.SubElement(pm, f"{q}name").text = label or _text(row.get("village_id", i))
        reason = _text(row["reason"]) if "reason" in cols else ""
        parts = [
            f"status: {st}",
            f"commune: {_text(row['commune_id']) if 'commune_id' in cols else ''}",
            f"population: {_text(row['population']) if 'population' in cols else ''}",
            f"signal: {sig_labels[i]} {_fmt_dbm(sig_values[i])}",
            f"reason: {reason or '-'}",
        ]
        if "serving_tower_id" in cols and _text(row["serving_tower_id"]):
            parts.append(f"serving tower: {_text(row['serving_tower_id'])}")
        ET.SubElement(pm, f"{q}description").text = "\n".join(parts)
        ET.SubElement(pm, f"{q}styleUrl").text = f"#status-{st}"
        ext = ET.SubElement(pm, f"{q}ExtendedData")
        for key in ("village_id", "commune_id", "population", "status", "reason"):
            if key in cols:
                data = ET.SubElement(ext, f"{q}Data", name=key)
                ET.SubElement(data, f"{q}value").text = _text(row[key])
        for key, val in (("signal", sig_labels[i]), ("signal_dbm", _text(
                round(float(sig_values[i]), 1) if np.isfinite(sig_values[i]) else None))):
            data = ET.SubElement(ext, f"{q}Data", name=key)
            ET.SubElement(data, f"{q}value").text = val
        g = geoms.iloc[i]
        if g is not None and not g.is_empty:
            p = g.representative_point()
            if np.isfinite(p.x) and np.isfinite(p.y):
                pt = ET.SubElement(pm, f"{q}Point")
                ET.SubElement(pt, f"{q}coordinates").text = f"{p.x:.7f},{p.y:.7f}"
    ET.indent(root, space=" ")
    return ET.ElementTree(root)


def write_kml(
    villages_gdf: gpd.GeoDataFrame | pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    name: str = "deadzone villages",
    overwrite: bool = False,
) -> Path:
    """Write villages as KML (``.kml``) or zipped KML (``.kmz``, entry ``doc.kml``).

    Parameters
    ----------
    villages_gdf : GeoDataFrame or DataFrame
        Audited villages (any CRS; reprojected to EPSG:4326), or the
        ``villages.csv`` table with ``lon``/``lat``.  Uses ``name``,
        ``village_id``, ``commune_id``, ``population``, ``status``, ``reason``,
        the signal the status came from (``status_tech``, ``signal_<tech>_dbm``;
        else ``best_rx_dbm``, :func:`deadzone.maps.signal.status_signal`) and
        ``serving_tower_id`` when present.
    path : path
        Output; ``.kmz`` writes a zip, anything else plain KML.
    name : str
        Document name shown in Google Earth.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    out = Path(path)
    _refuse(out, overwrite)
    gdf = (
        villages_gdf
        if isinstance(villages_gdf, gpd.GeoDataFrame)
        else villages_from_table(villages_gdf)
    )
    tree = _kml_document(gdf, name)
    body = ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".kmz":
            # A fixed entry date (the zip epoch) keeps the same inputs byte-identical.
            entry = zipfile.ZipInfo("doc.kml", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with zipfile.ZipFile(tmp, "w") as zf:
                zf.writestr(entry, body)
        else:
            tmp.write_bytes(body)
    return out


def _threshold_pair(thresholds: Thresholds | Mapping[str, Any], tech: str) -> tuple[float, float]:
    if isinstance(thresholds, Thresholds):
        return thresholds.covered(tech), thresholds.marginal(tech)
    try:
        given = tech in thresholds["covered_dbm"] and tech in thresholds["marginal_dbm"]
        thr = Thresholds.from_dict(thresholds)
    except (KeyError, TypeError, ValueError) as exc:
        given, err = False, f" ({exc})"
    else:
        err = ""
    if not given:
        raise ParameterError(f"thresholds lack covered_dbm/marginal_dbm for {tech!r}{err}")
    return thr.covered(tech), thr.marginal(tech)


def write_qml(
    path: str | os.PathLike[str],
    thresholds: Thresholds | Mapping[str, Any] | None = None,
    *,
    tech: str = "2G",
    floor_dbm: float = -140.0,
    ceiling_dbm: float = -30.0,
    overwrite: bool = False,
) -> Path:
    """Write a QGIS layer style for an audit's ``signal_<tech>_dbm.tif`` metric raster (dBm).

    The classes are the audit's status rule for ``tech``: its thresholds
    apply to the technology's service metric (received level for 2G/3G,
    RSRP for 4G/5G), which is what ``signal_<tech>_dbm.tif`` holds.  Do not
    load a 4G/5G style on ``coverage.tif``: that raster is total received
    power, above RSRP by a per-tower, bandwidth-dependent offset (~28 dB at
    10 MHz), so its "covered" class would be far too large.  For 2G/3G-only
    audits ``coverage.tif`` equals the metric.

    Parameters
    ----------
    path : path
        ``.qml`` to write (load it in QGIS: Layer Properties > Style > Load Style).
    thresholds : Thresholds or mapping, optional
        A :class:`Thresholds`, or the ``parameters.thresholds`` dict of
        ``summary.json``; default :class:`Thresholds`().
    tech : str
        Which technology's thresholds give the class breaks (and whose metric
        the labels name).
    floor_dbm, ceiling_dbm : float
        Lowest / highest value of the ramp (dBm).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    from deadzone.model.thresholds import metric_name

    cov, mar = _threshold_pair(thresholds if thresholds is not None else Thresholds(), tech)
    metric = f"{tech} {metric_name(tech)}"
    if not floor_dbm < mar <= cov < ceiling_dbm:
        raise ParameterError(
            f"QML breaks must satisfy floor < marginal <= covered < ceiling; got "
            f"{floor_dbm}, {mar}, {cov}, {ceiling_dbm} dBm"
        )
    out = Path(path)
    _refuse(out, overwrite)
    root = ET.Element("qgis", version="3.28.0", styleCategories="AllStyleCategories")
    pipe = ET.SubElement(root, "pipe")
    rend = ET.SubElement(
        pipe,
        "rasterrenderer",
        type="singlebandpseudocolor",
        band="1",
        opacity="0.75",
        alphaBand="-1",
        classificationMin=f"{floor_dbm:g}",
        classificationMax=f"{ceiling_dbm:g}",
        nodataColor="",
    )
    ET.SubElement(rend, "rasterTransparency")
    shader = ET.SubElement(
        ET.SubElement(rend, "rastershader"),
        "colorrampshader",
        colorRampType="DISCRETE",
        classificationMode="3",
        clip="0",
        minimumValue=f"{floor_dbm:g}",
        maximumValue=f"{ceiling_dbm:g}",
    )
    # DISCRETE: each item colours values <= its value (above the previous one).
    items = [
        (mar, STATUS_COLORS["dead"], f"dead ({metric} < {dbm_text(mar)} dBm)"),
        (cov, STATUS_COLORS["marginal"],
         f"marginal ({metric} {dbm_text(mar)} to {dbm_text(cov)} dBm)"),
        (math.inf, STATUS_COLORS["covered"], f"covered ({metric} >= {dbm_text(cov)} dBm)"),
    ]
    for value, colour, label in items:
        ET.SubElement(
            shader,
            "item",
            alpha="255",
            color=colour,
            label=label,
            value="inf" if math.isinf(value) else f"{value:g}",
        )
    ET.SubElement(pipe, "brightnesscontrast", brightness="0", contrast="0")
    ET.SubElement(root, "blendMode").text = "0"
    ET.indent(root, space=" ")
    body = b"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="utf-8"
    )
    with atomic_path(out) as tmp:
        tmp.write_bytes(body)
    return out
