"""The dispatcher's in-flight bookkeeping: which runs are going, how many of each task, the
run queued behind a task's running ones, and the marks a run collects on its way out.

One lock guards it all. Methods ending in ``_locked`` expect the caller to hold
:attr:`Slots.lock` (the dispatcher decides a batch of fires, or frees a batch of slots,
under one hold); the others take it themselves. Workers read the sets without the lock: a
set's membership test is atomic, and each mark is made before anyone looks for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Protocol, TypeVar

from cronwell.dispatch.fire import Fire, Started
from cronwell.domain.task import Task

log = logging.getLogger(__name__)


class Ending(Protocol):
    """A run's result on its way to the writer (see :mod:`cronwell.dispatch.results`)."""

    @property
    def run_id(self) -> int: ...
    @property
    def returned(self) -> bool: ...
    @property
    def task(self) -> Task: ...


_E = TypeVar("_E", bound=Ending)


class Slots:
    """Runs in flight in one dispatcher."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)  # notified when a run leaves ``inflight``
        self.running: Counter[str] = Counter()  # runs going, by task id
        self.inflight: dict[int, Started] = {}  # by run id
        self.queued: dict[str, tuple[Fire, int]] = {}  # overlap='queue_one', by task id
        self.replaced: set[int] = set()  # runs being stopped for a newer occurrence
        self.expired: set[int] = set()  # thread runs recorded timed_out, still running
        self.completed: set[int] = set()  # runs whose action returned, result not yet stored

    def forget_term(self) -> None:
        """A new term: a run that outlived the last one frees nothing in this one."""
        with self.lock:
            self.queued.clear()
            self.running.clear()
            self.expired.clear()
            self.completed.clear()
            self.replaced.clear()

    # -- counts by task -----------------------------------------------------------------------

    def take(self, task_id: str) -> None:
        """One run of ``task_id`` more."""
        with self.lock:
            self.running[task_id] += 1

    def release(self, task_id: str) -> None:
        """One run of ``task_id`` fewer."""
        with self.lock:
            self.release_locked(task_id)

    def release_locked(self, task_id: str) -> None:
        self.running[task_id] -= 1
        if self.running[task_id] <= 0:
            del self.running[task_id]

    def running_count(self, task_id: str) -> int:
        with self.lock:
            return self.running[task_id]

    # -- runs in flight -------------------------------------------------------------------------

    def add(self, started: Iterable[tuple[int, Started]]) -> None:
        """Register runs in flight, under one hold of the lock: worker threads take it too,
        and a hold per run would keep the writer waiting behind them through a burst."""
        with self.lock:
            for run_id, start in started:
                self.inflight[run_id] = start

    def finish(self, run_ids: Iterable[int]) -> None:
        """Runs whose final rows are stored: out of flight, and their marks gone."""
        with self.idle:
            for run_id in run_ids:
                self.inflight.pop(run_id, None)
                self.replaced.discard(run_id)
                self.completed.discard(run_id)
            self.idle.notify_all()

    def take_inflight(self) -> list[tuple[int, Started]]:
        """Every run in flight, taken out of flight."""
        with self.lock:
            inflight = list(self.inflight.items())
            self.inflight.clear()
        return inflight

    def is_running(self, run_id: int) -> bool:
        with self.lock:
            return run_id in self.inflight and run_id not in self.completed

    def run_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.inflight)

    def runs_of_locked(self, task_id: str) -> list[int]:
        """Runs of ``task_id`` in flight."""
        return [rid for rid, s in self.inflight.items() if s.fire.task.id == task_id]

    def cancellable(self) -> list[int]:
        """Runs in flight whose action can be killed (shell commands, child processes)."""
        with self.lock:
            return [rid for rid, s in self.inflight.items() if s.fire.task.action.cancellable]

    def expire(self, run_id: int) -> Started | None:
        """Mark a run whose function ignored its deadline as timed out: its run, or
        ``None`` when it already ended (returned, expired, or no longer in flight)."""
        with self.lock:
            started = self.inflight.get(run_id)
            if started is None or run_id in self.expired or run_id in self.completed:
                return None
            self.expired.add(run_id)
            return started

    def mark_replaced(self, run_id: int) -> None:
        with self.lock:
            self.replaced.add(run_id)

    def wait_idle(self, grace: float | None) -> None:
        """Wait until no run is in flight, for up to ``grace`` seconds (``None``: no limit)."""
        deadline = None if grace is None else time.monotonic() + grace
        with self.idle:
            while self.inflight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self.idle.wait(remaining)

    def settle(self, results: list[_E]) -> tuple[list[_E], list[str]]:
        """Free the slots of runs whose action returned, under one hold of the lock: the
        results to write, and the tasks whose queued run may start now. A result whose run
        the watchdog already recorded timed out (and freed) is dropped: the row says
        ``timed_out``."""
        kept: list[_E] = []
        freed: list[str] = []
        with self.lock:
            for item in results:
                run_id = item.run_id
                if item.returned and run_id in self.expired:
                    self.expired.discard(run_id)
                    self.completed.discard(run_id)
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
                    self.release_locked(item.task.id)
                    freed.append(item.task.id)
                kept.append(item)
            queued = [task_id for task_id in freed if task_id in self.queued]
        return kept, queued

    # -- the queue place (overlap='queue_one') --------------------------------------------------

    def reserve_locked(self, fire: Fire) -> None:
        """Hold ``fire``'s task's queue place; its row id comes once it is inserted."""
        self.queued[fire.task.id] = (fire, -1)

    def unreserve_locked(self, task_id: str) -> None:
        """Give the queue place back if it is only reserved (its row not inserted)."""
        queued = self.queued.get(task_id)
        if queued is not None and queued[1] < 0:
            del self.queued[task_id]

    def queue(self, fire: Fire, run_id: int) -> None:
        with self.lock:
            self.queued[fire.task.id] = (fire, run_id)

    def unqueue(self, task_id: str) -> None:
        with self.lock:
            self.queued.pop(task_id, None)

    def take_queued(self, task_id: str, stopping: threading.Event) -> tuple[Fire, int] | None:
        """The run queued behind ``task_id``'s, with a slot taken for it, once fewer than
        ``max_instances`` of the task run (and the dispatcher is not stopping)."""
        with self.lock:
            queued = self.queued.get(task_id)
            if queued is None or queued[1] < 0:
                return None
            if self.running[task_id] >= queued[0].task.max_instances:
                return None
            if stopping.is_set():
                return None
            del self.queued[task_id]
            self.running[task_id] += 1
        return queued
