"""``--out-db``: a command's result tables into PostgreSQL/PostGIS.

Every command that takes ``--out-db postgresql://...`` writes its folder
first, then the same tables (the frames the files were written from) with
:func:`publish`, in one transaction, under a run id that is the same for the
same inputs and parameters (a re-run replaces its rows).  See
``docs/POSTGIS.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from deadzone.data.postgis import (
    RunTables,
    WriteReport,
    check_sink,
    run_id_for,
    write_runs,
    write_tables,
)
from deadzone.errors import ParameterError

__all__ = ["audit_tables", "batch_runs", "check_sink", "publish", "publish_batch"]


def publish(
    url: str,
    *,
    command: str,
    tables: Mapping[str, pd.DataFrame],
    summary: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    mode: str = "append",
) -> WriteReport:
    """Write ``tables`` and the run's summary row into the database of ``url``.

    Parameters
    ----------
    url : str
        ``postgresql://...[?schema=NAME]``.
    command : str
        ``audit``, ``batch``, ``place``, ``plan``, ``fiber``, ``progress``.
    tables : mapping of str to DataFrame
        Table name -> rows (GeoDataFrames keep their geometry).
    summary : mapping
        The command's ``summary.json`` content: its ``parameters`` and
        ``inputs`` (database inputs already without passwords) go into their
        own columns of ``runs``, the whole of it into ``runs.summary``.
    options : mapping, optional
        The command's options (``runs.options``; no passwords).
    run_id : str, optional
        Default: ``<command>-<12 hex>`` from the options, the inputs'
        checksums and the engine parameters, so re-running the same job
        replaces its rows.
    mode : {"append", "replace"}
        As :func:`deadzone.data.postgis.write_tables`.
    """
    rid = run_id or run_id_for(command, dict(options or {}), summary.get("inputs"),
                               summary.get("parameters"), summary.get("input_options"))
    run = {"parameters": summary.get("parameters") or {}, "inputs": summary.get("inputs") or {},
           "options": dict(options or {}), "summary": dict(summary), "tables": sorted(tables)}
    return write_tables(url, tables, command=command, run_id=rid, run=run, mode=mode)


def audit_tables(result: Any) -> dict[str, pd.DataFrame]:
    """An audit's tables as the database gets them: ``villages`` (points or
    polygons with status, reason and signals), ``communes`` and ``districts``
    (polygons with the roll-ups), ``provinces``; with a population raster
    ``unlisted_settlements`` (polygons, :mod:`deadzone.geo.settlements`)."""
    out: dict[str, pd.DataFrame] = {
        "villages": result.villages,
        "communes": result.communes_with_geometry(),
        "provinces": result.provinces,
    }
    districts = result.districts_with_geometry()
    if districts is not None:
        out["districts"] = districts
    if getattr(result, "settlements", None) is not None:
        out["unlisted_settlements"] = result.settlements
    return out


def folder_audit_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """An audit folder's tables as :func:`audit_tables` gives them, read back
    from its full-precision files (``villages.parquet``, ``communes.gpkg``
    with its ``districts`` layer, ``provinces.csv``)."""
    import geopandas as gpd
    import pyogrio

    out: dict[str, pd.DataFrame] = {
        "villages": gpd.read_parquet(folder / "villages.parquet"),
        "communes": gpd.read_file(folder / "communes.gpkg", layer="communes"),
        "provinces": pd.read_csv(folder / "provinces.csv", encoding="utf-8-sig",
                                 dtype={"province": str}),
    }
    if "districts" in {str(x[0]) for x in pyogrio.list_layers(folder / "communes.gpkg")}:
        out["districts"] = gpd.read_file(folder / "communes.gpkg", layer="districts")
    if (folder / "unlisted_settlements.gpkg").is_file():
        out["unlisted_settlements"] = gpd.read_file(folder / "unlisted_settlements.gpkg",
                                                    layer="unlisted_settlements")
    return out


def batch_runs(out_dir: Path, table: pd.DataFrame, *, run_id: str | None = None,
               options: Mapping[str, Any] | None = None) -> list[RunTables]:
    """One run per scenario of a batch that came out ``ok``, read from its folder.

    Each run's id is ``<batch run id>/<scenario>``; the batch run id is
    ``run_id`` or ``batch-<12 hex>`` from the scenarios' fingerprints (their
    parameters and input checksums, as ``--resume`` compares them), so a
    re-run of the same batch replaces its rows.
    """
    from deadzone.app.batch import MANIFEST

    ok = table[table["status"] == "ok"]
    manifests = {str(name): json.loads((out_dir / str(name) / MANIFEST).read_text(
        encoding="utf-8")) for name in ok["scenario"]}
    base = run_id or run_id_for("batch", dict(options or {}), {
        k: {"parameters": m.get("parameters"), "checksums": m.get("checksums")}
        for k, m in sorted(manifests.items())})
    runs = []
    for name, man in manifests.items():
        folder = out_dir / name
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        tables = folder_audit_tables(folder)
        runs.append(RunTables("batch", f"{base}/{name}", tables, {
            "parameters": summary.get("parameters") or {},
            "inputs": {"checksums": man.get("checksums"), **(summary.get("inputs") or {})},
            "options": {**dict(options or {}), "scenario": name},
            "summary": summary, "tables": sorted(tables),
        }))
    return runs


def publish_batch(url: str, out_dir: Path, table: pd.DataFrame, *, run_id: str | None = None,
                  options: Mapping[str, Any] | None = None, mode: str = "append") -> WriteReport:
    """Every ``ok`` scenario of a batch into the audit tables (``villages``,
    ``communes``, ``provinces``, ``districts``), one run each, in one transaction.

    Raises
    ------
    ParameterError
        No scenario came out ``ok``.
    """
    runs = batch_runs(out_dir, table, run_id=run_id, options=options)
    if not runs:
        raise ParameterError("--out-db: no scenario of the batch came out ok; nothing to write")
    return write_runs(url, runs, mode=mode)
