"""``deadzone audit`` on the bad-input corpus of ``tests/data/bad`` (issue #8).

Every case either fails with exit code 2 and one ``error:`` line naming the
file (and the row and field where there is one), or completes with a warning
and a ``villages.csv`` holding every input village exactly once (``unknown``
with a reason where it cannot be evaluated).  The outcomes are documented in
``tests/data/bad/README.md``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from deadzone.cli.main import cli

BAD = Path(__file__).resolve().parent / "bad"
IDS = ["V0", "V1", "V2", "V3"]
ROLES = {
    "dem": ("dem.tif",),
    "villages": ("villages.csv", "villages.geojson", "villages.shp"),
    "communes": ("communes.geojson",),
    "towers": ("towers.csv",),
}

#: case -> (role of the bad file, substrings the error line must hold besides its path)
ERRORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "empty_villages": ("villages", ("has no features",)),
    "empty_towers": ("towers", ("has no features",)),
    "empty_dem": ("dem", ("not a raster",)),
    "empty_communes": ("communes", ("has no features",)),
    "zero_villages": ("villages", ("has no features",)),
    "zero_towers": ("towers", ("has no features",)),
    "zero_communes": ("communes", ("no features intersecting",)),
    "dem_no_crs": ("dem", ("no CRS",)),
    "dem_not_a_raster": ("dem", ("not a raster",)),
    "dem_wrong_crs_geographic": ("dem", ("does not cover", "not degrees: is its CRS wrong?")),
    "dem_wrong_crs_projected": ("dem", ("does not cover", "look like degrees")),
    "dem_all_nodata": ("dem", ("no valid elevation cells",)),
    "towers_utm_as_lonlat": ("towers", ("'lon'/'lat'", "not longitude/latitude degrees")),
    "villages_shp_no_crs": ("villages", ("has no CRS", "not lon/lat degrees")),
    "villages_lonlat_swapped": ("villages", ("field 'lat'", "swapped")),
    "towers_lonlat_swapped": ("towers", ("field 'lat'", "swapped")),
    "villages_lat_out_of_range": ("villages", ("line 4", "'V2'", "field 'lat'", "95.0")),
    "villages_lon_inf": ("villages", ("line 3", "'V1'", "field 'lon'", "inf")),
    "communes_duplicate_ids": ("communes", ("field 'commune_id'", "'C1'", "fids 0, 1")),
    "communes_mixed_geometry": ("communes", ("fid 1", "'C2'", "field 'geometry'", "Point")),
    "villages_duplicate_ids": ("villages", ("field 'village_id'", "'V0'", "lines 2, 4")),
    "towers_duplicate_ids": ("towers", ("field 'tower_id'", "'T0'", "lines 2, 3")),
    "villages_no_lonlat": ("villages", ("field 'lon'/'lat'", "no longitude/latitude")),
    "towers_no_lonlat": ("towers", ("field 'lon'/'lat'", "no longitude/latitude")),
    "villages_population_text": ("villages", ("line 3", "'V1'", "field 'population'", "khoảng")),
    "villages_population_inf": ("villages", ("line 3", "'V1'", "field 'population'", "inf")),
    "villages_population_negative": ("villages", ("line 3", "field 'population'", "negative")),
    "towers_height_text": ("towers", ("line 2", "'T0'", "field 'height_m'", "not a number")),
    "towers_eirp_inf": ("towers", ("line 2", "field 'eirp_dbm'", "inf out of range")),
    "towers_height_10000": ("towers", ("line 2", "field 'height_m'", "10000 out of range")),
    "towers_eirp_200": ("towers", ("line 2", "field 'eirp_dbm'", "200 out of range")),
    "towers_unknown_tech": ("towers", ("line 2", "field 'tech'", "'6G'")),
    "only_tower_outside_dem": ("towers", ("none of the 1 tower(s) lies on the DEM",)),
}

#: case -> (substring of a ``warning:`` line or None, {village_id: (status, reason)} checked)
COMPLETES: dict[str, tuple[str | None, dict[str, tuple[str, str]]]] = {
    "base": (None, {v: ("covered", "") for v in IDS}),
    "dem_geographic": (None, {v: ("covered", "") for v in IDS}),
    "dem_partly_void": ("filled 400 void cells", {}),
    "dem_nan_voids": ("filled 375 void cells", {}),
    "communes_self_intersecting": ("repaired 1 invalid geometry", {}),
    "villages_self_intersecting": ("repaired 4 invalid geometries", {}),
    "villages_projected_crs": (None, {v: ("covered", "") for v in IDS}),
    "villages_mixed_geometry": (
        "1 feature without geometry kept",
        {"V2": ("covered", ""), "V3": ("unknown", "invalid_location")},
    ),
    "villages_lon_missing": (
        "1 feature without geometry kept",
        {"V1": ("unknown", "invalid_location")},
    ),
    "village_outside_dem": (None, {"V3": ("unknown", "outside_dem")}),
    "tower_outside_dem": ("outside the DEM were not computed: T_far", {}),
    "villages_no_id": ("no village_id column; generated ids", {}),
    "villages_no_population": ("no population column", {}),
    "villages_population_nan": ("1 row without a value (lines 3) set to 0", {}),
    "towers_height_nan": ("lack radio parameters (height_m in 1 rows)", {}),
    "towers_only_position": ("per-technology defaults used", {}),
    "villages_utf8_bom": (None, {}),
    "villages_cp1258": ("read the file as Windows-1258", {}),
    "villages_semicolon_decimal_comma": (None, {v: ("covered", "") for v in IDS}),
    "towers_semicolon_decimal_comma": (None, {v: ("covered", "") for v in IDS}),
}

VIET_NAMES = ["Thôn Nà Hẩu", "Bản Phìn Hồ", "Thôn Đồng Tâm", "Bản Mường Ẳng"]


def _inputs(case: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for role, names in ROLES.items():
        found = [BAD / case / n for n in names if (BAD / case / n).exists()]
        out[role] = (
            found[0]
            if found
            else next(BAD / "base" / n for n in names if (BAD / "base" / n).exists())
        )
    return out


def _audit(case: str, out: Path) -> tuple[int, list[str], dict[str, Path]]:
    paths = _inputs(case)
    args = ["audit"]
    for role, p in paths.items():
        args += [f"--{role}", str(p)]
    args += ["--out", str(out), "--radius-km", "1", "-q"]
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a failure of its own
    return result.exit_code, result.output.splitlines(), paths


def test_every_case_has_a_documented_outcome() -> None:
    cases = {p.name for p in BAD.iterdir() if p.is_dir() and p.name not in ("__pycache__",)}
    assert cases == set(ERRORS) | set(COMPLETES)
    assert not set(ERRORS) & set(COMPLETES)
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    for case in cases - {"base"}:
        assert f"`{case}`" in readme, f"{case} missing from tests/data/bad/README.md"


def test_corpus_is_what_make_corpus_writes(tmp_path: Path) -> None:
    sys.path.insert(0, str(BAD))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(BAD))
    make_corpus.build(tmp_path)

    def digest(root: Path) -> dict[str, str]:
        return {
            str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(root.rglob("*"))
            if f.is_file() and f.parent != root and "__pycache__" not in f.parts
        }

    assert digest(tmp_path) == digest(BAD)
    assert max(f.stat().st_size for f in BAD.rglob("*") if f.parent != BAD) < 8192


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_fails_with_one_line_error(case: str, tmp_path: Path) -> None:
    role, parts = ERRORS[case]
    code, lines, paths = _audit(case, tmp_path / "out")
    assert code == 2, lines
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, lines
    assert not any("Traceback" in ln for ln in lines)
    err = errors[0]
    assert str(paths[role]) in err, err
    for part in parts:
        assert part in err, (part, err)
    assert not (tmp_path / "out" / "villages.csv").exists()


@pytest.mark.parametrize("case", sorted(COMPLETES))
def test_bad_input_completes_with_every_village(case: str, tmp_path: Path) -> None:
    warning, expected = COMPLETES[case]
    code, lines, paths = _audit(case, tmp_path / "out")
    assert code == 0, lines
    assert not any(ln.startswith("error:") for ln in lines)
    if warning is not None:
        assert any(ln.startswith("warning:") and warning in ln for ln in lines), lines
    table = pd.read_csv(tmp_path / "out" / "villages.csv", dtype=str, keep_default_na=False)
    ids = ["row-0", "row-1", "row-2", "row-3"] if case == "villages_no_id" else IDS
    assert sorted(table["village_id"]) == ids  # every input village exactly once
    assert set(table["status"]) <= {"covered", "marginal", "dead", "unknown"}
    assert (table.loc[table["status"] == "unknown", "reason"] != "").all()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["villages_total"] == len(ids)  # audit totals conserved
    assert sum(summary[f"villages_{s}"] for s in ("covered", "marginal", "dead", "unknown")) == 4
    assert pyogrio.read_info(tmp_path / "out" / "villages.gpkg")["features"] == len(ids)
    got = table.set_index("village_id")
    for vid, (status, reason) in expected.items():
        assert (got.loc[vid, "status"], got.loc[vid, "reason"]) == (status, reason), vid
    if case in ("villages_utf8_bom", "villages_cp1258", "villages_semicolon_decimal_comma"):
        assert list(table.sort_values("village_id")["name"]) == VIET_NAMES
