"""Thresholds as legends show them: at most 0.1 dB, however they were raised."""

from __future__ import annotations

from deadzone.model.thresholds import Thresholds, dbm_text, status_labels


def test_dbm_text() -> None:
    assert [dbm_text(v) for v in (-100.0, -110.5, -91.1502, -91.15)] == [
        "-100", "-110.5", "-91.2", "-91.2"]


def test_confidence_raised_thresholds_read_cleanly() -> None:
    thr = Thresholds().at_confidence(90.0, 6.7)  # raised by z(0.9) * 6.7 dB = 8.586 dB
    labels = status_labels(thr, ["2G", "4G"])
    text = " ".join(labels.values())
    assert "-91.4" in text and "-101.4" in text
    assert "-91.41" not in text  # not the raw sum
