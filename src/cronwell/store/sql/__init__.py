"""The statements each backend writes its own way, behind one interface.

The store's hot paths (inserting the runs of a burst or a catch-up, finishing them,
storing a fleet of new tasks) hand their rows straight to the driver in statements
written for it: SQLAlchemy's per-row parameter handling cost more than the database did.
SQLite takes ``VALUES`` lists and JSON arrays (``json_each``); PostgreSQL takes one array
per column (``unnest``), and a big grid of runs goes in with ``COPY``. The repositories
call :class:`BackendSql`; :func:`backend_sql` picks the implementation once per database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import ReturningInsert

from cronwell.domain.run import RunStatus
from cronwell.store.tables import runs, task_changes

# Columns of a new task row, in the order the task statements take them
NEW_TASK_COLUMNS = (
    "id",
    "name",
    "enabled",
    "definition",
    "tags",
    "version",
    "revision",
    "created_at",
    "updated_at",
    "paused_reason",
    "consecutive_failures",
    "source",
    "declared",
)

# Columns of a new run row, in the order the run statements take them
RUN_COLUMNS = (
    "task_id",
    "scheduled_for",
    "attempt",
    "status",
    "reason",
    "due_at",
    "started_at",
    "finished_at",
    "error",
    "instance_id",
)
INSERT_CHUNK = 1000  # rows per statement: 10,000 parameters, within SQLite's limit

RUNS_FENCE = (
    " ON CONFLICT (task_id, scheduled_for, attempt) DO NOTHING"
    " RETURNING id, task_id, scheduled_for, attempt"
)


def finish_run_sql(mark: str) -> str:
    """``UPDATE`` of one run's outcome in the driver's parameter style, for
    ``executemany``. Only a running (or pending) row takes a result: one already recorded
    abandoned (its process was thought dead) or interrupted keeps that status. ``None``
    for ``counters`` or ``reason`` keeps what the row holds. Written for the driver for the
    same reason as the inserts: SQLAlchemy's per-row parameter handling cost more than
    the update."""
    return (
        f"UPDATE {runs.name} SET status = {mark}, finished_at = {mark}, duration = {mark},"
        f" started_at = COALESCE({mark}, started_at), error = {mark}, traceback = {mark},"
        f" output = {mark}, return_value = {mark},"
        f" counters = COALESCE({mark}, counters), reason = COALESCE({mark}, reason)"
        f" WHERE id = {mark} AND status IN ('{RunStatus.RUNNING.value}',"
        f" '{RunStatus.PENDING.value}')"
    )


def change_row(task_id: str, now: datetime) -> ReturningInsert[Any]:
    """The change log row of one task change, returning its revision."""
    return (
        insert(task_changes)
        .values(task_id=task_id, changed_at=now)
        .returning(task_changes.c.revision)
    )


class BackendSql(Protocol):
    """What the repositories ask of a backend's own statements. Every method runs in the
    caller's transaction (``conn``); rows are tuples of driver values (timestamps already
    converted by :attr:`Database.stamp <cronwell.store.database.Database.stamp>`)."""

    finish_sql: str
    """:func:`finish_run_sql` in this driver's parameter style."""

    def is_one_of(
        self, column: ColumnElement[str], values: list[str], name: str = "values"
    ) -> ColumnElement[bool]:
        """``column IN values`` as a statement whose text does not depend on how many
        values there are."""
        ...

    def has_tag(self, tag: str) -> ColumnElement[bool]:
        """True for the tasks whose tags (a JSON list) hold ``tag`` as an element."""
        ...

    def record_change(self, conn: Connection, task_id: str, now: datetime) -> int:
        """Append to the change log; return the new revision. On PostgreSQL the same
        statement notifies listeners (delivered at commit)."""
        ...

    def record_changes(self, conn: Connection, ids: Sequence[str], now: datetime) -> dict[str, int]:
        """:meth:`record_change` for many tasks at once: the revision of each."""
        ...

    def insert_tasks(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Insert new task rows, each in the order of :data:`NEW_TASK_COLUMNS`."""
        ...

    def insert_runs(self, conn: Connection, chunk: list[tuple[Any, ...]]) -> Sequence[Any]:
        """Insert up to :data:`INSERT_CHUNK` run rows (in the order of
        :data:`RUN_COLUMNS`), fenced (DESIGN rule 2: a taken key inserts nothing); return
        ``(id, task_id, scheduled_for, attempt)`` for each row inserted."""
        ...

    def insert_grid(
        self,
        conn: Connection,
        task_ids: list[str],
        template: list[tuple[Any, ...]],
        index: dict[tuple[Any, int], int],
    ) -> list[tuple[int, str, int]]:
        """Insert ``task_ids`` (sorted) crossed with ``template`` (run rows but for the
        task id), fenced; return ``(run id, task id, index[scheduled_for, attempt])`` for
        each row inserted. Keys are locked in the order ``insert_runs`` locks them: task
        id (by code point), then time."""
        ...

    def finish_runs(self, conn: Connection, params: list[tuple[Any, ...]]) -> None:
        """Record many outcomes, each the parameters of :attr:`finish_sql`; a run named
        twice keeps the first."""
        ...


def backend_sql(is_sqlite: bool) -> BackendSql:
    """The statements of the backend: SQLite's or PostgreSQL's."""
    if is_sqlite:
        from cronwell.store.sql.sqlite import SqliteSql

        return SqliteSql()
    from cronwell.store.sql.postgresql import PostgresSql

    return PostgresSql()
