"""MSI antenna patterns: parsing, errors, and use in the coverage engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deadzone.errors import SchemaError
from deadzone.geo.antenna import eirp_dbm, load_msi
from deadzone.geo.coverage import compute_coverage
from tests.conftest import small_scenario


def _write_msi(path: Path, h_front_to_back: float = 30.0) -> Path:
    lines = ["NAME TEST-65-17", "FREQUENCY 1800", "GAIN 15.0 dBd", "TILT ELECTRICAL 0",
             "HORIZONTAL 360"]
    for a in range(360):
        off = min(a, 360 - a)
        lines.append(f"{a} {min(12 * (off / 65) ** 2, h_front_to_back):.2f}")
    lines.append("VERTICAL 360")
    for a in range(360):
        off = min(a, 360 - a)
        lines.append(f"{a} {min(12 * (off / 7) ** 2, 25):.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_msi_parses_gain_and_cuts(tmp_path: Path) -> None:
    pat = load_msi(_write_msi(tmp_path / "a.msi"))
    assert pat.name == "TEST-65-17"
    assert pat.gain_dbi == pytest.approx(17.15)  # dBd -> dBi
    assert pat.frequency_mhz == 1800
    assert pat.horizontal_db[0] == 0 and pat.horizontal_db[180] == 30
    assert pat.horizontal_db.shape == pat.vertical_db.shape == (360,)


def test_msi_bad_row_names_the_line(tmp_path: Path) -> None:
    p = _write_msi(tmp_path / "b.msi")
    lines = p.read_text().splitlines()
    lines[10] = "5 notanumber"
    p.write_text("\n".join(lines))
    with pytest.raises(SchemaError, match="line 11"):
        load_msi(p)
    p.write_text("NAME x\nGAIN 3\n")
    with pytest.raises(SchemaError, match="HORIZONTAL"):
        load_msi(p)


def test_pattern_file_drives_coverage(tmp_path: Path) -> None:
    _write_msi(tmp_path / "sector.msi")
    s = small_scenario(towers=[{"x": 4500, "y": 4500, "tech": "4G", "freq_mhz": 1800.0,
                                "eirp_dbm": 61.0, "azimuth_deg": 90.0}])
    s.towers["pattern_file"] = "sector.msi"  # relative to the towers file's folder
    s.towers.attrs["source"] = str(tmp_path / "towers.csv")
    cov = compute_coverage(s.dem, s.towers, radius_km=3.0)
    rx = cov.rx.best_dbm
    east, west = rx[150, 200], rx[150, 100]
    assert east - west == pytest.approx(30.0, abs=0.5)  # the file's front-to-back
    no_pattern = compute_coverage(s.dem, s.towers.drop(columns="pattern_file"), radius_km=3.0)
    assert not np.array_equal(no_pattern.rx.best_dbm, rx)


def test_eirp_budget() -> None:
    assert eirp_dbm(tx_power_dbm=43.0, antenna_gain_dbi=17.0, cable_loss_db=3.0) == 57.0
