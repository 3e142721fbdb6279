"""Road graph construction: splitting, near-miss joins, snapping, CRS, weights."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, MultiLineString, Polygon

from deadzone.errors import CRSError, ParameterError, SchemaError
from deadzone.geo.roads import build_road_graph, grid_road_graph

UTM = "EPSG:32648"


def _roads(lines, **cols):
    return gpd.GeoDataFrame(cols, geometry=lines, crs=UTM)


def test_crossing_lines_are_split_into_four_edges():
    g = build_road_graph(
        _roads([LineString([(0, 0), (100, 0)]), LineString([(50, -50), (50, 50)])])
    )
    assert g.n_nodes == 5 and g.n_edges == 4
    np.testing.assert_allclose(np.sort(g.length_m), [50, 50, 50, 50])
    assert g.repairs["split_points"] == 1
    centre = np.flatnonzero(np.all(np.isclose(g.node_xy, [50, 0]), axis=1))
    assert len(centre) == 1
    assert np.sum((g.edge_u == centre[0]) | (g.edge_v == centre[0])) == 4


def test_near_miss_is_joined_and_far_miss_is_not():
    lines = [
        LineString([(0, 0), (100, 0)]),
        LineString([(50, -50), (50, -10)]),
        LineString([(80, -200), (80, -100)]),
    ]
    g = build_road_graph(_roads(lines), join_tolerance_m=25.0)
    assert g.repairs["joined_near_misses"] == 1
    assert (g.road_class == "connector").sum() == 1
    conn = g.length_m[g.road_class == "connector"]
    np.testing.assert_allclose(conn, [10.0])
    comps = g.components_table()
    assert len(comps) == 2  # the far segment stays its own component
    assert list(comps["n_edges"]) == [4, 1]


def test_ends_within_snap_tolerance_share_a_node():
    lines = [LineString([(0, 0), (100, 0)]), LineString([(100.4, 0.3), (200, 0)])]
    g = build_road_graph(_roads(lines), snap_tolerance_m=1.0, join_tolerance_m=0)
    assert g.n_nodes == 3 and g.n_edges == 2
    assert len(g.components_table()) == 1


def test_multilines_and_empty_rows():
    lines = [MultiLineString([[(0, 0), (10, 0)], [(10, 0), (20, 0)]]), None]
    g = build_road_graph(_roads(lines))
    assert g.n_edges == 2 and g.repairs["parts_ignored"] == 1


def test_lonlat_input_is_projected_to_utm_and_lengths_are_metres():
    # 0.01 deg of longitude at 21N ~ 1039 m
    r = gpd.GeoDataFrame(geometry=[LineString([(105.0, 21.0), (105.01, 21.0)])], crs=4326)
    g = build_road_graph(r)
    assert g.crs.to_epsg() == 32648
    assert g.length_m[0] == pytest.approx(1039.6, rel=2e-3)


def test_class_multipliers_and_river_crossings_change_weights_not_lengths():
    r = _roads(
        [LineString([(0, 0), (100, 0)]), LineString([(0, 10), (100, 10)])],
        road_class=["national", "commune"],
    )
    river = gpd.GeoDataFrame(geometry=[LineString([(50, -100), (50, 100)])], crs=UTM)
    g = build_road_graph(
        r,
        class_multipliers={"commune": 1.5},
        rivers=river,
        river_crossing_m=300.0,
        join_tolerance_m=0,
    )
    by = dict(zip(g.road_class, g.weight_m, strict=True))
    assert by["national"] == pytest.approx(100 + 300)
    assert by["commune"] == pytest.approx(150 + 300)
    np.testing.assert_allclose(g.length_m, [100, 100])
    assert g.crossings.tolist() == [1, 1]


def test_bad_inputs_raise_clear_errors():
    r = _roads([LineString([(0, 0), (1, 0)])])
    with pytest.raises(SchemaError, match="class_column 'nope'"):
        build_road_graph(r, class_column="nope")
    with pytest.raises(ParameterError, match="class_multipliers"):
        build_road_graph(r, class_multipliers={"a": 0})
    with pytest.raises(CRSError):
        build_road_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1, 0)])]))
    with pytest.raises(SchemaError, match="no usable line"):
        build_road_graph(_roads([Polygon([(0, 0), (1, 0), (1, 1)])]))


def test_grid_generator_size_and_components():
    g = grid_road_graph(10_000, seed=3)
    assert g.n_edges == 10_000
    assert g.components_table()["n_nodes"].iloc[0] > 0.9 * g.n_nodes
    assert np.all(g.weight_m >= g.length_m)
