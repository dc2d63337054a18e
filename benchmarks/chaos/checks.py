"""The checks: the ledger and the run rows of a scenario, compared with each other and with
the schedule. Pure functions of what was recorded; nothing here reads a clock.

* unrecorded — an occurrence due in the observed span with no run row at all (every
  occurrence must have one: a run, ``missed``, ``skipped``…), or an execution in the
  ledger whose occurrence and attempt have no row;
* duplicate — a second execution of one occurrence key and attempt;
* overlap — two executions of one occurrence (different attempts) whose intervals
  intersect; an execution without an end line covers its start, or up to the last moment
  its process was seen alive;
* failover gap — from a fault (kill, SIGSTOP) of the leader to the first action started
  by another instance;
* wrong status — an execution that ran to its end in a process never killed, recorded
  other than ``succeeded``;
* false overlap — an occurrence of a task whose action returns at once recorded
  ``skipped``: nothing of it ran long enough to be overlapped;
* zombie fire — an execution by a frozen leader of an occurrence that fell due after it was
  frozen, before the next fault: it fired although it could not hold the lease.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from benchmarks.chaos.db import RunRow
from benchmarks.chaos.ledger import Execution
from cronwell.domain.run import occurrence_key
from cronwell.domain.task import Task

Figures = dict[str, object]
SAMPLE = 5  # examples kept of each kind of failure, for the JSON line
INSTANT_PREFIX = "chaos-load-"  # the tasks whose action returns at once


@dataclass(frozen=True)
class Fault:
    """A fault the harness caused: ``kind`` (kill, stop, outage) at ``at`` (epoch seconds),
    of ``instance`` (``None`` for the database), lasting until ``until`` if it ends."""

    kind: str
    at: float
    instance: str | None = None
    until: float | None = None


def epoch(when: datetime) -> float:
    return when.timestamp()


def instant(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def expected_occurrences(tasks: Iterable[Task], start: float, end: float) -> set[str]:
    """Occurrence keys of ``tasks`` due in ``(start, end]`` by their schedules."""
    keys: set[str] = set()
    for task in tasks:
        for when in task.iter_fires_after(instant(start)):
            if epoch(when) > end:
                break
            keys.add(occurrence_key(task.id, when))
    return keys


def unrecorded(expected: set[str], rows: Sequence[RunRow]) -> list[str]:
    recorded = {row.key for row in rows}
    return sorted(expected - recorded)


def executions_without_row(executions: Sequence[Execution], rows: Sequence[RunRow]) -> list[str]:
    recorded = {f"{row.key}#{row.attempt}" for row in rows}
    return sorted({f"{e.key}#{e.attempt}" for e in executions} - recorded)


def duplicates(executions: Sequence[Execution]) -> list[str]:
    """``key#attempt`` once per execution beyond the first of that occurrence and attempt."""
    counts = Counter(f"{e.key}#{e.attempt}" for e in executions)
    return sorted(k for k, n in counts.items() for _ in range(n - 1))


def overlaps(executions: Sequence[Execution]) -> list[tuple[Execution, Execution]]:
    """Pairs of executions of one occurrence, of different attempts, that ran at once."""
    by_key: dict[str, list[Execution]] = defaultdict(list)
    for e in executions:
        by_key[e.key].append(e)
    found = []
    for group in by_key.values():
        group.sort(key=lambda e: e.start)
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if second.attempt != first.attempt and second.start < first.until:
                    found.append((first, second))
    return found


def failover_gaps(faults: Sequence[Fault], executions: Sequence[Execution]) -> list[float | None]:
    """Per leader fault: seconds until another instance started an action (``None``: none
    did)."""
    gaps: list[float | None] = []
    for fault in faults:
        if fault.kind not in ("kill", "stop"):
            continue
        after = [e.start for e in executions if e.start > fault.at and e.instance != fault.instance]
        gaps.append(min(after) - fault.at if after else None)
    return gaps


def zombie_fires(
    faults: Sequence[Fault], executions: Sequence[Execution], end: float
) -> list[Execution]:
    """Executions by a frozen leader of occurrences due after it was frozen and before the
    next fault (after which it may lead again, legitimately)."""
    ordered = sorted(faults, key=lambda f: f.at)
    found = []
    for index, fault in enumerate(ordered):
        if fault.kind != "stop":
            continue
        until = ordered[index + 1].at if index + 1 < len(ordered) else end
        found += [
            e
            for e in executions
            if e.instance == fault.instance and fault.at < epoch(e.scheduled_for) < until
        ]
    return found


def misdated_starts(
    executions: Sequence[Execution], rows: Sequence[RunRow], tolerance: float = 2.0
) -> list[str]:
    """Runs whose recorded ``started_at`` is more than ``tolerance`` seconds before their
    action really started (the ledger's start line)."""
    started = {(r.key, r.attempt): r.started_at for r in rows if r.started_at is not None}
    found = []
    for e in executions:
        recorded = started.get((e.key, e.attempt))
        if recorded is not None and e.start - epoch(recorded) > tolerance:
            found.append(f"{e.key}#{e.attempt} recorded {e.start - epoch(recorded):.1f} s early")
    return found


def wrong_status(
    executions: Sequence[Execution], rows: Sequence[RunRow], faults: Sequence[Fault]
) -> list[str]:
    """Executions that finished (their end line is there) in a process that was never
    killed, whose run is recorded other than ``succeeded`` (the chaos actions cannot
    fail): the result of a run that ran to its end was lost or overwritten. A killed
    process may finish an action and die before storing the result; its runs are left out."""
    killed = {f.instance for f in faults if f.kind in ("kill", "crash")}
    status = {(r.key, r.attempt): f"{r.status}/{r.reason}" for r in rows}
    found = []
    for e in executions:
        recorded = status.get((e.key, e.attempt))
        finished = e.end is not None and e.instance not in killed
        if finished and recorded is not None and not recorded.startswith("succeeded/"):
            found.append(f"{e.key}#{e.attempt} by {e.instance} recorded {recorded}")
    return found


def false_overlaps(rows: Sequence[RunRow], instant_prefix: str) -> list[str]:
    """Occurrences of tasks whose action returns at once (ids starting with
    ``instant_prefix``) recorded ``skipped``: no run of theirs lasts long enough to be
    overlapped, so the slot was held by something that was not running."""
    return sorted(
        f"{r.key} {r.status}/{r.reason}"
        for r in rows
        if r.task_id.startswith(instant_prefix) and r.status == "skipped"
    )


def outcomes(rows: Iterable[RunRow]) -> dict[str, int]:
    """``status/reason`` → rows, most frequent first."""
    counts = Counter(f"{r.status}/{r.reason}" if r.reason else r.status for r in rows)
    return dict(counts.most_common())


def spread(values: Sequence[float | None], prefix: str) -> Figures:
    """min, median and max of the known values (seconds, 2 decimals); ``<prefix>_missing``
    counts the ``None`` ones."""
    known = [v for v in values if v is not None]
    figures: Figures = {f"{prefix}_missing": len(values) - len(known)}
    for name, value in (
        ("min", min(known) if known else None),
        ("median", statistics.median(known) if known else None),
        ("max", max(known) if known else None),
    ):
        figures[f"{prefix}_{name}_s"] = None if value is None else round(value, 2)
    return figures


def assess(
    executions: Sequence[Execution],
    rows: Sequence[RunRow],
    tasks: Sequence[Task],
    span: tuple[float, float],
    faults: Sequence[Fault],
) -> Figures:
    """The figures every scenario reports (see the module docstring)."""
    expected = expected_occurrences(tasks, *span)
    missing = unrecorded(expected, rows)
    orphan_executions = executions_without_row(executions, rows)
    doubled = duplicates(executions)
    concurrent = overlaps(executions)
    gaps = failover_gaps(faults, executions)
    lost = wrong_status(executions, rows, faults)
    skipped = false_overlaps(rows, INSTANT_PREFIX)
    figures: Figures = {
        "occurrences": len(expected),
        "rows": len(rows),
        "executions": len(executions),
        "unrecorded": len(missing) + len(orphan_executions),
        "unrecorded_occurrences": len(missing),
        "executions_without_row": len(orphan_executions),
        "duplicates": len(doubled),
        "overlaps": len(concurrent),
        "overlap_max_s": round(max((a.until - b.start for a, b in concurrent), default=0.0), 2),
        "wrong_status": len(lost),
        "false_overlaps": len(skipped),
        "faults": len(faults),
        **spread(gaps, "failover"),
        "failover_gaps_s": [None if g is None else round(g, 2) for g in gaps],
        "outcomes": outcomes(rows),
    }
    samples = {
        "unrecorded_sample": missing[:SAMPLE] + orphan_executions[:SAMPLE],
        "duplicates_sample": doubled[:SAMPLE],
        "wrong_status_sample": lost[:SAMPLE],
        "false_overlaps_sample": skipped[:SAMPLE],
        "overlaps_sample": [
            f"{a.key} attempt {a.attempt} ({a.instance}, pid {a.pid}) until "
            f"{a.until - b.start:.1f} s after attempt {b.attempt} started ({b.instance})"
            for a, b in concurrent[:SAMPLE]
        ],
    }
    figures.update({k: v for k, v in samples.items() if v})
    return figures
