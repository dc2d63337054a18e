"""The remote-run repository: runs the leader records and a Celery worker executes
(DESIGN rule 13).

A remote run's row is written by the leader as any other (DESIGN rule 2), then marked
``queued`` with its queue before its message is sent. A worker takes it with a
compare-and-set, ``queued`` → ``running`` under the worker's instance id: of two workers
given the same message (a redelivery), one takes it and the other does nothing. The
leader watches the rows of its runs in flight until they end, and ends those nobody takes
(``missed``) or that outlive their timeout on a worker (``timed_out``), each with a
compare-and-set too, so a worker and the leader never both write an end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, select, update

from cronwell.domain.run import Run, RunStatus
from cronwell.store.database import Database
from cronwell.store.records import utc
from cronwell.store.runs import run_from_row
from cronwell.store.tables import runs
from cronwell.store.values import Row, chunks, short


class RemoteState(NamedTuple):
    """Where one remote run stands, as the leader watches it."""

    run_id: int
    task_id: str
    attempt: int
    status: RunStatus
    started_at: datetime | None


_IN_FLIGHT = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
_STATE_COLUMNS = (runs.c.id, runs.c.task_id, runs.c.attempt, runs.c.status, runs.c.started_at)


def _state(row: Row) -> RemoteState:
    return RemoteState(row.id, row.task_id, row.attempt, RunStatus(row.status), row.started_at)


class RemoteRuns:
    """The rows of runs sent to remote workers."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def mark_queued(self, run_ids: Sequence[int], queue: str) -> list[int]:
        """Mark recorded runs as sent to ``queue``: ``running`` → ``queued``, no start yet.
        Returns the ids marked (a run that ended meanwhile, at a shutdown, is left)."""
        marked: list[int] = []
        with self._db.begin(write=True) as conn:
            for part in chunks(list(run_ids)):
                statement = (
                    update(runs)
                    .where(runs.c.id.in_(part), runs.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.QUEUED.value, started_at=None, queue=short(queue))
                    .returning(runs.c.id)
                )
                marked += conn.execute(statement).scalars()
        return marked

    def claim(self, run_id: int, worker_id: str, host: str, now: datetime) -> Run | None:
        """A worker takes a queued run: ``queued`` → ``running``, started now, under its
        id. ``None`` when the run is not queued (another worker took it, it ended, or the
        leader recorded it missed)."""
        statement = (
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == RunStatus.QUEUED.value)
            .values(
                status=RunStatus.RUNNING.value,
                started_at=utc(now, "now"),
                instance_id=short(worker_id),
                host=short(host),
            )
            .returning(*runs.c)
        )
        with self._db.begin(write=True) as conn:
            row = conn.execute(statement).first()
        return None if row is None else run_from_row(row)

    def states(self, run_ids: Sequence[int]) -> list[RemoteState]:
        """Where each of ``run_ids`` stands (unknown ids are left out)."""
        found: list[RemoteState] = []
        columns = _STATE_COLUMNS
        with self._db.begin() as conn:
            for part in chunks(list(run_ids)):
                rows = conn.execute(select(*columns).where(runs.c.id.in_(part)))
                found += [_state(row) for row in rows]
        return found

    def runs(self, run_ids: Sequence[int]) -> list[Run]:
        """The rows of ``run_ids``, in full."""
        found: list[Run] = []
        with self._db.begin() as conn:
            for part in chunks(list(run_ids)):
                found += map(run_from_row, conn.execute(select(runs).where(runs.c.id.in_(part))))
        return found

    def in_flight(self) -> list[RemoteState]:
        """Every remote run not ended yet: a new leader watches them on."""
        columns = _STATE_COLUMNS
        query = select(*columns).where(runs.c.queue.is_not(None), runs.c.status.in_(_IN_FLIGHT))
        with self._db.begin() as conn:
            return [_state(row) for row in conn.execute(query)]

    def end(
        self,
        ends: Sequence[tuple[int, float | None]],
        was: RunStatus,
        status: RunStatus,
        now: datetime,
        *,
        reason: str | None,
        error: str,
    ) -> list[int]:
        """End runs that are still ``was`` as ``status``, each with its duration (the
        leader's compare-and-set: unclaimed runs ``missed``, runs past their timeout
        ``timed_out``). Returns the ids ended; a run a worker took or ended meanwhile is
        left to it."""
        values: dict[str, object] = {"status": status.value, "finished_at": utc(now, "now")}
        values["error"] = error
        if reason is not None:
            values["reason"] = short(reason)
        ended: list[int] = []
        with self._db.begin(write=True) as conn:
            for run_id, duration in ends:
                statement = (
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.status == was.value)
                    .values(duration=duration, **values)
                )
                if conn.execute(statement).rowcount:
                    ended.append(run_id)
        return ended

    def queue_depths(self) -> dict[str, int]:
        """Runs sent to each queue and not taken by a worker yet."""
        query = (
            select(runs.c.queue, func.count())
            .where(runs.c.status == RunStatus.QUEUED.value, runs.c.queue.is_not(None))
            .group_by(runs.c.queue)
        )
        depths: Counter[str] = Counter()
        with self._db.begin() as conn:
            for queue, count in conn.execute(query):
                depths[str(queue)] += int(count)
        return dict(depths)
