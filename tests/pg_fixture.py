"""The ``pg_url`` fixture (a PostgreSQL + PostGIS server) and a loader of test tables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from tests import pg_cluster


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database with PostGIS: ``$DEADZONE_TEST_PG_URL`` (``.ci/run`` starts one),
    else a throw-away cluster started here.  Fails (never skips) without PostgreSQL."""
    url = os.environ.get("DEADZONE_TEST_PG_URL")
    if url:
        yield url
        return
    where = tempfile.mkdtemp(prefix="deadzone-pg-")
    try:
        url = pg_cluster.start(where)
    except Exception as exc:  # noqa: BLE001
        pg_cluster.stop(where)
        pytest.fail(f"cannot start a PostgreSQL test cluster ({exc}); .ci/run installs "
                    "postgresql and postgresql-postgis")
    try:
        yield url
    finally:
        pg_cluster.stop(where)


def load_table(url: str, name: str, df: pd.DataFrame, *, srid: int | None = 4326,
               geom: str = "geom") -> None:
    """Create ``name`` (``schema.table``) from ``df`` as a user would have it: its
    columns as text / bigint / double precision, the geometry (reprojected to
    ``srid``; SRID 0 when ``srid=0``) in ``geom``.  Replaces an existing one."""
    import psycopg
    from psycopg import sql as S

    from deadzone.data.postgis import PgUrl

    schema, table = name.split(".")
    is_geo = isinstance(df, gpd.GeoDataFrame) and srid is not None
    attrs = pd.DataFrame(df.drop(columns=df.geometry.name)) if isinstance(
        df, gpd.GeoDataFrame) else df

    def kind(s: pd.Series) -> str:
        if pd.api.types.is_integer_dtype(s):
            return "bigint"
        if pd.api.types.is_float_dtype(s):
            return "double precision"
        return "text"

    cols = [S.SQL("{} {}").format(S.Identifier(c), S.SQL(kind(attrs[c]))) for c in attrs.columns]
    if is_geo:
        cols.append(S.SQL("{} geometry").format(S.Identifier(geom)))
    with psycopg.connect(PgUrl.parse(url).conninfo) as conn, conn.cursor() as cur:
        cur.execute(S.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(S.Identifier(schema)))
        cur.execute(S.SQL("DROP TABLE IF EXISTS {}").format(S.Identifier(schema, table)))
        cur.execute(S.SQL("CREATE TABLE {} ({})").format(S.Identifier(schema, table),
                                                         S.SQL(", ").join(cols)))
        names = [*map(str, attrs.columns)]
        values = [[None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                   for v in attrs[c]] for c in attrs.columns]
        if is_geo:
            g = df.geometry if srid == 0 else df.geometry.to_crs(srid)
            arr = shapely.set_srid(g.to_numpy(), srid or 0)
            values.append([str(v) for v in shapely.to_wkb(arr, hex=True, include_srid=True)])
            names.append(geom)
        with cur.copy(S.SQL("COPY {} ({}) FROM STDIN").format(
                S.Identifier(schema, table), S.SQL(", ").join(map(S.Identifier, names)))) as cp:
            for row in zip(*values, strict=True):
                cp.write_row(row)


def table_url(url: str, **params: str) -> str:
    """``url`` with deadzone's query parameters added (``table=``, ``sql=``, ...)."""
    from urllib.parse import quote, urlencode

    sep = "&" if "?" in url else "?"
    return url + sep + urlencode(params, quote_via=quote)
