"""Canonical column names, technologies and documented defaults.

Every loader maps its input onto these names; everything downstream reads
only these names.  Geometries are always in the ``geometry`` column.

Tower radio defaults (used when a file lacks a value; the values used are
recorded per tower in ``params_source`` and in ``summary.json``):

=====  ========  ========  ========  =============================================
tech   freq_mhz  eirp_dbm  height_m  basis
=====  ========  ========  ========  =============================================
2G     900       55.0      30        20 W BTS (43 dBm) + 15 dBi antenna - 3 dB feeder
3G     2100      58.0      30        20 W (43 dBm) + 18 dBi - 3 dB
4G     1800      61.0      30        40 W (46 dBm) + 18 dBi - 3 dB; 10 MHz carrier
5G     3500      64.0      30        80 W (49 dBm) + 18 dBi - 3 dB
=====  ========  ========  ========  =============================================

``eirp_dbm`` is the total EIRP at boresight.  For 4G/5G the reference-signal
received power is derived from it as ``rsrp = rx - 10 log10(12 * n_rb)``
(3GPP TS 36.214 §5.1.1: RSRP is the power of one resource element), with
``n_rb`` from the carrier bandwidth (50 resource blocks for 10 MHz).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MEASUREMENT_COLUMNS",
    "METRICS",
    "SENSITIVITY_DBM",
    "TECHS",
    "TOP_REPORTED_DBM",
    "TowerDefaults",
    "TOWER_DEFAULTS",
    "TOWER_COLUMNS",
    "VILLAGE_COLUMNS",
    "COMMUNE_COLUMNS",
    "STATUSES",
    "REASONS",
    "rsrp_offset_db",
]

#: Highest tower antenna height above ground (m) accepted anywhere: towers
#: files, ``deadzone whatif --add`` and the web app.
TOWER_HEIGHT_MAX_M = 500.0

#: Technologies deadzone knows, in the order reports list them.
TECHS: tuple[str, ...] = ("2G", "3G", "4G", "5G")

#: Columns of a measurement table (``deadzone.data.loaders.load_measurements``,
#: the synthetic drives of :mod:`deadzone.geo.truth`), in order.
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "sample_id", "lon", "lat", "tech", "measured_dbm", "metric", "cell", "tower_id",
    "measured_at", "qc", "source_row",
)
#: The audit metric of each technology, as a measurement table names it.
METRICS: dict[str, str] = {"2G": "rxlev", "3G": "rscp", "4G": "rsrp", "5G": "ss_rsrp"}
#: Lowest reportable value per technology (dBm): 3GPP TS 45.008 RXLEV_0
#: (< -110), TS 25.133 CPICH_RSCP_LEV_00 (< -120), TS 36.133 RSRP_00 (< -140),
#: TS 38.133 SS-RSRP_0 (< -156).  A true value below it is not measured ("no
#: service"), so samples predicted near it are a censored sample.
SENSITIVITY_DBM: dict[str, float] = {"2G": -110.0, "3G": -120.0, "4G": -140.0, "5G": -156.0}
#: Highest reportable value per technology (dBm): RXLEV_63 (>= -48), RSCP
#: LEV_91 (>= -25), RSRP_97 (>= -44), SS-RSRP_126 (>= -31) of the same specs;
#: a stronger signal is reported as this.
TOP_REPORTED_DBM: dict[str, float] = {"2G": -48.0, "3G": -25.0, "4G": -44.0, "5G": -31.0}


@dataclass(frozen=True)
class TowerDefaults:
    """Radio parameters used when a tower record does not give them."""

    freq_mhz: float
    eirp_dbm: float
    height_m: float
    bandwidth_mhz: float


TOWER_DEFAULTS: dict[str, TowerDefaults] = {
    "2G": TowerDefaults(freq_mhz=900.0, eirp_dbm=55.0, height_m=30.0, bandwidth_mhz=0.2),
    "3G": TowerDefaults(freq_mhz=2100.0, eirp_dbm=58.0, height_m=30.0, bandwidth_mhz=5.0),
    "4G": TowerDefaults(freq_mhz=1800.0, eirp_dbm=61.0, height_m=30.0, bandwidth_mhz=10.0),
    "5G": TowerDefaults(freq_mhz=3500.0, eirp_dbm=64.0, height_m=30.0, bandwidth_mhz=20.0),
}

#: Canonical tower columns (besides ``geometry``).  ``azimuth_deg`` NaN = omni.
TOWER_COLUMNS: tuple[str, ...] = (
    "tower_id",
    "lon",
    "lat",
    "tech",
    "freq_mhz",
    "eirp_dbm",
    "height_m",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
)

#: Canonical village columns (besides ``geometry``, a point or a polygon).
VILLAGE_COLUMNS: tuple[str, ...] = (
    "village_id",
    "name",
    "commune_id",
    "population",
    "households",
)

#: Canonical commune columns (besides ``geometry``, a polygon).  The optional
#: admin level between commune and province is the column ``district``, present
#: only when the input has one (see ``deadzone.data.loaders.DISTRICT_CANDIDATES``).
COMMUNE_COLUMNS: tuple[str, ...] = ("commune_id", "name", "province")

#: Village statuses, best first.
STATUSES: tuple[str, ...] = ("covered", "marginal", "dead", "unknown")

#: The headline counts of every roll-up and of ``summary.json``, in this order:
#: villages in total and per status, population and households (total, covered).
TOTAL_COUNTS: tuple[str, ...] = (
    "villages_total",
    *(f"villages_{s}" for s in STATUSES),
    "population_total",
    "population_covered",
    "households_total",
    "households_covered",
)

#: Reasons a village is not covered (or cannot be evaluated).
REASONS: tuple[str, ...] = (
    "no_tower_in_range",
    "terrain_blocked",
    "weak_signal",
    "outside_dem",
    "invalid_location",
)


def rsrp_offset_db(tech: str, bandwidth_mhz: float) -> float:
    """Return the dB to subtract from total received power to get RSRP.

    Parameters
    ----------
    tech : str
        One of :data:`TECHS`.
    bandwidth_mhz : float
        Carrier bandwidth in MHz.

    Returns
    -------
    float
        ``10 log10(12 * n_rb)`` for 4G/5G (``n_rb = 5 * bandwidth_mhz``, the
        LTE numerology of 50 RB per 10 MHz), 0 for 2G/3G.
    """
    import math

    if tech not in ("4G", "5G"):
        return 0.0
    n_rb = max(1.0, 5.0 * bandwidth_mhz)
    return 10.0 * math.log10(12.0 * n_rb)
