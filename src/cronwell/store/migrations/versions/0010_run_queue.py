"""Runs: the Celery queue a run was sent to (DESIGN rule 13).

A task with ``executor = "celery"`` has its runs recorded by the leader and executed by
Celery workers. The row's ``queue`` names where it went: a row with a queue that is still
``queued`` or ``running`` is a remote run in flight, which a new leader watches on; the
number of ``queued`` rows per queue is the queue depth that ``/metrics`` reports. NULL for
runs of the leader's own worker pool.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN, which SQLite does in place: no copy of a long run history
    op.add_column("cronwell_runs", sa.Column("queue", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cronwell_runs") as batch:
        batch.drop_column("queue")
