"""What the loaders tell a planner: misspelt columns, row references, counts of bad rows."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from deadzone.data.loaders import load_towers, load_villages
from deadzone.errors import DeadzoneWarning, SchemaError

TOWERS = "tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m\n" + "".join(
    f"T{i},105.{i},21.{i},4G,900,60,45\n" for i in range(1, 6)
)


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _warned(fn, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
    """Call a loader; return (result, the DeadzoneWarning messages it issued)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kw)
    assert all(issubclass(w.category, DeadzoneWarning) for w in rec), rec
    return out, [str(w.message) for w in rec]


def _rename(text: str, old: str, new: str) -> str:
    head, rest = text.split("\n", 1)
    return head.replace(old, new) + "\n" + rest


# --------------------------------------------------------------------------- misspelt columns


def test_misspelt_radio_column_is_an_error_naming_column_and_suggestion(tmp_path: Path) -> None:
    p = _csv(tmp_path / "towers.csv", _rename(TOWERS, "freq_mhz", "freq_mz"))
    with pytest.raises(SchemaError) as exc:
        load_towers(p)
    msg = str(exc.value)
    assert "\n" not in msg and "towers.csv" in msg
    assert "column 'freq_mz' is not used: did you mean 'freq_mhz'?" in msg
    assert "all 5 towers would use the 4G default 1800 MHz" in msg
    assert "rename the column to 'freq_mhz'" in msg


def test_two_misspelt_radio_columns_in_one_line(tmp_path: Path) -> None:
    text = _rename(_rename(TOWERS, "freq_mhz", "freq_mz"), "height_m", "heigth_m")
    with pytest.raises(SchemaError) as exc:
        load_towers(_csv(tmp_path / "t.csv", text))
    msg = str(exc.value)
    assert "\n" not in msg
    assert "'freq_mz'" in msg and "'heigth_m'" in msg and "4G default 30 m" in msg
    assert "rename the columns to 'freq_mhz', 'height_m'" in msg


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("height_m", "Height M", None),  # case/space variant: read as height_m, no error
        ("height_m", "heightm", "height_m"),  # underscore variant
        ("eirp_dbm", "eirp_dbw", "eirp_dbm"),
        ("tech", "tehc", "tech"),  # swapped letters; values are technologies
    ],
)
def test_variants(tmp_path: Path, old: str, new: str, field: str | None) -> None:
    p = _csv(tmp_path / "t.csv", _rename(TOWERS, old, new))
    if field is None:
        assert load_towers(p)["height_m"].tolist() == [45.0] * 5
        return
    with pytest.raises(SchemaError, match=f"column '{new}' is not used: did you mean"):
        load_towers(p)


def test_renaming_the_column_away_is_the_way_on(tmp_path: Path) -> None:
    p = _csv(tmp_path / "t.csv", _rename(TOWERS, "freq_mhz", "planned_frequency_note"))
    with pytest.warns(DeadzoneWarning, match="lack radio parameters"):
        t = load_towers(p)
    assert t["freq_mhz"].tolist() == [1800.0] * 5
    assert t["planned_frequency_note"].tolist() == [900] * 5


def test_look_alike_without_matching_values_only_warns(tmp_path: Path) -> None:
    # text in a column named like 'freq_mhz' is not the planner's frequencies
    text = TOWERS.replace("4G,900,", "4G,band three,")
    p = _csv(tmp_path / "t.csv", _rename(text, "freq_mhz", "freq_mz"))
    t, msgs = _warned(load_towers, p)
    assert any("column 'freq_mz' is not used: did you mean 'freq_mhz'?" in m for m in msgs), msgs
    assert t["freq_mhz"].tolist() == [1800.0] * 5


def test_suffix_look_alike_only_warns(tmp_path: Path) -> None:
    p = _csv(tmp_path / "t.csv", _rename(TOWERS, "height_m", "height_m_2019"))
    _, msgs = _warned(load_towers, p)
    assert any("'height_m_2019' is not used: did you mean 'height_m'?" in m for m in msgs), msgs


def test_unrelated_extra_columns_are_quiet(tmp_path: Path) -> None:
    text = TOWERS.replace("height_m\n", "height_m,operator,title,province,notes\n")
    text = text.replace(",45\n", ",45,Viettel,x,Lai Chau,\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = load_towers(_csv(tmp_path / "t.csv", text))
    assert "operator" in t.columns


def test_misspelt_village_column_warns_with_the_option(tmp_path: Path) -> None:
    text = "village_id,name,lon,lat,popualtion\nV1,a,105,21,100\nV2,b,105.1,21,50\n"
    v, msgs = _warned(load_villages, _csv(tmp_path / "v.csv", text))
    assert any(
        "column 'popualtion' is not used: did you mean 'population'?" in m
        and "population_col=" in m
        for m in msgs
    ), msgs
    assert v["population"].tolist() == [0, 0]
    # the way on: name the column
    v, msgs = _warned(load_villages, tmp_path / "v.csv", population_col="popualtion")
    assert not any("popualtion" in m for m in msgs), msgs
    assert v["population"].tolist() == [100, 50]


# --------------------------------------------------------------------------- row references


def test_csv_errors_name_the_file_line(tmp_path: Path) -> None:
    text = "tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m\nA1,105.5,21.5,4G,1800,60,-30\n"
    with pytest.raises(SchemaError) as exc:
        load_towers(_csv(tmp_path / "t_neg.csv", text))
    assert str(exc.value).endswith(
        "t_neg.csv: line 2 (tower_id 'A1'), field 'height_m': value -30 out of range "
        "(allowed > 0 and <= 500)"
    )


def test_csv_lines_follow_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    text = (
        "village_id,name,lon,lat,population\n"
        'V0,"two\nlines",105,21,5\n'  # lines 2-3
        "V1,x,105,21,abc\n"  # line 4
        "V2,y,105,21,7\n"
        "V3,z,105,21,zz\n"  # line 6
        "\n"
        "V4,w,105,21,qq\n"  # line 8
    )
    with pytest.raises(SchemaError) as exc:
        load_villages(_csv(tmp_path / "v.csv", text))
    msg = str(exc.value)
    assert "line 4 (village_id 'V1'), field 'population'" in msg
    assert msg.endswith("; and 2 more lines: 6, 8")


def test_every_failing_row_is_counted(tmp_path: Path) -> None:
    rows = "".join(f"T{i},105.{i},21.{i},4G,1800,60,{-i}\n" for i in range(1, 9))
    text = "tower_id,lon,lat,tech,freq_mhz,eirp_dbm,height_m\n" + rows
    with pytest.raises(SchemaError) as exc:
        load_towers(_csv(tmp_path / "t.csv", text))
    msg = str(exc.value)
    assert "line 2 (tower_id 'T1')" in msg
    assert msg.endswith("; and 7 more lines: 3, 4, 5, 6, 7, ...")


def test_geojson_errors_name_the_feature_from_1(tmp_path: Path) -> None:
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [105.0, 21.0]},
            "properties": {"id": f"V{i}", "population": -5 if i == 1 else 10},
        }
        for i in range(3)
    ]
    p = tmp_path / "v.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), "utf-8")
    with pytest.raises(SchemaError, match=r"feature 2 \(village_id 'V1'\), field 'population'"):
        load_villages(p)


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_points_in_metres_in_a_lonlat_layer_name_the_feature(tmp_path: Path, suffix: str) -> None:
    """Issue 18 item 3: a GeoPackage in EPSG:4326 with some points in UTM metres
    crashed the audit (``Unable to determine UTM CRS``, a traceback); the same
    mistake in a CSV already gave a one-line error naming the line."""
    import geopandas as gpd
    from shapely.geometry import Point

    from deadzone.data.loaders import load_communes

    path = tmp_path / f"v{suffix}"
    gpd.GeoDataFrame(
        {"village_id": ["a", "b", "c", "d"], "population": [10, 20, 30, 40]},
        geometry=[Point(105.1, 21.2), Point(510901.2, 2345678.0), Point(105.3, 21.4),
                  Point(511000.0, 2345000.0)], crs=4326,
    ).to_file(path)
    with pytest.raises(SchemaError) as e:
        load_villages(path)
    msg = str(e.value)
    assert "\n" not in msg and "feature 2 (village_id 'b'), field 'geometry'" in msg
    assert "(510901.2, 2345678)" in msg and "not lon/lat degrees" in msg
    assert "and 1 more feature: 4" in msg
    # polygons too (communes), and a layer that is all right loads
    poly = tmp_path / f"c{suffix}"
    gpd.GeoDataFrame({"commune_id": ["x"], "name": ["X"]},
                     geometry=[Point(510901.2, 2345678.0).buffer(100)], crs=4326).to_file(poly)
    with pytest.raises(SchemaError, match="feature 1 .*field 'geometry'.*not lon/lat degrees"):
        load_communes(poly)
    ok = tmp_path / f"ok{suffix}"
    gpd.GeoDataFrame({"village_id": ["a"], "population": [5]}, geometry=[Point(105.1, 21.2)],
                     crs=4326).to_file(ok)
    assert len(_warned(load_villages, ok)[0]) == 1
