"""One-off tasks that go once their occurrence is settled (``once(at,
remove_after_run=True)``, and APScheduler's date jobs through ``add_job``).

The process that records the occurrence's last row removes the task: it hears of the row as
a :class:`~cronwell.domain.events.RunFinished` (a run that ended with no retry to follow, a
missed or skipped row, an abandoned run found by recovery). The row is stored first and
stays: the history keeps the run, and the row is what tells any later leader that the
occurrence happened, so catch-up never runs it again. A removal that could not be written
(the database went away in between) is tried again at each heartbeat, and a process that
died in between leaves the task to the next leader, whose start sweeps away every such
one-off whose occurrence is settled. Deleting a task that is already gone is no error: whoever
comes second does nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from cronwell.clock import Clock
from cronwell.domain.events import RunFinished, RunsRecorded
from cronwell.domain.run import Run
from cronwell.domain.schedule import OnceSchedule
from cronwell.domain.task import Task
from cronwell.errors import TaskNotFoundError
from cronwell.store import Store

log = logging.getLogger(__name__)

_INSTANT = timedelta(microseconds=1)
# rows of one occurrence read by the start's sweep: its attempts
_ATTEMPTS_READ = 200


class OneOffRemover:
    """Deletes ``remove_after_run`` one-offs whose occurrence is settled; ``on_change``
    is told after each deletion (the engine reschedules)."""

    def __init__(self, store: Store, clock: Clock, on_change: Callable[[], None]) -> None:
        self._store = store
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._failed: dict[str, tuple[datetime, str]] = {}  # to try again: occurrence, status

    # -- run event handlers (the dispatcher's writer thread) --------------------------------

    # Both are called for every run this process records: the first test, on the
    # schedule's type, is all that most runs cost.

    def on_finished(self, finished: RunFinished) -> None:
        task = finished.task
        if (
            task is not None
            and type(task.schedule) is OnceSchedule
            and task.removes_after_run
            and task.settled_by(finished.run, retrying=finished.retrying)
        ):
            self._remove(task, finished.run)

    def on_recorded(self, grid: RunsRecorded) -> None:
        """Rows of a batch (a catch-up's missed occurrences): one a one-off at most."""
        tasks, templates = grid.tasks, grid.templates
        for _, task_id, index in grid.rows:
            task = tasks.get(task_id)
            if (
                task is not None
                and type(task.schedule) is OnceSchedule
                and task.removes_after_run
                and task.settled_by(templates[index])
            ):
                self._remove(task, templates[index])

    # -- the engine's calls -------------------------------------------------------------------

    def sweep(self, tasks: Iterable[Task], now: datetime) -> set[str]:
        """At the start of a term: remove the one-offs whose occurrence was settled but
        whose removal never happened (the process stopped in between). Returns their
        ids. One look-up per such one-off whose time has passed."""
        removed: set[str] = set()
        for task in tasks:
            if type(task.schedule) is not OnceSchedule or not task.removes_after_run:
                continue
            at = _at(task)
            if at > now:
                continue
            rows = self._store.list_runs(
                task_id=task.id, since=at, until=at + _INSTANT, limit=_ATTEMPTS_READ
            )
            if rows and all(task.settled_by(row) for row in rows):
                last = max(rows, key=lambda row: row.attempt)
                if self._remove(task, last):
                    removed.add(task.id)
        return removed

    def retry(self) -> None:
        """Try again the removals a database error stopped (each heartbeat)."""
        with self._lock:
            failed, self._failed = self._failed, {}
        for task_id, (at, status) in failed.items():
            self._delete(task_id, at, status)

    # -- removal ------------------------------------------------------------------------------

    def _remove(self, task: Task, run: Run) -> bool:
        return self._delete(task.id, _at(task), run.status.value)

    def _delete(self, task_id: str, at: datetime, status: str) -> bool:
        """Delete ``task_id`` if it is still the one-off of ``at`` (a task redefined
        meanwhile is someone else's to keep). True when it is gone."""
        try:
            stored = self._store.find_task(task_id)
            if stored is None:
                return True
            if not stored.removes_after_run or _at(stored) != at:
                return False
            self._store.delete_task(task_id, self._clock.now())
        except TaskNotFoundError:
            return True  # another process removed it first
        except Exception:
            with self._lock:
                self._failed[task_id] = (at, status)
            log.warning(
                "cannot remove a one-off task after its run; will try again",
                exc_info=True,
                extra={"action": "one_off_remove_failed", "task_id": task_id},
            )
            return False
        log.info(
            "one-off task removed after its run",
            extra={"action": "one_off_removed", "task_id": task_id, "status": status},
        )
        self._on_change()
        return True


def _at(task: Task) -> datetime:
    schedule = task.schedule
    assert isinstance(schedule, OnceSchedule)
    return schedule.at
