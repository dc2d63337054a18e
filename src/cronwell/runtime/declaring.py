"""Checks made when an application declares a task in code (``add_task``, ``@cw.task``,
``add_job``): functions that cannot travel to another process, functions renamed by their
module, and one-offs that already ran and were removed."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cronwell.clock import Clock
from cronwell.domain.action import PythonAction
from cronwell.domain.schedule import OnceSchedule, cron
from cronwell.errors import CronwellError
from cronwell.runtime.functions import MAIN_PREFIX, is_main_reference
from cronwell.service import TaskService

log = logging.getLogger(__name__)
_INSTANT = timedelta(microseconds=1)  # the rows of one occurrence: [at, at + 1 µs)


class DeclarationChecks:
    """Per-:class:`~cronwell.Cronwell` memory of what its declarations were told."""

    def __init__(self, service: Callable[[], TaskService], clock: Clock) -> None:
        self._service = service  # opens the database on first use
        self._clock = clock
        self._main_warned: set[str] = set()
        self._weekdays_warned: set[str] = set()

    def warn_main_function(self, task_id: str, ref: str) -> None:
        """Say once per task, when it is declared, that a function of a script run as
        ``python app.py`` (``__main__:func``) can be called by this process only: a
        ``cronwell tasks run``, another instance or a worker cannot import it."""
        if not is_main_reference(ref) or task_id in self._main_warned:
            return
        self._main_warned.add(task_id)
        log.warning(
            "task %r calls %s, a function of the script being run: no other process "
            "(cronwell tasks run, a second instance) can import it. Run the script as a "
            "module (python -m package.module) or move the function into a module.",
            task_id,
            ref,
            extra={"action": "main_module_function", "task_id": task_id, "function": ref},
        )

    def warn_apscheduler_weekdays(self, task_id: str, crontab: str, reading: str) -> None:
        """Say once per task that ``CronTrigger.from_crontab(crontab)`` keeps APScheduler's
        weekday numbers (Monday = 0), so it fires on other days than crontab's ``crontab``
        would: almost always a bug in the caller's code. ``reading`` is the crontab
        expression of what it does fire on."""
        if task_id in self._weekdays_warned:
            return
        self._weekdays_warned.add(task_id)
        meant = _described(crontab)
        fires = _described(reading)
        log.warning(
            "task %r: CronTrigger.from_crontab(%r) reads the day of week as APScheduler does, "
            "Monday = 0: it fires %s (crontab %r), not %s as crontab reads %r. Kept, as "
            "APScheduler runs it; for crontab's meaning pass the string instead: "
            "cron(%r), add_cron_job() or add_task(schedule=...).",
            task_id,
            crontab,
            fires,
            reading,
            meant,
            crontab,
            crontab,
            extra={
                "action": "apscheduler_day_of_week",
                "task_id": task_id,
                "crontab": crontab,
                "reading": reading,
            },
        )

    def renamed_from_main(self, task_id: str, func: Callable[..., Any], ref: str) -> bool:
        """True when ``func`` belongs to a program run as ``python -m package.module``
        and the stored task calls it as ``__main__:func``, the name such functions had
        before they were named by their module: re-declaring the task replaces it
        instead of raising TaskExistsError."""
        while isinstance(func, functools.partial):
            func = func.func
        if is_main_reference(ref) or getattr(func, "__module__", None) != "__main__":
            return False
        stored = self._service().find(task_id)
        qualname = ref.partition(":")[2]
        action = stored.action if stored is not None else None
        return isinstance(action, PythonAction) and action.func == f"{MAIN_PREFIX}{qualname}"

    def ran_and_removed(self, task_id: str, schedule: object) -> bool:
        """True for a one-off with ``remove_after_run`` declared again (an application
        declares its tasks at every start) after it ran and was removed: its occurrence
        is in the history, so it is not stored again (nor refused as in the past)."""
        if not isinstance(schedule, OnceSchedule) or not schedule.remove_after_run:
            return False
        at = schedule.at
        service = self._service()
        if at >= self._clock.now() or service.find(task_id) is not None:
            return False
        if not service.list_runs(task_id=task_id, since=at, until=at + _INSTANT, limit=1):
            return False
        log.info(
            "one-off task already ran and was removed; not stored again",
            extra={"action": "one_off_already_run", "task_id": task_id},
        )
        return True


def _described(expression: str) -> str:
    """A crontab expression in words, or the expression when it has none."""
    try:
        words = cron(expression).describe()
    except CronwellError:
        return repr(expression)
    return words[:1].lower() + words[1:]
