"""The UTC timestamp column type: rows written straight to SQLite's driver carry the same
text as rows written through SQLAlchemy, and naive times are refused on both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from cronwell.store.types import UTCDateTime

INSTANTS = [
    datetime(2026, 11, 23, 22, 33, 9, 504221, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 11, 23, 8, 0, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(999, 1, 1, tzinfo=UTC),  # a three-digit year is padded the same way
]


@pytest.mark.parametrize("value", INSTANTS)
def test_sqlite_text_is_what_the_column_type_writes(value: datetime) -> None:
    dialect = sqlite.dialect()
    through_type = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert through_type is not None
    assert UTCDateTime.sqlite_text(value) == through_type(value)


def test_naive_times_are_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"Naive datetime .* cannot be stored"):
        UTCDateTime.sqlite_text(datetime(2026, 11, 23, 8, 0))
    assert UTCDateTime.sqlite_text(None) is None
