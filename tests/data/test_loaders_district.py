"""Loaders: the optional district level is detected like the other admin columns."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from deadzone.data.loaders import load_communes, load_villages
from deadzone.errors import SchemaError
from tests.conftest import shared_file


def _communes(tmp_path: Path, **cols) -> Path:
    gdf = gpd.GeoDataFrame(
        {"ma_xa": ["01", "02"], "ten_xa": ["Xã A", "Xã B"], "ten_tinh": ["Lào Cai"] * 2, **cols},
        geometry=[box(104.0, 22.0, 104.1, 22.1), box(104.1, 22.0, 104.2, 22.1)],
        crs=4326,
    )
    p = tmp_path / "xa.gpkg"
    gdf.to_file(p, layer="communes")
    return p


@pytest.mark.parametrize("col", ["district", "District Name", "Tên huyện", "huyen", "ma_huyen",
                                 "NAME_2", "district_id"])  # fmt: skip
def test_commune_district_column_is_auto_detected(tmp_path: Path, col: str) -> None:
    c = load_communes(_communes(tmp_path, **{col: ["Bát Xát", None]}))
    assert list(c.columns[:4]) == ["commune_id", "name", "province", "district"]
    assert c["district"].tolist() == ["Bát Xát", ""]
    assert list(c.columns) == ["commune_id", "name", "province", "district", "geometry"]


def test_names_win_over_codes_and_option_overrides(tmp_path: Path) -> None:
    p = _communes(tmp_path, ma_huyen=["083", "083"], ten_huyen=["Bát Xát", "Bát Xát"])
    c = load_communes(p)
    assert c["district"].tolist() == ["Bát Xát"] * 2 and "ma_huyen" in c.columns
    c = load_communes(p, district_col="ma_huyen")
    assert c["district"].tolist() == ["083"] * 2 and "ten_huyen" in c.columns
    with pytest.raises(SchemaError, match=r"xa.gpkg: column 'quan' given as district_col="):
        load_communes(p, district_col="quan")


def test_no_district_column_no_district_level(tmp_path: Path) -> None:
    c = load_communes(_communes(tmp_path))
    assert "district" not in c.columns


def test_village_district_column(tmp_path: Path) -> None:
    p = tmp_path / "thon.csv"
    rows = {"ma_thon": ["T1", "T2"], "lon": [104.05, 104.15], "lat": [22.05, 22.05],
            "dan_so": [100, 200], "so_ho": [25, 50], "Huyện": ["Bát Xát", ""]}  # fmt: skip
    pd.DataFrame(rows).to_csv(p, index=False)
    v = load_villages(p)
    assert v["district"].tolist() == ["Bát Xát", ""]
    pd.DataFrame(rows).drop(columns="Huyện").to_csv(p, index=False)
    assert "district" not in load_villages(p).columns


def test_vietnam_2025_communes_have_no_district_level(shared_data: Path) -> None:
    # Since July 2025 Vietnam has provinces and communes only.
    p = shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg")
    c = load_communes(p, bbox=(105.0, 21.0, 105.2, 21.2))
    assert len(c) > 5 and "district" not in c.columns
