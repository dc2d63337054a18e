"""Secrets of an HTTP action are masked in every output and kept in the store (defect 5 of
issue 18): sensitive headers, the URL's password and keys, in API answers, ``tasks list``
and ``tasks show`` (text and JSON) and the schedule summary; a definition sent back with the
masks keeps the stored values."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cronwell import Cronwell
from cronwell.api import create_app
from cronwell.domain.action import HttpAction

SECRETS = (
    "Bearer-s3cr3t-value",
    "k-123456789",
    "sid=abcdef",
    "pr0xy-pass",
    "url-pass-99",
    "qs-tok-42",
)
HEADERS = {
    "Authorization": "Bearer-s3cr3t-value",
    "X-Api-Key": "k-123456789",
    "cookie": "sid=abcdef",
    "Proxy-Authorization": "pr0xy-pass",
    "Accept": "application/json",
}
URL = "https://user:url-pass-99@hooks.example.com/ping?access_token=qs-tok-42&region=eu"


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone="UTC", instance_id="secrets-a")
    instance.add_task(
        "probe",
        schedule="*/5 * * * *",
        action=HttpAction(url=URL, method="POST", headers=HEADERS),
    )
    yield instance
    instance.close()


def assert_masked(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert leaked == [], f"secrets shown: {leaked}"


def stored_action(cw: Cronwell) -> HttpAction:
    action = cw.get_task("probe").action
    assert isinstance(action, HttpAction)
    return action


def test_the_api_masks_and_a_round_trip_keeps_the_secrets(cw: Cronwell) -> None:
    with TestClient(create_app(cw)) as client:
        shown = client.get("/api/v1/tasks/probe")
        assert_masked(shown.text)
        assert_masked(client.get("/api/v1/tasks").text)
        action = shown.json()["action"]
        assert action["headers"]["Authorization"] == "***"
        assert action["headers"]["Accept"] == "application/json"
        assert action["url"] == "https://user:***@hooks.example.com/ping?access_token=***&region=eu"

        body = {**shown.json(), "schedule": {"kind": "cron", "cron": "*/10 * * * *"}}
        updated = client.put("/api/v1/tasks/probe", json=body)
        assert updated.status_code == 200, updated.text
        assert_masked(updated.text)
        assert cw.get_task("probe").schedule.expression() == "*/10 * * * *"
        assert stored_action(cw).headers == HEADERS and stored_action(cw).url == URL

        body = updated.json()
        body["action"]["headers"]["Authorization"] = "Bearer-new-one"
        assert client.put("/api/v1/tasks/probe", json=body).status_code == 200
        assert stored_action(cw).headers["Authorization"] == "Bearer-new-one"
        assert stored_action(cw).headers["X-Api-Key"] == "k-123456789"

        fresh = {
            "id": "fresh",
            "schedule": {"kind": "cron", "cron": "0 * * * *"},
            "action": {"kind": "http", "url": "http://x.io", "headers": {"X-Token": "***"}},
        }
        refused = client.post("/api/v1/tasks", json=fresh)
        assert refused.status_code == 422 and "send the real value" in refused.text


def test_the_cli_and_the_summary_mask(cw: Cronwell, database_url: str) -> None:
    env = {**os.environ, "CRONWELL_DATABASE_URL": database_url, "COLUMNS": "300"}
    outputs = []
    for args in (
        ("tasks", "list"),
        ("tasks", "list", "--json"),
        ("tasks", "show", "probe"),
        ("tasks", "show", "probe", "--json"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "cronwell", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
        assert_masked(result.stdout + result.stderr)
    assert "Authorization: ***" in outputs[2] and "Accept: application/json" in outputs[2]
    assert_masked(cw.summary())
