"""The store: tasks, their change log and run history, in SQLite or PostgreSQL.

cronwell's database is the source of truth (DESIGN rule 1). This is the only module that
speaks SQL; it uses SQLAlchemy Core, not the ORM, so that hot paths (inserting a run before
an action starts, claiming due retries, polling for changes) are one statement each.

Every public method is one transaction. Every time argument is an aware datetime handed in
by the caller (DESIGN rule 10): the store never reads the clock.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from functools import cache, cached_property, lru_cache
from itertools import product
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cronwell.domain.declared import declared_digest
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.stats import TaskStats
from cronwell.domain.task import DEFAULT_SOURCE, Task
from cronwell.errors import (
    DatabaseUnavailableError,
    InvalidInputError,
    RunNotFoundError,
    StaleVersionError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.store.database import (
    SQLITE_WRITE,
    build_engine,
    database_error,
    display_url,
    normalize_url,
    reason_of,
    sqlite_file,
    sqlite_read_only,
)
from cronwell.store.leases import LeaseState, database_now, read_lease
from cronwell.store.listen import ChangeListener, notify_change
from cronwell.store.migrations import HEAD
from cronwell.store.overview import OverviewReads
from cronwell.store.processes import RunProcesses
from cronwell.store.records import (
    InstanceRecord,
    NewRun,
    NotificationRecord,
    RunGrid,
    RunUpdate,
    StoredDefinition,
    utc,
    utc_or_none,
)
from cronwell.store.tables import (
    VERSION_TABLE,
    instances,
    leases,
    notifications,
    runs,
    task_changes,
    tasks,
)
from cronwell.store.types import UTCDateTime

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Key of the PostgreSQL advisory lock held while migrating, so that instances starting
# together apply each migration once (the second waits, then finds nothing to do).
_MIGRATION_LOCK_KEY = 0x63726F6E77656C6C  # "cronwell"

# Statement that serialises task writes on PostgreSQL (SQLite's BEGIN IMMEDIATE already does):
# revisions are then committed in increasing order, so a reader that has seen revision N
# can never later find a committed revision below N, and changes_since misses nothing.
# SHARE ROW EXCLUSIVE conflicts with itself but not with plain SELECTs.
_LOCK_TASK_WRITES = "LOCK TABLE cronwell_task_changes IN SHARE ROW EXCLUSIVE MODE"

_SHORT_TEXT = 200  # length of the reason and instance_id columns
_HOSTNAME = 255  # length of cronwell_instances.hostname
_ID_CHUNK = 500  # ids per IN (...) list

# A result row. Row's generic parameters differ between SQLAlchemy 2.0 and 2.1, and columns
# are read by name anyway.
_Row = Any

T = TypeVar("T")

# on_step(done, total, revision) of Store.upgrade: migrations applied of those pending
MigrationProgress = Callable[[int, int, str], None]

_ACTIVE = (RunStatus.PENDING.value, RunStatus.RUNNING.value)
# Statuses of runs that ended (TaskStats.runs), and those of them that count as failures.
_FINISHED = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.ABANDONED,
        RunStatus.INTERRUPTED,
    }
)
_FAILURES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABANDONED})
_RUN_KEY = (runs.c.task_id, runs.c.scheduled_for, runs.c.attempt)
_TASK_BATCH = 2000  # rows fetched at a time when listing tasks


class Store(RunProcesses, OverviewReads):
    """cronwell's tables in one database, behind methods that speak domain objects.

    ``url`` is an SQLAlchemy-style URL: ``sqlite:///cronwell.db`` (relative to the current
    directory), ``sqlite:////abs/path.db``, or ``postgresql://user:password@host/db``
    (``postgres://`` works too; the psycopg 3 driver is used). Creating a store does not
    connect; :meth:`check` or :meth:`upgrade` do, and raise
    :class:`~cronwell.errors.DatabaseUnavailableError` with the password hidden.
    """

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self._url = normalize_url(url)
        self.url: str = self._url.render_as_string(hide_password=False)
        self.display_url: str = display_url(self._url)
        self.is_sqlite: bool = self._url.get_backend_name() == "sqlite"
        self.sqlite_path: str | None = sqlite_file(self._url)
        # an SQLite file this process cannot write is opened for reading only
        self.read_only: bool = self.sqlite_path is not None and sqlite_read_only(self.sqlite_path)
        self._engine = build_engine(self._url, pool_size=pool_size, read_only=self.read_only)
        self._memory_lock = (
            threading.RLock() if self.is_sqlite and self.sqlite_path is None else None
        )

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection; a failure to connect becomes ``DatabaseUnavailableError``.

        An in-memory SQLite database lives in one connection shared by every thread, so
        its users take turns (``_memory_lock``).
        """
        with self._memory_lock or nullcontext():
            try:
                conn = self._engine.connect()
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc) from None
            with conn:
                yield conn

    @contextmanager
    def _begin(self, *, write: bool = False, lock_tasks: bool = False) -> Iterator[Connection]:
        """A connection inside a transaction that commits when the block ends normally.

        ``write`` starts SQLite transactions with ``BEGIN IMMEDIATE`` (see
        :data:`~cronwell.store.database.SQLITE_WRITE`); ``lock_tasks`` serialises task
        writes on PostgreSQL. Driver failures (lost connection, SQLite locked for too long,
        tables missing because :meth:`upgrade` was not run) become
        ``DatabaseUnavailableError``.
        """
        if write and self.read_only:
            raise DatabaseUnavailableError(
                f"The database {self.display_url} is read-only for this process: it can "
                "be read (tasks list, runs list, status), not changed."
            )
        with self._connection() as conn:
            try:
                if write and self.is_sqlite:
                    conn.execution_options(**{SQLITE_WRITE: True})
                with conn.begin():
                    if lock_tasks and not self.is_sqlite:
                        conn.exec_driver_sql(_LOCK_TASK_WRITES)
                    yield conn
            except sa_exc.IntegrityError:
                raise  # a broken invariant of this module, not the database's fault
            except sa_exc.DataError as exc:
                # a value the database cannot hold (a NUL character in PostgreSQL text)
                raise InvalidInputError(
                    f"The database cannot store a value given: {reason_of(exc)}"
                ) from None
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc, "use") from exc

    def check(self) -> None:
        """Connect and run ``SELECT 1``; raise ``DatabaseUnavailableError`` if that fails."""
        with self._connection() as conn:
            try:
                conn.execute(text("SELECT 1"))
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc) from None

    def close(self) -> None:
        """Close every pooled connection. The store reconnects if used again (an in-memory
        database starts empty then)."""
        self._engine.dispose()

    # -- migrations --------------------------------------------------------------------------

    def upgrade(self, on_step: MigrationProgress | None = None) -> None:
        """Bring the tables to the latest migration; a no-op when they are current.

        Safe to call on every start, and from instances starting together: on PostgreSQL
        the migrations run in one transaction under an advisory lock, on SQLite under the
        write lock. A current database is only read, so reading commands work on a file
        this process cannot write. ``on_step(done, total, revision)`` hears of the pending
        migrations before the first one and after each (for a progress bar).
        """
        if self.is_current():
            return
        if self.read_only:
            raise DatabaseUnavailableError(
                f"The database {self.display_url} is read-only and needs upgrading to "
                f"revision {HEAD}: make it writable and run `cronwell db upgrade`."
            )
        with self._connection() as conn:
            try:
                if self.is_sqlite:
                    conn.execution_options(**{SQLITE_WRITE: True})
                with conn.begin():
                    if not self.is_sqlite:
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _MIGRATION_LOCK_KEY},
                        )
                    current = _current_revisions(conn)
                    if current == {HEAD}:
                        return
                    _migrate(conn, current, on_step)
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                raise database_error(self._url, exc) from None
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc, "upgrade") from None
        logger.info(
            "Upgraded the database %s to revision %s",
            self.display_url,
            HEAD,
            extra={
                "action": "database_upgraded",
                "database": self.display_url,
                "from_revision": ", ".join(sorted(current)) or None,
                "to_revision": HEAD,
            },
        )

    def has_schema(self) -> bool:
        """True when the database holds cronwell's tables, at any revision. A missing
        SQLite file is not created to find out: it has none."""
        if self.sqlite_path is not None and not os.path.exists(self.sqlite_path):
            return False
        with self._connection() as conn:
            try:
                return bool(_current_revisions(conn))
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc) from None

    def is_current(self) -> bool:
        """True when every migration has been applied."""
        with self._connection() as conn:
            try:
                return _current_revisions(conn) == {HEAD}
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc) from None

    # -- tasks -------------------------------------------------------------------------------

    def insert_task(self, task: Task, now: datetime) -> Task:
        """Store a new task (version 1, created and updated at ``now``) and return it as
        stored. Raises :class:`~cronwell.errors.TaskExistsError` if the id is taken."""
        now = utc(now, "now")
        with self._begin(write=True, lock_tasks=True) as conn:
            if conn.execute(select(tasks.c.id).where(tasks.c.id == task.id)).first():
                raise TaskExistsError(task.id)
            revision = _record_change(conn, task.id, now)
            conn.execute(
                insert(tasks).values(
                    id=task.id,
                    created_at=now,
                    source=_source(task),
                    **_task_values(task, version=1, revision=revision, now=now),
                    **_NEW_TASK_STATE,
                )
            )
        return task.model_copy(
            update={
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "source": _source(task),
                **_NEW_TASK_STATE,
            }
        )

    def bulk_insert_tasks(self, new_tasks: Sequence[Task], now: datetime) -> int:
        """Store many new tasks in one transaction and return how many. If any id is taken
        (or repeated in ``new_tasks``) nothing is stored and
        :class:`~cronwell.errors.TaskExistsError` names the first such id."""
        now = utc(now, "now")
        if not new_tasks:
            return 0
        with self._begin(write=True, lock_tasks=True) as conn:
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
            .where(self._is_one_of(tasks.c.id, ordered))
            .order_by(tasks.c.id)
            .limit(1)
        ).first()
        if taken is not None:
            raise TaskExistsError(str(taken.id))
        revisions = self._record_changes(conn, ordered, now)
        # straight to the driver: SQLAlchemy's per-row parameter handling was half the
        # time of storing 100,000 tasks on SQLite; PostgreSQL takes one array per column
        stamped = self._stamp(now)
        entries = declared or {}
        rows = [
            _new_task_row(task, revisions[task.id], stamped, entries.get(task.id))
            for task in new_tasks
        ]
        if self.is_sqlite:
            conn.exec_driver_sql(_INSERT_TASKS_SQLITE, rows)
        else:
            conn.exec_driver_sql(_INSERT_TASKS_UNNEST, tuple(map(list, zip(*rows, strict=True))))

    def _record_changes(
        self, conn: Connection, ids: Sequence[str], now: datetime
    ) -> dict[str, int]:
        """:func:`_record_change` for many tasks at once: the revision of each."""
        if self.is_sqlite:
            result = conn.execute(
                insert(task_changes).returning(task_changes.c.task_id, task_changes.c.revision),
                [{"task_id": task_id, "changed_at": now} for task_id in ids],
            )
            return {row.task_id: row.revision for row in result}
        changes = conn.exec_driver_sql(_INSERT_CHANGES_UNNEST, (list(ids), [now] * len(ids)))
        revisions: dict[str, int] = dict(changes.all())
        conn.execute(select(notify_change(max(revisions.values()))))
        return revisions

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
        with self._begin() as conn:
            rows = conn.execute(query.where(where).order_by(tasks.c.id)).all()
        return [StoredDefinition(*row) for row in rows]

    def find_tasks(self, ids: Sequence[str], sources: Sequence[str] = ()) -> list[Task]:
        """The stored tasks whose id is one of ``ids`` or whose source is one of
        ``sources``, by id: what a plan compares its declared tasks with."""
        where = self._ids_or_sources(ids, sources)
        if where is None:
            return []
        query = _TASK_SELECT.where(where).order_by(tasks.c.id)
        with self._begin() as conn:
            result = conn.execution_options(yield_per=_TASK_BATCH).execute(query)
            return [_task_from_row(row) for row in result]

    def _ids_or_sources(
        self, ids: Sequence[str], sources: Sequence[str]
    ) -> ColumnElement[bool] | None:
        clauses = []
        if ids:
            clauses.append(self._is_one_of(tasks.c.id, sorted(set(ids)), "ids"))
        if sources:
            clauses.append(self._is_one_of(tasks.c.source, sorted(set(sources)), "sources"))
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
        with self._begin(write=True, lock_tasks=True) as conn:
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
                    ).where(self._is_one_of(tasks.c.id, ids))
                )
            }
            for task_id in ids:
                row = rows.get(task_id)
                if row is None:
                    raise TaskNotFoundError(task_id)
                if row.version != expected[task_id]:
                    raise StaleVersionError(task_id, row.version, expected[task_id])
            revisions = self._record_changes(conn, ids, now)
            if update:
                conn.execute(
                    _APPLY_UPDATE,
                    [
                        _update_params(
                            task, rows[task.id], revisions[task.id], now, timing, entries
                        )
                        for task, timing in update
                    ],
                )
            if delete:
                conn.execute(
                    tasks.delete().where(
                        self._is_one_of(tasks.c.id, sorted(task.id for task in delete))
                    )
                )

    def _set_declared(self, conn: Connection, entries: Mapping[str, str]) -> None:
        """Record the digest of each entry of ``entries`` (task id -> entry) with the task's
        stored definition: for tasks a plan found as declared by comparing them in full."""
        if not entries:
            return
        stored = conn.execute(
            select(tasks.c.id, tasks.c.definition).where(
                self._is_one_of(tasks.c.id, sorted(entries))
            )
        )
        digests = [
            {"b_id": row.id, "b_declared": declared_digest(entries[row.id], row.definition)}
            for row in stored
        ]
        if digests:
            conn.execute(_SET_DECLARED, digests)

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
        with self._begin(write=True, lock_tasks=True) as conn:
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
            state = _state_after(row, enabled=task.enabled)
            source = task.source or row.source
            revision = _record_change(conn, task.id, now)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id)
                .values(
                    **_task_values(task, version=version, revision=revision, now=now),
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
        with self._begin(write=True, lock_tasks=True) as conn:
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
            state = _state_after(row, enabled=enabled, resume=enabled)
            if paused_reason is not None:
                state["paused_reason"] = paused_reason
            revision = _record_change(conn, task_id, now)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(
                    enabled=enabled,
                    definition=_dumps(definition),
                    version=version,
                    revision=revision,
                    updated_at=now,
                    **state,
                )
            )
            if runs:
                self._insert_runs(conn, runs)
        return _task(
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
        with self._begin(write=True) as conn:
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
            .where(self._is_one_of(tasks.c.id, wanted), tasks.c.consecutive_failures != 0)
            .order_by(tasks.c.id)  # rows locked in one order by every writer
        )
        if not self.is_sqlite:
            query = query.with_for_update()
        with self._begin(write=True) as conn:
            streaks = {str(r.id): int(r.consecutive_failures) for r in conn.execute(query)}
            if streaks:
                conn.execute(
                    update(tasks)
                    .where(self._is_one_of(tasks.c.id, sorted(streaks)))
                    .values(consecutive_failures=0)
                )
        return streaks

    def delete_task(self, task_id: str, now: datetime) -> None:
        """Delete a task. Its runs stay as history. Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`."""
        now = utc(now, "now")
        with self._begin(write=True, lock_tasks=True) as conn:
            result = conn.execute(delete(tasks).where(tasks.c.id == task_id))
            if result.rowcount == 0:
                raise TaskNotFoundError(task_id)
            _record_change(conn, task_id, now)

    def get_task(self, task_id: str) -> Task:
        """The stored task; :class:`~cronwell.errors.TaskNotFoundError` if there is none."""
        task = self.find_task(task_id)
        if task is None:
            raise TaskNotFoundError(task_id)
        return task

    def find_task(self, task_id: str) -> Task | None:
        """The stored task, or ``None``."""
        with self._begin() as conn:
            row = conn.execute(_TASK_SELECT.where(tasks.c.id == task_id)).first()
        return None if row is None else _task_from_row(row)

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
        filters = self._task_filters(tag, enabled, text)
        if offset:
            # the rows skipped are found by id in the index alone, and only the page's rows
            # are read whole: the last page of 100,000 tasks took 65 ms on PostgreSQL
            page = (
                select(tasks.c.id)
                .where(*filters)
                .order_by(tasks.c.id)
                .limit(limit)
                .offset(offset)
                .subquery()
            )
            query = _TASK_SELECT.join(page, page.c.id == tasks.c.id)
        else:
            query = _TASK_SELECT.where(*filters).limit(limit)
        query = query.order_by(tasks.c.id)
        with self._begin() as conn:
            # streamed: the raw rows of a large fleet never all sit in memory at once
            result = conn.execution_options(yield_per=_TASK_BATCH).execute(query)
            return [_task_from_row(row, shared_lists) for row in result]

    def count_tasks(
        self, *, tag: str | None = None, enabled: bool | None = None, text: str | None = None
    ) -> int:
        """How many tasks :meth:`list_tasks` would list without a limit."""
        query = (
            select(func.count()).select_from(tasks).where(*self._task_filters(tag, enabled, text))
        )
        with self._begin() as conn:
            return int(conn.execute(query).scalar_one())

    def _task_filters(
        self, tag: str | None, enabled: bool | None, text: str | None
    ) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = []
        if tag is not None:
            clauses.append(self._has_tag(tag))
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

    def _is_one_of(
        self, column: ColumnElement[str], values: list[str], name: str = "values"
    ) -> ColumnElement[bool]:
        """``column IN values`` as a statement whose text does not depend on how many
        values there are: one array on PostgreSQL, one JSON text on SQLite. An ``IN``
        list is rendered again for every call and, on PostgreSQL, parsed again by psycopg;
        for the results of a burst that was a fifth of the writer thread's time."""
        if self.is_sqlite:
            listed = func.json_each(bindparam(name, json.dumps(values))).table_valued("value")
            return column.in_(select(listed.c.value))
        return column == any_(bindparam(name, values, type_=postgresql.ARRAY(String)))

    def _has_tag(self, tag: str) -> ColumnElement[bool]:
        # An exact element match in the JSON list, with each backend's JSON functions.
        if self.is_sqlite:
            elements = func.json_each(tasks.c.tags).table_valued("value")
            return exists().select_from(elements).where(elements.c.value == tag)
        # PostgreSQL: jsonb's "?" is true when the array holds the string as an element.
        return cast(tasks.c.tags, postgresql.JSONB).op("?", is_comparison=True)(tag)

    # -- the change log ----------------------------------------------------------------------

    def current_revision(self) -> int:
        """The latest task change revision, 0 before the first change."""
        with self._begin() as conn:
            value = conn.execute(select(func.max(task_changes.c.revision))).scalar()
        return int(value or 0)

    def listen_for_changes(self, on_change: Callable[[], None]) -> ChangeListener | None:
        """On PostgreSQL, call ``on_change`` whenever a task change commits, from any
        process, until the listener returned is closed; ``None`` on SQLite, which has no
        notifications (poll :meth:`changes_since`)."""
        if self.is_sqlite:
            return None
        return ChangeListener(self._url, on_change)

    def changes_since(self, revision: int) -> tuple[int, set[str]]:
        """``(latest revision, ids of tasks changed after revision)``. Pass the returned
        revision to the next call. Deleted tasks are included: a changed id that
        :meth:`find_task` does not find was deleted."""
        with self._begin() as conn:
            rows = conn.execute(
                select(task_changes.c.revision, task_changes.c.task_id).where(
                    task_changes.c.revision > revision
                )
            ).all()
        latest = max((int(row.revision) for row in rows), default=revision)
        return latest, {str(row.task_id) for row in rows}

    # -- runs --------------------------------------------------------------------------------

    def insert_runs(self, rows: Sequence[NewRun]) -> list[int | None]:
        """Insert run rows in one transaction; return each row's new id, or ``None`` for a
        row whose ``(task_id, scheduled_for, attempt)`` already exists (DESIGN rule 2: the
        duplicate is fenced, never raised). A key repeated within ``rows`` is inserted once,
        for its first appearance."""
        if not rows:
            return []
        with self._begin(write=True) as conn:
            return self._insert_runs(conn, rows)

    def _insert_runs(self, conn: Connection, rows: Sequence[NewRun]) -> list[int | None]:
        first: dict[tuple[str, datetime, int], int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row.key, index)
        # Keys in a fixed order, so two concurrent batches lock them in the same order
        # (PostgreSQL would otherwise risk a deadlock between overlapping batches).
        unique = sorted(first.items(), key=lambda item: item[0])
        # a batch repeats a few instants thousands of times: each converted once
        stamp = cache(self._stamp)
        inserted: dict[tuple[str, Any, int], int] = {}
        for start in range(0, len(unique), _INSERT_CHUNK):
            chunk = [_run_params(rows[i], stamp) for _, i in unique[start : start + _INSERT_CHUNK]]
            if self.is_sqlite:
                sql = _insert_runs_sql(len(chunk))
                params: tuple[Any, ...] = tuple(value for row in chunk for value in row)
            else:  # one array per column: the statement's text stays the same
                sql, params = _INSERT_RUNS_UNNEST, tuple(map(list, zip(*chunk, strict=True)))
            result = conn.exec_driver_sql(sql, params)
            for run_id, task_id, scheduled_for, attempt in result.all():
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

        The database crosses the task ids with the rows, a statement per chunk of tasks;
        on PostgreSQL a big chunk is copied instead (:func:`_copy_grid`).
        Row objects built, converted and sent one by one were two thirds of a catch-up of
        10,000 tasks, and two fifths of what recording a burst of fires cost, all of it
        holding the GIL that the runs due meanwhile needed."""
        stamp = cache(self._stamp)
        index: dict[tuple[Any, int], int] = {}
        template: list[tuple[Any, ...]] = []
        for i, row in enumerate(grid.rows):
            params = _run_params(row, stamp)
            if index.setdefault((params[1], row.attempt), i) == i:
                template.append(params[1:])  # all but the task id
        if not template or not grid.task_ids:
            return []
        task_ids = sorted(set(grid.task_ids))
        per_statement = max(1, (_INSERT_CHUNK if self.is_sqlite else _GRID_CHUNK) // len(template))
        if self.is_sqlite:
            sql = _insert_grid_sql(len(template))
            rows: tuple[Any, ...] = tuple(value for row in template for value in row)
        else:
            sql, rows = _INSERT_GRID_UNNEST, tuple(map(list, zip(*template, strict=True)))
            template.sort(key=lambda row: row[:2])  # key order within a task: time, attempt
        positions = [index[row[0], row[1]] for row in template]
        inserted: list[tuple[int, str, int]] = []
        with self._begin(write=True) as conn:
            for start in range(0, len(task_ids), per_statement):
                chunk = task_ids[start : start + per_statement]
                copied = None
                if not self.is_sqlite and len(chunk) * len(template) >= _COPY_FROM:
                    copied = _copy_grid(conn, chunk, template, positions)
                if copied is not None:
                    inserted += copied
                    continue
                ids = json.dumps(chunk) if self.is_sqlite else chunk
                result = conn.exec_driver_sql(sql, (ids, *rows))
                inserted += [
                    (int(run_id), task_id, index[scheduled_for, attempt])
                    for run_id, task_id, scheduled_for, attempt in result.all()
                ]
        return inserted

    def mark_started(self, run_id: int, started_at: datetime) -> None:
        """Record when the action of a run actually started."""
        started_at = utc(started_at, "started_at")
        with self._begin(write=True) as conn:
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
        with self._begin(write=True) as conn:
            result = conn.exec_driver_sql(self._finish_sql, self._finish_params(change))
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
        with self._begin(write=True) as conn:
            if self.is_sqlite:
                conn.exec_driver_sql(self._finish_sql, params)
                return
            # one statement over one array per column: psycopg's executemany sent, and the
            # server executed, one UPDATE per run. A run updated twice keeps the first, as
            # the second UPDATE of executemany would find it no longer running.
            firsts = list({row[-1]: row for row in reversed(params)}.values())
            conn.exec_driver_sql(_FINISH_RUNS_UNNEST, tuple(map(list, zip(*firsts, strict=True))))

    @cached_property
    def _finish_sql(self) -> str:
        return _finish_runs_sql("?" if self.is_sqlite else "%s")

    @cached_property
    def _stamp(self) -> Callable[[Any], Any]:
        """The run timestamps' conversion for this driver: the column type's own
        (UTCDateTime, then the dialect's DATETIME), so rows written straight to the driver
        read back as every other row does."""
        dialect = self._engine.dialect
        return runs.c.scheduled_for.type.dialect_impl(dialect).bind_processor(dialect) or _as_is

    def _finish_params(self, change: RunUpdate) -> tuple[Any, ...]:
        return (
            change.status.value,
            self._stamp(change.finished_at),
            # a float for PostgreSQL's array: psycopg refuses to dump a list of ints and floats
            None if change.duration is None else float(change.duration),
            None if change.started_at is None else self._stamp(change.started_at),
            _text(change.error),
            _text(change.traceback),
            _text(change.output),
            _text(change.return_value),
            _counters_json(change.counters),
            _short(change.reason),
            change.run_id,
        )

    def get_run(self, run_id: int) -> Run:
        """One run; :class:`~cronwell.errors.RunNotFoundError` if there is none."""
        with self._begin() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFoundError(run_id)
        return _run_from_row(row)

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
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [_run_from_row(row) for row in rows]

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
        with self._begin() as conn:
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
                instance_id=_short(instance_id),
            )
            .returning(*runs.c)
        )
        with self._begin(write=True) as conn:
            rows = conn.execute(claim).all()
        return [_run_from_row(row) for row in sorted(rows, key=lambda row: (row.due_at, row.id))]

    # -- notifications log ------------------------------------------------------------------

    def record_notification(self, record: NotificationRecord) -> int:
        """Append one delivery outcome to the notifications log; return its id."""
        values = {
            "created_at": utc(record.created_at, "created_at"),
            "event": record.event,
            "task_id": record.task_id,
            "run_id": record.run_id,
            "target": record.target,
            "status": record.status,
            "attempts": record.attempts,
            "error": _text(record.error),
            "title": _text(record.title) or "",
        }
        with self._begin(write=True) as conn:
            new_id = conn.execute(
                insert(notifications).values(**values).returning(notifications.c.id)
            ).scalar_one()
        return int(new_id)

    def list_notifications(
        self,
        *,
        task_id: str | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[NotificationRecord]:
        """The newest deliveries first."""
        query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
        if task_id is not None:
            query = query.where(notifications.c.task_id == task_id)
        if event is not None:
            query = query.where(notifications.c.event == event)
        if status is not None:
            query = query.where(notifications.c.status == status)
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [
            NotificationRecord(
                id=row.id,
                created_at=row.created_at,
                event=row.event,
                task_id=row.task_id,
                run_id=row.run_id,
                target=row.target,
                status=row.status,
                attempts=row.attempts,
                error=row.error,
                title=row.title,
            )
            for row in rows
        ]

    # -- leases -----------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, holder: str, ttl: float, *, take_from: str | None = None
    ) -> tuple[bool, str | None]:
        """Take or renew lease ``name`` for ``holder`` for ``ttl`` seconds of database time.
        It is granted when free, expired, already ``holder``'s, or held by ``take_from``
        (a holder known to be dead). Returns ``(granted, holder now)``. One transaction,
        the lease row locked, so two instances never both hold it."""
        with self._begin(write=True) as conn:
            now = self._database_now(conn)
            expires = now + timedelta(seconds=ttl)
            # the first taker creates the row; two at once: one insert wins, the other waits
            # on the row below instead of failing
            dialect_insert = sqlite.insert if self.is_sqlite else postgresql.insert
            created = conn.execute(
                dialect_insert(leases)
                .values(name=name, holder=_short(holder), acquired_at=now, expires_at=expires)
                .on_conflict_do_nothing(index_elements=[leases.c.name])
            )
            if created.rowcount == 1:
                return True, holder
            query = select(leases).where(leases.c.name == name)
            if not self.is_sqlite:
                query = query.with_for_update()
            row = conn.execute(query).one()
            free = row.expires_at <= now or row.holder in (holder, take_from)
            if not free:
                return False, str(row.holder)
            acquired = row.acquired_at if row.holder == holder else now
            conn.execute(
                update(leases)
                .where(leases.c.name == name)
                .values(holder=_short(holder), acquired_at=acquired, expires_at=expires)
            )
            return True, holder

    def lease_holder(self, name: str) -> str | None:
        """Who holds lease ``name`` now (by database time), or ``None`` when nobody does."""
        with self._begin() as conn:
            now = self._database_now(conn)
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
        return str(row.holder) if row is not None and row.expires_at > now else None

    def release_lease(self, name: str, holder: str) -> None:
        """Give lease ``name`` up, if ``holder`` has it."""
        with self._begin(write=True) as conn:
            conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    def read_lease(self, name: str) -> LeaseState:
        """Lease ``name`` as it stands now in database time, read without writing: what a
        standby looks at before it tries to take the lease."""
        with self._begin() as conn:
            return read_lease(conn, name, self.is_sqlite)

    def database_now(self) -> datetime:
        """The database's clock, which every instance shares (leases, heartbeats)."""
        with self._begin() as conn:
            return self._database_now(conn)

    def _database_now(self, conn: Connection) -> datetime:
        return database_now(conn, self.is_sqlite)

    def prune_notifications(self, before: datetime) -> int:
        """Delete notifications log rows older than ``before``; return how many."""
        before = utc(before, "before")
        with self._begin(write=True) as conn:
            result = conn.execute(delete(notifications).where(notifications.c.created_at < before))
        return int(result.rowcount)

    def start_pending(self, run_id: int, now: datetime, instance_id: str) -> bool:
        """Switch one pending run to running (``started_at=now``) if it is still pending;
        False when it is not (claimed elsewhere, or gone). The run queued behind a running
        one (overlap='queue_one') starts this way."""
        now = utc(now, "now")
        statement = (
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == RunStatus.PENDING.value)
            .values(status=RunStatus.RUNNING.value, started_at=now, instance_id=_short(instance_id))
        )
        with self._begin(write=True) as conn:
            return bool(conn.execute(statement).rowcount)

    def next_due_at(self) -> datetime | None:
        """The earliest ``due_at`` among pending runs, ``None`` when nothing is pending."""
        with self._begin() as conn:
            value: datetime | None = conn.execute(
                select(func.min(runs.c.due_at)).where(runs.c.status == RunStatus.PENDING.value)
            ).scalar()
        return value

    def runs_in_status(self, status: RunStatus) -> list[Run]:
        """Every run in ``status`` (e.g. the running ones at start-up), oldest id first."""
        with self._begin() as conn:
            rows = conn.execute(
                select(runs).where(runs.c.status == RunStatus(status).value).order_by(runs.c.id)
            ).all()
        return [_run_from_row(row) for row in rows]

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
        with self._begin() as conn:
            if task_ids is None:
                rows = conn.execute(query).all()
            else:
                ids = sorted(set(task_ids))
                rows = conn.execute(query.where(self._is_one_of(runs.c.task_id, ids))).all()
        return {str(row.task_id): row.latest for row in rows}

    def release_queued(self, instance_ids: Sequence[str], now: datetime) -> int:
        """Make the runs the given instances had queued (pending, with no ``due_at``) due
        at ``now``, so that :meth:`claim_due_runs` hands them to a live instance; return
        how many. For recovering after those instances died."""
        now = utc(now, "now")
        ids = _instance_ids(instance_ids)
        if not ids:
            return 0
        count = 0
        with self._begin(write=True) as conn:
            for chunk in _chunks(ids):
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
        ids = _instance_ids(instance_ids)
        if not ids:
            return []
        with self._begin(write=True) as conn:
            # Locked in id order (PostgreSQL; SQLite's write lock covers it), so concurrent
            # callers cannot deadlock; a caller that waited re-reads the status and skips
            # what the other one abandoned.
            found = [
                row
                for chunk in _chunks(ids)
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
                        "b_reason": _short(reason),
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
                for chunk in _chunks(sorted(int(row.id) for row in found))
                for row in conn.execute(select(runs).where(runs.c.id.in_(chunk)))
            ]
        return [_run_from_row(row) for row in sorted(abandoned, key=lambda row: row.id)]

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
        with self._begin(write=True) as conn:
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

    def task_stats(self, task_id: str, *, sample: int = 1000) -> TaskStats:
        """Figures about a task's run history (see :class:`~cronwell.domain.stats.TaskStats`):
        counts over all its runs, durations over its newest ``sample`` runs that have one.
        A task without runs (or deleted) gets zero counts and ``None`` figures."""
        if sample < 1:
            raise ValueError(f"sample must be 1 or more, got {sample}")
        with self._begin() as conn:
            by_status = conn.execute(
                select(
                    runs.c.status,
                    func.count().label("n"),
                    func.max(runs.c.finished_at).label("last_finished"),
                )
                .where(runs.c.task_id == task_id)
                .group_by(runs.c.status)
            ).all()
            durations = [
                float(value)
                for value in conn.execute(
                    select(runs.c.duration)
                    .where(runs.c.task_id == task_id, runs.c.duration.is_not(None))
                    .order_by(runs.c.scheduled_for.desc(), runs.c.id.desc())
                    .limit(sample)
                ).scalars()
            ]
            streak = conn.execute(
                select(tasks.c.consecutive_failures).where(tasks.c.id == task_id)
            ).scalar()
        counts: dict[RunStatus, int] = {}
        last: dict[RunStatus, datetime] = {}
        for row in by_status:
            status = RunStatus(row.status)
            counts[status] = int(row.n)
            if row.last_finished is not None:
                last[status] = row.last_finished
        succeeded = counts.get(RunStatus.SUCCEEDED, 0)
        failed = sum(counts.get(status, 0) for status in _FAILURES)
        failures = [last[status] for status in _FAILURES if status in last]
        durations.sort()
        return TaskStats(
            task_id=task_id,
            runs=sum(counts.get(status, 0) for status in _FINISHED),
            succeeded=succeeded,
            failed=failed,
            timed_out=counts.get(RunStatus.TIMED_OUT, 0),
            missed=counts.get(RunStatus.MISSED, 0),
            skipped=counts.get(RunStatus.SKIPPED, 0),
            success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
            avg_duration=math.fsum(durations) / len(durations) if durations else None,
            p95_duration=_nearest_rank(durations, 95),
            last_success=last.get(RunStatus.SUCCEEDED),
            last_failure=max(failures, default=None),
            consecutive_failures=int(streak or 0),
        )

    # -- instances ---------------------------------------------------------------------------

    def register_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        """Record a cronwell process as alive: a new instance starts (``started_at`` =
        ``now``); a known one gets ``hostname`` and ``pid`` updated. ``last_seen`` is the
        database's time, which every instance compares it with, whatever its own clock."""
        self._upsert_instance(instance_id, hostname, pid, now)

    def heartbeat(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        """Record that an instance is still alive (``last_seen`` = the database's time). Takes what
        :meth:`register_instance` takes, so an instance whose row was removed (judged dead
        by another while it was only slow) registers again."""
        self._upsert_instance(instance_id, hostname, pid, now)

    def _upsert_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        now = utc(now, "now")
        with self._begin(write=True) as conn:
            values = {
                "instance_id": _short(instance_id),
                "hostname": hostname[:_HOSTNAME],
                "pid": pid,
                "started_at": now,
                "last_seen": self._database_now(conn),
            }
            insert_ = sqlite.insert(instances) if self.is_sqlite else postgresql.insert(instances)
            statement = insert_.values(**values).on_conflict_do_update(
                index_elements=[instances.c.instance_id],
                set_={
                    "hostname": insert_.excluded.hostname,
                    "pid": insert_.excluded.pid,
                    "last_seen": insert_.excluded.last_seen,
                },
            )
            conn.execute(statement)

    def list_instances(self) -> list[InstanceRecord]:
        """Every registered instance, earliest started first."""
        with self._begin() as conn:
            rows = conn.execute(
                select(instances).order_by(instances.c.started_at, instances.c.instance_id)
            ).all()
        return [
            InstanceRecord(
                instance_id=row.instance_id,
                hostname=row.hostname,
                pid=row.pid,
                started_at=row.started_at,
                last_seen=row.last_seen,
            )
            for row in rows
        ]

    def remove_instances(self, instance_ids: Sequence[str]) -> int:
        """Forget instances (stopped, or found dead and recovered); return how many rows
        went. Unknown ids are ignored."""
        ids = _instance_ids(instance_ids)
        count = 0
        if not ids:
            return 0
        with self._begin(write=True) as conn:
            for chunk in _chunks(ids):
                result = conn.execute(delete(instances).where(instances.c.instance_id.in_(chunk)))
                count += int(result.rowcount)
        return count

    def instances_with_work(self) -> set[str]:
        """Ids of instances that hold runs: running ones, or queued ones (pending without
        a ``due_at``). If such an instance is dead, its runs need
        :meth:`abandon_runs` and :meth:`release_queued`."""
        query = (
            select(runs.c.instance_id)
            .where(
                runs.c.instance_id.is_not(None),
                or_(
                    runs.c.status == RunStatus.RUNNING.value,
                    and_(runs.c.status == RunStatus.PENDING.value, runs.c.due_at.is_(None)),
                ),
            )
            .distinct()
        )
        with self._begin() as conn:
            return {str(value) for value in conn.execute(query).scalars()}


# -- helpers ----------------------------------------------------------------------------------

_TASK_SELECT = select(
    tasks.c.definition,
    tasks.c.version,
    tasks.c.created_at,
    tasks.c.updated_at,
    tasks.c.paused_reason,
    tasks.c.consecutive_failures,
    tasks.c.source,
)

# The state of a task that was just created.
_NEW_TASK_STATE: dict[str, Any] = {"paused_reason": None, "consecutive_failures": 0}

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


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices short enough for one ``IN (...)`` list."""
    for start in range(0, len(values), _ID_CHUNK):
        yield values[start : start + _ID_CHUNK]


def _instance_ids(instance_ids: Sequence[str]) -> list[str]:
    # A bare string is a sequence of one-letter ids: almost certainly a mistake.
    if isinstance(instance_ids, str):
        raise TypeError("instance_ids must be a sequence of ids, not one string")
    return sorted({value[:_SHORT_TEXT] for value in instance_ids})


def _nearest_rank(ordered: Sequence[float], percent: int) -> float | None:
    """The ``percent``-th percentile of ascending ``ordered`` by nearest rank: the value
    at 1-based position ``ceil(percent / 100 * n)``; ``None`` for no values."""
    if not ordered:
        return None
    rank = -(-percent * len(ordered) // 100)  # ceil, in integers
    return ordered[max(rank, 1) - 1]


def _current_revisions(conn: Connection) -> set[str]:
    """The revisions recorded in the version table; none when it does not exist yet."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return set()
    return set(conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _migrate(conn: Connection, current: set[str], on_step: MigrationProgress | None = None) -> None:
    """Apply the pending migrations on ``conn``, inside its transaction (Alembic is
    imported here, when a database needs it, not by every process that opens one)."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    # Config values go through ConfigParser interpolation, where % is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = conn
    if on_step is not None:
        scripts = ScriptDirectory.from_config(config)
        total = len(list(scripts.iterate_revisions("heads", tuple(current) or "base")))
        done = 0
        on_step(0, total, "")

        def applied(revision: str) -> None:
            nonlocal done
            done += 1
            on_step(done, total, revision)

        config.attributes["on_applied"] = applied
    command.upgrade(config, "head")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _counters_json(counters: Mapping[str, float] | None) -> str | None:
    """Most runs count nothing: their ``{}`` skips the encoder (2 µs of every result)."""
    if counters is None:
        return None
    return _dumps(dict(counters)) if counters else "{}"


def _short(value: str | None) -> str | None:
    return None if value is None else value[:_SHORT_TEXT]


def _record_change(conn: Connection, task_id: str, now: datetime) -> int:
    """Append to the change log in the caller's transaction; return the new revision. On
    PostgreSQL the same statement notifies listeners (delivered at commit)."""
    added = (
        insert(task_changes)
        .values(task_id=task_id, changed_at=now)
        .returning(task_changes.c.revision)
    )
    if conn.dialect.name == "postgresql":
        change = added.cte("change")
        return int(
            conn.execute(select(change.c.revision, notify_change(change.c.revision))).scalar_one()
        )
    return int(conn.execute(added).scalar_one())


# Bulk inserts of new tasks (Store.bulk_insert_tasks), written for the driver
_NEW_TASK_COLUMNS = (
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
_INSERT_TASKS_SQLITE = (
    f"INSERT INTO {tasks.name} ({', '.join(_NEW_TASK_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(_NEW_TASK_COLUMNS))})"
)
# PostgreSQL's take one array per column (in binary: see _INSERT_RUNS_UNNEST)
_INSERT_TASKS_UNNEST = (
    f"INSERT INTO {tasks.name} ({', '.join(_NEW_TASK_COLUMNS)})"
    " SELECT * FROM unnest(%b::varchar[], %b::text[], %b::boolean[], %b::text[], %b::text[],"
    " %b::int[], %b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::text[], %b::int[],"
    " %b::varchar[], %b::varchar[])"
)
_INSERT_CHANGES_UNNEST = (
    f"INSERT INTO {task_changes.name} (task_id, changed_at)"
    " SELECT * FROM unnest(%b::varchar[], %b::timestamptz[]) RETURNING task_id, revision"
)


def _new_task_row(task: Task, revision: int, now: Any, entry: str | None) -> tuple[Any, ...]:
    """A new task's values in the order of _NEW_TASK_COLUMNS; ``now`` as the driver takes
    it. Its state is that of _NEW_TASK_STATE; ``entry``: the document entry declaring it."""
    definition = task.definition_json()
    return (
        task.id,
        task.name,
        task.enabled,
        definition,
        _dumps(task.tags),
        1,
        revision,
        now,
        now,
        _NEW_TASK_STATE["paused_reason"],
        _NEW_TASK_STATE["consecutive_failures"],
        _source(task),
        None if entry is None else declared_digest(entry, definition),
    )


_APPLY_UPDATE = (
    update(tasks)
    .where(tasks.c.id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        enabled=bindparam("b_enabled"),
        definition=bindparam("b_definition"),
        tags=bindparam("b_tags"),
        version=bindparam("b_version"),
        revision=bindparam("b_revision"),
        updated_at=bindparam("b_updated_at", type_=UTCDateTime()),
        paused_reason=bindparam("b_paused_reason", type_=Text()),
        consecutive_failures=bindparam("b_consecutive_failures"),
        source=bindparam("b_source"),
        declared=bindparam("b_declared"),
    )
)
_SET_DECLARED = (
    update(tasks).where(tasks.c.id == bindparam("b_id")).values(declared=bindparam("b_declared"))
)


def _update_params(
    task: Task,
    row: _Row,
    revision: int,
    now: datetime,
    timing: bool,
    declared: Mapping[str, str],
) -> dict[str, Any]:
    """The parameters of :data:`_APPLY_UPDATE` for ``task``, stored as ``row``, declared
    by the entry ``declared[task.id]`` if it has one."""
    values = _task_values(
        task, version=row.version + 1, revision=revision, now=now if timing else row.updated_at
    )
    state = _state_after(row, enabled=task.enabled)
    params = {f"b_{name}": value for name, value in {**values, **state}.items()}
    params["b_id"] = task.id
    params["b_source"] = _source(task)
    entry = declared.get(task.id)
    params["b_declared"] = None if entry is None else declared_digest(entry, values["definition"])
    return params


def _source(task: Task) -> str:
    """The source to store for a new task: its own, or the library's default."""
    return task.source or DEFAULT_SOURCE


def _task_values(task: Task, *, version: int, revision: int, now: datetime) -> dict[str, Any]:
    return {
        "name": task.name,
        "enabled": task.enabled,
        "definition": task.definition_json(),
        "tags": _dumps(task.tags),
        "version": version,
        "revision": revision,
        "updated_at": now,
    }


def _state_after(row: _Row, *, enabled: bool, resume: bool = False) -> dict[str, Any]:
    """The task state to store when a task whose row is ``row`` becomes ``enabled``:
    resuming a disabled task (or any task, with ``resume``) starts afresh, anything else
    keeps the stored state."""
    if enabled and (resume or not row.enabled):
        return dict(_NEW_TASK_STATE)
    return {
        "paused_reason": row.paused_reason,
        "consecutive_failures": int(row.consecutive_failures),
    }


def _task(
    definition: dict[str, Any],
    *,
    version: int,
    created_at: datetime,
    updated_at: datetime,
    paused_reason: str | None,
    consecutive_failures: int,
    source: str,
) -> Task:
    return Task.from_stored(
        definition,
        paused_reason=paused_reason,
        consecutive_failures=consecutive_failures,
        version=version,
        created_at=created_at,
        updated_at=updated_at,
        source=source,
    )


def _task_from_row(row: _Row, shared_lists: bool = False) -> Task:
    # the state in the order of Task's fields, so the task's dict needs no reordering
    return Task.from_stored_json(
        row.definition,
        shared_lists=shared_lists,
        paused_reason=row.paused_reason,
        consecutive_failures=row.consecutive_failures,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        source=row.source,
    )


_RUN_COLUMNS = (
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
# PostgreSQL array types of _RUN_COLUMNS, in the same order
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
_INSERT_CHUNK = 1000  # rows per statement: 10,000 parameters, within SQLite's limit
# rows per statement of a grid on PostgreSQL, whose arrays have no parameter limit: the
# thread that waits for a statement takes the GIL back after each one, behind the others
_GRID_CHUNK = 10_000


_RUNS_FENCE = (
    " ON CONFLICT (task_id, scheduled_for, attempt) DO NOTHING"
    " RETURNING id, task_id, scheduled_for, attempt"
)


@lru_cache(maxsize=16)
def _insert_runs_sql(count: int) -> str:
    """SQLite's ``INSERT`` of ``count`` run rows, fenced (DESIGN rule 2: a taken occurrence
    key inserts nothing) and returning each new row's key and id. Written for the driver
    rather than through SQLAlchemy: its per-row parameter handling was a quarter of the
    CPU of a burst of fires, and most of a catch-up's."""
    row = "(" + ",".join("?" * len(_RUN_COLUMNS)) + ")"
    columns = ",".join(_RUN_COLUMNS)
    return f"INSERT INTO {runs.name} ({columns}) VALUES {','.join([row] * count)}{_RUNS_FENCE}"


@lru_cache(maxsize=16)
def _insert_grid_sql(count: int) -> str:
    """SQLite's ``INSERT`` of a :class:`RunGrid`: the task ids as one JSON array, crossed
    with ``count`` rows of the other columns; fenced and returning as
    :func:`_insert_runs_sql`. (``WHERE true`` tells SQLite's parser that ``ON CONFLICT``
    belongs to the ``INSERT``, not to a join.)"""
    row = "(" + ",".join("?" * (len(_RUN_COLUMNS) - 1)) + ")"
    return (
        f"INSERT INTO {runs.name} ({','.join(_RUN_COLUMNS)}) SELECT ids.value, rows.*"
        f" FROM json_each(?) AS ids CROSS JOIN (VALUES {','.join([row] * count)}) AS rows"
        f" WHERE true ORDER BY 1, 2{_RUNS_FENCE}"
    )


# PostgreSQL's: the rows as one array per column. The text never changes, so psycopg parses
# it once (a VALUES list of 10,000 placeholders was parsed again for every batch, ~80 µs a
# row) and the server may prepare it. Arrays go in binary (%b): in text, psycopg escapes
# every quote of every element with a regular expression.
_INSERT_RUNS_UNNEST = (
    f"INSERT INTO {runs.name} ({','.join(_RUN_COLUMNS)}) SELECT * FROM unnest("
    + ",".join(f"%b::{kind}[]" for kind in _RUN_COLUMN_KINDS)
    + f"){_RUNS_FENCE}"
)


# PostgreSQL's finish_runs: the outcomes as one array per column (see _INSERT_RUNS_UNNEST),
# in the order of Store._finish_params, with the same guard as _finish_runs_sql
_FINISH_RUNS_UNNEST = (
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


# PostgreSQL's grid: one array of task ids crossed with one array per other column, in the
# order insert_runs locks keys (code points: the "C" collation)
_INSERT_GRID_UNNEST = (
    f"INSERT INTO {runs.name} ({','.join(_RUN_COLUMNS)}) SELECT ids.id, rows.*"
    " FROM unnest(%b::varchar[]) AS ids(id) CROSS JOIN unnest("
    + ",".join(f"%b::{kind}[]" for kind in _RUN_COLUMN_KINDS[1:])
    + f') AS rows ORDER BY ids.id COLLATE "C", 2{_RUNS_FENCE}'
)


# PostgreSQL writes big grids with COPY, which adds rows to the table a page at a time where
# INSERT adds them one by one: 90,000 missed rows of a catch-up in chunks of 9,000 took
# 0.81 -> 0.50 s, and 0.19 -> 0.12 s of this process's time (the server no longer sends
# back a row per row). Below _COPY_FROM rows, the id look-up and savepoint cost as much.
_COPY_FROM = 2000
_COPY_GRID = f"COPY {runs.name} (id, {','.join(_RUN_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_NEXT_RUN_IDS = f"SELECT array_agg(nextval('{runs.name}_id_seq')) FROM generate_series(1, %s)"
_UNIQUE_VIOLATION = "23505"
# psycopg's names of the types of "id" and _RUN_COLUMNS, for COPY in binary
_COPY_TYPES = ("int8", *("int4" if kind == "int" else kind for kind in _RUN_COLUMN_KINDS))


def _copy_grid(
    conn: Connection,
    task_ids: Sequence[str],
    template: Sequence[tuple[Any, ...]],
    positions: Sequence[int],
) -> list[tuple[int, str, int]] | None:
    """Write ``task_ids`` crossed with ``template`` (rows but for the task id, in key order)
    to PostgreSQL with ``COPY``; return ``(run id, task id, position)`` for each row, as
    :meth:`Store.insert_grid` does. ``COPY`` has no ``ON CONFLICT``: the unique index still
    fences every row (DESIGN rule 2), but one taken key refuses them all, and then nothing
    is written and ``None`` says to insert them row by row instead (only two instances
    firing one occurrence meet that)."""
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
        # as SQLAlchemy would have raised it, for Store._begin to say what went wrong
        raise sa_exc.DBAPIError.instance(
            _COPY_GRID, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    savepoint.commit()
    return [
        (run_id, task_id, position)
        for run_id, (task_id, position) in zip(run_ids, product(task_ids, positions), strict=True)
    ]


def _finish_runs_sql(mark: str) -> str:
    """``UPDATE`` of one run's outcome in the driver's parameter style, for
    ``executemany``. Only a running (or pending) row takes a result: one already recorded
    abandoned (its process was thought dead) or interrupted keeps that status. ``None``
    for ``counters`` or ``reason`` keeps what the row holds. Written for the driver for the
    same reason as :func:`_insert_runs_sql`: SQLAlchemy's per-row parameter handling cost
    ~40 µs a run."""
    return (
        f"UPDATE {runs.name} SET status = {mark}, finished_at = {mark}, duration = {mark},"
        f" started_at = COALESCE({mark}, started_at), error = {mark}, traceback = {mark},"
        f" output = {mark}, return_value = {mark},"
        f" counters = COALESCE({mark}, counters), reason = COALESCE({mark}, reason)"
        f" WHERE id = {mark} AND status IN ('{RunStatus.RUNNING.value}',"
        f" '{RunStatus.PENDING.value}')"
    )


def _run_params(row: NewRun, stamp: Callable[[Any], Any]) -> tuple[Any, ...]:
    return (
        row.task_id,
        stamp(row.scheduled_for),
        row.attempt,
        row.status.value,
        _short(row.reason),
        stamp(row.due_at),
        stamp(row.started_at),
        stamp(row.finished_at),
        row.error,
        _short(row.instance_id),
    )


def _as_is(value: Any) -> Any:
    return value


def _text(value: str | None) -> str | None:
    """Text as every backend can store it: PostgreSQL refuses NUL characters, which a
    command's output may contain, so they become U+FFFD."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _run_from_row(row: _Row) -> Run:
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
