"""The store: tasks, their change log and run history, in SQLite or PostgreSQL.

cronwell's database is the source of truth (DESIGN rule 1). :class:`Store` is the one
object the rest of cronwell holds: a façade over one :class:`~cronwell.store.database.Database`
and the repositories that read and write it, one module each:

- ``tasks.py`` (:class:`~cronwell.store.tasks.Tasks`) and ``changes.py`` (the change log);
- ``runs.py`` (run history: the run insert, outcomes, claims, recovery, retention) and
  ``processes.py`` (runs' process groups);
- ``stats.py`` and ``overview.py`` (the reads that sum up history, the dashboard's);
- ``notifications.py`` (the notifications log);
- ``leases.py`` (instances, their heartbeats, and the scheduler lease);
- ``remote.py`` (runs executed by Celery workers: their claims and how the leader ends
  them), reached as :attr:`Store.remote` rather than through hand-offs;
- ``sql/`` (the statements each backend writes its own way, behind one interface).

Every public method is one transaction. Every time argument is an aware datetime handed in
by the caller (DESIGN rule 10): the store never reads the clock (leases and heartbeats read
the database's).

The repositories are composed rather than mixed into one class: each names what it needs
(the database, the backend's statements, and, for the tasks, the runs a resume inserts).
Each method below hands its call to one repository, grouped under the module that does the
work; the repositories' methods carry the documentation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Literal

from cronwell.domain.run import Run, RunStatus
from cronwell.domain.stats import TaskStats
from cronwell.domain.task import Task
from cronwell.store.changes import ChangeLog
from cronwell.store.database import Database, MigrationProgress
from cronwell.store.leases import Instances, Leases, LeaseState
from cronwell.store.listen import ChangeListener, ListenRetry
from cronwell.store.notifications import Notifications
from cronwell.store.overview import Overview, TaskState, TaskStateCounts
from cronwell.store.processes import RunProcess, RunProcesses
from cronwell.store.records import (
    InstanceRecord,
    NewRun,
    NotificationRecord,
    RunGrid,
    RunUpdate,
    StoredDefinition,
)
from cronwell.store.remote import RemoteRuns
from cronwell.store.runs import Runs
from cronwell.store.sql import backend_sql
from cronwell.store.stats import Stats
from cronwell.store.tasks import Tasks


class Store:
    """cronwell's tables in one database, behind methods that speak domain objects.

    ``url`` is an SQLAlchemy-style URL: ``sqlite:///cronwell.db`` (relative to the current
    directory), ``sqlite:////abs/path.db``, or ``postgresql://user:password@host/db``
    (``postgres://`` works too; the psycopg 3 driver is used). Creating a store does not
    connect; :meth:`check` or :meth:`upgrade` do, and raise
    :class:`~cronwell.errors.DatabaseUnavailableError` with the password hidden.

    ``listen_retry`` paces the reconnects of the change listeners it starts on
    PostgreSQL (:meth:`listen_for_changes`; the defaults of
    :class:`~cronwell.store.listen.ListenRetry` unless given).
    """

    def __init__(
        self, url: str, *, pool_size: int = 10, listen_retry: ListenRetry | None = None
    ) -> None:
        self.database = db = Database(url, pool_size=pool_size)
        self.url: str = db.url.render_as_string(hide_password=False)
        self.display_url: str = db.display_url
        self.is_sqlite: bool = db.is_sqlite
        self.sqlite_path: str | None = db.sqlite_path
        self.read_only: bool = db.read_only
        sql = backend_sql(db.is_sqlite)
        self._runs = Runs(db, sql)
        self._tasks = Tasks(db, sql, self._runs)
        self._changes = ChangeLog(db, listen_retry)
        self._processes = RunProcesses(db)
        self._stats = Stats(db)
        self._overview = Overview(db, sql)
        self._notifications = Notifications(db)
        self._leases = Leases(db)
        self._instances = Instances(db)
        self.remote = RemoteRuns(db)

    def __repr__(self) -> str:
        return f"Store({self.display_url!r})"

    # -- the database (database.py) ----------------------------------------------------------

    def check(self) -> None:
        self.database.check()

    def close(self) -> None:
        self.database.close()

    def upgrade(self, on_step: MigrationProgress | None = None) -> None:
        self.database.upgrade(on_step)

    def has_schema(self) -> bool:
        return self.database.has_schema()

    def is_current(self) -> bool:
        return self.database.is_current()

    def database_now(self) -> datetime:
        """The database's clock, which every instance shares (leases, heartbeats)."""
        with self.database.begin() as conn:
            return self.database.now(conn)

    # -- tasks (tasks.py) ---------------------------------------------------------------------

    def insert_task(self, task: Task, now: datetime) -> Task:
        return self._tasks.insert_task(task, now)

    def bulk_insert_tasks(self, new_tasks: Sequence[Task], now: datetime) -> int:
        return self._tasks.bulk_insert_tasks(new_tasks, now)

    def find_declared(
        self, ids: Sequence[str], sources: Sequence[str] = ()
    ) -> list[StoredDefinition]:
        return self._tasks.find_declared(ids, sources)

    def find_tasks(self, ids: Sequence[str], sources: Sequence[str] = ()) -> list[Task]:
        return self._tasks.find_tasks(ids, sources)

    def apply_tasks(
        self,
        create: Sequence[Task],
        update: Sequence[tuple[Task, bool]],
        delete: Sequence[Task],
        now: datetime,
        declared: Mapping[str, str] | None = None,
    ) -> None:
        self._tasks.apply_tasks(create, update, delete, now, declared)

    def update_task(self, task: Task, now: datetime, expected_version: int | None = None) -> Task:
        return self._tasks.update_task(task, now, expected_version)

    def set_enabled(
        self, task_id: str, enabled: bool, now: datetime, *, runs: Sequence[NewRun] = ()
    ) -> Task:
        return self._tasks.set_enabled(task_id, enabled, now, runs=runs)

    def auto_pause(self, task_id: str, reason: str, now: datetime) -> Task:
        return self._tasks.auto_pause(task_id, reason, now)

    def record_occurrence_result(self, task_id: str, failed: bool) -> int:
        return self._tasks.record_occurrence_result(task_id, failed)

    def reset_failure_streaks(self, task_ids: Sequence[str]) -> dict[str, int]:
        return self._tasks.reset_failure_streaks(task_ids)

    def delete_task(self, task_id: str, now: datetime) -> None:
        self._tasks.delete_task(task_id, now)

    def get_task(self, task_id: str) -> Task:
        return self._tasks.get_task(task_id)

    def find_task(self, task_id: str) -> Task | None:
        return self._tasks.find_task(task_id)

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
        return self._tasks.list_tasks(
            tag=tag,
            enabled=enabled,
            text=text,
            limit=limit,
            offset=offset,
            shared_lists=shared_lists,
        )

    def count_tasks(
        self, *, tag: str | None = None, enabled: bool | None = None, text: str | None = None
    ) -> int:
        return self._tasks.count_tasks(tag=tag, enabled=enabled, text=text)

    # -- the change log (changes.py) ----------------------------------------------------------

    def current_revision(self) -> int:
        return self._changes.current_revision()

    def listen_for_changes(self, on_change: Callable[[], None]) -> ChangeListener | None:
        return self._changes.listen_for_changes(on_change)

    def changes_since(self, revision: int) -> tuple[int, set[str]]:
        return self._changes.changes_since(revision)

    # -- runs (runs.py) -----------------------------------------------------------------------

    def insert_runs(self, rows: Sequence[NewRun]) -> list[int | None]:
        return self._runs.insert_runs(rows)

    def insert_grid(self, grid: RunGrid) -> list[tuple[int, str, int]]:
        return self._runs.insert_grid(grid)

    def mark_started(self, run_id: int, started_at: datetime) -> None:
        self._runs.mark_started(run_id, started_at)

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
        self._runs.finish_run(
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

    def finish_runs(self, updates: Sequence[RunUpdate]) -> None:
        self._runs.finish_runs(updates)

    def get_run(self, run_id: int) -> Run:
        return self._runs.get_run(run_id)

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
        return self._runs.list_runs(
            task_id=task_id, status=status, since=since, until=until, limit=limit, offset=offset
        )

    def count_runs(
        self,
        *,
        task_id: str | None = None,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        return self._runs.count_runs(task_id=task_id, status=status, since=since, until=until)

    def claim_due_runs(self, now: datetime, instance_id: str, limit: int = 100) -> list[Run]:
        return self._runs.claim_due_runs(now, instance_id, limit)

    def start_pending(self, run_id: int, now: datetime, instance_id: str) -> bool:
        return self._runs.start_pending(run_id, now, instance_id)

    def last_occurrences(
        self, task_ids: Sequence[str] | None = None, *, until: datetime | None = None
    ) -> dict[str, datetime]:
        return self._runs.last_occurrences(task_ids, until=until)

    def release_queued(self, instance_ids: Sequence[str], now: datetime) -> int:
        return self._runs.release_queued(instance_ids, now)

    def abandon_runs(
        self,
        instance_ids: Sequence[str],
        now: datetime,
        reason: str = "process_died",
        *,
        keep: Collection[int] = (),
        notes: Mapping[int, str] | None = None,
    ) -> list[Run]:
        return self._runs.abandon_runs(instance_ids, now, reason, keep=keep, notes=notes)

    def prune_runs(self, before: datetime | None, *, keep_per_task: int | None = None) -> int:
        return self._runs.prune_runs(before, keep_per_task=keep_per_task)

    # -- runs' process groups (processes.py) --------------------------------------------------

    def record_process(self, run_id: int, pgid: int, host: str) -> bool:
        return self._processes.record_process(run_id, pgid, host)

    def running_processes(self, instance_ids: Sequence[str]) -> list[RunProcess]:
        return self._processes.running_processes(instance_ids)

    # -- stats (stats.py) ---------------------------------------------------------------------

    def task_stats(self, task_id: str, *, sample: int = 1000) -> TaskStats:
        return self._stats.task_stats(task_id, sample=sample)

    # -- the dashboard's reads (overview.py) --------------------------------------------------

    def task_state_counts(self) -> TaskStateCounts:
        return self._overview.task_state_counts()

    def count_tasks_in(
        self, *, tag: str | None = None, text: str | None = None, state: TaskState | None = None
    ) -> int:
        return self._overview.count_tasks_in(tag=tag, text=text, state=state)

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
        return self._overview.task_ids(
            tag=tag, text=text, state=state, order=order, limit=limit, offset=offset
        )

    def latest_runs(self, task_ids: Sequence[str]) -> dict[str, Run]:
        return self._overview.latest_runs(task_ids)

    def runs_by_hour(self, since: datetime, until: datetime) -> dict[tuple[datetime, str], int]:
        return self._overview.runs_by_hour(since, until)

    # -- the notifications log (notifications.py) ---------------------------------------------

    def record_notification(self, record: NotificationRecord) -> int:
        return self._notifications.record_notification(record)

    def list_notifications(
        self,
        *,
        task_id: str | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[NotificationRecord]:
        return self._notifications.list_notifications(
            task_id=task_id, event=event, status=status, limit=limit
        )

    def prune_notifications(self, before: datetime) -> int:
        return self._notifications.prune_notifications(before)

    # -- leases (leases.py) -------------------------------------------------------------------

    def acquire_lease(
        self, name: str, holder: str, ttl: float, *, take_from: str | None = None
    ) -> tuple[bool, str | None]:
        return self._leases.acquire_lease(name, holder, ttl, take_from=take_from)

    def lease_holder(self, name: str) -> str | None:
        return self._leases.lease_holder(name)

    def release_lease(self, name: str, holder: str) -> None:
        self._leases.release_lease(name, holder)

    def read_lease(self, name: str) -> LeaseState:
        return self._leases.read_lease(name)

    # -- instances (leases.py) ----------------------------------------------------------------

    def register_instance(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        self._instances.register_instance(instance_id, hostname, pid, now)

    def heartbeat(self, instance_id: str, hostname: str, pid: int, now: datetime) -> None:
        self._instances.heartbeat(instance_id, hostname, pid, now)

    def list_instances(self) -> list[InstanceRecord]:
        return self._instances.list_instances()

    def remove_instances(self, instance_ids: Sequence[str]) -> int:
        return self._instances.remove_instances(instance_ids)

    def instances_with_work(self) -> set[str]:
        return self._instances.instances_with_work()
