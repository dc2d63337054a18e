"""The run repository: run history rows, written three ways (one row, a batch of rows, a
grid of rows crossed with task ids) and fenced by their unique key (DESIGN rule 2); their
outcomes; claims of due runs; recovery of dead instances' runs; retention.

The statements that carry the hot paths (the run insert, the grid, batched outcomes) are
each backend's own: :mod:`cronwell.store.sql`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, String, Text, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from cronwell.domain.run import Run, RunStatus
from cronwell.errors import RunNotFoundError
from cronwell.store.database import Database
from cronwell.store.records import NewRun, RunGrid, RunUpdate, utc, utc_or_none
from cronwell.store.sql import INSERT_CHUNK, BackendSql
from cronwell.store.tables import runs
from cronwell.store.types import UTCDateTime
from cronwell.store.values import (
    Row,
    chunks,
    clean_text,
    counters_json,
    short,
    stored_instance_ids,
)


class Runs:
    """Run history: the rows the dispatcher writes and the reads of them."""

    def __init__(self, db: Database, sql: BackendSql) -> None:
        self._db = db
        self._sql = sql

    def insert_runs(self, rows: Sequence[NewRun]) -> list[int | None]:
        """Insert run rows in one transaction; return each row's new id, or ``None`` for a
        row whose ``(task_id, scheduled_for, attempt)`` already exists (DESIGN rule 2: the
        duplicate is fenced, never raised). A key repeated within ``rows`` is inserted once,
        for its first appearance."""
        if not rows:
            return []
        with self._db.begin(write=True) as conn:
            return self.insert_runs_in(conn, rows)

    def insert_runs_in(self, conn: Connection, rows: Sequence[NewRun]) -> list[int | None]:
        """:meth:`insert_runs` in the caller's transaction."""
        first: dict[tuple[str, datetime, int], int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row.key, index)
        # Keys in a fixed order, so two concurrent batches lock them in the same order
        # (PostgreSQL would otherwise risk a deadlock between overlapping batches).
        unique = sorted(first.items(), key=lambda item: item[0])
        # a batch repeats a few instants thousands of times: each converted once
        stamp = cache(self._db.stamp)
        inserted: dict[tuple[str, Any, int], int] = {}
        for start in range(0, len(unique), INSERT_CHUNK):
            chunk = [_run_params(rows[i], stamp) for _, i in unique[start : start + INSERT_CHUNK]]
            for run_id, task_id, scheduled_for, attempt in self._sql.insert_runs(conn, chunk):
                inserted[(task_id, scheduled_for, attempt)] = int(run_id)
        ids: list[int | None] = [None] * len(rows)
        for (task_id, scheduled_for, attempt), index in first.items():
            ids[index] = inserted.get((task_id, stamp(scheduled_for), attempt))
        return ids

    def insert_grid(self, grid: RunGrid) -> list[tuple[int, str, int]]:
        """Insert every row of ``grid`` in one transaction, fenced as :meth:`insert_runs`
        (a taken key inserts nothing, the first of a repeated key wins); return ``(run id,
        task id, index in grid.rows)`` for each row inserted. Keys are locked in the order
        :meth:`insert_runs` locks them: task id (by code point), then time.

        The database crosses the task ids with the rows, a statement per chunk of tasks
        (:meth:`BackendSql.insert_grid <cronwell.store.sql.BackendSql.insert_grid>`; on
        PostgreSQL a big chunk is copied instead): the rows are not built, converted and
        sent one by one, which would hold the GIL that the runs due meanwhile need."""
        stamp = cache(self._db.stamp)
        index: dict[tuple[Any, int], int] = {}
        template: list[tuple[Any, ...]] = []
        for i, row in enumerate(grid.rows):
            params = _run_params(row, stamp)
            if index.setdefault((params[1], row.attempt), i) == i:
                template.append(params[1:])  # all but the task id
        if not template or not grid.task_ids:
            return []
        task_ids = sorted(set(grid.task_ids))
        with self._db.begin(write=True) as conn:
            return self._sql.insert_grid(conn, task_ids, template, index)

    def mark_started(self, run_id: int, started_at: datetime) -> None:
        """Record when the action of a run actually started."""
        started_at = utc(started_at, "started_at")
        with self._db.begin(write=True) as conn:
            result = conn.execute(
                update(runs).where(runs.c.id == run_id).values(started_at=started_at)
            )
            if result.rowcount == 0:
                raise RunNotFoundError(run_id)

    def finish_run(
        self,
        run_id: int,
        *,
        status: RunStatus,
        finished_at: datetime,
        duration: float | None,
        error: str | None = None,
        traceback: str | None = None,
        output: str | None = None,
        return_value: str | None = None,
        counters: Mapping[str, float] | None = None,
        reason: str | None = None,
    ) -> None:
        """Record the outcome of a running (or pending) run. ``reason`` and ``counters``
        left as ``None`` keep what the row holds. A run that already has an outcome keeps
        it. Unknown id: :class:`~cronwell.errors.RunNotFoundError`."""
        change = RunUpdate(
            run_id,
            status=status,
            finished_at=finished_at,
            duration=duration,
            error=error,
            traceback=traceback,
            output=output,
            return_value=return_value,
            counters=counters,
            reason=reason,
        )
        with self._db.begin(write=True) as conn:
            result = conn.exec_driver_sql(self._sql.finish_sql, self._finish_params(change))
            if (
                result.rowcount == 0
                and conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None
            ):
                raise RunNotFoundError(run_id)

    def finish_runs(self, updates: Sequence[RunUpdate]) -> None:
        """:meth:`finish_run` for many runs in one transaction and one batched statement.
        Unknown ids, and runs that already have an outcome, are left alone."""
        if not updates:
            return
        params = [self._finish_params(change) for change in updates]
        with self._db.begin(write=True) as conn:
            self._sql.finish_runs(conn, params)

    def _finish_params(self, change: RunUpdate) -> tuple[Any, ...]:
        return (
            change.status.value,
            self._db.stamp(change.finished_at),
            # a float for PostgreSQL's array: psycopg refuses to dump a list of ints and floats
            None if change.duration is None else float(change.duration),
            None if change.started_at is None else self._db.stamp(change.started_at),
            clean_text(change.error),
            clean_text(change.traceback),
            clean_text(change.output),
            clean_text(change.return_value),
            counters_json(change.counters),
            short(change.reason),
            change.run_id,
        )

    def get_run(self, run_id: int) -> Run:
        """One run; :class:`~cronwell.errors.RunNotFoundError` if there is none."""
        with self._db.begin() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFoundError(run_id)
        return run_from_row(row)

    def list_runs(
        self,
        *,
        task_id: str | None = None,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]:
        """Runs, newest ``scheduled_for`` first (then newest id). ``status`` is one status or
        several; ``since`` (inclusive) and ``until`` (exclusive) bound ``scheduled_for``."""
        query = (
            select(runs)
            .where(*_run_filters(task_id, status, since, until))
            .order_by(runs.c.scheduled_for.desc(), runs.c.id.desc())
            .limit(limit)
            .offset(offset or None)
        )
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        return [run_from_row(row) for row in rows]

    def count_runs(
        self,
        *,
        task_id: str | None = None,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many runs :meth:`list_runs` would list without a limit."""
        query = (
            select(func.count())
            .select_from(runs)
            .where(*_run_filters(task_id, status, since, until))
        )
        with self._db.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def claim_due_runs(self, now: datetime, instance_id: str, limit: int = 100) -> list[Run]:
        """Switch up to ``limit`` pending runs whose ``due_at`` has come to running
        (``started_at=now``, ``instance_id``) and return them, earliest due first.

        Atomic: a run claimed by one caller is never returned to another, across threads,
        store objects and processes. One statement; on PostgreSQL rows another claimer is
        busy with are skipped (``FOR UPDATE SKIP LOCKED``) rather than waited for.
        """
        now = utc(now, "now")
        if limit <= 0:
            return []
        due = (
            select(runs.c.id)
            .where(runs.c.status == RunStatus.PENDING.value, runs.c.due_at <= now)
            .order_by(runs.c.due_at, runs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            # A materialised CTE runs once. As a plain IN (subquery) PostgreSQL may run it
            # again for each row, and each run finds further rows: LIMIT would not hold.
            .cte("due")
            .prefix_with("MATERIALIZED")
        )
        claim = (
            update(runs)
            .where(runs.c.id.in_(select(due.c.id)), runs.c.status == RunStatus.PENDING.value)
            .values(
                status=RunStatus.RUNNING.value,
                started_at=now,
                instance_id=short(instance_id),
            )
            .returning(*runs.c)
        )
        with self._db.begin(write=True) as conn:
            rows = conn.execute(claim).all()
        return [run_from_row(row) for row in sorted(rows, key=lambda row: (row.due_at, row.id))]

    def start_pending(self, run_id: int, now: datetime, instance_id: str) -> bool:
        """Switch one pending run to running (``started_at=now``) if it is still pending;
        False when it is not (claimed elsewhere, or gone). The run queued behind a running
        one (overlap='queue_one') starts this way."""
        now = utc(now, "now")
        statement = (
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == RunStatus.PENDING.value)
            .values(status=RunStatus.RUNNING.value, started_at=now, instance_id=short(instance_id))
        )
        with self._db.begin(write=True) as conn:
            return bool(conn.execute(statement).rowcount)

    def last_occurrences(
        self, task_ids: Sequence[str] | None = None, *, until: datetime | None = None
    ) -> dict[str, datetime]:
        """For each task with runs, its latest ``scheduled_for`` among its runs (any status,
        any attempt, manual runs left out), at or before ``until`` when given: where a
        restarted scheduler picks up. ``task_ids`` limits the answer to those tasks;
        ``None`` covers every task, including deleted ones with history."""
        query = (
            select(runs.c.task_id, func.max(runs.c.scheduled_for).label("latest"))
            # a manual run's time is "now", not an occurrence: it must not hide an outage
            .where(or_(runs.c.reason.is_(None), runs.c.reason != "manual"))
            .group_by(runs.c.task_id)
        )
        if until is not None:
            query = query.where(runs.c.scheduled_for <= utc(until, "until"))
        with self._db.begin() as conn:
            if task_ids is None:
                rows = conn.execute(query).all()
            else:
                ids = sorted(set(task_ids))
                rows = conn.execute(query.where(self._sql.is_one_of(runs.c.task_id, ids))).all()
        return {str(row.task_id): row.latest for row in rows}

    def release_queued(self, instance_ids: Sequence[str], now: datetime) -> int:
        """Make the runs the given instances had queued (pending, with no ``due_at``) due
        at ``now``, so that :meth:`claim_due_runs` hands them to a live instance; return
        how many. For recovering after those instances died."""
        now = utc(now, "now")
        ids = stored_instance_ids(instance_ids)
        if not ids:
            return 0
        count = 0
        with self._db.begin(write=True) as conn:
            for chunk in chunks(ids):
                result = conn.execute(
                    update(runs)
                    .where(
                        runs.c.status == RunStatus.PENDING.value,
                        runs.c.due_at.is_(None),
                        runs.c.instance_id.in_(chunk),
                    )
                    .values(due_at=now)
                )
                count += int(result.rowcount)
        return count

    def abandon_runs(
        self,
        instance_ids: Sequence[str],
        now: datetime,
        reason: str = "process_died",
        *,
        keep: Collection[int] = (),
        notes: Mapping[int, str] | None = None,
    ) -> list[Run]:
        """Record the running runs of the given (dead) instances as ``abandoned``
        (DESIGN rule 5) and return them as updated, oldest id first, so the caller can
        schedule retries. Runs whose ids are in ``keep`` stay ``running`` (their process
        group is still alive: DESIGN rule 7).

        Each gets ``finished_at=now``, ``reason``, the error "The process running it
        (instance X) stopped before the run finished." (followed by its entry in
        ``notes``, if any) and, when its start is known, ``duration = now - started_at``
        (never below 0). Atomic: when several callers abandon the same instances at once,
        each run is abandoned, and returned, once.
        """
        notes = notes or {}
        now = utc(now, "now")
        ids = stored_instance_ids(instance_ids)
        if not ids:
            return []
        with self._db.begin(write=True) as conn:
            # Locked in id order (PostgreSQL; SQLite's write lock covers it), so concurrent
            # callers cannot deadlock; a caller that waited re-reads the status and skips
            # what the other one abandoned.
            found = [
                row
                for chunk in chunks(ids)
                for row in conn.execute(
                    select(runs.c.id, runs.c.started_at, runs.c.instance_id)
                    .where(
                        runs.c.status == RunStatus.RUNNING.value,
                        runs.c.instance_id.in_(chunk),
                    )
                    .order_by(runs.c.id)
                    .with_for_update()
                )
                if row.id not in keep
            ]
            if not found:
                return []
            conn.execute(
                _ABANDON,
                [
                    {
                        "b_run_id": row.id,
                        "b_finished_at": now,
                        "b_duration": (
                            None
                            if row.started_at is None
                            else max(0.0, (now - row.started_at).total_seconds())
                        ),
                        "b_reason": short(reason),
                        "b_error": (
                            f"The process running it (instance {row.instance_id}) stopped "
                            "before the run finished."
                            + (f" {notes[row.id]}" if row.id in notes else "")
                        ),
                    }
                    for row in found
                ],
            )
            abandoned = [
                row
                for chunk in chunks(sorted(int(row.id) for row in found))
                for row in conn.execute(select(runs).where(runs.c.id.in_(chunk)))
            ]
        return [run_from_row(row) for row in sorted(abandoned, key=lambda row: row.id)]

    def prune_runs(self, before: datetime | None, *, keep_per_task: int | None = None) -> int:
        """Delete finished runs for history retention; return how many were deleted.

        A finished run goes when it was scheduled before ``before`` (``None``: no age
        limit) or when it is not among its task's ``keep_per_task`` newest finished runs
        (newest ``scheduled_for`` first, then newest id; ``None``: no count limit).
        Pending and running runs always stay, and so does each task's newest finished run:
        it marks where a restarted scheduler picks up, so pruning never makes a one-off or
        a yearly task look due again.
        """
        before = utc_or_none(before, "before")
        if keep_per_task is not None and keep_per_task < 0:
            raise ValueError(f"keep_per_task must be 0 or more, got {keep_per_task}")
        finished = runs.c.status.not_in(_ACTIVE)
        ranked = (
            select(
                runs.c.id,
                func.row_number()
                .over(
                    partition_by=runs.c.task_id,
                    order_by=(runs.c.scheduled_for.desc(), runs.c.id.desc()),
                )
                .label("row_rank"),
            )
            .where(finished)
            .subquery("ranked")
        )
        newest = select(ranked.c.id).where(ranked.c.row_rank == 1)
        deleted = 0
        with self._db.begin(write=True) as conn:
            if before is not None:
                result = conn.execute(
                    delete(runs).where(
                        finished, runs.c.scheduled_for < before, runs.c.id.not_in(newest)
                    )
                )
                deleted += int(result.rowcount)
            if keep_per_task is not None:
                surplus = select(ranked.c.id).where(ranked.c.row_rank > max(keep_per_task, 1))
                result = conn.execute(delete(runs).where(runs.c.id.in_(surplus)))
                deleted += int(result.rowcount)
        return deleted


_ACTIVE = (RunStatus.PENDING.value, RunStatus.QUEUED.value, RunStatus.RUNNING.value)


_ABANDON = (
    update(runs)
    .where(runs.c.id == bindparam("b_run_id"), runs.c.status == RunStatus.RUNNING.value)
    .values(
        status=RunStatus.ABANDONED.value,
        finished_at=bindparam("b_finished_at", type_=UTCDateTime()),
        duration=bindparam("b_duration"),
        reason=bindparam("b_reason", type_=String()),
        error=bindparam("b_error", type_=Text()),
    )
)


def _run_params(row: NewRun, stamp: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        row.task_id,
        stamp(row.scheduled_for),
        row.attempt,
        row.status.value,
        short(row.reason),
        stamp(row.due_at),
        stamp(row.started_at),
        stamp(row.finished_at),
        row.error,
        short(row.instance_id),
    )


def run_from_row(row: Row) -> Run:
    return Run(
        id=row.id,
        task_id=row.task_id,
        scheduled_for=row.scheduled_for,
        attempt=row.attempt,
        status=RunStatus(row.status),
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration=row.duration,
        error=row.error,
        traceback=row.traceback,
        output=row.output,
        return_value=row.return_value,
        counters=json.loads(row.counters) if row.counters else {},
        instance_id=row.instance_id,
        pgid=row.pgid,
        host=row.host,
        queue=row.queue,
    )


def _run_filters(
    task_id: str | None,
    status: RunStatus | Sequence[RunStatus] | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if task_id is not None:
        clauses.append(runs.c.task_id == task_id)
    if status is not None:
        # A RunStatus is a str, and a str is a sequence: test for one status first.
        if isinstance(status, str):
            clauses.append(runs.c.status == RunStatus(status).value)
        else:
            clauses.append(runs.c.status.in_([RunStatus(s).value for s in status]))
    since = utc_or_none(since, "since")
    until = utc_or_none(until, "until")
    if since is not None:
        clauses.append(runs.c.scheduled_for >= since)
    if until is not None:
        clauses.append(runs.c.scheduled_for < until)
    return clauses
