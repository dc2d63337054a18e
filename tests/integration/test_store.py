"""The store against real databases: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import Engine, bindparam, create_engine, event, inspect, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from tests.support.store import next_due_at, runs_in_status

from cronwell.domain import Run, RunStatus, Task, cron, every
from cronwell.domain.action import PythonAction, ShellAction
from cronwell.domain.stats import TaskStats
from cronwell.errors import (
    DatabaseUnavailableError,
    RunNotFoundError,
    StaleVersionError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.store import NewRun, RunGrid, RunUpdate, Store, display_url, normalize_url
from cronwell.store.database import MIGRATIONS_DIR
from cronwell.store.tables import VERSION_TABLE, metadata
from cronwell.store.types import UTCDateTime

T = TypeVar("T")

NOW = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
TABLES = {
    "cronwell_tasks",
    "cronwell_task_changes",
    "cronwell_runs",
    "cronwell_instances",
    "cronwell_notifications",
    "cronwell_leases",
}
HEAD = "0010"


def make_task(task_id: str, **fields: Any) -> Task:
    fields.setdefault("schedule", cron("0 8 * * 1-5"))
    fields.setdefault("action", ShellAction(command="echo hello"))
    return Task(id=task_id, **fields)


def raw(store: Store, sql: str, **params: Any) -> list[Any]:
    """Rows of ``sql`` run on ``store``'s database outside the store."""
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        engine.dispose()


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
        assert record.__dict__["to_revision"] == HEAD
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
            assert [v[0] for v in versions] == [HEAD]
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


# PostgreSQL's own indexes (GIN), made by the migrations, so not in the tables module; the
# trigram one only where pg_trgm can be installed.
OPTIONAL_INDEXES = {"ix_cronwell_tasks_tags", "ix_cronwell_tasks_text"}


def test_migrations_match_the_tables_module(store: Store) -> None:
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _parent: (
                        (kind != "table" or name in TABLES) and name not in OPTIONAL_INDEXES
                    ),
                },
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_postgresql_has_gin_indexes_for_tags_and_text(store: Store) -> None:
    if store.is_sqlite:
        pytest.skip("GIN indexes are PostgreSQL's")
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:  # pg_trgm is installable on this machine's server
            found = dict(
                conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE indexname IN ('ix_cronwell_tasks_tags', 'ix_cronwell_tasks_text')"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    assert "gin (((tags)::jsonb))" in found["ix_cronwell_tasks_tags"]
    assert "gin_trgm_ops" in found["ix_cronwell_tasks_text"]


def test_the_run_index_dropped_by_0005_comes_back_on_downgrade(store: Store) -> None:
    """0005 drops the index on (task_id, scheduled_for), which the fence's index serves;
    a downgrade puts it back, and upgrading again drops it again."""
    engine = create_engine(store.url)

    def run_indexes() -> set[str]:
        return {str(i["name"]) for i in inspect(engine).get_indexes("cronwell_runs")}

    def migrate(step: Callable[[Config, str], None], revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            step(config, revision)

    try:
        assert "ix_cronwell_runs_task_id_scheduled_for" not in run_indexes()
        migrate(command.downgrade, "0004")
        assert "ix_cronwell_runs_task_id_scheduled_for" in run_indexes()
        migrate(command.upgrade, "head")
        assert "ix_cronwell_runs_task_id_scheduled_for" not in run_indexes()
        assert {"ix_cronwell_runs_status_due_at", "ix_cronwell_runs_scheduled_for"} <= run_indexes()
    finally:
        engine.dispose()


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


def test_a_fleet_reads_back_as_validated_sharing_its_definition(store: Store) -> None:
    """Tasks that differ only in id and name are read with one prepared definition: each
    still equals its validated self and has lists of its own. Names that look like JSON
    do not confuse the reading of the stored text."""
    names = ["plain", 'quote " and ,"description":"x', "back\\slash\\", "Zürich ☃"]
    fleet = [
        make_task(f"fleet-{i}", name=name, tags=["team"], retry_on=["ValueError"])
        for i, name in enumerate(names)
    ]
    store.bulk_insert_tasks(fleet, NOW)
    read = {task.id: task for task in store.list_tasks()}
    for task in fleet:
        assert read[task.id].definition() == task.definition()
        assert tuple(read[task.id].__dict__) == tuple(Task.model_fields)
    first, second = read["fleet-0"], read["fleet-1"]
    assert first.schedule is second.schedule and first.timezone is second.timezone
    assert first.tags == second.tags and first.tags is not second.tags
    assert first.retry_on is not second.retry_on
    assert first.alerts == [] and first.alerts is not second.alerts  # empty ones too


def test_failure_streaks_reset_for_many_tasks_at_once(store: Store) -> None:
    """A burst's successes reset the streaks of every task that had one, in one call,
    however many tasks it names; the counts they had come back."""
    store.bulk_insert_tasks([make_task(f"streak-{i:04d}") for i in range(1200)], NOW)
    failing = [f"streak-{i:04d}" for i in range(0, 1200, 7)]
    for task_id in failing:
        store.record_occurrence_result(task_id, True)
    store.record_occurrence_result("streak-0007", True)
    named = [f"streak-{i:04d}" for i in range(1200)] + ["streak-0007", "no-such-task"]
    assert store.reset_failure_streaks(named) == {
        task_id: 2 if task_id == "streak-0007" else 1 for task_id in failing
    }
    assert store.reset_failure_streaks(failing) == {}
    assert store.get_task("streak-0007").consecutive_failures == 0


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
    assert next_due_at(store) == datetime(2025, 6, 30, 18, 30, tzinfo=UTC)

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
        with pytest.raises(ValueError, match=r"naive; pass an aware datetime \(e\.g\."):
            UTCDateTime().process_bind_param(naive, dialect)
        write = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert write is not None
        with pytest.raises(ValueError, match="naive"):  # SQLite's one-step text too
            write(naive)
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


def test_an_unrun_grid_writes_each_row_for_each_task_and_fences_taken_keys(
    store: Store,
) -> None:
    earlier, later = NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)
    (taken,) = store.insert_runs([NewRun("b", later, status=RunStatus.RUNNING)])

    def missed(when: datetime, error: str) -> NewRun:
        return NewRun(
            "",
            when.astimezone(timezone(timedelta(hours=2))),  # stored in UTC like any row
            status=RunStatus.MISSED,
            reason="scheduler_down",
            finished_at=NOW,
            error=error,
            instance_id="here",
        )

    rows = [missed(earlier, "first"), missed(later, "second"), missed(later, "repeated")]
    inserted = store.insert_grid(RunGrid(["c", "a", "b", "a"], rows))

    assert sorted((task_id, index) for _, task_id, index in inserted) == [
        ("a", 0),
        ("a", 1),
        ("b", 0),
        ("c", 0),
        ("c", 1),
    ]
    for run_id, task_id, index in inserted:
        run = store.get_run(run_id)
        assert (run.task_id, run.scheduled_for, run.error) == (
            task_id,
            rows[index].scheduled_for,
            ["first", "second"][index],
        )
        assert (run.status, run.reason, run.finished_at, run.instance_id, run.attempt) == (
            RunStatus.MISSED,
            "scheduler_down",
            NOW,
            "here",
            1,
        )
    assert store.get_run(taken).status is RunStatus.RUNNING  # the taken key kept its row
    assert store.insert_grid(RunGrid(["a"], rows)) == []
    assert store.insert_grid(RunGrid([], rows)) == []


def test_an_unrun_grid_larger_than_one_statement(store: Store) -> None:
    times = [NOW - timedelta(minutes=m) for m in range(1, 4)]
    rows = [NewRun("", when, status=RunStatus.MISSED, finished_at=NOW) for when in times]
    ids = [f"fleet-{i:04d}" for i in range(1500)]  # 4,500 rows: several statements
    inserted = store.insert_grid(RunGrid(ids, rows))
    assert len(inserted) == 4500
    assert len({run_id for run_id, _, _ in inserted}) == 4500
    assert store.count_runs(task_id="fleet-1499", status=RunStatus.MISSED) == 3


def test_a_grid_is_fenced_by_the_rows_of_another(store: Store) -> None:
    running = NewRun("", NOW, status=RunStatus.RUNNING, reason="schedule", started_at=NOW)
    skipped = NewRun("", NOW, status=RunStatus.SKIPPED, reason="overlap", finished_at=NOW)
    first = store.insert_grid(RunGrid(["a", "b"], [running]))
    second = store.insert_grid(RunGrid(["b", "c"], [skipped]))
    assert sorted(task_id for _, task_id, _ in first) == ["a", "b"]
    assert [task_id for _, task_id, _ in second] == ["c"]  # b's occurrence was taken
    assert store.get_run(second[0][0]).status is RunStatus.SKIPPED


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL statements any engine sends through its driver while the block runs (what
    PostgreSQL's ``COPY`` writes goes around them)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _inserts_of_runs(sent: list[str]) -> list[str]:
    return [s for s in sent if s.startswith("INSERT INTO cronwell_runs")]


BULK_TEMPLATE = [
    NewRun(
        "",
        NOW - timedelta(minutes=2),
        attempt=2,
        status=RunStatus.PENDING,
        reason="retry",
        due_at=NOW + timedelta(seconds=5, microseconds=250),
        instance_id="hôte-1",
    ),
    NewRun(
        "",
        NOW - timedelta(minutes=1),
        status=RunStatus.MISSED,
        reason="scheduler_down",
        finished_at=NOW,
        error="Not run: ✓ 日本語",
    ),
]
BULK_FLEET = [f"fleet-{i:04d}" for i in range(1200)]  # 2,400 rows: PostgreSQL copies them


def test_a_grid_written_in_bulk_reads_back_as_one_written_row_by_row(store: Store) -> None:
    small = store.insert_grid(RunGrid(["small"], BULK_TEMPLATE))
    with statements_sent() as sent:
        large = store.insert_grid(RunGrid(BULK_FLEET[::-1], BULK_TEMPLATE))
    if not store.is_sqlite:
        assert _inserts_of_runs(sent) == []  # copied, not inserted row by row

    assert len(large) == 2400
    assert len({run_id for run_id, _, _ in large}) == 2400
    assert [(task_id, index) for _, task_id, index in large[:4]] == [
        ("fleet-0000", 0),
        ("fleet-0000", 1),
        ("fleet-0001", 0),
        ("fleet-0001", 1),
    ]  # key order, as a row-by-row insert takes them

    def fields(run: Run) -> dict[str, Any]:
        return run.model_dump(exclude={"id", "task_id"})

    expected = {index: fields(store.get_run(run_id)) for run_id, _, index in small}
    sample = large[::101] + large[-1:]
    for run_id, task_id, index in sample:
        run = store.get_run(run_id)
        assert run.task_id == task_id
        assert fields(run) == expected[index]
    pending_due = text("SELECT DISTINCT due_at FROM cronwell_runs WHERE attempt = 2")
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            due = conn.execute(pending_due.columns(due_at=UTCDateTime())).scalars().all()
    finally:
        engine.dispose()
    assert due == [NOW + timedelta(seconds=5, microseconds=250)]  # to the microsecond
    assert store.count_runs(task_id="fleet-1199") == 2
    assert store.count_runs() == 2402


def test_a_grid_written_in_bulk_is_fenced_by_a_taken_key(store: Store) -> None:
    taken = BULK_TEMPLATE[1]
    (running,) = store.insert_runs(
        [NewRun("fleet-0500", taken.scheduled_for, status=RunStatus.RUNNING)]
    )
    with statements_sent() as sent:
        inserted = store.insert_grid(RunGrid(BULK_FLEET, BULK_TEMPLATE))
    if not store.is_sqlite:  # the copy was refused whole and the rows went one by one
        assert len(_inserts_of_runs(sent)) == 1

    assert len(inserted) == 2399
    assert ("fleet-0500", 1) not in {(task_id, index) for _, task_id, index in inserted}
    assert store.get_run(running).status is RunStatus.RUNNING  # the taken key kept its row
    assert store.count_runs(task_id="fleet-0500") == 2
    assert store.count_runs() == 2400


def test_a_grid_written_in_bulk_twice_at_once_stores_each_row_once(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    first.upgrade()
    try:
        a, b = run_together(
            lambda: first.insert_grid(RunGrid(BULK_FLEET, BULK_TEMPLATE)),
            lambda: second.insert_grid(RunGrid(BULK_FLEET, BULK_TEMPLATE)),
        )
        keys = [(task_id, index) for _, task_id, index in a + b]
        assert len(keys) == len(set(keys)) == 2400
        assert first.count_runs() == 2400
    finally:
        first.close()
        second.close()


def test_finish_runs_takes_whole_and_fractional_durations_together(store: Store) -> None:
    ids = store.insert_runs([NewRun(f"d{i}", NOW, status=RunStatus.RUNNING) for i in range(2)])
    whole, fractional = (i for i in ids if i is not None)
    store.finish_runs(
        [
            RunUpdate(whole, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=1),
            RunUpdate(fractional, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=1.5),
        ]
    )
    assert (store.get_run(whole).duration, store.get_run(fractional).duration) == (1.0, 1.5)


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


def test_finish_runs_keeps_a_recorded_outcome_and_the_first_of_two(store: Store) -> None:
    ids = store.insert_runs(
        [NewRun(f"u{i}", NOW, status=RunStatus.RUNNING, reason="schedule") for i in range(2)]
    )
    twice, done = (i for i in ids if i is not None)
    store.finish_runs([RunUpdate(done, status=RunStatus.ABANDONED, finished_at=NOW, duration=None)])
    store.finish_runs(
        [
            RunUpdate(
                twice, status=RunStatus.FAILED, finished_at=NOW, duration=1.0, error="a\x00b"
            ),
            RunUpdate(twice, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=2.0),
            RunUpdate(done, status=RunStatus.SUCCEEDED, finished_at=NOW, duration=3.0),
        ]
    )
    first = store.get_run(twice)
    assert (first.status, first.duration, first.error) == (RunStatus.FAILED, 1.0, "a\ufffdb")
    assert store.get_run(done).status is RunStatus.ABANDONED


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
    assert [r.id for r in runs_in_status(store, RunStatus.SUCCEEDED)] == [ids[0], ids[2]]


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
    assert next_due_at(store) is None
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
    assert next_due_at(store) == NOW - timedelta(seconds=30)

    claimed = store.claim_due_runs(NOW, "host-1", limit=2)
    assert [r.id for r in claimed] == [ids[0], ids[2]]  # earliest due first
    assert all(r.status is RunStatus.RUNNING for r in claimed)
    assert all(r.started_at == NOW and r.instance_id == "host-1" for r in claimed)
    assert store.get_run(ids[0]).status is RunStatus.RUNNING

    assert [r.id for r in store.claim_due_runs(NOW, "host-2")] == [ids[1]]
    assert store.claim_due_runs(NOW, "host-2") == []
    assert next_due_at(store) == NOW + timedelta(seconds=1)
    assert [r.id for r in store.claim_due_runs(NOW + timedelta(seconds=1), "h")] == [ids[3]]
    assert next_due_at(store) is None
    assert len(runs_in_status(store, RunStatus.RUNNING)) == 4


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


# -- 0001 -> 0002: an existing database keeps its data -----------------------------------------

# Fields a task definition stored by 0001-era code does not have.
_NEWER_FIELDS = {
    "timeout",
    "retries",
    "retry_delay",
    "retry_max_delay",
    "retry_jitter",
    "retry_on",
    "overlap",
    "catchup",
    "catchup_window",
    "max_consecutive_failures",
}


def test_upgrade_from_0001_keeps_tasks_and_runs(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(database_url)
    engine = create_engine(store.url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("cronwell_tasks")}
        assert "consecutive_failures" not in columns
        assert "cronwell_instances" not in inspect(engine).get_table_names()

        old = make_task("old", name="Old one", tags=["x"]).definition()
        definition = {k: v for k, v in old.items() if k not in _NEWER_FIELDS}
        at = bindparam("at", type_=UTCDateTime())
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO cronwell_task_changes (task_id, changed_at) VALUES ('old', :at)"
                ).bindparams(at),
                {"at": NOW},
            )
            conn.execute(
                text(
                    "INSERT INTO cronwell_tasks (id, name, enabled, definition, tags, version, "
                    "revision, created_at, updated_at) "
                    "VALUES ('old', 'Old one', :enabled, :definition, '[\"x\"]', 4, 1, :at, :at)"
                ).bindparams(at),
                {"enabled": True, "definition": json.dumps(definition), "at": NOW},
            )
            for attempt, status in ((1, "failed"), (2, "running")):
                conn.execute(
                    text(
                        "INSERT INTO cronwell_runs (task_id, scheduled_for, attempt, status, "
                        "started_at, instance_id) "
                        "VALUES ('old', :at, :attempt, :status, :at, 'gone')"
                    ).bindparams(at),
                    {"at": NOW, "attempt": attempt, "status": status},
                )

        caplog.set_level(logging.INFO, logger="cronwell.store")
        assert not store.is_current()
        store.upgrade()
        assert store.is_current()
        [record] = [r for r in caplog.records if getattr(r, "action", None)]
        assert (record.__dict__["from_revision"], record.__dict__["to_revision"]) == ("0001", HEAD)

        task = store.get_task("old")
        assert (task.name, task.tags, task.version, task.created_at) == ("Old one", ["x"], 4, NOW)
        assert (task.consecutive_failures, task.paused_reason) == (0, None)
        assert task.retries == 0  # a field the old definition lacks takes its default
        assert [(r.attempt, r.status) for r in store.list_runs(task_id="old")] == [
            (2, RunStatus.RUNNING),
            (1, RunStatus.FAILED),
        ]
        # the new columns and table work on the upgraded database
        assert store.record_occurrence_result("old", failed=True) == 1
        assert store.auto_pause("old", "broken", NOW).paused_reason == "broken"
        assert store.instances_with_work() == {"gone"}
        store.register_instance("new", "host", 1, NOW)
        assert [i.instance_id for i in store.list_instances()] == ["new"]
        assert store.current_revision() == 2
    finally:
        engine.dispose()
        store.close()


# -- task state ----------------------------------------------------------------------------------


def test_task_state_is_stored_apart_from_the_definition(store: Store) -> None:
    # state handed in with a new task is not stored: a new task starts afresh
    stored = store.insert_task(make_task("t", consecutive_failures=7, paused_reason="x"), NOW)
    assert (stored.consecutive_failures, stored.paused_reason) == (0, None)
    store.bulk_insert_tasks([make_task("bulk", consecutive_failures=3)], NOW)
    assert store.get_task("bulk").consecutive_failures == 0

    assert store.record_occurrence_result("t", failed=True) == 1
    assert store.record_occurrence_result("t", failed=True) == 2
    assert store.get_task("t").consecutive_failures == 2
    assert [t.consecutive_failures for t in store.list_tasks()] == [0, 2]

    # an update changes the definition and keeps the state, whatever the task says
    later = NOW + timedelta(minutes=1)
    updated = store.update_task(make_task("t", name="Renamed", consecutive_failures=0), later)
    assert (updated.version, updated.consecutive_failures, updated.paused_reason) == (2, 2, None)
    assert store.get_task("t") == updated
    paused = store.auto_pause("t", "2 failures in a row", later)
    assert paused.version == 3
    kept = store.update_task(make_task("t", name="Still paused", enabled=False), later)
    assert (kept.enabled, kept.paused_reason, kept.consecutive_failures) == (
        False,
        "2 failures in a row",
        2,
    )
    assert store.get_task("t") == kept

    # the definition column holds the definition only
    [(definition,)] = raw(store, "SELECT definition FROM cronwell_tasks WHERE id = 't'")
    assert not {"paused_reason", "consecutive_failures", "version"} & set(json.loads(definition))
    [(reason, failures)] = raw(
        store, "SELECT paused_reason, consecutive_failures FROM cronwell_tasks WHERE id = 't'"
    )
    assert (reason, failures) == ("2 failures in a row", 2)


def test_an_update_that_enables_a_paused_task_resumes_it(store: Store) -> None:
    store.insert_task(make_task("t"), NOW)
    store.record_occurrence_result("t", failed=True)
    store.auto_pause("t", "1 failure", NOW)
    resumed = store.update_task(make_task("t", enabled=True), NOW)
    assert (resumed.enabled, resumed.paused_reason, resumed.consecutive_failures) == (
        True,
        None,
        0,
    )
    assert store.get_task("t") == resumed


def test_auto_pause_and_resume(store: Store) -> None:
    store.insert_task(make_task("t"), NOW)
    seen = store.current_revision()
    for _ in range(3):
        store.record_occurrence_result("t", failed=True)
    later = NOW + timedelta(seconds=5)
    paused = store.auto_pause("t", "3 failures in a row", later)
    assert not paused.enabled
    assert (paused.paused_reason, paused.consecutive_failures) == ("3 failures in a row", 3)
    assert (paused.version, paused.updated_at) == (2, later)
    assert store.get_task("t") == paused
    assert store.changes_since(seen) == (seen + 1, {"t"})  # a change the leader must see
    assert [t.id for t in store.list_tasks(enabled=False)] == ["t"]

    # pausing by hand a task that is already paused keeps the reason
    again = store.set_enabled("t", False, later)
    assert (again.paused_reason, again.consecutive_failures, again.version) == (
        "3 failures in a row",
        3,
        3,
    )

    resumed = store.set_enabled("t", True, later)
    assert resumed.enabled
    assert (resumed.paused_reason, resumed.consecutive_failures, resumed.version) == (None, 0, 4)
    assert store.get_task("t") == resumed

    # a manual pause has no reason
    manual = store.set_enabled("t", False, later)
    assert (manual.enabled, manual.paused_reason) == (False, None)
    assert store.get_task("t") == manual

    with pytest.raises(TaskNotFoundError):
        store.auto_pause("ghost", "x", NOW)


def test_record_occurrence_result(store: Store) -> None:
    stored = store.insert_task(make_task("t"), NOW)
    revision = store.current_revision()
    assert store.record_occurrence_result("t", failed=False) == 0  # nothing to reset
    assert [store.record_occurrence_result("t", failed=True) for _ in range(3)] == [1, 2, 3]
    assert store.record_occurrence_result("t", failed=False) == 0
    assert store.get_task("t").consecutive_failures == 0
    assert store.record_occurrence_result("t", failed=True) == 1
    # state, not a change: no version, no change row, no new updated_at
    fetched = store.get_task("t")
    assert (fetched.version, fetched.updated_at) == (stored.version, stored.updated_at)
    assert store.current_revision() == revision
    # a task deleted while its run went on
    assert store.record_occurrence_result("ghost", failed=True) == 0
    assert store.record_occurrence_result("ghost", failed=False) == 0
    assert store.find_task("ghost") is None


def test_concurrent_failures_are_all_counted(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    first.upgrade()
    try:
        first.insert_task(make_task("t"), NOW)
        counts = run_together(
            *[
                partial(store.record_occurrence_result, "t", failed=True)
                for store in (first, second) * 4
            ]
        )
        assert sorted(counts) == list(range(1, 9))
        assert first.get_task("t").consecutive_failures == 8
    finally:
        first.close()
        second.close()


# -- run history helpers -----------------------------------------------------------------------


def test_last_occurrences(store: Store) -> None:
    assert store.last_occurrences() == {}
    hour = timedelta(hours=1)
    store.insert_runs(
        [
            NewRun("a", NOW, status=RunStatus.SUCCEEDED),
            NewRun("a", NOW + hour, status=RunStatus.PENDING, due_at=NOW + hour),
            NewRun("a", NOW + hour / 2, attempt=2, status=RunStatus.FAILED),
            NewRun("b", NOW - 24 * hour, status=RunStatus.SKIPPED),
        ]
    )
    latest = store.last_occurrences()
    assert latest == {"a": NOW + hour, "b": NOW - 24 * hour}
    assert all(value.tzinfo is UTC for value in latest.values())
    assert store.last_occurrences(["a", "c"]) == {"a": NOW + hour}
    assert store.last_occurrences([]) == {}
    # up to an instant (a catch-up's start): a later row does not hide the ones before it
    assert store.last_occurrences(["a", "b"], until=NOW + hour / 2) == {
        "a": NOW + hour / 2,
        "b": NOW - 24 * hour,
    }
    assert store.last_occurrences(until=NOW - hour) == {"b": NOW - 24 * hour}
    many = [f"x{i}" for i in range(1200)] + ["b"]  # more than one IN (...) list
    assert store.last_occurrences(many) == {"b": NOW - 24 * hour}


def test_release_queued(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    ids = store.insert_runs(
        [
            NewRun("a", NOW, status=RunStatus.PENDING, instance_id="dead"),
            NewRun("b", NOW, status=RunStatus.PENDING, instance_id="dead"),
            NewRun("c", NOW, status=RunStatus.PENDING, instance_id="alive"),
            NewRun("d", NOW, status=RunStatus.PENDING, due_at=later, instance_id="dead"),
            NewRun("e", NOW, status=RunStatus.RUNNING, instance_id="dead"),
            NewRun("f", NOW, status=RunStatus.PENDING),
        ]
    )
    assert next_due_at(store) == later
    assert store.release_queued(["dead", "unknown"], NOW) == 2
    assert next_due_at(store) == NOW
    assert [run.id for run in store.claim_due_runs(NOW, "new")] == ids[:2]
    assert store.release_queued(["dead"], NOW) == 0
    assert store.release_queued([], NOW) == 0
    # the others are as they were: c and f still queued, d due later
    assert {r.task_id for r in runs_in_status(store, RunStatus.PENDING)} == {"c", "d", "f"}
    assert next_due_at(store) == later


def test_abandon_runs(store: Store) -> None:
    rows = [
        NewRun(
            "t",
            NOW,
            attempt=2,
            status=RunStatus.RUNNING,
            reason="schedule",
            started_at=NOW - timedelta(seconds=90),
            instance_id="dead",
        ),
        NewRun("u", NOW, status=RunStatus.RUNNING, instance_id="dead"),  # start unknown
        NewRun("v", NOW, status=RunStatus.RUNNING, instance_id="alive"),
        NewRun("w", NOW, status=RunStatus.PENDING, instance_id="dead"),
        NewRun("x", NOW, status=RunStatus.SUCCEEDED, instance_id="dead"),
        NewRun("y", NOW, status=RunStatus.RUNNING, instance_id="other-dead"),
    ]
    ids = store.insert_runs(rows)
    abandoned = store.abandon_runs(["dead", "other-dead", "never-seen"], NOW)
    assert [run.id for run in abandoned] == [ids[0], ids[1], ids[5]]
    first, second, third = abandoned
    assert first == store.get_run(first.id)
    assert (first.task_id, first.attempt, first.status) == ("t", 2, RunStatus.ABANDONED)
    assert (first.finished_at, first.duration, first.reason) == (NOW, 90.0, "process_died")
    assert first.error == "The process running it (instance dead) stopped before the run finished."
    assert first.instance_id == "dead"
    assert (second.status, second.duration, second.finished_at) == (RunStatus.ABANDONED, None, NOW)
    assert third.error is not None
    assert "(instance other-dead)" in third.error
    # nothing else changed
    statuses = {run.task_id: run.status for run in store.list_runs()}
    assert statuses == {
        "t": RunStatus.ABANDONED,
        "u": RunStatus.ABANDONED,
        "v": RunStatus.RUNNING,
        "w": RunStatus.PENDING,
        "x": RunStatus.SUCCEEDED,
        "y": RunStatus.ABANDONED,
    }
    assert store.abandon_runs(["dead"], NOW) == []  # once only
    assert store.abandon_runs([], NOW) == []
    [late] = store.abandon_runs(["alive"], NOW, reason="shutdown")
    assert (late.task_id, late.reason) == ("v", "shutdown")


def test_concurrent_abandons_take_each_run_once(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    first.upgrade()
    try:
        for round_ in range(3):
            scheduled = NOW + timedelta(days=round_)
            rows = [
                NewRun(
                    f"t{i}",
                    scheduled,
                    status=RunStatus.RUNNING,
                    started_at=scheduled,
                    instance_id=f"dead-{i % 3}",
                )
                for i in range(60)
            ]
            ids = first.insert_runs(rows)
            later = scheduled + timedelta(seconds=1)
            a, b = run_together(
                partial(first.abandon_runs, ["dead-0", "dead-1", "dead-2"], later),
                partial(second.abandon_runs, ["dead-2", "dead-1", "dead-0"], later),
            )
            got_a, got_b = {r.id for r in a}, {r.id for r in b}
            assert not got_a & got_b
            assert got_a | got_b == set(ids)
            assert len(a) + len(b) == 60
        assert first.count_runs(status=RunStatus.RUNNING) == 0
        assert first.count_runs(status=RunStatus.ABANDONED) == 180
    finally:
        first.close()
        second.close()


def test_prune_runs_by_age_and_by_count(store: Store) -> None:
    day = timedelta(days=1)
    ids = store.insert_runs(
        [
            *[NewRun("a", NOW - k * day, status=RunStatus.SUCCEEDED) for k in range(1, 6)],
            NewRun("a", NOW - day, attempt=2, status=RunStatus.FAILED),  # same time, newer id
            NewRun("a", NOW - 50 * day, status=RunStatus.RUNNING),
            NewRun("a", NOW - 50 * day, attempt=2, status=RunStatus.PENDING, due_at=NOW),
            NewRun("b", NOW - 40 * day, status=RunStatus.SUCCEEDED),
            *[NewRun("c", NOW - timedelta(minutes=m), status=RunStatus.SKIPPED) for m in (1, 2, 3)],
        ]
    )
    a1_first, a2, a3, a4, a5, a1_retry, running, pending, b, c1, c2, _c3 = ids

    def left(task_id: str) -> list[int]:
        return [run.id for run in store.list_runs(task_id=task_id, limit=100)]

    # by count: the 2 newest finished runs of each task stay
    assert store.prune_runs(None, keep_per_task=2) == 5  # 4 of a, 1 of c
    assert left("a") == [a1_retry, a1_first, pending, running]
    assert left("b") == [b]
    assert left("c") == [c1, c2]
    # by age (positional, as before); a task's newest finished run is its catch-up anchor
    # and stays however old
    assert store.prune_runs(NOW - 30 * day) == 0
    assert left("b") == [b]
    # both at once
    assert store.prune_runs(NOW - 10 * day, keep_per_task=1) == 2
    assert left("a") == [a1_retry, pending, running]
    assert left("c") == [c1]
    # keep none still keeps the anchor; pending and running runs never go
    assert store.prune_runs(None, keep_per_task=0) == 0
    assert store.prune_runs(NOW + day, keep_per_task=0) == 0
    assert left("a") == [a1_retry, pending, running]
    assert store.prune_runs(None) == 0
    with pytest.raises(ValueError, match="keep_per_task"):
        store.prune_runs(None, keep_per_task=-1)
    assert {a2, a3, a4, a5}.isdisjoint({run.id for run in store.list_runs(limit=100)})


def test_task_stats(store: Store) -> None:
    store.insert_task(make_task("s"), NOW)
    minute = timedelta(minutes=1)
    # (status, duration) by increasing scheduled_for, one minute apart
    history: list[tuple[RunStatus, float | None]] = [
        *[(RunStatus.SUCCEEDED, float(d)) for d in range(1, 18)],  # minutes 0-16
        (RunStatus.FAILED, 40.0),  # 17
        (RunStatus.INTERRUPTED, 3.0),  # 18
        (RunStatus.TIMED_OUT, 30.0),  # 19
        (RunStatus.SKIPPED, None),  # 20
        (RunStatus.SKIPPED, None),  # 21
        (RunStatus.MISSED, None),  # 22
    ]
    ids = store.insert_runs(
        [
            NewRun("s", NOW + i * minute, status=RunStatus.RUNNING, started_at=NOW + i * minute)
            for i in range(len(history))
        ]
    )
    store.finish_runs(
        [
            RunUpdate(
                run_id,
                status=status,
                finished_at=NOW + i * minute + timedelta(seconds=duration or 0),
                duration=duration,
            )
            for i, (run_id, (status, duration)) in enumerate(zip(ids, history, strict=True))
            if run_id is not None
        ]
    )
    store.insert_runs(
        [
            NewRun("s", NOW + 23 * minute, status=RunStatus.RUNNING, instance_id="alive"),
            NewRun("s", NOW + 24 * minute, status=RunStatus.PENDING, due_at=NOW),
            NewRun("s", NOW + 25 * minute, status=RunStatus.RUNNING, instance_id="gone"),
            NewRun("other", NOW, status=RunStatus.FAILED),
        ]
    )
    abandoned_at = NOW + timedelta(hours=2)
    [abandoned] = store.abandon_runs(["gone"], abandoned_at)
    assert abandoned.duration is None  # its start was not known: no duration
    store.record_occurrence_result("s", failed=True)
    store.record_occurrence_result("s", failed=True)

    stats = store.task_stats("s")
    assert isinstance(stats, TaskStats)
    assert stats.model_dump() == {
        "task_id": "s",
        "runs": 21,  # 17 succeeded + failed + timed_out + abandoned + interrupted
        "succeeded": 17,
        "failed": 3,  # failed + timed_out + abandoned
        "timed_out": 1,
        "missed": 1,
        "skipped": 2,
        "success_rate": pytest.approx(0.85),
        # durations 1..17, 40, 3, 30: mean 226 / 20; the 19th of 20 sorted values is 30
        "avg_duration": pytest.approx(11.3),
        "p95_duration": 30.0,
        "last_success": NOW + 16 * minute + timedelta(seconds=17),
        "last_failure": abandoned_at,
        "consecutive_failures": 2,
    }
    # the newest 5 with a duration: 30, 3, 40, 17, 16
    newest = store.task_stats("s", sample=5)
    assert newest.avg_duration == pytest.approx(21.2)
    assert newest.p95_duration == 40.0
    assert newest.runs == 21  # counts are not sampled
    one = store.task_stats("s", sample=1)
    assert (one.avg_duration, one.p95_duration) == (30.0, 30.0)

    assert store.task_stats("nobody") == TaskStats(task_id="nobody")
    assert store.task_stats("nobody").success_rate is None
    store.insert_runs([NewRun("skips", NOW, status=RunStatus.SKIPPED)])
    only_skips = store.task_stats("skips")
    assert (only_skips.runs, only_skips.skipped, only_skips.success_rate) == (0, 1, None)
    with pytest.raises(ValueError, match="sample"):
        store.task_stats("s", sample=0)


# -- instances -----------------------------------------------------------------------------------


def test_instances_register_heartbeat_list_remove(store: Store) -> None:
    """``started_at`` is the caller's time, ``last_seen`` the database's: instances on
    other hosts are judged dead by it, whatever their own clocks say."""
    assert store.list_instances() == []
    before = store.database_now()
    store.register_instance("i1", "host-a", 100, NOW)
    store.register_instance("i2", "host-b", 200, NOW + timedelta(seconds=1))
    store.heartbeat("i1", "host-a", 101, NOW + timedelta(seconds=5))
    after = store.database_now()
    first, second = store.list_instances()
    assert (first.instance_id, first.hostname, first.pid, first.started_at) == (
        "i1",
        "host-a",
        101,
        NOW,
    )
    assert (second.instance_id, second.hostname, second.pid, second.started_at) == (
        "i2",
        "host-b",
        200,
        NOW + timedelta(seconds=1),
    )
    assert before <= second.last_seen <= first.last_seen <= after
    # registering again (a restart under the same id) keeps started_at
    store.register_instance("i2", "host-c", 300, NOW + timedelta(seconds=6))
    [_, second] = store.list_instances()
    assert (second.hostname, second.pid, second.started_at) == (
        "host-c",
        300,
        NOW + timedelta(seconds=1),
    )
    assert after <= second.last_seen <= store.database_now()
    assert second.last_seen.tzinfo is UTC

    assert store.remove_instances(["i1", "ghost"]) == 1
    assert [i.instance_id for i in store.list_instances()] == ["i2"]
    assert store.remove_instances([]) == 0
    # an instance judged dead while it was only slow comes back at its next heartbeat
    store.heartbeat("i1", "host-a", 101, NOW + timedelta(seconds=10))
    back = store.list_instances()[-1]
    assert (back.instance_id, back.pid, back.started_at) == (
        "i1",
        101,
        NOW + timedelta(seconds=10),
    )
    store.register_instance("long", "h" * 300, 1, NOW)
    assert [i.hostname for i in store.list_instances() if i.instance_id == "long"] == ["h" * 255]
    with pytest.raises(ValueError, match="naive"):
        store.heartbeat("i1", "host-a", 1, datetime(2025, 1, 1))


def test_instances_with_work(store: Store) -> None:
    assert store.instances_with_work() == set()
    store.insert_runs(
        [
            NewRun("a", NOW, status=RunStatus.RUNNING, instance_id="runner"),
            NewRun("b", NOW, status=RunStatus.PENDING, instance_id="queuer"),
            NewRun("c", NOW, status=RunStatus.PENDING, due_at=NOW, instance_id="retrier"),
            NewRun("d", NOW, status=RunStatus.SUCCEEDED, instance_id="done"),
            NewRun("e", NOW, status=RunStatus.RUNNING),
            NewRun("f", NOW, status=RunStatus.RUNNING, instance_id="runner"),
        ]
    )
    assert store.instances_with_work() == {"runner", "queuer"}
    store.abandon_runs(["runner"], NOW)
    store.release_queued(["queuer"], NOW)
    assert store.instances_with_work() == set()


def test_start_pending_switches_a_pending_run_once(store: Store) -> None:
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    (run_id,) = store.insert_runs(
        [NewRun("queued", now, status=RunStatus.PENDING, reason="queued")]
    )
    assert run_id is not None
    assert store.start_pending(run_id, now, "me") is True
    assert store.start_pending(run_id, now, "other") is False
    run = store.get_run(run_id)
    assert run.status is RunStatus.RUNNING
    assert run.instance_id == "me"


def test_notifications_log_round_trip(store: Store) -> None:
    from cronwell.store import NotificationRecord

    for index, status in enumerate(["sent", "failed", "sent"]):
        store.record_notification(
            NotificationRecord(
                created_at=NOW + timedelta(seconds=index),
                event="failed",
                target="json://127.0.0.1/***",
                status=status,
                attempts=index + 1,
                title=f"alert {index}",
                task_id="t" if index < 2 else "u",
                run_id=index,
                error="refused\x00" if status == "failed" else None,
            )
        )
    newest = store.list_notifications()
    assert [n.title for n in newest] == ["alert 2", "alert 1", "alert 0"]
    (failed,) = store.list_notifications(status="failed")
    assert failed.attempts == 2 and failed.error == "refused\ufffd"
    assert failed.created_at == NOW + timedelta(seconds=1)
    assert [n.title for n in store.list_notifications(task_id="t", limit=1)] == ["alert 1"]


def test_a_lease_has_one_holder_in_database_time(store: Store) -> None:
    assert store.acquire_lease("scheduler", "a", 30) == (True, "a")
    assert store.acquire_lease("scheduler", "b", 30) == (False, "a")
    assert store.acquire_lease("scheduler", "a", 30) == (True, "a")  # renewal
    assert store.acquire_lease("scheduler", "b", 30, take_from="a") == (True, "b")
    store.release_lease("scheduler", "a")  # not a's any more: nothing happens
    assert store.acquire_lease("scheduler", "a", 30) == (False, "b")
    store.release_lease("scheduler", "b")
    assert store.acquire_lease("scheduler", "a", 0.001) == (True, "a")
    assert wait_for_expiry(store)


def wait_for_expiry(store: Store) -> bool:
    from tests.support.waiting import wait_until

    return bool(
        wait_until(
            lambda: store.acquire_lease("scheduler", "b", 30)[0], what="the short lease to lapse"
        )
    )


def test_two_contenders_never_both_hold_the_lease(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(2)]
    stores[0].upgrade()
    granted: list[str] = []
    lock = threading.Lock()

    def contend(index: int) -> None:
        for _ in range(20):
            ok, _holder = stores[index].acquire_lease("race", f"c{index}", 60)
            if ok:
                with lock:
                    granted.append(f"c{index}")

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert len(set(granted)) == 1


def test_taking_a_new_lease_at_the_same_moment_never_fails(database_url: str) -> None:
    stores = [Store(database_url) for _ in range(2)]
    stores[0].upgrade()
    outcomes: list[tuple[bool, str | None]] = []
    lock = threading.Lock()

    def take(index: int, name: str, barrier: threading.Barrier) -> None:
        barrier.wait()
        result = stores[index].acquire_lease(name, f"c{index}", 60)
        with lock:
            outcomes.append(result)

    for round_ in range(10):
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=take, args=(i, f"fresh-{round_}", barrier)) for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for store in stores:
        store.close()
    assert len(outcomes) == 20
    assert sum(granted for granted, _ in outcomes) == 10  # one holder per lease, no error


def test_without_pg_trgm_the_migration_goes_on_and_says_so(
    postgres_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A user who may create tables but not extensions: the trigram index is left out, the
    warning says how to add it, and a text search still finds its tasks."""
    role = f"cw_role_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(postgres_database, autocommit=True)
    try:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
        limited = make_url(postgres_database).set(username=role).render_as_string(False)
        store = Store(limited)
        try:
            with caplog.at_level(logging.WARNING, logger="cronwell.store"):
                store.upgrade()
            assert store.is_current()
            warned = [r for r in caplog.records if r.action == "trigram_index_skipped"]
            assert len(warned) == 1 and "CREATE EXTENSION pg_trgm" in warned[0].getMessage()
            names = admin.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'cronwell_tasks'"
            ).fetchall()
            assert ("ix_cronwell_tasks_text",) not in names
            assert ("ix_cronwell_tasks_tags",) in names
            store.insert_task(
                Task(
                    id="nightly-report",
                    schedule=cron("0 3 * * *"),
                    action=ShellAction(command="true"),
                ),
                datetime.now(UTC),
            )
            assert store.task_ids(text="REPORT") == ["nightly-report"]
        finally:
            store.close()
    finally:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()
