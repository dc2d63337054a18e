"""The keys a task definition in a document may have, its schedule shorthands, and the
closest known key for a mistyped one.

A definition holds :class:`~cronwell.domain.task.Task`'s definition fields, or one schedule
shorthand instead of ``schedule``:

======================  ==============================================================
``cron = "0 8 * * 1-5"``      a crontab expression
``every = "15m"``             an interval (seconds, or ``90s``, ``15m``, ``1h30m``…)
``at = "2027-01-01T08:00:00+01:00"``  once, at that instant
``daily = "08:00"``           every day at that time
``weekly = "mon,fri@17:00"``  on those weekdays at that time (or ``{days = [...], at = ...}``)
``monthly = "last@23:00"``    on that day of the month (1-31 or ``last``) at that time
======================  ==============================================================

The keys cronwell writes about a task but does not take from a definition (``version``,
``created_at``, ``updated_at``, ``paused_reason``, ``consecutive_failures``, ``source``,
and ``next_run`` and ``schedule_description`` from ``tasks list --json``) are read-only:
ignored on load, so that what ``tasks list --json`` prints loads back.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from cronwell.domain.action import HttpAction, PythonAction, ShellAction
from cronwell.domain.alerts import AlertTarget
from cronwell.domain.delivery import DeliveryTarget
from cronwell.domain.durations import parse_duration
from cronwell.domain.schedule import (
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    daily,
    monthly,
    weekly,
)
from cronwell.domain.task import STATE_FIELDS, Task
from cronwell.errors import InvalidInputError

TASK_KEYS = tuple(name for name in Task.model_fields if name not in STATE_FIELDS)
SHORTHANDS = ("cron", "every", "at", "daily", "weekly", "monthly")
READ_ONLY = tuple(sorted({*STATE_FIELDS, "next_run", "schedule_description"}))
_KNOWN = TASK_KEYS + SHORTHANDS
_IS_KNOWN = frozenset(_KNOWN)
_IS_READ_ONLY = frozenset(READ_ONLY)
_SCHEDULE_KEYS = ("schedule", *SHORTHANDS)


def _fields(model: type[BaseModel]) -> frozenset[str]:
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        if info.alias:
            names.append(info.alias)
    return frozenset(names)


SCHEDULE_KEYS = {
    "cron": _fields(CronSchedule),
    "interval": _fields(IntervalSchedule),
    "once": _fields(OnceSchedule),
}
ACTION_KEYS = {
    "python": _fields(PythonAction),
    "shell": _fields(ShellAction),
    "http": _fields(HttpAction),
}
ALERT_KEYS = _fields(AlertTarget)
DELIVER_KEYS = _fields(DeliveryTarget)


def suggest(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'cron'?"`` for the closest of ``known`` to ``key``, or ``"."``."""
    match = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else "."


def check_entry(entry: dict[Any, Any]) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
    """The definition in ``entry`` (read-only and unknown keys left out, the schedule
    shorthand expanded into ``schedule``) and its problems, each ``(key, sentence)``."""
    data: dict[str, Any] = {}
    problems: list[tuple[str | None, str]] = []
    for key, value in entry.items():
        if not isinstance(key, str):
            problems.append((None, f"key {key!r} is not a string."))
        elif key in _IS_KNOWN:
            data[key] = value
        elif key not in _IS_READ_ONLY:
            problems.append((key, f"unknown key {key!r}{suggest(key, _KNOWN)}"))
    for key, table in (("schedule", SCHEDULE_KEYS), ("action", ACTION_KEYS)):
        value = data.get(key)
        if isinstance(value, dict) and isinstance(value.get("kind"), str):
            known = table.get(value["kind"])
            if known is not None:
                data[key] = _known_only(value, known, f"the {value['kind']} {key}", key, problems)
    for key, known, what in (
        ("alerts", ALERT_KEYS, "an alert"),
        ("deliver", DELIVER_KEYS, "a delivery target"),
    ):
        targets = data.get(key)
        if isinstance(targets, list):
            data[key] = [
                _known_only(t, known, what, key, problems) if isinstance(t, dict) else t
                for t in targets
            ]
    given = [key for key in _SCHEDULE_KEYS if key in data]
    if len(given) != 1:
        found = f" (it has {', '.join(given)})" if given else ""
        problems.append(
            (
                given[1] if len(given) > 1 else None,
                "a task needs exactly one schedule: 'schedule', or one of the shorthands "
                f"{', '.join(SHORTHANDS)}{found}.",
            )
        )
    for key in given:
        if key == "schedule":
            continue
        value = data.pop(key)
        if len(given) == 1:
            try:
                data["schedule"] = expand_shorthand(key, value)
            except InvalidInputError as exc:
                problems.append((key, str(exc)))
    return data, problems


def _known_only(
    value: dict[Any, Any],
    known: frozenset[str],
    what: str,
    key: str,
    problems: list[tuple[str | None, str]],
) -> dict[Any, Any]:
    unknown = [name for name in value if name not in known]
    if not unknown:
        return dict(value)
    for name in unknown:
        problems.append((key, f"unknown key {name!r} in {what}{suggest(str(name), known)}"))
    return {k: v for k, v in value.items() if k in known}


def expand_shorthand(key: str, value: Any) -> dict[str, Any]:
    """The ``schedule`` a shorthand stands for; :class:`InvalidInputError` with a sentence."""
    if key == "every":
        return {"kind": "interval", "seconds": parse_duration(value, "every")}
    if key == "at":
        return {"kind": "once", "at": value}
    if key == "cron":
        if not isinstance(value, str):
            raise InvalidInputError(f"cron must be a crontab expression in quotes, not {value!r}.")
        return {"kind": "cron", "cron": value}
    if key == "daily":
        return {"kind": "cron", "cron": daily(_text(value, "daily", '"08:00"')).cron}
    if key == "weekly":
        if isinstance(value, dict) and set(value) <= {"days", "at"}:
            days, time = value.get("days", []), value.get("at", "00:00")
        else:
            days, _, time = _text(value, "weekly", '"mon,fri@17:00"').partition("@")
            days = days.split(",")
        return {"kind": "cron", "cron": weekly(days, _text(time or "00:00", "weekly", "")).cron}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"kind": "cron", "cron": monthly(value).cron}
    day, _, time = _text(value, "monthly", '"1@04:00" or "last@23:00"').partition("@")
    number: int | str = "last" if day.strip() == "last" else _day(day)
    return {"kind": "cron", "cron": monthly(number, time or "00:00").cron}  # type: ignore[arg-type]


def _text(value: Any, key: str, example: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{key} must be text such as {example}, not {value!r}.")
    return value


def _day(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(
            f"monthly day {text!r} is not a day of the month (1-31) or 'last'."
        ) from None
