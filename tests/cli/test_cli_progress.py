"""``deadzone progress`` end to end on two audits of a small synthetic scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from deadzone.geo.progress import PROGRESS_FILES
from tests.conftest import small_scenario

_PTS = [(x, y) for x in (1000.0, 3000.0, 5000.0, 7000.0) for y in (1000.0, 4500.0, 8000.0)]
_TOWERS = [{"x": 2000.0, "y": 4500.0}, {"x": 7000.0, "y": 4500.0}]


@pytest.fixture(scope="module")
def two_audits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """Audit with all towers (baseline) and with the second tower removed (current)."""
    root = tmp_path_factory.mktemp("progress")
    statuses = {}
    for name, towers in (("before", _TOWERS), ("after", _TOWERS[:1])):
        r = audit(small_scenario(villages=_PTS, towers=towers), radius_km=3.0, model="knife")
        write_audit(r, root / name)
        statuses[name] = r.villages.set_index("village_id")["status"]
    both = pd.DataFrame(statuses)
    return root / "before", root / "after", both


def test_progress_newly_dead_after_tower_removed(two_audits, tmp_path: Path) -> None:
    before, after, st = two_audits
    dropped = sorted(st.index[(st["before"] == "covered") & (st["after"] != "covered")])
    gained = sorted(st.index[(st["before"] != "covered") & (st["after"] == "covered")])
    assert dropped, "removing a tower must drop some village (test scenario check)"
    out = tmp_path / "p"
    res = CliRunner().invoke(
        cli, ["progress", "--baseline", str(before), "--current", str(after), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(PROGRESS_FILES)
    v = pd.read_csv(out / "progress_villages.csv", dtype={"baseline_village_id": str})
    assert len(v) == len(_PTS) and (v["match_method"] == "id").all()
    assert sorted(v.loc[v["transition"] == "newly_dead", "baseline_village_id"]) == dropped
    assert sorted(v.loc[v["transition"] == "newly_covered", "baseline_village_id"]) == gained
    dz = int(st["before"].isin(["dead", "marginal"]).sum())
    pct = f" ({100.0 * len(gained) / dz:.1f}%)" if dz else ""
    assert f"dead-zone villages covered since baseline: {len(gained)}/{dz}{pct}" in res.output
    n_cov = int((st["before"] == "covered").sum())
    assert f"newly dead since baseline: {len(dropped)}/{n_cov}" in res.output
    by_c = pd.read_csv(out / "progress_by_commune.csv", dtype={"commune_id": str})
    assert by_c["newly_dead"].sum() == len(dropped)
    assert set(by_c["province"]) == {"Lai Châu"}
    summary = json.loads((out / "progress_summary.json").read_text(encoding="utf-8"))
    assert summary["transitions"]["newly_dead"] == len(dropped)
    assert summary["unmatched_baseline"] == 0 == summary["unmatched_current"]

    # Refuses to overwrite; --overwrite replaces.
    again = CliRunner().invoke(
        cli, ["progress", "--baseline", str(before), "--current", str(after), "--out", str(out)]
    )
    assert again.exit_code == 2 and "error:" in again.output and "--overwrite" in again.output
    ok = CliRunner().invoke(
        cli,
        [
            "progress",
            "--baseline",
            str(before),
            "--current",
            str(after),
            "--out",
            str(out),
            "--overwrite",
            "-q",
        ],
    )
    assert ok.exit_code == 0 and ok.output == ""


def test_progress_against_a_ministry_list(two_audits, tmp_path: Path) -> None:
    before, _, st = two_audits
    cur = pd.read_csv(before / "villages.csv", dtype={"village_id": str})
    # The list names every village dead with one tower, with its own ids, ASCII
    # names, the commune by name and a phase; one extra village is in no audit.
    # The current network has the second tower.
    dead = cur[cur["village_id"].isin(st.index[st["after"] != "covered"])]
    communes = {"C1": "Xa Muong Te", "C2": "Xa Pa U"}
    lst = pd.DataFrame(
        {
            "id": [f"MIN-{i}" for i in range(len(dead))] + ["MIN-X"],
            "name": [n.replace("Thôn Nà", "Ban Na") for n in dead["name"]] + ["Ban Khong Co"],
            "commune": [communes[c] for c in dead["commune_id"]] + ["Xa Muong Te"],
            "phase": ["identified 2021-2022"] * len(dead) + ["new in 2022-2023"],
        }
    )
    lst_path = tmp_path / "ministry.csv"
    lst.to_csv(lst_path, index=False)
    out = tmp_path / "p"
    res = CliRunner().invoke(
        cli, ["progress", "--baseline", str(lst_path), "--current", str(before), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    v = pd.read_csv(out / "progress_villages.csv")
    listed = v[v["side"] != "current"]
    assert len(listed) == len(lst)
    assert (listed["match_method"].iloc[:-1] == "name").all()
    want = sorted(st.index[(st["after"] != "covered") & (st["before"] == "covered")])
    assert want
    assert sorted(v.loc[v["transition"] == "newly_covered", "current_village_id"]) == want
    assert "newly dead since baseline: n/a" in res.output
    um = pd.read_csv(out / "unmatched.csv")
    assert um.loc[um["side"] == "baseline", "baseline_village_id"].tolist() == ["MIN-X"]
    ph = pd.read_csv(out / "progress_by_phase.csv").set_index("phase")
    assert ph.loc["identified 2021-2022", "baseline_total"] == len(dead)
    assert ph.loc["new in 2022-2023", "unmatched"] == 1


def test_progress_bad_input_is_one_line_error(tmp_path: Path, two_audits) -> None:
    before, _, _ = two_audits
    bad = tmp_path / "bad.csv"
    bad.write_text("village_id,name,status\nA,x,dead\nB,y,sleepy\n", encoding="utf-8")
    res = CliRunner().invoke(
        cli,
        [
            "progress",
            "--baseline",
            str(before),
            "--current",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2
    assert res.output.startswith("error:") and "line 3" in res.output and "status" in res.output
    assert res.output.count("\n") == 1
