"""**preview** — next-fire-time computations per second for a set of cron expressions:
cronwell's crontab reading against APScheduler's ``CronTrigger`` on the equivalent fields.
No database is involved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from benchmarks.common import Figures, timed
from benchmarks.results import CRONWELL, MEMORY, NO_BACKEND, Headline, Result, measure

# (crontab expression, equivalent APScheduler CronTrigger fields)
PREVIEW_SET: list[tuple[str, dict[str, Any]]] = [
    ("0 8 * * *", {"hour": 8, "minute": 0}),
    ("*/15 * * * *", {"minute": "*/15"}),
    ("30 2 1 * *", {"day": 1, "hour": 2, "minute": 30}),
    ("0 9-17 * * *", {"hour": "9-17", "minute": 0}),
    ("0 0 L * *", {"day": "last", "hour": 0, "minute": 0}),
]
_START = datetime(2026, 1, 1, tzinfo=UTC)
_ZONE = "Europe/Paris"


HEADLINE = Headline("next times/s", dict.fromkeys((CRONWELL, MEMORY), "per_s"), True)


def run(count: int) -> list[Result]:
    """Both sides once (no database); APScheduler's side is listed as the memory one."""
    return [
        measure(
            "preview",
            NO_BACKEND,
            system,
            f"benchmarks.preview:{function}",
            HEADLINE,
            lambda f: f"{f['per_s']:,} next fire times/s",
            count=count,
        )
        for system, function in ((CRONWELL, "cronwell"), (MEMORY, "apscheduler"))
    ]


def cronwell(count: int) -> Figures:
    """``count`` fire times of each expression through ``CronExpression.iter_after``."""
    from cronwell.domain.cron import CronExpression

    tz = ZoneInfo(_ZONE)

    def work() -> None:
        for expr, _ in PREVIEW_SET:
            times = CronExpression.parse(expr).iter_after(_START, tz)
            for _ in range(count):
                next(times)

    return _figures(count, timed(work))


def apscheduler(count: int) -> Figures:
    """``count`` fire times of each expression through ``CronTrigger.get_next_fire_time``."""
    from apscheduler.triggers.cron import CronTrigger

    tz = ZoneInfo(_ZONE)

    def work() -> None:
        for _, fields in PREVIEW_SET:
            trigger = CronTrigger(timezone=tz, **fields)
            previous, now = None, _START
            for _ in range(count):
                previous = trigger.get_next_fire_time(previous, now)
                now = previous

    return _figures(count, timed(work))


def _figures(count: int, seconds: float) -> Figures:
    total = count * len(PREVIEW_SET)
    return {"computed": total, "per_s": round(total / seconds, 1)}
