"""The HTTP API over a real store (SQLite and PostgreSQL) through the ASGI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.support.waiting import wait_until

from cronwell import Cronwell, RunStatus, every
from cronwell.api import create_app


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone="UTC", poll_interval=0.05, instance_id="api-a")
    yield instance
    instance.close()


@pytest.fixture
def client(cw: Cronwell) -> Iterator[TestClient]:
    with TestClient(create_app(cw)) as test_client:
        yield test_client


def test_health_and_readiness(cw: Cronwell, client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    cw.service  # noqa: B018 - migrate
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["problems"] == ["the engine is not running"]
    cw.start()
    assert client.get("/readyz").json() == {"ready": True, "problems": []}
    status = client.get("/api/v1/status").json()
    assert status["role"] == "leader" and status["instance_id"] == "api-a"


def test_tasks_pages_filters_and_errors(cw: Cronwell, client: TestClient) -> None:
    for index in range(5):
        cw.add_task(
            f"job-{index}",
            schedule="0 8 * * 1-5",
            shell="true",
            tags=["even" if index % 2 == 0 else "odd"],
        )
    page = client.get("/api/v1/tasks", params={"limit": 2, "offset": 2}).json()
    assert [t["id"] for t in page["items"]] == ["job-2", "job-3"] and page["total"] == 5
    even = client.get("/api/v1/tasks", params={"tag": "even"}).json()
    assert [t["id"] for t in even["items"]] == ["job-0", "job-2", "job-4"]
    missing = client.get("/api/v1/tasks/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"type": "TaskNotFoundError", "message": "No task with id 'nope'."}
    }
    preview = client.get("/api/v1/tasks/job-0/preview", params={"n": 3}).json()
    assert preview["description"] == "At 08:00 on Monday through Friday"
    assert len(preview["times"]) == 3
    bad = client.get("/api/v1/tasks", params={"limit": 0})
    assert bad.status_code == 422 and "limit" in bad.json()["error"]["message"]


def test_stateless_preview_validates_with_a_sentence(client: TestClient) -> None:
    ok = client.get(
        "/api/v1/preview",
        params={
            "expression": "0 8 * * 1-5",
            "timezone": "Asia/Jerusalem",
            "n": 2,
            "after": "2026-11-23T00:00:00+02:00",
        },
    ).json()
    assert ok["times"] == ["2026-11-23T08:00:00+02:00", "2026-11-24T08:00:00+02:00"]
    bad = client.get("/api/v1/preview", params={"expression": "0 8 * * 9"})
    assert bad.status_code == 422
    assert "day-of-week field '9'" in bad.json()["error"]["message"]
    zone = client.get("/api/v1/preview", params={"expression": "@daily", "timezone": "Europe/Pari"})
    assert zone.status_code == 422 and "Europe/Paris" in zone.json()["error"]["message"]


def test_pause_resume_run_and_runs(cw: Cronwell, client: TestClient) -> None:
    cw.add_task(
        "api-job",
        schedule=every(hours=1),
        func=lambda: print("from the api"),  # registered: the API may run it
        alerts=[{"to": "discord://123456/SecretTokenValue0123456789abcdef"}],
    )
    assert "SecretTokenValue" not in client.get("/api/v1/tasks/api-job").text
    assert client.post("/api/v1/tasks/api-job/pause").json()["enabled"] is False
    assert client.post("/api/v1/tasks/api-job/resume").json()["enabled"] is True
    cw.start()
    queued = client.post("/api/v1/tasks/api-job/run")
    assert queued.status_code == 202
    run_id = queued.json()["run_id"]
    run = wait_until(
        lambda: (r := client.get(f"/api/v1/runs/{run_id}").json())["status"] == "succeeded" and r,
        what="the queued run",
    )
    assert "from the api" in run["output"]
    listed = client.get(
        "/api/v1/runs", params={"task_id": "api-job", "status": RunStatus.SUCCEEDED.value}
    ).json()
    assert [r["id"] for r in listed["items"]] == [run_id]
    stats = client.get("/api/v1/tasks/api-job/stats").json()
    assert stats["succeeded"] == 1
    assert client.get("/api/v1/runs/999999").status_code == 404


def test_create_update_delete_with_versions_and_the_shell_gate(
    cw: Cronwell, client: TestClient
) -> None:
    body = {
        "id": "api-made",
        "schedule": {"kind": "cron", "cron": "0 8 * * 1-5"},
        "action": {"kind": "http", "url": "http://127.0.0.1:9/ping"},
    }
    created = client.post("/api/v1/tasks", json=body)
    assert created.status_code == 201 and created.json()["version"] == 1
    assert client.post("/api/v1/tasks", json=body).status_code == 409
    shell = client.post(
        "/api/v1/tasks", json={**body, "id": "sh", "action": {"kind": "shell", "command": "id"}}
    )
    assert shell.status_code == 403 and "CRONWELL_ALLOW_SHELL=1" in shell.json()["error"]["message"]
    bad = client.post(
        "/api/v1/tasks",
        json={**body, "id": "bad", "schedule": {"kind": "cron", "cron": "0 25 * * *"}},
    )
    assert bad.status_code == 422 and "hour field '25'" in bad.json()["error"]["message"]

    changed = {**body, "schedule": {"kind": "cron", "cron": "0 9 * * 1-5"}, "version": 1}
    updated = client.put("/api/v1/tasks/api-made", json=changed)
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = client.put("/api/v1/tasks/api-made", json=changed)  # still says version 1
    assert stale.status_code == 409 and "version" in stale.json()["error"]["message"]
    assert client.delete("/api/v1/tasks/api-made").status_code == 204
    assert client.get("/api/v1/tasks/api-made").status_code == 404


def test_the_token_guards_the_api_but_not_health(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "correct-horse-battery-staple"
    guarded = Cronwell(database_url, timezone="UTC", instance_id="api-t")
    guarded.settings.api_token = secret
    try:
        with TestClient(create_app(guarded)) as client:
            assert client.get("/healthz").status_code == 200
            assert client.get("/metrics").status_code == 200  # scrapers carry no token
            refused = client.get("/api/v1/tasks", headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401
            assert "CRONWELL_API_TOKEN" in refused.json()["error"]["message"]
            assert client.get("/api/v1/tasks").status_code == 401
            ok = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
    finally:
        guarded.close()
    assert all(
        "wrong" not in r.getMessage() and secret not in r.getMessage() for r in caplog.records
    )
