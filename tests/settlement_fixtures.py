"""A small scenario with a population raster: one unlisted settlement in a dead zone.

Shared by the audit, map and placement tests of unlisted settlements; the
raster is made here on WorldPop's grid (EPSG:4326, 3 arc-seconds; written as
float32 with nodata -99999 by ``write_scenario``), never copied from ``../shared``.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from deadzone.model.population import PopulationGrid
from deadzone.model.scenario import Scenario
from tests.conftest import UTM48, X0, Y0, small_scenario

STEP = 3.0 / 3600.0
#: Where things are, in metres from the DEM's top-left corner (x east, y south);
#: the DEM is 9 x 9 km, the tower's reach 3 km (``--radius-km 3``).
TOWER = (1000.0, 4500.0)
VILLAGES = [(1500.0, 4500.0), (4500.0, 1000.0)]  # V0 covered by the tower, V1 dead
SETTLEMENT = (7500.0, 7500.0)  # 540 people, 7.2 km from the tower: dead
NEAR_V0 = (1500.0, 4800.0)  # a cluster 300 m from V0: that village's people, not unlisted
CANDIDATES = {"C-V1": (4500.0, 1300.0), "C-SET": (7500.0, 7200.0)}


def population_grid(people_at: list[tuple[tuple[float, float], float]]) -> PopulationGrid:
    """A 3" grid over the small scenario's DEM: 3 x 3 cells of ``people`` each at each point."""
    to_ll = Transformer.from_crs(UTM48, 4326, always_xy=True)
    lon0, lat0 = to_ll.transform(X0 - 300, Y0 + 300)
    lon1, lat1 = to_ll.transform(X0 + 9300, Y0 - 9300)
    west, north = np.floor(lon0 / STEP) * STEP, np.ceil(lat0 / STEP) * STEP
    cols = int(np.ceil((lon1 - west) / STEP)) + 1
    rows = int(np.ceil((north - lat1) / STEP)) + 1
    people = np.zeros((rows, cols))
    t = Affine(STEP, 0, west, 0, -STEP, north)
    for (x, y), per_cell in people_at:
        lon, lat = to_ll.transform(X0 + x, Y0 - y)
        c, r = int((lon - west) / STEP), int((north - lat) / STEP)
        people[r - 1:r + 2, c - 1:c + 2] = per_cell
    return PopulationGrid(people=people, valid=np.ones(people.shape, bool), transform=t,
                          crs=CRS.from_epsg(4326), source="test")


def settlement_scenario(*, population: bool = True) -> Scenario:
    """Two villages and one tower; with ``population`` the raster holds a 540-person
    settlement in the dead south-east and a cluster beside the covered village."""
    s = small_scenario(villages=VILLAGES, towers=[{"x": TOWER[0], "y": TOWER[1]}])
    s.villages["population"] = [400, 50]
    s.villages["households"] = [90, 11]
    if population:
        s.population = population_grid([(SETTLEMENT, 60.0), (NEAR_V0, 40.0)])
    return s
