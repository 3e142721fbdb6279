"""geo.link: the link profile is the village engine's, clearance by hand,
the batch equals the single link, ends and their errors, "why dead"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deadzone.errors import ParameterError
from deadzone.geo import link as L
from deadzone.geo.audit import audit
from deadzone.geo.coverage import EngineParams, towers_on_grid
from deadzone.geo.paths import fractional_rc, pair_rx, village_points
from deadzone.kernels.paths import path_profile
from deadzone.model import microwave as mw
from deadzone.model.thresholds import Thresholds
from tests.conftest import rough_dem, small_scenario


@pytest.fixture(scope="module")
def scen():
    z = rough_dem(7, 300) * 3.0 - 800.0
    return small_scenario(
        z=z, villages=[(1500.0, 2000.0), (7000.0, 6500.0), (4000.0, 8000.0)],
        towers=[{"x": 4500.0, "y": 4500.0, "height_m": 35.0, "tech": "4G", "freq_mhz": 1800.0,
                 "eirp_dbm": 61.0},
                {"x": 8000.0, "y": 1000.0, "height_m": 25.0}])


@pytest.mark.parametrize("model", ["itm", "knife", "p526"])
def test_profile_and_loss_equal_the_village_engine(scen, model: str) -> None:
    dem = scen.dem
    params = EngineParams(model=model)
    grid = towers_on_grid(scen.towers, dem)
    pts = village_points(scen.villages, dem)
    t_rc = fractional_rc(dem, grid.x_m, grid.y_m)
    v_rc = fractional_rc(dem, pts.x_m, pts.y_m)
    paths, _, _ = pair_rx(dem, grid, pts.x_m, pts.y_m, np.array([0, 0, 1, 1, 1]),
                          np.array([0, 1, 0, 1, 2]), params=params)
    for p, (t, v) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]):
        a = L.resolve_end(scen, grid.tower_ids[t])
        b = L.resolve_end(scen, f"V{v}")
        prof = L.link_profile(dem, a, b, freq_mhz=grid.sites[t].freq_mhz, model=model)
        z, step = path_profile(dem.elevation_m, *t_rc[t], *v_rc[v],
                               cell_m=min(dem.cell_w_m, dem.cell_h_m),
                               distance_m=float(paths.distance_m[p]))
        np.testing.assert_array_equal(prof.ground_m, z)
        assert prof.step_m == step
        assert prof.ground_m.size - 1 == paths.intervals[p]
        assert prof.distance_m == pytest.approx(paths.distance_m[p], rel=1e-14)
        assert prof.loss_db == paths.loss_db[p]
        assert prof.free_space_db == paths.free_space_db[p]


def test_clearance_arrays_by_hand(scen) -> None:
    a = L.resolve_end(scen, "T0")
    b = L.resolve_end(scen, "V1")
    p = L.link_profile(scen.dem, a, b, freq_mhz=7500.0, model="fspl")
    x, d = p.distance_axis_m, p.distance_m
    lam = 299_792_458.0 / 7.5e9
    i = len(x) // 3
    assert p.f1_m[i] == pytest.approx(math.sqrt(lam * x[i] * (d - x[i]) / d), rel=1e-12)
    assert p.bulge_m[i] == pytest.approx(x[i] * (d - x[i]) / (2 * 4 / 3 * 6_371_000), rel=1e-12)
    h_a, h_b = p.ground_m[0] + a.height_m, p.ground_m[-1] + b.height_m
    assert p.los_m[i] == pytest.approx(h_a + (h_b - h_a) * x[i] / d, rel=1e-12)
    inner = p.clearance_m[1:-1] / p.f1_m[1:-1]
    assert p.worst.fraction == pytest.approx(inner.min(), rel=1e-12)
    assert p.worst.index == int(np.argmin(inner)) + 1
    assert p.clear == (p.worst.fraction >= 0.6)
    t = p.table()
    assert list(t.columns[:3]) == ["distance_m", "ground_m", "bulge_m"]
    assert len(t) == p.ground_m.size


def test_table_equals_single_links(scen) -> None:
    ends = [L.resolve_end(scen, s) for s in ("T0", "T1", "V0", "V1", "V2")]
    a = [ends[0], ends[0], ends[1], ends[1]]
    b = [ends[2], ends[3], ends[4], ends[0]]
    df = L.link_table(scen.dem, a, b, freq_mhz=13_000.0, model="p526")
    for i in range(4):
        p = L.link_profile(scen.dem, a[i], b[i], freq_mhz=13_000.0, model="p526")
        assert df.loss_db[i] == p.loss_db
        assert df.clearance_f1[i] == p.worst.fraction
        assert df.worst_distance_m[i] == p.worst.distance_m
        assert bool(df.clear[i]) == p.clear


def test_ends(scen) -> None:
    t = L.resolve_end(scen, "T0")
    assert (t.kind, t.height_m, t.freq_mhz, t.eirp_dbm) == ("tower", 35.0, 1800.0, 61.0)
    v = L.resolve_end(scen, "V2", village_height_m=2.0)
    assert v.kind == "village" and v.height_m == 2.0 and "Thôn Nà 2" in v.label
    lon, lat = v.lon, v.lat
    p = L.resolve_end(scen, f"{lon},{lat},12.5")
    assert p.kind == "point" and p.height_m == 12.5
    assert p.x_m == pytest.approx(v.x_m, abs=1e-6) and p.y_m == pytest.approx(v.y_m, abs=1e-6)
    assert L.resolve_end(scen, f"{lon},{lat}").height_m == L.DEFAULT_POINT_HEIGHT_M
    with pytest.raises(ParameterError, match="'NOPE' is not a tower id, a village id"):
        L.resolve_end(scen, "NOPE")
    far = L.resolve_end(scen, "106.9,10.5")
    with pytest.raises(ParameterError, match="lies outside the DEM"):
        L.link_profile(scen.dem, t, far, freq_mhz=900.0)


def test_best_tower_is_the_audit_server(scen) -> None:
    res = audit(scen, model="itm", rasters=False)
    for v in range(3):
        end = L.resolve_end(scen, f"V{v}")
        best = L.best_tower_for(scen, end, params=EngineParams(), thresholds=Thresholds())
        server = int(res.signals.best_server[v])
        assert server >= 0
        assert best.id == res.grid.tower_ids[server]


def test_budget_on_a_profile(scen) -> None:
    a = L.resolve_end(scen, "T0", height_m=40)
    b = L.resolve_end(scen, "T1", height_m=40)
    p = L.link_profile(scen.dem, a, b, freq_mhz=13_000.0, model="p526")
    radio = mw.MicrowaveRadio(freq_ghz=13.0)
    clim = mw.MicrowaveClimate()
    bud = L.link_budget(p, radio, dem=scen.dem, climate=clim)
    excess = max(p.loss_db - p.free_space_db, 0.0)
    assert bud.basic_loss_db == pytest.approx(p.free_space_db + excess)
    want = mw.link_budget(p.distance_m / 1000, radio, basic_loss_db=bud.basic_loss_db,
                          climate=clim,
                          sa_m=L.terrain_roughness_m(scen.dem, (a.x_m + b.x_m) / 2,
                                                     (a.y_m + b.y_m) / 2),
                          h_e_m=p.ground_m[0] + 40, h_r_m=p.ground_m[-1] + 40)
    assert bud == want
    with pytest.raises(ParameterError, match="the radio is at 7.5 GHz"):
        L.link_budget(p, mw.MicrowaveRadio(freq_ghz=7.5), dem=scen.dem, climate=clim)
    lines = L.summary_lines(p, budget=bud, radio=radio, climate=clim)
    assert any(s.startswith("availability") for s in lines)


def test_climate_without_itur_is_the_documented_default(monkeypatch) -> None:  # noqa: ANN001
    def no_itur(lon, lat):  # noqa: ANN001, ANN202
        raise ImportError("no itur")

    monkeypatch.setattr(mw, "climate_at", no_itur)
    c = L.climate_for(104.8, 22.3)
    assert c == mw.MicrowaveClimate()
    assert c.rain_rate_mm_h == mw.DEFAULT_RAIN_RATE_MM_H == 88.8
    c = L.climate_for(104.8, 22.3, rain_rate_mm_h=120.0)
    assert c.rain_rate_mm_h == 120.0 and "120" in c.source


def test_docs_example_runs() -> None:
    """The Python example of docs/LINKS.md runs as written."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "LINKS.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    ns: dict = {}
    exec(compile(block.group(1), "docs/LINKS.md", "exec"), ns)  # noqa: S102
    assert ns["p"].clear and 99.0 < ns["budget"].availability_pct <= 100.0
