"""The threads that run actions.

What ``ThreadPoolExecutor`` does, without what the dispatcher never uses: a ``Future`` (a
lock and a condition) per call and a semaphore round trip per hand-off. Each run reports
its result through the dispatcher's writer queue instead. In a burst of 10,000 fires the
executor's bookkeeping was a tenth of the time the process held the GIL.

Work comes in two lanes: a thread takes background work (catch-up runs after an outage)
only when no other work waits, so thousands of catch-up runs do not hold back an
occurrence that is due now.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Work = Callable[[], None]


class WorkerPool:
    """``size`` daemon threads running callables, each lane in the order submitted."""

    def __init__(self, size: int, name: str) -> None:
        # one token per callable submitted: a thread holding a token is owed one callable,
        # from the first lane if it holds any, else from the background lane
        self._tokens: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._first: queue.SimpleQueue[Work] = queue.SimpleQueue()
        self._background: queue.SimpleQueue[Work] = queue.SimpleQueue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, work: Work, *, background: bool = False) -> None:
        """Queue ``work``; ``background`` work runs once nothing else waits. RuntimeError
        once the pool is shut down."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        (self._background if background else self._first).put(work)
        self._tokens.put(True)  # after the callable: a token always finds one

    def shutdown(self, wait: bool = False) -> None:
        """Take no more work; what was submitted still runs. With ``wait``, return when
        every thread has finished."""
        if not self._closed:
            self._closed = True
            for _ in self._threads:
                self._tokens.put(False)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while self._tokens.get():
            try:
                work = self._first.get_nowait()
            except queue.Empty:
                work = self._background.get_nowait()
            try:
                work()
            except BaseException:  # a bug in cronwell: the thread must live on
                log.exception("worker failed", extra={"action": "worker_failed"})
