"""Runs: the process group and host of a run's child process (DESIGN rule 7).

A shell command or a process-isolated Python action runs in a process group of its own;
recovery kills that group, when it is still alive on this host, before it marks the run
``abandoned`` and retries it, so two attempts of one occurrence never run side by side.
Both columns stay NULL for runs without a child process.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN, which SQLite does in place: no copy of a long run history
    op.add_column("cronwell_runs", sa.Column("pgid", sa.Integer(), nullable=True))
    op.add_column("cronwell_runs", sa.Column("host", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cronwell_runs") as batch:
        batch.drop_column("host")
        batch.drop_column("pgid")
