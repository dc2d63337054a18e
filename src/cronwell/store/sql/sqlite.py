"""SQLite's statements of :class:`~cronwell.store.sql.BackendSql`: ``VALUES`` lists of
``?`` placeholders, and lists of ids as one JSON text read with ``json_each``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, func, insert, select
from sqlalchemy.engine import Connection

from cronwell.store.sql import (
    INSERT_CHUNK,
    NEW_TASK_COLUMNS,
    RUN_COLUMNS,
    RUNS_FENCE,
    change_row,
    finish_run_sql,
)
from cronwell.store.tables import runs, task_changes, tasks

_INSERT_TASKS = (
    f"INSERT INTO {tasks.name} ({', '.join(NEW_TASK_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(NEW_TASK_COLUMNS))})"
)


@lru_cache(maxsize=16)
def _insert_runs_sql(count: int) -> str:
    """The ``INSERT`` of ``count`` run rows, fenced (DESIGN rule 2: a taken occurrence
    key inserts nothing) and returning each new row's key and id."""
    row = "(" + ",".join("?" * len(RUN_COLUMNS)) + ")"
    columns = ",".join(RUN_COLUMNS)
    return f"INSERT INTO {runs.name} ({columns}) VALUES {','.join([row] * count)}{RUNS_FENCE}"


@lru_cache(maxsize=16)
def _insert_grid_sql(count: int) -> str:
    """The ``INSERT`` of a :class:`~cronwell.store.RunGrid`: the task ids as one JSON
    array, crossed with ``count`` rows of the other columns; fenced and returning as
    :func:`_insert_runs_sql`. (``WHERE true`` tells SQLite's parser that ``ON CONFLICT``
    belongs to the ``INSERT``, not to a join.)"""
    row = "(" + ",".join("?" * (len(RUN_COLUMNS) - 1)) + ")"
    return (
        f"INSERT INTO {runs.name} ({','.join(RUN_COLUMNS)}) SELECT ids.value, rows.*"
        f" FROM json_each(?) AS ids CROSS JOIN (VALUES {','.join([row] * count)}) AS rows"
        f" WHERE true ORDER BY 1, 2{RUNS_FENCE}"
    )


class SqliteSql:
    """SQLite's statements."""

    finish_sql = finish_run_sql("?")

    def is_one_of(
        self, column: ColumnElement[str], values: list[str], name: str = "values"
    ) -> ColumnElement[bool]:
        # one JSON text: an IN list would be rendered again for every call
        listed = func.json_each(bindparam(name, json.dumps(values))).table_valued("value")
        return column.in_(select(listed.c.value))

    def has_tag(self, tag: str) -> ColumnElement[bool]:
        elements = func.json_each(tasks.c.tags).table_valued("value")
        return exists().select_from(elements).where(elements.c.value == tag)

    def record_change(self, conn: Connection, task_id: str, now: datetime) -> int:
        return int(conn.execute(change_row(task_id, now)).scalar_one())

    def record_changes(self, conn: Connection, ids: Sequence[str], now: datetime) -> dict[str, int]:
        result = conn.execute(
            insert(task_changes).returning(task_changes.c.task_id, task_changes.c.revision),
            [{"task_id": task_id, "changed_at": now} for task_id in ids],
        )
        return {row.task_id: row.revision for row in result}

    def insert_tasks(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        conn.exec_driver_sql(_INSERT_TASKS, rows)

    def insert_runs(self, conn: Connection, chunk: list[tuple[Any, ...]]) -> Sequence[Any]:
        params = tuple(value for row in chunk for value in row)
        return conn.exec_driver_sql(_insert_runs_sql(len(chunk)), params).all()

    def insert_grid(
        self,
        conn: Connection,
        task_ids: list[str],
        template: list[tuple[Any, ...]],
        index: dict[tuple[Any, int], int],
    ) -> list[tuple[int, str, int]]:
        per_statement = max(1, INSERT_CHUNK // len(template))
        sql = _insert_grid_sql(len(template))
        rows = tuple(value for row in template for value in row)
        inserted: list[tuple[int, str, int]] = []
        for start in range(0, len(task_ids), per_statement):
            chunk = task_ids[start : start + per_statement]
            result = conn.exec_driver_sql(sql, (json.dumps(chunk), *rows))
            inserted += [
                (int(run_id), task_id, index[scheduled_for, attempt])
                for run_id, task_id, scheduled_for, attempt in result.all()
            ]
        return inserted

    def finish_runs(self, conn: Connection, params: list[tuple[Any, ...]]) -> None:
        conn.exec_driver_sql(self.finish_sql, params)
