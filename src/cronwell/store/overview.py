"""The :class:`~cronwell.store.Store` reads behind the dashboard and the task listing:
tasks by state, a page of task ids in a chosen order, each task's latest run, and runs
counted by hour and status."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Integer, String, bindparam, false, func, literal_column, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from cronwell.domain.run import Run, RunStatus
from cronwell.store.database import Database
from cronwell.store.records import utc
from cronwell.store.runs import run_from_row
from cronwell.store.sql import BackendSql
from cronwell.store.tables import runs, tasks
from cronwell.store.tasks import task_filters

#: The failing tasks, written with a literal so that SQLite uses the partial index on it.
_FAILING = tasks.c.consecutive_failures > literal_column("0")

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


def _plain_in_json(tag: str) -> bool:
    """Whether ``tag`` is written as itself inside quotes in the stored JSON list (no
    character that JSON escapes), so that a text match on it cannot miss a task."""
    return json.dumps(tag) == f'"{tag}"'


def _longest_streaks_first(rows: Iterable[Any]) -> list[Any]:
    """``(id, consecutive_failures)`` rows, the longest failure streaks first, then by id."""
    return sorted(rows, key=lambda row: (-row[1], row[0]))


class Overview:
    """The reads of the dashboard."""

    def __init__(self, db: Database, sql: BackendSql) -> None:
        self._db = db
        self._sql = sql

    def task_state_counts(self) -> TaskStateCounts:
        """Tasks by state: one count a state, each read from an index."""

        def count(*where: ColumnElement[bool]) -> ScalarSelect[int]:
            return select(func.count()).select_from(tasks).where(*where).scalar_subquery()

        paused = tasks.c.enabled == false()
        query = select(
            count(),
            count(paused),
            count(paused, tasks.c.paused_reason.is_not(None)),
            count(_FAILING),
        )
        with self._db.begin() as conn:
            total, paused_count, auto, failing = (int(n or 0) for n in conn.execute(query).one())
        return TaskStateCounts(
            total=total,
            active=total - paused_count,
            paused=paused_count,
            auto_paused=auto,
            failing=failing,
        )

    def _state_filters(
        self, tag: str | None, text: str | None, state: TaskState | None
    ) -> list[ColumnElement[bool]]:
        enabled = {"active": True, "paused": False, "auto_paused": False}.get(state or "")
        clauses = task_filters(self._sql, tag, enabled, None)
        if text:
            clauses.append(self._mentions(text))
        if tag is not None and self._db.is_sqlite and _plain_in_json(tag):
            # a text match first, which rules out most rows before the exact JSON test
            # (PostgreSQL looks the tag up in its GIN index instead)
            clauses.insert(0, tasks.c.tags.contains(json.dumps(tag), autoescape=True))
        if state == "auto_paused":
            clauses.append(tasks.c.paused_reason.is_not(None))
        elif state == "failing":
            clauses.append(_FAILING)
        return clauses

    def _mentions(self, text: str) -> ColumnElement[bool]:
        """``text`` in the task's id or name, ignoring case. SQLite's LIKE already ignores
        the case of ASCII letters, as its ``lower()`` only lowers those: the same match
        without a function call a row."""
        if self._db.is_sqlite:
            columns = (
                tasks.c.id.contains(text, autoescape=True),
                tasks.c.name.contains(text, autoescape=True),
            )
        else:
            columns = (
                tasks.c.id.icontains(text, autoescape=True),
                tasks.c.name.icontains(text, autoescape=True),
            )
        return or_(*columns)

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
        id, or (``failing``) the longest failure streaks first, then by id.

        Without a limit, the database is not asked for an order: it then reads the
        matching rows from whichever index covers the filter, and the ids are sorted here
        (by code point)."""
        filters = self._state_filters(tag, text, state)
        if limit is None and not offset:
            if order == "failing":
                query = select(tasks.c.id, tasks.c.consecutive_failures).where(*filters)
                with self._db.begin() as conn:
                    return [str(row[0]) for row in _longest_streaks_first(conn.execute(query))]
            with self._db.begin() as conn:
                return sorted(
                    str(v) for v in conn.execute(select(tasks.c.id).where(*filters)).scalars()
                )
        if order == "failing":
            return self._failing_first(filters, limit, offset)
        query = select(tasks.c.id).where(*filters).order_by(tasks.c.id)
        with self._db.begin() as conn:
            return list(conn.execute(query.limit(limit).offset(offset or None)).scalars())

    def _failing_first(
        self, filters: list[ColumnElement[bool]], limit: int | None, offset: int
    ) -> list[str]:
        """A page of the longest failure streaks first, then the other tasks by id: the
        failing tasks (few, from their partial index), then a page of the others."""
        failing = select(tasks.c.id, tasks.c.consecutive_failures).where(*filters, _FAILING)
        with self._db.begin() as conn:
            rows = _longest_streaks_first(conn.execute(failing))
            ids = [str(row[0]) for row in rows[offset : None if limit is None else offset + limit]]
            if limit is not None and len(ids) >= limit:
                return ids
            others = (
                select(tasks.c.id)
                .where(*filters, tasks.c.consecutive_failures == literal_column("0"))
                .order_by(tasks.c.id)
                .limit(None if limit is None else limit - len(ids))
                .offset(max(0, offset - len(rows)) or None)
            )
            return ids + list(conn.execute(others).scalars())

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
