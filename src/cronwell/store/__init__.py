"""Persistence: tasks, their change log and run history in SQLite or PostgreSQL.

The only package that imports SQLAlchemy and Alembic (DESIGN, layers). Everything else
uses :class:`Store`, which takes and returns domain objects.

Names are imported on first use, so that :mod:`cronwell.store.peek` (shell completion)
loads without SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cronwell.store.database import display_url, normalize_url
    from cronwell.store.leases import LeaseState
    from cronwell.store.listen import ChangeListener, ListenRetry
    from cronwell.store.processes import RunProcess
    from cronwell.store.records import (
        InstanceRecord,
        NewRun,
        NotificationRecord,
        RunGrid,
        RunUpdate,
    )
    from cronwell.store.remote import RemoteState
    from cronwell.store.store import Store

_EXPORTS = {
    "ChangeListener": "cronwell.store.listen",
    "InstanceRecord": "cronwell.store.records",
    "LeaseState": "cronwell.store.leases",
    "ListenRetry": "cronwell.store.listen",
    "NewRun": "cronwell.store.records",
    "NotificationRecord": "cronwell.store.records",
    "RunGrid": "cronwell.store.records",
    "RemoteState": "cronwell.store.remote",
    "RunProcess": "cronwell.store.processes",
    "RunUpdate": "cronwell.store.records",
    "Store": "cronwell.store.store",
    "display_url": "cronwell.store.database",
    "normalize_url": "cronwell.store.database",
}

__all__ = [
    "ChangeListener",
    "InstanceRecord",
    "LeaseState",
    "ListenRetry",
    "NewRun",
    "NotificationRecord",
    "RemoteState",
    "RunGrid",
    "RunProcess",
    "RunUpdate",
    "Store",
    "display_url",
    "normalize_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cronwell.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
