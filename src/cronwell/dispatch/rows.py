"""The run rows of fires: built as planned, inserted in one statement, and told as runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from cronwell.dispatch.fire import Fire
from cronwell.dispatch.policy import Plan
from cronwell.domain.events import RunsRecorded
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.store import NewRun, RunGrid, Store

UNRECORDABLE = "Not run: the database could not be reached when it fell due."


def new_row(fire: Fire, status: RunStatus, now: datetime, reason: str, instance_id: str) -> NewRun:
    """The row of ``fire`` recorded ``status`` for ``reason`` at ``now``."""
    running = status is RunStatus.RUNNING
    terminal = status.is_terminal
    return NewRun(
        task_id=fire.task.id,
        scheduled_for=fire.scheduled_for,
        attempt=fire.attempt,
        status=status,
        reason=reason,
        started_at=now if running else None,
        finished_at=now if terminal else None,
        error=UNRECORDABLE if reason == RunReason.DATABASE_UNAVAILABLE else None,
        instance_id=instance_id,
    )


def insert_fires(
    store: Store, fires: list[Fire], plans: list[Plan], now: datetime, instance_id: str
) -> list[int | None]:
    """Insert a row per fire, as planned; return each one's id, ``None`` for a fire whose
    occurrence is already recorded (or comes earlier in ``fires``).

    Fires of one instant and one plan (a burst, a steady second) are one grid: their rows
    differ only in the task, so one row and the task ids are all that is built and sent.
    Any other mix goes row by row in one sorted statement: a grid per instant would be a
    statement each, and grids of one transaction would lock keys in another order than a
    concurrent writer's."""
    if not fires:
        return []
    fire, plan = fires[0], plans[0]
    status, reason = plan.status, plan.reason
    alike = all(f.scheduled_for == fire.scheduled_for and f.attempt == fire.attempt for f in fires)
    if not alike or plans.count(plan) != len(plans):
        rows = [
            new_row(f, each.status, now, each.reason, instance_id)
            for f, each in zip(fires, plans, strict=True)
        ]
        return store.insert_runs(rows)
    grid = RunGrid([f.task.id for f in fires], [new_row(fire, status, now, reason, instance_id)])
    stored = {task_id: run_id for run_id, task_id, _ in store.insert_grid(grid)}
    return [stored.pop(f.task.id, None) for f in fires]  # a task's first fire takes it


def row_to_run(run_id: int, row: NewRun) -> Run:
    """The stored run of ``row``, inserted as ``run_id``."""
    return Run(
        id=run_id,
        task_id=row.task_id,
        scheduled_for=row.scheduled_for,
        attempt=row.attempt,
        status=row.status,
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        instance_id=row.instance_id,
    )


def recorded(
    grid: RunGrid, stored: Sequence[tuple[int, str, int]], tasks: Mapping[str, Task]
) -> RunsRecorded:
    """The rows of ``grid`` stored as ``stored`` (their ids), as one event: a run per
    template, none per row."""
    return RunsRecorded([row_to_run(0, row) for row in grid.rows], stored, tasks)
