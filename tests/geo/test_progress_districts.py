"""Progress broken down by district only where both sides have districts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deadzone.geo.progress import PROGRESS_FILES, compare_audits, write_progress


def _side(statuses: list[str], districts: list[str | None] | None) -> pd.DataFrame:
    n = len(statuses)
    df = pd.DataFrame({
        "village_id": [f"V{i}" for i in range(n)], "name": [f"Thôn {i}" for i in range(n)],
        "commune_id": ["C1", "C1", "C2", "C3"][:n], "commune_name": None, "province": "P",
        "district": districts, "phase": None, "status": statuses,
        "lon": [104.0 + 0.01 * i for i in range(n)], "lat": 22.0, "population": 10.0,
    })  # fmt: skip
    df.attrs["kind"] = "audit"
    return df


def test_by_district_when_both_sides_have_districts(tmp_path: Path) -> None:
    dist = ["H1", "H1", "H2", None]
    base = _side(["dead", "dead", "covered", "dead"], dist)
    cur = _side(["covered", "dead", "dead", "covered"], dist)
    r = compare_audits(base, cur)
    d = r.by_district.set_index("district")
    assert list(d.index) == ["", "H1", "H2"]
    assert d.loc["H1", "newly_covered"] == 1 and d.loc["H1", "still_dead"] == 1
    assert d.loc["H2", "newly_dead"] == 1 and d.loc["", "newly_covered"] == 1
    assert d["villages_total"].sum() == len(r.villages) == 4
    for t in ("newly_covered", "still_dead", "newly_dead"):
        assert d[t].sum() == r.by_province[t].sum() == r.summary["transitions"][t]
    paths = write_progress(r, tmp_path / "p")
    assert sorted(paths) == sorted([*PROGRESS_FILES, "progress_by_district.csv"])
    # re-run on a side without districts: no breakdown, the old file removed
    r2 = compare_audits(_side(["dead"] * 4, [None] * 4), cur)
    assert r2.by_district is None and "district" not in r2.villages.columns
    assert sorted(write_progress(r2, tmp_path / "p", overwrite=True)) == sorted(PROGRESS_FILES)
    assert not (tmp_path / "p" / "progress_by_district.csv").exists()
