"""Every folder a command writes is one run: its summary (written last) lists
the SHA-256 of every other file, and the commands that read the folder refuse
one that an interrupted ``--overwrite`` left mixed (issue 18 item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from tests.cli.test_cli_place import ENGINE, scen_dir  # noqa: F401  (fixture)


def _ok(args: list[str]) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output


def _refused(args: list[str], what: str) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert what in res.output and "Traceback" not in res.output, res.output


def _tamper(path: Path) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n")


@pytest.fixture(scope="module")
def runs(scen_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    root = tmp_path_factory.mktemp("runs")
    d = {k: root / k for k in ("audit", "place", "fiber", "progress", "whatif")}
    s = str(scen_dir)
    _ok(["audit", "--dem", f"{s}/dem.tif", "--villages", f"{s}/villages.gpkg", "--communes",
         f"{s}/communes.gpkg", "--towers", f"{s}/towers.csv", *ENGINE, "-q",
         "--out", str(d["audit"])])
    _ok(["place", "--scenario", s, "--budget-towers", "1", "--objective", "villages", *ENGINE,
         "-q", "--out", str(d["place"])])
    _ok(["fiber", "--scenario", s, "--targets", "villages", "--improve-s", "0.2", "-q",
         "--out", str(d["fiber"])])
    _ok(["progress", "--baseline", str(d["audit"]), "--current", str(d["audit"]), "-q",
         "--out", str(d["progress"])])
    _ok(["whatif", "--scenario", s, "--remove", "T0", *ENGINE, "-q", "--out", str(d["whatif"])])
    return d


@pytest.mark.parametrize(("run", "summary", "listed"), [
    ("audit", "summary.json", {"villages.csv", "communes.gpkg", "coverage.tif", "map.html"}),
    ("place", "summary.json", {"sites.csv", "sites.gpkg", "candidates.csv", "report.txt",
                               "map.html"}),
    ("fiber", "phases.json", {"routes.gpkg", "phases.csv", "targets.csv", "map.html",
                              "ofds/spans.geojson"}),
    ("progress", "progress_summary.json", {"progress_villages.csv", "progress_by_commune.csv"}),
    ("whatif", "summary.json", {"delta_villages.csv", "edits.csv", "towers_after.csv",
                                "map_before.html", "map_after.html"}),
])
def test_the_summary_lists_every_other_file(runs: dict[str, Path], run: str, summary: str,
                                            listed: set[str]) -> None:
    doc = json.loads((runs[run] / summary).read_text(encoding="utf-8"))
    assert listed <= set(doc["outputs"]) and summary not in doc["outputs"]


def test_readers_refuse_a_mixed_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    audit = str(runs["audit"])
    for run, victim in (("place", "sites.csv"), ("fiber", "phases.csv"),
                        ("progress", "progress_villages.csv")):
        mixed = tmp_path / run
        shutil.copytree(runs[run], mixed)
        _tamper(mixed / victim)
        flag = {"place": "--placement", "fiber": "--fiber", "progress": "--progress"}[run]
        command = "place" if run == "place" else run
        what = f"{victim}: differs from the {command} run"
        _refused(["report", "--audit", audit, flag, str(mixed), "--out",
                  str(tmp_path / f"{run}.html")], what)
        if run in ("place", "fiber"):
            _refused(["map", "--audit", audit, "--place" if run == "place" else "--fiber",
                      str(mixed), "--out", str(tmp_path / f"{run}_map.html")], what)
    # an audit folder given to whatif/place/serve as --scenario
    mixed = tmp_path / "audit"
    shutil.copytree(runs["audit"], mixed)
    _tamper(mixed / "villages.csv")
    _refused(["whatif", "--scenario", str(mixed), "--remove", "T0", *ENGINE,
              "--out", str(tmp_path / "w")], "villages.csv: differs from the audit run")
    # the intact folders read
    _ok(["report", "--audit", audit, "--placement", str(runs["place"]), "--fiber",
         str(runs["fiber"]), "--progress", str(runs["progress"]), "--out",
         str(tmp_path / "ok.html")])


def test_fiber_takes_every_scenario_folder_the_other_commands_take(
        runs: dict[str, Path], scen_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    """Issue 17: ``fiber --scenario`` read only plain scenario folders, while
    whatif/place/serve also take an audit folder (one loader for all now)."""
    _ok(["fiber", "--scenario", str(runs["audit"]), "--roads", str(scen_dir / "roads.gpkg"),
         "--backbone", str(scen_dir / "backbone.gpkg"), "--targets", "villages",
         "--improve-s", "0.2", "-q", "--out", str(tmp_path / "f")])
    doc = json.loads((tmp_path / "f" / "phases.json").read_text(encoding="utf-8"))
    assert doc["targets"]["total"] == 40  # the audit's villages
