"""Leadership and time on real SQLite and PostgreSQL: other hosts' heartbeats are judged by
the database's clock, a standby reads the lease without writing it, a catch-up ends with
its leader's term, and on PostgreSQL changes made elsewhere arrive by notification."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, PythonAction, RunStatus, Task, cron, every
from cronwell.dispatch import CatchUpSizes
from cronwell.engine import recovery
from cronwell.engine.engine import LEASE
from cronwell.engine.recovery import recover_dead_instances
from cronwell.settings import load_settings
from cronwell.store import ListenRetry, NewRun, Store


def _cronwell(
    url: str,
    instance_id: str,
    *,
    catchup_sizes: CatchUpSizes | None = None,
    listen_retry: ListenRetry | None = None,
    **settings: Any,
) -> Cronwell:
    values: dict[str, Any] = {"poll_interval": 0.05, "lease_ttl": 3.0, **settings}
    return Cronwell(
        settings=load_settings(database_url=url, timezone="UTC", instance_id=instance_id, **values),
        catchup_sizes=catchup_sizes,
        listen_retry=listen_retry,
    )


# -- other hosts' heartbeats, in database time ----------------------------------------------


def test_another_hosts_heartbeat_is_judged_by_the_database_clock(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither the other host's clock nor this one's takes part: an instance heard of just
    now (by the database) is alive though both clocks are minutes off, and one silent for
    longer than ``INSTANCE_TTL`` (by the database) is dead though the clocks say it
    spoke in the future."""
    real_now = datetime.now(UTC)
    store.insert_task(
        Task(id="t", schedule=every(hours=1), action=PythonAction(func="os:getpid")), real_now
    )
    # the other host's clock is five minutes behind, ours five minutes ahead
    store.heartbeat("far", "another-host.example", 4242, real_now - timedelta(minutes=5))
    [run_id] = store.insert_runs(
        [NewRun("t", real_now, status=RunStatus.RUNNING, started_at=real_now, instance_id="far")]
    )
    ahead = real_now + timedelta(minutes=5)
    assert recover_dead_instances(store, "me", ahead, {}) == []
    assert store.get_run(run_id).status is RunStatus.RUNNING

    # then it falls silent; its clock ran ahead and ours behind this time
    store.heartbeat("far", "another-host.example", 4242, real_now + timedelta(minutes=5))
    monkeypatch.setattr(recovery, "INSTANCE_TTL", timedelta(milliseconds=300))
    behind = real_now - timedelta(minutes=5)
    abandoned = wait_until(
        lambda: recover_dead_instances(store, "me", behind, {}),
        what="the silent instance to be found dead",
    )
    assert [run.id for run in abandoned] == [run_id]
    assert store.get_run(run_id).status is RunStatus.ABANDONED


# -- a standby reads the lease ---------------------------------------------------------------


def _lease_statements(store: Store) -> Counter[str]:
    """Counts of statements on the lease table this store sends from now on: ``write``
    (INSERT, UPDATE, DELETE) and ``read``."""
    counts: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sql = statement.lstrip().upper()
        if "CRONWELL_LEASES" in sql:
            writes = sql.startswith(("INSERT", "UPDATE", "DELETE"))
            counts["write" if writes else "read"] += 1

    event.listen(store.database.engine, "before_cursor_execute", count)
    return counts


def test_a_standby_reads_the_lease_without_writing_and_takes_over_when_it_lapses(
    database_url: str,
) -> None:
    holder = Store(database_url)
    holder.upgrade()
    assert holder.acquire_lease(LEASE, "ghost", 60) == (True, "ghost")  # a leader that hangs
    standby = _cronwell(database_url, "standby")
    try:
        standby.start()
        assert not standby.engine.is_leader and standby.engine.leader == "ghost"
        counts = _lease_statements(standby.store)
        wait_until(lambda: counts["read"] >= 20, what="twenty looks at the lease")
        assert counts["write"] == 0
        assert not standby.engine.is_leader
        # the hung leader's lease now lapses (renewed one last time, for a moment)
        assert holder.acquire_lease(LEASE, "ghost", 0.3) == (True, "ghost")
        wait_until(lambda: standby.engine.is_leader, what="the takeover once the lease lapsed")
        assert counts["write"] >= 1
        assert holder.read_lease(LEASE).current_holder == "standby"
    finally:
        standby.close()
        holder.close()


# -- the catch-up ends with its leader's term ------------------------------------------------


def test_a_catch_up_in_progress_stops_when_the_lease_is_lost(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease is taken away while the catch-up is between two chunks of missed rows:
    once the engine stands by, its catch-up stores and starts nothing more."""
    two_tasks = CatchUpSizes(
        record_chunk=18,  # two tasks of nine missed rows
        beside_chunk=18,
        runs_ahead=0,  # a chunk's runs start before the next
    )
    cw = _cronwell(database_url, "lead-a", catchup_sizes=two_tasks)
    cw.service  # noqa: B018 - the tables, before tasks are stored straight into them
    # the fleet's next occurrence must not fall inside the test: start early in a minute
    assert wait_until(lambda: datetime.now(UTC).second < 45, timeout=20)
    stopped = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    fleet = [
        Task(
            id=f"fleet-{i:02d}",
            schedule=cron("* * * * *"),
            action=PythonAction(func="os:getpid"),
            catchup="latest",
        )
        for i in range(20)
    ]
    cw.store.bulk_insert_tasks(fleet, stopped + timedelta(seconds=1))
    blocked, release = threading.Event(), threading.Event()
    real_record = cw.dispatcher.record
    calls = 0

    def slow_record(*args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:  # a slow database, while the lease is taken away
            blocked.set()
            release.wait(30)
        return real_record(*args, **kwargs)

    monkeypatch.setattr(cw.dispatcher, "record", slow_record)
    thief = Store(database_url)
    try:
        cw.start()
        assert cw.engine.is_leader
        catch_up = cw.engine._catchup_thread
        assert catch_up is not None
        assert blocked.wait(20)
        assert thief.acquire_lease(LEASE, "thief", 60, take_from="lead-a") == (True, "thief")
        wait_until(lambda: not cw.engine.is_leader, what="the engine to step down")
        recorded = cw.store.count_runs()
        assert 0 < recorded < len(fleet) * 10  # the catch-up was cut short
        release.set()
        wait_until(lambda: not catch_up.is_alive(), what="the catch-up to end")
        cw.shutdown()  # the writer drains what was queued
        assert cw.store.count_runs() == recorded
        assert cw.engine.leader == "thief"
    finally:
        release.set()
        cw.close()
        thief.close()


# -- a resume is one change -------------------------------------------------------------


def test_a_resume_with_catch_up_stores_its_rows_with_the_resume(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that hears of a resume at once (a notification, a poll) must find the
    paused span's rows with it. Stored afterwards, the engine had already fired the
    latest occurrence as a new one, and the catch-up run of that occurrence was fenced
    out."""
    cw = _cronwell(database_url, "resumer")
    collected = RunCollector()
    cw.on_run(collected)
    anchor = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
    cw.add_task("napping", schedule=every(minutes=5, anchor=anchor), shell="true")
    cw.store.set_enabled("napping", False, anchor)
    real_insert_runs = cw.store.insert_runs

    def after_the_engine_looked(rows: Any) -> Any:  # the slowest moment for rows stored apart
        wait_until(lambda: cw.runs("napping"), timeout=5, what="the engine's own fire")
        return real_insert_runs(rows)

    try:
        cw.start()
        monkeypatch.setattr(cw.store, "insert_runs", after_the_engine_looked)
        cw.resume("napping", catch_up=True)
        [run] = collected.wait_for(1, "napping", predicate=lambda r: r.reason == "catchup")
        assert run.status is RunStatus.SUCCEEDED
        assert run.scheduled_for == anchor + timedelta(minutes=30)
        skipped = [r for r in cw.runs("napping") if r.status is RunStatus.SKIPPED]
        assert len(skipped) == 5
    finally:
        cw.close()


# -- LISTEN/NOTIFY on PostgreSQL --------------------------------------------------------------


@pytest.fixture
def listening_leader(postgres_database: str) -> Iterator[Cronwell]:
    """A leader whose next poll is 30 s away: only a notification explains a pick-up
    before then. A lost listener stays down a second before it reconnects: time for an
    edit while nobody listens."""
    cw = _cronwell(
        postgres_database,
        "listener",
        listen_retry=ListenRetry(first=1.0),
        poll_interval=30.0,
        lease_ttl=90.0,
    )
    cw.start()
    listener = cw.engine._listener
    assert listener is not None
    assert listener.listening.wait(10)
    yield cw
    cw.close()


def _edit_elsewhere(url: str, task_id: str) -> None:
    """Create a task through a store of its own, as a CLI call in another process does."""
    other = Store(url)
    try:
        task = Task(id=task_id, schedule=every(hours=1), action=PythonAction(func="os:getpid"))
        other.insert_task(task, datetime.now(UTC))
    finally:
        other.close()


def _picked_up(cw: Cronwell, task_id: str, timeout: float = 10.0) -> None:
    wait_until(
        lambda: task_id in cw.engine.scheduled_task_ids(),
        timeout=timeout,
        what=f"{task_id} to reach the engine",
    )


def test_on_postgresql_an_edit_elsewhere_is_picked_up_by_notification(
    listening_leader: Cronwell, postgres_database: str
) -> None:
    cw = listening_leader
    for n in range(3):
        _edit_elsewhere(postgres_database, f"notified-{n}")
        _picked_up(cw, f"notified-{n}")
    assert cw.store.bulk_insert_tasks(  # one notification for a whole batch
        [
            Task(id=f"batch-{n}", schedule=every(hours=1), action=PythonAction(func="os:getpid"))
            for n in range(5)
        ],
        datetime.now(UTC),
    )
    _picked_up(cw, "batch-4")


def _terminate(url: str, backend_pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


def test_on_postgresql_a_lost_listener_reconnects_and_reads_what_it_missed(
    listening_leader: Cronwell,
    postgres_database: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The listening connection is killed; a change committed while nobody listens (the
    listener waits a second before it reconnects) is read once the listener is back,
    still long before the next poll."""
    caplog.set_level(logging.INFO, logger="cronwell.store.listen")
    cw = listening_leader
    listener = cw.engine._listener
    assert listener is not None and listener.backend_pid is not None
    _terminate(postgres_database, listener.backend_pid)
    wait_until(lambda: not listener.listening.is_set(), what="the listener to notice")
    _edit_elsewhere(postgres_database, "while-deaf")
    _picked_up(cw, "while-deaf")
    assert listener.connections == 2
    _edit_elsewhere(postgres_database, "after")
    _picked_up(cw, "after")
    actions = [getattr(r, "action", None) for r in caplog.records]
    assert actions.count("change_listener_lost") == 1
    assert actions.count("change_listener_restored") == 1


def test_on_postgresql_polling_still_works_while_the_listener_is_down(
    postgres_database: str,
) -> None:
    stays_down = ListenRetry(first=600.0, last=600.0)
    cw = _cronwell(postgres_database, "poller", listen_retry=stays_down, poll_interval=0.1)
    try:
        cw.start()
        listener = cw.engine._listener
        assert listener is not None and listener.listening.wait(10)
        assert listener.backend_pid is not None
        _terminate(postgres_database, listener.backend_pid)
        wait_until(lambda: not listener.listening.is_set(), what="the listener to notice")
        _edit_elsewhere(postgres_database, "polled")
        _picked_up(cw, "polled")
        assert not listener.listening.is_set()
    finally:
        cw.close()


# -- a new term keeps the runs of the last one -------------------------------------------------


def test_a_leader_that_leads_again_keeps_its_runs_in_flight(database_url: str) -> None:
    """A leader loses its lease while a run is in flight (a stall, an outage) and takes it
    back: the run is this live process's own, not a dead one's leftover, so it is neither
    abandoned nor retried, and it ends as it ran."""
    started, release = threading.Event(), threading.Event()
    cw = _cronwell(database_url, "lead-a")
    collector = RunCollector()
    cw.on_run(collector)

    @cw.task(schedule=every(hours=1), id="slow", retries=1, retry_delay="1s", catchup="none")
    def slow() -> None:
        started.set()
        release.wait(30)

    thief = Store(database_url)
    try:
        cw.start()
        cw.service.queue_run("slow")
        assert started.wait(20), "the run did not start"
        assert thief.acquire_lease(LEASE, "thief", 60, take_from="lead-a") == (True, "thief")
        wait_until(lambda: not cw.engine.is_leader, what="the engine to step down")
        thief.release_lease(LEASE, "thief")
        wait_until(lambda: cw.engine.is_leader, what="the engine to lead again")
        release.set()
        [run] = collector.wait_for(
            1, "slow", timeout=20, predicate=lambda r: r.status is not RunStatus.RUNNING
        )
        assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 1)
        runs = cw.store.list_runs(task_id="slow")
        assert [(r.status, r.attempt) for r in runs] == [(RunStatus.SUCCEEDED, 1)]
    finally:
        release.set()
        cw.close()
        thief.close()
