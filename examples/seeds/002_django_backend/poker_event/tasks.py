"""The scheduled task: found and scheduled by cronwell when the site starts."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cronwell import RunContext
from cronwell.contrib.django import task
from poker_event.jobs import create_sessions_for_game
from poker_event.models import Game


@task(cron=settings.GAME_SESSIONS_CRON)
def generate_upcoming_game_sessions(ctx: RunContext) -> int:
    """Create the sessions of every recurring game over the lookahead period."""
    today = timezone.localdate()
    days = [today + timedelta(days=n) for n in range(settings.GAME_SESSIONS_LOOKAHEAD_DAYS)]
    games = Game.objects.exclude(recurrence="once")
    created = sum(create_sessions_for_game(game, days) for game in games)
    ctx.report(processed=len(games), succeeded=len(games))
    return created
