"""cronwell: a job scheduler for Python with crontab-correct schedules, durable tasks and
run history, on APScheduler.

``from cronwell import Cronwell, cron, daily, every`` is all most applications need.
"""

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

__version__ = "0.1.0"

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
