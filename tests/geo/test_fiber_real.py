"""Real data: national roads + the 2025 communes of one province (Cao Bằng)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from deadzone.data.loaders import load_communes
from deadzone.errors import DeadzoneWarning
from deadzone.geo.fiber import commune_targets, phase_budget_used, plan_fiber
from deadzone.geo.roads import build_road_graph
from tests.conftest import shared_file

PROVINCE = "Cao Bằng"


@pytest.fixture(scope="module")
def real(shared_data):
    roads = gpd.read_file(shared_file(shared_data, "vn_roads_national/giaothong.geojson"))
    with pytest.warns(DeadzoneWarning, match="repaired"):
        communes = load_communes(shared_file(shared_data, "vn_admin_2025/vn_communes_2025.gpkg"))
    communes = communes[communes["province"] == PROVINCE].reset_index(drop=True)
    return build_road_graph(roads), communes


def test_real_roads_graph(real):
    graph, _ = real
    assert graph.crs.to_epsg() == 32648  # UTM picked from the data (centre of Vietnam)
    assert graph.length_m.sum() / 1000 == pytest.approx(16_880, rel=0.01)  # README: 16,880 km
    comps = graph.components_table()
    assert comps["length_km"].iloc[0] > 0.8 * comps["length_km"].sum()
    assert graph.repairs["split_points"] > 100 and graph.repairs["joined_near_misses"] > 0


def test_real_province_plan(real):
    graph, communes = real
    assert len(communes) == 56
    targets = commune_targets(communes)
    # the POP: the most populous commune centre within 1 km of the main road component
    main = graph.to_gdf()
    main = main[main["component"] == 0]
    d = targets.to_crs(graph.crs).distance(main.union_all())
    top = targets[d < 1000].sort_values("population", ascending=False).iloc[:1]
    backbone = top[["target_id", "geometry"]].rename(columns={"target_id": "node_id"})
    plan = plan_fiber(
        graph,
        targets,
        backbone,
        budget_km_per_year=100,
        years=3,
        communes=communes,
        max_drop_m=15_000,
        improve_time_s=2,
    )
    t = plan.targets
    assert len(t) == 56
    assert set(t["status"]) <= {"connected", "later", "unreachable"}
    unr = t[t["status"] == "unreachable"]
    assert unr["reason"].str.startswith(("beyond max drop", "disconnected road")).all()
    assert (t["status"] == "connected").sum() >= 10
    used = phase_budget_used(plan)
    assert (used["length_m"] <= 100_000 * (1 + 1e-9)).all()
    cw = plan.phases["communes_with_fiber"].to_numpy()
    assert cw[0] >= 1 and np.all(np.diff(cw) >= 0) and cw[-1] > cw[0]
    d = plan.designs
    assert d["lower_bound_cost"] <= d["steiner"]["cost"] <= d["steiner"]["mehlhorn_cost"] + 1e-6
    assert 0 <= d["steiner"]["gap_pct"] < 200
