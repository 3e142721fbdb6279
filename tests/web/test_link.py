"""``POST /api/link``: the terrain profile between two ends in ``deadzone serve``
(issue 22 item 4): the session's current towers, a village's best server,
the page's decimation, and validation like the edit endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest

from deadzone.geo.link import (
    CLEARANCE_RULE,
    best_tower_for,
    link_profile,
    point_end,
    resolve_end,
)
from deadzone.web.app import DEFAULT_LINK_FREQ_MHZ, MAX_BODY_BYTES
from deadzone.web.link_json import profile_indices
from deadzone.web.validate import Bounds, endpoint_specs
from tests.web.conftest import Served, lonlat


def _post(served: Served, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(
        served.url + "api/link", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _edit(served: Served, action: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        served.url + "api/" + action,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200


def _expected(served: Served, a: Any, b: Any, freq_mhz: float) -> Any:
    s = served.app.session
    p = s.params
    return link_profile(s.scenario_now().dem, a, b, freq_mhz=freq_mhz, model=p.model,
                        k_factor=p.k_factor, itm=p.itm)


def _same(r: dict[str, Any], p: Any) -> None:
    """The endpoint's answer is ``p`` (a LinkProfile), sample for sample."""
    assert r["samples"] == p.ground_m.size <= 500
    prof = r["profile"]
    np.testing.assert_allclose(prof["distance_km"], p.distance_axis_m / 1000.0, atol=1e-5)
    np.testing.assert_allclose(prof["ground_m"], p.ground_m, atol=0.01)
    np.testing.assert_allclose(prof["ground_bulge_m"], p.ground_m + p.bulge_m, atol=0.01)
    np.testing.assert_allclose(prof["los_m"], p.los_m, atol=0.01)
    np.testing.assert_allclose(prof["f1_upper_m"], p.los_m + p.f1_m, atol=0.01)
    np.testing.assert_allclose(prof["f1_lower_m"], p.los_m - p.f1_m, atol=0.01)
    np.testing.assert_allclose(prof["f1_60_m"], p.los_m - CLEARANCE_RULE * p.f1_m, atol=0.01)
    assert r["loss_db"] == pytest.approx(p.loss_db, abs=0.01)
    assert r["free_space_db"] == pytest.approx(p.free_space_db, abs=0.01)
    assert r["distance_km"] == pytest.approx(p.distance_m / 1000.0, abs=1e-4)
    w = r["worst"]
    assert w["distance_km"] == pytest.approx(p.worst.distance_m / 1000.0, abs=1e-5)
    assert w["clearance_m"] == pytest.approx(p.worst.clearance_m, abs=0.01)
    assert w["clearance_f1"] == pytest.approx(p.worst.fraction, abs=1e-4)
    assert r["clear"] is p.clear and r["mode"] == p.mode


def test_tower_to_village_is_link_profile(served: Served) -> None:
    code, r = _post(served, {"a": {"tower_id": "T1"}, "b": {"village": 3}})
    assert code == 200, r
    scen = served.app.session.scenario_now()
    a = resolve_end(scen, "T1")
    b = resolve_end(scen, served.app._villages_static["village_id"][3])
    p = _expected(served, a, b, 1800.0)
    _same(r, p)
    assert r["a"]["kind"] == "tower" and r["a"]["id"] == "T1" and r["a"]["height_m"] == a.height_m
    assert r["b"]["kind"] == "village" and r["b"]["height_m"] == 1.5
    assert r["freq_mhz"] == 1800.0 and r["model"] == "knife" and not r["best_server"]
    # a tower end: received level EIRP - loss, and the same text as `deadzone link`
    assert r["eirp_dbm"] == 61.0
    assert r["rx_dbm"] == pytest.approx(61.0 - p.loss_db, abs=0.01)
    assert any(line.startswith("received ") for line in r["summary_lines"])
    # the same village by its id, the other way round, at another frequency
    vid = served.app._villages_static["village_id"][3]
    code, r2 = _post(served, {"a": {"village_id": vid}, "b": {"tower_id": "T1"},
                              "freq_mhz": 900})
    assert code == 200, r2
    _same(r2, _expected(served, b, a, 900.0))
    assert r2["rx_dbm"] is None  # T1's EIRP is at 1800 MHz, not 900
    code, r3 = _post(served, {"a": {"tower_id": "T1"}, "b": {"village": 3}, "freq_mhz": 1800})
    assert r3["rx_dbm"] == r["rx_dbm"]


def test_a_moved_or_edited_tower_gives_its_new_profile(served: Served) -> None:
    body = {"a": {"tower_id": "T0"}, "b": {"village": 5}}
    code, before = _post(served, body)
    assert code == 200
    t0 = served.app.session.towers.set_index("tower_id").loc["T0"]
    lon0, lat0 = float(t0.geometry.x), float(t0.geometry.y)
    lon1, lat1 = lonlat(2500.0, 2000.0)
    _edit(served, "move", {"tower_id": "T0", "lon": lon1, "lat": lat1})
    try:
        code, moved = _post(served, body)
        assert code == 200
        assert moved["version"] == before["version"] + 1
        assert moved["a"]["lon"] == pytest.approx(lon1, abs=1e-6)
        assert moved["distance_km"] != before["distance_km"]
        scen = served.app.session.scenario_now()
        vid = served.app._villages_static["village_id"][5]
        _same(moved, _expected(served, resolve_end(scen, "T0"), resolve_end(scen, vid), 900.0))
        # an edit of the mast height is seen too
        _edit(served, "edit", {"tower_id": "T0", "height_m": 80.0})
        code, taller = _post(served, body)
        assert taller["a"]["height_m"] == 80.0
        assert taller["profile"]["los_m"][0] == pytest.approx(
            moved["profile"]["ground_m"][0] + 80.0, abs=0.02)
        assert taller["worst"]["clearance_m"] > moved["worst"]["clearance_m"]
    finally:
        _edit(served, "edit", {"tower_id": "T0", "height_m": float(t0["height_m"])})
        _edit(served, "move", {"tower_id": "T0", "lon": lon0, "lat": lat0})
    code, back = _post(served, body)
    assert back["profile"] == before["profile"] and back["loss_db"] == before["loss_db"]


def test_a_village_alone_runs_from_its_best_server(served: Served) -> None:
    app = served.app
    scen = app.session.scenario_now()
    for i in (0, 7, 25):  # 25: a dead village in the far corner
        code, r = _post(served, {"a": {"village": i}})
        assert code == 200, r
        vid = app._villages_static["village_id"][i]
        v = resolve_end(scen, vid)
        t = best_tower_for(scen, v, params=app.session.params, thresholds=app.session.thresholds)
        assert r["best_server"] is True
        assert (r["a"]["kind"], r["a"]["id"]) == ("tower", t.id)
        assert (r["b"]["kind"], r["b"]["id"]) == ("village", vid)
        _same(r, _expected(served, t, v, t.freq_mhz))
        assert r["beyond_radius"] is (r["distance_km"] > 3.0)
        assert r["beyond_radius"] is any("beyond the audit's 3 km" in ln
                                         for ln in r["summary_lines"])
    code, r = _post(served, {"a": {"tower_id": "T0"}})
    assert code == 400 and "without b, a must be a village" in r["error"]


def test_two_points_default_frequency_and_heights(served: Served) -> None:
    (lon_a, lat_a), (lon_b, lat_b) = lonlat(300.0, 300.0), lonlat(5700.0, 5200.0)
    code, r = _post(served, {"a": {"lon": lon_a, "lat": lat_a},
                             "b": {"lon": lon_b, "lat": lat_b, "height_m": 12.5}})
    assert code == 200, r
    dem = served.app.session.scenario.dem
    p = _expected(served, point_end(dem, lon_a, lat_a, height_m=30.0),
                  point_end(dem, lon_b, lat_b, height_m=12.5), DEFAULT_LINK_FREQ_MHZ)
    _same(r, p)
    assert r["freq_mhz"] == DEFAULT_LINK_FREQ_MHZ
    assert (r["a"]["height_m"], r["b"]["height_m"]) == (30.0, 12.5)
    assert r["eirp_dbm"] is None and r["rx_dbm"] is None
    assert not any(line.startswith("received") for line in r["summary_lines"])


def test_the_page_gets_at_most_500_samples_with_the_ridge_tops() -> None:
    rng = np.random.default_rng(1)
    for n in (2, 500, 501, 1234, 20_001):
        c = rng.normal(size=n)
        worst = int(rng.integers(0, n))
        idx = profile_indices(c, worst)
        assert idx.size <= 500 and idx[0] == 0 and idx[-1] == n - 1
        assert np.all(np.diff(idx) > 0) and worst in idx
        assert int(np.argmin(c)) in idx  # the sample nearest the line of sight is kept
        if n <= 500:
            assert idx.size == n


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "missing key 'a'"),
        ({"b": {"tower_id": "T0"}}, "missing key 'a'"),
        ({"a": "T0"}, "a was \"T0\"; expected an object"),
        ({"a": {}}, "a must give exactly one of"),
        ({"a": {"tower_id": "T0", "village": 1}}, "a must give exactly one of"),
        ({"a": {"village": 1}, "b": {"lon": 105.0}}, "missing key 'lat' in b"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0", "lon": 1}}, "exactly one of"),
        ({"a": {"village": 1, "name": "x"}}, "unknown key \"name\" in a"),
        ({"a": {"village": -1}}, "a.village was -1"),
        ({"a": {"village": 30}}, "a.village was 30; expected 0..29"),
        ({"a": {"village": 2.5}}, "expected an integer index"),
        ({"a": {"village": True}}, "a.village was true; expected a number"),
        ({"a": {"village": "3"}}, "expected a number"),
        ({"a": {"tower_id": 7}}, "a.tower_id was 7; expected a string"),
        ({"a": {"tower_id": "T0\n"}}, "control characters"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0", "height_m": 0}}, "b.height_m was 0"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0", "height_m": 501}}, "b.height_m was 501"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0"}, "freq_mhz": 10}, "freq_mhz was 10"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0"}, "freq_mhz": "900"}, "expected a number"),
        ({"a": {"village": 1}, "b": {"tower_id": "T0"}, "model": "itm"}, "unknown key \"model\""),
        ("OUT lon", "b.lon was"),
        ("OUT lat", "b.lat was"),
        ("RAW NaN", "NaN is not allowed"),
        ("RAW dup", "appears twice"),
        ("RAW nested dup", "appears twice"),
        ("RAW list", "JSON object"),
        ("RAW broken", "not valid JSON"),
    ],
)
def test_bad_bodies_answer_400_in_one_line(served: Served, body: Any, needle: str) -> None:
    raw = None
    if isinstance(body, str) and body.startswith("OUT "):
        b = served.app.bounds
        lon, lat = lonlat(3000.0, 3000.0)
        end = {"lon": lon, "lat": lat}
        end[body[4:]] = (b.east + 0.01) if body[4:] == "lon" else (b.south - 0.01)
        body = {"a": {"village": 1}, "b": end}
    elif isinstance(body, str):
        raw = {
            "RAW NaN": b'{"a": {"lon": NaN, "lat": 21.7}}',
            "RAW dup": b'{"a": {"village": 1}, "a": {"village": 2}}',
            "RAW nested dup": b'{"a": {"village": 1, "village": 2}}',
            "RAW list": b'[{"a": {"village": 1}}]',
            "RAW broken": b'{"a": {"village": 1}',
        }[body]
    code, r = _post(served, body, raw=raw)
    assert code == 400, r
    assert needle in r["error"], r["error"]
    assert r["status"] == 400 and "\n" not in r["error"]


def test_unknown_ends_are_404_and_big_bodies_413(served: Served) -> None:
    for body, needle in (
        ({"a": {"tower_id": "NOPE"}, "b": {"village": 1}}, "a: no tower with tower_id 'NOPE'"),
        ({"a": {"village": 1}, "b": {"tower_id": "V1"}}, "b: no tower with tower_id 'V1'"),
        ({"a": {"village_id": "T0"}}, "a: no village with village_id 'T0'"),
    ):
        code, r = _post(served, body)
        assert code == 404 and needle in r["error"], r
    pad = "x" * (MAX_BODY_BYTES + 10)
    code, r = _post(served, None, raw=json.dumps({"a": {"village": 1}, "p": pad}).encode())
    assert code == 413 and "limit" in r["error"]


def test_an_end_off_the_dem_is_400(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    # Inside a wider lon/lat box than the scenario's, outside the DEM: the
    # link's own check answers, in one line naming the end and the DEM's extent.
    b = served.app.bounds
    wide = Bounds(b.west - 1.0, b.south - 1.0, b.east + 1.0, b.north + 1.0)
    monkeypatch.setattr(served.app, "specs", endpoint_specs(wide, 30))
    code, r = _post(served, {"a": {"lon": b.east + 0.5, "lat": b.north + 0.5},
                             "b": {"tower_id": "T0"}})
    assert code == 400, r
    assert "lies outside the DEM" in r["error"] and "\n" not in r["error"]
    assert r["error"].startswith(f"{b.east + 0.5:.4f}E")


def test_state_names_the_link_defaults(served: Served) -> None:
    with urllib.request.urlopen(served.url + "api/state", timeout=30) as resp:
        s = json.loads(resp.read())
    assert s["link_defaults"] == {"freq_mhz": DEFAULT_LINK_FREQ_MHZ, "point_height_m": 30.0}
    assert s["limits"]["link_freq_mhz"] == [30.0, 100_000.0]


def test_the_sessions_model_and_itm_above_20_ghz(served: Served,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    s = served.app.session
    monkeypatch.setattr(s, "params", replace(s.params, model="itm"))
    scen = s.scenario_now()
    (lon_a, lat_a), (lon_b, lat_b) = lonlat(1000.0, 800.0), lonlat(5000.0, 2500.0)
    a, b = point_end(scen.dem, lon_a, lat_a), point_end(scen.dem, lon_b, lat_b)
    for f, model in ((1800.0, "itm"), (20_000.0, "itm"), (23_000.0, "p526")):
        code, r = _post(served, {"a": {"lon": lon_a, "lat": lat_a},
                                 "b": {"lon": lon_b, "lat": lat_b}, "freq_mhz": f})
        assert code == 200, r
        assert r["model"] == model
        p = link_profile(scen.dem, a, b, freq_mhz=f, model=model, k_factor=s.params.k_factor,
                         itm=s.params.itm)
        _same(r, p)
        assert r["itm_warnings"] == p.itm_warnings
        assert any(f"model         {model}" in ln for ln in r["summary_lines"])
