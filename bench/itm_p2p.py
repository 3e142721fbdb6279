"""ITM point-to-point benchmark: deadzone vs the PyPI package ``itmlogic``.

Run from the repository root::

    python bench/itm_p2p.py            # 200 profiles (~1 min)
    python bench/itm_p2p.py --n 50     # quicker

Needs ``pip install itmlogic`` (pure-Python port of ITM 1.2.2; not a
dependency of deadzone).

Profiles (half each, seeded): straight-line slices of the demo DEM
(``demo_scenario(0).dem``, 30 m cells, 100..2000 m), bilinear samples every
30 m, path lengths uniform in 5..60 km; and gentler random walks of the same
lengths and spacing (to reach diffraction and troposcatter paths too).
Radio: 900 MHz, tx 30 m, rx 1.5 m, climate 5
(continental temperate), N0 301, epsilon 15, sigma 0.005 S/m, vertical
polarisation, mdvar 12 (mobile, point-to-point: no location variability),
all quantiles 50 % (TLS 50/50/50 for us = confidence/reliability 50/50).

Like with like: both sides give the median *basic transmission loss*
(dB).  itmlogic has no single call for it; following its own point-to-point
example (``scripts/qkpfl.py``: ``qlrpfl(prop)`` then
``fs + avar(zr, 0, zc, prop)``) we add the same free-space loss
``8.68589 ln(2 wn d)`` (= 32.45 + 20 log f_MHz + 20 log d_km) to its
``avar`` attenuation, with zt = zc = 0 (50 %) and zl = 0 (location 50 %).
Its example keeps the system elevation ``zsys`` at 0 (N_s = N0); ITM 1.4 and
deadzone use the mean profile height between 10 % and 90 % of the path, so
we give itmlogic that same ``zsys`` (otherwise N_s would differ by up to
~10 % on this 100..2000 m DEM and the comparison would not be like for like).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from deadzone.data.demo import demo_scenario
from deadzone.kernels.itm import p2p_loss, p2p_loss_batch

F_MHZ = 900.0
H_TX, H_RX = 30.0, 1.5
CLIMATE = 5
N0 = 301.0
EPS, SGM = 15.0, 0.005
POL = 1
MDVAR = 12
STEP = 30.0

RADIO = dict(climate=CLIMATE, n0=N0, pol=POL, epsilon=EPS, sigma=SGM, mdvar=MDVAR,
             time=50.0, location=50.0, situation=50.0)


def random_walks(n: int, seed: int = 7) -> list[np.ndarray]:
    """``n`` seeded random-walk profiles (gentler terrain than the demo DEM),
    5..60 km long, 30 m spacing: base 50..500 m, per-step sd 0.5..4 m."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_int = int(round(rng.uniform(5e3, 60e3) / STEP))
        z = rng.uniform(50.0, 500.0) + np.cumsum(rng.normal(0.0, rng.uniform(0.5, 4.0), n_int + 1))
        out.append(np.maximum(z, 0.0))
    return out


def make_profiles(n: int, seed: int = 20261123) -> list[np.ndarray]:
    """``n`` seeded DEM slices, 5..60 km long, 30 m spacing."""
    dem = demo_scenario(0).dem
    elev = np.asarray(dem.elevation_m, dtype=np.float64)
    rows, cols = elev.shape
    cell = float(dem.cell_w_m)
    rng = np.random.default_rng(seed)
    out: list[np.ndarray] = []
    while len(out) < n:
        length = rng.uniform(5e3, 60e3)
        n_int = int(round(length / STEP))
        ang = rng.uniform(0.0, 2.0 * math.pi)
        dr, dc = math.sin(ang) * n_int * STEP / cell, math.cos(ang) * n_int * STEP / cell
        r0 = rng.uniform(0.0, rows - 1.0)
        c0 = rng.uniform(0.0, cols - 1.0)
        r1, c1 = r0 + dr, c0 + dc
        if not (0.0 <= r1 <= rows - 1.0 and 0.0 <= c1 <= cols - 1.0):
            continue
        t = np.linspace(0.0, 1.0, n_int + 1)
        r = r0 + t * dr
        c = c0 + t * dc
        ri = np.minimum(np.floor(r).astype(np.int64), rows - 2)
        ci = np.minimum(np.floor(c).astype(np.int64), cols - 2)
        fr, fc = r - ri, c - ci
        z = (elev[ri, ci] * (1 - fr) * (1 - fc) + elev[ri + 1, ci] * fr * (1 - fc)
             + elev[ri, ci + 1] * (1 - fr) * fc + elev[ri + 1, ci + 1] * fr * fc)
        out.append(z)
    return out


# ------------------------------------------------------------------ itmlogic
def itmlogic_loss(z: np.ndarray, step: float) -> float:
    """Median basic transmission loss (dB) from itmlogic's point-to-point mode."""
    from itmlogic.preparatory_subroutines.qlrpfl import qlrpfl
    from itmlogic.statistics.avar import avar

    n_int = z.size - 1
    prop: dict = {}
    prop["eps"] = EPS
    prop["sgm"] = SGM
    prop["ipol"] = POL
    prop["fmhz"] = F_MHZ
    prop["hg"] = [H_TX, H_RX]
    prop["klim"] = CLIMATE
    prop["ens0"] = N0
    prop["lvar"] = 5
    prop["gma"] = 157e-9
    prop["pfl"] = [n_int, step] + z.tolist()
    prop["kwx"] = 0
    prop["wn"] = prop["fmhz"] / 47.7
    # system elevation as in ITM 1.4 / deadzone (mean height over 10 %..90 %)
    p10 = int(0.1 * n_int)
    zsys = float(np.mean(z[p10:n_int - p10 + 1]))
    prop["ens"] = prop["ens0"] * math.exp(-zsys / 9460.0)
    prop["gme"] = prop["gma"] * (1 - 0.04665 * math.exp(prop["ens"] / 179.3))
    zq = complex(prop["eps"], 376.62 * prop["sgm"] / prop["wn"])
    prop["zgnd"] = np.sqrt(zq - 1)
    if prop["ipol"] != 0:
        prop["zgnd"] = prop["zgnd"] / zq
    prop["klimx"] = 0
    prop["mdvarx"] = MDVAR
    prop = qlrpfl(prop)
    fs = 8.685890 * math.log(2 * prop["wn"] * prop["dist"])
    a, prop = avar(0.0, 0.0, 0.0, prop)
    return fs + a


def median_time(fn, reps: int = 3) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200, help="number of profiles (default 200)")
    args = ap.parse_args()

    import itmlogic._version as iv

    n_dem = args.n // 2
    profiles = make_profiles(n_dem) + random_walks(args.n - n_dem)
    source = np.array(["dem"] * n_dem + ["walk"] * (args.n - n_dem))
    lengths = np.array([(p.size - 1) * STEP / 1e3 for p in profiles])
    npts = sum(p.size for p in profiles)

    # ---- ours: warm up the JIT, then median of 3
    p2p_loss_batch(profiles[:2], STEP, H_TX, H_RX, F_MHZ, **RADIO)
    p2p_loss(profiles[0], STEP, H_TX, H_RX, F_MHZ, **RADIO)
    ours_batch, ours_mode, _ = p2p_loss_batch(profiles, STEP, H_TX, H_RX, F_MHZ, **RADIO)
    t_batch = median_time(lambda: p2p_loss_batch(profiles, STEP, H_TX, H_RX, F_MHZ, **RADIO))
    ours_single = np.array([p2p_loss(p, STEP, H_TX, H_RX, F_MHZ, **RADIO).loss_db
                            for p in profiles])
    t_single = median_time(lambda: [p2p_loss(p, STEP, H_TX, H_RX, F_MHZ, **RADIO)
                                    for p in profiles])

    # ---- itmlogic: one timed pass over all profiles (also the agreement data);
    # median of 3 only if that pass was short
    t0 = time.perf_counter()
    ref = np.array([itmlogic_loss(p, STEP) for p in profiles])
    t_ref = time.perf_counter() - t0
    if t_ref < 10.0:
        more = [median_time(lambda: [itmlogic_loss(p, STEP) for p in profiles], reps=1)
                for _ in range(2)]
        t_ref = statistics.median([t_ref, *more])

    diff = np.abs(ours_batch - ref)
    same = np.array_equal(ours_batch, ours_single)
    modes = {m: int((ours_mode == m).sum()) for m in ("los", "diffraction", "troposcatter")}

    n = len(profiles)
    rate_b, rate_s, rate_r = n / t_batch, n / t_single, n / t_ref
    print(f"itmlogic {iv.__version__}; {n} profiles, lengths {lengths.min():.1f}-"
          f"{lengths.max():.1f} km (mean {lengths.mean():.1f}), {npts:,} points, 30 m spacing")
    print(f"modes (ours): {modes}; batch == per-profile p2p_loss: {same}")
    print()
    print("| implementation | seconds | profiles/s | ratio vs itmlogic |")
    print("|---|---:|---:|---:|")
    print(f"| deadzone `p2p_loss_batch` | {t_batch:.4f} | {rate_b:,.0f} | "
          f"{rate_b / rate_r:,.0f}x |")
    print(f"| deadzone `p2p_loss` (Python loop) | {t_single:.4f} | {rate_s:,.0f} | "
          f"{rate_s / rate_r:,.0f}x |")
    print(f"| itmlogic {iv.__version__} (`qlrpfl` + `avar`) | {t_ref:.3f} | {rate_r:,.1f} | 1x |")
    print()
    print("Agreement, median basic transmission loss (dB), |deadzone - itmlogic|:")
    print()
    print("| subset | profiles | max | median | 95th pct | > 0.1 dB | > 1 dB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    subsets = [("all", np.ones(n, bool)), ("demo DEM slices", source == "dem"),
               ("random walks", source == "walk")]
    subsets += [(f"mode {m}", ours_mode == m) for m in ("los", "diffraction", "troposcatter")]
    for name, sel in subsets:
        if not sel.any():
            continue
        d = diff[sel]
        print(f"| {name} | {int(sel.sum())} | {d.max():.3g} | {np.median(d):.3g} | "
              f"{np.percentile(d, 95):.3g} | {int((d > 0.1).sum())} | {int((d > 1.0).sum())} |")
    worst = np.argsort(diff)[::-1][:5]
    print()
    print("Worst 5: index, length km, mode, ours dB, itmlogic dB, diff")
    for i in worst:
        print(f"  {i:4d} {lengths[i]:6.2f} {ours_mode[i]:>12s} {ours_batch[i]:8.2f} "
              f"{ref[i]:8.2f} {ours_batch[i] - ref[i]:+8.3f}")


if __name__ == "__main__":
    main()
