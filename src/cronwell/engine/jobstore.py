"""An in-memory APScheduler job store with O(log n) insertion, update and removal.

APScheduler's ``MemoryJobStore`` keeps one sorted list: each add or update is a binary search
in Python plus a list insert and delete, O(n) in the number of jobs. With 100,000 jobs due at
once, the updates after the fires alone took seconds. This store keeps a heap of
``(timestamp, sequence, job id)`` with lazy deletion: an entry is current only while its
sequence number is the one recorded for the job; stale entries are dropped when they reach
the top. The interface, and the order of due jobs (by time, then id), are
``MemoryJobStore``'s.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from itertools import count
from typing import Any

from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError

# when stale entries outnumber live ones this many times, the heap is rebuilt
_COMPACT_FACTOR = 4


class HeapJobStore(BaseJobStore):  # type: ignore[misc]
    """Jobs in RAM, ordered by next run time in a heap."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, tuple[Any, float | None, int]] = {}  # id -> (job, ts, seq)
        self._heap: list[tuple[float, str, int]] = []
        self._sequence = count()

    # -- reads ----------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Any:
        entry = self._jobs.get(job_id)
        return entry[0] if entry else None

    def get_due_jobs(self, now: datetime) -> list[Any]:
        """Jobs whose next run time is at or before ``now``, earliest first (ties by id).
        They stay in the store: the scheduler updates or removes each one afterwards."""
        limit = now.timestamp()
        due: list[tuple[float, str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            if self._is_current(entry):
                due.append(entry)
        for entry in due:
            heapq.heappush(heap, entry)
        return [self._jobs[job_id][0] for _, job_id, _ in due]

    def get_next_run_time(self) -> datetime | None:
        heap = self._heap
        while heap and not self._is_current(heap[0]):
            heapq.heappop(heap)
        return self._jobs[heap[0][1]][0].next_run_time if heap else None

    def get_all_jobs(self) -> list[Any]:
        timed = sorted((ts, job_id) for job_id, (_, ts, _) in self._jobs.items() if ts is not None)
        paused = sorted(job_id for job_id, (_, ts, _) in self._jobs.items() if ts is None)
        return [self._jobs[job_id][0] for _, job_id in timed] + [
            self._jobs[job_id][0] for job_id in paused
        ]

    def __len__(self) -> int:
        return len(self._jobs)

    # -- writes ---------------------------------------------------------------------------

    def add_job(self, job: Any) -> None:
        if job.id in self._jobs:
            raise ConflictingIdError(job.id)
        self._put(job)

    def add_jobs(self, jobs: list[Any]) -> None:
        """Add many jobs at once (a start-up's load) with one heapify, O(n), instead of a
        push each. Nothing is added if an id is taken."""
        seen = set(self._jobs)
        for job in jobs:
            if job.id in seen:
                raise ConflictingIdError(job.id)
            seen.add(job.id)
        for job in jobs:
            when = job.next_run_time
            timestamp = when.timestamp() if when is not None else None
            sequence = next(self._sequence)
            self._jobs[job.id] = (job, timestamp, sequence)
            if timestamp is not None:  # a paused job waits outside the heap
                self._heap.append((timestamp, job.id, sequence))
        heapq.heapify(self._heap)

    def update_job(self, job: Any) -> None:
        if job.id not in self._jobs:
            raise JobLookupError(job.id)
        self._put(job)

    def remove_job(self, job_id: str) -> None:
        if self._jobs.pop(job_id, None) is None:
            raise JobLookupError(job_id)
        self._maybe_compact()

    def remove_all_jobs(self) -> None:
        self._jobs = {}
        self._heap = []

    def shutdown(self) -> None:
        self.remove_all_jobs()

    # -- internals ------------------------------------------------------------------------

    def _put(self, job: Any) -> None:
        when = job.next_run_time
        timestamp = when.timestamp() if when is not None else None
        sequence = next(self._sequence)
        self._jobs[job.id] = (job, timestamp, sequence)
        if timestamp is not None:  # a paused job waits outside the heap
            heapq.heappush(self._heap, (timestamp, job.id, sequence))
        self._maybe_compact()

    def _is_current(self, entry: tuple[float, str, int]) -> bool:
        current = self._jobs.get(entry[1])
        return current is not None and current[2] == entry[2]

    def _maybe_compact(self) -> None:
        if len(self._heap) > _COMPACT_FACTOR * (len(self._jobs) + 64):
            self._heap = [e for e in self._heap if self._is_current(e)]
            heapq.heapify(self._heap)
