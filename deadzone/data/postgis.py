"""PostgreSQL/PostGIS as a source of vector inputs and a sink of results.

One convention, for every vector input and for ``--out-db``: a libpq URI
with deadzone's own query parameters.

* ``postgresql://user@host:5432/db?table=public.villages`` reads a table;
  ``?sql=SELECT ...`` (URL-encoded) reads a query's rows; ``&geom=col``
  picks the geometry column when there are several (else the only
  ``geometry``/``geography`` column; without one, ``lon``/``lat`` columns are
  read as from a CSV).
* ``postgresql://user@host/db?schema=deadzone_out`` as ``--out-db`` writes
  the result tables into that schema (default ``deadzone``).

Every other parameter (``host=/run/postgresql``, ``sslmode``, ``service``,
``connect_timeout``, ...) goes to libpq unchanged, and so do credentials:
the password in the URL, ``PGPASSWORD``, ``~/.pgpass``, ``PGSERVICE`` as
libpq reads them.  The URL deadzone shows in messages and writes into
outputs (:attr:`PgUrl.shown`) never holds a password.

Reading runs in one read-only transaction.  Writing (:func:`write_tables`)
runs in one transaction: the tables it owns (marked by a table comment) are
created or extended, the rows of the run id are replaced, the run is recorded
in ``<schema>.runs``; on any error, a lost connection included, the
transaction rolls back and nothing is half-written.  Tables it did not create
are never touched.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS as ProjCRS
from pyproj import Transformer

from deadzone.errors import CRSError, DataLoadError, ParameterError

__all__ = [
    "DEFAULT_SCHEMA",
    "OWNED_COMMENT",
    "PgRead",
    "PgUrl",
    "RunTables",
    "WriteReport",
    "is_pg_url",
    "read_frame",
    "read_pg",
    "run_id_for",
    "shown_source",
    "check_sink",
    "source_name",
    "source_stem",
    "write_runs",
    "write_tables",
]

_SCHEMES = ("postgresql", "postgres")
_OURS = ("table", "sql", "geom", "schema")
DEFAULT_SCHEMA = "deadzone"
OWNED_COMMENT = "deadzone output table"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def is_pg_url(value: object) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URI.

    Examples
    --------
    >>> is_pg_url("postgresql://me@db.example/gis?table=villages")
    True
    >>> is_pg_url("villages.gpkg")
    False
    """
    if not isinstance(value, str):
        return False
    head = value.split("://", 1)[0].lower() if "://" in value else ""
    return head in _SCHEMES


@dataclass(frozen=True)
class PgUrl:
    """A parsed ``postgresql://`` URI.

    Attributes
    ----------
    conninfo : str
        The URI libpq connects with: deadzone's parameters removed, the
        password (if any) kept.  Never shown.
    shown : str
        The same URI without the password, deadzone's parameters kept: what
        messages, ``summary.json`` and the database's ``runs`` table hold.
    table, sql, geom, schema : str or None
        deadzone's parameters.
    """

    conninfo: str
    shown: str
    table: str | None = None
    sql: str | None = None
    geom: str | None = None
    schema: str | None = None

    def __str__(self) -> str:
        return self.shown

    @classmethod
    def parse(cls, text: str) -> PgUrl:
        """Split ``text`` into what libpq gets and what deadzone reads.

        Raises
        ------
        ParameterError
            Not a ``postgresql://`` URI, or a parameter given twice.

        Examples
        --------
        >>> u = PgUrl.parse("postgresql://me:secret@h:5433/gis?table=public.v&sslmode=disable")
        >>> u.shown
        'postgresql://me@h:5433/gis?sslmode=disable&table=public.v'
        >>> u.table, "secret" in u.conninfo, "table" in u.conninfo
        ('public.v', True, False)
        """
        if not is_pg_url(text):
            raise ParameterError(f"{text!r}: not a postgresql:// URL")
        parts = urlsplit(text)
        ours: dict[str, str] = {}
        theirs: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _OURS:
                if key in ours:
                    raise ParameterError(f"{_redact(parts, theirs, ours)}: {key}= given twice")
                ours[key] = value
            else:
                theirs.append((key, value))
        conninfo = urlunsplit(parts._replace(query=urlencode(theirs, quote_via=quote)))
        return cls(conninfo=conninfo, shown=_redact(parts, theirs, ours), table=ours.get("table"),
                   sql=ours.get("sql"), geom=ours.get("geom"), schema=ours.get("schema"))


def _redact(parts: Any, theirs: Sequence[tuple[str, str]], ours: Mapping[str, str]) -> str:
    """The URI without a password (in the user part or a ``password=`` parameter)."""
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = [(k, v) for k, v in theirs if k.lower() != "password"] + sorted(ours.items())
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, quote_via=quote)))


def shown_source(value: object) -> str:
    """``value`` as outputs may record it: a database URL without its password.

    Examples
    --------
    >>> shown_source("postgresql://me:pw@h/db?table=t")
    'postgresql://me@h/db?table=t'
    >>> shown_source("villages.csv")
    'villages.csv'
    """
    return PgUrl.parse(value).shown if is_pg_url(value) else str(value)


# --------------------------------------------------------------------------- connecting


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@contextmanager
def _connect(url: PgUrl, *, read_only: bool) -> Iterator[Any]:
    try:
        import psycopg
    except ImportError:
        raise DataLoadError(
            f"{url.shown}: reading or writing PostgreSQL needs psycopg "
            "(pip install 'psycopg[binary]')"
        ) from None
    kw: dict[str, Any] = {}
    if "connect_timeout" not in url.conninfo and "PGCONNECT_TIMEOUT" not in os.environ:
        kw["connect_timeout"] = 15
    try:
        conn = psycopg.connect(url.conninfo, **kw)
    except psycopg.Error as exc:
        raise DataLoadError(f"{url.shown}: cannot connect ({_one_line(exc)})") from None
    try:
        conn.read_only = read_only
        yield conn
    finally:
        conn.close()


def _type_oids(cur: Any) -> dict[int, str]:
    """OIDs of PostGIS's ``geometry`` and ``geography`` types (none without PostGIS)."""
    cur.execute("SELECT oid::int, typname FROM pg_type WHERE typname IN ('geometry', 'geography')")
    return {int(oid): str(name) for oid, name in cur.fetchall()}


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class PgRead:
    """A table or query read from PostgreSQL.

    Attributes
    ----------
    source : PgSource
        Its name in messages (the URL without password) and its checksum.
    table : DataFrame
        Every column but the geometry, in the query's row order.
    geometry : GeoSeries or None
        The geometry column in its own CRS (from its SRID), or ``None``.
    """

    source: PgSource
    table: pd.DataFrame
    geometry: gpd.GeoSeries | None


@dataclass(frozen=True)
class PgSource:
    """A database input as loaders name it: ``str()`` is the URL without password.

    Attributes
    ----------
    shown : str
        The URL without password.
    name : str
        The table's name, or ``"query"``.
    checksum : str
        SHA-256 of the column names and types and of every row read (values
        and geometry WKB, in order): equal rows give equal checksums.
    """

    shown: str
    name: str
    checksum: str

    def __str__(self) -> str:
        return self.shown


def _split_table(url: PgUrl, table: str) -> tuple[str, ...]:
    parts = tuple(table.split(".", 1)) if "." in table else (table,)
    if not all(parts):
        raise ParameterError(f"{url.shown}: table={table!r} is not schema.name or name")
    return parts


def read_pg(
    value: str, *, bbox_lonlat: tuple[float, float, float, float] | None = None
) -> PgRead:
    """Read the table or query of a ``postgresql://`` URL.

    Parameters
    ----------
    value : str
        ``postgresql://...?table=schema.name`` or ``...?sql=SELECT ...``
        (optionally ``&geom=column``); see the module docstring.
    bbox_lonlat : (west, south, east, north), optional
        Only rows whose geometry's bounding box meets this lon/lat box
        (degrees), as the file readers' ``bbox``.

    Returns
    -------
    PgRead

    Raises
    ------
    DataLoadError
        Cannot connect (wrong password, no server), table not found, query
        failed; each one line naming the URL (without password).
    CRSError
        The geometry has no SRID (0), several SRIDs, or one PostGIS does not
        know.
    """
    import psycopg
    from psycopg import sql as S

    url = PgUrl.parse(value)
    if (url.table is None) == (url.sql is None):
        raise ParameterError(
            f"{url.shown}: give exactly one of table=schema.name or sql=SELECT... in the URL"
        )
    with _connect(url, read_only=True) as conn, conn.cursor() as cur:
        try:
            if url.table is not None:
                parts = _split_table(url, url.table)
                cur.execute("SELECT to_regclass(%s)", (".".join(f'"{p}"' for p in parts),))
                if cur.fetchone()[0] is None:
                    raise DataLoadError(f"{url.shown}: table {url.table!r} not found")
                src = S.Identifier(*parts)
                name = url.table
            else:
                src = S.SQL("({}) AS q").format(S.SQL(url.sql.strip().rstrip(";")))  # type: ignore[union-attr]
                name = "query"
            geo_oids = _type_oids(cur)
            cur.execute(S.SQL("SELECT * FROM {} LIMIT 0").format(src))
            desc = [(d.name, int(d.type_code)) for d in cur.description]
            geom, geom_kind = _pick_geometry(url, desc, geo_oids)
            others = [n for n, _ in desc if n != geom]
            cols = [S.Identifier(n) for n in others]
            where = S.SQL("")
            if geom is not None:
                g = S.Identifier(geom)
                gexpr = S.SQL("{}::geometry").format(g) if geom_kind == "geography" else g
                srid = _one_srid(cur, url, src, gexpr, geom)
                crs = _srid_crs(cur, url, srid, geom)
                cols += [S.SQL("ST_AsBinary({})").format(gexpr)]
                if bbox_lonlat is not None:
                    box = _box_in(crs, bbox_lonlat)
                    where = S.SQL(" WHERE {} && ST_MakeEnvelope({}, {}, {}, {}, {})").format(
                        gexpr, *[S.Literal(float(v)) for v in box], S.Literal(srid))
            cur.execute(S.SQL("SELECT {} FROM {}{}").format(S.SQL(", ").join(cols), src, where))
            rows = cur.fetchall()
            types = _type_names(cur, [oid for _, oid in desc])
        except psycopg.Error as exc:
            what = "table" if url.table is not None else "query"
            raise DataLoadError(
                f"{url.shown}: reading the {what} failed ({_one_line(exc)})") from None
    h = hashlib.sha256(json.dumps([[n, t] for (n, _), t in zip(desc, types, strict=True)]).encode())
    n_attr = len(others)
    for r in rows:
        h.update(repr(tuple(_plain(v) for v in r[:n_attr])).encode())
        if geom is not None:
            h.update(bytes(r[n_attr]) if r[n_attr] is not None else b"\0")
    table = pd.DataFrame.from_records([r[:n_attr] for r in rows], columns=others)
    for c in table.columns:
        table[c] = _decimals_to_float(table[c])
    geometry = None
    if geom is not None:
        wkb = np.array([bytes(r[n_attr]) if r[n_attr] is not None else None for r in rows],
                       dtype=object)
        geometry = gpd.GeoSeries(shapely.from_wkb(wkb), crs=crs)
    return PgRead(PgSource(url.shown, name, h.hexdigest()), table, geometry)


def read_frame(value: str) -> gpd.GeoDataFrame:
    """A table or query as a GeoDataFrame: its geometry column, or points from
    ``lon``/``lat`` columns when it has none (roads, backbone, candidate sites).

    Raises
    ------
    DataLoadError
        As :func:`read_pg`, and a table with neither geometry nor lon/lat.
    """
    got = read_pg(value)
    if got.geometry is not None:
        return gpd.GeoDataFrame(got.table, geometry=got.geometry.values, crs=got.geometry.crs)
    cols = {str(c).lower(): c for c in got.table.columns}
    if "lon" in cols and "lat" in cols:
        t = got.table
        lon = pd.to_numeric(t[cols["lon"]], errors="coerce")
        lat = pd.to_numeric(t[cols["lat"]], errors="coerce")
        bad = np.flatnonzero(lon.isna().to_numpy() | lat.isna().to_numpy())
        if len(bad):
            raise DataLoadError(f"{got.source}: row {bad[0] + 1}: lon/lat missing or not numbers")
        return gpd.GeoDataFrame(t, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    raise DataLoadError(f"{got.source}: no geometry column and no lon/lat columns "
                        f"(columns: {', '.join(map(str, got.table.columns))})")


def source_stem(value: object) -> str:
    """A scenario name from an input: a file's stem, a database table's name
    without its schema (``"query"`` for a query).

    Examples
    --------
    >>> source_stem("postgresql://h/db?table=public.villages"), source_stem("/d/villages.gpkg")
    ('villages', 'villages')
    """
    if is_pg_url(value):
        return source_name(value).rsplit(".", 1)[-1]
    return os.path.splitext(os.path.basename(os.fspath(value)))[0]  # type: ignore[call-overload]


def source_name(value: object) -> str:
    """A short name for an input: a file's name, a database table's name.

    Examples
    --------
    >>> source_name("postgresql://h/db?table=public.villages")
    'public.villages'
    >>> source_name("/data/villages.gpkg")
    'villages.gpkg'
    """
    if is_pg_url(value):
        u = PgUrl.parse(str(value))
        return u.table or "query"
    return os.path.basename(os.fspath(value))  # type: ignore[call-overload]


def _pick_geometry(
    url: PgUrl, desc: Sequence[tuple[str, int]], geo_oids: Mapping[int, str]
) -> tuple[str | None, str | None]:
    geoms = [(n, geo_oids[oid]) for n, oid in desc if oid in geo_oids]
    if url.geom is not None:
        names = [n for n, _ in desc]
        if url.geom not in names:
            raise DataLoadError(f"{url.shown}: geom={url.geom!r}: no such column "
                                f"(columns: {', '.join(names)})")
        kind = dict(geoms).get(url.geom)
        if kind is None:
            raise DataLoadError(f"{url.shown}: geom={url.geom!r} is not a geometry column")
        return url.geom, kind
    if len(geoms) > 1:
        raise DataLoadError(f"{url.shown}: {len(geoms)} geometry columns "
                            f"({', '.join(n for n, _ in geoms)}); choose one with &geom=")
    return geoms[0] if geoms else (None, None)


def _one_srid(cur: Any, url: PgUrl, src: Any, gexpr: Any, geom: str) -> int:
    from psycopg import sql as S

    cur.execute(S.SQL("SELECT DISTINCT ST_SRID({g}) FROM {s} WHERE {g} IS NOT NULL LIMIT 3")
                .format(g=gexpr, s=src))
    srids = sorted(int(r[0]) for r in cur.fetchall())
    if not srids:
        return 4326
    if len(srids) > 1:
        raise CRSError(f"{url.shown}: column {geom!r} mixes SRIDs ({', '.join(map(str, srids))}); "
                       "one SRID per column (ST_Transform them to one)")
    if srids[0] == 0:
        raise CRSError(f"{url.shown}: column {geom!r} has no SRID (0); set it with "
                       "UpdateGeometrySRID or ST_SetSRID")
    return srids[0]


def _srid_crs(cur: Any, url: PgUrl, srid: int, geom: str) -> ProjCRS:
    cur.execute("SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s",
                (srid,))
    row = cur.fetchone()
    if row is None:
        raise CRSError(f"{url.shown}: column {geom!r} has SRID {srid}, which is not in "
                       "spatial_ref_sys")
    auth, code, wkt = row
    try:
        if auth and str(auth).upper() == "EPSG" and code:
            return ProjCRS.from_epsg(int(code))
        return ProjCRS.from_wkt(wkt)
    except Exception as exc:
        raise CRSError(f"{url.shown}: column {geom!r}: SRID {srid} is not a CRS pyproj knows "
                       f"({_one_line(exc)})") from None


def _box_in(crs: ProjCRS, bbox: tuple[float, float, float, float]) -> tuple[float, ...]:
    if crs.equals(ProjCRS.from_epsg(4326), ignore_axis_order=True):
        return tuple(float(v) for v in bbox)
    tr = Transformer.from_crs(4326, crs, always_xy=True)
    return tuple(float(v) for v in tr.transform_bounds(*bbox, densify_pts=21))


def _type_names(cur: Any, oids: Sequence[int]) -> list[str]:
    """``format_type`` of each column type (OIDs of extension types differ by database)."""
    cur.execute("SELECT o, format_type(o, NULL) FROM unnest(%s::oid[]) AS o", (list(oids),))
    names = {int(o): str(n) for o, n in cur.fetchall()}
    return [names[int(o)] for o in oids]


def _plain(v: Any) -> Any:
    """A value as the checksum sees it (Decimal as its text, dates ISO)."""
    if isinstance(v, decimal.Decimal | dt.date | dt.datetime | dt.time):
        return str(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def _decimals_to_float(s: pd.Series) -> pd.Series:
    """``numeric`` columns arrive as Decimal: make them floats (as a file reader would)."""
    if s.dtype == object and s.map(lambda v: v is None or isinstance(v, decimal.Decimal)).all() \
            and s.notna().any():
        return pd.to_numeric(s.map(lambda v: None if v is None else float(v)), errors="coerce")
    return s


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class WriteReport:
    """What :func:`write_tables` wrote.

    Attributes
    ----------
    target : str
        The database URL without password.
    schema : str
        The schema written into.
    run_id : str
        The run's id (its rows in every table, its row in ``runs``).
    rows : dict
        Rows written per table (qualified name -> count).
    """

    target: str
    schema: str
    run_id: str
    rows: dict[str, int]

    def line(self) -> str:
        """One line for the command's output."""
        n = sum(self.rows.values())
        return (f"Wrote run {self.run_id!r} to {self.target} (schema {self.schema}): "
                f"{len(self.rows)} table(s), {n:,} row(s)")


def run_id_for(command: str, *parts: Any) -> str:
    """A run id that is the same for the same command on the same inputs and
    parameters, so a re-run replaces its rows instead of adding a copy.

    Examples
    --------
    >>> run_id_for("audit", {"a": 1}) == run_id_for("audit", {"a": 1})
    True
    >>> run_id_for("audit", {"a": 1})[:6]
    'audit-'
    """
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return f"{command}-{hashlib.sha256(blob).hexdigest()[:12]}"


@dataclass(frozen=True)
class RunTables:
    """One run's tables for :func:`write_runs`.

    Attributes
    ----------
    command : str
        The command that made them (``runs.command``).
    run_id : str
        Every row gets it in a ``run_id`` column; the rows an earlier run with
        the same id wrote are replaced.
    tables : mapping of str to DataFrame
        Table name (lower-case identifier) -> rows.
    record : mapping
        The run's row of ``<schema>.runs``: ``parameters``, ``inputs``,
        ``options``, ``summary``, ``tables`` (JSON-able; no passwords: pass
        shown URLs).
    """

    command: str
    run_id: str
    tables: Mapping[str, pd.DataFrame]
    record: Mapping[str, Any]


def write_tables(
    value: str,
    tables: Mapping[str, pd.DataFrame],
    *,
    command: str,
    run_id: str,
    run: Mapping[str, Any],
    mode: str = "append",
) -> WriteReport:
    """Write one run's tables into ``<schema>.<name>`` in one transaction
    (:func:`write_runs` with one run)."""
    return write_runs(value, [RunTables(command, run_id, tables, run)], mode=mode)


def write_runs(value: str, runs: Sequence[RunTables], *, mode: str = "append") -> WriteReport:
    """Write runs' tables into ``<schema>.<name>``, all in one transaction.

    Parameters
    ----------
    value : str
        ``postgresql://...`` with an optional ``?schema=name`` (default
        ``deadzone``).
    runs : sequence of RunTables
        A GeoDataFrame's active geometry becomes a ``geom geometry(Geometry,
        4326)`` column (reprojected to lon/lat); other columns get the
        PostgreSQL type of their dtype (``bigint``, ``double precision``,
        ``boolean``, ``timestamptz``, ``text``; lists and dicts ``jsonb``).
        A table that exists gets the columns a newer run adds.
    mode : {"append", "replace"}
        ``append`` keeps other runs' rows; ``replace`` leaves only these runs
        in their tables (it empties them first, and removes the other runs of
        the same commands from ``runs``).

    Returns
    -------
    WriteReport
        Of the last run (``rows`` counts every run's).

    Raises
    ------
    DataLoadError
        Cannot connect; a table of that name exists that deadzone did not
        create; a column exists with another type; the write failed (the
        transaction is rolled back: nothing of these runs is in the database).
    """
    import psycopg

    url = _sink(value)
    if mode not in ("append", "replace"):
        raise ParameterError(f"mode must be 'append' or 'replace', not {mode!r}")
    if not runs:
        raise ParameterError("no run to write")
    schema = url.schema or DEFAULT_SCHEMA
    for name in (schema, *(t for r in runs for t in r.tables)):
        if not _NAME.match(name):
            raise ParameterError(f"{url.shown}: {name!r} is not a plain SQL identifier")
    if any("runs" in r.tables for r in runs):
        raise ParameterError("'runs' is the name of the runs table")
    rows: dict[str, int] = {}
    with _connect(url, read_only=False) as conn:
        try:
            with conn.transaction(), conn.cursor() as cur:
                _ensure_schema(cur, url, schema)
                _ensure_runs(cur, url, schema)
                geo = _type_oids(cur)
                fresh: set[str] = set()
                for r in runs:
                    for name, df in r.tables.items():
                        if isinstance(df, gpd.GeoDataFrame) and "geometry" not in geo.values():
                            raise DataLoadError(f"{url.shown}: PostGIS is not installed in "
                                                "this database (CREATE EXTENSION postgis)")
                        # replace empties a table once, before the first run's rows
                        empty = mode == "replace" and name not in fresh
                        fresh.add(name)
                        n = _write_table(cur, url, schema, name, df, run_id=r.run_id,
                                         mode="replace" if empty else "append")
                        key = f"{schema}.{name}"
                        rows[key] = rows.get(key, 0) + n
                done: set[str] = set()
                for r in runs:
                    _write_run(cur, schema, r.command, r.run_id, r.record,
                               mode="replace" if mode == "replace" and r.command not in done
                               else "append")
                    done.add(r.command)
        except psycopg.Error as exc:
            raise DataLoadError(f"{url.shown}: writing failed, nothing written "
                                f"({_one_line(exc)})") from None
    return WriteReport(url.shown, schema, runs[-1].run_id if len(runs) == 1
                       else f"{runs[0].run_id} .. {runs[-1].run_id} ({len(runs)} runs)", rows)


def _sink(value: str) -> PgUrl:
    """``value`` parsed as an output database (``?schema=`` only)."""
    url = PgUrl.parse(value)
    if url.table is not None or url.sql is not None or url.geom is not None:
        raise ParameterError(f"{url.shown}: an output database takes ?schema=NAME, "
                             "not table=, sql= or geom=")
    return url


def check_sink(value: str) -> None:
    """Fail now, before hours of computing, if ``value`` cannot take results:
    parse it as an output database and connect once (a wrong password, no
    server or no database give their one-line error here).

    Raises
    ------
    ParameterError, DataLoadError
    """
    with _connect(_sink(value), read_only=True):
        pass


def _owned(cur: Any, schema: str, name: str) -> bool | None:
    """``None`` if ``schema.name`` does not exist, else whether deadzone made it."""
    cur.execute("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                (schema, name))
    row = cur.fetchone()
    if row is None:
        return None
    return bool(row[0]) and str(row[0]).startswith(OWNED_COMMENT)


def _claim(cur: Any, url: PgUrl, schema: str, name: str) -> bool:
    """Whether the table exists (and is ours); refuses a table deadzone did not create."""
    owned = _owned(cur, schema, name)
    if owned is False:
        raise DataLoadError(f"{url.shown}: table {schema}.{name} exists and was not written by "
                            "deadzone; choose another schema with ?schema=NAME")
    return owned is True


def _ensure_schema(cur: Any, url: PgUrl, schema: str) -> None:
    from psycopg import sql as S

    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    if cur.fetchone() is None:
        cur.execute(S.SQL("CREATE SCHEMA {}").format(S.Identifier(schema)))


def _comment(cur: Any, schema: str, name: str, what: str) -> None:
    from psycopg import sql as S

    cur.execute(S.SQL("COMMENT ON TABLE {} IS {}").format(
        S.Identifier(schema, name), S.Literal(f"{OWNED_COMMENT}: {what}")))


def _ensure_runs(cur: Any, url: PgUrl, schema: str) -> None:
    from psycopg import sql as S

    if _claim(cur, url, schema, "runs"):
        return
    cur.execute(S.SQL(
        "CREATE TABLE {} (run_id text PRIMARY KEY, command text NOT NULL, "
        "written_at timestamptz NOT NULL DEFAULT now(), deadzone_version text, "
        "tables text[], parameters jsonb, inputs jsonb, options jsonb, summary jsonb)"
    ).format(S.Identifier(schema, "runs")))
    _comment(cur, schema, "runs", "one row per run written")


def _write_run(cur: Any, schema: str, command: str, run_id: str, run: Mapping[str, Any],
               *, mode: str) -> None:
    from psycopg import sql as S
    from psycopg.types.json import Jsonb

    from deadzone import __version__

    t = S.Identifier(schema, "runs")
    if mode == "replace":
        cur.execute(S.SQL("DELETE FROM {} WHERE command = %s").format(t), (command,))
    cur.execute(S.SQL("DELETE FROM {} WHERE run_id = %s").format(t), (run_id,))
    dump = lambda v: Jsonb(json.loads(json.dumps(v, default=str)))  # noqa: E731
    cur.execute(
        S.SQL("INSERT INTO {} (run_id, command, deadzone_version, tables, parameters, inputs, "
              "options, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)").format(t),
        (run_id, command, __version__, list(run.get("tables", [])),
         dump(run.get("parameters", {})), dump(run.get("inputs", {})),
         dump(run.get("options", {})), dump(run.get("summary", {}))),
    )


def _pg_type(s: pd.Series) -> str:
    """The PostgreSQL type of a column: by dtype, and for object columns by
    what their values are (numbers with gaps stay numbers)."""
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "bigint"
    if pd.api.types.is_float_dtype(s):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "timestamptz"
    present = [v for v in s if not _is_missing(v)]
    if not present:
        return "text"
    if all(isinstance(v, list | dict | tuple) for v in present):
        return "jsonb"
    if all(isinstance(v, bool | np.bool_) for v in present):
        return "boolean"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)
           for v in present):
        return "bigint"
    if all(isinstance(v, int | float | np.integer | np.floating)
           and not isinstance(v, bool | np.bool_) for v in present):
        return "double precision"
    return "text"


def _is_missing(v: Any) -> bool:
    if v is None or isinstance(v, list | dict | tuple):
        return v is None
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _values(s: pd.Series, kind: str) -> list[Any]:
    """A column as Python values for COPY (missing -> NULL)."""
    from psycopg.types.json import Jsonb

    if kind == "jsonb":
        return [Jsonb(json.loads(json.dumps(v, default=str)))
                if isinstance(v, list | dict | tuple) else None for v in s]
    conv: Any = {"timestamptz": lambda v: pd.Timestamp(v).to_pydatetime(), "text": str,
                 "boolean": bool, "bigint": int, "double precision": float}[kind]
    missing = s.isna().to_numpy()
    return [None if m else conv(v) for v, m in zip(s.tolist(), missing, strict=True)]


def _write_table(cur: Any, url: PgUrl, schema: str, name: str, df: pd.DataFrame, *,
                 run_id: str, mode: str) -> int:
    from psycopg import sql as S

    geo = isinstance(df, gpd.GeoDataFrame) and df.geometry.name in df.columns
    attrs = pd.DataFrame(df.drop(columns=df.geometry.name)) if geo else pd.DataFrame(df)
    attrs = attrs.reset_index(drop=True)
    bad = [c for c in attrs.columns if not isinstance(c, str) or c in ("run_id", "geom")]
    if bad:
        raise ParameterError(f"table {name}: column(s) {bad} clash with run_id/geom")
    kinds = {str(c): _pg_type(attrs[c]) for c in attrs.columns}
    t = S.Identifier(schema, name)
    exists = _claim(cur, url, schema, name)
    if exists and mode == "replace":
        cur.execute(S.SQL("DROP TABLE {}").format(t))
        exists = False
    if not exists:
        cols = [S.SQL("run_id text NOT NULL")]
        cols += [S.SQL("{} {}").format(S.Identifier(c), S.SQL(k)) for c, k in kinds.items()]
        if geo:
            cols.append(S.SQL("geom geometry(Geometry, 4326)"))
        cur.execute(S.SQL("CREATE TABLE {} ({})").format(t, S.SQL(", ").join(cols)))
        cur.execute(S.SQL("CREATE INDEX ON {} (run_id)").format(t))
        if geo:
            cur.execute(S.SQL("CREATE INDEX ON {} USING gist (geom)").format(t))
        _comment(cur, schema, name, f"rows of runs in {schema}.runs by run_id")
    else:
        _extend(cur, url, schema, name, kinds, geo=geo)
        cur.execute(S.SQL("DELETE FROM {} WHERE run_id = %s").format(t), (run_id,))
    columns = [[run_id] * len(attrs)] + [_values(attrs[c], kinds[str(c)]) for c in attrs.columns]
    names = ["run_id", *map(str, attrs.columns)]
    if geo:
        g = df.geometry.reset_index(drop=True)
        g = g.to_crs(4326) if g.crs is not None else g
        wkb = shapely.to_wkb(shapely.set_srid(g.to_numpy(), 4326), hex=True, include_srid=True)
        columns.append([None if v is None else str(v) for v in wkb])
        names.append("geom")
    copy_sql = S.SQL("COPY {} ({}) FROM STDIN").format(
        t, S.SQL(", ").join(S.Identifier(n) for n in names))
    with cur.copy(copy_sql) as copy:
        for row in zip(*columns, strict=True):
            copy.write_row(row)
    return len(attrs)


def _extend(cur: Any, url: PgUrl, schema: str, name: str, kinds: Mapping[str, str], *,
            geo: bool) -> None:
    """Add the columns a newer run has; refuse a column whose type changed."""
    from psycopg import sql as S

    cur.execute("SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM "
                "information_schema.columns c JOIN pg_attribute a ON a.attname = c.column_name "
                "AND a.attrelid = format('%%I.%%I', c.table_schema, c.table_name)::regclass "
                "WHERE c.table_schema = %s AND c.table_name = %s", (schema, name))
    have = {str(n): str(k) for n, k in cur.fetchall()}
    wanted = dict(kinds)
    if geo:
        wanted["geom"] = "geometry(Geometry,4326)"
    for col, kind in wanted.items():
        if col not in have:
            cur.execute(S.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                S.Identifier(schema, name), S.Identifier(col),
                S.SQL("geometry(Geometry, 4326)" if col == "geom" else kind)))
        elif col != "geom" and have[col] != kind and not (
                have[col] == "double precision" and kind == "bigint"):
            raise DataLoadError(f"{url.shown}: {schema}.{name}.{col} is {have[col]} in the "
                                f"database but {kind} in this run; write to another schema or "
                                "use --out-db-mode replace")
