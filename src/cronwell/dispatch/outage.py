"""A database outage as a state of the dispatcher: "unreachable since T".

While the database cannot be reached, run history waits in memory and is written when it
returns; the occurrences that fall due meanwhile cannot be recorded before they would run
(DESIGN rule 2), so they are held undecided and, once the database answers, planned by
:func:`~cronwell.domain.policies.plan_outage`: ``missed`` with reason
``database_unavailable``, or run per the task's catch-up policy. They never take a task's
overlap slot while held, so none is recorded skipped for overlapping another that could not
be recorded either.

The outage is logged once when it starts (``action="database_unavailable"``), in one
summary line every :attr:`Outage.summary_every` seconds while it lasts
(``database_still_unavailable``) and once when it ends (``database_available``, with its
duration and counts), rather than a traceback per failed write.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from cronwell.clock import Clock
from cronwell.domain.policies import plan_outage
from cronwell.domain.run import RunReason
from cronwell.errors import DatabaseUnavailableError

if TYPE_CHECKING:
    from cronwell.dispatch.fire import Fire

log = logging.getLogger(__name__)

# seconds between summary lines while an outage lasts
SUMMARY_EVERY = 30.0
# seconds between tries of a write that failed
RETRY_DELAY = 1.0
# past outages remembered, to tell a later catch-up why the occurrences it finds were missed
SPANS_KEPT = 16
_T = TypeVar("_T")


def drain(source: queue.SimpleQueue[_T]) -> list[_T]:
    """Everything ``source`` holds now."""
    taken: list[_T] = []
    try:
        while True:
            taken.append(source.get_nowait())
    except queue.Empty:
        return taken


class Outage:
    """Whether the database is reachable, as the last uses of it found; thread-safe.

    ``held`` (occurrences held undecided) and ``writing`` (the writer is retrying a write)
    are kept up to date by the dispatcher's writer; an outage it is riding out is ended
    by the writer alone, once what it held is recorded, so the end line carries the
    counts."""

    def __init__(self, clock: Clock, summary_every: float = SUMMARY_EVERY) -> None:
        self.summary_every = summary_every
        self._clock = clock
        self._lock = threading.Lock()
        self.since: datetime | None = None
        self._began = 0.0
        self._next_summary = 0.0
        self.failures = 0
        self.held = 0
        self.writing = False
        self._missed = 0
        self._caught_up = 0
        self._answered: datetime | None = None  # when the database last answered
        self._began_at: datetime | None = None  # when it may have stopped answering
        self._past: deque[tuple[datetime, datetime]] = deque(maxlen=SPANS_KEPT)

    @property
    def active(self) -> bool:
        """The database was found unreachable and has not answered since."""
        return self.since is not None

    def report(self, error: BaseException) -> bool:
        """Count a failed use of the database. True when ``error`` says the database cannot
        be reached or used (then it is logged here: the first one starts the outage, the
        others are summed up now and then); False for anything else, which the caller
        logs as before."""
        if not isinstance(error, DatabaseUnavailableError):
            return False
        with self._lock:
            self.failures += 1
            now = time.monotonic()
            if self.since is None:
                self.since = self._clock.now()
                self._began_at = self._answered or self.since
                self._began = now
                self._next_summary = now + self.summary_every
                self._missed = self._caught_up = 0
                log.warning(
                    "%s; run history waits in memory, and what falls due meanwhile is "
                    "recorded missed (or caught up) when it answers",
                    error,
                    extra={"action": "database_unavailable", "error": str(error)},
                )
            elif now >= self._next_summary:
                self._next_summary = now + self.summary_every
                log.warning(
                    "the database is still unreachable after %.0f s (%d failed attempts, "
                    "%d occurrences waiting)",
                    now - self._began,
                    self.failures,
                    self.held,
                    extra={
                        "action": "database_still_unavailable",
                        "seconds": round(now - self._began, 3),
                        "failed_attempts": self.failures,
                        "held_occurrences": self.held,
                        "writing": self.writing,
                        "error": str(error),
                    },
                )
        return True

    def recovered(self, *, missed: int = 0, caught_up: int = 0, writer: bool = False) -> None:
        """The database answered. Ends the outage (one line with its duration and counts)
        unless the writer still holds occurrences or retries a write and ``writer`` is
        false: the writer ends it once they are recorded."""
        if self.since is None:
            self._answered = self._clock.now()
            return
        with self._lock:
            if self.since is None or (not writer and (self.held or self.writing)):
                return
            self._missed += missed
            self._caught_up += caught_up
            seconds = time.monotonic() - self._began
            log.warning(
                "the database answers again after %.1f s: %d occurrences of the outage "
                "recorded missed, %d caught up",
                seconds,
                self._missed,
                self._caught_up,
                extra={
                    "action": "database_available",
                    "duration": round(seconds, 3),
                    "since": self.since.isoformat(),
                    "failed_attempts": self.failures,
                    "missed": self._missed,
                    "caught_up": self._caught_up,
                },
            )
            self._answered = self._clock.now()
            self._past.append((self._began_at or self.since, self._answered))
            self.since = None
            self.failures = 0
            self.writing = False

    def spans(self) -> list[tuple[datetime, datetime | None]]:
        """The outages this process saw (the latest :data:`SPANS_KEPT`), oldest first: from
        the last time the database answered before each to the first time it answered
        again (``None`` while it lasts). Occurrences inside one were missed because the
        database was unreachable, not because no scheduler ran."""
        with self._lock:
            spans: list[tuple[datetime, datetime | None]] = list(self._past)
            if self.since is not None:
                spans.append((self._began_at or self.since, None))
        return spans


def plan_held(fires: Sequence[Fire], now: datetime) -> tuple[list[Fire], list[Fire]]:
    """The fires held through an outage, once the database answers at ``now``: those to
    decide as usual (a lone occurrence still within its grace, catch-up runs, manual runs
    and retries, which were asked for) and those to record ``missed`` with reason
    ``database_unavailable`` (see :func:`~cronwell.domain.policies.plan_outage`)."""
    scheduled: dict[str, dict[datetime, Fire]] = {}
    decide: list[Fire] = []
    for fire in fires:
        if fire.reason == RunReason.SCHEDULE and fire.attempt == 1:
            scheduled.setdefault(fire.task.id, {})[fire.scheduled_for] = fire
        else:
            decide.append(fire)
    missed: list[Fire] = []
    for at in scheduled.values():
        task = at[max(at)].task  # the definition of the newest fire
        plan = plan_outage(list(at), task.catchup, now, task.misfire_grace, task.catchup_window)
        if plan.late is not None:
            decide.append(at[plan.late])
        decide += [replace(at[when], reason=RunReason.CATCHUP) for when in plan.run]
        missed += [at[when] for when in plan.missed]
    return decide, missed


class OutageWriter:
    """The dispatcher's writer thread through an outage: it retries a failed history write
    every :data:`RETRY_DELAY` seconds and meanwhile holds the fires that fall due (taken
    from ``due``) undecided, then records them as :func:`plan_held` says once the
    database answers. Used by the writer thread only.

    Once ``stopping`` is set, retries go on until ``give_up_at`` (monotonic; set by the
    dispatcher's stop), then the write is given up: logged, counted in ``given_up``, and
    left to the next start (runs left ``running`` are recorded abandoned by it, and
    occurrences not recorded are caught up)."""

    def __init__(self, outage: Outage, clock: Clock, stopping: threading.Event) -> None:
        self.outage = outage
        self._clock = clock
        self._stopping = stopping
        self.held: list[Fire] = []
        self.give_up_at = float("inf")
        self.given_up = 0
        self._due: queue.SimpleQueue[Fire] = queue.SimpleQueue()

    def reset(self, due: queue.SimpleQueue[Fire]) -> None:
        """A new term of the writer, taking fires from ``due``."""
        self.held, self.give_up_at, self._due = [], float("inf"), due

    def retry(
        self,
        what: str,
        write: Callable[[], _T],
        error: Exception | None = None,
        *,
        ends_outage: bool = True,
    ) -> _T | None:
        """``write()`` (which failed with ``error`` already, if given) until it succeeds,
        so an outage delays history instead of dropping it; ``None`` once a stop gave up.
        Anything but an outage is logged with its traceback at each try."""
        outage, failed = self.outage, error is not None
        while True:
            if error is None:
                try:
                    result = write()
                except Exception as exc:
                    error, failed = exc, True
                else:
                    if failed and ends_outage:
                        outage.writing = False
                        if not self.held:
                            outage.recovered(writer=True)
                    return result
            outage.writing = True
            if not outage.report(error):
                log.error(
                    "cannot write run history; retrying",
                    exc_info=error,
                    extra={"action": "history_write_failed", "operation": what},
                )
            error = None
            self.held += drain(self._due)
            outage.held = len(self.held)
            if not self._stopping.is_set():
                self._stopping.wait(RETRY_DELAY)
                continue
            remaining = self.give_up_at - time.monotonic()
            if remaining > 0:
                time.sleep(min(RETRY_DELAY, remaining))
                continue
            outage.writing = False
            self.given_up += 1
            log.error(
                "gave up writing run history at shutdown; runs left running are recorded "
                "abandoned by the next start, occurrences not recorded are caught up by it",
                extra={
                    "action": "history_write_abandoned",
                    "operation": what,
                    "held_occurrences": len(self.held),
                },
            )
            return None

    def record_held(
        self,
        fires: list[Fire],
        record: Callable[[list[Fire], list[Fire]], None],
        error: Exception | None = None,
    ) -> None:
        """Hold ``fires`` with those held already until the database answers; then
        ``record(to_decide, missed)`` them as :func:`plan_held` says, decided at that
        moment (so a run's ``started_at`` is when it starts, not when it fell due).
        ``record`` raises ``DatabaseUnavailableError`` with nothing decided while the
        database is still away."""
        self.held += fires
        counts = [0, 0]

        def attempt() -> bool:
            self.held += drain(self._due)
            decide, missed = plan_held(self.held, self._clock.now())
            record(decide, missed)
            counts[:] = [len(missed), sum(f.reason == RunReason.CATCHUP for f in decide)]
            self.held = []
            self.outage.held = 0
            return True

        if self.retry("insert_fires", attempt, error, ends_outage=False):
            self.outage.recovered(missed=counts[0], caught_up=counts[1], writer=True)
        else:  # a stop gave up: the next start catches up what was not recorded
            self.held = []
