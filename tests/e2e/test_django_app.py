"""The Django integration in a real project (``examples/django_app``), driven as its
developers drive it: ``manage.py migrate``, ``runserver`` with its autoreloader, uvicorn
with two workers, ``manage.py cronwell …``, ``manage.py test``. Each runs in its own
processes on a copy of the project, on SQLite and on PostgreSQL; what happened is read in
cronwell's tables (instances, lease, runs, tasks) and in the processes' logs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.processes import alive
from tests.support.waiting import wait_until

from cronwell.domain.run import Run, RunStatus
from cronwell.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_app"
START = 90.0  # seconds a loaded machine may take to start Django and cronwell


class Site:
    """A copy of the example project on one database, and the processes run in it."""

    def __init__(self, root: Path, database_url: str) -> None:
        shutil.copytree(
            EXAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3*", "static*")
        )
        self.root = root
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CRONWELL_")},
            "DJANGO_DATABASE_URL": database_url,
            "REPORTS_EVERY": "1s",
            "PYTHONUNBUFFERED": "1",
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def launch(self, name: str, *command: str, **env: str) -> subprocess.Popen[bytes]:
        """Start ``command`` in its own process group, its output in ``name.log``."""
        with (self.root / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=self.root,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
        """Ctrl+C, as a developer stops a server: to the whole process group."""
        os.killpg(proc.pid, sig)
        return proc.wait(timeout=120)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    made = Site(tmp_path / "site", database_url)
    yield made
    made.kill_all()


@pytest.fixture
def db(database_url: str) -> Iterator[Store]:
    store = Store(database_url)
    yield store
    store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def succeeded(store: Store, task_id: str) -> list[Run]:
    return store.list_runs(task_id=task_id, status=RunStatus.SUCCEEDED, limit=1000)


def edit_until(path: Path, text: str, condition: Callable[[], object], what: str) -> None:
    """Write ``text`` to ``path`` and wait for ``condition``, writing again (a new mtime)
    every few seconds: Django's autoreloader misses an edit made before its first look at
    the files, which comes a while after the process it serves in starts."""
    written = [0.0]

    def edited() -> object:
        if time.monotonic() - written[0] > 5:
            path.write_text(text)
            written[0] = time.monotonic()
        return condition()

    wait_until(edited, timeout=START, what=what)


def migrate(site: Site) -> None:
    result = site.manage("migrate")
    assert result.returncode == 0, result.stderr
    assert "Applying cronwell's migrations" in result.stdout


def test_migrate_and_other_commands_start_no_scheduler(site: Site, db: Store) -> None:
    migrate(site)
    assert db.has_schema()
    shell = site.manage(
        "shell", "-c", "from cronwell.contrib.django import get_cronwell as g; print(g().running)"
    )
    collect = site.manage("collectstatic", "--noinput")
    for result, command in ((shell, "shell"), (collect, "collectstatic")):
        assert result.returncode == 0, result.stderr
        assert f"`manage.py {command}` is a management command" in result.stderr
        assert "scheduler started" not in result.stderr
    assert shell.stdout.strip().splitlines()[-1] == "False"
    # a scheduler that had started would have stored the declared task and the maintenance
    # task, and taken the lease
    assert db.list_tasks() == []
    assert db.list_runs(limit=10) == []
    assert db.list_instances() == []
    assert db.read_lease("scheduler").holder is None


def test_runserver_with_autoreload_starts_one_scheduler_and_restarts_it_on_edits(
    site: Site, db: Store
) -> None:
    migrate(site)
    server = site.launch("runserver", sys.executable, "manage.py", "runserver", str(free_port()))
    wait_until(lambda: succeeded(db, "count_reports"), timeout=START, what="a run")

    (child,) = db.list_instances()
    assert child.pid != server.pid
    assert parent_pid(child.pid) == server.pid  # the process the autoreloader serves in
    assert db.read_lease("scheduler").current_holder == child.instance_id
    assert {r.instance_id for r in succeeded(db, "count_reports")} == {child.instance_id}
    log = site.log("runserver")
    assert f"scheduler not started in process {server.pid}: this is runserver's autoreloader" in (
        log
    )
    assert log.count("cronwell scheduler started in process") == 1

    # an edit: the autoreloader replaces its child, whose scheduler runs the new code
    tasks_py = site.root / "reports" / "tasks.py"
    original = tasks_py.read_text()
    edited = original + '\n\n@task(every="1s")\ndef added_by_an_edit() -> str:\n    return "new"\n'
    edit_until(tasks_py, edited, lambda: succeeded(db, "added_by_an_edit"), "the new task")
    (second,) = db.list_instances()  # the first child closed its own on the way out
    assert second.pid not in (child.pid, server.pid)
    assert parent_pid(second.pid) == server.pid
    assert not alive(child.pid)
    assert db.read_lease("scheduler").current_holder == second.instance_id

    # the decorator removed: the next child's start deletes the task (history kept)
    edit_until(tasks_py, original, lambda: db.find_task("added_by_an_edit") is None, "the prune")
    assert succeeded(db, "added_by_an_edit")

    site.stop(server)
    assert db.list_instances() == []
    assert db.read_lease("scheduler").holder is None
    assert db.list_runs(status=RunStatus.RUNNING, limit=10) == []


def test_uvicorn_workers_fire_each_occurrence_once_and_take_over(site: Site, db: Store) -> None:
    migrate(site)
    server = site.launch(
        "uvicorn",
        sys.executable,
        "-m",
        "uvicorn",
        "project.asgi:application",
        "--workers",
        "2",
        "--port",
        str(free_port()),
    )
    wait_until(lambda: len(db.list_instances()) == 2, timeout=START, what="two workers")
    wait_until(lambda: len(succeeded(db, "count_reports")) >= 3, timeout=START, what="3 runs")
    workers = {i.instance_id: i.pid for i in db.list_instances()}
    leader = db.read_lease("scheduler").current_holder
    assert leader in workers
    runs = db.list_runs(task_id="count_reports", limit=1000)
    fired_by = {r.instance_id for r in runs if r.status is RunStatus.SUCCEEDED}
    assert fired_by == {leader}
    assert len({(r.scheduled_for, r.attempt) for r in runs}) == len(runs)
    log = site.log("uvicorn")
    assert log.count("uvicorn serves the project in this process") == 2
    assert "standing by while" in log

    # the leading worker dies: the other takes the lease once it lapses and fires
    (standby,) = set(workers) - {leader}
    os.kill(workers[leader], signal.SIGKILL)
    wait_until(
        lambda: any(r.instance_id == standby for r in succeeded(db, "count_reports")),
        timeout=START,
        what="the standby worker to fire",
    )
    assert db.read_lease("scheduler").current_holder == standby
    site.stop(server)


def test_manage_py_cronwell_is_the_cli_and_worker_mode_schedules_only_there(
    site: Site, db: Store
) -> None:
    migrate(site)
    port = free_port()
    web = site.launch(
        "web",
        sys.executable,
        "manage.py",
        "runserver",
        "--noreload",
        str(port),
        CRONWELL_MODE="worker",
    )

    def answers() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/admin/login/").status_code == 200
        except httpx.HTTPError:
            return web.poll() is not None  # exited: the assertion below says why

    wait_until(answers, timeout=START, what="runserver to answer")
    assert web.poll() is None, site.log("web")
    assert "cronwell runs in worker mode" in site.log("web")
    assert db.list_instances() == []  # the web process schedules nothing

    worker = site.launch(
        "worker",
        sys.executable,
        "manage.py",
        "cronwell",
        "serve",
        "--no-api",
        CRONWELL_MODE="worker",
    )
    wait_until(lambda: succeeded(db, "count_reports"), timeout=START, what="a run")
    (instance,) = db.list_instances()
    assert instance.pid == worker.pid

    listed = site.manage("cronwell", "tasks", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    tasks = {t["id"]: t for t in json.loads(listed.stdout)}
    assert tasks["count_reports"]["source"] == "django"
    runs = site.manage("cronwell", "runs", "list", "--task", "count_reports", "--json")
    assert runs.returncode == 0, runs.stderr
    assert {r["status"] for r in json.loads(runs.stdout)} >= {"succeeded"}
    upgraded = site.manage("cronwell", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert db.display_url.rsplit("/", 1)[-1] in upgraded.stdout

    refused = site.manage("cronwell", "--database-url", "sqlite:///other.db", "tasks", "list")
    assert refused.returncode == 2
    assert "takes the database and zone from Django's settings" in refused.stderr
    missing = site.manage("cronwell", "tasks", "show", "no-such-task")
    assert missing.returncode == 3, missing.stderr
    assert "no-such-task" in missing.stderr

    assert site.stop(worker) == 0
    assert "cronwell stopped." in site.log("worker")
    site.stop(web)
    assert db.list_instances() == []


def test_the_projects_own_tests_pass_under_djangos_test_runner(site: Site) -> None:
    """The example's tests (reports/tests.py) drive the admin with Django's test client and
    check the runner started no scheduler; see that file."""
    result = site.manage("test", "reports", "-v", "2")
    assert result.returncode == 0, result.stderr[-5000:]
    assert "Ran 7 tests" in result.stderr
    assert "\nOK" in result.stderr


def test_the_shipped_migration_matches_the_placeholder_models(tmp_path: Path) -> None:
    site = Site(tmp_path / "site", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = site.manage("makemigrations", "cronwell", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_without_django_cronwell_imports_and_the_integration_names_its_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['django'] = None\n"  # as if Django were not installed
        "import cronwell\n"
        "from cronwell import Cronwell\n"
        "from cronwell.errors import MissingExtraError\n"
        "try:\n"
        "    import cronwell.contrib.django\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'cronwell[django]'" in result.stdout
