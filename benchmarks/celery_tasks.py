"""The actions of the ``celery`` scenario, for cronwell and for plain Celery alike.

cronwell runs :func:`benchmarks.common.stamp` (trivial) and :func:`spin` (CPU-bound) as
Python actions. The plain Celery tasks ``bench.stamp`` and ``bench.spin``, which Celery
beat sends, do the same work and append ``start end`` (epoch seconds) to a ledger file,
since plain Celery keeps no history to read them from. A worker loads this module with
``--include benchmarks.celery_tasks``: the tasks register on its app (cronwell's), and the
worker touches ``$CRONWELL_BENCH_READY`` once it consumes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.signals import worker_ready

READY_ENV = "CRONWELL_BENCH_READY"
SPIN = "benchmarks.celery_tasks:spin"


def spin(iterations: int) -> float:
    """Pure-Python work that holds the GIL throughout; returns when it started."""
    started = time.time()
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return started


def calibrate(seconds: float) -> int:
    """The iterations of :func:`spin` that take about ``seconds`` here, measured once."""
    iterations = 50_000
    while True:
        begin = time.perf_counter()
        spin(iterations)
        took = time.perf_counter() - begin
        if took >= 0.2:
            return max(1, round(iterations * seconds / took))
        iterations *= 2


def _append(ledger: str, started: float) -> None:
    with open(ledger, "a", encoding="ascii") as file:
        file.write(f"{started} {time.time()}\n")


@shared_task(name="bench.stamp", ignore_result=True)  # type: ignore[untyped-decorator]
def stamp_task(ledger: str) -> None:
    _append(ledger, time.time())


@shared_task(name="bench.spin", ignore_result=True)  # type: ignore[untyped-decorator]
def spin_task(ledger: str, iterations: int) -> None:
    _append(ledger, spin(iterations))


@worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
def _ready(**_: Any) -> None:
    path = os.environ.get(READY_ENV)
    if path:
        Path(path).touch()
