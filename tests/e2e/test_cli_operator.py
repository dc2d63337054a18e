"""Operator-facing defects of the CLI (issue 19, section 5), driven as a user drives it: the
real ``cronwell`` command in a subprocess against real SQLite files and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cronwell.version import __version__

MARKUP = "[/etc] [bold]x[/bold] [red]"


def cronwell(
    *args: str, db: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "CRONWELL_TIMEZONE": "Europe/Paris"}
    full_env.pop("CRONWELL_DATABASE_URL", None)
    full_env.pop("CRONWELL_LOG_LEVEL", None)
    if db:
        full_env["CRONWELL_DATABASE_URL"] = db
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        cwd=cwd,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "MarkupError" not in result.stderr, result.stderr
    return result.stdout


# -- 1. text from users is shown as written, never read as Rich markup -------------------


def test_markup_in_user_text_is_shown_literally(database_url: str, tmp_path: Path) -> None:
    db = database_url
    (tmp_path / "markmod.py").write_text(
        f"def boom():\n    raise RuntimeError({'boom ' + MARKUP!r})\n", encoding="utf-8"
    )
    env = {"PYTHONPATH": str(tmp_path)}
    command = f"echo 'out {MARKUP}'; exit 3"
    _ok(
        cronwell(
            "tasks", "add", "marked", "--cron", "0 8 * * *", "--shell", command,
            "--name", f"name {MARKUP}", "--description", f"about {MARKUP}",
            "--tag", f"tag {MARKUP}", db=db,
        )
    )  # fmt: skip
    _ok(cronwell("tasks", "add", "boom", "--cron", "0 8 * * *", "--python", "markmod:boom",
                 db=db, env=env))  # fmt: skip

    out = _ok(cronwell("tasks", "run", "marked", db=db), 1)
    assert f"out {MARKUP}" in out
    out = _ok(cronwell("tasks", "run", "boom", db=db, env=env), 1)
    assert f"boom {MARKUP}" in out  # the error line and the traceback

    listed = _ok(cronwell("tasks", "list", db=db))
    assert f"echo 'out {MARKUP}'" in listed  # the command, as written

    shown = _ok(cronwell("tasks", "show", "marked", db=db))
    for text in (f"name {MARKUP}", f"about {MARKUP}", f"tag {MARKUP}", f"out {MARKUP}"):
        assert text in shown, text
    shown = _ok(cronwell("tasks", "show", "boom", db=db))
    assert f"boom {MARKUP}" in shown  # the latest runs' errors

    runs = _ok(cronwell("runs", "list", db=db))
    assert f"boom {MARKUP}" in runs

    run_id = str(
        json.loads(_ok(cronwell("runs", "list", "--task", "boom", "--json", db=db)))[0]["id"]
    )
    one = _ok(cronwell("runs", "show", run_id, db=db))
    assert f"RuntimeError: boom {MARKUP}" in one


# -- 6. runs of a task that does not exist --------------------------------------------------


def test_runs_of_an_unknown_task_exit_3(database_url: str) -> None:
    db = database_url
    _ok(cronwell("tasks", "add", "known", "--every", "1h", "--shell", "true", db=db))
    result = cronwell("runs", "list", "--task", "nope", db=db)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "nope" in result.stderr and "no task" in result.stderr.lower()
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    # a task that exists and has not run yet is an empty list, not an error
    assert json.loads(_ok(cronwell("runs", "list", "--task", "known", "--json", db=db))) == []


# -- 7. ordinals in schedule descriptions ---------------------------------------------------


def test_next_spells_ordinals() -> None:
    out = _ok(cronwell("next", "*/21 * * * *", "--tz", "UTC", "-n", "1"))
    assert "Every 21st minute" in out.splitlines()[0]


# -- 2. the log level of serve ------------------------------------------------------------


def _serve_once(tmp_path: Path, *args: str, env: dict[str, str]) -> tuple[str, str]:
    """Start ``serve --no-api``, wait until it is up, stop it with SIGTERM; its output."""
    full_env = {**os.environ, "CRONWELL_TIMEZONE": "UTC", **env}
    full_env["CRONWELL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    if "CRONWELL_LOG_LEVEL" not in env:
        full_env.pop("CRONWELL_LOG_LEVEL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronwell", "serve", "--no-api", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # ends when the process does
            lines.append(line)
            if line.startswith("Press Ctrl+C"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    return "".join(lines) + out, err


def test_serve_honours_cronwell_log_level(tmp_path: Path) -> None:
    _, err = _serve_once(tmp_path, env={})
    assert "action=engine_started" in err  # INFO by default
    _, err = _serve_once(tmp_path, env={"CRONWELL_LOG_LEVEL": "WARNING"})
    assert "action=engine_started" not in err
    assert "action=engine_stopped" not in err
    # the option wins over the variable
    _, err = _serve_once(tmp_path, "--log-level", "info", env={"CRONWELL_LOG_LEVEL": "WARNING"})
    assert "action=engine_started" in err


@pytest.mark.parametrize(
    ("args", "env", "source"),
    [
        (["--log-level", "bogus"], {}, "--log-level"),
        ([], {"CRONWELL_LOG_LEVEL": "bogus"}, "CRONWELL_LOG_LEVEL"),
    ],
)
def test_a_bad_log_level_is_one_sentence(
    tmp_path: Path, args: list[str], env: dict[str, str], source: str
) -> None:
    result = cronwell("serve", "--no-api", *args, db=f"sqlite:///{tmp_path / 'x.db'}", env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert source in result.stderr and "bogus" in result.stderr
    assert all(level in result.stderr.lower() for level in ("debug", "warning", "critical"))
    assert not (tmp_path / "x.db").exists()


# -- 3. --version ---------------------------------------------------------------------------


def test_version() -> None:
    result = cronwell("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cronwell {__version__}\n"


# -- 5. failing and reading commands create no database --------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["tasks", "list"],
        ["tasks", "show", "nope"],
        ["tasks", "pause", "nope"],
        ["tasks", "run", "nope"],
        ["runs", "list"],
        ["runs", "list", "--task", "nope"],
        ["runs", "show", "1"],
        ["status"],
        ["alerts", "list"],
    ],
)
def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "typo.db"
    result = cronwell(*args, db=f"sqlite:///{missing}", cwd=tmp_path)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert f"No database at {missing}" in result.stderr
    assert "cronwell db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder" / "cronwell.db"
    result = cronwell("tasks", "list", db=f"sqlite:///{missing}")
    assert result.returncode == 3, result.stderr
    assert f"No database at {missing}" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--tz", "Europe/Pari", "--cron", "0 8 * * *", "--shell", "true"], 2),
        (["--cron", "0 8 * *", "--shell", "true"], 2),
        (["--every", "soon", "--shell", "true"], 2),
        (["--cron", "0 8 * * *", "--python", "no_such_module_here:f"], 2),
        (["--at", "2001-01-01T00:00:00+00:00", "--shell", "true"], 2),
    ],
)
def test_a_refused_first_task_creates_no_database(
    tmp_path: Path, args: list[str], code: int
) -> None:
    result = cronwell("tasks", "add", "first", *args, db=f"sqlite:///{tmp_path / 'new.db'}")
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
    # a valid one does create it
    created = cronwell(
        "tasks", "add", "first", "--every", "1h", "--shell", "true",
        db=f"sqlite:///{tmp_path / 'new.db'}",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "new.db").exists()


def test_reading_an_empty_postgresql_database_migrates_nothing(postgres_database: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    result = cronwell("tasks", "show", "nope", db=postgres_database)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "No cronwell tables in" in result.stderr
    libpq = make_url(postgres_database).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(hide_password=False)) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (0,)


# -- 8. a progress bar for db upgrade on a terminal -----------------------------------------


def _on_a_terminal(*args: str, db: str) -> str:
    """Run the CLI with a pseudo-terminal as its standard output; what it wrote there."""
    import pty

    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm", "CRONWELL_DATABASE_URL": db}
    env.pop("NO_COLOR", None)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronwell", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    return b"".join(chunks).decode("utf-8", "replace")


def test_db_upgrade_shows_a_progress_bar_on_a_terminal_only(database_url: str) -> None:
    import re

    shown = _on_a_terminal("db", "upgrade", db=database_url)
    assert "migrating" in shown and "━" in shown
    finished = re.findall(r"(\d+)/(\d+)", re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown))
    assert finished and finished[-1][0] == finished[-1][1] != "0"  # all pending applied
    assert "is up to date" in shown
    # a current database: no bar
    assert "migrating" not in _on_a_terminal("db", "upgrade", db=database_url)


def test_db_upgrade_prints_plain_text_to_a_pipe(tmp_path: Path) -> None:
    db = tmp_path / "piped.db"
    out = _ok(cronwell("db", "upgrade", db=f"sqlite:///{db}"))
    assert out == f"database at {db} is up to date\n"
