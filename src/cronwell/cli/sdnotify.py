"""systemd's readiness protocol (``sd_notify``): with ``Type=notify`` in a unit, systemd
waits for ``READY=1`` before it calls the service started, so units ordered after
cronwell (and ``systemctl start`` itself) see an API that answers and a scheduler that runs.

systemd passes the address of a datagram socket in ``NOTIFY_SOCKET``; a path, or a name in
the abstract namespace when it starts with ``@``. Without it (no systemd, ``Type=simple``)
every call does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


def notify(state: str) -> bool:
    """Send ``state`` (``"READY=1"``, ``"STOPPING=1"``, ``"STATUS=…"``) to systemd.
    True if it was sent; False without ``NOTIFY_SOCKET`` or when the socket is gone (the
    service goes on: readiness is a courtesy to systemd, not a condition of running)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
        return True
    return False
