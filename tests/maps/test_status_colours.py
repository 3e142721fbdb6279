"""One colour per village status in every output (issue 17: "marginal" was
#f08c00 on the maps and #fdae61 in the report's figures and the QGIS style)."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from deadzone.maps import figures, folium_map
from deadzone.maps.export_kml import _KML_COLOURS, write_qml
from deadzone.model.thresholds import STATUS_COLORS, Thresholds
from deadzone.web import overlay


def test_every_output_takes_the_model_colours() -> None:
    assert folium_map.STATUS_COLORS is STATUS_COLORS
    assert figures.STATUS_COLORS is STATUS_COLORS
    assert overlay.STATUS_COLORS is STATUS_COLORS
    # KML writes aabbggrr: #f08c00 -> ff008cf0
    assert _KML_COLOURS == {"covered": "ff50981a", "marginal": "ff008cf0",
                            "dead": "ff2730d7", "unknown": "ff8c8c8c"}


def test_qgis_style_uses_the_status_colours(tmp_path) -> None:  # noqa: ANN001
    out = write_qml(tmp_path / "c.qml", Thresholds.uniform(-95.0, marginal_db_below=12.0),
                    tech="4G")
    colours = [i.get("color") for i in ET.parse(out).getroot().findall(".//colorrampshader/item")]
    assert colours == [STATUS_COLORS["dead"], STATUS_COLORS["marginal"], STATUS_COLORS["covered"]]
