"""Running and writing an audit: what ``deadzone audit`` does between reading its
inputs and printing its summary, for the CLI and for scripts alike."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from deadzone.geo.audit import AuditResult, audit
from deadzone.geo.coverage import EngineParams
from deadzone.geo.export import write_audit
from deadzone.geo.settlements import SettlementParams, audit_settlements
from deadzone.model.scenario import Scenario
from deadzone.model.thresholds import Thresholds

__all__ = ["add_settlements", "run_audit"]


def run_audit(
    scenario: Scenario,
    out: Path,
    *,
    params: EngineParams,
    thresholds: Thresholds,
    n_threads: int | None = None,
    clutter: Any = None,
    rasters: bool = True,
    plain_csv: bool = False,
    progress: Callable[[int, int], None] | None = None,
    write_map: Callable[[AuditResult, Path], Path] | None = None,
    settlements: SettlementParams | None = None,
) -> AuditResult:
    """Audit ``scenario`` and write its folder ``out`` (overwriting: the caller
    checked it).

    Parameters
    ----------
    scenario : Scenario
        The inputs (e.g. :func:`deadzone.app.scenario.load_audit_scenario`).
    out : pathlib.Path
        The output folder.
    params, thresholds, n_threads, clutter
        As :func:`deadzone.geo.audit.audit`.
    rasters : bool
        Area rasters (and the map) too; without, village tables only.
    plain_csv : bool
        As :func:`deadzone.geo.export.write_audit`.
    progress : callable, optional
        ``progress(done, total)`` while the towers' rasters are computed (also
        without ``rasters`` when the scenario has a population raster: the
        sweep then runs for the people figures).
    write_map : callable, optional
        ``write_map(result, folder) -> path`` writes the map (with rasters
        only); it runs before ``summary.json``, which lists it with every
        other file.  A map left by an earlier run without one is removed.
    settlements : SettlementParams, optional
        What counts as an unlisted settlement (default
        :class:`~deadzone.geo.settlements.SettlementParams`).  Used only when
        ``scenario.population`` is set: then ``result.settlements`` holds the
        settlements the raster shows and the village list misses, written as
        ``unlisted_settlements.gpkg``/``.csv`` and counted in ``summary.json``
        (``unlisted_settlements``); without a raster nothing changes.

    Returns
    -------
    AuditResult
    """
    result = audit(scenario, params=params, thresholds=thresholds, n_threads=n_threads,
                   progress=progress if rasters or scenario.population is not None else None,
                   clutter=clutter, rasters=rasters)
    add_settlements(result, scenario, thresholds=thresholds, params=settlements)
    also: list[Callable[[Path], Path]] = []
    if result.coverage is not None and write_map is not None:
        also.append(lambda folder: write_map(result, folder))
    else:
        (out / "map.html").unlink(missing_ok=True)  # an earlier run's
    write_audit(result, out, overwrite=True, plain_csv=plain_csv, also=also)
    return result


def add_settlements(result: AuditResult, scenario: Scenario, *, thresholds: Thresholds,
                    params: SettlementParams | None = None) -> None:
    """With a population raster, the unlisted settlements into ``result``
    (``result.settlements`` and ``summary["unlisted_settlements"]``), their
    coverage from the audit's area statuses; nothing without one."""
    if scenario.population is None:
        return
    found, entry = audit_settlements(scenario, result.area_status or result.coverage,
                                     thresholds=thresholds, params=params)
    result.settlements = found
    result.summary["unlisted_settlements"] = entry
