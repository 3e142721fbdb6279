"""Map and QML coverage classes use the audit's metric and thresholds per technology.

``coverage.tif`` is total received power; 4G/5G thresholds are RSRP (total
power minus a per-tower offset that depends on the bandwidth).  The map's
class layer and the QGIS style must class the raster by the same rule as
the village statuses, or a planner sees covered cells around dead villages.
"""

from __future__ import annotations

import json
import warnings
from xml.etree import ElementTree as ET

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from deadzone.cli.main import cli
from deadzone.cli.report import default_tech
from deadzone.geo.audit import audit
from deadzone.geo.export import SIGNAL_FILES, write_audit
from deadzone.maps.audit_map import metric_layers
from deadzone.model.thresholds import Thresholds, coverage_class
from tests.conftest import small_scenario

# Villages on a line away from the towers: some covered, some marginal, some dead.
PTS = [(4500 + d, 4500) for d in (300, 1500, 2500, 3200, 3800, 4200)] + [(1000, 8000)]


@pytest.fixture(scope="module")
def audit_4g(tmp_path_factory: pytest.TempPathFactory):
    """Two 4G towers with different bandwidths (offsets 27.8 and 30.8 dB)."""
    scen = small_scenario(
        villages=PTS,
        towers=[
            {"x": 4500, "y": 4500, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 15.0},
            {"x": 1500, "y": 7500, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 15.0},
        ],
    )
    scen.towers["bandwidth_mhz"] = [10.0, 20.0]
    res = audit(scen, model="fspl", radius_km=6.0)
    folder = tmp_path_factory.mktemp("audit4g")
    write_audit(res, folder)
    return res, folder


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_audit_writes_the_metric_raster_the_statuses_use(audit_4g) -> None:
    res, folder = audit_4g
    assert (folder / "signal_4G_dbm.tif").is_file()
    assert not any((folder / n).is_file() for n in SIGNAL_FILES if n != "signal_4G_dbm.tif")
    rsrp = _read(folder / "signal_4G_dbm.tif")
    np.testing.assert_array_equal(rsrp, res.coverage.by_tech["4G"].best_dbm)
    total = _read(folder / "coverage.tif")
    ok = np.isfinite(rsrp)
    # RSRP is below total power by the serving tower's offset (not one number).
    gap = total[ok] - rsrp[ok]
    for offset_db in (10 * np.log10(12 * 50), 10 * np.log10(12 * 100)):  # 10 and 20 MHz
        assert np.isclose(gap, offset_db, atol=0.01).any(), offset_db
    assert gap.min() >= 10 * np.log10(12 * 50) - 0.01


def test_map_classes_match_the_audit_rule_cell_by_cell_and_at_villages(audit_4g) -> None:
    res, folder = audit_4g
    thr = Thresholds()
    rsrp = _read(folder / "signal_4G_dbm.tif")
    total = _read(folder / "coverage.tif")
    layers = metric_layers({"4G": rsrp}, total, thr)
    assert layers["metric_label"] == "4G RSRP"
    assert layers["thresholds_dbm"] == (-110.0, -120.0)
    cls = layers["coverage_class"]
    ok = np.isfinite(rsrp)
    # The fraction of cells the map shows covered is the audit's own rule on those cells.
    rule = float((rsrp[ok] >= -110.0).mean())
    shown = float((cls[ok] == 2).mean())
    assert shown == rule and 0.05 < rule < 0.95
    # The old map (2G breaks on total power) showed far more "covered".
    assert float((total[ok] >= -100.0).mean()) > rule + 0.05
    # At each village the class is the village's status.
    v = res.villages
    pts = v.geometry.to_crs(res.coverage.crs)
    inv = ~res.coverage.transform
    names = {0: "dead", 1: "marginal", 2: "covered"}
    seen = set()
    for p, status, status_4g in zip(pts, v["status"], v["status_4g"], strict=True):
        c, r = (int(np.floor(a)) for a in inv @ (p.x, p.y))
        assert names[int(cls[r, c])] == status == status_4g
        seen.add(status)
    assert {"covered", "dead"} <= seen


def test_multi_technology_class_is_the_best_over_technologies() -> None:
    thr = Thresholds()
    level_2g = np.array([[-95.0, -105.0, -115.0, np.nan]])
    rsrp_4g = np.array([[-130.0, -108.0, -115.0, np.nan]])
    cls = coverage_class({"2G": level_2g, "4G": rsrp_4g}, thr)
    # covered by 2G; covered by 4G (marginal by 2G); marginal by 4G; nothing
    assert cls.tolist() == [[2, 2, 1, -1]]
    layers = metric_layers({"2G": level_2g, "4G": rsrp_4g}, level_2g, thr)
    assert "4G RSRP" in layers["class_labels"]["covered"]
    assert "2G level" in layers["class_labels"]["covered"]


def test_audit_map_html_names_the_metric(audit_4g, tmp_path) -> None:
    _, folder = audit_4g
    out = tmp_path / "m.html"
    r = CliRunner().invoke(cli, ["map", "--audit", str(folder), "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    text = out.read_text(encoding="utf-8")
    assert "Received power (dBm): 4G RSRP" in text
    assert "4G RSRP (dBm)" in text  # legend header of the ramp
    assert "covered: 4G RSRP \\u0026ge; -110 dBm" in text  # class legend (JS-escaped)


def _qml_class(values: np.ndarray, qml) -> np.ndarray:
    """Class of each value under a DISCRETE QGIS ramp (value <= item value)."""
    items = ET.parse(qml).getroot().findall(".//colorrampshader/item")
    bounds = [float(i.get("value")) for i in items]
    return np.searchsorted(bounds, values, side="left")


def test_export_qml_defaults_to_the_audit_tech_and_matches_its_rule(audit_4g, tmp_path) -> None:
    _, folder = audit_4g
    qml = tmp_path / "c.qml"
    r = CliRunner().invoke(cli, ["export", "--audit", str(folder), "--qml", str(qml)])
    assert r.exit_code == 0, r.output
    assert "signal_4G_dbm.tif" in r.output
    items = ET.parse(qml).getroot().findall(".//colorrampshader/item")
    assert [i.get("value") for i in items] == ["-120", "-110", "inf"]
    assert all("4G RSRP" in i.get("label") for i in items)
    rsrp = _read(folder / "signal_4G_dbm.tif")
    ok = np.isfinite(rsrp)
    cls = _qml_class(rsrp[ok], qml)
    assert float((cls == 2).mean()) == float((rsrp[ok] >= -110.0).mean())
    assert float((cls == 0).mean()) == float((rsrp[ok] < -120.0).mean())


def test_export_default_tech_follows_the_audit() -> None:
    assert default_tech(["4G"], {}) == "4G"
    assert default_tech(["2G"], {"input_options": {"default_tech": "4G"}}) == "2G"
    assert default_tech(["2G", "4G"], {"input_options": {"default_tech": "4G"}}) == "4G"
    assert default_tech(["2G", "4G"], {"input_options": {"default_tech": "5G"}}) == "2G"
    assert default_tech([], {}) == "4G"


def test_map_of_an_old_folder_without_signal_rasters_warns(audit_4g, tmp_path) -> None:
    import shutil

    from deadzone.errors import DeadzoneWarning
    from deadzone.maps.audit_map import audit_map

    _, folder = audit_4g
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / "signal_4G_dbm.tif").unlink()
    summary = json.loads((old / "summary.json").read_text(encoding="utf-8"))
    assert "4G" in summary["by_technology"]
    # an older version's folder: no signal rasters and no output checksums
    del summary["outputs"]
    (old / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = audit_map(old)
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeadzoneWarning)]
    assert any("signal_<tech>_dbm.tif" in t for t in msgs), msgs
    assert "Coverage class" not in m.get_root().render()
