"""The local dispatcher: records each fire as a run row, then runs it on a worker thread.

Every fire goes through one writer thread that takes everything queued at that moment and
inserts the run rows in one transaction (DESIGN rule 2: the row exists before the action
starts, and the UNIQUE fence rejects a second fire of the same occurrence). Finished runs are
written back the same way, in batches, with what follows from them (a retry row, the
task's failure count, an automatic pause); listeners hear of a run once it is stored.

Policies decided here (DESIGN rules 5 to 7): an occurrence later than ``misfire_grace`` is
``missed``; one that comes while ``max_instances`` runs of the task are going follows
``overlap``; a failed
or timed-out run gets a ``pending`` retry row (``attempt + 1``, due after the backoff) that
the engine claims when due; ``timeout`` is handed to the runner.

Nothing is left ``running`` by a stop: once :meth:`LocalDispatcher.shutdown` begins, fires
still queued are recorded ``interrupted``; running runs get ``grace`` seconds to finish,
then processes are killed and what is left is recorded ``interrupted``.

A database outage is a state of its own (:mod:`cronwell.dispatch.outage`): results wait,
fires that fall due are held undecided and recorded missed or caught up when it answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from cronwell.clock import Clock
from cronwell.dispatch import policy
from cronwell.dispatch.cancel import revoked
from cronwell.dispatch.fire import Fire, Started
from cronwell.dispatch.followups import FollowUps
from cronwell.dispatch.outage import RETRY_DELAY, Outage, OutageWriter, drain
from cronwell.dispatch.outcomes import (
    GridListener,
    Listeners,
    OutcomeListener,
    RunListener,
    RunOutcome,
    StartListener,
    row_to_run,
)
from cronwell.dispatch.policy import Plan, decide
from cronwell.dispatch.pool import WorkerPool
from cronwell.dispatch.results import (
    RESULTS,
    Finished,
    Returned,
    internal_error,
    interrupted,
)
from cronwell.dispatch.results import finished as build_finished
from cronwell.dispatch.slots import Slots
from cronwell.domain.durations import format_duration
from cronwell.domain.run import Run, RunReason, RunStatus, occurrence_key
from cronwell.domain.task import Task
from cronwell.errors import (
    ConflictError,
    DatabaseUnavailableError,
    SchedulerStateError,
)
from cronwell.gcpause import BurstHold
from cronwell.runners import Outcome, RunContext, Runners
from cronwell.store import NewRun, RunGrid, Store

log = logging.getLogger(__name__)

# items the writer takes at once, unless a fire is due: then all that is queued (see
# _write_until_stopped)
_BATCH_LIMIT = 1000
# seconds the writer may keep gathering results of runs still in flight before writing
# them, as long as one arrives at least every _QUIET seconds
_LINGER = 0.05
_QUIET = 0.002
_UNRECORDABLE = "Not run: the database could not be reached when it fell due."
# seconds a stop keeps retrying its last writes through a database outage when it was
# given no grace of its own
_SHUTDOWN_WRITES = 30.0
# seconds the writer may hold the cyclic collector off while a burst's runs are in flight
_HOLD_LONGEST = 1.0
# seconds between "still alive" notes while a process runs something (engines beat too)
HEARTBEAT_INTERVAL = 10.0
# a function in a thread gets this long past its timeout to stop cooperatively
_THREAD_TIMEOUT_SLACK = 1.0


@dataclass
class _Request:
    """Work for the writer thread from another thread, which waits for ``done``: a grid
    of rows that run nothing to store (or, with ``stored``, stored already by the caller,
    for the writer to tell listeners of), fires to record and start."""

    grid: RunGrid | None = None
    tasks: Mapping[str, Task] = field(default_factory=dict)
    fires: list[Fire] = field(default_factory=list)
    stored: list[tuple[int, str, int]] | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    # once revoked, the writer drops what is not stored yet (a catch-up whose leader lost
    # the lease)
    cancel: threading.Event | None = None


_STOP = object()
_DUE = object()  # wakes the writer for fires, which wait in a queue of their own


# seconds between looks at the writer and the caller's cancel event, while waiting
_REQUEST_POLL = 0.1


class LocalDispatcher:
    """Runs fires on a thread pool of ``max_workers`` threads in this process.

    ``on_task_change`` is called when the dispatcher itself changes a task (an automatic
    pause), so the engine reschedules at once.
    """

    def __init__(
        self,
        store: Store,
        runners: Runners,
        clock: Clock,
        *,
        instance_id: str,
        max_workers: int = 20,
        on_task_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._runners = runners
        self._clock = clock
        self._instance_id = instance_id
        self._max_workers = max_workers
        self._on_task_change = on_task_change
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._due: queue.SimpleQueue[Fire] = queue.SimpleQueue()
        self._slots = Slots()
        self._listeners = Listeners()
        self._stopping = threading.Event()
        self._pool: WorkerPool | None = None
        self._writer: threading.Thread | None = None
        self._hold: BurstHold | None = None  # the writer's, from start() on
        self.outage = Outage(clock)
        self._outage_writer = OutageWriter(self.outage, clock, self._stopping)
        self._with_retry = self._outage_writer.retry
        self._followups = FollowUps(
            store,
            clock,
            instance_id,
            on_task_change=on_task_change,
            with_retry=self._with_retry,
            tell=self._listeners.tell_outcomes,
        )

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._writer is not None

    def start(self) -> None:
        if self._writer is not None:
            return
        self._stopping.clear()
        # fresh queues: nothing of a past term leaks in
        self._queue, self._due = queue.SimpleQueue(), queue.SimpleQueue()
        self._outage_writer.reset(self._due)
        self._slots.forget_term()
        self._pool = WorkerPool(self._max_workers, "cronwell-run")
        self._hold = BurstHold(_HOLD_LONGEST)
        self._writer = threading.Thread(
            target=self._write_loop,
            args=(self._queue, self._due, self._hold),
            name="cronwell-writer",
            daemon=True,
        )
        self._writer.start()

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
        writer, pool = self._writer, self._pool
        if writer is None or pool is None:
            return
        self._stopping.set()
        pool.shutdown(wait=False)
        if wait:
            self._slots.wait_idle(grace)
        self._stop_inflight()
        writes = _SHUTDOWN_WRITES if grace is None else max(grace, RETRY_DELAY)
        self._outage_writer.give_up_at = time.monotonic() + writes
        self._queue.put(_STOP)
        writer.join()
        self._writer = None
        self._pool = None
        self._interrupt_inflight()
        # a run queued behind another stays pending; the next engine start releases it
        with self._slots.lock:
            self._slots.queued.clear()

    def add_listener(
        self, listener: RunListener, statuses: Iterable[RunStatus | str] | str | None = None
    ) -> None:
        """Call ``listener(run)`` with every run once its final row is stored, or only
        with those that end in one of ``statuses``."""
        self._listeners.add_listener(listener, statuses)

    def add_outcome_listener(
        self, listener: OutcomeListener, on_grid: GridListener | None = None
    ) -> None:
        """Call ``listener(outcome)`` for every stored run with what followed from it
        (retry scheduled, failure counts, automatic pause), off the run's thread; or,
        when ``on_grid`` is given, ``on_grid(recorded)`` once for the rows of a grid."""
        self._listeners.add_outcome_listener(listener, on_grid)

    def add_start_listener(self, listener: StartListener) -> None:
        """Call ``listener(run_id, task, started_at)`` when an action begins (on the run's
        thread: it must return at once)."""
        self._listeners.add_start_listener(listener)

    def is_running(self, run_id: int) -> bool:
        return self._slots.is_running(run_id)

    def running_count(self, task_id: str) -> int:
        return self._slots.running_count(task_id)

    def running_runs(self) -> list[int]:
        return self._slots.run_ids()

    # -- entry points ---------------------------------------------------------------------

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires; returns at once (called from the engine's timer thread)."""
        hold = self._hold
        if self._writer is None or hold is None:
            raise SchedulerStateError("The dispatcher is not running.")
        # from the first fire of a burst: the engine's own work on the rest counts too (a
        # collection due then fell in the burst's first milliseconds)
        hold.hold()
        for fire in fires:
            self._due.put(fire)
        self._queue.put(_DUE)

    def record(
        self,
        grid: RunGrid,
        tasks: Mapping[str, Task] | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Record finished rows that run nothing (a fleet's missed occurrences after one
        outage: the same rows for many tasks), in one transaction; duplicates of recorded
        occurrences are ignored. Returns once they are stored (or raises why not); False
        if ``cancel`` was set first, when the rows may or may not be stored.

        On SQLite the writer thread stores them, after the fires queued before them: two
        threads of one process writing to SQLite starved the fires, whose waits for the
        write lock polled with growing sleeps while catch-up took the lock back chunk after
        chunk (an every-second task skipped 3 of 10 occurrences). PostgreSQL takes writers
        side by side: the calling thread stores them on a connection of its own, so the
        server inserts them while the writer records and finishes runs (see
        :attr:`stores_beside_writer`); listeners still hear of them on the writer thread."""
        if revoked(cancel):
            return False
        request = _Request(grid=grid, tasks=tasks or {}, cancel=cancel)
        if not self.stores_beside_writer:
            return self._through_writer(request, cancel)
        request.stored = self._store.insert_grid(grid)
        self._queue.put(request)  # only listeners to tell: nobody waits for it
        return True

    @property
    def stores_beside_writer(self) -> bool:
        """True when :meth:`record` stores rows on the calling thread (PostgreSQL, a writer
        running, called from another thread)."""
        writer = self._writer
        return (
            not self._store.is_sqlite
            and writer is not None
            and writer is not threading.current_thread()
        )

    def start_behind(
        self, fires: Sequence[Fire], chunk: int = 1000, cancel: threading.Event | None = None
    ) -> bool:
        """:meth:`start_soon` with no chunk ahead: returns when all are recorded, or False
        once ``cancel`` is set (the chunks not handed over are not recorded). Submitted at
        once, 10,000 catch-up fires held an occurrence due now behind them in the writer's
        queue for over a second."""
        return self.start_soon(fires, deque(), chunk=chunk, ahead=0, cancel=cancel)

    def start_soon(
        self,
        fires: Sequence[Fire],
        in_flight: deque[_Request],
        *,
        chunk: int = 1000,
        ahead: int = 2,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Queue ``fires`` (catch-up runs) for the writer to record and start, ``chunk`` at
        a time, each behind what was queued before it, and return while at most ``ahead``
        chunks are still queued (in ``in_flight``, oldest first): the caller goes on
        storing rows meanwhile. An occurrence due now waits behind none of them, only
        for what the writer is doing (fires have a queue of their own). False once
        ``cancel`` is set while waiting; end with :meth:`wait_for` on ``in_flight``."""
        if self._writer in (None, threading.current_thread()):
            raise SchedulerStateError("The dispatcher is not running.")
        for start in range(0, len(fires), chunk):
            request = _Request(fires=list(fires[start : start + chunk]), cancel=cancel)
            self._queue.put(request)
            in_flight.append(request)
            while len(in_flight) > ahead:
                if not self._wait(in_flight.popleft(), cancel):
                    return False
        return True

    def wait_for(self, in_flight: deque[_Request], cancel: threading.Event | None = None) -> bool:
        """Wait until the writer has recorded every request of ``in_flight``; False once
        ``cancel`` is set first."""
        while in_flight:
            if not self._wait(in_flight.popleft(), cancel):
                return False
        return True

    def _through_writer(self, request: _Request, cancel: threading.Event | None) -> bool:
        """Have the writer thread carry out ``request`` and wait for it, or until ``cancel``
        is set (False then: a writer retrying through a database outage must not hold up
        a stop). Rows are stored here when no writer runs; fires need one."""
        if self._writer not in (None, threading.current_thread()):
            self._queue.put(request)
        return self._wait(request, cancel)

    def _wait(self, request: _Request, cancel: threading.Event | None) -> bool:
        """Wait for the writer to carry out ``request``, looking at ``cancel`` and at the
        writer now and then; raise what failed it. With no writer to wait for (none runs,
        it stopped and drained its queue, or it died, or this is its thread) the request
        is carried out here, unless it holds fires, which need the writer."""
        writer = self._writer
        waiting = writer not in (None, threading.current_thread())
        while waiting and not request.done.wait(_REQUEST_POLL):
            if cancel is not None and cancel.is_set():
                return False
            waiting = writer is not None and writer.is_alive()
        if not request.done.is_set():
            if request.fires:
                raise SchedulerStateError("The dispatcher is not running.")
            self._carry_out(request)
        if request.error is not None:
            raise request.error
        return True

    def _carry_out(self, request: _Request) -> None:
        if revoked(request.cancel) and request.stored is None:
            request.done.set()  # nothing of it stored: dropped whole
            return
        try:
            if request.grid is not None:
                stored = request.stored
                if stored is None:
                    stored = self._store.insert_grid(request.grid)
                self._listeners.tell_grid(request.grid, stored, request.tasks)
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
        (run_id,) = self._store.insert_runs([self._new_row(fire, RunStatus.RUNNING, now, reason)])
        if run_id is None:
            raise ConflictError(
                f"Occurrence {occurrence_key(task.id, scheduled_for)} is already recorded."
            )
        self._slots.take(task.id)
        try:
            with self._heartbeat():
                finished = self._run_action(fire, run_id, now)
        except BaseException:
            self._slots.release(task.id)
            self._store.finish_runs([self._interrupted(run_id, Started(fire, now)).update])
            raise
        (done,) = self._write_finished(self._settle([finished]))
        return done.run

    @contextlib.contextmanager
    def _heartbeat(self) -> Iterator[None]:
        """While a run goes on outside an engine (``cronwell tasks run``), tell other
        instances this process is alive, so they do not take its run for abandoned."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(HEARTBEAT_INTERVAL):
                try:
                    self._store.heartbeat(
                        self._instance_id, socket.gethostname(), os.getpid(), self._clock.now()
                    )
                except Exception:
                    log.warning("heartbeat failed", extra={"action": "heartbeat_failed"})

        thread = threading.Thread(target=beat, name="cronwell-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()

    # -- the writer thread ----------------------------------------------------------------

    def _write_loop(
        self, inbox: queue.SimpleQueue[object], due: queue.SimpleQueue[Fire], hold: BurstHold
    ) -> None:
        try:
            self._write_until_stopped(inbox, due, hold)
        finally:
            hold.close()

    def _write_until_stopped(
        self, inbox: queue.SimpleQueue[object], due: queue.SimpleQueue[Fire], hold: BurstHold
    ) -> None:
        """Write what the inbox brings, a batch at a time, fires first. Fires wait in
        ``due``, not behind the inbox's results: in a queue of both, a fire that came
        during a fleet's catch-up waited for 2,000 results ahead of it, two batches, 0.2 s.
        A batch with fires takes everything queued, so that the results queued before
        them free their slots first (the overlap policy decides on them)."""
        stopping = False
        while True:
            items = [] if stopping else [self._next(inbox, hold)]
            self._gather(inbox, items)
            fires = drain(due)
            if fires:
                items += drain(inbox)
            if stopping and not items and not fires:
                return  # drained: what this thread queued for itself is written too
            try:
                # slots of returned actions are freed before fires are decided, as if
                # freed by the worker the moment the action returned
                finished = self._settle([i for i in items if isinstance(i, RESULTS)])
                # fires first: they are due now, the rest only waits to be written
                if fires or self._outage_writer.held:
                    # again: the end of the last burst may have ended the hold taken by
                    # submit() for these, between the submit and this thread taking them
                    hold.hold()
                    self._record_fires(fires)
                for request in items:
                    if isinstance(request, _Request):
                        self._carry_out(request)
                if finished:
                    self._write_finished(finished)
            except Exception as exc:  # never let the writer die: the only way to history
                log.exception("run history writer failed", extra={"action": "writer_failed"})
                for request in items:  # whoever waits for a request hears why
                    if isinstance(request, _Request) and not request.done.is_set():
                        request.error = exc
                        request.done.set()
            stopping = stopping or any(item is _STOP for item in items)

    def _next(self, inbox: queue.SimpleQueue[object], hold: BurstHold) -> object:
        """The next item to handle. With no run in flight the burst is written: its hold
        ends, and the collections due meanwhile run now, in the quiet after it (the hold's
        own watch ends it at its limit otherwise; see :class:`~cronwell.gcpause.BurstHold`)."""
        if not self._slots.inflight:
            hold.release()
        return inbox.get()

    def _gather(self, inbox: queue.SimpleQueue[object], items: list[object]) -> None:
        """Add what else is queued to ``items``. Results of a burst arrive one by one from
        the worker threads; while more runs are in flight, no fire waits and results keep
        coming (some in every ``_QUIET`` seconds), keep gathering for up to ``_LINGER``
        seconds, so that a burst's results are written in a few transactions rather than
        one per run (a transaction costs far more than the row). The writer sleeps
        between looks rather than waiting on the queue: woken by every result, it spent
        more in thread switches than in writing."""
        deadline = time.monotonic() + _LINGER
        checked = 0
        waited = False
        while True:
            count = len(items)
            while len(items) < _BATCH_LIMIT:
                try:
                    items.append(inbox.get_nowait())
                except queue.Empty:
                    break
            if any(not isinstance(item, RESULTS) for item in items[checked:]):
                return  # a fire (due now) or a stop: no waiting
            checked = len(items)
            if (
                len(items) >= _BATCH_LIMIT
                or (waited and len(items) == count)  # nothing came for _QUIET seconds
                or len(self._slots.inflight) <= len(items)  # nothing more to come
                or self._stopping.is_set()
                or time.monotonic() >= deadline
            ):
                return
            time.sleep(_QUIET)
            waited = True

    def _write_finished(self, results: Sequence[Finished | Returned]) -> list[Finished]:
        """Write results in one batch (row by row if the batch is refused), then what
        follows from them: retries, failure counts, automatic pauses. Returns them as
        stored."""
        finished = [self._built(item) for item in results]
        for item in finished:
            if item.returned:
                _log_outcome(item.run)
        updates = [f.update for f in finished]
        try:
            self._store.finish_runs(updates)
        except DatabaseUnavailableError as exc:  # an outage: the whole batch waits for it
            self._with_retry("finish_runs", lambda: self._store.finish_runs(updates), exc)
        except Exception:
            for item in finished:
                self._write_one_finished(item)
        self._slots.finish([item.update.run_id for item in finished])
        self._listeners.notify([f.run for f in finished])
        try:
            self._followups.follow_up(finished)
        except Exception:
            log.exception(
                "cannot record retries or failure counts", extra={"action": "follow_up_failed"}
            )
        return finished

    def _built(self, item: Finished | Returned) -> Finished:
        if isinstance(item, Finished):
            return item
        return build_finished(
            item.run_id,
            item.started,
            item.outcome,
            item.counters,
            item.reason,
            instance_id=self._instance_id,
            finished_at=item.finished_at,
            returned=True,
            results=item.results,
        )

    def _interrupted(self, run_id: int, started: Started) -> Finished:
        finished_at = self._clock.now()
        return interrupted(run_id, started, instance_id=self._instance_id, finished_at=finished_at)

    def report_external(self, runs: Sequence[tuple[Run, Task, bool]]) -> None:
        """Count and announce runs that ended outside this dispatcher (abandoned by a
        process that died): ``(run, task, retrying)``."""
        self._followups.report_external(runs)

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
            ids: list[int | None] | None = self._insert_fires(fires, plans, now)
        except DatabaseUnavailableError:
            self._undo(fires, plans)
            raise
        except Exception as exc:
            ids = self._with_retry(
                "insert_fires", lambda: self._insert_fires(fires, plans, now), exc
            )
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
                terminal.append(row_to_run(run_id, self._new_row(fire, status, now, reason)))
        self._start_on_pool(starting, now)
        self._listeners.notify(terminal)
        tasks = {fire.task.id: fire.task for fire in fires}
        self._listeners.tell_outcomes([RunOutcome(run, tasks.get(run.task_id)) for run in terminal])

    def _undo(self, fires: list[Fire], plans: list[Plan]) -> None:
        """Give back the slots that ``plans`` took (a run going, a place in the queue)."""
        with self._slots.lock:
            for fire, plan in zip(fires, plans, strict=True):
                if plan.status is RunStatus.RUNNING:
                    self._slots.release_locked(fire.task.id)
                elif plan.status is RunStatus.PENDING:
                    self._slots.unreserve_locked(fire.task.id)

    def _insert_fires(
        self, fires: list[Fire], plans: list[Plan], now: datetime
    ) -> list[int | None]:
        """Insert a row per fire, as planned; return each one's id, ``None`` for a fire
        whose occurrence is already recorded (or comes earlier in ``fires``).

        Fires of one instant and one plan (a burst, a steady second) are one grid: their
        rows differ only in the task, and a row object per fire was a quarter of what
        recording it cost. Any other mix goes row by row in one sorted statement: a grid
        per instant would be a statement each, and grids of one transaction would lock
        keys in another order than a concurrent writer's."""
        if not fires:
            return []
        fire, plan = fires[0], plans[0]
        status, reason = plan.status, plan.reason
        alike = all(
            f.scheduled_for == fire.scheduled_for and f.attempt == fire.attempt for f in fires
        )
        if not alike or plans.count(plan) != len(plans):
            rows = [
                self._new_row(f, each.status, now, each.reason)
                for f, each in zip(fires, plans, strict=True)
            ]
            return self._store.insert_runs(rows)
        grid = RunGrid([f.task.id for f in fires], [self._new_row(fire, status, now, reason)])
        stored = {task_id: run_id for run_id, task_id, _ in self._store.insert_grid(grid)}
        return [stored.pop(f.task.id, None) for f in fires]  # a task's first fire takes it

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

    def _new_row(self, fire: Fire, status: RunStatus, now: datetime, reason: str) -> NewRun:
        running = status is RunStatus.RUNNING
        terminal = status.is_terminal
        return NewRun(
            task_id=fire.task.id,
            scheduled_for=fire.scheduled_for,
            attempt=fire.attempt,
            status=status,
            reason=reason,
            started_at=now if running else None,
            finished_at=now if terminal else None,
            error=_UNRECORDABLE if reason == RunReason.DATABASE_UNAVAILABLE else None,
            instance_id=self._instance_id,
        )

    # -- running actions ------------------------------------------------------------------

    def _start_on_pool(self, fires: Sequence[tuple[Fire, int]], started_at: datetime) -> None:
        """Run ``(fire, run id)`` pairs on the pool. Registered in flight under one hold of
        the lock: worker threads take it too, and one hold per fire kept the writer
        waiting behind them for most of a burst."""
        inbox = self._queue
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
        """A worker's part of a run: the action, then its result to the writer. No lock:
        in a burst every worker passing through the dispatcher's lock made them queue
        behind one another, and the writer settles a batch of results under one hold."""
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
        task = started.fire.task
        outcome = Outcome(
            status=RunStatus.TIMED_OUT,
            error=f"timed out after {format_duration(task.timeout or 0)}; the function did not "
            "stop at its deadline and still runs in its thread, its result will be ignored "
            "(check ctx.check() in loops, or use isolation='process' for a hard timeout)",
        )
        self._slots.release(task.id)
        self._start_queued_if_idle(task.id)
        now = self._clock.now()
        inbox.put(
            build_finished(
                run_id, started, outcome, {}, None, instance_id=self._instance_id, finished_at=now
            )
        )

    def _settle(self, finished: list[Finished | Returned]) -> list[Finished | Returned]:
        """Free the slots of runs whose action returned, under one hold of the lock, and
        start what was queued behind them. A result whose run the watchdog already
        recorded timed out (and freed) is dropped: the row says ``timed_out``."""
        kept: list[Finished | Returned] = []
        freed: list[str] = []
        slots = self._slots
        with slots.lock:
            for item in finished:
                run_id = item.run_id
                if item.returned and run_id in slots.expired:
                    slots.expired.discard(run_id)
                    slots.completed.discard(run_id)
                    log.info(
                        "a timed-out function returned; its result is ignored",
                        extra={
                            "action": "late_result_ignored",
                            "task_id": item.task.id,
                            "run_id": run_id,
                        },
                    )
                    continue
                if item.returned:
                    slots.release_locked(item.task.id)
                    freed.append(item.task.id)
                kept.append(item)
            queued = [task_id for task_id in freed if task_id in slots.queued]
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
        self._listeners.started(run_id, task, started_at)
        if task.timeout and not task.action.cancellable and run_id in self._slots.inflight:
            # the watchdog counts from here, not from the wait for a worker or the jitter
            watchdog = threading.Timer(
                task.timeout + _THREAD_TIMEOUT_SLACK, self._expire, (run_id, self._queue)
            )
            watchdog.daemon = True
            watchdog.start()
        ctx = RunContext.for_run(task, run_id, fire.scheduled_for, fire.attempt)
        try:
            outcome = self._runners.run(task.action, ctx, timeout=task.timeout)
        except Exception as exc:  # a bug in cronwell, not in the action: still recorded
            outcome = internal_error(exc)
        reason = None
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
            self._listeners.notify([f.run for f in finished])
            log.warning(
                "runs still going at shutdown were recorded interrupted",
                extra={"action": "runs_interrupted", "count": len(finished)},
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
