"""``deadzone audit --overwrite`` killed mid-write leaves every file old-complete or new-complete.

Every audit output goes through :func:`deadzone.data.io.atomic_path` (or, for
``map.html``, :func:`deadzone.maps.folium_map.save_map`'s own temporary file +
rename), so a SIGKILL at any moment leaves, under each final name, either the
byte-identical previous file or the byte-identical file an uninterrupted run
writes; only dot-prefixed temporaries may be left, and the next run sweeps them.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from deadzone.geo.export import AUDIT_FILES
from tests.conftest import small_scenario

ROOT = Path(__file__).resolve().parents[2]
# The towers are 2G: one per-technology metric raster.
OUT_FILES = (*AUDIT_FILES, "signal_2G_dbm.tif", "map.html")


def _inputs(folder: Path) -> list[str]:
    rng = random.Random(7)
    villages = [(rng.uniform(100, 8900), rng.uniform(100, 8900)) for _ in range(40)]
    s = small_scenario(villages=villages, towers=[{"x": 4500, "y": 4500}, {"x": 2000, "y": 7000}])
    write_scenario(s, folder, overwrite=True)
    return [
        "audit",
        "--dem", str(folder / "dem.tif"),
        "--villages", str(folder / "villages.gpkg"),
        "--communes", str(folder / "communes.gpkg"),
        "--towers", str(folder / "towers.csv"),
        "--model", "fspl",
        "--threads", "1",
        "-q",
    ]  # fmt: skip


def _state(folder: Path) -> dict[str, float]:
    state = {}
    for e in os.scandir(folder):
        try:
            state[e.name] = e.stat().st_mtime_ns
        except FileNotFoundError:  # a transient file (an SQLite journal) went in between
            state[e.name] = -1
    return state


def _run_and_kill(cmd: list[str], out: Path, delay_s: float, err: Path,
                  sig: int = signal.SIGKILL) -> int | None:
    """Start ``cmd``; once the folder starts changing, wait ``delay_s`` and send ``sig``."""
    before = _state(out)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with err.open("w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=fh)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if _state(out) != before:  # first temporary file or rename
                break
            time.sleep(0.002)
        time.sleep(delay_s)
        proc.send_signal(sig)
    finally:
        proc.wait(timeout=30)
    return proc.returncode


def test_killed_audit_leaves_old_or_new_complete_files(tmp_path: Path) -> None:
    base = _inputs(tmp_path / "in")
    old_args = [*base, "--radius-km", "3", "--threshold-dbm", "-95"]
    new_args = [*base, "--radius-km", "4", "--threshold-dbm", "-100"]
    runner = CliRunner()
    old, new = tmp_path / "old", tmp_path / "new"
    for args, folder in ((old_args, old), (new_args, new)):
        res = runner.invoke(cli, [*args, "--out", str(folder)])
        assert res.exit_code == 0, res.output
    old_bytes = {n: (old / n).read_bytes() for n in OUT_FILES}
    new_bytes = {n: (new / n).read_bytes() for n in OUT_FILES}
    differ = [n for n in OUT_FILES if old_bytes[n] != new_bytes[n]]
    assert {"villages.csv", "summary.json", "coverage.tif", "map.html"} <= set(differ)

    rng = random.Random(20261123)
    killed = 0
    # Early (first file), middle (tables, rasters) and late (map) in the write phase.
    for k, (lo, hi) in enumerate(((0.0, 0.03), (0.03, 0.15), (0.15, 0.5))):
        out = tmp_path / f"run{k}"
        shutil.copytree(old, out)
        cmd = [sys.executable, "-m", "deadzone", *new_args, "--out", str(out), "--overwrite"]
        rc = _run_and_kill(cmd, out, rng.uniform(lo, hi), tmp_path / f"err{k}.txt")
        assert rc in (0, -signal.SIGKILL), (tmp_path / f"err{k}.txt").read_text()
        killed += rc == -signal.SIGKILL
        for n in OUT_FILES:
            got = (out / n).read_bytes()
            assert got in (old_bytes[n], new_bytes[n]), f"{n} is neither old nor new (kill {k})"
        stray = {p.name for p in out.iterdir()} - set(OUT_FILES)
        assert all(s.startswith(".") for s in stray), stray  # only temporaries
        # The next run completes the folder and sweeps what the killed one left.
        res = runner.invoke(cli, [*new_args, "--out", str(out), "--overwrite"])
        assert res.exit_code == 0, res.output
        assert sorted(p.name for p in out.iterdir()) == sorted(OUT_FILES)
        for n in OUT_FILES:
            assert (out / n).read_bytes() == new_bytes[n], n
    assert killed >= 1  # at least one run really died while writing


def test_sigterm_leaves_no_temporaries_and_the_next_run_sweeps_gdal_leftovers(
        tmp_path: Path) -> None:
    """Issue 18 item 6: SIGTERM ended a command without its ``finally`` blocks
    (temporary files and folders stayed), and the ``.ovr.tmp`` GDAL leaves
    beside a killed COG was not swept by the next ``--overwrite``."""
    base = _inputs(tmp_path / "in")
    args = [*base, "--radius-km", "4", "--threshold-dbm", "-100"]
    ref = tmp_path / "ref"
    assert CliRunner().invoke(cli, [*args, "--out", str(ref)]).exit_code == 0
    rng = random.Random(11)
    terminated = 0
    for k in range(3):
        out = tmp_path / f"t{k}"
        shutil.copytree(ref, out)
        cmd = [sys.executable, "-m", "deadzone", *args, "--out", str(out), "--overwrite"]
        rc = _run_and_kill(cmd, out, rng.uniform(0.0, 0.3), tmp_path / f"e{k}.txt",
                           sig=signal.SIGTERM)
        # 143: ended through the handler; -15: the signal came while the
        # interpreter was already exiting (the handler is gone then; the
        # folder is complete either way, checked below)
        assert rc in (0, 128 + signal.SIGTERM, -signal.SIGTERM), (
            (tmp_path / f"e{k}.txt").read_text())
        terminated += rc == 128 + signal.SIGTERM
        assert sorted(p.name for p in out.iterdir()) == sorted(OUT_FILES)  # nothing left over
    assert terminated >= 1
    # what a SIGKILL can leave beside a COG: swept by the next run
    leftover = out / ".coverage.0123abcd.tmp.tif.ovr.tmp"
    leftover.write_bytes(b"x" * 100)
    assert CliRunner().invoke(cli, [*args, "--out", str(out), "--overwrite"]).exit_code == 0
    assert not leftover.exists()


def test_a_folder_mixing_two_runs_is_refused_by_its_readers(tmp_path: Path) -> None:
    """Issue 18 item 4: after a kill mid-``--overwrite``, summary.json said one run
    (685 covered) and villages.csv another (393), and every reader took the folder
    as one audit.  summary.json is written last with the checksum of every other
    file; report, map and progress verify them."""
    base = _inputs(tmp_path / "in")
    runner = CliRunner()
    old, new = tmp_path / "old", tmp_path / "new"
    for args, folder in (([*base, "--radius-km", "3", "--threshold-dbm", "-95"], old),
                         ([*base, "--radius-km", "4", "--threshold-dbm", "-100"], new)):
        assert runner.invoke(cli, [*args, "--out", str(folder)]).exit_code == 0
    assert (old / "villages.csv").read_bytes() != (new / "villages.csv").read_bytes()
    shutil.copyfile(new / "villages.csv", old / "villages.csv")  # the kill's half-way state
    for cmd in (["report", "--audit", str(old), "--out", str(tmp_path / "r.html")],
                ["map", "--audit", str(old), "--out", str(tmp_path / "m.html")],
                ["progress", "--baseline", str(old), "--current", str(new),
                 "--out", str(tmp_path / "p")]):
        res = runner.invoke(cli, cmd)
        assert res.exit_code == 2, (cmd, res.output)
        assert "villages.csv: differs from the audit" in res.output, res.output
        assert "Traceback" not in res.output
    # the intact folder reads
    assert runner.invoke(cli, ["report", "--audit", str(new), "--out",
                               str(tmp_path / "ok.html")]).exit_code == 0


def test_sigterm_during_an_import_ends_the_command_after_it(tmp_path: Path) -> None:
    """CI saw ``ImportError: coverage_map needs matplotlib`` (exit 2) from a
    SIGTERM that came while matplotlib initialised: an exception raised inside a
    C extension's initialisation becomes ``ImportError('initialization
    failed')``.  The handler lets the import finish, then ends the command."""
    (tmp_path / "slowmod.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(0.3)\n"
        "print('imported', flush=True)\n", encoding="utf-8")
    script = (
        "import signal, sys, time\n"
        "from deadzone.cli.main import _on_sigterm\n"
        "signal.signal(signal.SIGTERM, _on_sigterm)\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import slowmod\n"
        "print('after', flush=True)\n"
        "time.sleep(20)\n"
        "print('not ended', flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 128 + signal.SIGTERM, res.stderr
    assert res.stdout.split() == ["imported", "after"]
    assert time.monotonic() - t0 < 15
