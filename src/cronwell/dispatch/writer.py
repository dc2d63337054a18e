"""The history writer: the one thread of a dispatcher that writes run history.

Every fire goes through it: it takes everything queued at that moment and inserts the run
rows in one transaction (DESIGN rule 2: the row exists before the action starts, and the
UNIQUE fence rejects a second fire of the same occurrence). Finished runs are written back
the same way, in batches. Two queues feed it: ``due`` holds fires, which are due now, and
``inbox`` holds the rest (results, requests from other threads, the stop), so that a fire
never waits behind results. What the writer does with each kind is the dispatcher's: it is
given as callables.

The writer also holds the cyclic garbage collector off while a burst's runs are in flight
(:class:`~cronwell.gcpause.BurstHold`), and ends the hold once none is.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cronwell.dispatch.fire import Fire
from cronwell.dispatch.outage import OutageWriter, drain
from cronwell.dispatch.results import RESULTS, Finished, Returned
from cronwell.dispatch.slots import Slots
from cronwell.domain.task import Task
from cronwell.errors import SchedulerStateError
from cronwell.gcpause import BurstHold
from cronwell.store import RunGrid

log = logging.getLogger(__name__)

# items the writer takes at once, unless a fire is due: then all that is queued (see
# HistoryWriter._write_until_stopped)
_BATCH_LIMIT = 1000
# seconds the writer may keep gathering results of runs still in flight before writing
# them, as long as one arrives at least every _QUIET seconds
_LINGER = 0.05
_QUIET = 0.002
# seconds the writer may hold the cyclic collector off while a burst's runs are in flight
_HOLD_LONGEST = 1.0
# seconds between looks at the writer and the caller's cancel event, while waiting
_REQUEST_POLL = 0.1

_STOP = object()
_DUE = object()  # wakes the writer for fires, which wait in a queue of their own


@dataclass
class Request:
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


Result = Finished | Returned


class HistoryWriter:
    """The writer thread of one dispatcher, from :meth:`start` to :meth:`stop`.

    ``settle(results)`` frees the slots of returned actions and returns the results to
    write; ``record_fires(fires)`` decides, records and starts fires; ``carry_out(request)``
    does a :class:`Request`; ``write_finished(results)`` writes results and what follows
    from them."""

    def __init__(
        self,
        slots: Slots,
        stopping: threading.Event,
        outage_writer: OutageWriter,
        *,
        settle: Callable[[list[Result]], list[Result]],
        record_fires: Callable[[list[Fire]], None],
        carry_out: Callable[[Request], None],
        write_finished: Callable[[Sequence[Result]], Any],
    ) -> None:
        self._slots = slots
        self._stopping = stopping
        self._outage_writer = outage_writer
        self._settle = settle
        self._record_fires = record_fires
        self._carry_out = carry_out
        self._write_finished = write_finished
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.due: queue.SimpleQueue[Fire] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self._hold: BurstHold | None = None  # the thread's, from start() on

    def start(self) -> None:
        # fresh queues: nothing of a past term leaks in
        self.inbox, self.due = queue.SimpleQueue(), queue.SimpleQueue()
        self._outage_writer.reset(self.due)
        self._hold = BurstHold(_HOLD_LONGEST)
        self.thread = threading.Thread(
            target=self._write_loop,
            args=(self.inbox, self.due, self._hold),
            name="cronwell-writer",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        thread = self.thread
        if thread is None:
            return
        self.inbox.put(_STOP)
        thread.join()
        self.thread = None

    def submit(self, fires: Sequence[Fire]) -> None:
        """Queue fires; returns at once."""
        hold = self._hold
        if self.thread is None or hold is None:
            raise SchedulerStateError("The dispatcher is not running.")
        # from the first fire of a burst: the engine's own work on the rest counts too (a
        # collection due then fell in the burst's first milliseconds)
        hold.hold()
        for fire in fires:
            self.due.put(fire)
        self.inbox.put(_DUE)

    @property
    def elsewhere(self) -> bool:
        """True when the thread runs and this is not it."""
        return self.thread not in (None, threading.current_thread())

    def through(self, request: Request, cancel: threading.Event | None) -> bool:
        """Have the writer thread carry out ``request`` and wait for it, or until ``cancel``
        is set (False then: a writer retrying through a database outage must not hold up
        a stop). Rows are stored here when no writer runs; fires need one."""
        if self.elsewhere:
            self.inbox.put(request)
        return self.wait(request, cancel)

    def wait(self, request: Request, cancel: threading.Event | None) -> bool:
        """Wait for the writer to carry out ``request``, looking at ``cancel`` and at the
        writer now and then; raise what failed it. With no writer to wait for (none runs,
        it stopped and drained its queue, or it died, or this is its thread) the request
        is carried out here, unless it holds fires, which need the writer."""
        writer = self.thread
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

    # -- the thread ---------------------------------------------------------------------------

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
        ``due``, not behind the inbox's results, which can be thousands during a fleet's
        catch-up. A batch with fires takes everything queued, so that the results queued
        before them free their slots first (the overlap policy decides on them)."""
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
                    if isinstance(request, Request):
                        self._carry_out(request)
                if finished:
                    self._write_finished(finished)
            except Exception as exc:  # never let the writer die: the only way to history
                log.exception("run history writer failed", extra={"action": "writer_failed"})
                for request in items:  # whoever waits for a request hears why
                    if isinstance(request, Request) and not request.done.is_set():
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
        between looks rather than waiting on the queue: woken by every result, it would
        spend more in thread switches than in writing."""
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
