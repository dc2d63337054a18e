"""Schedules: when a task fires. ``cron``, ``interval`` and ``once``, plus the shorthands
``daily``, ``weekly`` and ``monthly``, which normalise to cron.

Every schedule answers one question, :meth:`Schedule.next_after`, and the engine's trigger and
the previews both ask it, so what a preview shows is what fires.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cronwell.domain.cron import CronExpression
from cronwell.domain.durations import format_duration
from cronwell.domain.jsonschema import kind_required
from cronwell.domain.timezones import zone, zone_key
from cronwell.errors import InvalidScheduleError

_MAX_INTERVAL = timedelta(days=36525)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


@functools.lru_cache(maxsize=256)
def _period(weeks: float, days: float, hours: float, minutes: float, seconds: float) -> timedelta:
    """An interval's length, cached: it is needed twice per fire of every interval task,
    and building it from five floats is not free; a schedule is frozen, but a cached
    property would follow it into copies made with changed fields."""
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def require_aware(value: datetime, what: str) -> datetime:
    """Reject naive datetimes at the boundary (DESIGN rule 10); return the value in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidScheduleError(
            f"{what} {value.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. datetime(..., tzinfo=ZoneInfo('Europe/Paris')))."
        )
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Preview:
    """Upcoming fire times of a schedule in one zone."""

    expression: str
    description: str
    timezone: str
    times: list[datetime] = field(default_factory=list)
    dst_adjusted: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "description": self.description,
            "timezone": self.timezone,
            "times": [t.isoformat() for t in self.times],
            "dst_adjusted": list(self.dst_adjusted),
        }


class Schedule(BaseModel):
    """Base of the three schedule kinds. Build them with the functions at the end of this
    module: ``cron("0 8 * * 1-5")``, ``every(minutes=5)``, ``once(at)``, ``daily("08:00")``,
    ``weekly(["mon", "fri"], "17:00")``, ``monthly("last", "23:00")``."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=kind_required)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """The first fire time strictly after ``after``, in UTC; ``None`` when done."""
        raise NotImplementedError

    def iter_after(self, after: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Fire times strictly after ``after``, in order, in UTC."""
        current: datetime | None = after
        while current is not None:
            current = self.next_after(current, tz)
            if current is not None:
                yield current

    def iter_before(self, before: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Fire times strictly before ``before``, newest first, in UTC."""
        raise NotImplementedError

    def describe(self) -> str:
        """The schedule in words."""
        raise NotImplementedError

    def expression(self) -> str:
        """A short text form: the cron expression, ``every 5m`` or ``once at …``."""
        raise NotImplementedError

    def is_dst_shifted(self, fire_time: datetime, tz: tzinfo) -> bool:
        return False

    def preview(
        self, n: int = 5, after: datetime | None = None, timezone: str | tzinfo = "UTC"
    ) -> Preview:
        """The next ``n`` fire times after ``after`` (default now) in ``timezone`` (a name
        or a zone object, see :func:`~cronwell.domain.timezones.zone_key`), with the
        indexes of times that daylight saving time moved."""
        if n < 1:
            raise InvalidScheduleError(f"n must be at least 1, got {n}")
        name = zone_key(timezone)
        tz = zone(name)
        start = require_aware(after, "after") if after else datetime.now(UTC)
        times: list[datetime] = []
        shifted: list[int] = []
        for index, when in enumerate(self.iter_after(start, tz)):
            local = when.astimezone(tz)
            times.append(local)
            if self.is_dst_shifted(when, tz):
                shifted.append(index)
            if index + 1 >= n:
                break
        return Preview(self.expression(), self.describe(), name, times, shifted)


def _weekday(day: str | int) -> str:
    if isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 7:
        return _DAY_NAMES[day % 7].upper()
    if isinstance(day, str) and day.strip().lower()[:3] in _DAY_NAMES:
        return day.strip().lower()[:3].upper()
    raise InvalidScheduleError(
        f"Unknown weekday {day!r}; use mon, tue, wed, thu, fri, sat, sun "
        "or 0-7 (0 and 7 are Sunday)."
    )


def _cron_at(at: str, dom: str, dow: str) -> str:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", at or "")
    if not match:
        raise InvalidScheduleError(f"Time of day {at!r} is not HH:MM or HH:MM:SS.")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidScheduleError(f"Time of day {at!r} is out of range (00:00 to 23:59:59).")
    prefix = f"{second} " if second else ""
    return f"{prefix}{minute} {hour} {dom} * {dow}"


CRON_DESCRIPTION = (
    "A crontab expression: five fields (minute hour day-of-month month day-of-week), an "
    "optional sixth for seconds first, with names, ranges, steps, L and #, or a macro such as "
    "@daily. Read as Debian cron does (day-of-week 0 and 7 are Sunday; when both day fields "
    "are restricted either may match). An invalid one answers 422 naming the field and value."
)


class CronSchedule(Schedule):
    """A crontab expression; see :mod:`cronwell.domain.cron` for its exact meaning."""

    kind: Literal["cron"] = "cron"
    cron: str = Field(
        description=CRON_DESCRIPTION,
        json_schema_extra={"minLength": 1},
        examples=["0 8 * * 1-5", "*/15 * * * *", "@daily"],
    )

    @field_validator("cron")
    @classmethod
    def _valid(cls, value: str) -> str:
        CronExpression.parse(value)
        return " ".join(value.split())

    @property
    def parsed(self) -> CronExpression:
        return CronExpression.parse(self.cron)  # cached there

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        return self.parsed.next_after(after, tz)

    def iter_after(self, after: datetime, tz: tzinfo) -> Iterator[datetime]:
        return self.parsed.iter_after(after, tz)

    def is_dst_shifted(self, fire_time: datetime, tz: tzinfo) -> bool:
        return self.parsed.is_dst_shifted(fire_time, tz)

    def iter_before(self, before: datetime, tz: tzinfo) -> Iterator[datetime]:
        return self.parsed.iter_before(before, tz)

    def describe(self) -> str:
        return self.parsed.describe()

    def expression(self) -> str:
        return self.cron


class IntervalSchedule(Schedule):
    """Every fixed period of real elapsed time (daylight saving time does not bend it).

    Fires at ``anchor + k * period`` for whole ``k >= 0``. Without an anchor the task's
    creation sets one (creation time plus one period), so restarts do not shift the rhythm.
    """

    kind: Literal["interval"] = "interval"
    weeks: float = Field(0, ge=0)
    days: float = Field(0, ge=0)
    hours: float = Field(0, ge=0)
    minutes: float = Field(0, ge=0)
    seconds: float = Field(0, ge=0)
    anchor: datetime | None = None

    @model_validator(mode="after")
    def _positive(self) -> IntervalSchedule:
        seconds = (
            self.weeks * 604800 + self.days * 86400 + self.hours * 3600 + self.minutes * 60
        ) + self.seconds
        if seconds <= 0:
            raise InvalidScheduleError(
                "An interval needs a positive length: set weeks, days, hours, minutes or seconds."
            )
        if seconds > _MAX_INTERVAL.total_seconds():
            raise InvalidScheduleError(
                f"An interval of {seconds:g} seconds is too long: at most 100 years (for a "
                "single run, use a one-off schedule)."
            )
        return self

    @field_validator("anchor")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else require_aware(value, "Interval anchor")

    @property
    def period(self) -> timedelta:
        return _period(self.weeks, self.days, self.hours, self.minutes, self.seconds)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        anchor = self.anchor or _EPOCH
        if after < anchor:
            return anchor
        period = self.period
        steps = (after - anchor) // period + 1
        return anchor + steps * period

    def iter_before(self, before: datetime, tz: tzinfo) -> Iterator[datetime]:
        anchor = self.anchor or _EPOCH
        if before <= anchor:
            return
        period = self.period
        steps = (before - anchor) // period
        current = anchor + steps * period
        if current >= before:
            current -= period
        while current >= anchor:
            yield current
            current -= period

    def describe(self) -> str:
        return f"Every {format_duration(self.period.total_seconds())}"

    def expression(self) -> str:
        return f"every {format_duration(self.period.total_seconds())}"


class OnceSchedule(Schedule):
    """A single instant. With ``remove_after_run`` the task is deleted once its occurrence
    is settled (its run succeeded, or failed after its last retry, or the occurrence was
    recorded missed, skipped, abandoned or interrupted); its run history stays."""

    kind: Literal["once"] = "once"
    at: datetime
    remove_after_run: bool = Field(
        False,
        description="Delete the task once its occurrence is settled: run (after its last "
        "retry) or recorded missed; its run history stays.",
    )

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return require_aware(value, "A one-off time")

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        return self.at if self.at > after else None

    def iter_before(self, before: datetime, tz: tzinfo) -> Iterator[datetime]:
        if self.at < before:
            yield self.at

    def describe(self) -> str:
        removed = ", then removed" if self.remove_after_run else ""
        return f"Once, at {self.at.isoformat()}{removed}"

    def expression(self) -> str:
        return f"once at {self.at.isoformat()}"


AnySchedule = Annotated[CronSchedule | IntervalSchedule | OnceSchedule, Field(discriminator="kind")]


# -- builders ---------------------------------------------------------------------------------


def cron(expression: str) -> CronSchedule:
    """A crontab schedule, e.g. ``cron("0 8 * * 1-5")`` (08:00 Monday to Friday)."""
    return CronSchedule(cron=expression)


def every(
    *,
    weeks: float = 0,
    days: float = 0,
    hours: float = 0,
    minutes: float = 0,
    seconds: float = 0,
    anchor: datetime | None = None,
) -> IntervalSchedule:
    """A fixed period of real time, e.g. ``every(minutes=5)``."""
    return IntervalSchedule(
        weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds, anchor=anchor
    )


def once(at: datetime, *, remove_after_run: bool = False) -> OnceSchedule:
    """A single aware instant. ``remove_after_run=True`` deletes the task once its
    occurrence is settled (see :class:`OnceSchedule`), as APScheduler does with a date
    job; its runs stay in the history."""
    return OnceSchedule(at=at, remove_after_run=remove_after_run)


def daily(at: str = "00:00") -> CronSchedule:
    """Every day at ``at`` (``"HH:MM"`` or ``"HH:MM:SS"``)."""
    return CronSchedule(cron=_cron_at(at, "*", "*"))


def weekly(days: Iterable[str | int] | str | int, at: str = "00:00") -> CronSchedule:
    """On the given weekdays (names or 0-7, Sunday 0 or 7) at ``at``."""
    if isinstance(days, str | int):
        days = [days]
    return CronSchedule(cron=_cron_at(at, "*", ",".join(_weekday(d) for d in days)))


def monthly(day: int | Literal["last"] = 1, at: str = "00:00") -> CronSchedule:
    """On day ``day`` of every month (1-31 or ``"last"``) at ``at``. Months without that
    day are skipped, as in crontab; use ``"last"`` for month ends."""
    if day == "last":
        dom = "L"
    elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 31:
        dom = str(day)
    else:
        raise InvalidScheduleError(f"monthly day must be 1-31 or 'last', got {day!r}")
    return CronSchedule(cron=_cron_at(at, dom, "*"))
