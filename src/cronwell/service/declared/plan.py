"""Plans: what applying declared tasks would change in the database, field by field.

A plan compares each declared task with the stored one of the same id: ``create`` what is
not stored, ``update`` what differs (``changes`` maps each field to ``(old, new)``, secrets
masked), count the rest ``unchanged``, and, with prune, ``delete`` the stored tasks of the
applied sources that are no longer declared. cronwell's own tasks (source ``cronwell``)
are never deleted or taken over.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from cronwell.domain.masking import MASK
from cronwell.domain.secrets import restore_secrets
from cronwell.domain.task import DEFAULT_SOURCE, SYSTEM_SOURCE, Task
from cronwell.errors import InvalidInputError
from cronwell.notify.redact import redacted_task
from cronwell.service.declared.documents import Definition, Problem
from cronwell.service.declared.dump import comparable, export_definition

NEXT_FIRES = 3  # fire times shown for a created or rescheduled task
# fields whose change moves a task's fire times
_TIMING = ("schedule", "timezone", "start_date", "end_date", "enabled")


@dataclass(frozen=True, slots=True)
class Change:
    """A stored task the plan changes: ``changes`` maps each changed field (and
    ``source``, when the task changes hands) to ``(old, new)``, secrets masked. ``task``
    is the new task, holding the version it replaces; ``timing`` is False when only its
    name, description, tags or source change (its catch-up anchor then stays)."""

    id: str
    changes: dict[str, tuple[Any, Any]]
    task: Task | None = None
    timing: bool = True

    @property
    def reschedules(self) -> bool:
        return any(name in self.changes for name in _TIMING)


@dataclass(slots=True)
class Plan:
    """What an apply changes: tasks to ``create``, ``update`` and ``delete``, and how many
    declared tasks are already as declared. ``now`` is when it was made (fire times).
    ``declared`` maps the ids of declared tasks to their entries, for the apply to record
    their digests (:mod:`cronwell.domain.declared`): no change of a task, only a note
    that lets the next plan skip it."""

    create: list[Task] = field(default_factory=list)
    update: list[Change] = field(default_factory=list)
    delete: list[Task] = field(default_factory=list)
    unchanged: int = 0
    now: datetime | None = None
    declared: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def has_changes(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def next_fires(self, task: Task, n: int = NEXT_FIRES) -> list[datetime]:
        """``task``'s next ``n`` fire times after the plan's making, in its zone."""
        if self.now is None or not task.enabled:
            return []
        return [t.astimezone(task.tz) for t in islice(task.iter_fires_after(self.now), n)]

    def summary(self) -> str:
        if not self.has_changes:
            return f"No changes: {self.unchanged} task(s) as declared."
        return (
            f"{len(self.create)} to create, {len(self.update)} to update, "
            f"{len(self.delete)} to delete, {self.unchanged} unchanged."
        )

    def as_json(self) -> dict[str, Any]:
        """``{"create": [...], "update": [{"id", "changes": {field: [old, new]}}],
        "delete": [...], "unchanged": N}``; each created task with its ``source``,
        ``definition`` and ``next`` fire times, each deleted one with its ``source``."""
        return {
            "create": [
                {
                    "id": task.id,
                    "source": task.source,
                    "definition": export_definition(redacted_task(task)),
                    "next": _iso(self.next_fires(task)),
                }
                for task in self.create
            ],
            "update": [
                {
                    "id": change.id,
                    "changes": {k: [old, new] for k, (old, new) in change.changes.items()},
                    **(
                        {"next": _iso(self.next_fires(change.task))}
                        if change.task is not None and change.reschedules
                        else {}
                    ),
                }
                for change in self.update
            ],
            "delete": [{"id": task.id, "source": task.source} for task in self.delete],
            "unchanged": self.unchanged,
        }


def _iso(times: list[datetime]) -> list[str]:
    return [t.isoformat() for t in times]


def make_plan(
    built: Sequence[tuple[Definition, Task]],
    stored: Sequence[Task],
    *,
    source: str | None,
    scope: Collection[str],
    prune: bool,
    complete: Callable[[Task, Task | None], Task],
    now: datetime,
) -> tuple[Plan, list[Problem]]:
    """The plan that makes the database hold ``built``'s tasks, given the ``stored`` tasks
    with their ids (and, with ``prune``, every stored task of the ``scope`` sources).
    Each declared task is labelled ``source``, or its document's source. ``complete``
    gives an interval its anchor (the stored one when the period is the same)."""
    by_id = {task.id: task for task in stored}
    plan = Plan(now=now)
    problems: list[Problem] = []
    declared: set[str] = set()
    for definition, given in built:
        task = given
        declared.add(task.id)
        existing = by_id.get(task.id)
        label = source or definition.source or DEFAULT_SOURCE
        if task is existing and existing.source == label:  # exactly as stored
            plan.unchanged += 1
            continue
        if existing is not None and existing.source == SYSTEM_SOURCE:
            problems.append(
                definition.problem(
                    f"the id {task.id!r} is cronwell's own task (source {SYSTEM_SOURCE!r}); "
                    "choose another id.",
                    "id",
                )
            )
            continue
        if existing is not None and "enabled" not in task.model_fields_set:
            # a definition that does not say resumes no task an operator paused
            task = task.model_copy(update={"enabled": existing.enabled})
        try:
            task = restore_secrets(task, existing)
        except InvalidInputError as exc:
            problems.append(definition.problem(_without_task(str(exc), task.id), "action"))
            continue
        task = complete(task, existing).model_copy(update={"source": label})
        if existing is None:
            plan.create.append(task)
            continue
        change = _change(existing, task)
        if change is None:
            plan.unchanged += 1
        else:
            plan.update.append(change)
    if prune:
        plan.delete = [
            task
            for task in stored
            if task.source in scope and task.id not in declared and task.source != SYSTEM_SOURCE
        ]
    return plan, problems


def _change(existing: Task, task: Task) -> Change | None:
    old, new = comparable(existing), comparable(task)
    names = [name for name in new if old.get(name) != new.get(name)]
    if not names and existing.source == task.source:
        return None
    shown_old, shown_new = comparable(redacted_task(existing)), comparable(redacted_task(task))
    changes: dict[str, tuple[Any, Any]] = {}
    for name in names:
        before, after = shown_old.get(name), shown_new.get(name)
        if before == after:  # only a masked secret differs
            after = f"{MASK} (changed)"
        changes[name] = (before, after)
    if existing.source != task.source:
        changes["source"] = (existing.source, task.source)
    return Change(
        id=task.id,
        changes=changes,
        task=task.model_copy(update={"version": existing.version}),
        timing=not task.same_timing(existing),
    )


def _without_task(message: str, task_id: str) -> str:
    return message.removeprefix(f"Task {task_id!r}: ")
