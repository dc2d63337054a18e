"""The local dispatcher: records each fire as a run row, then runs it on a worker thread.

Every fire goes through one writer thread that takes everything queued at that moment and
inserts the run rows in one transaction (DESIGN rule 2: the row exists before the action
starts, and the UNIQUE fence rejects a second fire of the same occurrence). Finished runs are
written back the same way, in batches, and listeners hear of a run only once it is stored.

Nothing is left ``running`` by a stop (DESIGN rule 5): once :meth:`LocalDispatcher.shutdown`
begins, fires still queued are recorded ``interrupted``; with ``wait`` the runs already
started finish and are recorded, without it they are recorded ``interrupted``.
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
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from cronwell.clock import Clock
from cronwell.domain.run import Run, RunReason, RunStatus, occurrence_key
from cronwell.domain.task import Task
from cronwell.errors import ConflictError, SchedulerStateError
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


@dataclass(frozen=True)
class _Started:
    fire: Fire
    started_at: datetime


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
        self._inflight: dict[int, _Started] = {}
        self._lock = threading.Lock()
        self._listeners: list[RunListener] = []
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._writer: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._writer is not None

    def start(self) -> None:
        if self._writer is not None:
            return
        self._stopping.clear()
        self._queue = queue.SimpleQueue()  # a fresh queue: nothing of a past term leaks in
        self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="cronwell-run")
        self._writer = threading.Thread(
            target=self._write_loop, args=(self._queue,), name="cronwell-writer", daemon=True
        )
        self._writer.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop. Queued fires are recorded ``interrupted``. With ``wait``, runs already
        started finish and are recorded; without, they are recorded ``interrupted`` now."""
        writer, pool = self._writer, self._pool
        if writer is None or pool is None:
            return
        self._stopping.set()
        pool.shutdown(wait=wait, cancel_futures=not wait)
        self._queue.put(_STOP)
        writer.join()
        self._writer = None
        self._pool = None
        if not wait:
            self._interrupt_inflight()

    def add_listener(self, listener: RunListener) -> None:
        """Call ``listener(run)`` with every run once its final row is stored."""
        self._listeners.append(listener)

    def running_count(self, task_id: str) -> int:
        with self._lock:
            return self._running[task_id]

    # -- entry points ---------------------------------------------------------------------

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires; returns at once (called from the engine's timer thread)."""
        if self._writer is None:
            raise SchedulerStateError("The dispatcher is not running.")
        for fire in fires:
            self._queue.put(fire)

    def execute_claimed(self, run: Run, task: Task) -> None:
        """Run a row that is already ``running`` (a claimed pending run) on the pool."""
        with self._lock:
            self._running[task.id] += 1
        fire = Fire(task, run.scheduled_for, run.attempt, run.reason or RunReason.MANUAL)
        self._start_on_pool(fire, run.id, run.started_at or self._clock.now())

    def run_inline(self, task: Task, scheduled_for: datetime, reason: str) -> Run:
        """Record and run one occurrence in the calling thread; return the finished run.
        An interrupt (Ctrl+C) records the run ``interrupted`` before it propagates."""
        now = self._clock.now()
        fire = Fire(task, scheduled_for, 1, reason)
        (run_id,) = self._store.insert_runs([self._new_row(fire, RunStatus.RUNNING, now, reason)])
        if run_id is None:
            raise ConflictError(
                f"Occurrence {occurrence_key(task.id, scheduled_for)} is already recorded."
            )
        with self._lock:
            self._running[task.id] += 1
        try:
            finished = self._execute(fire, run_id, now)
        except BaseException:
            self._store.finish_runs([self._interrupted(run_id, _Started(fire, now)).update])
            raise
        self._write_finished([finished])
        return finished.run

    # -- the writer thread ----------------------------------------------------------------

    def _write_loop(self, inbox: queue.SimpleQueue[object]) -> None:
        stopping = False
        while True:
            items: list[object] = []
            if not stopping:
                items.append(inbox.get())
            while len(items) < _BATCH_LIMIT:
                try:
                    items.append(inbox.get_nowait())
                except queue.Empty:
                    break
            if stopping and not items:
                return  # drained: what this thread queued for itself is written too
            finished = [i for i in items if isinstance(i, _Finished)]
            fires = [i for i in items if isinstance(i, Fire)]
            try:
                if finished:
                    self._write_finished(finished)
                if fires:
                    self._record_fires(fires)
            except Exception:  # never let the writer die: it is the only way to history
                log.exception("run history writer failed", extra={"action": "writer_failed"})
            stopping = stopping or any(item is _STOP for item in items)

    def _write_finished(self, finished: list[_Finished]) -> None:
        """Write results in one batch; if the batch is refused, row by row, and a row whose
        result cannot be stored keeps its status with the reason in ``error``."""
        try:
            self._store.finish_runs([f.update for f in finished])
        except Exception:
            for item in finished:
                self._write_one_finished(item)
        with self._lock:
            for item in finished:
                self._inflight.pop(item.update.run_id, None)
        self._notify([f.run for f in finished])

    def _write_one_finished(self, item: _Finished) -> None:
        try:
            self._store.finish_runs([item.update])
            return
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        bare = replace(
            item.update,
            output=None,
            traceback=None,
            return_value=None,
            error=f"{item.update.error or ''} [result could not be stored: {problem}]".strip(),
        )
        self._with_retry("finish_runs", lambda: self._store.finish_runs([bare]))

    def _record_fires(self, fires: list[Fire]) -> None:
        now = self._clock.now()
        stopping = self._stopping.is_set()
        rows: list[NewRun] = []
        plans: list[RunStatus] = []
        with self._lock:
            for fire in fires:
                if stopping:
                    status, reason = RunStatus.INTERRUPTED, RunReason.SHUTDOWN
                else:
                    status, reason = self._decide(fire, now)
                if status is RunStatus.RUNNING:
                    self._running[fire.task.id] += 1
                plans.append(status)
                rows.append(self._new_row(fire, status, now, reason))
        ids = self._with_retry("insert_runs", lambda: self._store.insert_runs(rows))
        if ids is None:  # abandoned at shutdown; logged by _with_retry
            ids = [None] * len(rows)
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
            elif status is RunStatus.RUNNING:
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
        started = _Started(fire, started_at)
        with self._lock:
            self._inflight[run_id] = started
        inbox = self._queue

        def work() -> None:
            inbox.put(self._execute(fire, run_id, started_at))

        try:
            if self._pool is None:
                raise RuntimeError("the worker pool is shut down")
            self._pool.submit(work)
        except RuntimeError:  # stopping: the row must not stay running
            self._release(fire.task.id)
            inbox.put(self._interrupted(run_id, started))

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
            finished = self._finished(
                run_id, _Started(fire, started_at), outcome, dict(ctx.counters)
            )
            _log_outcome(finished.run)
            return finished
        finally:
            self._release(task.id)

    def _finished(
        self,
        run_id: int,
        started: _Started,
        outcome: Outcome,
        counters: dict[str, float],
        reason: str | None = None,
    ) -> _Finished:
        fire = started.fire
        finished_at = self._clock.now()
        duration = (finished_at - started.started_at).total_seconds()
        update = RunUpdate(
            run_id=run_id,
            status=outcome.status,
            finished_at=finished_at,
            duration=duration,
            error=outcome.error,
            traceback=outcome.traceback,
            output=outcome.output,
            return_value=outcome.return_value,
            counters=counters,
            reason=reason,
        )
        run = Run(
            id=run_id,
            task_id=fire.task.id,
            scheduled_for=fire.scheduled_for,
            attempt=fire.attempt,
            status=outcome.status,
            reason=reason or fire.reason,
            started_at=started.started_at,
            finished_at=finished_at,
            duration=duration,
            error=outcome.error,
            traceback=outcome.traceback,
            output=outcome.output,
            return_value=outcome.return_value,
            counters=counters,
            instance_id=self._instance_id,
        )
        return _Finished(update, run)

    def _interrupted(self, run_id: int, started: _Started) -> _Finished:
        outcome = Outcome(status=RunStatus.INTERRUPTED, error="stopped by a shutdown")
        return self._finished(run_id, started, outcome, {}, reason=RunReason.SHUTDOWN)

    def _interrupt_inflight(self) -> None:
        """Record every run still in flight as interrupted (a shutdown that did not wait)."""
        with self._lock:
            inflight = list(self._inflight.items())
            self._inflight.clear()
        if inflight:
            finished = [self._interrupted(run_id, started) for run_id, started in inflight]
            self._store.finish_runs([f.update for f in finished])
            self._notify([f.run for f in finished])

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
