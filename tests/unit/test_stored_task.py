"""A task read back from the store without validation equals the validated one, and
similar tasks share their schedule and action."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from cronwell import PythonAction, Task, cron
from cronwell.domain import task as task_module
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
    assert json.loads(rich.definition_json()) == rich.definition()  # the text the store keeps
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


def test_text_in_another_layout_is_read_in_full() -> None:
    """Stored text whose id and name do not come first (an older or hand-made layout) is
    parsed whole, with the same result."""
    task = Task(id="x", name="X", schedule=cron("0 8 * * *"), action=PythonAction(func="os:sep"))
    definition = task.definition()
    reordered = {"name": definition.pop("name"), **definition}  # name after description
    state = {"version": 1, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}
    state |= {"updated_at": state["created_at"], "paused_reason": None}
    state |= {"consecutive_failures": 0}
    compact = {"separators": (",", ":")}  # as the store writes
    for text in (json.dumps(reordered, **compact), json.dumps(task.definition(), **compact)):
        read = Task.from_stored_json(text, **state)
        assert read == Task.from_stored(task.definition(), **state)
    # only the second was cut after its name, and what follows prepared once
    assert not any('"name":"X"' in tail for tail in task_module._TAILS)
    assert text.partition('"name":"X"')[2] in task_module._TAILS


def test_non_finite_durations_and_arguments_survive_the_stored_text() -> None:
    task = Task(
        id="forever",
        schedule=cron("0 8 * * *"),
        action=PythonAction(func="os:sep", args=[float("inf")]),
        misfire_grace=float("inf"),  # never missed
    )
    text = task.definition_json()
    assert json.loads(text) == json.loads(json.dumps(task.definition()))  # Infinity, not null
    state = {"paused_reason": None, "consecutive_failures": 0, "version": 1}
    state |= {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "updated_at": None}
    read = Task.from_stored_json(text, **state)
    assert read.misfire_grace == float("inf") and read.action.args == [float("inf")]


def test_shared_lists_are_one_read_only_list_per_value() -> None:
    """The engine's copies of a fleet share equal lists; a change to one is refused rather
    than seen by every task. Tasks read for a caller keep lists of their own."""
    state = {"paused_reason": None, "consecutive_failures": 0, "version": 1}
    state |= {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "updated_at": None}
    texts = [
        Task(
            id=f"fleet-{i}",
            schedule=cron("0 8 * * *"),
            action=PythonAction(func="os:sep"),
            tags=["team-a", "nightly"],
            alerts=["ops"],
        ).definition_json()
        for i in range(2)
    ]
    first, second = (Task.from_stored_json(t, shared_lists=True, **state) for t in texts)
    assert first.tags is second.tags and first.alerts is second.alerts
    assert first.tags == ["nightly", "team-a"] and first.retry_on is second.retry_on
    for change in (
        lambda: first.tags.append("x"),
        lambda: first.tags.__setitem__(0, "x"),
        lambda: first.tags.sort(),
        lambda: first.alerts.clear(),
    ):
        with pytest.raises(TypeError, match="shared by many tasks"):
            change()
    assert second.tags == ["nightly", "team-a"] and len(second.alerts) == 1
    # serialised, copied and pickled as a list
    assert first.model_dump(mode="json")["tags"] == ["nightly", "team-a"]
    assert json.loads(first.definition_json())["tags"] == ["nightly", "team-a"]
    assert type(first.model_dump()["tags"]) is list
    copied = first.model_copy(deep=True)
    assert copied == first and pickle.loads(pickle.dumps(first)) == first
    assert first == Task.from_stored_json(texts[0], **state)

    own, other = (Task.from_stored_json(t, **state) for t in texts)
    own.tags.append("mine")
    assert type(own.tags) is list and other.tags == ["nightly", "team-a"]
    assert first.tags == ["nightly", "team-a"]  # the shared list is not the one changed
