"""The seeds' call shapes work unchanged: APScheduler 3's add_job family and the Discord
bot's add_cron_job / add_date_job / add_interval_job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tests.support.waiting import RunCollector

from cronwell import Cronwell, RunStatus
from cronwell.errors import TaskNotFoundError


def generate_upcoming_game_sessions() -> str:
    return "generated"


def notify_economic_event(event_name: str) -> str:
    return f"notified {event_name}"


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone="Asia/Jerusalem", poll_interval=0.1)
    yield instance
    instance.close()


def test_audiobook_seed_add_job_calls(cw: Cronwell) -> None:
    cw.add_job(
        generate_upcoming_game_sessions,
        trigger="cron",
        hour=2,
        minute=0,
        id="mam_scraping",
        name="Daily MAM Scraping",
        replace_existing=True,
    )
    cw.add_job(
        generate_upcoming_game_sessions,
        trigger="cron",
        day_of_week="sun",
        hour=3,
        minute=0,
        id="top10_discovery",
        replace_existing=True,
    )
    cw.add_job(
        generate_upcoming_game_sessions,
        trigger="cron",
        day=1,
        hour=4,
        minute=0,
        id="metadata_full",
        replace_existing=True,
    )
    jobs = {job.id: job for job in cw.get_jobs()}
    assert set(jobs) == {"mam_scraping", "top10_discovery", "metadata_full"}
    assert jobs["mam_scraping"].name == "Daily MAM Scraping"
    assert jobs["mam_scraping"].trigger == "0 2 * * *"
    assert jobs["top10_discovery"].trigger == "0 3 * * sun"
    top10 = jobs["top10_discovery"].next_run_time
    assert top10 is not None and top10.strftime("%a %H:%M") == "Sun 03:00"
    assert jobs["metadata_full"].next_run_time.day == 1  # type: ignore[union-attr]
    assert jobs["mam_scraping"].func_ref == f"{__name__}:generate_upcoming_game_sessions"


def test_django_seed_trigger_object_and_lifecycle(cw: Cronwell) -> None:
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    cw.add_job(
        generate_upcoming_game_sessions,
        trigger=CronTrigger(hour=5),
        id="generate_upcoming_game_sessions",
        max_instances=1,
        replace_existing=True,
    )
    cw.add_job(generate_upcoming_game_sessions, trigger=IntervalTrigger(minutes=10), id="poll")
    job = cw.get_job("generate_upcoming_game_sessions")
    assert job is not None and job.trigger == "0 5 * * *"
    assert cw.get_task("poll").schedule.expression() == "every 10m"
    cw.pause_job("poll")
    paused = cw.get_job("poll")
    assert paused is not None and paused.next_run_time is None
    cw.resume_job("poll")
    resumed = cw.get_job("poll")
    assert resumed is not None and resumed.next_run_time is not None
    cw.remove_job("poll")
    assert cw.get_job("poll") is None
    with pytest.raises(KeyError):  # APScheduler's JobLookupError is a KeyError too
        cw.remove_job("poll")
    with pytest.raises(TaskNotFoundError):
        cw.pause_job("poll")


def test_discord_seed_wrappers_fire(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    job = cw.add_cron_job(
        func=generate_upcoming_game_sessions,
        cron_expression="0 8 * * 1-5",
        job_id="daily_morning_task",
        args=(),
        kwargs={},
        send_alert=True,
    )
    assert job.next_run_time is not None
    assert job.next_run_time.strftime("%a") in {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert job.next_run_time.hour == 8
    assert job.next_run_time.tzinfo == ZoneInfo("Asia/Jerusalem")
    (target,) = cw.get_task("daily_morning_task").alerts
    assert target.to == "dev" and "succeeded" in target.events
    # naive datetimes mean the scheduler's zone, as in APScheduler
    run_date = datetime.now(ZoneInfo("Asia/Jerusalem")).replace(tzinfo=None) + timedelta(
        seconds=0.3
    )
    cw.add_date_job(
        func=notify_economic_event,
        run_date=run_date,
        job_id="economic_cpi",
        args=("cpi",),
        send_alert=True,
    )
    cw.add_interval_job(func=generate_upcoming_game_sessions, job_id="health_check", seconds=0.25)
    cw.start()
    once = collected.wait_for(1, "economic_cpi")[0]
    assert once.status is RunStatus.SUCCEEDED
    assert once.return_value == "'notified cpi'"
    assert once.scheduled_for == run_date.replace(tzinfo=ZoneInfo("Asia/Jerusalem"))
    collected.wait_for(2, "health_check")


def test_add_job_without_trigger_runs_now_and_ids_are_distinct(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.start()
    cw.add_job(notify_economic_event, args=["gdp"])
    run = collected.wait_for(1)[0]
    assert run.return_value == "'notified gdp'"
    first = cw.add_job(notify_economic_event, "interval", minutes=5, args=["a"])
    second = cw.add_job(notify_economic_event, "interval", minutes=5, args=["b"])
    again = cw.add_job(notify_economic_event, "interval", minutes=5, args=["a"])
    assert first.id != second.id
    assert again.id == first.id
    assert first.id.startswith("notify_economic_event-")


def test_next_run_time_starts_an_interval(cw: Cronwell) -> None:
    start = datetime.now(ZoneInfo("UTC")) + timedelta(hours=1)
    job = cw.add_job(
        generate_upcoming_game_sessions, "interval", hours=6, id="six", next_run_time=start
    )
    assert job.next_run_time == start
