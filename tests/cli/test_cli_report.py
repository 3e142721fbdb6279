"""``deadzone report`` / ``deadzone export`` end to end through click's CliRunner."""

from __future__ import annotations

import zipfile
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from tests.conftest import small_scenario

PTS = [(4000, 4500), (1000, 1000), (8000, 4500), (5000, 4500), (-500, 100)]


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory):
    scen = small_scenario(villages=PTS, towers=[{"x": 4500, "y": 4500, "eirp_dbm": 5.0}])
    res = audit(scen, radius_km=4.0)
    folder = tmp_path_factory.mktemp("audit")
    write_audit(res, folder)
    return res, folder


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_report_cli(audit_dir, tmp_path) -> None:
    res, folder = audit_dir
    out = tmp_path / "report.html"
    r = _run("report", "--audit", str(folder), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert str(out) in r.output
    text = out.read_text(encoding="utf-8")
    assert res.summary_lines()[0] in text
    assert "Xã Mường Tè" in text and "Xã Pa Ủ" in text
    assert "https://" not in text and "http://" not in text
    # refuses to overwrite, one-line error, exit 2
    r = _run("report", "--audit", str(folder), "--out", str(out))
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("error:") and "--overwrite" in err and "\n" not in err
    r = _run("report", "--audit", str(folder), "--out", str(out), "--overwrite", "-q")
    assert r.exit_code == 0 and r.output == ""


@pytest.mark.parametrize("flag", ["--audit", "--progress"])
def test_report_cli_missing_folder(audit_dir, tmp_path, flag) -> None:
    _, folder = audit_dir
    audit_arg = str(tmp_path / "nope") if flag == "--audit" else str(folder)
    args = ["report", "--audit", audit_arg, "--out", str(tmp_path / "r.html")]
    if flag == "--progress":
        args += ["--progress", str(tmp_path / "nope")]
    r = _run(*args)
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("error:") and "nope" in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_cli_not_an_audit_folder(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    r = _run("report", "--audit", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html"))
    assert r.exit_code == 2 and "villages.csv" in r.stderr


def test_export_cli(audit_dir, tmp_path) -> None:
    res, folder = audit_dir
    kmz, qml = tmp_path / "v.kmz", tmp_path / "c.qml"
    r = _run("export", "--audit", str(folder), "--kml", str(kmz), "--qml", str(qml))
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(kmz) as zf:
        root = ET.fromstring(zf.read("doc.kml"))
    assert len(root.findall(".//{http://www.opengis.net/kml/2.2}Placemark")) == len(PTS)
    items = ET.parse(qml).getroot().findall(".//item")
    assert [i.get("value") for i in items] == ["-110", "-100", "inf"]
    again = tmp_path / "again.kmz"
    r = _run("export", "--audit", str(folder), "--kml", str(again))
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == kmz.read_bytes()  # reproducible: no wall-clock zip dates
    r = _run("export", "--audit", str(folder), "--qml", str(qml))
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = _run("export", "--audit", str(folder))
    assert r.exit_code == 2 and "--kml" in r.stderr


def test_help_lists_commands() -> None:
    r = _run("--help")
    assert "report" in r.output and "export" in r.output
    r = _run("report", "--help")
    assert "--placement" in r.output and "offline" in r.output


def test_report_cli_pdf(audit_dir, tmp_path, monkeypatch) -> None:
    import shutil

    if shutil.which("chromium") is None:
        pytest.fail("chromium is missing: PDF reports need Debian's chromium (.ci/run installs it)")
    _, folder = audit_dir
    out = tmp_path / "report.html"
    r = _run("report", "--audit", str(folder), "--out", str(out), "--pdf")
    assert r.exit_code == 0, r.output
    assert f"report: {out} (" in r.output and f"report: {out.with_suffix('.pdf')} (" in r.output
    assert out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    # no converter: one line, exit 2, nothing written
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DEADZONE_CHROMIUM", raising=False)
    r = _run("report", "--audit", str(folder), "--out", str(tmp_path / "x.pdf"))
    assert r.exit_code == 2
    err = r.stderr.strip()
    assert err.startswith("error: no PDF converter found") and "\n" not in err
    assert not (tmp_path / "x.pdf").exists()
