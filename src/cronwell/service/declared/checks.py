"""Whether definitions make valid tasks: everything a task creation checks (fields, cron,
zone, the function importable), and ids unique across the documents. No database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from cronwell.domain.action import PythonAction
from cronwell.domain.task import Task
from cronwell.errors import (
    CronwellError,
    ForbiddenError,
    FunctionNotFoundError,
    InvalidCronExpressionError,
    UnknownTimezoneError,
)
from cronwell.runners import resolve_function
from cronwell.service.declared.documents import Definition, Problem

# a minimal valid task, for finding which field of an invalid one is wrong
_PROBE: dict[str, Any] = {
    "id": "probe",
    "schedule": {"kind": "cron", "cron": "* * * * *"},
    "action": {"kind": "shell", "command": "true"},
    "timezone": "UTC",
    "catchup": "all",  # so that a catchup_window alone is valid
}


def check_definitions(
    definitions: Sequence[Definition],
    *,
    default_timezone: str,
    is_registered: Callable[[str], bool] = lambda _task_id: False,
    authorize: Callable[[Task], object] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[tuple[Definition, Task]], list[Problem]]:
    """The task each valid definition makes, and every problem of the others: duplicate
    ids (naming both places), invalid fields (one problem per field where the field can be
    told), a Python function that cannot be imported. ``authorize`` (the API's allow-list)
    is called on each task before its function is imported, and its
    :class:`~cronwell.errors.ForbiddenError` is raised at once. ``progress`` is called with
    the number of definitions checked so far, now and then."""
    built: list[tuple[Definition, Task]] = []
    problems: list[Problem] = []
    first: dict[str, Definition] = {}
    imported: dict[str, str | None] = {}  # function reference -> why it cannot be imported
    for count, definition in enumerate(definitions, 1):
        if progress is not None and count % 500 == 0:
            progress(count)
        task_id = definition.id
        if task_id is not None:
            if task_id in first:
                problems.append(
                    definition.problem(
                        f"duplicate id {task_id!r}: also defined at {first[task_id].where()}.",
                        "id",
                    )
                )
                continue
            first[task_id] = definition
        data = dict(definition.data)
        data.setdefault("timezone", default_timezone)
        task, found = _build(definition, data)
        if task is None:
            problems += found
            continue
        if authorize is not None:
            authorize(task)  # ForbiddenError before anything is imported
        action = task.action
        if isinstance(action, PythonAction) and not is_registered(task.id):
            if action.func not in imported:
                try:
                    resolve_function(action.func)
                    imported[action.func] = None
                except FunctionNotFoundError as exc:
                    imported[action.func] = str(exc)
            if imported[action.func] is not None:
                problems.append(definition.problem(str(imported[action.func]), "action"))
                continue
        built.append((definition, task))
    if progress is not None:
        progress(len(definitions))
    return built, problems


def _build(definition: Definition, data: dict[str, Any]) -> tuple[Task | None, list[Problem]]:
    try:
        return Task.model_validate(data), []
    except ForbiddenError:
        raise
    except (ValidationError, CronwellError) as exc:
        whole = exc
    # Validation stops at the first field whose validator raises a sentence of its own (a
    # cron expression, a zone): each field is tried alone to report every one.
    problems: list[Problem] = []
    for key, value in data.items():
        if key == "id" and not isinstance(value, str):
            problems.append(definition.problem(f"id must be text, not {value!r}.", "id"))
            continue
        try:
            Task.model_validate({**_PROBE, key: value})
        except ValidationError as exc:
            problems += [
                definition.problem(_sentence(error), key)
                for error in exc.errors()
                if not (error["type"] == "missing" and error["loc"] == ("schedule",))
            ]
        except CronwellError as exc:
            problems.append(definition.problem(str(exc), _key_of(exc, key)))
    if "schedule" not in data:
        return None, problems  # already reported by the keys' check
    if not problems:  # a rule between fields (end_date after start_date...)
        if isinstance(whole, ValidationError):
            problems = [definition.problem(_sentence(e)) for e in whole.errors()]
        else:
            problems = [definition.problem(_without_task(str(whole), definition.id))]
    return None, problems


def _sentence(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _key_of(exc: CronwellError, key: str) -> str:
    if isinstance(exc, InvalidCronExpressionError):
        return key if key in ("schedule", "cron") else "schedule"
    if isinstance(exc, UnknownTimezoneError):
        return "timezone"
    return key


def _without_task(message: str, task_id: str | None) -> str:
    """A model's sentence without the task it names: the problem names it already."""
    if task_id:
        message = message.removeprefix(f"Task {task_id!r}: ")
        message = message.removeprefix(f"Task {task_id!r} is not valid: ")
    return message
