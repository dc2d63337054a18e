"""Tasks: the digest of the document entry each task was declared with (issue 19, tasks as
code), so that a re-apply of an unchanged document reads and compares no task in full.

NULL for the tasks stored before: the next apply compares them in full, once, and records
their digests.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a nullable column without a default, which SQLite adds in place
    op.add_column("cronwell_tasks", sa.Column("declared", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cronwell_tasks") as batch:
        batch.drop_column("declared")
