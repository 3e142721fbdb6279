"""Audit roll-ups with a district level: commune -> district -> province -> all, exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import DeadzoneError, SchemaError
from deadzone.geo import audit as audit_mod
from deadzone.geo.audit import audit
from deadzone.geo.rollup import _COUNT_COLS, district_rollup, has_districts, rollup
from deadzone.model.schema import REASONS, STATUSES
from tests.conftest import small_scenario

# Villages on both sides of the two communes (C1 west, C2 east) of small_scenario.
_PTS = [(1000.0, 1000.0), (2000.0, 5000.0), (4300.0, 4400.0), (6000.0, 2000.0), (8500.0, 8500.0)]


@pytest.fixture(scope="module")
def base():
    """small_scenario with one tower and its coverage, computed once."""
    s = small_scenario(villages=_PTS, towers=[{"x": 2000.0, "y": 4500.0}])
    return s, audit(s, radius_km=4.0, model="knife").coverage


def _with_districts(s, communes=None, villages=None):
    s = dataclasses.replace(s, communes=s.communes.copy(), villages=s.villages.copy())
    if communes is not None:
        s.communes["district"] = communes
    if villages is not None:
        s.villages["district"] = villages
    return s


def test_no_district_column_means_no_district_level(base) -> None:
    s, cov = base
    r = audit(s, coverage=cov)
    assert r.districts is None and r.districts_with_geometry() is None
    assert "district" not in r.communes.columns and "district" not in r.villages.columns
    assert "districts_total" not in r.provinces.columns
    assert r.summary["admin_levels"] == ["commune", "province"]
    assert "districts_total" not in r.summary
    assert not any(line.startswith("districts") for line in r.summary_lines())


def test_districts_from_communes_sum_exactly(base) -> None:
    s, cov = base
    r = audit(_with_districts(s, communes=["Huyện Mường Tè", "Huyện Sìn Hồ"]), coverage=cov)
    assert has_districts(r.communes)
    assert list(r.communes["district"]) == ["Huyện Mường Tè", "Huyện Sìn Hồ"]
    d = r.districts.set_index("district")
    assert list(d.index) == ["Huyện Mường Tè", "Huyện Sìn Hồ"]
    assert (d["province"] == "Lai Châu").all() and (d["communes_total"] == 1).all()
    # villages carry their commune's district
    want = r.villages["commune_id"].map({"C1": "Huyện Mường Tè", "C2": "Huyện Sìn Hồ"})
    assert list(r.villages["district"]) == list(want)
    for col in _COUNT_COLS:
        assert r.communes[col].sum() == r.districts[col].sum() == r.provinces[col].sum()
    for col in ("villages_total", "villages_covered", "population_covered", "households_total"):
        assert r.districts[col].sum() == r.summary[col]
    assert d.loc["Huyện Mường Tè", "villages_total"] == 3  # _PTS west of 4500 m
    assert r.provinces["districts_total"].tolist() == [2]
    assert r.summary["admin_levels"] == ["commune", "district", "province"]
    assert r.summary["districts_total"] == 2
    full = int(((d["villages_total"] > 0) & (d["villages_covered"] == d["villages_total"])).sum())
    assert r.summary["districts_fully_covered"] == full
    assert f"districts fully covered: {full}/2 ({50.0 * full:.1f}%)" in r.summary_lines()


def test_districts_from_villages_only(base) -> None:
    s, cov = base
    vd = ["Huyện A" if x < 4500 else "" for x, _ in _PTS]
    vd[-1] = None  # missing on one village of C2: the commune still gets its district
    vd[3] = "Huyện B"
    r = audit(_with_districts(s, villages=vd), coverage=cov)
    assert dict(zip(r.communes["commune_id"], r.communes["district"], strict=True)) == {
        "C1": "Huyện A",
        "C2": "Huyện B",
    }
    assert r.villages["district"].tolist() == ["Huyện A"] * 3 + ["Huyện B"] * 2


def test_commune_without_district_keeps_its_villages(base) -> None:
    s, cov = base
    r = audit(_with_districts(s, communes=["Huyện A", None]), coverage=cov)
    assert r.districts["district"].tolist() == ["", "Huyện A"]
    assert r.districts["villages_total"].sum() == len(_PTS)


@pytest.mark.filterwarnings("ignore:villages. field 'commune_id'. 2 villages not inside")
def test_villages_without_a_commune_do_not_clash(base) -> None:
    from shapely.geometry import box

    from tests.conftest import X0, Y0

    s, cov = base
    s2 = _with_districts(s, villages=["Huyện A", "Huyện B", "Huyện A", "", ""])
    s2.villages["commune_id"] = ["", "", "C1", "C2", "C2"]
    # C1 shrunk to a square around village 2, so villages 0 and 1 lie more than
    # 1 km from any commune and stay without one (the audit joins the others)
    geom = s2.communes.geometry.copy()
    geom.iloc[0] = box(X0 + 3500.0, Y0 - 4900.0, X0 + 4900.0, Y0 - 3500.0)
    s2.communes = s2.communes.set_geometry(geom)
    r = audit(s2, coverage=cov)
    assert r.villages["district"].tolist() == ["", "", "Huyện A", "", ""]
    assert r.districts["villages_total"].sum() == len(_PTS)


def test_same_district_name_in_two_provinces_gives_two_rows(base) -> None:
    s, cov = base
    s2 = _with_districts(s, communes=["Huyện Phong Thổ", "Huyện Phong Thổ"])
    s2.communes["province"] = ["Lai Châu", "Điện Biên"]
    r = audit(s2, coverage=cov)
    assert set(map(tuple, r.districts[["province", "district"]].to_numpy())) == {
        ("Lai Châu", "Huyện Phong Thổ"),
        ("Điện Biên", "Huyện Phong Thổ"),
    }
    assert r.provinces["districts_total"].tolist() == [1, 1]


def test_commune_in_two_districts_is_a_one_line_error_before_coverage(base, monkeypatch) -> None:
    s, _ = base
    s2 = _with_districts(s, villages=["Huyện A", "Huyện B", "Huyện A", "", ""])
    s2.villages.attrs["source"] = "thon.csv"

    def no_coverage(*a, **k):  # the error must come before the long computation
        raise AssertionError("coverage computed before the district check")

    monkeypatch.setattr(audit_mod, "compute_coverage", no_coverage)
    with pytest.raises(SchemaError) as exc:
        audit(s2)
    msg = str(exc.value)
    assert isinstance(exc.value, DeadzoneError) and "\n" not in msg
    assert msg.startswith("thon.csv: field 'district': commune 'C1' is in two districts")
    assert "'Huyện A' at village 'V0'" in msg and "'Huyện B' at village 'V1'" in msg


def test_village_disagreeing_with_its_commune_is_an_error(base) -> None:
    s, cov = base
    s2 = _with_districts(s, communes=["Huyện A", "Huyện B"], villages=["", "", "", "Huyện A", ""])
    s2.communes.attrs["source"] = "xa.gpkg"
    with pytest.raises(
        SchemaError,
        match=r"village 'V3' is in district 'Huyện A' but its "
        r"commune 'C2' is in district 'Huyện B' in xa.gpkg",
    ):
        audit(s2, coverage=cov)
    with pytest.raises(SchemaError, match="no 'district' column"):
        district_rollup(pd.DataFrame({"commune_id": ["C1"], "province": ["P"]}))


# --------------------------------------------------------------------------- hypothesis


@st.composite
def _admin_scenarios(draw):
    """Random communes (some with a district, some not) and audited villages."""
    n_prov = draw(st.integers(1, 3))
    n_com = draw(st.integers(1, 12))
    prov = draw(st.lists(st.integers(0, n_prov - 1), min_size=n_com, max_size=n_com))
    dist = draw(st.lists(st.sampled_from(["", "H1", "H2", "H3"]), min_size=n_com,
                         max_size=n_com))  # fmt: skip
    communes = pd.DataFrame({
        "commune_id": [f"C{i}" for i in range(n_com)],
        "name": [f"Xã {i}" for i in range(n_com)],
        "province": [f"Tỉnh {p}" for p in prov],
        "district": dist,
    })  # fmt: skip
    n_vil = draw(st.integers(0, 60))
    # commune ids drawn from the listed ones plus two unlisted ones
    cid = draw(st.lists(st.integers(0, n_com + 1), min_size=n_vil, max_size=n_vil))
    status = draw(st.lists(st.sampled_from(STATUSES), min_size=n_vil, max_size=n_vil))
    reason = draw(st.lists(st.sampled_from(REASONS), min_size=n_vil, max_size=n_vil))
    pop = draw(st.lists(st.integers(0, 5000), min_size=n_vil, max_size=n_vil))
    villages = pd.DataFrame({
        "village_id": [f"V{i}" for i in range(n_vil)],
        "commune_id": [f"C{c}" for c in cid],
        "status": status,
        "reason": [None if s == "covered" else r for s, r in zip(status, reason, strict=True)],
        "population": np.array(pop, dtype=np.int64),
        "households": np.array(pop, dtype=np.int64) // 4,
    })  # fmt: skip
    # villages of communes without a district (and of unlisted ones) may name one,
    # consistently per commune; others repeat their commune's district or leave it blank
    cdist = dict(zip(communes["commune_id"], communes["district"], strict=True))
    own = {f"C{c}": draw(st.sampled_from(["", "H1", "H4"])) for c in range(n_com + 2)}
    blank = draw(st.lists(st.booleans(), min_size=n_vil, max_size=n_vil))
    villages["district"] = [
        "" if b else (cdist.get(c) or own[c]) for c, b in zip(villages["commune_id"], blank,
                                                                strict=True)
    ]  # fmt: skip
    return communes, villages


@settings(max_examples=50, deadline=None)
@given(_admin_scenarios())
def test_levels_add_up_exactly_and_every_village_once(data) -> None:
    communes, villages = data
    c, p = rollup(villages, communes)
    total = {
        "villages_total": len(villages),
        **{f"villages_{s}": int((villages["status"] == s).sum()) for s in STATUSES},
        "population_total": int(villages["population"].sum()),
        "households_total": int(villages["households"].sum()),
        "population_covered": int(villages.loc[villages["status"] == "covered",
                                               "population"].sum()),
    }  # fmt: skip
    # every village counted once, in its own commune
    per = villages.groupby("commune_id").size()
    got = c.set_index("commune_id")["villages_total"]
    assert (got.reindex(per.index) == per).all() and got.sum() == len(villages)
    assert c["commune_id"].is_unique
    levels = [c, p]
    if has_districts(c):
        d = district_rollup(c)
        levels.insert(1, d)
        assert d["communes_total"].sum() == len(c)
        assert p["districts_total"].sum() == len(d)
        assert not d.duplicated(["province", "district"]).any()
        # communes -> districts: each district row is the sum of its communes
        keys = ["province", "district"]
        by_c = c.groupby(keys, sort=True)[_COUNT_COLS].sum()
        by_d = d.set_index(keys)[_COUNT_COLS]
        assert by_c.index.equals(by_d.index) and (by_c.to_numpy() == by_d.to_numpy()).all()
        # districts -> provinces
        dp = d.groupby("province", sort=True)[_COUNT_COLS].sum()
        pp = p.set_index("province")[_COUNT_COLS]
        assert dp.index.equals(pp.index) and (dp.to_numpy() == pp.to_numpy()).all()
        # a commune's district: its row's, else its villages' (one per commune)
        listed = dict(zip(communes["commune_id"], communes["district"], strict=True))
        named = villages[villages["district"] != ""]
        own = named.groupby("commune_id")["district"].agg(set).to_dict()
        for cid, dist in zip(c["commune_id"], c["district"], strict=True):
            vd = own.get(cid, set())
            assert len(vd) <= 1 and dist == (listed.get(cid) or (vd.pop() if vd else ""))
    else:
        assert (communes["district"] == "").all() and (villages["district"] == "").all()
    for table in levels:
        for col, want in total.items():
            assert int(table[col].sum()) == want, (col, table)
        reason_cols = [f"not_covered_{r}" for r in REASONS]
        assert (table[reason_cols].sum(axis=1)
                == table["villages_total"] - table["villages_covered"]).all()  # fmt: skip


@settings(max_examples=10, deadline=None)
@given(
    pts=st.lists(
        st.tuples(st.floats(-1000, 10000), st.floats(-1000, 10000)), min_size=1, max_size=30
    ),  # fmt: skip
    dists=st.tuples(st.sampled_from(["", "H1", "H2"]), st.sampled_from(["", "H1", "H2"])),
)
def test_audit_with_random_villages_and_districts(base, pts, dists) -> None:
    s, cov = base
    s2 = small_scenario(villages=pts, towers=[{"x": 2000.0, "y": 4500.0}])
    s2.communes["district"] = list(dists)
    r = audit(s2, coverage=cov)
    assert list(r.villages["village_id"]) == list(s2.villages["village_id"])
    if not any(dists):
        assert r.districts is None and r.summary["admin_levels"] == ["commune", "province"]
        return
    assert r.districts["communes_total"].sum() == len(r.communes) == 2
    for col in ("villages_total", "villages_covered", "villages_unknown", "population_covered",
                "households_covered"):  # fmt: skip
        assert r.communes[col].sum() == r.districts[col].sum() == r.provinces[col].sum()
        assert r.districts[col].sum() == r.summary[col]
    assert r.summary["districts_total"] == len(r.districts) == len(set(dists))
    assert set(r.villages["district"]) <= set(dists)
