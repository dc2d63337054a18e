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
    """Where a task changed while the engine runs starts looking for occurrences: its last
    change less a second (so a one-off created "for now" fires), at most ``misfire_grace``
    back, never in the future. What a stopped engine missed is the catch-up's business."""
    floor = now - timedelta(seconds=task.misfire_grace)
    if task.updated_at is not None:
        floor = max(floor, task.updated_at - timedelta(seconds=1))
    return min(floor, now)


# APScheduler asks a due job's trigger the same question twice in a row, with the very same
# datetime object: once to list the run times, once to reschedule. The last answer is kept
# for the second time, in one place for all triggers (a slot on each trigger would hold
# memory per task for one question) and in a list, not a class attribute (each write to
# a class resets the interpreter's attribute caches for it). The tuple is replaced whole:
# any thread reads a consistent entry, and an answer depends on the trigger and time only.
_last: list[tuple[TaskTrigger | None, datetime | None, datetime | None]] = [(None, None, None)]


class TaskTrigger(BaseTrigger):  # type: ignore[misc]
    """Fire times of one task, in UTC. Jitter is applied by the dispatcher, not here, so
    that the occurrence time (the key of the run) is the same on every instance."""

    __slots__ = ("first_after", "task")

    def __init__(self, task: Task, first_after: datetime) -> None:
        self.task = task
        self.first_after = first_after

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            trigger, previous, answer = _last[0]
            if trigger is self and previous is previous_fire_time:
                return answer
            answer = self.task.next_fire_after(previous_fire_time)
            _last[0] = (self, previous_fire_time, answer)
            return answer
        # First look: the latest occurrence in (first_after, now] fires at once, coalesced
        # (one run, not a burst); otherwise the next one to come.
        latest = None
        nxt = self.task.next_fire_after(min(self.first_after, now))
        while nxt is not None and nxt <= now:
            latest, nxt = nxt, self.task.next_fire_after(nxt)
        return latest or nxt

    def __str__(self) -> str:
        return self.task.schedule.expression()

    def __repr__(self) -> str:
        return f"<TaskTrigger {self.task.id} {self.task.schedule.expression()!r}>"
