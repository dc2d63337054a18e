"""Logging set-up for the CLI and the service.

Library code logs through ``logging.getLogger(__name__)`` with structured ``extra`` fields
(``action=...``, ``task_id=...``); this module only decides how the service prints them.
"""

from __future__ import annotations

import logging

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class StructuredFormatter(logging.Formatter):
    """Appends the ``extra`` fields of a record as ``key=value`` pairs."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if not extras:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))


def configure(level: str = "INFO") -> None:
    """Send cronwell's records to stderr with their structured fields."""
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("cronwell")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
