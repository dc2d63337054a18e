"""Tasks declared in code (issue 19, section 4): ``cw.sync`` and ``Cronwell(declared=True)``
on real SQLite and PostgreSQL, with real APScheduler and, for one case, a real script run
twice with a line deleted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.waiting import RunCollector, wait_until

from cronwell import Cronwell, RunStatus, Task, cron, every, once
from cronwell.errors import (
    ConfigError,
    SchedulerStateError,
    TaskExistsError,
    TaskNotFoundError,
)
from cronwell.runtime.maintenance import MAINTENANCE_TASK_ID
from cronwell.service.declared import DocumentError, load_documents

HERE = Path(__file__).name


def report() -> str:
    return "report"


def cleanup() -> str:
    return "cleanup"


def failing() -> None:
    raise RuntimeError("the export failed")


def fetch(page: int = 1) -> int:
    return page


def ticker(calls: list[str]) -> Callable[[], None]:
    def tick() -> None:  # a closure: only the registry of the process that made it calls it
        calls.append("tick")

    return tick


@pytest.fixture
def opened() -> Iterator[Callable[..., Cronwell]]:
    """Makes Cronwell instances ("processes") and closes every one after the test."""
    made: list[Cronwell] = []

    def make(url: str, **kwargs: object) -> Cronwell:
        app = Cronwell(url, "UTC", poll_interval=0.1, **kwargs)  # type: ignore[arg-type]
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def ids_of(app: Cronwell, source: str) -> set[str]:
    return {t.id for t in app.list_tasks() if t.source == source}


def seed_other_sources(app: Cronwell, tmp_path: Path) -> None:
    """Tasks a declared app must never touch: made by the CLI, the API and a file."""
    app.service.save(
        {
            "id": "from-cli",
            "schedule": cron("0 1 * * *"),
            "action": {"kind": "shell", "command": "true"},
        },
        source="cli",
    )
    app.service.save(
        {
            "id": "from-api",
            "schedule": cron("0 2 * * *"),
            "action": {"kind": "shell", "command": "true"},
        },
        source="api",
    )
    document = tmp_path / "ops.toml"
    document.write_text(
        '[[tasks]]\nid = "from-file"\ncron = "0 3 * * *"\n'
        'action = { kind = "shell", command = "true" }\n'
    )
    app.service.apply(load_documents([document]), prune=True)


def test_a_declared_app_holds_exactly_its_tasks_and_a_restart_prunes_what_is_gone(
    database_url: str,
    tmp_path: Path,
    opened: Callable[..., Cronwell],
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_other_sources(opened(database_url), tmp_path)
    ticks = RunCollector()

    # -- the first process: three decorated tasks and an add_job --
    first = opened(database_url, declared=True, instance_id="first")
    ran: list[str] = []

    first.task(every="0.2s", id="tick")(ticker(ran))

    first.task(cron="0 8 * * *", id="export", retries=0)(failing)
    first.task(cron="30 6 * * *", id="cleanup", tags=["ops"])(cleanup)
    first.add_job(fetch, "interval", minutes=10, id="fetch", kwargs={"page": 2})
    with pytest.raises(TaskNotFoundError):  # gathered, not stored one by one
        first.get_task("tick")
    first.on_run(ticks)
    with caplog.at_level(logging.INFO, logger="cronwell.runtime.declared"):
        first.start()
    synced = [r for r in caplog.records if getattr(r, "action", None) == "tasks_synced"]
    assert [(r.source, r.tasks_created, r.tasks_deleted) for r in synced] == [("app", 4, 0)]  # type: ignore[attr-defined]
    assert ids_of(first, "app") == {"tick", "export", "cleanup", "fetch"}
    ticks.wait_for(1, "tick")  # the registered closure runs
    assert ran
    assert first.run_now("export").status is RunStatus.FAILED
    assert first.run_now("cleanup").status is RunStatus.SUCCEEDED
    export_before = first.get_task("export")
    assert export_before.consecutive_failures == 1
    first.pause("fetch")  # an operator's pause
    first.close()

    # -- the second process: cleanup's decorator is gone, export's schedule changed --
    second = opened(database_url, declared=True, instance_id="second")

    second.task(every="0.2s", id="tick")(ticker(ran))

    second.task(cron="0 9 * * *", id="export", retries=0)(failing)
    second.add_job(fetch, "interval", minutes=10, id="fetch", kwargs={"page": 2})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cronwell.runtime.declared"):
        second.start()
    synced = [r for r in caplog.records if getattr(r, "action", None) == "tasks_synced"]
    assert [
        (r.tasks_created, r.tasks_updated, r.tasks_deleted, r.tasks_unchanged) for r in synced
    ] == [(0, 1, 1, 2)]  # type: ignore[attr-defined]
    assert ids_of(second, "app") == {"tick", "export", "fetch"}
    with pytest.raises(TaskNotFoundError):
        second.get_task("cleanup")
    assert [r.status for r in second.runs("cleanup")] == [RunStatus.SUCCEEDED]  # history stays
    export = second.get_task("export")
    assert export.schedule.expression() == "0 9 * * *"
    assert export.version == export_before.version + 1
    assert export.consecutive_failures == 1  # failure state kept
    assert [r.status for r in second.runs("export")] == [RunStatus.FAILED]
    assert second.get_task("fetch").enabled is False  # a declaration resumes no pause
    assert ids_of(second, "cli") == {"from-cli"}
    assert ids_of(second, "api") == {"from-api"}
    assert ids_of(second, "ops.toml") == {"from-file"}
    assert second.get_task(MAINTENANCE_TASK_ID).source == "cronwell"


def test_sync_returns_the_plan_and_is_idempotent(
    database_url: str, tmp_path: Path, opened: Callable[..., Cronwell]
) -> None:
    app = opened(database_url)
    seed_other_sources(app, tmp_path)
    app.add_task("own", schedule="0 5 * * *", shell="true")  # the app's source, not "jobs"
    app.start()  # the maintenance task is stored; syncs reach the running engine
    calls: list[str] = []
    tasks: list[Task | dict[str, object]] = [
        Task(id="nightly", schedule=cron("0 2 * * *"), action={"kind": "shell", "command": "true"}),
        {"id": "poll", "every": "5m", "func": lambda: calls.append("poll")},
        {"id": "page", "schedule": "0 7 * * 1-5", "func": fetch, "kwargs": {"page": 3}},
        {"id": "ping", "daily": "08:00", "http": "https://example.org/health", "tags": ["web"]},
    ]
    plan = app.sync(tasks, source="jobs")
    assert sorted(t.id for t in plan.create) == ["nightly", "page", "ping", "poll"]
    assert plan.as_json()["update"] == [] and plan.as_json()["delete"] == []
    assert ids_of(app, "jobs") == {"nightly", "page", "ping", "poll"}
    wait_until(lambda: {"nightly", "ping"} <= set(app.engine.scheduled_task_ids()))
    assert app.run_now("poll").status is RunStatus.SUCCEEDED and calls == ["poll"]
    assert app.run_now("page").return_value == "3"

    again = app.sync(tasks, source="jobs")
    assert not again.has_changes and again.unchanged == 4

    changed = app.sync([tasks[0], {**tasks[3], "daily": "09:00"}], source="jobs")  # type: ignore[dict-item]
    assert changed.as_json()["update"] == [
        {
            "id": "ping",
            "changes": {
                "schedule": [
                    {"kind": "cron", "cron": "0 8 * * *"},
                    {"kind": "cron", "cron": "0 9 * * *"},
                ]
            },
            "next": changed.as_json()["update"][0]["next"],
        }
    ]
    assert sorted(t.id for t in changed.delete) == ["page", "poll"]
    assert "poll" not in app.registry and "page" not in app.registry  # their functions go too
    assert ids_of(app, "jobs") == {"nightly", "ping"}
    assert ids_of(app, "app") == {"own"}
    assert {"from-cli", "from-api", "from-file", MAINTENANCE_TASK_ID} <= {
        t.id for t in app.list_tasks()
    }

    kept = app.sync([tasks[0]], source="jobs", prune=False)
    assert not kept.has_changes and ids_of(app, "jobs") == {"nightly", "ping"}

    taken = app.sync([{"id": "from-cli", "cron": "0 1 * * *", "shell": "true"}], source="jobs")
    assert taken.as_json()["update"] == [{"id": "from-cli", "changes": {"source": ["cli", "jobs"]}}]
    assert sorted(t.id for t in taken.delete) == ["nightly", "ping"]


def test_sync_of_bad_tasks_stores_nothing_and_names_every_problem(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    app = opened(database_url)
    app.sync([{"id": "keep", "cron": "0 1 * * *", "func": report}], source="jobs")
    original = app.registry.get("keep")
    with pytest.raises(DocumentError) as caught:
        app.sync(
            [
                {"id": "keep", "cron": "0 1 * * *", "func": lambda: "replaced"},
                {"id": "bad-cron", "cron": "61 * * * *", "shell": "true"},
                {"id": "typo", "cron": "0 1 * * *", "shell": "true", "tgs": ["x"]},
                {"id": "gone", "cron": "0 1 * * *", "func": "no.such.module:job"},
                {"id": "both", "cron": "0 1 * * *", "shell": "true", "http": "https://x.org"},
                "not a task",
            ],
            source="jobs",
        )
    problems = caught.value.problems
    assert sorted(str(p.task_id) for p in problems) == ["#6", "bad-cron", "both", "gone", "typo"]
    assert any("did you mean 'tags'" in p.message for p in problems)
    assert ids_of(app, "jobs") == {"keep"}
    assert app.registry.get("keep") is original  # the stored task keeps its function
    with pytest.raises(Exception, match="single Task"):
        app.sync(
            Task(id="x", schedule=cron("* * * * *"), action={"kind": "shell", "command": "true"})
        )  # type: ignore[arg-type]


def test_without_declared_nothing_is_pruned(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    first = opened(database_url)
    first.task(cron="0 8 * * *", id="report")(report)
    first.add_job(cleanup, "cron", hour=3, id="cleanup")
    first.start()
    first.close()
    second = opened(database_url)  # today's behaviour: each call stores at once
    second.task(cron="0 8 * * *", id="report")(report)
    assert ids_of(second, "app") == {"report", "cleanup"}
    second.start()
    assert ids_of(second, "app") == {"report", "cleanup"}


def test_after_start_tasks_are_stored_at_once_and_the_next_start_prunes_them(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    first = opened(database_url, declared=True, source="billing")
    first.task(cron="0 8 * * *", id="invoice")(report)
    first.start()
    first.add_task("adhoc", schedule=every(minutes=5), func=fetch)  # stored at once
    assert first.get_task("adhoc").source == "billing"
    first.shutdown()
    first.start()  # the same instance started again: nothing is synced again
    assert ids_of(first, "billing") == {"invoice", "adhoc"}
    first.close()
    second = opened(database_url, declared=True, source="billing")
    second.task(cron="0 8 * * *", id="invoice")(report)
    second.start()
    assert ids_of(second, "billing") == {"invoice"}


def test_apps_sharing_a_database_prune_only_their_own_source(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    shop = opened(database_url, declared=True, source="shop")
    shop.task(cron="0 8 * * *", id="shop-report")(report)
    shop.start()
    mail = opened(database_url, declared=True, source="mail", instance_id="mail")
    mail.task(cron="0 9 * * *", id="mail-digest")(report)
    mail.start()
    assert ids_of(mail, "shop") == {"shop-report"}
    assert ids_of(mail, "mail") == {"mail-digest"}


def test_declaring_before_start(database_url: str, opened: Callable[..., Cronwell]) -> None:
    app = opened(database_url, declared=True)
    app.add_task("a", schedule="0 8 * * *", func=report)
    app.add_task("a", schedule="0 8 * * *", func=report)  # the same again: fine
    with pytest.raises(TaskExistsError):
        app.add_task("a", schedule="0 9 * * *", func=report)
    app.add_task("a", schedule="0 10 * * *", func=report, replace_existing=True)
    app.add_job(cleanup, "cron", hour=4, id="dropped")
    app.remove_job("dropped")
    assert "dropped" not in app.registry
    assert (
        app.add_tasks(
            [
                {
                    "id": "b",
                    "schedule": cron("0 1 * * *"),
                    "action": {"kind": "shell", "command": "true"},
                }
            ]
        )
        == 1
    )
    with pytest.raises(SchedulerStateError, match="declared=True"):
        app.sync([], source="app")
    app.start()
    assert app.get_task("a").schedule.expression() == "0 10 * * *"
    assert ids_of(app, "app") == {"a", "b"}
    assert not app.sync(
        [{"id": "b", "cron": "0 1 * * *", "shell": "true"}], prune=False
    ).has_changes
    with pytest.raises(ConfigError, match="cronwell's own"):
        Cronwell(database_url, source="cronwell")


def test_a_problem_at_start_names_the_declaring_line_and_stores_nothing(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    app = opened(database_url, declared=True)
    app.task(cron="0 8 * * *", id="fine")(report)
    line = sys._getframe().f_lineno + 1
    app.add_task("broken", schedule="0 8 * * *", func="no.such.module:job")
    with pytest.raises(DocumentError) as caught:
        app.start()
    (problem,) = caught.value.problems
    assert (Path(problem.file or "").name, problem.line, problem.task_id) == (HERE, line, "broken")
    assert str(problem).startswith(f"{problem.file}:{line}: task broken: ")
    assert not app.running
    assert ids_of(app, "app") == set()


SCRIPT = """\
import sys

from cronwell import Cronwell

cw = Cronwell(sys.argv[1], "UTC", declared=True)


def backup():
    return "backup"


def digest():
    return "digest"


@cw.task(cron="0 2 * * *")
def nightly():
    return "nightly"


cw.add_job(backup, "cron", hour=3, id="backup")
cw.add_job(digest, "interval", hours=1, id="digest")
cw.start()
if "--run" in sys.argv:
    for task in ("nightly", "backup", "digest"):
        print(task, cw.run_now(task).status.value)
print("tasks", ",".join(sorted(t.id for t in cw.list_tasks() if t.source == "app")))
cw.close()
"""


def test_a_script_run_again_without_an_add_job_line_deletes_its_task(
    database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, str(script), database_url, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = run("--run")
    assert "backup succeeded" in first and "tasks backup,digest,nightly" in first
    script.write_text(SCRIPT.replace('cw.add_job(backup, "cron", hour=3, id="backup")\n', ""))
    assert "tasks digest,nightly" in run()
    app = Cronwell(database_url, "UTC")
    try:
        with pytest.raises(TaskNotFoundError):
            app.get_task("backup")
        assert [r.return_value for r in app.runs("backup")] == ["'backup'"]  # history stays
        assert app.get_task("digest").source == "app"
    finally:
        app.close()


def test_declaring_before_start_touches_no_database() -> None:
    code = textwrap.dedent(
        """
        from cronwell import Cronwell
        cw = Cronwell("sqlite:////nonexistent/dir/x.db", "UTC", declared=True)
        cw.task(cron="0 8 * * *", id="t")(print)
        cw.add_job(print, "interval", minutes=5, id="j")
        print("gathered")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "gathered"


def test_instances_starting_together_each_sync_the_same_tasks(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    """Replicas of one application start at once: the apply of the one that planned
    first commits between the other's plan and apply; the other plans again."""

    def replica(name: str) -> Cronwell:
        app = opened(database_url, declared=True, instance_id=name)
        app.task(cron="0 8 * * *", id="report")(report)
        app.task(cron="0 9 * * *", id="cleanup")(cleanup)
        return app

    first, second = replica("first"), replica("second")
    first.start()
    first.close()  # both tasks stored; now the replicas of a new release, with one changed
    first, second = replica("first"), replica("second")
    second.task(cron="0 10 * * *", id="cleanup", replace_existing=True)(cleanup)
    first.task(cron="0 10 * * *", id="cleanup", replace_existing=True)(cleanup)
    first.add_task("new", schedule="0 11 * * *", func=report)
    second.add_task("new", schedule="0 11 * * *", func=report)
    plans = 0
    plan = second.service.plan

    def plan_then_let_the_other_start(*args: Any, **kwargs: Any) -> Any:
        nonlocal plans
        plans += 1
        made = plan(*args, **kwargs)
        if plans == 1:
            first.start()  # commits the same changes before this plan is applied
        return made

    second.service.plan = plan_then_let_the_other_start  # type: ignore[method-assign]
    second.start()
    assert plans == 2
    assert ids_of(second, "app") == {"report", "cleanup", "new"}
    assert second.get_task("cleanup").schedule.expression() == "0 10 * * *"


def test_instances_starting_together_on_a_new_database_both_start(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    """The maintenance task is stored by the first: the second, which looked a moment
    before, finds it on a second look instead of failing its start."""
    first, second = opened(database_url, instance_id="first"), opened(database_url)
    second.service  # noqa: B018 - migrated before the hook
    find = second.store.find_task

    def find_then_let_the_other_start(task_id: str) -> Task | None:
        found = find(task_id)
        if task_id == MAINTENANCE_TASK_ID and not first.running:
            first.start()  # stores the maintenance task after this look found none
        return found

    second.store.find_task = find_then_let_the_other_start  # type: ignore[method-assign]
    second.start()
    assert first.running and second.running
    assert second.get_task(MAINTENANCE_TASK_ID).version == 1


def test_replicas_of_a_declared_app_started_at_once_all_start(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    for release in range(2):
        replicas = []
        for index in range(4):
            app = opened(database_url, declared=True, instance_id=f"replica-{index}")
            for number in range(10):
                app.add_task(f"task-{number}", schedule=f"{number + release} 3 * * *", func=report)
            app.add_task(f"release-{release}", schedule="0 4 * * *", func=cleanup)
            replicas.append(app)
        together = threading.Barrier(len(replicas))
        failed: list[BaseException] = []

        def start(app: Cronwell, together: threading.Barrier, failed: list[BaseException]) -> None:
            together.wait()
            try:
                app.start()
            except BaseException as exc:
                failed.append(exc)

        threads = [threading.Thread(target=start, args=(app, together, failed)) for app in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failed == []
        stored = {t.id: t for t in replicas[0].list_tasks() if t.source == "app"}
        assert set(stored) == {f"task-{n}" for n in range(10)} | {f"release-{release}"}
        assert stored["task-1"].schedule.expression() == f"{1 + release} 3 * * *"
        for app in replicas:
            app.close()


def test_a_one_off_for_now_declared_before_a_late_start_runs_at_start(
    database_url: str, opened: Callable[..., Cronwell]
) -> None:
    app = opened(database_url, declared=True)
    declared_at = datetime.now(UTC)
    app.add_job(report, "date", id="run-now")  # APScheduler: run as soon as started
    long_ago = declared_at - timedelta(hours=1)
    app.add_job(cleanup, "date", run_date=long_ago, id="long-ago")
    # an application that takes a while between declaring and starting
    wait_until(lambda: datetime.now(UTC) > declared_at + timedelta(seconds=1.5))
    collected = RunCollector()
    app.on_run(collected)
    app.start()
    (run,) = collected.wait_for(1, "run-now")
    assert run.status is RunStatus.SUCCEEDED
    stored = app.get_task("long-ago")  # stored as a one-off that has fired
    assert stored.schedule.expression() == once(long_ago).expression()
    assert app.runs("long-ago") == []
