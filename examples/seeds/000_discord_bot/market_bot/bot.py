"""The market bot with its schedule: ``python -m market_bot`` (``DISCORD_TOKEN``,
``DEV_CHANNEL_ID``, ``ALERT_CHANNEL_ID``)."""

from __future__ import annotations

import os
from datetime import datetime

import discord
from discord.ext import commands

from cronwell import Cronwell
from cronwell.contrib.discord import CronwellCog, channel_url
from cronwell.settings import load_settings
from market_bot import config, jobs

cw = Cronwell(
    settings=load_settings(
        database_url=config.DATABASE_URL,
        timezone=config.TIMEZONE,
        channels={
            "dev": channel_url(config.DEV_CHANNEL),
            "alerts": channel_url(config.ALERT_CHANNEL),
        },
        scheduler_channels=["dev"],  # "cronwell started/stopped" in the dev channel
        summary_channel="dev",  # the seed's JobSummary, posted at start
    )
)
cw.add_cron_job(
    jobs.morning_briefing,
    "*/2 * * * * *" if config.FAST else "0 8 * * 1-5",
    "daily_morning_task",
    send_alert=True,
)
cw.add_cron_job(
    jobs.daily_report, "*/2 * * * * *" if config.FAST else "30 14 * * 1-5", "daily_report"
)
cw.add_interval_job(jobs.health_check, "health_check", seconds=2 if config.FAST else 1800)


def schedule_economic_event(event_time: datetime, event_name: str) -> None:
    cw.add_date_job(
        jobs.notify_economic_event,
        event_time,
        f"economic_{event_name}",
        args=(event_name,),
        send_alert=True,
    )


class MarketBot(commands.Bot):
    async def setup_hook(self) -> None:
        await self.add_cog(CronwellCog(self, cw))  # starts with the bot, stops with it


def create_bot() -> MarketBot:
    return MarketBot(command_prefix="!", intents=discord.Intents.default())


def main() -> None:
    create_bot().run(os.environ["DISCORD_TOKEN"])
