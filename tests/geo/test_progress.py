"""Programme progress: matching, transitions, breakdowns, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.progress import (
    PROGRESS_FILES,
    TRANSITIONS,
    compare_audits,
    load_audit_villages,
    normalize_name,
    write_progress,
)
from tests.conftest import shared_file

_COLS = [
    "village_id",
    "name",
    "commune_id",
    "commune_name",
    "province",
    "phase",
    "status",
    "lon",
    "lat",
    "population",
]


def _frame(rows: list[dict], kind: str = "audit") -> pd.DataFrame:
    """A table shaped like :func:`load_audit_villages`'s output."""
    df = pd.DataFrame([{c: r.get(c) for c in _COLS} for r in rows], columns=_COLS).astype(object)
    for c in ("lon", "lat", "population"):
        df[c] = pd.to_numeric(df[c]).astype(float)
    df.attrs["kind"] = kind
    return df


def _v(vid: str, status: str = "dead", **kw: object) -> dict:
    return {"village_id": vid, "name": f"Thôn {vid}", "commune_id": "C1", "status": status, **kw}


def test_normalize_name_folds_vietnamese() -> None:
    assert normalize_name("Thôn Nà Đứa") == "na dua"
    assert normalize_name("  BẢN  nà-đứa ") == "na dua"
    assert normalize_name("Nà Đứa") == normalize_name("na dua")
    assert normalize_name("Thôn") == "thon"  # nothing left after the prefix: kept
    assert normalize_name(None) == "" and normalize_name(float("nan")) == ""
    assert normalize_name("Xã Pa Ủ") != normalize_name("Xã Pa U 2")


def test_id_matching_and_all_transitions() -> None:
    base = _frame(
        [
            _v("A", "dead"),
            _v("B", "marginal"),
            _v("C", "covered"),
            _v("D", "covered"),
            _v("E", "unknown"),
            _v("F", "dead"),
        ]
    )
    cur = _frame(
        [
            _v("F", "dead"),
            _v("E", "covered"),
            _v("D", "covered"),
            _v("C", "marginal"),
            _v("B", "covered"),
            _v("A", "covered"),
        ]
    )
    r = compare_audits(base, cur)
    t = r.villages.set_index("baseline_village_id")["transition"].to_dict()
    assert t == {
        "A": "newly_covered",
        "B": "newly_covered",
        "C": "newly_dead",
        "D": "still_covered",
        "E": "unknown",
        "F": "still_dead",
    }
    assert (r.villages["match_method"] == "id").all()
    assert (r.villages["current_village_id"] == r.villages["baseline_village_id"]).all()
    s = r.summary
    assert s["baseline_dead_zone"] == 3 and s["transitions"]["newly_covered"] == 2
    assert s["baseline_covered"] == 2 and s["transitions"]["newly_dead"] == 1
    assert r.summary_lines()[0] == "dead-zone villages covered since baseline: 2/3 (66.7%)"


def test_marginal_now_counts_as_still_dead() -> None:
    r = compare_audits(_frame([_v("A", "dead")]), _frame([_v("A", "marginal")]))
    assert r.villages["transition"].tolist() == ["still_dead"]


def test_fallback_by_name_folds_diacritics_and_prefix_with_commune() -> None:
    # A ministry list: its own ids, names without diacritics, commune by name.
    base = _frame(
        [
            {
                "village_id": "MIN-1",
                "name": "Ban Na Dua",
                "commune_name": "Xa Muong Te",
                "phase": "identified 2021-2022",
            }
        ],
        kind="list",
    )
    base["status"] = "dead"
    cur = _frame(
        [
            _v("V7", "covered", name="Thôn Nà Đứa", commune_id="C1", commune_name="Xã Mường Tè"),
            _v("V8", "covered", name="Thôn Nà Đứa", commune_id="C2", commune_name="Xã Pa Ủ"),
        ]
    )
    r = compare_audits(base, cur)
    row = r.villages.iloc[0]
    assert row["current_village_id"] == "V7" and row["match_method"] == "name"
    assert row["transition"] == "newly_covered"
    # V8 (same name, other commune) is reported unmatched on the current side.
    assert r.unmatched[["side", "current_village_id"]].values.tolist() == [["current", "V8"]]


def test_fallback_by_distance_respects_match_distance() -> None:
    lon0, lat0 = 105.0, 21.5
    dlat_300m = 300.0 / 111_195.0
    base = _frame(
        [{"village_id": "X1", "name": "Na Hang", "status": "dead", "lon": lon0, "lat": lat0}]
    )
    cur = _frame(
        [
            {
                "village_id": "V1",
                "name": "Nà Hang",
                "status": "covered",
                "lon": lon0,
                "lat": lat0 + dlat_300m,
                "commune_id": "C9",
            }
        ]
    )
    near = compare_audits(base, cur, match_distance_m=500)
    assert near.villages.iloc[0]["match_method"] == "name"
    assert near.villages.iloc[0]["match_distance_m"] == pytest.approx(300.0, abs=1.0)
    far = compare_audits(base, cur, match_distance_m=200)
    assert far.summary["unmatched_baseline"] == 1 and far.summary["unmatched_current"] == 1
    note = far.unmatched.set_index("side").loc["baseline", "note"]
    assert "m away" in note and "V1" in note


def test_name_alone_is_not_enough() -> None:
    base = _frame([{"village_id": "X1", "name": "Na Hang", "status": "dead"}], kind="list")
    cur = _frame([{"village_id": "V1", "name": "Nà Hang", "status": "covered"}])
    r = compare_audits(base, cur)
    assert r.villages["transition"].tolist() == ["unmatched", "unmatched"]
    assert "neither commune nor location" in r.unmatched.iloc[0]["note"]


def test_commune_contradiction_blocks_match_even_when_near() -> None:
    base = _frame([_v("X1", name="Na Hang", commune_id="C1", lon=105.0, lat=21.5)])
    cur = _frame([_v("V1", "covered", name="Nà Hang", commune_id="C2", lon=105.0, lat=21.5)])
    r = compare_audits(base, cur)
    assert r.summary["matched_by_name"] == 0
    assert "another commune" in r.unmatched.iloc[0]["note"]


def test_nearest_candidate_wins_and_ambiguity_is_reported() -> None:
    base = _frame([_v("X1", name="Na Hang", lon=105.0, lat=21.5)])
    cur = _frame(
        [
            _v("V1", "covered", name="Nà Hang", lon=105.0, lat=21.5 + 0.003),
            _v("V2", "dead", name="Nà Hang", lon=105.0, lat=21.5 + 0.001),
        ]
    )
    r = compare_audits(base, cur)
    assert r.villages.iloc[0]["current_village_id"] == "V2"
    # Without coordinates two same-name villages in the commune cannot be told apart.
    base2 = _frame([_v("X1", name="Na Hang")])
    cur2 = _frame([_v("V1", "covered", name="Nà Hang"), _v("V2", "dead", name="Nà Hang")])
    r2 = compare_audits(base2, cur2)
    assert r2.summary["matched_by_name"] == 0
    assert "ambiguous" in r2.unmatched.set_index("side").loc["baseline", "note"]


def test_id_match_takes_precedence_over_name() -> None:
    base = _frame([_v("A", name="Na Hang"), _v("B", name="Khuoi Lung")])
    cur = _frame([_v("A", "covered", name="Something else"), _v("Z", name="Khuổi Lùng")])
    r = compare_audits(base, cur)
    m = r.villages.set_index("baseline_village_id")
    assert m.loc["A", "match_method"] == "id" and m.loc["A", "current_village_id"] == "A"
    assert m.loc["B", "match_method"] == "name" and m.loc["B", "current_village_id"] == "Z"


def test_list_baseline_phases_and_files(tmp_path: Path) -> None:
    lst = tmp_path / "ministry.csv"
    lst.write_text(
        "id,name,commune,phase\n"
        "M1,Ban Na 0,Xa Muong Te,identified 2021-2022\n"
        "M2,Ban Na 1,Xa Muong Te,identified 2021-2022\n"
        "M3,Ban Pac Ta,Xa Pa U,new in 2022-2023\n",
        encoding="utf-8",
    )
    cur_csv = tmp_path / "villages.csv"
    cur_csv.write_text(
        "village_id,lon,lat,name,commune_id,status\n"
        "V0,105.0,21.5,Thôn Nà 0,C1,covered\n"
        "V1,105.0,21.6,Thôn Nà 1,C1,dead\n"
        "V2,105.1,21.5,Thôn Nà 2,C2,covered\n",
        encoding="utf-8",
    )
    (tmp_path / "communes.csv").write_text(
        "commune_id,name,province\nC1,Xã Mường Tè,Lai Châu\nC2,Xã Pa Ủ,Lai Châu\n",
        encoding="utf-8",
    )
    base = load_audit_villages(lst)
    assert base.attrs["kind"] == "list" and (base["status"] == "dead").all()
    cur = load_audit_villages(tmp_path)
    assert cur["province"].tolist() == ["Lai Châu"] * 3
    r = compare_audits(base, cur)
    ph = r.by_phase.set_index("phase")
    assert ph.loc["identified 2021-2022", "newly_covered"] == 1
    assert ph.loc["identified 2021-2022", "still_dead"] == 1
    assert ph.loc["new in 2022-2023", "unmatched"] == 1
    assert ph.loc["(not in baseline)", "unmatched"] == 1
    assert r.by_phase["villages_total"].sum() == 4
    out = tmp_path / "out"
    paths = write_progress(r, out)
    assert sorted(paths) == sorted(PROGRESS_FILES)
    summary = json.loads((out / "progress_summary.json").read_text(encoding="utf-8"))
    assert summary["transitions"]["newly_covered"] == 1
    assert summary["by_phase"]["identified 2021-2022"]["still_dead"] == 1
    um = pd.read_csv(out / "unmatched.csv")
    assert sorted(um["side"]) == ["baseline", "current"]
    with pytest.raises(FileExistsError):
        write_progress(r, out)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("village_id,name,status\nA,x,dead\nA,y,dead\n", "line 2: village_id 'A' appears 2"),
        ("village_id,name,status\nA,x,dead\nB,y,asleep\n", "line 3: status='asleep'"),
        ("village_id,name,lon,lat\nA,x,abc,1\n", "line 2: lon='abc' is not a number"),
        ("village_id,name,lon,lat\nA,x,200,1\n", "line 2: lon=200"),
        ("foo,bar\n1,2\n", "no village id column"),
    ],
)
def test_bad_input_names_file_row_field(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError, match=match) as exc:
        load_audit_villages(p)
    assert "bad.csv" in str(exc.value)


def test_current_must_be_an_audit_and_distance_checked(tmp_path: Path) -> None:
    base = _frame([_v("A")])
    with pytest.raises(SchemaError, match="must be an audit"):
        compare_audits(base, _frame([_v("A")], kind="list"))
    with pytest.raises(ParameterError, match="match_distance_m"):
        compare_audits(base, base, match_distance_m=-1.0)
    with pytest.raises(OSError, match="no such file"):
        load_audit_villages(tmp_path / "missing")


_STATUS = st.sampled_from(["covered", "marginal", "dead", "unknown"])


@settings(max_examples=40, deadline=None)
@given(
    base_st=st.lists(_STATUS, min_size=0, max_size=25),
    cur_st=st.lists(_STATUS, min_size=0, max_size=25),
    shift=st.integers(0, 10),
    renamed=st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_every_village_once_and_counts_add_up(base_st, cur_st, shift, renamed) -> None:
    # Baseline ids B0..; current ids overlap with a shift; some current rows renamed
    # (other id, same name and commune) so the fallback is exercised too.
    base = _frame(
        [_v(f"V{i}", s, name=f"Nà {i}", commune_id=f"C{i % 3}") for i, s in enumerate(base_st)]
    )
    cur = _frame(
        [
            _v(
                f"W{i + shift}" if renamed[i] else f"V{i + shift}",
                s,
                name=f"Nà {i + shift}",
                commune_id=f"C{(i + shift) % 3}",
            )
            for i, s in enumerate(cur_st)
        ]
    )
    r = compare_audits(base, cur)
    v = r.villages
    s = r.summary
    assert len(v) == len(base) + len(cur) - s["matched_by_id"] - s["matched_by_name"]
    assert sorted(v["baseline_village_id"].dropna()) == sorted(base["village_id"])
    assert sorted(v["current_village_id"].dropna()) == sorted(cur["village_id"])
    assert sum(s["transitions"].values()) == len(v)
    assert s["transitions"]["unmatched"] == s["unmatched_baseline"] + s["unmatched_current"]
    assert len(r.unmatched) == s["transitions"]["unmatched"]
    for table in (r.by_commune, r.by_province, r.by_phase):
        for t in TRANSITIONS:
            assert table[t].sum() == s["transitions"][t]
        assert table["baseline_total"].sum() == len(base)
        assert (table[list(TRANSITIONS)].sum(axis=1) == table["villages_total"]).all()
    # Every village with an overlapping index is matched (by id or by name).
    overlap = len(set(range(len(base_st))) & {i + shift for i in range(len(cur_st))})
    assert s["matched_by_id"] + s["matched_by_name"] == overlap
    dz = s["baseline_dead_zone"]
    assert dz == sum(x in ("dead", "marginal") for x in base_st)
    matched = v[v["side"] == "both"]
    expect = np.array(
        [
            "unknown"
            if "unknown" in (b, c)
            else ("still_covered" if c == "covered" else "newly_dead")
            if b == "covered"
            else ("newly_covered" if c == "covered" else "still_dead")
            for b, c in zip(matched["baseline_status"], matched["current_status"], strict=True)
        ],
        dtype=object,
    )
    assert (matched["transition"].to_numpy() == expect).all()


def test_real_osm_settlement_names_match_after_folding(shared_data: Path) -> None:
    # Real Vietnamese names (OSM 2018 settlements) as the current audit; a baseline list
    # with other ids, names stripped of diacritics and points moved ~100 m north.
    src = shared_file(shared_data, "osm_vn_2018/vn_osm2018_settlements.geojson")
    cur = load_audit_villages(src)
    assert cur.attrs["kind"] == "list" and len(cur) > 5000
    cur = cur[cur["name"].notna()].head(600).reset_index(drop=True)
    cur["village_id"] = [f"osm{i}" for i in range(len(cur))]
    cur["status"] = np.where(np.arange(len(cur)) % 3 == 0, "covered", "dead")
    cur.attrs["kind"] = "audit"
    base = cur.copy()
    base["village_id"] = [f"list{i}" for i in range(len(base))]
    base["name"] = [normalize_name(x, drop_words=frozenset()) for x in cur["name"]]
    base["lat"] = cur["lat"] + 100.0 / 111_195.0
    base["status"] = "dead"
    base.attrs["kind"] = "list"
    r = compare_audits(base, cur, match_distance_m=500)
    v = r.villages[r.villages["side"] == "both"]
    # Same-name settlements closer than 100 m to each other are rare; allow none lost.
    assert r.summary["matched_by_name"] == len(base)
    got = v["current_village_id"].str.removeprefix("osm")
    assert (got == v["baseline_village_id"].str.removeprefix("list")).all()
    assert r.summary["transitions"]["newly_covered"] == int((cur["status"] == "covered").sum())
