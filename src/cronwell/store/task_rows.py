"""A task as a row of ``cronwell_tasks`` and back: the columns read, the values written, and
the state (pause reason, failure streak) a change keeps or resets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, select, update

from cronwell.domain.declared import declared_digest
from cronwell.domain.task import DEFAULT_SOURCE, Task
from cronwell.store.tables import tasks
from cronwell.store.types import UTCDateTime
from cronwell.store.values import Row, dumps

TASK_BATCH = 2000  # rows fetched at a time when listing tasks

TASK_SELECT = select(
    tasks.c.definition,
    tasks.c.version,
    tasks.c.created_at,
    tasks.c.updated_at,
    tasks.c.paused_reason,
    tasks.c.consecutive_failures,
    tasks.c.source,
)


# The state of a task that was just created.
NEW_TASK_STATE: dict[str, Any] = {"paused_reason": None, "consecutive_failures": 0}


def new_task_row(task: Task, revision: int, now: Any, entry: str | None) -> tuple[Any, ...]:
    """A new task's values in the order of :data:`~cronwell.store.sql.NEW_TASK_COLUMNS`;
    ``now`` as the driver takes it. Its state is that of :data:`NEW_TASK_STATE`; ``entry``:
    the document entry declaring it."""
    definition = task.definition_json()
    return (
        task.id,
        task.name,
        task.enabled,
        definition,
        dumps(task.tags),
        1,
        revision,
        now,
        now,
        NEW_TASK_STATE["paused_reason"],
        NEW_TASK_STATE["consecutive_failures"],
        source_of(task),
        None if entry is None else declared_digest(entry, definition),
    )


APPLY_UPDATE = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        enabled=bindparam("b_enabled"),
        definition=bindparam("b_definition"),
        tags=bindparam("b_tags"),
        version=bindparam("b_version"),
        revision=bindparam("b_revision"),
        updated_at=bindparam("b_updated_at", type_=UTCDateTime()),
        paused_reason=bindparam("b_paused_reason", type_=Text()),
        consecutive_failures=bindparam("b_consecutive_failures"),
        source=bindparam("b_source"),
        declared=bindparam("b_declared"),
    )
)


SET_DECLARED = (
    update(tasks).where(tasks.c.id == bindparam("b_id")).values(declared=bindparam("b_declared"))
)


def update_params(
    task: Task,
    row: Row,
    revision: int,
    now: datetime,
    timing: bool,
    declared: Mapping[str, str],
) -> dict[str, Any]:
    """The parameters of :data:`APPLY_UPDATE` for ``task``, stored as ``row``, declared
    by the entry ``declared[task.id]`` if it has one."""
    values = task_values(
        task, version=row.version + 1, revision=revision, now=now if timing else row.updated_at
    )
    state = state_after(row, enabled=task.enabled)
    params = {f"b_{name}": value for name, value in {**values, **state}.items()}
    params["b_id"] = task.id
    params["b_source"] = source_of(task)
    entry = declared.get(task.id)
    params["b_declared"] = None if entry is None else declared_digest(entry, values["definition"])
    return params


def source_of(task: Task) -> str:
    """The source to store for a new task: its own, or the library's default."""
    return task.source or DEFAULT_SOURCE


def task_values(task: Task, *, version: int, revision: int, now: datetime) -> dict[str, Any]:
    return {
        "name": task.name,
        "enabled": task.enabled,
        "definition": task.definition_json(),
        "tags": dumps(task.tags),
        "version": version,
        "revision": revision,
        "updated_at": now,
    }


def state_after(row: Row, *, enabled: bool, resume: bool = False) -> dict[str, Any]:
    """The task state to store when a task whose row is ``row`` becomes ``enabled``:
    resuming a disabled task (or any task, with ``resume``) starts afresh, anything else
    keeps the stored state."""
    if enabled and (resume or not row.enabled):
        return dict(NEW_TASK_STATE)
    return {
        "paused_reason": row.paused_reason,
        "consecutive_failures": int(row.consecutive_failures),
    }


def build_task(
    definition: dict[str, Any],
    *,
    version: int,
    created_at: datetime,
    updated_at: datetime,
    paused_reason: str | None,
    consecutive_failures: int,
    source: str,
) -> Task:
    return Task.from_stored(
        definition,
        paused_reason=paused_reason,
        consecutive_failures=consecutive_failures,
        version=version,
        created_at=created_at,
        updated_at=updated_at,
        source=source,
    )


def task_from_row(row: Row, shared_lists: bool = False) -> Task:
    # the state in the order of Task's fields, so the task's dict needs no reordering
    return Task.from_stored_json(
        row.definition,
        shared_lists=shared_lists,
        paused_reason=row.paused_reason,
        consecutive_failures=row.consecutive_failures,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        source=row.source,
    )
