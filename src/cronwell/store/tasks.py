"""The task repository: tasks as domain objects, written with their change log entry in
the same transaction (:mod:`cronwell.store.changes` reads the log)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from cronwell.domain.declared import declared_digest
from cronwell.domain.task import Task
from cronwell.errors import StaleVersionError, TaskExistsError, TaskNotFoundError
from cronwell.store.database import Database
from cronwell.store.records import NewRun, StoredDefinition, utc
from cronwell.store.runs import Runs
from cronwell.store.sql import BackendSql
from cronwell.store.tables import tasks
from cronwell.store.task_rows import (
    APPLY_UPDATE,
    NEW_TASK_STATE,
    SET_DECLARED,
    TASK_BATCH,
    TASK_SELECT,
    build_task,
    new_task_row,
    source_of,
    state_after,
    task_from_row,
    task_values,
    update_params,
)
from cronwell.store.values import dumps


class Tasks:
    """Stored tasks: create, change, pause and resume, delete, read. Every change is one
    transaction that also appends to the change log (``lock_tasks``: revisions commit in
    increasing order)."""

    def __init__(self, db: Database, sql: BackendSql, runs: Runs) -> None:
        self._db = db
        self._sql = sql
        self._runs = runs  # a resume inserts its runs in the task's transaction

    def insert_task(self, task: Task, now: datetime) -> Task:
        """Store a new task (version 1, created and updated at ``now``) and return it as
        stored. Raises :class:`~cronwell.errors.TaskExistsError` if the id is taken."""
        now = utc(now, "now")
        with self._db.begin(write=True, lock_tasks=True) as conn:
            if conn.execute(select(tasks.c.id).where(tasks.c.id == task.id)).first():
                raise TaskExistsError(task.id)
            revision = self._sql.record_change(conn, task.id, now)
            conn.execute(
                insert(tasks).values(
                    id=task.id,
                    created_at=now,
                    source=source_of(task),
                    **task_values(task, version=1, revision=revision, now=now),
                    **NEW_TASK_STATE,
                )
            )
        return task.model_copy(
            update={
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "source": source_of(task),
                **NEW_TASK_STATE,
            }
        )

    def bulk_insert_tasks(self, new_tasks: Sequence[Task], now: datetime) -> int:
        """Store many new tasks in one transaction and return how many. If any id is taken
        (or repeated in ``new_tasks``) nothing is stored and
        :class:`~cronwell.errors.TaskExistsError` names the first such id."""
        now = utc(now, "now")
        if not new_tasks:
            return 0
        with self._db.begin(write=True, lock_tasks=True) as conn:
            self._insert_new_tasks(conn, new_tasks, now)
        return len(new_tasks)

    def _insert_new_tasks(
        self,
        conn: Connection,
        new_tasks: Sequence[Task],
        now: datetime,
        declared: Mapping[str, str] | None = None,
    ) -> None:
        ids: set[str] = set()
        for task in new_tasks:
            if task.id in ids:
                raise TaskExistsError(task.id)
            ids.add(task.id)
        ordered = [task.id for task in new_tasks]
        taken = conn.execute(
            select(tasks.c.id)
            .where(self._sql.is_one_of(tasks.c.id, ordered))
            .order_by(tasks.c.id)
            .limit(1)
        ).first()
        if taken is not None:
            raise TaskExistsError(str(taken.id))
        revisions = self._sql.record_changes(conn, ordered, now)
        # straight to the driver (see cronwell.store.sql): SQLAlchemy's per-row parameter
        # handling cost more than the insert itself
        stamped = self._db.stamp(now)
        entries = declared or {}
        rows = [
            new_task_row(task, revisions[task.id], stamped, entries.get(task.id))
            for task in new_tasks
        ]
        self._sql.insert_tasks(conn, rows)

    def find_declared(
        self, ids: Sequence[str], sources: Sequence[str] = ()
    ) -> list[StoredDefinition]:
        """The stored tasks whose id is one of ``ids`` or whose source is one of
        ``sources``, by id, as a plan reads them first: definition text and declared
        digest, no task built (:meth:`find_tasks` reads those the plan compares)."""
        where = self._ids_or_sources(ids, sources)
        if where is None:
            return []
        query = select(tasks.c.id, tasks.c.source, tasks.c.definition, tasks.c.declared)
        with self._db.begin() as conn:
            rows = conn.execute(query.where(where).order_by(tasks.c.id)).all()
        return [StoredDefinition(*row) for row in rows]

    def find_tasks(self, ids: Sequence[str], sources: Sequence[str] = ()) -> list[Task]:
        """The stored tasks whose id is one of ``ids`` or whose source is one of
        ``sources``, by id: what a plan compares its declared tasks with."""
        where = self._ids_or_sources(ids, sources)
        if where is None:
            return []
        query = TASK_SELECT.where(where).order_by(tasks.c.id)
        with self._db.begin() as conn:
            result = conn.execution_options(yield_per=TASK_BATCH).execute(query)
            return [task_from_row(row) for row in result]

    def _ids_or_sources(
        self, ids: Sequence[str], sources: Sequence[str]
    ) -> ColumnElement[bool] | None:
        clauses = []
        if ids:
            clauses.append(self._sql.is_one_of(tasks.c.id, sorted(set(ids)), "ids"))
        if sources:
            clauses.append(self._sql.is_one_of(tasks.c.source, sorted(set(sources)), "sources"))
        return or_(*clauses) if clauses else None

    def apply_tasks(
        self,
        create: Sequence[Task],
        update: Sequence[tuple[Task, bool]],
        delete: Sequence[Task],
        now: datetime,
        declared: Mapping[str, str] | None = None,
    ) -> None:
        """Store a plan in one transaction: insert the ``create`` tasks (as
        :meth:`bulk_insert_tasks`, with their sources), replace the definitions and
        sources of the ``update`` tasks, each ``(task, timing)``, and delete the
        ``delete`` tasks. Every task to change or delete holds the version it was read
        at; when one changed since (or is gone), or an id to create is taken, nothing is
        stored (:class:`~cronwell.errors.StaleVersionError`,
        :class:`~cronwell.errors.TaskNotFoundError`, :class:`~cronwell.errors.TaskExistsError`).
        An update keeps the task's state as :meth:`update_task` does, and keeps its
        ``updated_at`` (its catch-up anchor) unless ``timing``.

        ``declared`` maps task ids to the document entries that declare them
        (:func:`~cronwell.domain.declared.entry_text`): each such task, created, updated or
        left as it is, keeps the digest of its entry and its stored definition."""
        now = utc(now, "now")
        entries = declared or {}
        with self._db.begin(write=True, lock_tasks=True) as conn:
            if create:
                self._insert_new_tasks(conn, create, now, entries)
            written = {task.id for task in create}
            written.update(task.id for task, _timing in update)
            self._set_declared(conn, {k: v for k, v in entries.items() if k not in written})
            if not update and not delete:
                return
            expected = {task.id: task.version for task, _timing in update}
            expected.update((task.id, task.version) for task in delete)
            ids = sorted(expected)
            rows = {
                row.id: row
                for row in conn.execute(
                    select(
                        tasks.c.id,
                        tasks.c.version,
                        tasks.c.enabled,
                        tasks.c.paused_reason,
                        tasks.c.consecutive_failures,
                        tasks.c.updated_at,
                    ).where(self._sql.is_one_of(tasks.c.id, ids))
                )
            }
            for task_id in ids:
                row = rows.get(task_id)
                if row is None:
                    raise TaskNotFoundError(task_id)
                if row.version != expected[task_id]:
                    raise StaleVersionError(task_id, row.version, expected[task_id])
            revisions = self._sql.record_changes(conn, ids, now)
            if update:
                conn.execute(
                    APPLY_UPDATE,
                    [
                        update_params(task, rows[task.id], revisions[task.id], now, timing, entries)
                        for task, timing in update
                    ],
                )
            if delete:
                conn.execute(
                    tasks.delete().where(
                        self._sql.is_one_of(tasks.c.id, sorted(task.id for task in delete))
                    )
                )

    def _set_declared(self, conn: Connection, entries: Mapping[str, str]) -> None:
        """Record the digest of each entry of ``entries`` (task id -> entry) with the task's
        stored definition: for tasks a plan found as declared by comparing them in full."""
        if not entries:
            return
        stored = conn.execute(
            select(tasks.c.id, tasks.c.definition).where(
                self._sql.is_one_of(tasks.c.id, sorted(entries))
            )
        )
        digests = [
            {"b_id": row.id, "b_declared": declared_digest(entries[row.id], row.definition)}
            for row in stored
        ]
        if digests:
            conn.execute(SET_DECLARED, digests)

    def update_task(self, task: Task, now: datetime, expected_version: int | None = None) -> Task:
        """Replace the stored definition of ``task.id`` and return the task as stored
        (version + 1, ``updated_at=now``, ``created_at`` kept). ``task.source``, when set,
        becomes the stored source; ``None`` keeps the stored one.

        The task's state (``paused_reason``, ``consecutive_failures``) is the stored one,
        whatever ``task`` holds; an update that enables a disabled task resumes it as
        :meth:`set_enabled` does (state reset), so it is not left enabled with a pause
        reason and a failure count that would pause it again at the next failure.

        With ``expected_version``, the update happens only if that is still the stored
        version (optimistic concurrency); otherwise
        :class:`~cronwell.errors.StaleVersionError`. Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`.
        """
        now = utc(now, "now")
        with self._db.begin(write=True, lock_tasks=True) as conn:
            row = conn.execute(
                select(
                    tasks.c.version,
                    tasks.c.created_at,
                    tasks.c.enabled,
                    tasks.c.paused_reason,
                    tasks.c.consecutive_failures,
                    tasks.c.source,
                ).where(tasks.c.id == task.id)
            ).first()
            if row is None:
                raise TaskNotFoundError(task.id)
            stored_version: int = row.version
            if expected_version is not None and expected_version != stored_version:
                raise StaleVersionError(task.id, stored_version, expected_version)
            version = stored_version + 1
            state = state_after(row, enabled=task.enabled)
            source = task.source or row.source
            revision = self._sql.record_change(conn, task.id, now)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id)
                .values(
                    **task_values(task, version=version, revision=revision, now=now),
                    source=source,
                    **state,
                )
            )
        return task.model_copy(
            update={
                "version": version,
                "created_at": row.created_at,
                "updated_at": now,
                "source": source,
                **state,
            }
        )

    def set_enabled(
        self, task_id: str, enabled: bool, now: datetime, *, runs: Sequence[NewRun] = ()
    ) -> Task:
        """Enable or disable a task (resume/pause); counts as a change (version + 1).

        Enabling resets the task's state: ``consecutive_failures`` to 0 and
        ``paused_reason`` to ``None``. Disabling is a manual pause: it sets no
        ``paused_reason`` (and keeps one set by :meth:`auto_pause`). Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`. ``runs`` are inserted in the same
        transaction, fenced as :meth:`insert_runs` (a resume's rows for the paused span:
        an engine that sees the task enabled must see them too, or it fires the latest
        occurrence itself and fences out the catch-up run).
        """
        return self._switch(task_id, now, enabled=enabled, paused_reason=None, runs=runs)

    def auto_pause(self, task_id: str, reason: str, now: datetime) -> Task:
        """Disable a task on cronwell's own initiative (e.g. too many failures in a row),
        recording ``reason`` as its ``paused_reason``; counts as a change (version + 1).
        :meth:`set_enabled` with ``True`` resumes it. Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`."""
        return self._switch(task_id, now, enabled=False, paused_reason=reason)

    def _switch(
        self,
        task_id: str,
        now: datetime,
        *,
        enabled: bool,
        paused_reason: str | None,
        runs: Sequence[NewRun] = (),
    ) -> Task:
        now = utc(now, "now")
        with self._db.begin(write=True, lock_tasks=True) as conn:
            row = conn.execute(
                select(
                    tasks.c.definition,
                    tasks.c.version,
                    tasks.c.created_at,
                    tasks.c.enabled,
                    tasks.c.paused_reason,
                    tasks.c.consecutive_failures,
                    tasks.c.source,
                ).where(tasks.c.id == task_id)
            ).first()
            if row is None:
                raise TaskNotFoundError(task_id)
            definition: dict[str, Any] = json.loads(row.definition)
            definition["enabled"] = enabled
            version = row.version + 1
            # Enabling (even an enabled task) starts afresh; disabling keeps the state.
            state = state_after(row, enabled=enabled, resume=enabled)
            if paused_reason is not None:
                state["paused_reason"] = paused_reason
            revision = self._sql.record_change(conn, task_id, now)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(
                    enabled=enabled,
                    definition=dumps(definition),
                    version=version,
                    revision=revision,
                    updated_at=now,
                    **state,
                )
            )
            if runs:
                self._runs.insert_runs_in(conn, runs)
        return build_task(
            definition,
            version=version,
            created_at=row.created_at,
            updated_at=now,
            source=row.source,
            **state,
        )

    def record_occurrence_result(self, task_id: str, failed: bool) -> int:
        """Count an occurrence's outcome (after its last attempt) in the task's
        ``consecutive_failures`` and return the new count: a failure adds one, a success
        resets it to 0. State, not a change: no new version, nothing in the change log. A
        task that no longer exists (deleted while its run went on) counts nothing: 0."""
        with self._db.begin(write=True) as conn:
            if failed:
                count = conn.execute(
                    update(tasks)
                    .where(tasks.c.id == task_id)
                    .values(consecutive_failures=tasks.c.consecutive_failures + 1)
                    .returning(tasks.c.consecutive_failures)
                ).scalar()
                return int(count or 0)
            # Most occurrences succeed after a success: write only when there is a streak.
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.consecutive_failures != 0)
                .values(consecutive_failures=0)
            )
            return 0

    def reset_failure_streaks(self, task_ids: Sequence[str]) -> dict[str, int]:
        """Reset the failure count of those of ``task_ids`` that have one (their occurrences
        just succeeded) and return the counts they had: what a recovery notice reports.
        One read and one write per call, whatever the number of tasks."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return {}
        query = (
            select(tasks.c.id, tasks.c.consecutive_failures)
            .where(self._sql.is_one_of(tasks.c.id, wanted), tasks.c.consecutive_failures != 0)
            .order_by(tasks.c.id)  # rows locked in one order by every writer
        )
        if not self._db.is_sqlite:
            query = query.with_for_update()
        with self._db.begin(write=True) as conn:
            streaks = {str(r.id): int(r.consecutive_failures) for r in conn.execute(query)}
            if streaks:
                conn.execute(
                    update(tasks)
                    .where(self._sql.is_one_of(tasks.c.id, sorted(streaks)))
                    .values(consecutive_failures=0)
                )
        return streaks

    def delete_task(self, task_id: str, now: datetime) -> None:
        """Delete a task. Its runs stay as history. Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`."""
        now = utc(now, "now")
        with self._db.begin(write=True, lock_tasks=True) as conn:
            result = conn.execute(delete(tasks).where(tasks.c.id == task_id))
            if result.rowcount == 0:
                raise TaskNotFoundError(task_id)
            self._sql.record_change(conn, task_id, now)

    def get_task(self, task_id: str) -> Task:
        """The stored task; :class:`~cronwell.errors.TaskNotFoundError` if there is none."""
        task = self.find_task(task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def find_task(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        with self._db.begin() as conn:
            row = conn.execute(TASK_SELECT.where(tasks.c.id == task_id)).first()
        return None if row is None else task_from_row(row)

    def list_tasks(
        self,
        *,
        tag: str | None = None,
        enabled: bool | None = None,
        text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        shared_lists: bool = False,
    ) -> list[Task]:
        """Tasks ordered by id. ``tag``: tasks carrying that tag; ``enabled``: only enabled
        (or disabled) tasks; ``text``: case-insensitive substring of the id or the name;
        ``shared_lists``: equal lists are one read-only list (see
        :meth:`Task.from_stored_json`), for tasks the caller keeps and does not change."""
        filters = task_filters(self._sql, tag, enabled, text)
        if offset:
            # the rows skipped are found by id in the index alone, and only the page's rows
            # are read whole
            page = (
                select(tasks.c.id)
                .where(*filters)
                .order_by(tasks.c.id)
                .limit(limit)
                .offset(offset)
                .subquery()
            )
            query = TASK_SELECT.join(page, page.c.id == tasks.c.id)
        else:
            query = TASK_SELECT.where(*filters).limit(limit)
        query = query.order_by(tasks.c.id)
        with self._db.begin() as conn:
            # streamed: the raw rows of a large fleet never all sit in memory at once
            result = conn.execution_options(yield_per=TASK_BATCH).execute(query)
            return [task_from_row(row, shared_lists) for row in result]

    def count_tasks(
        self, *, tag: str | None = None, enabled: bool | None = None, text: str | None = None
    ) -> int:
        """How many tasks :meth:`list_tasks` would list without a limit."""
        query = (
            select(func.count())
            .select_from(tasks)
            .where(*task_filters(self._sql, tag, enabled, text))
        )
        with self._db.begin() as conn:
            return int(conn.execute(query).scalar_one())


def task_filters(
    sql: BackendSql, tag: str | None, enabled: bool | None, text: str | None
) -> list[ColumnElement[bool]]:
    """The conditions of a task listing: carrying ``tag``, enabled (or disabled), ``text``
    in the id or the name (case-insensitive)."""
    clauses: list[ColumnElement[bool]] = []
    if tag is not None:
        clauses.append(sql.has_tag(tag))
    if enabled is not None:
        clauses.append(tasks.c.enabled == enabled)
    if text:
        clauses.append(
            or_(
                tasks.c.id.icontains(text, autoescape=True),
                tasks.c.name.icontains(text, autoescape=True),
            )
        )
    return clauses
