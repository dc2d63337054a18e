"""cronwell's tables, in SQLAlchemy Core.

This module describes the schema the code expects; the migrations in
``cronwell/store/migrations/versions`` create it. A test compares the two, so a change here
without a migration fails the build.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from cronwell.store.types import BIGINT_PK, UTCDateTime

VERSION_TABLE = "cronwell_alembic_version"
"""Alembic's bookkeeping table, named so it never collides with the host application's own
``alembic_version`` when cronwell shares its database."""

metadata = MetaData()

tasks = Table(
    "cronwell_tasks",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("name", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Task.definition() as JSON: what the user defined, without bookkeeping.
    Column("definition", Text, nullable=False),
    # The task's tags as a JSON list, duplicated out of the definition for filtering.
    Column("tags", Text, nullable=False),
    Column("version", Integer, nullable=False),
    # The change counter (cronwell_task_changes.revision) at this task's last change.
    Column("revision", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # State cronwell keeps about the task (Task.paused_reason, Task.consecutive_failures),
    # outside the definition: changing it is not a change of the task.
    # Why the task was paused automatically; NULL while enabled and after a manual pause.
    Column("paused_reason", Text, nullable=True),
    # Occurrences in a row whose last attempt failed; 0 after a success.
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    # Who declared the task (Task.source): a tasks file's name, "api", "cli", "app", the
    # library's source=, "cronwell" for the maintenance task. Prune deletes only the tasks
    # of the source it applies.
    Column("source", String(200), nullable=False, server_default=text("'unknown'")),
    # The digest of the document entry an apply declared the task with, bound to this
    # definition (cronwell.domain.declared): a plan that finds it again skips the task.
    # NULL for tasks no apply has declared.
    Column("declared", String(64), nullable=True),
    Index("ix_cronwell_tasks_source", "source"),
    # the dashboard's reads (migration 0009): text search, tasks by state, failing tasks
    Index("ix_cronwell_tasks_listing", "name", "tags", "id"),
    Index("ix_cronwell_tasks_state", "enabled", "paused_reason"),
    Index(
        "ix_cronwell_tasks_failing",
        "consecutive_failures",
        "id",
        sqlite_where=text("consecutive_failures > 0"),
        postgresql_where=text("consecutive_failures > 0"),
    ),
)

task_changes = Table(
    "cronwell_task_changes",
    metadata,
    Column("revision", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("task_id", String(200), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    # AUTOINCREMENT on SQLite: revisions are never reused, even after the newest rows go.
    sqlite_autoincrement=True,
)

runs = Table(
    "cronwell_runs",
    metadata,
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    # No foreign key to tasks: runs of a deleted task stay as history until pruned.
    Column("task_id", String(200), nullable=False),
    Column("scheduled_for", UTCDateTime, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("due_at", UTCDateTime, nullable=True),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("duration", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("output", Text, nullable=True),
    Column("return_value", Text, nullable=True),
    Column("counters", Text, nullable=True),
    Column("instance_id", String(200), nullable=True),
    # The process group of the run's child process (a shell command, a process-isolated
    # Python action) and the host it runs on, recorded when it starts: recovery kills that
    # group before it abandons the run (DESIGN rule 7). NULL for runs without one.
    Column("pgid", Integer, nullable=True),
    Column("host", String(255), nullable=True),
    # The Celery queue a run was sent to (DESIGN rule 13); NULL for runs of the leader's
    # own worker pool. A row with a queue that is queued or running is a remote run in flight.
    Column("queue", String(200), nullable=True),
    # DESIGN rule 2: the database fences duplicate occurrences. The fence's index also
    # serves look-ups by task and time (a task's history, where catch-up picks up).
    UniqueConstraint("task_id", "scheduled_for", "attempt", name="uq_run_occurrence"),
    Index("ix_cronwell_runs_status_due_at", "status", "due_at"),
    # Run history is listed newest first across all tasks.
    Index("ix_cronwell_runs_scheduled_for", "scheduled_for"),
    sqlite_autoincrement=True,
)

instances = Table(
    "cronwell_instances",
    metadata,
    # Each running cronwell process (engine) registers here and heartbeats, so that a
    # successor can tell which processes are gone and recover their runs (DESIGN rule 5).
    Column("instance_id", String(200), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)

notifications = Table(
    "cronwell_notifications",
    metadata,
    # One row per alert delivery (after its retries): the log `cronwell alerts list` shows.
    # Targets and errors are stored redacted.
    Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("event", String(40), nullable=False),
    Column("task_id", String(200), nullable=True),
    Column("run_id", BigInteger, nullable=True),
    Column("target", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("title", Text, nullable=False),
    Index("ix_notifications_task_event", "task_id", "event", "created_at"),
)

leases = Table(
    "cronwell_leases",
    metadata,
    # One row per lease (the scheduler's): who holds it until when, in database time, so
    # instances with skewed clocks agree (DESIGN rule 9).
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
