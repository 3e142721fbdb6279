"""Request-body validation for the what-if web app.

Every POST body is a flat JSON object.  Each endpoint names its required and
optional keys; unknown keys, duplicate keys, wrong types, non-finite numbers
and values outside the allowed ranges are refused with :class:`RequestError`
(HTTP 400) naming the key and what was allowed.  Nothing from a request body
reaches the what-if session without passing through :func:`parse_body`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deadzone.errors import DeadzoneError
from deadzone.model.schema import TECHS, TOWER_HEIGHT_MAX_M

__all__ = [
    "RequestError",
    "Bounds",
    "Number",
    "Text",
    "Choice",
    "End",
    "Spec",
    "parse_body",
    "endpoint_specs",
    "HEIGHT_M",
    "EIRP_DBM",
    "FREQ_MHZ",
    "LINK_FREQ_MHZ",
    "LINK_HEIGHT_M",
]

#: Allowed antenna height above ground (m) for towers added or edited in the app.
HEIGHT_M: tuple[float, float] = (1.0, TOWER_HEIGHT_MAX_M)
#: Allowed boresight EIRP (dBm): the range the tower loader accepts.
EIRP_DBM: tuple[float, float] = (-10.0, 90.0)
#: Allowed carrier frequency (MHz): VHF up to the 20 GHz upper limit of ITM.
FREQ_MHZ: tuple[float, float] = (30.0, 20_000.0)
#: Allowed frequency (MHz) of a link profile: VHF up to 100 GHz (ITM stops
#: at 20 GHz; above it the profile's loss is ITU-R P.526's).
LINK_FREQ_MHZ: tuple[float, float] = (30.0, 100_000.0)
#: Allowed antenna height above ground (m) at a link end.
LINK_HEIGHT_M: tuple[float, float] = (0.5, TOWER_HEIGHT_MAX_M)
_TOWER_ID_MAX = 100


class RequestError(DeadzoneError, ValueError):
    """A request the app refuses; ``status`` is the HTTP status code to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Bounds:
    """Lon/lat box (EPSG:4326 degrees) that added or moved towers must lie in."""

    west: float
    south: float
    east: float
    north: float


@dataclass(frozen=True)
class Number:
    """A finite JSON number in ``[lo, hi]`` (``lo`` excluded when ``lo_open``)."""

    lo: float
    hi: float
    unit: str = ""
    nullable: bool = False
    lo_open: bool = False

    def check(self, key: str, value: Any) -> float | None:
        if value is None and self.nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(f"{key} was {_show(value)}; expected a number")
        try:
            v = float(value)
        except OverflowError:  # an integer of hundreds of digits
            v = math.inf
        if not math.isfinite(v):
            raise RequestError(f"{key} was {_show(value)}; expected a finite number")
        low_ok = v > self.lo if self.lo_open else v >= self.lo
        if not (low_ok and v <= self.hi):
            lo = f"{self.lo:g} (excluded)" if self.lo_open else f"{self.lo:g}"
            unit = f" {self.unit}" if self.unit else ""
            raise RequestError(f"{key} was {v:g}; expected {lo}..{self.hi:g}{unit}")
        return v


@dataclass(frozen=True)
class Text:
    """A non-empty string of at most ``max_len`` printable characters."""

    max_len: int = _TOWER_ID_MAX

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise RequestError(f"{key} was {_show(value)}; expected a string")
        if not value or len(value) > self.max_len:
            raise RequestError(f"{key} must have 1..{self.max_len} characters")
        if not value.isprintable():
            raise RequestError(f"{key} holds control characters")
        return value


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    options: tuple[str, ...]

    def check(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise RequestError(
                f"{key} was {_show(value)}; expected one of {', '.join(self.options)}"
            )
        return value


@dataclass(frozen=True)
class End:
    """One end of a link profile: a JSON object of exactly one kind.

    ``{"tower_id": "T3"}``, ``{"village": INDEX}`` (the village's position
    in the page's list, 0-based), ``{"village_id": "V12"}`` or ``{"lon": x,
    "lat": y}``; each may add ``height_m`` (antenna height above ground,
    replacing the tower's, the handset's or the point's default).  The
    checked end comes back with a ``kind`` key (``tower``, ``village``,
    ``village_id``, ``point``).
    """

    lon: Number
    lat: Number
    n_villages: int

    def check(self, key: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise RequestError(f"{key} was {_show(value)}; expected an object such as "
                               '{"tower_id": "T1"}, {"village": 3} or {"lon": 105.1, "lat": 21.2}')
        kinds = {
            "tower_id": {"tower_id": Text()},
            "village": {"village": Number(0, max(self.n_villages - 1, 0), "(village index)")},
            "village_id": {"village_id": Text()},
            "point": {"lon": self.lon, "lat": self.lat},
        }
        found = [k for k, keys in kinds.items() if any(f in value for f in keys)]
        if len(found) != 1:
            raise RequestError(f"{key} must give exactly one of tower_id, village, village_id "
                               "or lon+lat")
        kind = found[0]
        if kind == "village" and self.n_villages == 0:
            raise RequestError(f"{key}.village: the scenario has no villages")
        allowed = {**kinds[kind], "height_m": Number(*LINK_HEIGHT_M, "m")}
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise RequestError(f"unknown key {_show(unknown[0])} in {key}; expected keys "
                               f"among {', '.join(allowed)}")
        missing = [f for f in kinds[kind] if f not in value]
        if missing:
            raise RequestError(f"missing key {missing[0]!r} in {key}")
        out: dict[str, Any] = {"kind": kind}
        for f, v in value.items():
            out[f] = allowed[f].check(f"{key}.{f}", v)
        if kind == "village":
            if isinstance(value["village"], float) and not value["village"].is_integer():
                raise RequestError(f"{key}.village was {_show(value['village'])}; "
                                   "expected an integer index")
            out["village"] = int(out["village"])
        return out


@dataclass(frozen=True)
class Spec:
    """Keys one endpoint takes: ``required`` and ``optional`` map key -> check."""

    required: Mapping[str, Number | Text | Choice | End]
    optional: Mapping[str, Number | Text | Choice | End]
    at_least_one_optional: bool = False


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _reject_constant(name: str) -> float:
    raise RequestError(f"{name} is not allowed in JSON; expected a finite number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise RequestError(f"key {_show(k)} appears twice")
        out[k] = v
    return out


def parse_body(raw: bytes, spec: Spec) -> dict[str, Any]:
    """Decode and check one request body.

    Parameters
    ----------
    raw : bytes
        The body (UTF-8 JSON).
    spec : Spec
        The endpoint's keys and their checks.

    Returns
    -------
    dict
        The checked values (numbers as float, ``None`` for nullable nulls).

    Raises
    ------
    RequestError
        Not UTF-8 JSON, not an object, an unknown/duplicate/missing key, or
        a value of the wrong type or outside its range.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("request body is not UTF-8") from None
    try:
        body = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RequestError:
        raise
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"request body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(body, dict):
        raise RequestError("request body must be a JSON object")
    allowed = {**spec.required, **spec.optional}
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise RequestError(
            f"unknown key {_show(unknown[0])}; expected keys among {', '.join(allowed)}"
        )
    missing = [k for k in spec.required if k not in body]
    if missing:
        raise RequestError(f"missing key {missing[0]!r}")
    if spec.at_least_one_optional and not any(k in body for k in spec.optional):
        raise RequestError(f"give at least one of {', '.join(spec.optional)}")
    return {k: allowed[k].check(k, v) for k, v in body.items()}


def endpoint_specs(bounds: Bounds, n_villages: int = 0) -> dict[str, Spec]:
    """Body specs of the four edit endpoints and ``link`` for a scenario's
    lon/lat box (and its number of villages, for ``link``'s village index).

    ``add``: ``lon, lat, height_m`` and optionally ``tech, freq_mhz, eirp_dbm,
    azimuth_deg, beamwidth_deg, tilt_deg``; ``move``: ``tower_id, lon, lat``;
    ``edit``: ``tower_id`` and at least one radio field; ``remove``:
    ``tower_id``; ``link``: ``a`` (an :class:`End`) and optionally ``b``
    (left out, ``a`` must be a village: its best server) and ``freq_mhz``.
    """
    lon = Number(bounds.west, bounds.east, "degrees east (scenario extent)")
    lat = Number(bounds.south, bounds.north, "degrees north (scenario extent)")
    radio = {
        "height_m": Number(*HEIGHT_M, "m"),
        "tech": Choice(tuple(TECHS)),
        "freq_mhz": Number(*FREQ_MHZ, "MHz"),
        "eirp_dbm": Number(*EIRP_DBM, "dBm"),
        "azimuth_deg": Number(0.0, 360.0, "degrees", nullable=True),
        "beamwidth_deg": Number(0.0, 360.0, "degrees", nullable=True, lo_open=True),
        "tilt_deg": Number(-90.0, 90.0, "degrees"),
    }
    tid = {"tower_id": Text()}
    add_opt = {k: v for k, v in radio.items() if k != "height_m"}
    return {
        "add": Spec({"lon": lon, "lat": lat, "height_m": radio["height_m"]}, add_opt),
        "move": Spec({**tid, "lon": lon, "lat": lat}, {}),
        "edit": Spec(tid, radio, at_least_one_optional=True),
        "remove": Spec(tid, {}),
        "link": Spec(
            {"a": End(lon, lat, n_villages)},
            {"b": End(lon, lat, n_villages), "freq_mhz": Number(*LINK_FREQ_MHZ, "MHz")},
        ),
    }
