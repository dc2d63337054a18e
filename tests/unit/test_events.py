"""The event bus: subscribers hear the events of the type they asked for, in order; a
handler that raises is logged and the others still hear; a batch of rows reaches each
subscriber whole or row by row, as it asked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from cronwell.domain.action import PythonAction
from cronwell.domain.events import (
    EventBus,
    LeadershipChanged,
    RunFinished,
    RunsRecorded,
    RunStarted,
    TaskChanged,
)
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.schedule import cron
from cronwell.domain.task import Task
from cronwell.errors import InvalidInputError
from cronwell.runtime.events import EventsMixin

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TASK = Task(id="t", schedule=cron("0 8 * * *"), action=PythonAction(func="os:sep"))


def _run(run_id: int, status: RunStatus, task_id: str = "t") -> Run:
    return Run(id=run_id, task_id=task_id, scheduled_for=NOW, status=status, finished_at=NOW)


def _failing(_event: object) -> None:
    raise RuntimeError("handler bug")


def test_a_handler_hears_only_the_events_of_its_type_in_order() -> None:
    bus = EventBus()
    started: list[RunStarted] = []
    changed: list[TaskChanged] = []
    bus.subscribe(RunStarted, started.append)
    bus.subscribe(TaskChanged, changed.append)
    first, second = RunStarted(1, TASK, NOW), RunStarted(2, TASK, NOW)
    bus.publish(first)
    bus.publish(LeadershipChanged("i-1", leading=True))  # nobody's: told to no one
    bus.publish(second)
    assert started == [first, second]
    assert changed == []
    assert bus.wants(RunStarted)
    assert not bus.wants(LeadershipChanged)


def test_a_handler_that_raises_is_logged_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    before: list[RunFinished] = []
    after: list[RunFinished] = []
    bus.subscribe(RunFinished, before.append)
    bus.subscribe(RunFinished, _failing)
    bus.subscribe(RunFinished, after.append)
    events = [RunFinished(_run(1, RunStatus.SUCCEEDED)), RunFinished(_run(2, RunStatus.FAILED))]
    with caplog.at_level(logging.ERROR, logger="cronwell.domain.events"):
        bus.publish_all(RunFinished, events)
    assert before == events
    assert after == events
    failures = [r for r in caplog.records if getattr(r, "action", None) == "listener_failed"]
    assert [getattr(r, "task_id", None) for r in failures] == ["t", "t"]


def test_an_unsubscribed_handler_hears_nothing_more() -> None:
    bus = EventBus()
    heard: list[LeadershipChanged] = []
    kept: list[LeadershipChanged] = []
    subscription = bus.subscribe(LeadershipChanged, heard.append)
    bus.subscribe(LeadershipChanged, kept.append)
    bus.publish(LeadershipChanged("i-1", leading=True))
    subscription.unsubscribe()
    subscription.unsubscribe()  # a second time is no error
    bus.publish(LeadershipChanged("i-1", leading=False))
    assert [e.leading for e in heard] == [True]
    assert [e.leading for e in kept] == [True, False]


def test_statuses_keep_the_runs_that_end_in_one_of_them() -> None:
    bus = EventBus()
    failed: list[RunFinished] = []
    bus.subscribe(RunFinished, failed.append, statuses=["failed", RunStatus.TIMED_OUT])
    bus.publish_all(
        RunFinished,
        [
            RunFinished(_run(1, RunStatus.SUCCEEDED)),
            RunFinished(_run(2, RunStatus.FAILED)),
            RunFinished(_run(3, RunStatus.TIMED_OUT)),
        ],
    )
    assert [e.run.id for e in failed] == [2, 3]


@pytest.mark.parametrize("statuses", [["running"], ["nonsense"], []])
def test_statuses_a_run_cannot_end_in_are_refused(statuses: list[str]) -> None:
    with pytest.raises(InvalidInputError, match="once they end"):
        EventBus().subscribe(RunFinished, lambda _: None, statuses=statuses)


def test_statuses_and_batches_are_for_run_finished_only() -> None:
    with pytest.raises(InvalidInputError, match="RunFinished"):
        EventBus().subscribe(RunStarted, lambda _: None, statuses=["failed"])


def _recorded() -> RunsRecorded:
    """Three missed rows and one skipped, over two templates."""
    templates = [_run(0, RunStatus.MISSED), _run(0, RunStatus.SKIPPED)]
    rows = [(11, "a", 0), (12, "b", 0), (13, "c", 0), (14, "a", 1)]
    return RunsRecorded(templates, rows, {"a": TASK.model_copy(update={"id": "a"})})


def test_a_batch_goes_whole_to_who_takes_it_and_row_by_row_to_the_rest() -> None:
    bus = EventBus()
    batches: list[RunsRecorded] = []
    whole: list[RunsRecorded] = []
    per_row: list[RunFinished] = []
    by_batch: list[RunFinished] = []
    bus.subscribe(RunsRecorded, whole.append)
    bus.subscribe(RunFinished, by_batch.append, batch=batches.append)
    bus.subscribe(RunFinished, per_row.append)
    recorded = _recorded()
    bus.publish(recorded)
    assert whole == [recorded]
    assert batches == [recorded]
    assert by_batch == []
    assert [(e.run.id, e.run.task_id, e.run.status) for e in per_row] == [
        (11, "a", RunStatus.MISSED),
        (12, "b", RunStatus.MISSED),
        (13, "c", RunStatus.MISSED),
        (14, "a", RunStatus.SKIPPED),
    ]
    assert per_row[0].task is recorded.tasks["a"]
    assert per_row[1].task is None  # not at hand


def test_rows_are_made_once_for_all_and_only_for_the_statuses_asked_for() -> None:
    bus = EventBus()
    skipped: list[RunFinished] = []
    every: list[RunFinished] = []
    bus.subscribe(RunFinished, skipped.append, statuses=["skipped"])
    bus.subscribe(RunFinished, _failing)  # raises at each row: the others still hear
    bus.subscribe(RunFinished, every.append)
    bus.publish(_recorded())
    assert [e.run.id for e in skipped] == [14]
    assert [e.run.id for e in every] == [11, 12, 13, 14]
    assert skipped[0] is every[3]  # one event for the row, shared


def test_a_batch_nobody_wants_row_by_row_makes_no_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[int, str, int]] = []
    finished = RunsRecorded.finished

    def counting(self: RunsRecorded, row: tuple[int, str, int]) -> RunFinished:
        made.append(row)
        return finished(self, row)

    monkeypatch.setattr(RunsRecorded, "finished", counting)
    bus = EventBus()
    skipped: list[RunFinished] = []
    bus.subscribe(RunFinished, skipped.append, statuses=["skipped"])
    bus.publish(_recorded())
    assert made == [(14, "a", 1)]  # the one skipped row; none for the missed ones
    made.clear()
    bus.publish(RunsRecorded([_run(0, RunStatus.MISSED)], [(1, "a", 0), (2, "b", 0)], {}))
    assert made == []
    assert [e.run.id for e in skipped] == [14]


def test_on_run_hears_a_batch_as_runs_of_the_statuses_it_asked_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``Cronwell.on_run`` takes a batch's rows as runs, one per wanted row, with no event
    object per row; a listener that raises at one row still hears the next."""

    class Host(EventsMixin):
        def __init__(self) -> None:
            self.events = EventBus()

    host = Host()
    missed: list[Run] = []
    skipped: list[Run] = []

    def picky(run: Run) -> None:
        if run.id == 11:
            raise RuntimeError("listener bug")
        missed.append(run)

    host.on_run(picky, statuses=["missed"])
    subscription = host.on_run(skipped.append, statuses=[RunStatus.SKIPPED])
    with caplog.at_level(logging.ERROR):
        host.events.publish(_recorded())
    assert [(r.id, r.task_id) for r in missed] == [(12, "b"), (13, "c")]
    assert [(r.id, r.status) for r in skipped] == [(14, RunStatus.SKIPPED)]
    assert [getattr(r, "task_id", None) for r in caplog.records] == ["a"]
    subscription.unsubscribe()
    host.events.publish_all(RunFinished, [RunFinished(_run(15, RunStatus.SKIPPED))])
    assert len(skipped) == 1
