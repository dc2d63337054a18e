"""Python actions isolated in a child process: real child processes, real signals.

The functions below run in the child: it imports this module by reference
(``f"{__name__}:function"``), which works because the child inherits the parent's
``sys.path``. Each child run costs an interpreter start and ``import cronwell``, so tests
that need the function to be running before its timeout give it :data:`HARD_TIMEOUT`
seconds, far more than a start takes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.processes import alive
from tests.support.waiting import wait_until

from cronwell.domain import PythonAction, RunStatus, ShellAction, Task, every
from cronwell.runners import Outcome, PythonRunner, RunContext, Runners

SCHEDULED_FOR = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
WAIT = 30.0  # upper bound for things that take a child process start or two
HARD_TIMEOUT = 5.0  # a child starts in about a second; its function must be running by then
HERE = __name__


def make_ctx(task_id: str = "demo", run_id: int = 1, attempt: int = 1) -> RunContext:
    task = Task(
        id=task_id,
        schedule=every(minutes=5),
        action=PythonAction(func=f"{HERE}:plain", isolation="process"),
        timeout=120,
        tags=["child"],
    )
    return RunContext.for_run(task, run_id, SCHEDULED_FOR, attempt)


def in_child(name: str, *args: Any, **kwargs: Any) -> PythonAction:
    return PythonAction(func=f"{HERE}:{name}", args=list(args), kwargs=kwargs, isolation="process")


def pid_in(output: str, label: str = "pid") -> int:
    for line in output.splitlines():
        if line.startswith(f"{label} "):
            return int(line.split()[1])
    raise AssertionError(f"no {label!r} line in the output: {output!r}")


@pytest.fixture
def runner() -> Iterator[PythonRunner]:
    runner = PythonRunner(kill_grace=5.0)
    yield runner
    runner.close()


# -- functions run in the child -----------------------------------------------------------------


class ChildError(Exception):
    """Raised by a function in the child; its qualified name comes back."""


def plain() -> str:
    return "plain"


def describe(label: str, ctx: RunContext, *, scale: int = 1) -> dict[str, Any]:
    ctx.report(processed=10 * scale, ratio=0.5)
    ctx.report(processed=11 * scale)
    return {
        "label": label,
        "pid": os.getpid(),
        "task": ctx.task_id,
        "task_timeout": ctx.task.timeout,
        "tags": ctx.task.tags,
        "run_id": ctx.run_id,
        "attempt": ctx.attempt,
        "key": ctx.occurrence_key,
        "scheduled_for": ctx.scheduled_for.isoformat(),
        "deadline": None if ctx.deadline is None else ctx.deadline.isoformat(),
        "stdin": sys.stdin.read(),
    }


def fails(ctx: RunContext) -> None:
    ctx.report(done=1)
    print("about to fail")
    raise ChildError("it broke")


def exits() -> None:
    sys.exit(3)


def chatty(ctx: RunContext) -> None:
    print("printed")
    print("to stderr", file=sys.stderr)
    ctx.logger.info("task log %d", 1)
    ctx.logger.debug("not shown: below INFO")
    logging.getLogger("some.library").warning("library warning")
    logging.getLogger("some.library").info("not shown: the root logger is at WARNING")
    thread = threading.Thread(target=lambda: ctx.logger.info("from a thread"))
    thread.start()
    thread.join()
    os.write(1, b"straight to fd 1\n")
    print('{"status": "succeeded"}')  # looks like a report; is only output


async def async_job(n: int, ctx: RunContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    print("async print")
    ctx.logger.warning("async log")
    return {"n": n, "loop": type(asyncio.get_running_loop()).__name__}


async def async_fails() -> None:
    await asyncio.sleep(0)
    raise ChildError("async broke")


def loops_forever(ctx: RunContext) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    ctx.report(before_timeout=1)
    print(f"pid {os.getpid()}")
    print(f"grandchild {sleeper.pid}")
    try:
        while True:
            pass
    finally:
        print("cleaned up")


def ignores_sigterm() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: print("SIGTERM ignored"))
    print(f"pid {os.getpid()}")
    while True:
        pass


def kills_itself() -> None:
    print(f"pid {os.getpid()}")
    os.kill(os.getpid(), signal.SIGKILL)


def hard_exit() -> None:
    print("leaving")
    os._exit(3)


def waits_for_cancel(marker: str) -> None:
    print(f"pid {os.getpid()}")
    Path(marker).write_text("running")
    pause = threading.Event()
    while True:
        pause.wait(0.05)


def checks_deadline(ctx: RunContext) -> None:
    pause = threading.Event()
    while True:
        ctx.check()
        pause.wait(0.02)


# -- tests --------------------------------------------------------------------------------------


def test_success_with_return_value_counters_and_context(runner: PythonRunner) -> None:
    ctx = make_ctx(task_id="nightly", run_id=42, attempt=2)
    outcome = runner.run(in_child("describe", "x", scale=2), ctx, timeout=60)
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert (outcome.error, outcome.exception_type, outcome.traceback) == (None, None, None)
    value = eval(outcome.return_value or "")  # the repr of a dict of plain values
    assert value["pid"] != os.getpid()
    assert value == {
        **value,
        "label": "x",
        "task": "nightly",
        "task_timeout": 120.0,
        "tags": ["child"],
        "run_id": 42,
        "attempt": 2,
        "key": "nightly@2024-05-01T08:00:00.000000Z",
        "scheduled_for": SCHEDULED_FOR.isoformat(),
        "stdin": "",
    }
    # the deadline the child saw is the parent's: now + timeout
    assert ctx.deadline is not None
    assert value["deadline"] == ctx.deadline.isoformat()
    assert ctx.counters == {"processed": 22, "ratio": 0.5}


def test_exception_is_a_failure_with_its_type_and_traceback(runner: PythonRunner) -> None:
    ctx = make_ctx()
    outcome = runner.run(in_child("fails"), ctx, timeout=60)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == "ChildError: it broke"
    assert outcome.exception_type == f"{HERE}.ChildError"
    assert outcome.output == "about to fail\n"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    assert ", in fails\n" in outcome.traceback
    assert 'raise ChildError("it broke")' in outcome.traceback
    assert "cronwell/runners" not in outcome.traceback  # only the user's frames
    assert ctx.counters == {"done": 1}

    outcome = runner.run(in_child("exits"), make_ctx(), timeout=60)
    assert (outcome.status, outcome.error, outcome.exception_type) == (
        RunStatus.FAILED,
        "SystemExit: 3",
        "SystemExit",
    )


def test_print_stderr_and_logging_are_the_output(runner: PythonRunner) -> None:
    outcome = runner.run(in_child("chatty"), make_ctx(task_id="talk"), timeout=60)
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    lines = outcome.output.splitlines()
    assert lines[:2] == ["printed", "to stderr"]
    assert lines[2].endswith(" INFO cronwell.task.talk: task log 1")
    assert lines[3].endswith(" WARNING some.library: library warning")
    assert lines[4].endswith(" INFO cronwell.task.talk: from a thread")
    assert lines[5:] == ["straight to fd 1", '{"status": "succeeded"}']
    assert "not shown" not in outcome.output
    assert outcome.return_value is None


def test_output_limit_keeps_the_tail() -> None:
    runner = PythonRunner(output_limit=10)
    outcome = runner.run(in_child("chatty"), make_ctx(), timeout=60)
    assert outcome.output.startswith("…[")
    assert outcome.output.endswith('eeded"}\n')


def test_async_function_runs_with_asyncio_run(runner: PythonRunner) -> None:
    outcome = runner.run(in_child("async_job", 7), make_ctx(task_id="a"), timeout=60)
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    assert outcome.return_value == repr({"n": 7, "loop": "_UnixSelectorEventLoop"})
    assert outcome.output.startswith("async print\n")
    assert "WARNING cronwell.task.a: async log" in outcome.output

    outcome = runner.run(in_child("async_fails"), make_ctx(), timeout=60)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "ChildError: async broke")
    assert outcome.exception_type == f"{HERE}.ChildError"
    assert outcome.traceback is not None
    assert ", in async_fails\n" in outcome.traceback
    assert "asyncio" not in outcome.traceback


def test_hard_timeout_stops_a_busy_loop_and_its_process_group(runner: PythonRunner) -> None:
    ctx = make_ctx()
    outcome = runner.run(in_child("loops_forever"), ctx, timeout=HARD_TIMEOUT)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == f"timed out after {HARD_TIMEOUT:g}s"
    assert outcome.exception_type is None
    # SIGTERM unwound the function: its finally block ran, its counters came back
    assert outcome.output.endswith("cleaned up\n")
    assert ctx.counters == {"before_timeout": 1}
    assert outcome.traceback is not None
    assert ", in loops_forever\n" in outcome.traceback
    assert not alive(pid_in(outcome.output))
    grandchild = pid_in(outcome.output, "grandchild")
    wait_until(lambda: not alive(grandchild), WAIT, "the grandchild to be gone")
    assert runner.running() == []


def test_hard_timeout_escalates_to_sigkill_when_sigterm_is_ignored() -> None:
    runner = PythonRunner(kill_grace=0.5)
    outcome = runner.run(in_child("ignores_sigterm"), make_ctx(), timeout=HARD_TIMEOUT)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == f"timed out after {HARD_TIMEOUT:g}s"
    assert outcome.output.splitlines()[1:] == ["SIGTERM ignored"]
    assert outcome.traceback is None  # SIGKILL: the child could not report
    assert not alive(pid_in(outcome.output))


def test_a_child_that_dies_is_a_failure_with_its_output(runner: PythonRunner) -> None:
    outcome = runner.run(in_child("kills_itself"), make_ctx(), timeout=60)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "killed by signal SIGKILL")
    assert outcome.exception_type is None
    assert not alive(pid_in(outcome.output))

    outcome = runner.run(in_child("hard_exit"), make_ctx(), timeout=60)
    assert outcome == Outcome(
        RunStatus.FAILED, error="child process exited with code 3", output="leaving\n"
    )


def cancel_while_running(
    run: Callable[[RunContext], Outcome], cancel: Callable[[int], bool], marker: Path, run_id: int
) -> Outcome:
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(run(make_ctx(run_id=run_id))))
    thread.start()
    try:
        wait_until(marker.exists, WAIT, "the function to start")
        assert cancel(run_id)
    finally:
        thread.join(WAIT)
    assert len(outcomes) == 1
    return outcomes[0]


def test_cancel_interrupts_a_running_child(runner: PythonRunner, tmp_path: Path) -> None:
    marker = tmp_path / "running"
    action = in_child("waits_for_cancel", str(marker))
    outcome = cancel_while_running(
        lambda ctx: runner.run(action, ctx, timeout=None), runner.cancel, marker, run_id=7
    )
    assert (outcome.status, outcome.error) == (RunStatus.INTERRUPTED, "cancelled")
    assert outcome.exception_type is None
    assert outcome.traceback is not None
    assert ", in waits_for_cancel\n" in outcome.traceback
    assert not alive(pid_in(outcome.output))
    assert runner.running() == []
    assert not runner.cancel(7)


def test_runners_cancel_reaches_python_children_and_shell_commands(tmp_path: Path) -> None:
    runners = Runners(python=PythonRunner(kill_grace=5.0))
    try:
        marker = tmp_path / "python"
        action = in_child("waits_for_cancel", str(marker))
        outcome = cancel_while_running(
            lambda ctx: runners.run(action, ctx, timeout=60), runners.cancel, marker, run_id=8
        )
        assert (outcome.status, outcome.error) == (RunStatus.INTERRUPTED, "cancelled")

        marker = tmp_path / "shell"
        command = ShellAction(command=f"touch {marker}; exec sleep 60")
        outcome = cancel_while_running(
            lambda ctx: runners.run(command, ctx, timeout=60), runners.cancel, marker, run_id=9
        )
        assert outcome == Outcome(
            RunStatus.INTERRUPTED, error="cancelled (killed by signal SIGTERM)"
        )
        assert not runners.cancel(9)
    finally:
        runners.close()


def test_a_thread_isolated_run_cannot_be_cancelled(tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def blocking() -> None:
        started.set()
        release.wait(WAIT)

    runners = Runners(python=PythonRunner(lambda _task, _ref: blocking))
    thread = threading.Thread(
        target=runners.run, args=(PythonAction(func="x.y:blocking"), make_ctx(run_id=3))
    )
    thread.start()
    try:
        assert started.wait(WAIT)
        assert not runners.cancel(3)
    finally:
        release.set()
        thread.join(WAIT)
        runners.close()


def test_the_child_imports_by_reference_never_through_the_resolver() -> None:
    registered = PythonRunner(lambda _task, _ref: lambda: "from the registry")
    outcome = registered.run(in_child("plain"), make_ctx(), timeout=60)
    assert (outcome.status, outcome.return_value) == (RunStatus.SUCCEEDED, "'plain'")

    action = PythonAction(func="cw_registry_only.jobs:closure", isolation="process")
    outcome = registered.run(action, make_ctx(), timeout=60)
    assert outcome == Outcome(
        RunStatus.FAILED,
        error="cannot import module 'cw_registry_only.jobs': No module named 'cw_registry_only'",
    )
    outcome = registered.run(in_child("no_such_function"), make_ctx(), timeout=60)
    assert outcome == Outcome(
        RunStatus.FAILED, error=f"module {HERE!r} has no attribute 'no_such_function'"
    )


def test_the_child_inherits_sys_path(
    runner: PythonRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cw_child_path_jobs.py").write_text(
        textwrap.dedent(
            """
            import os

            def where(ctx):
                ctx.report(found=1)
                return __file__, os.environ.get("PYTHONPATH"), os.environ["CRONWELL_RUN_ID"]
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    # only sys.path knows the directory: not the environment the child inherits
    monkeypatch.delenv("PYTHONPATH", raising=False)
    ctx = make_ctx()
    outcome = runner.run(
        PythonAction(func="cw_child_path_jobs:where", isolation="process"), ctx, timeout=60
    )
    assert outcome.status is RunStatus.SUCCEEDED, outcome
    # PYTHONPATH is as the parent had it: not passed on to the function's subprocesses
    assert outcome.return_value == repr((str(tmp_path / "cw_child_path_jobs.py"), None, "1"))
    assert ctx.counters == {"found": 1}
    assert "cw_child_path_jobs" not in sys.modules  # the parent never imported it


def test_a_cooperative_deadline_reaches_the_child(runner: PythonRunner) -> None:
    ctx = make_ctx()
    ctx.deadline = datetime.now(UTC) + timedelta(seconds=2)
    outcome = runner.run(in_child("checks_deadline"), ctx, timeout=None)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error is not None
    assert outcome.error.startswith("DeadlineExceeded: Run 1 of task 'demo' passed its deadline")
    assert outcome.exception_type == "cronwell.runners.context.DeadlineExceeded"


def test_an_interpreter_that_cannot_start_is_a_failure() -> None:
    runner = PythonRunner(executable="/nonexistent/python3")
    outcome = runner.run(in_child("plain"), make_ctx(), timeout=60)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == (
        "cannot start a child process ('/nonexistent/python3'): No such file or directory"
    )


def test_the_child_entry_point_refuses_a_job_it_cannot_read() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cronwell.runners.child"],
        input=b"not json",
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    # one line, and no warning from runpy about the module being imported twice
    assert done.stderr.decode().splitlines() == [
        "cronwell: cannot read the job of this child process: "
        "JSONDecodeError('Expecting value: line 1 column 1 (char 0)')"
    ]
