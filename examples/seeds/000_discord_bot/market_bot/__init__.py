"""Seed 000, the Discord market bot and its DiscordScheduler, rebuilt on cronwell (see the
README)."""
