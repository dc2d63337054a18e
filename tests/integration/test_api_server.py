"""The API served by uvicorn on a loopback port, spoken to over real HTTP, on SQLite and
PostgreSQL: bulk creation, runs, Prometheus metrics, and ``cronwell status`` asking the
service (``--url``) and the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from tests.support.metrics import samples
from tests.support.waiting import wait_until

from cronwell import Cronwell
from cronwell.api.server import ApiServer
from cronwell.settings import load_settings


@pytest.fixture
def served(database_url: str) -> Iterator[tuple[Cronwell, str]]:
    cw = Cronwell(
        settings=load_settings(
            database_url=database_url,
            timezone="UTC",
            poll_interval=0.05,
            instance_id="http-a",
            api_functions=["os:getcwd", "os:getpid", "json:loads"],
        )
    )
    server = ApiServer(cw, "127.0.0.1", 0)
    base = server.start()
    cw.start()
    yield cw, base
    server.stop()
    cw.close()


def status_command(
    *args: str, database_url: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``cronwell status`` in a subprocess, with the token given or none."""
    env = {**os.environ, "CRONWELL_DATABASE_URL": database_url}
    env.pop("CRONWELL_API_TOKEN", None)
    if token:
        env["CRONWELL_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "cronwell", "status", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def status_json(*args: str, database_url: str) -> dict[str, object]:
    result = status_command("--json", *args, database_url=database_url)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_tasks_runs_metrics_and_status_over_http(
    served: tuple[Cronwell, str], database_url: str
) -> None:
    cw, base = served
    hourly = {"kind": "interval", "hours": 1}
    with httpx.Client(base_url=base, timeout=10) as client:
        created = client.post(
            "/api/v1/tasks/bulk",
            json=[
                {"id": "ok", "schedule": hourly, "action": {"kind": "python", "func": "os:getcwd"}},
                {
                    "id": "broken",
                    "schedule": hourly,
                    "action": {"kind": "python", "func": "json:loads", "args": ["{"]},
                },
            ],
        )
        assert created.status_code == 201 and created.json() == {"created": 2}
        again = client.post(
            "/api/v1/tasks/bulk",
            json=[
                {
                    "id": "new",
                    "schedule": hourly,
                    "action": {"kind": "python", "func": "os:getpid"},
                },
                {"id": "ok", "schedule": hourly, "action": {"kind": "python", "func": "os:getcwd"}},
            ],
        )
        assert again.status_code == 409 and "'ok'" in again.json()["error"]["message"]
        assert client.get("/api/v1/tasks/new").status_code == 404  # all or none

        run_ids = [client.post(f"/api/v1/tasks/{t}/run").json()["run_id"] for t in ("ok", "broken")]
        finals = [
            wait_until(
                lambda rid=rid: (
                    (r := client.get(f"/api/v1/runs/{rid}").json())["status"]
                    in ("succeeded", "failed")
                    and r
                ),
                what=f"run {rid}",
            )
            for rid in run_ids
        ]
        assert [r["status"] for r in finals] == ["succeeded", "failed"]
        assert "JSONDecodeError" in finals[1]["error"]

        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        figures = samples(metrics.text)
    assert figures[("cronwell_runs_total", (("status", "succeeded"), ("task_id", "ok")))] == 1
    assert figures[("cronwell_runs_total", (("status", "failed"), ("task_id", "broken")))] == 1
    assert figures[("cronwell_run_lateness_seconds_count", ())] == 2
    assert figures[("cronwell_run_duration_seconds_count", ())] == 2
    assert figures[("cronwell_leader", (("instance_id", "http-a"),))] == 1
    assert figures[("cronwell_tasks", (("state", "enabled"),))] == cw.store.count_tasks()
    assert figures[("cronwell_database_up", ())] == 1

    remote = status_json("--url", base, database_url=database_url)
    assert remote["source"] == "service" and remote["role"] == "leader"
    assert remote["instance_id"] == "http-a" and remote["tasks"] == cw.store.count_tasks()
    assert {f["task_id"] for f in remote["next_fires"]} >= {"ok", "broken"}  # type: ignore[attr-defined]
    local = status_json(database_url=database_url)
    assert local["source"] == "database" and local["leader"] == "http-a"
    assert [i["instance_id"] for i in local["instances"]] == ["http-a"]  # type: ignore[attr-defined]


def test_status_says_when_the_service_cannot_be_reached(database_url: str) -> None:
    result = status_command("--url", "http://127.0.0.1:9", database_url=database_url)
    assert result.returncode == 5
    assert "Cannot reach the cronwell service at http://127.0.0.1:9" in result.stderr


def test_status_asks_for_the_token_a_service_wants(database_url: str) -> None:
    token = "status-token-0123456789"
    guarded = Cronwell(database_url, timezone="UTC", instance_id="http-t")
    guarded.settings.api_token = token
    server = ApiServer(guarded, "127.0.0.1", 0)
    base = server.start()
    try:
        refused = status_command("--url", base, database_url=database_url)
        assert refused.returncode == 8 and "CRONWELL_API_TOKEN" in refused.stderr
        allowed = status_command("--url", base, "--json", database_url=database_url, token=token)
        assert allowed.returncode == 0, allowed.stderr
        assert json.loads(allowed.stdout)["role"] == "stopped"
    finally:
        server.stop()
        guarded.close()
