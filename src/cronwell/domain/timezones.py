"""IANA time zones: lookup with suggestions, and the system's zone."""

from __future__ import annotations

import difflib
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronwell.errors import UnknownTimezoneError


@cache
def _zone_names() -> dict[str, str]:
    """Lower-cased name -> canonical name, for forgiving look-ups and suggestions."""
    return {name.lower(): name for name in available_timezones()}


def canonical_timezone(name: str) -> str:
    """Return the IANA spelling of ``name`` or raise :class:`UnknownTimezoneError`.

    Matching ignores case (``europe/paris`` is ``Europe/Paris``). Suggestions are the closest
    names by spelling, also compared on the part after the last slash so that ``Paris`` or
    ``Jerusalem`` find their zones.
    """
    name = name.strip()
    names = _zone_names()
    found = names.get(name.lower())
    if found is not None:
        return found
    raise UnknownTimezoneError(name, suggest_timezones(name))


def suggest_timezones(name: str, limit: int = 3) -> list[str]:
    """The IANA names closest to ``name``, best first."""
    names = _zone_names()
    key = name.strip().lower().replace(" ", "_")
    by_city: dict[str, list[str]] = {}
    for lower, canonical in names.items():
        by_city.setdefault(lower.rsplit("/", 1)[-1], []).append(canonical)
    suggestions: list[str] = []
    for city in difflib.get_close_matches(key.rsplit("/", 1)[-1], by_city, n=limit, cutoff=0.6):
        suggestions.extend(sorted(by_city[city]))
    for lower in difflib.get_close_matches(key, names, n=limit, cutoff=0.6):
        suggestions.append(names[lower])
    unique = list(dict.fromkeys(suggestions))
    return unique[:limit]


@cache
def zone(name: str) -> ZoneInfo:
    """The :class:`ZoneInfo` for a canonical or forgiving name."""
    try:
        return ZoneInfo(canonical_timezone(name))
    except ZoneInfoNotFoundError:  # pragma: no cover - listed names always load
        raise UnknownTimezoneError(name, suggest_timezones(name)) from None


def system_timezone() -> str:
    """The IANA name of this machine's zone, or ``UTC`` when it cannot be told."""
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:
        return "UTC"
    if not name:
        return "UTC"
    try:
        return canonical_timezone(name)
    except UnknownTimezoneError:
        return "UTC"
