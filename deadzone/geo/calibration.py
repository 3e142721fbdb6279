"""Predictions against measurements: residuals, a calibration chosen by
spatially blocked cross-validation, and the correction the audit applies.

The flow (``deadzone calibrate``):

1. :func:`predict_samples`: the audit's engine at every sample, each on its
   own exact tower -> sample path (:func:`deadzone.geo.paths.pair_rx`), with
   the technology's metric (2G level, 3G RSCP, 4G/5G RSRP): the serving tower
   when the file names one that the towers file holds, else the best server
   of the sample's technology, as the audit picks it for a village.
2. residual = measured - predicted (dB), for every usable sample.
3. :func:`calibrate`: for each propagation model and each fit (:data:`FITS`:
   nothing, an offset per technology, plus a slope in log10 distance, plus
   an offset per P.2108 clutter class) the fit's error on held-out samples
   by k-fold cross-validation over square blocks of ``block_km`` (so that a
   sample's neighbours, which share its shadowing, are never in the fold it
   is tested on; Roberts et al. 2017, "Cross-validation strategies for data
   with temporal, spatial, hierarchical, or phylogenetic structure",
   Ecography 40(8)).  Fits use Huber's robust loss (Huber 1964; k = 1.345
   sigma, sigma from the median absolute deviation), by iteratively
   reweighted least squares.  The candidate with the smallest
   cross-validated RMSE wins, a more complex fit only when it gains at least
   :data:`MIN_GAIN_DB`; it is applied only when it beats the uncalibrated
   configured model the same way.
4. :class:`Calibration`: the chosen model and coefficients and the residual
   standard deviation ``sigma_db`` (location variability: with it, a
   village's probability of reaching a threshold is
   ``Phi((median - threshold) / sigma)``, ITU-R P.1546-6 Annex 5 §12 /
   P.1812-6 §4.9 log-normal location variability).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.clutter import CATEGORY_NAMES
from deadzone.geo.coverage import EngineParams, TowerGrid, towers_on_grid
from deadzone.geo.paths import pair_rx, village_points, village_signals
from deadzone.kernels.robust import huber_fit
from deadzone.model.calibration import MIN_DISTANCE_M, Calibration
from deadzone.model.dem import Dem
from deadzone.model.schema import SENSITIVITY_DBM, TECHS, TOP_REPORTED_DBM
from deadzone.model.thresholds import Thresholds

__all__ = [
    "Calibration",
    "CalibrationResult",
    "DEFAULT_MODELS",
    "FITS",
    "MIN_GAIN_DB",
    "calibrate",
    "error_table",
    "predict_samples",
    "spatial_folds",
    "village_check",
]

F64 = npt.NDArray[np.float64]

#: The fits tried for every model, simplest first.
FITS: tuple[str, ...] = ("none", "offset", "offset+slope", "offset+slope+clutter")

#: Propagation models compared by default (``deadzone calibrate --models``).
DEFAULT_MODELS: tuple[str, ...] = ("itm", "p526", "knife", "cost231")

#: Cross-validated RMSE a candidate must gain over a simpler one to be chosen (dB).
MIN_GAIN_DB = 0.05

#: Fewest fitted samples for a clutter class of its own offset (fewer: the
#: class is fitted with the reference class).
MIN_CLASS_SAMPLES = 100

#: Distance bands of the error tables (km).
DISTANCE_BANDS_KM: tuple[float, ...] = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, math.inf)


# --------------------------------------------------------------------------- prediction


def predict_samples(
    dem: Dem,
    towers: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    *,
    params: EngineParams,
    clutter: npt.NDArray[np.uint8] | None = None,
    grid: TowerGrid | None = None,
    xy: tuple[F64, F64] | None = None,
) -> pd.DataFrame:
    """The engine's metric at every measurement sample.

    Parameters
    ----------
    dem : Dem
        Terrain (metric CRS).
    towers : GeoDataFrame
        The towers (:func:`deadzone.data.loaders.load_towers`).
    samples : GeoDataFrame
        Measurements (:func:`deadzone.data.loaders.load_measurements`):
        ``tech``, ``measured_dbm``, ``qc``, optional ``tower_id`` (serving
        tower), point geometry.
    params : EngineParams
        Model, radius, handset height, k-factor, floor and ITM settings.
    clutter : uint8[rows, cols], optional
        P.2108 category per DEM cell (receiver height, clutter loss and the
        clutter class of each sample).
    grid : TowerGrid, optional
        ``towers`` on ``dem``, when already built.
    xy : (float64[n], float64[n]), optional
        The samples in the DEM CRS (m, NaN without a location), when already
        projected (:func:`calibrate` projects them once for every model).

    Returns
    -------
    DataFrame
        One row per sample, in order: ``x_m``, ``y_m`` (DEM CRS), ``server``
        (``"serving"``: the file's serving tower; ``"best"``: the best server
        of the technology; ``""``: none), ``predicted_tower_id``, ``band``
        (its ``"<tech>-<MHz>"``),
        ``distance_m``, ``clutter`` (category name, ``""`` without land
        cover), ``predicted_dbm`` (NaN where none), ``use`` (bool) and
        ``note`` (why a sample is not used: its ``qc`` flag,
        ``no_location``, ``outside_dem``, ``no_<tech>_tower``,
        ``serving_tower_outside_dem``, ``no_tower_in_reach``).
    """
    for col in ("tech", "measured_dbm"):
        if col not in samples.columns:
            raise SchemaError(f"measurements lack the required column {col!r}")
    n = len(samples)
    grid = towers_on_grid(towers, dem) if grid is None else grid
    x, y = _sample_xy(samples, dem) if xy is None else xy
    note = np.full(n, "", dtype=object)
    qc = samples["qc"].astype(str).to_numpy() if "qc" in samples.columns else np.full(n, "ok")
    note[qc != "ok"] = qc[qc != "ok"]
    fin = np.isfinite(x) & np.isfinite(y)
    note[(note == "") & ~fin] = "no_location"
    rows, cols, inside = dem.rowcol(np.where(fin, x, 0.0), np.where(fin, y, 0.0))
    inside &= fin
    inside[inside] = ~dem.outside_footprint_mask[rows[inside], cols[inside]]
    note[(note == "") & ~inside] = "outside_dem"
    tech = samples["tech"].astype(str).to_numpy()
    tower_tech = np.asarray(grid.techs, dtype=object)
    for t in np.unique(tech[note == ""]):
        if t not in grid.techs:
            note[(note == "") & (tech == t)] = f"no_{t}_tower"

    # the serving tower, where the file names one the towers file holds
    index = {tid: i for i, tid in enumerate(grid.tower_ids)}
    serving = np.full(n, -1, np.int64)
    if "tower_id" in samples.columns:
        got = pd.Series(samples["tower_id"].to_numpy(), dtype=object).map(index)
        serving = got.fillna(-1).to_numpy(dtype=np.int64, copy=True)
    # a serving tower of another technology is not this sample's server
    serving[(serving >= 0) & (tower_tech[np.maximum(serving, 0)] != tech)] = -1
    no_site = np.array([s is None for s in grid.sites] or [True])
    off_dem = (serving >= 0) & no_site[np.maximum(serving, 0)]
    note[(note == "") & off_dem] = "serving_tower_outside_dem"

    predicted = np.full(n, np.nan)
    server = np.full(n, -1, np.int64)
    kind = np.full(n, "", dtype=object)
    known = np.flatnonzero((note == "") & (serving >= 0))
    if known.size:
        _, rx, _ = pair_rx(dem, grid, x, y, serving[known], known, params=params,
                           clutter=clutter)
        predicted[known] = rx - grid.metric_offset_db[serving[known]]  # metric = total - offset
        server[known] = serving[known]
        kind[known] = "serving"
    best = (note == "") & (serving < 0)
    for t in np.unique(tech[best]):
        # the best server of the sample's technology, as the audit folds a village's
        # pairs, over that technology's towers only (thresholds only count servers)
        sel = best & (tech == t)
        keep = np.flatnonzero(tower_tech == t)
        sub = TowerGrid([grid.tower_ids[i] for i in keep], [grid.techs[i] for i in keep],
                        [grid.sites[i] for i in keep], grid.x_m[keep], grid.y_m[keep],
                        grid.metric_offset_db[keep])
        sig = village_signals(dem, sub, x[sel], y[sel], params=params,
                              thresholds=Thresholds(), clutter=clutter)
        got = sig.metric_server[t]
        predicted[sel] = sig.metric_dbm[t]
        server[sel] = np.where(got >= 0, keep[np.maximum(got, 0)], -1)
        kind[sel] = np.where(got >= 0, "best", "")
    note[(note == "") & ~np.isfinite(predicted)] = "no_tower_in_reach"
    has = server >= 0
    distance = np.full(n, np.nan)
    distance[has] = np.hypot(grid.x_m[server[has]] - x[has], grid.y_m[server[has]] - y[has])
    ids = np.asarray(grid.tower_ids, dtype=object)
    bands = np.append(grid.bands(), "")  # never empty: index 0 is read (masked) even with no tower
    names = np.array(CATEGORY_NAMES, dtype=object)
    clut = np.full(n, "", dtype=object)
    if clutter is not None:
        clut[inside] = names[clutter[rows[inside], cols[inside]]]
    return pd.DataFrame(
        {
            "x_m": x,
            "y_m": y,
            "server": kind,
            "predicted_tower_id": np.where(has, ids[np.maximum(server, 0)], None),
            "band": np.where(has, bands[np.maximum(server, 0)], ""),
            "distance_m": distance,
            "clutter": clut,
            "predicted_dbm": predicted,
            "use": note == "",
            "note": note,
        },
        index=samples.index,
    )


def _sample_xy(samples: gpd.GeoDataFrame, dem: Dem) -> tuple[F64, F64]:
    """The samples' points in the DEM CRS (m; NaN without a location)."""
    geom = samples.geometry.to_crs(dem.crs)
    empty = (geom.isna() | geom.is_empty).to_numpy()
    x = np.full(len(samples), np.nan)
    y = np.full(len(samples), np.nan)
    if (~empty).any():
        x[~empty] = geom[~empty].x.to_numpy()
        y[~empty] = geom[~empty].y.to_numpy()
    return x, y


# --------------------------------------------------------------------------- fits


def _design(
    fit: str, tech: npt.NDArray[np.int64], logd: F64, clutter: npt.NDArray[np.int64],
    n_techs: int, classes: Sequence[int],
) -> tuple[F64, list[tuple[str, int]]]:
    """Design matrix of a fit (technology and clutter as integer codes) and the
    (kind, code) of each column; technologies without a sample get no column."""
    cols: list[F64] = []
    names: list[tuple[str, int]] = []
    if fit == "none":
        return np.zeros((len(tech), 0)), names
    present = [k for k in range(n_techs) if (tech == k).any()]
    for k in present:
        cols.append((tech == k).astype(np.float64))
        names.append(("offset", k))
    if "slope" in fit:
        for k in present:
            cols.append(np.where(tech == k, logd, 0.0))
            names.append(("slope", k))
    if "clutter" in fit:
        for c in classes:
            col = (clutter == c).astype(np.float64)
            if col.sum() >= MIN_CLASS_SAMPLES:  # fewer: the class takes the reference's
                cols.append(col)
                names.append(("clutter", c))
    return np.column_stack(cols), names


def _fit(
    fit: str, model: str, tech: npt.NDArray[np.int64], tech_names: Sequence[str], logd: F64,
    clutter: npt.NDArray[np.int64], clutter_names: Sequence[str], resid: F64,
    reference: int | None,
) -> Calibration:
    """One fit on the given samples (technology and clutter class as codes into
    ``tech_names`` / ``clutter_names``; ``reference`` the class offsets are
    relative to)."""
    classes = [c for c in range(len(clutter_names)) if c != reference and clutter_names[c]]
    x, names = _design(fit, tech, logd, clutter, len(tech_names), classes)
    beta = huber_fit(x, resid)
    e = resid - x @ beta if x.shape[1] else resid
    dof = max(len(resid) - x.shape[1], 1)
    sigma = float(np.sqrt(np.sum(e * e) / dof)) if len(resid) else math.nan
    got: dict[str, dict[str, float]] = {"offset": {}, "slope": {}, "clutter": {}}
    for (kind, code), b in zip(names, beta, strict=True):
        key = clutter_names[code] if kind == "clutter" else tech_names[code]
        got[kind][key] = float(b)
    return Calibration(
        model=model,
        fit=fit,
        offsets_db=got["offset"],
        slopes_db_per_decade=got["slope"],
        clutter_offsets_db=got["clutter"],
        clutter_reference=(clutter_names[reference] if "clutter" in fit and reference is not None
                           else None),
        sigma_db=sigma,
    )


def spatial_folds(
    x_m: npt.ArrayLike, y_m: npt.ArrayLike, *, block_m: float, k: int, seed: int = 0
) -> tuple[npt.NDArray[np.int64], int]:
    """Fold of each point: square blocks of ``block_m``, blocks dealt to ``k``
    folds in a seeded random order (fewer folds when there are fewer blocks).

    Returns
    -------
    fold : int64[n]
    k : int
        Folds used (``min(k, number of blocks)``).
    """
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    bx = np.floor(x / block_m).astype(np.int64)
    by = np.floor(y / block_m).astype(np.int64)
    if bx.size:
        bx -= bx.min()
        by -= by.min()
    _, block = np.unique(bx * (int(by.max(initial=0)) + 1) + by, return_inverse=True)
    block = block.ravel()
    n_blocks = int(block.max()) + 1 if block.size else 0
    k = min(k, n_blocks)
    order = np.random.default_rng(seed).permutation(n_blocks)
    fold_of_block = np.empty(n_blocks, np.int64)
    fold_of_block[order] = np.arange(n_blocks) % max(k, 1)
    return fold_of_block[block], k


# --------------------------------------------------------------------------- calibrate


@dataclass
class CalibrationResult:
    """What :func:`calibrate` found.

    Attributes
    ----------
    samples : DataFrame
        One row per input sample: the prediction of the configured model
        (:func:`predict_samples` columns), ``measured_dbm``, ``residual_db``
        (measured - predicted), and ``calibrated_dbm`` / ``residual_cal_db``
        under the chosen calibration (NaN where it is not applied).
    candidates : DataFrame
        Per (model, fit): ``n``, ``cv_rmse_db``, ``cv_mean_db``,
        ``cv_sd_db`` and ``rmse_db`` (the full-data fit's in-sample RMSE).
    chosen : Calibration or None
        The calibration to apply; None when none beats the uncalibrated
        configured model (``reason`` says why).
    best : Calibration or None
        The best candidate, applied or not.
    baseline : Calibration
        The configured model with no correction (its ``sigma_db`` is its
        residual RMS).
    reason : str
        One line: what was chosen, or why nothing is applied.
    folds : int
        Cross-validation folds used.
    block_km : float
        Block size of the folds (km).
    """

    samples: pd.DataFrame
    candidates: pd.DataFrame
    chosen: Calibration | None
    best: Calibration | None
    baseline: Calibration
    reason: str
    folds: int
    block_km: float
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)


def calibrate(
    dem: Dem,
    towers: gpd.GeoDataFrame,
    samples: gpd.GeoDataFrame,
    *,
    params: EngineParams,
    models: Sequence[str] | None = None,
    fits: Sequence[str] = FITS,
    clutter: npt.NDArray[np.uint8] | None = None,
    folds: int = 5,
    block_km: float = 5.0,
    min_samples: int = 100,
    censor_margin_db: float = 20.0,
    seed: int = 0,
    progress: Any = None,
) -> CalibrationResult:
    """Compare predictions with measurements and choose a calibration by
    spatially blocked cross-validation.

    Parameters
    ----------
    dem, towers, samples
        As :func:`predict_samples`.
    params : EngineParams
        The configured engine (its model is the uncalibrated baseline); the
        other models are run with the same radius, heights and settings.
    models : sequence of str, optional
        Models to compare (default: ``params.model`` and
        :data:`DEFAULT_MODELS`).
    fits : sequence of str
        Fits to try (:data:`FITS`).
    clutter : uint8[rows, cols], optional
        P.2108 land cover on the DEM (clutter loss and the per-class fit).
    folds : int
        Cross-validation folds (k >= 2).
    block_km : float
        Side of the square blocks dealt to folds (km); a few times the
        shadowing decorrelation distance.
    min_samples : int
        Fewer usable samples: nothing is fitted, and ``reason`` says so.
    censor_margin_db : float
        Samples the configured model predicts less than this above the
        receiver's sensitivity (:data:`deadzone.model.schema.SENSITIVITY_DBM`)
        are left out of the fits (``note`` = ``near_sensitivity``): values
        below the sensitivity are never recorded, so near it only the
        samples that shadowing lifted remain and would bias a fit upward;
        likewise within it of the top of the reporting range
        (:data:`~deadzone.model.schema.TOP_REPORTED_DBM`, ``near_top_of_range``),
        where stronger values are all reported as the top.
    seed : int
        Seed of the block-to-fold deal.
    progress : callable, optional
        Called with the number of steps done, after each model's prediction.

    Returns
    -------
    CalibrationResult
    """
    if folds < 2:
        raise ParameterError(f"folds was {folds}; cross-validation needs at least 2")
    if not block_km > 0:
        raise ParameterError(f"block_km was {block_km}; expected > 0")
    unknown = [f for f in fits if f not in FITS]
    if unknown:
        raise ParameterError(f"unknown fit {unknown[0]!r}; expected one of {', '.join(FITS)}")
    if clutter is None:
        fits = [f for f in fits if "clutter" not in f]
    models = list(dict.fromkeys([params.model, *(DEFAULT_MODELS if models is None else models)]))
    grid = towers_on_grid(towers, dem)
    xy = _sample_xy(samples, dem)  # once for every model
    preds: dict[str, pd.DataFrame] = {}
    for i, m in enumerate(models):
        p = EngineParams(model=m, radius_km=params.radius_km, rx_height_m=params.rx_height_m,
                         k_factor=params.k_factor, floor_dbm=params.floor_dbm, itm=params.itm)
        preds[m] = predict_samples(dem, towers, samples, params=p, clutter=clutter, grid=grid,
                                   xy=xy)
        if progress is not None:
            progress(i + 1)
    base = preds[params.model]
    measured = samples["measured_dbm"].to_numpy(dtype=np.float64)
    tech_all = samples["tech"].astype(str).to_numpy().astype(object)
    table = base.copy()
    table.insert(0, "measured_dbm", measured)
    table.insert(0, "tech", tech_all)
    if "sample_id" in samples.columns:
        table.insert(0, "sample_id", samples["sample_id"].to_numpy())
    table["residual_db"] = measured - base["predicted_dbm"].to_numpy()
    table["calibrated_dbm"] = np.nan
    table["residual_cal_db"] = np.nan

    # one sample set for every candidate: usable under every model compared
    use = np.logical_and.reduce([p["use"].to_numpy() for p in preds.values()])
    note = table["note"].to_numpy().copy()
    note[(note == "") & ~use] = "no_prediction_from_another_model"
    # a drive records nothing below the receiver's sensitivity: near it the samples
    # left are the lucky ones, and a fit there would be biased upward (censoring);
    # near the top of the reporting range, stronger values are all reported as the top
    pred = table["predicted_dbm"].to_numpy()
    floor = np.array([SENSITIVITY_DBM.get(t, -np.inf) for t in tech_all]) + censor_margin_db
    top = np.array([TOP_REPORTED_DBM.get(t, np.inf) for t in tech_all]) - censor_margin_db
    low = use & (pred < floor)
    high = use & (pred > top)
    note[low] = "near_sensitivity"
    note[high] = "near_top_of_range"
    use &= ~(low | high)
    table["use"] = use
    table["note"] = note
    n_use = int(use.sum())
    resid0 = table["residual_db"].to_numpy()[use]
    baseline = Calibration(model=params.model, fit="none",
                           sigma_db=_rms(resid0) if n_use else math.nan)
    fold, k = spatial_folds(base["x_m"].to_numpy()[use], base["y_m"].to_numpy()[use],
                            block_m=block_km * 1000.0, k=folds, seed=seed)
    if n_use < min_samples:
        reason = (f"too few usable samples to calibrate: {n_use} (at least {min_samples}; "
                  "min_samples, CLI --min-samples); nothing applied")
        return CalibrationResult(table, pd.DataFrame(), None, None, baseline, reason, 0,
                                 block_km, preds)
    if k < 2:
        reason = (f"the {n_use} usable samples lie in one {block_km:g} km block: spatial "
                  "cross-validation needs samples in at least 2 blocks (smaller block_km, "
                  "CLI --block-km); nothing applied")
        return CalibrationResult(table, pd.DataFrame(), None, None, baseline, reason, k,
                                 block_km, preds)

    group = _groups(tech_all[use], table["band"].to_numpy().astype(object)[use])
    tech_names = sorted(set(group.tolist()), key=_group_order)
    tech = pd.Categorical(group, categories=tech_names).codes.astype(np.int64)
    clut_obj = base["clutter"].to_numpy().astype(object)[use]
    clut, clut_uniq = pd.factorize(clut_obj, sort=True)
    clutter_names = [str(c) for c in clut_uniq]
    ref_name = _reference_class(clut_obj) if clutter is not None else None
    reference = clutter_names.index(ref_name) if ref_name is not None else None
    rows = []
    fitted: dict[tuple[str, str], Calibration] = {}
    for m in models:
        p = preds[m]
        resid = measured[use] - p["predicted_dbm"].to_numpy()[use]
        logd = np.log10(np.maximum(p["distance_m"].to_numpy()[use], MIN_DISTANCE_M) / 1000.0)
        for f in fits:
            err = np.empty(n_use)
            for j in range(k):
                test = fold == j
                c = _fit(f, m, tech[~test], tech_names, logd[~test], clut[~test], clutter_names,
                         resid[~test], reference)
                err[test] = resid[test] - _correction(c, tech[test], tech_names, logd[test],
                                                      clut[test], clutter_names)
            full = _with_tech_means(
                _fit(f, m, tech, tech_names, logd, clut, clutter_names, resid, reference), tech,
                tech_names)
            fitted[(m, f)] = full
            rows.append({"model": m, "fit": f, "n": n_use, "cv_rmse_db": _rms(err),
                         "cv_mean_db": float(np.mean(err)), "cv_sd_db": float(np.std(err)),
                         "rmse_db": full.sigma_db})
    cand = pd.DataFrame(rows)
    best_i = _choose(cand)
    best = fitted[(cand.at[best_i, "model"], cand.at[best_i, "fit"])]
    base_i = int(np.flatnonzero((cand["model"] == params.model) & (cand["fit"] == "none"))[0])
    gain = float(cand.at[base_i, "cv_rmse_db"] - cand.at[best_i, "cv_rmse_db"])
    if best_i == base_i or gain < MIN_GAIN_DB:
        chosen = None
        reason = (f"no calibration beats the uncalibrated {params.model} in {k}-fold spatial "
                  f"cross-validation (its RMSE {cand.at[base_i, 'cv_rmse_db']:.2f} dB; best "
                  f"other {best.model} {best.fit} {cand.at[best_i, 'cv_rmse_db']:.2f} dB); "
                  "nothing applied")
    else:
        chosen = best
        reason = (f"{best.model} with {best.fit}: cross-validated RMSE "
                  f"{cand.at[best_i, 'cv_rmse_db']:.2f} dB against "
                  f"{cand.at[base_i, 'cv_rmse_db']:.2f} dB for the uncalibrated "
                  f"{params.model} ({k} folds of {block_km:g} km blocks, {n_use:,} samples)")
        p = preds[chosen.model]
        cal = p["predicted_dbm"].to_numpy() + chosen.correction_db(
            tech_all, p["distance_m"].to_numpy(), p["clutter"].to_numpy(),
            p["band"].to_numpy()
        )
        ok = p["use"].to_numpy()
        table["calibrated_dbm"] = np.where(ok, cal, np.nan)
        table["residual_cal_db"] = measured - table["calibrated_dbm"].to_numpy()
    return CalibrationResult(table, cand, chosen, best, baseline, reason, k, block_km, preds)


def _correction(c: Calibration, tech: npt.NDArray[np.int64], tech_names: Sequence[str],
                logd: F64, clutter: npt.NDArray[np.int64],
                clutter_names: Sequence[str]) -> F64:
    """:meth:`Calibration.correction_db` on coded samples (log10 km distances)."""
    off = np.array([c.offsets_db.get(t, 0.0) for t in tech_names] or [0.0])
    slope = np.array([c.slopes_db_per_decade.get(t, 0.0) for t in tech_names] or [0.0])
    cl = np.array([c.clutter_offsets_db.get(n, 0.0) for n in clutter_names] or [0.0])
    return off[tech] + slope[tech] * logd + cl[clutter]


def _groups(tech: npt.NDArray[np.object_], band: npt.NDArray[np.object_]
            ) -> npt.NDArray[np.object_]:
    """The key each sample is fitted under: its technology, or its band
    (``"4G-1800"``) when its technology's samples come from towers of two or
    more bands with :data:`MIN_CLASS_SAMPLES` each (rarer bands keep the
    technology's key)."""
    out = tech.copy()
    for t in np.unique(tech):
        sel = tech == t
        names, counts = np.unique(band[sel], return_counts=True)
        big = [n for n, k in zip(names, counts, strict=True) if n and k >= MIN_CLASS_SAMPLES]
        if len(big) >= 2:
            out[sel & np.isin(band, big)] = band[sel & np.isin(band, big)]
    return out


def _group_order(key: str) -> tuple[int, float]:
    tech, _, mhz = key.partition("-")
    return (TECHS.index(tech) if tech in TECHS else len(TECHS), float(mhz or 0))


def _with_tech_means(c: Calibration, group: npt.NDArray[np.int64],
                     names: Sequence[str]) -> Calibration:
    """A band-split technology also gets a technology key: the samples-weighted
    mean of its bands' offsets and slopes (for towers of a band not calibrated)."""
    counts = np.bincount(group, minlength=len(names))
    offsets, slopes = dict(c.offsets_db), dict(c.slopes_db_per_decade)
    for tech in {n.split("-")[0] for n in names if "-" in n}:
        if tech in offsets:
            continue
        idx = [i for i, n in enumerate(names) if n.startswith(tech + "-")]
        w = counts[idx] / max(int(counts[idx].sum()), 1)
        for table in (offsets, slopes):
            vals = [table.get(names[i]) for i in idx]
            if all(v is not None for v in vals):
                table[tech] = float(np.dot(w, vals))
    return replace(c, offsets_db=offsets, slopes_db_per_decade=slopes)


def _rms(e: F64) -> float:
    return float(np.sqrt(np.mean(e * e))) if len(e) else math.nan


def _reference_class(clut: npt.NDArray[np.object_]) -> str | None:
    """The clutter class per-class offsets are relative to: open-rural when
    present (the class the models are made for), else the most common."""
    present = [c for c in clut.tolist() if c]
    if not present:
        return None
    if "open-rural" in present:
        return "open-rural"
    vals, counts = np.unique(np.asarray(present, dtype=object), return_counts=True)
    return str(vals[int(np.argmax(counts))])


def _choose(cand: pd.DataFrame) -> int:
    """Row of the smallest cross-validated RMSE; a more complex fit of the same
    model, or another model, only when it gains at least MIN_GAIN_DB."""
    best = 0
    for i in range(1, len(cand)):
        if cand.at[i, "cv_rmse_db"] < cand.at[best, "cv_rmse_db"] - MIN_GAIN_DB:
            best = i
    return best


# --------------------------------------------------------------------------- tables


def error_table(samples: pd.DataFrame, by: str, *, residual: str = "residual_db") -> pd.DataFrame:
    """n, mean error, standard deviation and RMSE of ``residual`` per group.

    Parameters
    ----------
    samples : DataFrame
        :attr:`CalibrationResult.samples` (with ``tech`` joined for
        ``by="tech"``).
    by : {"tech", "predicted_tower_id", "distance_band", "clutter"}
        The grouping; ``distance_band`` is made from ``distance_m`` and
        :data:`DISTANCE_BANDS_KM`.
    residual : str
        ``residual_db`` (uncalibrated) or ``residual_cal_db``.

    Returns
    -------
    DataFrame
        ``<by>, n, mean_db, sd_db, rmse_db`` over the used samples, plus a
        final ``all`` row.
    """
    s = samples[samples["use"]].copy()
    if by == "distance_band":
        edges = np.asarray(DISTANCE_BANDS_KM)
        labels = [
            f"{a:g}-{b:g} km" if math.isfinite(b) else f">= {a:g} km"
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
        s["distance_band"] = pd.cut(s["distance_m"] / 1000.0, edges, right=False, labels=labels)
    e = s[residual]
    g = e.groupby(s[by], observed=True)
    out = pd.DataFrame({
        "n": g.size(),
        "mean_db": g.mean(),
        "sd_db": g.std(ddof=0),
        "rmse_db": g.apply(lambda v: float(np.sqrt(np.mean(v * v)))),
    }).reset_index().rename(columns={by: by})
    out[by] = out[by].astype(str)
    total = pd.DataFrame([{by: "all", "n": int(e.size), "mean_db": float(e.mean()),
                           "sd_db": float(e.std(ddof=0)), "rmse_db": _rms(e.to_numpy())}])
    return pd.concat([out, total], ignore_index=True)


# --------------------------------------------------------------------------- villages


#: Statuses in order of service (the audit's rule: the best over technologies).
_RANK = {"covered": 0, "marginal": 1, "dead": 2}


def village_check(
    villages: gpd.GeoDataFrame,
    samples: pd.DataFrame,
    dem: Dem,
    *,
    thresholds: Thresholds,
    radius_m: float = 500.0,
    min_samples: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measured against predicted status, village by village.

    A village's measured status is the audit's rule applied to the median of
    the usable samples within ``radius_m`` of its point, per technology (the
    best technology wins, as in the audit); villages with fewer than
    ``min_samples`` samples are ``no_samples``.

    Parameters
    ----------
    villages : GeoDataFrame
        An audit's villages (``village_id``, ``commune_id``, ``status``,
        and ``status_calibrated`` when a calibrated audit is compared too).
    samples : DataFrame
        :attr:`CalibrationResult.samples` (``x_m``, ``y_m`` in the DEM CRS,
        ``tech``, ``measured_dbm``, ``use``).
    dem : Dem
        The DEM whose CRS ``x_m``/``y_m`` are in.
    thresholds : Thresholds
        The audit's thresholds.
    radius_m : float
        Samples this close to a village's point count for it (m).
    min_samples : int
        Fewest samples for a measured status.

    Returns
    -------
    villages : DataFrame
        Every village once, in order: ``village_id``, ``name``,
        ``commune_id``, ``n_samples``, ``measured_<tech>_dbm`` (median),
        ``measured_status``, ``predicted_status`` (and
        ``calibrated_status``) and ``agrees`` (measured == predicted; NA
        without samples).
    confusion : DataFrame
        Per commune and in total (``commune_id == "all"``): the count of
        villages of each (measured, predicted) pair, for the uncalibrated and
        (when given) the calibrated prediction (``prediction`` column).
    """
    from scipy.spatial import cKDTree

    v = villages
    vp = village_points(v, dem)  # where the audit evaluates each village
    vx, vy = vp.x_m, vp.y_m
    s = samples[samples["use"].to_numpy()]
    sx, sy = s["x_m"].to_numpy(), s["y_m"].to_numpy()
    stech = s["tech"].astype(str).to_numpy()
    smeas = s["measured_dbm"].to_numpy(dtype=np.float64)
    n = len(v)
    n_near = np.zeros(n, np.int64)
    techs = [t for t in TECHS if (stech == t).any()]
    med = {t: np.full(n, np.nan) for t in techs}
    if len(s):
        tree = cKDTree(np.column_stack([sx, sy]))
        ok = np.isfinite(vx) & np.isfinite(vy)
        near = tree.query_ball_point(np.column_stack([vx[ok], vy[ok]]), r=radius_m)
        for i, idx in zip(np.flatnonzero(ok), near, strict=True):
            if not idx:
                continue
            idx = np.asarray(idx)
            n_near[i] = idx.size
            for t in techs:
                vals = smeas[idx[stech[idx] == t]]
                if vals.size:
                    med[t][i] = float(np.median(vals))
    best = np.full(n, 3, np.int64)
    for t in techs:
        m = med[t]
        r = np.where(m >= thresholds.covered(t), 0, np.where(m >= thresholds.marginal(t), 1, 2))
        best = np.where(np.isfinite(m), np.minimum(best, r), best)
    names = np.array(["covered", "marginal", "dead", "no_samples"], dtype=object)
    measured = names[best]
    measured[n_near < min_samples] = "no_samples"
    out = pd.DataFrame({
        "village_id": v["village_id"].astype(str).to_numpy(),
        "name": v["name"].astype(str).to_numpy() if "name" in v.columns else "",
        "commune_id": v["commune_id"].astype(str).to_numpy(),
        "n_samples": n_near,
        **{f"measured_{t.lower()}_dbm": np.round(med[t], 1) for t in techs},
        "measured_status": measured,
        "predicted_status": v["status"].astype(str).to_numpy(),
    })
    cols = [("uncalibrated", "predicted_status")]
    if "status_calibrated" in v.columns:
        out["calibrated_status"] = v["status_calibrated"].astype(str).to_numpy()
        cols.append(("calibrated", "calibrated_status"))
    has = out["measured_status"] != "no_samples"
    out["agrees"] = pd.array(
        np.where(has, out["measured_status"] == out[cols[-1][1]], pd.NA), dtype="boolean")
    parts = []
    for label, col in cols:
        sub = out[has]
        for cid, grp in [("all", sub), *sub.groupby("commune_id", sort=True)]:
            c = grp.groupby(["measured_status", col]).size()
            for (ms, ps), k in c.items():
                parts.append({"prediction": label, "commune_id": cid, "measured": ms,
                              "predicted": ps, "villages": int(k)})
    confusion = pd.DataFrame(parts, columns=["prediction", "commune_id", "measured",
                                             "predicted", "villages"])
    return out, confusion
