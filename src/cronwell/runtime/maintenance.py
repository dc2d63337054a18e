"""The built-in maintenance task: prunes run history past its retention (the seeds'
``CleanupTask`` and ``cleanup_old_tasks``), scheduled and recorded like any other task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cronwell.domain.action import PythonAction
from cronwell.domain.schedule import cron
from cronwell.domain.task import Task
from cronwell.runners import RunContext
from cronwell.settings import Settings, load_settings
from cronwell.store import Store

MAINTENANCE_TASK_ID = "cronwell-maintenance"
FUNCTION = "cronwell.runtime.maintenance:prune_history"


def maintenance_task(settings: Settings, timezone: str) -> Task | None:
    """The maintenance task these settings ask for, or ``None`` when it is turned off."""
    if not settings.maintenance_cron:
        return None
    return Task(
        id=MAINTENANCE_TASK_ID,
        name="History retention",
        description=(
            f"Deletes finished runs older than {settings.history_retention_days:g} days and "
            f"keeps at most {settings.history_max_runs:,} finished runs per task."
        ),
        schedule=cron(settings.maintenance_cron),
        action=PythonAction(
            func=FUNCTION,
            kwargs={
                "retention_days": settings.history_retention_days,
                "max_runs": settings.history_max_runs,
            },
        ),
        timezone=timezone,
        tags=["cronwell"],
        catchup="latest",
    )


def prune_history(
    ctx: RunContext, retention_days: float = 90.0, max_runs: int = 10_000, store: Any = None
) -> int:
    """Delete finished runs older than ``retention_days`` and beyond the newest
    ``max_runs`` per task; pending and running runs are never touched. Reports
    ``deleted``. Without ``store`` it opens the configured database (another process)."""
    own = store is None
    target: Store = Store(load_settings().database_url) if own else store
    try:
        before = ctx.scheduled_for - timedelta(days=retention_days)
        deleted = target.prune_runs(before, keep_per_task=max_runs)
        target.prune_notifications(before)
    finally:
        if own:
            target.close()
    ctx.logger.info("pruned %d runs scheduled before %s", deleted, before.isoformat())
    ctx.report(deleted=deleted)
    return deleted
