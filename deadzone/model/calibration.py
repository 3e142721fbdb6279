"""A calibration of the propagation model against measurements: the model
chosen and the corrections added to its predictions (``calibration.json``,
made by :func:`deadzone.geo.calibration.calibrate`; applied by every engine
through :class:`deadzone.geo.coverage.EngineParams`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Calibration", "MIN_DISTANCE_M", "band_of"]

F64 = npt.NDArray[np.float64]

#: Distances below this are taken at it in the log-distance term (m).
MIN_DISTANCE_M = 50.0


def band_of(tech: str, freq_mhz: float) -> str:
    """The band key of a tower: ``"<tech>-<MHz>"``, e.g. ``"4G-1800"``."""
    return f"{tech}-{round(freq_mhz)}"


@dataclass(frozen=True)
class Calibration:
    """A chosen model and its corrections (``calibration.json``).

    Attributes
    ----------
    model : str
        Propagation model the corrections belong to.
    fit : str
        One of :data:`FITS`.
    offsets_db : dict of str to float
        Added to the predicted metric per technology (dB); a technology whose
        samples came from towers of several bands has a key per band
        (``"4G-1800"``) besides its own (the samples-weighted mean, for
        towers of a band not calibrated).
    slopes_db_per_decade : dict of str to float
        Added per decade of distance from 1 km, per technology or band
        (dB per log10(km)).
    clutter_offsets_db : dict of str to float
        Added per P.2108 clutter class, relative to ``clutter_reference``
        (dB; a class not listed gets 0).
    clutter_reference : str or None
        The clutter class the per-class offsets are relative to.
    sigma_db : float
        Standard deviation of the residuals after the correction (dB).
    source : dict or None
        Where it was read from (``path``, ``sha256``), recorded with it in
        every output that applies it.
    """

    model: str
    fit: str = "none"
    offsets_db: dict[str, float] = field(default_factory=dict)
    slopes_db_per_decade: dict[str, float] = field(default_factory=dict)
    clutter_offsets_db: dict[str, float] = field(default_factory=dict)
    clutter_reference: str | None = None
    sigma_db: float = math.nan
    source: dict[str, str] | None = field(default=None, compare=False)

    def correction_db(
        self,
        tech: npt.ArrayLike,
        distance_m: npt.ArrayLike,
        clutter: npt.ArrayLike | None = None,
        band: npt.ArrayLike | None = None,
    ) -> F64:
        """The dB added to predictions of technology ``tech`` at ``distance_m``
        from the serving tower in clutter class ``clutter`` (names).

        A key ``"<tech>-<MHz>"`` (e.g. ``"4G-1800"``, :func:`band_of`) holds
        a band's own offset and slope: a prediction from a tower of that band
        (``band``) takes it instead of its technology's.
        """
        t = np.asarray(tech, dtype=object)
        d = np.asarray(distance_m, dtype=np.float64)
        out = np.zeros(np.broadcast(t, d).shape)
        logd = np.log10(np.maximum(d, MIN_DISTANCE_M) / 1000.0)
        for table, scale in ((self.offsets_db, 1.0), (self.slopes_db_per_decade, logd)):
            bands = [k for k in table if "-" in k]
            own = np.zeros(out.shape, bool)
            if bands and band is not None:
                b = np.asarray(band, dtype=object)
                for name in bands:
                    sel = b == name
                    own |= sel
                    out += np.where(sel, table[name] * scale, 0.0)
            for name, v in table.items():
                if "-" not in name:
                    out += np.where((t == name) & ~own, v * scale, 0.0)
        if clutter is not None and self.clutter_offsets_db:
            c = np.asarray(clutter, dtype=object)
            for name, v in self.clutter_offsets_db.items():
                out += np.where(c == name, v, 0.0)
        return out

    def clutter_offsets_for(self, names: Sequence[str]) -> F64:
        """The clutter offset of each class in ``names`` order (dB; 0 where none),
        to index by class code: what :meth:`correction_db` adds for ``clutter``."""
        return np.array([self.clutter_offsets_db.get(n, 0.0) for n in names] or [0.0])

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``calibration.json``'s ``calibration``)."""
        return {
            "model": self.model,
            "fit": self.fit,
            "offsets_db": dict(self.offsets_db),
            "slopes_db_per_decade": dict(self.slopes_db_per_decade),
            "clutter_offsets_db": dict(self.clutter_offsets_db),
            "clutter_reference": self.clutter_reference,
            "sigma_db": self.sigma_db,
            **({} if self.source is None else {"source": dict(self.source)}),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`."""
        return cls(
            model=str(d["model"]),
            fit=str(d.get("fit", "none")),
            offsets_db={str(k): float(v) for k, v in (d.get("offsets_db") or {}).items()},
            slopes_db_per_decade={
                str(k): float(v) for k, v in (d.get("slopes_db_per_decade") or {}).items()
            },
            clutter_offsets_db={
                str(k): float(v) for k, v in (d.get("clutter_offsets_db") or {}).items()
            },
            clutter_reference=d.get("clutter_reference"),
            sigma_db=float(d.get("sigma_db", math.nan)),
            source=dict(d["source"]) if d.get("source") else None,
        )
