"""Roll-ups of village statuses: communes, districts and provinces
("covered/total", fully covered units, population and households covered),
and the audit's ``summary`` dict."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from deadzone.errors import ParameterError, SchemaError
from deadzone.geo.coverage import (
    CoverageResult,
    TowerGrid,
)
from deadzone.geo.population import PEOPLE_COLUMNS, add_people
from deadzone.model.scenario import Scenario
from deadzone.model.schema import REASONS, STATUSES, TECHS, TOTAL_COUNTS
from deadzone.model.thresholds import Thresholds

__all__ = [
    "district_rollup",
    "has_districts",
    "rollup",
    "summary_dict",
]



def rollup(
    villages: pd.DataFrame,
    communes: pd.DataFrame | None,
    *,
    villages_source: str = "villages",
    communes_source: str = "communes",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-commune and per-province counts from audited villages.

    Every commune in ``communes`` gets a row (zero villages allowed); a
    ``commune_id`` present only on villages gets a row named
    ``"(unlisted <id>)"`` so that nothing is lost.

    Parameters
    ----------
    villages : DataFrame
        Audited villages (``commune_id``, ``status``, ``reason``,
        ``population``, ``households``; optional ``district``).
    communes : DataFrame, optional
        ``commune_id``, ``name``, ``province`` and optional ``district``.
    villages_source, communes_source : str
        File names used in error messages.

    Returns
    -------
    communes_table, provinces_table : DataFrame
        When the data has a district level (a non-empty ``district`` on the
        communes or on the villages), the commune table has a ``district``
        column (each commune's one district; ``""`` for a commune without
        one, so it is still counted) and the province table a
        ``districts_total`` column; :func:`district_rollup` turns the commune
        table into the district table.  Each level is the exact integer sum
        of the level below.

    Raises
    ------
    SchemaError
        If the data puts a commune in two districts (two villages of the
        commune disagree, or a village disagrees with its commune's row).
    """
    v = pd.DataFrame(villages.drop(columns="geometry", errors="ignore"))
    base_cols = ["commune_id", "name", "province"]
    c_has_d = communes is not None and "district" in communes.columns
    if communes is not None and len(communes):
        c = pd.DataFrame(communes.drop(columns="geometry", errors="ignore"))
        for col in base_cols:
            if col not in c.columns:
                c[col] = ""
        c = c[base_cols + (["district"] if c_has_d else [])].copy()
        c[base_cols] = c[base_cols].astype(str)
        if c_has_d:
            c["district"] = _district_text(c["district"])
        c = c.drop_duplicates("commune_id")
    else:
        c = pd.DataFrame({k: pd.Series(dtype=str) for k in base_cols})
    extra = sorted(set(v["commune_id"]) - set(c["commune_id"]))
    if extra:
        c = pd.concat(
            [
                c,
                pd.DataFrame(
                    {
                        "commune_id": extra,
                        "name": [f"(unlisted {e})" for e in extra],
                        "province": "",
                    }
                ),
            ],
            ignore_index=True,
        )
    district = _commune_districts(c, v, villages_source, communes_source)
    c = c.drop(columns="district", errors="ignore")
    if district is not None:
        c.insert(c.columns.get_loc("province") + 1, "district", district.to_numpy())
    table = _counts(v, "commune_id")
    out = c.merge(table, how="left", left_on="commune_id", right_index=True)
    out = _finish(out)
    prov = out.groupby("province", sort=True)[_COUNT_COLS].sum().reset_index()
    prov = _finish(prov)
    prov.insert(1, "communes_total", out.groupby("province", sort=True).size().to_numpy())
    prov.insert(
        2,
        "communes_with_villages",
        (out["villages_total"] > 0).groupby(out["province"], sort=True).sum().to_numpy(),
    )
    prov.insert(
        3,
        "communes_fully_covered",
        out.assign(full=_fully(out)).groupby("province", sort=True)["full"].sum().to_numpy(),
    )
    if district is not None:
        n_dist = out.drop_duplicates(["province", "district"]).groupby("province", sort=True)
        prov.insert(1, "districts_total", n_dist.size().to_numpy())
    return out.reset_index(drop=True), prov


def has_districts(communes_table: pd.DataFrame | None) -> bool:
    """Whether a commune table from :func:`rollup` has the district level."""
    return communes_table is not None and "district" in communes_table.columns


def district_rollup(communes_table: pd.DataFrame) -> pd.DataFrame:
    """Per-district counts: the exact sums of a commune table's rows.

    Parameters
    ----------
    communes_table : DataFrame
        The commune table from :func:`rollup`, with its ``district`` column.

    Returns
    -------
    DataFrame
        One row per (``province``, ``district``), sorted: ``communes_total``,
        ``communes_fully_covered``, the same village, population, household
        and ``not_covered_<reason>`` counts and percentages as the commune
        and province tables (and the people columns of a population raster,
        :data:`deadzone.geo.population.PEOPLE_COLUMNS`, when the commune
        table has them).  A district name that occurs in two provinces
        gives two rows.

    Raises
    ------
    SchemaError
        If the table has no ``district`` column.
    """
    if not has_districts(communes_table):
        raise SchemaError("the commune table has no 'district' column (no district level)")
    keys = ["province", "district"]
    grouped = communes_table.groupby(keys, sort=True)
    out = _finish(grouped[_COUNT_COLS].sum().reset_index())
    out.insert(2, "communes_total", grouped.size().to_numpy())
    out.insert(
        3,
        "communes_with_villages",
        communes_table.assign(n=communes_table["villages_total"] > 0)
        .groupby(keys, sort=True)["n"]
        .sum()
        .to_numpy(),
    )
    out.insert(
        4,
        "communes_fully_covered",
        communes_table.assign(full=_fully(communes_table))
        .groupby(keys, sort=True)["full"]
        .sum()
        .to_numpy(),
    )
    if PEOPLE_COLUMNS[0] in communes_table.columns:
        out = add_people(out, communes=communes_table, keys=tuple(keys))
    return out


def _district_text(s: pd.Series) -> pd.Series:
    """District values as stripped strings, ``""`` where missing."""
    return s.astype(object).where(s.notna(), "").astype(str).str.strip()


def _commune_districts(
    c: pd.DataFrame, v: pd.DataFrame, villages_source: str, communes_source: str
) -> pd.Series | None:
    """Each commune's one district (aligned with ``c``), or None without districts.

    The commune row's district wins; a commune without one takes its
    villages' district.  Two districts for one commune are an error.
    Villages without a commune (``commune_id == ""``) are counted under
    district ``""``.
    """
    from_c = c["district"] if "district" in c.columns else pd.Series("", index=c.index)
    from_c = _district_text(from_c)
    if "district" in v.columns:
        vd = pd.DataFrame(
            {
                "commune_id": v["commune_id"].astype(str),
                "district": _district_text(v["district"]),
                "village_id": v["village_id"].astype(str),
            }
        )
        # villages with no commune ("") share no commune, so they cannot contradict
        vd = vd[(vd["district"] != "") & (vd["commune_id"] != "")]
    else:
        vd = pd.DataFrame({"commune_id": [], "district": [], "village_id": []}, dtype=str)
    if not (from_c != "").any() and vd.empty:
        return None
    per = vd.drop_duplicates(["commune_id", "district"])
    multi = per["commune_id"].duplicated(keep=False)
    if multi.any():
        cid = per.loc[multi, "commune_id"].iloc[0]
        rows = per.loc[per["commune_id"] == cid, ["district", "village_id"]]
        (d1, v1), (d2, v2) = list(rows.itertuples(index=False, name=None))[:2]
        raise SchemaError(
            f"{villages_source}: field 'district': commune {cid!r} is in two districts "
            f"({d1!r} at village {v1!r}, {d2!r} at village {v2!r}); a commune belongs to one "
            "district"
        )
    by_v = per.set_index("commune_id")["district"]
    cmap = pd.Series(from_c.to_numpy(), index=c["commune_id"].astype(str).to_numpy())
    both = by_v.index.intersection(cmap.index[cmap.to_numpy() != ""])
    clash = both[by_v[both].to_numpy() != cmap[both].to_numpy()]
    if len(clash):
        cid = clash[0]
        vid = per.loc[per["commune_id"] == cid, "village_id"].iloc[0]
        raise SchemaError(
            f"{villages_source}: field 'district': village {vid!r} is in district "
            f"{by_v[cid]!r} but its commune {cid!r} is in district {cmap[cid]!r} in "
            f"{communes_source}; a commune belongs to one district"
        )
    fill = _district_text(c["commune_id"].astype(str).map(by_v))
    return from_c.where(from_c != "", fill).reset_index(drop=True)


_COUNT_COLS = [
    *TOTAL_COUNTS,
    # not-covered villages by reason, so each unit shows why (sums to total - covered)
    *[f"not_covered_{r}" for r in REASONS],
]


def _counts(v: pd.DataFrame, key: str) -> pd.DataFrame:
    cov = v["status"] == "covered"
    df = pd.DataFrame(
        {
            key: v[key],
            "villages_total": 1,
            **{f"villages_{s}": (v["status"] == s).astype(np.int64) for s in STATUSES},
            "population_total": v["population"],
            "population_covered": v["population"].where(cov, 0),
            "households_total": v["households"],
            "households_covered": v["households"].where(cov, 0),
            **{f"not_covered_{r}": (~cov & (v["reason"] == r)).astype(np.int64) for r in REASONS},
        }
    )
    return df.groupby(key).sum()


def _pct(a: pd.Series, b: pd.Series) -> pd.Series:
    return (100.0 * a / b.where(b > 0)).round(2)


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in _COUNT_COLS:
        df[col] = df[col].fillna(0).astype(np.int64)
    df["villages_covered_pct"] = _pct(df["villages_covered"], df["villages_total"])
    df["population_covered_pct"] = _pct(df["population_covered"], df["population_total"])
    df["households_covered_pct"] = _pct(df["households_covered"], df["households_total"])
    return df


def _fully(df: pd.DataFrame) -> pd.Series:
    return (df["villages_total"] > 0) & (df["villages_covered"] == df["villages_total"])


def _district_summary(communes: pd.DataFrame) -> dict[str, Any]:
    """``admin_levels`` and, with a district level, the district totals."""
    if not has_districts(communes):
        return {"admin_levels": ["commune", "province"]}
    d = district_rollup(communes)
    return {
        "admin_levels": ["commune", "district", "province"],
        "districts_total": int(len(d)),
        "districts_with_villages": int((d["villages_total"] > 0).sum()),
        "districts_fully_covered": int(_fully(d).sum()),
    }


def summary_dict(
    villages: gpd.GeoDataFrame,
    communes: pd.DataFrame,
    cov: CoverageResult | None,
    thr: Thresholds,
    scenario: Scenario,
    *,
    grid: TowerGrid | None = None,
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract of ``summary.json`` (totals, parameters, provenance).

    ``grid`` and ``parameters`` (:func:`audit_parameters`) default to
    ``cov``'s (one of the two is needed).
    """
    import deadzone

    if grid is None or parameters is None:
        if cov is None:
            raise ParameterError("summary_dict needs the coverage or the grid and parameters")
        grid = grid or cov.grid
        parameters = parameters if parameters is not None else cov.parameters
    st = villages["status"]
    covered = st == "covered"
    reasons = villages.loc[~covered, "reason"].dropna().value_counts().sort_index()
    techs = [t for t in TECHS if t in grid.techs]
    n_outside = int(scenario.dem.outside_footprint_mask.sum())
    return {
        "scenario": scenario.name,
        "deadzone_version": deadzone.__version__,
        "villages_total": int(len(villages)),
        **{f"villages_{s}": int((st == s).sum()) for s in STATUSES},
        "population_total": int(villages["population"].sum()),
        "population_covered": int(villages.loc[covered, "population"].sum()),
        "households_total": int(villages["households"].sum()),
        "households_covered": int(villages.loc[covered, "households"].sum()),
        # villages whose population (households) is 0 or was missing: they add
        # nothing to the population (household) figures above
        "villages_without_population": int((villages["population"] <= 0).sum()),
        "villages_without_households": int((villages["households"] <= 0).sum()),
        # communes_total counts every commune read; those without villages are
        # neither fully covered nor not, so percentages use communes_with_villages
        "communes_total": int(len(communes)),
        "communes_with_villages": int((communes["villages_total"] > 0).sum()),
        "communes_fully_covered": int(_fully(communes).sum()),
        **_district_summary(communes),
        "provinces_total": int(communes["province"].nunique()),
        "reasons": {str(k): int(v) for k, v in reasons.items()},
        "villages_on_dem_void": int(villages["on_dem_void"].sum())
        if "on_dem_void" in villages.columns
        else 0,
        "villages_no_grid_power": int((villages["power_note"] == "no_grid_power").sum())
        if "power_note" in villages.columns
        else 0,
        "by_technology": {
            t: {s: int((villages[f"status_{t.lower()}"] == s).sum()) for s in STATUSES}
            for t in techs
        },
        "towers": int(len(grid.tower_ids)),
        "towers_computed": int(sum(s is not None for s in grid.sites)),
        "towers_outside_dem": grid.outside,
        "dem": {
            "shape": list(scenario.dem.shape),
            "cell_size_m": [scenario.dem.cell_w_m, scenario.dem.cell_h_m],
            "crs": scenario.dem.crs.to_string(),
            # every filled grid cell: data voids + cells outside the source footprint
            "voids_filled": scenario.dem.void_count,
            # grid cells that were voids in the source data (filled from neighbours)
            "data_void_cells": int(scenario.dem.void_count - n_outside),
            # grid cells outside the source footprint (a reprojection's margins)
            "outside_footprint_cells": n_outside,
        },
        "parameters": {**parameters, "thresholds": thr.as_dict()},
        "inputs": scenario.meta.get("inputs", {}),
        "input_options": scenario.meta.get("input_options", {}),
        "repairs": scenario.meta.get("repairs", {}),
        "defaults_applied": scenario.meta.get("defaults_applied", {}),
    }
