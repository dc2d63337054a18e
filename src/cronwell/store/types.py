"""Column types shared by the tables and the migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer
from sqlalchemy.types import TypeDecorator, TypeEngine

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
        value = _aware(value).astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    @staticmethod
    def sqlite_text(value: datetime | None) -> str | None:
        """What this type and SQLite's ``DATETIME`` together make of ``value`` (the UTC
        wall time, ``YYYY-MM-DD HH:MM:SS.ffffff``), in one step: for a row written
        straight to the driver, the two processors cost 2.5 times as much."""
        if value is None:
            return None
        return _aware(value).astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            raise TypeError(f"Expected a datetime from the database, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    """``value`` if it is an aware datetime; else a sentence saying why not (rule 10)."""
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"Naive datetime {value.isoformat()} cannot be stored; "
            "pass an aware datetime (e.g. datetime.now(UTC))."
        )
    return value
