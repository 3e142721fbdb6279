"""Batch audits: many scenarios from one TOML file, run locally or on a Dask cluster.

A batch file lists scenarios either one by one (``[[scenario]]``) or as a
cross product (``[matrix]``, every list-valued key is one axis).  Each
scenario is an audit (:func:`deadzone.geo.audit.audit`) whose files are
written by :func:`deadzone.geo.export.write_audit` into
``OUT/<scenario-name>/``.  A scenario folder is built under a hidden temporary
name and renamed into place only when complete, with a ``batch_manifest.json``
holding the input checksums and parameters, so an interrupted batch never
leaves a half-written scenario folder and ``resume=True`` recomputes only the
scenarios whose complete output is missing or stale.

Example batch file::

    [defaults]
    model = "itm"
    radius_km = 20

    [[scenario]]
    name = "lao-cai"
    dem = "dem/lao_cai.tif"
    villages = "villages.gpkg"
    communes = "communes.gpkg"
    towers = "towers_2025.csv"
    split = "province"          # one job per province in the communes file, plus
                                # "lao-cai-unassigned" (villages of no province);
                                # each village is in exactly one job, with the
                                # commune `deadzone audit` gives it; a province
                                # with no villages is skipped (status "skipped")
                                # (or split = "tile", tile_km = 100: one job per
                                # 100 x 100 km square of villages)

    [[scenario]]
    name = "demo"
    demo = {seed = 3}

    [matrix]                    # 2 tower sets x 2 thresholds = 4 scenarios
    area = [{name = "ha-giang", dem = "hg.tif", villages = "v.gpkg", communes = "c.gpkg"}]
    towers = ["towers_2024.csv", "towers_2025.csv"]
    threshold_dbm = [-100, -105]
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from deadzone import __version__
from deadzone.app.batch_toml import (
    BatchScenario,
    _norm,
    _tile_mask,
    load_batch,
)
from deadzone.data.io import json_default, write_json
from deadzone.data.postgis import is_pg_url, shown_source
from deadzone.errors import DeadzoneWarning, OutputExistsError, warning_text
from deadzone.model.schema import TOTAL_COUNTS

__all__ = ["BatchScenario", "load_batch", "run_batch", "run_scenario", "MANIFEST", "SUMMARY_FILES"]


MANIFEST = "batch_manifest.json"
SUMMARY_FILES = ("batch_summary.csv", "batch_summary.json", "batch_timings.csv")
#: Run-time columns: written to ``batch_timings.csv`` only, so that every other
#: output of the same inputs is byte-identical from run to run.
TIMING_COLUMNS = ("wall_s",)


class _Skipped(Exception):
    """A split job with nothing to audit; ``str(exc)`` is the one-line note."""




def _lonlat_box(path: Path) -> tuple[float, float, float, float]:
    """Lon/lat bounds of a raster from its header (nothing read)."""
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        return tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21))


def _meets(a: tuple[float, ...] | None, b: tuple[float, ...] | None) -> bool:
    """Whether two lon/lat boxes overlap."""
    if a is None or b is None:
        return False
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _audit_window(sc: BatchScenario, villages: Any, towers: Any) -> tuple[float, ...] | None:
    """Lon/lat box of the DEM window the unsplit audit reads (header only, nothing read).

    ``deadzone audit`` reads the DEM window holding the villages and what the towers
    reach, reprojects it to UTM and assigns villages to the communes that meet the
    lon/lat box of the result.  Split jobs assign against the same communes, so
    that each village gets the commune the unsplit audit gives it.  The box is the
    window (clipped to the raster) through its UTM zone and back, as the reprojected
    grid is (to within one cell).
    """
    from rasterio.warp import transform_bounds

    from deadzone.model.bounds import reach_bounds, union_bounds
    from deadzone.model.geodesy import utm_crs

    want = union_bounds(reach_bounds(villages, 0.0), reach_bounds(towers, sc.radius_km))
    have = _lonlat_box(sc.files["dem"])
    if want is None or not _meets(want, have):
        return want
    box = (
        max(want[0], have[0]),
        max(want[1], have[1]),
        min(want[2], have[2]),
        min(want[3], have[3]),
    )
    lon_c, lat_c = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    utm = utm_crs(lon_c, lat_c)
    xy = transform_bounds("EPSG:4326", utm, *box, densify_pts=21)
    return tuple(transform_bounds(utm, "EPSG:4326", *xy, densify_pts=21))


def _assign_as_audit(sc: BatchScenario, villages: Any, towers: Any) -> Any:
    """All villages with the commune the unsplit audit gives each (see :func:`_audit_window`)."""
    from deadzone.data.loaders import assign_communes, load_communes

    with warnings.catch_warnings():
        # The job reads the communes it reports separately; their repairs are reported there.
        warnings.simplefilter("ignore", DeadzoneWarning)
        near = load_communes(sc.files["communes"], bbox=_audit_window(sc, villages, towers))
    return assign_communes(villages, near)


def _split_villages(sc: BatchScenario, villages: Any, towers: Any) -> tuple[Any, Any]:
    """The villages and communes of one province job.

    Every village gets one commune from one whole-scenario assignment (the rule
    and the communes of ``deadzone audit``: the commune holding it, else the
    nearest within 1000 m), and so exactly one province; the province jobs and the
    ``-unassigned`` job (``province == ""``: no commune, or a commune without a
    province) partition the villages.
    """
    from deadzone.data.loaders import load_communes

    villages = _assign_as_audit(sc, villages, towers)
    communes = load_communes(sc.files["communes"])
    prov = communes["province"].map(lambda p: "" if pd.isna(p) else _norm(p))
    of = dict(zip(communes["commune_id"].astype(str), prov, strict=True))
    vprov = villages["commune_id"].fillna("").astype(str).map(lambda c: of.get(c, ""))
    want = _norm(sc.province)
    return villages[(vprov == want).to_numpy()], communes[(prov == want).to_numpy()]


def _load(sc: BatchScenario) -> Any:
    """The Scenario of a batch job, reading only the DEM window it needs, with
    its ``population`` raster's window when the job has one.

    Raises
    ------
    _Skipped
        A split job without villages (nothing to audit).
    """
    scenario = _load_inputs(sc)
    if "population" not in sc.files:
        return scenario
    from deadzone.app.scenario import with_population

    return with_population(scenario, sc.files["population"],
                           village_population_km=sc.village_population_km,
                           persons_per_household=sc.persons_per_household)


def _load_inputs(sc: BatchScenario) -> Any:
    """The Scenario of a batch job before its population raster."""
    if sc.demo_seed is not None:
        from deadzone.data.demo import demo_scenario

        return demo_scenario(sc.demo_seed)
    if "scenario" in sc.files:
        from deadzone.data.io import load_scenario

        return load_scenario(sc.files["scenario"])
    from deadzone.app.scenario import window_scenario
    from deadzone.data.loaders import load_towers, load_villages
    from deadzone.model.bounds import reach_bounds, union_bounds

    towers = load_towers(sc.files["towers"], default_tech=sc.default_tech)
    villages = load_villages(sc.files["villages"])
    communes = None
    split = sc.province is not None or sc.tile is not None
    if sc.province is not None:
        villages, communes = _split_villages(sc, villages, towers)
        if not len(villages):
            reach = _meets(reach_bounds(communes, sc.radius_km), _lonlat_box(sc.files["dem"]))
            raise _Skipped("no villages" if reach or sc.province == "" else "outside DEM")
    elif sc.tile is not None:
        keep = _tile_mask(villages, sc.tile)
        villages = _assign_as_audit(sc, villages, towers)[keep]
    if split:
        # The job's villages grown by the halo = radius_km: towers that far outside
        # still serve them, nothing further can; no worker reads more DEM.
        bounds = reach_bounds(villages, sc.radius_km)
        if bounds is not None:
            towers = towers.cx[bounds[0] : bounds[2], bounds[1] : bounds[3]]
        have = _lonlat_box(sc.files["dem"])
        if not _meets(bounds, have):
            # Villages, but none on the DEM: audit them all as unknown / outside_dem (as
            # the unsplit audit does) on a token window of a few cells at the DEM's centre.
            cx, cy = (have[0] + have[2]) / 2.0, (have[1] + have[3]) / 2.0
            bounds = (cx - 1e-3, cy - 1e-3, cx + 1e-3, cy + 1e-3)
    else:
        bounds = union_bounds(reach_bounds(villages, 0.0), reach_bounds(towers, sc.radius_km))
    # split jobs keep the commune each village got from the whole-scenario assignment
    return window_scenario(
        sc.files["dem"],
        sc.files["communes"],
        villages,
        towers,
        bounds_lonlat=bounds,
        dem_resolution_m=sc.dem_resolution_m,
        communes=communes,
        assign=not split,
        name=sc.name,
        meta={"inputs": {k: {"path": shown_source(p) if is_pg_url(p) else str(Path(p).resolve())}
                         for k, p in sc.files.items()}},
    )


def _row(
    sc: BatchScenario,
    summary: dict[str, Any] | None,
    wall_s: float,
    error: str | None,
    skipped: str | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "scenario": sc.name,
        "status": "failed" if error else ("skipped" if skipped else "ok"),
        "error": error or "",
        "note": skipped or "",
        "province": sc.province or "",
        "model": sc.model,
        "radius_km": sc.radius_km,
        "threshold_dbm": sc.threshold_dbm,
        "indoor_margin_db": sc.indoor_margin_db,
    }
    s = summary or {}
    for k in (*TOTAL_COUNTS, "towers", "towers_computed"):
        row[k] = s.get(k)
    tot, cov = s.get("villages_total"), s.get("villages_covered")
    row["covered_pct"] = round(100.0 * cov / tot, 2) if tot else None
    ptot, pcov = s.get("population_total"), s.get("population_covered")
    row["population_covered_pct"] = round(100.0 * pcov / ptot, 2) if ptot else None
    people = s.get("population_raster")
    if people is not None:  # a population raster: the people in covered cells
        row["people_raster"] = people["people_total"]
        row["people_covered"] = people["people_covered"]
        row["people_covered_pct"] = (round(100.0 * people["people_covered"]
                                           / people["people_total"], 2)
                                     if people["people_total"] > 0 else None)
    for reason, n in sorted(s.get("reasons", {}).items()):
        row[f"reason_{reason}"] = n
    row["wall_s"] = round(wall_s, 3)
    return row


def _rmtree_quiet(p: Path) -> None:
    shutil.rmtree(p, ignore_errors=True)


def run_scenario(
    sc: BatchScenario, out_dir: str | os.PathLike[str], *, n_threads: int | None = None
) -> dict[str, Any]:
    """Audit one scenario into ``out_dir/<name>/`` atomically; never raises.

    Returns
    -------
    dict
        The batch-summary row: ``status`` ``ok``, ``failed`` (with ``error``)
        or ``skipped`` (a split job with no villages; ``note`` says
        ``no villages`` or ``outside DEM``; no folder is written and a stale
        one from an earlier run is removed).
    """
    from deadzone.app.audit import add_settlements
    from deadzone.geo.audit import audit
    from deadzone.geo.coverage import EngineParams
    from deadzone.geo.export import write_audit
    from deadzone.model.thresholds import Thresholds

    out = Path(out_dir)
    final = out / sc.name
    tmp = out / f".{sc.name}.tmp-{secrets.token_hex(4)}"
    t0 = time.perf_counter()
    try:
        fp = sc.fingerprint()
        try:
            scenario = _load(sc)
        except _Skipped as skip:
            if final.exists():  # from a run before the inputs changed: no longer a result
                old = out / f".{sc.name}.old-{secrets.token_hex(4)}"
                os.replace(final, old)
                _rmtree_quiet(old)
            return _row(sc, None, time.perf_counter() - t0, None, str(skip))
        thr = (
            Thresholds(indoor_margin_db=sc.indoor_margin_db)
            if sc.threshold_dbm is None
            else Thresholds.uniform(sc.threshold_dbm, indoor_margin_db=sc.indoor_margin_db)
        )
        calibration = None
        if "calibration" in sc.files:
            from deadzone.app.calibrate import load_calibration

            calibration = load_calibration(sc.files["calibration"])
            if sc.confidence is not None:
                thr = thr.at_confidence(sc.confidence, calibration.sigma_db)
        clutter = None
        if "landcover" in sc.files:
            from deadzone.geo.clutter import load_landcover

            clutter = load_landcover(sc.files["landcover"], scenario.dem)
        result = audit(
            scenario,
            params=EngineParams(model=sc.model, radius_km=sc.radius_km, rx_height_m=sc.rx_height_m,
                                calibration=calibration),
            thresholds=thr,
            n_threads=n_threads,
            clutter=clutter,
            rasters=sc.rasters,
        )
        add_settlements(result, scenario, thresholds=thr)
        tmp.mkdir(parents=True)
        write_audit(result, tmp, overwrite=True)
        row = _row(sc, result.summary, time.perf_counter() - t0, None)
        write_json(tmp / MANIFEST,
                   {"format": "deadzone-batch-scenario", "version": 1,
                    "deadzone_version": __version__, **fp,
                    "outputs": _outputs(tmp, known=_summary_outputs(tmp)),
                    "row": {k: v for k, v in row.items() if k not in TIMING_COLUMNS}})
        if final.exists():  # --overwrite: move the old folder aside, then swap in
            old = out / f".{sc.name}.old-{secrets.token_hex(4)}"
            os.replace(final, old)
            os.replace(tmp, final)
            _rmtree_quiet(old)
        else:
            os.replace(tmp, final)
        return row
    except Exception as exc:  # noqa: BLE001 - a failed scenario must not stop the batch
        _rmtree_quiet(tmp)
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        return _row(sc, None, time.perf_counter() - t0, msg)


def _outputs(folder: Path, *, known: dict[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of every file of a scenario's output folder but its manifest;
    those in ``known`` (just computed, e.g. the audit summary's list) are
    taken from it instead of read again."""
    from deadzone.data.loaders import file_checksum

    known = known or {}
    out = {}
    for q in sorted(folder.rglob("*")):
        if q.is_file() and q.name != MANIFEST:
            name = q.relative_to(folder).as_posix()
            out[name] = known.get(name) or file_checksum(q)
    return out


def _summary_outputs(folder: Path) -> dict[str, str]:
    """The checksums the audit's ``summary.json`` lists (written a moment ago)."""
    doc = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return dict(doc.get("outputs") or {})


def _complete(sc: BatchScenario, out: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The recorded row if ``out/<name>`` holds a complete, up-to-date result,
    else ``(None, why)``: why a folder that is there is not kept (None when
    there is nothing to keep)."""
    from deadzone.geo.export import TABLE_FILES

    d = out / sc.name
    try:
        man = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, ("no readable manifest" if d.exists() else None)
    missing = [f for f in TABLE_FILES if not (d / f).is_file()]
    if missing:
        return None, f"{missing[0]} is missing"
    fp = json.loads(json.dumps(sc.fingerprint(), default=json_default))
    if man.get("parameters") != fp["parameters"] or man.get("checksums") != fp["checksums"]:
        return None, "its inputs or parameters changed"
    if man.get("deadzone_version") != __version__:
        return None, f"written by deadzone {man.get('deadzone_version') or 'before 0.1.0'}"
    recorded = man.get("outputs") or {}
    now = _outputs(d)
    changed = sorted(k for k in recorded if now.get(k) != recorded[k])
    if not recorded or changed:
        return None, (f"{changed[0]} changed since it was written" if changed
                      else "its manifest lists no output checksums")
    return man.get("row"), None


def _init_worker(n_threads: int, parent_pid: int | None = None) -> None:
    os.environ["NUMBA_NUM_THREADS"] = str(n_threads)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if parent_pid is not None:
        _die_with_parent(parent_pid)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel end this worker when the batch process dies (Linux
    ``prctl(PR_SET_PDEATHSIG, SIGTERM)``): a ``kill -9`` of ``deadzone batch``
    must not leave its workers finishing the queue and racing a ``--resume``.
    Elsewhere a no-op (the pool's own shutdown still applies)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class _FolderLock:
    """An exclusive lock on a batch output folder (``flock`` on
    ``.deadzone-batch.lock``, holding the owner's PID): a second batch into the
    same folder stops with one line naming the holder instead of racing it.
    The kernel releases the lock when its holder dies, however it dies."""

    NAME = ".deadzone-batch.lock"

    def __init__(self, out: Path) -> None:
        self.path = out / self.NAME
        self.fh: Any = None

    def __enter__(self) -> _FolderLock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until __exit__
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise OutputExistsError(
                f"{self.path.parent}: another deadzone batch (PID {holder}) is writing this "
                "folder; wait for it to finish or stop it"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self.fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()  # releases the flock
            self.path.unlink(missing_ok=True)


def _one_line_warnings(job: str) -> Callable[..., None]:
    """``warnings.showwarning`` for a worker process: ``warning: <job>: <message>``
    on one line (as the CLI prints warnings), not Python's ``file.py:261:
    DeadzoneWarning: ...`` with the source line."""

    def show(message: Any, category: type, filename: str, lineno: int,
             file: Any = None, line: Any = None) -> None:
        text = warning_text(message, category)
        if text is not None:
            print(f"warning: {job}: {text}", file=sys.stderr, flush=True)

    return show


def _pool_job(sc: BatchScenario, out: str, n_threads: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _one_line_warnings(sc.name)
        return run_scenario(sc, out, n_threads=n_threads)


def _dask_job(sc: BatchScenario, out: str) -> dict[str, Any]:
    """A scenario on a Dask worker: its cores shared among the worker's task threads."""
    try:
        from distributed import get_worker

        per_task = max(1, (os.cpu_count() or 1) // max(1, get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):  # not on a worker (direct call)
        per_task = None
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _one_line_warnings(sc.name)
        return run_scenario(sc, out, n_threads=per_task)


def _execute_dask(
    client: Any,
    todo: list[BatchScenario],
    out: Path,
    done_cb: Callable[[dict[str, Any]], None],
) -> None:
    """One Dask task per scenario; rows are reported as tasks finish."""
    from dask.distributed import as_completed

    futs = [
        client.submit(
            _dask_job,
            sc,
            str(out),
            key=f"deadzone-batch-{sc.name}-{secrets.token_hex(4)}",
            pure=False,
        )
        for sc in todo
    ]
    for fut in as_completed(futs):
        done_cb(fut.result())


def _execute(
    todo: list[BatchScenario],
    out: Path,
    scheduler: Any,
    workers: int,
    done_cb: Callable[[dict[str, Any]], None],
) -> None:
    if scheduler is not None:
        from dask.distributed import Client

        if isinstance(scheduler, str):
            with Client(scheduler) as client:
                _execute_dask(client, todo, out, done_cb)
        else:  # a Client the caller owns (and closes)
            _execute_dask(scheduler, todo, out, done_cb)
        return
    cores = os.cpu_count() or 1
    threads = max(1, cores // workers)
    if workers == 1 or len(todo) <= 1:
        for sc in todo:
            done_cb(run_scenario(sc, out, n_threads=threads))
        return
    ctx = multiprocessing.get_context("spawn")  # fresh numba thread pool per worker
    with cf.ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    ) as pool:
        futs = [pool.submit(_pool_job, sc, str(out), threads) for sc in todo]
        for fut in cf.as_completed(futs):
            done_cb(fut.result())


def run_batch(
    scenarios: Iterable[BatchScenario],
    out_dir: str | os.PathLike[str],
    *,
    scheduler: Any = None,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run every scenario and write ``batch_summary.csv`` / ``.json``.

    Parameters
    ----------
    scenarios : iterable of BatchScenario
        From :func:`load_batch`.
    out_dir : path
        Batch output folder; scenario ``s`` goes to ``out_dir/s.name/``.  On a
        Dask cluster it must be on a file system every worker sees.
    scheduler : str or dask.distributed.Client, optional
        ``tcp://HOST:PORT`` of a running Dask scheduler, or a connected
        ``Client`` (left open); default: local processes.
    workers : int, optional
        Local worker processes (default: all cores).  Each gets
        ``cores // workers`` numba threads.
    resume : bool
        Skip scenarios whose complete output exists with the same input
        checksums and parameters (see ``batch_manifest.json``).
    overwrite : bool
        Recompute and replace existing scenario folders and summaries.
    progress : callable, optional
        ``progress(done, total)`` after each scenario.

    Returns
    -------
    DataFrame
        One row per scenario, in input order (see ``batch_summary.csv``), with
        ``wall_s``, the scenario's run time (s; NaN for scenarios kept by
        ``resume``), which is written to ``batch_timings.csv`` only: every other
        output of the same inputs is byte-identical from run to run.

    Raises
    ------
    OutputExistsError
        If outputs exist and neither ``resume`` nor ``overwrite`` is set, or
        another batch is writing the folder (its PID is named).
    """
    scs = list(scenarios)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _FolderLock(out):
        return _run_locked(scs, out, scheduler=scheduler, workers=workers,
                           overwrite=overwrite, resume=resume, progress=progress)


def _run_locked(
    scs: list[BatchScenario],
    out: Path,
    *,
    scheduler: Any,
    workers: int | None,
    overwrite: bool,
    resume: bool,
    progress: Callable[[int, int], None] | None,
) -> pd.DataFrame:
    """:func:`run_batch` once it holds the folder's lock (stale temporaries are
    cleaned only then: they could be another live run's)."""
    for stale in out.glob(".*.tmp-*"):  # left by a killed run; never a result
        _rmtree_quiet(stale)
    for stale in out.glob(".*.old-*"):
        # A run killed between moving the old result aside and swapping the new
        # one in left no folder under the name: put the old, complete one back.
        name = stale.name[1:].rsplit(".old-", 1)[0]
        if stale.is_dir() and name and not (out / name).exists():
            os.replace(stale, out / name)
        else:
            _rmtree_quiet(stale)
    rows: dict[str, dict[str, Any]] = {}
    todo: list[BatchScenario] = []
    redo: list[str] = []
    for sc in scs:
        if resume:
            row, why = _complete(sc, out)
            if row is not None:
                rows[sc.name] = row
                continue
            if why:
                redo.append(f"{sc.name} ({why})")
        if (out / sc.name).exists() and not (overwrite or resume):
            raise OutputExistsError(
                f"{out / sc.name} already exists; pass --resume to keep "
                "finished scenarios or --overwrite to recompute them"
            )
        todo.append(sc)
    if redo:
        shown = "; ".join(redo[:5]) + (f"; ... ({len(redo)} in all)" if len(redo) > 5 else "")
        warnings.warn(f"{out}: --resume recomputes {len(redo)} scenario(s) whose output "
                      f"is not kept: {shown}", DeadzoneWarning, stacklevel=3)
    if not (overwrite or resume):
        clash = [n for n in SUMMARY_FILES if (out / n).exists()]
        if clash:
            raise OutputExistsError(
                f"{out / clash[0]} already exists; pass --resume or --overwrite"
            )
    total = len(scs)
    if progress:
        progress(len(rows), total)

    def done(row: dict[str, Any]) -> None:
        rows[row["scenario"]] = row
        if progress:
            progress(len(rows), total)

    _execute(todo, out, scheduler, workers or (os.cpu_count() or 1), done)
    for stale in out.glob(".*.tmp-*"):  # a worker killed mid-scenario (Dask retries elsewhere)
        _rmtree_quiet(stale)
    df = pd.DataFrame([rows[sc.name] for sc in scs])
    for col in [c for c in df.columns if c.startswith("reason_")]:
        df[col] = df[col].where(df["status"] != "ok", df[col].fillna(0)).astype("Int64")
    _write_summary(df, out)
    return df


def _write_summary(df: pd.DataFrame, out: Path) -> None:
    from deadzone.data.io import atomic_path

    timings = df[["scenario", "status", *[c for c in TIMING_COLUMNS if c in df.columns]]]
    with atomic_path(out / "batch_timings.csv") as tmp:
        timings.to_csv(tmp, index=False, encoding="utf-8")
    df = df.drop(columns=[c for c in TIMING_COLUMNS if c in df.columns])
    with atomic_path(out / "batch_summary.csv") as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8")
    ok = df["status"] == "ok"
    skipped = df["status"] == "skipped"
    agg = {
        k: int(pd.to_numeric(df.loc[ok, k]).sum())
        for k in (
            "villages_total",
            "villages_covered",
            "population_total",
            "population_covered",
            "households_total",
            "households_covered",
        )
        if k in df.columns
    }
    doc = {
        "scenarios": int(len(df)),
        "ok": int(ok.sum()),
        "skipped": int(skipped.sum()),
        "failed": int((~ok & ~skipped).sum()),
        "totals_ok": agg,
        "rows": json.loads(df.to_json(orient="records")),
    }
    write_json(out / "batch_summary.json", doc)
