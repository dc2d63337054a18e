"""Figures about a task's run history (:class:`~cronwell.domain.stats.TaskStats`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from cronwell.domain.run import RunStatus
from cronwell.domain.stats import TaskStats
from cronwell.store.database import Database
from cronwell.store.tables import runs, tasks

# Statuses of runs that ended (TaskStats.runs), and those of them that count as failures.
_FINISHED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.ABANDONED,
        RunStatus.INTERRUPTED,
    }
)
_FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABANDONED})


class Stats:
    """Reads that sum up run history."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def task_stats(self, task_id: str, *, sample: int = 1000) -> TaskStats:
        """Figures about a task's run history (see :class:`~cronwell.domain.stats.TaskStats`):
        counts over all its runs, durations over its newest ``sample`` runs that have one.
        A task without runs (or deleted) gets zero counts and ``None`` figures."""
        if sample < 1:
            raise ValueError(f"sample must be 1 or more, got {sample}")
        with self._db.begin() as conn:
            by_status = conn.execute(
                select(
                    runs.c.status,
                    func.count().label("n"),
                    func.max(runs.c.finished_at).label("last_finished"),
                )
                .where(runs.c.task_id == task_id)
                .group_by(runs.c.status)
            ).all()
            durations = [
                float(value)
                for value in conn.execute(
                    select(runs.c.duration)
                    .where(runs.c.task_id == task_id, runs.c.duration.is_not(None))
                    .order_by(runs.c.scheduled_for.desc(), runs.c.id.desc())
                    .limit(sample)
                ).scalars()
            ]
            streak = conn.execute(
                select(tasks.c.consecutive_failures).where(tasks.c.id == task_id)
            ).scalar()
        counts: dict[RunStatus, int] = {}
        last: dict[RunStatus, datetime] = {}
        for row in by_status:
            status = RunStatus(row.status)
            counts[status] = int(row.n)
            if row.last_finished is not None:
                last[status] = row.last_finished
        succeeded = counts.get(RunStatus.SUCCEEDED, 0)
        failed = sum(counts.get(status, 0) for status in _FAILURES)
        failures = [last[status] for status in _FAILURES if status in last]
        durations.sort()
        return TaskStats(
            task_id=task_id,
            runs=sum(counts.get(status, 0) for status in _FINISHED),
            succeeded=succeeded,
            failed=failed,
            timed_out=counts.get(RunStatus.TIMED_OUT, 0),
            missed=counts.get(RunStatus.MISSED, 0),
            skipped=counts.get(RunStatus.SKIPPED, 0),
            success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
            avg_duration=math.fsum(durations) / len(durations) if durations else None,
            p95_duration=_nearest_rank(durations, 95),
            last_success=last.get(RunStatus.SUCCEEDED),
            last_failure=max(failures, default=None),
            consecutive_failures=int(streak or 0),
        )


def _nearest_rank(ordered: Sequence[float], percent: int) -> float | None:
    """The ``percent``-th percentile of ascending ``ordered`` by nearest rank: the value
    at 1-based position ``ceil(percent / 100 * n)``; ``None`` for no values."""
    if not ordered:
        return None
    rank = -(-percent * len(ordered) // 100)  # ceil, in integers
    return ordered[max(rank, 1) - 1]
