"""PostGIS in and out, against a real PostgreSQL + PostGIS server (tests/pg_cluster.py).

The real-tile scenario (SRTM N21E105, the 2025 communes, the tile's OSM
settlements, a tower at every 4th commune centre) is loaded into the
database; ``deadzone audit`` from the database to the database must give the
statuses and counts of the file-based run.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.postgis import PgUrl, read_pg, write_tables
from deadzone.errors import CRSError, DataLoadError
from tests.cli.test_cli_place import ENGINE, scen_dir  # noqa: F401  (fixture)
from tests.conftest import real_tile_inputs
from tests.pg_fixture import load_table, pg_url, table_url  # noqa: F401  (fixture)


def _schema(stem: str) -> str:
    """A schema of its own for each test run (a server started outside may be reused)."""
    return f"{stem}_{uuid.uuid4().hex[:8]}"


def _conn(url: str) -> psycopg.Connection:
    return psycopg.connect(PgUrl.parse(url).conninfo, autocommit=True)


def _count(url: str, sql: str) -> int:
    with _conn(url) as c:
        return int(c.execute(sql).fetchone()[0])


@pytest.fixture(scope="module")
def tile_db(pg_url: str, shared_data: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201, F811
    """The real tile's inputs as files and as tables ``src.villages``,
    ``src.communes`` (the communes on the tile), ``src.towers`` (lon/lat, no
    geometry) and ``src.communes_utm`` (the same polygons in EPSG:32648)."""
    tmp = tmp_path_factory.mktemp("tile")
    dem, communes, s, c = real_tile_inputs(shared_data, tmp)
    tile_communes = gpd.read_file(communes, bbox=(105.0, 21.0, 106.0, 22.0))
    tile_communes.to_file(tmp / "communes.gpkg", driver="GPKG")
    load_table(pg_url, "src.villages", s)
    load_table(pg_url, "src.communes", tile_communes)
    load_table(pg_url, "src.communes_utm", tile_communes, srid=32648)
    load_table(pg_url, "src.towers", pd.read_csv(tmp / "towers.csv"), srid=None)
    return {"dem": dem, "villages": tmp / "villages.geojson", "communes": tmp / "communes.gpkg",
            "towers": tmp / "towers.csv", "tmp": tmp}


def _audit(dem: Path, villages: str | Path, communes: str | Path, towers: str | Path,
           out: Path, *extra: str):  # noqa: ANN202
    return CliRunner().invoke(cli, [
        "audit", "--dem", str(dem), "--villages", str(villages), "--communes", str(communes),
        "--towers", str(towers), "--out", str(out), "--no-rasters", "--model", "knife",
        "--radius-km", "8", "-q", *extra])


def _statuses(folder: Path) -> pd.Series:
    v = pd.read_csv(folder / "villages.csv", encoding="utf-8-sig", dtype={"village_id": str})
    return v.set_index("village_id")["status"].sort_index()


def test_audit_from_and_to_postgis_equals_the_file_run(tile_db: dict, pg_url: str) -> None:  # noqa: F811
    t = tile_db
    files = _audit(t["dem"], t["villages"], t["communes"], t["towers"], t["tmp"] / "files")
    assert files.exit_code == 0, files.output
    out = t["tmp"] / "db"
    results = _schema("results")
    sink = table_url(pg_url, schema=results)
    res = _audit(t["dem"], table_url(pg_url, table="src.villages"),
                 table_url(pg_url, table="src.communes"), table_url(pg_url, table="src.towers"),
                 out, "--out-db", sink)
    assert res.exit_code == 0, res.output
    pd.testing.assert_series_equal(_statuses(out), _statuses(t["tmp"] / "files"))
    a = json.loads((t["tmp"] / "files" / "summary.json").read_text(encoding="utf-8"))
    b = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("villages_total", "villages_covered", "villages_marginal", "villages_dead",
                "communes_total", "communes_fully_covered", "reasons"):
        assert a[key] == b[key], key
    # inputs recorded without the password, with a checksum of the rows read
    password = psycopg.conninfo.conninfo_to_dict(PgUrl.parse(pg_url).conninfo)["password"]
    assert password not in (out / "summary.json").read_text(encoding="utf-8")
    assert b["inputs"]["villages"]["path"].endswith("table=src.villages")
    assert len(b["inputs"]["villages"]["sha256"]) == 64
    # the database holds the same statuses, one run
    with _conn(pg_url) as c:
        rows = c.execute(f"SELECT village_id, status FROM {results}.villages").fetchall()
        runs = c.execute("SELECT run_id, command, summary->>'villages_dead', inputs::text "
                         f"FROM {results}.runs").fetchall()
        srid = c.execute(f"SELECT DISTINCT ST_SRID(geom) FROM {results}.communes").fetchall()
    db = pd.Series(dict(rows)).sort_index()
    db.index.name, db.name = "village_id", "status"
    pd.testing.assert_series_equal(db, _statuses(out))
    assert len(runs) == 1 and runs[0][1] == "audit"
    assert int(runs[0][2]) == b["villages_dead"]
    assert password not in runs[0][3]
    assert srid == [(4326,)]

    # a re-run replaces its rows (same run id), never duplicates them
    again = _audit(t["dem"], table_url(pg_url, table="src.villages"),
                   table_url(pg_url, table="src.communes"), table_url(pg_url, table="src.towers"),
                   out, "--out-db", sink, "--overwrite")
    assert again.exit_code == 0, again.output
    assert _count(pg_url, f"SELECT count(*) FROM {results}.villages") == len(rows)
    assert _count(pg_url, f"SELECT count(*) FROM {results}.runs") == 1
    # another run id appends; --out-db-mode replace leaves only the new run
    other = _audit(t["dem"], t["villages"], t["communes"], t["towers"], t["tmp"] / "f2",
                   "--out-db", sink, "--run-id", "second")
    assert other.exit_code == 0, other.output
    assert _count(pg_url, f"SELECT count(DISTINCT run_id) FROM {results}.villages") == 2
    third = _audit(t["dem"], t["villages"], t["communes"], t["towers"], t["tmp"] / "f3",
                   "--out-db", sink, "--run-id", "third", "--out-db-mode", "replace")
    assert third.exit_code == 0, third.output
    with _conn(pg_url) as c:
        run_ids = c.execute(f"SELECT DISTINCT run_id FROM {results}.villages").fetchall()
        assert run_ids == [("third",)]
        assert c.execute(f"SELECT run_id FROM {results}.runs").fetchall() == [("third",)]


def test_a_geometry_column_in_another_srid_is_reprojected(tile_db: dict, pg_url: str) -> None:  # noqa: F811
    """Communes stored in UTM 48N (EPSG:32648) give the statuses of lon/lat communes."""
    t = tile_db
    a = _audit(t["dem"], t["villages"], table_url(pg_url, table="src.communes"), t["towers"],
               t["tmp"] / "srid_a")
    b = _audit(t["dem"], t["villages"], table_url(pg_url, table="src.communes_utm"), t["towers"],
               t["tmp"] / "srid_b")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    pd.testing.assert_series_equal(_statuses(t["tmp"] / "srid_a"), _statuses(t["tmp"] / "srid_b"))
    va = pd.read_csv(t["tmp"] / "srid_a" / "villages.csv", encoding="utf-8-sig")
    vb = pd.read_csv(t["tmp"] / "srid_b" / "villages.csv", encoding="utf-8-sig")
    assert (va["commune_id"].astype(str) == vb["commune_id"].astype(str)).all()


def test_bad_database_inputs_give_one_line_errors(tile_db: dict, pg_url: str) -> None:  # noqa: F811
    t = tile_db
    u = PgUrl.parse(pg_url)
    info = psycopg.conninfo.conninfo_to_dict(u.conninfo)
    wrong = pg_url.replace(f":{info['password']}@", ":not-the-password@")

    def fails(villages: str | Path, communes: str | Path, towers: str | Path,
              *extra: str) -> str:
        res = _audit(t["dem"], villages, communes, towers, t["tmp"] / "bad", "--overwrite",
                     *extra)
        assert res.exit_code != 0
        assert "Traceback" not in res.output
        assert info["password"] not in res.output and "not-the-password" not in res.output
        errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, res.output
        return errors[0]

    msg = fails(table_url(wrong, table="src.villages"), t["communes"], t["towers"])
    assert "password authentication failed" in msg and "cannot connect" in msg
    msg = fails(table_url(pg_url, table="src.nowhere"), t["communes"], t["towers"])
    assert "table 'src.nowhere' not found" in msg
    # communes without geometry: the towers table has only lon/lat points
    msg = fails(t["villages"], table_url(pg_url, table="src.towers"), t["towers"])
    assert "src.towers" in msg and "polygon" in msg.lower()
    # a wrong password for the output database fails before the audit runs
    msg = fails(t["villages"], t["communes"], t["towers"], "--out-db", wrong)
    assert "cannot connect" in msg
    # a query works as a source, a bad one says so
    msg = fails(table_url(pg_url, sql="SELECT * FROM src.villages WHERE nonsense"),
                t["communes"], t["towers"])
    assert "reading the query failed" in msg


def test_geometry_without_srid_or_with_several_is_refused(pg_url: str) -> None:  # noqa: F811
    g = gpd.GeoDataFrame({"village_id": ["a", "b"]},
                         geometry=gpd.points_from_xy([105.1, 105.2], [21.1, 21.2]), crs=4326)
    t = _schema("t")
    load_table(pg_url, f"{t}.nosrid", g, srid=0)
    with pytest.raises(CRSError, match="has no SRID"):
        read_pg(table_url(pg_url, table=f"{t}.nosrid"))
    with _conn(pg_url) as c:
        c.execute(f"CREATE TABLE {t}.mixed AS SELECT 'a' AS id, ST_SetSRID(ST_Point(1, 2), 4326) "
                  "AS geom UNION ALL SELECT 'b', ST_SetSRID(ST_Point(500000, 2300000), 32648)")
        c.execute(f"CREATE TABLE {t}.two AS SELECT 'a' AS id, ST_SetSRID(ST_Point(1, 2), 4326) "
                  "AS g1, ST_SetSRID(ST_Point(1, 2), 4326) AS g2")
    with pytest.raises(CRSError, match="mixes SRIDs"):
        read_pg(table_url(pg_url, table=f"{t}.mixed"))
    with pytest.raises(DataLoadError, match="2 geometry columns"):
        read_pg(table_url(pg_url, table=f"{t}.two"))
    assert read_pg(table_url(pg_url, table=f"{t}.two", geom="g2")).geometry.iloc[0].x == 1.0


def test_a_lost_connection_mid_write_leaves_nothing_half_written(
    pg_url: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from deadzone.data import postgis

    lost = _schema("lost")
    sink = table_url(pg_url, schema=lost)
    g = gpd.GeoDataFrame({"village_id": ["a", "b"], "status": ["dead", "covered"]},
                         geometry=gpd.points_from_xy([105.1, 105.2], [21.1, 21.2]), crs=4326)
    write_tables(sink, {"villages": g, "communes": pd.DataFrame({"commune_id": ["c"]})},
                 command="audit", run_id="before", run={})
    real = postgis._write_table
    calls = []

    def dies_after_first(cur, *a, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        n = real(cur, *a, **kw)
        calls.append(n)
        if len(calls) == 1:  # the server drops this session between two tables
            with _conn(pg_url) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (cur.connection.info.backend_pid,))
        return n

    monkeypatch.setattr(postgis, "_write_table", dies_after_first)
    g2 = g.assign(status="covered")
    with pytest.raises(DataLoadError, match="writing failed, nothing written"):
        write_tables(sink, {"villages": g2, "communes": pd.DataFrame({"commune_id": ["d"]})},
                     command="audit", run_id="after", run={})
    with _conn(pg_url) as c:
        assert c.execute(f"SELECT DISTINCT run_id FROM {lost}.villages").fetchall() == [("before",)]
        assert c.execute(f"SELECT status FROM {lost}.villages ORDER BY village_id").fetchall() == [
            ("dead",), ("covered",)]
        assert c.execute(f"SELECT run_id FROM {lost}.runs").fetchall() == [("before",)]


def test_tables_deadzone_did_not_write_are_never_touched(pg_url: str) -> None:  # noqa: F811
    theirs = _schema("theirs")
    with _conn(pg_url) as c:
        c.execute(f"CREATE SCHEMA {theirs}")
        c.execute(f"CREATE TABLE {theirs}.villages (id int)")
        c.execute(f"INSERT INTO {theirs}.villages VALUES (1)")
    sink = table_url(pg_url, schema=theirs)
    with pytest.raises(DataLoadError, match="was not written by deadzone"):
        write_tables(sink, {"villages": pd.DataFrame({"x": [1]})}, command="audit",
                     run_id="r", run={}, mode="replace")
    assert _count(pg_url, f"SELECT count(*) FROM {theirs}.villages") == 1
    assert _count(pg_url, f"SELECT count(*) FROM pg_tables WHERE schemaname = '{theirs}' "
                          "AND tablename = 'runs'") == 0


def test_place_plan_fiber_progress_write_their_tables(
    scen_dir: Path, pg_url: str, tmp_path: Path  # noqa: F811
) -> None:
    """Each command's --out-db tables hold the rows of its files, one run each."""
    s, sink = str(scen_dir), table_url(pg_url, schema=_schema("cmds"))
    schema = PgUrl.parse(sink).schema

    def ok(*args: str) -> None:
        res = CliRunner().invoke(cli, [*args, "-q", "--out-db", sink])
        assert res.exit_code == 0, res.output

    ok("audit", "--dem", f"{s}/dem.tif", "--villages", f"{s}/villages.gpkg", "--communes",
       f"{s}/communes.gpkg", "--towers", f"{s}/towers.csv", *ENGINE, "--out",
       str(tmp_path / "audit"))
    ok("place", "--scenario", s, "--budget-towers", "1", "--objective", "villages", *ENGINE,
       "--out", str(tmp_path / "place"))
    ok("plan", "--scenario", s, "--years", "2", "--budget-per-year", "20e9", *ENGINE,
       "--max-candidates", "10", "--out", str(tmp_path / "plan"))
    ok("fiber", "--scenario", s, "--targets", "villages", "--improve-s", "0.2",
       "--out", str(tmp_path / "fiber"))
    # the baseline read back from the database: the audit's villages of its run
    baseline = table_url(pg_url, sql=f"SELECT * FROM {schema}.villages")
    ok("progress", "--baseline", baseline, "--current", str(tmp_path / "audit"),
       "--out", str(tmp_path / "progress"))

    def n(name: str) -> int:
        return _count(pg_url, f"SELECT count(*) FROM {schema}.{name}")

    def rows(csv: Path) -> int:
        return len(pd.read_csv(csv, encoding="utf-8-sig"))

    assert n("villages") == rows(tmp_path / "audit" / "villages.csv")
    assert n("place_sites") == rows(tmp_path / "place" / "sites.csv")
    assert n("place_candidates") == rows(tmp_path / "place" / "candidates.csv")
    assert n("plan_villages") == rows(tmp_path / "plan" / "plan_villages.csv")
    assert n("plan_years") == rows(tmp_path / "plan" / "plan_years.csv")
    assert n("fiber_phases") == rows(tmp_path / "fiber" / "phases.csv")
    assert n("fiber_targets") == rows(tmp_path / "fiber" / "targets.csv")
    assert n("progress_villages") == rows(tmp_path / "progress" / "progress_villages.csv")
    progress = pd.read_csv(tmp_path / "progress" / "progress_villages.csv")
    assert (progress["transition"] == "still_covered").sum() + (
        progress["transition"] == "still_dead").sum() == len(progress)  # same audit twice
    with _conn(pg_url) as c:
        commands = sorted(r[0] for r in c.execute(f"SELECT command FROM {schema}.runs"))
    assert commands == ["audit", "fiber", "place", "plan", "progress"]


def test_batch_reads_tables_and_writes_one_run_per_scenario(
    tile_db: dict, pg_url: str  # noqa: F811
) -> None:
    t = tile_db
    sink = table_url(pg_url, schema=_schema("batch"))
    schema = PgUrl.parse(sink).schema
    toml = t["tmp"] / "b.toml"
    toml.write_text(f"""
[[scenario]]
name = "knife"
dem = "{t['dem']}"
villages = "{table_url(pg_url, table='src.villages')}"
communes = "{table_url(pg_url, table='src.communes')}"
towers = "{table_url(pg_url, table='src.towers')}"
model = "knife"
radius_km = 8

[[scenario]]
name = "files"
dem = "{t['dem']}"
villages = "{t['villages']}"
communes = "{t['communes']}"
towers = "{t['towers']}"
model = "knife"
radius_km = 8
""", encoding="utf-8")
    out = t["tmp"] / "batch"
    res = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1",
                                   "-q", "--out-db", sink])
    assert res.exit_code == 0, res.output
    pd.testing.assert_series_equal(_statuses(out / "knife"), _statuses(out / "files"))
    with _conn(pg_url) as c:
        per_run = dict(c.execute(f"SELECT run_id, count(*) FROM {schema}.villages "
                                 "GROUP BY run_id").fetchall())
        summary = json.loads((out / "knife" / "summary.json").read_text(encoding="utf-8"))
        inputs = c.execute(f"SELECT inputs::text FROM {schema}.runs").fetchall()
    assert sorted(k.rsplit("/", 1)[1] for k in per_run) == ["files", "knife"]
    assert set(per_run.values()) == {summary["villages_total"]}
    password = psycopg.conninfo.conninfo_to_dict(PgUrl.parse(pg_url).conninfo)["password"]
    assert all(password not in i[0] for i in inputs)
    assert password not in (out / "knife" / "summary.json").read_text(encoding="utf-8")
    # the same batch again (resumed): the same run ids, rows replaced
    again = CliRunner().invoke(cli, ["batch", str(toml), "--out", str(out), "--workers", "1",
                                     "-q", "--resume", "--out-db", sink])
    assert again.exit_code == 0, again.output
    assert _count(pg_url, f"SELECT count(*) FROM {schema}.villages") == sum(per_run.values())


@pytest.mark.filterwarnings("ignore::deadzone.errors.DeadzoneWarning")
def test_credentials_come_from_the_environment_as_libpq_reads_them(
    tile_db: dict, pg_url: str, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """A URL without a password works with PGPASSWORD; an audit folder made from
    database tables is rebuilt from its summary.json (which holds no password)."""
    from deadzone.app.scenario import load_scenario_dir

    t = tile_db
    info = psycopg.conninfo.conninfo_to_dict(PgUrl.parse(pg_url).conninfo)
    bare = pg_url.replace(f":{info['password']}@", "@")
    monkeypatch.setenv("PGPASSWORD", info["password"])
    out = t["tmp"] / "env"
    res = _audit(t["dem"], table_url(bare, table="src.villages"), t["communes"],
                 table_url(bare, table="src.towers"), out)
    assert res.exit_code == 0, res.output
    again = load_scenario_dir(out)
    assert len(again.villages) == len(pd.read_csv(out / "villages.csv"))
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", str(t["tmp"] / "no-such-pgpass"))
    with pytest.raises(DataLoadError, match="cannot connect"):
        load_scenario_dir(out)
