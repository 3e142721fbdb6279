"""Loading a scenario once, the same way for every command.

:func:`load_audit_scenario` is what ``deadzone audit`` reads, and what
``whatif``, ``place`` and ``serve`` rebuild from an audit's ``summary.json``
(its ``inputs`` and ``input_options``); :func:`load_scenario_dir` is every
``--scenario DIR`` (a scenario folder, a ``deadzone demo`` output or an
audit folder).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deadzone.errors import DataLoadError, DeadzoneWarning, ParameterError
from deadzone.model.bounds import reach_bounds, union_bounds
from deadzone.model.defaults import DEFAULT_RADIUS_KM
from deadzone.model.scenario import Scenario

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["load_audit_scenario", "load_scenario_dir", "window_scenario", "with_population"]


def load_audit_scenario(
    dem_path: Path,
    villages_path: Path,
    communes_path: Path,
    towers_path: Path,
    *,
    radius_km: float,
    village_id_col: str | None = None,
    village_name_col: str | None = None,
    population_col: str | None = None,
    households_col: str | None = None,
    commune_id_col: str | None = None,
    district_col: str | None = None,
    default_tech: str = "4G",
    dem_resolution_m: float | None = None,
    landcover_path: Path | None = None,
    tower_columns: dict[str, str] | None = None,
    population_path: Path | None = None,
    village_population_km: float | None = None,
    persons_per_household: float | None = None,
) -> Scenario:
    """The scenario ``deadzone audit`` reads from its input files.

    Towers and villages as given, the DEM window holding the villages and
    what the towers reach within ``radius_km``, the communes on that window,
    villages assigned to communes; ``meta`` records every input's path and
    SHA-256 and the options used to read them, so the same call on the same
    files gives the same scenario (``deadzone whatif --scenario AUDIT_OUT``
    rebuilds it this way from ``summary.json``).  ``population_path``,
    ``village_population_km`` and ``persons_per_household`` are
    :func:`with_population`'s.
    """
    from deadzone.data.loaders import load_towers, load_villages
    from deadzone.data.postgis import source_stem

    towers = load_towers(towers_path, default_tech=default_tech, columns=tower_columns)
    villages = load_villages(
        villages_path,
        id_col=village_id_col,
        name_col=village_name_col,
        population_col=population_col,
        households_col=households_col,
    )
    # Read only the DEM window holding the villages and what the towers reach.
    bounds = union_bounds(reach_bounds(villages, 0.0), reach_bounds(towers, radius_km))
    window = window_scenario(
        dem_path,
        communes_path,
        villages,
        towers,
        bounds_lonlat=bounds,
        dem_resolution_m=dem_resolution_m,
        commune_id_col=commune_id_col,
        district_col=district_col,
        name=source_stem(villages_path),
    )
    villages, communes = window.villages, window.communes
    inputs = {
        name: _input_record(p, attrs)
        for name, p, attrs in (
            ("dem", dem_path, None),
            ("villages", villages_path, villages.attrs),
            ("communes", communes_path, communes.attrs),
            ("towers", towers_path, towers.attrs),
            *([("landcover", landcover_path, None)] if landcover_path is not None else []),
        )
    }
    # How the inputs were read: with the checksums, enough to reproduce the outputs.
    input_options = {
        "village_id_col": village_id_col,
        "village_name_col": village_name_col,
        "population_col": population_col,
        "households_col": households_col,
        "commune_id_col": commune_id_col,
        "district_col": district_col,
        "default_tech": default_tech,
        "dem_resolution_m": dem_resolution_m,
        "tower_columns": dict(tower_columns or {}),
    }
    window.meta = {
        "inputs": inputs,
        "input_options": input_options,
        "repairs": {
            "villages": villages.attrs.get("repaired", 0),
            "communes": communes.attrs.get("repaired", 0),
        },
        "defaults_applied": {
            "villages": villages.attrs.get("defaults", {}),
            "towers": _defaults_summary(towers),
        },
    }
    if population_path is None:
        if village_population_km is not None:
            raise ParameterError("village_population_km needs a population raster "
                                 "(--population-raster)")
        return window
    return with_population(window, population_path, village_population_km=village_population_km,
                           persons_per_household=persons_per_household)


def with_population(
    scenario: Scenario,
    population_path: Path,
    *,
    village_population_km: float | None = None,
    persons_per_household: float | None = None,
) -> Scenario:
    """The scenario with a gridded population raster (``--population-raster``).

    The raster's window over the scenario's DEM
    (:func:`deadzone.data.loaders.load_population`) becomes
    ``Scenario.population``, so the audit counts the people in covered /
    marginal / dead cells; with ``village_population_km``, villages without
    population take it from the raster cells nearest them within that many
    km (:func:`deadzone.geo.population.village_population_from_raster`,
    households = population / ``persons_per_household``, default
    :data:`deadzone.data.loaders.PERSONS_PER_HOUSEHOLD`).  ``meta`` records the
    raster's path and SHA-256 under ``inputs["population"]`` and the two
    options in ``input_options``, so ``whatif``, ``place`` and ``serve``
    rebuild the same scenario from an audit's ``summary.json``.

    Raises
    ------
    DataLoadError, CRSError
        The raster (one line naming the file).
    ParameterError
        A catchment radius or household size that is not a positive number.
    """
    import dataclasses

    from deadzone.data.loaders import PERSONS_PER_HOUSEHOLD, load_population
    from deadzone.geo.population import village_population_from_raster

    pph = PERSONS_PER_HOUSEHOLD if persons_per_household is None else float(persons_per_household)
    pop = load_population(population_path, bounds_lonlat=scenario.dem.bounds_lonlat)
    villages = scenario.villages
    if village_population_km is not None:
        villages = village_population_from_raster(
            villages, pop, radius_km=float(village_population_km), persons_per_household=pph)
    meta = dict(scenario.meta)
    meta["inputs"] = {**meta.get("inputs", {}), "population": {
        "path": str(Path(population_path).resolve()), "sha256": pop.checksum}}
    opts = dict(meta.get("input_options", {}))
    opts["village_population_km"] = village_population_km
    opts["persons_per_household"] = pph
    meta["input_options"] = opts
    return dataclasses.replace(scenario, villages=villages, population=pop, meta=meta)


def window_scenario(
    dem_path: Path,
    communes_path: Path,
    villages: gpd.GeoDataFrame,
    towers: gpd.GeoDataFrame,
    *,
    bounds_lonlat: tuple[float, float, float, float] | None,
    dem_resolution_m: float | None = None,
    communes: gpd.GeoDataFrame | None = None,
    assign: bool = True,
    commune_id_col: str | None = None,
    district_col: str | None = None,
    name: str = "scenario",
    meta: dict[str, Any] | None = None,
) -> Scenario:
    """A scenario of loaded villages and towers on the DEM window they need.

    The one place a scenario's DEM and communes are read: ``deadzone audit``
    (through :func:`load_audit_scenario`) and every batch job (the whole
    scenario, a province, a tile) come through here.

    Parameters
    ----------
    dem_path, communes_path : Path
        The DEM and the communes file.
    villages, towers : GeoDataFrame
        As loaded (:func:`deadzone.data.loaders.load_villages`, ``load_towers``).
    bounds_lonlat : tuple of float or None
        ``(west, south, east, north)`` in degrees of the DEM window to read
        (None: the whole DEM).
    dem_resolution_m : float, optional
        DEM cell size after the warp to UTM (m); None keeps the source's.
    communes : GeoDataFrame, optional
        Communes already chosen (a province job); otherwise those meeting the
        DEM window are read from ``communes_path``.
    assign : bool
        Give each village its commune (the one holding it, else the nearest
        within 1000 m); False keeps the villages' ``commune_id``.
    commune_id_col, district_col : str, optional
        Column overrides for the communes file.
    name : str
        The scenario's name.
    meta : dict, optional
        Stored as ``Scenario.meta``.
    """
    from deadzone.data.loaders import assign_communes, load_communes, load_dem

    with warnings.catch_warnings():
        # rasterio's window_transform uses affine's deprecated ``*``; not ours to fix here.
        warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
        dem = load_dem(dem_path, resolution_m=dem_resolution_m, bounds_lonlat=bounds_lonlat)
    if communes is None:
        communes = load_communes(
            communes_path,
            id_col=commune_id_col,
            district_col=district_col,
            bbox=dem.bounds_lonlat,
        )
    if assign:
        villages = assign_communes(villages, communes)
    return Scenario(
        dem=dem,
        communes=communes.reset_index(drop=True),
        villages=villages.reset_index(drop=True),
        towers=towers.reset_index(drop=True),
        name=name,
        meta=dict(meta or {}),
    )


def _input_record(p: Path | str, attrs: dict[str, Any] | None) -> dict[str, str]:
    """An input as ``summary.json`` records it: a file's absolute path and SHA-256,
    or a database URL without its password and the checksum of the rows read."""
    from deadzone.data.loaders import file_checksum
    from deadzone.data.postgis import is_pg_url, shown_source

    if is_pg_url(p):
        return {"path": shown_source(p), "sha256": str((attrs or {}).get("checksum", ""))}
    return {"path": str(Path(p).resolve()), "sha256": file_checksum(p)}


def _defaults_summary(towers) -> dict[str, int]:  # noqa: ANN001
    if "params_source" not in towers.columns:
        return {}
    return {str(k): int(v) for k, v in towers["params_source"].value_counts().items()}


def load_scenario_dir(path: Path) -> Scenario:
    """A scenario folder, a ``deadzone demo`` output (``inputs/``) or a
    ``deadzone audit`` output (its ``summary.json`` names the input files and
    how they were read; the scenario is read again from them)."""
    from deadzone.data.io import load_scenario
    from deadzone.data.postgis import is_pg_url
    from deadzone.geo.export import verify_audit_folder

    p = Path(path)
    if (p / "dem.tif").exists():
        return load_scenario(p)
    if (p / "inputs" / "dem.tif").exists():
        return load_scenario(p / "inputs")
    summary = p / "summary.json"
    inputs = {}
    if summary.is_file():
        meta = json.loads(summary.read_text(encoding="utf-8"))
        inputs = meta.get("inputs") or {}
    if not all(k in inputs for k in ("dem", "villages", "communes", "towers")):
        raise DataLoadError(
            f"{p}: not a scenario folder (no dem.tif), a 'deadzone demo' output "
            "(no inputs/) or a 'deadzone audit' output (no summary.json naming "
            "its inputs)"
        )
    verify_audit_folder(p)  # one audit, not a folder an interrupted --overwrite mixed
    files = {k: v["path"] if is_pg_url(v["path"]) else Path(v["path"])
             for k, v in inputs.items()}
    for k, f in files.items():
        if isinstance(f, Path) and not f.is_file():
            raise DataLoadError(
                f"{summary}: the audit's {k} file {f} is missing; "
                "run the audit again or give a scenario folder"
            )
    opts = meta.get("input_options") or {}
    scenario = load_audit_scenario(
        files["dem"],
        files["villages"],
        files["communes"],
        files["towers"],
        radius_km=float((meta.get("parameters") or {}).get("radius_km", DEFAULT_RADIUS_KM)),
        landcover_path=files.get("landcover"),
        population_path=files.get("population"),
        **{k: v for k, v in opts.items() if k in _AUDIT_INPUT_OPTIONS},
    )
    # the checksums the reading just took, against the audit's
    for k, now in scenario.meta["inputs"].items():
        was = inputs.get(k, {}).get("sha256")
        if was and now["sha256"] != was:
            warnings.warn(
                f"{files[k]}: changed since the audit in {p} (SHA-256 differs); "
                "using the file as it is now",
                DeadzoneWarning,
                stacklevel=2,
            )
    return scenario


#: The ``input_options`` of an audit's summary.json that :func:`load_audit_scenario` takes.
_AUDIT_INPUT_OPTIONS = (
    "village_id_col",
    "village_name_col",
    "population_col",
    "households_col",
    "commune_id_col",
    "district_col",
    "default_tech",
    "dem_resolution_m",
    "tower_columns",
    "village_population_km",
    "persons_per_household",
)
