"""Alembic environment for cronwell's tables.

Migrations run only through :meth:`cronwell.store.Store.upgrade`, which opens the
transaction, takes the migration lock and passes its connection in
``config.attributes["connection"]``; there is no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context
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
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
