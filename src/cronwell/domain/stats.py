"""Figures about one task's run history, for the dashboard, the API and the CLI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class TaskStats(BaseModel):
    """What a task's run history says about it.

    - ``task_id``: the task.
    - ``runs``: finished runs — succeeded, failed, timed_out, abandoned and interrupted
      (not skipped, missed, pending or running ones).
    - ``succeeded``: runs that succeeded.
    - ``failed``: runs that failed, timed out or were abandoned (their process died).
    - ``timed_out``: of ``failed``, those that timed out.
    - ``missed``: occurrences recorded as missed (scheduler down or too late).
    - ``skipped``: occurrences not started on purpose (overlap, max instances, paused).
    - ``success_rate``: ``succeeded / (succeeded + failed)``, from 0 to 1; ``None`` when
      there is no succeeded or failed run (interrupted runs count for neither).
    - ``avg_duration``, ``p95_duration``: mean and 95th percentile (nearest rank: the
      value at position ``ceil(0.95 * n)`` of the ``n`` durations sorted ascending), in
      seconds, over the newest runs that have a duration (at most the ``sample`` asked
      for); ``None`` when no run has one.
    - ``last_success``: when the newest succeeded run finished.
    - ``last_failure``: when the newest failed, timed-out or abandoned run finished.
    - ``consecutive_failures``: occurrences in a row whose last attempt failed, as kept on
      the task (0 once one succeeds, 0 for a deleted task).
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    runs: int = 0
    succeeded: int = 0
    failed: int = 0
    timed_out: int = 0
    missed: int = 0
    skipped: int = 0
    success_rate: float | None = None
    avg_duration: float | None = None
    p95_duration: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    consecutive_failures: int = 0
