"""A throw-away PostgreSQL + PostGIS cluster for the tests.

``python tests/pg_cluster.py start DIR`` makes a cluster in ``DIR`` (owned by
an unprivileged system user when run as root: PostgreSQL refuses root),
listening on 127.0.0.1 at a free port and on a socket in ``DIR``, with
password (SCRAM) authentication over TCP and a database with PostGIS, and
prints its URL (``postgresql://deadzone:PASSWORD@127.0.0.1:PORT/deadzone_test``).
``python tests/pg_cluster.py stop DIR`` stops it.  ``.ci/run`` starts one and
exports its URL as ``DEADZONE_TEST_PG_URL``; without that variable the tests'
``pg_url`` fixture starts its own.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

USER = "deadzone-pg"
ROLE = "deadzone"
DB = "deadzone_test"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for d in reversed(found):
        if (Path(d) / "initdb").exists():
            return Path(d)
    exe = shutil.which("initdb")
    if exe:
        return Path(exe).resolve().parent
    raise RuntimeError("PostgreSQL is not installed "
                       "(apt-get install postgresql postgresql-postgis)")


def _as_user(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", USER, "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(directory: str | os.PathLike[str]) -> str:
    """Start a cluster in ``directory`` (made if missing); return its URL."""
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        if subprocess.run(["id", "-u", USER], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                            "/usr/sbin/nologin", USER], check=True)
        shutil.chown(d, user=USER)
        d.chmod(0o700)
    bindir = _bindir()
    password = secrets.token_hex(12)
    (d / "pw").write_text("postgres-superuser-unused\n")
    if os.geteuid() == 0:
        shutil.chown(d / "pw", user=USER)
    _as_user([str(bindir / "initdb"), "-D", str(d / "data"), "-U", "postgres", "-A", "trust",
              "--auth-host=scram-sha-256", f"--pwfile={d / 'pw'}", "-E", "UTF8",
              "--locale=C.UTF-8"])
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {d} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off")
    _as_user([str(bindir / "pg_ctl"), "-D", str(d / "data"), "-o", opts, "-l",
              str(d / "log"), "-w", "-t", "60", "start"])
    (d / "port").write_text(str(port))
    psql = [str(bindir / "psql"), "-h", str(d), "-p", str(port), "-U", "postgres", "-v",
            "ON_ERROR_STOP=1", "-q"]
    _as_user([*psql, "-d", "postgres", "-c",
              f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}'",
              "-c", f"CREATE DATABASE {DB} OWNER {ROLE}"])
    _as_user([*psql, "-d", DB, "-c", "CREATE EXTENSION postgis"])
    return f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DB}"


def stop(directory: str | os.PathLike[str]) -> None:
    """Stop the cluster in ``directory`` (fast shutdown) and remove it."""
    d = Path(directory).resolve()
    if (d / "data").exists():
        _as_user([str(_bindir() / "pg_ctl"), "-D", str(d / "data"), "-m", "fast", "-w", "stop"])
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    what, where = sys.argv[1], sys.argv[2]
    if what == "start":
        print(start(where))
    elif what == "stop":
        stop(where)
    else:
        raise SystemExit(f"usage: {sys.argv[0]} start|stop DIR")
