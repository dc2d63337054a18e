"""The local dispatcher: records each fire as a run row, then runs it on a worker thread.

Every fire goes through one writer thread that takes everything queued at that moment and
inserts the run rows in one transaction (DESIGN rule 2: the row exists before the action
starts, and the UNIQUE fence rejects a second fire of the same occurrence). Finished runs are
written back the same way, in batches, and listeners hear of a run only once it is stored.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cronwell.clock import Clock
from cronwell.domain.run import Run, RunReason, RunStatus, occurrence_key
from cronwell.domain.task import Task
from cronwell.errors import ConflictError
from cronwell.runners import Outcome, RunContext, Runners
from cronwell.store import NewRun, RunUpdate, Store

log = logging.getLogger(__name__)

RunListener = Callable[[Run], None]
_BATCH_LIMIT = 5000
_RETRY_DELAY = 1.0
_T = TypeVar("_T")


@dataclass(frozen=True)
class Fire:
    """One occurrence handed to the dispatcher."""

    task: Task
    scheduled_for: datetime
    attempt: int = 1
    reason: str = RunReason.SCHEDULE


@dataclass(frozen=True)
class _Finished:
    update: RunUpdate
    run: Run


_STOP = object()


class LocalDispatcher:
    """Runs fires on a thread pool of ``max_workers`` threads in this process."""

    def __init__(
        self,
        store: Store,
        runners: Runners,
        clock: Clock,
        *,
        instance_id: str,
        max_workers: int = 20,
    ) -> None:
        self._store = store
        self._runners = runners
        self._clock = clock
        self._instance_id = instance_id
        self._max_workers = max_workers
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._listeners: list[RunListener] = []
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._writer: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._writer is not None:
            return
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="cronwell-run")
        self._writer = threading.Thread(
            target=self._write_loop, name="cronwell-writer", daemon=True
        )
        self._writer.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking fires; with ``wait``, let running actions finish and their results be
        written before returning."""
        if self._writer is None or self._pool is None:
            return
        self._stopping.set()
        self._pool.shutdown(wait=wait)
        self._queue.put(_STOP)
        if wait:
            self._writer.join()
        self._writer = None
        self._pool = None

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener(run)`` with every run once its final row is stored."""
        self._listeners.append(listener)

    def running_count(self, task_id: str) -> int:
        with self._lock:
            return self._running[task_id]

    # -- entry points ---------------------------------------------------------------------

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires; returns at once (called from the engine's timer thread)."""
        for fire in fires:
            self._queue.put(fire)

    def execute_claimed(self, run: Run, task: Task) -> None:
        """Run a row that is already ``running`` (a claimed pending run) on the pool."""
        with self._lock:
            self._running[task.id] += 1
        fire = Fire(task, run.scheduled_for, run.attempt, run.reason or RunReason.MANUAL)
        self._start_on_pool(fire, run.id, run.started_at or self._clock.now())

    def run_inline(self, task: Task, scheduled_for: datetime, reason: str) -> Run:
        """Record and run one occurrence in the calling thread; return the finished run."""
        now = self._clock.now()
        (run_id,) = self._store.insert_runs(
            [self._new_row(Fire(task, scheduled_for, 1, reason), RunStatus.RUNNING, now, reason)]
        )
        if run_id is None:
            raise ConflictError(
                f"Occurrence {occurrence_key(task.id, scheduled_for)} is already recorded."
            )
        with self._lock:
            self._running[task.id] += 1
        finished = self._execute(Fire(task, scheduled_for, 1, reason), run_id, now)
        self._store.finish_runs([finished.update])
        self._notify([finished.run])
        return finished.run

    # -- the writer thread ----------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while len(items) < _BATCH_LIMIT:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            fires = [i for i in items if isinstance(i, Fire)]
            finished = [i for i in items if isinstance(i, _Finished)]
            if finished:
                self._write_finished(finished)
            if fires:
                self._record_fires(fires)
            if stop:
                self._drain_after_stop()
                return

    def _drain_after_stop(self) -> None:
        leftovers: list[object] = []
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        finished = [i for i in leftovers if isinstance(i, _Finished)]
        if finished:
            self._write_finished(finished)
        fires = [i for i in leftovers if isinstance(i, Fire)]
        if fires:
            self._record_fires(fires)

    def _write_finished(self, finished: list[_Finished]) -> None:
        self._with_retry(
            "finish_runs", lambda: self._store.finish_runs([f.update for f in finished])
        )
        self._notify([f.run for f in finished])

    def _record_fires(self, fires: list[Fire]) -> None:
        now = self._clock.now()
        rows: list[NewRun] = []
        plans: list[RunStatus] = []
        with self._lock:
            for fire in fires:
                status, reason = self._decide(fire, now)
                if status is RunStatus.RUNNING:
                    self._running[fire.task.id] += 1
                plans.append(status)
                rows.append(self._new_row(fire, status, now, reason))
        ids = self._with_retry("insert_runs", lambda: self._store.insert_runs(rows))
        if ids is None:  # abandoned at shutdown; logged by _with_retry
            for fire, status in zip(fires, plans, strict=True):
                if status is RunStatus.RUNNING:
                    self._release(fire.task.id)
            return
        terminal: list[Run] = []
        for fire, row, status, run_id in zip(fires, rows, plans, ids, strict=True):
            if run_id is None:
                log.info(
                    "occurrence already recorded; not run again",
                    extra={
                        "action": "duplicate_fire",
                        "task_id": fire.task.id,
                        "occurrence": occurrence_key(fire.task.id, fire.scheduled_for),
                    },
                )
                if status is RunStatus.RUNNING:
                    self._release(fire.task.id)
                continue
            if status is RunStatus.RUNNING:
                self._start_on_pool(fire, run_id, now)
            else:
                terminal.append(_row_to_run(run_id, row))
        self._notify(terminal)

    def _decide(self, fire: Fire, now: datetime) -> tuple[RunStatus, str]:
        """Run it, or record why not (DESIGN rule 5). Caller holds the lock."""
        lateness = (now - fire.scheduled_for).total_seconds()
        if fire.reason == RunReason.SCHEDULE and lateness > fire.task.misfire_grace:
            return RunStatus.MISSED, RunReason.LATE
        if self._running[fire.task.id] >= fire.task.max_instances:
            return RunStatus.SKIPPED, RunReason.MAX_INSTANCES
        return RunStatus.RUNNING, fire.reason

    def _new_row(self, fire: Fire, status: RunStatus, now: datetime, reason: str) -> NewRun:
        terminal = status is not RunStatus.RUNNING
        return NewRun(
            task_id=fire.task.id,
            scheduled_for=fire.scheduled_for,
            attempt=fire.attempt,
            status=status,
            reason=reason,
            started_at=None if terminal else now,
            finished_at=now if terminal else None,
            instance_id=self._instance_id,
        )

    def _with_retry(self, what: str, write: Callable[[], _T]) -> _T | None:
        """Retry a history write until it succeeds, so a database outage delays history
        instead of dropping it. Once the dispatcher is stopping, one failed retry gives up
        (logged as an error with what was not written) so a shutdown cannot hang."""
        while True:
            try:
                return write()
            except Exception:
                log.exception(
                    "cannot write run history; retrying",
                    extra={"action": "history_write_failed", "operation": what},
                )
                if self._stopping.wait(_RETRY_DELAY):
                    try:
                        return write()
                    except Exception:
                        log.error(
                            "gave up writing run history at shutdown",
                            extra={"action": "history_write_abandoned", "operation": what},
                        )
                        return None

    # -- running actions ------------------------------------------------------------------

    def _start_on_pool(self, fire: Fire, run_id: int, started_at: datetime) -> None:
        pool = self._pool
        if pool is None:
            raise RuntimeError("dispatcher is not started")

        def work() -> None:
            self._queue.put(self._execute(fire, run_id, started_at))

        pool.submit(work)

    def _execute(self, fire: Fire, run_id: int, started_at: datetime) -> _Finished:
        task = fire.task
        try:
            if task.jitter > 0:
                self._stopping.wait(random.uniform(0, task.jitter))
            ctx = RunContext(
                task=task,
                run_id=run_id,
                scheduled_for=fire.scheduled_for,
                attempt=fire.attempt,
                occurrence_key=occurrence_key(task.id, fire.scheduled_for),
                logger=logging.getLogger(f"cronwell.task.{task.id}"),
            )
            try:
                outcome = self._runners.run(task.action, ctx, timeout=None)
            except Exception as exc:  # a bug in cronwell, not in the action: still recorded
                outcome = Outcome(
                    status=RunStatus.FAILED,
                    error=f"cronwell internal error: {type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                )
            finished_at = self._clock.now()
            duration = (finished_at - started_at).total_seconds()
            update = RunUpdate(
                run_id=run_id,
                status=outcome.status,
                finished_at=finished_at,
                duration=duration,
                error=outcome.error,
                traceback=outcome.traceback,
                output=outcome.output,
                return_value=outcome.return_value,
                counters=dict(ctx.counters),
            )
            run = Run(
                id=run_id,
                task_id=task.id,
                scheduled_for=fire.scheduled_for,
                attempt=fire.attempt,
                status=outcome.status,
                reason=fire.reason,
                started_at=started_at,
                finished_at=finished_at,
                duration=duration,
                error=outcome.error,
                traceback=outcome.traceback,
                output=outcome.output,
                return_value=outcome.return_value,
                counters=dict(ctx.counters),
                instance_id=self._instance_id,
            )
            _log_outcome(run)
            return _Finished(update, run)
        finally:
            self._release(task.id)

    def _release(self, task_id: str) -> None:
        with self._lock:
            self._running[task_id] -= 1
            if self._running[task_id] <= 0:
                del self._running[task_id]

    def _notify(self, runs: Sequence[Run]) -> None:
        for run in runs:
            for listener in list(self._listeners):
                try:
                    listener(run)
                except Exception:
                    log.exception(
                        "run listener failed",
                        extra={"action": "listener_failed", "task_id": run.task_id},
                    )


def _row_to_run(run_id: int, row: NewRun) -> Run:
    return Run(
        id=run_id,
        task_id=row.task_id,
        scheduled_for=row.scheduled_for,
        attempt=row.attempt,
        status=row.status,
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        instance_id=row.instance_id,
    )


def _log_outcome(run: Run) -> None:
    extra = {
        "action": f"run_{run.status.value}",
        "task_id": run.task_id,
        "run_id": run.id,
        "attempt": run.attempt,
        "duration": round(run.duration or 0.0, 3),
    }
    if run.status is RunStatus.SUCCEEDED:
        log.info("run succeeded", extra=extra)
    else:
        log.warning("run ended %s: %s", run.status.value, run.error, extra=extra)
