"""What becomes of the occurrences that fell due while the database could not be reached
(issue 18, defect 3): pure planning, frozen times."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from cronwell import PythonAction, Task, every
from cronwell.clock import FrozenClock
from cronwell.dispatch import Fire
from cronwell.dispatch.outage import Outage, plan_held
from cronwell.domain.policies import plan_outage
from cronwell.domain.run import RunReason
from cronwell.errors import DatabaseUnavailableError

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _at(*seconds: float) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def test_a_lone_occurrence_within_its_grace_is_only_late() -> None:
    plan = plan_outage(_at(0), "none", T0 + timedelta(seconds=5), misfire_grace=60)
    assert plan.late == T0 and not plan.run and not plan.missed


def test_a_lone_occurrence_past_its_grace_is_missed_and_follows_catch_up() -> None:
    now = T0 + timedelta(seconds=90)
    assert plan_outage(_at(0), "none", now, 60).missed == _at(0)
    assert plan_outage(_at(0), "latest", now, 60).run == _at(0)


@pytest.mark.parametrize(
    ("policy", "run", "missed"),
    [("all", _at(0, 1, 2), []), ("latest", _at(2), _at(0, 1)), ("none", [], _at(0, 1, 2))],
)
def test_several_occurrences_follow_the_catch_up_policy_even_within_their_grace(
    policy: str, run: list[datetime], missed: list[datetime]
) -> None:
    plan = plan_outage(_at(2, 0, 1), policy, T0 + timedelta(seconds=3), 60)  # type: ignore[arg-type]
    assert plan.late is None and plan.run == run and plan.missed == missed


def _task(task_id: str, catchup: str) -> Task:
    return Task(
        id=task_id,
        schedule=every(seconds=1),
        action=PythonAction(func="os:getpid"),
        catchup=catchup,  # type: ignore[arg-type]
    )


def test_held_fires_are_planned_per_task_and_asked_for_runs_still_run() -> None:
    every_one, none = _task("a", "all"), _task("n", "none")
    held = [Fire(every_one, t) for t in _at(0, 1)] + [Fire(none, t) for t in _at(0, 1)]
    held += [Fire(none, T0, reason=RunReason.MANUAL), Fire(none, T0, attempt=2)]
    held.append(Fire(every_one, T0))  # the same occurrence twice counts once
    decide, missed = plan_held(held, T0 + timedelta(seconds=2))
    assert sorted((f.task.id, f.scheduled_for, f.reason) for f in decide) == [
        ("a", T0, RunReason.CATCHUP),
        ("a", T0 + timedelta(seconds=1), RunReason.CATCHUP),
        ("n", T0, RunReason.MANUAL),
        ("n", T0, RunReason.SCHEDULE),  # a retry (attempt 2) is not an occurrence
    ]
    assert [(f.task.id, f.scheduled_for) for f in missed] == [("n", t) for t in _at(0, 1)]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.actions.append(getattr(record, "action", ""))


def test_an_outage_is_logged_at_its_start_now_and_then_and_at_its_end() -> None:
    records = _Records()
    logger = logging.getLogger("cronwell.dispatch.outage")
    logger.addHandler(records)
    try:
        outage = Outage(FrozenClock(T0), summary_every=0)
        down = DatabaseUnavailableError("Cannot reach the database sqlite:///x.db: gone")
        assert not outage.report(ValueError("a bug, not an outage"))
        assert outage.report(down) and outage.active and outage.since == T0
        assert outage.report(down)
        outage.held = 3
        outage.recovered()  # not by others while the writer holds occurrences
        assert outage.active
        outage.recovered(missed=2, caught_up=1, writer=True)
        assert not outage.active
        outage.recovered(writer=True)  # over: nothing more is said
    finally:
        logger.removeHandler(records)
    assert records.actions == [
        "database_unavailable",
        "database_still_unavailable",
        "database_available",
    ]


def test_the_tracker_remembers_each_outage_from_the_last_answer_before_it() -> None:
    clock = FrozenClock(T0)
    outage = Outage(clock)
    outage.recovered()  # a poll that found the database answering
    clock.advance(timedelta(seconds=1))
    outage.report(DatabaseUnavailableError("down"))
    assert outage.spans() == [(T0, None)]
    clock.advance(timedelta(seconds=30))
    outage.recovered()
    assert outage.spans() == [(T0, T0 + timedelta(seconds=31))]
    clock.advance(timedelta(seconds=5))
    outage.recovered()  # answering still: nothing new
    assert len(outage.spans()) == 1
