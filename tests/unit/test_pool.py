"""The worker pool: every callable runs once, and background work waits for the rest."""

from __future__ import annotations

import threading

from cronwell.dispatch.pool import WorkerPool


def test_background_work_runs_after_work_submitted_later() -> None:
    pool = WorkerPool(1, "test-pool")
    gate = threading.Event()
    order: list[str] = []
    pool.submit(lambda: gate.wait(5))  # holds the only thread while the rest is queued
    for i in range(3):
        pool.submit(lambda i=i: order.append(f"catch-up {i}"), background=True)
    for i in range(2):
        pool.submit(lambda i=i: order.append(f"due {i}"))
    gate.set()
    pool.shutdown(wait=True)
    assert order == ["due 0", "due 1", "catch-up 0", "catch-up 1", "catch-up 2"]


def test_every_callable_of_both_lanes_runs_exactly_once() -> None:
    pool = WorkerPool(8, "test-pool")
    seen: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            seen.append(i)

    for i in range(2000):
        pool.submit(lambda i=i: record(i), background=i % 3 == 0)
    pool.shutdown(wait=True)
    assert sorted(seen) == list(range(2000))


def test_a_failing_callable_does_not_stop_its_thread() -> None:
    pool = WorkerPool(1, "test-pool")
    done = threading.Event()

    def fail() -> None:
        raise RuntimeError("a bug")

    pool.submit(fail)
    pool.submit(done.set, background=True)
    assert done.wait(5)
    pool.shutdown(wait=True)
