"""Tests of the Longley-Rice ITM kernels against NTIA's published vectors."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deadzone.errors import ParameterError
from deadzone.kernels import _itm
from deadzone.kernels.itm import (
    WARNINGS,
    area_loss,
    p2p_loss,
    p2p_loss_batch,
    warning_names,
)
from tests.conftest import shared_file

RADIO = dict(climate=5, n0=301.0, pol=1, epsilon=15.0, sigma=0.005)


@pytest.fixture(scope="module")
def itm_dir(shared_data: Path) -> Path:
    return shared_file(shared_data, "itm_ntia")


def _read_pfl_line(text: str) -> tuple[np.ndarray, float]:
    v = [float(x) for x in re.split(r"[,\s]+", text.strip()) if x]
    n = int(v[0])
    z = np.array(v[2:], dtype=np.float64)
    assert z.size == n + 1
    return z, v[1]


# ----------------------------------------------------------------- references
def test_p2p_csv_reference_cases(itm_dir: Path) -> None:
    rows = list(csv.DictReader(shared_file(itm_dir, "p2p.csv").read_text().splitlines()))
    pfls = [ln for ln in shared_file(itm_dir, "pfls.csv").read_text().splitlines() if ln.strip()]
    assert len(rows) == len(pfls) == 5
    errs = []
    for r, line in zip(rows, pfls, strict=True):
        z, step = _read_pfl_line(line)
        res = p2p_loss(
            z, step, float(r["h_tx__meter"]), float(r["h_rx__meter"]), float(r["f__mhz"]),
            climate=int(r["climate"]), n0=float(r["N_0"]), pol=int(r["pol"]),
            epsilon=float(r["epsilon"]), sigma=float(r["sigma"]), mdvar=int(r["mdvar"]),
            time=float(r["time"]), location=float(r["location"]),
            situation=float(r["situation"]),
        )
        errs.append(abs(res.loss_db - float(r["A__db"])))
    assert max(errs) <= 0.05, errs


def test_area_csv_reference_cases(itm_dir: Path) -> None:
    rows = list(csv.DictReader(shared_file(itm_dir, "area.csv").read_text().splitlines()))
    assert len(rows) >= 5
    for r in rows:
        res = area_loss(
            float(r["d__km"]), float(r["h_tx__meter"]), float(r["h_rx__meter"]),
            int(r["tx_siting_criteria"]), int(r["rx_siting_criteria"]),
            float(r["delta_h__meter"]), float(r["f__mhz"]),
            climate=int(r["climate"]), n0=float(r["N_0"]), pol=int(r["pol"]),
            epsilon=float(r["epsilon"]), sigma=float(r["sigma"]), mdvar=int(r["mdvar"]),
            time=float(r["time"]), location=float(r["location"]),
            situation=float(r["situation"]),
        )
        assert abs(res.loss_db - float(r["A__db"])) <= 0.1, (r, res.loss_db)


def _inputs(path: Path) -> dict[str, list[float]]:
    out = {}
    for ln in path.read_text().splitlines():
        parts = [p.strip() for p in ln.split(",") if p.strip()]
        if len(parts) >= 2:
            out[parts[0]] = [float(p) for p in parts[1:]]
    return out


def _printed(path: Path) -> dict[str, str]:
    """Label -> printed number string from an ITMDrvr output file."""
    out = {}
    for ln in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z][A-Za-z_ ]*?)\s{2,}(-?\d+(?:\.\d+)?)\s", ln + " ")
        if m:
            out[m.group(1).strip()] = m.group(2)
    return out


def _tol(printed: str) -> float:
    """Half a unit in the last printed digit (the value was rounded)."""
    dec = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10.0**-dec + 1e-9


def _check_intermediate(res, printed: dict[str, str]) -> None:
    iv = res.intermediate
    pairs = {
        "Basic Transmission Loss": res.loss_db,
        "Free Space": iv.free_space_db,
        "d__km": iv.d_km,
        "theta_hzn_tx": iv.theta_hzn_rad[0] * 1e3,
        "theta_hzn_rx": iv.theta_hzn_rad[1] * 1e3,
        "d_hzn_tx__meter": iv.d_hzn_m[0],
        "d_hzn_rx__meter": iv.d_hzn_m[1],
        "h_e_tx__meter": iv.h_e_m[0],
        "h_e_rx__meter": iv.h_e_m[1],
        "N_s": iv.n_s,
        "delta_h__meter": iv.delta_h_m,
        "A_ref__db": iv.a_ref_db,
    }
    for label, value in pairs.items():
        if label not in printed:
            continue
        want = float(printed[label])
        assert abs(value - want) <= _tol(printed[label]), (label, value, want)
    mode = {"1": "los", "2": "diffraction", "3": "troposcatter"}[printed["Mode of Propagation"]]
    assert res.mode == mode


def _pfl_example(itm_dir: Path) -> tuple[np.ndarray, float]:
    return _read_pfl_line(shared_file(itm_dir, "cmd_examples/pfl.txt").read_text())


def _radio(inp: dict[str, list[float]]) -> dict:
    return dict(climate=int(inp["climate"][0]), n0=inp["N_0"][0], pol=int(inp["pol"][0]),
                epsilon=inp["epsilon"][0], sigma=inp["sigma"][0], mdvar=int(inp["mdvar"][0]))


@pytest.mark.parametrize("name", ["p2ptls", "p2pcr"])
def test_cmd_examples_p2p(itm_dir: Path, name: str) -> None:
    ex = itm_dir / "cmd_examples"
    inp = _inputs(shared_file(ex, f"i_{name}.txt"))
    printed = _printed(shared_file(ex, f"o_{name}.txt"))
    z, step = _pfl_example(itm_dir)
    var = ({"time": inp["time"][0], "location": inp["location"][0],
            "situation": inp["situation"][0]} if "time" in inp else
           {"confidence": inp["confidence"][0], "reliability": inp["reliability"][0]})
    res = p2p_loss(z, step, inp["h_tx__meter"][0], inp["h_rx__meter"][0], inp["f__mhz"][0],
                   **_radio(inp), **var)
    _check_intermediate(res, printed)
    flags = re.search(r"ITM Warning Flags\s+0x([0-9A-Fa-f]+)",
                      (ex / f"o_{name}.txt").read_text())
    assert flags is not None
    assert res.warnings == int(flags.group(1), 16)


@pytest.mark.parametrize("name", ["areatls", "areacr"])
def test_cmd_examples_area(itm_dir: Path, name: str) -> None:
    ex = itm_dir / "cmd_examples"
    inp = _inputs(shared_file(ex, f"i_{name}.txt"))
    printed = _printed(shared_file(ex, f"o_{name}.txt"))
    var = ({"time": inp["time"][0], "location": inp["location"][0],
            "situation": inp["situation"][0]} if "time" in inp else
           {"confidence": inp["confidence"][0], "reliability": inp["reliability"][0]})
    res = area_loss(inp["d__km"][0], inp["h_tx__meter"][0], inp["h_rx__meter"][0],
                    int(inp["tx_site_criteria"][0]), int(inp["rx_site_criteria"][0]),
                    inp["delta_h__meter"][0], inp["f__mhz"][0], **_radio(inp), **var)
    _check_intermediate(res, printed)
    assert res.warnings == 0


def _table(path: Path) -> tuple[list[float], list[list[str]]]:
    """Header percentages and rows (first column key) of an output table."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if "with Confidence" in ln)
    # the confidence percentages are the numbers on the next line
    start += 1
    header = [float(x) for x in re.findall(r"(?<![\w(])\d+(?:\.\d+)?", lines[start])]
    rows = []
    for ln in lines[start + 1:]:
        parts = ln.split()
        if not parts or not re.match(r"^-?\d", parts[0]):
            if rows:
                break
            continue
        rows.append(parts)
    return header, rows


def test_cmd_examples_p2pcr_table(itm_dir: Path) -> None:
    ex = itm_dir / "cmd_examples"
    inp = _inputs(shared_file(ex, "i_p2pcr_tbl.txt"))
    conf, rows = _table(shared_file(ex, "o_p2pcr_tbl.txt"))
    assert conf == inp["confidence"]
    assert [float(r[0]) for r in rows] == inp["reliability"]
    z, step = _pfl_example(itm_dir)
    for r in rows:
        for c, want in zip(conf, r[1:], strict=True):
            res = p2p_loss(z, step, inp["h_tx__meter"][0], inp["h_rx__meter"][0],
                           inp["f__mhz"][0], **_radio(inp), confidence=c,
                           reliability=float(r[0]))
            assert abs(res.loss_db - float(want)) <= _tol(want), (r[0], c, res.loss_db, want)


def test_cmd_examples_areacr_table(itm_dir: Path) -> None:
    ex = itm_dir / "cmd_examples"
    inp = _inputs(shared_file(ex, "i_areacr_tbl.txt"))
    conf, rows = _table(shared_file(ex, "o_areacr_tbl.txt"))
    assert conf == inp["confidence"]
    assert len(rows) == 19
    for r in rows:
        d_km, fs = float(r[0]), r[1]
        for c, want in zip(conf, r[2:], strict=True):
            res = area_loss(d_km, inp["h_tx__meter"][0], inp["h_rx__meter"][0],
                            int(inp["tx_site_criteria"][0]), int(inp["rx_site_criteria"][0]),
                            inp["delta_h__meter"][0], inp["f__mhz"][0], **_radio(inp),
                            confidence=c, reliability=inp["reliability"][0])
            assert abs(res.intermediate.free_space_db - float(fs)) <= _tol(fs)
            assert abs(res.loss_db - float(want)) <= _tol(want), (d_km, c, res.loss_db, want)


# ----------------------------------------------------------------- analytic
def test_free_space_formula() -> None:
    assert _itm.free_space_db(10_000.0, 1000.0) == pytest.approx(
        32.45 + 60.0 + 20.0, abs=1e-12)


def test_qerfi_median_and_symmetry() -> None:
    assert _itm._qerfi(0.5) == pytest.approx(0.0, abs=5e-4)
    assert _itm._qerfi(0.1) == pytest.approx(1.2816, abs=5e-4)
    assert _itm._qerfi(0.9) == pytest.approx(-_itm._qerfi(0.1), abs=1e-12)


def test_modes_over_flat_ground() -> None:
    flat = lambda n: np.full(n, 100.0)  # noqa: E731
    near = p2p_loss(flat(51), 100.0, 30.0, 2.0, 900.0, **RADIO, mdvar=12,
                    time=50, location=50, situation=50)
    far = p2p_loss(flat(601), 100.0, 30.0, 2.0, 900.0, **RADIO, mdvar=12,
                   time=50, location=50, situation=50)
    very_far = p2p_loss(flat(3001), 100.0, 30.0, 2.0, 900.0, **RADIO, mdvar=12,
                        time=50, location=50, situation=50)
    assert near.mode == "los"
    assert far.mode == "diffraction"
    assert very_far.mode == "troposcatter"
    assert near.loss_db < far.loss_db < very_far.loss_db


def test_warnings_flags() -> None:
    short = p2p_loss(np.full(6, 0.0), 100.0, 0.6, 2.0, 30.0, **RADIO, mdvar=12,
                     confidence=50, reliability=50)
    names = warning_names(short.warnings)
    assert "path_distance_too_small_2" in names  # 500 m < 1 km
    assert "tx_terminal_height" in names  # 0.6 m < 1 m
    assert "frequency" in names  # 30 MHz < 40 MHz
    assert set(names) <= set(WARNINGS)


# ----------------------------------------------------------------- validation
def _call(**over):
    kw = dict(profile_m=np.full(51, 10.0), step_m=100.0, h_tx_m=30.0, h_rx_m=2.0, f_mhz=900.0,
              **RADIO, mdvar=12, time=50.0, location=50.0, situation=50.0)
    kw.update(over)
    return p2p_loss(**kw)


@pytest.mark.parametrize("over, match", [
    ({"f_mhz": 10.0}, "f_mhz was 10.0"),
    ({"f_mhz": 30000.0}, "f_mhz"),
    ({"h_tx_m": 0.1}, "h_tx_m was 0.1"),
    ({"h_rx_m": 5000.0}, "h_rx_m"),
    ({"climate": 8}, "climate was 8"),
    ({"climate": 0}, "climate"),
    ({"pol": 2}, "pol was 2"),
    ({"mdvar": 4}, "mdvar was 4"),
    ({"mdvar": 34}, "mdvar"),
    ({"n0": 200.0}, "n0 was 200.0"),
    ({"epsilon": 0.5}, "epsilon"),
    ({"sigma": 0.0}, "sigma"),
    ({"time": 0.0}, "time was 0.0"),
    ({"situation": 100.0}, "situation"),
    ({"confidence": 50.0, "reliability": 50.0}, "not both"),
    ({"time": None, "location": None, "situation": None}, "variability missing"),
    ({"step_m": 0.0}, "step_m"),
    ({"profile_m": [1.0, 2.0]}, "at least 3"),
    ({"profile_m": [1.0, np.nan, 2.0]}, "NaN"),
])
def test_validation_errors(over, match) -> None:
    with pytest.raises(ParameterError, match=match):
        _call(**over)


def test_mdvar_modifiers_accepted() -> None:
    for md in (0, 3, 11, 23, 33):
        assert math.isfinite(_call(mdvar=md).loss_db)


def test_area_validation() -> None:
    kw = dict(**RADIO, mdvar=1, time=50, location=50, situation=50)
    with pytest.raises(ParameterError, match="d_km"):
        area_loss(0.0, 10, 2, 0, 0, 90, 900, **kw)
    with pytest.raises(ParameterError, match="tx_siting"):
        area_loss(10.0, 10, 2, 3, 0, 90, 900, **kw)
    with pytest.raises(ParameterError, match="delta_h_m"):
        area_loss(10.0, 10, 2, 0, 0, -1, 900, **kw)


def test_does_not_mutate_input() -> None:
    z = np.linspace(0.0, 50.0, 101)
    before = z.copy()
    _call(profile_m=z)
    np.testing.assert_array_equal(z, before)


# ----------------------------------------------------------------- batch
def test_batch_list_and_padded(itm_dir: Path) -> None:
    pfls = [_read_pfl_line(ln) for ln in
            shared_file(itm_dir, "pfls.csv").read_text().splitlines() if ln.strip()]
    profiles = [z for z, _ in pfls]
    steps = [s for _, s in pfls]
    kw = dict(**RADIO, mdvar=12, time=50, location=50, situation=50)
    loss, mode, warn = p2p_loss_batch(profiles, steps, 10.0, 2.0, 900.0, **kw)
    width = max(z.size for z in profiles)
    padded = np.full((len(profiles), width), np.nan)
    for i, z in enumerate(profiles):
        padded[i, : z.size] = z
    loss2, mode2, warn2 = p2p_loss_batch(padded, np.array(steps), 10.0, 2.0, 900.0, **kw)
    for i, (z, s) in enumerate(pfls):
        one = p2p_loss(z, s, 10.0, 2.0, 900.0, **kw)
        assert loss[i] == one.loss_db == loss2[i]
        assert mode[i] == one.mode == mode2[i]
        assert warn[i] == one.warnings == warn2[i]


def test_batch_rejects_inner_nan() -> None:
    with pytest.raises(ParameterError, match=r"profiles\[1\]"):
        p2p_loss_batch([[1.0, 2.0, 3.0], [1.0, np.nan, 3.0]], 10.0, 10.0, 2.0, 900.0,
                       **RADIO, mdvar=1, time=50, location=50, situation=50)


# ----------------------------------------------------------------- properties
_profiles = st.integers(min_value=3, max_value=400).flatmap(
    lambda n: st.lists(st.floats(min_value=-50.0, max_value=2500.0, allow_nan=False),
                       min_size=n, max_size=n))


@settings(max_examples=60, deadline=None)
@given(z=_profiles, step=st.floats(min_value=10.0, max_value=500.0),
       h_tx=st.floats(min_value=0.5, max_value=300.0),
       h_rx=st.floats(min_value=0.5, max_value=30.0),
       f=st.floats(min_value=20.0, max_value=20000.0), pol=st.integers(0, 1),
       climate=st.integers(1, 7), mdvar=st.sampled_from([0, 1, 2, 3, 12, 23, 33]),
       pct=st.floats(min_value=1.0, max_value=99.0))
def test_loss_finite_for_random_profiles(z, step, h_tx, h_rx, f, pol, climate, mdvar, pct) -> None:
    r = p2p_loss(np.array(z), step, h_tx, h_rx, f, climate=climate, n0=301.0, pol=pol,
                 epsilon=15.0, sigma=0.005, mdvar=mdvar, time=pct, location=50.0,
                 situation=100.0 - pct)
    assert math.isfinite(r.loss_db)
    assert r.mode in ("los", "diffraction", "troposcatter")


@settings(max_examples=40, deadline=None)
@given(h_tx=st.floats(min_value=1.0, max_value=200.0),
       h_rx=st.floats(min_value=1.0, max_value=20.0),
       f=st.floats(min_value=50.0, max_value=6000.0), ground=st.floats(0.0, 1500.0))
def test_loss_grows_with_distance_on_flat_ground(h_tx, h_rx, f, ground) -> None:
    step = 100.0
    ns = [11, 31, 61, 121, 241, 481]
    profiles = [np.full(n, ground) for n in ns]
    loss, _, _ = p2p_loss_batch(profiles, step, h_tx, h_rx, f, **RADIO, mdvar=12,
                                time=50, location=50, situation=50)
    assert np.all(np.diff(loss) > 0.0), loss


@settings(max_examples=30, deadline=None)
@given(zs=st.lists(_profiles, min_size=1, max_size=5),
       f=st.floats(min_value=100.0, max_value=5000.0))
def test_batch_equals_single(zs, f) -> None:
    kw = dict(**RADIO, mdvar=1, confidence=50.0, reliability=90.0)
    loss, mode, warn = p2p_loss_batch(zs, 30.0, 25.0, 1.5, f, **kw)
    for i, z in enumerate(zs):
        one = p2p_loss(np.array(z), 30.0, 25.0, 1.5, f, **kw)
        assert loss[i] == one.loss_db
        assert mode[i] == one.mode
        assert warn[i] == one.warnings


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-50.0, 50.0), st.sampled_from([0.0, 1.0, 1e-300, -7.25])),
             min_size=2, max_size=245),
    st.data(),
)
def test_order_stats_equal_sorting(values, data) -> None:
    """Delta h's two order statistics (bucket count + select) are the sorted values."""
    a = np.array(values)
    n = a.size
    k_lo = data.draw(st.integers(0, n - 1))
    k_hi = data.draw(st.integers(k_lo, n - 1))
    work = np.full(_itm.WORK_SIZE + 300, np.nan)
    work[:n] = a
    lo, hi = _itm._order_stats(work, n, k_lo, k_hi, float(a.min()), float(a.max()), work, n)
    s = np.sort(a)
    assert (lo, hi) == (s[k_lo], s[k_hi])
    assert np.array_equal(work[:n], a)  # the input is left as it was


def test_order_stats_tiny_span() -> None:
    a = np.array([5e-324, 0.0, 1e-323, 5e-324, 0.0])
    work = np.zeros(_itm.WORK_SIZE)
    work[:5] = a
    assert _itm._order_stats(work, 5, 1, 3, 0.0, 1e-323, work, 5) == (0.0, 5e-324)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-100.0, 3000.0), min_size=3, max_size=400),
       st.floats(5.0, 100.0), st.floats(0.0, 0.4), st.floats(0.6, 1.0))
def test_delta_h_is_ntia_definition(z, step, f0, f1) -> None:
    """Delta h equals NTIA's dlthx written as NTIA writes it (running position,
    running trend line, full sort), to rounding."""
    z = np.array(z)
    n_int = z.size - 1
    d = n_int * step
    d_start, d_end = f0 * d, f1 * d
    work = np.empty(_itm.WORK_SIZE)
    got = _itm._delta_h(z, n_int, step, d_start, d_end, work)
    x_start, x_end = d_start / step, d_end / step
    if x_end - x_start < 2.0:
        assert got == 0.0
        return
    p10 = min(max(4, int(0.1 * (x_end - x_start + 8.0))), 25)
    n = 10 * p10 - 5
    dx = (x_end - x_start) / (n - 1)
    i = int(x_start)
    x = x_start - (i + 1.0)
    s = np.empty(n)
    for j in range(n):
        while x > 0.0 and i + 1 < n_int:
            x -= 1.0
            i += 1
        s[j] = z[i + 1] + (z[i + 1] - z[i]) * x
        x += dx
    # NTIA's zlsub over s[0..n-1] (half weights at both ends), one add at a time
    x_len = n - 1.0
    mid = -0.5 * x_len
    mid_end = (n - 1) + mid
    sum_y = 0.5 * (s[0] + s[n - 1])
    scaled = 0.5 * (s[0] - s[n - 1]) * mid
    for k in range(1, n - 1):
        mid += 1.0
        sum_y += s[k]
        scaled += s[k] * mid
    sum_y /= x_len
    scaled = scaled * 12.0 / ((x_len * x_len + 2.0) * x_len)
    y1, y2 = sum_y - scaled * mid_end, sum_y + scaled * (n - 1 - mid_end)
    slope = (y2 - y1) / x_len
    for j in range(n):
        s[j] -= y1
        y1 += slope
    r = np.sort(s)
    want = (r[n - p10] - r[p10 - 1]) / (1.0 - 0.8 * math.exp(-(d_end - d_start) / 50e3))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-7)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-100.0, 3000.0), min_size=3, max_size=300),
       st.floats(5.0, 100.0), st.floats(1.0, 100.0), st.floats(1.0, 100.0))
def test_horizons_are_ntia_find_horizons(z, step, h_tx, h_rx) -> None:
    """Horizon angles equal NTIA's FindHorizons to rounding, and each horizon
    distance is, bit for bit, NTIA's running distance of a point reaching it."""
    z = np.array(z)
    n = z.size - 1
    a_e = 8.5e6
    th0, th1, dh0, dh1 = _itm._horizons(z, n, step, a_e, h_tx, h_rx)
    d = n * step
    z_tx, z_rx = z[0] + h_tx, z[n] + h_rx
    w0 = (z_rx - z_tx) / d - d / (2 * a_e)
    w1 = -(z_rx - z_tx) / d - d / (2 * a_e)
    t0s, t1s = {d: w0}, {d: w1}
    d_tx, d_rx = 0.0, d
    for i in range(1, n):
        d_tx += step
        d_rx -= step
        t0s[d_tx] = (z[i] - z_tx) / d_tx - d_tx / (2 * a_e)
        t1s[d_rx] = -(z_rx - z[i]) / d_rx - d_rx / (2 * a_e)
    for th, dh, ts in ((th0, dh0, t0s), (th1, dh1, t1s)):
        best = max(ts.values())
        assert th == pytest.approx(best, rel=1e-12, abs=1e-15)
        # the distance is NTIA's running sum to the last bit: the terminal fits
        # start at int(0.9 dh / xi), which often lands on an integer
        assert dh in ts
        assert ts[dh] == pytest.approx(best, rel=1e-12, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=260))
def test_min_max_equal_numpy(values) -> None:
    """Delta h's interleaved running extremes are the minimum and maximum."""
    a = np.array(values)
    lo, hi = _itm._min_max(a, a.size)
    assert (lo, hi) == (a.min(), a.max())
