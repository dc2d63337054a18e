"""An APScheduler trigger that asks the task when it fires next.

APScheduler 3's own cron trigger gets crontab's day-of-week numbers and day-field rule wrong
(DESIGN rule 3), so cronwell never hands it a cron string: every schedule kind is answered by
:meth:`cronwell.domain.task.Task.next_fire_after`, the same code the previews use.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger

from cronwell.domain.task import Task


def first_fire_floor(task: Task, now: datetime) -> datetime:
    """Where a newly scheduled task starts looking for occurrences: up to ``misfire_grace``
    back, so an occurrence due a moment ago (a one-off for "now", one that fell due while the
    engine was starting) still fires; never before the task's last change (less a second),
    so a task created or resumed after its time does not fire for the past. An occurrence
    that already ran is fenced by its run row."""
    floor = now - timedelta(seconds=task.misfire_grace)
    if task.updated_at is not None:
        floor = max(floor, task.updated_at - timedelta(seconds=1))
    return min(floor, now)


class TaskTrigger(BaseTrigger):  # type: ignore[misc]
    """Fire times of one task, in UTC. Jitter is applied by the dispatcher, not here, so
    that the occurrence time (the key of the run) is the same on every instance."""

    __slots__ = ("task",)

    def __init__(self, task: Task) -> None:
        self.task = task

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            return self.task.next_fire_after(previous_fire_time)
        # First look: the latest occurrence in (floor, now] fires at once, coalesced (one
        # run, not a burst); otherwise the next one to come.
        latest = None
        nxt = self.task.next_fire_after(first_fire_floor(self.task, now))
        while nxt is not None and nxt <= now:
            latest, nxt = nxt, self.task.next_fire_after(nxt)
        return latest or nxt

    def __str__(self) -> str:
        return self.task.schedule.expression()

    def __repr__(self) -> str:
        return f"<TaskTrigger {self.task.id} {self.task.schedule.expression()!r}>"
