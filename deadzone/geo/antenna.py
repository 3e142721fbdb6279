"""Antenna pattern files (MSI / Planet format) and EIRP bookkeeping."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from deadzone.errors import DataLoadError, SchemaError

__all__ = ["AntennaPattern", "load_msi", "eirp_dbm"]


@dataclass(frozen=True)
class AntennaPattern:
    """A measured antenna pattern.

    Attributes
    ----------
    name : str
        ``NAME`` line of the file.
    gain_dbi : float
        Boresight gain (dBi; ``dBd`` values are converted, +2.15 dB).
    horizontal_db, vertical_db : ndarray of float64, shape (360,)
        Attenuation relative to boresight (dB >= 0) per whole degree:
        horizontal clockwise from boresight, vertical below the horizon
        (90 = nadir), as in the MSI format.
    electrical_tilt_deg : float
        ``TILT`` value if present (already contained in the vertical cut).
    frequency_mhz : float
        ``FREQUENCY`` value, NaN if absent.
    """

    name: str
    gain_dbi: float
    horizontal_db: npt.NDArray[np.float64] = field(repr=False)
    vertical_db: npt.NDArray[np.float64] = field(repr=False)
    electrical_tilt_deg: float = 0.0
    frequency_mhz: float = math.nan


def _cut(lines: list[str], start: int, path: Path, what: str) -> tuple[np.ndarray, int]:
    head = lines[start].split()
    count = int(head[1]) if len(head) > 1 else 360
    values = np.full(360, np.nan)
    i = start + 1
    for _ in range(count):
        if i >= len(lines):
            raise SchemaError(f"{path}: {what} section ends after {i - start - 1} of {count} rows")
        parts = lines[i].replace(",", " ").split()
        try:
            ang, att = float(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            raise SchemaError(
                f"{path}: line {i + 1}, {what}: expected 'angle attenuation_db', got "
                f"{lines[i].strip()!r}"
            ) from None
        if not (math.isfinite(att) and att >= 0):
            raise SchemaError(f"{path}: line {i + 1}, {what}: attenuation {att} is not >= 0 dB")
        values[int(round(ang)) % 360] = att
        i += 1
    if np.isnan(values).any():
        # Fill missing whole degrees by circular linear interpolation.
        known = np.flatnonzero(~np.isnan(values))
        if known.size == 0:
            raise SchemaError(f"{path}: {what} section has no values")
        xs = np.concatenate([known - 360, known, known + 360])
        ys = np.tile(values[known], 3)
        values = np.interp(np.arange(360), xs, ys)
    return values, i


def load_msi(path: str | os.PathLike[str]) -> AntennaPattern:
    """Read an MSI / Planet antenna pattern file.

    The format: keyword lines (``NAME``, ``FREQUENCY``, ``GAIN <v> [dBi|dBd]``,
    ``TILT <v>``), then ``HORIZONTAL 360`` and ``VERTICAL 360`` sections of
    ``angle attenuation_db`` rows.

    Raises
    ------
    DataLoadError
        The file cannot be read.
    SchemaError
        A section is missing or a row is malformed (line number named).
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataLoadError(f"{p}: cannot read antenna pattern ({exc.strerror})") from None
    name, gain, tilt, freq = p.stem, 0.0, 0.0, math.nan
    horiz = vert = None
    i = 0
    while i < len(lines):
        parts = lines[i].split()
        key = parts[0].upper() if parts else ""
        try:
            if key == "NAME":
                name = " ".join(parts[1:]) or name
            elif key == "GAIN":
                gain = float(parts[1]) + (2.15 if len(parts) > 2 and
                                          parts[2].lower() == "dbd" else 0.0)
            elif key == "TILT" and len(parts) > 1:
                tilt = float(parts[-1]) if parts[-1][-1].isdigit() else 0.0
            elif key == "FREQUENCY":
                freq = float(parts[1])
        except (IndexError, ValueError):
            raise SchemaError(f"{p}: line {i + 1}: bad {key} value {lines[i].strip()!r}") from None
        if key == "HORIZONTAL":
            horiz, i = _cut(lines, i, p, "HORIZONTAL")
            continue
        if key == "VERTICAL":
            vert, i = _cut(lines, i, p, "VERTICAL")
            continue
        i += 1
    if horiz is None or vert is None:
        missing = "HORIZONTAL" if horiz is None else "VERTICAL"
        raise SchemaError(f"{p}: no {missing} section; not an MSI/Planet pattern file")
    return AntennaPattern(name=name, gain_dbi=gain, horizontal_db=horiz, vertical_db=vert,
                          electrical_tilt_deg=tilt, frequency_mhz=freq)


def eirp_dbm(*, tx_power_dbm: float, antenna_gain_dbi: float, cable_loss_db: float = 0.0) -> float:
    """EIRP (dBm) from transmitter power, antenna gain and feeder loss.

    ``EIRP = P_tx + G_ant - L_cable`` (all in dB units).
    """
    return float(tx_power_dbm) + float(antenna_gain_dbi) - float(cable_loss_db)
