"""The local dispatcher: records each fire as a run row, then runs it on a worker thread.

The parts, each in its own module: :mod:`~cronwell.dispatch.policy` decides a fire
(overlap, misfire grace, max instances) over the in-flight :mod:`~cronwell.dispatch.slots`;
:mod:`~cronwell.dispatch.writer` is the one thread that writes run history, in batches
(DESIGN rule 2: the row exists before the action starts); :mod:`~cronwell.dispatch.rows`
builds and inserts the rows; :mod:`~cronwell.dispatch.followups` writes what follows from a
run's end (retry rows, failure streaks, automatic pauses); :mod:`~cronwell.dispatch.catchup`
hands a catch-up's rows and runs to the writer. What happens is published as events
(:mod:`cronwell.domain.events`) on the dispatcher's bus. This module wires them together
and runs the actions, with the timeout watchdog (DESIGN rule 7).

Nothing is left ``running`` by a stop: once :meth:`LocalDispatcher.shutdown` begins, fires
still queued are recorded ``interrupted``; running runs get ``grace`` seconds to finish,
then processes are killed and what is left is recorded ``interrupted``. A database outage
is a state of its own (:mod:`cronwell.dispatch.outage`): results wait, fires that fall due
are held undecided and recorded missed or caught up when it answers.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial

from cronwell.clock import Clock
from cronwell.dispatch import policy
from cronwell.dispatch.cancel import revoked
from cronwell.dispatch.catchup import CatchUpFeed, CatchUpSizes
from cronwell.dispatch.fire import Fire, Started
from cronwell.dispatch.followups import FollowUps
from cronwell.dispatch.heartbeat import beating
from cronwell.dispatch.outage import RETRY_DELAY, Outage, OutageWriter
from cronwell.dispatch.policy import Plan, decide
from cronwell.dispatch.pool import WorkerPool
from cronwell.dispatch.remote import Publisher, RemoteExecution, no_publisher
from cronwell.dispatch.results import (
    Finished,
    Returned,
    built,
    ended_elsewhere,
    internal_error,
    interrupted,
    log_end,
    timed_out,
)
from cronwell.dispatch.rows import insert_fires, new_row, recorded, row_to_run
from cronwell.dispatch.slots import Slots
from cronwell.dispatch.writer import HistoryWriter, Request
from cronwell.domain.events import EventBus, RunFinished, RunStarted
from cronwell.domain.run import Run, RunReason, RunStatus, occurrence_key
from cronwell.domain.task import Task
from cronwell.errors import ConflictError, DatabaseUnavailableError
from cronwell.runners import Outcome, RunContext, Runners
from cronwell.store import Store

log = logging.getLogger(__name__)

# seconds a stop keeps retrying its last writes through a database outage when it was
# given no grace of its own
_SHUTDOWN_WRITES = 30.0
# a function in a thread gets this long past its timeout to stop cooperatively
_THREAD_TIMEOUT_SLACK = 1.0


class LocalDispatcher(CatchUpFeed):
    """Runs fires on a thread pool of ``max_workers`` threads in this process. A catch-up
    hands it work through the methods of :class:`CatchUpFeed`.

    It publishes :class:`~cronwell.domain.events.RunStarted`,
    :class:`~cronwell.domain.events.RunFinished`, :class:`~cronwell.domain.events.RunsRecorded`
    and :class:`~cronwell.domain.events.TaskChanged` (retries scheduled, an automatic pause:
    the engine reschedules at once) on ``events`` (a bus of its own when none is given).
    ``catchup_sizes`` cut a catch-up into the pieces it hands over (the defaults of
    :class:`CatchUpSizes` unless given).

    Runs of tasks that execute on Celery (``executor``, or ``default_executor`` for tasks
    that leave it unset) are decided and recorded here too, then handed to
    :class:`~cronwell.dispatch.remote.RemoteExecution`, which sends them with the
    ``publisher`` it builds when first needed, and hands back their ends.
    """

    def __init__(
        self,
        store: Store,
        runners: Runners,
        clock: Clock,
        *,
        instance_id: str,
        max_workers: int = 20,
        events: EventBus | None = None,
        publisher: Callable[[], Publisher] | None = None,
        default_executor: str = "local",
        default_queue: str = "cronwell",
        catchup_sizes: CatchUpSizes | None = None,
    ) -> None:
        self._store = store
        self._catchup_sizes = catchup_sizes or CatchUpSizes()
        self._runners = runners
        self._clock = clock
        self._instance_id = instance_id
        self._max_workers = max_workers
        self._slots = Slots()
        self.events = events if events is not None else EventBus()
        self._stopping = threading.Event()
        self._pool: WorkerPool | None = None
        self.outage = Outage(clock)
        self._outage_writer = OutageWriter(self.outage, clock, self._stopping)
        self._with_retry = self._outage_writer.retry
        self._writer = HistoryWriter(
            self._slots,
            self._stopping,
            self._outage_writer,
            settle=self._settle,
            record_fires=self._record_fires,
            carry_out=self._carry_out,
            write_finished=self._write_finished,
        )
        self._followups = FollowUps(
            store,
            clock,
            instance_id,
            events=self.events,
            with_retry=self._with_retry,
        )
        self._remote = RemoteExecution(
            store,
            clock,
            publisher or no_publisher,
            default_executor=default_executor,
            default_queue=default_queue,
            on_ended=self._ended_elsewhere,
            on_started=self._started_elsewhere,
            on_error=self.outage.report,
        )

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._writer.thread is not None

    def start(self) -> None:
        if self._writer.thread is not None:
            return
        self._stopping.clear()
        self._slots.forget_term()
        self._pool = WorkerPool(self._max_workers, "cronwell-run")
        self._writer.start()
        for _, task_id in self._remote.start():  # runs an earlier leader sent to workers
            self._slots.take(task_id)

    def shutdown(self, wait: bool = True, grace: float | None = None) -> None:
        """Stop. Queued fires are recorded ``interrupted``. With ``wait``, running runs may
        finish for up to ``grace`` seconds (no limit when ``None``); then shell commands and
        child processes are killed, and every run still going is recorded ``interrupted``.
        Without ``wait``, that happens at once.

        During a database outage the last writes (runs recorded ``interrupted``, results,
        fires queued) are retried for up to ``grace`` more seconds (30 without one): an
        outage shorter than that loses nothing. Past it, the stop gives up rather than hang
        (logged with what was not written): those runs stay ``running`` and the next start
        records them ``abandoned``. A local journal could record them ``interrupted`` later,
        but it would be a second source of truth that only the same host could read back,
        so the database stays the one record (docs/discussions/run-policies.md)."""
        pool = self._pool
        if self._writer.thread is None or pool is None:
            return
        self._stopping.set()
        pool.shutdown(wait=False)
        if wait:
            self._slots.wait_idle(grace)
        self._stop_inflight()
        writes = _SHUTDOWN_WRITES if grace is None else max(grace, RETRY_DELAY)
        self._outage_writer.give_up_at = time.monotonic() + writes
        self._writer.stop()
        self._pool = None
        self._interrupt_inflight()
        self._remote.stop()  # runs on remote workers go on; the next leader watches them
        # a run queued behind another stays pending; the next engine start releases it
        with self._slots.lock:
            self._slots.queued.clear()

    def is_running(self, run_id: int) -> bool:
        return self._slots.is_running(run_id)

    def running_count(self, task_id: str) -> int:
        return self._slots.running_count(task_id)

    def running_runs(self) -> list[int]:
        return self._slots.run_ids()

    # -- entry points ---------------------------------------------------------------------

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires; returns at once (called from the engine's timer thread)."""
        self._writer.submit(fires)

    def _carry_out(self, request: Request) -> None:
        if revoked(request.cancel) and request.stored is None:
            request.done.set()  # nothing of it stored: dropped whole
            return
        try:
            if request.grid is not None:
                stored = request.stored
                if stored is None:
                    stored = self._store.insert_grid(request.grid)
                self.events.publish(recorded(request.grid, stored, request.tasks))
            if request.fires:
                self._record_fires(request.fires)
        except Exception as exc:
            request.error = exc
        finally:
            request.done.set()

    def execute_claimed(self, run: Run, task: Task) -> None:
        """Run a row that is already ``running`` (a claimed pending run) on the pool."""
        self._slots.take(task.id)
        fire = Fire(task, run.scheduled_for, run.attempt, run.reason or RunReason.MANUAL)
        self._start_on_pool([(fire, run.id)], run.started_at or self._clock.now())

    def run_inline(self, task: Task, scheduled_for: datetime, reason: str) -> Run:
        """Record and run one occurrence in the calling thread; return the finished run.
        An interrupt (Ctrl+C) records the run ``interrupted`` before it propagates."""
        now = self._clock.now()
        fire = Fire(task, scheduled_for, 1, reason)
        (run_id,) = self._store.insert_runs(
            [new_row(fire, RunStatus.RUNNING, now, reason, self._instance_id)]
        )
        if run_id is None:
            raise ConflictError(
                f"Occurrence {occurrence_key(task.id, scheduled_for)} is already recorded."
            )
        self._slots.take(task.id)
        try:
            with beating(self._store, self._instance_id, self._clock):
                finished = self._run_action(fire, run_id, now)
        except BaseException:
            self._slots.release(task.id)
            self._store.finish_runs([self._interrupted(run_id, Started(fire, now)).update])
            raise
        (done,) = self._write_finished(self._settle([finished]))
        return done.run

    def _write_finished(self, results: Sequence[Finished | Returned]) -> list[Finished]:
        """Write results in one batch (row by row if the batch is refused), then what
        follows from them: retries, failure counts, automatic pauses. Returns them as
        stored."""
        instance_id = self._instance_id
        finished = [built(item, instance_id) for item in results]
        for item in finished:
            if item.returned:
                log_end(item.run)
        updates = [f.update for f in finished]
        try:
            self._store.finish_runs(updates)
        except DatabaseUnavailableError as exc:  # an outage: the whole batch waits for it
            self._with_retry("finish_runs", lambda: self._store.finish_runs(updates), exc)
        except Exception:
            for item in finished:
                self._write_one_finished(item)
        self._slots.finish([item.update.run_id for item in finished])
        try:
            self._followups.follow_up(finished)  # publishes each run as RunFinished
        except Exception:
            log.exception(
                "cannot record retries or failure counts", extra={"action": "follow_up_failed"}
            )
            self.events.publish_all(RunFinished, [RunFinished(f.run, f.task) for f in finished])
        return finished

    def _interrupted(self, run_id: int, started: Started) -> Finished:
        finished_at = self._clock.now()
        return interrupted(run_id, started, instance_id=self._instance_id, finished_at=finished_at)

    def report_external(self, runs: Sequence[tuple[Run, Task, bool]]) -> None:
        """Count and announce runs that ended outside this dispatcher (abandoned by a
        process that died): ``(run, task, retrying)``."""
        self._followups.report_external(runs)

    def _ended_elsewhere(self, ended: Sequence[tuple[Run, Task]]) -> None:
        """Runs that ended on remote workers (or were ended for them): their slots are
        freed, and what follows is written and published as for runs of this process. A
        run abandoned by a dead worker was retried and announced by the engine's recovery
        already."""
        for _, task in ended:
            self._slots.release(task.id)
            self._start_queued_if_idle(task.id)
        self._followups.follow_up(
            [
                ended_elsewhere(run, task)
                for run, task in ended
                if run.status is not RunStatus.ABANDONED
            ]
        )

    def _started_elsewhere(self, run_id: int, task: Task, started_at: datetime) -> None:
        if self.events.wants(RunStarted):
            self.events.publish(RunStarted(run_id, task, started_at))

    def _write_one_finished(self, item: Finished) -> None:
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
        """Decide, record and start ``fires``. Through a database outage they are held
        (see :mod:`cronwell.dispatch.outage`) until it answers."""
        if self._outage_writer.held:  # an outage a write of results or retries rode out
            self._outage_writer.record_held(fires, self._record)
            return
        try:
            self._record(fires)
        except DatabaseUnavailableError as exc:
            self._outage_writer.record_held(fires, self._record, exc)

    @property
    def writes_given_up(self) -> int:
        """History writes a stop gave up on because the database stayed away."""
        return self._outage_writer.given_up

    def _record(self, fires: list[Fire], missed: Sequence[Fire] = ()) -> None:
        """Decide ``fires`` now, record them with ``missed`` (occurrences of a database
        outage), start what runs. A database that cannot be reached raises
        ``DatabaseUnavailableError`` with nothing decided: the slots taken are given back."""
        now = self._clock.now()
        store, instance_id = self._store, self._instance_id
        stopping = self._stopping.is_set()
        plans: list[Plan] = []
        to_replace: list[int] = []
        slots = self._slots
        with slots.lock:
            for fire in fires:
                plan = policy.SHUTDOWN if stopping else decide(fire, slots, now)
                status = plan.status
                if status is RunStatus.RUNNING:
                    if plan.replaces:
                        to_replace += slots.runs_of_locked(fire.task.id)
                        self._supersede(fire.task.id, fires, plans)
                        plan = policy.run(fire.reason)
                    slots.running[fire.task.id] += 1
                elif status is RunStatus.PENDING:
                    slots.reserve_locked(fire)
                plans.append(plan)
        if missed:
            fires = [*fires, *missed]
            plans += [policy.UNRECORDED] * len(missed)
        try:
            ids: list[int | None] | None = insert_fires(store, fires, plans, now, instance_id)
        except DatabaseUnavailableError:
            self._undo(fires, plans)
            raise
        except Exception as exc:
            insert = partial(insert_fires, store, fires, plans, now, instance_id)
            ids = self._with_retry("insert_fires", insert, exc)
        if ids is None:  # abandoned at shutdown; logged by _with_retry
            ids = [None] * len(fires)
        self._replace(to_replace)
        terminal: list[Run] = []
        starting: list[tuple[Fire, int]] = []
        for fire, (status, reason, _), run_id in zip(fires, plans, ids, strict=True):
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
                    self._slots.release(fire.task.id)
                elif status is RunStatus.PENDING:
                    self._slots.unqueue(fire.task.id)
            elif status is RunStatus.RUNNING:
                starting.append((fire, run_id))
            elif status is RunStatus.PENDING:
                self._slots.queue(fire, run_id)
                self._start_queued_if_idle(fire.task.id)
            else:
                terminal.append(row_to_run(run_id, new_row(fire, status, now, reason, instance_id)))
        self._start_on_pool(starting, now)
        if terminal:
            tasks = {fire.task.id: fire.task for fire in fires}
            told = [RunFinished(run, tasks.get(run.task_id)) for run in terminal]
            self.events.publish_all(RunFinished, told)

    def _undo(self, fires: list[Fire], plans: list[Plan]) -> None:
        """Give back the slots that ``plans`` took (a run going, a place in the queue)."""
        with self._slots.lock:
            for fire, plan in zip(fires, plans, strict=True):
                if plan.status is RunStatus.RUNNING:
                    self._slots.release_locked(fire.task.id)
                elif plan.status is RunStatus.PENDING:
                    self._slots.unreserve_locked(fire.task.id)

    def _supersede(self, task_id: str, fires: list[Fire], plans: list[Plan]) -> None:
        """overlap='replace' within one batch: earlier fires of the task that were about to
        start are recorded replaced instead. Caller holds the slots' lock."""
        for index, plan in enumerate(plans):
            if fires[index].task.id == task_id and plan.status is RunStatus.RUNNING:
                plans[index] = policy.SUPERSEDED
                self._slots.running[task_id] -= 1

    def _replace(self, run_ids: list[int]) -> None:
        """Stop runs for a newer occurrence (overlap='replace'), off the writer thread since
        a kill waits for the process to go."""
        for run_id in run_ids:
            self._slots.mark_replaced(run_id)
            threading.Thread(
                target=self._runners.cancel, args=(run_id,), name="cronwell-replace", daemon=True
            ).start()

    def _start_queued_if_idle(self, task_id: str) -> None:
        """Start the run queued behind ``task_id``'s running ones once a slot is free
        (fewer than ``max_instances`` run)."""
        queued = self._slots.take_queued(task_id, self._stopping)
        if queued is None:
            return
        fire, run_id = queued
        fire = replace(fire, reason=RunReason.QUEUED)
        now = self._clock.now()
        try:
            started = self._store.start_pending(run_id, now, self._instance_id)
        except Exception:  # the row stays pending; the next engine start releases it
            log.exception(
                "cannot start a queued run",
                extra={"action": "queued_start_failed", "task_id": task_id, "run_id": run_id},
            )
            started = False
        if not started:
            self._slots.release(task_id)
            return
        self._start_on_pool([(fire, run_id)], now)

    # -- running actions ------------------------------------------------------------------

    def _start_on_pool(self, fires: Sequence[tuple[Fire, int]], started_at: datetime) -> None:
        """Run ``(fire, run id)`` pairs on the pool, registered in flight under one hold of
        the slots' lock (see :meth:`Slots.add`); those of remote tasks go to their workers
        instead."""
        is_remote = self._remote.is_remote
        remote = [pair for pair in fires if is_remote(pair[0].task)]
        if remote:
            self._remote.send(remote)
            fires = [pair for pair in fires if not is_remote(pair[0].task)]
        inbox = self._writer.inbox
        started = [(fire, run_id, Started(fire, started_at)) for fire, run_id in fires]
        self._slots.add((run_id, start) for _, run_id, start in started)
        for fire, run_id, start in started:
            try:
                if self._pool is None:
                    raise RuntimeError("the worker pool is shut down")
                self._pool.submit(
                    partial(self._work, fire, run_id, started_at, inbox),
                    background=fire.reason == RunReason.CATCHUP,  # what is due now goes first
                )
            except RuntimeError:  # stopping: the row must not stay running
                self._slots.release(fire.task.id)
                inbox.put(self._interrupted(run_id, start))

    def _work(
        self, fire: Fire, run_id: int, started_at: datetime, inbox: queue.SimpleQueue[object]
    ) -> None:
        """A worker's part of a run: the action, then its result to the writer. No lock: in
        a burst, workers taking the slots' lock in turn would queue behind one another, so
        the writer settles a batch of results under one hold instead."""
        try:
            finished = self._run_action(fire, run_id, started_at)
        except BaseException as exc:  # a bug in cronwell: the slot must still be freed
            outcome = internal_error(exc)
            started = Started(fire, started_at)
            finished = Returned(run_id, started, outcome, {}, None, self._clock.now())
        self._slots.completed.add(run_id)  # atomic; the watchdog no longer expires it
        inbox.put(finished)

    def _expire(self, run_id: int, inbox: queue.SimpleQueue[object]) -> None:
        """A function in a thread that ignored its deadline: a thread cannot be killed, so
        the run is recorded ``timed_out`` now and its slot freed (DESIGN rule 7); whatever
        the function returns later is ignored."""
        started = self._slots.expire(run_id)
        if started is None:
            return
        task_id = started.fire.task.id
        self._slots.release(task_id)
        self._start_queued_if_idle(task_id)
        now = self._clock.now()
        inbox.put(timed_out(run_id, started, instance_id=self._instance_id, finished_at=now))

    def _settle(self, finished: list[Finished | Returned]) -> list[Finished | Returned]:
        """Free the slots of runs whose action returned, under one hold of the lock, and
        start what was queued behind them. A result whose run the watchdog already
        recorded timed out (and freed) is dropped: the row says ``timed_out``."""
        kept, queued = self._slots.settle(finished)
        for task_id in queued:
            self._start_queued_if_idle(task_id)
        return kept

    def _run_action(self, fire: Fire, run_id: int, started_at: datetime) -> Returned:
        """Run ``fire``'s action; its run's ``started_at`` becomes the moment the action
        begins (after waiting for a worker and the jitter), written with its result."""
        task = fire.task
        if task.jitter > 0:
            self._stopping.wait(random.uniform(0, task.jitter))
        started_at = self._clock.now()
        started = Started(fire, started_at)
        if run_id in self._slots.replaced:  # replaced before its action began: not started at all
            outcome = Outcome(status=RunStatus.INTERRUPTED, error="replaced before it started")
            return Returned(run_id, started, outcome, {}, RunReason.REPLACED, self._clock.now())
        if self.events.wants(RunStarted):
            self.events.publish(RunStarted(run_id, task, started_at))
        if task.timeout and not task.action.cancellable and run_id in self._slots.inflight:
            # the watchdog counts from here, not from the wait for a worker or the jitter
            watchdog = threading.Timer(
                task.timeout + _THREAD_TIMEOUT_SLACK, self._expire, (run_id, self._writer.inbox)
            )
            watchdog.daemon = True
            watchdog.start()
        ctx = RunContext.for_run(task, run_id, fire.scheduled_for, fire.attempt)
        try:
            outcome = self._runners.run(task.action, ctx, timeout=task.timeout)
        except Exception as exc:  # a bug in cronwell, not in the action: still recorded
            outcome = internal_error(exc)
        reason: str | None = None
        # no lock: a set's membership test is atomic, and a replacement is marked before
        # the action is stopped
        if run_id in self._slots.replaced:
            reason = RunReason.REPLACED
            outcome = replace(outcome, status=RunStatus.INTERRUPTED)
        elif self._stopping.is_set() and outcome.status is RunStatus.INTERRUPTED:
            reason = RunReason.SHUTDOWN
        return Returned(
            run_id,
            started,
            outcome,
            dict(ctx.counters),
            reason,
            self._clock.now(),
            results=tuple(ctx.results) if ctx.results else (),
        )

    def _stop_inflight(self) -> None:
        """Kill what can be killed among the runs still going (shell commands, child
        processes) and give their results a moment to arrive; threads cannot be killed
        and are recorded ``interrupted`` by :meth:`_interrupt_inflight`."""
        stoppable = self._slots.cancellable()
        killers = [
            threading.Thread(target=self._runners.cancel, args=(rid,), daemon=True)
            for rid in stoppable
        ]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join()
        self._slots.wait_idle(1.0)

    def _interrupt_inflight(self) -> None:
        """Record every run still in flight as interrupted."""
        inflight = self._slots.take_inflight()
        if inflight:
            finished = [self._interrupted(run_id, started) for run_id, started in inflight]
            updates = [f.update for f in finished]

            def write() -> bool:
                self._store.finish_runs(updates)
                return True

            if not self._with_retry("interrupt_runs", write):
                return  # logged by _with_retry: the next start records them abandoned
            self.events.publish_all(RunFinished, [RunFinished(f.run, f.task) for f in finished])
            log.warning(
                "runs still going at shutdown were recorded interrupted",
                extra={"action": "runs_interrupted", "count": len(finished)},
            )
