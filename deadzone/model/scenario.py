"""The bundle of inputs one audit runs on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

from deadzone.model.dem import Dem
from deadzone.model.population import PopulationGrid

__all__ = ["Scenario"]


@dataclass
class Scenario:
    """Every input of a coverage audit.

    Vector layers are in EPSG:4326 with the canonical columns of
    :mod:`deadzone.model.schema`; the DEM is in a projected metric CRS.

    Attributes
    ----------
    dem : Dem
        Terrain model.
    communes : GeoDataFrame
        Polygons with ``commune_id``, ``name``, ``province``.
    villages : GeoDataFrame
        Points or polygons with ``village_id``, ``name``, ``commune_id``,
        ``population``, ``households`` and optionally ``has_grid_power``.
    towers : GeoDataFrame
        Points with the canonical tower columns.
    roads : GeoDataFrame or None
        Road lines (``road_id``, ``road_class``).
    backbone : GeoDataFrame or None
        Existing fiber nodes (``node_id``, ``name``).
    population : PopulationGrid or None
        A gridded population raster (people per cell) covering the DEM, for
        the people in covered / marginal / dead cells and unlisted settlements.
    name : str
        Scenario name used in reports.
    meta : dict
        Provenance: input paths, checksums, repairs and defaults applied.
    """

    dem: Dem
    communes: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    towers: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame | None = None
    backbone: gpd.GeoDataFrame | None = None
    population: PopulationGrid | None = None
    name: str = "scenario"
    meta: dict[str, Any] = field(default_factory=dict)
