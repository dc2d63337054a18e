"""The rows of runs executed by remote workers (DESIGN rule 13), on both backends: the
leader marks them queued, a worker takes each with a compare-and-set, the leader ends
those nobody took; and a scheduler with no broker says so on the run."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from cronwell import Cronwell, once
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.settings import Settings
from cronwell.store import NewRun, Store

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def recorded(store: Store, count: int) -> list[int]:
    ids = store.insert_runs(
        [
            NewRun(f"t-{i}", NOW, status=RunStatus.RUNNING, started_at=NOW, instance_id="leader")
            for i in range(count)
        ]
    )
    assert None not in ids
    return [run_id for run_id in ids if run_id is not None]


def test_queued_rows_wait_for_a_worker_and_count_in_their_queue(store: Store) -> None:
    first, second, third = recorded(store, 3)

    assert sorted(store.remote.mark_queued([first, second], "reports")) == [first, second]
    assert store.remote.mark_queued([third], "etl") == [third]

    queued = store.get_run(first)
    assert (queued.status, queued.queue, queued.started_at) == (RunStatus.QUEUED, "reports", None)
    assert store.remote.queue_depths() == {"reports": 2, "etl": 1}
    assert {s.run_id for s in store.remote.in_flight()} == {first, second, third}
    # history retention never removes a run still waiting for its worker
    assert store.prune_runs(NOW + timedelta(days=365)) == 0


def test_one_worker_takes_a_run_however_often_it_is_asked(store: Store) -> None:
    (run_id,) = recorded(store, 1)
    store.remote.mark_queued([run_id], "cronwell")
    later = NOW + timedelta(seconds=2)

    taken = store.remote.claim(run_id, "celery@host-a:11", "host-a", later)
    again = store.remote.claim(run_id, "celery@host-b:22", "host-b", later)

    assert taken is not None and again is None
    assert (taken.status, taken.instance_id, taken.host) == (
        RunStatus.RUNNING,
        "celery@host-a:11",
        "host-a",
    )
    assert taken.started_at == later
    assert store.remote.queue_depths() == {}


def test_the_leader_ends_only_runs_still_in_the_state_it_saw(store: Store) -> None:
    waiting, taken = recorded(store, 2)
    store.remote.mark_queued([waiting, taken], "cronwell")
    store.remote.claim(taken, "celery@h:1", "h", NOW)

    ended = store.remote.end(
        [(waiting, None), (taken, None)],
        RunStatus.QUEUED,
        RunStatus.MISSED,
        NOW + timedelta(minutes=1),
        reason=RunReason.NO_WORKER,
        error="No worker took it",
    )

    assert ended == [waiting]
    missed = store.get_run(waiting)
    assert (missed.status, missed.reason, missed.error) == (
        RunStatus.MISSED,
        RunReason.NO_WORKER,
        "No worker took it",
    )
    assert store.get_run(taken).status is RunStatus.RUNNING
    assert [s.run_id for s in store.remote.in_flight()] == [taken]


def test_a_celery_task_without_a_broker_fails_with_a_sentence(database_url: str) -> None:
    store = Store(database_url)
    store.upgrade()
    store.close()
    cw = Cronwell(settings=Settings(database_url=database_url, instance_id="solo"))
    ended = threading.Event()
    seen: list[Run] = []
    cw.on_run(lambda run: (seen.append(run), ended.set()))
    at = datetime.now(UTC) + timedelta(seconds=1)
    cw.add_task("heavy", schedule=once(at), shell="true", executor="celery")
    cw.start()
    try:
        assert ended.wait(30)
    finally:
        cw.shutdown()
        cw.close()
    (run,) = seen
    assert run.status is RunStatus.FAILED
    assert "CRONWELL_CELERY_BROKER" in (run.error or "")
    assert run.queue is None
