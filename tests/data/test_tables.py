"""Column conversions of the loaders: the fast paths equal the general ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.data import _tables
from deadzone.errors import SchemaError

_cell = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", " ", "NA", "n/a", " NaN ", "null", "None", " 12 ", "1,5", "1e3",
                     "abc", "-0", "+7", "0x10", "inf"]),
)


def _general_numeric(series: pd.Series) -> np.ndarray:
    """The general path of ``_numeric`` (per-value missing tokens and strip)."""
    missing = _tables._missing_mask(series)
    text = series.astype(object).where(~missing, None)
    return pd.to_numeric(text.map(lambda v: v.strip() if isinstance(v, str) else v),
                         errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


@settings(max_examples=300, deadline=None)
@given(st.lists(_cell, min_size=1, max_size=30))
def test_numeric_text_columns_equal_the_general_path(cells: list[str]) -> None:
    series = pd.Series(cells, dtype=object, name="population")
    want = _general_numeric(series)
    bad = np.isnan(want) & ~_tables._missing_mask(series)
    rows = np.arange(2, len(cells) + 2)
    if bad.any():
        with pytest.raises(SchemaError, match="is not a number"):
            _tables._numeric(series, path=Path("v.csv"), field="population", rows=rows)
        return
    got = _tables._numeric(series, path=Path("v.csv"), field="population", rows=rows)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float64


def _general_ids(series: pd.Series) -> list[str | None]:
    out: list[str | None] = []
    for v in series.tolist():
        if _tables._is_missing_value(v):
            out.append(None)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_cell, st.text(max_size=6)), min_size=0, max_size=30))
def test_id_strings_of_text_equal_the_general_path(cells: list[str]) -> None:
    series = pd.Series(cells, dtype=object)
    assert _tables._id_strings(series) == _general_ids(series)
    mixed = pd.Series([*cells, 12.0, np.nan], dtype=object)  # not all text: the general path
    assert _tables._id_strings(mixed) == _general_ids(mixed)
