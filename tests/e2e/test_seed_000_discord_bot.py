"""Seed 000 rebuilt (``examples/seeds/000_discord_bot``): the market bot, a real discord.py
bot against a loopback Discord, with every schedule in seconds: the dev channel hears the
scheduler start, the job summary, ``send_alert`` notices, a health warning and the stop;
the alert channel gets the reports and an economic event scheduled at run time."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.support.discord_server import BotThread, FakeDiscord, discord_at_fake, fake_discord
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.notify.discord import COLOURS

__all__ = ["discord_at_fake", "fake_discord"]  # fixtures

SEED = Path(__file__).resolve().parents[2] / "examples" / "seeds" / "000_discord_bot"
DEV = 300000000000000001
ALERTS = 300000000000000002


@pytest.fixture
def market_bot(
    database_url: str, monkeypatch: pytest.MonkeyPatch, discord_at_fake: FakeDiscord
) -> Iterator[Any]:
    """``market_bot.bot`` imported afresh with its schedules in seconds."""
    monkeypatch.syspath_prepend(str(SEED))
    monkeypatch.setenv("BOT_DATABASE_URL", database_url)
    monkeypatch.setenv("DEV_CHANNEL_ID", str(DEV))
    monkeypatch.setenv("ALERT_CHANNEL_ID", str(ALERTS))
    monkeypatch.setenv("MARKET_BOT_FAST", "1")
    monkeypatch.setenv("CRONWELL_POLL_INTERVAL", "0.2")
    for name in [n for n in sys.modules if n == "market_bot" or n.startswith("market_bot.")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("market_bot.bot")
    yield module
    module.cw.close()


def test_the_market_bot_runs_its_schedule_through_the_bot(
    market_bot: Any, discord_at_fake: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, cw = discord_at_fake, market_bot.cw
    thread = BotThread(market_bot.create_bot()).start()
    try:
        started = fake.wait_for_posts(1, DEV, title="cronwell started")[0]
        assert started.embed["color"] == COLOURS["info"]
        summary = fake.wait_for_posts(1, DEV, title="Scheduled tasks")[0]
        assert "daily_morning_task" in summary.text and "health_check" in summary.text

        reports = fake.wait_for_posts(2, ALERTS, title="📊 Daily Report")
        assert "USD/ILS" in reports[0].text
        notices = fake.wait_for_posts(2, DEV, title="daily_morning_task")  # send_alert=True
        assert all(p.embed["color"] == COLOURS["success"] for p in notices)
        # send_alert=False: the report is the data, no notice of its own
        assert not [p for p in fake.posts_to(DEV) if "daily_report" in p.title]

        # an economic event scheduled while the bot runs, as the seed's helper does
        when = datetime.now(ZoneInfo("Asia/Jerusalem")) + timedelta(seconds=2)
        market_bot.schedule_economic_event(when, "CPI")
        event = fake.wait_for_posts(1, ALERTS, title="Economic event")[0]
        assert event.text == "CPI is out."
        fake.wait_for_posts(1, DEV, title="economic_CPI")
        wait_until(lambda: cw.get_job("economic_CPI") is None, what="the date job removed")

        # the health check speaks up in the dev channel once something is wrong
        jobs = sys.modules["market_bot.jobs"]

        async def unhealthy() -> dict[str, Any]:
            return {"healthy": False, "message": "market feed is 5 minutes behind"}

        monkeypatch.setattr(jobs, "check_system_health", unhealthy)
        warning = fake.wait_for_posts(1, DEV, title="Health Check")[0]
        assert warning.text == "⚠️ System health issue: market feed is 5 minutes behind"
        assert warning.embed["color"] == COLOURS["warning"]
    finally:
        thread.close()

    stopped = fake.posts_to(DEV)[-1]
    assert "cronwell stopped" in stopped.title
    assert len(fake.wait_for_posts(1, DEV, title="cronwell started")) == 1
    assert not cw.runs(status=RunStatus.RUNNING)
    assert not cw.runs(status=RunStatus.FAILED)
    # the schedules the bot keeps between restarts: the seed's, in crontab's meaning
    tasks = {t.id: t for t in cw.list_tasks()}
    assert tasks["daily_morning_task"].timezone == "Asia/Jerusalem"
    assert {"daily_morning_task", "daily_report", "health_check"} <= set(tasks)
