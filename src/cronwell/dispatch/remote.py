"""Runs executed elsewhere (DESIGN rule 13): the leader fires and records, a remote worker
executes.

A task with ``executor = "celery"`` is decided and recorded on the leader like any other
(overlap, misfire grace, max instances, the occurrence fence); only its action runs
elsewhere. :class:`RemoteExecution` marks the recorded rows ``queued`` with their queue,
sends one message per run through a :class:`Publisher` (a batch per queue), and watches
the rows until they end:

- a run a worker ended is handed back to the dispatcher, which frees its slot and writes
  what follows (retries as new attempt rows, failure streaks, alerts): retries stay
  cronwell's, never the broker's;
- a run nobody takes is recorded ``missed``, reason ``no_worker``, once neither it nor any
  other run of its queue was taken for the task's ``misfire_grace`` (a queue that workers
  take from is a backlog, and its runs wait their turn);
- a run that goes on past its timeout and the worker's hard time limit is recorded
  ``timed_out`` (the worker's own limits normally end it first);
- a run whose worker died is recorded ``abandoned`` by the engine's recovery, which finds
  the worker's heartbeats stopped, and retried per policy; here its slot is freed.

Each of these ends is a compare-and-set on the row, as is a worker's claim, so a worker
and the leader never both write one. A new leader watches on the runs in flight that the
last one sent.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cronwell.clock import Clock
from cronwell.dispatch.fire import Fire
from cronwell.domain.durations import format_duration
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import ConfigError, CronwellError
from cronwell.store import Store

log = logging.getLogger(__name__)

CELERY = "celery"
# seconds between looks at the rows of the runs in flight, at least; a look at many rows
# waits a few times its own length before the next, to leave the cores to the workers
WATCH_INTERVAL = 0.5
_WATCH_SHARE = 4
# seconds a worker's hard time limit allows past a task's timeout (its soft limit)
HARD_LIMIT_SLACK = 5.0
# seconds past the hard limit before the leader records a run timed out itself
_TIMEOUT_MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class Message:
    """What a worker is sent for one run: ``cronwell.execute(run_id, attempt,
    task_version)`` on ``queue``, with the time limits of the task's ``timeout``."""

    run_id: int
    attempt: int
    task_version: int
    queue: str
    timeout: float | None


class Publisher(Protocol):
    """Sends messages to remote workers (:class:`cronwell.dispatch.celery.CeleryPublisher`)."""

    def publish(self, messages: Sequence[Message]) -> None:
        """Send every message, over one connection; raise if the broker cannot take them."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Flight:
    """A run sent to a worker, as the leader watches it."""

    task: Task
    attempt: int
    queue: str
    queued_at: float  # monotonic
    sent: bool = False  # the broker took its message
    started: bool = False


def no_publisher() -> Publisher:
    """What a scheduler without a broker sends remote runs with: nothing; they fail."""
    raise ConfigError(
        "the task's executor is 'celery' but this scheduler has no broker: set "
        "CRONWELL_CELERY_BROKER (and install cronwell[celery])."
    )


Ended = Callable[[Sequence[tuple[Run, Task]]], None]
StartedHook = Callable[[int, Task, datetime], None]


class RemoteExecution:
    """Sends the runs of remote tasks to their queues and watches them until they end.

    ``publisher`` builds the :class:`Publisher` when the first run is sent (it raises a
    :class:`~cronwell.errors.CronwellError` naming what is missing when the broker is not
    configured or Celery is not installed: such runs end ``failed`` with that sentence).
    ``on_ended`` hears of runs that ended, ``on_started`` of runs a worker took."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        publisher: Callable[[], Publisher],
        *,
        default_executor: str = "local",
        default_queue: str = "cronwell",
        on_ended: Ended,
        on_started: StartedHook,
        on_error: Callable[[BaseException], bool] = lambda _: False,
    ) -> None:
        self._store = store
        self._clock = clock
        self._make_publisher = publisher
        self._publisher: Publisher | None = None
        self.default_executor = default_executor
        self.default_queue = default_queue
        self._on_ended = on_ended
        self._on_started = on_started
        self._on_error = on_error  # True when it logged the error itself (an outage)
        self._unsent: list[tuple[Fire, int]] = []  # recorded, not yet marked queued
        self._inbox: queue.SimpleQueue[tuple[Fire, int] | None] = queue.SimpleQueue()
        self._flights: dict[int, _Flight] = {}
        self._taken_at: dict[str, float] = {}  # by queue: when a worker last took a run of it
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def is_remote(self, task: Task) -> bool:
        """Whether ``task``'s runs execute on remote workers."""
        return (task.executor or self.default_executor) == CELERY

    def queue_of(self, task: Task) -> str:
        return task.queue or self.default_queue

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> list[tuple[int, str]]:
        """Watch on the remote runs in flight that an earlier leader sent; returns their
        ``(run_id, task_id)`` for the dispatcher to count in its slots."""
        adopted: list[tuple[int, str]] = []
        in_flight = self._store.remote.in_flight()
        if in_flight:
            tasks = {
                t.id: t for t in self._store.find_tasks(sorted({s.task_id for s in in_flight}))
            }
            now = time.monotonic()
            with self._lock:
                for state in in_flight:
                    task = tasks.get(state.task_id)
                    if task is None:
                        continue
                    running = state.status is RunStatus.RUNNING
                    self._flights[state.run_id] = _Flight(
                        task, state.attempt, self.queue_of(task), now, sent=True, started=running
                    )
                    adopted.append((state.run_id, state.task_id))
            log.info(
                "watching remote runs sent by an earlier leader",
                extra={"action": "remote_runs_adopted", "count": len(adopted)},
            )
            self._ensure_thread()
        return adopted

    def stop(self) -> None:
        """Send what is waiting, then stop watching: runs in flight go on on their workers,
        and the next leader watches them on."""
        thread = self._thread
        if thread is None:
            return
        self._inbox.put(None)
        thread.join()
        self._thread = None
        if self._unsent:  # the database stayed away: recovered as abandoned at the next start
            log.error(
                "runs recorded for remote workers could not be marked queued before the stop",
                extra={"action": "remote_runs_unsent", "count": len(self._unsent)},
            )
            self._unsent = []
        with self._lock:
            self._flights.clear()
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    # -- sending --------------------------------------------------------------------------

    def send(self, runs: Sequence[tuple[Fire, int]]) -> None:
        """Queue recorded ``running`` rows to be marked ``queued`` and sent; returns at
        once (the writer thread calls it)."""
        for item in runs:
            self._inbox.put(item)
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._main, name="cronwell-remote", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        next_watch = time.monotonic() + WATCH_INTERVAL
        stopping = False
        while True:
            batch: list[tuple[Fire, int]] = []
            try:
                item = self._inbox.get(timeout=max(0.0, next_watch - time.monotonic()))
                while True:
                    if item is None:
                        stopping = True
                    else:
                        batch.append(item)
                    item = self._inbox.get_nowait()
            except queue.Empty:
                pass
            batch, self._unsent = self._unsent + batch, []
            if batch and not self._guarded(self._send, batch):
                self._unsent = batch  # marked again at the next look: marking is idempotent
            if stopping:
                return
            if time.monotonic() >= next_watch:
                began = time.monotonic()
                self._guarded(self._watch)
                self._guarded(self._resend)
                took = time.monotonic() - began
                next_watch = time.monotonic() + max(WATCH_INTERVAL, took * _WATCH_SHARE)

    def _guarded(self, step: Callable[..., None], *args: object) -> bool:
        """Run one step of the loop; False when it failed (logged: the loop tries again)."""
        try:
            step(*args)
        except Exception as exc:
            if not self._on_error(exc):
                log.warning(
                    "remote runs: %s failed; will try again: %s",
                    step.__name__.strip("_"),
                    exc,
                    extra={"action": "remote_runs_failed"},
                )
            return False
        return True

    def _send(self, batch: list[tuple[Fire, int]]) -> None:
        try:
            publisher = self._publisher_now()
        except CronwellError as exc:
            self._fail_unsendable(batch, str(exc))
            return
        by_queue: dict[str, list[tuple[Fire, int]]] = {}
        for fire, run_id in batch:
            by_queue.setdefault(self.queue_of(fire.task), []).append((fire, run_id))
        for queue_name, runs in by_queue.items():
            fires = {run_id: fire for fire, run_id in runs}
            marked = self._store.remote.mark_queued(list(fires), queue_name)
            queued_at = time.monotonic()
            flights: dict[int, _Flight] = {}
            for run_id in marked:
                fire = fires[run_id]
                flights[run_id] = _Flight(fire.task, fire.attempt, queue_name, queued_at)
            with self._lock:
                self._flights.update(flights)
            self._publish(publisher, flights)

    def _publish(self, publisher: Publisher, flights: dict[int, _Flight]) -> None:
        messages = [
            Message(run_id, f.attempt, f.task.version, f.queue, f.task.timeout)
            for run_id, f in flights.items()
        ]
        if not messages:
            return
        try:
            publisher.publish(messages)
        except Exception as exc:  # kept unsent; sent again at the next look, or missed
            log.warning(
                "cannot send runs to the broker; will try again: %s",
                exc,
                extra={"action": "remote_send_failed", "count": len(messages)},
            )
            return
        for flight in flights.values():
            flight.sent = True

    def _resend(self) -> None:
        """Send again what the broker did not take (it was down)."""
        with self._lock:
            unsent = {run_id: f for run_id, f in self._flights.items() if not f.sent}
        if unsent:
            self._publish(self._publisher_now(), unsent)

    def _publisher_now(self) -> Publisher:
        if self._publisher is None:
            self._publisher = self._make_publisher()
        return self._publisher

    def _fail_unsendable(self, batch: list[tuple[Fire, int]], problem: str) -> None:
        log.error(
            "runs cannot be sent to remote workers: %s",
            problem,
            extra={"action": "remote_not_configured", "count": len(batch)},
        )
        ended = self._store.remote.end(
            [(run_id, 0.0) for _, run_id in batch],
            RunStatus.RUNNING,
            RunStatus.FAILED,
            self._clock.now(),
            reason=None,
            error=f"Not sent to a worker: {problem}",
        )
        tasks = {run_id: fire.task for fire, run_id in batch}
        self._on_ended([(run, tasks[run.id]) for run in self._store.remote.runs(ended)])

    # -- watching -------------------------------------------------------------------------

    def _watch(self) -> None:
        with self._lock:
            flights = dict(self._flights)
        if not flights:
            return
        now, clock_now = time.monotonic(), self._clock.now()
        ended: list[int] = []
        missed: list[int] = []
        overdue: list[tuple[int, float | None]] = []
        states = self._store.remote.states(list(flights))
        taken_at = self._taken_at
        for state in states:
            if state.status is not RunStatus.QUEUED and not flights[state.run_id].started:
                taken_at[flights[state.run_id].queue] = now
        for state in states:
            flight = flights[state.run_id]
            if state.status.is_terminal:
                ended.append(state.run_id)
            elif state.status is RunStatus.QUEUED:
                grace = flight.task.misfire_grace
                waited = now - max(flight.queued_at, taken_at.get(flight.queue, 0.0))
                if math.isfinite(grace) and waited > grace:
                    missed.append(state.run_id)
            elif state.status is RunStatus.RUNNING and state.started_at is not None:
                if not flight.started:
                    flight.started = True
                    self._on_started(state.run_id, flight.task, state.started_at)
                timeout = flight.task.timeout
                if timeout is not None:
                    took = (clock_now - state.started_at).total_seconds()
                    if took > timeout + HARD_LIMIT_SLACK + _TIMEOUT_MARGIN:
                        overdue.append((state.run_id, took))
        ended += self._end_missed(missed, flights, clock_now)
        ended += self._end_overdue(overdue, flights, clock_now)
        if not ended:
            return
        with self._lock:
            for run_id in ended:
                self._flights.pop(run_id, None)
        runs = self._store.remote.runs(ended)
        self._on_ended([(run, flights[run.id].task) for run in runs])

    def _end_missed(
        self, missed: list[int], flights: dict[int, _Flight], now: datetime
    ) -> list[int]:
        # one write per sentence (a queue, whether it was sent, a grace), not per run: a
        # queue nobody consumes may hold a whole burst
        by_error: dict[str, list[tuple[int, float | None]]] = {}
        for run_id in missed:
            flight = flights[run_id]
            grace = format_duration(flight.task.misfire_grace)
            where = (
                f"it waited in queue {flight.queue!r}"
                if flight.sent
                else "the broker could not be reached to send it"
            )
            error = (
                f"No worker took it: {where}, and no worker took any run of that queue, for "
                f"longer than the task's misfire grace ({grace}). Is a worker consuming that "
                "queue?"
            )
            by_error.setdefault(error, []).append((run_id, None))
        ends: list[int] = []
        for error, runs in by_error.items():
            ends += self._store.remote.end(
                runs,
                RunStatus.QUEUED,
                RunStatus.MISSED,
                now,
                reason=RunReason.NO_WORKER,
                error=error,
            )
        return ends

    def _end_overdue(
        self, overdue: list[tuple[int, float | None]], flights: dict[int, _Flight], now: datetime
    ) -> list[int]:
        ends: list[int] = []
        for run_id, took in overdue:
            timeout = format_duration(flights[run_id].task.timeout or 0.0)
            ends += self._store.remote.end(
                [(run_id, took)],
                RunStatus.RUNNING,
                RunStatus.TIMED_OUT,
                now,
                reason=None,
                error=f"timed out after {timeout}: its worker neither finished it nor "
                "ended it at its time limits",
            )
        return ends
