"""The batch file: ``[[scenario]]`` tables, ``[matrix]`` axes and
``split`` (provinces or tiles) turned into :class:`BatchScenario` jobs, each
with the fingerprint (parameters and input checksums) ``--resume`` compares."""

from __future__ import annotations

import itertools
import math
import os
import re
import tomllib
import unicodedata
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from deadzone.data.postgis import PgUrl, is_pg_url, read_pg, shown_source, source_stem
from deadzone.errors import DataLoadError, DeadzoneError, DeadzoneWarning
from deadzone.model.defaults import (
    DEFAULT_MODEL,
    DEFAULT_RADIUS_KM,
    DEFAULT_RX_HEIGHT_M,
    RADIUS_KM_RANGE,
)

__all__ = [
    "BatchScenario",
    "load_batch",
]

# Bumped when the rule that puts villages into split jobs changes, so that ``--resume``
# recomputes split jobs written under the old rule (2: one whole-scenario commune
# assignment, as ``deadzone audit`` makes it, instead of one per province).
_SPLIT_RULE = 2
_FILE_KEYS = ("dem", "villages", "communes", "towers", "landcover", "scenario", "calibration",
              "population")
#: The keys whose value may be a ``postgresql://`` table or query (vector inputs).
_DB_KEYS = ("villages", "communes", "towers")
_PARAM_KEYS = {
    "model": str,
    "radius_km": float,
    "rx_height_m": float,
    "threshold_dbm": float,
    "indoor_margin_db": float,
    "confidence": float,
    "default_tech": str,
    "dem_resolution_m": float,
    "rasters": bool,
    "village_population_km": float,
    "persons_per_household": float,
}
_OTHER_KEYS = {"name", "demo", "split", "provinces", "province", "area", "tile_km"}
_KNOWN = set(_FILE_KEYS) | set(_PARAM_KEYS) | _OTHER_KEYS
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BatchScenario:
    """One audit of a batch.

    Attributes
    ----------
    name : str
        Folder name under the batch output (letters, digits, ``._-``).
    files : dict
        Input paths by role: ``dem``, ``villages``, ``communes``, ``towers``
        (and optional ``landcover`` and ``calibration``, a ``deadzone
        calibrate`` output whose model and corrections the audit applies, and
        ``population``, a population raster: ``deadzone audit
        --population-raster``), or ``scenario`` (a folder written by
        :func:`deadzone.data.io.write_scenario`; ``landcover`` and
        ``population`` allowed beside it).  Empty for a demo scenario.
    demo_seed : int or None
        Generate the demo province with this seed instead of reading files.
    province : str or None
        Audit only the villages of communes of this province (a split job);
        the DEM is read only around them, grown by ``radius_km`` (the halo).
        Each village's commune is the one the unsplit audit gives it, so the
        province jobs partition the villages; ``""`` is the ``-unassigned``
        job: the villages with no commune, or one without a province.
    tile : tuple or None
        ``(dlon_deg, dlat_deg, ix, iy, first)``: audit only the villages whose
        representative point falls in lon/lat cell ``(ix, iy)`` of a grid of
        ``dlon_deg x dlat_deg`` (a ``split = "tile"`` job); the DEM is read
        around them grown by ``radius_km``.  ``first`` also takes the villages
        without a usable location, so every village is in exactly one tile.
    model, radius_km, rx_height_m, threshold_dbm, indoor_margin_db, confidence,
    default_tech, dem_resolution_m
        As for ``deadzone audit`` (``confidence`` needs ``calibration``).
    rasters : bool
        Also write the area rasters (``coverage.tif`` ...); off by default:
        village statuses come from exact tower -> village paths either way,
        and a national batch needs the tables, not a raster per job
        (``rasters = true`` in the TOML for maps).  With ``population`` the
        area sweep runs anyway (the people figures are per-cell statuses).
    village_population_km, persons_per_household : float or None
        ``--village-population-from-raster`` and ``--persons-per-household``
        (need ``population``; the first too for the second).
    """

    name: str
    files: dict[str, Path | str] = field(default_factory=dict)
    demo_seed: int | None = None
    province: str | None = None
    tile: tuple[float, float, int, int, bool] | None = None
    model: str = DEFAULT_MODEL
    radius_km: float = DEFAULT_RADIUS_KM
    rx_height_m: float = DEFAULT_RX_HEIGHT_M
    threshold_dbm: float | None = None
    indoor_margin_db: float = 0.0
    confidence: float | None = None
    default_tech: str = "4G"
    dem_resolution_m: float | None = None
    rasters: bool = False
    village_population_km: float | None = None
    persons_per_household: float | None = None

    def parameters(self) -> dict[str, Any]:
        """Everything that determines the result except the input bytes."""
        d = asdict(self)
        for k in ("village_population_km", "persons_per_household"):
            if d[k] is None:  # absent, as before these keys: old batches resume unchanged
                del d[k]
        d["files"] = {k: shown_source(v) for k, v in sorted(self.files.items())}
        if self.province is not None or self.tile is not None:
            d["split_rule"] = _SPLIT_RULE
        return d

    def fingerprint(self) -> dict[str, Any]:
        """Parameters plus the SHA-256 of every input file (what resume compares)."""
        return {"parameters": self.parameters(), "checksums": _checksums(self.files)}


# --------------------------------------------------------------------------- parsing


def _err(toml: Path, where: str, msg: str) -> DataLoadError:
    return DataLoadError(f"{toml}: {where}: {msg}")


def _slug(s: str) -> str:
    """A folder-safe ASCII name: Vietnamese diacritics dropped ("Lai Châu" -> "Lai_Chau")."""
    t = unicodedata.normalize("NFKD", str(s).replace("đ", "d").replace("Đ", "D"))
    t = "".join(c for c in t if not unicodedata.combining(c))
    return _NAME_RE.sub("_", t).strip("_") or "x"


def _build(toml: Path, where: str, spec: dict[str, Any]) -> BatchScenario:
    """Validate one merged scenario table and turn it into a BatchScenario."""
    unknown = sorted(set(spec) - _KNOWN)
    if unknown:
        raise _err(toml, where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KNOWN))})")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise _err(toml, where, "key 'name': a non-empty string is required")
    if _slug(name) != name:
        raise _err(
            toml, where, f"key 'name': {name!r} may only hold letters, digits, '.', '_', '-'"
        )
    where = f"scenario {name!r}"
    files: dict[str, Path | str] = {}
    for k in _FILE_KEYS:
        if k in spec:
            if not isinstance(spec[k], str):
                raise _err(toml, where, f"key {k!r}: expected a path string")
            if is_pg_url(spec[k]) and k in _DB_KEYS:  # a PostGIS table or query
                u = PgUrl.parse(spec[k])
                if (u.table is None) == (u.sql is None):
                    raise _err(toml, where, f"key {k!r}: {u.shown}: give ?table= or ?sql=")
                files[k] = spec[k]
                continue
            p = Path(spec[k])
            p = p if p.is_absolute() else (toml.parent / p)
            if not p.exists():
                raise _err(toml, where, f"key {k!r}: {p} does not exist")
            files[k] = p.resolve()
    demo_seed = None
    if "demo" in spec:
        d = spec["demo"]
        seed = d.get("seed", 0) if isinstance(d, dict) else d
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _err(toml, where, "key 'demo': expected {seed = N} with an integer N")
        demo_seed = int(seed)
        if files:
            raise _err(toml, where, f"key {next(iter(files))!r}: not allowed with 'demo'")
    elif "scenario" in files:
        extra = [k for k in files if k not in ("scenario", "landcover", "population")]
        if extra:
            raise _err(toml, where, f"key {extra[0]!r}: not allowed with 'scenario'")
    else:
        for k in ("dem", "villages", "communes", "towers"):
            if k not in files:
                raise _err(toml, where, f"key {k!r} is required (or give 'scenario' or 'demo')")
    params: dict[str, Any] = {}
    for k, typ in _PARAM_KEYS.items():
        if k in spec:
            v = spec[k]
            if typ is str:
                ok = isinstance(v, str)
            elif typ is bool:
                ok = isinstance(v, bool)
            else:
                ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok:
                raise _err(toml, where, f"key {k!r}: expected a {typ.__name__}, got {v!r}")
            params[k] = typ(v)
    from deadzone.kernels.coverage import MODELS

    if params.get("model", "itm") not in MODELS:
        raise _err(
            toml, where, f"key 'model': {params['model']!r} is not one of {', '.join(MODELS)}"
        )
    lo, hi = RADIUS_KM_RANGE
    if not lo <= params.get("radius_km", DEFAULT_RADIUS_KM) <= hi:
        raise _err(toml, where, f"key 'radius_km': must be within {lo:g}-{hi:g} km")
    if params.get("default_tech", "4G") not in ("2G", "3G", "4G", "5G"):
        raise _err(toml, where, "key 'default_tech': must be 2G, 3G, 4G or 5G")
    if "calibration" in files:
        from deadzone.app.calibrate import load_calibration

        try:
            cal_model = load_calibration(files["calibration"]).model
        except DeadzoneError as exc:
            raise _err(toml, where, f"key 'calibration': {exc}") from None
        if params.get("model", cal_model) != cal_model:
            raise _err(toml, where, f"key 'model': {params['model']!r}, but the calibration "
                                    f"was made for {cal_model!r} (drop 'model')")
        params["model"] = cal_model
    if "village_population_km" in params and "population" not in files:
        raise _err(toml, where, "key 'village_population_km' needs 'population' (a population "
                                "raster)")
    if "persons_per_household" in params and "village_population_km" not in params:
        raise _err(toml, where, "key 'persons_per_household' needs 'village_population_km'")
    if not 0 < params.get("village_population_km", 1.0) <= 50:
        raise _err(toml, where, "key 'village_population_km': must be within 0-50 km")
    if not 0.5 <= params.get("persons_per_household", 3.5) <= 50:
        raise _err(toml, where, "key 'persons_per_household': must be within 0.5-50")
    if "confidence" in params:
        if "calibration" not in files:
            raise _err(toml, where, "key 'confidence' needs 'calibration' (its residual sigma)")
        if not 50 <= params["confidence"] < 100:
            raise _err(toml, where, "key 'confidence': must be within 50-99.9 %")
    province = spec.get("province")
    if province is not None and not isinstance(province, str):
        raise _err(toml, where, "key 'province': expected a string")
    return BatchScenario(name=name, files=files, demo_seed=demo_seed, province=province, **params)


def _norm(s: Any) -> str:
    return unicodedata.normalize("NFC", str(s)).strip()


def _village_lonlat(villages: Any) -> tuple[Any, Any]:
    """Lon/lat of each village's representative point (NaN where it has none)."""
    import numpy as np

    g = villages.geometry
    usable = ~(g.isna() | g.is_empty).to_numpy()
    lon = np.full(len(g), np.nan)
    lat = np.full(len(g), np.nan)
    if usable.any():
        pts = g[usable].to_crs(4326).representative_point()
        lon[usable], lat[usable] = pts.x.to_numpy(), pts.y.to_numpy()
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    lon[bad], lat[bad] = np.nan, np.nan
    return lon, lat


def _tile_mask(villages: Any, tile: tuple[float, float, int, int, bool]) -> Any:
    """Villages of one tile; the same arithmetic as the split, so tiles partition exactly."""
    import numpy as np

    dlon, dlat, ix, iy, first = tile
    lon, lat = _village_lonlat(villages)
    ok = np.isfinite(lon)
    with np.errstate(invalid="ignore"):
        m = ok & (np.floor(lon / dlon) == ix) & (np.floor(lat / dlat) == iy)
    return m | (~ok if first else False)


def _split_tiles(toml: Path, sc: BatchScenario, tile_km: Any) -> list[BatchScenario]:
    """One job per non-empty ``tile_km`` x ``tile_km`` square of villages (``split = "tile"``).

    The grid is in lon/lat, with the longitude step scaled by the cosine of the
    villages' mean latitude so that cells are ~square on the ground.
    """
    import numpy as np

    where = f"scenario {sc.name!r}"
    if "villages" not in sc.files:
        raise _err(toml, where, "key 'split': \"tile\" needs a 'villages' file")
    ok_km = isinstance(tile_km, int | float) and not isinstance(tile_km, bool)
    if not ok_km or not 1.0 <= tile_km <= 2000.0:
        raise _err(toml, where, f"key 'tile_km': expected a number in 1-2000 km, got {tile_km!r}")
    from deadzone.data.loaders import load_villages

    try:
        with warnings.catch_warnings():
            # Only locations are needed here; each tile job reports the file's warnings.
            warnings.simplefilter("ignore", DeadzoneWarning)
            lon, lat = _village_lonlat(load_villages(sc.files["villages"]))
    except DataLoadError as exc:
        raise _err(toml, where, f"key 'villages': {exc}") from exc
    ok = np.isfinite(lon)
    if not ok.any():
        raise _err(toml, where, "key 'split': no village has a usable location to tile")
    dlat = float(tile_km) / 110.574
    coslat = max(math.cos(math.radians(float(np.mean(lat[ok])))), 0.05)
    dlon = float(tile_km) / (111.320 * coslat)
    cells = sorted(
        {
            (int(y), int(x))
            for x, y in zip(np.floor(lon[ok] / dlon), np.floor(lat[ok] / dlat), strict=True)
        }
    )
    return [
        replace(sc, name=f"{sc.name}-y{iy}x{ix}", tile=(dlon, dlat, ix, iy, k == 0))
        for k, (iy, ix) in enumerate(cells)
    ]


def _split(toml: Path, sc: BatchScenario, how: Any, only: Any) -> list[BatchScenario]:
    """One job per province of the communes file (``split = "province"``).

    ``provinces = [...]`` restricts the split to the named provinces.
    Without it, a last job ``<name>-unassigned`` takes the villages that no
    commune places in a province, so that the jobs hold every village once.
    """
    where = f"scenario {sc.name!r}"
    if how != "province":
        raise _err(toml, where, f'key \'split\': "province" or "tile" expected, got {how!r}')
    if "communes" not in sc.files:
        raise _err(toml, where, "key 'split': needs a 'communes' file")
    import pyogrio

    from deadzone.data.loaders import COMMUNE_CANDIDATES

    path = sc.files["communes"]
    try:
        table = read_pg(str(path)).table if is_pg_url(path) else None
        fields = table.columns if table is not None else pyogrio.read_info(path)["fields"]
        names = {str(c).lower(): c for c in fields}
        col = next((names[c] for c in COMMUNE_CANDIDATES["province"] if c in names), None)
        if col is None:
            raise _err(
                toml,
                where,
                f"key 'split': {shown_source(path)} has no province column "
                f"({', '.join(COMMUNE_CANDIDATES['province'])})",
            )
        df = table if table is not None else pyogrio.read_dataframe(
            path, columns=[col], read_geometry=False)
    except DataLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as a one-line error
        raise _err(toml, where, f"key 'split': cannot read {shown_source(path)}: {exc}") from exc
    provs = sorted({_norm(p) for p in df[col].dropna()})
    if only is not None:
        if not isinstance(only, list) or not all(isinstance(p, str) for p in only):
            raise _err(toml, where, "key 'provinces': expected a list of province names")
        missing = [p for p in only if _norm(p) not in provs]
        if missing:
            raise _err(toml, where, f"key 'provinces': {missing[0]!r} is not a province of "
                       f"{shown_source(path)}")
        provs = [p for p in provs if p in {_norm(q) for q in only}]
    jobs = [replace(sc, name=f"{sc.name}-{_slug(p)}", province=p) for p in provs]
    if only is None:
        jobs.append(replace(sc, name=f"{sc.name}-unassigned", province=""))
    return jobs


def _label(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("name", key))
    if isinstance(value, str) and key in _FILE_KEYS:
        return source_stem(value)
    return f"{key}{value}"


def load_batch(path: str | os.PathLike[str]) -> list[BatchScenario]:
    """Read and validate a batch TOML file.

    Parameters
    ----------
    path : path
        TOML with an optional ``[defaults]`` table, any number of
        ``[[scenario]]`` tables and an optional ``[matrix]`` table.  Paths
        are relative to the TOML file.

    Returns
    -------
    list of BatchScenario
        In file order (matrix scenarios last); split scenarios expanded.

    Raises
    ------
    DataLoadError
        One line naming the TOML file, the scenario and the key at fault.
    """
    toml = Path(path)
    try:
        doc = tomllib.loads(toml.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataLoadError(f"{toml}: batch file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DataLoadError(f"{toml}: invalid TOML: {exc}") from exc
    bad = sorted(set(doc) - {"defaults", "scenario", "matrix"})
    if bad:
        raise _err(
            toml,
            "top level",
            f"unknown table {bad[0]!r} (expected [defaults], [[scenario]], [matrix])",
        )
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _err(toml, "top level", "'defaults' must be a table")
    raw: list[tuple[str, dict[str, Any]]] = []
    items = doc.get("scenario", [])
    if not isinstance(items, list):
        raise _err(toml, "top level", "'scenario' must be an array of tables ([[scenario]])")
    for i, item in enumerate(items):
        raw.append((f"scenario #{i + 1} ({item.get('name', '?')!r})", {**defaults, **item}))
    matrix = doc.get("matrix")
    if matrix is not None:
        if not isinstance(matrix, dict):
            raise _err(toml, "matrix", "'matrix' must be a table")
        axes = {k: v for k, v in matrix.items() if isinstance(v, list)}
        fixed = {k: v for k, v in matrix.items() if not isinstance(v, list)}
        for k, v in axes.items():
            if not v:
                raise _err(toml, "matrix", f"key {k!r}: empty list")
        for combo in itertools.product(*axes.values()):
            spec = {**defaults, **fixed}
            parts = [str(fixed["name"])] if "name" in fixed else []
            for k, v in zip(axes, combo, strict=True):
                if k == "area":
                    if not isinstance(v, dict):
                        raise _err(toml, "matrix", "key 'area': expected inline tables")
                    spec.update({kk: vv for kk, vv in v.items() if kk != "name"})
                else:
                    spec[k] = v
                parts.append(_slug(_label(k, v)))
            spec["name"] = "-".join(parts) or "matrix"
            spec.pop("area", None)
            raw.append((f"matrix scenario {spec['name']!r}", spec))
    if not raw:
        raise _err(toml, "top level", "no scenarios ([[scenario]] or [matrix])")
    out: list[BatchScenario] = []
    for where, spec in raw:
        split, only = spec.pop("split", None), spec.pop("provinces", None)
        tile_km = spec.pop("tile_km", None)
        sc = _build(toml, where, spec)
        if only is not None and split != "province":
            raise _err(toml, f"scenario {sc.name!r}", "key 'provinces': needs split = \"province\"")
        if tile_km is not None and split != "tile":
            raise _err(toml, f"scenario {sc.name!r}", "key 'tile_km': needs split = \"tile\"")
        if split is None:
            out.append(sc)
        elif split == "tile":
            out.extend(_split_tiles(toml, sc, 100.0 if tile_km is None else tile_km))
        else:
            out.extend(_split(toml, sc, split, only))
    seen: set[str] = set()
    for sc in out:
        if sc.name in seen:
            raise _err(toml, f"scenario {sc.name!r}", "key 'name': duplicate scenario name")
        seen.add(sc.name)
    return out


# --------------------------------------------------------------------------- running

_CHECKSUM_CACHE: dict[tuple[str, float, int], str] = {}


def _checksums(files: dict[str, Path | str]) -> dict[str, str]:
    from deadzone.data.loaders import file_checksum

    out: dict[str, str] = {}
    for role, p in sorted(files.items()):
        if is_pg_url(p):  # the rows as read now (a database has no mtime to cache on)
            out[role] = read_pg(str(p)).source.checksum
            continue
        paths = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in paths:
            st = q.stat()
            key = (str(q), st.st_mtime, st.st_size)
            if key not in _CHECKSUM_CACHE:
                _CHECKSUM_CACHE[key] = file_checksum(q)
            label = role if q == p else f"{role}/{q.relative_to(p)}"
            out[label] = _CHECKSUM_CACHE[key]
    return out
