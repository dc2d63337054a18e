"""The service across crashes and stops, as an operator sees it: a real ``cronwell serve``
process killed with SIGKILL mid-run, and one stopped for a while."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.waiting import wait_until

from cronwell.domain.run import Run, RunStatus
from cronwell.store import Store


class Service:
    """``cronwell serve`` on an SQLite file, started and stopped by the test."""

    def __init__(self, tmp_path: Path, tasks: str) -> None:
        self.db = tmp_path / "service.db"
        self.tasks = tmp_path / "tasks.toml"
        self.tasks.write_text(textwrap.dedent(tasks))
        self.env = {
            **os.environ,
            "CRONWELL_DATABASE_URL": f"sqlite:///{self.db}",
            "CRONWELL_TIMEZONE": "UTC",
            "CRONWELL_POLL_INTERVAL": "0.2",
            "CRONWELL_SHUTDOWN_GRACE": "2",
        }
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronwell", "serve", "--tasks", str(self.tasks), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        assert "cronwell is running" in self.proc.stdout.readline()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.communicate(timeout=30)
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    created: list[Service] = []

    def make(tasks: str) -> Service:
        created.append(Service(tmp_path, tasks))
        return created[-1]

    yield make  # type: ignore[misc]
    for item in created:
        item.kill()


def test_a_run_of_a_killed_service_is_abandoned_at_the_next_start(service: object) -> None:
    svc: Service = service("""
        [[tasks]]
        id = "long"
        every = "1s"
        action = { kind = "shell", command = "sleep 30" }
    """)  # type: ignore[operator]
    svc.start()
    store = Store(f"sqlite:///{svc.db}")
    running = wait_until(
        lambda: store.list_runs(task_id="long", status=RunStatus.RUNNING),
        timeout=15,
        what="a running run",
    )[0]
    svc.stop(signal.SIGKILL)  # no chance to record anything
    assert store.get_run(running.id).status is RunStatus.RUNNING
    svc.start()
    abandoned = wait_until(
        lambda: store.get_run(running.id).status is RunStatus.ABANDONED, what="the abandon"
    )
    assert abandoned
    run = store.get_run(running.id)
    assert run.reason == "process_died"
    assert "stopped before the run finished" in (run.error or "")
    assert svc.stop() == 0
    assert store.list_runs(status=RunStatus.RUNNING) == []
    store.close()


def test_a_stopped_service_records_missed_occurrences_and_catches_up(service: object) -> None:
    svc: Service = service("""
        [[tasks]]
        id = "beat"
        every = "1s"
        catchup = "latest"
        action = { kind = "shell", command = "echo beat" }
    """)  # type: ignore[operator]
    svc.start()
    store = Store(f"sqlite:///{svc.db}")
    wait_until(
        lambda: store.list_runs(task_id="beat", status=RunStatus.SUCCEEDED),
        timeout=15,
        what="a first run",
    )
    assert svc.stop() == 0
    # The first start may itself have caught up an occurrence that fell due between loading
    # the tasks file and the engine's start (a slow start crosses a second); only what
    # follows the outage is under test here.
    before_outage = max(r.id for r in store.list_runs(task_id="beat", limit=1000))
    threading.Event().wait(4)  # the outage under test: occurrences fall due unseen
    svc.start()

    def catchups() -> list[Run]:
        return [
            r
            for r in store.list_runs(task_id="beat", limit=1000)
            if r.reason == "catchup" and r.id > before_outage
        ]

    wait_until(lambda: any(r.status.is_terminal for r in catchups()), what="the catch-up run")
    assert svc.stop() == 0
    caught_up = catchups()
    missed = [
        r
        for r in store.list_runs(task_id="beat", status=RunStatus.MISSED, limit=1000)
        if r.id > before_outage
    ]
    assert len(caught_up) == 1
    assert caught_up[0].status is RunStatus.SUCCEEDED
    assert len(missed) >= 2
    assert {r.reason for r in missed} == {"scheduler_down"}
    assert max(r.scheduled_for for r in missed) < caught_up[0].scheduled_for
    store.close()


def test_a_second_service_on_one_sqlite_file_stands_by_and_takes_over(
    service: object,
) -> None:
    first: Service = service("""
        [[tasks]]
        id = "beat"
        every = "0.5s"
        action = { kind = "shell", command = "echo beat" }
    """)  # type: ignore[operator]
    second: Service = service("""
        [[tasks]]
        id = "beat"
        every = "0.5s"
        action = { kind = "shell", command = "echo beat" }
    """)  # type: ignore[operator]
    first.start()
    second.start()  # the same database file: tmp_path is shared
    assert second.proc is not None and second.proc.stdout is not None
    assert "stands by and takes over if that one stops" in second.proc.stdout.readline()
    store = Store(f"sqlite:///{first.db}")
    wait_until(
        lambda: len(store.list_runs(task_id="beat", status=RunStatus.SUCCEEDED)) >= 2,
        what="runs by the first service",
    )
    assert len({r.instance_id for r in store.list_runs(task_id="beat", limit=1000)}) == 1
    assert first.stop() == 0
    wait_until(
        lambda: len({r.instance_id for r in store.list_runs(task_id="beat", limit=1000)}) == 2,
        what="the second service to take over",
    )
    assert second.stop() == 0
    keys = [(r.scheduled_for, r.attempt) for r in store.list_runs(task_id="beat", limit=1000)]
    assert len(keys) == len(set(keys))
    store.close()


def test_the_service_serves_its_api(service: object) -> None:
    svc: Service = service("""
        [[tasks]]
        id = "beat"
        every = "1h"
        action = { kind = "shell", command = "echo beat" }
    """)  # type: ignore[operator]
    svc.start()
    assert svc.proc is not None and svc.proc.stdout is not None
    api_line = next(line for line in svc.proc.stdout if line.startswith("API on "))
    base = api_line.split()[2].removesuffix("/api/v1")
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json()["ready"] is True
    tasks = httpx.get(f"{base}/api/v1/tasks").json()
    assert [t["id"] for t in tasks["items"]] == ["beat", "cronwell-maintenance"]
    assert svc.stop() == 0


def test_the_api_is_not_served_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    env = {**os.environ, "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    env.pop("CRONWELL_API_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "cronwell", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 6
    assert "CRONWELL_API_TOKEN" in result.stderr and "127.0.0.1" in result.stderr


def _serve_a_long_run_then_cut(
    service: object, proxy: object, url: str, store: Store
) -> tuple[Service, Run]:
    """``cronwell serve`` through the proxy with a shell run going, then the proxy cut."""
    svc: Service = service("""
        [[tasks]]
        id = "long"
        every = "1h"
        action = { kind = "shell", command = "sleep 30" }
    """)  # type: ignore[operator]
    svc.env["CRONWELL_DATABASE_URL"] = url
    svc.env["CRONWELL_SHUTDOWN_GRACE"] = "1"
    svc.start()
    # a new task's first occurrence comes an hour from now: hand the service a run
    subprocess.run(
        [sys.executable, "-m", "cronwell", "tasks", "run", "long", "--queue"],
        env=svc.env,
        check=False,
        capture_output=True,
        timeout=30,
    )
    running = wait_until(
        lambda: store.list_runs(task_id="long", status=RunStatus.RUNNING),
        timeout=15,
        what="a running run",
    )[0]
    proxy.cut()  # type: ignore[attr-defined]
    return svc, running


def test_sigterm_during_a_database_outage_records_runs_interrupted_when_it_returns(
    service: object, postgres_database: str
) -> None:
    """Issue 18, defect 8: ``serve`` stopped while PostgreSQL is unreachable (a proxy the
    test cuts; the shared server keeps running) keeps retrying its last writes within the
    shutdown grace: the database returns, the run is recorded ``interrupted``, and the
    service exits 0 instead of leaving it ``running`` for the next start to abandon."""
    from tests.support.proxy import proxied

    with proxied(postgres_database, lifetime=120) as (proxy, url):
        store = Store(postgres_database)
        try:
            svc, running = _serve_a_long_run_then_cut(service, proxy, url, store)
            assert svc.proc is not None
            svc.proc.send_signal(signal.SIGTERM)
            # the grace passes and the command is killed while the database is away
            threading.Event().wait(2.0)
            assert svc.proc.poll() is None  # still retrying its last writes
            proxy.restore()
            svc.proc.communicate(timeout=30)
            assert svc.proc.returncode == 0
            svc.proc = None
            run = store.get_run(running.id)
            assert (run.status, run.reason) == (RunStatus.INTERRUPTED, "shutdown")
        finally:
            proxy.restore()
            store.close()


def test_sigterm_during_a_longer_outage_exits_5_and_the_next_start_abandons_the_run(
    service: object, postgres_database: str
) -> None:
    """The trade-off of docs/discussions/run-policies.md ("Database outages"): past the
    shutdown grace the service stops anyway, says so and exits 5; its run stays
    ``running`` until the next start records it ``abandoned``."""
    from tests.support.proxy import proxied

    with proxied(postgres_database, lifetime=120) as (proxy, url):
        store = Store(postgres_database)
        try:
            svc, running = _serve_a_long_run_then_cut(service, proxy, url, store)
            assert svc.stop() == 5
            proxy.restore()
            assert store.get_run(running.id).status is RunStatus.RUNNING
            svc.start()
            wait_until(
                lambda: store.get_run(running.id).status is RunStatus.ABANDONED,
                what="the abandon",
            )
            assert svc.stop() == 0
        finally:
            proxy.restore()
            store.close()
