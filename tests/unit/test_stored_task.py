"""A task read back from the store without validation equals the validated one, and
similar tasks share their schedule and action."""

from __future__ import annotations

from datetime import UTC, datetime

from cronwell import PythonAction, Task, cron
from cronwell.domain.schedule import every


def stored(task: Task) -> Task:
    state = {
        "version": 3,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "updated_at": datetime(2026, 2, 1, tzinfo=UTC),
        "paused_reason": "paused after 3 failures",
        "consecutive_failures": 3,
    }
    return Task.from_stored(task.definition(), **state)


def test_read_back_equals_validated() -> None:
    rich = Task(
        id="rich",
        name="A rich task",
        schedule=every(minutes=5, anchor=datetime(2026, 1, 1, tzinfo=UTC)),
        action=PythonAction(func="os:getcwd", args=[1, "two"], kwargs={"k": [3]}),
        timezone="Europe/Paris",
        tags=["b", "a"],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        end_date=datetime(2027, 1, 1, tzinfo=UTC),
        timeout="10m",
        retries=2,
        retry_on=["ValueError"],
        overlap="queue_one",
        catchup="all",
        catchup_window="1h",
        max_consecutive_failures=3,
        alerts=["ops", {"to": "json://host/x", "events": ["failed", "succeeded"]}],
    )
    read = stored(rich)
    expected = Task.model_validate(
        {**rich.definition(), **{k: getattr(read, k) for k in ("version", "created_at")}}
        | {
            "updated_at": read.updated_at,
            "paused_reason": read.paused_reason,
            "consecutive_failures": 3,
        }
    )
    assert read == expected
    assert read.model_dump(mode="json") == expected.model_dump(mode="json")
    assert read.next_fire_after(datetime(2026, 3, 1, tzinfo=UTC)) == expected.next_fire_after(
        datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert read.model_copy(update={"enabled": False}).enabled is False


def test_similar_tasks_share_schedule_and_action() -> None:
    first = stored(Task(id="a", schedule=cron("0 8 * * *"), action=PythonAction(func="os:sep")))
    second = stored(Task(id="b", schedule=cron("0 8 * * *"), action=PythonAction(func="os:sep")))
    assert first.schedule is second.schedule and first.action is second.action
