"""Static figures: valid, non-blank PNGs from an in-memory audit and from an audit folder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.image import imread

from deadzone.errors import DataLoadError, SchemaError
from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from deadzone.maps.figures import (
    commune_bar_chart,
    coverage_figure,
    read_audit_folder,
    status_thresholds_dbm,
)
from tests.conftest import small_scenario

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# covered near the tower, marginal further out, dead beyond the radius, one outside the DEM.
PTS = [(4000, 4500), (1000, 1000), (8000, 4500), (2000, 8500), (5000, 4500), (-500, 100)]


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    scen = small_scenario(villages=PTS, towers=[{"x": 4500, "y": 4500, "eirp_dbm": 5.0}])
    res = audit(scen, radius_km=4.0)
    folder = tmp_path_factory.mktemp("audit")
    write_audit(res, folder)
    return scen, res, folder


def _pixels(path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_MAGIC
    return imread(path)


def test_statuses_are_mixed(audited) -> None:
    _, res, _ = audited
    assert {"covered", "dead", "unknown"} <= set(res.villages["status"])


def test_coverage_figure_from_result(audited, tmp_path) -> None:
    scen, res, _ = audited
    out = coverage_figure(res, scen, tmp_path / "cov.png", title="Thôn test")
    assert out == tmp_path / "cov.png"
    px = _pixels(out)
    assert px.ndim == 3 and px.shape[0] > 500 and px.shape[1] > 500  # 150 dpi, 8x7 in
    assert float(px[..., :3].std()) > 0.05


def test_coverage_figure_from_folder_matches_counts(audited, tmp_path) -> None:
    _, res, folder = audited
    a = read_audit_folder(folder)
    assert len(a.villages) == len(res.villages)
    out = coverage_figure(folder, None, tmp_path / "cov.png")
    assert float(_pixels(out)[..., :3].std()) > 0.05


def test_coverage_figure_without_raster(audited, tmp_path) -> None:
    _, _, folder = audited
    a = read_audit_folder(folder)
    a.coverage_tif = None
    out = coverage_figure(a, None, tmp_path / "villages_only.png")
    assert float(_pixels(out)[..., :3].std()) > 0.0


def test_commune_bar_chart(audited, tmp_path) -> None:
    _, res, folder = audited
    a = commune_bar_chart(res.communes, tmp_path / "a.png")
    b = commune_bar_chart(folder / "communes.csv", tmp_path / "b.png")
    pa, pb = _pixels(a), _pixels(b)
    assert float(pa[..., :3].std()) > 0.05
    assert pa.shape == pb.shape


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 50), st.text(min_size=1, max_size=12)),
        min_size=0,
        max_size=70,
    )
)
def test_commune_bar_chart_any_table(tmp_path, rows) -> None:
    df = pd.DataFrame(
        {
            "name": [r[2] for r in rows],
            "villages_total": [r[0] + r[1] for r in rows],
            "villages_covered": [r[0] for r in rows],
        }
    )
    out = commune_bar_chart(df, tmp_path / "any.png", max_communes=30)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_bad_inputs(tmp_path) -> None:
    with pytest.raises(DataLoadError, match="does not exist"):
        read_audit_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataLoadError, match="summary.json"):
        read_audit_folder(tmp_path / "empty")
    with pytest.raises(SchemaError, match="villages_covered"):
        commune_bar_chart(pd.DataFrame({"villages_total": [1]}), tmp_path / "x.png")


def test_status_thresholds_from_summary() -> None:
    s = {
        "parameters": {
            "thresholds": {
                "covered_dbm": {"4G": -105.0},
                "marginal_dbm": {"4G": -115.0},
                "indoor_margin_db": 10.0,
            }
        }
    }
    assert status_thresholds_dbm(s, "4G") == (-95.0, -105.0)
    assert status_thresholds_dbm({}, "2G") == (-100.0, -110.0)


def test_commune_bar_chart_has_a_dead_bar(tmp_path) -> None:  # noqa: ANN001
    """Issue 16 item 7: the per-commune chart had no bar for dead villages."""
    df = pd.DataFrame({"commune_id": ["C1", "C2"], "name": ["Xã A", "Xã B"],
                       "villages_total": [10, 4], "villages_covered": [2, 0],
                       "villages_marginal": [3, 0], "villages_dead": [5, 4]})
    px = imread(commune_bar_chart(df, tmp_path / "c.png"))[..., :3]
    dead = np.array([0xD7, 0x30, 0x27]) / 255.0
    n_dead = int((np.abs(px - dead).max(axis=-1) < 0.02).sum())
    assert n_dead > 1000  # half of C1's bar and all of C2's are red


def test_coverage_figure_draws_commune_outlines_and_km_axes(audited, tmp_path) -> None:  # noqa: ANN001
    """Issue 16 item 7: the report's map had UTM metre axes and no commune outlines."""
    import matplotlib.axes

    from deadzone.maps.figures import _from_folder, _from_result, read_audit_folder

    scen, res, folder = audited
    for d in (_from_result(res, scen), _from_folder(read_audit_folder(folder), None)):
        assert d.outlines is not None and len(d.outlines) == 2  # the two communes
        assert "UTM" in d.crs_name
    seen = {}
    orig = matplotlib.axes.Axes.set_xlabel

    def spy(self, label, *a, **k):  # noqa: ANN001, ANN202
        seen["x"] = label
        return orig(self, label, *a, **k)

    matplotlib.axes.Axes.set_xlabel = spy
    try:
        coverage_figure(folder, None, tmp_path / "m.png")
    finally:
        matplotlib.axes.Axes.set_xlabel = orig
    assert seen["x"].startswith("easting (km") and "UTM" in seen["x"]
