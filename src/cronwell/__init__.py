"""cronwell: a job scheduler for Python with crontab-correct schedules, durable tasks and
run history, on APScheduler.

``from cronwell import Cronwell, cron, daily, every`` is all most applications need. Names
are imported on first use, so ``import cronwell`` (and a child process running one task)
stays light until the scheduler itself is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cronwell.version import __version__

_EXPORTS = {
    "Cronwell": "cronwell.runtime",
    "Job": "cronwell.runtime",
    "CronwellError": "cronwell.errors",
    "RunContext": "cronwell.runners",
    "HttpAction": "cronwell.domain",
    "PythonAction": "cronwell.domain",
    "Run": "cronwell.domain",
    "RunStatus": "cronwell.domain",
    "Schedule": "cronwell.domain",
    "ShellAction": "cronwell.domain",
    "Task": "cronwell.domain",
    "cron": "cronwell.domain",
    "daily": "cronwell.domain",
    "every": "cronwell.domain",
    "monthly": "cronwell.domain",
    "once": "cronwell.domain",
    "weekly": "cronwell.domain",
}

__all__ = [
    "Cronwell",
    "CronwellError",
    "HttpAction",
    "Job",
    "PythonAction",
    "Run",
    "RunContext",
    "RunStatus",
    "Schedule",
    "ShellAction",
    "Task",
    "__version__",
    "cron",
    "daily",
    "every",
    "monthly",
    "once",
    "weekly",
]

if TYPE_CHECKING:
    from cronwell.domain import (
        HttpAction,
        PythonAction,
        Run,
        RunStatus,
        Schedule,
        ShellAction,
        Task,
        cron,
        daily,
        every,
        monthly,
        once,
        weekly,
    )
    from cronwell.errors import CronwellError
    from cronwell.runners import RunContext
    from cronwell.runtime import Cronwell, Job


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cronwell' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
