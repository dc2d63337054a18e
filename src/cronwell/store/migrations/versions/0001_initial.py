"""Tasks, their change log and run history.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Types are spelled out here rather than imported from ``cronwell.store.tables`` so this
migration keeps meaning what it meant when later ones change the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cronwell_tasks",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
    )
    op.create_table(
        "cronwell_task_changes",
        sa.Column("revision", _BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("changed_at", _instant(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cronwell_runs",
        sa.Column("id", _BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("scheduled_for", _instant(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("due_at", _instant(), nullable=True),
        sa.Column("started_at", _instant(), nullable=True),
        sa.Column("finished_at", _instant(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("return_value", sa.Text(), nullable=True),
        sa.Column("counters", sa.Text(), nullable=True),
        sa.Column("instance_id", sa.String(200), nullable=True),
        sa.UniqueConstraint("task_id", "scheduled_for", "attempt", name="uq_run_occurrence"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cronwell_runs_status_due_at", "cronwell_runs", ["status", "due_at"])
    op.create_index(
        "ix_cronwell_runs_task_id_scheduled_for", "cronwell_runs", ["task_id", "scheduled_for"]
    )
    op.create_index("ix_cronwell_runs_scheduled_for", "cronwell_runs", ["scheduled_for"])


def downgrade() -> None:
    op.drop_table("cronwell_runs")
    op.drop_table("cronwell_task_changes")
    op.drop_table("cronwell_tasks")
