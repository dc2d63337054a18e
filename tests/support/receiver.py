"""A loopback HTTP receiver for alert deliveries (Apprise's json://, form:// and the
Discord plugin pointed at it): records every request, answers with chosen statuses."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

WAIT = 10.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Receiver:
    """A loopback HTTP server that records every request and answers with ``statuses`` in
    turn (the last one repeating), or holds requests until ``release`` is set."""

    port: int = 0
    statuses: list[int] = field(default_factory=lambda: [200])
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[Received] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def url(self, scheme: str, path: str = "hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        with self.changed:
            ok = self.changed.wait_for(lambda: len(self.requests) >= count, timeout)
            got = list(self.requests)
        assert ok, f"expected {count} request(s), got {len(got)}"
        return got

    def _answer(self) -> int:
        with self.changed:
            index = len(self.requests) - 1
        return self.statuses[min(index, len(self.statuses) - 1)]

    def _record(self, request: Received) -> None:
        with self.changed:
            self.requests.append(request)
            self.changed.notify_all()


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver._record(Received("POST", self.path, dict(self.headers.items()), body))
            if receiver.hold:
                receiver.release.wait(WAIT)
            status = receiver._answer()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # a heartbeat ping
            receiver._record(Received("GET", self.path, dict(self.headers.items()), b""))
            self.send_response(receiver._answer())
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    servers: list[tuple[ThreadingHTTPServer, Receiver, threading.Thread]] = []

    def make(**kwargs: Any) -> Receiver:
        receiver = Receiver(**kwargs)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        server.daemon_threads = True
        receiver.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, receiver, thread))
        return receiver

    yield make
    for server, receiver, thread in servers:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@pytest.fixture
def receiver(receiver_factory: Callable[..., Receiver]) -> Receiver:
    return receiver_factory()


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
