"""Audit: ``power_note`` = no_grid_power beside the radio reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from tests.conftest import small_scenario


def test_no_grid_power_note_keeps_reason(tmp_path: Path) -> None:
    # V0 near the tower (covered), V1..V3 beyond the radius (dead, no_tower_in_range).
    s = small_scenario(
        villages=[(4500, 4600), (100, 100), (200, 8800), (8800, 200)],
        towers=[{"x": 4500, "y": 4500}],
    )
    s.villages["has_grid_power"] = pd.array([False, False, True, None], dtype="boolean")
    r = audit(s, radius_km=4.0, model="knife")
    v = r.villages.set_index("village_id")
    assert v["status"].tolist() == ["covered", "dead", "dead", "dead"]
    assert v["reason"].iloc[1:].tolist() == ["no_tower_in_range"] * 3
    notes = v["power_note"].astype(object).where(v["power_note"].notna(), None).tolist()
    assert notes == [None, "no_grid_power", None, None]
    assert r.summary["villages_no_grid_power"] == 1
    write_audit(r, tmp_path / "a")
    csv = pd.read_csv(tmp_path / "a" / "villages.csv")
    assert csv["power_note"].fillna("").tolist() == ["", "no_grid_power", "", ""]


def test_without_grid_power_column_no_note() -> None:
    s = small_scenario(villages=[(100, 100)], towers=[{"x": 4500, "y": 4500}])
    r = audit(s, radius_km=4.0, model="knife")
    assert "power_note" not in r.villages.columns
    assert r.summary["villages_no_grid_power"] == 0


def test_loader_reads_dien_luoi_and_rejects_unknown_values(tmp_path: Path) -> None:
    import pytest

    from deadzone.data.loaders import load_villages
    from deadzone.errors import DeadzoneError

    ok = tmp_path / "ok.csv"
    ok.write_text(
        "id,name,commune_id,population,households,lon,lat,dien_luoi\n"
        "a,A,c1,10,3,105.1,21.1,yes\nb,B,c1,20,6,105.2,21.2,no\n",
        encoding="utf-8",
    )
    v = load_villages(ok)
    assert v["has_grid_power"].astype(object).tolist() == [True, False]
    bad = tmp_path / "bad.csv"
    bad.write_text(ok.read_text(encoding="utf-8").replace(",no\n", ",perhaps\n"), encoding="utf-8")
    with pytest.raises(DeadzoneError) as e:
        load_villages(bad)
    msg = str(e.value)
    assert "\n" not in msg and "bad.csv" in msg and "has_grid_power" in msg
