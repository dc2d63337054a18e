"""A run built from fields cronwell made itself is the run validation would build; any
other set of fields is validated as usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from cronwell.domain.run import Run, RunStatus

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _fields() -> dict[str, Any]:
    return {
        "id": 7,
        "task_id": "report",
        "scheduled_for": T0,
        "attempt": 2,
        "status": RunStatus.FAILED,
        "reason": "schedule",
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=3),
        "duration": 3.0,
        "error": "ValueError: boom",
        "traceback": "Traceback…",
        "output": "line\n",
        "return_value": None,
        "counters": {"rows": 4.0},
        "instance_id": "host-1",
    }


def test_every_field_in_order_gives_the_validated_run() -> None:
    built, validated = Run.of_fields(_fields()), Run(**_fields())
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert repr(built) == repr(validated)
    assert built.occurrence_key == "report@2026-11-23T10:00:00.000000Z"
    with pytest.raises(ValidationError):  # still frozen
        built.attempt = 3  # type: ignore[misc]
    changed = built.model_copy(update={"attempt": 3})
    assert changed.attempt == 3 and built.attempt == 2
    assert built.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert built.model_dump_json(exclude_unset=True) == validated.model_dump_json(
        exclude_unset=True
    )


def test_anything_else_is_validated() -> None:
    partial = {k: v for k, v in _fields().items() if k not in ("counters", "traceback")}
    assert Run.of_fields(partial) == Run(**partial)
    with pytest.raises(ValidationError):
        Run.of_fields({**partial, "status": "no such status"})


def test_every_field_with_a_process_group_gives_the_validated_run() -> None:
    fields = {**_fields(), "pgid": 4321, "host": "box-1"}
    built, validated = Run.of_fields(dict(fields)), Run(**fields)
    assert built == validated
    assert (built.pgid, built.host) == (4321, "box-1")
    assert built.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)


def test_fields_without_a_process_group_leave_it_unset() -> None:
    built = Run.of_fields(_fields())
    assert (built.pgid, built.host) == (None, None)
    assert "pgid" not in built.model_dump(exclude_unset=True)
