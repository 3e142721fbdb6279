"""NTIA's ITM 1.4 (C++) as a callable reference for benchmarks and checks.

Run from the repository root::

    python bench/ntia_ref.py --check       # deadzone vs NTIA, max |diff| table
    python bench/ntia_ref.py --time 2000   # µs/path, NTIA C++ vs deadzone p2p_batch
    python bench/ntia_ref.py --build       # (re)build the library only

What it does
------------
NTIA/ITS publish ITM 1.4 (github.com/NTIA/itm, a US Government work in the
public domain).  This module compiles NTIA's ``src/*.cpp`` unchanged,
together with our own batch shim ``bench/ntia_shim.cpp`` (one call of NTIA's
``ITM_P2P_TLS`` per path, single thread), into
``bench/.cache/ntia_itm/libntia_itm.so`` and calls it through ctypes.  No
NTIA text is kept in the repository; the source is extracted into the
ignored ``bench/.cache/ntia_itm/src``.

Where the source comes from (first that exists):

1. ``$NTIA_ITM_SRC``: a folder with NTIA's tree (``src/``, ``include/``) or a
   bare git dir of the repository;
2. a git mirror matching ``/work/.mirror/NTIA+itm*`` (a bare git dir, e.g.
   ``/work/.mirror/NTIA+itm/repo``).

A git dir is extracted with ``git archive HEAD`` into
``bench/.cache/ntia_itm/src`` (the commit is written to ``COMMIT`` there).

Build
-----
::

    g++ -O3 -fPIC -shared -DNDEBUG '-D__declspec(x)=' \\
        -I .cache/ntia_itm/compat -I .cache/ntia_itm/src/include \\
        .cache/ntia_itm/src/src/*.cpp bench/ntia_shim.cpp -o .cache/ntia_itm/libntia_itm.so

run only when the library is missing (or the shim is newer than it).
NTIA ships only a Visual Studio project (``win32/itm/itm.vcxproj``); its
Release|x64 configuration sets no optimisation or floating-point switch of its
own, so MSVC's Release defaults apply (/O2, /fp:precise, plus /Oi, /GL, NDEBUG).
``-O3`` without ``-ffast-math`` is the GCC counterpart (IEEE-exact, no FMA
contraction on the baseline x86-64 target).  Two Windows-isms need help,
without touching NTIA's files:

* ``include/itm.h`` marks every function ``extern "C" __declspec(dllexport)``;
  ``-D__declspec(x)=`` drops the MSVC attribute (``extern "C"`` stays, so the
  symbols are unmangled).
* the ``.cpp`` files include ``"..\\include\\itm.h"`` with backslashes, which
  GCC on Linux takes as one file name; ``compat/`` holds one-line forwarding
  headers with exactly those names.

Calling convention and layout
-----------------------------
NTIA's point-to-point profile is its PFL array
``[n_intervals, step_m, z_0, ..., z_n]`` (``n + 3`` doubles, ``n_intervals``
stored as a double and truncated with ``int()``), z in metres above sea level
from TX to RX.  ``ITM_P2P_TLS`` returns 0 (SUCCESS), 1
(SUCCESS_WITH_WARNINGS: bit flags in ``warnings``) or an error code >= 1000
(then the loss is not written; we return NaN).  ``long`` is 64-bit here
(32-bit on Windows), which only matters for the ctypes types.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time as _time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache" / "ntia_itm"
SRC_CACHE = CACHE / "src"
COMPAT = CACHE / "compat"
LIB = CACHE / "libntia_itm.so"
SHIM = BENCH / "ntia_shim.cpp"
MIRROR_GLOB = "/work/.mirror/NTIA+itm*"
ENV_VAR = "NTIA_ITM_SRC"
CXXFLAGS = ["-O3", "-fPIC", "-shared", "-DNDEBUG", "-D__declspec(x)="]

# NTIA return codes (ERRORS_AND_WARNINGS.md)
SUCCESS = 0
SUCCESS_WITH_WARNINGS = 1

_C_LONG = np.dtype(f"i{ctypes.sizeof(ctypes.c_long)}")
_lib: ctypes.CDLL | None = None


class NtiaUnavailable(RuntimeError):
    """NTIA's ITM source or a C++ compiler could not be found."""


# ------------------------------------------------------------------ source
def _is_tree(p: Path) -> bool:
    return (p / "src" / "itm_p2p.cpp").is_file() and (p / "include" / "itm.h").is_file()


def _git_dirs(p: Path) -> list[Path]:
    """``p`` itself or a child of it that looks like a (bare) git dir."""
    cands = [p, p / "repo", p / ".git"] + sorted(p.glob("*")) if p.is_dir() else []
    return [c for c in cands if (c / "HEAD").is_file() and (c / "objects").is_dir()]


def _extract(git_dir: Path) -> Path:
    if shutil.which("git") is None:
        raise NtiaUnavailable(f"found the git dir {git_dir} but no `git` to extract it")
    commit = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"],
                            check=True, capture_output=True, text=True).stdout.strip()
    if _is_tree(SRC_CACHE) and (SRC_CACHE / "COMMIT").is_file() \
            and (SRC_CACHE / "COMMIT").read_text().strip() == commit:
        return SRC_CACHE
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="src.", dir=CACHE))
    arch = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "HEAD"],
                          check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=arch, check=True)
    (tmp / "COMMIT").write_text(commit + "\n")
    if not _is_tree(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
        raise NtiaUnavailable(
            f"{git_dir} (HEAD {commit[:10]}) has no src/itm_p2p.cpp + include/itm.h")
    if SRC_CACHE.exists():
        shutil.rmtree(SRC_CACHE)
    tmp.rename(SRC_CACHE)
    return SRC_CACHE


def find_source() -> Path:
    """Folder holding NTIA's ``src/`` and ``include/`` (extracting a git dir if needed)."""
    tried: list[str] = []
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if _is_tree(p):
            return p
        gits = _git_dirs(p)
        if gits:
            return _extract(gits[0])
        raise NtiaUnavailable(
            f"${ENV_VAR}={env!r} is neither a folder with NTIA's src/ and include/ nor a git dir")
    tried.append(f"${ENV_VAR} (unset)")
    for m in sorted(glob.glob(MIRROR_GLOB)):
        gits = _git_dirs(Path(m))
        if gits:
            return _extract(gits[0])
        tried.append(m)
    tried.append(MIRROR_GLOB)
    if _is_tree(SRC_CACHE):  # extracted before; mirror gone
        return SRC_CACHE
    raise NtiaUnavailable(
        "NTIA ITM source not found (tried " + ", ".join(tried) + "). Set "
        f"{ENV_VAR} to a checkout of https://github.com/NTIA/itm (folder with src/ and "
        "include/) or to a bare git dir of it.")


# ------------------------------------------------------------------ build
def build_command(src: Path) -> list[str]:
    cpps = sorted(str(p) for p in (src / "src").glob("*.cpp"))
    return (["g++", *CXXFLAGS, "-I", str(COMPAT), "-I", str(src / "include"), *cpps,
             str(SHIM), "-o", str(LIB)])


def build(force: bool = False) -> Path:
    """Compile ``libntia_itm.so`` if missing (or older than the shim, or ``force``)."""
    if LIB.is_file() and not force and LIB.stat().st_mtime >= SHIM.stat().st_mtime:
        return LIB
    src = find_source()
    cxx = shutil.which("g++")
    if cxx is None:
        raise NtiaUnavailable("no g++ on PATH to build NTIA's ITM")
    # forwarding headers for NTIA's `#include "..\include\X.h"` (one file name on Linux)
    COMPAT.mkdir(parents=True, exist_ok=True)
    for h in (src / "include").glob("*.h"):
        (COMPAT / f"..\\include\\{h.name}").write_text(f'#include "{h.resolve()}"\n')
    cmd = build_command(src)
    tmp_lib = LIB.with_name(LIB.name + f".tmp{os.getpid()}")
    cmd[-1] = str(tmp_lib)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise NtiaUnavailable(
            "building NTIA ITM failed:\n  " + " ".join(cmd) + "\n" + r.stderr[-4000:])
    os.replace(tmp_lib, LIB)
    return LIB


def _load() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL(str(build()))
        dp = ctypes.POINTER(ctypes.c_double)
        lp = ctypes.POINTER(ctypes.c_long)
        lib.ntia_p2p_batch.restype = ctypes.c_int
        lib.ntia_p2p_batch.argtypes = [
            ctypes.c_int, dp, lp, dp, dp, dp,
            ctypes.c_int, ctypes.c_double, ctypes.c_int, ctypes.c_double, ctypes.c_double,
            ctypes.c_int, ctypes.c_double, ctypes.c_double, ctypes.c_double,
            dp, lp, lp, lp]
        _lib = lib
    return _lib


def available() -> bool:
    """True when the NTIA library is built or can be built now."""
    try:
        _load()
    except (NtiaUnavailable, OSError, subprocess.CalledProcessError):
        return False
    return True


# ------------------------------------------------------------------ calling
def pack_pfl(profiles, steps_m) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate NTIA PFL arrays ``[n, step, z0..zn]``; return (flat, offsets)."""
    profs = [np.ascontiguousarray(p, dtype=np.float64).ravel() for p in profiles]
    steps = np.broadcast_to(np.asarray(steps_m, dtype=np.float64), (len(profs),))
    sizes = np.array([p.size + 2 for p in profs], dtype=np.int64)
    offsets = np.zeros(len(profs), dtype=_C_LONG)
    if len(profs) > 1:
        offsets[1:] = np.cumsum(sizes[:-1])
    flat = np.empty(int(sizes.sum()), dtype=np.float64)
    for p, s, o in zip(profs, steps, offsets, strict=True):
        flat[o] = p.size - 1
        flat[o + 1] = s
        flat[o + 2: o + 2 + p.size] = p
    return flat, offsets


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(ctypes.POINTER(ctype))


def p2p_tls_batch_packed(flat, offsets, h_tx_m, h_rx_m, f_mhz, *, climate, n0, pol, epsilon,
                         sigma, mdvar, time, location, situation, with_mode=True):
    """:func:`p2p_tls_batch` on already packed PFL arrays (see :func:`pack_pfl`).

    Returns (loss_db, mode, warnings, return_code) with NTIA's raw return
    codes; ``with_mode=False`` calls the plain ``ITM_P2P_TLS`` (mode is then 0).
    """
    lib = _load()
    flat = np.ascontiguousarray(flat, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=_C_LONG)
    n = offsets.size
    if n and (offsets.min() < 0 or int(offsets.max()) + 3 > flat.size):
        raise ValueError("offsets point outside the packed profiles")
    if n and np.any(flat[offsets] + 3 + offsets > flat.size):
        raise ValueError("a PFL header says more points than the packed array holds")
    htx = np.ascontiguousarray(np.broadcast_to(np.asarray(h_tx_m, dtype=np.float64), (n,)))
    hrx = np.ascontiguousarray(np.broadcast_to(np.asarray(h_rx_m, dtype=np.float64), (n,)))
    f = np.ascontiguousarray(np.broadcast_to(np.asarray(f_mhz, dtype=np.float64), (n,)))
    loss = np.empty(n, dtype=np.float64)
    mode = np.zeros(n, dtype=_C_LONG)
    warn = np.empty(n, dtype=_C_LONG)
    rc = np.empty(n, dtype=_C_LONG)
    lib.ntia_p2p_batch(
        int(n), _ptr(flat, ctypes.c_double), _ptr(offsets, ctypes.c_long),
        _ptr(htx, ctypes.c_double), _ptr(hrx, ctypes.c_double), _ptr(f, ctypes.c_double),
        int(climate), float(n0), int(pol), float(epsilon), float(sigma), int(mdvar),
        float(time), float(location), float(situation),
        _ptr(loss, ctypes.c_double), _ptr(mode, ctypes.c_long) if with_mode else None,
        _ptr(warn, ctypes.c_long), _ptr(rc, ctypes.c_long))
    return loss, mode.astype(np.int64), warn.astype(np.int64), rc.astype(np.int64)


def p2p_tls_batch(profiles, steps_m, h_tx_m, h_rx_m, f_mhz, *, climate, n0, pol, epsilon,
                  sigma, mdvar, time, location, situation):
    """NTIA ``ITM_P2P_TLS`` over many paths (one C++ call per path, single thread).

    Parameters
    ----------
    profiles : list of 1-D float arrays
        Ground heights (m above sea level), TX first, equally spaced; the
        PFL header ``[n_intervals, step]`` is added here.
    steps_m : float or array
        Spacing per profile (m).
    h_tx_m, h_rx_m, f_mhz : float or array
        Per path or one value for all.
    climate, n0, pol, epsilon, sigma, mdvar, time, location, situation
        As NTIA's ITM_P2P_TLS (and deadzone's p2p_loss).

    Returns
    -------
    loss_db : float64 array (NaN where NTIA returned an error)
    mode : int64 array (1 LOS, 2 diffraction, 3 troposcatter, 0 on error)
    warnings : int64 array of NTIA warning bit flags
    err : int64 array; 0 when NTIA returned SUCCESS or SUCCESS_WITH_WARNINGS,
        else NTIA's error code (>= 1000, see its ERRORS_AND_WARNINGS.md)
    """
    flat, offsets = pack_pfl(profiles, steps_m)
    loss, mode, warn, rc = p2p_tls_batch_packed(
        flat, offsets, h_tx_m, h_rx_m, f_mhz, climate=climate, n0=n0, pol=pol,
        epsilon=epsilon, sigma=sigma, mdvar=mdvar, time=time, location=location,
        situation=situation)
    err = np.where((rc == SUCCESS) | (rc == SUCCESS_WITH_WARNINGS), 0, rc)
    return loss, mode, warn, err


# ------------------------------------------------------------------ check / time
SHARED = BENCH.parent.parent / "shared" / "data" / "itm_ntia"
STEP = 30.0
RADIO = dict(climate=5, n0=301.0, pol=1, epsilon=15.0, sigma=0.005,
             time=50.0, location=50.0, situation=50.0)


def random_walks(n: int, lo: int, hi: int, seed: int) -> list[np.ndarray]:
    """``n`` seeded random-walk profiles of ``lo..hi`` intervals."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_int = int(rng.integers(lo, hi + 1))
        z = rng.uniform(50.0, 500.0) + np.cumsum(rng.normal(0.0, rng.uniform(0.5, 8.0), n_int + 1))
        out.append(np.maximum(z, 0.0))
    return out


def ridged_walks(n: int, lo: int, hi: int, seed: int) -> list[np.ndarray]:
    """Random walks plus one Gaussian ridge (0..600 m): reaches diffraction and troposcatter."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        n_int = int(rng.integers(lo, hi + 1))
        x = np.linspace(0.0, 1.0, n_int + 1)
        z = rng.uniform(0.0, 300.0) + np.cumsum(rng.normal(0.0, rng.uniform(0.5, 4.0), n_int + 1))
        c, w = rng.uniform(0.2, 0.8), rng.uniform(0.02, 0.2)
        out.append(np.maximum(z + rng.uniform(0.0, 600.0) * np.exp(-((x - c) / w) ** 2), 0.0))
    return out


def _deadzone_one(z, step, htx, hrx, f, **kw):
    from deadzone.errors import ParameterError
    from deadzone.kernels.itm import MODE_NAMES, p2p_loss
    try:
        r = p2p_loss(z, step, htx, hrx, f, **kw)
    except ParameterError:
        return np.nan, 0, 0, 1
    return r.loss_db, MODE_NAMES.index(r.mode), r.warnings, 0


def _row(name, n, ntia, dz, ref=None):
    (l1, m1, w1, e1), (l2, m2, w2, e2) = ntia, dz
    ok = (e1 == 0) & (e2 == 0)
    d = np.abs(l1[ok] - l2[ok])
    cells = [name, n, f"{d.max():.3e}" if d.size else "-",
             int(np.sum((e1 != 0) != (e2 != 0))), int(np.sum(m1[ok] != m2[ok])),
             int(np.sum(w1[ok] != w2[ok]))]
    cells.append(f"{np.max(np.abs(l1 - ref)):.3f}" if ref is not None else "")
    modes = np.bincount(m1[ok], minlength=4)[1:]
    cells.append("/".join(str(int(x)) for x in modes))
    return cells


def check() -> int:
    rows = []
    # (a) NTIA's own vectors
    import csv
    with open(SHARED / "p2p.csv", newline="") as fh:
        cases = list(csv.DictReader(fh))
    with open(SHARED / "pfls.csv") as fh:
        pfls = [np.array([float(v) for v in line.split(",") if v.strip()])
                for line in fh if line.strip()]
    res_n, res_d, expected = [], [], []
    for c, pfl in zip(cases, pfls, strict=True):
        n_int, step = int(pfl[0]), pfl[1]
        z = pfl[2: 2 + n_int + 1]
        kw = dict(climate=int(c["climate"]), n0=float(c["N_0"]), pol=int(c["pol"]),
                  epsilon=float(c["epsilon"]), sigma=float(c["sigma"]), mdvar=int(c["mdvar"]),
                  time=float(c["time"]), location=float(c["location"]),
                  situation=float(c["situation"]))
        args = (float(c["h_tx__meter"]), float(c["h_rx__meter"]), float(c["f__mhz"]))
        res_n.append([a[0] for a in p2p_tls_batch([z], step, *args, **kw)])
        res_d.append(_deadzone_one(z, step, *args, **kw))
        expected.append(float(c["A__db"]))
    ntia = tuple(np.array(v) for v in zip(*res_n, strict=True))
    dz = tuple(np.array(v) for v in zip(*res_d, strict=True))
    rows.append(_row("NTIA p2p.csv", len(cases), ntia, dz, np.array(expected)))
    # (b) 2,000 random walks, 100..900 intervals of 30 m (mostly ITM "LOS" mode);
    # (c) extra: 2,000 ridged walks, 100..3000 intervals (diffraction/troposcatter too)
    n = 2000
    rng = np.random.default_rng(20240611)
    htx = rng.uniform(10.0, 60.0, n)
    f = rng.uniform(700.0, 2600.0, n)
    # (d) ridged walks with the uneven spacings of real paths (d / ceil(d / 30 m)):
    #     the horizon distances must be NTIA's running sums to the last bit
    uneven = rng.uniform(25.0, 30.0, n)
    sets = [("random walks 100..900", random_walks(n, 100, 900, seed=11), STEP),
            ("ridged walks 100..3000", ridged_walks(n, 100, 3000, seed=12), STEP),
            ("ridged, steps 25..30 m", ridged_walks(n, 100, 1500, seed=13), uneven)]
    for label, profs, steps in sets:
        step_i = np.broadcast_to(np.asarray(steps, dtype=np.float64), (n,))
        for mdvar in (12, 3):
            kw = dict(RADIO, mdvar=mdvar)
            ntia = p2p_tls_batch(profs, steps, htx, 1.5, f, **kw)
            dz = tuple(np.array(v) for v in zip(*[
                _deadzone_one(profs[i], float(step_i[i]), htx[i], 1.5, f[i], **kw)
                for i in range(n)], strict=True))
            rows.append(_row(f"{label}, mdvar {mdvar}", n, ntia, dz))
    head = ["case", "paths", "max|NTIA-dz| dB", "err diff", "mode diff", "warn diff",
            "max|NTIA-csv| dB", "LOS/diff/tropo"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))
    print("(NTIA-csv: against the 2-decimal A__db in p2p.csv; dz = deadzone.kernels.itm.p2p_loss)")
    return 0


def time_paths(n: int, repeats: int = 5) -> int:
    from deadzone.kernels import _itm as k
    from deadzone.kernels.itm import _batch_profiles
    profs = random_walks(n, 500, 600, seed=5)
    h_tx, h_rx, f = 30.0, 1.5, 900.0
    kw = dict(RADIO, mdvar=12)
    flat, offsets = pack_pfl(profs, STEP)
    arr, n_ints = _batch_profiles(profs)
    steps = np.full(n, STEP)
    loss = np.empty(n)
    mode, warn, err = (np.empty(n, dtype=np.int64) for _ in range(3))
    c = kw

    def run_ntia():
        return p2p_tls_batch_packed(flat, offsets, h_tx, h_rx, f, with_mode=False, **c)

    def run_dz():
        k.p2p_batch(arr, n_ints, steps, h_tx, h_rx, c["climate"], c["n0"], f, c["pol"],
                    c["epsilon"], c["sigma"], c["mdvar"], c["time"], c["location"],
                    c["situation"], loss, mode, warn, err)

    out_n = run_ntia()  # warm-up (and JIT compile / cache load for numba)
    run_dz()
    ok = (out_n[3] <= 1) & (err == 0)
    diff = float(np.max(np.abs(out_n[0][ok] - loss[ok]))) if ok.any() else float("nan")
    best = {}
    for name, fn in (("NTIA ITM 1.4 C++ (g++ -O3, ITM_P2P_TLS loop)", run_ntia),
                     ("deadzone _itm.p2p_batch (numba, 1 thread)", run_dz)):
        ts = []
        for _ in range(repeats):
            t0 = _time.perf_counter()
            fn()
            ts.append(_time.perf_counter() - t0)
        best[name] = min(ts)
    print(f"{n} random-walk paths, {int(n_ints.min())}..{int(n_ints.max())} intervals "
          f"(mean {n_ints.mean():.0f}), 30 m, tx 30 m, rx 1.5 m, 900 MHz, mdvar 12; "
          f"best of {repeats}; max|diff| {diff:.2e} dB")
    for name, t in best.items():
        print(f"  {name:48s} {t / n * 1e6:8.2f} µs/path")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with deadzone p2p_loss")
    ap.add_argument("--time", type=int, metavar="N", help="time N paths of ~550 intervals")
    ap.add_argument("--build", action="store_true", help="force a rebuild of the library")
    a = ap.parse_args(argv)
    try:
        if a.build:
            build(force=True)
            print(LIB)
        _load()
    except NtiaUnavailable as e:
        print(f"ntia_ref: {e}", file=sys.stderr)
        return 2
    rc = 0
    if a.check:
        rc |= check()
    if a.time:
        rc |= time_paths(a.time)
    if not (a.check or a.time or a.build):
        print(f"NTIA ITM library: {LIB}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
