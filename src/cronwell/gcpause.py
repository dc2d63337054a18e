"""cronwell and the cyclic garbage collector.

Building or loading thousands of objects at once (tasks stored in bulk, tasks loaded at
start) starts a collection every few hundred new objects, and each of the older
generations' collections walks every object created so far. Reference counting still
frees what it can meanwhile.

Once a process that is cronwell's own is up, what exists then (modules, settings, the
loaded tasks, the API's application) lives as long as the process, and each full
collection would walk all of it again (:func:`freeze_startup_heap`).

A burst of fires holds collections off while its runs are in flight (:class:`BurstHold`):
they start after it instead of in it.

The collector belongs to the whole process, so all of this is off unless the process
allows it (:func:`configure`, from the ``gc_hold`` setting): ``cronwell serve``, whose
process is cronwell's own, does; an application that embeds cronwell keeps its collector
as it set it unless it sets ``CRONWELL_GC_HOLD``. Off, every pause and hold here does
nothing.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from collections.abc import Iterator

# Pauses from every thread share one count: the collector comes back when the last one
# ends, and only if it was on when the first began (an application that turned it off
# keeps it off).
_lock = threading.Lock()
_pauses = 0
_was_enabled = False
_allowed = False  # configure(): whether pauses and holds may touch the collector
_fork_hook = False  # registered at the first pause, not at import


def configure(allowed: bool) -> None:
    """Whether cronwell may hold this process's collector off (the ``gc_hold`` setting;
    each :class:`~cronwell.Cronwell` applies its own when it is made). A pause already
    taken ends as it began."""
    global _allowed
    _allowed = allowed


def allowed() -> bool:
    """Whether pauses and holds hold the collector off in this process."""
    return _allowed


def _pause() -> bool:
    """One pause more, if pauses are allowed; True if it was counted (then the caller
    ends it with :func:`_resume`)."""
    global _pauses, _was_enabled, _fork_hook
    if not _allowed:
        return False
    with _lock:
        if not _fork_hook:
            _fork_hook = True
            os.register_at_fork(after_in_child=_after_fork_in_child)
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    return True


def _resume() -> None:
    global _pauses
    with _lock:
        _pauses -= 1
        if _pauses == 0 and _was_enabled:
            gc.enable()


def _after_fork_in_child() -> None:
    """A child forked during a pause has none of the threads that would end it."""
    global _lock, _pauses
    _lock = threading.Lock()
    if _pauses:
        _pauses = 0
        if _was_enabled:
            gc.enable()


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (nested blocks, and blocks on other
    threads, are fine), when this process allows it (:func:`configure`)."""
    paused = _pause()
    try:
        yield
    finally:
        if paused:
            _resume()


def freeze_startup_heap() -> int:
    """Collect once, then leave every object alive now out of the collector's future
    passes (``gc.freeze``); returns how many were set aside. For ``cronwell serve``, whose
    process is cronwell's own, once it is up: otherwise each full collection walks every
    object made at start-up, a number that grows with the tasks loaded, while the fires
    due meanwhile wait. Frozen objects are still freed when no longer referenced; only a
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
    walks the whole process mid-burst, for about as long as the burst itself. Held off,
    most of those objects are freed by reference counting before any collection looks at
    them, and the collections that are due run after the burst. The holder releases the
    hold when the burst is written; a watch thread of the hold's own releases it at the
    limit if the holder has not (a writer retrying through a database outage, a slow
    listener), so the collector is never off for longer. One watch thread serves every
    hold: a thread started per hold would make the holder wait for it to get the GIL from
    the burst's workers. A pause like any other (:func:`collection_paused`): a collector
    the application turned off stays off, and nothing happens unless the process allows
    it (:func:`configure`). :meth:`close` releases the hold and ends the watch.
    """

    def __init__(self, longest: float) -> None:
        self._longest = longest
        self._changed = threading.Condition()
        self._until: float | None = None
        self._closed = False
        self._watch: threading.Thread | None = None  # started by the first hold taken

    @property
    def held(self) -> bool:
        return self._until is not None

    def hold(self) -> None:
        """Hold the collector off, unless held already or the process does not allow it
        (:func:`configure`)."""
        if not _allowed:
            return
        with self._changed:
            if self._until is not None or self._closed or not _pause():
                return
            self._until = time.monotonic() + self._longest
            if self._watch is None:
                self._watch = threading.Thread(
                    target=self._expire, name="cronwell-gc-hold", daemon=True
                )
                self._watch.start()
            self._changed.notify()

    def release(self) -> None:
        """End the hold; collections due meanwhile start at the next allocation."""
        with self._changed:
            self._release_locked()

    def close(self) -> None:
        """Release the hold and stop watching."""
        with self._changed:
            self._release_locked()
            self._closed = True
            self._changed.notify()
            watch = self._watch
        if watch is not None:
            watch.join()

    def _release_locked(self) -> None:
        if self._until is not None:
            self._until = None
            _resume()

    def _expire(self) -> None:
        with self._changed:
            while not self._closed:
                if self._until is None:
                    self._changed.wait()
                elif (left := self._until - time.monotonic()) > 0:
                    self._changed.wait(left)
                else:
                    self._release_locked()
