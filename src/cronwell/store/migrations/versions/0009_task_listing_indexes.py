"""Tasks: indexes for the dashboard's tasks page and overview with large fleets.

- ``ix_cronwell_tasks_listing`` (name, tags, id): a search by text or tag reads this
  index instead of the whole table, each row of which carries the task's definition.
- ``ix_cronwell_tasks_state`` (enabled, paused_reason): the paused and auto-paused tasks
  are counted and listed without reading the table.
- ``ix_cronwell_tasks_failing`` (consecutive_failures, id), partial: only the tasks whose
  latest occurrences failed, usually few, so a success or a new task does not touch it.
- On PostgreSQL, ``ix_cronwell_tasks_tags``: a GIN index on the tags as ``jsonb``, which
  answers "tasks with this tag" (jsonb's ``?``) without reading the others. SQLite has no
  such index: a text match on the tags' JSON rules most rows out before the exact test.
- On PostgreSQL, ``ix_cronwell_tasks_text``: a trigram index on the id and name (ILIKE),
  so that a text search looks up the few matching tasks instead of reading them all. It
  needs the ``pg_trgm`` extension (trusted: a user who may create objects in the database
  may install it); where the extension cannot be installed, the index is left out and a
  search reads the listing index instead, which is slower but gives the same answer.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILING = sa.text("consecutive_failures > 0")


def upgrade() -> None:
    op.create_index("ix_cronwell_tasks_listing", "cronwell_tasks", ["name", "tags", "id"])
    op.create_index("ix_cronwell_tasks_state", "cronwell_tasks", ["enabled", "paused_reason"])
    op.create_index(
        "ix_cronwell_tasks_failing",
        "cronwell_tasks",
        ["consecutive_failures", "id"],
        sqlite_where=_FAILING,
        postgresql_where=_FAILING,
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_cronwell_tasks_tags ON cronwell_tasks USING gin ((tags::jsonb))"
        )
        _create_trigram_index()


def _create_trigram_index() -> None:
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        logging.getLogger("cronwell.store").warning(
            "the pg_trgm extension could not be installed (%s): text searches of tasks read "
            "the whole listing index instead of a trigram index; a database owner can run "
            "CREATE EXTENSION pg_trgm, then: CREATE INDEX ix_cronwell_tasks_text ON "
            "cronwell_tasks USING gin (id gin_trgm_ops, name gin_trgm_ops)",
            str(exc.orig).strip().splitlines()[0],
            extra={"action": "trigram_index_skipped"},
        )
        return
    savepoint.commit()
    op.execute(
        "CREATE INDEX ix_cronwell_tasks_text ON cronwell_tasks "
        "USING gin (id gin_trgm_ops, name gin_trgm_ops)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_cronwell_tasks_text")
    op.execute("DROP INDEX IF EXISTS ix_cronwell_tasks_tags")
    for name in (
        "ix_cronwell_tasks_failing",
        "ix_cronwell_tasks_state",
        "ix_cronwell_tasks_listing",
    ):
        op.drop_index(name, table_name="cronwell_tasks")
