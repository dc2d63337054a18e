"""The engine: APScheduler 3 as a timer over cronwell's own tables (DESIGN rule 1).

* Tasks are read from the store into a fresh ``MemoryJobStore``; every job names the one
  entry point :func:`cronwell.engine.entry.fire` with the task id as its argument.
* A new ``BackgroundScheduler`` is built for each :meth:`Engine.start`, since APScheduler 3
  cannot be restarted after ``shutdown()``.
* Due jobs are intercepted by :class:`_DispatchExecutor`, which hands the task and every due
  occurrence time to the dispatcher; APScheduler's own instance counting and misfire handling
  are bypassed (the dispatcher records those as run rows).
* A sync thread polls the store's change log (every ``poll_interval``, or at once when
  :meth:`notify` is called in this process) so that changes made by the CLI or another process
  reach the running engine, and claims pending runs (manual runs queued elsewhere).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from cronwell.clock import Clock
from cronwell.dispatch import Fire, LocalDispatcher
from cronwell.dispatch.local import HEARTBEAT_INTERVAL
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.engine import entry
from cronwell.engine.recovery import (
    HOSTNAME,
    catch_up,
    recover_dead_instances,
    recover_own_leftovers,
    will_retry_abandoned,
)
from cronwell.engine.trigger import TaskTrigger, first_fire_floor
from cronwell.errors import SchedulerStateError
from cronwell.store import Store

log = logging.getLogger(__name__)
_ENTRY_POINT = "cronwell.engine.entry:fire"


class _DispatchExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands due jobs to the engine instead of running them."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._engine._on_due(job.id, run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:  # pragma: no cover
        self._engine._on_due(job.id, run_times)


class Engine:
    """Schedules the enabled tasks of one store and feeds their occurrences to a dispatcher."""

    def __init__(
        self,
        store: Store,
        dispatcher: LocalDispatcher,
        clock: Clock,
        *,
        instance_id: str,
        poll_interval: float = 1.0,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._instance_id = instance_id
        self._poll_interval = poll_interval
        self._scheduler: BackgroundScheduler | None = None
        self._tasks: dict[str, Task] = {}
        self._revision = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sync_thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self.started_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Load every enabled task and start firing."""
        with self._lock:
            if self._scheduler is not None:
                raise SchedulerStateError("The engine is already running.")
            scheduler = BackgroundScheduler(
                timezone=UTC,
                jobstores={"default": MemoryJobStore()},
                executors={"default": _DispatchExecutor(self)},
                job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1},
            )
            revision = self._store.current_revision()
            now = self._clock.now()
            every_task = {t.id: t for t in self._store.list_tasks()}
            abandoned = recover_own_leftovers(self._store, self._instance_id, now, every_task)
            self._store.register_instance(self._instance_id, HOSTNAME, os.getpid(), now)
            abandoned += recover_dead_instances(self._store, self._instance_id, now, every_task)
            self._report_abandoned(abandoned, every_task)
            tasks = [t for t in every_task.values() if t.enabled]
            catch_up(self._store, self._dispatcher, tasks, now, self._instance_id)
            self._tasks = {}
            for task in tasks:
                self._schedule(task, scheduler, first_after=now)
            self._stop.clear()
            scheduler.start()
            # assigned only once running, so a failed start leaves a clean, stopped engine
            self._scheduler = scheduler
            self._revision = revision
            self.started_at = self._clock.now()
            entry.set_active(self)
            self._sync_thread = threading.Thread(
                target=self._sync_loop, name="cronwell-sync", daemon=True
            )
            self._sync_thread.start()
        log.info(
            "engine started",
            extra={
                "action": "engine_started",
                "tasks": len(self._tasks),
                "instance_id": self._instance_id,
            },
        )

    def stop(self) -> None:
        """Stop firing. APScheduler is paused before its shutdown so that its loop cannot
        make one more pass and drop what falls due then; running actions are the
        dispatcher's to finish."""
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                return
            scheduler.pause()
            self._stop.set()
            self._wake.set()
            scheduler.shutdown(wait=False)
            self._scheduler = None
            entry.set_active(None)
        if self._sync_thread is not None:
            self._sync_thread.join()
            self._sync_thread = None
        self.started_at = None
        log.info("engine stopped", extra={"action": "engine_stopped"})

    def notify(self) -> None:
        """Look at the store's change log now instead of at the next poll."""
        self._wake.set()

    # -- queries --------------------------------------------------------------------------

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each scheduled task's next occurrence, in UTC."""
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                return {}
            return {job.id: job.next_run_time for job in scheduler.get_jobs()}

    def scheduled_task_ids(self) -> set[str]:
        with self._lock:
            return set(self._tasks)

    # -- firing ---------------------------------------------------------------------------

    def _on_due(self, task_id: str, run_times: Sequence[datetime]) -> None:
        task = self._tasks.get(task_id)
        if task is None:  # removed between APScheduler's look-up and now
            return
        self._dispatcher.submit([Fire(task, t.astimezone(UTC)) for t in run_times])

    def fire_now(self, task_id: str) -> None:
        task = self._tasks.get(task_id) or self._store.get_task(task_id)
        self._dispatcher.submit([Fire(task, self._clock.now(), reason=RunReason.MANUAL)])

    def _schedule(
        self,
        task: Task,
        scheduler: BackgroundScheduler | None = None,
        first_after: datetime | None = None,
    ) -> None:
        scheduler = scheduler or self._scheduler
        assert scheduler is not None
        self._tasks[task.id] = task
        if first_after is None:
            first_after = first_fire_floor(task, self._clock.now())
        scheduler.add_job(
            _ENTRY_POINT,
            trigger=TaskTrigger(task, first_after),
            id=task.id,
            name=task.name,
            args=(task.id,),
            replace_existing=True,
        )

    def _unschedule(self, task_id: str) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        self._tasks.pop(task_id, None)
        # APScheduler may already have dropped it (a one-off that fired, an ended task)
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job(task_id)

    # -- keeping up with the store -----------------------------------------------------------

    def _sync_loop(self) -> None:
        next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
        while not self._stop.is_set():
            self._wake.wait(self._poll_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
                    self.heartbeat()
                self.sync()
            except Exception:
                log.exception(
                    "cannot read changes from the store; will retry",
                    extra={"action": "sync_failed"},
                )

    def heartbeat(self) -> None:
        """Tell other instances this one is alive, and take care of the runs of any that
        died (abandoned, retried if allowed)."""
        now = self._clock.now()
        self._store.heartbeat(self._instance_id, HOSTNAME, os.getpid(), now)
        with self._lock:
            tasks = dict(self._tasks)
        abandoned = recover_dead_instances(self._store, self._instance_id, now, tasks)
        if abandoned:
            self._report_abandoned(abandoned, tasks)
            self.notify()

    def _report_abandoned(self, runs: list[Run], tasks: dict[str, Task]) -> None:
        """Abandoned runs count as failures (or are retried) and alert like any other."""
        known = [(run, tasks[run.task_id]) for run in runs if run.task_id in tasks]
        self._dispatcher.report_external(
            [(run, task, will_retry_abandoned(run, task)) for run, task in known]
        )

    def sync(self) -> None:
        """Apply task changes made since the last look and start pending runs now due."""
        revision, changed = self._store.changes_since(self._revision)
        with self._lock:
            if self._scheduler is None:
                return
            for task_id in sorted(changed):
                try:
                    self._apply_change(task_id)
                except Exception:  # one unreadable task must not hold back the others
                    log.exception(
                        "cannot apply a task change",
                        extra={"action": "task_sync_failed", "task_id": task_id},
                    )
            self._revision = revision
        self._start_due_runs()

    def _apply_change(self, task_id: str) -> None:
        task = self._store.find_task(task_id)
        current = self._tasks.get(task_id)
        if task is None or not task.enabled:
            self._unschedule(task_id)
        elif current is None or current.version != task.version:
            self._schedule(task)

    def _start_due_runs(self) -> None:
        for run in self._store.claim_due_runs(self._clock.now(), self._instance_id):
            task = self._tasks.get(run.task_id) or self._store.find_task(run.task_id)
            if task is None:
                self._store.finish_run(
                    run.id,
                    status=RunStatus.FAILED,
                    finished_at=self._clock.now(),
                    duration=None,
                    error=f"Task {run.task_id!r} was deleted before this run could start.",
                )
                continue
            if not task.enabled and run.reason != RunReason.MANUAL:
                # paused tasks do not fire: a retry or queued run of one is recorded skipped
                self._store.finish_run(
                    run.id,
                    status=RunStatus.SKIPPED,
                    finished_at=self._clock.now(),
                    duration=None,
                    reason=RunReason.PAUSED,
                    error="Not run: the task was paused.",
                )
                continue
            self._dispatcher.execute_claimed(run, task)
