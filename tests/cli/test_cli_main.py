"""The ``deadzone`` group: options for every subcommand, help texts, input errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_raster
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from tests.conftest import small_scenario


@pytest.fixture(scope="module")
def two_audits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("main")
    pts = [(x, 4500.0) for x in (1000.0, 3000.0, 5000.0, 7000.0)]
    towers = [{"x": 2000.0, "y": 4500.0}, {"x": 7000.0, "y": 4500.0}]
    for name, tw in (("before", towers), ("after", towers[:1])):
        r = audit(small_scenario(villages=pts, towers=tw), radius_km=3.0, model="knife")
        write_audit(r, root / name)
    return root / "before", root / "after"


@pytest.mark.parametrize("where", ["group", "subcommand", "none"])
def test_quiet_before_or_after_the_subcommand(two_audits, tmp_path: Path, where: str) -> None:
    before, after = two_audits
    args = ["progress", "--baseline", str(before), "--current", str(after)]
    args += ["--out", str(tmp_path / "p")]
    if where == "group":
        args = ["-q", *args]
    elif where == "subcommand":
        args = [*args, "-q"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert ("dead-zone villages covered since baseline" in res.output) == (where == "none")


def test_help_texts_show_percent_once() -> None:
    for name in cli.commands:
        res = CliRunner().invoke(cli, [name, "--help"], terminal_width=200)
        assert res.exit_code == 0, (name, res.output)
        assert "%%" not in res.output, name
    res = CliRunner().invoke(cli, ["audit", "--help"], terminal_width=200)
    assert "reached at 90% of locations" in res.output
    res = CliRunner().invoke(cli, ["place", "--help"], terminal_width=200)
    assert ">= 63% of optimal" in res.output


def test_misspelt_tower_column_stops_with_one_line(tmp_path: Path) -> None:
    s = small_scenario(towers=[{"x": 3000, "y": 3000}])
    dem = write_raster(tmp_path / "dem.tif", s.dem.elevation_m, s.dem.transform, s.dem.crs)
    table = pd.DataFrame(s.towers.drop(columns="geometry"))
    towers = tmp_path / "towers.csv"
    table.rename(columns={"freq_mhz": "freq_mz"}).to_csv(towers, index=False)
    args = ["coverage", "--dem", str(dem), "--towers", str(towers), "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(cli, args)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "towers.csv: column 'freq_mz' is not used: did you mean 'freq_mhz'?" in lines[0]
    # the way on: rename the column
    table.to_csv(towers, index=False)
    args[-1] = str(tmp_path / "o2")
    res = CliRunner().invoke(cli, [*args, "--radius-km", "3", "-q"])
    assert res.exit_code == 0, res.output


def test_coverage_label_says_when_the_kernels_compile(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A fresh install's first run names the JIT in the progress label: the area
    sweep's for rasters, the exact-path kernel's always."""
    from deadzone.cli.options import coverage_label
    from deadzone.kernels import _paths, _propagation

    sweep = _propagation.tower_sweep._cache._cache_file
    paths = _paths.pairs_rx._cache._cache_file
    monkeypatch.setattr(sweep, "_index_path", str(tmp_path / "sweep.nbi"))
    monkeypatch.setattr(paths, "_index_path", str(tmp_path / "paths.nbi"))
    assert "compiling the kernels" in coverage_label("coverage (towers)")
    (tmp_path / "sweep.nbi").write_bytes(b"")
    assert "compiling the kernels" in coverage_label("coverage (towers)")
    (tmp_path / "paths.nbi").write_bytes(b"")
    assert coverage_label("coverage (towers)") == "coverage (towers)"
    (tmp_path / "sweep.nbi").unlink()
    assert coverage_label("villages", sweep=False) == "villages"
    assert "compiling the kernels" in coverage_label("villages")


def test_a_warning_line_is_printed_once_per_command() -> None:
    """Issue 16 item 9: whatif/serve repeated the same input warning for every
    re-audit; a command prints each warning line once."""
    import warnings as _w

    import click
    from click.testing import CliRunner

    from deadzone.cli.main import _Group
    from deadzone.errors import DeadzoneWarning

    @click.group(cls=_Group)
    def grp() -> None:
        pass

    @grp.command()
    def twice() -> None:
        for _ in range(3):
            _w.warn("villages.csv: 3 of 5 villages have population 0", DeadzoneWarning,
                    stacklevel=2)
        _w.warn("another line", DeadzoneWarning, stacklevel=2)

    for _ in range(2):  # and again in the next command
        out = CliRunner().invoke(grp, ["twice"]).output
        assert out.count("have population 0") == 1 and out.count("another line") == 1


def test_progress_bars_show_time_left() -> None:
    """Issue 18 item 8: a tiled run of 14+ minutes showed no estimate of the rest."""
    from rich.progress import TimeRemainingColumn

    from deadzone.cli.options import progress_bar

    bar = progress_bar("tiles", quiet=False)
    update = bar.__enter__()
    try:
        update(3, 10)
        assert any(isinstance(c, TimeRemainingColumn) for c in bar._progress.columns)
    finally:
        bar.__exit__(None, None, None)
    quiet = progress_bar("tiles", quiet=True)
    quiet.__enter__()(1, 2)  # nothing shown, nothing fails
    assert quiet._progress is None


def test_the_process_ends_with_the_commands_status_and_full_output(tmp_path: Path) -> None:
    """``main`` skips the interpreter's teardown (``_exit_now``): the exit status,
    stdout through a pipe and stderr's one-line error must still be whole."""
    import os
    import subprocess
    import sys

    from deadzone import __version__

    def run(*args: str, code: str = "from deadzone.cli.main import main; main()"
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env={**os.environ,
                              "COLUMNS": "80"})

    r = run("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"deadzone, version {__version__}\n", "")
    # the same text as the interpreter's own exit gives
    full = run("audit", "--help",
               code="from deadzone.cli.main import cli; cli(prog_name='deadzone')")
    r = run("audit", "--help")
    assert r.returncode == 0 and r.stdout == full.stdout and len(r.stdout) > 5000
    r = run("audit", "--villages", str(tmp_path / "missing.csv"))
    assert r.returncode == 2 and "missing.csv" in r.stderr and r.stdout == ""
    bad = tmp_path / "villages.csv"
    bad.write_text("village_id,lon,lat\nV1,105.5,abc\n", encoding="utf-8")
    r = run("map", "--audit", str(tmp_path))
    err = r.stderr.strip()
    assert r.returncode == 2 and err.startswith("error: ") and "\n" not in err
