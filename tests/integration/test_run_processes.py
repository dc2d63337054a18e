"""A run's child process group (DESIGN rule 7): recorded on its row (SQLite and
PostgreSQL), killed by recovery before the run is abandoned when it still runs on this
host, and never retried while it survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect
from tests.support.processes import alive
from tests.support.store import runs_in_status
from tests.support.waiting import wait_until

from cronwell.dispatch.processes import ProcessRecorder
from cronwell.domain import RunStatus, Task, every
from cronwell.domain.action import ShellAction
from cronwell.engine import recovery
from cronwell.engine.recovery import HOSTNAME, recover_dead_instances, recover_own_leftovers
from cronwell.runners.orphans import GroupFate, stop_orphaned_group
from cronwell.store import NewRun, RunProcess, Store
from cronwell.store.database import MIGRATIONS_DIR

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def task(task_id: str, retries: int = 1) -> Task:
    return Task(
        id=task_id,
        schedule=every(seconds=60),
        action=ShellAction(command="true"),
        retries=retries,
        retry_delay=0,
        retry_jitter=0,
    )


def running(store: Store, task_id: str, instance_id: str = "dead") -> int:
    [run_id] = store.insert_runs(
        [NewRun(task_id, NOW, status=RunStatus.RUNNING, started_at=NOW, instance_id=instance_id)]
    )
    assert run_id is not None
    return run_id


@pytest.fixture
def group() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``sleep`` leading a process group of its own, as a run's child would be,
    with the run's id and task in its environment (or other ones)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(run_id: int, task_id: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "CRONWELL_RUN_ID": str(run_id), "CRONWELL_TASK_ID": task_id}
        process = subprocess.Popen(["sleep", "60"], env=env, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


# -- the store --------------------------------------------------------------------------------


def test_the_process_group_of_a_running_run_is_recorded(store: Store) -> None:
    run_id = running(store, "t")
    other = running(store, "u", instance_id="alive")
    assert store.get_run(run_id).pgid is None
    assert store.record_process(run_id, 4321, "box-1") is True
    assert store.record_process(other, 99, "box-2") is True
    run = store.get_run(run_id)
    assert (run.pgid, run.host) == (4321, "box-1")
    assert store.list_runs(task_id="t")[0].pgid == 4321
    assert store.running_processes(["dead"]) == [RunProcess(run_id, "t", 4321, "box-1")]
    assert store.running_processes(["dead", "alive", "never-seen"]) == [
        RunProcess(run_id, "t", 4321, "box-1"),
        RunProcess(other, "u", 99, "box-2"),
    ]
    assert store.running_processes([]) == []
    # abandoned, the run keeps its group, and is no longer a running process
    [abandoned] = store.abandon_runs(["dead"], NOW)
    assert (abandoned.pgid, abandoned.host) == (4321, "box-1")
    assert store.running_processes(["dead"]) == []
    # a finished run takes no group
    assert store.record_process(run_id, 1, "box-1") is False
    assert store.get_run(run_id).pgid == 4321


def test_the_recorder_writes_the_group_on_its_own_thread(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = running(store, "t")
    recorder = ProcessRecorder(store, "box-1")
    recorder(run_id, 4321)
    wait_until(lambda: store.get_run(run_id).pgid == 4321, timeout=5, what="the group recorded")
    assert store.get_run(run_id).host == "box-1"
    # a database that cannot be reached costs a warning, never the run
    unreachable = ProcessRecorder(Store("postgresql://u@127.0.0.1:1/none"), "box-1")
    caplog.set_level("WARNING", logger="cronwell.dispatch.processes")
    unreachable(run_id, 1)
    wait_until(
        lambda: [
            r for r in caplog.records if getattr(r, "action", None) == "process_record_failed"
        ],
        timeout=15,
        what="the failure logged",
    )
    assert store.get_run(run_id).pgid == 4321


def test_runs_show_tells_the_process_group(store: Store) -> None:
    run_id = running(store, "t")
    store.record_process(run_id, 4321, "box-1")
    env = {**os.environ, "CRONWELL_DATABASE_URL": store.url, "COLUMNS": "200"}
    shown = subprocess.run(
        [sys.executable, "-m", "cronwell", "runs", "show", str(run_id)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "process group 4321 on box-1" in shown.stdout


def test_abandon_keeps_the_runs_it_is_told_to_and_notes_the_others(store: Store) -> None:
    kept, noted, plain = running(store, "a"), running(store, "b"), running(store, "c")
    abandoned = store.abandon_runs(
        ["dead"], NOW, keep={kept}, notes={noted: "Its process group 7 was killed at recovery."}
    )
    assert [run.id for run in abandoned] == [noted, plain]
    assert store.get_run(kept).status is RunStatus.RUNNING
    assert store.get_run(noted).error == (
        "The process running it (instance dead) stopped before the run finished. "
        "Its process group 7 was killed at recovery."
    )
    assert store.get_run(plain).error == (
        "The process running it (instance dead) stopped before the run finished."
    )


def test_the_process_columns_go_and_come_back_with_migration_0006(store: Store) -> None:
    engine = create_engine(store.url)

    def columns() -> set[str]:
        return {str(c["name"]) for c in inspect(engine).get_columns("cronwell_runs")}

    def migrate(step: Callable[[Config, str], None], revision: str) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            step(config, revision)

    run_id = running(store, "t")
    try:
        assert {"pgid", "host"} <= columns()
        migrate(command.downgrade, "0005")
        assert not {"pgid", "host"} & columns()
        migrate(command.upgrade, "head")
        assert {"pgid", "host"} <= columns()
        assert store.get_run(run_id).status is RunStatus.RUNNING  # rows kept
    finally:
        engine.dispose()


# -- killing what is left -----------------------------------------------------------------------


def test_a_left_group_of_the_run_is_killed(group: Callable[..., subprocess.Popen[bytes]]) -> None:
    process = group(7, "t")
    assert stop_orphaned_group(process.pid, run_id=7, task_id="t") is GroupFate.KILLED
    assert process.wait(timeout=5) == -signal.SIGKILL


def test_a_group_of_another_run_or_program_is_left_alone(
    group: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """A process group id is reused once the group is gone: only a group whose members
    carry the run in their environment is the run's."""
    process = group(8, "t")
    assert stop_orphaned_group(process.pid, run_id=7, task_id="t") is GroupFate.GONE
    assert stop_orphaned_group(process.pid, run_id=8, task_id="u") is GroupFate.GONE
    assert alive(process.pid)
    process.kill()
    process.wait()
    assert stop_orphaned_group(process.pid, run_id=8, task_id="t") is GroupFate.GONE
    assert stop_orphaned_group(os.getpgid(0), run_id=8, task_id="t") is GroupFate.GONE


# -- recovery ---------------------------------------------------------------------------------


def test_recovery_kills_a_left_group_before_it_abandons_and_retries_the_run(
    store: Store, group: Callable[..., subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    run_id = running(store, "t")
    process = group(run_id, "t")
    store.record_process(run_id, process.pid, HOSTNAME)
    elsewhere = running(store, "u")  # a group on another host cannot be checked from here
    store.record_process(elsewhere, process.pid, "another-host")
    caplog.set_level("WARNING", logger="cronwell.engine.recovery")
    abandoned = recover_dead_instances(store, "me", NOW, {"t": task("t"), "u": task("u")})
    assert [run.id for run in abandoned] == [run_id, elsewhere]
    assert process.wait(timeout=5) == -signal.SIGKILL
    run = store.get_run(run_id)
    assert run.status is RunStatus.ABANDONED
    assert run.error is not None
    assert f"Its process group {process.pid} was killed at recovery." in run.error
    assert "killed" not in (store.get_run(elsewhere).error or "")
    [killed] = [r for r in caplog.records if getattr(r, "action", None) == "orphan_killed"]
    assert (killed.__dict__["run_id"], killed.__dict__["pgid"]) == (run_id, process.pid)
    retries = runs_in_status(store, RunStatus.PENDING)
    assert sorted((r.task_id, r.attempt) for r in retries) == [("t", 2), ("u", 2)]


def test_a_group_that_survives_keeps_its_run_running_and_unretried(
    store: Store,
    group: Callable[..., subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A process stuck in the kernel outlives SIGKILL; its run is not abandoned, so not
    retried, until a later recovery finds the group gone."""
    run_id = running(store, "t")
    process = group(run_id, "t")
    store.record_process(run_id, process.pid, HOSTNAME)
    monkeypatch.setattr(recovery, "stop_orphaned_group", lambda *a, **k: GroupFate.ALIVE)
    caplog.set_level("WARNING", logger="cronwell.engine.recovery")
    assert recover_own_leftovers(store, "dead", NOW, {"t": task("t")}) == []
    assert store.get_run(run_id).status is RunStatus.RUNNING
    assert runs_in_status(store, RunStatus.PENDING) == []
    assert [r for r in caplog.records if getattr(r, "action", None) == "orphan_alive"]
    # the next recovery (every heartbeat) finds the group gone, and only then retries
    monkeypatch.undo()
    process.kill()
    process.wait()
    later = NOW + timedelta(seconds=10)
    [abandoned] = recover_dead_instances(store, "me", later, {"t": task("t")})
    assert (abandoned.id, abandoned.status) == (run_id, RunStatus.ABANDONED)
    assert "killed at recovery" not in (abandoned.error or "")
    assert [(r.task_id, r.attempt) for r in runs_in_status(store, RunStatus.PENDING)] == [("t", 2)]


# -- the lifeline -------------------------------------------------------------------------------

PARENT = """
import sys
from datetime import UTC, datetime
from cronwell.domain import Task, every
from cronwell.domain.action import PythonAction, ShellAction
from cronwell.runners import PythonRunner, RunContext, ShellRunner

def started(run_id, pgid):
    print(pgid, flush=True)

kind = sys.argv[1]
if kind == "shell":
    action = ShellAction(command="sleep 60 & sleep 60")
    runner = ShellRunner(on_process=started)
else:
    action = PythonAction(func="time:sleep", args=[60], isolation="process")
    runner = PythonRunner(on_process=started)
task = Task(id="t", schedule=every(seconds=60), action=action)
runner.run(action, RunContext.for_run(task, 5, datetime.now(UTC)), timeout=None)
"""


def _group_members(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                found.append(int(entry))
    return found


@pytest.mark.parametrize("kind", ["shell", "process"])
def test_a_run_s_whole_process_group_dies_with_the_process_that_started_it(kind: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, kind], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pgid = int(parent.stdout.readline())
        assert pgid != parent.pid
        members = wait_until(
            lambda: len(_group_members(pgid)) >= (3 if kind == "shell" else 1),
            timeout=10,
            what="the run's processes",
        )
        assert members
        parent.kill()  # SIGKILL: the parent has no say in what follows
        parent.wait()
        wait_until(lambda: not _group_members(pgid), timeout=10, what="the group to die")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
