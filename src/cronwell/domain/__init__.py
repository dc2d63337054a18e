"""The domain: pydantic models and pure functions (schedules, actions, tasks, runs)."""

from cronwell.domain.action import Action, HttpAction, PythonAction, ShellAction
from cronwell.domain.run import Run, RunStatus, occurrence_key
from cronwell.domain.schedule import (
    AnySchedule,
    CronSchedule,
    IntervalSchedule,
    OnceSchedule,
    Preview,
    Schedule,
    cron,
    daily,
    every,
    monthly,
    once,
    weekly,
)
from cronwell.domain.task import Task

__all__ = [
    "Action",
    "AnySchedule",
    "CronSchedule",
    "HttpAction",
    "IntervalSchedule",
    "OnceSchedule",
    "Preview",
    "PythonAction",
    "Run",
    "RunStatus",
    "Schedule",
    "ShellAction",
    "Task",
    "cron",
    "daily",
    "every",
    "monthly",
    "occurrence_key",
    "once",
    "weekly",
]
