"""What-if tower edits: add, move, remove or re-tune one tower and see the change at once.

A :class:`Session` keeps every tower's received-power window (float32,
cropped to the cells the tower reaches inside the DEM) within its memory
budget (:class:`~deadzone.geo.footprint.WindowStore`: beyond it, compressed
without loss, then dropped and recomputed bit for bit when needed), the
multi-server composites with the towers at the next ranks of each cell
(:class:`~deadzone.geo.footprint.Ranks`) and the village audit.  An edit
recomputes only the edited tower's window, swaps it into the composites
cell by cell where the tower's old and new values provably cannot change
the best and second-best servers there (only the server count) or the
ranks kept give the new best two, refolds the other cells from the kept
windows in tower order, exactly as
:func:`deadzone.geo.coverage.compute_coverage` merges them (see
:func:`_patch_composite`), and re-audits only the villages whose cell lies
within the tower's reach.  The
result equals a from-scratch :func:`compute_coverage` + :func:`audit` of the
edited tower set, cell for cell and village for village (tested).
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import cKDTree
from shapely.geometry import Point

from deadzone.errors import DeadzoneWarning, ParameterError, SchemaError
from deadzone.geo.audit import AuditResult, audit, audit_parameters
from deadzone.geo.coverage import (
    DEFAULT_FLOOR_DBM,
    DEFAULT_MODEL,
    DEFAULT_RADIUS_KM,
    DEFAULT_RX_HEIGHT_M,
    CoverageResult,
    EngineParams,
    TowerGrid,
    coverage_parameters,
    engine_params,
    site_reach,
    towers_on_grid,
    warn_calibration_without_landcover,
)
from deadzone.geo.footprint import (
    Footprint,
    Ranks,
    WindowStore,
    _as_objects,
    _Contrib,
    _patch_composites,
    _union,
    _warm_patch_kernels,
    block_peaks,
    merge_ranked,
    new_ranks,
    tower_footprint,
)
from deadzone.geo.memory import (
    default_memory_bytes,
    format_bytes,
    process_rss_bytes,
    release_freed_memory,
)
from deadzone.geo.paths import village_points
from deadzone.geo.population import people_counter, people_tables
from deadzone.geo.rollup import rollup, summary_dict
from deadzone.geo.village_delta import (
    WhatIfDelta,
    _delta,
    _Snapshot,
    village_delta,
)
from deadzone.kernels.composite import RANK_GONE
from deadzone.kernels.coverage import (
    Composite,
    RadioSite,
    iter_windows,
    new_composite,
)
from deadzone.kernels.itm import ItmSettings
from deadzone.model.scenario import Scenario
from deadzone.model.schema import TECHS, TOWER_DEFAULTS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "Session",
    "WhatIfDelta",
    "EngineParams",
    "Footprint",
    "tower_footprint",
    "village_delta",
    "EDITABLE",
]

#: Cells added around a tower's reach when choosing the villages to re-audit
#: (covers the sub-cell offset between a tower's point and its cell).
_REACH_PAD_CELLS = 2
#: Village columns an edit never changes (identity, admin level, inputs), and the
#: nearest-tower columns, which :meth:`Session._nearest` sets for every village.
_FIXED_COLUMNS = frozenset(
    {
        "village_id",
        "name",
        "commune_id",
        "district",
        "population",
        "households",
        "has_grid_power",
        "geometry",
        "distance_to_nearest_tower_m",
        "nearest_tower_id",
    }
)

#: Most towers a session holds unless told otherwise (``max_towers``): a
#: province has hundreds to a few thousand; the tower table, composites and
#: per-tower state of a session past this are a mistake, not a plan.
MAX_TOWERS = 20_000
#: Bytes per cell of one composite (best, server, second, count).
_COMPOSITE_CELL_BYTES = 4 + 4 + 4 + 2
#: Ranks a session keeps per composite cell by default, the best included
#: (:class:`~deadzone.geo.footprint.Ranks`): an edit that takes a tower out
#: of a cell's best two reads the new ones off the ranks, with no other
#: tower's window, unless earlier edits there took the ranks below out.
#: 4 rather than 3: on ``bench/whatif_memory.py`` it refolds 2 cells in 30
#: edits instead of 2,528, for 6 more bytes per cell (``bench/RESULTS.md``).
RANKS = 4


@dataclass(frozen=True)
class _Slot:
    """Where one tower's window lies on the grid; the window itself is in the
    session's :class:`~deadzone.geo.footprint.WindowStore` under ``key``."""

    key: int
    row_off: int
    col_off: int
    shape: tuple[int, int]
    reach: tuple[int, int, int, int]
    #: :func:`~deadzone.geo.footprint.block_peaks` of the window (kept always).
    peaks: npt.NDArray[np.float32]


#: Tower fields :meth:`Session.edit` may change.
EDITABLE: tuple[str, ...] = (
    "height_m",
    "eirp_dbm",
    "freq_mhz",
    "tech",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
    "bandwidth_mhz",
)


class Session:
    """An interactive what-if session over one scenario.

    Parameters
    ----------
    scenario : Scenario
        DEM, communes, villages and the existing towers.
    model, radius_km, rx_height_m, k_factor, floor_dbm, itm
        Coverage-engine parameters, as for
        :func:`deadzone.geo.coverage.compute_coverage`.
    thresholds : Thresholds, optional
        Status thresholds (default :class:`Thresholds`()).
    n_threads : int, optional
        Worker threads (default: all cores).
    progress : callable, optional
        ``progress(done, total)`` while the initial windows are computed.
    params : EngineParams, optional
        The engine settings in one value instead of ``model`` ... ``itm``.
    max_memory_bytes : int, optional
        Memory the session may use, this process included (default: half
        the machine's, :func:`deadzone.geo.memory.default_memory_bytes`).
        What is left after the process, the composites and one tower's
        computation keeps towers' windows; windows beyond it are compressed
        without loss, then dropped, least recently used first, and read back
        or recomputed when an edit nearby needs them (bit for bit the same,
        so results do not depend on the budget; only such an edit's time
        does: ``bench/RESULTS.md``, "What-if session memory").
    max_towers : int, optional
        Most towers the session holds (default :data:`MAX_TOWERS`).
    ranks : int, optional
        Towers kept per composite cell in rank order, the best included
        (1 keeps none beyond the composites): an edit that takes a tower
        out of a cell's best two needs no other window there unless earlier
        edits nearby took out the ranks below (``ranks - 2`` of them; then
        the cell is refolded from the windows, and its ranks restored).
        They cost ``(ranks - 1) x 2 + (ranks - 2) x 4`` bytes per cell and
        composite (indices of 4 bytes past 32,000 towers), counted in
        ``max_memory_bytes``; a budget that cannot hold them but can hold
        the rest keeps none.  Default: :data:`RANKS` when the budget cannot
        keep every tower's window (then they spare edits reading other
        towers' windows), else 1 (with every window in memory a refold is
        cheap, and keeping ranks made adds and moves ~0.3 s slower on the
        demo, ``bench/RESULTS.md`` section 8).

    Raises
    ------
    ParameterError
        More towers than ``max_towers``, or ``max_memory_bytes`` below what
        the session needs before keeping any window (the message gives the
        smallest budget that works).

    Examples
    --------
    >>> from deadzone.data.demo import demo_scenario      # doctest: +SKIP
    >>> s = Session(demo_scenario(seed=0), model="knife")  # doctest: +SKIP
    >>> d = s.add(104.8, 22.3, height_m=40.0)             # doctest: +SKIP
    >>> print(d.summary_lines()[0])                        # doctest: +SKIP
    covered villages: 248/800 → 262/800
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        model: str = DEFAULT_MODEL,
        radius_km: float = DEFAULT_RADIUS_KM,
        rx_height_m: float = DEFAULT_RX_HEIGHT_M,
        k_factor: float = 4.0 / 3.0,
        floor_dbm: float = DEFAULT_FLOOR_DBM,
        thresholds: Thresholds | None = None,
        itm: ItmSettings | None = None,
        n_threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        params: EngineParams | None = None,
        max_memory_bytes: int | None = None,
        max_towers: int = MAX_TOWERS,
        ranks: int | None = None,
    ) -> None:
        self.params = engine_params(params, model=model, radius_km=radius_km,
                                    rx_height_m=rx_height_m, k_factor=k_factor,
                                    floor_dbm=floor_dbm, itm=itm)
        warn_calibration_without_landcover(self.params, None)  # sessions have no land cover
        self.thresholds = thresholds or Thresholds()
        self.scenario = scenario
        self.n_threads = n_threads or os.cpu_count() or 1
        self._dem = scenario.dem
        self._elev = np.ascontiguousarray(scenario.dem.elevation_m, dtype=np.float32)
        towers = scenario.towers
        if towers.crs is None:
            raise SchemaError("towers have no CRS; expected EPSG:4326 lon/lat")
        self._towers = towers.to_crs(4326).reset_index(drop=True)
        self._towers.attrs = dict(towers.attrs)
        self.max_towers = int(max_towers)
        if len(self._towers) > self.max_towers:
            raise ParameterError(
                f"the scenario has {len(self._towers):,} towers; a what-if session holds at "
                f"most {self.max_towers:,} (max_towers, --max-towers): split the area"
            )
        ids = self._towers["tower_id"].astype(str)
        if ids.duplicated().any():
            raise SchemaError(f"tower_id {ids[ids.duplicated()].iloc[0]!r} appears twice")
        grid = towers_on_grid(self._towers, self._dem)
        if grid.outside:
            warnings.warn(
                f"{len(grid.outside)} tower(s) outside the DEM were not computed: "
                + ", ".join(grid.outside[:10])
                + (" ..." if len(grid.outside) > 10 else ""),
                DeadzoneWarning,
                stacklevel=2,
            )
        self._ids = list(grid.tower_ids)
        self._techs = list(grid.techs)
        self._sites: list[RadioSite | None] = list(grid.sites)
        self._x = list(grid.x_m)
        self._y = list(grid.y_m)
        self._off = list(grid.metric_offset_db)
        if ranks is not None and int(ranks) < 1:
            raise ParameterError(f"ranks was {ranks!r}; expected 1 or more")
        self._index_dtype = np.int16 if self.max_towers <= 32_000 else np.int32
        self._store = WindowStore(self._window_budget(max_memory_bytes, ranks))
        #: Cells refolded from the windows since the session began.
        self._refolded = 0
        self._keys = itertools.count()
        self._slots: list[_Slot | None] = [None] * len(self._ids)
        todo = [i for i, s in enumerate(self._sites) if s is not None]
        inner = max(1, self.n_threads // max(1, len(todo)))
        outer = max(1, self.n_threads // inner)

        def one(i: int) -> tuple[npt.NDArray[np.float32], int, int]:
            fp = self._footprint(self._sites[i], inner, self._techs[i])  # type: ignore[arg-type]
            self._slots[i] = self._keep(fp)
            return fp.window, fp.row_off, fp.col_off

        shape = self._dem.shape
        self._rx = new_composite(shape, threshold_dbm=self.thresholds.covered("2G"))
        self._by_tech: dict[str, Composite] = {
            t: new_composite(shape, threshold_dbm=self.thresholds.covered(t))
            for t in TECHS
            if t in self._techs
        }
        self._ranks: dict[str, Ranks] = {k: self._new_ranks() for k in ("rx", *self._by_tech)}
        for done, (i, (win, r0, c0)) in enumerate(iter_windows(one, todo, n_threads=outer), 1):
            self._merge(self._rx, self._by_tech, win, r0, c0, i)
            if progress is not None:
                progress(done, len(todo))
        self._prepare_villages()
        _warm_patch_kernels(self._index_dtype)
        self._shapes: gpd.GeoDataFrame | None = None
        com = scenario.communes
        if com is not None and len(com) and "commune_id" in com.columns:
            self._shapes = com[["commune_id", "geometry"]].to_crs(4326)
        # The full audit of the current state; None after an edit that re-audited
        # only some villages, until ``result`` rolls the tables up again.
        # the population raster on the DEM grid and its communes: fixed while towers change
        self._people = people_counter(scenario)
        self._audit: AuditResult | None = audit(
            scenario, coverage=self.coverage, thresholds=self.thresholds, people=self._people
        )
        self._villages = self._audit.villages.copy()

    # ------------------------------------------------------------------ state
    @property
    def towers(self) -> gpd.GeoDataFrame:
        """The current tower table (EPSG:4326), index = server index."""
        return self._towers.copy()

    @property
    def coverage(self) -> CoverageResult:
        """The current composites as a :class:`CoverageResult`."""
        grid = TowerGrid(
            list(self._ids),
            list(self._techs),
            list(self._sites),
            np.array(self._x, dtype=np.float64),
            np.array(self._y, dtype=np.float64),
            np.array(self._off, dtype=np.float64),
        )
        p = self.params
        return CoverageResult(
            rx=self._rx,
            by_tech=self._by_tech,
            transform=self._dem.transform,
            crs=self._dem.crs,
            grid=grid,
            model=p.model,
            radius_m=p.radius_m,
            rx_height_m=p.rx_height_m,
            k_factor=p.k_factor,
            thresholds=self.thresholds,
            parameters=coverage_parameters(
                model=p.model, radius_km=p.radius_km, rx_height_m=p.rx_height_m,
                k_factor=p.k_factor, floor_dbm=p.floor_dbm, itm=p.itm,
                calibration=p.calibration,
            ),
            # the session's engine whole: the re-audits run the villages' exact paths
            # with it (p526's ground constants, the calibration)
            engine=p,
        )

    @property
    def result(self) -> AuditResult:
        """The current audit (villages, communes, provinces, summary, coverage).

        Equal to a from-scratch :func:`deadzone.geo.audit.audit` of the current
        tower set.  An edit updates the village table; the commune, district
        and province roll-ups and the summary are rebuilt here on the first
        access after an edit (tens of milliseconds), not by every edit.
        """
        if self._audit is None:
            self._audit = self._rollup()
        return self._audit

    def memory(self) -> dict[str, int | None]:
        """The window store now: ``towers``, ``windows_kept`` (of which
        ``windows_compressed``), ``window_bytes``, ``peak_bytes`` (every
        tower's block peaks, counted in the budget), ``window_budget_bytes``
        (None: unbounded), and since the session began
        ``windows_recomputed``, ``windows_decompressed`` and ``cells_refolded``
        (cells whose best two an edit refolded from the windows); ``ranks``
        (towers kept per composite cell) and ``rank_bytes``."""
        st = self._store
        return {
            "towers": len(self._ids),
            "windows_kept": len(st),
            "window_bytes": st.nbytes,
            "peak_bytes": st.reserved,
            "window_budget_bytes": st.budget_bytes,
            "windows_compressed": st.n_packed,
            "windows_recomputed": st.recomputed,
            "windows_decompressed": st.unpacked,
            "cells_refolded": self._refolded,
            "ranks": self._rank_depth,
            "rank_bytes": sum(r.nbytes for r in self._ranks.values()),
        }

    def scenario_now(self) -> Scenario:
        """The scenario with the current tower table."""
        s = self.scenario
        return Scenario(
            dem=s.dem,
            communes=s.communes,
            villages=s.villages,
            towers=self.towers,
            roads=s.roads,
            backbone=s.backbone,
            population=s.population,
            name=s.name,
            meta=s.meta,
        )

    # ------------------------------------------------------------------ edits
    def add(
        self,
        lon: float,
        lat: float,
        *,
        height_m: float,
        tech: str = "4G",
        freq_mhz: float | None = None,
        eirp_dbm: float | None = None,
        azimuth_deg: float = math.nan,
        beamwidth_deg: float = math.nan,
        tilt_deg: float = 0.0,
        tower_id: str | None = None,
    ) -> WhatIfDelta:
        """Add a tower at ``lon, lat`` (EPSG:4326) and return what changed.

        ``freq_mhz`` and ``eirp_dbm`` default to the technology's defaults
        (:data:`deadzone.model.schema.TOWER_DEFAULTS`).  ``tower_id`` defaults
        to ``NEW<n>``.
        """
        t0 = time.perf_counter()
        if tech not in TECHS:
            raise ParameterError(f"tech was {tech!r}; expected one of {TECHS}")
        d = TOWER_DEFAULTS[tech]
        if len(self._ids) >= self.max_towers:
            raise ParameterError(
                f"the session holds {len(self._ids):,} towers, its most (max_towers, "
                "--max-towers); remove one first or start a session with a higher cap"
            )
        tid = tower_id or self._new_id()
        if tid in self._ids:
            raise ParameterError(f"tower_id {tid!r} already exists")
        row = {
            "tower_id": tid,
            "lon": float(lon),
            "lat": float(lat),
            "tech": tech,
            "freq_mhz": float(d.freq_mhz if freq_mhz is None else freq_mhz),
            "eirp_dbm": float(d.eirp_dbm if eirp_dbm is None else eirp_dbm),
            "height_m": float(height_m),
            "azimuth_deg": float(azimuth_deg),
            "beamwidth_deg": float(beamwidth_deg),
            "tilt_deg": float(tilt_deg),
        }
        if "params_source" in self._towers.columns:
            row["params_source"] = "whatif"
        new = gpd.GeoDataFrame([row], geometry=[Point(float(lon), float(lat))], crs=4326)
        g = self._grid_row(new, tid)
        before = _Snapshot.of(self._villages)
        i = len(self._ids)
        self._towers = self._append_row(new)
        self._ids.append(tid)
        self._techs.append(g.techs[0])
        self._sites.append(g.sites[0])
        self._x.append(float(g.x_m[0]))
        self._y.append(float(g.y_m[0]))
        self._off.append(float(g.metric_offset_db[0]))
        fp = self._footprint(g.sites[0], self.n_threads, g.techs[0])  # type: ignore[arg-type]
        self._slots.append(self._keep(fp))
        techs_changed = self._sync_techs()
        # The new tower is last in tower order: merging it into the composite
        # is what a from-scratch merge would do last.
        self._merge(self._rx, self._by_tech, fp.window, fp.row_off, fp.col_off, i)
        n = self._reaudit(fp.reach, full=techs_changed)
        return self._delta(before, f"add {tid}", n, t0)

    def remove(self, tower_id: str) -> WhatIfDelta:
        """Remove a tower; later towers' server indices shift down by one."""
        t0 = time.perf_counter()
        i = self._index(tower_id)
        before = _Snapshot.of(self._villages)
        old = self._slots[i]
        old_c = self._contribs(i)
        for lst in (self._ids, self._techs, self._sites, self._x, self._y, self._off,
                    self._slots):
            del lst[i]
        self._towers = self._towers.drop(index=self._towers.index[i]).reset_index(drop=True)
        for comp in (self._rx, *self._by_tech.values()):
            bs = comp.best_server
            np.subtract(bs, 1, out=bs, where=bs > i)
        for rk in self._ranks.values():
            # the removed tower's entries are found again by a mark, not its index
            srv = rk.server
            gone = srv == i
            np.subtract(srv, 1, out=srv, where=srv > i)
            srv[gone] = RANK_GONE
        techs_changed = self._sync_techs()
        self._patch(old_c, {}, old_key=RANK_GONE)
        self._forget(old)
        n = self._reaudit(old.reach if old is not None else None, full=techs_changed)
        return self._delta(before, f"remove {tower_id}", n, t0)

    def move(self, tower_id: str, lon: float, lat: float) -> WhatIfDelta:
        """Move a tower to ``lon, lat`` (EPSG:4326), keeping its radio settings."""
        t0 = time.perf_counter()
        i = self._index(tower_id)
        row = self._towers.iloc[[i]].copy()
        row["lon"] = float(lon)
        row["lat"] = float(lat)
        row = row.set_geometry([Point(float(lon), float(lat))], crs=4326)
        return self._replace(i, row, f"move {tower_id}", t0)

    def edit(self, tower_id: str, **changes: Any) -> WhatIfDelta:
        """Change radio fields of one tower (see :data:`EDITABLE`).

        Examples: ``edit("T001", height_m=45)``, ``edit("T002", tech="4G",
        freq_mhz=700, eirp_dbm=62)``, ``edit("T003", azimuth_deg=120,
        beamwidth_deg=65)``.
        """
        t0 = time.perf_counter()
        bad = sorted(set(changes) - set(EDITABLE))
        if bad:
            raise ParameterError(f"cannot edit field {bad[0]!r}; expected one of {EDITABLE}")
        if not changes:
            raise ParameterError("edit() needs at least one field to change")
        i = self._index(tower_id)
        row = self._towers.iloc[[i]].copy()
        for k, v in changes.items():
            if k == "tech":
                if v not in TECHS:
                    raise ParameterError(f"tech was {v!r}; expected one of {TECHS}")
                row[k] = str(v)
            else:
                row[k] = float(v)
        desc = ", ".join(f"{k}={v}" for k, v in changes.items())
        return self._replace(i, row, f"edit {tower_id} ({desc})", t0)

    # -------------------------------------------------------------- internals
    def _new_id(self) -> str:
        k = 1
        while f"NEW{k}" in self._ids:
            k += 1
        return f"NEW{k}"

    def _index(self, tower_id: str) -> int:
        try:
            return self._ids.index(str(tower_id))
        except ValueError:
            raise ParameterError(f"no tower with tower_id {tower_id!r}") from None

    def _append_row(self, new: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        cur = self._towers
        cols = list(cur.columns) + [c for c in new.columns if c not in cur.columns]
        if len(cur) == 0:
            frame = new.reindex(columns=cols)
        else:
            cur = cur.reindex(columns=cols)
            frame = pd.concat([cur, new.reindex(columns=cols)], ignore_index=True)
        out = gpd.GeoDataFrame(frame, geometry="geometry", crs=4326)
        out.attrs = dict(cur.attrs)
        return out

    def _grid_row(self, row: gpd.GeoDataFrame, tid: str) -> TowerGrid:
        row.attrs = dict(self._towers.attrs)
        g = towers_on_grid(row, self._dem)
        if g.sites[0] is None:
            raise ParameterError(f"tower {tid!r} lies outside the DEM")
        return g

    def _footprint(self, site: RadioSite, n_threads: int, tech: str) -> Footprint:
        return tower_footprint(
            self._elev, site, dem=self._dem, params=self.params, n_threads=n_threads, tech=tech
        )

    def _merge(
        self,
        rx: Composite,
        by_tech: Mapping[str, Composite],
        win: npt.NDArray[np.float32],
        r0: int,
        c0: int,
        i: int,
    ) -> None:
        if win.size == 0:
            return
        tech = self._techs[i]
        off = float(self._off[i])
        merge_ranked(rx, self._ranks["rx"], win, r0, c0, i,
                     threshold_dbm=self.thresholds.covered(tech) + off)
        merge_ranked(by_tech[tech], self._ranks[tech], win, r0, c0, i, metric_offset_db=off)

    def _sync_techs(self) -> bool:
        """Keep one composite per technology present, in TECHS order."""
        want = [t for t in TECHS if t in self._techs]
        if want == list(self._by_tech):
            return False
        shape = self._dem.shape
        self._by_tech = {
            t: self._by_tech.get(t)
            or new_composite(shape, threshold_dbm=self.thresholds.covered(t))
            for t in want
        }
        self._ranks = {k: self._ranks.get(k) or self._new_ranks() for k in ("rx", *want)}
        return True

    def _contribs(self, i: int) -> dict[str, _Contrib]:
        """Tower ``i``'s contributions, keyed ``"rx"`` and by technology (as ``_merge``)."""
        slot = self._slots[i]
        if slot is None or 0 in slot.shape:
            return {}
        tech = self._techs[i]
        off = float(self._off[i])
        site = self._sites[i]

        def load() -> npt.NDArray[np.float32]:
            return self._window(slot, site, tech)  # type: ignore[arg-type]

        def cached() -> bool:
            return self._store.has(slot.key)

        def plain() -> bool:
            return self._store.is_plain(slot.key)

        where = (slot.row_off, slot.col_off, slot.shape)
        comp = self._by_tech.get(tech)
        thr = comp.threshold_dbm if comp is not None else self.thresholds.covered(tech)
        return {
            "rx": _Contrib(i, *where, 0.0, self.thresholds.covered(tech) + off, load, cached,
                           slot.peaks, plain),
            tech: _Contrib(i, *where, off, thr, load, cached, slot.peaks, plain),
        }

    def _patch(self, old: dict[str, _Contrib], new: dict[str, _Contrib],
               old_key: int | None = None) -> int:
        """Swap one tower's old contributions for its new ones in every composite.

        Returns the cells refolded.  Each window the refolds need is read (or
        recomputed) once for every composite, then let go.  ``old_key``: the
        old tower's index in the ranks (default its index).
        """
        keys = [k for k in ("rx", *self._by_tech) if k in old or k in new]
        if not keys:
            return 0
        everyone = [self._contribs(j) for j in range(len(self._slots))]
        comps = {k: self._rx if k == "rx" else self._by_tech[k] for k in keys}
        fold = {k: [c[k] for c in everyone if k in c] for k in keys}
        ranks = {k: self._ranks[k] for k in keys}
        n = _patch_composites(comps, old, new, fold, ranks, old_key=old_key,
                              n_threads=self.n_threads)
        self._refolded += n
        if self._store.budget_bytes is not None:
            release_freed_memory()  # the windows read and let go
        return n

    def _keep(self, fp: Footprint) -> _Slot:
        """Store a new window; return where it lies."""
        slot = _Slot(next(self._keys), fp.row_off, fp.col_off,
                     (int(fp.window.shape[0]), int(fp.window.shape[1])), fp.reach,
                     block_peaks(fp.window))
        self._store.add_reserved(slot.peaks.nbytes)  # keep() runs on the start's threads
        if fp.window.size:
            self._store.put(slot.key, fp.window)
        return slot

    def _forget(self, slot: _Slot | None) -> None:
        """Drop a window no tower has any more (removed, or replaced by an edit)."""
        if slot is not None:
            self._store.drop(slot.key)
            self._store.add_reserved(-slot.peaks.nbytes)

    def _window(self, slot: _Slot, site: RadioSite, tech: str) -> npt.NDArray[np.float32]:
        """The window of ``slot``: kept, or computed again (the same bits) if dropped."""
        win = self._store.get(slot.key)
        if win is not None:
            return win
        fp = self._footprint(site, self.n_threads, tech)
        got = (fp.row_off, fp.col_off, fp.window.shape)
        if got != (slot.row_off, slot.col_off, slot.shape):  # pragma: no cover - a bug
            raise RuntimeError(f"a recomputed window moved: {got} instead of {slot}")
        self._store.recomputed += 1
        self._store.put(slot.key, fp.window)
        return fp.window

    def _new_ranks(self) -> Ranks:
        return new_ranks(self._dem.shape, self._rank_depth, self._index_dtype)

    def _window_budget(self, max_memory_bytes: int | None, ranks: int | None) -> int:
        """Bytes for kept windows: the budget less the process, the composites (with
        ``ranks`` ranks per cell, or none if the budget cannot hold them) and one
        tower's computation; refuse a budget that leaves nothing.  ``ranks`` None:
        :data:`RANKS` unless every tower's window fits beside the rest."""
        budget = default_memory_bytes() if max_memory_bytes is None else int(max_memory_bytes)
        rows, cols = self._dem.shape
        comps = rows * cols * _COMPOSITE_CELL_BYTES * (1 + len(TECHS))
        side_r = 2 * math.ceil(self.params.radius_m / self._dem.cell_h_m) + 1
        side_c = 2 * math.ceil(self.params.radius_m / self._dem.cell_w_m) + 1
        # The uncropped window, its crop and the sweep's own arrays.
        work = 3 * 4 * min(side_r, rows) * min(side_c, cols)
        proc = process_rss_bytes()
        need = proc + comps + work
        if ranks is None:
            ranks = 1 if budget - need >= self._windows_bytes() else RANKS
        rank_bytes = rows * cols * Ranks.cell_bytes(ranks, self._index_dtype) * (1 + len(TECHS))
        self._rank_depth = ranks if budget >= need + rank_bytes else 1
        if self._rank_depth > 1:
            need += rank_bytes
        if budget < need:
            raise ParameterError(
                f"max memory {format_bytes(budget)} is below what this session needs before "
                f"keeping any tower's coverage ({format_bytes(proc)} this process with the "
                f"scenario, {format_bytes(comps)} composites, {format_bytes(work)} computing "
                f"a tower); the smallest budget that works is --max-memory "
                f"{math.ceil(need / 1e6)}MB"
                + (f" ({math.ceil((need + rank_bytes) / 1e6)}MB keeps {ranks} ranks per cell, "
                   f"{format_bytes(rank_bytes)}, which spare most edits reading other "
                   "towers' coverage)" if rank_bytes else "")
            )
        return budget - need

    def _windows_bytes(self) -> int:
        """Every tower's window, float32 over its reach box (bytes, an upper bound)."""
        total = 0
        for site in self._sites:
            if site is not None:
                a0, a1, b0, b1 = site_reach(site, shape=self._dem.shape,
                                            cell_w_m=self._dem.cell_w_m,
                                            cell_h_m=self._dem.cell_h_m,
                                            radius_m=self.params.radius_m,
                                            floor_dbm=self.params.floor_dbm)
                total += 4 * (a1 - a0) * (b1 - b0)
        return total

    def _replace(self, i: int, row: gpd.GeoDataFrame, action: str, t0: float) -> WhatIfDelta:
        tid = self._ids[i]
        g = self._grid_row(row, tid)
        before = _Snapshot.of(self._villages)
        old = self._slots[i]
        old_c = self._contribs(i)
        fp = self._footprint(g.sites[0], self.n_threads, g.techs[0])  # type: ignore[arg-type]
        towers = self._towers.copy()
        for c in row.columns:
            towers.at[towers.index[i], c] = row[c].iloc[0]
        towers.attrs = dict(self._towers.attrs)
        self._towers = towers
        self._techs[i] = g.techs[0]
        self._sites[i] = g.sites[0]
        self._x[i] = float(g.x_m[0])
        self._y[i] = float(g.y_m[0])
        self._off[i] = float(g.metric_offset_db[0])
        self._slots[i] = self._keep(fp)
        techs_changed = self._sync_techs()
        self._patch(old_c, self._contribs(i))
        self._forget(old)
        reach = _union(old.reach if old is not None else None, fp.reach)
        n = self._reaudit(reach, full=techs_changed)
        return self._delta(before, action, n, t0)

    def _prepare_villages(self) -> None:
        """Grid bounding box of every village (its cell, or its polygon's cells)."""
        vil = self.scenario.villages
        dem = self._dem
        geom = vil.geometry
        bad = (geom.isna() | geom.is_empty).to_numpy()
        proj = geom.to_crs(dem.crs)
        b = np.array(
            [g.bounds if not e else (np.nan,) * 4 for g, e in zip(proj, bad, strict=True)],
            dtype=np.float64,
        ).reshape(-1, 4)
        r_top, c_left, _ = dem.rowcol(b[:, 0], b[:, 3])
        r_bot, c_right, _ = dem.rowcol(b[:, 2], b[:, 1])
        self._vbox = np.column_stack(
            [
                np.minimum(r_top, r_bot),
                np.minimum(c_left, c_right),
                np.maximum(r_top, r_bot) + 1,
                np.maximum(c_left, c_right) + 1,
            ]
        )
        self._vbad = bad | ~np.isfinite(b).all(axis=1)
        at = village_points(vil, dem)  # where the audit evaluates each village
        self._vx = at.x_m
        self._vy = at.y_m

    def _reaudit(self, reach: tuple[int, int, int, int] | None, *, full: bool) -> int:
        """Re-audit the villages within ``reach`` (all of them when ``full``)."""
        cov = self.coverage
        if full:
            self._audit = audit(self.scenario_now(), coverage=cov, thresholds=self.thresholds,
                                people=self._people)
            self._villages = self._audit.villages.copy()
            return len(self._villages)
        self._audit = None
        n = 0
        if reach is not None:
            p = _REACH_PAD_CELLS
            a0, b0, a1, b1 = reach[0] - p, reach[1] - p, reach[2] + p, reach[3] + p
            vb = self._vbox
            sel = np.flatnonzero(
                ~self._vbad & (vb[:, 0] < a1) & (a0 < vb[:, 2]) & (vb[:, 1] < b1) & (b0 < vb[:, 3])
            )
            n = int(sel.size)
            if n:
                self._update_villages(sel, cov)
        self._nearest()
        return n

    def _update_villages(self, sel: npt.NDArray[np.intp], cov: CoverageResult) -> None:
        """Audit the villages ``sel`` alone and write their coverage columns."""
        s = self.scenario
        vil = s.villages.iloc[sel]
        # Only the village rows: no communes (no roll-up worth the name), no
        # population raster (its figures are roll-up figures, made by _rollup),
        # and none of the columns that do not depend on coverage are read back.
        sub = audit(
            Scenario(
                dem=s.dem,
                communes=None,
                villages=vil.drop(columns=["district"], errors="ignore"),
                towers=self._towers,
                name=s.name,
                meta=s.meta,
            ),
            coverage=cov,
            thresholds=self.thresholds,
        ).villages
        v = self._villages
        for c in v.columns:
            if c in _FIXED_COLUMNS or c not in sub.columns:
                continue
            dt = v[c].dtype
            if isinstance(dt, np.dtype) and dt.kind in "biufcmM":
                col = v[c].to_numpy(copy=True)
                col[sel] = sub[c].to_numpy()
                v[c] = col
                continue
            objs = _as_objects(v[c])
            objs[sel] = _as_objects(sub[c])
            sdt = sub[c].dtype
            if isinstance(sdt, pd.StringDtype) and sdt.na_value is pd.NA:
                # A column the audit builds with an explicit "string" dtype.
                v[c] = pd.array(objs, dtype=sdt)
            else:
                # Let pandas infer the dtype as the audit's constructor does
                # (str, or object if all missing).
                v[c] = pd.Series(objs, index=v.index)

    def _rollup(self) -> AuditResult:
        """The commune/province (and district) tables and summary of the village table."""
        scen = self.scenario
        cov = self.coverage
        villages = self._villages.copy()
        communes, provinces = rollup(
            villages,
            scen.communes,
            villages_source=str(scen.villages.attrs.get("source", "villages")),
            communes_source=str(
                (scen.communes.attrs if scen.communes is not None else {}).get("source", "communes")
            ),
        )
        pop_summary = None
        if self._people is not None:
            communes, provinces, pop_summary = people_tables(
                self._people, cov, self._dem, self.thresholds, communes, provinces, villages)
        # villages from exact paths (the session's re-audits), rasters kept
        summary = summary_dict(villages, communes, cov, self.thresholds, scen,
                               parameters=audit_parameters(cov.parameters))
        if pop_summary is not None:
            summary["population_raster"] = pop_summary
        return AuditResult(villages, communes, provinces, summary, cov, self._shapes)

    def _nearest(self) -> None:
        """Distance to the nearest tower: depends on every tower, so for every village."""
        x = np.array(self._x, dtype=np.float64)
        y = np.array(self._y, dtype=np.float64)
        has = np.isfinite(x) & np.isfinite(y)
        n = len(self._villages)
        dist = np.full(n, np.nan)
        near = np.full(n, None, dtype=object)
        fin = np.isfinite(self._vx) & np.isfinite(self._vy)
        if has.any() and fin.any():
            tree = cKDTree(np.column_stack([x[has], y[has]]))
            d, k = tree.query(np.column_stack([self._vx[fin], self._vy[fin]]))
            dist[fin] = d
            ids = np.array(self._ids, dtype=object)[np.flatnonzero(has)]
            near[fin] = ids[k]
        self._villages["distance_to_nearest_tower_m"] = dist
        self._villages["nearest_tower_id"] = near

    def _delta(self, before: _Snapshot, action: str, n: int, t0: float) -> WhatIfDelta:
        return _delta(
            self._villages,
            before,
            _Snapshot.of(self._villages),
            communes=self.scenario.communes,
            action=action,
            villages_reaudited=n,
            elapsed_s=time.perf_counter() - t0,
        )
