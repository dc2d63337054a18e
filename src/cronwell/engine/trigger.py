"""An APScheduler trigger that asks the task when it fires next.

APScheduler 3's own cron trigger gets crontab's day-of-week numbers and day-field rule wrong
(DESIGN rule 3), so cronwell never hands it a cron string: every schedule kind is answered by
:meth:`cronwell.domain.task.Task.next_fire_after`, the same code the previews use.
"""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.base import BaseTrigger

from cronwell.domain.task import Task


class TaskTrigger(BaseTrigger):  # type: ignore[misc]
    """Fire times of one task, in UTC. Jitter is applied by the dispatcher, not here, so
    that the occurrence time (the key of the run) is the same on every instance."""

    __slots__ = ("task",)

    def __init__(self, task: Task) -> None:
        self.task = task

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        return self.task.next_fire_after(previous_fire_time or now)

    def __str__(self) -> str:
        return self.task.schedule.expression()

    def __repr__(self) -> str:
        return f"<TaskTrigger {self.task.id} {self.task.schedule.expression()!r}>"
