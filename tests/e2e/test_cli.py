"""The CLI as a user runs it: real subprocesses against real databases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tests.support.receiver import Receiver, closed_port, receiver, receiver_factory
from tests.support.waiting import wait_until

__all__ = ["receiver", "receiver_factory"]  # fixtures used by pytest

from cronwell.domain.run import RunStatus
from cronwell.store import Store


def cronwell(
    *args: str, db: str | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "CRONWELL_TIMEZONE": "Europe/Paris"}
    if db:
        env["CRONWELL_DATABASE_URL"] = db
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        check=False,
    )


def test_next_json_shape() -> None:
    result = cronwell(
        "next",
        "0 8 * * 1-5",
        "--tz",
        "Asia/Jerusalem",
        "-n",
        "3",
        "--after",
        "2026-11-23T00:00:00+02:00",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "expression": "0 8 * * 1-5",
        "description": "At 08:00 on Monday through Friday",
        "timezone": "Asia/Jerusalem",
        "times": [
            "2026-11-23T08:00:00+02:00",
            "2026-11-24T08:00:00+02:00",
            "2026-11-25T08:00:00+02:00",
        ],
        "dst_adjusted": [],
    }


def test_next_marks_dst_moves_for_people() -> None:
    result = cronwell(
        "next",
        "30 2 * * *",
        "--tz",
        "Europe/Paris",
        "-n",
        "2",
        "--after",
        "2026-03-28T12:00:00+01:00",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "At 02:30 every day" in lines[0]
    assert "2026-03-29T03:00:00+02:00" in lines[1] and "DST" in lines[1]
    assert "DST" not in lines[2]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["next", "0 8 * * 8"], "day-of-week field '8'"),
        (["next", "0 8 * *"], "has 4 fields"),
        (["next", "0 8 * * *", "--tz", "Europe/Pari"], "Did you mean 'Europe/Paris'"),
        (["next", "0 8 * * *", "--after", "tomorrow"], "not an ISO 8601 time"),
    ],
)
def test_bad_input_exits_2_with_a_sentence(args: list[str], fragment: str) -> None:
    result = cronwell(*args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_without_password() -> None:
    result = cronwell("tasks", "list", db="postgresql://admin:hunter2@127.0.0.1:1/prod")
    assert result.returncode == 5
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "hunter2" not in result.stderr
    assert "127.0.0.1:1/prod" in lines[0]


def test_task_lifecycle_through_the_cli(database_url: str) -> None:
    db = database_url
    added = cronwell(
        "tasks",
        "add",
        "report",
        "--cron",
        "0 8 * * 1-5",
        "--shell",
        "echo report done",
        "--tz",
        "Asia/Jerusalem",
        "--tag",
        "reports",
        db=db,
    )
    assert added.returncode == 0, added.stderr
    assert "At 08:00 on Monday through Friday" in added.stdout
    duplicate = cronwell("tasks", "add", "report", "--daily", "09:00", "--shell", "true", db=db)
    assert duplicate.returncode == 4 and "already exists" in duplicate.stderr
    unimportable = cronwell(
        "tasks", "add", "ghost", "--daily", "09:00", "--python", "nowhere.module:job", db=db
    )
    assert unimportable.returncode == 2 and "nowhere" in unimportable.stderr

    listed = json.loads(cronwell("tasks", "list", "--json", db=db).stdout)
    assert [t["id"] for t in listed] == ["report"]
    assert listed[0]["timezone"] == "Asia/Jerusalem"
    assert listed[0]["next_run"].endswith("+02:00")

    ran = cronwell("tasks", "run", "report", "--json", db=db)
    assert ran.returncode == 0, ran.stderr
    run = json.loads(ran.stdout)
    assert run["status"] == "succeeded" and "report done" in run["output"]

    shown = cronwell("runs", "show", str(run["id"]), db=db)
    assert "succeeded" in shown.stdout and "report done" in shown.stdout
    runs = json.loads(cronwell("runs", "list", "--task", "report", "--json", db=db).stdout)
    assert [r["id"] for r in runs] == [run["id"]]
    bad_status = cronwell("runs", "list", "--status", "exploded", db=db)
    assert bad_status.returncode == 2 and "succeeded" in bad_status.stderr

    shown = cronwell("tasks", "show", "report", db=db)
    assert "stats:    1 runs; 0 failed; success 100%" in shown.stdout
    assert cronwell("tasks", "pause", "report", db=db).returncode == 0
    show = json.loads(cronwell("tasks", "show", "report", "--json", db=db).stdout)
    assert show["task"]["enabled"] is False and len(show["runs"]) == 1
    assert show["stats"]["succeeded"] == 1
    assert cronwell("tasks", "resume", "report", db=db).returncode == 0
    assert cronwell("tasks", "remove", "report", db=db).returncode == 0
    missing = cronwell("tasks", "show", "report", db=db)
    assert missing.returncode == 3 and "No task with id 'report'" in missing.stderr


def test_policies_from_the_cli(database_url: str) -> None:
    added = cronwell(
        "tasks",
        "add",
        "careful",
        "--every",
        "1h",
        "--shell",
        "true",
        "--timeout",
        "15m",
        "--retries",
        "3",
        "--retry-delay",
        "5m",
        "--overlap",
        "queue_one",
        "--max-failures",
        "5",
        db=database_url,
    )
    assert added.returncode == 0, added.stderr
    shown = cronwell("tasks", "show", "careful", db=database_url).stdout
    assert "overlap queue_one" in shown and "timeout 15m" in shown
    assert "3 retries from 5m" in shown and "pause after 5 failures in a row" in shown
    bad = cronwell(
        "tasks",
        "add",
        "bad",
        "--every",
        "1h",
        "--shell",
        "true",
        "--overlap",
        "sometimes",
        db=database_url,
    )
    assert bad.returncode == 2 and "overlap" in bad.stderr


def test_failed_run_exits_1(database_url: str) -> None:
    cronwell(
        "tasks",
        "add",
        "broken",
        "--every",
        "1h",
        "--shell",
        "echo nope >&2; exit 3",
        db=database_url,
    )
    result = cronwell("tasks", "run", "broken", db=database_url)
    assert result.returncode == 1
    assert "exit code 3" in result.stdout and "nope" in result.stdout


def test_db_upgrade(database_url: str) -> None:
    result = cronwell("db", "upgrade", db=database_url)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_serve_runs_tasks_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db_path = tmp_path / "serve.db"
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(
        textwrap.dedent("""
        [[tasks]]
        id = "beat"
        every = "0.3s"
        action = { kind = "shell", command = "echo beat" }
    """)
    )
    env = {
        **os.environ,
        "CRONWELL_DATABASE_URL": f"sqlite:///{db_path}",
        "CRONWELL_TIMEZONE": "UTC",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronwell", "serve", "--tasks", str(tasks), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        # the example task and the built-in maintenance task
        assert "cronwell is running: 2 task(s)" in first and str(db_path) in first
        store = Store(f"sqlite:///{db_path}")
        wait_until(
            lambda: len(store.list_runs(task_id="beat", status=RunStatus.SUCCEEDED)) >= 2,
            what="two recorded runs",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "cronwell stopped." in out
    assert store.list_runs(status=RunStatus.RUNNING) == []
    store.close()


def test_serve_rejects_a_malformed_tasks_file(tmp_path: Path) -> None:
    bad = tmp_path / "tasks.toml"
    bad.write_text(
        '[[tasks]]\nid = "x"\ncron = "0 8 * *"\naction = { kind = "shell", command = "true" }\n'
    )
    result = cronwell("serve", "--tasks", str(bad), db=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert "has 4 fields" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[[tasks]\n")
    result = cronwell("serve", "--tasks", str(broken), db=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2 and "invalid TOML" in result.stderr


def test_alerts_test_and_list(database_url: str, receiver: Receiver) -> None:
    sent = cronwell("alerts", "test", receiver.url("json"), db=database_url)
    assert sent.returncode == 0, sent.stderr
    assert "sent a test alert" in sent.stdout
    assert "cronwell test alert" in receiver.wait_for(1)[0].json()["title"]
    secret = "pa55w0rdvalue"
    refused = cronwell(
        "alerts", "test", f"json://u:{secret}@127.0.0.1:{closed_port()}/x", db=database_url
    )
    assert refused.returncode == 1
    assert "could not deliver" in refused.stderr
    assert secret not in refused.stderr + refused.stdout
    listed = json.loads(cronwell("alerts", "list", "--json", db=database_url).stdout)
    assert [entry["status"] for entry in listed] == ["failed", "sent"]
    assert all(secret not in json.dumps(entry) for entry in listed)
    unknown = cronwell("alerts", "test", "nochannel", db=database_url)
    assert unknown.returncode == 1 and "no channel named 'nochannel'" in unknown.stderr


def test_alert_urls_in_task_output_are_redacted(database_url: str, tmp_path: Path) -> None:
    token = "S3cr3tT0k3nValue_abcdefghijklmnop"
    tasks = tmp_path / "tasks.toml"
    tasks.write_text(
        textwrap.dedent(f"""
        [[tasks]]
        id = "watched"
        every = "1h"
        action = {{ kind = "shell", command = "true" }}
        alerts = ["dev", {{ to = "discord://123456/{token}", events = ["failed"] }}]
    """)
    )
    assert cronwell("tasks", "add", "--file", str(tasks), db=database_url).returncode == 0
    listed = cronwell("tasks", "list", "--json", db=database_url).stdout
    shown = cronwell("tasks", "show", "watched", "--json", db=database_url).stdout
    assert token not in listed and token not in shown
    targets = json.loads(shown)["task"]["alerts"]
    assert targets[0]["to"] == "dev" and targets[1]["to"].startswith("discord://123456/")
