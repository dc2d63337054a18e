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
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import (
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
    sqlite_file,
)
from cronwell.store.records import NewRun, RunUpdate, utc, utc_or_none
from cronwell.store.tables import VERSION_TABLE, runs, task_changes, tasks
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
_ID_CHUNK = 500  # ids per IN (...) list

# A result row. Row's generic parameters differ between SQLAlchemy 2.0 and 2.1, and columns
# are read by name anyway.
_Row = Any

_ACTIVE = (RunStatus.PENDING.value, RunStatus.RUNNING.value)
_RUN_KEY = (runs.c.task_id, runs.c.scheduled_for, runs.c.attempt)


class Store:
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
        self._engine = build_engine(self._url, pool_size=pool_size)
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

    def _alembic_config(self) -> Config:
        config = Config()
        # Config values go through ConfigParser interpolation, where % is special.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        return config

    def upgrade(self) -> None:
        """Bring the tables to the latest migration; a no-op when they are current.

        Safe to call on every start, and from instances starting together: on PostgreSQL
        the migrations run in one transaction under an advisory lock, on SQLite under the
        write lock.
        """
        config = self._alembic_config()
        heads = set(ScriptDirectory.from_config(config).get_heads())
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
                    current = _current_heads(conn)
                    if current == heads:
                        return
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                raise database_error(self._url, exc) from None
            except sa_exc.DBAPIError as exc:
                raise database_error(self._url, exc, "upgrade") from None
            finally:
                config.attributes.pop("connection", None)
        logger.info(
            "Upgraded the database %s to revision %s",
            self.display_url,
            ", ".join(sorted(heads)),
            extra={
                "action": "database_upgraded",
                "database": self.display_url,
                "from_revision": ", ".join(sorted(current)) or None,
                "to_revision": ", ".join(sorted(heads)),
            },
        )

    def is_current(self) -> bool:
        """True when every migration has been applied."""
        heads = set(ScriptDirectory.from_config(self._alembic_config()).get_heads())
        with self._connection() as conn:
            try:
                return _current_heads(conn) == heads
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
                    **_task_values(task, version=1, revision=revision, now=now),
                )
            )
        return task.model_copy(update={"version": 1, "created_at": now, "updated_at": now})

    def bulk_insert_tasks(self, new_tasks: Sequence[Task], now: datetime) -> int:
        """Store many new tasks in one transaction and return how many. If any id is taken
        (or repeated in ``new_tasks``) nothing is stored and
        :class:`~cronwell.errors.TaskExistsError` names the first such id."""
        now = utc(now, "now")
        if not new_tasks:
            return 0
        ids: set[str] = set()
        for task in new_tasks:
            if task.id in ids:
                raise TaskExistsError(task.id)
            ids.add(task.id)
        ordered = [task.id for task in new_tasks]
        with self._begin(write=True, lock_tasks=True) as conn:
            for start in range(0, len(ordered), _ID_CHUNK):
                chunk = ordered[start : start + _ID_CHUNK]
                taken = conn.execute(
                    select(tasks.c.id).where(tasks.c.id.in_(chunk)).order_by(tasks.c.id).limit(1)
                ).first()
                if taken is not None:
                    raise TaskExistsError(str(taken.id))
            result = conn.execute(
                insert(task_changes).returning(task_changes.c.task_id, task_changes.c.revision),
                [{"task_id": task_id, "changed_at": now} for task_id in ordered],
            )
            revisions: dict[str, int] = {row.task_id: row.revision for row in result}
            conn.execute(
                insert(tasks),
                [
                    {
                        "id": task.id,
                        "created_at": now,
                        **_task_values(task, version=1, revision=revisions[task.id], now=now),
                    }
                    for task in new_tasks
                ],
            )
        return len(new_tasks)

    def update_task(self, task: Task, now: datetime, expected_version: int | None = None) -> Task:
        """Replace the stored definition of ``task.id`` and return the task as stored
        (version + 1, ``updated_at=now``, ``created_at`` kept).

        With ``expected_version``, the update happens only if that is still the stored
        version (optimistic concurrency); otherwise
        :class:`~cronwell.errors.StaleVersionError`. Unknown id:
        :class:`~cronwell.errors.TaskNotFoundError`.
        """
        now = utc(now, "now")
        with self._begin(write=True, lock_tasks=True) as conn:
            row = conn.execute(
                select(tasks.c.version, tasks.c.created_at).where(tasks.c.id == task.id)
            ).first()
            if row is None:
                raise TaskNotFoundError(task.id)
            stored_version: int = row.version
            if expected_version is not None and expected_version != stored_version:
                raise StaleVersionError(task.id, stored_version, expected_version)
            version = stored_version + 1
            revision = _record_change(conn, task.id, now)
            conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id)
                .values(**_task_values(task, version=version, revision=revision, now=now))
            )
        return task.model_copy(
            update={"version": version, "created_at": row.created_at, "updated_at": now}
        )

    def set_enabled(self, task_id: str, enabled: bool, now: datetime) -> Task:
        """Enable or disable a task (pause/resume); counts as a change (version + 1)."""
        now = utc(now, "now")
        with self._begin(write=True, lock_tasks=True) as conn:
            row = conn.execute(
                select(tasks.c.definition, tasks.c.version, tasks.c.created_at).where(
                    tasks.c.id == task_id
                )
            ).first()
            if row is None:
                raise TaskNotFoundError(task_id)
            definition: dict[str, Any] = json.loads(row.definition)
            definition["enabled"] = enabled
            version = row.version + 1
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
                )
            )
        return _task(definition, version=version, created_at=row.created_at, updated_at=now)

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
    ) -> list[Task]:
        """Tasks ordered by id. ``tag``: tasks carrying that tag; ``enabled``: only enabled
        (or disabled) tasks; ``text``: case-insensitive substring of the id or the name."""
        query = (
            _TASK_SELECT.where(*self._task_filters(tag, enabled, text))
            .order_by(tasks.c.id)
            .limit(limit)
            .offset(offset or None)
        )
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [_task_from_row(row) for row in rows]

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
        first: dict[tuple[str, datetime, int], int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row.key, index)
        # Keys in a fixed order, so two concurrent batches lock them in the same order
        # (PostgreSQL would otherwise risk a deadlock between overlapping batches).
        unique = sorted(first.items(), key=lambda item: item[0])
        params = [_run_values(rows[index]) for _, index in unique]
        with self._begin(write=True) as conn:
            result = conn.execute(self._insert_runs_statement(), params)
            inserted = {(r.task_id, r.scheduled_for, r.attempt): int(r.id) for r in result}
        ids: list[int | None] = [None] * len(rows)
        for key, index in first.items():
            ids[index] = inserted.get(key)
        return ids

    def _insert_runs_statement(self) -> Any:
        returning = (runs.c.id, *_RUN_KEY)
        if self.is_sqlite:
            return (
                sqlite.insert(runs)
                .on_conflict_do_nothing(index_elements=list(_RUN_KEY))
                .returning(*returning)
            )
        return (
            postgresql.insert(runs)
            .on_conflict_do_nothing(constraint="uq_run_occurrence")
            .returning(*returning)
        )

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
        """Record the outcome of a run. ``reason`` and ``counters`` left as ``None`` keep
        what the row holds. Unknown id: :class:`~cronwell.errors.RunNotFoundError`."""
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
            result = conn.execute(_FINISH, _finish_values(change))
            if result.rowcount == 0:
                raise RunNotFoundError(run_id)

    def finish_runs(self, updates: Sequence[RunUpdate]) -> None:
        """:meth:`finish_run` for many runs in one transaction and one batched statement.
        Unknown ids are ignored."""
        if not updates:
            return
        with self._begin(write=True) as conn:
            conn.execute(_FINISH, [_finish_values(change) for change in updates])

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

    def prune_runs(self, before: datetime) -> int:
        """Delete finished runs scheduled before ``before`` (pending and running runs stay);
        return how many were deleted. For history retention."""
        before = utc(before, "before")
        with self._begin(write=True) as conn:
            result = conn.execute(
                delete(runs).where(runs.c.scheduled_for < before, runs.c.status.not_in(_ACTIVE))
            )
            return int(result.rowcount)


# -- helpers ----------------------------------------------------------------------------------

_TASK_SELECT = select(tasks.c.definition, tasks.c.version, tasks.c.created_at, tasks.c.updated_at)

_FINISH = (
    update(runs)
    .where(runs.c.id == bindparam("b_run_id"))
    .values(
        status=bindparam("b_status", type_=String()),
        finished_at=bindparam("b_finished_at", type_=UTCDateTime()),
        duration=bindparam("b_duration"),
        error=bindparam("b_error", type_=Text()),
        traceback=bindparam("b_traceback", type_=Text()),
        output=bindparam("b_output", type_=Text()),
        return_value=bindparam("b_return_value", type_=Text()),
        counters=func.coalesce(bindparam("b_counters", type_=Text()), runs.c.counters),
        reason=func.coalesce(bindparam("b_reason", type_=String()), runs.c.reason),
    )
)


def _current_heads(conn: Connection) -> set[str]:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _short(value: str | None) -> str | None:
    return None if value is None else value[:_SHORT_TEXT]


def _record_change(conn: Connection, task_id: str, now: datetime) -> int:
    """Append to the change log in the caller's transaction; return the new revision."""
    revision = conn.execute(
        insert(task_changes)
        .values(task_id=task_id, changed_at=now)
        .returning(task_changes.c.revision)
    ).scalar_one()
    return int(revision)


def _task_values(task: Task, *, version: int, revision: int, now: datetime) -> dict[str, Any]:
    return {
        "name": task.name,
        "enabled": task.enabled,
        "definition": _dumps(task.definition()),
        "tags": _dumps(task.tags),
        "version": version,
        "revision": revision,
        "updated_at": now,
    }


def _task(
    definition: dict[str, Any], *, version: int, created_at: datetime, updated_at: datetime
) -> Task:
    return Task.model_validate(
        {**definition, "version": version, "created_at": created_at, "updated_at": updated_at}
    )


def _task_from_row(row: _Row) -> Task:
    return _task(
        json.loads(row.definition),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run_values(row: NewRun) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "scheduled_for": row.scheduled_for,
        "attempt": row.attempt,
        "status": row.status.value,
        "reason": _short(row.reason),
        "due_at": row.due_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "error": row.error,
        "instance_id": _short(row.instance_id),
    }


def _text(value: str | None) -> str | None:
    """Text as every backend can store it: PostgreSQL refuses NUL characters, which a
    command's output may contain, so they become U+FFFD."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _finish_values(change: RunUpdate) -> dict[str, Any]:
    return {
        "b_run_id": change.run_id,
        "b_status": change.status.value,
        "b_finished_at": change.finished_at,
        "b_duration": change.duration,
        "b_error": _text(change.error),
        "b_traceback": _text(change.traceback),
        "b_output": _text(change.output),
        "b_return_value": _text(change.return_value),
        "b_counters": None if change.counters is None else _dumps(dict(change.counters)),
        "b_reason": _short(change.reason),
    }


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
