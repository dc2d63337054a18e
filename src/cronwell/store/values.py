"""How values are cut and encoded to fit the store's columns, shared by its repositories."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# A result row. Row's generic parameters differ between SQLAlchemy 2.0 and 2.1, and columns
# are read by name anyway.
Row = Any

SHORT_TEXT = 200  # length of the reason and instance_id columns
ID_CHUNK = 500  # ids per IN (...) list


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def counters_json(counters: Mapping[str, float] | None) -> str | None:
    """Most runs count nothing: their ``{}`` skips the encoder."""
    if counters is None:
        return None
    return dumps(dict(counters)) if counters else "{}"


def short(value: str | None) -> str | None:
    return None if value is None else value[:SHORT_TEXT]


def clean_text(value: str | None) -> str | None:
    """Text as every backend can store it: PostgreSQL refuses NUL characters, which a
    command's output may contain, so they become U+FFFD."""
    return None if value is None else value.replace("\x00", "\ufffd")


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices short enough for one ``IN (...)`` list."""
    for start in range(0, len(values), ID_CHUNK):
        yield values[start : start + ID_CHUNK]


def stored_instance_ids(values: Sequence[str]) -> list[str]:
    """Instance ids as stored (cut to the column), sorted, each once."""
    # A bare string is a sequence of one-letter ids: almost certainly a mistake.
    if isinstance(values, str):
        raise TypeError("instance_ids must be a sequence of ids, not one string")
    return sorted({value[:SHORT_TEXT] for value in values})
