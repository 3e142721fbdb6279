"""``deadzone link``'s work: one link's files, and many links from a pairs table.

The analysis is :mod:`deadzone.geo.link`; the figure is drawn by the
command (:mod:`deadzone.maps.link_figure`, a layer above this one).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deadzone.data.io import atomic_path, write_json
from deadzone.errors import DataLoadError, ParameterError
from deadzone.geo.link import (
    LinkEnd,
    LinkProfile,
    climate_for,
    link_table,
    resolve_end,
    resolve_ends,
    terrain_roughness_m,
)
from deadzone.kernels.itm import ItmSettings
from deadzone.model import microwave as mw
from deadzone.model.scenario import Scenario

__all__ = ["LINK_FILES", "PAIRS_FILES", "MicrowaveOptions", "read_pairs", "run_pairs",
           "write_link", "write_pairs"]

#: Files of one link (``deadzone link A B``).
LINK_FILES: tuple[str, ...] = ("link.png", "link.svg", "profile.csv", "link.json")
#: Files of a pairs run (``deadzone link --pairs``).
PAIRS_FILES: tuple[str, ...] = ("links.csv", "links.json")
#: Column names of a pairs table, first the required ones.
PAIR_COLUMNS: tuple[str, ...] = ("a", "b", "freq_mhz", "height_a_m", "height_b_m")
CSV_ENCODING = "utf-8-sig"


@dataclass(frozen=True)
class MicrowaveOptions:
    """What the command knows of a microwave hop besides its frequency.

    ``radio`` carries the frequency of the command line; per pair it is
    replaced by the pair's.  ``climate`` None: :func:`climate_for` at the
    link's (or the pairs') midpoint.
    """

    radio: mw.MicrowaveRadio
    climate: mw.MicrowaveClimate | None = None
    target_pct: float = 99.99


def _csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding=CSV_ENCODING, lineterminator="\n",
                  float_format="%.6g")
    return path


def _end_doc(e: LinkEnd) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(e).items()}


def write_link(
    out_dir: Path,
    profile: LinkProfile,
    *,
    lines: list[str],
    budget: mw.LinkBudget | None = None,
    radio: mw.MicrowaveRadio | None = None,
    climate: mw.MicrowaveClimate | None = None,
) -> list[Path]:
    """``profile.csv`` (one row per profile sample) and ``link.json`` (ends,
    settings, worst point, loss, budget, the summary lines)."""
    p = profile
    doc: dict[str, Any] = {
        "a": _end_doc(p.a),
        "b": _end_doc(p.b),
        "freq_mhz": p.freq_mhz,
        "k_factor": p.k_factor,
        "model": p.model,
        "distance_m": p.distance_m,
        "step_m": p.step_m,
        "intervals": int(p.ground_m.size - 1),
        "worst": asdict(p.worst),
        "clear_60pct_f1": p.clear,
        "line_of_sight": p.line_of_sight,
        "loss_db": p.loss_db,
        "free_space_db": p.free_space_db,
        "mode": p.mode,
        "itm_warnings": p.itm_warnings,
        "budget": asdict(budget) if budget is not None else None,
        "radio": asdict(radio) if radio is not None else None,
        "climate": asdict(climate) if climate is not None else None,
        "summary": lines,
    }
    return [_csv(p.table(), out_dir / "profile.csv"), write_json(out_dir / "link.json", doc)]


def read_pairs(path: Path) -> pd.DataFrame:
    """A pairs table: CSV with columns ``a`` and ``b`` (each a tower id, a
    village id or ``lon,lat[,height_m]``, quoted), optional ``freq_mhz``,
    ``height_a_m``, ``height_b_m``.

    Raises
    ------
    DataLoadError
        A missing column or a bad value, naming the file, row and column.
    """
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=CSV_ENCODING)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataLoadError(f"{path}: cannot read the pairs table ({exc})") from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    for col in ("a", "b"):
        if col not in df.columns:
            raise DataLoadError(f"{path}: no column {col!r}; expected columns a, b and "
                                "optionally freq_mhz, height_a_m, height_b_m")
    if not len(df):
        raise DataLoadError(f"{path}: no pairs")
    for col in ("freq_mhz", "height_a_m", "height_b_m"):
        if col not in df.columns:
            continue
        vals = pd.to_numeric(df[col].str.strip().replace("", "nan"), errors="coerce")
        bad = df[col].str.strip().ne("") & ~np.isfinite(vals.to_numpy(dtype=np.float64))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataLoadError(f"{path}, row {i + 2}, column {col}: {df[col].iloc[i]!r} "
                                "is not a number")
        df[col] = vals
    return df


def run_pairs(
    scenario: Scenario,
    pairs: pd.DataFrame,
    *,
    freq_mhz: float | None,
    model: str,
    k_factor: float,
    itm: ItmSettings | None = None,
    microwave: MicrowaveOptions | None = None,
    source: str = "pairs",
) -> pd.DataFrame:
    """Every pair of ``pairs`` (:func:`read_pairs`) through
    :func:`deadzone.geo.link.link_table`, with a microwave budget per pair
    when ``microwave`` is given (one climate and one terrain roughness for
    all pairs, at the centre of their midpoints).

    A pair's frequency: its ``freq_mhz`` column, else ``freq_mhz``, else a
    tower end's own frequency.
    """
    rows = [r._asdict() for r in pairs.itertuples(index=False)]
    specs = [str(r["a"]) for r in rows] + [str(r["b"]) for r in rows]
    heights = ([_num(r.get("height_a_m")) for r in rows]
               + [_num(r.get("height_b_m")) for r in rows])
    try:
        ends = resolve_ends(scenario, specs, heights_m=heights)
    except ParameterError:
        ends = []
        for i, (sp, h) in enumerate(zip(specs, heights, strict=True)):  # name the row
            try:
                ends.append(resolve_end(scenario, sp, height_m=h))
            except ParameterError as exc:
                raise ParameterError(f"{source}, row {i % len(rows) + 2}: {exc}") from None
    a_ends, b_ends = ends[:len(rows)], ends[len(rows):]
    freqs = np.full(len(pairs), np.nan)
    for i, r in enumerate(rows):
        f = _num(r.get("freq_mhz")) or freq_mhz
        if f is None:
            f = next((e.freq_mhz for e in (a_ends[i], b_ends[i])
                      if math.isfinite(e.freq_mhz)), None)
        if f is None:
            raise ParameterError(f"{source}, row {i + 2}: no frequency (give --band, "
                                 "--freq-mhz or a freq_mhz column, or a tower end)")
        freqs[i] = f
    try:
        table = link_table(scenario.dem, a_ends, b_ends, freq_mhz=freqs, model=model,
                           k_factor=k_factor, itm=itm)
    except ParameterError as exc:
        raise ParameterError(f"{source}: {exc}") from None
    if microwave is not None:
        table = _budgets(scenario, table, a_ends, b_ends, microwave)
    keep = [c for c in pairs.columns if c not in ("a", "b")]
    return pd.concat([pairs[["a", "b"]].reset_index(drop=True),
                      pairs[keep].reset_index(drop=True).add_prefix("in_"), table], axis=1)


def _num(v: object) -> float | None:
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v == "":
        return None
    return float(v)  # type: ignore[arg-type]


def _budgets(scenario: Scenario, table: pd.DataFrame, a: list[LinkEnd], b: list[LinkEnd],
             opts: MicrowaveOptions) -> pd.DataFrame:
    mx = float(np.mean([(p.x_m + q.x_m) / 2 for p, q in zip(a, b, strict=True)]))
    my = float(np.mean([(p.y_m + q.y_m) / 2 for p, q in zip(a, b, strict=True)]))
    lon = float(np.mean([(p.lon + q.lon) / 2 for p, q in zip(a, b, strict=True)]))
    lat = float(np.mean([(p.lat + q.lat) / 2 for p, q in zip(a, b, strict=True)]))
    climate = opts.climate or climate_for(lon, lat)
    sa = terrain_roughness_m(scenario.dem, mx, my)
    cols: dict[str, list[float]] = {k: [] for k in (
        "gaseous_db", "rx_dbm", "fade_margin_db", "rain_001_db", "rain_pct",
        "multipath_pct", "availability_pct", "required_margin_db")}
    for i, row in enumerate(table.itertuples(index=False)):
        f_ghz = float(row.freq_mhz) / 1000.0
        if not (1.0 <= f_ghz <= 54.0):
            for v in cols.values():
                v.append(math.nan)
            continue
        radio = replace(opts.radio, freq_ghz=f_ghz)
        basic = float(row.free_space_db) + max(float(row.loss_db) - float(row.free_space_db),
                                               0.0)
        bud = mw.link_budget(float(row.distance_m) / 1000.0, radio, basic_loss_db=basic,
                             climate=climate, sa_m=sa,
                             h_e_m=float(row.ground_a_m) + a[i].height_m,
                             h_r_m=float(row.ground_b_m) + b[i].height_m,
                             target_pct=opts.target_pct)
        for k, v in cols.items():
            v.append(float(getattr(bud, k)))
    out = table.copy()
    for k, v in cols.items():
        out[k] = v
    out.attrs["climate"] = asdict(climate)
    out.attrs["sa_m"] = sa
    return out


def write_pairs(out_dir: Path, table: pd.DataFrame, *, meta: dict[str, Any]) -> list[Path]:
    """``links.csv`` (one row per pair) and ``links.json`` (settings, counts)."""
    doc = {**meta, "pairs": len(table),
           "clear_60pct_f1": int(table["clear"].sum()),
           "climate": table.attrs.get("climate"), "sa_m": table.attrs.get("sa_m")}
    return [_csv(table, out_dir / "links.csv"), write_json(out_dir / "links.json", doc)]
