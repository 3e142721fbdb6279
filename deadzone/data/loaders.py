"""Read user files into deadzone's canonical layers.

Every loader takes a path and keyword-only options, maps the file's columns
onto the canonical names of :mod:`deadzone.model.schema` and returns data in the
CRS the rest of deadzone expects:

* :func:`load_dem` -> :class:`~deadzone.model.dem.Dem` in a projected metric
  CRS (a UTM zone for geographic rasters such as SRTM ``.hgt`` tiles);
* :func:`load_population` -> :class:`~deadzone.model.population.PopulationGrid`
  (people per cell) on the raster's own grid and CRS;
* :func:`load_villages`, :func:`load_communes`, :func:`load_towers`,
  :func:`load_measurements` -> GeoDataFrames in EPSG:4326
  (:func:`write_measurements` writes measurements back in each format).

Column names are auto-detected from the candidate lists below (matching
ignores case, surrounding spaces, ``-``/``.``/space vs ``_`` and Vietnamese
diacritics, so ``"Dân số"`` matches ``dan_so``); any ``*_col`` option overrides
the detection and must name an existing column.

Errors are single lines naming the file, the row (the file's ``line N`` for
CSV, where line 1 is the header; ``feature N`` counted from 1 in other files;
``fid N`` in windowed reads), the id when known and the field, and how many
more rows fail the same check (``; and 4 more lines: 3, 5, 6, 9``).
Recoverable problems (voids filled, geometries repaired, defaults applied, ids
generated, unused columns that look like misspelt ones) are reported as
:class:`~deadzone.errors.DeadzoneWarning` and recorded in the result
(``Dem.void_mask``; ``GeoDataFrame.attrs``: ``source``, ``checksum``,
``repaired``, ``empty_geometries``, ``defaults``, ``reprojected_from``).

This module gathers the loaders; each lives with what it loads:
:mod:`deadzone.data.dem`, :mod:`deadzone.data.villages`,
:mod:`deadzone.data.communes`, :mod:`deadzone.data.towers`,
:mod:`deadzone.data.measurements`, :mod:`deadzone.data.population`, on the shared
reading of :mod:`deadzone.data._vectors` and :mod:`deadzone.data._tables`.
"""

from __future__ import annotations

from deadzone.data._tables import (
    COMMUNE_CANDIDATES,
    DEFAULT_SECTOR_BEAMWIDTH_DEG,
    DEM_VALID_RANGE_M,
    DISTRICT_CANDIDATES,
    LAT_CANDIDATES,
    LON_CANDIDATES,
    OPENCELLID_RADIO_TECH,
    PERSONS_PER_HOUSEHOLD,
    SITE_CLUSTER_RADIUS_M,
    TOWER_CANDIDATES,
    VILLAGE_CANDIDATES,
    WKT_CANDIDATES,
    file_checksum,
)
from deadzone.data.communes import load_communes
from deadzone.data.dem import load_dem
from deadzone.data.measurements import (
    FORMATS,
    MEASUREMENT_CANDIDATES,
    MEASUREMENT_COLUMNS,
    PLAUSIBLE_DBM,
    QC_REASONS,
    load_measurements,
    write_measurements,
)
from deadzone.data.population import load_population
from deadzone.data.towers import DEFAULT_CABLE_LOSS_DB, load_towers
from deadzone.data.villages import COMMUNES_JOINED, assign_communes, load_villages

__all__ = [
    "COMMUNES_JOINED",
    "DEFAULT_CABLE_LOSS_DB",
    "load_dem",
    "load_villages",
    "load_communes",
    "load_towers",
    "load_measurements",
    "load_population",
    "write_measurements",
    "assign_communes",
    "file_checksum",
    "DEM_VALID_RANGE_M",
    "PERSONS_PER_HOUSEHOLD",
    "SITE_CLUSTER_RADIUS_M",
    "DEFAULT_SECTOR_BEAMWIDTH_DEG",
    "LON_CANDIDATES",
    "LAT_CANDIDATES",
    "WKT_CANDIDATES",
    "VILLAGE_CANDIDATES",
    "COMMUNE_CANDIDATES",
    "DISTRICT_CANDIDATES",
    "TOWER_CANDIDATES",
    "OPENCELLID_RADIO_TECH",
    "FORMATS",
    "MEASUREMENT_CANDIDATES",
    "MEASUREMENT_COLUMNS",
    "PLAUSIBLE_DBM",
    "QC_REASONS",
]
