"""Schedules other than raw cron, time zones and durations: validation at the boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronwell.domain.durations import format_duration, parse_duration
from cronwell.domain.schedule import IntervalSchedule, daily, every, monthly, once, weekly
from cronwell.domain.task import Task
from cronwell.domain.timezones import canonical_timezone
from cronwell.errors import (
    InvalidInputError,
    InvalidScheduleError,
    InvalidTaskError,
    UnknownTimezoneError,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_shorthands_normalise_to_cron() -> None:
    assert daily("08:00").cron == "0 8 * * *"
    assert daily("08:05:30").cron == "30 5 8 * * *"
    assert weekly(["mon", "Friday"], "17:00").cron == "0 17 * * MON,FRI"
    assert weekly(7, "09:00").cron == "0 9 * * SUN"
    assert monthly(1, "04:00").cron == "0 4 1 * *"
    assert monthly("last", "23:00").cron == "0 23 L * *"


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: daily("25:00"), "out of range"),
        (lambda: daily("8am"), "not HH:MM"),
        (lambda: weekly(["funday"], "08:00"), "Unknown weekday 'funday'"),
        (lambda: monthly(32, "08:00"), "1-31 or 'last'"),
        (lambda: every(), "positive length"),
        (lambda: once(datetime(2026, 1, 1, 8, 0)), "has no time zone"),
    ],
)
def test_bad_schedules_say_why(build: object, fragment: str) -> None:
    with pytest.raises(InvalidScheduleError, match=fragment):
        build()  # type: ignore[operator]


def test_interval_counts_from_anchor_in_real_time() -> None:
    sched = every(minutes=90, anchor=T0)
    assert sched.next_after(T0 - timedelta(hours=1), UTC) == T0
    assert sched.next_after(T0, UTC) == T0 + timedelta(minutes=90)
    assert sched.next_after(T0 + timedelta(minutes=91), UTC) == T0 + timedelta(minutes=180)


def test_interval_ignores_dst() -> None:
    anchor = datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))
    sched = every(days=1, anchor=anchor)
    nxt = sched.next_after(anchor, ZoneInfo("Europe/Paris"))
    assert nxt is not None
    assert nxt - anchor == timedelta(hours=24)
    assert nxt.astimezone(ZoneInfo("Europe/Paris")).hour == 13  # 24 real hours later


def test_once_fires_once() -> None:
    sched = once(T0)
    assert sched.next_after(T0 - timedelta(seconds=1), UTC) == T0
    assert sched.next_after(T0, UTC) is None


def test_unknown_timezone_suggests_close_names() -> None:
    with pytest.raises(UnknownTimezoneError) as info:
        canonical_timezone("Europe/Pari")
    assert info.value.suggestions[0] == "Europe/Paris"
    assert "Did you mean 'Europe/Paris'" in str(info.value)
    with pytest.raises(UnknownTimezoneError) as info:
        canonical_timezone("Jerusalem")
    assert "Asia/Jerusalem" in info.value.suggestions
    assert canonical_timezone("asia/jerusalem") == "Asia/Jerusalem"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        (timedelta(minutes=2), 120.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5 parsecs", "-3", True, [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    assert format_duration(5400) == "1h30m"
    assert parse_duration(format_duration(93784)) == 93784


def _task(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "report",
        "schedule": {"kind": "cron", "cron": "0 8 * * 1-5"},
        "action": {"kind": "shell", "command": "true"},
        "timezone": "Asia/Jerusalem",
    }
    data.update(overrides)
    return data


def test_task_json_round_trip() -> None:
    task = Task.parse(_task(tags=["b", "a", "a"], jitter="30s"))
    again = Task.model_validate_json(task.model_dump_json())
    assert again == task
    assert task.tags == ["a", "b"]
    assert task.jitter == 30.0
    assert task.name == "report"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"id": "has space"}, "not a slug"),
        ({"schedule": {"kind": "cron", "cron": "0 8 * * 9"}}, "day-of-week field '9'"),
        ({"schedule": {"kind": "hourly"}}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"action": {"kind": "python", "func": "not a ref"}}, "package.module:function"),
        ({"action": {"kind": "http", "url": "ftp://x"}}, "http://"),
        ({"max_instances": 0}, "max_instances"),
        ({"start_date": "2026-01-01T00:00:00"}, "no time zone"),
        (
            {"end_date": "2025-01-01T00:00:00Z", "start_date": "2026-01-01T00:00:00Z"},
            "end_date must be after start_date",
        ),
    ],
)
def test_task_validation_sentences(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        Task.parse(_task(**overrides))


def test_task_start_and_end_dates_bound_fires() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    task = Task.parse(
        _task(
            timezone="UTC",
            start_date=start.isoformat(),
            end_date=(start + timedelta(days=3)).isoformat(),
            schedule={"kind": "cron", "cron": "0 0 * * *"},
        )
    )
    assert task.next_fire_after(T0) == start
    assert task.next_fire_after(start + timedelta(days=3)) is None


def test_interval_task_is_plain_json() -> None:
    task = Task.parse(_task(schedule={"kind": "interval", "minutes": 5}))
    assert isinstance(task.schedule, IntervalSchedule)
    assert task.model_dump(mode="json")["schedule"]["minutes"] == 5
    with pytest.raises(InvalidTaskError):
        Task.parse(_task(schedule={"kind": "interval", "minutes": -1}))


def test_interval_longer_than_a_century_is_refused_with_a_sentence() -> None:
    with pytest.raises(InvalidScheduleError, match="at most 100 years"):
        every(hours=24_000_000_000)
    assert every(days=36_525).period.days == 36_525
