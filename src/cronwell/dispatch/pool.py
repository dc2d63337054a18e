"""The threads that run actions.

What ``ThreadPoolExecutor`` does, without what the dispatcher never uses: a ``Future`` (a
lock and a condition) per call and a semaphore round trip per hand-off. Each run reports
its result through the dispatcher's writer queue instead, so that in a burst the
threads spend their share of the GIL on runs rather than on the executor's bookkeeping.

Work comes in two lanes with threads of their own: ``size`` threads for what is due now,
and a quarter as many (at least one) for background work (catch-up runs after an outage).
Thousands of catch-up runs thus never take a thread from an occurrence due now, even when
they are slow.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]


def background_threads(size: int) -> int:
    """How many threads a pool of ``size`` gives its background lane."""
    return max(1, size // 4)


class WorkerPool:
    """Daemon threads running callables, each lane in the order submitted."""

    def __init__(self, size: int, name: str) -> None:
        self._first: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._background: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._closed = False
        lanes = [(self._first, f"{name}_{i}") for i in range(size)]
        lanes += [(self._background, f"{name}_bg_{i}") for i in range(background_threads(size))]
        self._threads = [
            (threading.Thread(target=self._serve, args=(lane,), name=label, daemon=True), lane)
            for lane, label in lanes
        ]
        for thread, _ in self._threads:
            thread.start()

    def submit(self, work: Work, *, background: bool = False) -> None:
        """Queue ``work`` on its lane. RuntimeError once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        (self._background if background else self._first).put(work)

    def shutdown(self, wait: bool = False) -> None:
        """Take no more work; what was submitted still runs. With ``wait``, return when
        every thread has finished."""
        if not self._closed:
            self._closed = True
            for _, lane in self._threads:  # one stop per thread, behind what is queued
                lane.put(None)
        if wait:
            for thread, _ in self._threads:
                thread.join()

    @staticmethod
    def _serve(lane: queue.SimpleQueue[Work | None]) -> None:
        while (work := lane.get()) is not None:
            try:
                work()
            except BaseException:  # a bug in cronwell: the thread must live on
                log.exception("worker failed", extra={"action": "worker_failed"})
