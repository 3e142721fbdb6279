"""Write a scenario's inputs to files a planner can edit, and read them back.

A scenario folder written by :func:`write_scenario` holds

=================  ==========================================================
file               content
=================  ==========================================================
``dem.tif``        elevation in metres, GeoTIFF float32 (deflate, tiled)
``dem_voids.tif``  1 where the DEM had no source data (``Dem.void_mask``)
``communes.gpkg``  commune polygons (layer ``communes``)
``villages.gpkg``  villages (layer ``villages``)
``villages.csv``   the same villages with ``lon``/``lat`` (and ``wkt`` for
                   polygons), UTF-8 with BOM so spreadsheet programs show
                   Vietnamese names correctly
``towers.csv``     towers with ``lon``/``lat``
``towers.gpkg``    the same towers (layer ``towers``)
``roads.gpkg``     road lines (only if the scenario has them)
``backbone.gpkg``  fiber nodes (only if the scenario has them)
``population.tif`` people per cell (only if the scenario has a population
                   raster), GeoTIFF float32 on the raster's own grid and CRS,
                   WorldPop's nodata -99999
``scenario.json``  name, meta and the SHA-256 of every file written
=================  ==========================================================

:func:`load_scenario` reads a folder back.  Villages and towers exist twice
(GeoPackage and CSV); the GeoPackage is read unless only the CSV was edited
since it was written (detected from the checksums in ``scenario.json``).

Every file is written under a temporary name in the target folder and moved
into place with :func:`os.replace` (:func:`atomic_path`), so a crash never
leaves a half-written file under the final name.

Outputs are reproducible byte for byte: GeoPackages written through
:func:`atomic_path` get a fixed ``gpkg_contents.last_change``
(:func:`gpkg_timestamp`: ``SOURCE_DATE_EPOCH`` when set, else
1970-01-01T00:00:00Z) instead of the wall-clock time GDAL would store, so the
same inputs give the same files; when a run happened is recorded elsewhere
(e.g. the files' modification times), never inside the data.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyogrio
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS

from deadzone.data._tables import _warn, file_checksum, quiet_affine
from deadzone.data.communes import _load_communes
from deadzone.data.dem import load_dem
from deadzone.data.population import load_population
from deadzone.data.towers import _load_towers
from deadzone.data.villages import _load_villages
from deadzone.errors import CRSError, DataLoadError, OutputExistsError, ParameterError
from deadzone.model.scenario import Scenario

__all__ = [
    "write_scenario",
    "load_scenario",
    "write_raster",
    "write_gpkg",
    "atomic_path",
    "write_json",
    "json_default",
    "write_summary_last",
    "verify_folder",
    "gpkg_timestamp",
    "make_workdir",
    "sweep_dead_workdirs",
    "SCENARIO_FILES",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Every file name a scenario folder may hold (see the module docstring).
SCENARIO_FILES: tuple[str, ...] = (
    "dem.tif",
    "dem_voids.tif",
    "communes.gpkg",
    "villages.gpkg",
    "villages.csv",
    "towers.csv",
    "towers.gpkg",
    "roads.gpkg",
    "backbone.gpkg",
    "population.tif",
    "scenario.json",
)

#: Nodata of ``population.tif``, WorldPop's convention.
POPULATION_NODATA = -99999.0

_FORMAT = "deadzone-scenario"
_FORMAT_VERSION = 1
#: Files GDAL/SQLite may write beside a temporary file (the overview file of a
#: COG while it is built, ``.ovr.tmp``, included).
_SIDE_SUFFIXES = ("-journal", "-wal", "-shm", ".aux.xml", ".ovr", ".ovr.tmp")


def write_gpkg(frame: gpd.GeoDataFrame, path: PathLike, *, layer: str, mode: str = "w") -> None:
    """Write ``frame`` as the GeoPackage layer ``layer`` of ``path``: a new file,
    or a layer added to an existing one (``mode="a"`` appends the rows to an
    existing layer of that name instead of replacing it).

    Through GDAL's Arrow interface (pyogrio ``use_arrow``): the columns go
    over in batches instead of feature by feature, half the time for 20,000
    villages; the same layer, field types and values as the row-wise writer.
    """
    frame.to_file(path, layer=layer, driver="GPKG", mode=mode, engine="pyogrio",
                  use_arrow=True)


def write_summary_last(path: PathLike, doc: Mapping[str, Any],
                       outputs: Iterable[PathLike]) -> Path:
    """Write a folder's summary JSON, after every other file of it, with their checksums.

    ``doc`` is written to ``path`` (atomically) with an ``"outputs"`` entry:
    the SHA-256 of each file of ``outputs``, by its path relative to the
    folder; ``outputs`` may name the folder's every file (a command's file
    list): the summary itself and files this run did not write are left out.
    Written last, it tells a folder that a killed ``--overwrite`` left half
    old, half new from one run: :func:`verify_folder` checks it.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    final = Path(os.fspath(path))
    files = [Path(os.fspath(p)) for p in outputs]
    listed = {p.relative_to(final.parent).as_posix(): file_checksum(p)
              for p in files if p != final and p.is_file()}
    return write_json(final, {**doc, "outputs": dict(sorted(listed.items()))})


def verify_folder(folder: PathLike, summary: str = "summary.json", *, command: str) -> None:
    """Check that an output folder is one run: every file its summary lists has
    the checksum recorded there (summaries written before checksums list
    none and pass).

    Parameters
    ----------
    folder : str or os.PathLike
        The output folder.
    summary : str
        Its summary file (``summary.json``, ``phases.json``, ...).
    command : str
        The ``deadzone`` command that wrote it (named in the error).

    Raises
    ------
    DataLoadError
        A listed file is missing or differs: the folder mixes two runs (an
        interrupted ``--overwrite``) or was edited.
    """
    folder = Path(os.fspath(folder))
    try:
        doc = json.loads((folder / summary).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # the reader reports a missing or unreadable summary itself
    listed = doc.get("outputs") if isinstance(doc, dict) else None
    for name, digest in sorted((listed or {}).items()):
        p = folder / name
        if not p.is_file() or file_checksum(p) != digest:
            what = ("is missing" if not p.is_file()
                    else f"differs from the {command} run its {summary} describes")
            raise DataLoadError(
                f"{p}: {what} (the folder mixes two runs, e.g. an interrupted --overwrite, "
                f"or was edited); run `deadzone {command}` again")


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    The temporary name keeps the suffix (so GDAL picks the same driver) and
    lives in the same folder (so the final :func:`os.replace` is atomic).
    If the ``with`` body raises, the temporary file (and GDAL side files such
    as ``-journal``) is deleted and ``path`` is left untouched.  The file is
    flushed to disk (``fsync``) before the rename and the folder after it, so
    even a power cut leaves the old or the new file, never a truncated one.

    Parameters
    ----------
    path : str or os.PathLike
        Final file path.  Its folder is created if missing.

    Yields
    ------
    pathlib.Path
        Where to write.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> out.read_text()
    'hello'
    """
    final = Path(os.fspath(path))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{secrets.token_hex(4)}.tmp{final.suffix}")
    fixed_time = _fixed_gpkg_time() if final.suffix.lower() == ".gpkg" else contextlib.nullcontext()
    try:
        with fixed_time:
            yield tmp
        if not tmp.exists():
            raise DataLoadError(f"{final}: nothing was written to the temporary file {tmp.name}")
        _fsync(tmp)  # the data reaches the disk before the name does (power loss too)
        os.replace(tmp, final)
        _fsync(final.parent)
    except BaseException:
        for extra in [tmp, *(tmp.with_name(tmp.name + s) for s in _SIDE_SUFFIXES)]:
            with contextlib.suppress(FileNotFoundError):
                extra.unlink()
        raise
    finally:
        for s in _SIDE_SUFFIXES:  # e.g. an .aux.xml GDAL may leave behind
            with contextlib.suppress(FileNotFoundError):
                tmp.with_name(tmp.name + s).unlink()


#: Inside a work folder: the PID of the process that owns it.
WORKDIR_OWNER = "owner.pid"


def make_workdir(out: Path, prefix: str) -> Path:
    """A temporary work folder inside ``out`` (``<prefix><random>``), marked
    with this process's PID so that a later run can tell a folder a killed run
    left (:func:`sweep_dead_workdirs`) from one a live run is using."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix=prefix, dir=out))
    (work / WORKDIR_OWNER).write_text(f"{os.getpid()}\n", encoding="utf-8")
    return work


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return False
    return True


def sweep_dead_workdirs(out: Path, prefixes: tuple[str, ...]) -> list[Path]:
    """Remove the work folders (names starting with one of ``prefixes``) whose
    owner process is gone: what a ``kill -9`` left (a 240 MB ``.tiles-*``
    folder, say).  Folders of live runs, and unmarked ones, are kept."""
    import shutil

    swept = []
    if not out.is_dir():
        return swept
    for d in out.iterdir():
        if not (d.is_dir() and d.name.startswith(prefixes)):
            continue
        try:
            pid = int((d / WORKDIR_OWNER).read_text(encoding="utf-8").strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            swept.append(d)
    return swept


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's data to disk; nothing where the OS cannot."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. folders on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def gpkg_timestamp() -> str:
    """The ``gpkg_contents.last_change`` value deadzone writes into GeoPackages.

    GDAL stores the current time there, which makes two runs on the same
    inputs differ.  deadzone stores ``SOURCE_DATE_EPOCH`` (seconds since
    1970, the reproducible-builds convention) when that environment variable
    holds an integer, else 1970-01-01T00:00:00.000Z.

    Returns
    -------
    str
        ISO 8601 UTC time with milliseconds, as the GeoPackage standard
        (OGC 12-128r18, table 5) requires.

    Examples
    --------
    >>> gpkg_timestamp()  # doctest: +SKIP
    '1970-01-01T00:00:00.000Z'
    """
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    try:
        stamp = datetime.datetime.fromtimestamp(int(raw) if raw.isdigit() else 0, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):  # beyond year 9999
        stamp = datetime.datetime.fromtimestamp(0, tz=datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@contextlib.contextmanager
def _fixed_gpkg_time() -> Iterator[None]:
    """GDAL's GPKG driver takes ``last_change`` from ``OGR_CURRENT_DATE`` when set."""
    key = "OGR_CURRENT_DATE"
    before = pyogrio.get_gdal_config_option(key)
    pyogrio.set_gdal_config_options({key: gpkg_timestamp()})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({key: before})


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")


def write_raster(
    path: PathLike,
    array: npt.ArrayLike,
    transform: Affine,
    crs: Any,
    *,
    nodata: float | None = None,
    overwrite: bool = False,
    cog: bool = False,
) -> Path:
    """Write a georeferenced array as a GeoTIFF (deflate, tiled), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.tif``.
    array : array_like, shape (rows, cols) or (bands, rows, cols)
        Values; the dtype is kept (bool is written as uint8).
    transform : affine.Affine
        Pixel-to-CRS transform.
    crs : CRS-like
        Anything ``rasterio.crs.CRS.from_user_input`` accepts.
    nodata : float, optional
        Nodata value to declare (NaN allowed for float data).
    overwrite : bool, default False
        Replace an existing file.
    cog : bool, default False
        Write a Cloud-Optimized GeoTIFF (GDAL ``COG`` driver: 256 px tiles,
        internal overviews) instead of a plain tiled GeoTIFF.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    ParameterError
        ``array`` is not 2-D or 3-D.
    CRSError
        ``crs`` cannot be parsed.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from affine import Affine
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "z.tif"
    >>> write_raster(p, np.zeros((4, 4), "float32"), Affine(30, 0, 500000, 0, -30, 2e6),
    ...              "EPSG:32648").name
    'z.tif'
    """
    p = Path(os.fspath(path))
    _refuse_existing(p, overwrite)
    arr = np.asarray(array)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3 or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise ParameterError(
            f"array shape was {np.shape(array)}; expected (rows, cols) or (bands, rows, cols)"
        )
    try:
        crs_obj = CRS.from_user_input(crs) if crs is not None else None
    except Exception as exc:
        raise CRSError(f"crs {crs!r} is not a valid CRS ({' '.join(str(exc).split())})") from None
    is_float = np.issubdtype(arr.dtype, np.floating)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": int(arr.shape[2]),
        "height": int(arr.shape[1]),
        "count": int(arr.shape[0]),
        "dtype": arr.dtype.name,
        "crs": crs_obj,
        "transform": Affine(*tuple(transform)[:6]),
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if is_float else 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "BIGTIFF": "IF_SAFER",
    }
    if cog:
        for key in ("tiled", "blockxsize", "blockysize"):
            del profile[key]
        profile.update(driver="COG", blocksize=256, overviews="auto")
    with atomic_path(p) as tmp, quiet_affine(), rasterio.open(tmp, "w", **profile) as dst:
        dst.write(arr)
    return p


# --------------------------------------------------------------------------- scenario


def _wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise CRSError(f"scenario.{what} has no CRS; expected EPSG:4326")
    if gdf.crs.to_epsg() != 4326:
        return gdf.to_crs(4326)
    return gdf


def _write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str, what: str) -> None:
    gdf = _wgs84(gdf, what)
    gdf = gdf.drop(columns=[c for c in ("source_row",) if c in gdf.columns])
    gdf = gpd.GeoDataFrame(gdf, geometry=gdf.geometry.name, crs=gdf.crs)
    gdf.attrs = {}
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")


def _lonlat(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lon/lat of points (representative points of other geometries); NaN if empty."""
    arr = np.asarray(geoms.array, dtype=object)
    empty = shapely.is_missing(arr) | shapely.is_empty(arr)
    is_point = np.zeros(len(arr), dtype=bool)
    is_point[~empty] = shapely.get_type_id(arr[~empty]) == 0
    pts = arr.copy()
    other = ~empty & ~is_point
    if other.any():
        pts[other] = shapely.point_on_surface(arr[other])
    lon = np.full(len(arr), np.nan)
    lat = np.full(len(arr), np.nan)
    if (~empty).any():
        lon[~empty] = shapely.get_x(pts[~empty])
        lat[~empty] = shapely.get_y(pts[~empty])
    return lon, lat, other


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")


def _villages_table(villages: gpd.GeoDataFrame) -> pd.DataFrame:
    v = _wgs84(villages, "villages")
    lon, lat, other = _lonlat(v.geometry)
    table = pd.DataFrame(v.drop(columns=[v.geometry.name]))
    table = table.drop(columns=[c for c in ("source_row", "lon", "lat", "wkt") if c in table])
    table["lon"] = lon
    table["lat"] = lat
    if other.any():
        table["wkt"] = shapely.to_wkt(
            np.asarray(v.geometry.array, dtype=object), rounding_precision=-1
        )
    return table


def _towers_table(towers: gpd.GeoDataFrame) -> pd.DataFrame:
    t = _wgs84(towers, "towers")
    lon, lat, _ = _lonlat(t.geometry)
    table = pd.DataFrame(t.drop(columns=[t.geometry.name]))
    table = table.drop(columns=[c for c in ("source_row",) if c in table])
    table["lon"] = lon
    table["lat"] = lat
    return table


def json_default(obj: Any) -> Any:
    """What :func:`write_json` writes for a value ``json`` cannot: numpy
    scalars as numbers, arrays as lists, paths and anything else as text."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def write_json(path: PathLike, doc: Any, *, indent: int | None = 2) -> Path:
    """Write ``doc`` as JSON, atomically: the one JSON writer of deadzone's outputs.

    UTF-8 text (Vietnamese names as they are, not ``\\u`` escapes), ``indent``
    spaces (None: one line), a final newline; values ``json`` cannot write
    go through :func:`json_default`.  A float NaN is written ``NaN``, as
    Python's and pandas' JSON readers take it (writers that need strict JSON,
    e.g. OFDS, turn NaN into null themselves).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    final = Path(os.fspath(path))
    text = json.dumps(doc, indent=indent, ensure_ascii=False, default=json_default)
    with atomic_path(final) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return final


def write_scenario(
    scenario: Scenario, out_dir: PathLike, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write every input of a scenario to a folder a planner can edit.

    Parameters
    ----------
    scenario : Scenario
        The inputs (vector layers in EPSG:4326; layers in another CRS are
        reprojected on the way out).
    out_dir : str or os.PathLike
        Folder (created if missing).
    overwrite : bool, default False
        Replace existing scenario files.  With True, a layer file the
        scenario no longer has (e.g. ``roads.gpkg`` when ``roads`` is None)
        is deleted so that :func:`load_scenario` does not pick it up.

    Returns
    -------
    dict of str to pathlib.Path
        File name (e.g. ``"dem.tif"``) -> path written, in writing order.

    Raises
    ------
    OutputExistsError
        Any scenario file (:data:`SCENARIO_FILES`) already exists and
        ``overwrite`` is False; nothing is written then.

    Examples
    --------
    >>> paths = write_scenario(scenario, "out/my_scenario")  # doctest: +SKIP
    >>> again = load_scenario("out/my_scenario")  # doctest: +SKIP
    """
    out = Path(os.fspath(out_dir))
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a folder")
    if not overwrite:
        for name in SCENARIO_FILES:
            _refuse_existing(out / name, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    dem = scenario.dem
    elev = np.asarray(dem.elevation_m, dtype=np.float32)
    nodata = float("nan") if np.isnan(elev).any() else None
    written["dem.tif"] = write_raster(
        out / "dem.tif", elev, dem.transform, dem.crs, nodata=nodata, overwrite=True
    )
    written["dem_voids.tif"] = write_raster(
        out / "dem_voids.tif",
        dem.void_mask.astype(np.uint8),
        dem.transform,
        dem.crs,
        overwrite=True,
    )
    _write_gpkg(scenario.communes, out / "communes.gpkg", "communes", "communes")
    written["communes.gpkg"] = out / "communes.gpkg"
    _write_gpkg(scenario.villages, out / "villages.gpkg", "villages", "villages")
    written["villages.gpkg"] = out / "villages.gpkg"
    _write_csv(_villages_table(scenario.villages), out / "villages.csv")
    written["villages.csv"] = out / "villages.csv"
    _write_csv(_towers_table(scenario.towers), out / "towers.csv")
    written["towers.csv"] = out / "towers.csv"
    _write_gpkg(scenario.towers, out / "towers.gpkg", "towers", "towers")
    written["towers.gpkg"] = out / "towers.gpkg"
    for name, layer in (("roads", scenario.roads), ("backbone", scenario.backbone)):
        target = out / f"{name}.gpkg"
        if layer is None:
            if target.exists():  # only reachable with overwrite=True
                target.unlink()
            continue
        _write_gpkg(layer, target, name, name)
        written[target.name] = target
    pop = scenario.population
    if pop is None:
        (out / "population.tif").unlink(missing_ok=True)  # only reachable with overwrite=True
    else:
        people = np.where(pop.valid, pop.people, POPULATION_NODATA).astype(np.float32)
        written["population.tif"] = write_raster(
            out / "population.tif", people, pop.transform, pop.crs,
            nodata=POPULATION_NODATA, overwrite=True,
        )

    manifest = {
        "format": _FORMAT,
        "version": _FORMAT_VERSION,
        "name": scenario.name,
        "meta": scenario.meta,
        "files": {name: file_checksum(path) for name, path in written.items()},
    }
    written["scenario.json"] = write_json(out / "scenario.json", manifest)
    logger.info("wrote scenario %r to %s (%d files)", scenario.name, out, len(written))
    return written


def _pick_copy(folder: Path, preferred: str, other: str, recorded: Mapping[str, str]) -> Path:
    """Choose between the GeoPackage and CSV copies of one layer."""
    a, b = folder / preferred, folder / other
    if not a.exists() and not b.exists():
        raise DataLoadError(f"{folder}: has neither {preferred} nor {other}")
    if not b.exists():
        return a
    if not a.exists():
        return b
    edited = [f for f in (a, b) if f.name in recorded and file_checksum(f) != recorded[f.name]]
    if len(edited) == 2:
        raise DataLoadError(
            f"{folder}: both {preferred} and {other} changed since write_scenario; "
            "delete the copy you did not edit"
        )
    if edited:
        logger.info("%s: reading %s (edited since written)", folder, edited[0].name)
        return edited[0]
    return a


def _read_plain_layer(path: Path) -> gpd.GeoDataFrame:
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:
        raise DataLoadError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataLoadError(f"{path}: has no geometry")
    if gdf.crs is None:
        raise CRSError(f"{path}: has no CRS")
    if gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    gdf.attrs = {"source": str(path), "checksum": file_checksum(path)}
    return gdf


def load_scenario(in_dir: PathLike | Mapping[str, PathLike]) -> Scenario:
    """Read a folder written by :func:`write_scenario` (possibly edited).

    Parameters
    ----------
    in_dir : str, os.PathLike or mapping
        The folder, or the mapping :func:`write_scenario` returned.

    Returns
    -------
    Scenario
        Layers read with the loaders of :mod:`deadzone.data.loaders`
        (``source_row`` refers to the rows of the files read), the DEM with
        its void mask from ``dem_voids.tif``, the population raster from
        ``population.tif`` when the folder has one, ``name`` and ``meta`` from
        ``scenario.json``; ``meta["loaded_from"]`` maps each file read to its
        SHA-256.

    Raises
    ------
    DataLoadError
        A required file (``dem.tif``, ``communes.gpkg``, villages, towers) is
        missing or unreadable, or both copies of a layer were edited.

    Examples
    --------
    >>> s = load_scenario("out/my_scenario")  # doctest: +SKIP
    """
    if isinstance(in_dir, Mapping):
        if not in_dir:
            raise ParameterError("in_dir mapping is empty")
        folder = Path(os.fspath(next(iter(in_dir.values())))).parent
    else:
        folder = Path(os.fspath(in_dir))
    if not folder.is_dir():
        raise DataLoadError(f"{folder}: scenario folder not found")
    manifest: dict[str, Any] = {}
    mpath = folder / "scenario.json"
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataLoadError(f"{mpath}: not valid JSON ({' '.join(str(exc).split())})") from None
    recorded: Mapping[str, str] = manifest.get("files", {}) or {}

    dem_path = folder / "dem.tif"
    if not dem_path.exists():
        raise DataLoadError(f"{dem_path}: file not found")
    dem = load_dem(dem_path)
    voids_path = folder / "dem_voids.tif"
    if voids_path.exists():
        with rasterio.open(voids_path) as src:
            voids = src.read(1) != 0
        if voids.shape != dem.shape:
            _warn(f"{voids_path}: shape {voids.shape} differs from dem.tif {dem.shape}; ignored")
        else:
            dem = replace(dem, void_mask=voids | dem.void_mask)

    communes_path = folder / "communes.gpkg"
    communes = _load_communes(communes_path, allow_empty=True)
    villages_path = _pick_copy(folder, "villages.gpkg", "villages.csv", recorded)
    villages = _load_villages(villages_path, allow_empty=True)
    towers_path = _pick_copy(folder, "towers.gpkg", "towers.csv", recorded)
    towers = _load_towers(towers_path, allow_empty=True)
    roads = _read_plain_layer(folder / "roads.gpkg") if (folder / "roads.gpkg").exists() else None
    backbone = (
        _read_plain_layer(folder / "backbone.gpkg") if (folder / "backbone.gpkg").exists() else None
    )
    pop_path = folder / "population.tif"
    population = load_population(pop_path) if pop_path.exists() else None
    read = [dem_path, communes_path, villages_path, towers_path]
    read += [p for p in (folder / "roads.gpkg", folder / "backbone.gpkg", pop_path) if p.exists()]
    if voids_path.exists():
        read.append(voids_path)
    meta = dict(manifest.get("meta") or {})
    meta["loaded_from"] = {str(p): file_checksum(p) for p in read}
    return Scenario(
        dem=dem,
        communes=communes,
        villages=villages,
        towers=towers,
        roads=roads,
        backbone=backbone,
        population=population,
        name=str(manifest.get("name") or folder.name),
        meta=meta,
    )
