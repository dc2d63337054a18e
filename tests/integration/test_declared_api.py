"""``POST /api/v1/plan`` and ``/apply``: the CLI's plan and apply over HTTP, through the
API's allow-list, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cronwell import Cronwell
from cronwell.api import create_app
from cronwell.settings import load_settings

HTTP = {"kind": "http", "url": "https://example.com/hook", "headers": {"X-Api-Key": "k3y"}}


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    settings = load_settings(
        database_url=database_url, timezone="UTC", api_functions=["os.path:join"]
    )
    instance = Cronwell(settings=settings)
    yield instance
    instance.close()


@pytest.fixture
def client(cw: Cronwell) -> Iterator[TestClient]:
    with TestClient(create_app(cw)) as test_client:
        yield test_client


def test_plan_then_apply_then_prune_the_api_source(cw: Cronwell, client: TestClient) -> None:
    cw.add_task("from-app", schedule="0 1 * * *", shell="true")
    body = {
        "tasks": [
            {"id": "hook", "cron": "0 8 * * *", "action": HTTP, "description": "d"},
            {"id": "join", "every": "1h", "action": {"kind": "python", "func": "os.path:join"}},
        ]
    }
    planned = client.post("/api/v1/plan", json=body)
    assert planned.status_code == 200, planned.text
    plan = planned.json()
    assert [c["id"] for c in plan["create"]] == ["hook", "join"]
    assert plan["create"][0]["source"] == "api" and len(plan["create"][0]["next"]) == 3
    assert plan["create"][0]["definition"]["action"]["headers"] == {"X-Api-Key": "***"}
    assert cw.service.find("hook") is None  # a plan writes nothing
    applied = client.post("/api/v1/apply", json=body)
    assert applied.json() == {**plan, "create": applied.json()["create"]}
    assert cw.service.get("hook").action.headers == {"X-Api-Key": "k3y"}  # type: ignore[union-attr]
    assert client.post("/api/v1/apply", json=body).json()["unchanged"] == 2

    body["tasks"][0]["description"] = "new words"
    changed = client.post("/api/v1/plan", json=body).json()
    assert changed["update"] == [{"id": "hook", "changes": {"description": ["d", "new words"]}}]
    pruned = client.post("/api/v1/apply", json={"tasks": body["tasks"][:1], "prune": True})
    assert pruned.json()["delete"] == [{"id": "join", "source": "api"}]
    assert sorted(t.id for t in cw.list_tasks()) == ["from-app", "hook"]


def test_the_api_applies_only_what_it_could_create(cw: Cronwell, client: TestClient) -> None:
    body = {
        "tasks": [
            {"id": "fine", "cron": "0 8 * * *", "action": HTTP},
            {"id": "shell", "cron": "0 8 * * *", "action": {"kind": "shell", "command": "id"}},
        ]
    }
    for path in ("/api/v1/plan", "/api/v1/apply"):
        refused = client.post(path, json=body)
        assert refused.status_code == 403, refused.text
        assert "CRONWELL_ALLOW_SHELL" in refused.json()["error"]["message"]
    system = {
        "tasks": [{"id": "x", "every": "1h", "action": {"kind": "python", "func": "os:system"}}]
    }
    assert client.post("/api/v1/apply", json=system).status_code == 403
    assert cw.list_tasks() == []  # nothing stored, not even the allowed task


def test_invalid_documents_answer_422_with_every_problem(cw: Cronwell, client: TestClient) -> None:
    body = {
        "tasks": [
            {"id": "a", "cron": "0 8 * * *", "action": HTTP},
            {"id": "b", "cron": "0 8 * *", "timezone": "Europe/Pari", "action": HTTP},
            {"id": "a", "evry": "1h", "action": HTTP},
        ]
    }
    for path in ("/api/v1/plan", "/api/v1/apply"):
        answer = client.post(path, json=body)
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["type"] == "DocumentError"
        message = error["message"]
        assert "task b: Cron expression '0 8 * *' has 4 fields" in message
        assert "task b: Unknown time zone 'Europe/Pari'" in message
        assert "task a: unknown key 'evry'; did you mean 'every'?" in message
    assert cw.list_tasks() == []
