"""How a catch-up is told to stop handing work to the dispatcher, and whether what it
already handed over still counts."""

from __future__ import annotations

import threading


class HandOver(threading.Event):
    """Set: stop handing work over (an engine stopping: what was handed over is still
    recorded and started). :meth:`revoke` also withdraws what the writer has not begun:
    the leader lost its lease, and another instance may be catching up the same
    occurrences."""

    revoked = False

    def revoke(self) -> None:
        self.revoked = True
        self.set()


def revoked(cancel: threading.Event | None) -> bool:
    """True when ``cancel`` withdraws what it covers (see :meth:`HandOver.revoke`)."""
    return isinstance(cancel, HandOver) and cancel.revoked
