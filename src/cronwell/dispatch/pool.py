"""The threads that run actions.

What ``ThreadPoolExecutor`` does, without what the dispatcher never uses: a ``Future`` (a
lock and a condition) per call and a semaphore round trip per hand-off. Each run reports
its result through the dispatcher's writer queue instead. In a burst of 10,000 fires the
executor's bookkeeping was a tenth of the time the process held the GIL.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]


class WorkerPool:
    """``size`` daemon threads running callables in the order they were submitted."""

    def __init__(self, size: int, name: str) -> None:
        self._queue: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Work) -> None:
        """Queue ``work``; RuntimeError once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        self._queue.put(work)

    def shutdown(self, wait: bool = False) -> None:
        """Take no more work; what was submitted still runs. With ``wait``, return when
        every thread has finished."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            try:
                work()
            except BaseException:  # a bug in cronwell: the thread must live on
                log.exception("worker failed", extra={"action": "worker_failed"})
