"""Alerts end to end: a real scheduler, real Apprise, a real HTTP receiver on loopback.
State, not noise: one alert when a task starts failing, one when it recovers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.metrics import samples
from tests.support.receiver import Receiver, closed_port, receiver, receiver_factory
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, RunContext, RunStatus, every
from cronwell.settings import load_settings
from cronwell.store import NewRun

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

FLIPS: dict[str, int] = {}


def fails_three_times(ctx: RunContext) -> str:
    """Fails on its first three occurrences, then succeeds."""
    FLIPS[ctx.task_id] = FLIPS.get(ctx.task_id, 0) + 1
    if FLIPS[ctx.task_id] <= 3:
        raise RuntimeError(f"upstream down (call {FLIPS[ctx.task_id]})")
    return "ok"


def posted(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.requests if r.method == "POST"]


@pytest.fixture
def make_cw(database_url: str) -> Iterator[Callable[..., Cronwell]]:
    made: list[Cronwell] = []

    def make(**settings: Any) -> Cronwell:
        cw = Cronwell(
            settings=load_settings(
                database_url=database_url, timezone="UTC", poll_interval=0.05, **settings
            )
        )
        made.append(cw)
        return cw

    yield make
    for cw in made:
        cw.close()


def test_a_failing_task_alerts_once_and_once_more_when_it_recovers(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw(channels={"dev": receiver.url("json")}, alert_channels=["dev"])
    collected = RunCollector()
    cw.on_run(collected)
    FLIPS.pop("flappy", None)
    cw.add_task("flappy", schedule=every(seconds=0.2), func=fails_three_times)
    cw.start()
    collected.wait_for(1, "flappy", predicate=lambda r: r.status is RunStatus.SUCCEEDED)
    receiver.wait_for(2)
    bodies = posted(receiver)
    titles = [b["title"] for b in bodies]
    assert len(titles) == 2, titles
    assert "flappy failed" in titles[0]
    assert "flappy recovered" in titles[1]
    assert "3" in bodies[1]["message"]  # the failures in between are counted
    assert "RuntimeError: upstream down (call 1)" in bodies[0]["message"]
    log = wait_until(lambda: len(cw.notifications()) >= 2 and cw.notifications())
    assert {n.status for n in log} == {"sent"}
    assert {n.event for n in log} == {"failed", "recovered"}


def test_opt_in_events_and_per_task_targets(
    make_cw: Callable[..., Cronwell], receiver_factory: Callable[..., Receiver]
) -> None:
    team, ops = receiver_factory(), receiver_factory()
    cw = make_cw(channels={"team": team.url("json")})
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "reporter",
        schedule=every(hours=1),
        shell="echo report sent",
        alerts=[{"to": "team", "events": ["succeeded"]}, ops.url("json")],
    )
    cw.start()
    cw.engine.fire_now("reporter")
    collected.wait_for(1, "reporter")
    team.wait_for(1)
    (message,) = posted(team)
    assert "reporter succeeded" in message["title"]
    assert "report sent" in message["message"]
    cw.close()
    assert posted(ops) == []  # the default events do not include a success


def test_a_failed_delivery_is_logged_and_never_fails_the_run(
    make_cw: Callable[..., Cronwell],
) -> None:
    secret = "hunter2secretvalue"
    url = f"json://alerts:{secret}@127.0.0.1:{closed_port()}/hook"
    cw = make_cw(channels={"dev": url}, alert_channels=["dev"])
    cw.alerting.notifier.backoff = 0.01
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("breaks", schedule=every(hours=1), shell="exit 1")
    cw.start()
    cw.engine.fire_now("breaks")
    run = collected.wait_for(1, "breaks")[0]
    assert run.status is RunStatus.FAILED
    failed = wait_until(lambda: cw.notifications(status="failed"), what="the failed delivery")
    assert failed[0].attempts == cw.alerting.notifier.max_attempts
    assert secret not in failed[0].target and secret not in (failed[0].error or "")
    assert cw.alerting.notifier.failed >= 1


def test_scheduler_events_summary_and_heartbeat(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw(
        channels={"dev": receiver.url("json")},
        scheduler_channels=["dev"],
        summary_channel="dev",
        heartbeat_url=f"http://127.0.0.1:{receiver.port}/ping",
        heartbeat_interval=0.2,
    )
    cw.add_task("daily", schedule="0 8 * * 1-5", shell="true")
    cw.start()
    wait_until(
        lambda: len([r for r in receiver.requests if r.method == "GET"]) >= 2,
        what="two heartbeat pings",
    )
    cw.shutdown()
    wait_until(lambda: len(posted(receiver)) >= 3, what="three messages")
    titles = [b["title"] for b in posted(receiver)]
    assert any("cronwell started" in t for t in titles)
    assert any("Scheduled tasks" in t for t in titles)
    assert any("cronwell stopped" in t for t in titles)
    summary = next(b for b in posted(receiver) if "Scheduled tasks" in b["title"])
    assert "08:00" in summary["message"] and "daily" in summary["message"]


def test_long_running_runs_alert_while_they_run(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    release = threading.Event()
    cw = make_cw(channels={"ops": receiver.url("json")})
    cw.add_task(
        "slowpoke",
        schedule=every(hours=1),
        func=lambda: release.wait(10),
        long_running="200ms",
        alerts=[{"to": "ops", "events": ["long_running"]}],
    )
    cw.start()
    cw.engine.fire_now("slowpoke")
    (request,) = receiver.wait_for(1)
    release.set()
    assert "slowpoke is still running after" in request.json()["title"]


def test_a_task_still_failing_is_reminded(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw(channels={"dev": receiver.url("json")}, alert_channels=["dev"], alert_reminder=0.3)
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("stubborn-failure", schedule=every(seconds=0.1), shell="exit 3")
    cw.start()
    wait_until(lambda: len(posted(receiver)) >= 2, what="a reminder")
    cw.shutdown()
    failures = len(collected.runs)
    titles = [b["title"] for b in posted(receiver)]
    assert all("stubborn-failure failed" in t for t in titles)
    assert len(titles) < failures  # not one alert per failure


def test_recovery_is_announced_once_even_across_a_restart(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    first = make_cw(channels={"dev": receiver.url("json")}, alert_channels=["dev"])
    first.add_task("comeback", schedule=every(hours=1), shell="exit 1")
    for _ in range(2):
        first.run_now("comeback")  # alerts from run_now are delivered too
    first.close()
    second = make_cw(channels={"dev": receiver.url("json")}, alert_channels=["dev"])
    second.add_task("comeback", schedule=every(hours=1), shell="true", replace_existing=True)
    for _ in range(3):
        second.run_now("comeback")
    second.close()
    titles = [b["title"] for b in posted(receiver)]
    assert sum("failed" in t for t in titles) == 1
    recovered = [t for t in titles if "recovered" in t]
    assert len(recovered) == 1 and "2" in recovered[0]


def test_reminders_do_not_pile_up_while_delivery_struggles(
    make_cw: Callable[..., Cronwell],
) -> None:
    cw = make_cw(
        channels={"dev": f"json://127.0.0.1:{closed_port()}/x"},
        alert_channels=["dev"],
        alert_reminder=3600,
    )
    collected = RunCollector()
    cw.on_run(collected)
    # starting later than the engine: on a slow machine a start more than one period
    # after the task's creation would find a missed occurrence, and alert for it too
    soon = datetime.now(UTC) + timedelta(seconds=1)
    cw.add_task("noisy", schedule=every(seconds=0.05), shell="exit 1", start_date=soon)
    cw.start()
    collected.wait_for(10, "noisy")
    cw.close()
    assert len(cw.notifications(status="failed")) == 1


def test_the_heartbeat_stops_with_the_scheduler(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    cw = make_cw(heartbeat_url=f"http://127.0.0.1:{receiver.port}/ping", heartbeat_interval=0.1)
    with cw:
        receiver.wait_for(1)
    pings = len(receiver.requests)
    assert not any(t.name == "cronwell-heartbeat-ping" for t in threading.enumerate())
    assert len(receiver.requests) == pings


def test_a_takeover_is_announced_as_leader_changed(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    leader = make_cw(instance_id="leader")
    standby = make_cw(
        instance_id="standby",
        channels={"dev": receiver.url("json")},
        scheduler_channels=["dev"],
    )
    leader.start()
    standby.start()
    assert not standby.engine.is_leader
    leader.shutdown()
    wait_until(lambda: standby.engine.is_leader, what="the takeover")
    wait_until(
        lambda: any("standby now schedules" in b["title"] for b in posted(receiver)),
        what="the leader_changed alert",
    )


def test_a_fleet_that_missed_occurrences_alerts_once_a_task_and_counts_every_row(
    make_cw: Callable[..., Cronwell], receiver: Receiver
) -> None:
    """A fleet's missed rows are stored and told as one grid: each task still alerts for
    its first missed occurrence only, and the metrics count every row of every task."""
    cw = make_cw(channels={"dev": receiver.url("json")}, alert_channels=["dev"])
    anchor = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    fleet = ["fleet-a", "fleet-b", "fleet-c"]
    for task_id in fleet:
        cw.add_task(task_id, schedule=every(minutes=1, anchor=anchor), shell="true", catchup="none")
        cw.store.insert_runs(
            [NewRun(task_id, anchor, status=RunStatus.SUCCEEDED, finished_at=anchor)]
        )
        cw.store.update_task(cw.get_task(task_id), anchor)  # as if unchanged since then
    cw.start()
    receiver.wait_for(len(fleet))
    figures = samples(cw.metrics.exposition().decode())
    cw.close()  # delivers whatever else was queued
    missed = {t: cw.store.count_runs(task_id=t, status=RunStatus.MISSED) for t in fleet}
    assert set(missed.values()) in ({4}, {5})  # 4 or 5 minutes since the anchor
    titles = sorted(b["title"] for b in posted(receiver))
    assert len(titles) == len(fleet), titles
    for task_id, title in zip(fleet, titles, strict=True):
        assert task_id in title and "missed" in title
    assert {n.event for n in cw.notifications()} == {"missed"}
    for task_id in fleet:
        labels = (("status", "missed"), ("task_id", task_id))
        assert figures[("cronwell_runs_total", labels)] == missed[task_id]
