"""**catch-up** — N every-minute tasks whose scheduler was down for D minutes, and one
every-second task that should keep firing on time meanwhile.

cronwell: the tasks (``cron("* * * * *")``, ``catchup="latest"``) are stored as if last
changed D minutes ago (``store.bulk_insert_tasks(tasks, now - D)``), so at start the engine
records each one's missed occurrences (``missed``, reason ``scheduler_down``) and runs its
latest (reason ``catchup``). Figures: ``cw.start()`` time, time from start until every
catch-up run is recorded, rows recorded, and the on-time task's fires and lateness while
that went on. The run listener asks for every status but ``missed``, as a service's own
listeners do (alerts and metrics take a fleet's missed rows as one grid); the missed rows
are counted in the database once caught up. A listener that hears every missed row gets
a run object per row: 0.2–0.8 s more for 90,000 rows. The cronwell side starts with at
least 20 s of the minute left, so that the fleet's next occurrence does not fall inside
the catch-up it measures.

APScheduler: N ``cron`` jobs (every minute) in a ``SQLAlchemyJobStore`` with
``next_run_time`` D minutes back, ``coalesce=True``, no misfire limit; a second scheduler
starts on that store. Figures: time until every job has run once, and the on-time job's
fires and lateness meanwhile. It keeps no record of what was missed.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent

from benchmarks import aps
from benchmarks.common import (
    STAMP,
    Figures,
    Tally,
    fresh_database,
    lateness_ms,
    lease_kept,
    sqlalchemy_url,
    timed,
    wait_for_instant,
)
from benchmarks.results import CRONWELL, SQLALCHEMY, Headline, Result, late, measure

ON_TIME = "on-time"
HEADLINE = Headline("s to catch up", dict.fromkeys((CRONWELL, SQLALCHEMY), "caught_up_s"), False)


def run(n: int, downtime_minutes: int, backends: list[str]) -> list[Result]:
    """cronwell and the SQLAlchemyJobStore baseline on each backend (no memory baseline:
    a memory store forgets everything when the process stops)."""
    scenario = f"catch-up {n:,} ({downtime_minutes} min down)"
    results = []
    for backend in backends:
        for system, function in ((CRONWELL, "cronwell"), (SQLALCHEMY, "apscheduler")):
            with fresh_database(backend) as url:
                results.append(
                    measure(
                        scenario,
                        backend,
                        system,
                        f"benchmarks.catchup:{function}",
                        HEADLINE,
                        _summary,
                        n=n,
                        url=url,
                        downtime_minutes=downtime_minutes,
                    )
                )
    return results


def _summary(f: Figures) -> str:
    recorded = f" + {f['missed_rows']:,} missed rows" if "missed_rows" in f else ""
    start = f", start() {f['start_s']} s" if "start_s" in f else ""
    if f.get("leader_after_start") is False:
        start += " (lease lost after start)"
    return (
        f"{f['catchup_runs']:,}/{f['n']:,} caught up{recorded} in {f['caught_up_s']} s{start}; "
        f"on-time task ran {f['on_time_ran']}/{f['on_time_expected']}, "
        f"{late(f, 'on_time_lateness')}"
    )


def cronwell(n: int, url: str, downtime_minutes: int) -> Figures:
    """The cronwell side (see the module docstring)."""
    from cronwell import Cronwell, PythonAction, Run, RunStatus, Task, cron, every

    cw = Cronwell(url, timezone="UTC", max_workers=aps.WORKERS)
    cw.service  # noqa: B018 - migrations first
    _clear_of_the_next_minute()
    stopped_at = datetime.now(UTC) - timedelta(minutes=downtime_minutes)
    action = PythonAction(func=STAMP)
    every_minute = cron("* * * * *")
    tasks = [
        Task(id=f"catchup-{i:06d}", schedule=every_minute, action=action, catchup="latest")
        for i in range(n)
    ]
    cw.store.bulk_insert_tasks(tasks, stopped_at)
    del tasks
    cw.add_task(ON_TIME, schedule=every(seconds=1), func=STAMP)
    tally = Tally(n)
    statuses: Counter[str] = Counter()
    on_time: list[tuple[float, float | None, str]] = []

    def on_run(run: Run) -> None:
        if run.task_id == ON_TIME:
            late = None if run.return_value is None else float(run.return_value)
            on_time.append((run.scheduled_for.timestamp(), late, run.status.value))
        elif run.reason == "catchup":
            statuses[f"catchup_{run.status.value}"] += 1
            tally.add()

    # missed rows are counted in the database once caught up: a run object per row for a
    # listener would cost more than writing the row (see the module docstring)
    cw.on_run(
        on_run, statuses=[s for s in RunStatus if s.is_terminal and s is not RunStatus.MISSED]
    )
    began = time.time()
    start_s = timed(cw.start)
    tally.done.wait(600)
    done_at = tally.reached_at or time.time()
    missed = cw.store.count_runs(status=RunStatus.MISSED) - cw.store.count_runs(
        task_id=ON_TIME, status=RunStatus.MISSED
    )
    kept = lease_kept(cw)
    if kept:
        cw.close()
    return {
        "n": n,
        "downtime_min": downtime_minutes,
        "start_s": round(start_s, 3),
        "leader_after_start": kept,
        "caught_up_s": round(done_at - began, 3),
        "catchup_runs": tally.count,
        "missed_rows": missed,
        "statuses": dict(statuses),
        **_on_time_figures(on_time, began, done_at),
    }


def _clear_of_the_next_minute(margin: float = 20.0) -> None:
    """Wait for the next minute when less than ``margin`` seconds of this one are left.
    The fleet fires every minute: a catch-up that ran into the next minute also measured
    that minute's N fires, which go first (seen: 10,000 more runs, about a second)."""
    left = 60 - time.time() % 60
    if left < margin:
        wait_for_instant(time.time() + left + 1)


def apscheduler(n: int, url: str, downtime_minutes: int) -> Figures:
    """The APScheduler side (see the module docstring)."""
    stopped_at = datetime.now(UTC) - timedelta(minutes=downtime_minutes)
    _store_overdue_jobs(n, url, stopped_at)
    sched = aps.scheduler(url)
    log = aps.JobLog(n, accept=lambda job_id, _when: job_id.startswith("catchup-"))
    log.attach(sched)
    on_time: list[tuple[float, float | None, str]] = []

    def on_time_event(event: JobExecutionEvent) -> None:
        if event.job_id == ON_TIME:
            started = None if event.retval is None else float(event.retval)
            on_time.append((event.scheduled_run_time.timestamp(), started, "executed"))

    sched.add_listener(on_time_event, EVENT_JOB_EXECUTED)
    sched.start(paused=True)
    first = datetime.fromtimestamp(math.ceil(time.time()), UTC)
    sched.add_job(STAMP, "interval", seconds=1, start_date=first, id=ON_TIME)
    began = time.time()
    sched.resume()
    log.done.wait(600)
    done_at = log.reached_at or time.time()
    sched.shutdown(wait=True)
    return {
        "n": n,
        "downtime_min": downtime_minutes,
        "caught_up_s": round(done_at - began, 3),
        "catchup_runs": log.outcomes["executed"],
        "statuses": dict(log.outcomes),
        **_on_time_figures(on_time, began, done_at),
    }


def _store_overdue_jobs(n: int, url: str, stopped_at: datetime) -> None:
    """Write N overdue jobs straight into the job store, as a scheduler that stopped at
    ``stopped_at`` would have left them. (Adding them through a paused scheduler and shutting
    it down does not do: its thread may make one more pass during ``shutdown()`` and move
    every ``next_run_time`` forward.)"""
    from apscheduler.job import Job
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.triggers.cron import CronTrigger

    owner = aps.scheduler(url)  # never started: jobs need a scheduler to belong to
    store = SQLAlchemyJobStore(url=sqlalchemy_url(url))
    store.start(owner, "default")
    trigger = CronTrigger(minute="*", timezone=UTC)
    for i in range(n):
        job = Job(
            owner,
            id=f"catchup-{i:06d}",
            func=STAMP,
            trigger=trigger,
            executor="default",
            args=(),
            kwargs={},
            name="stamp",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
            next_run_time=stopped_at,
        )
        store.add_job(job)
    store.shutdown()


def _on_time_figures(
    runs: list[tuple[float, float | None, str]], began: float, done_at: float
) -> Figures:
    """The every-second task during catch-up: occurrences in ``[began, done_at]`` that ran,
    out of the whole seconds in that span, and their lateness."""
    during = [r for r in runs if began <= r[0] <= done_at]
    expected = max(0, math.floor(done_at) - math.ceil(began) + 1)
    lateness = [started - when for when, started, _ in during if started is not None]
    return {
        "on_time_ran": len(lateness),
        "on_time_expected": expected,
        **lateness_ms(lateness, prefix="on_time_lateness"),
    }
