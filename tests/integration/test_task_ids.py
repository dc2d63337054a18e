"""The limits of a task id, through the library and the API, on SQLite and PostgreSQL
(defect 4 of issue 18): 200 characters are stored and read back, 201 are refused with a
sentence, and a trailing newline is refused instead of listing like the id without it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cronwell import Cronwell
from cronwell.api import create_app
from cronwell.domain.action import PythonAction
from cronwell.errors import InvalidInputError

LONGEST = "a" + "b" * 198 + "z"  # 200 characters
HTTP = {"kind": "http", "url": "http://127.0.0.1:9/"}
HOURLY = {"kind": "cron", "cron": "0 * * * *"}


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone="UTC", instance_id="ids-a")
    yield instance
    instance.close()


def test_the_library_stores_200_characters_and_refuses_more(cw: Cronwell) -> None:
    assert len(LONGEST) == 200
    cw.add_task(LONGEST, schedule="0 * * * *", http="http://127.0.0.1:9/")
    assert cw.get_task(LONGEST).id == LONGEST
    assert [t.id for t in cw.list_tasks()] == [LONGEST]
    for bad in (LONGEST + "y", "trail\n", "trail\r\n", "\ntrail", "trail\n\n"):
        with pytest.raises(InvalidInputError, match="at most 200 characters"):
            cw.add_task(bad, schedule="0 * * * *", http="http://127.0.0.1:9/")
    assert [t.id for t in cw.list_tasks()] == [LONGEST]


def test_the_api_stores_200_characters_and_refuses_more(cw: Cronwell) -> None:
    with TestClient(create_app(cw)) as client:
        created = client.post(
            "/api/v1/tasks", json={"id": LONGEST, "schedule": HOURLY, "action": HTTP}
        )
        assert created.status_code == 201 and created.json()["id"] == LONGEST
        assert client.get(f"/api/v1/tasks/{LONGEST}").json()["id"] == LONGEST
        for bad in (LONGEST + "y", "trail\n"):
            refused = client.post(
                "/api/v1/tasks", json={"id": bad, "schedule": HOURLY, "action": HTTP}
            )
            assert refused.status_code == 422
            assert "at most 200 characters" in refused.json()["error"]["message"]
        assert client.get("/api/v1/tasks").json()["total"] == 1


def test_a_function_reference_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"package\.module:function"):
        PythonAction(func="os:getcwd\n")
