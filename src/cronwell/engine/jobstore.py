"""An in-memory APScheduler job store with O(log n) insertion, update and removal.

APScheduler's ``MemoryJobStore`` keeps one sorted list: each add or update is a binary search
in Python plus a list insert and delete, O(n) in the number of jobs, so the updates after
many jobs fire at once grow with the square of their number. This store keeps a heap of
``(timestamp, job id)`` entries with lazy deletion: an entry is current only while it is the
very tuple recorded for the job (no sequence number in each entry: it would cost memory per
job);
stale entries are dropped when they reach the top. The interface, and the order of due jobs
(by time, then id), are ``MemoryJobStore``'s.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection
from datetime import datetime
from typing import Any

from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError

# when stale entries outnumber live ones this many times, the heap is rebuilt
_COMPACT_FACTOR = 4

_Entry = tuple[float, str]  # (next run time as a timestamp, job id)


def _entry(job: Any) -> _Entry | None:
    """A new heap entry for ``job``; ``None`` for a paused job, which waits outside the
    heap. Always a new tuple, even for an unchanged time: identity tells current from stale."""
    when = job.next_run_time
    return None if when is None else (when.timestamp(), job.id)


class HeapJobStore(BaseJobStore):  # type: ignore[misc]
    """Jobs in RAM, ordered by next run time in a heap."""

    def __init__(self) -> None:
        super().__init__()
        # id -> (job, its current heap entry, or None while it is paused)
        self._jobs: dict[str, tuple[Any, _Entry | None]] = {}
        self._heap: list[_Entry] = []

    # -- reads ----------------------------------------------------------------------------

    def lookup_job(self, job_id: str) -> Any:
        entry = self._jobs.get(job_id)
        return entry[0] if entry else None

    def get_due_jobs(self, now: datetime) -> list[Any]:
        """Jobs whose next run time is at or before ``now``, earliest first (ties by id).
        They stay in the store: the scheduler updates or removes each one afterwards."""
        limit = now.timestamp()
        due: list[_Entry] = []
        heap = self._heap
        while heap and heap[0][0] <= limit:
            entry = heapq.heappop(heap)
            if self._is_current(entry):
                due.append(entry)
        for entry in due:
            heapq.heappush(heap, entry)
        return [self._jobs[job_id][0] for _, job_id in due]

    def get_next_run_time(self) -> datetime | None:
        heap = self._heap
        while heap and not self._is_current(heap[0]):
            heapq.heappop(heap)
        return self._jobs[heap[0][1]][0].next_run_time if heap else None

    def get_all_jobs(self) -> list[Any]:
        timed = sorted(entry for _, entry in self._jobs.values() if entry is not None)
        paused = sorted(job_id for job_id, (_, entry) in self._jobs.items() if entry is None)
        return [self._jobs[job_id][0] for _, job_id in timed] + [
            self._jobs[job_id][0] for job_id in paused
        ]

    def __len__(self) -> int:
        return len(self._jobs)

    def soonest(self, count: int, among: Collection[str] | None = None) -> list[_Entry]:
        """Up to ``count`` ``(timestamp, job id)`` of the jobs that have a next run time,
        earliest first (ties by id), only those of ids ``among`` when it is given. Without
        ``among``, a best-first walk down the heap reads about ``count`` entries (and the
        stale ones met on the way), not the whole heap; with it, each of its ids is looked
        up once."""
        if among is not None:
            jobs = self._jobs
            current = (jobs[i][1] for i in among if i in jobs)
            return heapq.nsmallest(count, (e for e in current if e is not None))
        heap = self._heap
        found: list[_Entry] = []
        frontier: list[tuple[_Entry, int]] = [(heap[0], 0)] if heap else []
        while frontier and len(found) < count:
            entry, index = heapq.heappop(frontier)
            if self._is_current(entry):
                found.append(entry)
            for child in (2 * index + 1, 2 * index + 2):
                if child < len(heap):
                    heapq.heappush(frontier, (heap[child], child))
        return found

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
            entry = _entry(job)
            self._jobs[job.id] = (job, entry)
            if entry is not None:
                self._heap.append(entry)
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
        entry = _entry(job)
        self._jobs[job.id] = (job, entry)
        if entry is not None:
            heapq.heappush(self._heap, entry)
        self._maybe_compact()

    def _is_current(self, entry: _Entry) -> bool:
        current = self._jobs.get(entry[1])
        return current is not None and current[1] is entry

    def _maybe_compact(self) -> None:
        if len(self._heap) > _COMPACT_FACTOR * (len(self._jobs) + 64):
            self._heap = [e for e in self._heap if self._is_current(e)]
            heapq.heapify(self._heap)
