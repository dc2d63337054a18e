"""Plain records handed to the store to write runs (reads come back as domain models, or as
:class:`StoredDefinition` for a plan)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime

from cronwell.domain.run import RunStatus


def utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC; a naive datetime raises :class:`ValueError` (DESIGN rule 10)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is UTC:  # the usual case, on every run row: kept as it is
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} {value.isoformat()} is naive; pass an aware datetime (e.g. datetime.now(UTC))."
        )
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else utc(value, what)


def _set_status(record: NewRun | RunUpdate) -> None:
    """A status given as text becomes a :class:`RunStatus` (an enum call even for a
    member costs more than the rest of the check)."""
    if type(record.status) is not RunStatus:
        object.__setattr__(record, "status", RunStatus(record.status))


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run row to insert. Its key ``(task_id, scheduled_for, attempt)`` is unique in the
    database: inserting the same key again does nothing (DESIGN rule 2).

    Everything after ``scheduled_for`` is keyword-only. Datetimes must be aware; they are
    normalised to UTC.
    """

    task_id: str
    scheduled_for: datetime
    _: KW_ONLY
    attempt: int = 1
    status: RunStatus
    reason: str | None = None
    due_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    instance_id: str | None = None

    def __post_init__(self) -> None:
        if self.attempt < 1:
            raise ValueError(f"attempt must be 1 or more, got {self.attempt}")
        _set_status(self)
        object.__setattr__(self, "scheduled_for", utc(self.scheduled_for, "scheduled_for"))
        for name in ("due_at", "started_at", "finished_at"):
            object.__setattr__(self, name, utc_or_none(getattr(self, name), name))

    @property
    def key(self) -> tuple[str, datetime, int]:
        """The occurrence key plus the attempt: what the database fences."""
        return (self.task_id, self.scheduled_for, self.attempt)


@dataclass(frozen=True, slots=True)
class RunGrid:
    """The same rows for many tasks: each of ``rows`` (its ``task_id`` aside) for each of
    ``task_ids``. Tasks due at the same instant, or that shared a schedule and an outage,
    have rows that differ only in the task; the database writes the grid from one
    statement instead of receiving a row per task and occurrence."""

    task_ids: Sequence[str]
    rows: Sequence[NewRun]


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """The outcome of one run, for :meth:`Store.finish_runs`.

    ``reason``, ``counters`` and ``started_at`` left as ``None`` keep what the row already
    holds; ``started_at`` is when the action began, which may be later than the row's
    insert (a wait for a worker, jitter).
    """

    run_id: int
    _: KW_ONLY
    status: RunStatus
    finished_at: datetime
    duration: float | None
    started_at: datetime | None = None
    error: str | None = None
    traceback: str | None = None
    output: str | None = None
    return_value: str | None = None
    counters: Mapping[str, float] | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        _set_status(self)
        object.__setattr__(self, "finished_at", utc(self.finished_at, "finished_at"))
        if self.started_at is not None:
            object.__setattr__(self, "started_at", utc(self.started_at, "started_at"))


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """A cronwell process known to the database (see :meth:`Store.register_instance`).

    ``last_seen`` is the time of its latest heartbeat, in database time; an instance whose
    ``last_seen`` is old by the database's clock has probably died, and its runs can be
    recovered.
    """

    instance_id: str
    hostname: str
    pid: int
    started_at: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One line of the notifications log: an alert delivered to one target, or not.
    ``target`` and ``error`` are stored as given: callers redact secrets first."""

    created_at: datetime
    event: str
    target: str
    status: str  # "sent" or "failed"
    attempts: int
    title: str
    task_id: str | None = None
    run_id: int | None = None
    error: str | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredDefinition:
    """A stored task as a plan first reads it: its ``id``, ``source``, stored
    ``definition`` (the JSON text) and ``declared`` digest (``None`` when no apply
    declared it, see :mod:`cronwell.domain.declared`). A task whose digest matches its
    entry is not read further."""

    id: str
    source: str
    definition: str
    declared: str | None
