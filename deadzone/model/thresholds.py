"""Named, configurable service thresholds per technology."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from deadzone.errors import ParameterError
from deadzone.model.schema import TECHS

__all__ = [
    "DEFAULT_COVERED_DBM",
    "DEFAULT_MARGINAL_DBM",
    "Thresholds",
    "coverage_class",
    "STATUS_COLORS",
    "dbm_text",
    "metric_name",
    "status_labels",
]

#: Outdoor "covered" thresholds (dBm).  2G/3G: received signal level
#: (GSM voice >= -100 dBm); 4G/5G: RSRP (LTE >= -110 dBm).  See DOMAIN.md.
DEFAULT_COVERED_DBM: dict[str, float] = {"2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}
#: Lower edge of "marginal" (dBm); below it a village is dead for that tech.
DEFAULT_MARGINAL_DBM: dict[str, float] = {"2G": -110.0, "3G": -110.0, "4G": -120.0, "5G": -120.0}


#: The colour of each village status in every output (map markers and class
#: layer, report figures, the what-if page, the QGIS style): green, orange,
#: red, grey, with distinct marker shapes where colour alone is not enough.
STATUS_COLORS: dict[str, str] = {
    "covered": "#1a9850",
    "marginal": "#f08c00",
    "dead": "#d73027",
    "unknown": "#8c8c8c",
}


@dataclass(frozen=True)
class Thresholds:
    """Per-technology signal thresholds for village status.

    Attributes
    ----------
    covered_dbm : dict[str, float]
        Metric at or above which a place is covered, per technology (dBm).
    marginal_dbm : dict[str, float]
        Metric at or above which a place is marginal (dBm).
    indoor_margin_db : float
        Building penetration margin added to both thresholds (dB); 0 for
        outdoor coverage, 10-20 dB for indoor.
    confidence_margin_db : float
        Location-variability margin added to both thresholds (dB): ``z_p *
        sigma`` for a status that holds with probability ``p`` under
        log-normal location variability of standard deviation ``sigma``
        (ITU-R P.1546-6 Annex 5 §12; :meth:`at_confidence`); 0 for the
        median prediction.
    confidence_pct : float or None
        The ``p`` (in %) ``confidence_margin_db`` was made for.
    """

    covered_dbm: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COVERED_DBM))
    marginal_dbm: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MARGINAL_DBM))
    indoor_margin_db: float = 0.0
    confidence_margin_db: float = 0.0
    confidence_pct: float | None = None

    def __post_init__(self) -> None:
        for tech in TECHS:
            if tech not in self.covered_dbm or tech not in self.marginal_dbm:
                raise ParameterError(f"thresholds lack technology {tech!r}")
            if self.marginal_dbm[tech] > self.covered_dbm[tech]:
                raise ParameterError(
                    f"marginal threshold for {tech} ({self.marginal_dbm[tech]} dBm) is above "
                    f"the covered threshold ({self.covered_dbm[tech]} dBm)"
                )
        if not (0.0 <= self.indoor_margin_db <= 60.0):
            raise ParameterError(
                f"indoor_margin_db was {self.indoor_margin_db}; expected 0..60 dB"
            )

    @classmethod
    def uniform(
        cls, covered_dbm: float, *, marginal_db_below: float = 10.0, indoor_margin_db: float = 0.0
    ) -> Thresholds:
        """Same covered threshold for every technology; marginal 10 dB below."""
        return cls(
            covered_dbm={t: float(covered_dbm) for t in TECHS},
            marginal_dbm={t: float(covered_dbm) - marginal_db_below for t in TECHS},
            indoor_margin_db=indoor_margin_db,
        )

    def covered(self, tech: str) -> float:
        """Covered threshold for ``tech`` with the indoor and confidence margins (dBm)."""
        return self.covered_dbm[tech] + self.indoor_margin_db + self.confidence_margin_db

    def marginal(self, tech: str) -> float:
        """Marginal threshold for ``tech`` with the indoor and confidence margins (dBm)."""
        return self.marginal_dbm[tech] + self.indoor_margin_db + self.confidence_margin_db

    def covered_median(self, tech: str) -> float:
        """Covered threshold for ``tech`` with the indoor margin only (dBm): the
        level the median prediction is compared with for a probability."""
        return self.covered_dbm[tech] + self.indoor_margin_db

    def at_confidence(self, pct: float, sigma_db: float) -> Thresholds:
        """These thresholds for a status that holds with ``pct`` % probability.

        Under log-normal location variability (ITU-R P.1546-6 Annex 5 §12,
        P.1812-6 §4.9) the signal exceeds ``median - z sigma`` with the
        normal probability of ``z``; a place is covered with probability
        ``p`` when its median reaches the threshold plus ``z_p * sigma``.

        Parameters
        ----------
        pct : float
            Confidence in (50, 100) (%); 50 is the median prediction.
        sigma_db : float
            Standard deviation of the location variability (dB), e.g. the
            residual sigma of ``deadzone calibrate``.
        """
        from statistics import NormalDist

        if not (50.0 <= pct < 100.0):
            raise ParameterError(f"confidence was {pct}%; expected 50 <= confidence < 100")
        if not (sigma_db >= 0.0 and math.isfinite(sigma_db)):
            raise ParameterError(f"sigma was {sigma_db} dB; expected a finite value >= 0")
        z = NormalDist().inv_cdf(pct / 100.0)
        return replace(self, confidence_margin_db=z * sigma_db, confidence_pct=float(pct))

    @classmethod
    def from_dict(cls, d: Mapping[str, object] | None) -> Thresholds:
        """Inverse of :meth:`as_dict` (a ``summary.json``'s ``thresholds``);
        technologies and margins it lacks take the defaults."""
        d = d or {}
        default = cls()
        pct = d.get("confidence_pct")
        return cls(
            covered_dbm={**default.covered_dbm, **dict(d.get("covered_dbm") or {})},
            marginal_dbm={**default.marginal_dbm, **dict(d.get("marginal_dbm") or {})},
            indoor_margin_db=float(d.get("indoor_margin_db", 0.0) or 0.0),
            confidence_margin_db=float(d.get("confidence_margin_db", 0.0) or 0.0),
            confidence_pct=None if pct is None else float(pct),
        )

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form for ``summary.json``."""
        out: dict[str, object] = {
            "covered_dbm": dict(self.covered_dbm),
            "marginal_dbm": dict(self.marginal_dbm),
            "indoor_margin_db": self.indoor_margin_db,
        }
        if self.confidence_pct is not None:
            out["confidence_pct"] = self.confidence_pct
            out["confidence_margin_db"] = self.confidence_margin_db
        return out


def metric_name(tech: str) -> str:
    """Name of the service metric the thresholds of ``tech`` apply to.

    ``"RSRP"`` for 4G/5G, ``"received level"`` for 2G/3G (see DOMAIN.md).
    """
    if tech not in TECHS:
        raise ParameterError(f"tech was {tech!r}; expected one of {TECHS}")
    return "RSRP" if tech in ("4G", "5G") else "received level"


def coverage_class(
    metric_dbm: Mapping[str, npt.NDArray[np.floating]], thresholds: Thresholds
) -> npt.NDArray[np.int8]:
    """Per-cell status class under the audit's rule, from per-technology metric rasters.

    The rule of :func:`deadzone.geo.audit.audit` applied to every cell: per
    technology, covered at or above ``thresholds.covered(tech)``, marginal at
    or above ``thresholds.marginal(tech)``, else dead; a cell takes the best
    class over the technologies.

    Parameters
    ----------
    metric_dbm : mapping of str to ndarray
        Technology -> 2-D service metric (dBm; received level for 2G/3G, RSRP
        for 4G/5G, e.g. ``CoverageResult.by_tech[tech].best_dbm`` or an
        audit's ``signal_<tech>_dbm.tif``); NaN = no signal.  Same shape each.
    thresholds : Thresholds
        The audit's thresholds.

    Returns
    -------
    ndarray of int8
        -1 no signal from any technology, 0 dead, 1 marginal, 2 covered.
    """
    if not metric_dbm:
        raise ParameterError("metric_dbm is empty; expected at least one technology")
    shapes = {np.shape(a) for a in metric_dbm.values()}
    if len(shapes) != 1:
        raise ParameterError(f"metric rasters have different shapes {sorted(shapes)}")
    out = np.full(shapes.pop(), -1, dtype=np.int8)
    for tech, arr in metric_dbm.items():
        if tech not in TECHS:
            raise ParameterError(f"metric_dbm key was {tech!r}; expected one of {TECHS}")
        a = np.asarray(arr, dtype=np.float64)
        cls = np.where(np.isfinite(a), 0, -1).astype(np.int8)
        with np.errstate(invalid="ignore"):
            cls[a >= thresholds.marginal(tech)] = 1
            cls[a >= thresholds.covered(tech)] = 2
        np.maximum(out, cls, out=out)
    return out


def dbm_text(value_dbm: float) -> str:
    """A threshold as legends show it: 0.1 dB at most (-91.2, not -91.1502 after a
    confidence margin), no trailing zeros (-100, -110.5)."""
    return f"{round(float(value_dbm), 1):g}"


def status_labels(thresholds: Thresholds, techs: list[str]) -> dict[str, str]:
    """Legend text for village statuses under per-technology thresholds, e.g.
    ``{"covered": "covered: 2G level ≥ -100, 4G RSRP ≥ -110 dBm", ...}``."""
    def rule(kind: str) -> str:
        parts = []
        for t in techs:
            metric = "RSRP" if t in ("4G", "5G") else "level"
            v = thresholds.covered(t) if kind == "covered" else thresholds.marginal(t)
            parts.append(f"{t} {metric} ≥ {dbm_text(v)}")
        return ", ".join(parts) + " dBm"

    if not techs:
        return {"dead": "dead: no tower"}
    return {
        "covered": f"covered: {rule('covered')}",
        "marginal": f"marginal: {rule('marginal')}",
        "dead": "dead: below marginal or no signal",
    }
