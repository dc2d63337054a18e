"""cronwell and the cyclic garbage collector.

Building or loading thousands of objects at once (tasks stored in bulk, tasks loaded at
start) starts a collection every few hundred new objects, and each of the older
generations' collections walks every object created so far: for 100,000 tasks that was
a sixth of the time. Reference counting still frees what it can meanwhile.

Once a process that is cronwell's own is up, what exists then (modules, settings, the
loaded tasks, the API's application) lives as long as the process, and each full
collection walked all of it again.

A burst of fires holds collections off while its runs are in flight (:class:`BurstHold`),
in any process: they start after it instead of in it.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (nested blocks are fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_startup_heap() -> int:
    """Collect once, then leave every object alive now out of the collector's future
    passes (``gc.freeze``); returns how many were set aside. For ``cronwell serve``, whose
    process is cronwell's own, once it is up: with 1,000 tasks due every second, each full
    collection walked ~110,000 start-up objects for 50-75 ms every ~7 s, and the fires due
    meanwhile waited. Frozen objects are still freed when no longer referenced; only a
    reference cycle among them would stay. An application embedding cronwell decides this
    for its own process."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class BurstHold:
    """The collector held off while one thread works through a burst, for at most
    ``longest`` seconds at a time.

    A burst of fires allocates a few objects per run (its fire, run, outcome) that live
    until the burst is written. Collections that start meanwhile find them alive and move
    thousands into the oldest generation, so that every few seconds a full collection
    walks the whole process mid-burst (50-90 ms with ~70,000 objects, whereas the burst
    itself takes ~90 ms). Held off, most of those objects are freed by reference counting
    before any collection looks at them, and the collections that are due run right after
    the burst, while nothing is due. Only one thread holds and releases; it re-enables
    only a collector it disabled itself (an application that turned it off keeps it off).
    """

    def __init__(self, longest: float) -> None:
        self._longest = longest
        self._until: float | None = None

    @property
    def held(self) -> bool:
        return self._until is not None

    def hold(self) -> None:
        """Hold the collector off, unless held already or turned off by someone else."""
        if self._until is None and gc.isenabled():
            gc.disable()
            self._until = time.monotonic() + self._longest

    def remaining(self) -> float:
        """Seconds left of this hold (0 when none or when it is over)."""
        return 0.0 if self._until is None else max(0.0, self._until - time.monotonic())

    def release(self) -> None:
        """Let the collector run again; collections due meanwhile start at the next
        allocation."""
        if self._until is not None:
            self._until = None
            gc.enable()
