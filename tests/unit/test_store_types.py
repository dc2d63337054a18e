"""The UTC timestamp column type: on SQLite its one-step processor writes the text that
its own conversion followed by SQLite's ``DATETIME`` formatting would, and naive times
are refused with a sentence."""

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
DIALECT = sqlite.dialect()


def _written(value: datetime | None) -> object:
    processor = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    assert processor is not None
    return processor(value)


@pytest.mark.parametrize("value", INSTANTS)
def test_sqlite_gets_the_text_of_the_two_conversions_in_turn(value: datetime) -> None:
    converted = UTCDateTime().process_bind_param(value, DIALECT)
    formatted = sqlite.DATETIME().bind_processor(DIALECT)
    assert formatted is not None
    assert _written(value) == formatted(converted)


def test_naive_times_are_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match=r"The time 2026-11-23T08:00:00 is naive; pass an aware"):
        _written(datetime(2026, 11, 23, 8, 0))
    assert _written(None) is None
