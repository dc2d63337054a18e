"""A readable schedule summary: tasks grouped by schedule kind and sorted by time of day,
as a Discord bot's status post or ``cronwell tasks list`` would show them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cronwell.domain.schedule import CronSchedule, IntervalSchedule, OnceSchedule
from cronwell.domain.task import Task

_GROUPS = (("Cron", CronSchedule), ("Once", OnceSchedule), ("Interval", IntervalSchedule))


def summarize(tasks: Sequence[Task], now: datetime) -> str:
    """Plain text, one section per schedule kind. Cron tasks are sorted by the local time of
    day of their next occurrence, one-off tasks by date, interval tasks by period. Paused
    tasks are marked."""
    if not tasks:
        return "No tasks scheduled."
    sections = []
    for title, kind in _GROUPS:
        group = [t for t in tasks if isinstance(t.schedule, kind)]
        if not group:
            continue
        lines = [f"{title} ({len(group)})"]
        for sort_key, line in sorted(_line(t, now) for t in group):
            del sort_key
            lines.append("  " + line)
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _line(task: Task, now: datetime) -> tuple[tuple[object, ...], str]:
    paused = "" if task.enabled else "  [paused]"
    nxt = task.next_fire_after(now) if task.enabled else None
    schedule = task.schedule
    if isinstance(schedule, IntervalSchedule):
        when = schedule.expression()
        key: tuple[object, ...] = (schedule.period, task.id)
    elif isinstance(schedule, OnceSchedule):
        local = schedule.at.astimezone(task.tz)
        when = local.strftime("%Y-%m-%d %H:%M")
        key = (schedule.at, task.id)
    else:
        local_next = nxt.astimezone(task.tz) if nxt else None
        when = local_next.strftime("%H:%M") if local_next else "--:--"
        key = ((local_next.hour, local_next.minute) if local_next else (99, 99), task.id)
    desc = schedule.describe()
    return key, f"{when:>16}  {task.id}  {desc} ({task.timezone}){paused}"
