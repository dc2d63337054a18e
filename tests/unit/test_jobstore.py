"""The engine's heap job store answers as APScheduler's MemoryJobStore does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore

from cronwell.engine.jobstore import HeapJobStore

BASE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class FakeJob:
    """The two attributes a job store reads."""

    def __init__(self, job_id: str, seconds: int | None) -> None:
        self.id = job_id
        self.next_run_time = None if seconds is None else BASE + timedelta(seconds=seconds)


def test_same_answers_as_memory_job_store_under_random_operations() -> None:
    rng = random.Random(7)
    ours, theirs = HeapJobStore(), MemoryJobStore()
    ids = [f"job-{i}" for i in range(60)]
    for _ in range(3000):
        job_id = rng.choice(ids)
        seconds = rng.choice([None, *range(0, 50)])
        job = FakeJob(job_id, seconds)
        present = theirs.lookup_job(job_id) is not None
        operation = rng.choice(["put", "put", "remove"])
        for store in (ours, theirs):
            if operation == "remove" and present:
                store.remove_job(job_id)
            elif operation == "put" and present:
                store.update_job(job)
            elif operation == "put":
                store.add_job(job)
        now = BASE + timedelta(seconds=rng.randrange(0, 50))
        assert [j.id for j in ours.get_due_jobs(now)] == [j.id for j in theirs.get_due_jobs(now)]
        assert ours.get_next_run_time() == theirs.get_next_run_time()
    assert [j.id for j in ours.get_all_jobs()] == [j.id for j in theirs.get_all_jobs()]
    assert len(ours._heap) <= 4 * (len(ours) + 64)  # stale entries are compacted away


def test_errors_match_memory_job_store() -> None:
    store = HeapJobStore()
    store.add_job(FakeJob("a", 1))
    with pytest.raises(ConflictingIdError):
        store.add_job(FakeJob("a", 2))
    with pytest.raises(JobLookupError):
        store.update_job(FakeJob("b", 2))
    with pytest.raises(JobLookupError):
        store.remove_job("b")
    store.remove_all_jobs()
    assert store.get_next_run_time() is None and store.get_all_jobs() == []


def test_adding_many_at_once_equals_adding_one_by_one() -> None:
    rng = random.Random(11)
    jobs = [FakeJob(f"job-{i}", rng.choice([None, *range(0, 40)])) for i in range(500)]
    at_once, one_by_one = HeapJobStore(), HeapJobStore()
    at_once.add_job(jobs[0])
    one_by_one.add_job(jobs[0])
    at_once.add_jobs(jobs[1:])
    for job in jobs[1:]:
        one_by_one.add_job(job)
    for seconds in (-1, 0, 17, 39):
        now = BASE + timedelta(seconds=seconds)
        assert [j.id for j in at_once.get_due_jobs(now)] == [
            j.id for j in one_by_one.get_due_jobs(now)
        ]
    assert [j.id for j in at_once.get_all_jobs()] == [j.id for j in one_by_one.get_all_jobs()]
    with pytest.raises(ConflictingIdError):  # taken, or twice in the batch: nothing added
        at_once.add_jobs([FakeJob("new", 1), FakeJob("job-3", 1)])
    with pytest.raises(ConflictingIdError):
        at_once.add_jobs([FakeJob("new", 1), FakeJob("new", 2)])
    assert at_once.lookup_job("new") is None and len(at_once) == 500
