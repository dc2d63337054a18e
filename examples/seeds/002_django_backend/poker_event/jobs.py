"""What the seed's app_scheduler/jobs.py did: create upcoming sessions of recurring games."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from poker_event.models import Game, GameSession


def create_sessions_for_game(game: Game, days: Iterable[date]) -> int:
    """Create the sessions of ``game`` on those of ``days`` its recurrence allows, skipping
    the ones that exist; return how many were created."""
    created = 0
    for day in days:
        if game.recurrence == "weekly" and day.weekday() != game.weekday:
            continue
        _, new = GameSession.objects.get_or_create(game=game, date=day)
        created += new
    return created
