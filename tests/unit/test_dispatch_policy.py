"""The overlap decision as a table: a fire, the slots in flight and a frozen time in, a plan
out. No threads, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cronwell.clock import FrozenClock
from cronwell.dispatch.fire import Fire, Started
from cronwell.dispatch.policy import Plan, decide
from cronwell.dispatch.slots import Slots
from cronwell.domain.run import RunReason, RunStatus
from cronwell.domain.task import Task

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
GRACE = 30.0

RUN = Plan(RunStatus.RUNNING, RunReason.SCHEDULE)
REPLACE = Plan(RunStatus.RUNNING, RunReason.SCHEDULE, replaces=True)
QUEUE = Plan(RunStatus.PENDING, RunReason.QUEUED)
SKIP_OVERLAP = Plan(RunStatus.SKIPPED, RunReason.OVERLAP)
SKIP_MAX = Plan(RunStatus.SKIPPED, RunReason.MAX_INSTANCES)
MISSED = Plan(RunStatus.MISSED, RunReason.LATE)


def _task(overlap: str = "skip", max_instances: int = 1, task_id: str = "t") -> Task:
    return Task.parse(
        {
            "id": task_id,
            "schedule": {"kind": "cron", "cron": "* * * * *"},
            "action": {"kind": "shell", "command": "true"},
            "overlap": overlap,
            "max_instances": max_instances,
            "misfire_grace": GRACE,
        }
    )


def _slots(task: Task, running: int, queued: bool = False) -> Slots:
    slots = Slots()
    for run_id in range(1, running + 1):
        slots.running[task.id] += 1
        slots.inflight[run_id] = Started(Fire(task, T0 - timedelta(minutes=1)), T0)
    if queued:
        slots.queued[task.id] = (Fire(task, T0 - timedelta(seconds=30)), 99)
    return slots


# (overlap, max_instances, runs in flight, queue place taken, expected plan)
TABLE = [
    # slots free: every mode runs the occurrence
    ("allow", 1, 0, False, RUN),
    ("skip", 1, 0, False, RUN),
    ("queue_one", 1, 0, False, RUN),
    ("replace", 1, 0, False, RUN),
    ("allow", 2, 1, False, RUN),
    ("skip", 2, 1, False, RUN),
    ("queue_one", 2, 1, False, RUN),
    ("replace", 2, 1, False, RUN),
    # slots full, one instance allowed
    ("allow", 1, 1, False, SKIP_MAX),
    ("skip", 1, 1, False, SKIP_OVERLAP),
    ("queue_one", 1, 1, False, QUEUE),
    ("queue_one", 1, 1, True, SKIP_OVERLAP),
    ("replace", 1, 1, False, REPLACE),
    # slots full, several instances allowed: the skip says max_instances
    ("allow", 2, 2, False, SKIP_MAX),
    ("skip", 2, 2, False, SKIP_MAX),
    ("queue_one", 2, 2, False, QUEUE),
    ("queue_one", 2, 2, True, SKIP_MAX),
    ("replace", 2, 2, False, REPLACE),
    # more in flight than allowed (max_instances lowered while they ran): still full
    ("skip", 1, 3, False, SKIP_OVERLAP),
    ("queue_one", 2, 3, False, QUEUE),
]


@pytest.mark.parametrize(("overlap", "max_instances", "running", "queued", "expected"), TABLE)
def test_an_on_time_occurrence_follows_the_overlap_policy(
    overlap: str, max_instances: int, running: int, queued: bool, expected: Plan
) -> None:
    clock = FrozenClock(T0)
    task = _task(overlap, max_instances)
    slots = _slots(task, running, queued)
    clock.advance(timedelta(seconds=1))
    assert decide(Fire(task, T0), slots, clock.now()) == expected


@pytest.mark.parametrize("overlap", ["allow", "skip", "queue_one", "replace"])
@pytest.mark.parametrize("reason", [RunReason.MANUAL, RunReason.CATCHUP, RunReason.RETRY])
def test_fires_that_are_not_scheduled_occurrences_run_beside_full_slots(
    overlap: str, reason: str
) -> None:
    """A manual run, a catch-up run or a retry is not an occurrence competing for a slot."""
    task = _task(overlap)
    slots = _slots(task, running=1, queued=True)
    plan = decide(Fire(task, T0, reason=reason), slots, T0 + timedelta(seconds=1))
    assert plan == Plan(RunStatus.RUNNING, reason)


@pytest.mark.parametrize(
    ("late_by", "expected"),
    [
        (timedelta(0), RUN),
        (timedelta(seconds=GRACE) - timedelta(microseconds=1), RUN),
        (timedelta(seconds=GRACE), RUN),  # exactly at the grace: still on time
        (timedelta(seconds=GRACE) + timedelta(microseconds=1), MISSED),  # just past it
        (timedelta(hours=1), MISSED),
    ],
)
def test_misfire_grace_edge(late_by: timedelta, expected: Plan) -> None:
    clock = FrozenClock(T0)
    clock.advance(late_by)
    task = _task()
    assert decide(Fire(task, T0), Slots(), clock.now()) == expected


@pytest.mark.parametrize("overlap", ["allow", "skip", "queue_one", "replace"])
def test_a_late_occurrence_is_missed_before_the_slots_are_looked_at(overlap: str) -> None:
    task = _task(overlap)
    now = T0 + timedelta(seconds=GRACE + 1)
    assert decide(Fire(task, T0), _slots(task, running=0), now) == MISSED
    assert decide(Fire(task, T0), _slots(task, running=1), now) == MISSED


@pytest.mark.parametrize("reason", [RunReason.MANUAL, RunReason.CATCHUP, RunReason.RETRY])
def test_only_scheduled_occurrences_can_be_missed(reason: str) -> None:
    task = _task()
    now = T0 + timedelta(hours=2)
    assert decide(Fire(task, T0, reason=reason), Slots(), now).status is RunStatus.RUNNING


def test_an_infinite_grace_never_misses() -> None:
    task = _task().model_copy(update={"misfire_grace": float("inf")})
    now = T0 + timedelta(days=365)
    assert decide(Fire(task, T0), Slots(), now) == RUN


def test_slots_are_counted_per_task() -> None:
    busy, idle = _task(task_id="busy"), _task(task_id="idle")
    slots = _slots(busy, running=1)
    now = T0 + timedelta(seconds=1)
    assert decide(Fire(busy, T0), slots, now) == SKIP_OVERLAP
    assert decide(Fire(idle, T0), slots, now) == RUN


@pytest.mark.parametrize(("overlap", "max_instances", "running", "queued", "expected"), TABLE)
def test_deciding_changes_nothing(
    overlap: str, max_instances: int, running: int, queued: bool, expected: Plan
) -> None:
    """The dispatcher applies a plan itself: deciding twice gives the same plan, and the
    slots are as they were (no count taken, no queue place reserved)."""
    task = _task(overlap, max_instances)
    slots = _slots(task, running, queued)
    before = (dict(slots.running), dict(slots.queued), dict(slots.inflight))
    now = T0 + timedelta(seconds=1)
    first = decide(Fire(task, T0), slots, now)
    assert decide(Fire(task, T0), slots, now) == first == expected
    assert (dict(slots.running), dict(slots.queued), dict(slots.inflight)) == before
