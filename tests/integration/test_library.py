"""The library end to end on real SQLite and PostgreSQL with real APScheduler: tasks fire,
every run is recorded, changes reach a running engine, the fence holds."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, RunContext, RunStatus, Task, cron, every, once
from cronwell.errors import (
    DatabaseUnavailableError,
    FunctionNotFoundError,
    InvalidCronExpressionError,
    SchedulerStateError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.settings import load_settings

CALLS: list[str] = []


def importable_job(ctx: RunContext, label: str = "x") -> str:
    print(f"hello from {ctx.task_id}")
    ctx.logger.warning("a log line for %s", label)
    ctx.report(processed=3, failed=1)
    CALLS.append(label)
    return label.upper()


def failing_job() -> None:
    raise ValueError("boom")


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(
        database_url, timezone="Europe/Paris", poll_interval=0.1, instance_id="test-a"
    )
    yield instance
    instance.close()


def test_interval_task_fires_and_every_run_is_recorded(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("tick", schedule=every(seconds=0.2), func=importable_job, kwargs={"label": "t"})
    cw.start()
    runs = collected.wait_for(3, "tick")
    assert [r.status for r in runs[:3]] == [RunStatus.SUCCEEDED] * 3
    gaps = {
        round((b.scheduled_for - a.scheduled_for).total_seconds(), 3)
        for a, b in itertools.pairwise(runs[:3])
    }
    assert gaps == {0.2}
    stored = cw.runs("tick", limit=100)
    first = next(r for r in stored if r.id == runs[0].id)
    assert first.counters == {"processed": 3, "failed": 1}
    assert runs[0].counters == first.counters  # a listener hears what the store keeps
    assert {type(value) for value in runs[0].counters.values()} == {float}
    assert "hello from tick" in (first.output or "")
    assert "a log line for t" in (first.output or "")
    assert first.return_value == "'T'"
    assert first.occurrence_key.startswith("tick@")


def test_crontab_with_seconds_fires_each_second(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("every-second", schedule=cron("* * * * * *"), shell="echo hi")
    cw.start()
    # the occurrence of the second the task was created in may also run (a catch-up)
    runs = collected.wait_for(2, "every-second", predicate=lambda r: r.reason == "schedule")
    times = sorted(r.scheduled_for for r in runs)
    assert all(t.microsecond == 0 for t in times)
    assert times[1] - times[0] == timedelta(seconds=1)
    assert runs[0].output is not None and "hi" in runs[0].output


def test_changes_from_another_instance_reach_the_running_engine(
    cw: Cronwell, database_url: str
) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.start()
    other = Cronwell(database_url, timezone="UTC", instance_id="cli-like")
    try:
        other.add_task("late-comer", schedule=every(seconds=0.2), shell="true")
        collected.wait_for(1, "late-comer")
        other.pause("late-comer")
        wait_until(
            lambda: "late-comer" not in cw.engine.scheduled_task_ids(),
            what="the pause to reach the engine",
        )
        other.resume("late-comer")
        wait_until(
            lambda: "late-comer" in cw.engine.scheduled_task_ids(),
            what="the resume to reach the engine",
        )
        other.remove("late-comer")
        wait_until(
            lambda: "late-comer" not in cw.engine.scheduled_task_ids(),
            what="the removal to reach the engine",
        )
    finally:
        other.close()


def test_one_instance_schedules_and_a_standby_takes_over(
    cw: Cronwell, database_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "executions.txt"
    # every execution appends its occurrence key: a double fire would show twice
    cw.add_task(
        "shared", schedule=every(seconds=0.2), shell=f'echo "$CRONWELL_OCCURRENCE_KEY" >> {ledger}'
    )
    other = Cronwell(database_url, timezone="UTC", poll_interval=0.05, instance_id="test-b")
    standby_runs = RunCollector()
    other.on_run(standby_runs)
    try:
        cw.start()
        other.start()
        assert cw.engine.is_leader and not other.engine.is_leader
        assert other.engine.leader == "test-a"
        wait_until(lambda: len(cw.runs("shared", limit=100)) >= 3, what="three runs")
        assert standby_runs.runs == []  # the standby fires nothing
        cw.shutdown()  # gives the lease up: the standby takes over at its next look
        wait_until(lambda: other.engine.is_leader, what="the takeover")
        standby_runs.wait_for(2, "shared")
    finally:
        other.close()
    executions = Counter(ledger.read_text().split())
    assert max(executions.values()) == 1
    assert {r.instance_id for r in cw.runs("shared", limit=1000) if r.status.is_terminal} >= {
        "test-a",
        "test-b",
    }


def test_a_load_longer_than_the_lease_ttl_keeps_the_lease(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading many tasks can outlast the lease's TTL: the deadline counts from a renewal
    made after the load, so the engine leads and fires instead of stepping down."""
    settings = load_settings(
        database_url=database_url, timezone="UTC", poll_interval=0.05, lease_ttl=1.0
    )
    cw = Cronwell(settings=settings)
    cw.add_task("after-a-slow-load", schedule=every(seconds=0.1), shell="true")
    real_list_tasks = cw.store.list_tasks

    def slow_list_tasks(**filters: object) -> list[Task]:
        loaded = real_list_tasks(**filters)  # type: ignore[arg-type]
        time.sleep(1.5)  # a fleet's worth of loading: longer than the whole TTL
        return loaded

    monkeypatch.setattr(cw.store, "list_tasks", slow_list_tasks)
    collected = RunCollector()
    cw.on_run(collected)
    try:
        cw.start()
        assert cw.engine.is_leader
        collected.wait_for(3, "after-a-slow-load")
        assert cw.engine.is_leader
    finally:
        cw.close()


def test_an_occurrence_due_as_the_engine_starts_is_fired(cw: Cronwell) -> None:
    """APScheduler fires as soon as it starts, before the engine has finished starting:
    an occurrence due in that moment was dropped without a row (its lease deadline was
    not set yet). The engine is held at its "engine scheduling" log line until the
    occurrence is recorded, or well past its time."""
    due = datetime.now(UTC) + timedelta(seconds=0.5)
    cw.add_task("at-start", schedule=once(due), shell="true")
    recorded = threading.Event()
    cw.on_run(lambda run: run.task_id == "at-start" and recorded.set())

    class HoldTheStart(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "action", None) == "engine_started":
                recorded.wait(5)

    logger = logging.getLogger("cronwell.engine.engine")
    hold, level = HoldTheStart(), logger.level
    logger.addHandler(hold)
    logger.setLevel(logging.INFO)
    try:
        cw.start()
    finally:
        logger.removeHandler(hold)
        logger.setLevel(level)
    assert recorded.wait(10)
    [run] = cw.runs("at-start")
    assert (run.status, run.scheduled_for) == (RunStatus.SUCCEEDED, due)


def test_run_now_records_success_and_failure(cw: Cronwell) -> None:
    cw.add_task("ok", schedule="0 3 * * *", func=importable_job, args=["manual"])
    cw.add_task("bad", schedule="0 3 * * *", func=failing_job)
    ok = cw.run_now("ok")
    assert ok.status is RunStatus.SUCCEEDED
    assert ok.reason == "manual"
    assert ok.return_value == "'MANUAL'"
    bad = cw.run_now("bad")
    assert bad.status is RunStatus.FAILED
    assert bad.error == "ValueError: boom"
    assert bad.traceback is not None and "failing_job" in bad.traceback
    assert cw.store.get_run(bad.id).status is RunStatus.FAILED


def test_overlapping_occurrences_are_recorded_skipped(cw: Cronwell) -> None:
    release = threading.Event()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("slow", schedule=every(seconds=0.1), func=lambda: release.wait(10))
    cw.start()
    skipped = collected.wait_for(1, "slow", predicate=lambda r: r.status is RunStatus.SKIPPED)
    release.set()
    assert skipped[0].reason == "overlap"
    collected.wait_for(1, "slow", predicate=lambda r: r.status is RunStatus.SUCCEEDED)


def test_async_task_runs_on_the_application_loop(database_url: str) -> None:
    seen: dict[str, object] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        cw = Cronwell(database_url, timezone="UTC", poll_interval=0.1)

        async def coroutine_job() -> None:
            seen["loop"] = asyncio.get_running_loop()
            loop.call_soon_threadsafe(done.set)

        cw.add_task("async-job", schedule=every(seconds=0.2), func=coroutine_job)
        async with cw:
            await asyncio.wait_for(done.wait(), 10)
        seen["app_loop"] = loop
        cw.close()

    asyncio.run(main())
    assert seen["loop"] is seen["app_loop"]


def test_bad_input_is_rejected_at_creation(cw: Cronwell) -> None:
    with pytest.raises(FunctionNotFoundError, match="no_such_module"):
        cw.add_task("ghost", schedule="0 3 * * *", func="no_such_module:job")
    with pytest.raises(InvalidCronExpressionError, match="hour field '25'"):
        cw.add_task("ghost", schedule="0 25 * * *", shell="true")
    with pytest.raises(TaskNotFoundError):
        cw.get_task("ghost")


def test_redeclaring_is_idempotent_and_conflicts_are_reported(cw: Cronwell) -> None:
    first = cw.add_task("daily", schedule="0 8 * * *", shell="true")
    again = cw.add_task("daily", schedule="0 8 * * *", shell="true")
    assert again.version == first.version == 1
    with pytest.raises(TaskExistsError, match="replace_existing=True"):
        cw.add_task("daily", schedule="0 9 * * *", shell="true")
    replaced = cw.add_task("daily", schedule="0 9 * * *", shell="true", replace_existing=True)
    assert replaced.version == 2


def test_interval_anchor_survives_redeclaration(cw: Cronwell) -> None:
    first = cw.add_task("poll", schedule=every(minutes=5), shell="true")
    again = cw.add_task("poll", schedule=every(minutes=5), shell="true")
    assert first.schedule == again.schedule
    assert again.version == 1


def test_summary_groups_and_sorts_by_time_of_day(cw: Cronwell) -> None:
    cw.add_task("late", schedule="30 14 * * *", shell="true")
    cw.add_task("early", schedule="0 6 * * *", shell="true")
    cw.add_task("often", schedule=every(minutes=30), shell="true")
    text = cw.summary()
    assert text.index("Cron (2)") < text.index("Interval (1)")
    assert text.index("early") < text.index("late")
    assert "06:00" in text and "14:30" in text


def test_unreachable_database_names_it_without_password() -> None:
    cw = Cronwell("postgresql://scheduler:s3cret@127.0.0.1:1/nowhere", timezone="UTC")
    with pytest.raises(DatabaseUnavailableError) as info:
        cw.list_tasks()
    message = str(info.value)
    assert "s3cret" not in message
    assert "127.0.0.1:1/nowhere" in message
    assert "\n" not in message


def test_task_with_end_date_in_the_past_is_not_scheduled(cw: Cronwell) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    cw.add_task(
        "expired",
        schedule=every(seconds=1, anchor=past - timedelta(days=2)),
        shell="true",
        end_date=past,
    )
    cw.start()
    assert cw.engine.next_fire_times().get("expired") is None


def decorated_job(ctx: RunContext) -> str:
    return ctx.occurrence_key


def test_task_decorator_registers_and_survives_redeclaration(database_url: str) -> None:
    def declare() -> Cronwell:
        app = Cronwell(database_url, timezone="Asia/Jerusalem", poll_interval=0.1)
        app.task(every="0.2s", id="decorated", tags=["seed"])(decorated_job)
        app.task("0 8 * * 1-5")(importable_job)
        return app

    first = declare()
    try:
        stored = first.get_task("decorated")
        assert stored.tags == ["seed"]
        assert stored.timezone == "Asia/Jerusalem"
        assert first.get_task("importable_job").schedule.expression() == "0 8 * * 1-5"
        collected = RunCollector()
        first.on_run(collected)
        with first:
            assert first.running
            run = collected.wait_for(1, "decorated")[0]
        assert not first.running
        assert run.return_value == repr(run.occurrence_key)
    finally:
        first.close()
    second = declare()  # an application restarting declares the same tasks again
    try:
        assert second.get_task("decorated").version == 1
        assert second.get_task("decorated").schedule == stored.schedule
    finally:
        second.close()


def test_shutdown_waits_for_running_actions_and_records_them(cw: Cronwell) -> None:
    started = threading.Event()

    def slow() -> str:
        started.set()
        threading.Event().wait(0.3)
        return "finished"

    cw.add_task("slow-one", schedule=every(seconds=0.1), func=slow, max_instances=1)
    cw.start()
    with pytest.raises(SchedulerStateError):
        cw.start()
    assert started.wait(10)
    cw.shutdown(wait=True)
    runs = cw.runs("slow-one", limit=100)
    assert runs
    assert all(r.status is not RunStatus.RUNNING for r in runs)
    assert any(r.return_value == "'finished'" for r in runs)


def test_failed_runs_are_logged_with_structured_fields(
    cw: Cronwell, caplog: pytest.LogCaptureFixture
) -> None:
    cw.add_task("bad-log", schedule="0 3 * * *", func=failing_job)
    with caplog.at_level("INFO", logger="cronwell"):
        run = cw.run_now("bad-log")
    records = [r for r in caplog.records if getattr(r, "action", None) == "run_failed"]
    assert len(records) == 1
    assert records[0].task_id == "bad-log"  # type: ignore[attr-defined]
    assert records[0].run_id == run.id  # type: ignore[attr-defined]


def test_restarting_the_app_keeps_a_pause(database_url: str) -> None:
    def declare() -> Cronwell:
        app = Cronwell(database_url, timezone="UTC")
        app.task(cron="0 8 * * *", id="paused-by-operator")(decorated_job)
        return app

    first = declare()
    first.pause("paused-by-operator")
    first.close()
    second = declare()
    try:
        assert second.get_task("paused-by-operator").enabled is False
    finally:
        second.close()


def test_a_refused_redeclaration_keeps_the_stored_function(cw: Cronwell) -> None:
    cw.add_task("keeper", schedule="0 8 * * *", func=lambda: "original")
    with pytest.raises(TaskExistsError):
        cw.add_task("keeper", schedule="0 9 * * *", func=lambda: "intruder")
    assert cw.run_now("keeper").return_value == "'original'"


def test_engine_restarts_cleanly(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("again", schedule=every(seconds=0.2), shell="true")
    cw.start()
    collected.wait_for(1, "again")
    cw.shutdown()
    seen = len(collected.runs)
    cw.start()
    collected.wait_for(seen + 1, "again")
    assert all(r.status is not RunStatus.RUNNING for r in cw.runs("again", limit=1000))


def test_a_run_queued_elsewhere_is_picked_up(cw: Cronwell, database_url: str) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("on-demand", schedule="0 3 * * *", shell="echo queued")
    cw.start()
    other = Cronwell(database_url, timezone="UTC")
    try:
        pending = other.service.queue_run("on-demand")
        assert pending.status is RunStatus.PENDING
    finally:
        other.close()
    run = collected.wait_for(1, "on-demand")[0]
    assert run.id == pending.id
    assert run.status is RunStatus.SUCCEEDED
    assert run.reason == "manual"


def test_one_off_in_the_past_is_refused(cw: Cronwell) -> None:
    from cronwell.errors import InvalidScheduleError

    with pytest.raises(InvalidScheduleError, match="in the past"):
        cw.add_task("yesterday", schedule=once(datetime.now(UTC) - timedelta(days=1)), shell="true")
