"""Logging set-up for the CLI and the service.

Library code logs through ``logging.getLogger(__name__)`` with structured ``extra`` fields
(``action=...``, ``task_id=...``); this module only decides how the service prints them.
"""

from __future__ import annotations

import logging

from cronwell.errors import InvalidInputError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class StructuredFormatter(logging.Formatter):
    """Appends the ``extra`` fields of a record as ``key=value`` pairs."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if not extras:
            return base
        return base + " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))


def level_number(level: str, source: str = "the log level") -> int:
    """The :mod:`logging` number of a level name in any case; a name that is none of
    :data:`LEVELS` is an :class:`~cronwell.errors.InvalidInputError` naming them and
    ``source`` (the option or variable it came from)."""
    name = level.strip().upper()
    if name not in LEVELS:
        raise InvalidInputError(
            f"{source} {level!r} is not a log level; use one of {', '.join(LEVELS)}."
        )
    return logging.getLevelNamesMapping()[name]


def configure(level: str = "INFO", source: str = "the log level") -> None:
    """Send cronwell's records to stderr with their structured fields."""
    number = level_number(level, source)
    handler = logging.StreamHandler()
    handler.setFormatter(StructuredFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("cronwell")
    root.handlers[:] = [handler]
    root.setLevel(number)
    root.propagate = False
