"""A loopback TCP proxy a test can cut, to give cronwell a database outage without stopping
the shared PostgreSQL server.

``cut()`` closes every open connection and answers new ones by closing them at once (the
client sees "server closed the connection unexpectedly", as when the server goes away);
``restore()`` lets connections through again. The proxy stops by itself after ``lifetime``
seconds, so a test that fails half-way leaves no thread behind for long.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

from sqlalchemy import make_url

_CHUNK = 65536


class CuttableProxy:
    """Forward ``127.0.0.1:<port>`` to ``target``; :meth:`cut` and :meth:`restore` it."""

    def __init__(self, target_host: str, target_port: int, lifetime: float = 300.0) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self.refused = 0  # connections closed at once while cut
        self._thread = threading.Thread(target=self._accept, name="test-proxy", daemon=True)
        self._thread.start()

    def url_for(self, database_url: str) -> str:
        """``database_url`` pointed at this proxy instead of its server."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )

    @property
    def is_cut(self) -> bool:
        return self._cut.is_set()

    def cut(self) -> None:
        """Close every connection and refuse new ones until :meth:`restore`."""
        self._cut.set()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join(5)
        _close(self._listener)

    def __enter__(self) -> CuttableProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- threads ------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set() and time.monotonic() < self._deadline:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            if self._cut.is_set():
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                if self._cut.is_set():
                    _close(client)
                    _close(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink), name="test-proxy-pump", daemon=True
                ).start()
        self._closed.set()
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@contextlib.contextmanager
def proxied(database_url: str, lifetime: float = 300.0) -> Iterator[tuple[CuttableProxy, str]]:
    """A proxy in front of ``database_url``'s server and the URL that goes through it."""
    parsed = make_url(database_url)
    with CuttableProxy(parsed.host or "127.0.0.1", parsed.port or 5432, lifetime) as proxy:
        yield proxy, proxy.url_for(database_url)
