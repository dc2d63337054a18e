"""Column types shared by the tables and the migrations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator, TypeEngine

from cronwell.store.records import utc

BIGINT_PK: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit key; ``INTEGER`` on SQLite, where only that spelling is an autoincrementing
rowid alias."""


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, stored in UTC and always read back as an aware UTC ``datetime``.

    Naive datetimes are rejected on the way in (DESIGN rule 10): a naive value has no
    meaning as an instant, and guessing its zone is how schedules drift. SQLite has no
    time-zone-aware type, so the UTC wall time is stored there as text (microseconds
    included, fixed width, so text order is time order) and UTC is attached when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value, "The time")
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, what :meth:`process_bind_param` and the dialect's ``DATETIME`` make
        of a value together (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC) in one step rather than
        two processors in turn, once per run timestamp written."""
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"Expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return utc(value, "The time").replace(tzinfo=None).isoformat(" ", "microseconds")
