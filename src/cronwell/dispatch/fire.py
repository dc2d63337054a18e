"""What the dispatcher is handed and what it keeps of a run in flight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cronwell.domain.run import RunReason
from cronwell.domain.task import Task


@dataclass(frozen=True, slots=True)
class Fire:
    """One occurrence handed to the dispatcher."""

    task: Task
    scheduled_for: datetime
    attempt: int = 1
    reason: str = RunReason.SCHEDULE


@dataclass(frozen=True, slots=True)
class Started:
    """A run in flight: its fire, and when its action began (or was handed to a worker)."""

    fire: Fire
    started_at: datetime
