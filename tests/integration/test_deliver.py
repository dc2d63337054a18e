"""Task results delivered to destinations (issue 20, section 4), with a real scheduler, real
Apprise, real HTTP receivers on loopback and real folders: what an action returns or passes
to ``ctx.deliver`` reaches each target once the run succeeded, every delivery is logged,
a flaky target is retried, a lost result alerts and never fails its run; ``cw.notify``
sends application messages through the channels."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apprise
import pytest
from tests.support.receiver import Receiver, closed_port, receiver, receiver_factory
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, PythonAction, RunContext, RunStatus, every
from cronwell.errors import InvalidTaskError
from cronwell.notify.results import file_name
from cronwell.settings import load_settings
from cronwell.store import NotificationRecord

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

SUMMARY = "# Daily summary\n\n- 42 messages\n- **3** action items"
CUSTOM: list[dict[str, Any]] = []
_custom_lock = threading.Lock()


@apprise.decorators.notify(on="cwtest")  # a schema of the application's own, as a bot's
def _custom_schema(body: str, title: str, notify_type: str, *args: Any, **kwargs: Any) -> bool:
    with _custom_lock:
        CUSTOM.append({"body": body, "title": title, "url": kwargs["meta"]["url"]})
    return True


def summarize() -> str:
    return SUMMARY


def two_results(ctx: RunContext) -> str:
    ctx.deliver({"messages": 42, "channels": ["dev", "ops"]}, title="Numbers")
    ctx.deliver("and a second part")
    return "not delivered: ctx.deliver was called"


def delivers_then_fails(ctx: RunContext) -> None:
    ctx.deliver("never sent")
    raise RuntimeError("the summary engine is down")


def in_a_child(ctx: RunContext) -> dict[str, Any]:
    ctx.deliver("from the child", title="Child")
    return {"ignored": True}


@pytest.fixture
def make_cw(database_url: str) -> Iterator[Callable[..., Cronwell]]:
    made: list[Cronwell] = []

    def make(**settings: Any) -> Cronwell:
        cw = Cronwell(
            settings=load_settings(
                database_url=database_url,
                timezone="UTC",
                poll_interval=0.05,
                maintenance_cron="",
                **settings,
            )
        )
        cw.result_delivery.notifier.backoff = 0.01
        made.append(cw)
        return cw

    yield make
    for cw in made:
        cw.close()


def _results(cw: Cronwell, count: int, **filters: Any) -> list[NotificationRecord]:
    def found() -> list[NotificationRecord] | None:
        rows = [n for n in cw.notifications(limit=100) if n.event == "result"]
        rows = [n for n in rows if all(getattr(n, k) == v for k, v in filters.items())]
        return rows if len(rows) >= count else None

    rows = wait_until(found, what=f"{count} result deliveries in the log")
    assert rows is not None
    return rows


def test_a_returned_result_reaches_every_destination(
    make_cw: Callable[..., Cronwell], receiver_factory: Callable[..., Receiver], tmp_path: Path
) -> None:
    with _custom_lock:
        CUSTOM.clear()
    hook, team = receiver_factory(), receiver_factory()
    secret = "hookpassword1234"
    hook_url = f"json://bot:{secret}@127.0.0.1:{hook.port}/hook"
    folder = tmp_path / "summaries"
    cw = make_cw(channels={"team": team.url("json") + "?format=html"})
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "daily-summary",
        schedule=every(hours=1),
        func=summarize,
        deliver=[
            {"to": hook_url, "format": "json"},
            {"to": f"file://{folder}/", "format": "markdown"},
            "cwtest://room",  # a schema of the application's: the default format, markdown
            {"to": "team", "format": "html"},  # a channel name
        ],
    )
    cw.start()
    cw.engine.fire_now("daily-summary")
    run = collected.wait_for(1, "daily-summary")[0]
    assert run.status is RunStatus.SUCCEEDED
    logged = _results(cw, 4)

    (posted,) = hook.wait_for(1)
    message = posted.json()
    assert json.loads(message["message"]) == SUMMARY  # a JSON document: the string
    assert message["title"].startswith("daily-summary — ")
    written = folder / file_name(cw.get_task("daily-summary"), run, "markdown")
    assert written.read_text() == SUMMARY + "\n"
    assert [p.name for p in folder.iterdir()] == [written.name]  # no temporary file left
    with _custom_lock:
        (custom,) = [c for c in CUSTOM if c["title"] == message["title"]]
    assert "Daily summary" in custom["body"] and "42 messages" in custom["body"]
    (to_team,) = team.wait_for(1)
    body = to_team.json()["message"]
    assert "<h1>Daily summary</h1>" in body and "<strong>3</strong>" in body

    assert {n.status for n in logged} == {"sent"}
    assert {n.attempts for n in logged} == {1}
    assert {n.run_id for n in logged} == {run.id}
    targets = {n.target for n in logged}
    assert f"file://{folder}/" in targets
    assert not any(secret in t for t in targets)
    assert any(t.startswith("json://bot:***@127.0.0.1") for t in targets)
    shown = cw.service.get("daily-summary")
    from cronwell.notify.redact import public_task

    assert secret not in json.dumps(public_task(shown))


def test_each_ctx_deliver_is_one_result_and_a_shell_command_delivers_its_output(
    make_cw: Callable[..., Cronwell], receiver: Receiver, tmp_path: Path
) -> None:
    cw = make_cw()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "parts",
        schedule=every(hours=1),
        func=two_results,
        deliver=[receiver.url("json"), {"to": f"file://{tmp_path}/", "format": "json"}],
    )
    cw.add_task(
        "report",
        schedule=every(hours=1),
        shell="echo 'disk 71% full'",
        deliver=[{"to": f"file://{tmp_path}/report.txt", "format": "text"}],
    )
    cw.start()
    cw.engine.fire_now("parts")
    cw.engine.fire_now("report")
    run = collected.wait_for(1, "parts")[0]
    collected.wait_for(1, "report")
    _results(cw, 5)
    posted = receiver.wait_for(2)
    titles = sorted(p.json()["title"] for p in posted)
    assert titles[0] == "Numbers" and titles[1].startswith("parts — ")
    numbers = next(p.json() for p in posted if p.json()["title"] == "Numbers")
    assert "42" in numbers["message"] and "```json" in numbers["message"]
    task = cw.get_task("parts")
    first = tmp_path / file_name(task, run, "json", 1)
    second = tmp_path / file_name(task, run, "json", 2)
    assert json.loads(first.read_text()) == {"messages": 42, "channels": ["dev", "ops"]}
    assert json.loads(second.read_text()) == "and a second part"
    assert (tmp_path / "report.txt").read_text() == "disk 71% full\n"


def test_a_run_that_fails_delivers_nothing(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "broken", schedule=every(hours=1), func=delivers_then_fails, deliver=[receiver.url("json")]
    )
    cw.start()
    cw.engine.fire_now("broken")
    assert collected.wait_for(1, "broken")[0].status is RunStatus.FAILED
    assert cw.result_delivery.flush()
    assert receiver.requests == []
    assert [n for n in cw.notifications() if n.event == "result"] == []


def test_a_flaky_destination_is_retried_and_a_lost_result_alerts_without_failing_the_run(
    make_cw: Callable[..., Cronwell], receiver_factory: Callable[..., Receiver]
) -> None:
    flaky = receiver_factory(statuses=[500, 503, 200])
    ops = receiver_factory()
    lost = f"json://127.0.0.1:{closed_port()}/gone"
    cw = make_cw(channels={"ops": ops.url("json")}, alert_channels=["ops"])
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "flaky-target", schedule=every(hours=1), func=summarize, deliver=[flaky.url("json")]
    )
    cw.add_task("lost-target", schedule=every(hours=1), func=summarize, deliver=[lost])
    cw.start()
    cw.engine.fire_now("flaky-target")
    cw.engine.fire_now("lost-target")
    (sent,) = _results(cw, 1, task_id="flaky-target", status="sent")
    assert sent.attempts == 3
    assert len(flaky.wait_for(3)) == 3
    (failed,) = _results(cw, 1, task_id="lost-target", status="failed")
    assert failed.attempts == cw.result_delivery.notifier.max_attempts
    assert failed.error
    (alert,) = ops.wait_for(1)
    assert "lost-target: result not delivered to json://127.0.0.1" in alert.json()["title"]
    runs = {r.task_id: r for r in cw.runs(limit=10)}
    assert runs["flaky-target"].status is RunStatus.SUCCEEDED
    assert runs["lost-target"].status is RunStatus.SUCCEEDED
    assert cw.task_stats("lost-target").consecutive_failures == 0
    alerts = [n for n in cw.notifications(limit=20) if n.event == "delivery_failed"]
    assert [(n.task_id, n.status) for n in alerts] == [("lost-target", "sent")]


def test_a_function_in_a_child_process_delivers_what_it_passed(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "child",
        schedule=every(hours=1),
        action=PythonAction(func=f"{__name__}:in_a_child", isolation="process"),
        deliver=[receiver.url("json")],
    )
    cw.start()
    cw.engine.fire_now("child")
    assert collected.wait_for(1, "child")[0].status is RunStatus.SUCCEEDED
    (posted,) = receiver.wait_for(1)
    assert posted.json()["title"] == "Child" and posted.json()["message"] == "from the child"


def test_run_now_delivers_and_notify_sends_application_messages(
    make_cw: Callable[..., Cronwell], receiver_factory: Callable[..., Receiver]
) -> None:
    dev, alerts = receiver_factory(), receiver_factory()
    cw = make_cw(channels={"dev": dev.url("json"), "alerts": alerts.url("json")})
    cw.add_task("on-demand", schedule=every(hours=1), func=summarize, deliver=["dev"])
    run = cw.run_now("on-demand")  # cronwell tasks run: no scheduler running
    assert run.status is RunStatus.SUCCEEDED
    cw.notify("alerts", "Market data update", "EUR/USD 1.09", level="success")
    cw.notify([alerts.url("json"), "dev"], "Scheduler note")
    assert cw.result_delivery.flush()
    titles = {r.json()["title"] for r in dev.requests}
    assert "Scheduler note" in titles and any(t.startswith("on-demand — ") for t in titles)
    got = {r.json()["title"]: r.json() for r in alerts.requests}
    assert got["Market data update"]["message"] == "EUR/USD 1.09"
    assert got["Market data update"]["type"] == "success"
    assert "Scheduler note" in got
    messages = wait_until(
        lambda: [n for n in cw.notifications() if n.event == "message"] or None,
        what="the messages in the log",
    )
    assert messages is not None and {n.status for n in messages} == {"sent"}


def test_bad_targets_are_refused_when_the_task_is_declared(
    make_cw: Callable[..., Cronwell],
) -> None:
    cw = make_cw()
    with pytest.raises(InvalidTaskError, match="absolute file URL"):
        cw.add_task("f", schedule=every(hours=1), shell="true", deliver=["file://summaries/"])
    with pytest.raises(InvalidTaskError, match="deliver"):
        cw.add_task(
            "g", schedule=every(hours=1), shell="true", deliver=[{"to": "dev", "format": "pdf"}]
        )


def test_delivery_targets_round_trip_through_the_api_with_secrets_masked(
    make_cw: Callable[..., Cronwell], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from cronwell.api import create_app

    cw = make_cw(allow_shell=True)
    token = "aVeryLongWebhookTokenValue_0123456789"
    body = {
        "id": "via-api",
        "schedule": {"kind": "cron", "cron": "0 9 * * *"},
        "action": {"kind": "shell", "command": "echo hi"},
        "deliver": [f"discord://1234/{token}", {"to": f"file://{tmp_path}/", "format": "text"}],
    }
    with TestClient(create_app(cw)) as client:
        created = client.post("/api/v1/tasks", json=body)
        assert created.status_code == 201, created.text
        shown = client.get("/api/v1/tasks/via-api").json()
    assert token not in json.dumps(shown)
    assert shown["deliver"][1] == {"to": f"file://{tmp_path}/", "format": "text"}
    stored = cw.get_task("via-api")
    assert [(t.to, t.format) for t in stored.deliver] == [
        (f"discord://1234/{token}", "markdown"),
        (f"file://{tmp_path}/", "text"),
    ]
