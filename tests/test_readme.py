"""The README's Python API example runs as written (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_example_runs_as_written(monkeypatch) -> None:  # noqa: ANN001
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block is not None
    monkeypatch.chdir(README.parent)
    ns: dict = {}
    exec(compile(block.group(1), "README.md (Python API)", "exec"), ns)  # noqa: S102
    res = ns["result"]
    assert res.summary_lines()[0].startswith("covered villages: ")
    assert ns["itm"].loss_db > 0
    assert len(ns["dead"]) == int(res.summary["villages_dead"])


def test_model_guidance_in_readme_and_help() -> None:
    """Issue 16 item 10: which model to use when, and why the figures differ."""
    from click.testing import CliRunner

    from deadzone.cli.main import cli

    text = README.read_text(encoding="utf-8")
    assert "Which model, and why the figures differ" in text
    for word in ("`knife`", "optimistic", "median", "Hata/COST-231"):
        assert word in text.split("Which model, and why the figures differ", 1)[1][:2500]
    out = CliRunner().invoke(cli, ["audit", "--help"], terminal_width=400).output
    assert "Publish figures with itm" in out and "optimistic" in out


def test_top_level_lists_the_entry_points() -> None:
    """Issue 16 item 9: dir(deadzone) and help(deadzone) name audit and the rest."""
    import deadzone

    names = dir(deadzone)
    for n in ("audit", "compute_coverage", "load_villages", "optimize", "Session",
              "write_audit", "demo_scenario"):
        assert n in names
        assert callable(getattr(deadzone, n))
        assert f"``{n}``" in (deadzone.__doc__ or "")
    assert "Any" not in names and "import_module" not in names


def test_towers_columns_documented() -> None:
    """Issue 16 item 9: the README and audit --help list the towers file's columns."""
    from click.testing import CliRunner

    from deadzone.cli.main import cli
    from deadzone.model.schema import TOWER_COLUMNS

    text = README.read_text(encoding="utf-8")
    out = CliRunner().invoke(cli, ["audit", "--help"], terminal_width=400).output
    for col in TOWER_COLUMNS:
        if col in ("lon", "lat"):
            continue
        assert f"`{col}`" in text, col
        assert col in out, col
    assert "obstruction_distance_m` is\nmeasured from the tower" in text
