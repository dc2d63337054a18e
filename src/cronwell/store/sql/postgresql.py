"""PostgreSQL's statements of :class:`~cronwell.store.sql.BackendSql`: rows as one array per
column (``unnest``), so that a statement's text never changes whatever the number of rows,
and big grids of runs written with ``COPY``.

A statement whose text never changes is parsed once by psycopg, where a ``VALUES`` list of
thousands of placeholders was parsed again for every batch, and the server may prepare it.
Arrays go in binary (``%b``): in text, psycopg escapes every quote of every element with a
regular expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import product
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, cast, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from cronwell.domain.run import RunStatus
from cronwell.store.listen import notify_change
from cronwell.store.sql import (
    NEW_TASK_COLUMNS,
    RUN_COLUMNS,
    RUNS_FENCE,
    change_row,
    finish_run_sql,
)
from cronwell.store.tables import runs, task_changes, tasks

# PostgreSQL array types of RUN_COLUMNS, in the same order
_RUN_COLUMN_KINDS = (
    "varchar",
    "timestamptz",
    "int",
    "varchar",
    "varchar",
    "timestamptz",
    "timestamptz",
    "timestamptz",
    "text",
    "varchar",
)
# rows per statement of a grid, whose arrays have no parameter limit: the thread that
# waits for a statement takes the GIL back after each one, behind the others
_GRID_CHUNK = 10_000

_INSERT_TASKS = (
    f"INSERT INTO {tasks.name} ({', '.join(NEW_TASK_COLUMNS)})"
    " SELECT * FROM unnest(%b::varchar[], %b::text[], %b::boolean[], %b::text[], %b::text[],"
    " %b::int[], %b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::int[],"
    " %b::varchar[], %b::varchar[])"
)
_INSERT_CHANGES = (
    f"INSERT INTO {task_changes.name} (task_id, changed_at)"
    " SELECT * FROM unnest(%b::varchar[], %b::timestamptz[]) RETURNING task_id, revision"
)

_INSERT_RUNS = (
    f"INSERT INTO {runs.name} ({','.join(RUN_COLUMNS)}) SELECT * FROM unnest("
    + ",".join(f"%b::{kind}[]" for kind in _RUN_COLUMN_KINDS)
    + f"){RUNS_FENCE}"
)

# the outcomes as one array per column, in the order of finish_run_sql's parameters, with
# the same guard
_FINISH_RUNS = (
    f"UPDATE {runs.name} AS r SET status = u.status, finished_at = u.finished_at,"
    " duration = u.duration, started_at = COALESCE(u.started_at, r.started_at),"
    " error = u.error, traceback = u.traceback, output = u.output,"
    " return_value = u.return_value, counters = COALESCE(u.counters, r.counters),"
    " reason = COALESCE(u.reason, r.reason)"
    " FROM unnest(%b::varchar[], %b::timestamptz[], %b::float8[], %b::timestamptz[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::varchar[], %b::bigint[])"
    " AS u(status, finished_at, duration, started_at, error, traceback, output, return_value,"
    " counters, reason, id)"
    f" WHERE r.id = u.id AND r.status IN ('{RunStatus.RUNNING.value}',"
    f" '{RunStatus.PENDING.value}')"
)

# a grid: one array of task ids crossed with one array per other column, in the order
# insert_runs locks keys (code points: the "C" collation)
_INSERT_GRID = (
    f"INSERT INTO {runs.name} ({','.join(RUN_COLUMNS)}) SELECT ids.id, rows.*"
    " FROM unnest(%b::varchar[]) AS ids(id) CROSS JOIN unnest("
    + ",".join(f"%b::{kind}[]" for kind in _RUN_COLUMN_KINDS[1:])
    + f') AS rows ORDER BY ids.id COLLATE "C", 2{RUNS_FENCE}'
)

# Big grids go in with COPY, which adds rows to the table a page at a time where INSERT
# adds them one by one, and sends nothing back per row. Below _COPY_FROM rows, the id
# look-up and the savepoint cost as much as they save.
_COPY_FROM = 2000
_COPY_GRID = f"COPY {runs.name} (id, {','.join(RUN_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_NEXT_RUN_IDS = f"SELECT array_agg(nextval('{runs.name}_id_seq')) FROM generate_series(1, %s)"
_UNIQUE_VIOLATION = "23505"
# psycopg's names of the types of "id" and RUN_COLUMNS, for COPY in binary
_COPY_TYPES = ("int8", *("int4" if kind == "int" else kind for kind in _RUN_COLUMN_KINDS))


class PostgresSql:
    """PostgreSQL's statements."""

    finish_sql = finish_run_sql("%s")

    def is_one_of(
        self, column: ColumnElement[str], values: list[str], name: str = "values"
    ) -> ColumnElement[bool]:
        # one array: an IN list would be rendered again, and parsed again by psycopg, for
        # every call
        return column == any_(bindparam(name, values, type_=postgresql.ARRAY(String)))

    def has_tag(self, tag: str) -> ColumnElement[bool]:
        # jsonb's "?" is true when the array holds the string as an element
        return cast(tasks.c.tags, postgresql.JSONB).op("?", is_comparison=True)(tag)

    def record_change(self, conn: Connection, task_id: str, now: datetime) -> int:
        change = change_row(task_id, now).cte("change")
        return int(
            conn.execute(select(change.c.revision, notify_change(change.c.revision))).scalar_one()
        )

    def record_changes(self, conn: Connection, ids: Sequence[str], now: datetime) -> dict[str, int]:
        changes = conn.exec_driver_sql(_INSERT_CHANGES, (list(ids), [now] * len(ids)))
        revisions: dict[str, int] = dict(changes.all())
        conn.execute(select(notify_change(max(revisions.values()))))
        return revisions

    def insert_tasks(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        conn.exec_driver_sql(_INSERT_TASKS, tuple(map(list, zip(*rows, strict=True))))

    def insert_runs(self, conn: Connection, chunk: list[tuple[Any, ...]]) -> Sequence[Any]:
        params = tuple(map(list, zip(*chunk, strict=True)))
        return conn.exec_driver_sql(_INSERT_RUNS, params).all()

    def insert_grid(
        self,
        conn: Connection,
        task_ids: list[str],
        template: list[tuple[Any, ...]],
        index: dict[tuple[Any, int], int],
    ) -> list[tuple[int, str, int]]:
        per_statement = max(1, _GRID_CHUNK // len(template))
        rows = tuple(map(list, zip(*template, strict=True)))
        template.sort(key=lambda row: row[:2])  # key order within a task: time, attempt
        positions = [index[row[0], row[1]] for row in template]
        inserted: list[tuple[int, str, int]] = []
        for start in range(0, len(task_ids), per_statement):
            chunk = task_ids[start : start + per_statement]
            copied = None
            if len(chunk) * len(template) >= _COPY_FROM:
                copied = _copy_grid(conn, chunk, template, positions)
            if copied is not None:
                inserted += copied
                continue
            result = conn.exec_driver_sql(_INSERT_GRID, (chunk, *rows))
            inserted += [
                (int(run_id), task_id, index[scheduled_for, attempt])
                for run_id, task_id, scheduled_for, attempt in result.all()
            ]
        return inserted

    def finish_runs(self, conn: Connection, params: list[tuple[Any, ...]]) -> None:
        # one statement over one array per column: executemany would send, and the server
        # execute, one UPDATE per run. A run updated twice keeps the first, as the second
        # UPDATE of executemany would find it no longer running.
        firsts = list({row[-1]: row for row in reversed(params)}.values())
        conn.exec_driver_sql(_FINISH_RUNS, tuple(map(list, zip(*firsts, strict=True))))


def _copy_grid(
    conn: Connection,
    task_ids: Sequence[str],
    template: Sequence[tuple[Any, ...]],
    positions: Sequence[int],
) -> list[tuple[int, str, int]] | None:
    """Write ``task_ids`` crossed with ``template`` (rows but for the task id, in key order)
    with ``COPY``; return ``(run id, task id, position)`` for each row, as
    :meth:`PostgresSql.insert_grid` does. ``COPY`` has no ``ON CONFLICT``: the unique index
    still fences every row (DESIGN rule 2), but one taken key refuses them all, and then
    nothing is written and ``None`` says to insert them row by row instead (only two
    instances firing one occurrence meet that)."""
    count = len(task_ids) * len(template)
    run_ids: list[int] = conn.exec_driver_sql(_NEXT_RUN_IDS, (count,)).scalar_one()
    driver = conn.connection.driver_connection
    assert driver is not None
    savepoint = conn.begin_nested()
    try:
        with driver.cursor() as cursor, cursor.copy(_COPY_GRID) as copy:
            copy.set_types(_COPY_TYPES)
            for run_id, (task_id, row) in zip(run_ids, product(task_ids, template), strict=True):
                copy.write_row((run_id, task_id, *row))
    except conn.dialect.loaded_dbapi.Error as exc:
        savepoint.rollback()
        if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:
            return None
        # as SQLAlchemy would have raised it, for Database.begin to say what went wrong
        raise sa_exc.DBAPIError.instance(
            _COPY_GRID, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    savepoint.commit()
    return [
        (run_id, task_id, position)
        for run_id, (task_id, position) in zip(run_ids, product(task_ids, positions), strict=True)
    ]
