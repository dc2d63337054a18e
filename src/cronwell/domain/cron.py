"""Crontab expressions with Debian cron's meaning (DESIGN rules 3 and 4), on ``cronsim``.

Semantics, stated once:

* Five fields ``minute hour day-of-month month day-of-week``, or six with a leading
  ``second`` field. Names (``JAN``, ``MON``), ranges, lists, steps, ``L``/``LW`` in
  day-of-month, ``5L`` (last Friday) and ``1#2`` (second Monday) in day-of-week.
* Day-of-week 0 and 7 are both Sunday.
* When both day fields are restricted (neither starts with ``*``) a day matches if *either*
  matches, as in Debian cron; otherwise both must.
* Macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.
* Daylight saving time, for five-field expressions with a fixed minute and hour: a wall-clock
  time skipped by spring-forward fires at the first instant after the jump, and a time that
  occurs twice at fall-back fires once (the first time). Expressions that fire hourly or more
  often follow real elapsed time. A six-field expression with a single second value and a
  fixed minute and hour (``15 30 2 * * *``) follows the same fixed-time policy, shifted by its
  second; other six-field expressions follow real elapsed time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property, lru_cache

from cronsim import CronSim, CronSimError

from cronwell.domain.cronsim_start import sim_at
from cronwell.errors import InvalidCronExpressionError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_ALLOWED = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 (0 and 7 are Sunday) or SUN-SAT, with 5L for the last Friday "
    "and 1#2 for the second Monday",
}


@dataclass(frozen=True)
class CronExpression:
    """A validated crontab expression. ``text`` is what the user wrote; ``fields`` the
    expression after macro expansion."""

    text: str
    fields: str

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Validate ``text`` or raise :class:`InvalidCronExpressionError` naming the field
        and the value that are wrong. Parsed expressions are cached and shared (they are
        immutable): fleets of tasks repeat a handful of expressions, and parsing is most of
        the cost of reading a task."""
        if not isinstance(text, str):
            raise InvalidCronExpressionError(str(text), "A cron expression must not be empty.")
        return _parse(text)

    @classmethod
    def _parse_uncached(cls, text: str) -> CronExpression:
        if not text.strip():
            raise InvalidCronExpressionError(str(text), "A cron expression must not be empty.")
        stripped = " ".join(text.split())
        if stripped.startswith("@"):
            macro = stripped.lower()
            if macro == "@reboot":
                raise InvalidCronExpressionError(
                    text, "'@reboot' is not a schedule; run the function at start-up instead."
                )
            if macro not in MACROS:
                raise InvalidCronExpressionError(
                    text,
                    f"Unknown cron macro {stripped!r}; use one of {', '.join(sorted(MACROS))}.",
                )
            return cls(text=text, fields=MACROS[macro])
        parts = stripped.split(" ")
        if len(parts) not in (5, 6):
            raise InvalidCronExpressionError(
                text,
                f"Cron expression {text!r} has {len(parts)} fields; expected 5 "
                "(minute hour day-of-month month day-of-week) or 6 with a leading second field.",
            )
        if not _parses(stripped):
            names = _FIELD_NAMES if len(parts) == 6 else _FIELD_NAMES[1:]
            for index, (name, part) in enumerate(zip(names, parts, strict=True)):
                # the field alone, every other field "*": does cronsim accept it?
                alone = " ".join(part if i == index else "*" for i in range(len(parts)))
                if not _parses(alone):
                    raise InvalidCronExpressionError(
                        text,
                        f"Invalid {name} field {part!r} in cron expression {text!r}; "
                        f"allowed: {_ALLOWED[name]}, with ranges (a-b), lists (a,b) and "
                        "steps (*/n).",
                        field=name,
                    )
            raise InvalidCronExpressionError(
                text,
                f"Cron expression {text!r} can never fire: its day-of-month does not occur "
                "in the months it names.",
                field="day-of-month",
            )
        return cls(text=text, fields=stripped)

    @property
    def has_seconds(self) -> bool:
        return len(self.fields.split(" ")) == 6

    @cached_property
    def wall_clock(self) -> bool:
        """True when fire times follow local wall-clock time (fixed minute and hour), so
        the fixed-time DST policy applies; False when they follow real elapsed time."""
        parts = (self._fixed_second[0] if self._fixed_second else self.fields).split(" ")
        return len(parts) == 5 and not parts[0].startswith("*") and not parts[1].startswith("*")

    @cached_property
    def _fixed_second(self) -> tuple[str, int] | None:
        """For ``S M H dom mon dow`` with one second value and a fixed minute and hour: the
        five-field expression and the second, so the fixed-time DST policy applies."""
        parts = self.fields.split(" ")
        if len(parts) != 6 or not parts[0].isdigit():
            return None
        if parts[1].startswith("*") or parts[2].startswith("*"):
            return None
        return " ".join(parts[1:]), int(parts[0])

    @property
    def _template(self) -> CronSim:
        return _template_sim(self.fields)

    def next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """The first fire time strictly after ``after`` (aware), as an aware UTC datetime,
        or ``None`` if the expression never fires again within 50 years. Answers are
        cached: tasks sharing an expression and a zone ask the same question at the same
        instant (at start-up, after a burst), and the answer depends on nothing else."""
        return _next_after(self, after, tz)

    def iter_after(self, after: datetime, tz: tzinfo) -> _CronIterator:
        """Fire times strictly after ``after``, in order, as aware UTC datetimes."""
        return _CronIterator(self, after, tz)

    def iter_before(self, before: datetime, tz: tzinfo) -> Iterator[datetime]:
        """Fire times strictly before ``before``, newest first, as aware UTC datetimes
        (for listing what a long outage missed without walking it from the start)."""
        fields, offset = self.fields, timedelta(0)
        if self._fixed_second is not None:
            fields, second = self._fixed_second
            offset = timedelta(seconds=second)
        sim = CronSim(fields, (before.astimezone(UTC) - offset).astimezone(tz), reverse=True)
        last = before.astimezone(UTC)
        for local in sim:
            when = local.astimezone(UTC) + offset
            if when < last:
                last = when
                yield when

    def is_dst_shifted(self, fire_time: datetime, tz: tzinfo) -> bool:
        """True when ``fire_time`` is not the wall-clock time the expression names, because
        daylight saving time moved it (spring-forward)."""
        local = (
            (fire_time - timedelta(seconds=self._fixed_second[1])).astimezone(tz)
            if (self._fixed_second)
            else fire_time.astimezone(tz)
        )
        sim = self._template
        return local.minute not in sim.minutes or local.hour not in sim.hours

    def describe(self) -> str:
        """The expression in words, e.g. ``"At 08:00 on every day-of-week from Monday
        through Friday"``."""
        return _describe(self.fields)


class _CronIterator:
    """Iterates fire times of one expression in one zone, converting to UTC."""

    def __init__(self, expression: CronExpression, after: datetime, tz: tzinfo) -> None:
        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        fields, self._offset = expression.fields, timedelta(0)
        if expression._fixed_second is not None:
            fields, second = expression._fixed_second
            self._offset = timedelta(seconds=second)
        self._last = after.astimezone(UTC)
        start = self._last - self._offset
        if expression.wall_clock:
            # Start an hour early: in a repeated (fall-back) hour cronsim walks local wall
            # time, and the first time after the early start is never later than ours.
            start -= timedelta(hours=1)
        self._sim = _sim_from(fields, start.astimezone(tz))

    def __iter__(self) -> _CronIterator:
        return self

    def __next__(self) -> datetime:
        # Times at or before the last one handed out are skipped, so results are strictly
        # increasing even where local wall time repeats.
        while True:
            when = next(self._sim).astimezone(UTC) + self._offset
            if when > self._last:
                self._last = when
                return when


@lru_cache(maxsize=4096)
def _parse(text: str) -> CronExpression:
    return CronExpression._parse_uncached(text)


def _parses(fields: str) -> bool:
    """Whether cronsim accepts ``fields`` (and finds a day on which they can fire)."""
    try:
        _template_sim(fields)
    except (CronSimError, ValueError, IndexError):
        return False
    return True


@lru_cache(maxsize=4096)
def _template_sim(fields: str) -> CronSim:
    return CronSim(fields, datetime(2000, 1, 1, tzinfo=UTC))


def _sim_from(fields: str, start: datetime) -> CronSim:
    """``CronSim(fields, start)`` without parsing ``fields`` again."""
    return sim_at(_template_sim(fields), fields, start)


@lru_cache(maxsize=4096)
def _describe(fields: str) -> str:
    try:
        text: str = _template_sim(fields).explain()
    except Exception:  # explain covers less than the parser; fall back to the text
        return fields
    # cronsim spells the ordinals from tenth on as "<n>th" ("21th", "22th", "23th")
    return _NUMBERED_ORDINAL.sub(lambda m: ordinal(int(m.group(1))), text)


_NUMBERED_ORDINAL = re.compile(r"\b(\d+)th\b")


def ordinal(n: int) -> str:
    """``n`` as an English ordinal in digits: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st,
    22nd, 23rd, 111th, 121st."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{_SUFFIXES.get(n % 10, 'th')}"


_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


@lru_cache(maxsize=8192)
def _next_after(expression: CronExpression, after: datetime, tz: tzinfo) -> datetime | None:
    return next(expression.iter_after(after, tz), None)
