"""cronwell and the cyclic garbage collector.

Building or loading thousands of objects at once (tasks stored in bulk, tasks loaded at
start) starts a collection every few hundred new objects, and each of the older
generations' collections walks every object created so far: for 100,000 tasks that was
a sixth of the time. Reference counting still frees what it can meanwhile.

Once a process that is cronwell's own is up, what exists then (modules, settings, the
loaded tasks, the API's application) lives as long as the process, and each full
collection walked all of it again.
"""

from __future__ import annotations

import contextlib
import gc
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
