"""What the bot runs on schedule: the seed's examples. They run on the bot's event loop and
post through its connection (``send`` is the seed's ``send_alert`` / ``send_dev_alert``)."""

from __future__ import annotations

from typing import Any

from cronwell.contrib.discord import send
from market_bot import config


async def generate_report() -> str:
    return "**TA35** +0.4% · **USD/ILS** 3.71"  # the bot's market data source goes here


async def check_system_health() -> dict[str, Any]:
    return {"healthy": True, "message": ""}  # the bot's own checks go here


async def morning_briefing() -> None:
    await generate_report()


async def daily_report() -> None:
    report = await generate_report()
    await send(config.ALERT_CHANNEL, report, title="📊 Daily Report", severity="success")


async def health_check() -> None:
    status = await check_system_health()
    if not status["healthy"]:
        await send(
            config.DEV_CHANNEL,
            f"⚠️ System health issue: {status['message']}",
            title="🏥 Health Check",
            severity="warning",
        )


async def notify_economic_event(event_name: str) -> None:
    await send(config.ALERT_CHANNEL, f"{event_name} is out.", title="📅 Economic event")
