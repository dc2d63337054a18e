"""A FastAPI application running cronwell (``tests/support/asgi_app.py``), served by a real
uvicorn with two worker processes on loopback, on SQLite and PostgreSQL: each occurrence of
an every-second task executes exactly once across the workers, async tasks run on
uvicorn's event loop, the application's own lifespan wraps cronwell's, and stopping uvicorn
leaves no run ``running``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.store import Store

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ledger_lines(path: Path, kind: str) -> list[list[str]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.startswith(kind + " ")]


def test_two_uvicorn_workers_fire_each_occurrence_once_and_stop_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.txt"
    port = free_port()
    env = {
        **os.environ,
        "ASGI_TEST_LEDGER": str(ledger),
        "ASGI_TEST_DATABASE_URL": database_url,
        "CRONWELL_POLL_INTERVAL": "0.2",
        "CRONWELL_SHUTDOWN_GRACE": "1",
    }
    env.pop("CRONWELL_API_TOKEN", None)
    log = (tmp_path / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.support.asgi_app:app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--timeout-worker-healthcheck",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    store = Store(database_url)
    try:
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/hello", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=90, what="uvicorn to answer")
        wait_until(lambda: len(ledger_lines(ledger, "app-start")) == 2, 60, "two workers")
        wait_until(lambda: len(ledger_lines(ledger, "tick")) >= 6, 60, "six ticks")
        wait_until(
            lambda: store.list_runs(task_id="slow", status=RunStatus.RUNNING),
            30,
            "a slow run",
        )
        # the application's lifespan state reaches requests; the mounted API answers
        assert httpx.get(f"{base}/hello", timeout=5).json()["greeting"] == "hello"
        status = httpx.get(f"{base}/scheduler/api/v1/status", timeout=5)
        assert status.status_code == 200 and status.json()["running"] is True
        instances = store.list_instances()
        assert len({i.pid for i in instances}) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=90)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()
    output = (tmp_path / "uvicorn.log").read_text()
    assert code == 0, output

    starts = {
        int(pid): (loop, running) for _, pid, loop, running in ledger_lines(ledger, "app-start")
    }
    assert len(starts) == 2
    # the application's lifespan is entered before cronwell starts, and left after it stops
    assert all(running == "scheduler-running=False" for _, running in starts.values())
    stops = ledger_lines(ledger, "app-stop")
    assert sorted(int(pid) for _, pid, _, _ in stops) == sorted(starts)
    assert all(running == "scheduler-running=False" for *_, running in stops)

    ticks = ledger_lines(ledger, "tick")
    executions = Counter(key for _, key, _, _ in ticks)
    assert len(executions) >= 6
    assert set(executions.values()) == {1}, executions  # exactly once per occurrence
    # on the event loop of the worker that ran it: uvicorn's
    assert all(loop == starts[int(pid)][0] for _, _, pid, loop in ticks)

    # every execution has its one run row, and nothing is left running
    rows = store.list_runs(task_id="tick", limit=1000)
    assert Counter(r.scheduled_for for r in rows).most_common(1)[0][1] == 1
    assert store.count_runs(status=RunStatus.RUNNING) == 0
    # the slow run (and one the standby may have started while both stopped) was cut
    # short at the shutdown grace and recorded so
    started = {key for _, key, _, _ in ledger_lines(ledger, "slow")}
    interrupted = store.list_runs(task_id="slow", status=RunStatus.INTERRUPTED)
    assert started and {r.occurrence_key for r in interrupted} == started
    store.close()
