"""Seed 002 rebuilt (``examples/seeds/002_django_backend``): the poker backend's session
generator, declared with one decorator, runs for real under ``runserver`` with its
autoreloader, every second instead of at 05:00, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.store import Store
from cronwell.store.database import normalize_url

SEED = Path(__file__).resolve().parents[2] / "examples" / "seeds" / "002_django_backend"
START = 90.0
TASK = "generate_upcoming_game_sessions"


@pytest.fixture
def backend(tmp_path: Path, database_url: str) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "backend"
    shutil.copytree(SEED, root, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3*"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRONWELL_")},
        "DJANGO_DATABASE_URL": database_url,
        "GAME_SESSIONS_CRON": "* * * * * *",  # every second
    }
    return root, env


def manage(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def sessions(database_url: str) -> list[tuple[int, date]]:
    engine = sqlalchemy.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text("SELECT game_id, date FROM poker_event_gamesession")
            )
            return [(int(game), date.fromisoformat(str(day))) for game, day in rows]
    finally:
        engine.dispose()


def test_sessions_are_generated_on_schedule_once_per_game_and_day(
    backend: tuple[Path, dict[str, str]], database_url: str
) -> None:
    root, env = backend
    manage(root, env, "migrate")
    manage(root, env, "loaddata", "games")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (root / "runserver.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", str(port)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    store = Store(database_url)
    try:
        wait_until(
            lambda: store.list_runs(task_id=TASK, status=RunStatus.SUCCEEDED, limit=100)[2:],
            timeout=START,
            what="three runs of the generator",
        )
        assert store.get_task(TASK).timezone == "Australia/Sydney"
        assert len(store.list_instances()) == 1  # runserver's reloader scheduled nothing
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=120)
        log.close()
    try:
        ran = store.list_runs(task_id=TASK, limit=1000)
        assert len({r.scheduled_for for r in ran}) == len(ran)  # each second fired once
        assert store.list_runs(status=RunStatus.RUNNING, limit=10) == []
        assert store.list_instances() == []
    finally:
        store.close()

    found = sessions(database_url)
    assert len(found) == len(set(found))  # every run after the first created nothing new
    days = sorted(day for game, day in found if game == 2)  # the daily game
    assert len(days) == 14
    assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
    weekly = [day for game, day in found if game == 1]
    assert weekly
    assert {day.weekday() for day in weekly} == {4}  # Fridays only
    assert not [day for game, day in found if game == 3]  # the one-off game: none
    # the first run created all of them; later runs found them there
    returns = [r.return_value for r in ran if r.status is RunStatus.SUCCEEDED]
    assert str(len(found)) in returns
    assert "0" in returns
