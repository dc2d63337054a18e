"""Runs: drop the index on (task_id, scheduled_for).

The unique fence on (task_id, scheduled_for, attempt) is an index with the same leading
columns, which serves every look-up and ordering the dropped one served, while each run
row written paid for both (benchmarks/README.md, fifth round).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_cronwell_runs_task_id_scheduled_for", table_name="cronwell_runs")


def downgrade() -> None:
    op.create_index(
        "ix_cronwell_runs_task_id_scheduled_for", "cronwell_runs", ["task_id", "scheduled_for"]
    )
