"""The notifications log: one row per alert delivered to one target, or not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select

from cronwell.store.database import Database
from cronwell.store.records import NotificationRecord, utc
from cronwell.store.tables import notifications
from cronwell.store.values import clean_text


class Notifications:
    """Writes and reads of the notifications log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record_notification(self, record: NotificationRecord) -> int:
        """Append one delivery outcome to the notifications log; return its id."""
        values = {
            "created_at": utc(record.created_at, "created_at"),
            "event": record.event,
            "task_id": record.task_id,
            "run_id": record.run_id,
            "target": record.target,
            "status": record.status,
            "attempts": record.attempts,
            "error": clean_text(record.error),
            "title": clean_text(record.title) or "",
        }
        with self._db.begin(write=True) as conn:
            new_id = conn.execute(
                insert(notifications).values(**values).returning(notifications.c.id)
            ).scalar_one()
        return int(new_id)

    def list_notifications(
        self,
        *,
        task_id: str | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[NotificationRecord]:
        """The newest deliveries first."""
        query = select(notifications).order_by(notifications.c.id.desc()).limit(limit)
        if task_id is not None:
            query = query.where(notifications.c.task_id == task_id)
        if event is not None:
            query = query.where(notifications.c.event == event)
        if status is not None:
            query = query.where(notifications.c.status == status)
        with self._db.begin() as conn:
            rows = conn.execute(query).all()
        return [
            NotificationRecord(
                id=row.id,
                created_at=row.created_at,
                event=row.event,
                task_id=row.task_id,
                run_id=row.run_id,
                target=row.target,
                status=row.status,
                attempts=row.attempts,
                error=row.error,
                title=row.title,
            )
            for row in rows
        ]

    def prune_notifications(self, before: datetime) -> int:
        """Delete notifications log rows older than ``before``; return how many."""
        before = utc(before, "before")
        with self._db.begin(write=True) as conn:
            result = conn.execute(delete(notifications).where(notifications.c.created_at < before))
        return int(result.rowcount)
