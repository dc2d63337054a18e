"""APScheduler keyword cron fields keep APScheduler's meaning: the translated crontab
expression fires at exactly the times APScheduler's own CronTrigger does."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from cronwell.domain.cron import CronExpression
from cronwell.errors import InvalidScheduleError
from cronwell.runtime import apscheduler_cron_to_crontab

TZ = ZoneInfo("Australia/Sydney")
START = datetime(2026, 11, 23, 0, 0, tzinfo=TZ)


def apscheduler_times(fields: dict[str, Any], n: int) -> list[datetime]:
    trigger = CronTrigger(timezone=TZ, **fields)
    times, prev, now = [], None, START
    for _ in range(n):
        nxt = trigger.get_next_fire_time(prev, now)
        times.append(nxt)
        prev, now = nxt, nxt
    return times


@pytest.mark.parametrize(
    "fields",
    [
        {"hour": 2, "minute": 0},  # the audiobook seed's daily scraping
        {"day_of_week": "sun", "hour": 3, "minute": 0},
        {"day": 1, "hour": 4, "minute": 0},
        {"day_of_week": "sun", "hour": 4, "minute": 30},
        {"hour": 5},  # the Django seed: CronTrigger(hour=5)
        {"minute": 30},
        {"day_of_week": "mon-fri", "hour": 14, "minute": 30},
        {"day_of_week": "0-4", "hour": 9},
        {"day_of_week": "5,6", "hour": 10},
        {"day_of_week": "*/2", "hour": 7},
        {"day": "last", "hour": 23},
        {"month": "1,7", "day": 15, "hour": 12},
        {"second": 30, "minute": "*/5"},
    ],
)
def test_same_fire_times_as_apscheduler(fields: dict[str, Any]) -> None:
    expr = apscheduler_cron_to_crontab(fields)
    ours = CronExpression.parse(expr).iter_after(START.replace(microsecond=0), TZ)
    expected = apscheduler_times(fields, 12)
    got = [next(ours) for _ in range(12)]
    # APScheduler can return START itself as its first fire; compare the common tail
    if expected[0] == START:
        expected = apscheduler_times(fields, 13)[1:]
    assert got == expected, expr


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"year": 2027, "hour": 1}, "no crontab equivalent"),
        ({"week": 3}, "no crontab equivalent"),
        ({"day": 1, "day_of_week": "mon"}, "both day and day_of_week"),
        ({"hours": 1}, "Unknown cron field"),
        ({"day": "last fri"}, "no crontab form"),
    ],
)
def test_untranslatable_fields_are_refused(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidScheduleError, match=fragment):
        apscheduler_cron_to_crontab(fields)
