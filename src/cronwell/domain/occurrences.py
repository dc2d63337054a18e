"""The occurrences of a task in a span of time, bounded: what a scheduler that was down
missed, or what fell due while a task was paused."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cronwell.domain.task import Task

_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Occurrences:
    """``recent``: the last occurrences in the span, oldest first (at most ``limit``).
    ``total``: how many there are in all, or ``None`` when there are more than the budget
    counted. ``earliest``: the first one."""

    recent: list[datetime] = field(default_factory=list)
    total: int | None = 0
    earliest: datetime | None = None


def occurrences_between(
    task: Task, start: datetime, end: datetime, *, limit: int = 100, budget: int = 100_000
) -> Occurrences:
    """Occurrences of ``task`` in ``(start, end]`` within its start and end dates.

    Walks forward from ``start`` at most ``budget`` steps; past that (a year of per-second
    fires), the newest ``limit`` are found walking back from ``end`` and the total is left
    unknown, so a long outage costs bounded time.
    """
    first_after = task.next_fire_after(start)  # cached: most spans hold nothing
    if first_after is None or first_after > end:
        return Occurrences()
    recent: deque[datetime] = deque(maxlen=limit)
    total = 0
    first: datetime | None = None
    for current in task.iter_fires_after(start):
        if current > end:
            break
        first = first or current
        total += 1
        recent.append(current)
        if total >= budget:
            return Occurrences(_newest(task, start, end, limit), None, first)
    return Occurrences(list(recent), total, first)


def _newest(task: Task, start: datetime, end: datetime, limit: int) -> list[datetime]:
    """The newest ``limit`` occurrences in ``(start, end]``, oldest first."""
    until = task.end_date if task.end_date and task.end_date < end else end
    candidates = task.schedule.iter_before(until + _TICK, task.tz)
    found = [
        t
        for t in itertools.islice(candidates, limit)
        if t > start and (task.start_date is None or t >= task.start_date)
    ]
    return sorted(found)
