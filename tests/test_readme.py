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
