"""``deadzone demo`` end to end, through the installed console script."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    out = tmp_path_factory.mktemp("demo") / "out"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "deadzone", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout, elapsed


def test_demo_outputs_follow_the_contract(demo_run) -> None:
    out, stdout, elapsed = demo_run
    m = re.search(r"covered villages: ([\d,]+)/([\d,]+)", stdout)
    assert m, stdout
    covered, total = (int(g.replace(",", "")) for g in m.groups())
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for key in ("villages_total", "villages_covered", "villages_marginal", "villages_dead",
                "villages_unknown", "population_total", "population_covered",
                "households_total", "households_covered", "towers", "inputs", "parameters"):
        assert key in summary, key
    assert (summary["villages_covered"], summary["villages_total"]) == (covered, total)
    assert 0 < covered < total
    v = gpd.read_file(out / "villages.gpkg", layer="villages")
    inputs = gpd.read_file(out / "inputs" / "villages.gpkg")
    assert len(v) == len(inputs) == total
    assert sorted(v["village_id"]) == sorted(inputs["village_id"])
    communes = pd.read_csv(out / "communes.csv")
    for col in ("commune_id", "name", "villages_total", "villages_covered", "villages_marginal",
                "villages_dead", "population_covered_pct"):
        assert col in communes.columns
    for col in ("villages_total", "villages_covered", "villages_marginal", "villages_dead"):
        assert communes[col].sum() == summary[col]
    with rasterio.open(out / "coverage.tif") as ds:
        assert ds.dtypes[0] == "float32" and ds.crs.is_projected
        assert ds.width == 2000 and ds.height == 2000
    html = (out / "map.html").read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']https?://(?!leafletjs\.com)""", html)
    for name in ("dem.tif", "communes.gpkg", "villages.gpkg", "villages.csv", "towers.csv",
                 "roads.gpkg", "backbone.gpkg"):
        assert (out / "inputs" / name).is_file(), name


def test_demo_is_fast(demo_run) -> None:
    # issue #2: under 60 s on 2 cores, first-time JIT included (generous in CI)
    assert demo_run[2] < 120.0


def test_demo_rerun_needs_overwrite(demo_run) -> None:
    out = demo_run[0]
    proc = subprocess.run([sys.executable, "-m", "deadzone", "demo", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr
