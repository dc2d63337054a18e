"""The APScheduler executor of the engine: it runs nothing itself, it hands each due job's
task id and occurrence times to the engine, which passes them to the dispatcher. So
APScheduler's own instance counting and misfire handling never apply: the dispatcher
decides, and records each decision as a run row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from apscheduler.executors.base import BaseExecutor


class DispatchExecutor(BaseExecutor):  # type: ignore[misc]
    """Hands due jobs to ``on_due(task_id, run_times)`` instead of running them."""

    def __init__(self, on_due: Callable[[str, Sequence[datetime]], None]) -> None:
        super().__init__()
        self._on_due = on_due

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        self._on_due(job.id, run_times)

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:  # pragma: no cover
        self._on_due(job.id, run_times)
