"""Durations written the way people write them: ``90``, ``"90s"``, ``"15m"``, ``"1h30m"``."""

from __future__ import annotations

import re
from datetime import timedelta

from cronwell.errors import InvalidInputError

_UNITS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|w|d|h|m|s)")


def parse_duration(value: object, what: str = "duration") -> float:
    """Seconds in ``value``: a number of seconds, a :class:`timedelta` or a string such as
    ``"1h30m"`` (units ``w d h m s ms``). Raises :class:`InvalidInputError` with a sentence.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a duration, not a boolean")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif text and _PART.sub("", text) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise InvalidInputError(
                f"{what} {value!r} is not a duration; write seconds or e.g. '90s', '15m', '1h30m'"
            )
    else:
        raise InvalidInputError(f"{what} must be a duration, got {type(value).__name__}")
    if seconds < 0:
        raise InvalidInputError(f"{what} must not be negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``5400`` -> ``"1h30m"``; the inverse of :func:`parse_duration` for whole seconds."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms" if seconds else "0s"
    if seconds < 60 and seconds != int(seconds):
        return f"{seconds:g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
