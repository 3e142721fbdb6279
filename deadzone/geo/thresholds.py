"""Named, configurable service thresholds per technology."""

from __future__ import annotations

from dataclasses import dataclass, field

from deadzone.errors import ParameterError
from deadzone.geo.schema import TECHS

__all__ = ["Thresholds", "DEFAULT_COVERED_DBM", "DEFAULT_MARGINAL_DBM"]

#: Outdoor "covered" thresholds (dBm).  2G/3G: received signal level
#: (GSM voice >= -100 dBm); 4G/5G: RSRP (LTE >= -110 dBm).  See DOMAIN.md.
DEFAULT_COVERED_DBM: dict[str, float] = {"2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}
#: Lower edge of "marginal" (dBm); below it a village is dead for that tech.
DEFAULT_MARGINAL_DBM: dict[str, float] = {"2G": -110.0, "3G": -110.0, "4G": -120.0, "5G": -120.0}


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
    """

    covered_dbm: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_COVERED_DBM))
    marginal_dbm: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MARGINAL_DBM))
    indoor_margin_db: float = 0.0

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
        """Covered threshold for ``tech`` including the indoor margin (dBm)."""
        return self.covered_dbm[tech] + self.indoor_margin_db

    def marginal(self, tech: str) -> float:
        """Marginal threshold for ``tech`` including the indoor margin (dBm)."""
        return self.marginal_dbm[tech] + self.indoor_margin_db

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form for ``summary.json``."""
        return {
            "covered_dbm": dict(self.covered_dbm),
            "marginal_dbm": dict(self.marginal_dbm),
            "indoor_margin_db": self.indoor_margin_db,
        }
