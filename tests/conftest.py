"""Shared fixtures: real data from ../shared/data and tiny synthetic scenarios."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import Point, box

from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from tests.browser import browser, browser_page  # noqa: F401  (browser test fixtures)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; a test that needs it fails (never skips) without it."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.fail(f"real test data missing: expected {SHARED_DATA} (see the project README)")
    return SHARED_DATA


def demo_villages_only(seed: int = 0) -> Scenario:
    """The demo province without its population raster.

    For the tests of the village audit, plans, links, maps and calibration:
    with a raster every audit also runs the area sweep for the people figures
    (even without rasters), which those tests do not read and CI would pay for
    many times over.  The people figures and settlements of the demo are
    tested in ``tests/**/test_*population*.py`` and ``test_*settlements*.py``.
    """
    import dataclasses

    from deadzone.data.demo import demo_scenario

    return dataclasses.replace(demo_scenario(seed), population=None)


def shared_file(shared: Path, rel: str) -> Path:
    """A file under ``../shared/data`` that must exist."""
    p = shared / rel
    if not p.exists():
        pytest.fail(f"real test data missing: {p}")
    return p


UTM48 = CRS.from_epsg(32648)
X0, Y0 = 500_000.0, 2_400_000.0


def rough_dem(seed: int, n: int = 161) -> np.ndarray:
    """A seeded rough terrain (float32, n x n, ~400 m) for kernel tests."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 1, (n, n)).cumsum(0).cumsum(1) * 0.05 + 400).astype(np.float32)


def small_scenario(
    *, z: np.ndarray | None = None, towers: list[dict] | None = None,
    villages: list[tuple[float, float]] | None = None, cell_m: float = 30.0,
) -> Scenario:
    """A tiny scenario in UTM 48N: flat 300x300 DEM at 30 m unless ``z`` given.

    Villages and towers are given in metres from the DEM's top-left corner
    (x east, y south).  Two communes split the grid at its middle column.
    """
    if z is None:
        z = np.full((300, 300), 100.0, dtype=np.float32)
    rows, cols = z.shape
    dem = Dem(z.astype(np.float32), Affine(cell_m, 0, X0, 0, -cell_m, Y0), UTM48,
              np.zeros(z.shape, bool), "synthetic")
    w, h = cols * cell_m, rows * cell_m
    if villages is None:
        villages = [(w * 0.25, h * 0.5), (w * 0.75, h * 0.5)]
    vx = [X0 + a for a, _ in villages]
    vy = [Y0 - b for _, b in villages]
    v = gpd.GeoDataFrame(
        {
            "village_id": [f"V{i}" for i in range(len(villages))],
            "name": [f"Thôn Nà {i}" for i in range(len(villages))],
            "commune_id": ["C1" if a < w / 2 else "C2" for a, _ in villages],
            "population": [100 + 10 * i for i in range(len(villages))],
            "households": [20 + i for i in range(len(villages))],
        },
        geometry=[Point(a, b) for a, b in zip(vx, vy, strict=True)], crs=UTM48,
    ).to_crs(4326)
    c = gpd.GeoDataFrame(
        {"commune_id": ["C1", "C2"], "name": ["Xã Mường Tè", "Xã Pa Ủ"],
         "province": ["Lai Châu", "Lai Châu"]},
        geometry=[box(X0, Y0 - h, X0 + w / 2, Y0), box(X0 + w / 2, Y0 - h, X0 + w, Y0)],
        crs=UTM48,
    ).to_crs(4326)
    towers = towers if towers is not None else [{"x": w / 2, "y": h / 2}]
    rows_t = []
    for i, t in enumerate(towers):
        rows_t.append({
            "tower_id": t.get("tower_id", f"T{i}"), "tech": t.get("tech", "2G"),
            "freq_mhz": t.get("freq_mhz", 900.0), "eirp_dbm": t.get("eirp_dbm", 55.0),
            "height_m": t.get("height_m", 30.0), "azimuth_deg": t.get("azimuth_deg", np.nan),
            "beamwidth_deg": t.get("beamwidth_deg", np.nan), "tilt_deg": t.get("tilt_deg", 0.0),
            "geometry": Point(X0 + t["x"], Y0 - t["y"]),
        })
    tw = gpd.GeoDataFrame(rows_t, geometry="geometry", crs=UTM48).to_crs(4326) if rows_t else \
        gpd.GeoDataFrame({"tower_id": [], "tech": []}, geometry=[], crs=4326)
    tw["lon"] = tw.geometry.x
    tw["lat"] = tw.geometry.y
    return Scenario(dem=dem, communes=c, villages=v, towers=tw, name="small")


#: The SRTM tile of the real-data tests (lon/lat box).
TILE = (105.0, 21.0, 106.0, 22.0)


def real_tile_inputs(shared: Path, tmp_path: Path, *, tower_every: int = 4):  # noqa: ANN201
    """The real-data scenario of the end-to-end tests: the SRTM N21E105 tile,
    the 2025 communes, the tile's OSM settlements written to
    ``tmp_path/villages.geojson`` and a 4G tower at every ``tower_every``-th
    commune centre on the tile (``tmp_path/towers.csv``).

    Returns (dem path, communes path, settlements, communes on the tile).
    """
    import pandas as pd

    dem = shared_file(shared, "srtm3/N21E105.hgt")
    communes = shared_file(shared, "vn_admin_2025/vn_communes_2025.gpkg")
    s = gpd.read_file(shared_file(shared, "osm_vn_2018/vn_osm2018_settlements.geojson"),
                      bbox=TILE)
    s = s[s.geometry.x.between(TILE[0], TILE[2]) & s.geometry.y.between(TILE[1], TILE[3])]
    s.to_file(tmp_path / "villages.geojson", driver="GeoJSON")
    c = gpd.read_file(communes, bbox=TILE)
    c = c[c["center_lon"].between(TILE[0], TILE[2]) & c["center_lat"].between(TILE[1], TILE[3])]
    c = c.iloc[::tower_every]
    pd.DataFrame({"tower_id": "T-" + c["ward_code"].astype(str), "lon": c["center_lon"],
                  "lat": c["center_lat"], "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0,
                  "height_m": 30.0}).to_csv(tmp_path / "towers.csv", index=False)
    return dem, communes, s, c
