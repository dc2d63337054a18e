"""Tasks: the ``source`` that declared each one (issue 19, tasks as code).

A tasks file, the API, the CLI and the application each declare tasks; ``apply --prune``
deletes only the tasks of the source it applies. Tasks stored before this migration are
labelled ``unknown`` (no prune of a file, the API or the application ever deletes them);
the built-in maintenance task gets cronwell's own source, ``cronwell``. Indexed: a plan
reads the tasks of its source.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN with a constant default, which SQLite does in place
    op.add_column(
        "cronwell_tasks",
        sa.Column("source", sa.String(200), nullable=False, server_default=sa.text("'unknown'")),
    )
    op.execute("UPDATE cronwell_tasks SET source = 'cronwell' WHERE id = 'cronwell-maintenance'")
    op.create_index("ix_cronwell_tasks_source", "cronwell_tasks", ["source"])


def downgrade() -> None:
    op.drop_index("ix_cronwell_tasks_source", table_name="cronwell_tasks")
    with op.batch_alter_table("cronwell_tasks") as batch:
        batch.drop_column("source")
