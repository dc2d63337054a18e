"""The dispatcher's guarantees: a run row before the action, nothing left running by a stop,
missed and interrupted occurrences recorded, and a writer that survives a bad row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.waiting import RunCollector, wait_until

from cronwell.clock import FrozenClock, SystemClock
from cronwell.dispatch import Fire, LocalDispatcher
from cronwell.domain.run import RunStatus
from cronwell.domain.task import Task
from cronwell.runners import HttpRunner, PythonRunner, Runners, ShellRunner
from cronwell.store import Store

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def make_task(task_id: str, command: str = "true", **fields: object) -> Task:
    return Task.parse(
        {
            "id": task_id,
            "schedule": {"kind": "cron", "cron": "* * * * *"},
            "action": {"kind": "shell", "command": command},
            **fields,
        }
    )


@pytest.fixture
def runners() -> Iterator[Runners]:
    bundle = Runners(python=PythonRunner(), shell=ShellRunner(kill_grace=1.0), http=HttpRunner())
    yield bundle
    bundle.close()


def test_fires_queued_at_shutdown_are_recorded_not_lost(store: Store, runners: Runners) -> None:
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=4)
    dispatcher.start()
    task = make_task("many", max_instances=1000)
    base = datetime.now(UTC).replace(microsecond=0)
    dispatcher.submit([Fire(task, base + timedelta(milliseconds=i)) for i in range(300)])
    dispatcher.shutdown(wait=True)
    rows = store.list_runs(task_id="many", limit=1000)
    assert len(rows) == 300
    assert {r.status for r in rows} <= {RunStatus.SUCCEEDED, RunStatus.INTERRUPTED}
    assert all(r.reason == "shutdown" for r in rows if r.status is RunStatus.INTERRUPTED)

    # a restarted dispatcher works: nothing of the last term is left in its queue
    collected = RunCollector()
    dispatcher.add_listener(collected)
    dispatcher.start()
    dispatcher.submit([Fire(task, base + timedelta(seconds=5))])
    assert collected.wait_for(1, "many")[0].status is RunStatus.SUCCEEDED
    dispatcher.shutdown()


def test_shutdown_without_wait_interrupts_running_actions(store: Store, runners: Runners) -> None:
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t")
    collected = RunCollector()
    dispatcher.add_listener(collected)
    dispatcher.start()
    task = make_task("long", "echo started; sleep 30")
    dispatcher.submit([Fire(task, datetime.now(UTC))])
    running = wait_until(
        lambda: store.list_runs(task_id="long", status=RunStatus.RUNNING), what="a running row"
    )
    run_id = running[0].id
    dispatcher.shutdown(wait=False)
    run = store.get_run(run_id)
    assert run.status is RunStatus.INTERRUPTED
    assert run.reason == "shutdown"
    runners.cancel(run_id)


def test_late_occurrences_are_recorded_missed(store: Store, runners: Runners) -> None:
    clock = FrozenClock(NOW)
    dispatcher = LocalDispatcher(store, runners, clock, instance_id="t")
    collected = RunCollector()
    dispatcher.add_listener(collected)
    dispatcher.start()
    task = make_task("late", misfire_grace="60s")
    dispatcher.submit(
        [Fire(task, NOW - timedelta(seconds=120)), Fire(task, NOW - timedelta(seconds=30))]
    )
    runs = collected.wait_for(2, "late")
    dispatcher.shutdown()
    by_time = {r.scheduled_for: r for r in runs}
    missed = by_time[NOW - timedelta(seconds=120)]
    assert missed.status is RunStatus.MISSED and missed.reason == "late"
    assert by_time[NOW - timedelta(seconds=30)].status is RunStatus.SUCCEEDED


def test_nul_bytes_in_output_do_not_block_history(store: Store, runners: Runners) -> None:
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t")
    collected = RunCollector()
    dispatcher.add_listener(collected)
    dispatcher.start()
    dispatcher.submit([Fire(make_task("nul", r"printf 'a\000b'"), datetime.now(UTC))])
    dispatcher.submit([Fire(make_task("after"), datetime.now(UTC))])
    collected.wait_for(1, "after")
    run = collected.wait_for(1, "nul")[0]
    dispatcher.shutdown()
    stored = store.get_run(run.id)
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.output == "a\ufffdb"


def test_interrupt_during_an_inline_run_is_recorded(store: Store) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    bundle = Runners(
        python=PythonRunner(lambda _t, _r: interrupted), shell=ShellRunner(), http=HttpRunner()
    )
    dispatcher = LocalDispatcher(store, bundle, SystemClock(), instance_id="t")
    task = Task.parse(
        {
            "id": "ctrl-c",
            "schedule": {"kind": "cron", "cron": "0 0 * * *"},
            "action": {"kind": "python", "func": "os:getcwd"},
        }
    )
    with pytest.raises(KeyboardInterrupt):
        dispatcher.run_inline(task, datetime.now(UTC), "manual")
    bundle.close()
    (run,) = store.list_runs(task_id="ctrl-c")
    assert run.status is RunStatus.INTERRUPTED
