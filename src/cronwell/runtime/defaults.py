"""Scheduler-wide defaults of the tasks an application declares:
``Cronwell(task_defaults={...})`` in cronwell's words, ``Cronwell(job_defaults={...})`` in
APScheduler's.

Defaults fill what a declaration leaves out: the keyword arguments of ``add_task``,
``@cw.task``, ``add_job`` and the seeds' wrappers, and the keys of the dicts given to
``add_tasks`` and ``sync``. A whole :class:`~cronwell.domain.task.Task` object is taken as
it is, and tasks made elsewhere (CLI, API, tasks files) never see them.

APScheduler's three job defaults keep APScheduler's meaning:

* ``max_instances``: runs of a task allowed at once (the task field of that name);
* ``misfire_grace_time``: seconds a run may start late (``misfire_grace``); ``None``, no limit;
* ``coalesce``: ``True`` runs the latest of several missed occurrences once
  (``catchup="latest"``, cronwell's default too); ``False`` runs each of them that is within
  the misfire grace time (``catchup="all"`` with ``catchup_window`` = ``misfire_grace``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cronwell.domain.durations import parse_duration
from cronwell.domain.task import DEFAULT_MISFIRE_GRACE, STATE_FIELDS, Task
from cronwell.errors import ConfigError, CronwellError
from cronwell.service.declared.keys import suggest

#: ``misfire_grace_time=None`` (APScheduler: never too late) as a grace time: ten years.
NO_LIMIT = 10 * 365 * 86400.0
APSCHEDULER_JOB_DEFAULTS = ("coalesce", "max_instances", "misfire_grace_time")
# what a task is, not how it runs: no default makes sense for these
_NOT_DEFAULTS = frozenset(
    {"id", "name", "description", "schedule", "action", "enabled", "start_date", "end_date"}
)
DEFAULTABLE = tuple(
    name for name in Task.model_fields if name not in _NOT_DEFAULTS and name not in STATE_FIELDS
)


def coalesce_policy(coalesce: bool, misfire_grace: Any = None) -> dict[str, Any]:
    """APScheduler's ``coalesce`` as cronwell's catch-up fields; ``misfire_grace`` is the
    grace time in effect (cronwell's default when ``None``)."""
    if coalesce:
        return {"catchup": "latest", "catchup_window": None}
    window = DEFAULT_MISFIRE_GRACE if misfire_grace is None else misfire_grace
    return {"catchup": "all", "catchup_window": parse_duration(window, "misfire_grace")}


def misfire_grace_of(misfire_grace_time: float | None) -> float:
    """APScheduler's ``misfire_grace_time`` as a task's ``misfire_grace``."""
    return NO_LIMIT if misfire_grace_time is None else misfire_grace_time


class TaskDefaults:
    """The defaults of one :class:`~cronwell.Cronwell`, checked when it is built: an
    unknown key or a bad value is a :class:`ConfigError` naming it."""

    def __init__(
        self,
        task_defaults: Mapping[str, Any] | None = None,
        job_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        fields = dict(task_defaults or {})
        for key in fields:
            if key not in DEFAULTABLE:
                raise ConfigError(_unknown("task_defaults", key, DEFAULTABLE))
        self.coalesce: bool | None = None
        for key, value in (job_defaults or {}).items():
            if key not in APSCHEDULER_JOB_DEFAULTS:
                raise ConfigError(_unknown("job_defaults", key, APSCHEDULER_JOB_DEFAULTS))
            if key == "coalesce":
                self.coalesce = bool(value)
                continue
            name = "misfire_grace" if key == "misfire_grace_time" else key
            if name in fields:
                raise ConfigError(
                    f"{name} is given in both task_defaults and job_defaults ({key}); give it once."
                )
            fields[name] = misfire_grace_of(value) if key == "misfire_grace_time" else value
        if self.coalesce is not None and ({"catchup", "catchup_window"} & fields.keys()):
            raise ConfigError(
                "job_defaults' coalesce and task_defaults' catchup say the same thing; "
                "give one of them."
            )
        self.fields = fields
        self._check()

    @property
    def active(self) -> bool:
        """Whether there is any default to apply."""
        return bool(self.fields) or self.coalesce is not None

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a declaration's fields) with the defaults of what it leaves out."""
        if not self.active:
            return data
        merged = {**self.fields, **data}
        if self.coalesce is not None and "catchup" not in data:
            merged.update(coalesce_policy(self.coalesce, merged.get("misfire_grace")))
        return merged

    def _check(self) -> None:
        probe = {
            "id": "task-defaults",
            "schedule": {"kind": "interval", "seconds": 60},
            "action": {"kind": "shell", "command": "true"},
        }
        try:
            Task.parse(self.apply(probe))
        except CronwellError as exc:
            problem = str(exc).removeprefix("Task 'task-defaults' is not valid: ")
            problem = problem.replace("Task 'task-defaults': ", "")
            raise ConfigError(f"task_defaults (or job_defaults) are not valid: {problem}") from None


def _unknown(where: str, key: str, known: tuple[str, ...]) -> str:
    return f"{where} has no key {key!r}{suggest(key, known)} It takes: {', '.join(known)}."
