"""What a Celery worker process does with a ``cronwell.execute`` message (DESIGN rule 13).

It takes the run with a compare-and-set (``queued`` → ``running`` under its own id): a
message delivered twice, or a run that already ended (the leader recorded it missed), does
nothing. Then it runs the action with cronwell's runners (output capture, ``ctx``,
counters, timeouts, child process groups on the row) and writes the end, as the leader's
own pool would. The leader sees the end on the row and writes what follows (retries,
failure streaks, alerts).

Each worker process is an instance of its own (``celery@host:pid``) that heartbeats while
it lives: when it dies mid-run, the leader's recovery finds its heartbeats stopped (at
once on the same host, where the pid can be checked; after ``INSTANCE_TTL`` elsewhere) and
records its run ``abandoned``, then retried per policy.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from cronwell.clock import Clock, SystemClock
from cronwell.dispatch.fire import Fire, Started
from cronwell.dispatch.heartbeat import HEARTBEAT_INTERVAL
from cronwell.dispatch.processes import ProcessRecorder
from cronwell.dispatch.results import finished, internal_error
from cronwell.domain.durations import format_duration
from cronwell.domain.run import RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.engine.recovery import HOSTNAME
from cronwell.runners import HttpRunner, Outcome, PythonRunner, RunContext, Runners, ShellRunner
from cronwell.settings import Settings
from cronwell.store import Store

log = logging.getLogger(__name__)

Resolver = Callable[[str, str], Callable[..., Any]]


class WorkerRuntime:
    """One worker process's store, runners and heartbeat."""

    def __init__(
        self, settings: Settings, *, resolve: Resolver | None = None, clock: Clock | None = None
    ) -> None:
        self.clock = clock or SystemClock()
        self.store = Store(settings.database_url)
        self.worker_id = f"celery@{HOSTNAME}:{os.getpid()}"
        limit = settings.output_limit
        recorder = ProcessRecorder(self.store, HOSTNAME)
        self.runners = Runners(
            python=PythonRunner(resolve, output_limit=limit, on_process=recorder),
            shell=ShellRunner(output_limit=limit, on_process=recorder),
            http=HttpRunner(output_limit=limit),
        )
        self._stop = threading.Event()
        self.store.register_instance(self.worker_id, HOSTNAME, os.getpid(), self.clock.now())
        threading.Thread(target=self._beat, name="cronwell-heartbeat", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                self.store.heartbeat(self.worker_id, HOSTNAME, os.getpid(), self.clock.now())
            except Exception:
                log.warning("heartbeat failed", extra={"action": "heartbeat_failed"})

    def close(self) -> None:
        """A clean exit: this process's instance record goes (nothing of it runs)."""
        self._stop.set()
        try:
            self.store.remove_instances([self.worker_id])
        finally:
            self.store.close()

    def execute(
        self,
        run_id: int,
        attempt: int,
        task_version: int,
        *,
        soft_limit: type[BaseException] | None = None,
    ) -> str:
        """Take run ``run_id`` and run it; what happened, in a word (for Celery's log).
        ``soft_limit`` is the exception Celery raises at the soft time limit."""
        run = self.store.remote.claim(run_id, self.worker_id, HOSTNAME, self.clock.now())
        if run is None:
            log.info(
                "run already taken or ended; nothing to do",
                extra={"action": "remote_run_not_claimed", "run_id": run_id, "attempt": attempt},
            )
            return "not claimed"
        started_at = run.started_at or self.clock.now()
        task = self.store.find_task(run.task_id)
        if task is None:  # deleted while its run waited
            now = self.clock.now()
            self.store.finish_run(
                run_id,
                status=RunStatus.FAILED,
                finished_at=now,
                duration=(now - started_at).total_seconds(),
                error="the task was deleted before a worker took its run",
            )
            return str(RunStatus.FAILED)
        if task.version != task_version:
            log.info(
                "task changed since its run was fired; running its current definition",
                extra={"action": "remote_task_changed", "task_id": task.id, "run_id": run_id},
            )
        outcome, counters = self._run(task, run_id, run.scheduled_for, run.attempt, soft_limit)
        fire = Fire(task, run.scheduled_for, run.attempt, run.reason or RunReason.SCHEDULE)
        end = finished(
            run_id,
            Started(fire, started_at),
            outcome,
            counters,
            None,
            instance_id=self.worker_id,
            finished_at=self.clock.now(),
        )
        self.store.finish_runs([end.update])
        return str(end.run.status)

    def _run(
        self,
        task: Task,
        run_id: int,
        scheduled_for: Any,
        attempt: int,
        soft_limit: type[BaseException] | None,
    ) -> tuple[Outcome, dict[str, float]]:
        ctx = RunContext.for_run(task, run_id, scheduled_for, attempt)
        try:
            outcome = self.runners.run(task.action, ctx, timeout=task.timeout)
        except Exception as exc:
            if soft_limit is None or not isinstance(exc, soft_limit):
                return internal_error(exc), dict(ctx.counters)
            # the soft limit came while the runner itself was waiting (a command, a
            # request): stop what it started, and the run timed out
            self.runners.cancel(run_id)
            outcome = Outcome(RunStatus.TIMED_OUT)
        soft_limit_hit = (outcome.exception_type or "").rpartition(".")[2] == _SOFT_LIMIT
        if outcome.status is not RunStatus.TIMED_OUT and soft_limit_hit:
            outcome = Outcome(
                RunStatus.TIMED_OUT,
                output=outcome.output,
                traceback=outcome.traceback,
                exception_type=outcome.exception_type,
            )
        if outcome.status is RunStatus.TIMED_OUT and not outcome.error:
            limit = format_duration(task.timeout or 0.0)
            outcome = Outcome(
                RunStatus.TIMED_OUT,
                error=f"timed out after {limit} (the worker's soft time limit)",
                output=outcome.output,
                traceback=outcome.traceback,
            )
        return outcome, dict(ctx.counters)


_SOFT_LIMIT = "SoftTimeLimitExceeded"


def record_hard_limit(store: Store, run_id: int, limit: float | None) -> bool:
    """Record a run whose process the hard time limit killed as ``timed_out``, if it still
    shows ``running``; whether it did."""
    now = SystemClock().now()
    run = store.get_run(run_id)
    took = None if run.started_at is None else (now - run.started_at).total_seconds()
    hard = "" if limit is None else f" ({format_duration(limit)})"
    ended = store.remote.end(
        [(run_id, took)],
        RunStatus.RUNNING,
        RunStatus.TIMED_OUT,
        now,
        reason=None,
        error=f"timed out: the action did not stop at its timeout, and the worker's hard "
        f"time limit{hard} killed its process",
    )
    return bool(ended)
