"""The worker pool: every callable runs once, and background work has threads of its own."""

from __future__ import annotations

import threading

from cronwell.dispatch.pool import WorkerPool, background_threads


def test_background_work_never_takes_a_thread_from_work_due_now() -> None:
    pool = WorkerPool(4, "test-pool")  # 4 threads for work due now, 1 for background
    assert background_threads(4) == 1
    gate = threading.Event()
    started = threading.Event()
    lock = threading.Lock()
    running = [0]
    most = [0]
    finished = [0]

    def slow_catch_up() -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        started.set()
        gate.wait(5)
        with lock:
            running[0] -= 1
            finished[0] += 1

    for _ in range(10):  # slow catch-up runs: one at a time, the rest wait their turn
        pool.submit(slow_catch_up, background=True)
    assert started.wait(5)
    due = [threading.Event() for _ in range(4)]
    for event in due:  # all four run while the catch-up holds its thread
        pool.submit(event.set)
    assert all(event.wait(5) for event in due)
    gate.set()
    pool.shutdown(wait=True)
    assert most[0] == 1  # never two catch-up runs at once
    assert finished[0] == 10 and running[0] == 0


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
