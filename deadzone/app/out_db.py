"""``--out-db``: a command's result tables into PostgreSQL/PostGIS.

Every command that takes ``--out-db postgresql://...`` writes its folder
first, then the same tables (the frames the files were written from) with
:func:`publish`, in one transaction, under a run id that is the same for the
same inputs and parameters (a re-run replaces its rows).  See
``docs/POSTGIS.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from deadzone.data.postgis import PgUrl, WriteReport, run_id_for, write_tables
from deadzone.errors import DataLoadError, ParameterError

__all__ = ["audit_tables", "check_sink", "publish"]


def check_sink(url: str) -> None:
    """Fail now, before hours of computing, if ``url`` cannot take the results.

    Parses the URL and connects once (wrong password, no server, no database
    give their one-line error here).

    Raises
    ------
    ParameterError, DataLoadError
    """
    import psycopg

    u = PgUrl.parse(url)
    if u.table is not None or u.sql is not None or u.geom is not None:
        raise ParameterError(f"{u.shown}: --out-db takes ?schema=NAME, not table=, sql= or geom=")
    try:
        with psycopg.connect(u.conninfo, connect_timeout=15):
            pass
    except psycopg.Error as exc:
        raise DataLoadError(f"{u.shown}: cannot connect ({' '.join(str(exc).split())})") from None


def publish(
    url: str,
    *,
    command: str,
    tables: Mapping[str, pd.DataFrame],
    summary: Mapping[str, Any],
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
    run_id : str, optional
        Default: ``<command>-<12 hex>`` from the inputs' checksums and the
        parameters, so re-running the same job replaces its rows.
    mode : {"append", "replace"}
        As :func:`deadzone.data.postgis.write_tables`.
    """
    rid = run_id or run_id_for(command, summary.get("inputs"), summary.get("parameters"),
                               summary.get("input_options"))
    run = {"parameters": summary.get("parameters") or {}, "inputs": summary.get("inputs") or {},
           "summary": dict(summary), "tables": sorted(tables)}
    return write_tables(url, tables, command=command, run_id=rid, run=run, mode=mode)


def audit_tables(result: Any) -> dict[str, pd.DataFrame]:
    """An audit's tables as the database gets them: ``villages`` (points or
    polygons with status, reason and signals), ``communes`` and ``districts``
    (polygons with the roll-ups), ``provinces``."""
    out: dict[str, pd.DataFrame] = {
        "villages": result.villages,
        "communes": result.communes_with_geometry(),
        "provinces": result.provinces,
    }
    districts = result.districts_with_geometry()
    if districts is not None:
        out["districts"] = districts
    return out
