"""IANA time zones: lookup with suggestions, zone objects read back to their names, and
the system's zone."""

from __future__ import annotations

import difflib
from datetime import UTC, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronwell.errors import InvalidInputError, UnknownTimezoneError, UnnamedTimezoneError

ZoneLike = str | tzinfo
"""A zone as callers may give it: an IANA name, or a zone object (see :func:`zone_key`)."""


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


def zone_key(value: object, *, where: str | None = None) -> str:
    """The canonical IANA name of a zone given by name or as a zone object.

    Accepted objects: ``zoneinfo.ZoneInfo`` (its ``key``), pytz zones (their ``zone``),
    dateutil zones read from the zone database (``dateutil.tz.gettz("Asia/Jerusalem")``:
    the name of the file they were read from), and UTC (``datetime.timezone.utc``,
    ``dateutil.tz.UTC``). Tasks store the name, so a zone must have one: a fixed offset
    or a zone read from a file of its own raises :class:`UnnamedTimezoneError`, whose
    message says what to pass instead. An unknown name raises
    :class:`UnknownTimezoneError` with the closest names. ``where`` (an argument or an
    environment variable) starts the message when given.
    """
    if isinstance(value, str):
        try:
            return canonical_timezone(value)
        except UnknownTimezoneError as exc:
            if where is None:
                raise
            raise UnknownTimezoneError(exc.name, exc.suggestions, where=where) from None
    prefix = f"{where}: " if where else ""
    if not isinstance(value, tzinfo):
        raise InvalidInputError(
            f"{prefix}a time zone is an IANA name such as 'Europe/Paris' or a zone object "
            f"such as ZoneInfo('Europe/Paris'), not {type(value).__name__} {value!r}."
        )
    name = _name_of(value)
    if name is not None:
        return zone_key(name, where=where)
    offset = value.utcoffset(None)
    instead = "an IANA name such as 'Europe/Paris' (or ZoneInfo('Europe/Paris'))"
    if offset is not None:
        hours = offset / timedelta(hours=1)
        etc = (
            f"; for this very offset, 'Etc/GMT{-int(hours):+d}' (these names invert the sign)"
            if hours.is_integer() and -12 <= hours <= 14
            else ""
        )
        raise UnnamedTimezoneError(
            f"{prefix}The zone {value!r} is a fixed offset ({_offset_text(offset)}) with no "
            f"IANA name, and a task keeps its zone by name; pass {instead}, which also "
            f"follows daylight saving time{etc}."
        )
    raise UnnamedTimezoneError(
        f"{prefix}The zone {value!r} has no IANA name, and a task keeps its zone by name; "
        f"pass {instead}."
    )


def _name_of(value: tzinfo) -> str | None:
    """The IANA name a zone object carries, if any."""
    for attribute in ("key", "zone"):  # zoneinfo, pytz
        name = getattr(value, attribute, None)
        if isinstance(name, str) and name:
            return name
    filename = getattr(value, "_filename", None)  # dateutil's tzfile
    if isinstance(filename, str) and filename:
        name = filename.rpartition("zoneinfo/")[2]
        return name if name.lower() in _zone_names() else None
    if value.utcoffset(None) == timedelta(0) and (
        value == UTC or type(value).__name__ == "tzutc"  # dateutil's UTC
    ):
        return "UTC"
    return None


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


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
