"""Alembic environment for cronwell's tables.

Migrations run only through :meth:`cronwell.store.Store.upgrade`, which opens the
transaction, takes the migration lock and passes its connection in
``config.attributes["connection"]``; there is no ``alembic.ini``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection

from cronwell.store.tables import VERSION_TABLE, metadata


def run_migrations() -> None:
    """Apply the pending migrations on the connection handed in by the store."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "cronwell's migrations run through Store.upgrade(), which passes a connection; "
            "offline (--sql) mode is not supported."
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        on_version_apply=_report,
    )
    with context.begin_transaction():
        context.run_migrations()


def _report(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    """Tell the store's ``on_step`` (a progress bar) that a migration was applied."""
    applied = context.config.attributes.get("on_applied")
    if applied is not None:
        applied(str(step.up_revision_id))


run_migrations()
