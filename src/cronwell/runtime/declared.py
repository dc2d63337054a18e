"""Tasks declared in code: the set an application declares is the truth for its source.

Two ways in, one mechanism (:meth:`cronwell.service.TaskService.apply` with prune):

* ``cw.sync(tasks, source=..., prune=True)`` makes the database hold exactly ``tasks`` for
  ``source`` in one transaction and returns the plan it applied.
* ``Cronwell(..., declared=True)`` gathers the tasks of ``@cw.task``, ``add_task``,
  ``add_tasks`` and the APScheduler-style calls made before ``start()`` (:class:`Declarations`)
  instead of storing them one by one, and ``start()`` syncs them with prune for the
  application's source: a task whose decorator or ``add_job`` line is gone is deleted there
  (its run history stays).

An item of ``tasks`` is a :class:`~cronwell.domain.task.Task` or a dict. A dict is a tasks
document's entry (the schedule shorthands ``cron``, ``every``, ``at``, ``daily``,
``weekly``, ``monthly``, or ``schedule``), with what :meth:`Cronwell.add_task` takes on
top: ``schedule`` as a crontab string or a schedule object, and the action as ``func`` (a
callable or ``"pkg.mod:func"``, with ``args`` and ``kwargs``), ``shell`` (a command) or
``http`` (a URL for a GET) instead of ``action``. A callable is registered in this process
for its task, as ``add_task`` registers it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cronwell.clock import Clock
from cronwell.dispatch import FunctionRegistry
from cronwell.domain.schedule import OnceSchedule
from cronwell.domain.task import STATE_FIELDS, SYSTEM_SOURCE, Task
from cronwell.errors import (
    ConfigError,
    ConflictError,
    InvalidInputError,
    SchedulerStateError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.runtime.functions import function_reference
from cronwell.service import TaskService
from cronwell.service.declared import Definition, DocumentError, Plan, Problem
from cronwell.service.declared.keys import check_entry

log = logging.getLogger(__name__)
_ACTION_KEYS = ("func", "shell", "http")
_MISSING: Any = object()
# a one-off declared "for now" is not in the past (as TaskService.save reads it)
_PAST_TOLERANCE = timedelta(seconds=1)
_ATTEMPTS = 5  # plans made against a database others change at the same moment


def check_app_source(source: str) -> str:
    """``source`` as the label of an application's tasks, or :class:`ConfigError`."""
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        raise ConfigError(
            f"An application's source is a label of 1 to 200 characters, not {source!r}."
        )
    if source == SYSTEM_SOURCE:
        raise ConfigError(
            f"The source {SYSTEM_SOURCE!r} is cronwell's own (the maintenance task); "
            "choose another one for the application."
        )
    return source


def sync_source(source: str | None, app_source: str, *, gathering: bool) -> str:
    """The source a ``cw.sync`` applies: ``source``, or the application's. While a
    ``declared=True`` application gathers, its own source belongs to ``start()``."""
    name = app_source if source is None else check_app_source(source)
    if gathering and name == app_source:
        raise SchedulerStateError(
            f"With declared=True, the tasks of source {name!r} are the ones declared before "
            "start(), which start() syncs: declare these with add_task or add_tasks, or "
            "sync them under another source."
        )
    return name


@dataclass(frozen=True, slots=True)
class _Declared:
    task: Task
    file: str | None
    line: int | None
    at: datetime  # when it was declared


class Declarations:
    """The tasks a ``declared=True`` application declared before ``start()``, by id, in
    the order first declared, each with the file and line of its declaration (so a problem
    found when they are synced points at the code). Safe across threads."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tasks: dict[str, _Declared] = {}
        self._lock = threading.Lock()

    def add(self, task: Task, *, replace_existing: bool) -> Task:
        """Gather ``task``. Declaring an id again with the same definition changes nothing;
        with another one it needs ``replace_existing`` (:class:`TaskExistsError`), as
        :meth:`~cronwell.service.TaskService.save` does."""
        self._gather([task], replace_existing=replace_existing)
        return task

    def add_all(self, tasks: list[Task]) -> int:
        """Gather new ``tasks`` (as :meth:`Cronwell.add_tasks`: an id declared already with
        another definition is :class:`TaskExistsError`, and then none is kept); how many."""
        self._gather(tasks, replace_existing=False)
        return len(tasks)

    def _gather(self, tasks: list[Task], *, replace_existing: bool) -> None:
        file, line = caller_location()
        now = self._clock.now()
        with self._lock:
            batch: dict[str, _Declared] = {}
            for task in tasks:
                known = batch.get(task.id) or self._tasks.get(task.id)
                conflict = known is not None and not known.task.same_definition(task)
                if conflict and not replace_existing:
                    raise TaskExistsError(task.id)
                batch[task.id] = _Declared(task, file, line, now)
            self._tasks.update(batch)

    def discard(self, task_id: str) -> bool:
        """Forget ``task_id``; whether it was declared."""
        with self._lock:
            return self._tasks.pop(task_id, None) is not None

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def definitions(self, find: Callable[[str], Task | None]) -> list[Definition]:
        """The gathered tasks as definitions, as :meth:`TaskService.apply` takes them.

        A new one-off whose time came between its declaration and now (``add_job(f,
        "date")``, "run now", declared at import and started later) runs now: stored
        with its time in the past, it would count as one that has fired. ``find`` looks
        a task up in the database."""
        now = self._clock.now()
        with self._lock:
            declared = list(self._tasks.values())
        definitions = []
        for index, item in enumerate(declared, 1):
            task, schedule = item.task, item.task.schedule
            if (
                isinstance(schedule, OnceSchedule)
                and item.at - _PAST_TOLERANCE <= schedule.at < now
                and find(task.id) is None
            ):
                task = task.model_copy(update={"schedule": schedule.model_copy(update={"at": now})})
            definitions.append(Definition(_task_data(task), item.file, item.line, index))
        return definitions


def sync_tasks(
    service: TaskService,
    registry: FunctionRegistry,
    items: Iterable[Task | Mapping[str, Any]] | Declarations,
    *,
    source: str,
    prune: bool = True,
) -> Plan:
    """Make the database hold exactly ``items`` for ``source`` (with ``prune``; without it,
    only add and update them) in one transaction, and return the plan applied. Nothing is
    stored when any item is invalid (:class:`DocumentError` listing every problem); the
    functions registered for them are then as they were. The functions of the tasks the
    plan deletes are unregistered."""
    functions: dict[str, tuple[Callable[..., Any], str]] = {}
    problems: list[Problem] = []
    if isinstance(items, Declarations):  # their functions are registered already
        definitions = items.definitions(service.find)
    else:
        definitions, problems, functions = _definitions(items)
    before = {
        task_id: (registry.get(task_id), registry.reference(task_id)) for task_id in functions
    }
    for task_id, (func, reference) in functions.items():
        registry.register(task_id, func, reference)  # before the checks: found, not imported
    try:
        if problems:  # with every problem of the definitions that could be read
            raise DocumentError(problems + service.validate(definitions))
        plan = _apply(service, definitions, source=source, prune=prune)
    except BaseException:
        for task_id, (previous, previous_reference) in before.items():
            if previous is None:
                registry.unregister(task_id)
            else:
                registry.register(task_id, previous, previous_reference)
        raise
    for task in plan.delete:
        registry.unregister(task.id)
    log.info(
        "declared tasks of source %s synced: %s",
        source,
        plan.summary(),
        extra={
            "action": "tasks_synced",
            "source": source,
            "tasks_created": len(plan.create),
            "tasks_updated": len(plan.update),
            "tasks_deleted": len(plan.delete),
            "tasks_unchanged": plan.unchanged,
        },
    )
    return plan


def _apply(
    service: TaskService, definitions: list[Definition], *, source: str, prune: bool
) -> Plan:
    """Apply, planning again when the tasks changed between the plan and its apply (the
    replicas of one application starting at once, each syncing the same tasks): the
    declared tasks are the truth, so the fresh plan is as right as the first."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return service.apply(definitions, source=source, prune=prune)
        except (ConflictError, TaskNotFoundError) as exc:
            if attempt == _ATTEMPTS:
                raise
            log.info(
                "tasks of source %s changed while syncing (%s); planning again",
                source,
                exc,
                extra={"action": "sync_replanned", "source": source, "attempt": attempt},
            )
    raise AssertionError("unreachable")


def _definitions(
    items: Iterable[Task | Mapping[str, Any]],
) -> tuple[list[Definition], list[Problem], dict[str, tuple[Callable[..., Any], str]]]:
    if isinstance(items, Task | Mapping | str | bytes):
        raise InvalidInputError(
            "sync takes a list of tasks (Task objects or dicts), not a single "
            f"{type(items).__name__}."
        )
    definitions: list[Definition] = []
    problems: list[Problem] = []
    functions: dict[str, tuple[Callable[..., Any], str]] = {}
    for index, item in enumerate(items, 1):
        definition = Definition({}, None, None, index)
        if isinstance(item, Task):
            definition.data = _task_data(item)
            definitions.append(definition)
            continue
        if not isinstance(item, Mapping):
            problems.append(
                definition.problem(
                    f"a task is a Task or a dict, not a {type(item).__name__}: {item!r:.80}"
                )
            )
            continue
        entry, found, func = _library_entry(dict(item))
        definition.data, key_problems = check_entry(entry)
        problems += [definition.problem(message, key) for key, message in found + key_problems]
        if found:  # no action to check further
            continue
        if func is not None and definition.id is not None:
            functions[definition.id] = func
        definitions.append(definition)
    return definitions, problems, functions


def _task_data(task: Task) -> dict[str, Any]:
    """The definition fields given to ``task`` (its state left out), as they are: a field
    left unset stays unset, so that an ``enabled`` not given keeps an operator's pause."""
    return {name: getattr(task, name) for name in task.model_fields_set if name not in STATE_FIELDS}


def _library_entry(
    entry: dict[str, Any],
) -> tuple[dict[str, Any], list[tuple[str | None, str]], tuple[Callable[..., Any], str] | None]:
    """A dict of :meth:`Cronwell.add_task`'s shape as a document's entry: the problems of
    its action keys, and the callable to register for it, with its reference."""
    problems: list[tuple[str | None, str]] = []
    func: tuple[Callable[..., Any], str] | None = None
    schedule = entry.get("schedule")
    if isinstance(schedule, str):
        entry["schedule"] = {"kind": "cron", "cron": schedule}
    given = [key for key in (*_ACTION_KEYS, "action") if key in entry]
    if len(given) > 1:
        problems.append((given[1], f"give one action, not {' and '.join(given)}."))
        for key in given:
            entry.pop(key)
        return entry, problems, None
    args, kwargs = entry.pop("args", _MISSING), entry.pop("kwargs", _MISSING)
    if (args is not _MISSING or kwargs is not _MISSING) and "func" not in entry:
        problems.append(("args", "args and kwargs go with func=."))
    if "func" in entry:
        target = entry.pop("func")
        if callable(target):
            reference = function_reference(target)
            func = (target, reference)
        elif isinstance(target, str):
            reference = target
        else:
            problems.append(("func", f"func is a callable or 'pkg.mod:func', not {target!r}."))
            return entry, problems, None
        entry["action"] = {
            "kind": "python",
            "func": reference,
            "args": [] if args is _MISSING else list(args),
            "kwargs": {} if kwargs is _MISSING else dict(kwargs),
        }
    elif "shell" in entry:
        entry["action"] = {"kind": "shell", "command": entry.pop("shell")}
    elif "http" in entry:
        entry["action"] = {"kind": "http", "url": entry.pop("http")}
    return entry, problems, func


def caller_location() -> tuple[str | None, int | None]:
    """The file and line of the application code that called into cronwell (the
    ``@cw.task`` or ``add_job`` line), relative to the working directory when under it."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "cronwell" and not module.startswith("cronwell."):
            file = frame.f_code.co_filename
            try:
                relative = os.path.relpath(file)
            except ValueError:  # another drive
                relative = file
            return (file if relative.startswith("..") else relative), frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None, None
