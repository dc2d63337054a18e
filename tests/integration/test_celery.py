"""Celery execution (issue 23, DESIGN rule 13) with real brokers and real workers.

A cronwell leader on PostgreSQL fires and records; ``celery -A cronwell.contrib.celery
worker`` subprocesses on RabbitMQ or Redis execute. Every execution appends to a ledger
file (``tests/support/celery_actions.py``), so each test counts executions, not just rows.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.conftest import service_unavailable
from tests.support.celery import BROKERS, CeleryWorker, broker_problem, read_ledger, unique_queue
from tests.support.proxy import CuttableProxy
from tests.support.receiver import Receiver, receiver, receiver_factory
from tests.support.waiting import wait_until

from cronwell import Cronwell, once
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.engine.recovery import HOSTNAME
from cronwell.settings import Settings
from cronwell.store import Store

pytestmark = [pytest.mark.postgres, pytest.mark.celery, pytest.mark.timeout(180)]

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

RECORD = "tests.support.celery_actions:record"
STUBBORN = "tests.support.celery_actions:stubborn"
FAIL_FIRST = "tests.support.celery_actions:fail_first"


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> str:
    url = BROKERS[request.param]
    problem = broker_problem(url)
    if problem:
        service_unavailable(f"{request.param}: {problem}")
    return url


@pytest.fixture
def queue() -> str:
    return unique_queue()


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.txt"


@pytest.fixture
def workers(
    postgres_database: str, broker: str, queue: str, tmp_path: Path
) -> Iterator[list[CeleryWorker]]:
    """Start workers with ``workers.append(start(name))``; all are stopped afterwards."""
    started: list[CeleryWorker] = []
    yield started
    for worker in started:
        worker.stop()


def start_worker(
    started: list[CeleryWorker], database_url: str, broker: str, queue: str, name: str, **kw: int
) -> CeleryWorker:
    worker = CeleryWorker(database_url, broker, queue, name=name, **kw)
    started.append(worker)
    worker.wait_ready()
    return worker


@pytest.fixture
def leader(postgres_database: str, broker: str, queue: str) -> Iterator[Cronwell]:
    store = Store(postgres_database)
    store.upgrade()
    store.close()
    settings = Settings(
        database_url=postgres_database,
        instance_id="leader",
        executor="celery",
        celery_broker=broker,
        celery_queue=queue,
        poll_interval=0.2,
        lease_ttl=3,
    )
    cw = Cronwell(settings=settings)
    yield cw
    cw.shutdown(wait=False)
    cw.close()


def record_task(
    task_id: str,
    at: datetime,
    ledger: Path,
    seconds: float = 0.0,
    func: str = RECORD,
    **fields: object,
) -> dict[str, object]:
    """A one-off at ``at`` whose action notes its execution in ``ledger``."""
    return {
        "id": task_id,
        "schedule": {"kind": "once", "at": at.isoformat()},
        "action": {
            "kind": "python",
            "func": func,
            "kwargs": {"ledger": str(ledger), "seconds": seconds},
        },
        **fields,
    }


def all_runs(store: Store) -> list[Run]:
    return store.list_runs(limit=100_000)


def settled(store: Store, expected: int) -> list[Run]:
    """Every run once ``expected`` of them have ended and none is queued or going."""
    runs = all_runs(store)
    ended = [r for r in runs if r.status.is_terminal]
    if len(ended) >= expected and len(ended) == len(runs):
        return runs
    return []


def test_a_burst_of_1000_occurrences_runs_each_exactly_once(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    for name in ("a", "b"):
        start_worker(workers, postgres_database, broker, queue, name, concurrency=2)
    at = datetime.now(UTC) + timedelta(seconds=3)
    leader.add_tasks([record_task(f"burst-{i:04d}", at, ledger) for i in range(1000)])
    leader.start()

    runs = wait_until(lambda: settled(leader.store, 1000), timeout=120, what="1,000 runs ended")

    assert len(runs) == 1000
    assert Counter(r.status for r in runs) == {RunStatus.SUCCEEDED: 1000}
    assert all(r.queue == queue and (r.instance_id or "").startswith("celery@") for r in runs)
    executions = read_ledger(ledger)
    assert len(executions) == 1000
    assert {run_id for run_id, _, _ in executions} == {r.id for r in runs}
    # the work was shared: both workers' processes executed some
    assert len({r.instance_id for r in runs}) >= 2


def test_a_killed_worker_loses_nothing_and_its_runs_are_abandoned_then_retried(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    doomed = start_worker(workers, postgres_database, broker, queue, "doomed", concurrency=2)
    start_worker(workers, postgres_database, broker, queue, "survivor", concurrency=2)
    at = datetime.now(UTC) + timedelta(seconds=2)
    leader.add_tasks(
        [
            record_task(f"slow-{i:02d}", at, ledger, seconds=1.5, retries=1, retry_delay=0.2)
            for i in range(24)
        ]
    )
    leader.start()
    store = leader.store

    wait_until(lambda: len(read_ledger(ledger)) >= 4, timeout=60, what="runs started")
    doomed_ids = {f"celery@{HOSTNAME}:{pid}" for pid in session_members(doomed.process.pid)}
    doomed.kill()

    runs = wait_until(
        lambda: _every_occurrence_succeeded(store, 24),
        timeout=120,
        what="every occurrence succeeded",
    )

    executions = read_ledger(ledger)
    per_attempt = Counter((run_id, attempt) for run_id, attempt, _ in executions)
    assert max(per_attempt.values()) == 1  # no attempt executed twice, redelivered or not
    abandoned = [r for r in runs if r.status is RunStatus.ABANDONED]
    assert abandoned, "the killed worker was running some runs"
    assert {r.instance_id for r in abandoned} <= doomed_ids
    by_occurrence = {(r.task_id, r.attempt): r for r in runs}
    for run in abandoned:
        retry = by_occurrence[(run.task_id, run.attempt + 1)]
        assert retry.status is RunStatus.SUCCEEDED
        assert retry.reason == RunReason.RETRY
    assert not [r for r in runs if r.status in (RunStatus.QUEUED, RunStatus.RUNNING)]


def session_members(session: int) -> set[int]:
    """The processes of a session (the worker started one: its pool's children too)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == session:
                    members.add(int(entry.name))
            except OSError:
                continue
    return members


def _every_occurrence_succeeded(store: Store, tasks: int) -> list[Run]:
    runs = all_runs(store)
    if any(not r.status.is_terminal for r in runs):
        return []
    succeeded = {r.task_id for r in runs if r.status is RunStatus.SUCCEEDED}
    return runs if len(succeeded) == tasks else []


def test_a_run_past_its_timeout_on_a_worker_ends_timed_out(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    start_worker(workers, postgres_database, broker, queue, "w")
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks([record_task("too-slow", at, ledger, seconds=60, timeout=1)])
    leader.start()

    (run,) = wait_until(lambda: settled(leader.store, 1), timeout=60, what="the run ended")

    assert run.status is RunStatus.TIMED_OUT, run.error
    assert "timed out after 1s" in (run.error or "")
    assert (run.instance_id or "").startswith("celery@")
    assert len(read_ledger(ledger)) == 1


def test_an_action_that_ignores_its_soft_limit_is_killed_at_the_hard_one_and_timed_out(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    start_worker(workers, postgres_database, broker, queue, "w")
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks([record_task("stubborn", at, ledger, seconds=60, func=STUBBORN, timeout=1)])
    leader.start()

    (run,) = wait_until(lambda: settled(leader.store, 1), timeout=60, what="the run ended")

    assert run.status is RunStatus.TIMED_OUT, run.error
    assert "hard time limit (6s) killed its process" in (run.error or "")
    assert len(read_ledger(ledger)) == 1


def test_a_message_delivered_twice_executes_once(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    """A redelivery (here: the same message sent again while its run goes on, as a broker
    does for an unacknowledged message) finds the run taken and does nothing."""
    first = start_worker(workers, postgres_database, broker, queue, "first")
    second = start_worker(workers, postgres_database, broker, queue, "second")
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks([record_task("once-only", at, ledger, seconds=2)])
    leader.start()
    store = leader.store
    (running,) = wait_until(
        lambda: store.list_runs(status=RunStatus.RUNNING, limit=5), timeout=30, what="a run"
    )
    from cronwell.dispatch.celery import CeleryPublisher
    from cronwell.dispatch.remote import Message

    publisher = CeleryPublisher.for_broker(broker, default_queue=queue)
    try:
        publisher.publish([Message(running.id, running.attempt, 1, queue, None)] * 2)
    finally:
        publisher.close()

    (run,) = wait_until(lambda: settled(store, 1), timeout=60, what="the run ended")
    wait_until(
        lambda: (first.output() + second.output()).count("'not claimed'") >= 2,
        timeout=30,
        what="the copies reached a worker",
    )
    assert run.status is RunStatus.SUCCEEDED
    assert len(read_ledger(ledger)) == 1


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_redelivery_after_a_worker_loses_its_connection_leaves_one_execution(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    """RabbitMQ gives an unacknowledged message to another consumer when the connection of
    the one that had it drops: the run is already taken, and the copy does nothing."""
    with CuttableProxy("127.0.0.1", 5672) as proxy:
        via_proxy = broker.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
        start_worker(workers, postgres_database, via_proxy, queue, "cut-off")
        at = datetime.now(UTC) + timedelta(seconds=1)
        leader.add_tasks([record_task("cut", at, ledger, seconds=4)])
        leader.start()
        store = leader.store
        wait_until(
            lambda: store.list_runs(status=RunStatus.RUNNING, limit=5),
            timeout=30,
            what="the run taken",
        )
        other = start_worker(workers, postgres_database, broker, queue, "other")
        proxy.cut()
        wait_until(
            lambda: "'not claimed'" in other.output(),
            timeout=60,
            what="the message redelivered to the other worker",
        )
        (run,) = wait_until(lambda: settled(store, 1), timeout=60, what="the run ended")
    assert run.status is RunStatus.SUCCEEDED
    assert len(read_ledger(ledger)) == 1
    assert run.instance_id is not None and run.instance_id not in other.output()


def test_a_run_no_worker_takes_is_missed_with_the_reason(
    leader: Cronwell, broker: str, queue: str, ledger: Path
) -> None:
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks([record_task("nobody", at, ledger, misfire_grace=1)])
    leader.start()

    (run,) = wait_until(lambda: settled(leader.store, 1), timeout=30, what="the run missed")

    assert run.status is RunStatus.MISSED
    assert run.reason == RunReason.NO_WORKER
    assert "No worker took it" in (run.error or "") and queue in (run.error or "")
    assert not read_ledger(ledger)


def leader_on(database_url: str, broker: str, queue: str, instance_id: str) -> Cronwell:
    return Cronwell(
        settings=Settings(
            database_url=database_url,
            instance_id=instance_id,
            executor="celery",
            celery_broker=broker,
            celery_queue=queue,
            poll_interval=0.2,
            lease_ttl=3,
        )
    )


def test_runs_waiting_for_a_worker_show_as_queue_depth_until_one_comes(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks([record_task(f"wait-{i}", at, ledger, misfire_grace=600) for i in range(3)])
    leader.start()
    store = leader.store

    wait_until(lambda: store.remote.queue_depths() == {queue: 3}, timeout=30, what="3 queued")
    exposition = leader.metrics.exposition().decode()
    assert f'cronwell_queue_depth{{queue="{queue}"}} 3.0' in exposition
    assert not read_ledger(ledger)

    start_worker(workers, postgres_database, broker, queue, "late")
    runs = wait_until(lambda: settled(store, 3), timeout=60, what="the queued runs ran")

    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert f'cronwell_queue_depth{{queue="{queue}"}}' not in leader.metrics.exposition().decode()


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_a_run_on_a_worker_holds_its_slot_so_overlap_applies(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    start_worker(workers, postgres_database, broker, queue, "w", concurrency=2)
    task = record_task("every-second", datetime.now(UTC), ledger, seconds=2.5, overlap="skip")
    task["schedule"] = {"kind": "cron", "cron": "* * * * * *"}
    leader.add_tasks([task])
    leader.start()
    store = leader.store

    wait_until(
        lambda: len(store.list_runs(status=RunStatus.SUCCEEDED, limit=10)) >= 3,
        timeout=60,
        what="two runs done",
    )
    runs = store.list_runs(limit=100)
    skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
    assert skipped and {r.reason for r in skipped} == {RunReason.OVERLAP}
    # scheduled occurrences only: a catch-up run (the task's first look may make one) runs
    # whatever else is going, by design
    done = sorted(
        (r for r in runs if r.status is RunStatus.SUCCEEDED and r.reason == RunReason.SCHEDULE),
        key=lambda r: r.id,
    )
    assert len(done) >= 2
    for earlier, later in itertools.pairwise(done):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at  # never two at once


def test_a_new_leader_watches_the_runs_the_last_one_sent(
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    """The first leader stops while its run goes on on a worker; the next one sees it fail
    and retries it, as the first would have."""
    start_worker(workers, postgres_database, broker, queue, "w")
    store = Store(postgres_database)
    store.upgrade()
    first = leader_on(postgres_database, broker, queue, "first")
    at = datetime.now(UTC) + timedelta(seconds=1)
    first.add_tasks(
        [record_task("handed-over", at, ledger, 3, func=FAIL_FIRST, retries=1, retry_delay=0.2)]
    )
    first.start()
    wait_until(lambda: store.list_runs(status=RunStatus.RUNNING, limit=5), timeout=30, what="taken")
    first.shutdown()
    first.close()
    second = leader_on(postgres_database, broker, queue, "second")
    second.start()
    try:
        runs = wait_until(
            lambda: [r for r in store.list_runs(limit=10) if r.status is RunStatus.SUCCEEDED],
            timeout=60,
            what="the retry succeeded",
        )
    finally:
        second.shutdown()
        second.close()
        store.close()
    (retry,) = runs
    assert (retry.attempt, retry.reason) == (2, RunReason.RETRY)
    assert [attempt for _, attempt, _ in read_ledger(ledger)] == [1, 2]


@pytest.mark.parametrize("broker", ["redis"], indirect=True)
def test_shell_http_and_python_actions_run_on_workers_and_alerts_name_the_worker(
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
    receiver: Receiver,
) -> None:
    start_worker(workers, postgres_database, broker, queue, "w", concurrency=2)
    store = Store(postgres_database)
    store.upgrade()
    cw = Cronwell(
        settings=Settings(
            database_url=postgres_database,
            instance_id="leader",
            executor="celery",
            celery_broker=broker,
            celery_queue=queue,
            channels={"ops": receiver.url("json")},
            alert_channels=["ops"],
        )
    )
    at = datetime.now(UTC) + timedelta(seconds=1)
    cw.add_tasks(
        [
            record_task("python", at, ledger),
            {
                "id": "shell",
                "schedule": once(at),
                "action": {"kind": "shell", "command": "echo from-a-worker"},
            },
            {
                "id": "http",
                "schedule": once(at),
                "action": {"kind": "http", "url": receiver.url("http", "ping")},
            },
            {
                "id": "broken",
                "schedule": once(at),
                "action": {"kind": "shell", "command": "exit 3"},
            },
        ]
    )
    cw.start()
    try:
        runs = {
            r.task_id: r for r in wait_until(lambda: settled(store, 4), timeout=60, what="4 runs")
        }
        alert = next(r.json() for r in receiver.wait_for(2) if r.method == "POST")
    finally:
        cw.shutdown()
        cw.close()
        store.close()

    assert {task_id: r.status for task_id, r in runs.items()} == {
        "python": RunStatus.SUCCEEDED,
        "shell": RunStatus.SUCCEEDED,
        "http": RunStatus.SUCCEEDED,
        "broken": RunStatus.FAILED,
    }
    assert "from-a-worker" in (runs["shell"].output or "")
    assert [r.path for r in receiver.requests if r.method == "GET"] == ["/ping"]
    assert all((r.instance_id or "").startswith("celery@") for r in runs.values())
    assert "broken" in alert["title"]
    assert f"{runs['broken'].instance_id} (queue {queue})" in alert["message"]


@pytest.mark.parametrize("broker", ["rabbitmq"], indirect=True)
def test_a_backlog_that_workers_take_from_waits_its_turn_past_the_grace(
    leader: Cronwell,
    workers: list[CeleryWorker],
    postgres_database: str,
    broker: str,
    queue: str,
    ledger: Path,
) -> None:
    """Six runs of a second each on one worker process wait up to six seconds, longer than
    their grace of two: the queue is moving, so none of them is missed."""
    start_worker(workers, postgres_database, broker, queue, "only")
    at = datetime.now(UTC) + timedelta(seconds=1)
    leader.add_tasks(
        [record_task(f"backlog-{i}", at, ledger, seconds=1, misfire_grace=2) for i in range(6)]
    )
    leader.start()

    runs = wait_until(lambda: settled(leader.store, 6), timeout=60, what="six runs ended")

    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    assert len(read_ledger(ledger)) == 6
