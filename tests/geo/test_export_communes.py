"""communes.gpkg: every commune row with its polygon."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from deadzone.geo.audit import audit
from deadzone.geo.export import write_audit
from tests.conftest import small_scenario


def test_communes_gpkg_has_every_commune_with_its_polygon(tmp_path: Path) -> None:
    sc = small_scenario()
    res = audit(sc, radius_km=3.0, n_threads=1)
    write_audit(res, tmp_path)
    g = gpd.read_file(tmp_path / "communes.gpkg", layer="communes")
    assert list(g["commune_id"]) == list(res.communes["commune_id"])
    assert g.geometry.notna().all()
    assert list(g["villages_total"]) == list(res.communes["villages_total"])
    want = sc.communes.set_index("commune_id").to_crs(4326).geometry
    for cid, geom in zip(g["commune_id"], g.geometry, strict=True):
        assert geom.equals_exact(want[cid], 1e-9)
