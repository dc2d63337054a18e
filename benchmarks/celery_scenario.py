"""**celery** — runs executed on Celery workers (issue 23), against Celery beat driving the
same workers, on a PostgreSQL store and RabbitMQ (or Redis) as the broker.

Each measurement starts real ``celery -A cronwell.contrib.celery worker`` processes on a
queue of its own (one worker with ``-c K``: K prefork processes), then runs its rounds on
them one after the other, purging the queue before each:

- **burst**: N one-off tasks due at one instant, ``executor="celery"``, the trivial action.
  Fires/s is N divided by the time from the due instant until the leader has recorded all
  N runs and the broker has taken all N messages; executed is the time from the due
  instant until the last run ended (the latest ``finished_at`` a worker wrote).
- **cpu**: N one-off tasks with a CPU-bound action (pure Python for about ``spin_s``,
  calibrated once), executed by the leader's own pool (``executor="local"``, default
  ``max_workers``), then by the workers; runs/s of each and their ratio.
- **beat**, in both: a real ``celery beat`` whose schedule holds N entries due at one
  instant (see :mod:`benchmarks.celery_beat`) sends the plain Celery tasks ``bench.stamp``
  or ``bench.spin`` to the same workers, which append to a ledger file: beat keeps no
  history, so the ledger is the only record of what ran.
- **direct**, in both: the same N plain messages sent by this process at one instant over
  one producer (``send_task``, as beat's ``apply_async`` sends each), without beat's
  scheduler in front: what the workers do with a plain Celery task.

Tasks get a misfire grace of an hour: the default (a minute, counted from when a run is
sent) would record the tail of a long queue ``missed``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.celery_tasks import READY_ENV, SPIN, calibrate
from benchmarks.common import (
    STAMP,
    Figures,
    Tally,
    fresh_database,
    lateness_ms,
    lease_kept,
    percentile,
    timed,
    wait_for_instant,
    wait_until,
)
from benchmarks.isolate import ROOT, run_isolated
from benchmarks.results import CHILD_TIMEOUT_S, Headline, Result, skipped

BROKERS = {
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
    "redis": "redis://127.0.0.1:6379/7",
}
CRONWELL = "cronwell"
LOCAL = "cronwell-local"
BEAT = "celery-beat"
DIRECT = "celery-direct"
GRACE_S = 3600.0
HEADLINE = Headline("runs/s", dict.fromkeys((CRONWELL, LOCAL, BEAT, DIRECT), "runs_per_s"), True)
_WORKER_START_S = 60.0


def run(
    burst_n: int, cpu_n: int, workers: list[int], brokers: list[str], backends: list[str]
) -> list[Result]:
    """The burst with each worker count, then the CPU-bound round with the largest, on
    each broker; PostgreSQL only."""
    results: list[Result] = []
    for name in brokers:
        broker = BROKERS[name]
        burst_names = [f"celery burst {burst_n:,} · {name} · -c {k}" for k in workers]
        cpu_name = f"celery cpu {cpu_n:,} · {name} · -c {max(workers)}"
        reason = None
        if "postgresql" not in backends:
            reason = "PostgreSQL store only"
        elif not broker_available(broker):
            reason = f"no broker at {broker}"
        if reason:
            for scenario in [*burst_names, cpu_name]:
                results.append(skipped(scenario, "postgresql", CRONWELL, reason, HEADLINE))
            continue
        for k, scenario in zip(workers, burst_names, strict=True):
            with fresh_database("postgresql") as url:
                figures = _isolated(scenario, "burst", n=burst_n, url=url, broker=broker, workers=k)
            results += _results(scenario, figures, (CRONWELL, BEAT, DIRECT))
        with fresh_database("postgresql") as url:
            k = max(workers)
            figures = _isolated(cpu_name, "cpu", n=cpu_n, url=url, broker=broker, workers=k)
        results += _results(cpu_name, figures, (CRONWELL, LOCAL, BEAT, DIRECT))
    return results


def _isolated(scenario: str, function: str, **kwargs: Any) -> Figures:
    print(f"… {scenario} · postgresql", file=sys.stderr, flush=True)
    figures = run_isolated(f"benchmarks.celery_scenario:{function}", CHILD_TIMEOUT_S, **kwargs)
    if "error" in figures:
        print(f"  ERROR {figures['error']}\n{figures.get('log', '')}", file=sys.stderr)
    return figures


def _results(scenario: str, figures: Figures, systems: tuple[str, ...]) -> list[Result]:
    results = []
    for system in systems:
        if "error" in figures:
            mine, summary = figures, f"ERROR {figures['error']}"
        else:
            shared = {k: v for k, v in figures.items() if not isinstance(v, dict)}
            mine = {**shared, **figures[system]}
            summary = _summary(system, mine)
        print(f"  {system}: {summary}", file=sys.stderr, flush=True)
        results.append(Result(scenario, "postgresql", system, mine, summary, HEADLINE))
    return results


def _summary(system: str, f: Figures) -> str:
    parts = [f"{f['ran']:,}/{f['n']:,} ran"]
    if f.get("fires_per_s") is not None:
        parts.append(f"sent in {f['sent_s']} s ({f['fires_per_s']:,} fires/s)")
    parts.append(f"all executed in {f['executed_s']} s ({f['runs_per_s']:,} runs/s)")
    parts.append(f"start late p50/p99 {f['start_late_p50_ms']}/{f['start_late_p99_ms']} ms")
    parts.append(f"a run p50 {f['run_p50_ms']} ms")
    if f.get("statuses") and set(f["statuses"]) != {"succeeded"}:
        parts.append(str(f["statuses"]))
    if system in (BEAT, DIRECT):
        parts.append("no history")
    if f["margin_left_s"] < 0:
        parts.append("(due passed before start: not valid)")
    return ", ".join(parts)


def broker_available(broker: str) -> bool:
    """True when the broker accepts a connection within a few seconds."""
    from kombu import Connection

    try:
        with Connection(broker, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:
        return False
    return True


# -- the child process ------------------------------------------------------------------


def burst(n: int, url: str, broker: str, workers: int, beat: bool = True) -> Figures:
    """N trivial runs fired to ``workers`` prefork processes, then Celery beat's N."""
    with _workers(url, broker, workers) as (queue, folder):
        figures: Figures = {"n": n, "workers": f"one worker, -c {workers}", "queue": queue}
        figures[CRONWELL] = _cronwell_round(url, broker, n, "burst", STAMP, {}, queue)
        if beat:
            figures[BEAT] = _beat_round(broker, queue, n, "bench.stamp", [], folder)
        figures[DIRECT] = _direct_round(broker, queue, n, "bench.stamp", [], folder)
    return figures


def cpu(n: int, url: str, broker: str, workers: int, spin_s: float = 0.05) -> Figures:
    """N CPU-bound runs on the leader's pool, then on the workers, then Celery beat's N."""
    iterations = calibrate(spin_s)
    kwargs = {"iterations": iterations}
    with _workers(url, broker, workers) as (queue, folder):
        figures: Figures = {"n": n, "workers": f"one worker, -c {workers}", "queue": queue}
        figures.update(iterations=iterations, spin_ms=round(1000 * spin_s))
        figures[LOCAL] = _cronwell_round(url, broker, n, "local", SPIN, kwargs, None)
        figures[CRONWELL] = _cronwell_round(url, broker, n, "cpu", SPIN, kwargs, queue)
        args = [iterations]
        figures[BEAT] = _beat_round(broker, queue, n, "bench.spin", args, folder)
        figures[DIRECT] = _direct_round(broker, queue, n, "bench.spin", args, folder)
    return figures


@contextlib.contextmanager
def _workers(url: str, broker: str, concurrency: int) -> Iterator[tuple[str, Path]]:
    """A ``celery worker`` with ``concurrency`` prefork processes consuming a new queue,
    ready; warm-shut-down afterwards (its process group killed if it does not stop)."""
    queue = f"cronwell-bench-{os.getpid()}-{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="cronwell-bench-celery-") as name:
        folder = Path(name)
        ready = folder / "worker-ready"
        env = {
            **os.environ,
            "CRONWELL_DATABASE_URL": url,
            "CRONWELL_CELERY_BROKER": broker,
            READY_ENV: str(ready),
        }
        command = [
            *("-A", "cronwell.contrib.celery", "worker", "-Q", queue, "-c", str(concurrency)),
            *("--without-mingle", "--without-gossip", "--without-heartbeat"),
            *("-n", f"{queue}@%h", "--include", "benchmarks.celery_tasks", "-l", "warning"),
        ]
        with _process(command, env, folder / "worker.log"):
            if not wait_until(ready.exists, _WORKER_START_S, 0.1):
                raise RuntimeError(f"the worker is not ready: {_tail(folder / 'worker.log')}")
            yield queue, folder


@contextlib.contextmanager
def _process(arguments: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """``python -m celery ARGUMENTS`` in a session of its own, stopped with SIGTERM (and
    its process group killed after 60 s)."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", *arguments],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _purge(broker: str, queue: str) -> None:
    from kombu import Connection

    with Connection(broker) as connection:
        connection.default_channel.queue_purge(queue)


def _margin_s(n: int) -> float:
    return 2.0 + 0.0006 * n


def _cronwell_round(
    url: str,
    broker: str,
    n: int,
    prefix: str,
    func: str,
    kwargs: dict[str, Any],
    queue: str | None,
) -> Figures:
    """Store N one-off tasks due at one instant, start a leader, wait until every run
    ended; figures from the rows (``queue`` None: the leader's own pool)."""
    from cronwell import Cronwell, PythonAction
    from cronwell.settings import load_settings

    if queue is not None:
        _purge(broker, queue)
    with _count_sent() as sent:
        cw = Cronwell(
            settings=load_settings(database_url=url, timezone="UTC", celery_broker=broker)
        )
        figures = _leader_round(cw, url, n, prefix, PythonAction(func=func, kwargs=kwargs), queue)
    if queue is not None:
        figures["sent_s"] = _since(figures.pop("due"), sent.reached_at)
        figures["fires_per_s"] = _rate(n, figures["sent_s"])
    else:
        figures.pop("due")
    return figures


def _leader_round(
    cw: Any, url: str, n: int, prefix: str, action: Any, queue: str | None
) -> Figures:
    from cronwell import Task, once

    cw.service  # noqa: B018 - migrations run before the clock starts
    due = datetime.now(UTC) + timedelta(seconds=_margin_s(n))
    executor = "local" if queue is None else "celery"
    tasks = [
        Task(
            id=f"{prefix}-{i:07d}",
            schedule=once(due),
            action=action,
            executor=executor,
            queue=queue,
            misfire_grace=GRACE_S,
        )
        for i in range(n)
    ]
    store_s = timed(lambda: cw.add_tasks(tasks))
    tasks.clear()
    cw.start()
    margin_left = due.timestamp() - time.time()
    rows = _Rows(url, prefix)
    wait_until(lambda: rows.ended() >= n, _margin_s(n) + 60 + n / 10, 0.2)
    kept = lease_kept(cw)
    if kept:
        cw.close()
    return {
        "due": due.timestamp(),
        "add_tasks_s": round(store_s, 3),
        "margin_left_s": round(margin_left, 2),
        **rows.figures(n, due.timestamp()),
        "leader_after_start": kept,
    }


@contextlib.contextmanager
def _count_sent() -> Iterator[Tally]:
    """A tally of the messages the leader's publisher hands the broker (counted once each
    batch is sent), while the block runs."""
    from cronwell.dispatch.celery import CeleryPublisher

    tally = Tally(sys.maxsize)
    publish = CeleryPublisher.publish

    def counted(self: CeleryPublisher, messages: Any) -> None:
        publish(self, messages)
        tally.add(len(messages))
        tally.reached_at = time.time()

    CeleryPublisher.publish = counted  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        CeleryPublisher.publish = publish  # type: ignore[method-assign]


class _Rows:
    """The runs of one round, read straight from PostgreSQL."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url, self._like = url, f"{prefix}-%"

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self._url) as conn:
            return conn.execute(sql, (self._like,)).fetchall()

    def ended(self) -> int:
        terminal = "('pending', 'queued', 'running')"
        sql = (
            f"SELECT count(*) FROM cronwell_runs WHERE task_id LIKE %s AND status NOT IN {terminal}"
        )
        return int(self._query(sql)[0][0])

    def figures(self, n: int, due: float) -> Figures:
        rows = self._query(
            "SELECT status, started_at, finished_at, duration FROM cronwell_runs "
            "WHERE task_id LIKE %s"
        )
        statuses = Counter(str(row[0]) for row in rows)
        started = [row[1].timestamp() - due for row in rows if row[1] is not None]
        finished = [row[2].timestamp() for row in rows if row[2] is not None]
        took = [float(row[3]) for row in rows if row[3] is not None]
        executed = _since(due, max(finished) if finished else None)
        return {
            "ran": len(finished),
            "statuses": dict(statuses),
            "executed_s": executed,
            "runs_per_s": _rate(len(finished), executed),
            **lateness_ms(started, "start_late"),
            "run_p50_ms": round(1000 * percentile(took, 0.5), 1) if took else None,
        }


def _beat_round(
    broker: str, queue: str, n: int, task: str, args: list[Any], folder: Path
) -> Figures:
    """A real ``celery beat`` with N entries due at one instant, sending ``task`` with
    ``args`` and a ledger file to the queue; figures from the ledger."""
    _purge(broker, queue)
    ledger, ready, sent = folder / f"ledger-{task}", folder / f"ready-{task}", folder / "sent"
    ledger.touch()
    sent.unlink(missing_ok=True)
    due = time.time() + 3.0 + 0.001 * n
    config = {
        "broker": broker,
        "queue": queue,
        "n": n,
        "task": task,
        "args": [str(ledger), *args],
        "due": due,
        "ready": str(ready),
        "sent": str(sent),
    }
    from benchmarks.celery_beat import BEAT_ENV

    env = {**os.environ, BEAT_ENV: json.dumps(config)}
    command = [
        *("-A", "benchmarks.celery_beat", "beat", "-l", "warning"),
        *("-S", "benchmarks.celery_beat:CountingScheduler"),
        *("-s", str(folder / f"schedule-{task}"), "--pidfile", str(folder / f"beat-{task}.pid")),
    ]
    log = folder / f"beat-{task}.log"
    with _process(command, env, log):
        if not wait_until(ready.exists, 60 + n / 100, 0.1):
            raise RuntimeError(f"celery beat did not load its schedule: {_tail(log)}")
        margin_left = due - float(ready.read_text())
        wait_until(lambda: _lines(ledger) >= n, 60 + n / 10 + max(0.0, margin_left), 0.2)
    sent_at = float(sent.read_text()) if sent.exists() else None
    return _ledger_figures(ledger, n, due, sent_at, margin_left)


def _direct_round(
    broker: str, queue: str, n: int, task: str, args: list[Any], folder: Path
) -> Figures:
    """N plain Celery messages sent at one instant from this process, over one producer,
    as beat's ``apply_async`` sends each: what the workers do without a scheduler in
    front of them."""
    from cronwell.dispatch.celery import celery_app

    _purge(broker, queue)
    ledger = folder / f"ledger-direct-{task}"
    ledger.touch()
    app = celery_app(broker, default_queue=queue)
    arguments = [str(ledger), *args]
    with app.producer_or_acquire() as producer:  # connected before the instant
        due = time.time() + 1.0
        wait_for_instant(due)
        for _ in range(n):
            app.send_task(task, args=arguments, queue=queue, producer=producer)
        sent_at = time.time()
    wait_until(lambda: _lines(ledger) >= n, 60 + n / 10, 0.2)
    app.close()
    return _ledger_figures(ledger, n, due, sent_at, 0.0)


def _ledger_figures(
    ledger: Path, n: int, due: float, sent_at: float | None, margin_left: float
) -> Figures:
    entries = [tuple(map(float, line.split())) for line in ledger.read_text().splitlines()]
    finished = max((end for _, end in entries), default=None)
    executed = _since(due, finished)
    return {
        "margin_left_s": round(margin_left, 2),
        "ran": len(entries),
        "sent_s": _since(due, sent_at),
        "fires_per_s": _rate(n, _since(due, sent_at)),
        "executed_s": executed,
        "runs_per_s": _rate(len(entries), executed),
        **lateness_ms([start - due for start, _ in entries], "start_late"),
        "run_p50_ms": round(1000 * percentile([e - s for s, e in entries], 0.5), 1)
        if entries
        else None,
    }


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _since(due: float, at: float | None) -> float | None:
    return None if at is None else round(at - due, 3)


def _rate(count: int, seconds: float | None) -> float | None:
    return round(count / seconds, 1) if seconds and seconds > 0 else None
