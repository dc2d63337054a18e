"""One-off tasks removed after their run (``once(at, remove_after_run=True)`` and
APScheduler's date jobs), on real SQLite and PostgreSQL with a real engine: the task goes
once its occurrence is settled, its runs stay, and a restart between the run and the
removal neither keeps the task nor runs the occurrence again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, RunStatus, once
from cronwell.domain.run import RunReason
from cronwell.store import NewRun

CALLS: list[str] = []


def job(label: str = "x") -> str:
    CALLS.append(label)
    return label


RELEASE = threading.Event()


def held_job() -> str:
    RELEASE.wait(10)
    return "held"


def failing_job() -> None:
    CALLS.append("fail")
    raise ValueError("boom")


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()
    RELEASE.clear()


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, "UTC", poll_interval=0.1, instance_id="one-offs")
    yield instance
    instance.close()


def _soon(cw: Cronwell, seconds: float = 0.3) -> datetime:
    return cw.clock.now() + timedelta(seconds=seconds)


def _gone(cw: Cronwell, task_id: str) -> bool:
    return cw.service.find(task_id) is None


def _removals(caplog: pytest.LogCaptureFixture, task_id: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if getattr(r, "action", None) == "one_off_removed" and r.task_id == task_id  # type: ignore[attr-defined]
    ]


def test_removed_after_its_run_succeeds_and_the_run_stays(
    cw: Cronwell, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cronwell")
    collected = RunCollector()
    cw.on_run(collected)
    at = _soon(cw)
    cw.add_task("report", schedule=once(at, remove_after_run=True), func=job)
    assert cw.get_task("report").schedule.describe().endswith("then removed")
    cw.start()
    (run,) = collected.wait_for(1, "report")
    assert run.status is RunStatus.SUCCEEDED
    wait_until(lambda: _gone(cw, "report"), what="the one-off removed")
    history = cw.runs("report")
    assert [(r.status, r.scheduled_for) for r in history] == [(RunStatus.SUCCEEDED, at)]
    assert len(_removals(caplog, "report")) == 1
    assert _removals(caplog, "report")[0].status == "succeeded"  # type: ignore[attr-defined]


def test_a_one_off_without_the_flag_stays(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("kept", schedule=once(_soon(cw)), func=job)
    cw.add_task("removed", schedule=once(_soon(cw, 0.4), remove_after_run=True), func=job)
    cw.start()
    collected.wait_for(1, "kept")
    collected.wait_for(1, "removed")
    wait_until(lambda: _gone(cw, "removed"), what="the flagged one-off removed")
    assert cw.service.find("kept") is not None


def test_removed_only_after_its_last_retry(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "flaky",
        schedule=once(_soon(cw), remove_after_run=True),
        func=failing_job,
        retries=1,
        retry_delay=0.5,
        retry_jitter=0,
    )
    cw.start()
    collected.wait_for(1, "flaky")
    # the retry is stored with the failure's follow-up, where a removal would happen
    wait_until(
        lambda: cw.runs("flaky", status=RunStatus.PENDING), what="the retry stored as pending"
    )
    assert cw.service.find("flaky") is not None
    runs = collected.wait_for(2, "flaky")
    assert [(r.attempt, r.status) for r in runs] == [
        (1, RunStatus.FAILED),
        (2, RunStatus.FAILED),
    ]
    wait_until(lambda: _gone(cw, "flaky"), what="the one-off removed after its last retry")
    assert len(cw.runs("flaky")) == 2


def test_a_missed_one_off_is_removed_with_its_missed_row(cw: Cronwell) -> None:
    at = _soon(cw, 0.2)
    cw.add_task("missed", schedule=once(at, remove_after_run=True), func=job, catchup="none")
    wait_until(lambda: cw.clock.now() > at, what="the one-off's time to pass unscheduled")
    cw.start()
    wait_until(lambda: _gone(cw, "missed"), what="the missed one-off removed")
    (row,) = cw.runs("missed")
    assert (row.status, row.reason, row.scheduled_for) == (
        RunStatus.MISSED,
        RunReason.SCHEDULER_DOWN,
        at,
    )
    assert CALLS == []


def test_a_one_off_redefined_while_it_runs_is_left_alone(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("moved", schedule=once(_soon(cw), remove_after_run=True), func=held_job)
    cw.start()
    wait_until(lambda: cw.runs("moved", status=RunStatus.RUNNING), what="the run to start")
    later = _soon(cw, 3600)
    cw.add_task(
        "moved",
        schedule=once(later, remove_after_run=True),
        func=held_job,
        replace_existing=True,
    )
    RELEASE.set()
    (run,) = collected.wait_for(1, "moved")
    assert run.status is RunStatus.SUCCEEDED
    # the listeners, the removal's among them, have been told once this later run is
    cw.add_task("marker", schedule=once(_soon(cw, 0.1)), func=job)
    collected.wait_for(1, "marker")
    stored = cw.get_task("moved")
    assert stored.schedule.at == later  # type: ignore[union-attr]


def test_a_manual_run_does_not_remove_it(cw: Cronwell) -> None:
    cw.add_task("later", schedule=once(_soon(cw, 3600), remove_after_run=True), func=job)
    assert cw.run_now("later").status is RunStatus.SUCCEEDED
    assert cw.service.find("later") is not None


def test_a_restart_between_the_run_and_the_removal(cw: Cronwell, database_url: str) -> None:
    """A leader that recorded the run and died before removing the task: the next start
    removes it and does not run the occurrence again (its row marks it done)."""
    at = _soon(cw, 0.2)
    cw.add_task("done", schedule=once(at, remove_after_run=True), func=job)
    wait_until(lambda: cw.clock.now() > at, what="the one-off's time to pass")
    cw.store.insert_runs(
        [
            NewRun(
                "done",
                at,
                status=RunStatus.SUCCEEDED,
                reason=RunReason.SCHEDULE,
                started_at=at,
                finished_at=at,
                instance_id="a-leader-that-died",
            )
        ]
    )
    collected = RunCollector()
    cw.on_run(collected)
    cw.start()
    assert _gone(cw, "done")  # swept before the tasks are scheduled
    assert cw.engine.scheduled_task_ids() == {"cronwell-maintenance"}
    (row,) = cw.runs("done")
    assert row.instance_id == "a-leader-that-died"
    assert CALLS == []
    assert collected.runs == []


def test_a_restart_with_a_retry_pending_keeps_it_until_the_retry_ran(cw: Cronwell) -> None:
    at = _soon(cw, 0.2)
    cw.add_task("retried", schedule=once(at, remove_after_run=True), func=job, retries=1)
    wait_until(lambda: cw.clock.now() > at, what="the one-off's time to pass")
    cw.store.insert_runs(
        [
            NewRun("retried", at, status=RunStatus.FAILED, reason=RunReason.SCHEDULE),
            NewRun(
                "retried",
                at,
                attempt=2,
                status=RunStatus.PENDING,
                reason=RunReason.RETRY,
                due_at=cw.clock.now(),
            ),
        ]
    )
    collected = RunCollector()
    cw.on_run(collected)
    cw.start()
    (run,) = collected.wait_for(1, "retried")
    assert (run.attempt, run.status) == (2, RunStatus.SUCCEEDED)
    wait_until(lambda: _gone(cw, "retried"), what="the one-off removed after its retry")
    assert CALLS == ["x"]


def test_declared_again_after_its_removal_it_is_not_stored_again(cw: Cronwell) -> None:
    """An application that declares its tasks at every start declares the one-off again
    after it ran: nothing is stored, nothing is refused as in the past."""
    collected = RunCollector()
    cw.on_run(collected)
    at = _soon(cw)
    cw.add_task("report", schedule=once(at, remove_after_run=True), func=job)
    cw.start()
    collected.wait_for(1, "report")
    wait_until(lambda: _gone(cw, "report"), what="the one-off removed")
    again = cw.add_task("report", schedule=once(at, remove_after_run=True), func=job)
    assert again.id == "report"
    assert _gone(cw, "report")
    assert len(cw.runs("report")) == 1


# -- APScheduler's date jobs ---------------------------------------------------------------


def test_add_job_date_is_removed_after_it_fires(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    run_date = _soon(cw)
    job_view = cw.add_job(job, "date", run_date=run_date, args=["d"], id="dated")
    assert job_view.next_run_time == run_date
    assert cw.add_job(job, id="now").id == "now"  # no trigger: runs now, once
    cw.add_date_job(job, _soon(cw, 0.4), "seed-date", args=["s"])
    cw.start()
    for task_id in ("dated", "now", "seed-date"):
        collected.wait_for(1, task_id)
        wait_until(lambda t=task_id: cw.get_job(t) is None, what=f"{task_id} removed")
        assert [r.status for r in cw.runs(task_id)] == [RunStatus.SUCCEEDED]
    assert sorted(CALLS) == ["d", "s", "x"]
    # declared again with the same date on the next start: already done, not refused
    assert cw.add_job(job, "date", run_date=run_date, args=["d"], id="dated").id == "dated"
    assert cw.get_job("dated") is None


def test_a_date_trigger_object_and_a_once_schedule_given_to_add_job(cw: Cronwell) -> None:
    from apscheduler.triggers.date import DateTrigger

    at = _soon(cw, 3600)
    cw.add_job(job, DateTrigger(run_date=at), id="trigger-object")
    cw.add_job(job, once(at), id="cronwell-once")
    assert cw.get_task("trigger-object").removes_after_run
    assert not cw.get_task("cronwell-once").removes_after_run  # keeps its own setting
