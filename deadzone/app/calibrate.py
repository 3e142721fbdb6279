"""Running and writing a calibration: what ``deadzone calibrate`` does between
reading its inputs and printing its summary, for the CLI and for scripts.

The folder: ``residuals.csv`` and ``residuals.gpkg`` (every input sample
once, in file order, with its prediction, residual and why it was not used),
``candidates.csv`` (each model and fit with its cross-validated error),
``errors.csv`` (n, mean, sd and RMSE per technology, distance band, clutter
class and tower, before and after calibration), with a scenario's villages
``villages_measured.csv``, ``confusion.csv`` and ``field_visits.csv`` (the
villages whose measured status disagrees with the prediction), ``report.html`` (by a writer
the caller passes) and ``calibration.json``, written last with every other
file's SHA-256; ``deadzone audit --calibration`` reads it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone import __version__
from deadzone.data.io import atomic_path, write_gpkg, write_summary_last
from deadzone.data.loaders import file_checksum
from deadzone.errors import DataLoadError, OutputExistsError, ParameterError
from deadzone.geo.audit import audit
from deadzone.geo.calibration import (
    FITS,
    MIN_GAIN_DB,
    CalibrationResult,
    calibrate,
    error_table,
    village_check,
)
from deadzone.geo.coverage import EngineParams
from deadzone.model.calibration import Calibration
from deadzone.model.dem import Dem
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = [
    "CALIBRATE_FILES",
    "DEMO_TRUTH",
    "demo_measurements",
    "write_demo_measurements",
    "CALIBRATION_FORMAT",
    "load_calibration",
    "read_calibration",
    "run_calibration",
]

#: Files of a ``deadzone calibrate`` folder (``calibration.json`` last;
#: the village files only when the scenario has villages).
CALIBRATE_FILES = (
    "residuals.csv",
    "residuals.gpkg",
    "candidates.csv",
    "errors.csv",
    "villages_measured.csv",
    "confusion.csv",
    "field_visits.csv",
    "report.html",
    "calibration.json",
)

#: ``format`` of ``calibration.json``.
CALIBRATION_FORMAT = "deadzone-calibration"

#: The grouping of ``errors.csv``, in report order.
_ERROR_GROUPS = ("tech", "distance_band", "clutter", "predicted_tower_id")


def run_calibration(
    dem: Dem,
    towers: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    out: Path,
    *,
    params: EngineParams,
    measurements_path: Path | None = None,
    models: Sequence[str] | None = None,
    fits: Sequence[str] = FITS,
    clutter: Any = None,
    landcover_path: Path | None = None,
    folds: int = 5,
    block_km: float = 5.0,
    min_samples: int = 100,
    censor_margin_db: float = 20.0,
    progress: Callable[[int], None] | None = None,
    write_report: Callable[..., Path] | None = None,
    scenario: Scenario | None = None,
    thresholds: Thresholds | None = None,
    village_radius_m: float = 500.0,
) -> tuple[CalibrationResult, dict[str, Any]]:
    """Calibrate and write the folder ``out`` (overwriting: the caller checked it).

    Parameters
    ----------
    dem, towers, samples, params, models, fits, clutter, folds, block_km, min_samples,
    censor_margin_db
        As :func:`deadzone.geo.calibration.calibrate`.
    out : Path
        The output folder.
    measurements_path, landcover_path : Path, optional
        Recorded with their SHA-256 in ``calibration.json``.
    progress : callable, optional
        ``progress(models_done)``.
    write_report : callable, optional
        ``write_report(path, summary=..., samples=..., candidates=..., errors=...,
        confusion=...)`` (:func:`deadzone.maps.calibration_report.write_calibration_report`).
    scenario : Scenario, optional
        With villages: each village's measured status (the median of the
        samples within ``village_radius_m``) against the audit's, before and
        after the calibration (``villages_measured.csv``, ``confusion.csv``).
    thresholds : Thresholds, optional
        The audit's thresholds for those statuses.
    village_radius_m : float
        Samples this close to a village count for it (m).

    Returns
    -------
    result : CalibrationResult
    summary : dict
        ``calibration.json``'s content.
    """
    res = calibrate(dem, towers, samples, params=params, models=models, fits=fits,
                    clutter=clutter, folds=folds, block_km=block_km, min_samples=min_samples,
                    censor_margin_db=censor_margin_db, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    table = _residuals_table(res, samples)
    errors = _errors(res.samples, calibrated=res.chosen is not None)
    written = [out / "residuals.csv", out / "residuals.gpkg", out / "candidates.csv",
               out / "errors.csv"]
    _csv(table, written[0])
    gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]),
                           crs="EPSG:4326")
    with atomic_path(written[1]) as tmp:
        write_gpkg(gdf, tmp, layer="residuals")
    _csv(res.candidates, written[2])
    _csv(errors, written[3])
    summary = _summary(res, samples, params=params, measurements_path=measurements_path,
                       landcover_path=landcover_path, censor_margin_db=censor_margin_db)
    confusion = None
    if scenario is not None and scenario.villages is not None and len(scenario.villages):
        thr = thresholds or Thresholds()
        table_v, confusion = _village_check(res, scenario, params, thr, clutter,
                                            village_radius_m)
        written += [out / "villages_measured.csv", out / "confusion.csv",
                    out / "field_visits.csv"]
        _csv(table_v, written[-3])
        _csv(confusion, written[-2])
        _csv(_field_visits(table_v), written[-1])
        summary["villages"] = _village_summary(table_v, village_radius_m)
    else:
        for name in ("villages_measured.csv", "confusion.csv", "field_visits.csv"):
            (out / name).unlink(missing_ok=True)  # an earlier run's
    if write_report is not None:
        written.append(write_report(out / "report.html", summary=summary, samples=res.samples,
                                    candidates=res.candidates, errors=errors,
                                    confusion=confusion))
    else:
        (out / "report.html").unlink(missing_ok=True)  # an earlier run's
    write_summary_last(out / "calibration.json", summary, written)
    return res, summary


def read_calibration(path: str | Path) -> dict[str, Any]:
    """A ``calibration.json`` (a file, or the folder holding one), checked.

    Returns
    -------
    dict
        Its content; ``["calibration"]`` is None when nothing was applied.

    Raises
    ------
    DataLoadError
        Not a deadzone calibration file.
    """
    import json

    p = Path(path)
    if p.is_dir():
        p = p / "calibration.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataLoadError(f"{p}: not a readable calibration file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CALIBRATION_FORMAT:
        raise DataLoadError(f"{p}: not a deadzone calibration file (format is not "
                            f"{CALIBRATION_FORMAT!r}); make one with 'deadzone calibrate'")
    return doc


#: The known truth behind the demo's measurements (``deadzone demo`` writes them to
#: ``inputs/measurements.csv``; ``deadzone calibrate --demo`` makes them again):
#: ITM with the demo's engine defaults and P.2108 clutter loss on the demo land
#: cover, plus these offsets (dB), shadowing of 7 dB decorrelating over 75 m and
#: 1 dB receiver noise; one drive over every road at 25 m.
DEMO_TRUTH: dict[str, Any] = {
    "model": "itm",
    "offsets_db": {"2G": -3.0, "4G": -6.0},
    "clutter_offsets_db": {"suburban": -2.0, "urban-trees-forest": -5.0},
    "sigma_db": 7.0,
    "decorrelation_m": 75.0,
    "noise_db": 1.0,
    "spacing_m": 25.0,
}


def demo_measurements(scenario: Scenario, *, seed: int = 0
                      ) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.uint8]]:
    """The demo province's drive test and land cover (:data:`DEMO_TRUTH`).

    Returns
    -------
    samples : GeoDataFrame
        The measurement table (:data:`deadzone.model.schema.MEASUREMENT_COLUMNS`),
        with the truth's parameters in ``attrs["truth"]``.
    landcover : uint8[rows, cols]
        P.2108 category codes on the demo's DEM.
    """
    from deadzone.geo.truth import SyntheticTruth, demo_landcover

    t = DEMO_TRUTH
    lc = demo_landcover(scenario, seed=seed)
    truth = SyntheticTruth(
        scenario, params=EngineParams(model=t["model"]), offsets_db=t["offsets_db"],
        clutter_offsets_db=t["clutter_offsets_db"], sigma_db=t["sigma_db"],
        decorrelation_m=t["decorrelation_m"], noise_db=t["noise_db"], landcover=lc,
        clutter_loss=True, seed=seed,
    )
    return truth.drive(spacing_m=t["spacing_m"], seed=seed), lc


def write_demo_measurements(scenario: Scenario, folder: Path, *, seed: int = 0,
                            overwrite: bool = False) -> list[Path]:
    """Write the demo's ``measurements.csv`` and ``landcover.tif`` into ``folder``.

    Raises
    ------
    OutputExistsError
        A file exists and ``overwrite`` is false.
    """
    from deadzone.data.loaders import write_measurements
    from deadzone.geo.truth import write_landcover

    paths = [folder / "measurements.csv", folder / "landcover.tif"]
    clash = [p for p in paths if p.exists()]
    if clash and not overwrite:
        raise OutputExistsError(f"{clash[0]} already exists; pass --overwrite or choose "
                                "another --out folder")
    samples, lc = demo_measurements(scenario, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_measurements(samples, paths[0], format="generic")
    write_landcover(paths[1], lc, scenario.dem)
    return paths


def load_calibration(path: str | Path) -> Calibration:
    """The calibration to apply from a ``calibration.json`` (or its folder),
    with its path and SHA-256 as ``source``.

    Raises
    ------
    DataLoadError
        Not a deadzone calibration file.
    ParameterError
        The calibration run applied nothing (no fit beat the model, or too
        few samples): there is nothing to apply.
    """
    doc = read_calibration(path)
    if doc.get("calibration") is None:
        raise ParameterError(f"{path}: deadzone calibrate applied no calibration "
                             f"({doc.get('result', 'see its report')}); nothing to apply")
    p = Path(path) / "calibration.json" if Path(path).is_dir() else Path(path)
    cal = Calibration.from_dict(doc["calibration"])
    return replace(cal, source={"path": str(p.resolve()), "sha256": file_checksum(p)})


def _village_check(res: CalibrationResult, scenario: Scenario, params: EngineParams,
                   thr: Thresholds, clutter: Any, radius_m: float
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Villages' measured status against the audit's, uncalibrated and calibrated."""
    plain = audit(scenario, params=params, thresholds=thr, clutter=clutter,
                  rasters=False).villages
    if res.chosen is not None:
        cal = replace(params, model=res.chosen.model, calibration=res.chosen)
        plain = plain.assign(status_calibrated=audit(
            scenario, params=cal, thresholds=thr, clutter=clutter, rasters=False
        ).villages["status"].to_numpy())
    return village_check(plain, res.samples, scenario.dem, thresholds=thr, radius_m=radius_m)


def _field_visits(table: pd.DataFrame) -> pd.DataFrame:
    """The villages whose measured status disagrees with the (calibrated, when
    there is one) prediction: by commune, the most-sampled first."""
    bad = table[table["agrees"].fillna(True).eq(False).to_numpy()]
    return bad.sort_values(["commune_id", "n_samples", "village_id"],
                           ascending=[True, False, True], kind="stable")


def _village_summary(table: pd.DataFrame, radius_m: float) -> dict[str, Any]:
    has = table["measured_status"] != "no_samples"
    out: dict[str, Any] = {
        "radius_m": radius_m,
        "with_samples": int(has.sum()),
        "total": int(len(table)),
        "agree": int(table["agrees"].sum()),
    }
    for col in ("predicted_status", "calibrated_status"):
        if col in table.columns:
            out[f"{col.split('_')[0]}_agree_pct"] = _f(
                100.0 * float((table.loc[has, col] == table.loc[has, "measured_status"]).mean())
                if has.any() else math.nan)
    return out


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")


def _residuals_table(res: CalibrationResult, samples: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every input sample once, in file order."""
    s = res.samples
    geom = samples.geometry.to_crs(4326)
    empty = (geom.isna() | geom.is_empty).to_numpy()
    lon = np.where(empty, np.nan, geom.x.where(~empty).to_numpy(dtype=np.float64))
    lat = np.where(empty, np.nan, geom.y.where(~empty).to_numpy(dtype=np.float64))
    n = len(samples)
    col = samples.get
    return pd.DataFrame({
        "sample_id": col("sample_id", pd.Series([f"S{i + 1}" for i in range(n)])).to_numpy(),
        "lon": lon,
        "lat": lat,
        "tech": s["tech"].to_numpy(),
        "measured_at": col("measured_at", pd.Series([pd.NaT] * n)).to_numpy(),
        "tower_id": col("tower_id", pd.Series([None] * n)).to_numpy(),
        "predicted_tower_id": s["predicted_tower_id"].to_numpy(),
        "server": s["server"].to_numpy(),
        "distance_m": s["distance_m"].round(1).to_numpy(),
        "clutter": s["clutter"].to_numpy(),
        "measured_dbm": s["measured_dbm"].to_numpy(),
        "predicted_dbm": s["predicted_dbm"].round(2).to_numpy(),
        "residual_db": s["residual_db"].round(2).to_numpy(),
        "calibrated_dbm": s["calibrated_dbm"].round(2).to_numpy(),
        "residual_cal_db": s["residual_cal_db"].round(2).to_numpy(),
        "used": s["use"].to_numpy(),
        "note": s["note"].to_numpy(),
        "source_row": col("source_row", pd.Series([None] * n)).to_numpy(),
    })


def _errors(samples: pd.DataFrame, *, calibrated: bool) -> pd.DataFrame:
    """``errors.csv``: per grouping, before (and after) calibration."""
    parts = []
    for by in _ERROR_GROUPS:
        if by == "clutter" and not (samples["clutter"] != "").any():
            continue
        t = error_table(samples, by).rename(columns={by: "group"})
        if calibrated:
            c = error_table(samples, by, residual="residual_cal_db").rename(columns={by: "group"})
            t = t.merge(c.drop(columns="n"), on="group", suffixes=("", "_calibrated"))
        t.insert(0, "by", by)
        parts.append(t)
    return pd.concat(parts, ignore_index=True)


def _summary(res: CalibrationResult, samples: gpd.GeoDataFrame, *, params: EngineParams,
             measurements_path: Path | None, landcover_path: Path | None,
             censor_margin_db: float) -> dict[str, Any]:
    s = res.samples
    used = s["use"].to_numpy()
    r0 = s["residual_db"].to_numpy()[used]
    notes = s.loc[~s["use"], "note"].value_counts()
    cand = res.candidates
    return {
        "format": CALIBRATION_FORMAT,
        "version": 1,
        "deadzone_version": __version__,
        "applied": res.chosen is not None,
        "result": res.reason,
        "calibration": None if res.chosen is None else res.chosen.to_dict(),
        "best_candidate": None if res.best is None else res.best.to_dict(),
        "configured_model": params.model,
        "uncalibrated_rmse_db": _f(np.sqrt(np.mean(r0 * r0)) if r0.size else math.nan),
        "uncalibrated_mean_db": _f(np.mean(r0) if r0.size else math.nan),
        "measurements": {
            "path": None if measurements_path is None else str(Path(measurements_path).resolve()),
            "sha256": None if measurements_path is None else file_checksum(measurements_path),
            "format": samples.attrs.get("format"),
            "n_samples": int(len(s)),
            "n_used": int(used.sum()),
            "by_tech": {str(k): int(v) for k, v in s.loc[used, "tech"].value_counts().items()},
        },
        "not_used": {str(k): int(v) for k, v in notes.items()},
        "landcover": None if landcover_path is None else {
            "path": str(Path(landcover_path).resolve()), "sha256": file_checksum(landcover_path)},
        "cross_validation": {
            "folds": res.folds,
            "block_km": res.block_km,
            "min_gain_db": MIN_GAIN_DB,
            "censor_margin_db": censor_margin_db,
            "candidates": [] if cand.empty else [
                {k: (_f(v) if isinstance(v, float) else v) for k, v in row.items()}
                for row in cand.to_dict("records")
            ],
        },
        "engine": {
            "radius_km": params.radius_km,
            "rx_height_m": params.rx_height_m,
            "k_factor": params.k_factor,
            "floor_dbm": params.floor_dbm,
        },
    }


def _f(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else round(v, 4)
