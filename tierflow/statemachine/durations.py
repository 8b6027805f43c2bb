"""Human durations for policy files: ``30s``, ``15m``, ``4h``, ``2d``, ``1h30m``.

Policies are written by support managers, so durations read the way people write them; ISO 8601
(``PT4H``) and plain seconds are accepted too because that is what JSON round trips produce.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)", re.IGNORECASE)
_WHOLE = re.compile(r"^\s*(?:\d+(?:\.\d+)?\s*(?:ms|d|h|m|s)\s*)+$", re.IGNORECASE)
HINT = "use e.g. 30s, 15m, 4h, 2d"


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Turn ``"1h30m"``, ``"90s"``, ``5400`` (seconds) or a timedelta into a timedelta.

    Raises ValueError naming the bad input; negative durations are refused because every
    duration in a policy is a delay or a budget.
    """
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, bool):  # bool is an int subclass; True seconds is surely a mistake
        raise ValueError(f"invalid duration {value!r} ({HINT})")
    elif isinstance(value, int | float):
        result = timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            result = timedelta(seconds=int(text))
        elif _WHOLE.match(text):
            seconds = sum(
                float(num) * _UNIT_SECONDS[unit.lower()] for num, unit in _PART.findall(text)
            )
            result = timedelta(seconds=seconds)
        else:
            raise ValueError(f"invalid duration {value!r} ({HINT})")
    else:
        raise ValueError(f"invalid duration {value!r} ({HINT})")
    if result < timedelta(0):
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return result


def format_duration(td: timedelta) -> str:
    """Render a timedelta for people: ``"1h 30m"``, ``"2d 4h"``, ``"0s"``, ``"-15m"``.

    The output is accepted back by :func:`parse_duration` (except the sign), so it doubles as the
    serialised form of :data:`Duration`.
    """
    if td < timedelta(0):
        return "-" + format_duration(-td)
    total_us = (td.days * 86400 + td.seconds) * 1_000_000 + td.microseconds
    seconds, micros = divmod(total_us, 1_000_000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if micros:
        parts.append(f"{secs}.{micros:06d}".rstrip("0") + "s")
    elif secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts)


def _coerce(value: Any) -> Any:
    """Parse our human forms; leave ISO 8601 strings to pydantic's own timedelta parser."""
    if isinstance(value, str) and value.strip().upper().startswith(("P", "-P")):
        return value
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
"""A timedelta field that accepts ``"4h"``-style text and serialises back to it in JSON."""
