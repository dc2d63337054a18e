"""Reads of the run table that only tests need, made on a store's own database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from cronwell.domain.run import Run, RunStatus
from cronwell.store import Store
from cronwell.store.runs import run_from_row
from cronwell.store.tables import runs


def next_due_at(store: Store) -> datetime | None:
    """The earliest ``due_at`` among pending runs, ``None`` when nothing is pending."""
    with store.database.begin() as conn:
        value: datetime | None = conn.execute(
            select(func.min(runs.c.due_at)).where(runs.c.status == RunStatus.PENDING.value)
        ).scalar()
    return value


def runs_in_status(store: Store, status: RunStatus) -> list[Run]:
    """Every run in ``status``, oldest id first."""
    with store.database.begin() as conn:
        rows = conn.execute(
            select(runs).where(runs.c.status == RunStatus(status).value).order_by(runs.c.id)
        ).all()
    return [run_from_row(row) for row in rows]
