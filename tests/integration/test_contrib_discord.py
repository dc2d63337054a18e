"""cronwell.contrib.discord with real discord.py clients against a loopback Discord (REST and
gateway in Discord's wire format): the scheduler starts with the bot and stops with it,
reconnects neither start nor stop it, and alerts post through the bot's own connection."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from discord.ext import commands
from tests.support.discord_server import (
    BotThread,
    FakeDiscord,
    discord_at_fake,
    fake_discord,
)
from tests.support.waiting import RunCollector

import cronwell.contrib.discord as cronwell_discord
from cronwell import Cronwell, RunContext, every
from cronwell.contrib.discord import CronwellCog, channel_url
from cronwell.domain.alerts import AlertEvent, AlertTarget
from cronwell.domain.run import RunStatus
from cronwell.notify.discord import COLOURS, DESCRIPTION_LIMIT, text_length
from cronwell.settings import load_settings

__all__ = ["discord_at_fake", "fake_discord"]  # fixtures

DEV = 111111111111111111
ALERTS = 222222222222222222

# what the async task saw: (its loop is the bot's loop, occurrence key)
seen: list[tuple[bool, str]] = []
bot_loops: list[asyncio.AbstractEventLoop] = []


async def tick(ctx: RunContext) -> None:
    seen.append((asyncio.get_running_loop() is bot_loops[-1], ctx.occurrence_key))


def broken() -> None:
    raise RuntimeError("the market feed is down")


def make_cw(database_url: str) -> Cronwell:
    return Cronwell(
        settings=load_settings(
            database_url=database_url,
            timezone="UTC",
            poll_interval=0.2,
            shutdown_grace=2,
            channels={"dev": channel_url(DEV), "alerts": channel_url(ALERTS)},
            scheduler_channels=["dev"],
            alert_channels=["dev"],
        )
    )


class Bot(commands.Bot):
    """A bot as seed 000 builds it, plus the on_ready start its users add by mistake."""

    def __init__(self, cw: Cronwell) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.none(), guild_ready_timeout=0.1
        )
        self.cw = cw
        self.readies = 0
        self.resumed = 0
        self.starts_on_ready: list[bool] = []
        self.changed = threading.Condition()

    async def setup_hook(self) -> None:
        bot_loops.append(asyncio.get_running_loop())
        await self.add_cog(CronwellCog(self, self.cw))

    async def on_ready(self) -> None:
        started = await cronwell_discord.start(self.cw, self)  # fires after every new session
        with self.changed:
            self.readies += 1
            self.starts_on_ready.append(started)
            self.changed.notify_all()

    async def on_resumed(self) -> None:
        with self.changed:
            self.resumed += 1
            self.changed.notify_all()

    def wait(self, what: str, predicate: Any, timeout: float = 15.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), f"timed out waiting for {what}"


@pytest.fixture
def bot_cw(database_url: str) -> Iterator[Cronwell]:
    cw = make_cw(database_url)
    yield cw
    cw.close()


def test_starts_with_the_bot_survives_reconnects_and_stops_with_it(
    discord_at_fake: FakeDiscord, bot_cw: Cronwell
) -> None:
    fake, cw = discord_at_fake, bot_cw
    cw.add_task("tick", schedule=every(seconds=1), func=tick)
    runs = RunCollector()
    cw.on_run(runs, statuses=["succeeded"])
    bot = Bot(cw)
    thread = BotThread(bot).start()
    try:
        fake.wait_for_posts(1, DEV, title="cronwell started")
        bot.wait("the first READY", lambda: bot.readies == 1)
        assert cw.running

        fake.reconnect()  # op 7: the client resumes its session
        bot.wait("RESUMED", lambda: bot.resumed == 1)
        fake.invalidate()  # the resume is refused: a new session, a new READY
        bot.wait("the second READY", lambda: bot.readies == 2)
        assert fake.identifies == 2 and fake.resumes == 2

        before = len(runs.runs)
        runs.wait_for(before + 2, "tick", timeout=15)  # still firing after the reconnects
    finally:
        thread.close()

    # one start in all: the cog's; the on_ready calls found it running
    assert bot.starts_on_ready == [False, False]
    assert len(fake.posts_to(DEV)) == 2
    assert fake.posts_to(DEV)[0].title.endswith(
        f"cronwell started ({cw.settings.instance_id}, scheduling)"
    )
    stopped = fake.posts_to(DEV)[-1]  # posted through the bot before it disconnected
    assert "cronwell stopped" in stopped.title
    assert stopped.embed["color"] == COLOURS["warning"]
    assert not cw.running
    # async task functions ran on the bot's event loop
    assert seen and all(on_bot_loop for on_bot_loop, _ in seen)
    assert not cw.runs(status=RunStatus.RUNNING)


def test_alerts_and_posts_reach_channels_through_the_bot(
    discord_at_fake: FakeDiscord, bot_cw: Cronwell
) -> None:
    fake, cw = discord_at_fake, bot_cw
    cw.add_task("feed", schedule=every(hours=1), func=broken)
    cw.add_task(
        "report",
        schedule=every(hours=1),
        func=tick,
        alerts=[AlertTarget(to="alerts", events=frozenset({AlertEvent.SUCCEEDED}))],
    )
    fake.refuse(333, 403)
    bot = Bot(cw)
    thread = BotThread(bot).start()
    try:
        fake.wait_for_posts(1, DEV, title="cronwell started")
        # the alerts go from cronwell's delivery thread onto the bot's loop
        assert cw.run_now("feed").status is RunStatus.FAILED
        assert cw.run_now("report").status is RunStatus.SUCCEEDED
        failed = fake.wait_for_posts(1, DEV, title="feed")[0]
        assert failed.embed["color"] == COLOURS["failure"]
        assert "the market feed is down" in failed.text
        assert failed.body["allowed_mentions"] == {"parse": []}  # output pings nobody
        succeeded = fake.wait_for_posts(1, ALERTS, title="report")[0]
        assert succeeded.embed["color"] == COLOURS["success"]

        # a refused post is a failed delivery saying why, in the notifications log
        record = cw.test_alert(channel_url(333))
        assert record.status == "failed"
        assert record.error is not None and "403" in record.error

        # from the bot's loop, deliveries that would wait for that loop are refused, and
        # send() posts instead (a long text in several messages)
        async def on_the_loop() -> tuple[Any, list[discord.Message]]:
            record = cw.test_alert(channel_url(ALERTS))
            long_text = "\n".join(f"line {n}: " + "x" * 90 for n in range(100))
            messages = await cronwell_discord.send(
                ALERTS, long_text, title="📊 Daily Report", severity="success"
            )
            return record, messages

        refused, messages = thread.call(on_the_loop())
        assert refused.status == "failed" and "own event loop" in (refused.error or "")
        assert len(messages) == 3
        report = fake.wait_for_posts(3, ALERTS, title="")[-3:]
        assert report[0].title == "📊 Daily Report" and not report[1].title
        assert all(text_length(p.text) <= DESCRIPTION_LIMIT for p in report)
        assert "\n".join(p.text for p in report).count("line ") == 100
    finally:
        thread.close()
    logged = cw.notifications(status="failed")
    assert any("403" in (n.error or "") for n in logged)


class PlainClient(discord.Client):
    """A bot without the commands extension: start and stop called by hand."""

    def __init__(self, cw: Cronwell) -> None:
        super().__init__(intents=discord.Intents.none(), guild_ready_timeout=0.1)
        self.cw = cw

    async def setup_hook(self) -> None:
        await cronwell_discord.start(self.cw, self)

    async def close(self) -> None:
        await cronwell_discord.stop(self.cw, self)
        await super().close()


def test_a_plain_client_starts_and_stops_it_by_hand(
    discord_at_fake: FakeDiscord, bot_cw: Cronwell
) -> None:
    thread = BotThread(PlainClient(bot_cw)).start()
    try:
        discord_at_fake.wait_for_posts(1, DEV, title="cronwell started")
        assert bot_cw.running
        assert thread.call(cronwell_discord.start(bot_cw, thread.client)) is False
    finally:
        thread.close()
    assert not bot_cw.running
    assert "cronwell stopped" in discord_at_fake.posts_to(DEV)[-1].title


def test_without_a_bot_a_delivery_fails_with_a_sentence(tmp_path: Any) -> None:
    cw = make_cw(f"sqlite:///{tmp_path / 'cw.db'}")
    try:
        record = cw.test_alert(channel_url(DEV))
        assert record.status == "failed"
        assert "No discord.py bot runs cronwell in this process" in (record.error or "")
        record = cw.test_alert("discordbot://general")
        assert "numeric channel id" in (record.error or "")
    finally:
        cw.close()


def test_a_second_bot_in_the_process_is_refused(
    discord_at_fake: FakeDiscord, bot_cw: Cronwell, tmp_path: Any
) -> None:
    first = BotThread(Bot(bot_cw)).start()
    try:
        discord_at_fake.wait_for_posts(1, DEV, title="cronwell started")
        other = make_cw(f"sqlite:///{tmp_path / 'other.db'}")
        second = BotThread(Bot(other)).start()
        assert "one bot per process" in str(second.failure())
        assert not other.running
        other.close()
    finally:
        first.close()


def test_without_discord_py_cronwell_imports_and_the_integration_names_the_extra() -> None:
    child = textwrap.dedent("""
        import sys
        sys.modules["discord"] = None  # as if discord.py were not installed
        import cronwell
        from cronwell.contrib.fastapi import cronwell_lifespan
        from cronwell.errors import MissingExtraError
        try:
            import cronwell.contrib.discord
        except MissingExtraError as exc:
            print("refused:", exc)
        else:
            print("imported")
    """)
    done = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert "refused:" in done.stdout
    assert "pip install 'cronwell[discord]'" in done.stdout
