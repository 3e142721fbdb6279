"""Every output shows the signal a village's status came from, labelled (issue 16 item 5)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from deadzone.maps.export_kml import write_kml
from deadzone.maps.signal import TOTAL_POWER_LABEL, status_signal


def _villages() -> gpd.GeoDataFrame:
    # V1: total power -98.3 dBm would read "covered" against a 2G threshold, but its
    # status is dead from 4G RSRP -126.1 dBm
    return gpd.GeoDataFrame(
        {
            "village_id": ["V1", "V2", "V3"],
            "name": ["Thôn Một", "Bản Hai", "Thôn Ba"],
            "commune_id": ["07840", "07840", "07843"],
            "population": [300, 200, 100],
            "status": ["dead", "marginal", "dead"],
            "reason": ["weak_signal", "weak_signal", "no_tower_in_range"],
            "best_rx_dbm": [-98.3, -101.04, np.nan],
            "status_tech": pd.array(["4G", "2G", None], dtype="string"),
            "signal_4g_dbm": [-126.14, np.nan, np.nan],
            "signal_2g_dbm": [np.nan, -101.04, np.nan],
        },
        geometry=gpd.points_from_xy([105.1, 105.2, 105.3], [21.1, 21.2, 21.3]), crs=4326,
    )


def test_status_signal_labels_and_values() -> None:
    labels, values = status_signal(_villages())
    assert labels == ["4G RSRP", "2G received level", TOTAL_POWER_LABEL]
    assert values[0] == -126.14 and values[1] == -101.04 and np.isnan(values[2])
    old = _villages().drop(columns="status_tech")  # an audit from before status_tech
    assert status_signal(old)[0] == [TOTAL_POWER_LABEL] * 3
    assert status_signal(old)[1][0] == -98.3


def test_kml_shows_the_status_metric(tmp_path: Path) -> None:
    out = write_kml(_villages(), tmp_path / "v.kml")
    root = ET.parse(out).getroot()
    q = "{http://www.opengis.net/kml/2.2}"
    pm = {p.get("id"): p for p in root.iter(f"{q}Placemark")}
    desc = pm["v-V1"].find(f"{q}description").text
    assert "signal: 4G RSRP -126.1 dBm" in desc
    assert "-98.3" not in desc
    data = {d.get("name"): d.find(f"{q}value").text
            for d in pm["v-V1"].iter(f"{q}Data")}
    assert data["signal"] == "4G RSRP" and data["signal_dbm"] == "-126.1"
    assert "best_rx_dbm" not in data
