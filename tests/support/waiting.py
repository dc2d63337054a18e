"""Waiting on conditions with a deadline instead of sleeping and hoping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from cronwell.domain.events import EventBus, RunFinished, Subscription
from cronwell.domain.run import Run, RunStatus

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Return ``condition()``'s first truthy value, checking every 20 ms; fail after
    ``timeout`` seconds. For state that lives in another process or a database."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def on_run(
    events: EventBus,
    listener: Callable[[Run], None],
    statuses: Iterable[RunStatus | str] | str | None = None,
) -> Subscription:
    """``listener(run)`` for each :class:`RunFinished` on ``events``, as ``Cronwell.on_run``
    does: for a dispatcher built alone in a test."""
    return events.subscribe(RunFinished, lambda event: listener(event.run), statuses=statuses)


class RunCollector:
    """A run listener that lets a test wait for the n-th recorded run of a task."""

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._changed = threading.Condition()

    def __call__(self, run: Run) -> None:
        with self._changed:
            self.runs.append(run)
            self._changed.notify_all()

    def wait_for(
        self,
        count: int,
        task_id: str | None = None,
        timeout: float = 10.0,
        predicate: Callable[[Run], bool] = lambda r: True,
    ) -> list[Run]:
        def matching() -> list[Run]:
            return [
                r for r in self.runs if (task_id is None or r.task_id == task_id) and predicate(r)
            ]

        with self._changed:
            ok = self._changed.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        if not ok:
            raise AssertionError(f"expected {count} run(s) of {task_id}, got {len(found)}: {found}")
        return found
