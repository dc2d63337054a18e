"""Persistence: tasks, their change log and run history in SQLite or PostgreSQL.

The only package that imports SQLAlchemy and Alembic (DESIGN, layers). Everything else
uses :class:`Store`, which takes and returns domain objects.
"""

from cronwell.store.database import display_url, normalize_url
from cronwell.store.leases import LeaseState
from cronwell.store.listen import ChangeListener
from cronwell.store.processes import RunProcess
from cronwell.store.records import (
    InstanceRecord,
    NewRun,
    NotificationRecord,
    RunGrid,
    RunUpdate,
)
from cronwell.store.store import Store

__all__ = [
    "ChangeListener",
    "InstanceRecord",
    "LeaseState",
    "NewRun",
    "NotificationRecord",
    "RunGrid",
    "RunProcess",
    "RunUpdate",
    "Store",
    "display_url",
    "normalize_url",
]
