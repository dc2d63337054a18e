"""Whether definitions make valid tasks: everything a task creation checks (fields, cron,
zone, the function importable), and ids unique across the documents. No database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

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


class Checked(NamedTuple):
    """What :func:`check_definitions` found: the task each valid definition makes, every
    problem, and the definitions known to be exactly their stored task (not built)."""

    built: list[tuple[Definition, Task]]
    problems: list[Problem]
    known: list[Definition]


def check_definitions(
    definitions: Sequence[Definition],
    *,
    default_timezone: str,
    is_registered: Callable[[str], bool] = lambda _task_id: False,
    authorize: Callable[[Task], object] | None = None,
    progress: Callable[[int], None] | None = None,
    stored: Callable[[Definition, dict[str, Any]], Task | None] | None = None,
    known: Callable[[Definition], bool] | None = None,
) -> Checked:
    """The task each valid definition makes, and every problem of the others: duplicate
    ids (naming both places), invalid fields (one problem per field where the field can be
    told), a Python function that cannot be imported. ``authorize`` (the API's allow-list)
    is called on each task before its function is imported, and its
    :class:`~cronwell.errors.ForbiddenError` is raised at once. ``progress`` is called with
    the number of definitions checked so far, now and then.

    Two shortcuts for definitions already stored, which were validated when they were.
    ``known`` tells a definition whose stored task is known, by its declared digest, to be
    exactly what it makes: only its Python function is checked, and it is listed in
    ``known`` instead of being built (not with ``authorize``, which checks each task).
    ``stored`` returns the stored task a definition (its data with the default zone) is
    exactly the definition of, if any: that task is not validated again."""
    built: list[tuple[Definition, Task]] = []
    problems: list[Problem] = []
    unbuilt: list[Definition] = []
    first: dict[str, Definition] = {}
    imported: dict[str, str | None] = {}  # function reference -> why it cannot be imported

    def import_problem(func: str) -> str | None:
        if func not in imported:
            try:
                resolve_function(func)
                imported[func] = None
            except FunctionNotFoundError as exc:
                imported[func] = str(exc)
        return imported[func]

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
        if known is not None and authorize is None and known(definition):
            func = _python_function(definition.data)
            why = None if func is None or is_registered(task_id or "") else import_problem(func)
            if why is not None:
                problems.append(definition.problem(why, "action"))
            else:
                unbuilt.append(definition)
            continue
        data = dict(definition.data)
        data.setdefault("timezone", default_timezone)
        task = stored(definition, data) if stored is not None else None
        found: list[Problem] = []
        if task is None:
            task, found = _build(definition, data)
        if task is None:
            problems += found
            continue
        if authorize is not None:
            authorize(task)  # ForbiddenError before anything is imported
        action = task.action
        if isinstance(action, PythonAction) and not is_registered(task.id):
            why = import_problem(action.func)
            if why is not None:
                problems.append(definition.problem(why, "action"))
                continue
        built.append((definition, task))
    if progress is not None:
        progress(len(definitions))
    return Checked(built, problems, unbuilt)


def _python_function(data: dict[str, Any]) -> str | None:
    """The function reference of a definition's Python action, if it has one."""
    action = data.get("action")
    if isinstance(action, dict) and action.get("kind") == "python":
        func = action.get("func")
        return func if isinstance(func, str) else None
    return None


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
