"""Fuzzing load_measurements: random but plausible drive-test tables (any delimiter,
encoding, decimal commas, odd cells) load with every row, in file order, or fail
with one line naming the file (and the bad line when one cell is bad)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from deadzone.data.loaders import PLAUSIBLE_DBM, QC_REASONS, load_measurements
from tests.fuzz.test_loaders_fuzz import (
    _BAD,
    _DELIMITERS,
    _ENCODINGS,
    _TEXT,
    FUZZ,
    _call,
    _check_error,
    _csv_line,
    _fmt,
    _tmpdir,
    _write_csv,
)

_TECH = st.one_of(st.sampled_from(["2G", "3G", "4G", "5G", "LTE", "GSM", "NR", "HSPA+", "CDMA",
                                   "", "wifi", " lte "]), _TEXT)
_TIME = st.one_of(
    st.just(""),
    st.integers(1_500_000_000, 1_800_000_000).map(str),
    st.sampled_from(["2024-05-01T10:00:00Z", "2024-05-01 10:00:00", "2024.05.01_10.00.00",
                     "2024-05-01T17:00:00+07:00"]),
)


def _not_a_number(text: str) -> bool:
    """A bad cell must be bad: "0." in a column of decimal commas is a number, and the
    loader rightly names the comma cell instead."""
    try:
        float(text.strip().replace(",", "."))
    except ValueError:
        return True
    return False


@st.composite
def _measurement_table(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str, str, tuple]:
    enc, sep = draw(_ENCODINGS), draw(_DELIMITERS)
    comma = sep != "," and draw(st.booleans())
    n = draw(st.integers(1, 12))
    header = ["sample_id", "lon", "lat", "tech", "rsrp", "time"]
    rows = []
    for i in range(n):
        where = draw(st.one_of(st.none(), st.tuples(st.floats(102.0, 110.0),
                                                    st.floats(8.0, 23.0))))
        lon = "" if where is None else _fmt(draw, where[0], comma)
        lat = "" if where is None else _fmt(draw, where[1], comma)
        value = draw(st.one_of(st.floats(-200.0, 0.0), st.none()))
        rsrp = "" if value is None else _fmt(draw, value, comma)
        rows.append([f"m{i}", lon, lat, draw(_TECH), rsrp, draw(_TIME)])
    bad: tuple = ()
    if draw(st.booleans()):
        i, j = draw(st.integers(0, n - 1)), draw(st.sampled_from([4, 5]))
        rows[i][j] = draw(_BAD.filter(_not_a_number))
        bad = (i, header[j])
    return header, rows, enc, sep, bad


@FUZZ
@given(table=_measurement_table())
def test_measurements_csv_load_or_one_line_error(table) -> None:  # noqa: ANN001
    header, rows, enc, sep, bad = table
    with _tmpdir() as d:
        p = d / "measurements.csv"
        _write_csv(p, header, rows, enc, sep)
        got, err = _call(load_measurements, p, tech="4G")
        if err is not None:
            _check_error(err, p, bad, bad and f"line {_csv_line(header, rows, sep, bad[0])}")
            return
        assert got["sample_id"].tolist() == [r[0] for r in rows]  # every row, in order
        assert set(got["qc"]) <= set(QC_REASONS)
        assert sum(got.attrs["qc_counts"].values()) == len(rows)
        for (_, lon, *_rest), x, q in zip(rows, got["lon"], got["qc"], strict=True):
            if lon == "":
                assert math.isnan(x) and q == "no_location"
        ok = got[got["qc"] == "ok"]
        for v, metric in zip(ok["measured_dbm"], ok["metric"], strict=True):
            lo, hi = PLAUSIBLE_DBM[metric]
            assert lo <= v <= hi
        assert ok["tech"].isin(["2G", "3G", "4G", "5G"]).all()
