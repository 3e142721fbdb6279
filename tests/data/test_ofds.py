"""OFDS read/write round trips: the Rwanda fixture and an exported plan."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from deadzone.data.ofds import read_backbone, write_ofds
from deadzone.errors import DataLoadError, OutputExistsError, SchemaError
from tests.conftest import shared_file


@pytest.fixture(scope="module")
def rwanda(shared_data):
    path = shared_file(shared_data, "ofds_rwanda/RWA_ofds-nodes_16apr2024.geojson")
    return read_backbone(path)


def test_reads_rwanda_nodes_and_spans(rwanda, shared_data):
    nodes, spans = rwanda
    assert len(nodes) == 52 and len(spans) == 68
    assert set(spans["start_node_id"]) | set(spans["end_node_id"]) <= set(nodes["node_id"])
    assert "Musanze" in set(nodes["name"])
    # the OFDS JSON package holds the same network
    n2, s2 = read_backbone(shared_file(shared_data, "ofds_rwanda/RWA_ofds-json_16apr2024.json"))
    assert sorted(n2["node_id"]) == sorted(nodes["node_id"])
    assert sorted(s2["span_id"]) == sorted(spans["span_id"])


def test_rwanda_round_trip(rwanda, tmp_path):
    nodes, spans = rwanda
    write_ofds(nodes, spans, tmp_path, network_name="Rwanda")
    for name in ("nodes.geojson", "network.json"):
        n2, s2 = read_backbone(tmp_path / name)
        assert n2["node_id"].tolist() == nodes["node_id"].tolist()
        assert n2["name"].tolist() == nodes["name"].tolist()
        assert s2["span_id"].tolist() == spans["span_id"].tolist()
        assert s2["start_node_id"].tolist() == spans["start_node_id"].tolist()
        assert s2["end_node_id"].tolist() == spans["end_node_id"].tolist()
        assert s2.geometry.geom_equals_exact(spans.geometry, 1e-12).all()
        assert n2.geometry.geom_equals_exact(nodes.geometry, 1e-12).all()
    doc = json.loads((tmp_path / "spans.geojson").read_text())
    f = doc["features"][0]["properties"]
    assert f["featureType"] == "span" and isinstance(f["start"], dict)
    with pytest.raises(OutputExistsError):
        write_ofds(nodes, spans, tmp_path)


def test_phases_and_status_round_trip(tmp_path):
    nodes = gpd.GeoDataFrame(
        {
            "node_id": ["a", "b"],
            "name": ["A", "B"],
            "status": ["operational", "planned"],
            "phase": [None, "Phase 1"],
        },
        geometry=[Point(105, 21), Point(105.1, 21)],
        crs=4326,
    )
    spans = gpd.GeoDataFrame(
        {
            "span_id": ["s"],
            "start_node_id": ["a"],
            "end_node_id": ["b"],
            "status": ["planned"],
            "phase": ["Phase 1"],
            "length_m": [10.5],
        },
        geometry=[LineString([(105, 21), (105.1, 21)])],
        crs=4326,
    )
    write_ofds(nodes, spans, tmp_path, phases=["Phase 1"])
    n2, s2 = read_backbone(tmp_path / "spans.geojson")  # nodes found beside it
    assert s2["phase"].tolist() == ["Phase 1"] and s2["status"].tolist() == ["planned"]
    assert s2["length_m"].tolist() == [10.5]
    assert n2["status"].tolist() == ["operational", "planned"]
    pkg = json.loads((tmp_path / "network.json").read_text())
    assert pkg["networks"][0]["phases"] == [{"id": "1", "name": "Phase 1"}]
    bad = spans.assign(end_node_id=["zzz"])
    with pytest.raises(SchemaError, match="'zzz' is not in nodes"):
        write_ofds(nodes, bad, tmp_path / "x", phases=["Phase 1"])
    with pytest.raises(SchemaError, match="phase"):
        write_ofds(nodes, spans.assign(phase=["Phase 9"]), tmp_path / "y", phases=["Phase 1"])


def test_plain_points_and_lines_file(tmp_path):
    g = gpd.GeoDataFrame(
        {"name": ["pop", "cable"]},
        geometry=[Point(105, 21), LineString([(105, 21), (105.2, 21)])],
        crs=4326,
    )
    p = tmp_path / "net.gpkg"
    g.to_file(p)
    nodes, spans = read_backbone(p)
    assert len(nodes) == 1 and len(spans) == 1
    with pytest.raises(DataLoadError, match="not found"):
        read_backbone(tmp_path / "missing.geojson")


def test_plan_export_round_trip(tmp_path):
    from deadzone.geo.fiber import plan_fiber, plan_to_ofds
    from tests.geo.test_fiber_plan import _world

    graph, backbone, targets, villages, communes = _world()
    plan = plan_fiber(graph, targets, backbone, budget_km_per_year=3.0, years=2, improve_time_s=0.2)
    nodes, spans, phases = plan_to_ofds(plan)
    write_ofds(nodes, spans, tmp_path, phases=phases)
    n2, s2 = read_backbone(tmp_path / "nodes.geojson")
    assert len(s2) == len(plan.routes)
    planned = s2[s2["status"] == "planned"]
    assert sorted(planned["phase"].unique()) == phases
    np.testing.assert_allclose(
        np.sort(s2["length_m"].astype(float)), np.sort(plan.routes["length_m"])
    )
    assert set(s2["start_node_id"]) | set(s2["end_node_id"]) <= set(n2["node_id"])
    named = set(n2["name"].dropna())
    assert {"A", "D"} <= named  # connected targets are named nodes


def test_backbone_from_a_lonlat_csv_like_the_towers_file(tmp_path) -> None:  # noqa: ANN001
    """Issue 16: `fiber --backbone towers.csv` was rejected though --towers takes it."""
    from click.testing import CliRunner

    from deadzone.cli.main import cli
    from deadzone.data.ofds import read_backbone

    csv = tmp_path / "towers.csv"
    csv.write_text("\ufefftower_id,lon,lat,tech\nT1,104.80,22.30,4G\nT2,104.95,22.20,2G\n",
                   encoding="utf-8")
    nodes, spans = read_backbone(csv)
    assert list(nodes["node_id"]) == ["T1", "T2"] and len(spans) == 0
    assert nodes.crs.to_epsg() == 4326
    assert nodes.geometry.x.tolist() == [104.80, 104.95]
    out = tmp_path / "f"
    r = CliRunner().invoke(cli, ["-q", "fiber", "--demo", "--backbone", str(csv),
                                 "--budget-km-per-year", "40", "--years", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
