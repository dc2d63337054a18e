"""Serving the API with uvicorn on a thread of the ``cronwell serve`` process."""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
import time

import uvicorn

from cronwell.api.app import create_app
from cronwell.errors import ConfigError
from cronwell.runtime import Cronwell
from cronwell.runtime.reload import TasksFiles


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiServer:
    """The API of one Cronwell on ``host:port`` (port 0: any free port); ``reload``: the
    tasks files ``POST /api/v1/reload`` applies again.

    The address is bound when the server is made, so that a port another process holds
    stops ``cronwell serve`` with a sentence before it schedules (and runs) anything."""

    def __init__(
        self, cw: Cronwell, host: str, port: int, *, reload: TasksFiles | None = None
    ) -> None:
        if not is_loopback(host) and not cw.settings.api_token:
            raise ConfigError(
                f"Refusing to serve the API on {host} without a token: anyone who reaches "
                "it could run tasks. Set CRONWELL_API_TOKEN to a long random string (e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or bind "
                "127.0.0.1."
            )
        config = uvicorn.Config(
            create_app(cw, reload=reload), host=host, port=port, log_level="warning", lifespan="off"
        )
        self._socket = _bind(host, port)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="cronwell-api",
            daemon=True,
        )
        self.host = host
        self.port = int(self._socket.getsockname()[1])

    def start(self, timeout: float = 10.0) -> str:
        """Start serving; return the base URL once the socket listens."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"The API could not listen on {self.host}:{self.port}.")
            time.sleep(0.01)
        sockets = self._server.servers[0].sockets
        self.port = int(sockets[0].getsockname()[1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (as uvicorn binds one: address reuse on, so that a
    restart does not wait for the last one's connections to time out), or a
    :class:`ConfigError` saying why not."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"The API cannot listen on {shown}: {exc.strerror or exc}.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        why = "the address is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(
            f"The API cannot listen on {shown}: {why or exc}. Stop what holds it, choose "
            "another --port, or serve with --no-api."
        ) from None
    return sock
