"""Database outages, recorded as they were (issue 18, defects 3, 7 and 8), on the real
PostgreSQL server behind a loopback proxy the test cuts (the shared server itself is never
stopped): occurrences that fell due while the database was unreachable are ``missed`` with
reason ``database_unavailable`` and follow the catch-up policy, a run's ``started_at`` is when
its action started, the outage is logged once when it starts and once when it ends, and a
shutdown during an outage still records its runs ``interrupted`` when the database returns
in time."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.proxy import CuttableProxy, proxied
from tests.support.waiting import wait_until

from cronwell import Cronwell, RunContext, RunStatus, every
from cronwell.domain.run import Run, RunReason
from cronwell.store import database

# when each action began, by run id, as the action itself saw it
_BEGAN: dict[int, datetime] = {}
_INTERVAL = 0.25
_DATABASE_UNAVAILABLE = "database_unavailable"  # RunReason's, spelled for the code before it


def note_start(ctx: RunContext) -> None:
    _BEGAN[ctx.run_id] = datetime.now(UTC)


@pytest.fixture
def proxy_url(postgres_database: str) -> Iterator[tuple[CuttableProxy, str]]:
    with proxied(postgres_database, lifetime=120) as pair:
        yield pair


class SqliteWriteLock:
    """An outage of a SQLite database as its writers meet it: another connection holds the
    write lock (``BEGIN EXCLUSIVE``), so every write fails with "database is locked" once
    the busy timeout passes (shortened by the test)."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def cut(self) -> None:
        self._conn.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self.restore()
        self._conn.close()


@pytest.fixture
def sqlite_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SqliteWriteLock, str]]:
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "outage.db"
    Cronwell(f"sqlite:///{path}").close()  # the tables, before the lock is taken
    lock = SqliteWriteLock(str(path))
    try:
        yield lock, f"sqlite:///{path}"
    finally:
        lock.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def actions(self, action: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "action", None) == action]


@dataclass
class _Outage:
    cut_at: datetime
    restored_at: datetime
    runs: dict[str, list[Run]] = field(default_factory=dict)
    log: _Records = field(default_factory=_Records)


def _ride_an_outage(
    proxy: CuttableProxy | SqliteWriteLock, url: str, seconds: float = 2.0
) -> _Outage:
    """Three every-0.25-s tasks (catchup all, latest, none) through an outage of
    ``seconds``; their runs once the service is back and stopped."""
    records = _Records()
    logger = logging.getLogger("cronwell")
    logger.addHandler(records)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    cw = Cronwell(url, timezone="UTC", poll_interval=0.05, instance_id="outage-a")
    cw.settings.shutdown_grace = 2.0
    try:
        for policy in ("all", "latest", "none"):
            cw.add_task(
                f"t-{policy}", schedule=every(seconds=_INTERVAL), func=note_start, catchup=policy
            )
        cw.start()
        tracker = getattr(cw.dispatcher, "outage", None)  # None: the code before the fix
        if tracker is not None:
            tracker.summary_every = 0.5
        wait_until(
            lambda: all(len(cw.runs(f"t-{p}")) >= 3 for p in ("all", "latest", "none")),
            what="runs before the outage",
        )
        cut_at = datetime.now(UTC)
        proxy.cut()
        wait_until(
            lambda: datetime.now(UTC) - cut_at >= timedelta(seconds=seconds),
            timeout=seconds + 5,
            what="the outage to last",
        )
        restored_at = datetime.now(UTC)
        proxy.restore()
        after = restored_at + timedelta(seconds=1.5)

        def back() -> bool:
            runs = cw.runs("t-all", limit=20)
            return any(r.scheduled_for > after and r.status is RunStatus.SUCCEEDED for r in runs)

        wait_until(back, timeout=20, what="runs after the outage")
        if tracker is not None:
            wait_until(lambda: not tracker.active, what="the outage to end")
        cw.shutdown()
        outage = _Outage(cut_at, restored_at, log=records)
        for policy in ("all", "latest", "none"):
            outage.runs[policy] = sorted(
                cw.runs(f"t-{policy}", limit=500), key=lambda r: r.scheduled_for
            )
        return outage
    finally:
        cw.close()
        logger.removeHandler(records)
        logger.setLevel(level)


def _during(outage: _Outage, runs: list[Run]) -> list[Run]:
    """Runs of occurrences that fell due well inside the outage."""
    start = outage.cut_at + timedelta(seconds=0.1)
    return [r for r in runs if start < r.scheduled_for < outage.restored_at]


def test_occurrences_during_an_outage_are_missed_and_follow_the_catch_up_policy(
    proxy_url: tuple[CuttableProxy, str],
) -> None:
    outage = _ride_an_outage(*proxy_url)
    every_run = [run for runs in outage.runs.values() for run in runs]
    assert not [r for r in every_run if r.status in (RunStatus.RUNNING, RunStatus.PENDING)]
    # what fell due while the database was away never overlaps anything (a fire after it
    # may meet a catch-up run still going: a real overlap)
    during = [r for r in every_run if r.scheduled_for < outage.restored_at]
    assert not [r for r in during if r.reason == RunReason.OVERLAP]
    # catchup='all': every occurrence of the outage ran, as a catch-up run
    during = _during(outage, outage.runs["all"])
    assert len(during) >= 4
    assert {(r.status, r.reason) for r in during} == {(RunStatus.SUCCEEDED, RunReason.CATCHUP)}
    # catchup='none': none ran, each is a missed row that says why
    during = _during(outage, outage.runs["none"])
    assert len(during) >= 4
    assert {(r.status, r.reason) for r in during} == {(RunStatus.MISSED, _DATABASE_UNAVAILABLE)}
    # catchup='latest': the newest occurrence of the outage ran, the others are missed
    held = [r for r in outage.runs["latest"] if r.reason in ("catchup", "database_unavailable")]
    assert [r.reason for r in held].count(RunReason.CATCHUP) == 1
    assert held[-1].reason == RunReason.CATCHUP
    assert {r.status for r in held[:-1]} == {RunStatus.MISSED}


def test_an_outage_longer_than_the_lease_loses_no_occurrence(
    proxy_url: tuple[CuttableProxy, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its lease the leader stops firing (it cannot renew): what it held is recorded
    when the database returns, what fell due after is found by the catch-up of its next
    term. Every occurrence has exactly one row, none overlaps, none is left running."""
    monkeypatch.setenv("CRONWELL_LEASE_TTL", "1.5")  # stops firing 1.2 s into the outage
    outage = _ride_an_outage(*proxy_url, seconds=3.0)
    assert outage.log.actions("lease_lost")
    for policy, runs in outage.runs.items():
        times = [r.scheduled_for for r in runs]
        assert len(set(times)) == len(times), policy
        steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(times)}
        assert steps == {_INTERVAL}, (policy, steps)  # no occurrence without its row
        during = [r for r in runs if r.scheduled_for < outage.restored_at]
        assert not [r for r in during if r.reason == RunReason.OVERLAP], policy
        assert not [r for r in runs if r.status in (RunStatus.RUNNING, RunStatus.PENDING)]
    # the next term's catch-up knows from this process that the database was unreachable
    late = _during(outage, outage.runs["none"])
    assert late
    assert {(r.status, r.reason) for r in late} == {(RunStatus.MISSED, _DATABASE_UNAVAILABLE)}


def test_on_sqlite_a_locked_database_is_an_outage_too(
    sqlite_lock: tuple[SqliteWriteLock, str],
) -> None:
    outage = _ride_an_outage(*sqlite_lock)
    every_run = [run for runs in outage.runs.values() for run in runs]
    assert not [r for r in every_run if r.status in (RunStatus.RUNNING, RunStatus.PENDING)]
    during = [r for r in every_run if r.scheduled_for < outage.restored_at]
    assert not [r for r in during if r.reason == RunReason.OVERLAP]
    late = _during(outage, outage.runs["none"])
    assert len(late) >= 4
    assert {(r.status, r.reason) for r in late} == {(RunStatus.MISSED, _DATABASE_UNAVAILABLE)}
    assert len(outage.log.actions("database_unavailable")) == 1


def test_a_run_started_after_an_outage_is_recorded_as_started_then(
    proxy_url: tuple[CuttableProxy, str],
) -> None:
    outage = _ride_an_outage(*proxy_url)
    ran = [r for runs in outage.runs.values() for r in runs if r.status is RunStatus.SUCCEEDED]
    late = [r for r in ran if r.scheduled_for > outage.cut_at]
    assert late
    for run in ran:
        assert run.started_at is not None and run.id in _BEGAN
        # the row brackets the moment the action itself saw it begin: stamped as it ran,
        # not when the row could be written after the outage
        assert run.finished_at is not None, run
        assert run.started_at <= _BEGAN[run.id] <= run.finished_at, run


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    proxy_url: tuple[CuttableProxy, str],
) -> None:
    outage = _ride_an_outage(*proxy_url)
    log = outage.log
    (began,) = log.actions("database_unavailable")
    (ended,) = log.actions("database_available")
    assert began.levelno == logging.WARNING and began.exc_info is None
    assert ended.duration > 0  # type: ignore[attr-defined]
    assert ended.missed > 0  # type: ignore[attr-defined]
    assert log.actions("database_still_unavailable")
    during = [r for r in log.records if began.created <= r.created <= ended.created]
    assert not [r for r in during if r.exc_info is not None]
    assert len(during) < 40


def slow(ctx: RunContext) -> None:
    _BEGAN[ctx.run_id] = datetime.now(UTC)


def test_a_shutdown_during_an_outage_records_its_runs_interrupted_when_the_database_returns(
    proxy_url: tuple[CuttableProxy, str],
) -> None:
    proxy, url = proxy_url
    cw = Cronwell(url, timezone="UTC", poll_interval=0.05, instance_id="outage-b")
    cw.settings.shutdown_grace = 1.0
    try:
        cw.add_task("sleeper", schedule=every(hours=1), shell="sleep 30")
        cw.start()
        cw.engine.fire_now("sleeper")
        (run,) = wait_until(lambda: cw.runs("sleeper", status=RunStatus.RUNNING), what="a run")
        proxy.cut()
        stopped = threading.Event()
        failure: list[BaseException] = []

        def stop() -> None:
            try:
                cw.shutdown()
            except BaseException as exc:
                failure.append(exc)
            finally:
                stopped.set()

        began = datetime.now(UTC)
        threading.Thread(target=stop, daemon=True).start()
        # the runs' grace passes and they are killed while the database is still away
        wait_until(lambda: datetime.now(UTC) - began >= timedelta(seconds=2.0), what="the grace")
        assert not stopped.is_set()
        proxy.restore()
        assert stopped.wait(20)
        assert not failure
        stored = cw.store.get_run(run.id)
        assert stored.status is RunStatus.INTERRUPTED and stored.reason == RunReason.SHUTDOWN
    finally:
        proxy.restore()
        cw.close()


def test_a_shutdown_during_a_longer_outage_leaves_its_runs_to_the_next_start(
    proxy_url: tuple[CuttableProxy, str],
) -> None:
    """The trade-off of docs/discussions/run-policies.md: past the shutdown's grace, the
    process stops without recording; the next start records its runs ``abandoned``."""
    proxy, url = proxy_url
    cw = Cronwell(url, timezone="UTC", poll_interval=0.05, instance_id="outage-c")
    cw.settings.shutdown_grace = 0.5
    cw.add_task("sleeper", schedule=every(hours=1), shell="sleep 30")
    cw.start()
    cw.engine.fire_now("sleeper")
    (run,) = wait_until(lambda: cw.runs("sleeper", status=RunStatus.RUNNING), what="a run")
    proxy.cut()
    cw.shutdown()  # returns: the outage does not hold a stop for ever
    assert cw.dispatcher.writes_given_up > 0  # said: `serve` exits 5 with a sentence
    proxy.restore()
    assert cw.store.get_run(run.id).status is RunStatus.RUNNING
    cw.close()
    again = Cronwell(url, timezone="UTC", poll_interval=0.05, instance_id="outage-c")
    try:
        again.start()
        stored = again.store.get_run(run.id)
        assert stored.status is RunStatus.ABANDONED
    finally:
        again.close()
