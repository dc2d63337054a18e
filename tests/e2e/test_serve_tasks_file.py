"""``cronwell serve --tasks FILE`` holds the service to its file, as an operator drives it:
a real ``cronwell serve`` process, the file edited on disk, then SIGHUP, ``cronwell reload
--url``, ``POST /api/v1/reload`` or ``--watch``; checked in the database, in the process's
log, in the HTTP answers and at a real alert receiver."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.receiver import Receiver, receiver, receiver_factory
from tests.support.waiting import wait_until

from cronwell.store import Store

__all__ = ["receiver", "receiver_factory"]  # fixtures

TOKEN = "reload-token-0123456789"
START = 30.0  # seconds a loaded machine may take to start a service

ORIGINAL = """
    [[tasks]]
    id = "gone"
    every = "1s"
    action = { kind = "shell", command = "echo gone" }

    [[tasks]]
    id = "changed"
    every = "1h"
    description = "before"
    action = { kind = "shell", command = "echo before" }

    [[tasks]]
    id = "kept"
    cron = "0 3 * * *"
    action = { kind = "shell", command = "echo kept" }
"""

EDITED = """
    [[tasks]]
    id = "changed"
    every = "2h"
    description = "after"
    action = { kind = "shell", command = "echo after" }

    [[tasks]]
    id = "kept"
    cron = "0 3 * * *"
    action = { kind = "shell", command = "echo kept" }

    [[tasks]]
    id = "new"
    every = "1s"
    action = { kind = "shell", command = "echo new" }
"""


class Service:
    """``cronwell serve --tasks FILE`` on a database; its stdout and stderr go to files (a
    full pipe would block it)."""

    def __init__(self, tmp_path: Path, database_url: str, **env: str) -> None:
        self.tasks = tmp_path / "tasks.toml"
        self.out = tmp_path / "serve.out"
        self.err = tmp_path / "serve.err"
        self.database_url = database_url
        self.env = {
            **os.environ,
            "CRONWELL_DATABASE_URL": database_url,
            "CRONWELL_TIMEZONE": "UTC",
            "CRONWELL_POLL_INTERVAL": "0.2",
            "CRONWELL_SHUTDOWN_GRACE": "2",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""

    def write(self, text: str) -> None:
        self.tasks.write_text(textwrap.dedent(text))

    def launch(self, *args: str) -> subprocess.Popen[bytes]:
        with self.out.open("wb") as out, self.err.open("wb") as err:
            command = [sys.executable, "-m", "cronwell", "serve", "--tasks", str(self.tasks)]
            self.proc = subprocess.Popen(
                [*command, "--port", "0", *args],
                stdout=out,
                stderr=err,
                env=self.env,
            )
        return self.proc

    def start(self, *args: str) -> str:
        proc = self.launch(*args)

        def listening() -> str | None:
            found = re.search(r"API on (http://\S+)/api/v1", self.out.read_text())
            if found is None and proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {self.log()[-3000:]}")
            return found.group(1) if found else None

        self.base = wait_until(listening, timeout=START, what="the service to listen")
        return self.base

    def log(self) -> str:
        return self.err.read_text(errors="replace")

    def records(self, action: str) -> list[dict[str, str]]:
        """The structured fields of each log record with ``action``."""
        found = []
        for line in self.log().splitlines():
            if f"action={action}" in line:
                found.append(dict(re.findall(r"(\w+)=(\S+)", line)))
        return found

    def wait_record(self, action: str, **fields: str) -> dict[str, str]:
        def match() -> dict[str, str] | None:
            for record in self.records(action):
                if all(record.get(k) == v for k, v in fields.items()):
                    return record
            return None

        return wait_until(match, timeout=START, what=f"a log record {action} {fields}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    made: list[Service] = []

    def make(database_url: str, **env: str) -> Service:
        made.append(Service(tmp_path, database_url, **env))
        return made[-1]

    yield make
    for service in made:
        service.kill()


@pytest.fixture
def db(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.close()


def cli(service: Service, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        capture_output=True,
        text=True,
        env={**service.env, **env},
        timeout=120,
        check=False,
    )


def terminal_runs(store: Store, task_id: str) -> int:
    return len([r for r in store.list_runs(task_id=task_id, limit=1000) if r.status.is_terminal])


def all_runs(store: Store, task_id: str) -> int:
    return len(store.list_runs(task_id=task_id, limit=1000))


def test_sighup_applies_the_edited_file_and_keeps_tasks_of_other_sources(
    make_service: Callable[..., Service], database_url: str, db: Store
) -> None:
    service = make_service(database_url)
    service.write(ORIGINAL)
    base = service.start()
    added = cli(service, "tasks", "add", "by-cli", "--every", "1h", "--shell", "echo cli")
    assert added.returncode == 0, added.stderr
    created = httpx.post(
        f"{base}/api/v1/tasks",
        json={
            "id": "by-api",
            "schedule": {"kind": "cron", "cron": "0 4 * * *"},
            "action": {"kind": "http", "url": "http://127.0.0.1:9/"},
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    wait_until(lambda: terminal_runs(db, "gone") >= 1, timeout=START, what="a run of 'gone'")
    before = db.get_task("changed")
    assert {t.id for t in db.list_tasks() if t.source == "tasks.toml"} == {
        "gone",
        "changed",
        "kept",
    }

    service.write(EDITED)
    assert service.proc is not None
    service.proc.send_signal(signal.SIGHUP)

    record = service.wait_record("config_applied", reason="SIGHUP")
    assert (record["tasks_created"], record["tasks_updated"], record["tasks_deleted"]) == (
        "1",
        "1",
        "1",
    )
    assert record["tasks_unchanged"] == "1"
    assert db.find_task("gone") is None
    changed = db.get_task("changed")
    assert changed.version > before.version
    assert changed.description == "after"
    assert changed.schedule.period == timedelta(hours=2)  # type: ignore[union-attr]
    assert db.get_task("new").source == "tasks.toml"
    # tasks made one at a time through the CLI and the API are never pruned by a reload
    assert db.get_task("by-cli").source != "tasks.toml"
    assert db.get_task("by-api").source != "tasks.toml"
    assert db.find_task("cronwell-maintenance") is not None

    # the running engine picked the change up: the new task fires, the deleted one no more
    wait_until(lambda: terminal_runs(db, "new") >= 1, timeout=START, what="a run of 'new'")
    gone_runs = all_runs(db, "gone")
    wait_until(lambda: terminal_runs(db, "new") >= 3, timeout=START, what="two more runs")
    assert all_runs(db, "gone") == gone_runs
    assert service.alive()
    assert service.stop() == 0


def test_cronwell_reload_and_the_api_apply_the_file_and_need_the_token(
    make_service: Callable[..., Service], database_url: str, db: Store
) -> None:
    service = make_service(database_url, CRONWELL_API_TOKEN=TOKEN)
    service.write(ORIGINAL)
    base = service.start()
    service.write(EDITED)

    refused = httpx.post(f"{base}/api/v1/reload", timeout=30)
    assert refused.status_code == 401
    assert db.find_task("gone") is not None  # nothing applied without the token
    without = cli(service, "reload", "--url", base, CRONWELL_API_TOKEN="")
    assert without.returncode == 8, without.stderr
    assert db.find_task("gone") is not None

    done = cli(service, "reload", "--url", base, "--token", TOKEN, CRONWELL_API_TOKEN="")
    assert done.returncode == 0, done.stderr
    assert "+ new" in done.stdout
    assert "~ changed" in done.stdout
    assert "- gone" in done.stdout
    assert "1 created, 1 updated, 1 deleted, 1 unchanged" in done.stdout
    assert db.find_task("gone") is None
    service.wait_record("config_applied", reason="api", tasks_deleted="1")

    service.write(
        EDITED
        + """
    [[tasks]]
    id = "third"
    cron = "15 1 * * *"
    timezone = "Europe/Paris"
    action = { kind = "shell", command = "echo third" }
    """
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{base}/api/v1/reload", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert plan["files"] == [str(service.tasks)]
    assert [item["id"] for item in plan["create"]] == ["third"]
    assert len(plan["create"][0]["next"]) == 3
    assert plan["create"][0]["next"][0].endswith(("+01:00", "+02:00"))  # Paris time
    assert (plan["update"], plan["delete"], plan["unchanged"]) == ([], [], 3)
    assert db.get_task("third").source == "tasks.toml"

    again = httpx.post(f"{base}/api/v1/reload", headers=headers, timeout=60).json()
    assert (again["create"], again["update"], again["delete"]) == ([], [], [])
    assert again["unchanged"] == 4
    assert service.stop() == 0


def test_an_invalid_edit_changes_nothing_keeps_serving_and_is_reported_everywhere(
    make_service: Callable[..., Service], database_url: str, db: Store, receiver: Receiver
) -> None:
    service = make_service(
        database_url,
        CRONWELL_CHANNELS=json.dumps({"ops": receiver.url("json")}),
        CRONWELL_SCHEDULER_CHANNELS='["ops"]',
    )
    service.write(ORIGINAL)
    base = service.start()
    wait_until(lambda: terminal_runs(db, "gone") >= 1, timeout=START, what="a run of 'gone'")
    stored = {t.id: t.version for t in db.list_tasks()}

    # "gone" removed, "new" added and "changed" edited, as in a good edit; but two entries
    # are wrong, so none of it may be applied
    service.write(
        EDITED
        + """
    [[tasks]]
    id = "bad-cron"
    cron = "61 * * * *"
    action = { kind = "shell", command = "true" }

    [[tasks]]
    id = "typo"
    evry = "5m"
    action = { kind = "shell", command = "true" }
    """
    )
    answer = httpx.post(f"{base}/api/v1/reload", timeout=60)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "DocumentError"
    problems: dict[str, list[dict[str, Any]]] = {}
    for problem in error["problems"]:
        problems.setdefault(problem["task"], []).append(problem)
    assert set(problems) == {"bad-cron", "typo"}
    assert all(p["file"] == str(service.tasks) for p in error["problems"])
    lines = service.tasks.read_text().splitlines()
    for task_id, found in problems.items():  # each at a line of its own task's table
        first = lines.index(f'id = "{task_id}"') + 1
        assert all(first - 1 <= p["line"] <= first + 2 for p in found), found
    assert any("'evry'" in p["message"] and "every" in p["message"] for p in problems["typo"])
    assert any("61" in p["message"] for p in problems["bad-cron"])
    for problem in error["problems"]:
        assert (
            f"{problem['file']}:{problem['line']}: task {problem['task']}: " in (error["message"])
        )

    assert {t.id: t.version for t in db.list_tasks()} == stored
    record = service.wait_record("config_rejected", reason="api")
    assert record["problems"] == str(len(error["problems"]))

    # the CLI says the same and exits 2; SIGHUP is rejected as well
    said = cli(service, "reload", "--url", base)
    assert said.returncode == 2
    assert f"{service.tasks}:{problems['typo'][0]['line']}: task typo: " in said.stderr
    assert service.proc is not None
    service.proc.send_signal(signal.SIGHUP)
    service.wait_record("config_rejected", reason="SIGHUP")
    assert {t.id: t.version for t in db.list_tasks()} == stored

    # an alert reached the scheduler channel, listing the problems
    def rejected() -> list[dict[str, Any]]:
        posted = [json.loads(r.body) for r in receiver.requests if r.method == "POST"]
        return [p for p in posted if "Tasks file rejected" in p["title"]]

    alert = wait_until(rejected, timeout=START, what="the config_rejected alert")[0]
    assert "bad-cron" in alert["message"]
    assert "typo" in alert["message"]
    assert alert["type"] == "warning"

    # the service goes on with what it had: "gone" still fires
    runs = terminal_runs(db, "gone")
    wait_until(lambda: terminal_runs(db, "gone") > runs, timeout=START, what="'gone' to fire")
    assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
    assert service.stop() == 0


def test_watch_applies_a_change_and_retries_a_half_written_file_at_the_next_change(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    service = make_service(url)
    service.write(ORIGINAL)
    service.start("--watch")
    store = Store(url)
    try:
        # half written: the reading is rejected and nothing changes
        service.tasks.write_text('[[tasks]]\nid = "changed"\nevery = "2h')
        service.wait_record("config_rejected", reason="watch")
        assert store.find_task("gone") is not None
        assert store.find_task("new") is None

        service.write(EDITED)  # the rest of the write: a change, tried again
        service.wait_record("config_applied", reason="watch")
        assert store.find_task("gone") is None
        assert store.get_task("new").source == "tasks.toml"
        assert store.get_task("changed").description == "after"
        assert service.alive()
        assert service.stop() == 0
    finally:
        store.close()


def test_an_invalid_file_at_start_stores_nothing_and_exits_2(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    database = tmp_path / "never.db"
    service = make_service(f"sqlite:///{database}")
    service.write("""
        [[tasks]]
        id = "twice"
        every = "1m"
        action = { kind = "shell", command = "true" }

        [[tasks]]
        id = "twice"
        every = "2m"
        action = { kind = "shell", command = "true" }

        [[tasks]]
        id = "zone"
        cron = "0 8 * * *"
        timezone = "Mars/Olympus"
        action = { kind = "shell", command = "true" }
    """)
    proc = service.launch()
    assert proc.wait(timeout=60) == 2
    log = service.log()
    assert re.search(rf"{re.escape(str(service.tasks))}:\d+: task twice: duplicate id", log), log
    assert re.search(rf"{re.escape(str(service.tasks))}:\d+: task zone: .*Mars/Olympus", log), log
    assert "Traceback" not in log
    assert not database.exists()  # not even created: nothing stored, nothing migrated


def test_source_labels_the_files_tasks_and_scopes_the_prune(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'source.db'}"
    service = make_service(url)
    service.write(ORIGINAL)
    base = service.start("--source", "ops")
    store = Store(url)
    try:
        assert {t.id for t in store.list_tasks() if t.source == "ops"} == {
            "gone",
            "changed",
            "kept",
        }
        service.write("")  # every task of the source is no longer declared
        answer = httpx.post(f"{base}/api/v1/reload", timeout=60)
        assert answer.status_code == 200, answer.text
        assert sorted(item["id"] for item in answer.json()["delete"]) == [
            "changed",
            "gone",
            "kept",
        ]
        assert [t.id for t in store.list_tasks()] == ["cronwell-maintenance"]
        assert service.stop() == 0
    finally:
        store.close()


def test_the_demo_tasks_file_is_applied(
    make_service: Callable[..., Service], tmp_path: Path
) -> None:
    """``make demo`` serves examples/tasks.toml: it must stay a valid tasks file."""
    examples = Path(__file__).parents[2] / "examples"
    service = make_service(f"sqlite:///{tmp_path / 'demo.db'}", PYTHONPATH=str(examples))
    service.write((examples / "tasks.toml").read_text())
    service.start()
    record = service.wait_record("config_applied", reason="start")
    assert int(record["tasks_created"]) == (examples / "tasks.toml").read_text().count("[[tasks]]")
    assert service.stop() == 0
