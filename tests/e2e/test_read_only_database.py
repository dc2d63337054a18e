"""Reading commands on an SQLite file the user may read but not write (a backup, a file of
another user, a read-only mount): they read it; changing commands say why they cannot."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cronwell import Cronwell, cron
from cronwell.domain.run import RunStatus


def _as_reader(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CRONWELL_DATABASE_URL": f"sqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=db.parent,
        check=False,
    )


@contextmanager
def _read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only for this process: a read-only bind mount for root (who ignores
    file modes), the modes otherwise."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in folder.iterdir()}
        for path in modes:
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
            for path, mode in modes.items():
                path.chmod(mode)
        return
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(folder), str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder outside pytest's own, so that a bind mount over it hides nothing else."""
    path = Path(tempfile.mkdtemp(prefix="cronwell-ro-"))
    yield path
    shutil.rmtree(path)


@pytest.fixture
def read_only_db(folder: Path) -> Iterator[Path]:
    """A database with a task and a finished run, in a folder this process cannot write."""
    db = folder / "cronwell.db"
    cw = Cronwell(f"sqlite:///{db}", "UTC")
    try:
        cw.add_task("nightly", schedule=cron("0 3 * * *"), shell="echo night")
        run = cw.run_now("nightly")
        assert run.status is RunStatus.SUCCEEDED
    finally:
        cw.close()
    assert not Path(f"{db}-wal").exists()  # a clean close checkpoints the log
    with _read_only(folder):
        yield db


def test_reading_commands_work_on_a_read_only_file(read_only_db: Path) -> None:
    before = read_only_db.read_bytes()

    tasks = _as_reader("tasks", "list", "--json", db=read_only_db)
    assert tasks.returncode == 0, tasks.stderr
    assert [t["id"] for t in json.loads(tasks.stdout)] == ["nightly"]

    runs = _as_reader("runs", "list", "--json", db=read_only_db)
    assert runs.returncode == 0, runs.stderr
    assert [(r["task_id"], r["status"]) for r in json.loads(runs.stdout)] == [
        ("nightly", "succeeded")
    ]

    shown = _as_reader("tasks", "show", "nightly", db=read_only_db)
    assert shown.returncode == 0, shown.stderr
    assert "night" in shown.stdout

    status = _as_reader("status", "--json", db=read_only_db)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["tasks"] == 1

    assert read_only_db.read_bytes() == before
    assert sorted(p.name for p in read_only_db.parent.iterdir()) == ["cronwell.db"]


def test_changing_commands_say_the_file_is_read_only(read_only_db: Path) -> None:
    result = _as_reader("tasks", "pause", "nightly", db=read_only_db)
    assert result.returncode == 5
    assert "read-only" in result.stderr
    assert "Traceback" not in result.stderr
    # and the stored task is as it was
    listed = _as_reader("tasks", "list", "--json", db=read_only_db)
    assert json.loads(listed.stdout)[0]["enabled"] is True


def test_a_read_only_file_that_needs_migrating_says_so(folder: Path) -> None:
    db = folder / "old.db"
    sqlite3.connect(db).close()  # an empty file: not a cronwell database yet
    with _read_only(folder):
        result = _as_reader("tasks", "list", db=db)
    assert result.returncode == 5
    assert "read-only" in result.stderr and "db upgrade" in result.stderr
    assert db.stat().st_size == 0  # still the empty file
