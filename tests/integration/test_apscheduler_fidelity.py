"""Scheduler-wide defaults and APScheduler fidelity (issue 20, section 5): ``task_defaults``
and APScheduler's ``job_defaults``, ``max_instances``, the zone of a CronTrigger given none,
``CronTrigger.from_crontab``, the maintenance task kept out of the job calls, and the
"scheduler stopped" notice sent once by every way of stopping."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tzlocal
from tests.support.receiver import Receiver, receiver, receiver_factory
from tests.support.waiting import RunCollector

from cronwell import Cronwell, RunStatus, Task, every
from cronwell.errors import ConfigError

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

RELEASE = threading.Event()


def blocks_until_released() -> None:
    RELEASE.wait(10)


def report() -> str:
    return "done"


def _other_zone() -> str:
    """A zone that is not this machine's, so that "the scheduler's zone" and "the
    machine's zone" differ."""
    local = str(tzlocal.get_localzone())
    return "Pacific/Auckland" if local != "Pacific/Auckland" else "America/Lima"


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone=_other_zone(), poll_interval=0.05)
    instance.settings.shutdown_grace = 2.0
    yield instance
    instance.close()


# -- max_instances ------------------------------------------------------------------------


def test_add_job_max_instances_runs_that_many_at_once_and_skips_the_rest(cw: Cronwell) -> None:
    """APScheduler's ``max_instances=3`` lets three runs of a job go at once; the fourth
    occurrence is skipped, and recorded so with its reason."""
    RELEASE.clear()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_job(blocks_until_released, "interval", seconds=0.1, id="wide", max_instances=3)
    assert cw.get_task("wide").max_instances == 3
    cw.start()
    try:
        skipped = collected.wait_for(
            1, "wide", predicate=lambda r: r.status is RunStatus.SKIPPED, timeout=15
        )
        assert skipped[0].reason == "max_instances"
        assert cw.dispatcher.running_count("wide") == 3
        running = cw.runs("wide", status=RunStatus.RUNNING, limit=10)
        assert len(running) == 3
    finally:
        RELEASE.set()


def test_queue_one_waits_for_a_free_slot_of_max_instances(cw: Cronwell) -> None:
    """With ``max_instances=2`` and ``overlap='queue_one'``, two runs go at once and one
    more waits for a slot."""
    RELEASE.clear()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "queued",
        schedule=every(seconds=0.1),
        func=blocks_until_released,
        max_instances=2,
        overlap="queue_one",
    )
    cw.start()
    try:
        collected.wait_for(1, "queued", predicate=lambda r: r.status is RunStatus.SKIPPED)
        assert cw.dispatcher.running_count("queued") == 2
        (pending,) = cw.runs("queued", status=RunStatus.PENDING, limit=10)
        assert pending.reason == "queued"
    finally:
        RELEASE.set()
    started = collected.wait_for(
        1, "queued", predicate=lambda r: r.reason == "queued" and r.status.is_terminal
    )
    assert started[0].status is RunStatus.SUCCEEDED


def test_replace_stops_the_runs_going_once_max_instances_run(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "newest", schedule=every(seconds=0.3), shell="sleep 30", overlap="replace", max_instances=2
    )
    cw.start()
    replaced = collected.wait_for(
        2, "newest", predicate=lambda r: r.reason == "replaced", timeout=15
    )
    assert {r.status for r in replaced} == {RunStatus.INTERRUPTED}
    assert not any(r.status is RunStatus.SKIPPED for r in cw.runs("newest", limit=50))


# -- defaults -----------------------------------------------------------------------------


def test_task_defaults_fill_what_a_declaration_leaves_out(database_url: str) -> None:
    cw = Cronwell(
        database_url,
        timezone="UTC",
        task_defaults={"retries": 2, "timeout": "5m", "overlap": "queue_one", "misfire_grace": 120},
    )
    try:
        cw.task(every="1h", id="hourly")(report)

        cw.add_task("explicit", schedule=every(hours=1), shell="true", retries=0, timeout=None)
        cw.add_job(report, "interval", hours=1, id="job")
        shell = {"kind": "shell", "command": "true"}
        cw.add_tasks([{"id": "bulk", "schedule": every(hours=1), "action": shell}])
        cw.sync([{"id": "synced", "every": "1h", "shell": "true"}], source="feeds")
        whole = Task.parse(
            {
                "id": "whole",
                "schedule": {"kind": "interval", "seconds": 3600},
                "action": {"kind": "shell", "command": "true"},
            }
        )
        cw.add_task(whole)
        for task_id in ("hourly", "job", "bulk", "synced"):
            task = cw.get_task(task_id)
            assert (task.retries, task.timeout, task.overlap, task.misfire_grace) == (
                2,
                300.0,
                "queue_one",
                120.0,
            ), task_id
        explicit = cw.get_task("explicit")
        assert (explicit.retries, explicit.timeout, explicit.overlap) == (0, None, "queue_one")
        assert cw.get_task("whole").retries == 0  # a whole Task is taken as it is
    finally:
        cw.close()


def test_job_defaults_take_apschedulers_meaning(database_url: str) -> None:
    """``coalesce=False`` runs every missed occurrence within ``misfire_grace_time`` (a
    catch-up of all within that window); ``True`` runs the latest once; ``None`` as the
    grace time means no limit. A call's own arguments win over the defaults."""
    cw = Cronwell(
        database_url,
        timezone="UTC",
        job_defaults={"coalesce": False, "max_instances": 3, "misfire_grace_time": 15},
    )
    try:
        cw.add_job(report, "interval", minutes=5, id="defaults")
        cw.add_job(report, "interval", minutes=5, id="own", coalesce=True, max_instances=1)
        cw.add_job(report, "interval", minutes=5, id="wider", misfire_grace_time=600)
        cw.add_job(report, "interval", minutes=5, id="always", misfire_grace_time=None)
        defaults = cw.get_task("defaults")
        assert (defaults.max_instances, defaults.misfire_grace) == (3, 15.0)
        assert (defaults.catchup, defaults.catchup_window) == ("all", 15.0)
        own = cw.get_task("own")
        assert (own.max_instances, own.catchup, own.catchup_window) == (1, "latest", None)
        wider = cw.get_task("wider")
        assert (wider.misfire_grace, wider.catchup, wider.catchup_window) == (600.0, "all", 600.0)
        assert cw.get_task("always").misfire_grace > 365 * 86400
    finally:
        cw.close()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"task_defaults": {"retires": 2}}, ["task_defaults", "retires", "retries"]),
        ({"task_defaults": {"schedule": "* * * * *"}}, ["task_defaults", "schedule"]),
        ({"task_defaults": {"overlap": "sometimes"}}, ["task_defaults", "overlap"]),
        ({"task_defaults": {"timeout": "soon"}}, ["task_defaults", "timeout"]),
        ({"job_defaults": {"max_instance": 2}}, ["job_defaults", "max_instance", "coalesce"]),
        (
            {"job_defaults": {"max_instances": 2}, "task_defaults": {"max_instances": 3}},
            ["max_instances", "both"],
        ),
    ],
)
def test_bad_defaults_are_refused_with_a_sentence(
    options: dict[str, Any], words: list[str], tmp_path: Any
) -> None:
    with pytest.raises(ConfigError) as caught:
        Cronwell(f"sqlite:///{tmp_path / 'never.db'}", timezone="UTC", **options)
    for word in words:
        assert word in str(caught.value)
    assert not (tmp_path / "never.db").exists()


# -- triggers -------------------------------------------------------------------------------


def test_a_cron_trigger_without_a_zone_takes_the_schedulers_zone(cw: Cronwell) -> None:
    from apscheduler.triggers.cron import CronTrigger

    cw.add_job(report, CronTrigger(hour=5), id="no-zone")
    cw.add_job(report, CronTrigger(hour=5, timezone="Europe/Paris"), id="paris")
    task = cw.get_task("no-zone")
    assert task.timezone == cw.timezone != str(tzlocal.get_localzone())
    job = cw.get_job("no-zone")
    assert job is not None and job.next_run_time is not None
    assert job.next_run_time.strftime("%H:%M") == "05:00"
    assert str(job.next_run_time.tzinfo) == cw.timezone
    assert cw.get_task("paris").timezone == "Europe/Paris"


def test_from_crontab_keeps_apschedulers_weekdays_and_warns_once_per_task(
    cw: Cronwell, caplog: pytest.LogCaptureFixture
) -> None:
    from apscheduler.triggers.cron import CronTrigger

    caplog.set_level(logging.WARNING, logger="cronwell")

    def warnings() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records if getattr(r, "action", None) == "apscheduler_day_of_week"
        ]

    for _ in range(2):  # declared again at the next start: still one warning
        cw.add_job(
            report, CronTrigger.from_crontab("0 8 * * 1-5"), id="weekdays", replace_existing=True
        )
    task = cw.get_task("weekdays")
    assert task.schedule.expression() == "0 8 * * 2-6"  # Tuesday to Saturday, as APScheduler
    (record,) = warnings()
    assert record.task_id == "weekdays"  # type: ignore[attr-defined]
    message = record.getMessage()
    assert "0 8 * * 1-5" in message and "0 8 * * 2-6" in message
    assert "Tuesday through Saturday" in message
    cw.add_job(report, CronTrigger.from_crontab("30 9 * * 0"), id="other")
    assert len(warnings()) == 2
    cw.add_job(report, CronTrigger.from_crontab("0 8 * * mon-fri"), id="named")
    assert cw.get_task("named").schedule.expression() == "0 8 * * mon-fri"
    assert len(warnings()) == 2  # weekday names mean the same to both


def test_job_calls_leave_the_maintenance_task_alone(cw: Cronwell) -> None:
    cw.add_job(report, "interval", hours=1, id="mine")
    cw.start()
    assert "cronwell-maintenance" in {t.id for t in cw.list_tasks()}
    assert [job.id for job in cw.get_jobs()] == ["mine"]
    cw.remove_all_jobs()
    assert cw.get_jobs() == []
    assert [t.id for t in cw.list_tasks()] == ["cronwell-maintenance"]


# -- the "scheduler stopped" notice -----------------------------------------------------------

_STOPPING = {
    "shutdown": "cw.start(); cw.shutdown()",
    "close": "cw.start(); cw.close()",
    "shutdown then close": "cw.start(); cw.shutdown(); cw.close()",
    "with": "with cw:\n    pass",
    "async with": textwrap.dedent(
        """\
        import asyncio

        async def main():
            async with cw:
                await asyncio.sleep(0)

        asyncio.run(main())
        """
    ),
}


@pytest.mark.parametrize("how", list(_STOPPING))
def test_every_way_of_stopping_sends_the_stopped_notice_once(
    how: str, receiver: Receiver, tmp_path: Any
) -> None:
    """A process that stops its scheduler and exits right away (as a script or a web app
    does) still delivers the notice, and only once."""
    script = "from cronwell import Cronwell\ncw = Cronwell()\n" + _STOPPING[how] + "\n"
    env = {
        **os.environ,
        "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'stop.db'}",
        "CRONWELL_TIMEZONE": "UTC",
        "CRONWELL_MAINTENANCE_CRON": "",
        "CRONWELL_CHANNELS": json.dumps({"dev": receiver.url("json")}),
        "CRONWELL_SCHEDULER_CHANNELS": '["dev"]',
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    titles = [r.json()["title"] for r in receiver.requests if r.method == "POST"]
    assert sum("cronwell started" in t for t in titles) == 1, titles
    assert sum("cronwell stopped" in t for t in titles) == 1, titles


def test_stopping_twice_in_one_process_sends_one_notice(
    database_url: str, receiver: Receiver
) -> None:
    from cronwell.settings import load_settings

    cw = Cronwell(
        settings=load_settings(
            database_url=database_url,
            timezone="UTC",
            channels={"dev": receiver.url("json")},
            scheduler_channels=["dev"],
            maintenance_cron="",
        )
    )
    cw.start()
    cw.shutdown()
    stopped = [r for r in receiver.requests if "cronwell stopped" in r.json()["title"]]
    assert len(stopped) == 1  # delivered by the time shutdown() returns
    cw.shutdown()
    cw.close()
    stopped = [r for r in receiver.requests if "cronwell stopped" in r.json()["title"]]
    assert len(stopped) == 1
