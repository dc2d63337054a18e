"""Task state (paused_reason, consecutive_failures) and the instances table.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Existing tasks get ``consecutive_failures = 0`` and no ``paused_reason``. Types are spelled
out here rather than imported, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Plain ADD COLUMN works on SQLite too (a NOT NULL column needs a constant default),
    # so the tasks table is not rebuilt.
    op.add_column("cronwell_tasks", sa.Column("paused_reason", sa.Text(), nullable=True))
    op.add_column(
        "cronwell_tasks",
        sa.Column(
            "consecutive_failures", sa.Integer(), nullable=False, server_default=sa.text("0")
        ),
    )
    op.create_table(
        "cronwell_instances",
        sa.Column("instance_id", sa.String(200), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("last_seen", _instant(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cronwell_instances")
    with op.batch_alter_table("cronwell_tasks") as batch:
        batch.drop_column("consecutive_failures")
        batch.drop_column("paused_reason")
