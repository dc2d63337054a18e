"""The raw APScheduler 3.11 baselines: a ``BackgroundScheduler`` with a
``ThreadPoolExecutor(20)`` (cronwell's default worker count) on a ``MemoryJobStore`` or on a
``SQLAlchemyJobStore``, and a listener that records what every job did."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from benchmarks.common import sqlalchemy_url

WORKERS = 20


def scheduler(database_url: str | None = None) -> BackgroundScheduler:
    """A scheduler on a ``MemoryJobStore`` (no URL) or a ``SQLAlchemyJobStore`` at
    ``database_url``; jobs are not coalesced and may start up to 60 s late (cronwell's
    default ``misfire_grace``) unless a job says otherwise."""
    store = (
        MemoryJobStore()
        if database_url is None
        else SQLAlchemyJobStore(url=sqlalchemy_url(database_url))
    )
    return BackgroundScheduler(
        timezone=UTC,
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(WORKERS)},
        job_defaults={"coalesce": False, "misfire_grace_time": 60, "max_instances": 1},
    )


@dataclass
class JobLog:
    """Listens to a scheduler: per executed job, its lateness (the job returns its start
    time); counts of executed, missed, skipped (max instances) and failed runs. ``accept``
    picks the jobs that count; ``done`` is set when ``target`` outcomes were seen."""

    target: int
    accept: Callable[[str, datetime], bool] = lambda _job_id, _when: True
    lateness: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    done: threading.Event = field(default_factory=threading.Event)
    reached_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, sched: BackgroundScheduler) -> None:
        mask = EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES
        sched.add_listener(self, mask)

    def __call__(self, event: JobEvent) -> None:
        if isinstance(event, JobSubmissionEvent):  # max instances: one event, many times
            times = [t for t in event.scheduled_run_times if self.accept(event.job_id, t)]
            with self._lock:
                self.outcomes["skipped"] += len(times)
                self._check()
            return
        if not self.accept(event.job_id, event.scheduled_run_time):
            return
        with self._lock:
            if isinstance(event, JobExecutionEvent) and event.code == EVENT_JOB_EXECUTED:
                self.outcomes["executed"] += 1
                self.lateness.append(float(event.retval) - event.scheduled_run_time.timestamp())
            elif event.code == EVENT_JOB_MISSED:
                self.outcomes["missed"] += 1
            else:
                self.outcomes["failed"] += 1
            self._check()

    def _check(self) -> None:
        if self.outcomes.total() >= self.target and not self.done.is_set():
            self.reached_at = time.time()
            self.done.set()
