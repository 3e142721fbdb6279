"""``compare_audits`` at national scale (~100k villages) against a merge-by-id peer.

Usage: ``python bench/progress.py [--n 100000]`` (about half a minute on 2 cores);
prints a markdown table.

Cases (synthetic villages spread over 1 x 1 degree, 500 communes):

1. all ids shared (every village matched by id);
2. half the current ids changed (half matched by the name/commune/distance
   fallback);
3. a dead-zone list baseline with its own ids, names without diacritics and
   communes by name, no coordinates (every village matched by name + commune).

Peer: ``pandas.merge`` on ``village_id`` plus a vectorised transition, the
least a by-id comparison must do (no fallback, no unmatched notes, no
breakdowns); the ratio is deadzone's time over the peer's on case 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from deadzone.geo.progress import compare_audits, normalize_name


def _audit(n: int, rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "village_id": ids,
            "name": [f"Thôn Nà Đứa {i}" for i in range(n)],
            "commune_id": [f"C{i % 500}" for i in range(n)],
            "commune_name": [f"Xã Mường {i % 500}" for i in range(n)],
            "province": "Lai Châu",
            "phase": None,
            "status": rng.choice(["covered", "marginal", "dead"], n),
            "lon": 105 + rng.random(n),
            "lat": 21 + rng.random(n),
            "population": 100.0,
        }
    ).astype({"phase": object})
    df.attrs["kind"] = "audit"
    return df


def _peer(base: pd.DataFrame, cur: pd.DataFrame) -> pd.Series:
    m = base[["village_id", "status"]].merge(
        cur[["village_id", "status"]], on="village_id", how="outer", suffixes=("_b", "_c")
    )
    b_cov = m["status_b"] == "covered"
    c_cov = m["status_c"] == "covered"
    t = np.select(
        [m["status_b"].isna() | m["status_c"].isna(), b_cov & c_cov, b_cov, c_cov],
        ["unmatched", "still_covered", "newly_dead", "newly_covered"],
        "still_dead",
    )
    return pd.Series(t).value_counts()


def _time(f, repeat: int = 3) -> float:  # noqa: ANN001
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    n = ap.parse_args().n
    rng = np.random.default_rng(0)
    ids = [f"V{i}" for i in range(n)]
    base = _audit(n, rng, ids)
    cur = _audit(n, rng, ids)
    cur["lon"] = base["lon"]
    cur["lat"] = base["lat"] + 50.0 / 111_195.0  # the same villages, surveyed 50 m apart
    cur_half = cur.copy()
    cur_half["village_id"] = [f"W{i}" if i % 2 else f"V{i}" for i in range(n)]
    cur_half.attrs["kind"] = "audit"
    lst = base[["name", "commune_name"]].copy()
    lst["village_id"] = [f"M{i}" for i in range(n)]
    lst["name"] = [normalize_name(x) for x in lst["name"]]
    lst["commune_name"] = ["Xa Muong " + x.rsplit(" ", 1)[1] for x in lst["commune_name"]]
    for k in ("commune_id", "province", "phase"):
        lst[k] = None
    lst["status"] = "dead"
    lst["lon"] = lst["lat"] = lst["population"] = np.nan
    lst.attrs["kind"] = "list"

    peer_s = _time(lambda: _peer(base, cur))
    print(f"{n:,} baseline and {n:,} current villages; best of 3\n")
    print("| case | by id | by name | unmatched | deadzone s | peer (merge by id) s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, b, c in (
        ("all ids shared", base, cur),
        ("half the ids changed", base, cur_half),
        ("dead-zone list, names only", lst, cur),
    ):
        res = {}
        s = _time(lambda b=b, c=c, res=res: res.update(r=compare_audits(b, c)))
        sm = res["r"].summary
        ratio = f"{s / peer_s:.0f}x" if name == "all ids shared" else ""
        peer = f"{peer_s:.3f}" if name == "all ids shared" else ""
        print(
            f"| {name} | {sm['matched_by_id']:,} | {sm['matched_by_name']:,} | "
            f"{sm['transitions']['unmatched']:,} | {s:.2f} | {peer} | {ratio} |"
        )


if __name__ == "__main__":
    main()
