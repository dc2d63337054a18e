"""The store against real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.dialects import postgresql, sqlite

from cronwell.domain import RunStatus, Task, cron, every
from cronwell.domain.action import PythonAction, ShellAction
from cronwell.errors import (
    DatabaseUnavailableError,
    RunNotFoundError,
    StaleVersionError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.store import NewRun, RunUpdate, Store, display_url, normalize_url
from cronwell.store.tables import VERSION_TABLE, metadata
from cronwell.store.types import UTCDateTime

T = TypeVar("T")

NOW = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
TABLES = {"cronwell_tasks", "cronwell_task_changes", "cronwell_runs"}


def make_task(task_id: str, **fields: Any) -> Task:
    fields.setdefault("schedule", cron("0 8 * * 1-5"))
    fields.setdefault("action", ShellAction(command="echo hello"))
    return Task(id=task_id, **fields)


def run_together(*jobs: Callable[[], T]) -> list[T]:
    """Run ``jobs`` in threads released at the same instant; their results in order."""
    barrier = threading.Barrier(len(jobs))

    def released(job: Callable[[], T]) -> T:
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(released, job) for job in jobs]
        return [future.result(timeout=60) for future in futures]


# -- migrations ---------------------------------------------------------------------------------


def test_upgrade_creates_tables_and_is_idempotent(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cronwell.store")
    store = Store(database_url)
    try:
        assert not store.is_current()
        with pytest.raises(DatabaseUnavailableError, match="cronwell_tasks"):
            store.list_tasks()  # not migrated yet: a sentence, not a driver traceback
        store.upgrade()
        assert store.is_current()
        [record] = [r for r in caplog.records if getattr(r, "action", None)]
        assert record.__dict__["action"] == "database_upgraded"
        assert record.__dict__["from_revision"] is None
        assert record.__dict__["to_revision"] == "0001"
        caplog.clear()
        store.upgrade()  # a second start finds nothing to do
        assert store.is_current()
        assert not [r for r in caplog.records if getattr(r, "action", None)]
        assert store.list_tasks() == []
        engine = create_engine(store.url)
        try:
            inspector = inspect(engine)
            names = set(inspector.get_table_names())
            assert names >= TABLES | {VERSION_TABLE}
            assert "alembic_version" not in names  # never collide with the host app's
            uniques = {
                u["name"]: u["column_names"]
                for u in inspector.get_unique_constraints("cronwell_runs")
            }
            assert uniques["uq_run_occurrence"] == ["task_id", "scheduled_for", "attempt"]
            with engine.connect() as conn:
                versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
            assert [v[0] for v in versions] == ["0001"]
        finally:
            engine.dispose()
    finally:
        store.close()


def test_concurrent_upgrades_do_not_conflict(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    try:
        run_together(first.upgrade, second.upgrade)
        assert first.is_current()
        assert second.is_current()
    finally:
        first.close()
        second.close()


def test_migrations_match_the_tables_module(store: Store) -> None:
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _parent: kind != "table" or name in TABLES,
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


# -- urls and connection failures ---------------------------------------------------------------


def test_url_normalisation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_url("postgres://u:p@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql://u:p@h/db").drivername == "postgresql+psycopg"
    assert display_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    monkeypatch.chdir(tmp_path)
    store = Store("sqlite:///relative.db")
    try:
        assert store.sqlite_path == str(tmp_path / "relative.db")
        assert store.url == f"sqlite:///{tmp_path / 'relative.db'}"
        store.check()
        engine = create_engine(store.url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        finally:
            engine.dispose()
    finally:
        store.close()
    memory = Store("sqlite://")
    assert memory.is_sqlite
    assert memory.sqlite_path is None
    pg = Store("postgresql://u:s3cret@h/db")
    assert not pg.is_sqlite
    assert pg.sqlite_path is None
    assert "s3cret" not in pg.display_url
    assert "s3cret" not in repr(pg)


def test_in_memory_sqlite_is_one_database_for_every_thread() -> None:
    store = Store("sqlite:///:memory:")
    try:
        store.upgrade()
        assert store.sqlite_path is None
        run_together(*[partial(store.insert_task, make_task(f"t{i}"), NOW) for i in range(4)])
        assert store.count_tasks() == 4
        assert store.changes_since(0) == (4, {"t0", "t1", "t2", "t3"})
    finally:
        store.close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql://u:secret@127.0.0.1:1/x", id="postgresql"),
        pytest.param("sqlite:///{tmp}/no/such/dir/x.db", id="sqlite"),
    ],
)
@pytest.mark.parametrize("operation", ["check", "upgrade", "is_current", "list_tasks"])
def test_unreachable_database_is_one_sentence(url: str, operation: str, tmp_path: Path) -> None:
    store = Store(url.format(tmp=tmp_path))
    try:
        with pytest.raises(DatabaseUnavailableError) as caught:
            getattr(store, operation)()
    finally:
        store.close()
    message = str(caught.value)
    assert "\n" not in message
    assert "secret" not in message
    assert message.startswith(f"Cannot reach the database {store.display_url}: ")
    if url.startswith("postgresql"):
        assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
        assert "refused" in message.lower()
    else:
        assert str(tmp_path / "no" / "such" / "dir" / "x.db") in message
        assert "unable to open database file" in message


# -- tasks ---------------------------------------------------------------------------------------


def test_task_insert_get_update_delete(store: Store) -> None:
    later = NOW + timedelta(minutes=5)
    task = make_task("report", name="Daily report", tags=["b", "a"], timezone="Europe/Paris")
    stored = store.insert_task(task, NOW)
    assert (stored.version, stored.created_at, stored.updated_at) == (1, NOW, NOW)
    assert store.get_task("report") == stored
    assert store.find_task("missing") is None

    with pytest.raises(TaskExistsError):
        store.insert_task(make_task("report"), later)
    assert store.get_task("report").name == "Daily report"  # untouched by the failed insert

    changed = make_task("report", name="Renamed", schedule=every(minutes=5))
    updated = store.update_task(changed, later, expected_version=1)
    assert (updated.version, updated.created_at, updated.updated_at) == (2, NOW, later)
    fetched = store.get_task("report")
    assert fetched == updated
    assert fetched.name == "Renamed"
    assert fetched.schedule == every(minutes=5)

    with pytest.raises(StaleVersionError) as stale:
        store.update_task(make_task("report", name="Lost update"), later, expected_version=1)
    assert stale.value.stored_version == 2
    assert stale.value.sent_version == 1
    assert "version 2 is stored, you sent 1" in str(stale.value)
    assert store.get_task("report").name == "Renamed"
    assert store.update_task(make_task("report"), later).version == 3  # no check requested

    with pytest.raises(TaskNotFoundError):
        store.update_task(make_task("ghost"), later)
    with pytest.raises(TaskNotFoundError):
        store.get_task("ghost")

    store.delete_task("report", later)
    assert store.find_task("report") is None
    with pytest.raises(TaskNotFoundError):
        store.delete_task("report", later)


def test_task_definition_round_trips(store: Store) -> None:
    task = make_task(
        "py",
        description="Zürich ☃ report",
        action=PythonAction(func="pkg.mod:func", args=[1, "two"], kwargs={"x": [1.5]}),
        start_date=datetime(2025, 1, 1, 8, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
        jitter="1m",
        max_instances=3,
        enabled=False,
    )
    store.insert_task(task, NOW)
    assert store.get_task("py").definition() == task.definition()


def test_set_enabled(store: Store) -> None:
    store.insert_task(make_task("t"), NOW)
    paused = store.set_enabled("t", False, NOW + timedelta(seconds=1))
    assert not paused.enabled
    assert paused.version == 2
    assert store.get_task("t") == paused
    assert [t.id for t in store.list_tasks(enabled=False)] == ["t"]
    assert store.set_enabled("t", True, NOW + timedelta(seconds=2)).enabled
    assert store.list_tasks(enabled=False) == []
    assert store.get_task("t").version == 3
    with pytest.raises(TaskNotFoundError):
        store.set_enabled("ghost", True, NOW)


def test_list_filters_and_count(store: Store) -> None:
    store.insert_task(make_task("alpha", name="Backup DB", tags=["db", "nightly"]), NOW)
    store.insert_task(make_task("beta", name="Send mail", tags=["mail"], enabled=False), NOW)
    store.insert_task(make_task("gamma", name="Vacuum database", tags=["db"]), NOW)
    store.insert_task(make_task("delta_1", name="x", tags=["d%b", "db2"]), NOW)
    store.insert_task(make_task("delta21", name="y"), NOW)

    def ids(**filters: Any) -> list[str]:
        return [t.id for t in store.list_tasks(**filters)]

    assert ids() == ["alpha", "beta", "delta21", "delta_1", "gamma"]
    assert ids(tag="db") == ["alpha", "gamma"]  # exact tags: not "db2" or "d%b"
    assert ids(tag="d%b") == ["delta_1"]
    assert ids(tag="nope") == []
    assert ids(enabled=False) == ["beta"]
    assert ids(enabled=True, tag="db") == ["alpha", "gamma"]
    assert ids(text="DATABASE") == ["gamma"]  # the name, case-insensitively
    assert ids(text="ta_") == ["delta_1"]  # _ is a character, not a wildcard
    assert ids(text="a", limit=2) == ["alpha", "beta"]
    assert ids(text="a", limit=2, offset=2) == ["delta21", "delta_1"]
    assert ids(offset=4) == ["gamma"]
    assert store.count_tasks() == 5
    assert store.count_tasks(tag="db") == 2
    assert store.count_tasks(enabled=False) == 1
    assert store.count_tasks(text="mail") == 1


def test_change_log(store: Store) -> None:
    assert store.current_revision() == 0
    assert store.changes_since(0) == (0, set())
    store.insert_task(make_task("a"), NOW)
    store.insert_task(make_task("b"), NOW)
    seen = store.current_revision()
    assert seen == 2
    assert store.changes_since(0) == (2, {"a", "b"})
    assert store.changes_since(seen) == (seen, set())

    store.update_task(make_task("a", name="A"), NOW)
    store.set_enabled("b", False, NOW)
    store.delete_task("a", NOW)
    latest, changed = store.changes_since(seen)
    assert latest == store.current_revision() == 5
    assert changed == {"a", "b"}
    assert store.find_task("a") is None  # how a poller tells a deletion

    with pytest.raises(TaskExistsError):
        store.insert_task(make_task("b"), NOW)
    assert store.current_revision() == 5  # a failed change leaves no trace


def test_task_revision_column_follows_the_log(store: Store) -> None:
    store.insert_task(make_task("a"), NOW)
    store.insert_task(make_task("b"), NOW)
    store.set_enabled("a", False, NOW)
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            rows = {
                str(row.id): int(row.revision)
                for row in conn.execute(text("SELECT id, revision FROM cronwell_tasks"))
            }
    finally:
        engine.dispose()
    assert rows == {"a": 3, "b": 2}


def test_bulk_insert(store: Store) -> None:
    tasks = [make_task(f"task-{i:04d}", tags=[f"group{i % 3}"]) for i in range(2000)]
    assert store.bulk_insert_tasks(tasks, NOW) == 2000
    assert store.count_tasks() == 2000
    assert store.count_tasks(tag="group1") == 667
    assert store.get_task("task-1999").version == 1
    latest, changed = store.changes_since(0)
    assert latest == 2000
    assert len(changed) == 2000

    clash = [make_task("fresh-1"), make_task("task-0500"), make_task("fresh-2")]
    with pytest.raises(TaskExistsError) as caught:
        store.bulk_insert_tasks(clash, NOW)
    assert caught.value.task_id == "task-0500"
    with pytest.raises(TaskExistsError):
        store.bulk_insert_tasks([make_task("fresh-1"), make_task("fresh-1")], NOW)
    assert store.count_tasks() == 2000
    assert store.find_task("fresh-1") is None
    assert store.current_revision() == 2000
    assert store.bulk_insert_tasks([], NOW) == 0


# -- time --------------------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(store: Store, database_url: str) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=kolkata)
    stored = store.insert_task(make_task("t"), local)
    fetched = store.get_task("t")
    assert fetched.created_at == local
    assert fetched.created_at is not None
    assert fetched.created_at.tzinfo is UTC
    assert fetched.created_at.microsecond == 999999
    assert stored.created_at == fetched.created_at

    [run_id] = store.insert_runs(
        [NewRun("t", local, status=RunStatus.PENDING, due_at=local + timedelta(microseconds=1))]
    )
    assert run_id is not None
    run = store.get_run(run_id)
    assert run.scheduled_for == local
    assert run.scheduled_for.tzinfo is UTC
    assert store.next_due_at() == datetime(2025, 6, 30, 18, 30, tzinfo=UTC)

    if not store.is_sqlite:  # a session in another zone still reads UTC
        other = Store(database_url + "?options=-c%20timezone%3DAsia%2FTokyo")
        try:
            again = other.get_run(run_id)
            assert again.scheduled_for == local
            assert again.scheduled_for.tzinfo is UTC
        finally:
            other.close()


def test_naive_datetimes_are_rejected(store: Store) -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    with pytest.raises(ValueError, match="naive"):
        store.insert_task(make_task("t"), naive)
    with pytest.raises(ValueError, match="naive"):
        NewRun("t", naive, status=RunStatus.RUNNING)
    with pytest.raises(ValueError, match="naive"):
        store.list_runs(since=naive)
    for dialect in (sqlite.dialect(), postgresql.dialect()):  # type: ignore[no-untyped-call]
        with pytest.raises(ValueError, match="Naive"):
            UTCDateTime().process_bind_param(naive, dialect)
    assert store.count_tasks() == 0


# -- runs: the duplicate fence -----------------------------------------------------------------


def test_insert_runs_fences_duplicates(store: Store) -> None:
    first = store.insert_runs([NewRun("t", NOW, status=RunStatus.RUNNING, started_at=NOW)])
    again = store.insert_runs([NewRun("t", NOW, status=RunStatus.RUNNING, reason="double")])
    assert first[0] is not None
    assert again == [None]
    assert store.count_runs() == 1
    assert store.get_run(first[0]).reason is None  # the duplicate changed nothing


def test_insert_runs_mixed_batch(store: Store) -> None:
    [existing] = store.insert_runs([NewRun("t", NOW, status=RunStatus.RUNNING)])
    later = NOW + timedelta(minutes=1)
    batch = [
        NewRun("t", later, status=RunStatus.RUNNING),  # new
        NewRun("t", NOW, status=RunStatus.RUNNING),  # duplicate of the stored row
        NewRun("t", NOW, attempt=2, status=RunStatus.PENDING, due_at=later),  # new attempt
        NewRun("u", NOW, status=RunStatus.SKIPPED, reason="max_instances"),  # other task
        NewRun("t", later, status=RunStatus.MISSED),  # repeats the first row of the batch
    ]
    ids = store.insert_runs(batch)
    assert ids[1] is None
    assert ids[4] is None
    new_ids = [ids[0], ids[2], ids[3]]
    assert all(isinstance(i, int) for i in new_ids)
    assert len({existing, *new_ids}) == 4
    assert store.count_runs() == 4
    for run_id, row in zip(ids, batch, strict=True):
        if run_id is not None:
            run = store.get_run(run_id)
            assert (run.task_id, run.scheduled_for, run.attempt) == row.key
            assert run.status == row.status
            assert run.reason == row.reason
    assert store.insert_runs([]) == []


def test_insert_runs_fence_holds_across_concurrent_stores(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    first.upgrade()
    try:
        occurrences = [NOW + timedelta(minutes=i) for i in range(40)]

        def one_by_one(store: Store, order: list[datetime]) -> dict[datetime, int | None]:
            return {
                when: store.insert_runs([NewRun("t", when, status=RunStatus.RUNNING)])[0]
                for when in order
            }

        a, b = run_together(
            lambda: one_by_one(first, occurrences),
            lambda: one_by_one(second, occurrences[::-1]),
        )
        for when in occurrences:
            assert (a[when] is None) != (b[when] is None), when

        batch = [NewRun("batch", when, status=RunStatus.RUNNING) for when in occurrences]
        c, d = run_together(lambda: first.insert_runs(batch), lambda: second.insert_runs(batch))
        for left, right in zip(c, d, strict=True):
            assert (left is None) != (right is None)
        assert first.count_runs(task_id="t") == 40
        assert first.count_runs(task_id="batch") == 40
    finally:
        first.close()
        second.close()


# -- runs: outcomes and queries ----------------------------------------------------------------


def test_finish_run_round_trips_every_field(store: Store) -> None:
    [run_id] = store.insert_runs(
        [NewRun("t", NOW, status=RunStatus.RUNNING, reason="manual", instance_id="host-1")]
    )
    assert run_id is not None
    started = NOW + timedelta(seconds=1)
    store.mark_started(run_id, started)
    output = "héllo → wörld ✓ 日本語 🎉\nsecond line\x1b[0m"
    store.finish_run(
        run_id,
        status=RunStatus.FAILED,
        finished_at=NOW + timedelta(seconds=3, microseconds=5),
        duration=2.000005,
        error="ValueError: boom",
        traceback='Traceback (most recent call last):\n  File "x.py"\nValueError: boom',
        output=output,
        return_value="{'rows': 3}",
        counters={"rows": 3.0, "bytes": 1.5e9},
    )
    run = store.get_run(run_id)
    assert run.status is RunStatus.FAILED
    assert run.started_at == started
    assert run.finished_at == NOW + timedelta(seconds=3, microseconds=5)
    assert run.duration == pytest.approx(2.000005)
    assert run.error == "ValueError: boom"
    assert run.traceback is not None
    assert run.traceback.endswith("ValueError: boom")
    assert run.output == output
    assert run.return_value == "{'rows': 3}"
    assert run.counters == {"rows": 3.0, "bytes": 1.5e9}
    assert run.reason == "manual"  # kept: none was given
    assert run.instance_id == "host-1"
    assert run.occurrence_key == "t@2025-03-04T05:06:07.123456Z"

    with pytest.raises(RunNotFoundError):
        store.finish_run(999_999, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=None)
    with pytest.raises(RunNotFoundError):
        store.mark_started(999_999, NOW)
    with pytest.raises(RunNotFoundError):
        store.get_run(999_999)


def test_finish_runs_in_one_batch(store: Store) -> None:
    ids = store.insert_runs(
        [NewRun(f"t{i}", NOW, status=RunStatus.RUNNING, reason="schedule") for i in range(3)]
    )
    a, b, c = (i for i in ids if i is not None)
    store.finish_runs(
        [
            RunUpdate(a, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=0.5, output="ok"),
            RunUpdate(
                b,
                status=RunStatus.TIMED_OUT,
                finished_at=NOW,
                duration=30.0,
                error="timed out after 30s",
                reason="timeout",
                counters={"n": 1},
            ),
            RunUpdate(999_999, status=RunStatus.FAILED, finished_at=NOW, duration=None),
        ]
    )
    first, second, third = store.get_run(a), store.get_run(b), store.get_run(c)
    assert (first.status, first.output, first.duration, first.reason) == (
        RunStatus.SUCCEEDED,
        "ok",
        0.5,
        "schedule",
    )
    assert first.counters == {}
    assert (second.status, second.error, second.reason, second.counters) == (
        RunStatus.TIMED_OUT,
        "timed out after 30s",
        "timeout",
        {"n": 1},
    )
    assert third.status is RunStatus.RUNNING
    assert third.finished_at is None
    store.finish_runs([])


def test_list_runs_order_and_filters(store: Store) -> None:
    t0 = NOW
    rows = [
        NewRun("a", t0, status=RunStatus.SUCCEEDED),
        NewRun("a", t0 + timedelta(hours=1), status=RunStatus.FAILED),
        NewRun("a", t0 + timedelta(hours=1), attempt=2, status=RunStatus.SUCCEEDED),
        NewRun("b", t0 + timedelta(hours=2), status=RunStatus.MISSED, reason="late"),
        NewRun("b", t0 - timedelta(hours=1), status=RunStatus.SKIPPED),
    ]
    ids = store.insert_runs(rows)

    def listed(**filters: Any) -> list[int]:
        return [run.id for run in store.list_runs(**filters)]

    # newest scheduled_for first; the retry (higher id) before its first attempt
    assert listed() == [ids[3], ids[2], ids[1], ids[0], ids[4]]
    assert listed(task_id="a") == [ids[2], ids[1], ids[0]]
    assert listed(status=RunStatus.SUCCEEDED) == [ids[2], ids[0]]
    assert listed(status=[RunStatus.MISSED, RunStatus.FAILED]) == [ids[3], ids[1]]
    assert listed(since=t0, until=t0 + timedelta(hours=2)) == [ids[2], ids[1], ids[0]]
    assert listed(limit=2) == [ids[3], ids[2]]
    assert listed(limit=2, offset=2) == [ids[1], ids[0]]
    assert listed(task_id="nobody") == []
    assert store.count_runs() == 5
    assert store.count_runs(task_id="b") == 2
    assert store.count_runs(status=[RunStatus.SUCCEEDED, RunStatus.SKIPPED]) == 3
    assert store.count_runs(since=t0 + timedelta(hours=1)) == 3
    assert [r.id for r in store.runs_in_status(RunStatus.SUCCEEDED)] == [ids[0], ids[2]]


def test_runs_outlive_their_task_until_pruned(store: Store) -> None:
    store.insert_task(make_task("t"), NOW)
    old = NOW - timedelta(days=40)
    ids = store.insert_runs(
        [
            NewRun("t", old, status=RunStatus.SUCCEEDED),
            NewRun("t", old + timedelta(minutes=1), status=RunStatus.PENDING, due_at=NOW),
            NewRun("t", NOW, status=RunStatus.SUCCEEDED),
        ]
    )
    store.delete_task("t", NOW)
    assert store.count_runs(task_id="t") == 3
    assert store.prune_runs(NOW - timedelta(days=30)) == 1  # the pending one stays
    assert [r.id for r in store.list_runs()] == [ids[2], ids[1]]


# -- runs: claiming due retries ----------------------------------------------------------------


def test_claim_due_runs(store: Store) -> None:
    assert store.next_due_at() is None
    due = [NOW - timedelta(seconds=s) for s in (30, 10, 20)]
    rows = [
        NewRun("t", NOW - timedelta(minutes=i), attempt=2, status=RunStatus.PENDING, due_at=d)
        for i, d in enumerate(due)
    ]
    rows.append(
        NewRun("t", NOW, attempt=3, status=RunStatus.PENDING, due_at=NOW + timedelta(seconds=1))
    )
    ids = [i for i in store.insert_runs(rows) if i is not None]
    assert len(ids) == 4
    assert store.next_due_at() == NOW - timedelta(seconds=30)

    claimed = store.claim_due_runs(NOW, "host-1", limit=2)
    assert [r.id for r in claimed] == [ids[0], ids[2]]  # earliest due first
    assert all(r.status is RunStatus.RUNNING for r in claimed)
    assert all(r.started_at == NOW and r.instance_id == "host-1" for r in claimed)
    assert store.get_run(ids[0]).status is RunStatus.RUNNING

    assert [r.id for r in store.claim_due_runs(NOW, "host-2")] == [ids[1]]
    assert store.claim_due_runs(NOW, "host-2") == []
    assert store.next_due_at() == NOW + timedelta(seconds=1)
    assert [r.id for r in store.claim_due_runs(NOW + timedelta(seconds=1), "h")] == [ids[3]]
    assert store.next_due_at() is None
    assert len(store.runs_in_status(RunStatus.RUNNING)) == 4


def test_concurrent_claims_never_double_claim(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    first.upgrade()
    try:
        rows = [
            NewRun(
                f"t{i % 7}",
                NOW + timedelta(seconds=i),
                status=RunStatus.PENDING,
                due_at=NOW - timedelta(seconds=i % 13),
            )
            for i in range(200)
        ]
        assert None not in first.insert_runs(rows)

        def drain(store: Store, instance: str) -> list[int]:
            got: list[int] = []
            while True:
                batch = store.claim_due_runs(NOW, instance, limit=7)
                got.extend(run.id for run in batch)
                if not batch and store.count_runs(status=RunStatus.PENDING) == 0:
                    return got

        a, b = run_together(lambda: drain(first, "one"), lambda: drain(second, "two"))
        assert not set(a) & set(b)
        assert len(a) + len(b) == 200
        assert len(set(a) | set(b)) == 200
        owners = {run.id: run.instance_id for run in first.list_runs(limit=500)}
        assert all(owners[i] == "one" for i in a)
        assert all(owners[i] == "two" for i in b)
    finally:
        first.close()
        second.close()
