"""The OpenAPI document holds: schemathesis sends generated requests to every operation,
with the token, on SQLite and PostgreSQL, and no answer is a 5xx or strays from the
document (status codes, content types, bodies)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cronwell import Cronwell, RunStatus
from cronwell.api import create_app
from cronwell.settings import load_settings
from cronwell.store import NewRun

TOKEN = "schema-test-token-0123456789"


@pytest.fixture
def api_schema(database_url: str) -> Iterator[schemathesis.BaseSchema]:
    cw = Cronwell(
        settings=load_settings(
            database_url=database_url, timezone="UTC", api_token=TOKEN, instance_id="schema-a"
        )
    )
    cw.add_task("nightly-report", schedule="0 2 * * *", func="os:getcwd", tags=["reports"])
    cw.add_task("probe", schedule="*/5 * * * *", http="http://127.0.0.1:9/", enabled=False)
    scheduled = datetime.now(UTC) - timedelta(minutes=5)
    cw.store.insert_runs(
        [
            NewRun(
                task_id="nightly-report",
                scheduled_for=scheduled,
                status=RunStatus.FAILED,
                started_at=scheduled,
                finished_at=scheduled + timedelta(seconds=1),
                error="ValueError: boom",
            )
        ]
    )
    cw.start()  # ready: /readyz answers 200, and 503 is a failure here
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(cw))
    cw.close()


def test_every_operation_conforms(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=int(os.environ.get("CRONWELL_SCHEMA_EXAMPLES", "30")),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {TOKEN}"},
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        conforms()


def test_every_answer_and_body_is_typed_with_examples(api_schema: schemathesis.BaseSchema) -> None:
    document = api_schema.raw_schema
    untyped = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for code, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if media == "application/json" and not content.get("schema"):
                        untyped.append(f"{method.upper()} {path} {code}")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and not body.get("schema"):
                untyped.append(f"{method.upper()} {path} body")
    assert untyped == []
    create = document["paths"]["/api/v1/tasks"]["post"]
    assert create["requestBody"]["content"]["application/json"]["examples"]
    schemas = document["components"]["schemas"]
    assert schemas["ErrorBody"]["examples"] and schemas["SchedulerStatus"]["examples"]


def test_the_document_says_what_validation_requires(api_schema: schemathesis.BaseSchema) -> None:
    document = api_schema.raw_schema
    schemas = document["components"]["schemas"]
    for name in ("PythonAction", "ShellAction", "HttpAction", "CronSchedule", "OnceSchedule"):
        assert "kind" in schemas[name]["required"], name
    assert "IntervalSchedule" in schemas and "kind" in schemas["IntervalSchedule"]["required"]
    put = document["paths"]["/api/v1/tasks/{task_id}"]["put"]
    body = put["requestBody"]["content"]["application/json"]["schema"]
    update = schemas[body["$ref"].rsplit("/", 1)[-1]]
    assert "version" in update["required"]
    assert "crontab" in schemas["CronSchedule"]["properties"]["cron"]["description"]
    preview = document["paths"]["/api/v1/preview"]["get"]
    (expression,) = [p for p in preview["parameters"] if p["name"] == "expression"]
    assert "crontab" in expression["description"] and "422" in expression["description"]
    task_id = schemas[body["$ref"].rsplit("/", 1)[-1]]["properties"]["id"]
    assert task_id["maxLength"] == 200 and task_id["pattern"].startswith("^")


def test_answers_match_the_document(database_url: str) -> None:
    cw = Cronwell(database_url, timezone="UTC", instance_id="schema-b")
    try:
        with TestClient(create_app(cw)) as client:
            for bad in ("0.5", "1700000000", "2026-01-01T00:00:00", "soon"):
                answer = client.get("/api/v1/runs", params={"until": bad})
                assert answer.status_code == 422, (bad, answer.text)
                assert answer.json()["error"]["type"] == "InvalidRequest"
            ok = client.get("/api/v1/runs", params={"until": "2026-01-01T00:00:00Z"})
            assert ok.status_code == 200
            for body in (b"{not json", b"\xff\xfe\x00"):
                answer = client.post(
                    "/api/v1/tasks", content=body, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 422, answer.text
                assert set(answer.json()["error"]) == {"type", "message"}
            options = client.options("/api/v1/tasks")
            assert options.status_code == 204
            assert options.headers["allow"] == "GET, OPTIONS, POST"
            bulk = client.options("/api/v1/tasks/bulk")
            assert bulk.headers["allow"] == "OPTIONS, POST"
            refused = client.delete("/api/v1/tasks")
            assert refused.status_code == 405 and refused.headers["allow"]
            assert refused.json()["error"]["type"] == "MethodNotAllowed"
            no_kind = client.post(
                "/api/v1/tasks",
                json={"id": "x", "schedule": {"cron": "* * * * *"}, "action": {"url": "http://a"}},
            )
            assert no_kind.status_code == 422 and "kind" in no_kind.text
            no_version = client.put(
                "/api/v1/tasks/x",
                json={
                    "id": "x",
                    "schedule": {"kind": "cron", "cron": "* * * * *"},
                    "action": {"kind": "http", "url": "http://a.io"},
                },
            )
            assert no_version.status_code == 422 and "version" in no_version.text
    finally:
        cw.close()
