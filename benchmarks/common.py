"""What every scenario shares: the trivial action, percentiles, timing, memory readings,
bounded waits, and fresh databases (a SQLite file in a temporary folder, or a PostgreSQL
database created for one measurement and dropped after it)."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Figures = dict[str, Any]

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# the server on which each PostgreSQL measurement gets a database of its own
POSTGRES_ADMIN_ENV = "CRONWELL_BENCH_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")
STAMP = "benchmarks.common:stamp"


def stamp() -> float:
    """The trivial action of every scenario: returns when it started (epoch seconds), so
    lateness is measured at the action for cronwell (its recorded return value) and for
    APScheduler (the job's return value in ``EVENT_JOB_EXECUTED``) alike."""
    return time.time()


# -- statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, ``q`` in [0, 1]; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def lateness_ms(seconds: Sequence[float], prefix: str = "lateness") -> Figures:
    """p50, p99 and max of lateness values given in seconds, as milliseconds (``None``
    when there are no values)."""
    if not seconds:
        return {f"{prefix}_{q}_ms": None for q in ("p50", "p99", "max")}
    return {
        f"{prefix}_p50_ms": round(1000 * percentile(seconds, 0.50), 1),
        f"{prefix}_p99_ms": round(1000 * percentile(seconds, 0.99), 1),
        f"{prefix}_max_ms": round(1000 * max(seconds), 1),
    }


def median_ms(work: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``work()`` over ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        work()
        times.append(time.perf_counter() - begin)
    return round(1000 * percentile(times, 0.5), 2)


def timed(work: Callable[[], object]) -> float:
    """Seconds ``work()`` took."""
    begin = time.perf_counter()
    work()
    return time.perf_counter() - begin


# -- memory -------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size now (``VmRSS``); the peak where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """The peak resident set size of this process (``ru_maxrss`` is in KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


# -- waiting ------------------------------------------------------------------------------


@dataclass
class Tally:
    """A thread-safe count that sets :attr:`done` once it reaches ``target``."""

    target: int
    count: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reached_at: float | None = None

    def add(self, amount: int = 1) -> None:
        with self.lock:
            self.count += amount
            if self.count >= self.target and not self.done.is_set():
                self.reached_at = time.time()
                self.done.set()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; True if it held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def lease_kept(cw: Any) -> bool:
    """True when a started Cronwell still leads two lease checks later. A start longer than
    the lease margin (80 % of ``lease_ttl``) makes the engine step down right after it and
    load everything again: then the caller must not close it (that would wait for the new
    load) and the child process just exits."""
    return not wait_until(lambda: not cw.engine.is_leader, 2 * cw.settings.poll_interval)


def wait_for_instant(epoch: float) -> None:
    """Block until the wall clock reaches ``epoch`` (a bounded wait on an event that is
    never set: the deadline is the point)."""
    threading.Event().wait(max(0.0, epoch - time.time()))


# -- databases ----------------------------------------------------------------------------


def postgres_admin_url() -> str:
    """``$CRONWELL_BENCH_POSTGRES_URL``, else the local server's ``postgres`` database."""
    return os.environ.get(POSTGRES_ADMIN_ENV) or POSTGRES_ADMIN_URL


def postgres_available(admin_url: str | None = None) -> bool:
    """True when the PostgreSQL server answers at ``admin_url``."""
    import psycopg

    admin_url = admin_url or postgres_admin_url()
    try:
        with psycopg.connect(_libpq(admin_url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


@contextlib.contextmanager
def fresh_database(backend: str, admin_url: str | None = None) -> Iterator[str]:
    """A URL to an empty database that is removed afterwards: a SQLite file in a new
    temporary folder, or a PostgreSQL database ``cronwell_bench_<random>`` created on the
    server of ``admin_url`` (default :func:`postgres_admin_url`), dropped with ``FORCE`` so
    a leftover connection cannot keep it."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cronwell-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    import psycopg

    admin_url = admin_url or postgres_admin_url()
    name = f"cronwell_bench_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(url: str) -> str:
    """``url`` as SQLAlchemy wants it for APScheduler's ``SQLAlchemyJobStore`` (the psycopg 3
    driver named explicitly for PostgreSQL)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")
