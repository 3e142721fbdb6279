"""A small what-if scenario served on a free loopback port, for the web-app tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from deadzone.data.io import write_scenario
from deadzone.geo.whatif import Session
from deadzone.web import WhatIfApp, make_server
from tests.conftest import UTM48, X0, Y0, small_scenario

#: Cheap engine for the tests: knife-edge diffraction, 3 km radius.
ENGINE = {"model": "knife", "radius_km": 3.0}

# Villages in the south-east corner are out of both towers' reach: dead until
# a tower is added at DEAD_CORNER_M.
_CORNER = [(5300.0 + dx, 700.0 + dy) for dx in (-300.0, 0.0, 300.0) for dy in (-300.0, 300.0)]
DEAD_CORNER_M = (5300.0, 700.0)


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """Lon/lat of a point given in metres from the test DEM's top-left corner."""
    p = gpd.GeoSeries(gpd.points_from_xy([X0 + x_m], [Y0 - y_m]), crs=UTM48).to_crs(4326)
    return float(p.x.iloc[0]), float(p.y.iloc[0])


def web_scenario():  # noqa: ANN201
    rng = np.random.default_rng(5)
    z = (100.0 + 60.0 * rng.random((200, 200))).astype(np.float32)
    vil = [(float(a), float(b)) for a, b in rng.uniform(200, 5800, size=(24, 2))] + _CORNER
    return small_scenario(
        z=z,
        villages=vil,
        towers=[
            {"x": 1500.0, "y": 1500.0},
            {"x": 1500.0, "y": 4500.0, "tech": "4G", "freq_mhz": 1800.0, "eirp_dbm": 61.0},
        ],
    )


@dataclass
class Served:
    url: str
    app: WhatIfApp
    host_port: tuple[str, int]


@pytest.fixture(scope="session")
def web_scenario_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("web") / "scenario"
    write_scenario(web_scenario(), d / "inputs")
    return d


def _serve(app: WhatIfApp) -> Iterator[Served]:
    server = make_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Served(server.url, app, server.server_address[:2])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The test scenario's what-if app on 127.0.0.1:<free port>."""
    session = Session(web_scenario(), n_threads=2, **ENGINE)
    yield from _serve(WhatIfApp(session, max_raster_px=256))
