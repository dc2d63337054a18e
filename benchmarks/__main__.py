"""``python -m benchmarks [--burst N ...] [--database-url URL]``: run every scenario for
cronwell and for raw APScheduler 3.11 in this process and print a table and a JSON line.

Scenarios so far:

* **preview** — next-fire-time computations per second for a set of cron expressions
  (cronwell's crontab reading vs APScheduler's ``CronTrigger`` on the equivalent fields).
* **burst** — N tasks due at the same instant with a trivial Python action: fires/s and
  lateness (start minus scheduled) p50/p99/max. cronwell records every run in its database;
  APScheduler (``MemoryJobStore``, ``ThreadPoolExecutor``) keeps nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from cronwell import Cronwell, PythonAction, Run, Task, once
from cronwell.domain.cron import CronExpression

# (crontab expression, equivalent APScheduler CronTrigger fields)
PREVIEW_SET: list[tuple[str, dict[str, Any]]] = [
    ("0 8 * * *", {"hour": 8, "minute": 0}),
    ("*/15 * * * *", {"minute": "*/15"}),
    ("30 2 1 * *", {"day": 1, "hour": 2, "minute": 30}),
    ("0 9-17 * * *", {"hour": "9-17", "minute": 0}),
    ("0 0 L * *", {"day": "last", "hour": 0, "minute": 0}),
]


def noop() -> None:
    """The trivial action of the burst scenario."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_preview(count: int = 2000) -> dict[str, float]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    tz = ZoneInfo("Europe/Paris")

    def ours() -> None:
        for expr, _ in PREVIEW_SET:
            it = CronExpression.parse(expr).iter_after(start, tz)
            for _ in range(count):
                next(it)

    def theirs() -> None:
        for _, fields in PREVIEW_SET:
            trigger = CronTrigger(timezone=tz, **fields)
            prev, now = None, start
            for _ in range(count):
                prev = trigger.get_next_fire_time(prev, now)
                now = prev

    total = count * len(PREVIEW_SET)
    return {"cronwell_per_s": total / _timed(ours), "apscheduler_per_s": total / _timed(theirs)}


def bench_burst_cronwell(n: int, database_url: str) -> dict[str, float]:
    cw = Cronwell(database_url, timezone="UTC", max_workers=20)
    cw.service  # noqa: B018 - migrate before timing
    due = datetime.now(UTC) + timedelta(seconds=2 + n / 5000)
    action = PythonAction(func="benchmarks.__main__:noop")
    tasks = [
        Task(id=f"burst-{i}", schedule=once(due), action=action, timezone="UTC") for i in range(n)
    ]
    cw.store.bulk_insert_tasks(tasks, datetime.now(UTC))
    done = threading.Event()
    finished: list[Run] = []

    def on_run(run: Run) -> None:
        finished.append(run)
        if len(finished) >= n:
            done.set()

    cw.on_run(on_run)
    cw.start()
    done.wait(600)
    recorded = time.time()
    cw.close()
    lateness = [((r.started_at or due) - due).total_seconds() for r in finished]
    span = recorded - due.timestamp()
    return _burst_figures(n, span, lateness)


def bench_burst_apscheduler(n: int) -> dict[str, float]:
    scheduler = BackgroundScheduler(
        timezone=UTC,
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(20)},
    )
    due = datetime.now(UTC) + timedelta(seconds=2 + n / 5000)
    starts: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    def job() -> None:
        with lock:
            starts.append(time.time())
            if len(starts) >= n:
                done.set()

    for i in range(n):
        scheduler.add_job(job, "date", run_date=due, id=f"burst-{i}", misfire_grace_time=None)
    scheduler.start()
    done.wait(600)
    finished = time.time()
    scheduler.shutdown(wait=True)
    lateness = [s - due.timestamp() for s in starts]
    return _burst_figures(n, finished - due.timestamp(), lateness)


def _burst_figures(n: int, span: float, lateness: list[float]) -> dict[str, float]:
    return {
        "fires": len(lateness),
        "fires_per_s": len(lateness) / span if span > 0 else float("inf"),
        "lateness_p50_ms": 1000 * statistics.median(lateness) if lateness else -1,
        "lateness_p99_ms": 1000 * percentile(lateness, 0.99) if lateness else -1,
        "lateness_max_ms": 1000 * max(lateness) if lateness else -1,
    }


def _timed(work: Callable[[], None]) -> float:
    begin = time.perf_counter()
    work()
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--burst",
        type=int,
        nargs="*",
        default=[1000],
        help="task counts for the burst scenario (default 1000)",
    )
    parser.add_argument(
        "--database-url", default=None, help="cronwell's database (default: a fresh SQLite file)"
    )
    options = parser.parse_args()
    results: dict[str, Any] = {"preview": bench_preview()}
    p = results["preview"]
    print(
        f"preview   cronwell {p['cronwell_per_s']:>10,.0f}/s   "
        f"APScheduler {p['apscheduler_per_s']:>10,.0f}/s   "
        f"ratio {p['cronwell_per_s'] / p['apscheduler_per_s']:.2f}"
    )
    for n in options.burst:
        with tempfile.TemporaryDirectory() as folder:
            url = options.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
            ours = bench_burst_cronwell(n, url)
        theirs = bench_burst_apscheduler(n)
        results[f"burst_{n}"] = {
            "cronwell": ours,
            "apscheduler_memory": theirs,
            "ratio": ours["fires_per_s"] / theirs["fires_per_s"],
        }
        for name, figures in (("cronwell+history", ours), ("APScheduler mem", theirs)):
            print(
                f"burst {n:>6} {name:<17} {figures['fires_per_s']:>9,.0f} fires/s  "
                f"lateness p50 {figures['lateness_p50_ms']:>7.1f} ms  "
                f"p99 {figures['lateness_p99_ms']:>7.1f} ms  "
                f"max {figures['lateness_max_ms']:>7.1f} ms  ({figures['fires']:.0f} fired)"
            )
        print(f"burst {n:>6} ratio cronwell/APScheduler {results[f'burst_{n}']['ratio']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
