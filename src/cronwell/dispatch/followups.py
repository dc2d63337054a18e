"""What follows from a run's end (DESIGN rule 6): a retry row, the task's failure streak,
an automatic pause.

Retries are data: a ``pending`` row (``attempt + 1``) due after the task's backoff, which
the engine claims when due, so a restart does not lose it. An occurrence that finally
failed counts toward ``max_consecutive_failures`` (read from the store, so another
process's runs and restarts count too); one that succeeded resets the count; a task past
its limit is paused. Recovery builds the retry rows of abandoned runs with
:func:`retry_row` too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from cronwell.clock import Clock
from cronwell.dispatch.results import Finished
from cronwell.domain.events import EventBus, RunFinished, TaskChanged
from cronwell.domain.policies import FAILURES, backoff_delay, should_retry
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.store import NewRun, Store

log = logging.getLogger(__name__)

# runs a write through a database outage: (what, write) -> its result, None if given up
WithRetry = Callable[[str, Callable[[], object]], object]


def will_retry(run: Run, task: Task, exception_type: str | None = None) -> bool:
    """Whether ``run``'s end gets another attempt of its occurrence."""
    return should_retry(run.status, run.attempt, task.retries, task.retry_on, exception_type)


def retry_row(run: Run, task: Task, *, after: datetime, instance_id: str) -> NewRun:
    """The ``pending`` row of ``run``'s next attempt, due a backoff after ``after``."""
    delay = backoff_delay(run.attempt, task.retry_delay, task.retry_max_delay, task.retry_jitter)
    return NewRun(
        task_id=task.id,
        scheduled_for=run.scheduled_for,
        attempt=run.attempt + 1,
        status=RunStatus.PENDING,
        reason=RunReason.RETRY,
        due_at=after + timedelta(seconds=delay),
        instance_id=instance_id,
    )


class FollowUps:
    """Writes what follows from stored runs and publishes them on ``events`` as
    :class:`~cronwell.domain.events.RunFinished`.

    A :class:`~cronwell.domain.events.TaskChanged` is published when tasks need a new
    look at their schedule (a retry is due later, a task was paused); ``with_retry``
    carries a write through a database outage."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        instance_id: str,
        *,
        events: EventBus,
        with_retry: WithRetry,
    ) -> None:
        self._store = store
        self._clock = clock
        self._instance_id = instance_id
        self._events = events
        self._with_retry = with_retry

    def follow_up(self, finished: Sequence[Finished]) -> None:
        """Retry rows first, then the failure streaks of the final results, then publish."""
        retries: list[NewRun] = []
        counted: list[Finished] = []
        told: list[RunFinished] = []
        for item in finished:
            run, task = item.run, item.task
            if run.status not in FAILURES and run.status is not RunStatus.SUCCEEDED:
                told.append(RunFinished(run, task))  # interrupted, replaced
                continue
            if will_retry(run, task, item.exception_type):
                after = run.finished_at or self._clock.now()
                row = retry_row(run, task, after=after, instance_id=self._instance_id)
                retries.append(row)
                log.info(
                    "run will be retried",
                    extra={
                        "action": "retry_scheduled",
                        "task_id": task.id,
                        "attempt": run.attempt + 1,
                        "delay": round(((row.due_at or after) - after).total_seconds(), 3),
                    },
                )
                told.append(RunFinished(run, task, retrying=True))
                continue
            counted.append(item)
        if retries:  # first, and retried through outages: a lost retry is a lost run
            self._with_retry("insert_retries", lambda: self._store.insert_runs(retries))
            # the engine looks for due retries
            changed = tuple(dict.fromkeys(row.task_id for row in retries))
            self._events.publish(TaskChanged(changed, "retry_scheduled"))
        counted_events = self.count_results([(item.run, item.task) for item in counted])
        told += [
            replace(event, results=item.results) if item.results else event
            for item, event in zip(counted, counted_events, strict=True)
        ]
        self._events.publish_all(RunFinished, told)

    def report_external(self, runs: Sequence[tuple[Run, Task, bool]]) -> None:
        """Count and announce runs that ended outside this dispatcher (abandoned by a
        process that died): ``(run, task, retrying)``."""
        told = [RunFinished(run, task, retrying=True) for run, task, retrying in runs if retrying]
        finals = [(run, task) for run, task, retrying in runs if not retrying]
        told += self.count_results(finals)
        self._events.publish_all(RunFinished, told)

    def count_results(self, counted: list[tuple[Run, Task]]) -> list[RunFinished]:
        """Count final results in the tasks' failure streaks; pause tasks past their
        limit."""
        try:
            streaks = self._store.reset_failure_streaks(
                [task.id for run, task in counted if run.status is RunStatus.SUCCEEDED]
            )
        except Exception:
            log.exception("cannot reset failure counts", extra={"action": "count_failed"})
            streaks = {}
        told: list[RunFinished] = []
        for run, task in counted:
            if run.status is RunStatus.SUCCEEDED:
                before = streaks.pop(task.id, 0)  # a second success in the batch: no streak
                told.append(RunFinished(run, task, failures_before=before, failures=0))
                continue
            try:
                told.append(self._count_failure(task, run))
            except Exception:  # e.g. the task was deleted while it ran
                log.exception(
                    "cannot count a run's result",
                    extra={"action": "count_failed", "task_id": task.id},
                )
                told.append(RunFinished(run, task))
        return told

    def _count_failure(self, task: Task, run: Run) -> RunFinished:
        count = self._store.record_occurrence_result(task.id, True)
        event = RunFinished(run, task, failures_before=max(0, count - 1), failures=count)
        limit = task.max_consecutive_failures
        if limit is not None and count >= limit:
            reason = (
                f"Paused after {count} failed occurrences in a row "
                f"(last: {run.error or run.status.value})."
            )
            self._store.auto_pause(task.id, reason, self._clock.now())
            log.warning(
                "task paused after repeated failures",
                extra={"action": "auto_paused", "task_id": task.id, "failures": count},
            )
            self._events.publish(TaskChanged((task.id,), "auto_paused"))
            event = replace(event, auto_paused=True)
        return event
