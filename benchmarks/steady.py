"""**steady** — N tasks each firing every second for a window of S seconds.

Figures: occurrences in the window that ran (out of N × S expected), those recorded missed
or skipped, and lateness (action start minus the occurrence) p50/p99/max. Every task is an
interval of one second anchored on the same whole second, so N occurrences fall due
together each second. The window starts one or two seconds (warm-up) after the first fire.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from benchmarks import aps
from benchmarks.common import STAMP, Figures, Tally, fresh_database, lateness_ms, stamp, timed
from benchmarks.results import (
    CRONWELL,
    CRONWELL_FROZEN,
    MEMORY,
    NO_BACKEND,
    SQLALCHEMY,
    Headline,
    Result,
    late,
    measure,
)

_DRAIN_S = 15  # how long after the window its last occurrences may still be reported


HEADLINE = Headline(
    "ms lateness p99",
    dict.fromkeys((CRONWELL, CRONWELL_FROZEN, MEMORY, SQLALCHEMY), "lateness_p99_ms"),
    False,
)


def run(n: int, seconds: int, backends: list[str]) -> list[Result]:
    """cronwell embedded, cronwell as ``cronwell serve`` runs it (heap frozen once up) and
    the SQLAlchemyJobStore baseline on each backend, the memory baseline once."""
    scenario = f"steady {n:,}×1/s {seconds}s"
    results = []
    sides: tuple[tuple[str, str, dict[str, object]], ...] = (
        (CRONWELL, "cronwell", {}),
        (CRONWELL_FROZEN, "cronwell", {"freeze": True}),
        (SQLALCHEMY, "apscheduler", {}),
    )
    for backend in backends:
        for system, function, extra in sides:
            with fresh_database(backend) as url:
                results.append(
                    _measure(
                        scenario, backend, system, function, n=n, seconds=seconds, url=url, **extra
                    )
                )
    results.append(_measure(scenario, NO_BACKEND, MEMORY, "apscheduler", n=n, seconds=seconds))
    return results


def _measure(scenario: str, backend: str, system: str, function: str, **kwargs: object) -> Result:
    target = f"benchmarks.steady:{function}"
    return measure(scenario, backend, system, target, HEADLINE, _summary, **kwargs)


def _summary(f: Figures) -> str:
    others = {k: v for k, v in f["statuses"].items() if k not in ("succeeded", "executed")}
    extra = f" ({', '.join(f'{v:,} {k}' for k, v in others.items())})" if others else ""
    return f"ran {f['ran']:,}/{f['expected']:,} ({f['ran_pct']}%){extra}, {late(f)}"


def _window(first: datetime, seconds: int) -> tuple[datetime, datetime]:
    """The measured occurrences: ``seconds`` of them per task, after a warm-up."""
    begin = first + timedelta(seconds=2 if seconds >= 10 else 1)
    return begin, begin + timedelta(seconds=seconds)


def _first_fire(margin: float) -> datetime:
    """A whole second at least ``margin`` seconds ahead."""
    return datetime.fromtimestamp(math.ceil(time.time() + margin), UTC)


def cronwell(n: int, seconds: int, url: str, freeze: bool = False) -> Figures:
    """The cronwell side: N interval tasks stored with ``add_tasks``, counted through
    ``on_run``; with ``freeze``, the heap is frozen once started, as ``cronwell serve``
    does (in a process of its own: it changes the whole process's collector)."""
    from cronwell import Cronwell, PythonAction, Run, Task, every
    from cronwell.gcpause import freeze_startup_heap

    cw = Cronwell(url, timezone="UTC", max_workers=aps.WORKERS)
    cw.service  # noqa: B018 - migrations run before the clock starts
    first = _first_fire(2 + n * 0.0006)
    window = _window(first, seconds)
    schedule = every(seconds=1, anchor=first)
    action = PythonAction(func=STAMP)
    cw.add_tasks(Task(id=f"steady-{i:05d}", schedule=schedule, action=action) for i in range(n))
    expected = n * seconds
    tally = Tally(expected)
    lateness: list[float] = []
    statuses: Counter[str] = Counter()

    def on_run(run: Run) -> None:
        if not run.task_id.startswith("steady-") or not window[0] <= run.scheduled_for < window[1]:
            return
        statuses[run.status.value] += 1
        if run.return_value is not None:
            lateness.append(float(run.return_value) - run.scheduled_for.timestamp())
        tally.add()

    cw.on_run(on_run)
    start_s = timed(cw.start)
    if freeze:
        freeze_startup_heap()
    margin_left = first.timestamp() - time.time()
    tally.done.wait(window[1].timestamp() - time.time() + _DRAIN_S)
    cw.close()
    return {
        "n": n,
        "seconds": seconds,
        "start_s": round(start_s, 3),
        "margin_left_s": round(margin_left, 2),
        **_figures(expected, statuses["succeeded"], lateness),
        "statuses": dict(statuses),
    }


def apscheduler(n: int, seconds: int, url: str | None = None) -> Figures:
    """The APScheduler side: N ``interval`` jobs of one second on a ``MemoryJobStore`` (no
    URL) or a ``SQLAlchemyJobStore``."""
    sched = aps.scheduler(url)
    sched.start(paused=True)
    first = _first_fire(1 + n * (0.0001 if url is None else 0.004))
    window = _window(first, seconds)
    expected = n * seconds
    log = aps.JobLog(expected, accept=lambda _job, when: window[0] <= when < window[1])
    log.attach(sched)
    func = stamp if url is None else STAMP
    for i in range(n):
        sched.add_job(func, "interval", seconds=1, start_date=first, id=f"steady-{i:05d}")
    sched.resume()
    margin_left = first.timestamp() - time.time()
    log.done.wait(window[1].timestamp() - time.time() + _DRAIN_S)
    sched.shutdown(wait=True)
    return {
        "n": n,
        "seconds": seconds,
        "margin_left_s": round(margin_left, 2),
        **_figures(expected, log.outcomes["executed"], log.lateness),
        "statuses": dict(log.outcomes),
    }


def _figures(expected: int, ran: int, lateness: list[float]) -> Figures:
    return {
        "expected": expected,
        "ran": ran,
        "ran_pct": round(100 * ran / expected, 2) if expected else None,
        **lateness_ms(lateness),
    }
