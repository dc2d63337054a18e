"""**burst** — N tasks due at the same instant with a trivial Python action.

Figures: fires/s (N divided by the time from the due instant until the last run was
recorded, or for APScheduler the last job returned), lateness (action start minus the due
instant) p50/p99/max, and what became of the N occurrences. cronwell stores the tasks with
``Cronwell.add_tasks`` and records every run; APScheduler keeps no history.

The due instant is set far enough ahead for storing and starting to finish first
(``margin_s`` below); ``margin_left_s`` reports how much was left, negative meaning the
figures are not valid.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from benchmarks import aps
from benchmarks.common import (
    STAMP,
    Figures,
    Tally,
    fresh_database,
    lateness_ms,
    lease_kept,
    stamp,
    timed,
)
from benchmarks.results import (
    CRONWELL,
    MEMORY,
    NO_BACKEND,
    SQLALCHEMY,
    Headline,
    Result,
    late,
    measure,
    skipped,
)

# seconds of margin before the due instant: fixed part, and per task for each system
_MARGIN = {"cronwell": (2.0, 0.0006), "memory": (1.0, 0.0001), "sqlalchemy": (2.0, 0.004)}
# the SQLAlchemyJobStore baseline fires ~640 jobs/s: larger bursts would take minutes
SQLALCHEMY_MAX_N = 10_000


HEADLINE = Headline("fires/s", dict.fromkeys((CRONWELL, MEMORY, SQLALCHEMY), "fires_per_s"), True)


def run(sizes: list[int], backends: list[str]) -> list[Result]:
    """Every size on every backend: cronwell, then the SQLAlchemyJobStore baseline (up to
    ``SQLALCHEMY_MAX_N``); the memory baseline once per size."""
    results = []
    for n in sizes:
        scenario = f"burst {n:,}"
        for backend in backends:
            with fresh_database(backend) as url:
                results.append(_measure(scenario, backend, CRONWELL, "cronwell", n=n, url=url))
            if n > SQLALCHEMY_MAX_N:
                reason = f"N > {SQLALCHEMY_MAX_N:,} (about 640 fires/s)"
                results.append(skipped(scenario, backend, SQLALCHEMY, reason, HEADLINE))
                continue
            with fresh_database(backend) as url:
                results.append(_measure(scenario, backend, SQLALCHEMY, "apscheduler", n=n, url=url))
        results.append(_measure(scenario, NO_BACKEND, MEMORY, "apscheduler", n=n))
    return results


def _measure(scenario: str, backend: str, system: str, function: str, **kwargs: object) -> Result:
    target = f"benchmarks.burst:{function}"
    return measure(scenario, backend, system, target, HEADLINE, _summary, **kwargs)


def _summary(f: Figures) -> str:
    warning = " (due passed before start: not valid)" if f["margin_left_s"] < 0 else ""
    if f.get("leader_after_start") is False:
        warning += " (lease lost after start)"
    return f"{f['fires']:,}/{f['n']:,} fired, {f['fires_per_s']:,} fires/s, {late(f)}{warning}"


def margin_s(system: str, n: int) -> float:
    fixed, per_task = _MARGIN[system]
    return fixed + per_task * n


def cronwell(n: int, url: str) -> Figures:
    """The cronwell side: store N one-off tasks, start, count recorded runs."""
    from cronwell import Cronwell, PythonAction, Run, Task, once

    cw = Cronwell(url, timezone="UTC", max_workers=aps.WORKERS)
    cw.service  # noqa: B018 - migrations run before the clock starts
    due = datetime.now(UTC) + timedelta(seconds=margin_s("cronwell", n))
    action = PythonAction(func=STAMP)
    tasks = [Task(id=f"burst-{i:07d}", schedule=once(due), action=action) for i in range(n)]
    tally = Tally(n)
    lateness: list[float] = []
    statuses: Counter[str] = Counter()

    def on_run(run: Run) -> None:
        if not run.task_id.startswith("burst-"):
            return
        statuses[run.status.value] += 1
        if run.return_value is not None:
            lateness.append(float(run.return_value) - due.timestamp())
        tally.add()

    cw.on_run(on_run)
    store_s = timed(lambda: cw.add_tasks(tasks))
    tasks.clear()
    gc.collect()
    start_s = timed(cw.start)
    margin_left = due.timestamp() - time.time()
    tally.done.wait(margin_s("cronwell", n) + 60 + n / 100)
    finished = tally.reached_at or time.time()
    kept = lease_kept(cw)
    close_s = timed(cw.close) if kept else None
    return {
        "n": n,
        "add_tasks_s": round(store_s, 3),
        "start_s": round(start_s, 3),
        "margin_left_s": round(margin_left, 2),
        **_figures(n, tally.count, finished - due.timestamp(), lateness),
        "statuses": dict(statuses),
        "leader_after_start": kept,
        "close_s": None if close_s is None else round(close_s, 3),
    }


def apscheduler(n: int, url: str | None = None) -> Figures:
    """The APScheduler side: N ``date`` jobs on a ``MemoryJobStore`` (no URL) or a
    ``SQLAlchemyJobStore``, added before ``start()``."""
    system = "memory" if url is None else "sqlalchemy"
    sched = aps.scheduler(url)
    log = aps.JobLog(n)
    log.attach(sched)
    due = datetime.now(UTC) + timedelta(seconds=margin_s(system, n))
    func = stamp if url is None else STAMP  # a persistent store needs a textual reference
    store_s = timed(
        lambda: [sched.add_job(func, "date", run_date=due, id=f"burst-{i:07d}") for i in range(n)]
    )
    start_s = timed(sched.start)  # adds the pending jobs to the job store
    margin_left = due.timestamp() - time.time()
    log.done.wait(margin_s(system, n) + 60 + n / 100)
    finished = log.reached_at or time.time()
    sched.shutdown(wait=True)
    return {
        "n": n,
        "add_jobs_s": round(store_s + start_s, 3),
        "margin_left_s": round(margin_left, 2),
        **_figures(n, log.outcomes["executed"], finished - due.timestamp(), log.lateness),
        "statuses": dict(log.outcomes),
    }


def _figures(n: int, fired: int, span: float, lateness: list[float]) -> Figures:
    return {
        "fires": fired,
        "complete": fired >= n,
        "fires_per_s": round(fired / span, 1) if span > 0 else None,
        **lateness_ms(lateness),
    }
