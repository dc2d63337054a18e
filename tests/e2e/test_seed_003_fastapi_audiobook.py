"""Seed 003 rebuilt (``examples/seeds/003_fastapi_audiobook``): its real schedules as the seed
declared them, and the app under a real uvicorn firing every job every second, with the
run rows as the task records and the mounted API behind the app's own check."""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.store import Store

SEED = Path(__file__).resolve().parents[2] / "examples" / "seeds" / "003_fastapi_audiobook"
ADMIN = {"X-Admin-Token": "change-me"}
JOBS = {
    "mam_scraping": "0 2 * * *",
    "top10_discovery": "0 3 * * sun",
    "metadata_full": "0 4 1 * *",
    "metadata_new": "30 4 * * sun",
    "series_completion": "0 3 2 * *",
    "author_completion": "0 3 3 * *",
    "cronwell-maintenance": "0 1 * * *",  # the seed's cleanup_old_tasks
}


@pytest.fixture
def seed_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """``audiobook.main`` imported afresh, on a database of its own, real schedules."""
    monkeypatch.syspath_prepend(str(SEED))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'audiobook.db'}")
    monkeypatch.setenv("AUDIOBOOK_ADMIN_TOKEN", ADMIN["X-Admin-Token"])
    monkeypatch.setenv("CRONWELL_TIMEZONE", "UTC")
    monkeypatch.delenv("AUDIOBOOK_EVERY_SECONDS", raising=False)
    for name in [n for n in sys.modules if n == "audiobook" or n.startswith("audiobook.")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module("audiobook.main")
    yield module
    module.cw.close()


def test_the_seeds_schedules_as_it_declared_them(seed_module: Any) -> None:
    with TestClient(seed_module.app) as client:
        assert client.get("/scheduler/api/v1/tasks").status_code == 401
        tasks = client.get("/scheduler/api/v1/tasks", headers=ADMIN).json()["items"]
        assert {t["id"]: t["schedule"]["cron"] for t in tasks} == JOBS
        names = {t["id"]: t["name"] for t in tasks}
        assert names["top10_discovery"] == "Weekly Top-10 Discovery"
        mam = next(t for t in tasks if t["id"] == "mam_scraping")
        assert mam["misfire_grace"] == 900 and mam["overlap"] == "skip"
        preview = client.get("/scheduler/api/v1/tasks/top10_discovery/preview", headers=ADMIN)
        fires = [datetime.fromisoformat(at) for at in preview.json()["times"]]
        # Sundays at 03:00, as the seed meant (APScheduler's day_of_week="sun")
        assert fires and all((at.weekday(), at.hour) == (6, 3) for at in fires)


def test_the_seed_under_uvicorn_fires_every_job_and_stops_cleanly(
    database_url: str, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "AUDIOBOOK_ADMIN_TOKEN": ADMIN["X-Admin-Token"],
        "AUDIOBOOK_EVERY_SECONDS": "1",
        "CRONWELL_POLL_INTERVAL": "0.2",
    }
    log = (tmp_path / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "audiobook.main:app", "--port", str(port)],
        cwd=SEED,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/scheduler/api/v1"
    try:

        def succeeded(task_id: str) -> list[dict[str, Any]]:
            try:
                answer = httpx.get(
                    f"{base}/runs",
                    params={"task_id": task_id, "status": "succeeded"},
                    headers=ADMIN,
                    timeout=5,
                )
            except httpx.HTTPError:
                return []
            items: list[dict[str, Any]] = answer.json()["items"] if answer.is_success else []
            return items

        for job in JOBS:
            if job != "cronwell-maintenance":
                wait_until(lambda job=job: len(succeeded(job)) >= 2, 90, f"two runs of {job}")
        # the run row is the seed's task record: counts and the handler's log lines
        mam = succeeded("mam_scraping")[0]
        assert mam["counters"] == {"processed": 100.0, "succeeded": 95.0, "failed": 5.0}
        assert "guides and torrents: 100 items" in mam["output"]
        # the seed's pause_job / resume_job, through the mounted API
        assert httpx.post(f"{base}/tasks/mam_scraping/pause", headers=ADMIN).is_success
        status = httpx.get(f"{base}/status", headers=ADMIN, timeout=5).json()
        assert status["running"] is True
        assert httpx.get(f"{base}/status", timeout=5).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
            log.close()
    output = (tmp_path / "uvicorn.log").read_text()
    # a single uvicorn process ends by raising the signal it handled, once shut down
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    store = Store(database_url)
    try:
        assert store.count_runs(status=RunStatus.RUNNING) == 0
        assert store.count_runs(status=RunStatus.FAILED) == 0
        assert not store.get_task("mam_scraping").enabled
    finally:
        store.close()
