"""A process's "still alive" note while it runs something outside an engine."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator

from cronwell.clock import Clock
from cronwell.store import Store

log = logging.getLogger(__name__)

# seconds between "still alive" notes while a process runs something (engines beat too)
HEARTBEAT_INTERVAL = 10.0


@contextlib.contextmanager
def beating(store: Store, instance_id: str, clock: Clock) -> Iterator[None]:
    """While a run goes on outside an engine (``cronwell tasks run``), tell other instances
    this process is alive, so they do not take its run for abandoned."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_INTERVAL):
            try:
                store.heartbeat(instance_id, socket.gethostname(), os.getpid(), clock.now())
            except Exception:
                log.warning("heartbeat failed", extra={"action": "heartbeat_failed"})

    thread = threading.Thread(target=beat, name="cronwell-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
