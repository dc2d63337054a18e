"""The change log: a row per task change, numbered by revision, read by every engine to
reschedule exactly the tasks that changed (on PostgreSQL also announced with
``NOTIFY``, see :mod:`cronwell.store.listen`). :class:`~cronwell.store.tasks.Tasks`
appends to it in the transaction of each change."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from cronwell.store.database import Database
from cronwell.store.listen import ChangeListener, ListenRetry
from cronwell.store.tables import task_changes


class ChangeLog:
    """Reads of the change log."""

    def __init__(self, db: Database, listen_retry: ListenRetry | None = None) -> None:
        self._db = db
        self._listen_retry = listen_retry

    def current_revision(self) -> int:
        """The latest task change revision, 0 before the first change."""
        with self._db.begin() as conn:
            value = conn.execute(select(func.max(task_changes.c.revision))).scalar()
        return int(value or 0)

    def listen_for_changes(self, on_change: Callable[[], None]) -> ChangeListener | None:
        """On PostgreSQL, call ``on_change`` whenever a task change commits, from any
        process, until the listener returned is closed; ``None`` on SQLite, which has no
        notifications (poll :meth:`changes_since`)."""
        if self._db.is_sqlite:
            return None
        return ChangeListener(self._db.url, on_change, self._listen_retry)

    def changes_since(self, revision: int) -> tuple[int, set[str]]:
        """``(latest revision, ids of tasks changed after revision)``. Pass the returned
        revision to the next call. Deleted tasks are included: a changed id that
        :meth:`find_task` does not find was deleted."""
        with self._db.begin() as conn:
            rows = conn.execute(
                select(task_changes.c.revision, task_changes.c.task_id).where(
                    task_changes.c.revision > revision
                )
            ).all()
        latest = max((int(row.revision) for row in rows), default=revision)
        return latest, {str(row.task_id) for row in rows}
