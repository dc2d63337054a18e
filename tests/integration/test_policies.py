"""Run policies (DESIGN rules 5 to 7) with real APScheduler and real databases: retries,
automatic pause, timeouts, overlap, catch-up after downtime, pause, shutdown, retention,
statistics. Every behaviour is checked as run rows with a status and a reason."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, PythonAction, Run, RunContext, RunStatus, Task, cron, every
from cronwell.dispatch import CatchUpSizes, Fire, catchup
from cronwell.engine.recovery import catch_up
from cronwell.errors import InvalidInputError, InvalidTaskError
from cronwell.store import NewRun, RunGrid, Store


def flaky_once(ctx: RunContext) -> str:
    """Fails on the first attempt of each occurrence, succeeds on the second."""
    if ctx.attempt == 1:
        raise ValueError("first attempt fails")
    return "second attempt"


def always_fails() -> None:
    raise ValueError("down")


def wrong_key() -> None:
    raise KeyError("not retryable")


def cooperative_loop(ctx: RunContext) -> None:
    while True:
        ctx.check()
        threading.Event().wait(0.01)


@pytest.fixture
def cw(database_url: str) -> Iterator[Cronwell]:
    instance = Cronwell(database_url, timezone="UTC", poll_interval=0.05, instance_id="pol-a")
    instance.settings.shutdown_grace = 2.0
    yield instance
    instance.close()


def test_a_failure_is_retried_as_a_new_attempt_of_the_same_occurrence(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "flaky",
        schedule=every(hours=1),
        func=flaky_once,
        retries=3,
        retry_delay="50ms",
        retry_jitter=0,
    )
    cw.start()
    cw.engine.fire_now("flaky")
    second = collected.wait_for(1, "flaky", predicate=lambda r: r.attempt == 2)[0]
    first = collected.wait_for(1, "flaky", predicate=lambda r: r.attempt == 1)[0]
    assert first.status is RunStatus.FAILED
    assert second.status is RunStatus.SUCCEEDED and second.reason == "retry"
    assert second.scheduled_for == first.scheduled_for
    assert second.started_at is not None and first.finished_at is not None
    assert second.started_at - first.finished_at >= timedelta(milliseconds=50)


def test_retries_stop_at_the_limit_and_only_for_named_exceptions(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "down",
        schedule=every(hours=1),
        func=always_fails,
        retries=2,
        retry_delay="10ms",
        retry_on=["ValueError"],
    )
    cw.add_task(
        "keyerror",
        schedule=every(hours=1),
        func=wrong_key,
        retries=2,
        retry_delay="10ms",
        retry_on=["ValueError"],
    )
    cw.start()
    cw.engine.fire_now("down")
    cw.engine.fire_now("keyerror")
    runs = collected.wait_for(3, "down")
    assert sorted(r.attempt for r in runs) == [1, 2, 3]
    collected.wait_for(1, "keyerror")
    cw.shutdown()
    assert [r.attempt for r in cw.runs("keyerror")] == [1]
    assert len(cw.runs("down")) == 3  # no fourth attempt was queued


def test_a_restart_rearms_pending_retries(cw: Cronwell, database_url: str) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "later",
        schedule=every(hours=1),
        func=flaky_once,
        retries=1,
        retry_delay="1s",
        retry_jitter=0,
    )
    cw.start()
    cw.engine.fire_now("later")
    collected.wait_for(1, "later")
    cw.shutdown()
    (pending,) = cw.service.list_runs(task_id="later", status=RunStatus.PENDING)
    assert pending.attempt == 2
    restarted = Cronwell(database_url, timezone="UTC", poll_interval=0.05, instance_id="pol-b")
    again = RunCollector()
    restarted.on_run(again)
    restarted.registry.register("later", flaky_once)
    try:
        restarted.start()
        run = again.wait_for(1, "later")[0]
    finally:
        restarted.close()
    assert run.id == pending.id
    assert run.status is RunStatus.SUCCEEDED
    assert run.instance_id == "pol-b"


def test_repeated_failures_pause_the_task_until_resumed(cw: Cronwell) -> None:
    cw.add_task(
        "broken", schedule=every(seconds=0.1), func=always_fails, max_consecutive_failures=3
    )
    cw.start()
    paused = wait_until(lambda: not cw.get_task("broken").enabled, what="the automatic pause")
    task = cw.get_task("broken")
    assert paused
    assert task.paused_reason is not None and "3 failed occurrences in a row" in task.paused_reason
    assert "ValueError: down" in task.paused_reason
    assert task.consecutive_failures == 3
    resumed = cw.resume("broken")
    assert resumed.enabled and resumed.consecutive_failures == 0 and not resumed.paused_reason


def test_timeouts_stop_shell_commands_and_cooperative_functions(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("hang", schedule=every(hours=1), shell="sleep 30", timeout="300ms")
    cw.add_task("loop", schedule=every(hours=1), func=cooperative_loop, timeout="200ms")
    cw.start()
    cw.engine.fire_now("hang")
    cw.engine.fire_now("loop")
    hang = collected.wait_for(1, "hang")[0]
    loop = collected.wait_for(1, "loop")[0]
    assert hang.status is RunStatus.TIMED_OUT and "timed out after 0.3s" in (hang.error or "")
    assert loop.status is RunStatus.TIMED_OUT


def test_overlap_allow_runs_up_to_max_instances(cw: Cronwell) -> None:
    release = threading.Event()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task(
        "wide",
        schedule=every(seconds=0.1),
        func=lambda: release.wait(10),
        overlap="allow",
        max_instances=2,
    )
    cw.start()
    skipped = collected.wait_for(1, "wide", predicate=lambda r: r.status is RunStatus.SKIPPED)
    assert skipped[0].reason == "max_instances"
    assert cw.dispatcher.running_count("wide") == 2
    release.set()


def test_overlap_queue_one_runs_once_more_after_the_current_run(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("queue", schedule=every(seconds=0.1), shell="sleep 0.4", overlap="queue_one")
    cw.start()
    queued = collected.wait_for(
        1, "queue", predicate=lambda r: r.reason == "queued" and r.status is RunStatus.SUCCEEDED
    )[0]
    cw.shutdown()
    rows = cw.runs("queue", limit=1000)
    # the first run: the catch-up's when the first occurrence fell due before the engine
    # started (a start held up by a full collection of the test process's heap)
    first_done = min(
        (r for r in rows if r.reason in ("schedule", "catchup") and r.finished_at),
        key=lambda r: r.scheduled_for,
    )
    assert queued.started_at is not None and first_done.finished_at is not None
    assert queued.started_at >= first_done.finished_at - timedelta(milliseconds=50)
    assert any(r.status is RunStatus.SKIPPED and r.reason == "overlap" for r in rows)


def test_overlap_replace_stops_the_running_command(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("newest", schedule=every(seconds=0.5), shell="sleep 30", overlap="replace")
    cw.start()
    replaced = collected.wait_for(1, "newest", predicate=lambda r: r.reason == "replaced")[0]
    assert replaced.status is RunStatus.INTERRUPTED


def test_replace_is_refused_for_functions_in_threads(cw: Cronwell) -> None:
    with pytest.raises(InvalidTaskError, match="cannot be stopped"):
        cw.add_task("nope", schedule=every(minutes=1), func=always_fails, overlap="replace")


def _seed_history(cw: Cronwell, task_id: str, when: datetime) -> None:
    cw.store.insert_runs([NewRun(task_id, when, status=RunStatus.SUCCEEDED, finished_at=when)])


def test_downtime_records_missed_occurrences_and_runs_the_latest(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    now = datetime.now(UTC)
    anchor = (now - timedelta(minutes=10)).replace(microsecond=0)
    cw.add_task("minutely", schedule=every(minutes=1, anchor=anchor), shell="true")
    # the last run the (simulated) previous scheduler recorded, 10 minutes ago
    _seed_history(cw, "minutely", anchor)
    cw.store.update_task(cw.get_task("minutely"), anchor)  # as if unchanged since then
    cw.start()
    caught_up = collected.wait_for(1, "minutely", predicate=lambda r: r.reason == "catchup")[0]
    missed = [r for r in cw.runs("minutely", limit=100) if r.status is RunStatus.MISSED]
    assert caught_up.status is RunStatus.SUCCEEDED
    assert len(missed) in (8, 9)  # occurrences 1..9 (or 10) minutes after the anchor, less one
    assert all(r.reason == "scheduler_down" for r in missed)
    assert caught_up.scheduled_for > max(r.scheduled_for for r in missed)


def do_nothing() -> None:
    pass


def test_a_catch_up_that_reads_history_after_the_first_new_fire_still_covers_the_gap(
    cw: Cronwell, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catch-up runs on its own thread beside the scheduler, which fires at once what
    falls due after the engine started. When the first of those fires is recorded before
    the catch-up reads where the task's history stops (a loaded machine, a leader taking
    its lease back after a database outage), every occurrence of the gap still gets its
    row: occurrences after the engine started are the scheduler's, and its rows do not
    tell the catch-up where the gap ends."""
    anchor = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0)
    interval = timedelta(seconds=0.25)
    cw.add_task(
        "frequent",
        schedule=every(seconds=0.25, anchor=anchor),
        func=do_nothing,
        catchup="none",
    )
    _seed_history(cw, "frequent", anchor)
    cw.store.update_task(cw.get_task("frequent"), anchor)  # as if unchanged since then
    fired = RunCollector()
    cw.on_run(fired)
    real = cw.store.last_occurrences
    seen: list[dict[str, datetime]] = []

    def after_the_first_fire(*args: Any, **kwargs: Any) -> dict[str, datetime]:
        # the order a loaded machine gave: the scheduler's first fire is recorded first
        fired.wait_for(1, "frequent", predicate=lambda r: r.reason == "schedule")
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(cw.store, "last_occurrences", after_the_first_fire)
    cw.start()
    wait_until(lambda: seen, what="the catch-up's look at the history")
    cw.shutdown()  # after the catch-up has recorded what it found
    times = sorted(r.scheduled_for for r in cw.runs("frequent", limit=500))
    assert times[0] == anchor
    assert len(times) >= 5 / 0.25
    missing = [b for a, b in itertools.pairwise(times) if b - a != interval]
    assert not missing  # every occurrence between the anchor and the first fire has its row
    missed = [r for r in cw.runs("frequent", limit=500) if r.status is RunStatus.MISSED]
    assert len(missed) >= 5 / 0.25 - 2
    assert {r.reason for r in missed} == {"scheduler_down"}


def test_a_fleet_after_one_outage_gets_each_task_its_own_rows(cw: Cronwell) -> None:
    """Tasks that share a schedule, a policy and an outage are written as one grid: each
    still gets its own missed rows and catch-up run, and listeners see every row as it
    is stored."""
    collected, missed_only, ran_only = RunCollector(), RunCollector(), RunCollector()
    cw.on_run(collected)
    cw.on_run(missed_only, statuses=[RunStatus.MISSED])
    cw.on_run(ran_only, statuses=["succeeded", "failed"])
    anchor = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    policies = {"fleet-a": "latest", "fleet-b": "latest", "fleet-c": "none"}
    for task_id, policy in policies.items():
        cw.add_task(task_id, schedule=every(minutes=1, anchor=anchor), shell="true", catchup=policy)
    cw.add_task("other", schedule=every(minutes=2, anchor=anchor), shell="true")
    for task_id in [*policies, "other"]:
        _seed_history(cw, task_id, anchor)
        cw.store.update_task(cw.get_task(task_id), anchor)
    cw.start()
    for task_id in ("fleet-a", "fleet-b", "other"):  # fires follow every missed row
        collected.wait_for(1, task_id, predicate=lambda r: r.reason == "catchup")
    cw.shutdown()

    def rows(task_id: str, reason: str) -> list[Run]:
        return [r for r in cw.runs(task_id, limit=100) if r.reason == reason]

    missed = {task_id: rows(task_id, "scheduler_down") for task_id in [*policies, "other"]}
    occurrences = len(missed["fleet-c"])  # 4 or 5 minutes since the anchor, all missed
    assert occurrences in (4, 5)
    for task_id in ("fleet-a", "fleet-b"):
        assert len(missed[task_id]) == occurrences - 1
        assert [r.status for r in rows(task_id, "catchup")] == [RunStatus.SUCCEEDED]
    assert rows("fleet-c", "catchup") == []
    assert len(missed["other"]) == occurrences // 2 - 1
    stored = {r.id: r for task_rows in missed.values() for r in task_rows}
    heard = {r.id: r for r in collected.runs if r.status is RunStatus.MISSED}
    assert heard == stored  # the same ids, tasks, times and fields as read back
    assert {r.id: r for r in missed_only.runs} == stored
    assert {r.status for r in ran_only.runs} == {RunStatus.SUCCEEDED}
    caught_up = sorted(r.task_id for r in ran_only.runs if r.reason == "catchup")
    assert caught_up == ["fleet-a", "fleet-b", "other"]


def test_a_run_listener_asks_for_final_statuses_only(cw: Cronwell) -> None:
    """Listeners hear of runs once they end: a status that does not exist, one a run does
    not end in, or none at all is refused with the statuses it could ask for; a single
    status is one status, not its letters."""
    final = "succeeded, failed, timed_out, skipped, missed, abandoned, interrupted"
    for statuses in (["missed", "succeded"], ["running"], []):
        with pytest.raises(InvalidInputError, match=rf"ask for {final}[;,] not"):
            cw.on_run(RunCollector(), statuses=statuses)
    cw.on_run(RunCollector(), statuses="failed")
    cw.on_run(RunCollector(), statuses=RunStatus.TIMED_OUT)


def test_a_long_outage_writes_a_bounded_number_of_rows(cw: Cronwell) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(days=2)).replace(microsecond=0)
    cw.add_task("secondly", schedule=every(seconds=1, anchor=start), shell="true", catchup="none")
    _seed_history(cw, "secondly", start)
    cw.store.update_task(cw.get_task("secondly"), start)
    cw.start()
    cw.shutdown()
    rows = [r for r in cw.runs("secondly", limit=10_000) if r.status is RunStatus.MISSED]
    assert 100 <= len(rows) <= 102
    summary = min(rows, key=lambda r: r.scheduled_for)
    assert "summed up in this row" in (summary.error or "")
    assert summary.scheduled_for == start + timedelta(seconds=1)


def test_paused_occurrences_are_recorded_skipped_on_resume(cw: Cronwell) -> None:
    now = datetime.now(UTC)
    anchor = (now - timedelta(minutes=30)).replace(microsecond=0)
    cw.add_task("napping", schedule=every(minutes=5, anchor=anchor), shell="true")
    cw.pause("napping")
    paused = cw.get_task("napping")
    cw.store.set_enabled("napping", False, anchor)  # as if paused half an hour ago
    del paused
    cw.resume("napping")
    skipped = [r for r in cw.runs("napping") if r.status is RunStatus.SKIPPED]
    assert len(skipped) == 6
    assert {r.reason for r in skipped} == {"paused"}


def test_resume_with_catch_up_runs_the_latest(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    now = datetime.now(UTC)
    anchor = (now - timedelta(minutes=30)).replace(microsecond=0)
    cw.add_task("napping", schedule=every(minutes=5, anchor=anchor), shell="true")
    cw.store.set_enabled("napping", False, anchor)
    cw.start()
    cw.resume("napping", catch_up=True)
    run = collected.wait_for(1, "napping", predicate=lambda r: r.reason == "catchup")[0]
    assert run.status is RunStatus.SUCCEEDED
    assert len([r for r in cw.runs("napping") if r.status is RunStatus.SKIPPED]) == 5


def test_shutdown_grace_then_interrupted(cw: Cronwell) -> None:
    collected = RunCollector()
    cw.on_run(collected)
    cw.settings.shutdown_grace = 0.3
    cw.add_task("stuck", schedule=every(hours=1), shell="sleep 30")
    cw.start()
    cw.engine.fire_now("stuck")
    wait_until(lambda: cw.dispatcher.running_runs(), what="the command to start")
    cw.shutdown()
    (run,) = cw.runs("stuck")
    assert run.status is RunStatus.INTERRUPTED and run.reason == "shutdown"
    assert cw.service.list_runs(status=RunStatus.RUNNING) == []


def test_maintenance_task_prunes_history(cw: Cronwell) -> None:
    old = datetime.now(UTC) - timedelta(days=200)
    cw.service  # noqa: B018 - opens and migrates the database
    _seed_history(cw, "ancient", old - timedelta(days=1))
    _seed_history(cw, "ancient", old)
    cw.start()
    maintenance = cw.get_task("cronwell-maintenance")
    assert maintenance.schedule.expression() == "17 3 * * *"
    run = cw.run_now("cronwell-maintenance")
    assert run.status is RunStatus.SUCCEEDED
    assert run.counters == {"deleted": 1}
    # the newest run stays whatever its age: it marks where catch-up picks up
    assert [r.scheduled_for for r in cw.runs("ancient")] == [old]


def test_task_statistics(cw: Cronwell) -> None:
    cw.add_task("mixed", schedule=every(hours=1), func=flaky_once)
    cw.run_now("mixed")  # attempt 1 fails
    cw.add_task("good", schedule=every(hours=1), shell="true")
    for _ in range(3):
        cw.run_now("good")
    good = cw.task_stats("good")
    assert good.runs == 3 and good.succeeded == 3 and good.success_rate == 1.0
    assert good.p95_duration is not None and good.last_success is not None
    mixed = cw.task_stats("mixed")
    assert mixed.failed == 1 and mixed.success_rate == 0.0
    assert mixed.last_failure is not None and mixed.consecutive_failures == 1


def test_a_task_definition_round_trips_its_policies() -> None:
    task = Task.parse(
        {
            "id": "policies",
            "schedule": {"kind": "cron", "cron": "*/5 * * * *"},
            "action": {"kind": "shell", "command": "true"},
            "timeout": "15m",
            "retries": 3,
            "retry_delay": "5m",
            "overlap": "queue_one",
            "catchup": "all",
            "catchup_window": "1h",
            "max_consecutive_failures": 5,
        }
    )
    assert task.timeout == 900 and task.retry_delay == 300 and task.catchup_window == 3600
    assert Task.model_validate_json(task.model_dump_json()) == task


def test_a_function_ignoring_its_deadline_is_timed_out_and_frees_its_slot(cw: Cronwell) -> None:
    release = threading.Event()
    collected = RunCollector()
    cw.on_run(collected)
    cw.add_task("stubborn", schedule=every(hours=1), func=lambda: release.wait(30), timeout="200ms")
    cw.start()
    cw.engine.fire_now("stubborn")
    run = collected.wait_for(1, "stubborn")[0]
    assert run.status is RunStatus.TIMED_OUT
    assert "still runs in its thread" in (run.error or "")
    assert cw.dispatcher.running_count("stubborn") == 0
    release.set()
    cw.shutdown()
    assert cw.store.get_run(run.id).status is RunStatus.TIMED_OUT  # the late result is ignored


def test_manual_runs_do_not_hide_an_outage(cw: Cronwell) -> None:
    now = datetime.now(UTC)
    anchor = (now - timedelta(minutes=10)).replace(microsecond=0)
    cw.add_task(
        "hourly-ish", schedule=every(minutes=2, anchor=anchor), shell="true", catchup="none"
    )
    _seed_history(cw, "hourly-ish", anchor)
    cw.store.update_task(cw.get_task("hourly-ish"), anchor)
    cw.run_now("hourly-ish")  # during the "outage"
    cw.start()
    cw.shutdown()
    missed = [r for r in cw.runs("hourly-ish", limit=100) if r.status is RunStatus.MISSED]
    assert len(missed) == 5


class _Recorder:
    """Stands in for the dispatcher in a catch-up: notes what it is handed, in order."""

    stores_beside_writer = False  # the writer stores the rows, as on SQLite

    def hand_over(self, backlogs: list[Any], tasks: Any, cancel: Any = None) -> None:
        catchup.hand_over(self, backlogs, tasks, cancel, self.sizes)  # type: ignore[arg-type]

    def __init__(self, sizes: CatchUpSizes) -> None:
        self.sizes = sizes
        self.calls: list[tuple[str, list[str]]] = []

    def record(self, grid: RunGrid, tasks: object = None, cancel: object = None) -> bool:
        self.calls.append(("rows", sorted(set(grid.task_ids))))
        return True

    def start_behind(self, fires: list[Fire], chunk: int = 1000, cancel: object = None) -> bool:
        self.calls.append(("runs", [fire.task.id for fire in fires]))
        return True


def _catch_up_fleet_and_frequent_task(store: Store, sizes: CatchUpSizes) -> list[tuple[str, bool]]:
    """Catch up 300 every-minute tasks and one every-second task after 10 minutes down,
    cut by ``sizes``; each call handed to the dispatcher as (what, whether the frequent
    task is in it)."""
    now = datetime.now(UTC).replace(microsecond=0)

    def stored_task(task_id: str, schedule: object) -> Task:
        task = Task.parse(
            {"id": task_id, "schedule": schedule, "action": {"kind": "shell", "command": "true"}}
        )
        return task.model_copy(update={"updated_at": now - timedelta(minutes=10)})

    fleet = [
        stored_task(f"fleet-{i:04d}", {"kind": "cron", "cron": "* * * * *"}) for i in range(300)
    ]
    frequent = stored_task("frequent", {"kind": "interval", "seconds": 1})
    recorder = _Recorder(sizes)
    catch_up(store, recorder, [*fleet, frequent], now, "t")  # type: ignore[arg-type]
    ran = [task_id for kind, ids in recorder.calls if kind == "runs" for task_id in ids]
    assert sorted(ran) == sorted([task.id for task in fleet] + ["frequent"])
    return [(kind, "frequent" in ids) for kind, ids in recorder.calls]


def test_a_recent_occurrence_is_caught_up_before_a_fleets_rows_are_all_written(
    store: Store,
) -> None:
    """After an outage, an every-second task that came due while the engine started is
    not run behind the missed rows of a fleet of every-minute tasks: the most recent gaps
    come first, and their runs are handed over once their own rows are stored (never
    before: a catch-up cut short must not leave an unrecorded occurrence behind a
    recorded one)."""
    as_if_storing_took_long = CatchUpSizes(hand_over_every=0.0)
    calls = _catch_up_fleet_and_frequent_task(store, as_if_storing_took_long)
    assert calls[:2] == [("rows", True), ("runs", True)]
    fleet_rows = [i for i, (kind, has) in enumerate(calls) if kind == "rows" and not has]
    fleet_runs = [i for i, (kind, has) in enumerate(calls) if kind == "runs" and not has]
    assert len(fleet_rows) > 1
    assert min(fleet_runs) > max(fleet_rows)  # every fleet task's rows before its run


def test_catch_up_runs_are_handed_over_together_when_rows_are_stored_quickly(
    store: Store,
) -> None:
    """Within the hand-over interval, runs whose rows are stored wait for the others: one
    hand-over, after every row, rather than one per gap."""
    calls = _catch_up_fleet_and_frequent_task(store, CatchUpSizes(hand_over_every=3600.0))
    assert [kind for kind, _ in calls].count("runs") == 1
    assert calls[-1] == ("runs", True)


def test_on_postgresql_a_catch_up_stores_rows_beside_the_writer_and_runs_follow_each_chunk(
    postgres_database: str,
) -> None:
    """PostgreSQL takes writers side by side: the catch-up thread stores a chunk of missed
    rows itself, queues that chunk's runs for the writer and goes on with the next chunk.
    Every row and run is recorded, each task's run after all its own rows, early chunks'
    runs before the last chunk's rows, and listeners hear of the rows on the writer."""
    ten_tasks = CatchUpSizes(beside_chunk=90)  # 10 tasks of 9 missed rows a chunk
    cw = Cronwell(postgres_database, timezone="UTC", catchup_sizes=ten_tasks)
    cw.service  # noqa: B018 - the tables, before tasks are stored straight into them
    # the fleet's next occurrence must not fall inside the catch-up: start early in a minute
    assert wait_until(lambda: datetime.now(UTC).second < 50, timeout=15)
    stopped = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    fleet = [
        Task(
            id=f"fleet-{i:03d}",
            schedule=cron("* * * * *"),
            action=PythonAction(func="os:getpid"),
            catchup="latest",
        )
        for i in range(50)
    ]
    cw.store.bulk_insert_tasks(fleet, stopped + timedelta(seconds=1))
    heard_on: set[str] = set()
    cw.on_run(
        lambda run: heard_on.add(threading.current_thread().name), statuses=[RunStatus.MISSED]
    )
    try:
        cw.start()
        assert cw.dispatcher.stores_beside_writer
        wait_until(
            lambda: cw.store.count_runs(status=RunStatus.SUCCEEDED) >= len(fleet), timeout=30
        )
        rows = {task.id: cw.runs(task.id, limit=100) for task in fleet}
    finally:
        cw.shutdown()
    assert heard_on == {"cronwell-writer"}
    missed_ids, run_ids = [], []
    for task_id, runs in rows.items():
        missed = [r.id for r in runs if r.status is RunStatus.MISSED]
        ran = [r.id for r in runs if r.reason == "catchup"]
        assert len(missed) >= 9 and len(ran) == 1, task_id
        assert max(missed) < ran[0], task_id  # a task's run only after all its own rows
        missed_ids += missed
        run_ids += ran
    assert min(run_ids) < max(missed_ids)  # the first chunks ran before the last was stored
