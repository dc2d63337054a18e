"""discord.py: run cronwell with a bot, and post alerts and results through the bot's own
connection.

::

    import discord
    from discord.ext import commands
    from cronwell import Cronwell
    from cronwell.contrib.discord import CronwellCog
    from cronwell.settings import load_settings

    cw = Cronwell(settings=load_settings(
        channels={"dev": "discordbot://111111111111111111", "alerts": "discordbot://222…"},
        alert_channels=["dev"], scheduler_channels=["dev"],
    ))

    class Bot(commands.Bot):
        async def setup_hook(self) -> None:
            await self.add_cog(CronwellCog(self, cw))    # starts with the bot, stops with it

``discordbot://CHANNEL_ID`` is an Apprise URL this module registers: wherever cronwell takes
an Apprise URL (channels, a task's ``alerts``), it posts an embed to that channel through the
connected bot, from cronwell's delivery thread onto the bot's event loop. It works in the
bot's process only; elsewhere (``cronwell serve``, the CLI) use a ``discord://`` webhook URL.

Needs the ``discord`` extra: ``pip install 'cronwell[discord]'``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from cronwell.contrib import require

require("discord", "discord")  # a MissingExtraError naming the extra when absent
require("apprise", "discord")  # the discord extra installs the alerts extra with it

import apprise  # noqa: E402
import discord  # noqa: E402
from discord.ext import commands  # noqa: E402

from cronwell.contrib.lifecycle import start_on_loop, stop_on_loop  # noqa: E402
from cronwell.domain.alerts import Severity  # noqa: E402
from cronwell.errors import ConfigError  # noqa: E402
from cronwell.notify.discord import (  # noqa: E402
    COLOURS,
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    text_length,
    truncate,
)
from cronwell.runtime import Cronwell  # noqa: E402

log = logging.getLogger(__name__)
# Apprise reads the reason of a failed delivery from its own logger's warnings: the
# notifications log then says why a post did not go out.
_apprise_log = logging.getLogger("apprise")

SCHEME = "discordbot"
#: Seconds one delivery (all its messages, Discord's rate limits included) may take before
#: it counts as failed and is retried.
SEND_TIMEOUT = 30.0
#: A text longer than an embed holds goes out as up to this many messages, the last one cut.
MAX_MESSAGES = 10


def channel_url(channel_id: int) -> str:
    """The Apprise URL that posts to ``channel_id`` through the connected bot."""
    return f"{SCHEME}://{int(channel_id)}"


# -- the bot that posts ----------------------------------------------------------------------


class _Bots:
    """The client that posts ``discordbot://`` messages in this process (one at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: discord.Client | None = None

    def attach(self, client: discord.Client) -> None:
        with self._lock:
            current = self._client
            if current is not None and current is not client and not current.is_closed():
                raise ConfigError(
                    "Another discord.py client already posts cronwell's discordbot:// "
                    "messages in this process; close it first (one bot per process)."
                )
            self._client = client

    def detach(self, client: discord.Client) -> None:
        with self._lock:
            if self._client is client:
                self._client = None

    def current(self) -> discord.Client | None:
        with self._lock:
            return self._client


_bots = _Bots()


async def send(
    channel_id: int,
    body: str = "",
    *,
    title: str | None = None,
    severity: Severity = "info",
    client: discord.Client | None = None,
) -> list[discord.Message]:
    """Post ``title`` and ``body`` (Markdown) to ``channel_id`` as an embed coloured by
    ``severity`` (success, failure, warning, info), through ``client`` or the bot cronwell
    runs with; from the bot's event loop (an async task function, a command).

    No mention pings anyone. A body longer than an embed holds (4,096 characters) goes out
    as several messages, at line ends where it can, up to :data:`MAX_MESSAGES`; the last
    one is cut with "…". Raises :class:`discord.HTTPException` when Discord refuses."""
    bot = client or _bots.current()
    if bot is None or bot.is_closed():
        raise ConfigError(
            "No discord.py bot runs cronwell in this process: add CronwellCog(bot, cw) in "
            "the bot's setup_hook, or pass client=."
        )
    channel = bot.get_partial_messageable(int(channel_id))
    colour = COLOURS.get(severity, COLOURS["info"])
    sent: list[discord.Message] = []
    for index, piece in enumerate(_pieces(body)):
        embed = discord.Embed(
            title=truncate(title, TITLE_LIMIT) if title and index == 0 else None,
            description=piece or None,
            colour=colour,
            timestamp=discord.utils.utcnow(),
        )
        message = await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        sent.append(message)
    return sent


def _pieces(body: str) -> list[str]:
    """``body`` in embed-sized pieces, cut at a line end when one falls in the second half
    of a piece; at most :data:`MAX_MESSAGES`, the last one cut with "…"."""
    pieces: list[str] = []
    rest = body.strip()
    while text_length(rest) > DESCRIPTION_LIMIT and len(pieces) < MAX_MESSAGES - 1:
        head = rest[:DESCRIPTION_LIMIT]
        while text_length(head) > DESCRIPTION_LIMIT:  # characters outside the BMP count 2
            head = head[:-1]
        line_end = head.rfind("\n")
        if line_end > DESCRIPTION_LIMIT // 2:
            head = head[: line_end + 1]
        pieces.append(head.rstrip())
        rest = rest[len(head) :].lstrip("\n")
    pieces.append(truncate(rest, DESCRIPTION_LIMIT))
    return pieces


def _post_from_thread(
    body: str, title: str, notify_type: str, meta: Mapping[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """Apprise's hook for ``discordbot://CHANNEL_ID``: runs on cronwell's delivery thread,
    posts on the bot's loop and waits for Discord's answer (up to :data:`SEND_TIMEOUT`)."""
    host = str(meta.get("host") or "")
    if not host.isdigit():
        _apprise_log.warning(
            "discordbot:// needs a numeric channel id, as in discordbot://123456789012345678."
        )
        return False
    bot = _bots.current()
    if bot is None or bot.is_closed():
        _apprise_log.warning(
            "No discord.py bot runs cronwell in this process (discordbot:// URLs post through "
            "the bot that added CronwellCog; elsewhere use a discord:// webhook URL)."
        )
        return False
    loop = bot.loop
    if not isinstance(loop, asyncio.AbstractEventLoop) or not loop.is_running():
        _apprise_log.warning("The discord.py bot has no running event loop to post from.")
        return False
    try:
        calling = asyncio.get_running_loop()
    except RuntimeError:
        calling = None
    if calling is loop:
        _apprise_log.warning(
            "A discordbot:// delivery was asked for on the bot's own event loop, which would "
            "wait for itself: from async code, await cronwell.contrib.discord.send(...)."
        )
        return False
    severity: Severity = notify_type if notify_type in COLOURS else "info"
    future = asyncio.run_coroutine_threadsafe(
        send(int(host), body, title=title, severity=severity, client=bot), loop
    )
    try:
        future.result(SEND_TIMEOUT)
    except FutureTimeout:
        future.cancel()  # a retry must not post it twice
        _apprise_log.warning(f"Discord did not take the message within {SEND_TIMEOUT:g} s.")
        return False
    except discord.HTTPException as exc:
        _apprise_log.warning(
            f"Discord refused the message to channel {host}: {exc.status} {exc.text}".strip()
        )
        return False
    except Exception as exc:
        _apprise_log.warning(f"Posting to channel {host} failed: {type(exc).__name__}: {exc}")
        return False
    return True


# Apprise's custom-notification hook; its decorator is untyped.
apprise.decorators.notify(on=SCHEME, name="Discord, through cronwell's bot")(  # type: ignore[no-untyped-call]
    _post_from_thread
)


# -- lifecycle ----------------------------------------------------------------------------


_locks: weakref.WeakKeyDictionary[Cronwell, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _lock_for(cw: Cronwell) -> asyncio.Lock:
    """One lock per Cronwell and event loop: a start racing another (``on_ready`` firing
    while the cog loads) waits for it instead of starting twice."""
    loop = asyncio.get_running_loop()
    held = _locks.get(cw)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _locks[cw] = held
    return held[1]


async def start(cw: Cronwell, client: discord.Client) -> bool:
    """Start ``cw`` on ``client``'s event loop (async task functions run there) and make
    ``client`` the bot that posts ``discordbot://`` messages. Call it from ``setup_hook``
    (or let :class:`CronwellCog` do it). Calling it again (``on_ready`` fires after every
    reconnect) leaves a running ``cw`` as it is; returns whether this call started it."""
    _bots.attach(client)
    async with _lock_for(cw):
        if cw.running:
            return False
        try:
            await start_on_loop(cw)
        except BaseException:
            _bots.detach(client)
            raise
    log.info("cronwell started with the discord.py bot", extra={"action": "discord_started"})
    return True


async def stop(cw: Cronwell | None, client: discord.Client | None = None) -> None:
    """Shut ``cw`` down (if given and running) while the bot can still post its last
    alerts, then stop posting through ``client``. Call it before the bot closes."""
    try:
        if cw is not None:
            async with _lock_for(cw):
                if cw.running:
                    await stop_on_loop(cw)
    finally:
        if client is not None:
            _bots.detach(client)


class CronwellCog(commands.Cog, name="cronwell"):
    """Runs ``cw`` with ``bot``: starts it when the cog loads (``await
    bot.add_cog(CronwellCog(bot, cw))`` in ``setup_hook``) and shuts it down when the cog
    unloads, which ``bot.close()`` does before it disconnects, so the "stopped" notice
    still goes out through the bot. Reconnects to the gateway neither start nor stop it:
    it keeps firing while the bot reconnects, and posts through Discord's REST API.

    A ``cw`` already running when the cog loads is left running when it unloads."""

    def __init__(self, bot: discord.Client, cw: Cronwell) -> None:
        self.bot = bot
        self.cw = cw
        self._started = False

    async def cog_load(self) -> None:
        self._started = await start(self.cw, self.bot)

    async def cog_unload(self) -> None:
        await stop(self.cw if self._started else None, self.bot)
        self._started = False


__all__ = ["MAX_MESSAGES", "SCHEME", "CronwellCog", "channel_url", "send", "start", "stop"]
