"""A loopback stand-in for Discord: the REST calls a bot makes (log in, post a message) and
the gateway's websocket (HELLO, IDENTIFY → READY, RESUME → RESUMED, heartbeats), speaking
Discord's wire format (API v10, JSON, zlib-stream compression when asked), so that real
discord.py clients run against it with no network.

``point_discord_py_at(server)`` sets discord.py's REST base and default gateway to it.
Control from the test thread: ``reconnect()`` (op 7, the client resumes), ``invalidate()``
(op 9: the next resume is refused and the client identifies again, getting a new READY),
``refuse(channel_id, status)`` (posts to a channel answer an error).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import WSMsgType, web

TOKEN = "test-bot-token"
BOT_ID = "100000000000000001"
OWNER_ID = "100000000000000002"
WAIT = 10.0


def _json(body: Any, status: int = 200) -> web.Response:
    """A JSON answer as Discord sends it: ``Content-Type: application/json`` with no
    charset (discord.py parses the body as JSON only then)."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json"
    )


@dataclass
class Posted:
    """One message a client posted: its channel and JSON body."""

    channel_id: int
    body: dict[str, Any]

    @property
    def embed(self) -> dict[str, Any]:
        embeds: list[dict[str, Any]] = self.body.get("embeds") or [{}]
        return embeds[0]

    @property
    def title(self) -> str:
        return str(self.embed.get("title") or "")

    @property
    def text(self) -> str:
        return str(self.embed.get("description") or self.body.get("content") or "")


@dataclass
class FakeDiscord:
    port: int = 0
    posted: list[Posted] = field(default_factory=list)
    identifies: int = 0
    resumes: int = 0
    connections: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _loop: asyncio.AbstractEventLoop | None = None
    # each open gateway connection with its zlib stream (None: uncompressed)
    _sockets: list[tuple[web.WebSocketResponse, Any]] = field(default_factory=list)
    _refuse_resume: bool = False
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(200000000000000000))

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway/"

    # -- waiting, from the test thread --------------------------------------------------

    def wait_for_posts(
        self, count: int, channel_id: int | None = None, title: str = "", timeout: float = WAIT
    ) -> list[Posted]:
        """The posts to ``channel_id`` whose title contains ``title``, once there are
        ``count`` of them."""

        def matching() -> list[Posted]:
            return [
                p
                for p in self.posted
                if (channel_id is None or p.channel_id == channel_id) and title in p.title
            ]

        with self.changed:
            ok = self.changed.wait_for(lambda: len(matching()) >= count, timeout)
            found = matching()
        assert ok, f"expected {count} post(s) to {channel_id} titled {title!r}, got {found}"
        return found

    def wait_until(self, what: str, predicate: Any, timeout: float = WAIT) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def posts_to(self, channel_id: int) -> list[Posted]:
        with self.changed:
            return [p for p in self.posted if p.channel_id == channel_id]

    # -- control, from the test thread --------------------------------------------------

    def reconnect(self) -> None:
        """Ask the connected client to reconnect (op 7); it resumes its session."""
        self._to_clients({"op": 7, "d": None})

    def invalidate(self) -> None:
        """Drop the session: the client's resume is refused (op 9) and it identifies again."""
        self._refuse_resume = True
        self._to_clients({"op": 7, "d": None})

    def refuse(self, channel_id: int, status: int) -> None:
        self.refused[channel_id] = status

    def _to_clients(self, payload: dict[str, Any]) -> None:
        assert self._loop is not None

        async def push() -> None:
            for ws, compressor in list(self._sockets):
                if not ws.closed:
                    await self._send(ws, compressor, payload)

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(WAIT)

    # -- REST -----------------------------------------------------------------------------

    def _user(self) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "username": "cronwell-test-bot",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
        }

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {TOKEN}"

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return _json(self._user())

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": BOT_ID,
                "name": "cronwell-test-bot",
                "description": "",
                "icon": None,
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": 0,
                "owner": {**self._user(), "id": OWNER_ID, "bot": False},
            }
        )

    async def _post_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        channel_id = int(request.match_info["channel_id"])
        body = await request.json()
        status = self.refused.get(channel_id)
        if status is not None:
            return _json({"message": "Missing Access", "code": 50001}, status=status)
        with self.changed:
            self.posted.append(Posted(channel_id, body))
            self.changed.notify_all()
        message = {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "type": 0,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "author": self._user(),
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "pinned": False,
        }
        return _json(message)

    # -- gateway --------------------------------------------------------------------------

    async def _send(
        self, ws: web.WebSocketResponse, compressor: Any, payload: dict[str, Any]
    ) -> None:
        text = json.dumps(payload)
        if compressor is None:
            await ws.send_str(text)
            return
        data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
        await ws.send_bytes(data)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        entry = (ws, compressor)
        with self.changed:
            self.connections += 1
            self._sockets.append(entry)
            self.changed.notify_all()
        sequence = 0
        await self._send(ws, compressor, {"op": 10, "d": {"heartbeat_interval": 41250}})
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(message.data)
            op = payload.get("op")
            if op == 1:
                await self._send(ws, compressor, {"op": 11})
            elif op == 2:
                sequence += 1
                with self.changed:
                    self.identifies += 1
                    session = f"session-{self.identifies}"
                    self.changed.notify_all()
                ready = {
                    "v": 10,
                    "user": self._user(),
                    "guilds": [],
                    "session_id": session,
                    "resume_gateway_url": self.gateway,
                    "application": {"id": BOT_ID, "flags": 0},
                }
                await self._send(ws, compressor, {"op": 0, "t": "READY", "s": sequence, "d": ready})
            elif op == 6:
                with self.changed:
                    self.resumes += 1
                    self.changed.notify_all()
                if self._refuse_resume:
                    self._refuse_resume = False
                    await self._send(ws, compressor, {"op": 9, "d": False})
                else:
                    sequence = int(payload["d"].get("seq") or 0) + 1
                    resumed = {"op": 0, "t": "RESUMED", "s": sequence, "d": {}}
                    await self._send(ws, compressor, resumed)
        self._sockets.remove(entry)
        return ws

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_post("/api/v10/channels/{channel_id}/messages", self._post_message)
        app.router.add_get("/gateway/", self._gateway)
        return app


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A :class:`FakeDiscord` served on a loopback port from a thread of its own."""
    server = FakeDiscord()
    started = threading.Event()
    stop: asyncio.Event | None = None

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        runner = web.AppRunner(server.app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server.port = runner.addresses[0][1]
        server._loop = asyncio.get_running_loop()
        started.set()
        await stop.wait()
        for ws, _ in list(server._sockets):
            await ws.close()
        await runner.cleanup()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="fake-discord")
    thread.start()
    assert started.wait(WAIT), "the fake Discord server did not start"
    try:
        yield server
    finally:
        assert server._loop is not None and stop is not None
        server._loop.call_soon_threadsafe(stop.set)
        thread.join(WAIT)


@pytest.fixture
def discord_at_fake(fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """discord.py pointed at the fake server: REST base and default gateway."""
    import discord.gateway
    import discord.http
    import yarl

    monkeypatch.setattr(discord.http.Route, "BASE", fake_discord.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake_discord.gateway)
    )
    return fake_discord


class BotThread:
    """Runs a discord.py client (``async with client: await client.start(TOKEN)``) on an
    event loop in a thread of its own, as ``client.run()`` would; ``close()`` closes it from
    the test thread and waits for the thread to end."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="test-bot")

    def start(self) -> BotThread:
        self._thread.start()
        assert self._ready.wait(WAIT), "the bot's loop did not start"
        return self

    def call(self, coro: Any, timeout: float = WAIT) -> Any:
        """Run ``coro`` on the bot's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def failure(self, timeout: float = WAIT) -> BaseException | None:
        """Wait for the client to end on its own (a failed start) and return its error."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot is still running"
        return self.error

    def close(self, timeout: float = 60.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot did not close"
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            async with self.client:
                runner = asyncio.create_task(self.client.start(TOKEN))
                stopping = asyncio.create_task(self._stop.wait())
                await asyncio.wait({runner, stopping}, return_when="FIRST_COMPLETED")
                await self.client.close()
                await runner
                stopping.cancel()

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
            self._ready.set()
