"""Digest of every output the main commands write, to show a refactor changed none.

Run from the repository root (the real-tile audit needs ``../shared/data``)::

    python bench/outputs_digest.py before.txt     # on the old revision
    python bench/outputs_digest.py after.txt      # on the new one
    diff before.txt after.txt                     # empty: byte-identical outputs

It runs, in a temporary folder: ``deadzone demo``; ``deadzone audit`` on the
SRTM N21E105 tile with the OSM 2018 settlements on it, the 2025 communes and
a 4G tower at every fourth commune centre; ``deadzone place`` (3 sites) and
``deadzone whatif`` (remove T001) on the demo; ``deadzone fiber --demo``.
Each line is ``sha256  path`` of one output file.  Outputs hold no timestamp
or random id (``tests/cli/test_cli_reproducible.py``); the only fields that
change from run to run are timings, so JSON keys and CSV columns ending in
``_s`` (``elapsed_s``, ``timings_s``) are dropped before hashing, and the
temporary folder's path (the inputs' paths in ``summary.json``) is replaced.
One more may differ on a busy or cold machine: ``fiber/phases.json``, whose
Steiner local search and lower bound stop at time budgets (``--improve-s``,
``--bound-s``); run both sides warm.

Session 8 (issue 17's layering, from fbb21d1 to the split commits): all 59
outputs equal, ``fiber/phases.json`` once the kernels were compiled.
Session 9 (from 39856d6): every summary gained ``outputs`` (the checksums
of the folder's files, dropped here: each file is digested itself) and a
final newline; the other 54 outputs equal before and after the session,
and all 59 across the split of ``plan_fiber`` into stages.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TILE = (105.0, 21.0, 106.0, 22.0)


def _real_inputs(folder: Path) -> list[str]:
    import geopandas as gpd
    import pandas as pd

    s = gpd.read_file(SHARED / "osm_vn_2018" / "vn_osm2018_settlements.geojson")
    inside = s.geometry.x.between(TILE[0], TILE[2]) & s.geometry.y.between(TILE[1], TILE[3])
    villages = folder / "villages.geojson"
    s[inside].to_file(villages, driver="GeoJSON")
    communes = SHARED / "vn_admin_2025" / "vn_communes_2025.gpkg"
    c = gpd.read_file(communes, bbox=TILE)
    c = c[c["center_lon"].between(TILE[0], TILE[2]) & c["center_lat"].between(TILE[1], TILE[3])]
    towers = folder / "towers.csv"
    pd.DataFrame({"tower_id": "T-" + c["ward_code"].astype(str), "lon": c["center_lon"],
                  "lat": c["center_lat"], "tech": "4G"}).iloc[::4].to_csv(towers, index=False)
    return ["--dem", str(SHARED / "srtm3" / "N21E105.hgt"), "--villages", str(villages),
            "--communes", str(communes), "--towers", str(towers)]


def _without_timings(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_timings(v) for k, v in obj.items() if not str(k).endswith("_s")
                # a summary's checksums of the folder's files: each file is digested
                # itself, and one holding timings (whatif's edits.csv) changes them
                and k != "outputs"}
    if isinstance(obj, list):
        return [_without_timings(v) for v in obj]
    return obj


def _digest(path: Path, tmp: Path) -> str:
    # the inputs' paths (in summary.json) lie in this run's temporary folder
    data = path.read_bytes().replace(str(tmp).encode(), b"<tmp>")
    if path.suffix == ".json":
        data = json.dumps(_without_timings(json.loads(data)), sort_keys=True).encode()
    elif path.suffix == ".csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        if rows:
            keep = [i for i, h in enumerate(rows[0]) if not h.endswith("_s")]
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep if i < len(r)]
                                                            for r in rows])
            data = out.getvalue().encode()
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="digest file to write")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dz_digest_") as tmp:
        t = Path(tmp)
        dz = [sys.executable, "-m", "deadzone", "-q"]
        runs = [
            ["demo", "--out", str(t / "demo")],
            ["audit", *_real_inputs(t), "--out", str(t / "real")],
            ["place", "--scenario", str(t / "demo"), "--budget-towers", "3",
             "--out", str(t / "place")],
            ["whatif", "--scenario", str(t / "demo"), "--remove", "T001",
             "--out", str(t / "whatif")],
            ["fiber", "--demo", "--budget-km-per-year", "40", "--years", "3",
             "--out", str(t / "fiber")],
        ]
        for r in runs:
            subprocess.run([*dz, *r], check=True, capture_output=True, cwd=ROOT)
        lines = [f"{_digest(p, t)}  {p.relative_to(t)}" for p in sorted(t.rglob("*"))
                 if p.is_file() and p.parts[len(t.parts)] in {r[-1].rsplit("/", 1)[-1]
                                                                for r in runs}]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} outputs -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
