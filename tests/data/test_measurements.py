"""Signal measurements: the three formats, every file type, ASU conversions, quality
flags, tower matching, one-line errors and the round trip through write_measurements."""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadzone.data.loaders import (
    MEASUREMENT_COLUMNS,
    QC_REASONS,
    load_measurements,
    load_towers,
    write_measurements,
)
from deadzone.errors import DataLoadError, DeadzoneWarning, ParameterError, SchemaError

GENERIC = (
    "id,lon,lat,tech,rsrp,rscp,rxlev,cell,time\n"
    "a,105.1,21.1,4G,-95,,,452-4-1-11,2024-05-01T10:00:00Z\n"  # line 2: ok
    "b,105.2,21.2,3G,,-80,,,2024-05-01 10:00:01\n"  # 3: ok (no zone: UTC)
    "c,105.3,21.3,2G,,,-70,x9,1714557600\n"  # 4: ok (Unix seconds)
    "d,0,0,4G,-95,,,,\n"  # 5: no GPS fix
    "e,105.1,21.1,4G,-95,,,452-4-1-11,2024-05-01T10:00:00Z\n"  # 6: repeats line 2
    "f,105.1,21.1,CDMA,-95,,,,\n"  # 7: not a deadzone technology
    "g,105.1,21.1,LTE,-200,,,,\n"  # 8: RSRP below -150 dBm
    "h,105.1,21.1,LTE,,,,,\n"  # 9: no value
    "i,,,4G,-90,,,,\n"  # 10: no location
)


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _load(path: Path, **kw: Any) -> tuple[gpd.GeoDataFrame, list[str]]:
    """load_measurements and the DeadzoneWarning messages it issued."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = load_measurements(path, **kw)
    assert all(issubclass(w.category, DeadzoneWarning) for w in rec), [str(w) for w in rec]
    return out, [str(w.message) for w in rec]


def _one_line_error(exc: pytest.ExceptionInfo[BaseException], name: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and name in msg, msg
    return msg


# --------------------------------------------------------------------------- generic


def test_generic_csv_keeps_every_row_in_order_and_flags_quality(tmp_path: Path) -> None:
    m, warned = _load(_csv(tmp_path / "measurements.csv", GENERIC))
    assert list(m.columns) == [*MEASUREMENT_COLUMNS, "geometry"]
    assert m.crs.to_epsg() == 4326 and m.attrs["format"] == "generic"
    assert m["sample_id"].tolist() == list("abcdefghi")
    assert m["source_row"].tolist() == list(range(2, 11))  # the file's lines
    assert m["qc"].tolist() == [
        "ok", "ok", "ok", "no_location", "duplicate", "unknown_tech", "impossible_value",
        "missing_value", "no_location",
    ]  # fmt: skip
    assert m["tech"].tolist() == ["4G", "3G", "2G", "4G", "4G", "", "4G", "4G", "4G"]
    assert m["metric"].tolist()[:3] == ["rsrp", "rscp", "rxlev"]
    assert m["measured_dbm"].tolist()[:3] == [-95.0, -80.0, -70.0]
    assert m["cell"].tolist()[:3] == ["452-4-1-11", None, "x9"]
    assert m["measured_at"].dtype == "datetime64[ns, UTC]"
    assert m["measured_at"].iloc[1] == pd.Timestamp("2024-05-01 10:00:01", tz="UTC")
    assert m["measured_at"].iloc[2] == pd.Timestamp(1714557600, unit="s", tz="UTC")
    assert pd.isna(m["measured_at"].iloc[3])
    assert math.isnan(m["lon"].iloc[8]) and m.geometry.iloc[8] is None
    counts = m.attrs["qc_counts"]
    assert set(counts) == set(QC_REASONS) and counts["ok"] == 3 and counts["no_location"] == 2
    assert sum(counts.values()) == len(m)
    # one warning per non-ok class, naming the file and the lines
    assert len(warned) == 5
    joined = " | ".join(warned)
    assert "measurements.csv: 2 samples without a location" in joined
    assert "(lines 5, 10) are kept and flagged qc=no_location; they are not used in fits" in joined
    assert "1 sample with impossible values" in joined and "(line 8) is kept" in joined
    assert "unknown technology (CDMA)" in joined
    assert "qc=duplicate" in joined and "qc=missing_value" in joined


def test_generic_semicolon_decimal_comma_and_any_case_names(tmp_path: Path) -> None:
    text = "Longitude;Latitude;TECH;RSRP\n105,5;21,25;LTE;-97,5\n105,6;21,3;4G;-101\n"
    m, warned = _load(_csv(tmp_path / "vi.csv", text))
    assert warned == []
    assert m["lon"].tolist() == [105.5, 105.6] and m["lat"].tolist() == [21.25, 21.3]
    assert m["measured_dbm"].tolist() == [-97.5, -101.0]
    assert m["sample_id"].tolist() == ["S1", "S2"]  # 1-based data rows


def test_generic_signal_column_per_technology(tmp_path: Path) -> None:
    # one generic signal column holds each row's audit metric; RSRP of an NR cell is SS-RSRP
    text = ("x,y,tech,signal_dbm,rsrp\n105,21,2G,-80,\n105,21,3G,-85,\n105,21,5G,,-99\n"
            "105,21,4G,-90,\n")
    m, _ = _load(_csv(tmp_path / "g.csv", text))
    assert m["metric"].tolist() == ["rxlev", "rscp", "ss_rsrp", "rsrp"]
    assert m["measured_dbm"].tolist() == [-80.0, -85.0, -99.0, -90.0]


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet"])
def test_generic_vector_files(tmp_path: Path, suffix: str) -> None:
    gdf = gpd.GeoDataFrame(
        {"sample_id": ["p1", "p2", "p3"], "tech": ["4G", "3G", "4G"],
         "rsrp": [-91.0, np.nan, -120.0], "rscp": [np.nan, -77.0, np.nan]},
        geometry=[shapely.Point(105.1, 21.1), shapely.Point(105.2, 21.2), None], crs=4326,
    )
    path = tmp_path / f"m{suffix}"
    if suffix == ".parquet":
        gdf.to_parquet(path)
    else:
        gdf.to_file(path, engine="pyogrio")
    m, warned = _load(path)
    assert m["sample_id"].tolist() == ["p1", "p2", "p3"]
    assert m["lon"].tolist()[:2] == [105.1, 105.2]
    assert m["measured_dbm"].tolist() == [-91.0, -77.0, -120.0]
    assert m["qc"].tolist() == ["ok", "ok", "no_location"]
    assert m["source_row"].tolist() == [1, 2, 3]  # features counted from 1
    assert len(warned) == 1 and "feature 3" in warned[0]


def test_generic_vector_in_utm_is_reprojected(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"rsrp": [-90.0], "tech": ["4G"]},
                           geometry=[shapely.Point(105.5, 21.0)], crs=4326).to_crs(32648)
    gdf.to_file(tmp_path / "utm.gpkg", engine="pyogrio")
    m, _ = _load(tmp_path / "utm.gpkg")
    assert m["lon"].iloc[0] == pytest.approx(105.5) and m.attrs["reprojected_from"]


def test_tech_argument(tmp_path: Path) -> None:
    p = _csv(tmp_path / "notech.csv", "lon,lat,rsrp\n105,21,-90\n")
    with pytest.raises(SchemaError) as exc:
        load_measurements(p)
    msg = _one_line_error(exc, "notech.csv")
    assert "field 'tech'" in msg and "pass tech=" in msg
    m, _ = _load(p, tech="4G")
    assert m["tech"].tolist() == ["4G"] and m.attrs["defaults"]["tech"].startswith("4G")
    # a file's own technology wins; tech= fills the empty values
    m, _ = _load(_csv(tmp_path / "some.csv", "lon,lat,tech,rsrp,rscp\n105,21,,-90,\n"
                      "105,21,3G,,-80\n"), tech="4G")
    assert m["tech"].tolist() == ["4G", "3G"] and m["metric"].tolist() == ["rsrp", "rscp"]
    with pytest.raises(ParameterError, match="tech was 'LTE'"):
        load_measurements(p, tech="LTE")


def test_misspelt_columns(tmp_path: Path) -> None:
    # a misspelt technology column: the error naming tech= also names the look-alike
    p = _csv(tmp_path / "typo.csv", "lon,lat,tehc,rsrp,tiemstamp\n105,21,4G,-90,\n")
    with pytest.raises(SchemaError) as exc:
        load_measurements(p)
    assert "column 'tehc' is not used: did you mean 'tech'?" in _one_line_error(exc, "typo.csv")
    # optional columns: a warning, the samples load
    m, warned = _load(p, tech="4G")
    assert len(m) == 1 and len(warned) == 1
    assert "column 'tiemstamp' is not used: did you mean 'timestamp'?" in warned[0]


def test_columns_mapping(tmp_path: Path) -> None:
    p = _csv(tmp_path / "c.csv",
             "lon,lat,tech,RSRP (dBm),gio\n105,21,4G,-93,2024-01-02T03:04:05Z\n")
    m, _ = _load(p, columns={"rsrp": "RSRP (dBm)", "measured_at": "gio"})
    assert m["measured_dbm"].iloc[0] == -93.0
    assert m["measured_at"].iloc[0] == pd.Timestamp("2024-01-02T03:04:05Z")
    with pytest.raises(ParameterError, match="unknown field"):
        load_measurements(p, columns={"height": "x"})


# --------------------------------------------------------------------------- OpenCelliD

OCID_HEADER = "lat,lon,mcc,mnc,lac,cellid,signal,measured_at,rating,speed,direction,act\n"


def _ocid_rows(rows: list[tuple[str, str]]) -> str:
    """(act, signal) pairs as OpenCelliD measurement lines."""
    return OCID_HEADER + "".join(
        f"21.1,105.1,452,4,10123,{20567 + i},{sig},2024-05-01T10:00:{i:02d}Z,,0,0,{act}\n"
        for i, (act, sig) in enumerate(rows)
    )


# Worked values from AOSP's getAsuLevel() tables (CellSignalStrengthGsm/Wcdma/Lte/Nr.java,
# after 3GPP TS 27.007 §8.5 / §8.69): GSM "0 = -113 dBm or less ... 31 = -51 dBm or
# greater" (dBm = 2 ASU - 113); WCDMA "0 = -120 dBm or less, 1 = -119 dBm ... 96 = -24 dBm
# or greater" (ASU - 120); LTE "0 = -140 dBm or less, 1 = -139 dBm ... 97 = -43 dBm or
# greater" (ASU - 140); NR: getAsuLevel() returns dBm + 140 clamped to 0..97 (ASU - 140).
@pytest.mark.parametrize(
    ("act", "signal", "dbm", "metric"),
    [
        ("GSM", "0", -113.0, "rssi (asu)"),
        ("GSM", "20", -73.0, "rssi (asu)"),
        ("GSM", "31", -51.0, "rssi (asu)"),
        ("UMTS", "0", -120.0, "rscp (asu)"),
        ("UMTS", "1", -119.0, "rscp (asu)"),
        ("UMTS", "96", -24.0, "rscp (asu)"),
        ("LTE", "0", -140.0, "rsrp (asu)"),
        ("LTE", "1", -139.0, "rsrp (asu)"),
        ("LTE", "97", -43.0, "rsrp (asu)"),
        ("NR", "50", -90.0, "ss_rsrp (asu)"),
        ("NR", "97", -43.0, "ss_rsrp (asu)"),
        ("LTE", "-95", -95.0, "rsrp"),  # negative: dBm as given
        ("GSM", "-71", -71.0, "rssi"),
    ],
)
def test_opencellid_asu_conversion(tmp_path: Path, act: str, signal: str, dbm: float,
                                   metric: str) -> None:
    m, warned = _load(_csv(tmp_path / "ocid.csv", _ocid_rows([(act, signal)])))
    assert m.attrs["format"] == "opencellid"
    assert m["measured_dbm"].iloc[0] == dbm and m["metric"].iloc[0] == metric
    assert m["qc"].iloc[0] == "ok" and warned == []


def test_opencellid_unknown_codes_out_of_range_and_cdma(tmp_path: Path) -> None:
    rows = [("GSM", "99"), ("UMTS", "255"), ("LTE", "99"), ("GSM", "40"), ("CDMA", "-80"),
            ("LTE", "-95")]
    m, warned = _load(_csv(tmp_path / "ocid.csv", _ocid_rows(rows)))
    assert m["qc"].tolist() == ["missing_value"] * 3 + ["impossible_value", "unknown_tech", "ok"]
    assert m["measured_dbm"].iloc[3] == 2 * 40 - 113  # converted, but ASU 40 > 31
    assert m["tech"].tolist() == ["2G", "3G", "4G", "2G", "", "4G"]
    assert m["cell"].tolist()[0] == "452-4-10123-20567"
    assert m["measured_at"].iloc[5] == pd.Timestamp("2024-05-01T10:00:05Z")
    assert any("unknown technology (CDMA)" in w for w in warned)


def test_opencellid_any_case_radio_and_millisecond_times(tmp_path: Path) -> None:
    text = ("LAT,LON,MCC,NET,TAC,CID,SIGNAL,MEASURED_AT,RADIO\n"
            "21.1,105.1,452,04,7,9,-88,1714557600000,LTE\n")
    m, _ = _load(_csv(tmp_path / "o.csv", text))
    assert m.attrs["format"] == "opencellid" and m["cell"].iloc[0] == "452-4-7-9"
    assert m["measured_at"].iloc[0] == pd.Timestamp(1714557600, unit="s", tz="UTC")


def test_opencellid_without_act_needs_tech(tmp_path: Path) -> None:
    p = _csv(tmp_path / "old.csv", "lat,lon,mcc,mnc,lac,cellid,signal\n21,105,452,4,1,2,-90\n")
    with pytest.raises(SchemaError) as exc:
        load_measurements(p)
    msg = _one_line_error(exc, "old.csv")
    assert "opencellid file" in msg and "act, radio" in msg and "tech=" in msg
    m, _ = _load(p, tech="3G")
    assert m["metric"].iloc[0] == "rscp" and m["measured_dbm"].iloc[0] == -90.0


# --------------------------------------------------------------------------- G-NetTrack

# The first columns of a G-NetTrack Pro log, in the app's order (tab-separated .txt).
GNT_HEADER = ("Timestamp\tLongitude\tLatitude\tSpeed\tOperatorname\tOperator\tCGI\tCellname\t"
              "Node\tCellID\tLAC\tNetworkTech\tNetworkMode\tLevel\tQual\tSNR\tCQI\tLTERSSI\t"
              "ARFCN\tDL_bitrate\tUL_bitrate\n")


def _gnt(rows: list[tuple[str, str, str, str]], sep: str = "\t") -> str:
    """(NetworkTech, NetworkMode, Level, CGI) rows of a G-NetTrack log."""
    lines = [GNT_HEADER.replace("\t", sep)]
    for i, (tech, mode, level, cgi) in enumerate(rows):
        fields = [f"2024.05.01_10.00.{i:02d}", "105.8", "21.0", "12", "Viettel", "45204", cgi,
                  "", "", "20567", "10123", tech, mode, level, "-11", "13", "", "", "", "0", "0"]
        lines.append(sep.join(fields) + "\n")
    return "".join(lines)


def test_gnettrack_log(tmp_path: Path) -> None:
    rows = [("4G", "LTE", "-95", "452-04-10123-20567"), ("3G", "HSPA+", "-82", ""),
            ("2G", "EDGE", "-71", ""), ("", "HSDPA", "-90", ""), ("5G", "NR", "-100", ""),
            ("", "", "-90", ""), ("4G", "LTE", "", "")]
    m, warned = _load(_csv(tmp_path / "gnettrack_log.txt", _gnt(rows)))
    assert m.attrs["format"] == "gnettrack"
    assert m["tech"].tolist() == ["4G", "3G", "2G", "3G", "5G", "", "4G"]
    assert m["metric"].tolist() == ["rsrp", "rscp", "rxlev", "rscp", "ss_rsrp", "", "rsrp"]
    assert m["measured_dbm"].tolist()[:5] == [-95.0, -82.0, -71.0, -90.0, -100.0]
    assert m["cell"].tolist()[:2] == ["452-04-10123-20567", "10123-20567"]
    assert m["measured_at"].iloc[1] == pd.Timestamp("2024-05-01 10:00:01", tz="UTC")
    assert m["qc"].tolist()[-2:] == ["unknown_tech", "missing_value"]
    assert len(warned) == 2


def test_opencellid_columns_in_a_geopackage(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"mcc": [452], "mnc": [4], "lac": [7], "cellid": [9], "signal": [45],
                            "act": ["LTE"]}, geometry=[shapely.Point(105.5, 21.0)], crs=4326)
    gdf.to_file(tmp_path / "ocid.gpkg", engine="pyogrio")
    m, _ = _load(tmp_path / "ocid.gpkg")
    assert m.attrs["format"] == "opencellid" and m["cell"].iloc[0] == "452-4-7-9"
    assert m["measured_dbm"].iloc[0] == 45 - 140 and m["lon"].iloc[0] == 105.5


def test_gnettrack_comma_separated(tmp_path: Path) -> None:
    m, _ = _load(_csv(tmp_path / "log.csv", _gnt([("4G", "LTE", "-95", "")], sep=",")))
    assert m.attrs["format"] == "gnettrack" and m["measured_dbm"].iloc[0] == -95.0


# --------------------------------------------------------------------------- errors


def test_errors_are_one_line_naming_file_line_and_field(tmp_path: Path) -> None:
    base = "id,lon,lat,tech,rsrp\n"
    cases = [
        ("nocoord.csv", "id,tech,rsrp\n1,4G,-90\n", SchemaError, ["'lon'/'lat'"]),
        ("nosig.csv", base.replace(",rsrp", ",rsrpp") + "1,105,21,4G,-90\n", SchemaError,
         ["field 'measured_dbm'", "no signal column", "did you mean 'rsrp'"]),
        ("garbage.csv", base + "1,105,21,4G,-90\n2,105,21,4G,abc\n3,105,21,4G,x\n4,105,21,4G,y\n",
         SchemaError, ["line 3", "field 'rsrp'", "'abc' is not a number",
                       "and 2 more lines: 4, 5"]),
        ("lon.csv", base + "1,185,21,4G,-90\n", SchemaError, ["line 2", "field 'lon'",
                                                              "outside -180..180"]),
        ("swapped.csv", base + "1,21,105,4G,-90\n2,21.5,105.5,4G,-91\n", SchemaError,
         ["swapped"]),
        ("time.csv", "lon,lat,tech,rsrp,time\n105,21,4G,-90,yesterday\n", SchemaError,
         ["line 2", "field 'measured_at'", "not a time"]),
        ("dup.csv", base + "1,105,21,4G,-90\n1,105,21,4G,-91\n", SchemaError,
         ["duplicated sample_id '1'", "lines 2, 3"]),
        ("empty.csv", "", DataLoadError, ["no features"]),
        ("what.xyz", "a,b\n", DataLoadError, ["not a vector file"]),
    ]
    for name, text, kind, parts in cases:
        with pytest.raises(kind) as exc:
            load_measurements(_csv(tmp_path / name, text))
        msg = _one_line_error(exc, name)
        for part in parts:
            assert part in msg, (name, msg)


def test_non_point_geometry_is_an_error(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"rsrp": [-90.0, -91.0], "tech": ["4G", "4G"]},
                           geometry=[shapely.Point(105, 21), shapely.box(105, 21, 106, 22)],
                           crs=4326)
    gdf.to_file(tmp_path / "poly.gpkg", engine="pyogrio")
    with pytest.raises(SchemaError) as exc:
        load_measurements(tmp_path / "poly.gpkg")
    assert "feature 2" in _one_line_error(exc, "poly.gpkg")


def test_bad_arguments(tmp_path: Path) -> None:
    p = _csv(tmp_path / "m.csv", "lon,lat,tech,rsrp\n105,21,4G,-90\n")
    with pytest.raises(ParameterError, match="tower_id"):
        load_measurements(p, towers=pd.DataFrame({"x": [1]}))
    m, _ = _load(p)
    with pytest.raises(ParameterError, match="format was 'kml'"):
        write_measurements(m, tmp_path / "o.kml", format="kml")
    with pytest.raises(ParameterError, match="cannot write measurements as '.kml'"):
        write_measurements(m, tmp_path / "o.kml")
    with pytest.raises(ParameterError, match="lacks column"):
        write_measurements(m.drop(columns="cell"), tmp_path / "o.csv")
    m.loc[0, "measured_dbm"] = 5.0
    with pytest.raises(ParameterError, match="not negative; OpenCelliD reads"):
        write_measurements(m, tmp_path / "o.csv", format="opencellid")
    assert not (tmp_path / "o.csv").exists()


# --------------------------------------------------------------------------- towers

# The header of OpenCelliD's cell export as in ../shared/data/opencellid_lesotho.
CELLS_HEADER = ("Unnamed: 0,radio,MCC,MNC,TAC,CID,unit,LON,LAT,RANGE,SAM,changeable,created,"
                "updated,averageSignal,Country,Network,Continent\n")


def _cells(tmp_path: Path) -> gpd.GeoDataFrame:
    rows = [
        "1,GSM,452,4,117,11201,0,105.50000,21.50000,1000,7,1,0,0,0,VN,V,AS",  # 452-4-2G-1
        "2,GSM,452,4,117,11202,0,105.50030,21.50030,1000,4,1,0,0,0,VN,V,AS",  # same site
        "3,LTE,452,4,504,11201,0,105.50000,21.50000,900,3,1,0,0,0,VN,V,AS",  # 452-4-4G-1
        "4,UMTS,452,4,504,1860,0,105.60000,21.60000,900,3,1,0,0,0,VN,V,AS",  # 452-4-3G-1
    ]
    path = _csv(tmp_path / "cells.csv", CELLS_HEADER + "\n".join(rows) + "\n")
    return load_towers(path)


def test_towers_matched_by_opencellid_keys(tmp_path: Path) -> None:
    towers = _cells(tmp_path)
    assert towers["cells_keys"].tolist() == [
        "452-4-117-11201;452-4-117-11202", "452-4-504-1860", "452-4-504-11201"]
    rows = [("GSM", "-70", "117", "11202"), ("LTE", "-95", "504", "11201"),
            ("UMTS", "-80", "504", "1860"), ("GSM", "-70", "999", "1"), ("LTE", "-95", "", "7")]
    text = OCID_HEADER + "".join(
        f"21.5,105.5,452,04,{lac},{cid},{sig},,,,,{act}\n" for act, sig, lac, cid in rows)
    m, warned = _load(_csv(tmp_path / "meas.csv", text), towers=towers)
    assert m["tower_id"].tolist() == ["452-4-2G-1", "452-4-4G-1", "452-4-3G-1", None, None]
    assert m["cell"].tolist()[3:] == ["452-4-999-1", "7"]
    assert len(warned) == 1 and "1 sample names a serving tower or cell" in warned[0]
    assert "(line 5)" in warned[0]
    # a G-NetTrack CGI written mcc-mnc-lac-cid names the same cell
    g, _ = _load(_csv(tmp_path / "g.txt", _gnt([("2G", "GSM", "-70", "452-04-117-11201")])),
                 towers=towers)
    assert g["tower_id"].tolist() == ["452-4-2G-1"]


def test_towers_matched_by_tower_id(tmp_path: Path) -> None:
    towers = load_towers(_csv(tmp_path / "t.csv", "tower_id,lon,lat,tech,freq_mhz,eirp_dbm,"
                              "height_m\nT1,105,21,4G,1800,60,30\nT2,105.1,21.1,3G,2100,58,30\n"))
    text = "lon,lat,tech,rsrp,rscp,tower_id\n105,21,4G,-90,,T1\n105,21,3G,,-80,T2\n" \
           "105,21,4G,-91,,T9\n105,21,4G,-92,,\n"
    p = _csv(tmp_path / "m.csv", text)
    m, warned = _load(p, towers=towers)
    assert m["tower_id"].tolist() == ["T1", "T2", None, None]
    assert len(warned) == 1 and "line 4" in warned[0]
    # without towers the file's tower ids are kept as given
    m, _ = _load(p)
    assert m["tower_id"].tolist() == ["T1", "T2", "T9", None]


def test_towers_real_opencellid_keys(shared_data: Path) -> None:
    path = shared_data / "opencellid_lesotho" / "LesothoCellTowersData.csv"
    towers = load_towers(path)
    raw = pd.read_csv(path, nrows=3)
    first = f"{raw.MCC[0]}-{raw.MNC[0]}-{raw.TAC[0]}-{raw.CID[0]}"
    holder = towers[towers["cells_keys"].str.split(";").map(lambda k: first in k)]
    assert len(holder) == 1 and holder["tech"].iloc[0] == "2G"


# --------------------------------------------------------------------------- round trip

_HELD: dict[str, tuple[str, ...]] = {
    "generic": ("sample_id", "lon", "lat", "tech", "measured_dbm", "metric", "cell", "tower_id",
                "measured_at", "qc"),
    "opencellid": ("lon", "lat", "tech", "measured_dbm", "cell", "measured_at", "qc"),
    "gnettrack": ("lon", "lat", "tech", "measured_dbm", "cell", "measured_at", "qc"),
}
_TARGETS = [("generic", "m.csv"), ("generic", "m.tsv"), ("generic", "m.gpkg"),
            ("generic", "m.geojson"), ("generic", "m.parquet"), ("opencellid", "ocid.csv"),
            ("gnettrack", "gnettrack.txt")]


def _same(a: pd.Series, b: pd.Series, name: str) -> None:
    if name in ("lon", "lat", "measured_dbm"):
        np.testing.assert_array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float),
                                      err_msg=name)
    else:
        assert [None if pd.isna(v) else v for v in a] == [None if pd.isna(v) else v
                                                          for v in b], name


def _round_trip(m: gpd.GeoDataFrame, folder: Path) -> None:
    for fmt, name in _TARGETS:
        path = write_measurements(m, folder / name, format=fmt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadzoneWarning)
            back = load_measurements(path)
        assert back.attrs["format"] == fmt and len(back) == len(m), name
        for col in _HELD[fmt]:
            _same(m[col], back[col], f"{name}: {col}")


def test_round_trip_every_format(tmp_path: Path) -> None:
    m, _ = _load(_csv(tmp_path / "in.csv", GENERIC))
    _round_trip(m, tmp_path)


_KEYS = st.sampled_from([None, "452-4-10123-20567", "452-5-1-2", "c7", "SITE_9"])
_ROW = st.fixed_dictionaries({
    "where": st.one_of(st.none(), st.tuples(st.floats(102.0, 110.0), st.floats(8.0, 23.5))),
    "tech": st.sampled_from(["2G", "3G", "4G", "5G", "", "CDMA"]),
    "dbm": st.one_of(st.none(), st.floats(-190.0, -1.0)),
    "cell": _KEYS,
    "tower": st.sampled_from([None, "T1", "452-4-4G-1"]),
    "t": st.one_of(st.none(), st.integers(1_500_000_000, 1_800_000_000)),
})


#: Random tables per run; raise for a deeper run: ``DEADZONE_FUZZ_EXAMPLES=300 pytest ...``.
EXAMPLES = int(os.environ.get("DEADZONE_FUZZ_EXAMPLES", "25"))


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=1, max_size=12), dup=st.booleans())
def test_round_trip_random_tables(rows: list[dict[str, Any]], dup: bool) -> None:
    if dup:
        rows = rows + rows[:1]
    frame = pd.DataFrame({
        "sample_id": [f"m{i}" for i in range(len(rows))],
        "lon": [r["where"][0] if r["where"] else None for r in rows],
        "lat": [r["where"][1] if r["where"] else None for r in rows],
        "tech": [r["tech"] for r in rows],
        "signal_dbm": [r["dbm"] for r in rows],
        "cell": [r["cell"] for r in rows],
        "tower_id": [r["tower"] for r in rows],
        "measured_at": [None if r["t"] is None else
                        pd.Timestamp(r["t"], unit="s", tz="UTC").isoformat() for r in rows],
    })
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame.to_csv(folder / "src.csv", index=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadzoneWarning)
            m = load_measurements(folder / "src.csv")
        assert m["sample_id"].tolist() == frame["sample_id"].tolist()  # all rows, in order
        _round_trip(m, folder)
        assert os.listdir(folder) and not [f for f in os.listdir(folder) if ".tmp" in f]


def test_docstring_examples_run() -> None:
    import doctest

    import deadzone.data.measurements as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
