"""Every error path of the service answers in the documented shape
``{"error": {"type", "message"}}``: the token, the allow-list, unknown routes, tasks and
runs, wrong methods (API, health, static files, dashboard actions), conflicts and invalid
requests. Also: ``Location`` on 201 and 202, ``total`` on the runs page, readable
operation ids and the bearer scheme in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cronwell import Cronwell
from cronwell.api import create_app
from cronwell.settings import Settings

TOKEN = "errors-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HTTP_TASK = {
    "id": "pinger",
    "schedule": {"kind": "cron", "cron": "0 8 * * *"},
    "action": {"kind": "http", "url": "http://127.0.0.1:9/ping"},
}


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    settings = Settings(
        database_url=database_url, timezone="UTC", api_token=TOKEN, maintenance_cron=""
    )
    instance = Cronwell(settings=settings)
    yield instance
    instance.close()


@pytest.fixture
def client(cw: Cronwell) -> Iterator[TestClient]:
    with TestClient(create_app(cw)) as test_client:
        yield test_client


# (method, path, headers, JSON body, status, error type)
ERROR_PATHS: list[tuple[str, str, dict[str, str], object, int, str]] = [
    ("GET", "/api/v1/tasks", {}, None, 401, "UnauthorizedError"),
    ("GET", "/api/v1/tasks", {"Authorization": "Bearer wrong"}, None, 401, "UnauthorizedError"),
    (
        "POST",
        "/api/v1/tasks",
        AUTH,
        {**HTTP_TASK, "id": "sh", "action": {"kind": "shell", "command": "true"}},
        403,
        "ForbiddenError",
    ),
    ("GET", "/api/v1/nothing-here", AUTH, None, 404, "NotFound"),
    ("GET", "/nothing-here", {}, None, 404, "NotFound"),
    ("GET", "/static/no-such-file.js", {}, None, 404, "NotFound"),
    ("GET", "/api/v1/tasks/nope", AUTH, None, 404, "TaskNotFoundError"),
    ("POST", "/api/v1/tasks/nope/pause", AUTH, None, 404, "TaskNotFoundError"),
    ("GET", "/api/v1/runs/424242", AUTH, None, 404, "RunNotFoundError"),
    ("DELETE", "/api/v1/runs", AUTH, None, 405, "MethodNotAllowed"),
    ("PATCH", "/api/v1/tasks/pinger", AUTH, None, 405, "MethodNotAllowed"),
    ("POST", "/healthz", {}, None, 405, "MethodNotAllowed"),
    ("POST", "/static/htmx.min.js", {}, None, 405, "MethodNotAllowed"),
    ("POST", "/api/v1/tasks", AUTH, HTTP_TASK, 409, "TaskExistsError"),
    ("POST", "/api/v1/reload", AUTH, None, 409, "SchedulerStateError"),
    ("GET", "/api/v1/tasks?limit=0", AUTH, None, 422, "InvalidRequest"),
    ("GET", "/api/v1/runs/0", AUTH, None, 422, "InvalidRequest"),
    ("POST", "/api/v1/tasks", AUTH, "{not json", 422, "InvalidRequest"),
    ("GET", "/api/v1/preview?expression=0+8+*+*+9", AUTH, None, 422, "InvalidCronExpressionError"),
]


def test_every_error_path_answers_in_the_one_shape(client: TestClient) -> None:
    assert client.post("/api/v1/tasks", json=HTTP_TASK, headers=AUTH).status_code == 201
    for method, path, headers, body, status, kind in ERROR_PATHS:
        if isinstance(body, str):
            answer = client.request(
                method, path, content=body, headers={**headers, "Content-Type": "application/json"}
            )
        else:
            answer = client.request(method, path, json=body, headers=headers)
        where = f"{method} {path}"
        assert answer.status_code == status, (where, answer.text)
        assert answer.headers["content-type"] == "application/json", where
        error = answer.json()
        assert list(error) == ["error"], where
        assert error["error"]["type"] == kind, (where, error)
        assert isinstance(error["error"]["message"], str) and error["error"]["message"], where
        assert "detail" not in answer.text, where
        if status == 405:
            assert "Allow" in answer.headers or path.startswith("/static/"), where


def test_created_and_queued_answers_say_where(cw: Cronwell, client: TestClient) -> None:
    created = client.post("/api/v1/tasks", json=HTTP_TASK, headers=AUTH)
    assert created.status_code == 201
    assert created.headers["location"] == "/api/v1/tasks/pinger"
    assert client.get(created.headers["location"], headers=AUTH).json()["id"] == "pinger"
    bulk = client.post(
        "/api/v1/tasks/bulk", json=[{**HTTP_TASK, "id": f"b-{i}"} for i in range(3)], headers=AUTH
    )
    assert bulk.status_code == 201 and bulk.headers["location"] == "/api/v1/tasks"
    queued = client.post("/api/v1/tasks/pinger/run", headers=AUTH)
    assert queued.status_code == 202
    assert queued.headers["location"] == f"/api/v1/runs/{queued.json()['run_id']}"
    run = client.get(queued.headers["location"], headers=AUTH).json()
    assert run["task_id"] == "pinger" and run["status"] == "pending"
    client.post("/api/v1/tasks/b-0/run", headers=AUTH)
    page = client.get("/api/v1/runs", params={"limit": 1}, headers=AUTH).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    only = client.get("/api/v1/runs", params={"task_id": "b-0"}, headers=AUTH).json()
    assert only["total"] == 1


def test_openapi_names_operations_and_declares_the_bearer_scheme(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    ids = {
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    }
    assert {"list_tasks", "get_task", "pause_task", "run_task", "list_runs", "get_run"} <= ids
    assert not [i for i in ids if "api_v1" in i or i.endswith(("_get", "_post"))]
    scheme = document["components"]["securitySchemes"]["bearerToken"]
    assert scheme == {
        "type": "http",
        "scheme": "bearer",
        "description": "The service's CRONWELL_API_TOKEN.",
    }
    assert document["paths"]["/api/v1/tasks"]["get"]["security"] == [{"bearerToken": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert not [
        p
        for p in document["paths"]
        if not p.startswith(("/api/", "/healthz", "/readyz", "/metrics"))
    ]
    location = document["paths"]["/api/v1/tasks"]["post"]["responses"]["201"]
    assert "Location" in location["headers"]


def test_without_a_token_no_scheme_is_declared(database_url: str) -> None:
    cw = Cronwell(database_url, timezone="UTC")
    try:
        with TestClient(create_app(cw)) as client:
            document = client.get("/openapi.json").json()
        assert "securitySchemes" not in document.get("components", {})
    finally:
        cw.close()
