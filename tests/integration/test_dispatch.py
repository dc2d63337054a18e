"""The dispatcher's guarantees: a run row before the action, nothing left running by a stop,
missed and interrupted occurrences recorded, and a writer that survives a bad row."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.waiting import RunCollector, on_run, wait_until

from cronwell import gcpause
from cronwell.clock import FrozenClock, SystemClock
from cronwell.dispatch import Fire, LocalDispatcher
from cronwell.domain.events import RunFinished, RunsRecorded
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import SchedulerStateError
from cronwell.runners import HttpRunner, Outcome, PythonRunner, Runners, ShellRunner
from cronwell.store import NewRun, RunGrid, Store

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


def python_task(task_id: str) -> Task:
    """A Python task; with :func:`runners_calling` its action is chosen by its id."""
    return make_task(task_id, action={"kind": "python", "func": "os:getcwd"})


def runners_calling(functions: dict[str, Callable[[], object]]) -> Runners:
    """Runners whose Python actions call ``functions[prefix]``, the prefix being a task
    id's part before its first "-"."""
    return Runners(
        python=PythonRunner(lambda task_id, _ref: functions[task_id.split("-")[0]]),
        shell=ShellRunner(),
        http=HttpRunner(),
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
    on_run(dispatcher.events, collected)
    dispatcher.start()
    dispatcher.submit([Fire(task, base + timedelta(seconds=5))])
    assert collected.wait_for(1, "many")[0].status is RunStatus.SUCCEEDED
    dispatcher.shutdown()


def test_shutdown_without_wait_interrupts_running_actions(store: Store, runners: Runners) -> None:
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t")
    collected = RunCollector()
    on_run(dispatcher.events, collected)
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
    on_run(dispatcher.events, collected)
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
    on_run(dispatcher.events, collected)
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


@pytest.fixture
def when() -> datetime:
    """An occurrence a few seconds ago: due, and well within the misfire grace time."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)


def _record_in_one_batch(
    store: Store,
    runners: Runners,
    caplog: pytest.LogCaptureFixture,
    when: datetime,
    fires: list[Fire],
    outcomes: int,
) -> list[str]:
    """Submit ``fires`` while the writer is held (by a listener on a missed row it is
    writing), so that it takes them in one batch; wait for ``outcomes`` terminal runs of
    them, stop, and return the tasks whose fire was a repeat ("duplicate_fire"). The
    occurrence of task "taken" at ``when`` is recorded beforehand."""
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=4)
    collected = RunCollector()
    on_run(dispatcher.events, collected)
    held, go_on = threading.Event(), threading.Event()

    def hold_the_writer(run: Run) -> None:
        if run.task_id == "gate":
            held.set()
            go_on.wait(10)

    on_run(dispatcher.events, hold_the_writer)
    dispatcher.start()
    store.insert_runs([NewRun("taken", when, status=RunStatus.SUCCEEDED, finished_at=when)])
    gate = NewRun("gate", when, status=RunStatus.MISSED, finished_at=when)
    holder = threading.Thread(target=dispatcher.record, args=(RunGrid(["gate"], [gate]),))
    holder.start()
    assert held.wait(10)
    dispatcher.submit(fires)
    with caplog.at_level(logging.INFO, logger="cronwell.dispatch.local"):
        go_on.set()
        holder.join(10)
        collected.wait_for(
            outcomes,
            predicate=lambda r: r.task_id not in ("gate", "taken") and r.status.is_terminal,
        )
        dispatcher.shutdown()
    for fire in fires:  # every slot was given back, the repeats' too
        assert dispatcher.running_count(fire.task.id) == 0
    return sorted(
        getattr(r, "task_id", "")
        for r in caplog.records
        if getattr(r, "action", None) == "duplicate_fire"
    )


def _stored(store: Store, task_id: str) -> list[tuple[datetime, int, RunStatus]]:
    return sorted((r.scheduled_for, r.attempt, r.status) for r in store.list_runs(task_id=task_id))


def test_a_batch_of_fires_records_each_occurrence_once(
    store: Store, runners: Runners, caplog: pytest.LogCaptureFixture, when: datetime
) -> None:
    """A batch of fires of several instants and plans is stored row by row: each
    occurrence gets one row, and an occurrence already recorded is not run again."""
    a, b, c, taken = (make_task(task_id) for task_id in ("a", "b", "c", "taken"))
    later = when + timedelta(seconds=1)
    fires = [Fire(a, when), Fire(b, when), Fire(a, when), Fire(taken, when), Fire(b, later)]
    fires.append(Fire(c, when, attempt=2, reason="retry"))
    repeats = _record_in_one_batch(store, runners, caplog, when, fires, outcomes=4)
    assert repeats == ["a", "taken"]
    assert _stored(store, "a") == [(when, 1, RunStatus.SUCCEEDED)]
    # b's later occurrence came while its first ran: skipped by the overlap policy
    assert _stored(store, "b") == [(when, 1, RunStatus.SUCCEEDED), (later, 1, RunStatus.SKIPPED)]
    assert _stored(store, "c") == [(when, 2, RunStatus.SUCCEEDED)]
    assert _stored(store, "taken") == [(when, 1, RunStatus.SUCCEEDED)]  # seeded, not run


def test_fires_of_one_instant_are_one_grid_with_each_occurrence_once(
    store: Store, runners: Runners, caplog: pytest.LogCaptureFixture, when: datetime
) -> None:
    """Fires of one instant and one plan (a burst) are stored as one grid: a repeated
    fire of a task gets no second row, and a recorded occurrence is not run again."""
    many = make_task("many", overlap="allow", max_instances=5)  # both fires plan to run
    one, taken = make_task("one"), make_task("taken")
    fires = [Fire(many, when), Fire(one, when), Fire(many, when), Fire(taken, when)]
    repeats = _record_in_one_batch(store, runners, caplog, when, fires, outcomes=2)
    assert repeats == ["many", "taken"]
    assert _stored(store, "many") == [(when, 1, RunStatus.SUCCEEDED)]
    assert _stored(store, "one") == [(when, 1, RunStatus.SUCCEEDED)]
    assert _stored(store, "taken") == [(when, 1, RunStatus.SUCCEEDED)]  # seeded, not run


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'one-writer.db'}")
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


def test_on_sqlite_catch_up_writes_go_through_the_writer_behind_what_is_due_now(
    sqlite_store: Store, runners: Runners
) -> None:
    """On SQLite, missed rows and catch-up fires from another thread are written by the
    writer thread (one writer per process), each chunk after what was queued before it: a
    fire due now is recorded before the catch-up chunks that follow it. (PostgreSQL stores
    the rows beside the writer: test_policies has its catch-up.)"""
    store = sqlite_store
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=4)
    assert not dispatcher.stores_beside_writer
    collected = RunCollector()
    on_run(dispatcher.events, collected)
    writer_threads: set[str] = set()
    first_row_seen = threading.Event()
    go_on = threading.Event()

    def hold_the_writer(run: Run) -> None:
        writer_threads.add(threading.current_thread().name)
        if run.status is RunStatus.MISSED:
            first_row_seen.set()
            go_on.wait(10)

    on_run(dispatcher.events, hold_the_writer)
    dispatcher.start()
    backlog = make_task("backlog", max_instances=100)
    due = make_task("due")
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    missed = [
        NewRun(
            task_id="backlog",
            scheduled_for=base,
            status=RunStatus.MISSED,
            reason="scheduler_down",
            finished_at=datetime.now(UTC),
        )
    ]
    catch_up = threading.Thread(
        target=lambda: (
            dispatcher.record(RunGrid(["backlog"], missed), {"backlog": backlog}),
            dispatcher.start_behind(
                [
                    Fire(backlog, base + timedelta(seconds=i + 1), reason="catchup")
                    for i in range(6)
                ],
                chunk=2,
            ),
        )
    )
    catch_up.start()
    assert first_row_seen.wait(10)  # the writer is busy with the missed row
    dispatcher.submit([Fire(due, datetime.now(UTC))])
    go_on.set()
    catch_up.join(10)
    assert not catch_up.is_alive()
    due_run = collected.wait_for(1, "due")[0]
    backlog_runs = [r for r in collected.wait_for(7, "backlog") if r.reason == "catchup"]
    assert len(backlog_runs) == 6 and all(r.status is RunStatus.SUCCEEDED for r in backlog_runs)
    assert all(due_run.id < r.id for r in backlog_runs)  # recorded first
    assert writer_threads == {"cronwell-writer"}  # every row was stored by the writer
    dispatcher.shutdown()


def test_a_stop_does_not_wait_for_a_busy_writer(store: Store, runners: Runners) -> None:
    """Catch-up waiting for the writer (which may be retrying through a database outage)
    gives up once its cancel event is set, so an engine can stop; catch-up fires need a
    running dispatcher. What was handed over still lands once the writer is free."""
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=2)
    task = make_task("backlog")
    fire = Fire(task, NOW, reason="catchup")
    with pytest.raises(SchedulerStateError):
        dispatcher.start_behind([fire])
    busy = threading.Event()
    release = threading.Event()

    def hold(run: Run) -> None:
        busy.set()
        release.wait(10)

    on_run(dispatcher.events, hold)
    dispatcher.start()
    row = NewRun(
        task_id="backlog",
        scheduled_for=NOW,
        status=RunStatus.MISSED,
        reason="scheduler_down",
        finished_at=NOW,
    )
    holder = threading.Thread(target=dispatcher.record, args=(RunGrid(["backlog"], [row]),))
    holder.start()
    assert busy.wait(10)  # the writer is inside a listener: it takes nothing else now
    cancel = threading.Event()
    answers: list[bool] = []
    later = Fire(task, NOW + timedelta(minutes=1), reason="catchup")
    waiting = threading.Thread(
        target=lambda: answers.append(dispatcher.start_behind([later], cancel=cancel))
    )
    waiting.start()
    cancel.set()
    waiting.join(5)
    assert answers == [False]  # gave up while the writer was still busy
    release.set()
    holder.join(5)
    dispatcher.shutdown()
    assert len(store.list_runs(task_id="backlog")) == 2  # the abandoned request still landed


def test_a_grid_is_told_once_to_batch_subscribers_and_row_by_row_to_the_rest(
    store: Store, runners: Runners
) -> None:
    """Rows stored as a grid reach a RunFinished subscriber that takes batches in one
    RunsRecorded, one that does not as a RunFinished per row, and run listeners only for
    the statuses they asked for; a handler that raises does not keep the others from
    hearing."""
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t")
    per_row: list[RunFinished] = []
    grids: list[RunsRecorded] = []
    missed_runs, skipped_runs = RunCollector(), RunCollector()

    def broken(_: RunsRecorded) -> None:
        raise RuntimeError("listener bug")

    def ignored(_: RunFinished) -> None:
        pass

    events = dispatcher.events
    events.subscribe(RunFinished, per_row.append)
    events.subscribe(RunFinished, ignored, batch=broken)
    events.subscribe(RunFinished, ignored, batch=grids.append)
    on_run(dispatcher.events, missed_runs, statuses=["missed"])
    on_run(dispatcher.events, skipped_runs, statuses=[RunStatus.SKIPPED])
    fleet = {task_id: make_task(task_id) for task_id in ("g-1", "g-2", "g-3")}
    store.insert_runs([NewRun("g-2", NOW, status=RunStatus.SUCCEEDED, finished_at=NOW)])
    rows = [
        NewRun(
            "",
            NOW + timedelta(minutes=minute),
            status=RunStatus.MISSED,
            reason="scheduler_down",
            finished_at=NOW,
        )
        for minute in (0, 1)
    ]
    assert dispatcher.record(RunGrid(list(fleet), rows), fleet)
    stored = {
        r.id: r for task_id in fleet for r in store.list_runs(task_id=task_id, status="missed")
    }
    assert len(stored) == 5  # g-2's first occurrence was taken already
    assert {o.run.id: o.run for o in per_row} == stored
    assert all(o.task is fleet[o.run.task_id] for o in per_row)
    assert len(grids) == 1
    assert {grids[0].run(row).id: grids[0].run(row) for row in grids[0].rows} == stored
    assert {r.id: r for r in missed_runs.runs} == stored
    assert skipped_runs.runs == []


def test_a_status_given_as_text_by_a_runner_is_stored_as_a_status(store: Store) -> None:
    """A runner of one's own may answer with the status as text; the run and its row
    carry the status itself."""

    class TextRunner(PythonRunner):
        def run(self, action: object, ctx: object, *, timeout: float | None) -> Outcome:
            return Outcome("failed", error="said in text")  # type: ignore[arg-type]

    runners = Runners(python=TextRunner(), shell=ShellRunner(), http=HttpRunner())
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t")
    collected = RunCollector()
    on_run(dispatcher.events, collected)
    dispatcher.start()
    task = Task.parse(
        {
            "id": "text",
            "schedule": {"kind": "cron", "cron": "* * * * *"},
            "action": {"kind": "python", "func": "os:getcwd"},
        }
    )
    try:
        dispatcher.submit([Fire(task, datetime.now(UTC))])
        (run,) = collected.wait_for(1, "text")
    finally:
        dispatcher.shutdown()
        runners.close()
    assert run.status is RunStatus.FAILED
    assert store.get_run(run.id).status is RunStatus.FAILED


@pytest.fixture
def hold_allowed() -> Iterator[None]:
    """The process lets cronwell hold its collector off (the gc_hold setting), as
    ``cronwell serve`` does."""
    before = gcpause.allowed()
    gcpause.configure(True)
    yield
    gcpause.configure(before)


@pytest.mark.usefixtures("hold_allowed")
def test_the_collector_is_held_off_while_a_burst_runs_and_comes_back_after_it(
    store: Store,
) -> None:
    """With the hold allowed, fires of one instant run with the cyclic collector off; it
    is back once their results are written, and at the hold's limit while a long run stays
    in flight (long before that run ends). A collector the application turned off stays
    off."""
    seen: list[bool] = []
    release = threading.Event()

    def quick() -> None:
        seen.append(gc.isenabled())

    def long() -> None:
        release.wait(60)

    functions = {"quick": quick, "long": long}
    runners = runners_calling(functions)
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=8)
    collected = RunCollector()
    on_run(dispatcher.events, collected)

    dispatcher.start()
    try:
        assert gc.isenabled()
        now = datetime.now(UTC)
        burst = [Fire(python_task(f"quick-{i}"), now) for i in range(40)]
        dispatcher.submit([*burst, Fire(python_task("long-1"), now)])
        collected.wait_for(40, predicate=lambda r: r.task_id.startswith("quick"))
        assert seen == [False] * 40  # every run of the burst ran with the collector off
        # the long run is still in flight: the hold ends at its limit all the same
        wait_until(gc.isenabled, timeout=30, what="the collector back on")
        release.set()
        collected.wait_for(1, "long-1")

        gc.disable()  # the application's choice outlasts a burst
        try:
            seen.clear()
            dispatcher.submit(
                [Fire(python_task(f"quick-{i}"), now + timedelta(seconds=1)) for i in range(5)]
            )
            collected.wait_for(45, predicate=lambda r: r.task_id.startswith("quick"))
            dispatcher.shutdown()
            assert seen == [False] * 5
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        release.set()
        dispatcher.shutdown()
        runners.close()


def test_a_fire_due_while_results_queue_up_is_recorded_before_them(store: Store) -> None:
    """While the writer is busy, the results of a burst's runs queue up; a fire that falls
    due meanwhile is recorded and started before they are written. (In one queue with
    them it waited behind two batches of 1,000 results: 0.2 s during a catch-up.)"""
    fleet = 1200  # more results than the writer takes in one batch (1,000)
    returned = [0]
    lock = threading.Lock()
    all_returned, probe_started = threading.Event(), threading.Event()

    def quick() -> None:
        with lock:
            returned[0] += 1
            if returned[0] == fleet:
                all_returned.set()

    functions = {"quick": quick, "probe": probe_started.set}
    runners = runners_calling(functions)
    dispatcher = LocalDispatcher(store, runners, SystemClock(), instance_id="t", max_workers=4)
    collected = RunCollector()
    on_run(dispatcher.events, collected)
    gates = {name: (threading.Event(), threading.Event()) for name in ("gate-1", "gate-2")}
    probe_first: list[bool] = []

    def listen(run: Run) -> None:  # on the writer thread
        if run.task_id in gates:  # a missed row: hold the writer until told
            held, go_on = gates[run.task_id]
            held.set()
            go_on.wait(10)
        elif run.task_id.startswith("quick") and not probe_first:
            probe_first.append(probe_started.wait(5))

    on_run(dispatcher.events, listen)

    now = datetime.now(UTC)
    late = now - timedelta(hours=1)  # beyond the grace time: recorded missed, not run
    dispatcher.start()
    try:
        dispatcher.submit([Fire(python_task("gate-1"), late)])
        assert gates["gate-1"][0].wait(10)
        # taken in one batch once the writer goes on: the fleet starts, then gate-2 holds it
        dispatcher.submit([Fire(python_task(f"quick-{i}"), now) for i in range(fleet)])
        dispatcher.submit([Fire(python_task("gate-2"), late)])
        gates["gate-1"][1].set()
        assert gates["gate-2"][0].wait(10)
        assert all_returned.wait(30)  # their results wait for the writer
        dispatcher.submit([Fire(python_task("probe-1"), now)])
        gates["gate-2"][1].set()
        runs = collected.wait_for(fleet, predicate=lambda r: r.task_id.startswith("quick"))
        runs += collected.wait_for(1, "probe-1")
        assert probe_first == [True]  # started before the first result was written
        assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    finally:
        for _, go_on in gates.values():
            go_on.set()
        dispatcher.shutdown()
        runners.close()
