"""Declared digests: how a plan knows, without building a task again, that a stored task is
exactly what a document entry makes of it.

When ``apply`` stores a task declared by an entry (or finds it as declared), the store keeps
a digest of three texts: the entry, the stored definition and the code that reads entries
(cronwell's version and the task model's schema). Applying an entry to the task it made
changes nothing, so a later plan that computes the same digest from the same entry and the
stored definition knows the task is as declared and skips building, validating and
comparing it. Any change to one of the three, an edited entry, a task paused or edited
since through another door, an upgrade of cronwell, gives another digest: the plan then
compares that task in full, as it does a task that has no digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime, time
from functools import cache
from typing import Any

from cronwell.domain.task import Task
from cronwell.version import __version__


def entry_text(data: Mapping[str, Any], default_timezone: str) -> str:
    """The text of a definition's ``data`` (read with ``default_timezone``) that a digest
    covers: its ``repr``, which is the same for two entries only when they are equal, if
    they hold only what a parser makes (:func:`is_plain`). A digest is recorded only for
    such an entry; another entry could only give its text by holding an object that
    pretends, in its ``repr``, to be one of those values."""
    return f"{default_timezone}\n{data!r}"


def is_plain(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` holds only text, numbers, booleans, null, lists, mappings, dates
    and times: what TOML, YAML and JSON documents are made of. Not so a schedule model
    given to the library, whose ``repr`` may leave a field out: it gets no digest."""
    try:
        _PLAIN.encode(data)
    except (TypeError, ValueError):
        return False
    return True


def _date_or_time(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return None  # TOML and YAML read these; their repr names them whole
    raise TypeError(type(value).__name__)


# encodes nothing: only tells whether an entry holds what a document parser makes
_PLAIN = json.JSONEncoder(default=_date_or_time)


def declared_digest(entry: str, definition_json: str) -> str:
    """The digest of the entry ``entry`` (:func:`entry_text`) stored as the definition
    ``definition_json`` (the stored text), by this version of cronwell."""
    text = f"{_code()}\n{entry}\n{definition_json}"
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def _code() -> str:
    """What, of the code, decides how an entry reads: the version and the task model's
    schema (its fields, defaults and constraints), so that a changed default re-checks."""
    schema = json.dumps(Task.model_json_schema(), sort_keys=True)
    return hashlib.sha256(f"{__version__}\n{schema}".encode()).hexdigest()
