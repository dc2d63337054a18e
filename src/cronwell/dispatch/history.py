"""Rows for occurrences that did not run (DESIGN rule 5): missed while no scheduler ran,
skipped while a task was paused. A long span writes a bounded number of rows: the most
recent occurrences one by one, and one row that sums up the older ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cronwell.domain.occurrences import Occurrences
from cronwell.domain.run import RunStatus
from cronwell.domain.task import Task
from cronwell.store import NewRun


def unrun_rows(
    task: Task,
    span: Occurrences,
    times: Sequence[datetime],
    *,
    status: RunStatus,
    reason: str,
    why: str,
    now: datetime,
    instance_id: str,
) -> list[NewRun]:
    """A terminal row for each of ``times`` (occurrences of ``span`` that will not run),
    plus one row at the earliest occurrence summing up those of ``span`` older than its
    ``recent`` list. ``why`` completes "occurrence(s) … were not run because …"."""

    def row(when: datetime, error: str) -> NewRun:
        return NewRun(
            task_id=task.id,
            scheduled_for=when,
            status=status,
            reason=reason,
            finished_at=now,
            error=error,
            instance_id=instance_id,
        )

    rows = [row(when, f"Not run: {why}.") for when in times]
    older = None if span.total is None else span.total - len(span.recent)
    if span.recent and span.earliest is not None and span.earliest < span.recent[0]:
        count = "More than 100,000" if older is None else f"{older:,}"
        rows.append(
            row(
                span.earliest,
                (
                    f"{count} occurrences from {span.earliest.isoformat()} until before "
                    f"{span.recent[0].isoformat()} were not run: {why} (summed up in this row)."
                ),
            )
        )
    return rows
