"""The reads behind the dashboard and the task listing:
tasks by state, a page of task ids in a chosen order, each task's latest run, and runs
counted by hour and status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Integer, String, bindparam, case, func, literal_column, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from cronwell.domain.run import Run, RunStatus
from cronwell.store.database import Database
from cronwell.store.records import utc
from cronwell.store.runs import run_from_row
from cronwell.store.sql import BackendSql
from cronwell.store.tables import runs, tasks
from cronwell.store.tasks import task_filters

TaskState = Literal["active", "paused", "auto_paused", "failing"]
TASK_STATES: tuple[TaskState, ...] = ("active", "paused", "auto_paused", "failing")


@dataclass(frozen=True)
class TaskStateCounts:
    """How many tasks are in each state. ``paused`` counts every disabled task,
    ``auto_paused`` those of them cronwell paused (a reason is kept), ``failing`` the tasks
    whose latest occurrences failed (``consecutive_failures`` above 0)."""

    total: int = 0
    active: int = 0
    paused: int = 0
    auto_paused: int = 0
    failing: int = 0


class Overview:
    """The reads of the dashboard."""

    def __init__(self, db: Database, sql: BackendSql) -> None:
        self._db = db
        self._sql = sql

    def task_state_counts(self) -> TaskStateCounts:
        """Tasks by state, in one pass over the tasks table."""
        paused = ~tasks.c.enabled
        query = select(
            func.count(),
            func.sum(case((tasks.c.enabled, 1), else_=0)),
            func.sum(case((paused & tasks.c.paused_reason.is_not(None), 1), else_=0)),
            func.sum(case((tasks.c.consecutive_failures > 0, 1), else_=0)),
        )
        with self._db.begin() as conn:
            total, active, auto, failing = conn.execute(query).one()
        total = int(total or 0)
        return TaskStateCounts(
            total=total,
            active=int(active or 0),
            paused=total - int(active or 0),
            auto_paused=int(auto or 0),
            failing=int(failing or 0),
        )

    def _state_filters(
        self, tag: str | None, text: str | None, state: TaskState | None
    ) -> list[ColumnElement[bool]]:
        enabled = {"active": True, "paused": False, "auto_paused": False}.get(state or "")
        clauses = task_filters(self._sql, tag, enabled, text)
        if state == "auto_paused":
            clauses.append(tasks.c.paused_reason.is_not(None))
        elif state == "failing":
            clauses.append(tasks.c.consecutive_failures > 0)
        return clauses

    def count_tasks_in(
        self, *, tag: str | None = None, text: str | None = None, state: TaskState | None = None
    ) -> int:
        """How many tasks :meth:`task_ids` would list without a limit."""
        query = (
            select(func.count()).select_from(tasks).where(*self._state_filters(tag, text, state))
        )
        with self._db.begin() as conn:
            return int(conn.execute(query).scalar_one())

    def task_ids(
        self,
        *,
        tag: str | None = None,
        text: str | None = None,
        state: TaskState | None = None,
        order: Literal["id", "failing"] = "id",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[str]:
        """Ids of the tasks with ``tag``, ``text`` in their id or name, in ``state``: by
        id, or (``failing``) the longest failure streaks first, then by id."""
        query = select(tasks.c.id).where(*self._state_filters(tag, text, state))
        if order == "failing":
            query = query.order_by(tasks.c.consecutive_failures.desc(), tasks.c.id)
        else:
            query = query.order_by(tasks.c.id)
        query = query.limit(limit).offset(offset or None)
        with self._db.begin() as conn:
            return [str(value) for value in conn.execute(query).scalars()]

    def latest_runs(self, task_ids: Sequence[str]) -> dict[str, Run]:
        """Each of ``task_ids``'s newest run (by scheduled time, then attempt), for the
        tasks that have one, in one statement: an index look-up per task, for a page of
        tasks."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return {}
        if self._db.is_sqlite:
            ids = func.json_each(bindparam("ids", json.dumps(wanted))).table_valued("value")
        else:
            array = bindparam("ids", wanted, type_=postgresql.ARRAY(String))
            ids = func.unnest(array).table_valued("value").render_derived()
        newest = runs.alias("newest")
        latest = (
            select(newest.c.id)
            .where(newest.c.task_id == ids.c.value)
            .order_by(newest.c.scheduled_for.desc(), newest.c.attempt.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = select(runs).where(runs.c.id.in_(select(latest).select_from(ids)))
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        return {str(row.task_id): run_from_row(row) for row in rows}

    def runs_by_hour(self, since: datetime, until: datetime) -> dict[tuple[datetime, str], int]:
        """Runs scheduled in ``[since, until)`` counted by UTC hour and status:
        ``{(hour, status): count}``."""
        since, until = utc(since, "since"), utc(until, "until")
        if self._db.is_sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC text
            hour: ColumnElement[str] = func.substr(runs.c.scheduled_for, 1, 13)
        else:
            utc_time = runs.c.scheduled_for.op("AT TIME ZONE")(literal_column("'UTC'"))
            hour = func.to_char(utc_time, "YYYY-MM-DD HH24")
        query = (
            select(hour.label("hour"), runs.c.status, func.count().cast(Integer))
            .where(runs.c.scheduled_for >= since, runs.c.scheduled_for < until)
            .group_by(hour, runs.c.status)
        )
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        counts: dict[tuple[datetime, str], int] = {}
        for text, status, count in rows:
            when = datetime.strptime(str(text)[:13], "%Y-%m-%d %H").replace(tzinfo=UTC)
            counts[when, RunStatus(status).value] = int(count)
        return counts
