"""How a catch-up hands what it found to the dispatcher: missed rows to store, catch-up
runs to record and start, in an order that keeps what is due now on time.

Which way the rows go is decided here, not by the caller. On SQLite the writer thread
stores them, after the fires queued before them: a second thread writing to SQLite would
compete with the writer for the database's one write lock, and the fires due now would
wait for it. PostgreSQL takes writers side by side: the catch-up thread stores the rows on
a connection of its own while the writer records and finishes runs, and listeners still
hear of the rows on the writer thread.

Either way a task's catch-up runs are handed over only once all its own missed rows are
stored: a catch-up cut short (a stop) must not leave an unrecorded occurrence before a
recorded one, which the next start would not see.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from cronwell.dispatch.cancel import revoked
from cronwell.dispatch.fire import Fire
from cronwell.dispatch.writer import HistoryWriter, Request
from cronwell.domain.task import Task
from cronwell.errors import SchedulerStateError
from cronwell.store import NewRun, RunGrid, Store


@dataclass(frozen=True)
class CatchUpSizes:
    """How much of a catch-up is handed over at a time: a catch-up after a long outage
    of a large fleet is many thousands of rows and runs, and it goes on while the
    scheduler fires what is due now, so it is cut into pieces that keep those fires on
    time. The defaults suit SQLite and PostgreSQL alike; a dispatcher takes other sizes
    only where a test or a benchmark needs a catch-up cut finer or coarser.

    ``record_chunk``
        Missed rows written per transaction through the writer (SQLite), and catch-up
        runs queued for the writer per request. One transaction for a whole outage would
        hold SQLite's write lock long enough to delay the fires due meanwhile.
    ``hand_over_every``
        Seconds that catch-up runs whose rows are recorded may wait for more runs to be
        handed over with them (through the writer): fewer, larger hand-overs, each a
        round trip to the writer, without holding back a frequent task for long.
    ``beside_chunk``
        Missed rows stored at a time beside the writer (PostgreSQL): large, since the
        catch-up thread waits for the GIL after each statement.
    ``runs_ahead``
        Requests of catch-up runs queued for the writer while the catch-up thread goes
        on storing the next rows beside it (PostgreSQL): enough that the writer never
        waits for the catch-up, few enough that a stop leaves little queued.
    """

    record_chunk: int = 1000
    hand_over_every: float = 0.05
    beside_chunk: int = 9000
    runs_ahead: int = 2


class Backlog(Protocol):
    """What tasks that share a schedule, a policy and an outage missed: the same missed
    ``rows`` but for the task id, for each of ``task_ids``, and their catch-up ``fires``."""

    @property
    def rows(self) -> Sequence[NewRun]: ...
    @property
    def task_ids(self) -> list[str]: ...
    @property
    def fires(self) -> list[Fire]: ...


class Feed(Protocol):
    """What the hand-over needs of a dispatcher (:class:`CatchUpFeed` does it for
    :class:`~cronwell.dispatch.local.LocalDispatcher`)."""

    @property
    def stores_beside_writer(self) -> bool: ...
    def record(
        self,
        grid: RunGrid,
        tasks: Mapping[str, Task] | None = None,
        cancel: threading.Event | None = None,
    ) -> bool: ...
    def start_behind(
        self, fires: Sequence[Fire], chunk: int = 1000, cancel: threading.Event | None = None
    ) -> bool: ...
    def start_soon(
        self,
        fires: Sequence[Fire],
        in_flight: deque[Request],
        *,
        chunk: int = 1000,
        ahead: int = 2,
        cancel: threading.Event | None = None,
    ) -> bool: ...
    def wait_for(
        self, in_flight: deque[Request], cancel: threading.Event | None = None
    ) -> bool: ...


def hand_over(
    feed: Feed,
    backlogs: Sequence[Backlog],
    tasks: Mapping[str, Task],
    cancel: threading.Event | None = None,
    sizes: CatchUpSizes = CatchUpSizes(),
) -> None:
    """Store the missed rows and start the catch-up runs of ``backlogs``, in order, the
    way the database takes them, in pieces of ``sizes``; nothing more once ``cancel`` is
    set."""
    if feed.stores_beside_writer:
        hand_over_beside_writer(feed, backlogs, tasks, cancel, sizes)
    else:
        hand_over_through_writer(feed, backlogs, tasks, cancel, sizes)


class CatchUpFeed:
    """A dispatcher's side of the hand-over: the dispatcher that derives from it sets
    ``_store``, ``_writer`` and ``_catchup_sizes``."""

    _store: Store
    _writer: HistoryWriter
    _catchup_sizes: CatchUpSizes

    def hand_over(
        self,
        backlogs: Sequence[Backlog],
        tasks: Mapping[str, Task],
        cancel: threading.Event | None = None,
    ) -> None:
        """Store a catch-up's missed rows and start its runs (:func:`hand_over`)."""
        hand_over(self, backlogs, tasks, cancel, self._catchup_sizes)

    @property
    def stores_beside_writer(self) -> bool:
        """True when :meth:`record` stores rows on the calling thread (PostgreSQL, a writer
        running, called from another thread)."""
        return not self._store.is_sqlite and self._writer.elsewhere

    def record(
        self,
        grid: RunGrid,
        tasks: Mapping[str, Task] | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Record finished rows that run nothing (a fleet's missed occurrences after one
        outage: the same rows for many tasks), in one transaction; duplicates of recorded
        occurrences are ignored. Returns once they are stored (or raises why not); False
        if ``cancel`` was set first, when the rows may or may not be stored. See the
        module's docstring for which thread stores them."""
        if revoked(cancel):
            return False
        request = Request(grid=grid, tasks=tasks or {}, cancel=cancel)
        if not self.stores_beside_writer:
            return self._writer.through(request, cancel)
        request.stored = self._store.insert_grid(grid)
        self._writer.inbox.put(request)  # only listeners to tell: nobody waits for it
        return True

    def start_behind(
        self, fires: Sequence[Fire], chunk: int = 1000, cancel: threading.Event | None = None
    ) -> bool:
        """:meth:`start_soon` with no chunk ahead: returns when all are recorded, or False
        once ``cancel`` is set (the chunks not handed over are not recorded). Chunks keep
        an occurrence due now from waiting behind a whole catch-up in the writer's queue."""
        return self.start_soon(fires, deque(), chunk=chunk, ahead=0, cancel=cancel)

    def start_soon(
        self,
        fires: Sequence[Fire],
        in_flight: deque[Request],
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
        writer = self._writer
        if not writer.elsewhere:
            raise SchedulerStateError("The dispatcher is not running.")
        for start in range(0, len(fires), chunk):
            request = Request(fires=list(fires[start : start + chunk]), cancel=cancel)
            writer.inbox.put(request)
            in_flight.append(request)
            while len(in_flight) > ahead:
                if not writer.wait(in_flight.popleft(), cancel):
                    return False
        return True

    def wait_for(self, in_flight: deque[Request], cancel: threading.Event | None = None) -> bool:
        """Wait until the writer has recorded every request of ``in_flight``; False once
        ``cancel`` is set first."""
        while in_flight:
            if not self._writer.wait(in_flight.popleft(), cancel):
                return False
        return True


def hand_over_through_writer(
    feed: Feed,
    backlogs: Sequence[Backlog],
    tasks: Mapping[str, Task],
    cancel: threading.Event | None,
    sizes: CatchUpSizes,
) -> None:
    """Have the writer store the missed rows and start the catch-up runs of
    ``backlogs``, in order, ``sizes.record_chunk`` rows at a time. Runs whose rows are
    recorded are handed over every ``sizes.hand_over_every`` seconds, and at once when
    there are a chunk of them, rather than after each backlog (a round trip to the
    writer each): a frequent task that came due while the engine started does not wait
    behind the rows of a whole fleet. A fleet's catch-up runs are not interleaved with
    chunks of its own rows: both wait for the GIL, and smaller hand-overs cost more."""
    record_chunk, every = sizes.record_chunk, sizes.hand_over_every
    ready: list[Fire] = []
    handed = time.monotonic()

    def hand_over(everything: bool = False) -> bool:
        nonlocal ready, handed
        due = everything or len(ready) >= record_chunk
        if ready and (due or time.monotonic() - handed >= every):
            if not feed.start_behind(ready, record_chunk, cancel):
                return False
            ready, handed = [], time.monotonic()
        return True

    for backlog in backlogs:
        if backlog.rows:
            tasks_per_request = max(1, record_chunk // len(backlog.rows))
            for start in range(0, len(backlog.task_ids), tasks_per_request):
                task_ids = backlog.task_ids[start : start + tasks_per_request]
                chunk = RunGrid(task_ids, backlog.rows)
                if not feed.record(chunk, tasks, cancel) or not hand_over():
                    return
        ready += backlog.fires
        if not hand_over():
            return
    hand_over(everything=True)


def hand_over_beside_writer(
    feed: Feed,
    backlogs: Sequence[Backlog],
    tasks: Mapping[str, Task],
    cancel: threading.Event | None,
    sizes: CatchUpSizes,
) -> None:
    """:func:`hand_over_through_writer` where rows are stored beside the writer
    (PostgreSQL): the missed rows of a chunk of a backlog's tasks (``sizes.beside_chunk``
    rows) are stored on this thread, then the chunk's catch-up runs are queued for the
    writer without waiting for them (``sizes.runs_ahead`` requests ahead at most), so
    the server stores the next chunk's rows while this process runs the runs of the last
    one. A task's runs still come only after all its own rows. Chunks are large: the
    thread waits for the GIL after each statement."""
    in_flight: deque[Request] = deque()
    for backlog in backlogs:
        runs_of: dict[str, list[Fire]] = {}
        for fire in backlog.fires:
            runs_of.setdefault(fire.task.id, []).append(fire)
        rows = backlog.rows
        per_chunk = max(1, sizes.beside_chunk // len(rows) if rows else len(backlog.task_ids))
        for start in range(0, len(backlog.task_ids), per_chunk):
            task_ids = backlog.task_ids[start : start + per_chunk]
            if rows and not feed.record(RunGrid(task_ids, rows), tasks, cancel):
                return
            runs = [fire for task_id in task_ids for fire in runs_of.get(task_id, ())]
            if not feed.start_soon(
                runs,
                in_flight,
                chunk=sizes.record_chunk,
                ahead=sizes.runs_ahead,
                cancel=cancel,
            ):
                return
            if cancel is not None and cancel.is_set():  # as through the writer: this chunk lands
                return
    feed.wait_for(in_flight, cancel)
