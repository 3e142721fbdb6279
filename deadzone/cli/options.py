"""Options shared by several subcommands, and the run-and-report helper."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from deadzone.errors import ParameterError
from deadzone.geo.coverage import EngineParams
from deadzone.kernels.coverage import MODELS
from deadzone.kernels.itm import CLIMATES, GROUNDS, ItmSettings
from deadzone.model.calibration import Calibration
from deadzone.model.defaults import (
    DEFAULT_MODEL,
    DEFAULT_RADIUS_KM,
    DEFAULT_RX_HEIGHT_M,
    RADIUS_KM_RANGE,
)
from deadzone.model.thresholds import Thresholds, status_labels

__all__ = [
    "VECTOR",
    "OutDb",
    "out_db_options",
    "run_options",
    "EngineOptions",
    "PopulationOptions",
    "SiteOptions",
    "read_points",
    "site_options",
    "out_dir_option",
    "engine_options",
    "population_options",
    "thresholds_from",
    "progress_bar",
    "run_audit_and_write",
    "load_scenario_dir",
    "session_options",
    "settlement_options",
    "whatif_session",
]


def _with_options(f: Callable[..., Any],
                  decorators: list[Callable[..., Any]]) -> Callable[..., Any]:
    """``f`` under click option ``decorators``, listed in the order ``--help`` shows them."""
    for dec in reversed(decorators):
        f = dec(f)
    return f


class VectorSource(click.ParamType):
    """A vector input: an existing file, or a ``postgresql://`` URL with
    ``?table=schema.name`` or ``?sql=SELECT ...`` (docs/POSTGIS.md)."""

    name = "FILE|URL"

    def __init__(self, *, dir_okay: bool = False) -> None:
        self.dir_okay = dir_okay

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path | str:
        from deadzone.data.postgis import PgUrl, is_pg_url

        if is_pg_url(value):
            try:
                u = PgUrl.parse(value)
            except ParameterError as exc:
                self.fail(str(exc), param, ctx)
            if (u.table is None) == (u.sql is None):
                self.fail(f"{u.shown}: give ?table=schema.name or ?sql=SELECT... "
                          "(docs/POSTGIS.md)", param, ctx)
            return str(value)
        return click.Path(exists=True, dir_okay=self.dir_okay, path_type=Path).convert(
            value, param, ctx)


#: A vector input option's type: a file or a ``postgresql://`` table or query.
VECTOR = VectorSource()


@dataclass(frozen=True)
class OutDb:
    """``--out-db`` and its companions (:func:`out_db_options`).

    Attributes
    ----------
    url : str or None
        ``postgresql://...[?schema=NAME]``; None writes files only.
    mode : str
        ``append`` (keep other runs) or ``replace`` (only this run remains).
    run_id : str or None
        Explicit run id; default from the inputs and parameters.
    """

    url: str | None = None
    mode: str = "append"
    run_id: str | None = None

    def check(self) -> None:
        """Connect once now, so a wrong password fails before the computing."""
        if self.url is not None:
            from deadzone.app.out_db import check_sink

            check_sink(self.url)

    def publish(self, command: str, tables: dict[str, Any], summary: dict[str, Any], *,
                quiet: bool = False) -> None:
        """Write ``tables`` and the run's row (nothing without ``--out-db``)."""
        if self.url is None:
            return
        from deadzone.app.out_db import publish

        rep = publish(self.url, command=command, tables=tables, summary=summary,
                      options=run_options(), run_id=self.run_id, mode=self.mode)
        if not quiet:
            click.echo(rep.line())


#: Options that do not change what a command computes (kept out of its run id).
_NOT_RUN_OPTIONS = frozenset({"out_dir", "overwrite", "quiet", "debug", "out_db_url",
                              "out_db_mode", "run_id", "threads", "max_memory", "workers",
                              "scheduler", "resume"})


def run_options() -> dict[str, Any]:
    """The current command's options as ``runs.options`` records them (database
    URLs without passwords; paths as text), without those that change nothing."""
    from deadzone.data.postgis import shown_source

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return {}
    return {k: shown_source(v) if isinstance(v, str | Path) else v
            for k, v in sorted(ctx.params.items()) if k not in _NOT_RUN_OPTIONS}


def out_db_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--out-db URL``, ``--out-db-mode``, ``--run-id``, given to the command as ``out_db``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["out_db"] = OutDb(kwargs.pop("out_db_url"), kwargs.pop("out_db_mode"),
                                 kwargs.pop("run_id"))
        return f(*args, **kwargs)

    return _with_options(wrapper, [
        click.option("--out-db", "out_db_url", metavar="URL", default=None,
                     envvar="DEADZONE_OUT_DB", show_envvar=True,
                     help="Also write the result tables into PostgreSQL/PostGIS, e.g. "
                          "postgresql://user@host/db?schema=deadzone (one transaction, a "
                          "run id per run, a row in <schema>.runs; docs/POSTGIS.md). The "
                          "password comes from the URL, PGPASSWORD or ~/.pgpass and is "
                          "never printed or written."),
        click.option("--out-db-mode", type=click.Choice(["append", "replace"]),
                     default="append", show_default=True,
                     help="append: keep other runs' rows (a re-run with the same run id "
                          "replaces its own); replace: leave only this run in the tables."),
        click.option("--run-id", default=None, metavar="TEXT",
                     help="Run id of --out-db rows (default: the command and a hash of its "
                          "inputs and parameters)."),
    ])


#: ``--out DIR`` (required), the output folder of every command that writes one.
out_dir_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Output folder.",
)

#: ``--scenario DIR`` of ``whatif``, ``place`` and ``serve`` (see :func:`load_scenario_dir`).
scenario_option = click.option(
    "--scenario", "scenario_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="What to start from: a `deadzone audit` or `deadzone demo` output folder, or a "
         "scenario folder (dem.tif, villages, communes, towers). An audit folder's inputs "
         "are read again from the paths in its summary.json.",
)


def landcover_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--landcover FILE``: clutter loss per ITU-R P.2108 §3.1 from a land-cover raster."""
    return click.option(
        "--landcover", "landcover_path", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path), default=None,
        help="Land-cover raster (ESA WorldCover class codes) for terminal clutter loss "
             "(ITU-R P.2108 §3.1): handsets in trees/built-up/fields are computed at the "
             "clutter height and get the clutter loss down to --rx-height-m.")(f)


@dataclass(frozen=True)
class PopulationOptions:
    """What :func:`population_options` gives a command.

    Attributes
    ----------
    path : Path or None
        ``--population-raster``: people per cell (WorldPop, HRSL, GHSL, ...).
    village_km : float or None
        ``--village-population-from-raster KM``: catchment radius (km) from
        which villages without population take it.
    persons_per_household : float or None
        ``--persons-per-household`` (None: the loaders' default, 3.5).
    """

    path: Path | None = None
    village_km: float | None = None
    persons_per_household: float | None = None

    def keywords(self) -> dict[str, Any]:
        """The keywords of :func:`deadzone.app.scenario.load_audit_scenario`."""
        return {"population_path": self.path, "village_population_km": self.village_km,
                "persons_per_household": self.persons_per_household}

    def apply(self, scenario: Any) -> Any:
        """``scenario`` with the raster (:func:`deadzone.app.scenario.with_population`);
        unchanged without ``--population-raster``."""
        if self.path is None:
            return scenario
        from deadzone.app.scenario import with_population

        return with_population(scenario, self.path, village_population_km=self.village_km,
                               persons_per_household=self.persons_per_household)


def population_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--population-raster``, ``--village-population-from-raster`` and
    ``--persons-per-household``; the command gets ``population: PopulationOptions``."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = PopulationOptions(path=kwargs.pop("population_path"),
                                 village_km=kwargs.pop("village_population_km"),
                                 persons_per_household=kwargs.pop("persons_per_household"))
        if opts.path is None and (opts.village_km is not None
                                  or opts.persons_per_household is not None):
            raise click.UsageError("--village-population-from-raster and "
                                   "--persons-per-household need --population-raster")
        if opts.persons_per_household is not None and opts.village_km is None:
            raise click.UsageError("--persons-per-household needs "
                                   "--village-population-from-raster")
        kwargs["population"] = opts
        return f(*args, **kwargs)

    decorators = [
        click.option(
            "--population-raster", "population_path", default=None,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Gridded population raster, people per cell (WorldPop, HRSL, GHSL: any "
                 "one-band GDAL raster with a CRS; nodata as declared, NaN too).  Its people "
                 "are put on the DEM grid by area and counted per commune, district and "
                 "province in covered, marginal and dead cells (people_* columns, "
                 "summary.json's population_raster).  The area sweep then runs even with "
                 "--no-rasters.  See docs/POPULATION.md."),
        click.option(
            "--village-population-from-raster", "village_population_km",
            type=click.FloatRange(0.01, 50), default=None, metavar="KM",
            help="Villages whose population is 0 or missing take the people of the raster "
                 "cells nearest them within KM (each cell counted once, for the nearest "
                 "listed village); villages.* get a population_source column "
                 "(input/raster).  Needs --population-raster."),
        click.option(
            "--persons-per-household", type=click.FloatRange(0.5, 50), default=None,
            help="Households of a village given its population from the raster: "
                 "population / this [default: 3.5].  Needs "
                 "--village-population-from-raster."),
    ]
    return _with_options(wrapper, decorators)


@dataclass(frozen=True)
class EngineOptions:
    """What :func:`engine_options` gives a command: the engine, thresholds and threads.

    Attributes
    ----------
    params : EngineParams
        Model, radius (km), handset height (m) and ITM settings; ``k_factor``
        and ``floor_dbm`` keep their defaults (no CLI option sets them).
    thresholds : Thresholds
        Covered / marginal thresholds per technology (dBm), with the indoor
        margin (dB) added.
    threads : int or None
        Worker threads (None: all cores).
    """

    params: EngineParams
    thresholds: Thresholds
    threads: int | None = None


def _collect_engine(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the engine, threshold, ``--itm-*`` and ``--threads`` options into one
    ``engine: EngineOptions`` argument (``overwrite`` and ``quiet`` stay separate)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        eps, sigma = GROUNDS[kwargs.pop("itm_ground")]
        itm = ItmSettings(
            climate=CLIMATES[kwargs.pop("itm_climate")],
            n0=kwargs.pop("itm_n0"),
            epsilon=eps,
            sigma=sigma,
            pol=0 if kwargs.pop("itm_polarization") == "horizontal" else 1,
            location_pct=kwargs.pop("itm_location_pct"),
            time_pct=kwargs.pop("itm_time_pct"),
        )
        calibration = _calibration(kwargs.pop("calibration_path"))
        model = kwargs.pop("model")
        if calibration is not None:
            ctx = click.get_current_context()
            given = ctx.get_parameter_source("model") == click.core.ParameterSource.COMMANDLINE
            if given and model != calibration.model:
                raise ParameterError(
                    f"--model {model} but the calibration was made for {calibration.model}; "
                    f"drop --model (the calibration's model is used) or calibrate {model}")
            model = calibration.model
        thresholds = thresholds_from(kwargs.pop("threshold_dbm"), kwargs.pop("indoor_margin_db"))
        confidence = kwargs.pop("confidence")
        if confidence is not None:
            if calibration is None:
                raise ParameterError("--confidence needs --calibration: its residual sigma is "
                                     "the location variability the probability comes from")
            thresholds = thresholds.at_confidence(confidence, calibration.sigma_db)
        kwargs["engine"] = EngineOptions(
            params=EngineParams(model=model, radius_km=kwargs.pop("radius_km"),
                                rx_height_m=kwargs.pop("rx_height_m"), itm=itm,
                                calibration=calibration),
            thresholds=thresholds,
            threads=kwargs.pop("threads"),
        )
        return f(*args, **kwargs)

    return wrapper


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Coverage-engine and threshold options.

    The command gets ``engine: EngineOptions``, ``overwrite: bool`` and
    ``quiet: bool``.
    """
    d = ItmSettings()
    decorators = [
        click.option("--model", type=click.Choice(list(MODELS)), default=DEFAULT_MODEL,
                     show_default=True,
                     help="Propagation model: itm = Longley-Rice Irregular Terrain Model "
                          "(NTIA ITM 1.4 method) on each tower-village path and along "
                          "radials for rasters; p526 = free space + ITU-R "
                          "P.526-15 general-path diffraction (delta-Bullington: multiple-edge "
                          "Bullington + spherical earth; uses the --itm-ground constants and "
                          "--itm-polarization); knife = free space + one equivalent knife "
                          "edge (P.526 Bullington construction) with earth curvature; "
                          "fspl = free space; hata-* = Okumura-Hata (150-1500 MHz) by "
                          "environment; cost231 / cost231-metro = COST-231 Hata (1500-2000 MHz).  "
                          "Publish figures with itm (median of time, locations and situations; "
                          "outdoor handset; see the README's 'Which model'): knife keeps one "
                          "edge and is optimistic behind several ridges (demo: 86.5% covered "
                          "vs 32.5% with itm); Hata/COST-231 ignore the terrain profile."),
        click.option("--radius-km", type=click.FloatRange(*RADIUS_KM_RANGE),
                     default=DEFAULT_RADIUS_KM,
                     show_default=True, help="Computation radius around each tower (km)."),
        click.option("--rx-height-m", type=click.FloatRange(0.1, 100),
                     default=DEFAULT_RX_HEIGHT_M,
                     show_default=True, help="Handset height above ground (m)."),
        click.option("--threshold-dbm", type=float, default=None,
                     help="One covered threshold for every technology (dBm); marginal is "
                          "10 dB below. Default: 2G/3G -100 dBm level, 4G/5G -110 dBm RSRP."),
        click.option("--indoor-margin-db", type=click.FloatRange(0, 60), default=0.0,
                     show_default=True, help="Building penetration margin added to thresholds."),
        click.option("--itm-climate", type=click.Choice(list(CLIMATES)),
                     default=next(k for k, v in CLIMATES.items() if v == d.climate),
                     show_default=True, help="ITM radio climate."),
        click.option("--itm-n0", type=click.FloatRange(250, 400), default=d.n0,
                     show_default=True, help="ITM sea-level surface refractivity (N-units)."),
        click.option("--itm-ground", type=click.Choice(list(GROUNDS)), default="average",
                     show_default=True,
                     help="Ground constants for ITM and p526: average (eps 15, 0.005 S/m), "
                          "poor, good, fresh-water, sea-water."),
        click.option("--itm-polarization", type=click.Choice(["vertical", "horizontal"]),
                     default="vertical", show_default=True,
                     help="Antenna polarization (ITM and p526)."),
        click.option("--itm-location-pct", type=click.FloatRange(1, 99), default=d.location_pct,
                     show_default=True,
                     help="ITM location quantile (%): 90 = the level reached at 90% of "
                          "locations (a conservative map)."),
        click.option("--itm-time-pct", type=click.FloatRange(1, 99), default=d.time_pct,
                     show_default=True, help="ITM time quantile (%)."),
        click.option("--calibration", "calibration_path", default=None,
                     type=click.Path(exists=True, path_type=Path),
                     help="calibration.json from `deadzone calibrate` (or its folder): its "
                          "model and its corrections (per technology, distance and clutter "
                          "class) are applied to every prediction."),
        click.option("--confidence", type=click.FloatRange(50, 99.9), default=None,
                     metavar="PCT",
                     help="Status at this probability instead of the median prediction: "
                          "thresholds are raised by z * sigma, sigma the calibration's "
                          "residual spread (log-normal location variability); villages get "
                          "p_covered. Needs --calibration."),
        click.option("--threads", type=click.IntRange(1, 256), default=None,
                     help="Worker threads (default: all cores). Results do not depend on it."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary."),
    ]
    return _with_options(_collect_engine(f), decorators)


def _calibration(path: Path | None) -> Calibration | None:
    """The calibration of ``--calibration`` (a calibration.json or its folder)."""
    if path is None:
        return None
    from deadzone.app.calibrate import load_calibration

    return load_calibration(path)


def thresholds_from(threshold_dbm: float | None, indoor_margin_db: float) -> Thresholds:
    """Thresholds from the CLI options."""
    if threshold_dbm is None:
        return Thresholds(indoor_margin_db=indoor_margin_db)
    return Thresholds.uniform(threshold_dbm, indoor_margin_db=indoor_margin_db)


def coverage_label(label: str, *, sweep: bool = True) -> str:
    """A progress label that says when the kernels still have to compile.

    Numba compiles the propagation kernels for this machine on their first
    use and caches them; that first run spends ~20 s compiling.  Known from
    the cache indexes of the exact-path kernel and (``sweep``: the run makes
    area rasters) the area sweep, a Numba internal: if it moves, no note,
    nothing else changes.
    """
    try:
        from deadzone.kernels.paths import kernels_compiled

        if kernels_compiled(sweep=sweep):
            return label
    except Exception:  # noqa: BLE001 - any change in Numba's internals: no note
        return label
    return f"{label}: compiling the kernels for this machine (first run only, ~20 s)"


class progress_bar:  # noqa: N801 - used like a function in a with-statement
    """A rich progress bar fed by ``(done, total)`` callbacks, with the time
    elapsed and an estimate of the time left (on stderr; nothing when quiet)."""

    def __init__(self, description: str, *, quiet: bool) -> None:
        self.description = description
        self.quiet = quiet
        self._progress = None
        self._task = None

    def __enter__(self) -> Callable[[int, int], None]:
        """The ``update(done, total)`` callback; ``update.describe(text)`` renames
        the bar and restarts it (a command of several stages)."""
        if self.quiet:
            def silent(done: int, total: int) -> None:
                return None

            silent.describe = lambda text: None  # type: ignore[attr-defined]
            return silent
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # elapsed and remaining: a long tiled run says how long it has left
        self._progress = Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), "eta", TimeRemainingColumn(), console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=None)

        def update(done: int, total: int) -> None:
            self._progress.update(self._task, completed=done, total=total)

        def describe(text: str) -> None:
            self._progress.update(self._task, description=text, completed=0, total=None)

        update.describe = describe  # type: ignore[attr-defined]
        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def load_scenario_dir(path: Path) -> Any:
    """:func:`deadzone.app.scenario.load_scenario_dir` (here for the commands' imports)."""
    from deadzone.app.scenario import load_scenario_dir as load

    return load(path)


def session_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--max-memory`` and ``--max-towers`` of a what-if session (``whatif``, ``serve``)."""
    f = click.option(
        "--max-towers", type=click.IntRange(1, None), default=None, metavar="N",
        help="Most towers the session holds, existing and added (default 20,000); an add "
             "beyond it is refused.")(f)
    return click.option(
        "--max-memory", default=None, metavar="SIZE",
        help="Memory the session may use, e.g. 4GB, 1.5GiB or 25% (default: 50% of "
             "physical memory). Towers' coverage windows beyond it are compressed without "
             "loss, then dropped, least recently used first, and read back or recomputed "
             "when an edit nearby needs them: results are the same, such an edit is "
             "slower. When the windows do not all fit, the budget also holds the ranks "
             "kept per cell (the third and fourth best servers), which spare most "
             "edits reading other towers' coverage.")(f)


def whatif_session(
    scenario_dir: Path,
    engine: EngineOptions,
    *,
    quiet: bool,
    label: str = "coverage (towers)",
    check: Callable[[Any], None] | None = None,
    max_memory: str | None = None,
    max_towers: int | None = None,
    population: PopulationOptions | None = None,
) -> tuple[Any, Any]:
    """Load a scenario folder and compute its what-if session (with a progress bar).

    The common start of ``whatif``, ``place`` and ``serve``.  Returns
    ``(scenario, session)``; the thresholds are ``engine.thresholds``.
    ``check(scenario)``, if given, runs before the session's coverage is
    computed, so that a bad request fails at once instead of after it.
    ``max_memory`` (a ``--max-memory`` size) and ``max_towers`` bound the session.
    ``population`` (``--population-raster``) is put on the scenario first.
    """
    from deadzone.geo.memory import parse_memory
    from deadzone.geo.whatif import MAX_TOWERS, Session

    budget = None if max_memory is None else parse_memory(max_memory)

    scenario = load_scenario_dir(scenario_dir)
    if population is not None:
        scenario = population.apply(scenario)
    if check is not None:
        check(scenario)
    with progress_bar(coverage_label(label), quiet=quiet) as update:
        session = Session(scenario, params=engine.params, thresholds=engine.thresholds,
                          n_threads=engine.threads, progress=update,
                          max_memory_bytes=budget, max_towers=max_towers or MAX_TOWERS)
    return scenario, session


def check_audit_out(out: Path, *, overwrite: bool) -> Path:
    """Refuse (without ``overwrite``) an output folder holding any file an audit
    writes: the audit files, districts, per-technology signal rasters and the map."""
    from deadzone.geo.export import AUDIT_FILES, DISTRICT_FILES, SIGNAL_FILES, check_output_dir

    return check_output_dir(out, (*AUDIT_FILES, *DISTRICT_FILES, *SIGNAL_FILES, "map.html"),
                            overwrite=overwrite)


def run_audit_and_write(
    scenario: Any,
    out: Path,
    engine: EngineOptions,
    *,
    overwrite: bool,
    quiet: bool,
    title: str,
    clutter: Any = None,
    rasters: bool = True,
    plain_csv: bool = False,
    settlements: Any = None,
) -> Any:
    """Audit + files + map (area rasters and map only with ``rasters``), then the summary
    (:func:`deadzone.app.audit.run_audit` with a progress bar and the map)."""
    from deadzone.app.audit import run_audit
    from deadzone.geo.export import (
        AUDIT_FILES,
        SETTLEMENT_FILES,
        TABLE_FILES,
        signal_raster_name,
    )
    check_audit_out(out, overwrite=overwrite)

    def write_map(result: Any, folder: Path) -> Path:
        # imported here: folium (and requests under it) cost ~0.3 s, and an
        # audit without rasters draws no map
        from deadzone.maps.audit_map import metric_layers
        from deadzone.maps.folium_map import coverage_map, save_map

        cov, thresholds = result.coverage, engine.thresholds
        communes = scenario.communes.merge(
            result.communes.drop(columns=["name", "province", "district"], errors="ignore"),
            on="commune_id", how="left",
        ) if len(scenario.communes) else None
        layers = metric_layers({t: c.best_dbm for t, c in cov.by_tech.items()},
                               cov.rx.best_dbm, thresholds)
        m = coverage_map(
            **layers, transform=cov.transform, crs=cov.crs,
            villages=result.villages, towers=scenario.towers, communes=communes,
            title=title, summary_lines=result.map_summary_lines(),
            status_labels=status_labels(thresholds, list(cov.by_tech)),
            coverage_classes=layers["coverage_class"] is not None,
            open_on_classes=layers["coverage_class"] is not None,
            unlisted_settlements=result.settlements,
        )
        save_map(m, folder / "map.html", overwrite=True)
        return folder / "map.html"

    run = dict(params=engine.params, thresholds=engine.thresholds, n_threads=engine.threads,
               clutter=clutter, rasters=rasters, plain_csv=plain_csv, write_map=write_map,
               settlements=settlements)
    if rasters or scenario.population is not None:
        # with a population raster the sweep runs for the people figures (no rasters written)
        label = ("coverage (towers)" if rasters else
                 "coverage (towers) for the population raster; no rasters written")
        with progress_bar(coverage_label(label), quiet=quiet) as update:
            result = run_audit(scenario, out, progress=update, **run)
    else:
        if not quiet:
            click.echo(coverage_label("villages: tower-to-village paths (no area rasters)",
                                      sweep=False) + " ...", err=True)
        result = run_audit(scenario, out, **run)
    cov = result.coverage
    if cov is None:
        outputs = ", ".join(f for f in TABLE_FILES if (out / f).exists())
        outputs += "; no rasters or map (--no-rasters)"
    else:
        signals = [signal_raster_name(t) for t in cov.by_tech]
        outputs = ", ".join((*AUDIT_FILES, *signals, "map.html"))
    if result.settlements is not None:
        outputs += ", " + ", ".join(SETTLEMENT_FILES)
    if not quiet:
        click.echo(f"{title}")
        for line in result.summary_lines():
            click.echo(f"  {line}")
        click.echo(f"outputs: {out}/ ({outputs})")
    return result


# --------------------------------------------------------------------------- candidate sites

_POINTS_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_points(path: Path | str, what: str) -> Any:
    """Points from a CSV (``lon``, ``lat`` columns), any vector file with a CRS, or
    a ``postgresql://`` table or query."""
    import geopandas as gpd
    import pandas as pd

    from deadzone.data.postgis import is_pg_url, read_frame
    from deadzone.errors import SchemaError

    if is_pg_url(path):
        return read_frame(str(path))
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path)
        for col in ("lon", "lat"):
            if col not in df.columns:
                raise SchemaError(f"{path}: {what} CSV lacks the column {col!r}")
        bad = df[["lon", "lat"]].isna().any(axis=1)
        if bad.any():
            raise SchemaError(f"{path}: row {int(bad.idxmax()) + 2}: lon/lat missing")
        return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    g = gpd.read_file(path)
    if g.crs is None:
        raise SchemaError(f"{path}: {what} file has no CRS")
    return g


@dataclass(frozen=True)
class SiteOptions:
    """What :func:`site_options` gives a command: where new sites may go and their prices.

    Attributes
    ----------
    candidates_path, exclude_path, costs_path : Path or None
        ``--candidates``, ``--exclude``, ``--costs``.
    auto : bool
        Add automatic candidates (peaks, near dead villages, commune centres,
        existing masts).
    max_candidates : int
        At most this many automatic candidates.
    min_spacing_m, height_m : float
        Spacing and mast height of automatic candidates (m).
    tech : str
        Technology of automatic candidates.
    towers_have_fiber : bool
        Existing towers are fiber-connected.
    user, exclude : GeoDataFrame or None
        The ``--candidates`` and ``--exclude`` files, read when the options
        are parsed (a bad file stops the command before any work).
    """

    candidates_path: Path | None
    exclude_path: Path | None
    costs_path: Path | None
    auto: bool
    max_candidates: int
    min_spacing_m: float
    height_m: float
    tech: str
    towers_have_fiber: bool
    user: Any = None
    exclude: Any = None

    def candidates(self, scenario: Any, baseline: Any, *, unlisted: Any = None) -> Any:
        """The candidate sites (:func:`deadzone.geo.sites.candidate_sites`); with
        ``unlisted`` settlements, the high ground near the dead ones too."""
        from deadzone.geo.sites import candidate_sites

        return candidate_sites(
            scenario, baseline=baseline, user=self.user, peaks=self.auto, near_dead=self.auto,
            commune_centres=self.auto, existing=self.auto, exclude=self.exclude,
            min_spacing_m=self.min_spacing_m, max_auto=self.max_candidates, tech=self.tech,
            height_m=self.height_m, unlisted=unlisted,
        )


def site_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Candidate-site, exclusion, costs and backhaul options (``place``, ``plan``).

    The command gets ``site_opts: SiteOptions``.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        no_auto = kwargs.pop("no_auto_candidates")
        path = kwargs.pop("candidates_path")
        if no_auto and path is None:
            raise click.UsageError("--no-auto-candidates needs --candidates")
        exclude_path = kwargs.pop("exclude_path")
        kwargs["site_opts"] = SiteOptions(  # the files are read now: a bad one stops at once
            candidates_path=path, exclude_path=exclude_path,
            user=read_points(path, "candidates") if path else None,
            exclude=read_points(exclude_path, "exclusion") if exclude_path else None,
            costs_path=kwargs.pop("costs_path"), auto=not no_auto,
            max_candidates=kwargs.pop("max_candidates"),
            min_spacing_m=kwargs.pop("min_spacing_m"), height_m=kwargs.pop("site_height_m"),
            tech=kwargs.pop("site_tech"),
            towers_have_fiber=not kwargs.pop("towers_without_fiber"),
        )
        return f(*args, **kwargs)

    decorators = [
        click.option("--candidates", "candidates_path", type=VECTOR, default=None,
                     help="Your own candidate sites: CSV with lon,lat[,candidate_id,tech,"
                          "height_m,freq_mhz,eirp_dbm] or a point layer."),
        click.option("--no-auto-candidates", is_flag=True,
                     help="Use only --candidates (no peaks, near-dead, commune-centre or "
                          "upgrade sites)."),
        click.option("--max-candidates", type=click.IntRange(1, 100_000), default=150,
                     show_default=True, help="At most this many automatic candidates."),
        click.option("--min-spacing-m", type=click.FloatRange(50, 50_000), default=1500.0,
                     show_default=True,
                     help="Minimum spacing between automatic candidates (m)."),
        click.option("--site-height-m", type=click.FloatRange(5, 150), default=30.0,
                     show_default=True, help="Mast height of automatic candidates (m)."),
        click.option("--site-tech", type=click.Choice(["2G", "3G", "4G", "5G"]), default="4G",
                     show_default=True, help="Technology of automatic candidates."),
        click.option("--exclude", "exclude_path", type=VECTOR, default=None,
                     help="Water / no-build polygons; candidates inside are never chosen."),
        click.option("--costs", "costs_path", type=_POINTS_FILE, default=None,
                     help="TOML file of prices, e.g. tower_capex_vnd = 2.0e9 (keys of "
                          "docs/PLAN.md; `deadzone plan` writes the full set it used as "
                          "plan_costs.toml)."),
        click.option("--towers-without-fiber", is_flag=True,
                     help="Existing towers are not fiber-connected (only backbone nodes are)."),
    ]
    return _with_options(wrapper, decorators)


# --------------------------------------------------------------------------- unlisted settlements


def settlement_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """What counts as an unlisted settlement in a population raster (``audit``,
    ``demo``, ``place``): ``--settlement-min-density``, ``--settlement-min-people``,
    ``--settlement-min-distance-km``.

    The command gets ``settlement_params:``
    :class:`~deadzone.geo.settlements.SettlementParams` (defaults and their
    reasons: that class and ``docs/SETTLEMENTS.md``).  They apply only when the
    scenario has a population raster.
    """
    from deadzone.geo.settlements import SettlementParams

    base = SettlementParams()

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            kwargs["settlement_params"] = SettlementParams(
                min_density_per_km2=kwargs.pop("settlement_min_density"),
                min_people=kwargs.pop("settlement_min_people"),
                min_distance_km=kwargs.pop("settlement_min_distance_km"),
            )
        except ParameterError as exc:
            raise click.BadParameter(str(exc)) from None
        return f(*args, **kwargs)

    decorators = [
        click.option("--settlement-min-density", type=click.FloatRange(0, min_open=True),
                     default=base.min_density_per_km2, show_default=True,
                     help="Unlisted settlements: a population-raster cell with at least this "
                          "many people/km² (from its own area: geographic cells shrink with "
                          "latitude) belongs to a settlement; 8-connected cells form one."),
        click.option("--settlement-min-people", type=click.FloatRange(0),
                     default=base.min_people, show_default=True,
                     help="Unlisted settlements: a cluster needs at least this many people."),
        click.option("--settlement-min-distance-km", type=click.FloatRange(0),
                     default=base.min_distance_km, show_default=True,
                     help="Unlisted settlements: every cell of a cluster must be farther than "
                          "this from every listed village (nearer, it is that village).  "
                          "Used only with a population raster."),
    ]
    return _with_options(wrapper, decorators)
