"""The occurrence timeline of one task for one day: every occurrence of its schedule with
its fate, including the occurrences that have no run row.

What the timeline can know, and from where:

- an occurrence with run rows: what they say (the last attempt's status and reason, the
  earlier attempts as retries);
- an occurrence that fell while the task is paused now: the task's row says it is
  disabled (and why, for an automatic pause) and when it last changed, which is the pause
  unless its definition was edited during the pause;
- an occurrence that fell during an earlier pause: the ``skipped`` rows (reason
  ``paused``) that the resume wrote, the newest 100 of them one by one and one row summing
  up the older ones;
- an occurrence before the task existed: its creation time.

What it cannot know: the change log keeps when a task changed, not what changed, so an
occurrence computed from today's schedule may not have been one under the schedule of that
day; and an occurrence without a row that none of the above explains (history pruned, or a
scheduler down whose successor has not yet recorded what it missed) is shown as "no record"
with those possible causes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task

#: Occurrences listed for one day at most (a per-second task has 86,400).
MAX_OCCURRENCES = 1440
#: Run rows read for one day at most.
MAX_ROWS = 5000


class Fate(StrEnum):
    """What became of an occurrence."""

    SUCCEEDED = "succeeded"
    RETRIED = "retried"  # succeeded after a failed attempt
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    RUNNING = "running"
    PENDING = "pending"
    MISSED = "missed"
    SKIPPED = "skipped"
    PAUSED = "paused"
    ABANDONED = "abandoned"
    INTERRUPTED = "interrupted"
    UPCOMING = "upcoming"
    NOT_CREATED = "not_created"
    NO_RECORD = "no_record"


_REASONS: dict[str, str] = {
    RunReason.SCHEDULER_DOWN: "no scheduler was running at that time",
    RunReason.LATE: "the scheduler fired it later than its misfire grace allows",
    RunReason.DATABASE_UNAVAILABLE: "the database could not be written when it fell due",
    RunReason.OVERLAP: "a run of the task was still going (overlap policy)",
    RunReason.MAX_INSTANCES: "as many runs as max_instances allows were going",
    RunReason.PAUSED: "the task was paused",
    RunReason.PROCESS_DIED: "the process running it died",
    RunReason.SHUTDOWN: "the service shut down while it ran",
    RunReason.REPLACED: "a newer occurrence replaced it (overlap policy)",
    RunReason.CATCHUP: "run late, on catch-up after downtime",
    RunReason.QUEUED: "queued behind the running run (overlap policy)",
}


def reason_words(reason: str | None) -> str | None:
    """A run reason (:class:`~cronwell.domain.run.RunReason`) in words."""
    if reason is None:
        return None
    return _REASONS.get(reason, reason.replace("_", " "))


@dataclass(frozen=True)
class TimelineEntry:
    """One occurrence (or one run at a time that is not an occurrence of the schedule,
    such as a manual run: ``occurrence`` is then false)."""

    at: datetime
    fate: Fate
    why: str
    runs: list[Run] = field(default_factory=list)
    dst_shifted: bool = False
    occurrence: bool = True


@dataclass(frozen=True)
class Timeline:
    """The entries of ``day`` in ``timezone``, in time order; ``truncated`` when the
    schedule has more occurrences that day than :data:`MAX_OCCURRENCES`."""

    day: date
    timezone: str
    entries: list[TimelineEntry]
    truncated: bool = False

    def count(self, fate: Fate) -> int:
        return sum(1 for entry in self.entries if entry.fate is fate)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants where local ``day`` starts and the next one starts."""
    start = datetime.combine(day, time(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def build_timeline(
    task: Task,
    day: date,
    tz: tzinfo,
    zone_name: str,
    runs: list[Run],
    now: datetime,
) -> Timeline:
    """The timeline of ``task`` on local ``day`` of ``tz``, from its schedule and
    ``runs`` (its rows scheduled within that day, any order)."""
    start, end = day_bounds(day, tz)
    by_time: dict[datetime, list[Run]] = defaultdict(list)
    for run in runs:
        by_time[run.scheduled_for].append(run)
    entries: list[TimelineEntry] = []
    truncated = False
    for at in task.iter_fires_after(start - timedelta(microseconds=1)):
        if at >= end:
            break
        if len(entries) >= MAX_OCCURRENCES:
            truncated = True
            break
        rows = sorted(by_time.pop(at, []), key=lambda r: (r.attempt, r.id))
        shifted = task.schedule.is_dst_shifted(at, task.tz)
        fate, why = _fate(task, at, rows, now)
        entries.append(TimelineEntry(at, fate, why, rows, shifted))
    for at, rows in by_time.items():  # rows at other instants: manual runs, older schedules
        if truncated and at > entries[-1].at:
            continue
        rows.sort(key=lambda r: (r.attempt, r.id))
        fate, why = _from_rows(rows)
        manual = rows[0].reason == RunReason.MANUAL
        note = "run on request" if manual else "not an occurrence of the current schedule"
        entries.append(TimelineEntry(at, fate, f"{why} ({note})", rows, occurrence=False))
    entries.sort(key=lambda entry: entry.at)
    return Timeline(day, zone_name, entries, truncated)


def _fate(task: Task, at: datetime, rows: list[Run], now: datetime) -> tuple[Fate, str]:
    if rows:
        return _from_rows(rows)
    if at > now:
        if not task.enabled:
            return Fate.PAUSED, "to come, but the task is paused: it will not run unless resumed"
        return Fate.UPCOMING, "still to come"
    if task.created_at is not None and at < task.created_at:
        return Fate.NOT_CREATED, f"before the task was created ({_utc(task.created_at)})"
    paused_at = task.updated_at if not task.enabled else None
    if paused_at is not None and at >= paused_at:
        why = f"automatically paused: {task.paused_reason}" if task.paused_reason else "paused"
        return (
            Fate.PAUSED,
            f"not run: the task is {why} (its last change, at {_utc(paused_at)}); "
            "resuming records it as skipped",
        )
    if now - at <= timedelta(seconds=task.misfire_grace + 5):
        return Fate.PENDING, "falling due now"
    return (
        Fate.NO_RECORD,
        "no run recorded: the history may have been pruned, the schedule may have differed "
        "then, or the scheduler was down and its catch-up has not recorded it yet",
    )


def _from_rows(rows: list[Run]) -> tuple[Fate, str]:
    """The fate that an occurrence's rows (attempts in order) tell."""
    last = rows[-1]
    attempts = f" on attempt {last.attempt}" if last.attempt > 1 else ""
    detail = reason_words(last.reason) if last.reason not in (None, "schedule") else None
    status = last.status
    if status is RunStatus.SUCCEEDED:
        if len(rows) > 1 or last.attempt > 1:
            return Fate.RETRIED, f"succeeded{attempts}, after a failed attempt"
        late = f" ({detail})" if detail else ""
        return Fate.SUCCEEDED, f"succeeded{late}"
    if status is RunStatus.FAILED:
        return Fate.FAILED, f"failed{attempts}: {_first_line(last.error) or 'no error text'}"
    if status is RunStatus.TIMED_OUT:
        return Fate.TIMED_OUT, f"timed out{attempts}"
    if status is RunStatus.RUNNING:
        return Fate.RUNNING, f"running{attempts}"
    if status is RunStatus.PENDING:
        return Fate.PENDING, f"waiting to run{attempts} ({detail or 'queued'})"
    if status is RunStatus.QUEUED:
        return Fate.PENDING, f"waiting for a worker{attempts} (queue {last.queue})"
    if status is RunStatus.MISSED:
        return Fate.MISSED, f"missed: {detail or _first_line(last.error) or 'not run in time'}"
    if status is RunStatus.SKIPPED:
        return Fate.SKIPPED, f"skipped: {detail or _first_line(last.error) or 'not started'}"
    if status is RunStatus.ABANDONED:
        return Fate.ABANDONED, f"abandoned{attempts}: {detail or 'its process died'}"
    return Fate.INTERRUPTED, f"interrupted{attempts}: {detail or 'stopped by a shutdown'}"


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
