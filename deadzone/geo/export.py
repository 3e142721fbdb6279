"""Write an audit to a folder: the files the CLI contract promises.

``villages.gpkg`` (layer ``villages``), ``villages.parquet`` (GeoParquet), ``villages.csv``,
``communes.csv``, ``communes.gpkg`` (layer ``communes``: the commune table with
each commune's polygon), ``provinces.csv``, ``summary.json``, ``coverage.tif`` (best received power,
dBm, float32), ``best_server.tif`` (tower index, int32, -1 none) and
``servers.csv`` (index -> tower id), and per technology of the towers
``signal_<tech>_dbm.tif`` (float32 dBm: the metric the thresholds apply to,
received level for 2G/3G, RSRP for 4G/5G; the rasters the audit samples for
``signal_<tech>_dbm`` and ``status_<tech>``); the rasters are Cloud-Optimized
GeoTIFFs.  Every file is written to a temporary
name and renamed, so a reader never sees half a file.

When the data has a district level (see :func:`deadzone.geo.audit.rollup`),
also ``districts.csv`` (one row per province and district) and a ``districts``
layer in ``communes.gpkg`` (the same table with each district's polygon, the
dissolve of its communes' polygons), and ``communes.*`` / ``villages.*`` carry
a ``district`` column.  Without a district level (e.g. Vietnam's 2025
communes) there is no ``districts.csv`` and no ``districts`` layer: an empty
file would read as "zero districts" rather than "this country has no
districts", and the tables from the levels that exist already add up to the
total.  With ``overwrite``, a ``districts.csv`` left in the folder by an
earlier audit that had districts is removed, so every file in the folder
comes from the same run.

When the scenario has a population raster, also ``unlisted_settlements.gpkg``
(layer ``unlisted_settlements``: each settlement's cells dissolved) and
``unlisted_settlements.csv`` (the same table with the people-weighted centroid
as ``lon``/``lat``; see :mod:`deadzone.geo.settlements`).  Without a raster
neither is written (and with ``overwrite`` an earlier run's are removed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from deadzone.data.io import (
    atomic_path,
    verify_folder,
    write_gpkg,
    write_raster,
    write_summary_last,
)
from deadzone.errors import OutputExistsError
from deadzone.geo.audit import AuditResult
from deadzone.geo.coverage import CoverageResult
from deadzone.model.geometry import representative_points
from deadzone.model.schema import TECHS

__all__ = [
    "AUDIT_FILES",
    "DISTRICT_FILES",
    "SETTLEMENT_FILES",
    "SIGNAL_FILES",
    "RASTER_FILES",
    "TABLE_FILES",
    "verify_audit_folder",
    "check_output_dir",
    "signal_raster_name",
    "write_audit",
]

#: The tables every audit writes, with or without rasters.
TABLE_FILES: tuple[str, ...] = (
    "villages.gpkg",
    "villages.csv",
    "villages.parquet",
    "communes.csv",
    "communes.gpkg",
    "provinces.csv",
    "summary.json",
    "servers.csv",
)
#: The area rasters an audit writes unless run without them (``rasters=False``).
RASTER_FILES: tuple[str, ...] = ("coverage.tif", "best_server.tif")
#: Every fixed file name of an audit folder (checked before writing one).
AUDIT_FILES: tuple[str, ...] = (*TABLE_FILES[:-1], *RASTER_FILES, TABLE_FILES[-1])

#: Files written only when the audit has a district level (not in
#: :data:`AUDIT_FILES`, which every audit folder has); check them too before
#: writing so an earlier run's ``districts.csv`` is never replaced silently.
DISTRICT_FILES: tuple[str, ...] = ("districts.csv",)

#: Files written only when the scenario has a population raster (the
#: unlisted settlements); checked before writing like :data:`DISTRICT_FILES`.
SETTLEMENT_FILES: tuple[str, ...] = ("unlisted_settlements.gpkg", "unlisted_settlements.csv")


def signal_raster_name(key: str) -> str:
    """File name of a service-metric raster: ``signal_<key>_dbm.tif``.

    ``key`` is a technology (``"4G"``: an audit's per-technology raster) or a
    technology and band (``"4G-1800"``: ``deadzone coverage --per-band``).
    """
    return f"signal_{key}_dbm.tif"


#: Per-technology metric rasters; an audit writes those of the technologies
#: its towers have (so not in :data:`AUDIT_FILES`), and with ``overwrite``
#: removes the others an earlier run left.
SIGNAL_FILES: tuple[str, ...] = tuple(signal_raster_name(t) for t in TECHS)


def check_output_dir(out_dir: str | Path, names: tuple[str, ...], *, overwrite: bool) -> Path:
    """Create ``out_dir``; refuse to replace any of ``names`` unless asked.

    Temporaries of ``names`` left by a run that was killed while writing are
    deleted (the final files themselves are always complete: every writer
    renames a finished temporary onto them).

    Raises
    ------
    OutputExistsError
        If one of the files exists and ``overwrite`` is false.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        clash = [n for n in names if (out / n).exists()]
        if clash:
            raise OutputExistsError(
                f"{out / clash[0]} already exists ({len(clash)} output file(s) would be "
                "replaced); pass --overwrite or choose another --out folder"
            )
    _sweep_temporaries(out, names)
    return out


def _sweep_temporaries(out: Path, names: tuple[str, ...]) -> None:
    """Delete temporaries of ``names`` that a killed run left in ``out``.

    Only the exact patterns deadzone's writers use are removed:
    :func:`deadzone.data.io.atomic_path` (``.<stem>.<8 hex>.tmp<suffix>`` and
    GDAL side files) and :func:`deadzone.maps.folium_map.save_map`
    (``.<name>.<random>.tmp``).
    """
    patterns = []
    for name in names:
        stem, suffix = re.escape(Path(name).stem), re.escape(Path(name).suffix)
        patterns.append(
            rf"\.{stem}\.[0-9a-f]{{8}}\.tmp{suffix}(-journal|-wal|-shm|\.aux\.xml|\.ovr|\.ovr\.tmp)?")
        patterns.append(rf"\.{re.escape(name)}\.[A-Za-z0-9_]+\.tmp")
    pattern = re.compile("|".join(f"(?:{p})" for p in patterns))
    for entry in out.iterdir():
        if entry.name.startswith(".") and pattern.fullmatch(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)


#: Encoding of the CSV tables: UTF-8 with a byte-order mark, so that Excel opens
#: Vietnamese names correctly on a double click (``plain_csv`` drops it).
CSV_ENCODING = "utf-8-sig"


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(df.drop(columns="geometry", errors="ignore"))
    return out


def excel_rounding(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with the CSV precision a planner reads: levels in dB to 0.1,
    distances in metres to 1 m, heights to 0.1 m (float32 noise like
    -143.95718383789062 otherwise; the GeoPackage and Parquet keep full
    precision)."""
    out = df.copy()
    for c in out.columns:
        if not pd.api.types.is_float_dtype(out[c]):
            continue
        if c.endswith(("_dbm", "_db")):
            out[c] = out[c].round(1)
        elif c.endswith("height_m"):
            out[c] = out[c].round(1)
        elif c.endswith("_m"):
            out[c] = out[c].round(0)
    return out


def _with_commune_names(table: pd.DataFrame, communes: pd.DataFrame) -> pd.DataFrame:
    """``commune_name`` and ``province`` beside ``commune_id`` (from the roll-up)."""
    if "commune_id" not in table.columns or "commune_id" not in communes.columns:
        return table
    ref = communes.drop_duplicates("commune_id").set_index("commune_id")
    at = table.columns.get_loc("commune_id") + 1
    ids = table["commune_id"]
    for col, src in (("commune_name", "name"), ("province", "province")):
        if src in ref.columns and col not in table.columns:
            table.insert(at, col, ids.map(ref[src]))
            at += 1
    return table


def write_audit(
    result: AuditResult, out_dir: str | Path, *, overwrite: bool = False,
    plain_csv: bool = False, also: Sequence[Callable[[Path], Path]] = (),
) -> dict[str, Path]:
    """Write every audit output to ``out_dir``.

    Parameters
    ----------
    result : AuditResult
        What :func:`deadzone.audit` returned.
    out_dir : path
        Folder (created if missing).
    overwrite : bool
        Replace existing outputs.
    plain_csv : bool
        CSV tables in plain UTF-8 at full precision; by default they carry a
        UTF-8 byte-order mark (Excel reads Vietnamese names right) and are
        rounded for reading (:func:`excel_rounding`).
    also : sequence of callables
        More writers of the folder (e.g. the map): each is called with the
        folder after the tables and rasters, returns the path it wrote, and
        is listed in ``summary.json`` with the rest.

    Returns
    -------
    dict
        File name -> path written (``districts.csv`` only with districts,
        ``signal_<tech>_dbm.tif`` per technology of the towers).
    """
    out = check_output_dir(
        out_dir, (*AUDIT_FILES, *DISTRICT_FILES, *SETTLEMENT_FILES, *SIGNAL_FILES),
        overwrite=overwrite,
    )
    paths: dict[str, Path] = {}
    v = result.villages.copy()
    for col in ("reason", "serving_tower_id", "nearest_tower_id"):
        v[col] = v[col].astype("string")
    with atomic_path(out / "villages.gpkg") as tmp:
        write_gpkg(v, tmp, layer="villages")
    paths["villages.gpkg"] = out / "villages.gpkg"
    # GeoParquet (columnar, keeps dtypes and geometry); pyarrow is a core dependency so the
    # file set is fixed (batch resume checks every name in AUDIT_FILES).
    with atomic_path(out / "villages.parquet") as tmp:
        v.to_parquet(tmp, index=False)
    paths["villages.parquet"] = out / "villages.parquet"
    with atomic_path(out / "communes.gpkg") as tmp:
        write_gpkg(result.communes_with_geometry(), tmp, layer="communes")
        districts = result.districts_with_geometry()
        if districts is not None:
            write_gpkg(districts, tmp, layer="districts")
    paths["communes.gpkg"] = out / "communes.gpkg"

    table = _csv_frame(v)
    pts = representative_points(v.geometry)
    table.insert(1, "lon", pts.x.round(7))
    table.insert(2, "lat", pts.y.round(7))
    table = _with_commune_names(table, result.communes)
    enc = "utf-8" if plain_csv else CSV_ENCODING
    for name, frame in (
        ("villages.csv", table),
        ("communes.csv", result.communes),
        ("provinces.csv", result.provinces),
        *([("districts.csv", result.districts)] if result.districts is not None else []),
    ):
        with atomic_path(out / name) as tmp:
            (frame if plain_csv else excel_rounding(frame)).to_csv(tmp, index=False,
                                                                   encoding=enc)
        paths[name] = out / name
    if result.districts is None:
        for name in DISTRICT_FILES:
            (out / name).unlink(missing_ok=True)  # an earlier run's (overwrite was checked)

    if result.settlements is None:
        for name in SETTLEMENT_FILES:
            (out / name).unlink(missing_ok=True)  # an earlier run's (overwrite was checked)
    else:
        paths.update(_write_settlements(result.settlements, out, plain_csv=plain_csv))

    cov = result.coverage
    if cov is None:  # an audit without rasters: no stale rasters beside its tables
        for name in (*RASTER_FILES, *SIGNAL_FILES):
            (out / name).unlink(missing_ok=True)
    else:
        paths.update(_write_rasters(cov, out))
    grid = result.grid if result.grid is not None else cov.grid  # type: ignore[union-attr]
    with atomic_path(out / "servers.csv") as tmp:
        grid.servers_table().to_csv(tmp, index=False, encoding=enc)
    paths["servers.csv"] = out / "servers.csv"

    for write in also:
        p = write(out)
        paths[p.name] = p
    # summary.json is written last and lists the SHA-256 of every other file:
    # a folder a killed --overwrite left half old, half new is told apart
    # (verify_audit_folder) instead of read as one audit
    write_summary_last(out / "summary.json", result.summary, paths.values())
    paths["summary.json"] = out / "summary.json"
    return paths


def _write_settlements(settlements: pd.DataFrame, out: Path, *, plain_csv: bool
                       ) -> dict[str, Path]:
    """unlisted_settlements.gpkg and .csv (people to whole persons, areas to
    0.001 km^2 in the rounded CSV; the GeoPackage keeps full precision)."""
    g = settlements.copy()
    for col in ("settlement_id", "commune_id", "nearest_village_id", "status"):
        g[col] = g[col].astype("string")
    with atomic_path(out / "unlisted_settlements.gpkg") as tmp:
        write_gpkg(g, tmp, layer="unlisted_settlements")
    table = _csv_frame(g)
    table["lon"], table["lat"] = table["lon"].round(7), table["lat"].round(7)
    if not plain_csv:
        table = excel_rounding(table)
        people = [c for c in table.columns if c == "people" or c.startswith("people_")]
        table[people] = table[people].round(0).astype(np.int64)  # whole persons
        table["density_per_km2"] = table["density_per_km2"].round(0)
        table["area_km2"] = table["area_km2"].round(3)
    with atomic_path(out / "unlisted_settlements.csv") as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8" if plain_csv else CSV_ENCODING)
    return {n: out / n for n in SETTLEMENT_FILES}


def verify_audit_folder(folder: str | Path) -> None:
    """Check that an audit folder is one audit (:func:`deadzone.data.io.verify_folder`).

    Raises
    ------
    DataLoadError
        A file its ``summary.json`` lists is missing or differs.
    """
    verify_folder(folder, "summary.json", command="audit")


def _write_rasters(cov: CoverageResult, out: Path) -> dict[str, Path]:
    """coverage.tif, best_server.tif and signal_<tech>_dbm.tif (COGs) of a coverage."""
    paths: dict[str, Path] = {}
    write_raster(
        out / "coverage.tif",
        cov.rx.best_dbm.astype(np.float32),
        cov.transform,
        cov.crs,
        nodata=float("nan"),
        overwrite=True,
        cog=True,
    )
    paths["coverage.tif"] = out / "coverage.tif"
    write_raster(
        out / "best_server.tif",
        cov.rx.best_server.astype(np.int32),
        cov.transform,
        cov.crs,
        nodata=-1,
        overwrite=True,
        cog=True,
    )
    paths["best_server.tif"] = out / "best_server.tif"
    for tech in TECHS:
        if tech not in cov.by_tech:  # an earlier run's technology (overwrite was checked)
            (out / signal_raster_name(tech)).unlink(missing_ok=True)
    for tech, comp in cov.by_tech.items():
        name = signal_raster_name(tech)
        write_raster(out / name, comp.best_dbm.astype(np.float32), cov.transform, cov.crs,
                     nodata=float("nan"), overwrite=True, cog=True)
        paths[name] = out / name
    return paths
