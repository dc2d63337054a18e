"""The APScheduler trigger of a task: the answer it keeps for APScheduler's second,
identical question must never be given to another question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from cronwell.domain.action import PythonAction
from cronwell.domain.schedule import every
from cronwell.domain.task import Task
from cronwell.engine.trigger import TaskTrigger

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _trigger(task_id: str, seconds: float) -> TaskTrigger:
    action = PythonAction(func="tests:noop")
    task = Task(id=task_id, schedule=every(seconds=seconds, anchor=T0), action=action)
    return TaskTrigger(task, T0)


def test_a_repeated_question_gets_the_same_answer_and_others_their_own() -> None:
    fast, slow = _trigger("fast", 1), _trigger("slow", 60)
    now = T0 + timedelta(hours=1)
    first = fast.get_next_fire_time(T0, now)
    assert first == T0 + timedelta(seconds=1)
    assert fast.get_next_fire_time(T0, now) is first  # the kept answer, not a new one
    assert slow.get_next_fire_time(T0, now) == T0 + timedelta(minutes=1)  # same time
    later = T0 + timedelta(seconds=1)
    assert slow.get_next_fire_time(later, now) == T0 + timedelta(minutes=1)
    assert fast.get_next_fire_time(later, now) == T0 + timedelta(seconds=2)  # same trigger


def test_the_same_instant_in_another_object_is_answered_afresh() -> None:
    fast = _trigger("fast", 1)
    now = T0 + timedelta(hours=1)
    first = fast.get_next_fire_time(T0, now)
    elsewhere = T0.astimezone(timezone(timedelta(hours=2)))  # equal, not the same object
    again = fast.get_next_fire_time(elsewhere, now)
    assert again == first and again is not first


def test_interval_lengths_are_kept_per_value() -> None:
    assert every(seconds=90).period == timedelta(seconds=90)
    assert every(minutes=1, seconds=30).period == timedelta(seconds=90)
    assert every(hours=1).model_copy(update={"hours": 2}).period == timedelta(hours=2)
