"""The bot's configuration, from the environment."""

from __future__ import annotations

import os

TIMEZONE = "Asia/Jerusalem"
DEV_CHANNEL = int(os.environ.get("DEV_CHANNEL_ID", "0"))  # scheduler status, errors, summary
ALERT_CHANNEL = int(os.environ.get("ALERT_CHANNEL_ID", "0"))  # data for the users
DATABASE_URL = os.environ.get("BOT_DATABASE_URL", "sqlite:///market_bot.db")
# MARKET_BOT_FAST=1 runs every schedule every few seconds (the example's test)
FAST = os.environ.get("MARKET_BOT_FAST") == "1"
