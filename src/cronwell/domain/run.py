"""Runs: one attempt at one occurrence, one row of history (DESIGN rules 2 and 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cronwell.domain.unvalidated import assemble


class RunStatus(StrEnum):
    """Where a run stands. Terminal statuses never change again."""

    PENDING = "pending"  # due later (a retry, a queued manual run)
    QUEUED = "queued"  # sent to a remote worker (Celery), not yet taken by one
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"  # not started on purpose (overlap, max instances, paused)
    MISSED = "missed"  # its time passed while the scheduler was down or late
    ABANDONED = "abandoned"  # the process running it died
    INTERRUPTED = "interrupted"  # stopped by a shutdown

    @property
    def is_terminal(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING)


class RunReason(StrEnum):
    """Why a run row exists or ended as it did; stored as text in ``Run.reason``."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    MAX_INSTANCES = "max_instances"
    LATE = "late"
    SHUTDOWN = "shutdown"
    OVERLAP = "overlap"
    QUEUED = "queued"  # waiting for the running run of its task (overlap='queue_one')
    REPLACED = "replaced"  # stopped to make way for a newer occurrence (overlap='replace')
    RETRY = "retry"
    CATCHUP = "catchup"  # run late because the scheduler was down (catchup policy)
    SCHEDULER_DOWN = "scheduler_down"
    DATABASE_UNAVAILABLE = "database_unavailable"  # fell due while history could not be written
    PAUSED = "paused"
    PROCESS_DIED = "process_died"
    NO_WORKER = "no_worker"  # sent to a remote worker queue and not taken within the grace


class Run(BaseModel):
    """One row of history."""

    model_config = ConfigDict(frozen=True)

    id: int
    task_id: str
    scheduled_for: datetime
    attempt: int = 1
    status: RunStatus
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = Field(None, description="Seconds from start to finish.")
    error: str | None = None
    traceback: str | None = None
    output: str | None = None
    return_value: str | None = None
    counters: dict[str, float] = Field(default_factory=dict)
    instance_id: str | None = None
    pgid: int | None = Field(
        None,
        description="Process group of the run's child process (a shell command or a "
        "process-isolated Python action), recorded when it starts.",
    )
    host: str | None = Field(
        None, description="Host the run's child process (or its remote worker) runs on."
    )
    queue: str | None = Field(
        None,
        description="The Celery queue the run was sent to; None for a run of this process's "
        "worker pool. Its worker is named by instance_id (celery@host:pid).",
    )

    @property
    def occurrence_key(self) -> str:
        return occurrence_key(self.task_id, self.scheduled_for)

    @classmethod
    def of_fields(cls, values: dict[str, Any]) -> Run:
        """The run of ``values`` that cronwell made itself (every field, each of its type;
        or every field but the process group, host and queue, which are then ``None``), not
        validated again: the writer builds one per finished run, and validation cost two
        thirds of it. Anything else is validated as usual. ``values`` may be completed in
        place."""
        keys = tuple(values)
        if keys == _RUN_FIELDS:
            return assemble(cls, values, _RUN_FIELD_SET)
        if keys == _CORE_FIELDS:
            values.update(_NO_PROCESS)
            return assemble(cls, values, _CORE_FIELD_SET)
        return cls(**values)


_RUN_FIELDS = tuple(Run.model_fields)
_RUN_FIELD_SET = set(_RUN_FIELDS)
_NO_PROCESS: dict[str, Any] = {"pgid": None, "host": None, "queue": None}
_CORE_FIELDS = tuple(name for name in _RUN_FIELDS if name not in _NO_PROCESS)
_CORE_FIELD_SET = set(_CORE_FIELDS)


def occurrence_key(task_id: str, scheduled_for: datetime) -> str:
    """The stable key of an occurrence, ``task_id@ISO-8601-UTC``; the same on every
    instance, so user code can use it for its own idempotency."""
    utc = scheduled_for.astimezone(UTC).replace(tzinfo=None)
    return f"{task_id}@{utc.isoformat(timespec='microseconds')}Z"  # strftime cost 3x more


def summarize_return_value(value: Any, limit: int = 1024) -> str | None:
    """A short text form of what an action returned, ``None`` for ``None``."""
    if value is None:
        return None
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
