"""``deadzone serve``: starts on a free loopback port, answers, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.data.io import write_scenario
from tests.web.conftest import web_scenario


@pytest.fixture(scope="module")
def web_scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("serve") / "scenario"
    write_scenario(web_scenario(), d / "inputs")
    return d


def _start(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Ctrl-C in a terminal: SIGINT with its default action, even when this test
    # runs under a shell that ignores it (a background job inherits SIG_IGN, and
    # Python then installs no KeyboardInterrupt handler).
    proc = subprocess.Popen(
        [sys.executable, "-m", "deadzone", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: list[str] = []
    return proc, lines


def _read_until_url(proc: subprocess.Popen[str], lines: list[str]) -> str:
    found: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"on (http://\S+) \(Ctrl-C to stop\)", line)
            if m and not found:
                found.append(m.group(1))
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(120)
    assert found, "".join(lines)
    return found[0]


def test_serve_starts_answers_and_stops_on_ctrl_c(web_scenario_dir: Path) -> None:
    proc, lines = _start(
        [
            "--scenario",
            str(web_scenario_dir),
            "--model",
            "knife",
            "--radius-km",
            "3",
            "--port",
            "0",
            "-q",
        ]
    )
    try:
        url = _read_until_url(proc, lines)
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url + "api/state", timeout=30) as r:
            state = json.loads(r.read())
        assert state["totals"]["villages_total"] == 30
        assert state["model"] == "knife"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "stopped" in text and "Traceback" not in text


def test_serve_help_and_bad_options(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["serve", "--help"])
    assert res.exit_code == 0
    assert "127.0.0.1" in res.output and "--port" in res.output and "--host" in res.output
    res = runner.invoke(cli, ["serve", "--scenario", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(cli, ["serve", "--scenario", str(empty), "--model", "knife"])
    assert res.exit_code == 2 and res.output.startswith("error: ")
    assert "Traceback" not in res.output


def test_serve_warns_when_not_loopback(
    web_scenario_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deadzone.web.app as web_app

    bound: list[tuple[str, int]] = []

    class _Stub:
        url = "http://0.0.0.0:8765/"

        def serve_forever(self, poll_interval: float) -> None:
            raise KeyboardInterrupt

        def server_close(self) -> None:
            bound.append(("closed", 0))

    def fake_make_server(app: object, *, host: str, port: int) -> _Stub:
        bound.append((host, port))
        return _Stub()

    monkeypatch.setattr(web_app, "make_server", fake_make_server)
    res = CliRunner().invoke(
        cli,
        [
            "serve",
            "--scenario",
            str(web_scenario_dir),
            "--model",
            "knife",
            "--radius-km",
            "3",
            "--host",
            "0.0.0.0",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "warning: listening on 0.0.0.0" in res.output
    assert bound == [("0.0.0.0", 8765), ("closed", 0)]
    assert res.output.rstrip().endswith("stopped")
