"""Microwave backhaul hops of new sites (issue 22 item 3): the link kernel's
clearance and the ITU-R P.530 budget decide a hop, not a fixed length."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from deadzone.geo.link import link_profile, point_end
from deadzone.geo.site_costs import CostModel, fresnel_clearance, microwave_hops
from deadzone.model import microwave as mw
from tests.conftest import X0, Y0, small_scenario


def _flat():  # noqa: ANN202
    return small_scenario(z=np.full((400, 400), 100.0, dtype=np.float32), towers=[])


def test_clearance_is_the_link_kernels_on_the_same_profile() -> None:
    s = _flat()
    z = s.dem.elevation_m.copy()
    z[150:250, 195:205] = 140.0  # a low ridge across the path
    s.dem = replace(s.dem, elevation_m=z)
    a, b = (X0 + 1500.0, Y0 - 6000.0), (X0 + 10500.0, Y0 - 6000.0)
    got = fresnel_clearance(s.dem, a, 30.0, b, 30.0, freq_ghz=8.0)
    lon_a, lat_a = _lonlat(s, a)
    lon_b, lat_b = _lonlat(s, b)
    p = link_profile(s.dem, point_end(s.dem, lon_a, lat_a, height_m=30.0),
                     point_end(s.dem, lon_b, lat_b, height_m=30.0), freq_mhz=8000.0,
                     model="fspl")
    assert got == pytest.approx(p.worst.fraction, abs=1e-6)
    # hand check at the ridge: line 130 m, ridge 140 m + bulge -> blocked
    assert got < 0


def _lonlat(s, xy):  # noqa: ANN001, ANN202
    from pyproj import Transformer

    t = Transformer.from_crs(s.dem.crs, 4326, always_xy=True)
    return t.transform(*xy)


def test_budget_decides_a_clear_hop() -> None:
    s = _flat()
    a = np.array([[X0 + 500.0, Y0 - 6000.0]] * 2)
    b = np.array([[X0 + 2500.0, Y0 - 6000.0], [X0 + 11500.0, Y0 - 6000.0]])  # 2 and 11 km
    h = np.array([40.0, 40.0])
    strong = CostModel()
    weak = CostModel(microwave_tx_power_dbm=0.0)  # 20 dB less: the long hop fades out
    for cm in (strong, weak):
        hop = microwave_hops(s.dem, a, h, b, h, freq_ghz=8.0, costs=cm)
        assert (hop.fraction > 0.6).all()  # both clear over flat ground
        radio = mw.MicrowaveRadio(freq_ghz=8.0, tx_power_dbm=cm.microwave_tx_power_dbm,
                                  tx_gain_dbi=35.0, rx_gain_dbi=35.0, rx_threshold_dbm=-70.0)
        for i in range(2):
            # the budget of the hop is the model's, on the free-space loss of the profile
            want = mw.link_budget(hop.distance_m[i] / 1000.0, radio,
                                  basic_loss_db=mw.fspl_db(hop.distance_m[i] / 1000.0, 8.0),
                                  climate=mw.MicrowaveClimate(), sa_m=0.0,
                                  h_e_m=140.0, h_r_m=140.0, target_pct=99.99)
            assert hop.fade_margin_db[i] == pytest.approx(want.fade_margin_db, abs=0.05)
    assert microwave_hops(s.dem, a, h, b, h, freq_ghz=8.0, costs=strong).ok.all()
    w = microwave_hops(s.dem, a, h, b, h, freq_ghz=8.0, costs=weak)
    assert list(w.ok) == [True, False]
    assert w.availability_pct[1] < 99.99 <= w.availability_pct[0]
    # without a budget (0 %) only the clearance counts
    w0 = microwave_hops(s.dem, a, h, b, h, freq_ghz=8.0,
                        costs=replace(weak, microwave_availability_pct=0.0))
    assert w0.ok.all() and np.isnan(w0.availability_pct).all()


def test_off_dem_end_is_never_a_hop() -> None:
    s = _flat()
    hop = microwave_hops(s.dem, np.array([[X0 + 500.0, Y0 - 500.0]]), np.array([30.0]),
                         np.array([[X0 - 5000.0, Y0 - 500.0]]), np.array([30.0]),
                         freq_ghz=8.0, costs=CostModel())
    assert hop.fraction[0] == -np.inf and not hop.ok[0]


def test_relay_hop_written_with_its_profile_and_check() -> None:
    """A place relay hop (to another chosen site) is in hops.csv with the same
    check as site_costs ran, and its profile (issue 22 item 3)."""
    import geopandas as gpd
    import pandas as pd
    from shapely.geometry import Point

    from deadzone.app.hops import hop_profiles
    from tests.conftest import UTM48

    s = _flat()
    s.backbone = gpd.GeoDataFrame({"node_id": ["FN1"]}, geometry=[Point(X0 + 500, Y0 - 500)],
                                  crs=UTM48).to_crs(4326)
    pts = gpd.GeoSeries([Point(X0 + 3000, Y0 - 3000), Point(X0 + 9000, Y0 - 3000)],
                        crs=UTM48).to_crs(4326)
    sites = pd.DataFrame({
        "candidate_id": ["S1", "S2"], "lon": pts.x, "lat": pts.y, "height_m": [30.0, 25.0],
        "backhaul": ["microwave", "microwave_relay"], "backhaul_to": ["backbone:FN1", "S1"],
        "hop_availability_pct": [99.999, np.nan], "hop_fade_margin_db": [30.0, np.nan]})
    cm = CostModel()
    hops, prof = hop_profiles(sites, s, cm, k_factor=4 / 3, id_col="candidate_id")
    assert list(hops["option_id"]) == ["S1", "S2"]
    relay = hops.iloc[1]
    assert relay["anchor"] == "site:S1"
    assert relay["distance_m"] == pytest.approx(6000.0, rel=1e-3)
    want = microwave_hops(s.dem, np.array([[X0 + 9000, Y0 - 3000]]), np.array([25.0]),
                          np.array([[X0 + 3000, Y0 - 3000]]), np.array([30.0]), freq_ghz=8.0,
                          costs=cm)
    assert relay["availability_pct"] == pytest.approx(want.availability_pct[0], rel=1e-9)
    assert relay["clearance_f1"] == pytest.approx(want.fraction[0], rel=1e-6)
    assert set(prof["option_id"]) == {"S1", "S2"}
