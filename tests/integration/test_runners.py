"""The runners against real things: functions, event loops, processes and an HTTP server."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.support.processes import alive

from cronwell.domain import HttpAction, PythonAction, RunStatus, ShellAction, Task, every
from cronwell.errors import CronwellError, FunctionNotFoundError, InvalidInputError
from cronwell.runners import (
    DeadlineExceeded,
    HttpRunner,
    Outcome,
    PythonRunner,
    RunContext,
    Runner,
    Runners,
    ShellRunner,
    resolve_function,
)

SCHEDULED_FOR = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
WAIT = 10.0  # upper bound for waiting on things that should happen at once


def make_ctx(task_id: str = "demo", run_id: int = 1, attempt: int = 1) -> RunContext:
    task = Task(id=task_id, schedule=every(minutes=5), action=ShellAction(command="true"))
    return RunContext.for_run(task, run_id, SCHEDULED_FOR, attempt)


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Wait (bounded) for a condition that another process or thread makes true."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


# -- Python ---------------------------------------------------------------------------------

FUNCTIONS: dict[str, Callable[..., Any]] = {}


def registered(func: Callable[..., Any]) -> Callable[..., Any]:
    FUNCTIONS[f"tests.funcs:{func.__name__}"] = func
    return func


def registry_resolver(task_id: str, ref: str) -> Callable[..., Any]:
    try:
        return FUNCTIONS[ref]
    except KeyError:
        return resolve_function(ref)


def python(ref: str, *args: Any, **kwargs: Any) -> PythonAction:
    return PythonAction(func=ref, args=list(args), kwargs=kwargs)


@pytest.fixture
def py_runner() -> Iterator[PythonRunner]:
    runner = PythonRunner(registry_resolver)
    yield runner
    runner.close()


@registered
def add_and_report(a: int, b: int, *, ctx: RunContext) -> dict[str, int]:
    ctx.report(processed=100, succeeded=95, failed=5)
    ctx.report(failed=4, ratio=0.96)
    return {"sum": a + b}


@registered
def no_ctx(a: int, b: int = 0) -> int:
    return a * 10 + b


@registered
def var_kwargs(**kwargs: Any) -> list[str]:
    return sorted(kwargs)


def needs_ctx(prefix: str, ctx: RunContext) -> str:
    return f"{prefix}:{ctx.occurrence_key}"


FUNCTIONS["tests.funcs:partial_ctx"] = functools.partial(needs_ctx, "key")


@registered
def ctx_first(ctx: RunContext, label: str, suffix: str = "") -> str:
    return f"{ctx.task_id}:{label}{suffix}"


@registered
def ctx_middle(a: int, ctx: RunContext, b: int = 0) -> str:
    return f"{a}-{ctx.run_id}-{b}"


@registered
def boom() -> None:
    raise ValueError("boom")


@registered
def bad_counter(ctx: RunContext) -> None:
    ctx.report(ok=True)


@registered
def exits() -> None:
    sys.exit(3)


def test_sync_function_return_value_and_counters(py_runner: PythonRunner) -> None:
    ctx = make_ctx()
    outcome = py_runner.run(python("tests.funcs:add_and_report", 1, b=2), ctx, timeout=None)
    assert outcome == Outcome(RunStatus.SUCCEEDED, return_value="{'sum': 3}")
    assert ctx.counters == {"processed": 100, "succeeded": 95, "failed": 4, "ratio": 0.96}
    assert {type(value) for value in ctx.counters.values()} == {float}  # as stored


def test_ctx_is_injected_only_when_declared(py_runner: PythonRunner) -> None:
    ctx = make_ctx()
    plain = py_runner.run(python("tests.funcs:no_ctx", 4, b=2), ctx, timeout=None)
    assert plain.status is RunStatus.SUCCEEDED
    assert plain.return_value == "42"
    kwargs_only = py_runner.run(python("tests.funcs:var_kwargs", x=1), ctx, timeout=None)
    assert kwargs_only.return_value == "['x']"
    partial = py_runner.run(python("tests.funcs:partial_ctx"), ctx, timeout=None)
    assert partial.status is RunStatus.SUCCEEDED
    assert partial.return_value == repr(f"key:{ctx.occurrence_key}")
    assert ctx.occurrence_key == "demo@2024-05-01T08:00:00.000000Z"


def test_positional_arguments_fill_the_parameters_other_than_ctx(
    py_runner: PythonRunner,
) -> None:
    ctx = make_ctx(run_id=9)
    cases = [
        (python("tests.funcs:ctx_first", "x"), "'demo:x'"),
        (python("tests.funcs:ctx_first", "x", "!"), "'demo:x!'"),
        (python("tests.funcs:ctx_first", label="y"), "'demo:y'"),
        (python("tests.funcs:ctx_middle", 1), "'1-9-0'"),
        (python("tests.funcs:ctx_middle", 1, 2), "'1-9-2'"),
        (python("tests.funcs:ctx_middle", a=3, b=4), "'3-9-4'"),
    ]
    for action, expected in cases:
        outcome = py_runner.run(action, ctx, timeout=None)
        assert (outcome.status, outcome.return_value) == (RunStatus.SUCCEEDED, expected)


def test_exception_is_a_failure_with_traceback(py_runner: PythonRunner) -> None:
    outcome = py_runner.run(python("tests.funcs:boom"), make_ctx(), timeout=None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == "ValueError: boom"
    assert outcome.traceback is not None
    assert outcome.traceback.startswith("Traceback (most recent call last):")
    assert 'raise ValueError("boom")' in outcome.traceback
    assert outcome.traceback.rstrip().endswith("ValueError: boom")
    assert "cronwell/runners" not in outcome.traceback  # only the user's frames


def test_system_exit_and_invalid_counters_are_failures(py_runner: PythonRunner) -> None:
    outcome = py_runner.run(python("tests.funcs:exits"), make_ctx(), timeout=None)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "SystemExit: 3")
    outcome = py_runner.run(python("tests.funcs:bad_counter"), make_ctx(), timeout=None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("InvalidInputError: Counter 'ok' must be a number")


class CustomError(Exception):
    """An exception class of the user's, defined in this module."""


@registered
def raises_custom() -> None:
    raise CustomError("custom")


@registered
def raises_local() -> None:
    class LocalError(LookupError):
        pass

    raise LocalError("local")


@registered
def raises_os_error() -> None:
    raise FileNotFoundError(2, "No such file", "/missing")


def test_exception_type_is_the_qualified_class_name(py_runner: PythonRunner) -> None:
    def exception_type(ref: str) -> str | None:
        return py_runner.run(python(ref), make_ctx(), timeout=5).exception_type

    assert exception_type("tests.funcs:boom") == "ValueError"
    assert exception_type("tests.funcs:raises_os_error") == "FileNotFoundError"
    assert exception_type("tests.funcs:exits") == "SystemExit"
    assert exception_type("tests.funcs:raises_custom") == f"{__name__}.CustomError"
    assert CustomError.__module__ == __name__
    assert (
        exception_type("tests.funcs:raises_local") == f"{__name__}.raises_local.<locals>.LocalError"
    )
    assert exception_type("tests.funcs:bad_counter") == "cronwell.errors.InvalidInputError"
    assert exception_type("tests.funcs:async_boom") == "RuntimeError"
    assert exception_type("tests.funcs:async_exit") == "SystemExit"
    # nothing raised, or the function was not even found
    assert exception_type("tests.funcs:var_kwargs") is None
    assert exception_type("cw_no_such_pkg.jobs:run") is None


def test_report_validates_counters() -> None:
    ctx = make_ctx()
    with pytest.raises(InvalidInputError, match="Counter 'name' must be a number"):
        ctx.report(name="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="finite"):
        ctx.report(rate=float("nan"))
    assert ctx.counters == {}


def test_output_is_captured_per_run_while_two_runs_execute_concurrently(
    py_runner: PythonRunner,
) -> None:
    barrier = threading.Barrier(2, timeout=WAIT)

    def chatty(name: str, ctx: RunContext) -> str:
        for i in range(20):
            barrier.wait()
            print(f"{name} print {i}")
            ctx.logger.info("%s log %d", name, i)
        return name

    FUNCTIONS["tests.funcs:chatty"] = chatty
    outcomes: dict[str, Outcome] = {}

    def run(name: str, run_id: int) -> None:
        ctx = make_ctx(task_id=f"task-{name}", run_id=run_id)
        outcomes[name] = py_runner.run(python("tests.funcs:chatty", name), ctx, timeout=None)

    threads = [threading.Thread(target=run, args=(n, i)) for i, n in enumerate("ab")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert set(outcomes) == {"a", "b"}
    for name, other in (("a", "b"), ("b", "a")):
        outcome = outcomes[name]
        assert outcome.status is RunStatus.SUCCEEDED
        assert f"{other} print" not in outcome.output
        assert f"{other} log" not in outcome.output
        assert (
            outcome.output.count(f"\n{name} print ") + outcome.output.startswith(f"{name} print ")
            == 20
        )
        assert f" INFO cronwell.task.task-{name}: {name} log 19\n" in outcome.output


def test_output_limit_keeps_the_tail() -> None:
    def loud() -> None:
        for i in range(1000):
            print(f"line {i:04d}")

    FUNCTIONS["tests.funcs:loud"] = loud
    runner = PythonRunner(registry_resolver, output_limit=100)
    outcome = runner.run(python("tests.funcs:loud"), make_ctx(), timeout=None)
    assert outcome.output.startswith("…[9900 bytes truncated]\n")
    assert outcome.output.endswith("line 0999\n")


async def async_work(x: int, ctx: RunContext) -> dict[str, Any]:
    print("async print")
    ctx.logger.warning("async log")
    await asyncio.sleep(0)
    return {"x": x, "thread": threading.current_thread().name}


FUNCTIONS["tests.funcs:async_work"] = async_work


def test_async_function_runs_on_the_private_loop(py_runner: PythonRunner) -> None:
    outcome = py_runner.run(python("tests.funcs:async_work", 7), make_ctx(), timeout=5)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.return_value == repr({"x": 7, "thread": "cronwell-python-async"})
    assert outcome.output.startswith("async print\n")
    assert "WARNING cronwell.task.demo: async log" in outcome.output
    # the loop is reused, and close() stops its thread
    assert py_runner.run(python("tests.funcs:async_work", 8), make_ctx(), timeout=5).succeeded
    py_runner.close()
    assert not any(t.name == "cronwell-python-async" for t in threading.enumerate())


def test_sync_callable_returning_an_awaitable_is_awaited(py_runner: PythonRunner) -> None:
    FUNCTIONS["tests.funcs:returns_coro"] = lambda: async_work(1, make_ctx())
    outcome = py_runner.run(python("tests.funcs:returns_coro"), make_ctx(), timeout=None)
    assert outcome.status is RunStatus.SUCCEEDED
    assert "'x': 1" in (outcome.return_value or "")


def test_async_function_runs_on_the_applications_loop() -> None:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    loop_thread = threading.Thread(target=loop.run_forever, name="app-loop")
    loop.call_soon(ready.set)
    loop_thread.start()
    try:
        assert ready.wait(WAIT)
        runner = PythonRunner(registry_resolver, loop_provider=lambda: loop)
        outcome = runner.run(python("tests.funcs:async_work", 1), make_ctx(), timeout=5)
        assert outcome.status is RunStatus.SUCCEEDED
        assert outcome.return_value == repr({"x": 1, "thread": "app-loop"})
        assert "async print" in outcome.output
        runner.close()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        loop_thread.join(WAIT)
        loop.close()


def test_a_loop_that_is_not_running_is_not_used(py_runner: PythonRunner) -> None:
    stopped = asyncio.new_event_loop()
    runner = PythonRunner(registry_resolver, loop_provider=lambda: stopped)
    try:
        outcome = runner.run(python("tests.funcs:async_work", 1), make_ctx(), timeout=5)
        assert "cronwell-python-async" in (outcome.return_value or "")
    finally:
        runner.close()
        stopped.close()


async def async_boom() -> None:
    await asyncio.sleep(0)
    raise RuntimeError("async boom")


async def async_exit() -> None:
    raise SystemExit("stop")


FUNCTIONS["tests.funcs:async_boom"] = async_boom
FUNCTIONS["tests.funcs:async_exit"] = async_exit


def test_async_exceptions_are_failures_and_leave_the_loop_running(
    py_runner: PythonRunner,
) -> None:
    outcome = py_runner.run(python("tests.funcs:async_boom"), make_ctx(), timeout=5)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "RuntimeError: async boom")
    assert outcome.traceback is not None
    assert 'raise RuntimeError("async boom")' in outcome.traceback
    assert "cronwell/runners" not in outcome.traceback
    assert "concurrent/futures" not in outcome.traceback
    outcome = py_runner.run(python("tests.funcs:async_exit"), make_ctx(), timeout=5)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "SystemExit: stop")
    # the private loop survived
    outcome = py_runner.run(python("tests.funcs:async_work", 2), make_ctx(), timeout=5)
    assert outcome.status is RunStatus.SUCCEEDED


def test_async_timeout_cancels_the_coroutine(py_runner: PythonRunner) -> None:
    cancelled = threading.Event()

    async def hangs() -> None:
        try:
            print("waiting forever")
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            print("cleaning up")
            cancelled.set()
            raise

    FUNCTIONS["tests.funcs:hangs"] = hangs
    outcome = py_runner.run(python("tests.funcs:hangs"), make_ctx(), timeout=0.2)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == "timed out after 0.2s"
    assert cancelled.wait(WAIT)
    assert outcome.output == "waiting forever\ncleaning up\n"


def test_sync_function_checking_its_deadline_times_out(py_runner: PythonRunner) -> None:
    checks: list[int] = []

    def cooperative(ctx: RunContext) -> None:
        assert ctx.deadline is not None
        pause = threading.Event()
        while True:
            checks.append(1)
            ctx.check()
            pause.wait(0.01)

    FUNCTIONS["tests.funcs:cooperative"] = cooperative
    outcome = py_runner.run(python("tests.funcs:cooperative"), make_ctx(), timeout=0.1)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == "timed out after 0.1s"
    assert "DeadlineExceeded" in (outcome.traceback or "")
    assert outcome.exception_type == "cronwell.runners.context.DeadlineExceeded"
    assert checks


def test_sync_function_finishing_after_its_deadline_timed_out(py_runner: PythonRunner) -> None:
    def slow() -> str:
        time.sleep(0.3)  # the function under test is slow on purpose
        return "done"

    FUNCTIONS["tests.funcs:slow"] = slow
    outcome = py_runner.run(python("tests.funcs:slow"), make_ctx(), timeout=0.05)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == "timed out after 0.05s"
    assert outcome.return_value == "'done'"


def test_deadline_exceeded_is_a_cronwell_error() -> None:
    ctx = make_ctx()
    ctx.check()  # no deadline: nothing to do
    ctx.deadline = datetime(2000, 1, 1, tzinfo=UTC)
    with pytest.raises(DeadlineExceeded, match="passed its deadline") as info:
        ctx.check()
    assert isinstance(info.value, CronwellError)


def test_default_resolver_imports_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cw_user_jobs.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            def nightly(n, ctx):
                ctx.logger.info("nightly %s", n)
                return n + 1

            class Jobs:
                @staticmethod
                async def refresh():
                    await asyncio.sleep(0)
                    return "refreshed"

            not_a_function = 42
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = PythonRunner()
    try:
        outcome = runner.run(python("cw_user_jobs:nightly", 1), make_ctx(), timeout=None)
        assert (outcome.status, outcome.return_value) == (RunStatus.SUCCEEDED, "2")
        assert "INFO cronwell.task.demo: nightly 1" in outcome.output
        outcome = runner.run(python("cw_user_jobs:Jobs.refresh"), make_ctx(), timeout=5)
        assert outcome.return_value == "'refreshed'"
        outcome = runner.run(python("cw_user_jobs:not_a_function"), make_ctx(), timeout=None)
        assert outcome == Outcome(
            RunStatus.FAILED, error="'cw_user_jobs:not_a_function' is not callable"
        )
    finally:
        runner.close()


def test_a_module_failing_at_import_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cw_broken_jobs.py").write_text("import sys\nprint('importing')\nsys.exit(2)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    outcome = PythonRunner().run(python("cw_broken_jobs:job"), make_ctx(), timeout=None)
    assert outcome == Outcome(
        RunStatus.FAILED,
        error="cannot import module 'cw_broken_jobs': SystemExit: 2",
        output="importing\n",
    )


@pytest.mark.parametrize(
    ("ref", "sentence"),
    [
        (
            "cw_no_such_pkg.jobs:run",
            "cannot import module 'cw_no_such_pkg.jobs': No module named 'cw_no_such_pkg'",
        ),
        ("json:no_such_function", "module 'json' has no attribute 'no_such_function'"),
        ("json.decoder:JSONDecoder.nope", "'json.decoder:JSONDecoder' has no attribute 'nope'"),
        ("math:pi", "'math:pi' is not callable"),
    ],
)
def test_unresolvable_references_fail_with_a_sentence(ref: str, sentence: str) -> None:
    with pytest.raises(FunctionNotFoundError) as info:
        resolve_function(ref)
    assert sentence in str(info.value)
    outcome = PythonRunner().run(python(ref), make_ctx(), timeout=None)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert sentence in outcome.error


def test_resolve_function_returns_the_callable() -> None:
    assert resolve_function("json:dumps") is json.dumps
    assert resolve_function("os.path:join") is os.path.join


# -- Shell ----------------------------------------------------------------------------------


def shell(command: str | list[str], **kwargs: Any) -> ShellAction:
    return ShellAction(command=command, **kwargs)


def test_shell_success_and_output() -> None:
    outcome = ShellRunner().run(shell("echo out; echo err >&2"), make_ctx(), timeout=10)
    assert outcome == Outcome(RunStatus.SUCCEEDED, output="out\nerr\n")


def test_shell_list_command_is_executed_directly() -> None:
    outcome = ShellRunner().run(shell(["printf", "%s|", "a b", "$HOME"]), make_ctx(), timeout=10)
    assert outcome.output == "a b|$HOME|"


def test_shell_exit_code_is_a_failure() -> None:
    outcome = ShellRunner().run(shell("echo partial; exit 3"), make_ctx(), timeout=10)
    assert outcome == Outcome(RunStatus.FAILED, error="exit code 3", output="partial\n")


def test_shell_killed_by_a_signal() -> None:
    outcome = ShellRunner().run(shell(["sh", "-c", "kill -KILL $$"]), make_ctx(), timeout=10)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "killed by signal SIGKILL")


def test_shell_environment_and_cwd(tmp_path: Path) -> None:
    command = (
        'echo "$CRONWELL_TASK_ID $CRONWELL_RUN_ID $CRONWELL_ATTEMPT"; '
        'echo "$CRONWELL_OCCURRENCE_KEY"; echo "$GREETING"; pwd; read line || echo no-stdin'
    )
    ctx = make_ctx(task_id="backup", run_id=42, attempt=2)
    outcome = ShellRunner().run(
        shell(command, env={"GREETING": "hello"}, cwd=str(tmp_path)), ctx, timeout=10
    )
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output.splitlines() == [
        "backup 42 2",
        "backup@2024-05-01T08:00:00.000000Z",
        "hello",
        str(tmp_path),
        "no-stdin",
    ]


def test_shell_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pidfile"
    command = f"sh -c 'sleep 60 & echo $! > {pidfile}; echo started; wait'"
    runner = ShellRunner(kill_grace=5)
    outcome = runner.run(shell(command), make_ctx(), timeout=1)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.error == "timed out after 1s"
    assert outcome.output == "started\n"
    grandchild = int(pidfile.read_text())
    assert wait_until(lambda: not alive(grandchild)), "the background sleep survived"
    assert runner.running() == []


def test_shell_timeout_escalates_to_sigkill() -> None:
    # ignores SIGTERM, and so does the sleep it starts (ignored signals are inherited)
    command = "trap '' TERM; echo stubborn; sleep 60"
    outcome = ShellRunner(kill_grace=0.2).run(shell(command), make_ctx(), timeout=0.3)
    assert outcome.status is RunStatus.TIMED_OUT
    assert outcome.output == "stubborn\n"


def test_shell_cancel_stops_a_running_command() -> None:
    runner = ShellRunner(kill_grace=5)
    outcomes: list[Outcome] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(
            runner.run(shell(["sleep", "60"]), make_ctx(run_id=7), timeout=None)
        )
    )
    thread.start()
    assert wait_until(lambda: runner.running() == [7])
    assert runner.cancel(7)
    thread.join(WAIT)
    assert outcomes == [
        Outcome(RunStatus.INTERRUPTED, error=f"cancelled (killed by signal {signal.SIGTERM.name})")
    ]
    assert not runner.cancel(7)


def test_a_cancel_while_a_shell_command_starts_is_not_lost() -> None:
    """The stop (SIGTERM to the run's group) comes while the command's wrapper is still
    starting it, at every moment of its first 30 ms: the command must end by that SIGTERM,
    not by the SIGKILL at the end of the grace."""
    runner = ShellRunner(kill_grace=3)
    for step in range(300):
        run_id = step + 1
        outcomes: list[Outcome] = []
        thread = threading.Thread(
            target=lambda r=run_id, out=outcomes: out.append(
                runner.run(shell(["sleep", "60"]), make_ctx(run_id=r), timeout=None)
            )
        )
        thread.start()
        deadline = time.monotonic() + WAIT
        while runner.running() != [run_id]:
            assert time.monotonic() < deadline, "the command never started"
        until = time.monotonic() + step * 0.0001  # how far into the start the stop comes
        while time.monotonic() < until:
            pass
        assert runner.cancel(run_id)
        thread.join(WAIT)
        assert outcomes == [
            Outcome(
                RunStatus.INTERRUPTED, error=f"cancelled (killed by signal {signal.SIGTERM.name})"
            )
        ], f"a stop {step / 10} ms into the start"


def test_shell_missing_executable_and_bad_cwd(tmp_path: Path) -> None:
    runner = ShellRunner()
    outcome = runner.run(shell(["cw-no-such-program", "x"]), make_ctx(), timeout=10)
    assert outcome == Outcome(
        RunStatus.FAILED, error="cannot run 'cw-no-such-program': no such executable"
    )
    missing = tmp_path / "missing"
    outcome = runner.run(shell("true", cwd=str(missing)), make_ctx(), timeout=10)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == (
        f"cannot run the command: working directory {str(missing)!r} does not exist"
    )
    outcome = runner.run(shell("cw-no-such-program"), make_ctx(), timeout=10)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error == "exit code 127"
    assert "not found" in outcome.output


def test_shell_output_is_truncated_to_the_limit() -> None:
    command = "head -c 204800 /dev/zero | tr '\\0' x; echo; echo last line"
    outcome = ShellRunner(output_limit=65536).run(shell(command), make_ctx(), timeout=10)
    assert outcome.status is RunStatus.SUCCEEDED
    total = 204800 + len("\nlast line\n")
    marker = f"…[{total - 65536} bytes truncated]\n"
    assert outcome.output.startswith(marker)
    assert len(outcome.output.removeprefix(marker).encode()) == 65536
    assert outcome.output.endswith("xxx\nlast line\n")


# -- HTTP -----------------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that gave up (the timeout test) is expected; keep the output clean."""


class Server:
    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = threading.Event()
        self.stalled = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def reply(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                server.received.append(("GET", self.path, dict(self.headers), b""))
                if self.path == "/ok":
                    self.reply(200, b"hello")
                elif self.path == "/unavailable":
                    self.reply(503, b"down for maintenance")
                elif self.path == "/created":
                    self.reply(201, b"")
                elif self.path == "/binary":
                    self.reply(200, bytes(range(256)) * 4, "image/png")
                elif self.path == "/big":
                    self.reply(200, b"y" * 200_000, "text/plain; charset=utf-8")
                elif self.path == "/stall":
                    server.stalled.set()
                    server.release.wait(WAIT)
                    self.reply(200, b"too late")
                else:
                    self.reply(404, b"not found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.received.append(("POST", self.path, dict(self.headers), body))
                self.reply(200, b'{"ok": true}', "application/json")

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(WAIT)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


@pytest.fixture
def http_runner() -> Iterator[HttpRunner]:
    runner = HttpRunner()
    yield runner
    runner.close()


def test_http_success(server: Server, http_runner: HttpRunner) -> None:
    ctx = make_ctx(task_id="ping", run_id=5)
    outcome = http_runner.run(HttpAction(url=f"{server.url}/ok"), ctx, timeout=10)
    assert outcome == Outcome(RunStatus.SUCCEEDED, output="HTTP 200 OK\nhello", return_value="200")
    headers = server.received[0][2]
    assert headers["X-Cronwell-Occurrence-Key"] == ctx.occurrence_key
    assert headers["X-Cronwell-Run-Id"] == "5"


def test_a_closed_http_runner_opens_no_client_afterwards(server: Server) -> None:
    """The client is made at the first HTTP action; a runner closed before any refuses
    to make one that nothing would close, as a closed client refuses to send."""
    runner = HttpRunner()
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run(HttpAction(url=f"{server.url}/ok"), make_ctx(), timeout=10)
    assert server.received == []


def test_http_error_status_is_a_failure(server: Server, http_runner: HttpRunner) -> None:
    outcome = http_runner.run(HttpAction(url=f"{server.url}/unavailable"), make_ctx(), timeout=10)
    assert outcome == Outcome(
        RunStatus.FAILED,
        error="HTTP 503 Service Unavailable (expected 2xx)",
        output="HTTP 503 Service Unavailable\ndown for maintenance",
        return_value="503",
    )


def test_http_expect_status(server: Server, http_runner: HttpRunner) -> None:
    accepts_503 = HttpAction(url=f"{server.url}/unavailable", expect_status=[503])
    assert http_runner.run(accepts_503, make_ctx(), timeout=10).status is RunStatus.SUCCEEDED
    only_201 = HttpAction(url=f"{server.url}/ok", expect_status=[201, 202])
    outcome = http_runner.run(only_201, make_ctx(), timeout=10)
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, "HTTP 200 OK (expected 201, 202)")
    created = HttpAction(url=f"{server.url}/created", expect_status=[201])
    outcome = http_runner.run(created, make_ctx(), timeout=10)
    assert (outcome.status, outcome.output) == (RunStatus.SUCCEEDED, "HTTP 201 Created\n")


def test_http_post_json_body(server: Server, http_runner: HttpRunner) -> None:
    action = HttpAction(
        url=f"{server.url}/hooks",
        method="post",
        headers={"Authorization": "Bearer t0ken"},
        json={"event": "nightly", "n": 3},
    )
    outcome = http_runner.run(action, make_ctx(), timeout=10)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.output == 'HTTP 200 OK\n{"ok": true}'
    method, path, headers, body = server.received[0]
    assert (method, path) == ("POST", "/hooks")
    assert json.loads(body) == {"event": "nightly", "n": 3}
    assert headers["Content-Type"] == "application/json"
    assert headers["Authorization"] == "Bearer t0ken"


def test_http_post_text_body(server: Server, http_runner: HttpRunner) -> None:
    action = HttpAction(url=f"{server.url}/raw", method="POST", body="a=1&b=2")
    assert http_runner.run(action, make_ctx(), timeout=10).succeeded
    assert server.received[0][3] == b"a=1&b=2"


def test_http_binary_and_large_bodies(server: Server) -> None:
    runner = HttpRunner(output_limit=1000)
    try:
        outcome = runner.run(HttpAction(url=f"{server.url}/binary"), make_ctx(), timeout=10)
        assert outcome.output == "HTTP 200 OK\n<1024 bytes of image/png>"
        outcome = runner.run(HttpAction(url=f"{server.url}/big"), make_ctx(), timeout=10)
        assert outcome.output == "HTTP 200 OK\n" + "y" * 1000 + "\n…[199000 bytes truncated]"
    finally:
        runner.close()


def test_http_stalled_server_times_out(server: Server, http_runner: HttpRunner) -> None:
    outcome = http_runner.run(HttpAction(url=f"{server.url}/stall"), make_ctx(), timeout=0.3)
    assert server.stalled.is_set()
    assert (outcome.status, outcome.error) == (RunStatus.TIMED_OUT, "timed out after 0.3s")
    action = HttpAction(url=f"{server.url}/stall", timeout=0.2)
    outcome = http_runner.run(action, make_ctx(), timeout=None)
    assert (outcome.status, outcome.error) == (RunStatus.TIMED_OUT, "timed out after 0.2s")


def test_http_connection_refused(http_runner: HttpRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ping"
    outcome = http_runner.run(HttpAction(url=url), make_ctx(), timeout=10)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith(f"cannot connect to {url}: ")
    assert "refused" in outcome.error.lower()


# -- Runners --------------------------------------------------------------------------------


def test_runners_dispatch_by_kind(server: Server) -> None:
    runners = Runners(python=PythonRunner(registry_resolver))
    try:
        assert isinstance(runners.python, Runner)
        ctx = make_ctx()
        assert runners.run(python("tests.funcs:no_ctx", 1), ctx).return_value == "10"
        assert runners.run(shell("echo hi"), ctx, timeout=10).output == "hi\n"
        assert runners.run(HttpAction(url=f"{server.url}/ok"), ctx).return_value == "200"
        assert not runners.cancel(12345)
    finally:
        runners.close()


class Recording:
    """A runner that records the timeout and deadline it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[float | None, datetime | None]] = []

    def run(self, action: Any, ctx: RunContext, *, timeout: float | None) -> Outcome:
        self.calls.append((timeout, ctx.deadline))
        return Outcome(RunStatus.SUCCEEDED)


def test_runners_pass_the_timeout_and_set_the_deadline() -> None:
    recorders = [Recording(), Recording(), Recording()]
    runners = Runners(*recorders)
    actions: list[PythonAction | ShellAction | HttpAction] = [
        python("tests.funcs:no_ctx"),
        shell("true"),
        HttpAction(url="http://x.test/"),
    ]
    for action, recorder in zip(actions, recorders, strict=True):
        before = datetime.now(UTC)
        runners.run(action, make_ctx(), timeout=30)
        after = datetime.now(UTC)
        ((timeout, deadline),) = recorder.calls
        assert timeout == 30
        assert deadline is not None
        assert before + timedelta(seconds=30) <= deadline <= after + timedelta(seconds=30)
    # an earlier deadline set by the caller is kept; no timeout, no deadline
    ctx = make_ctx()
    ctx.deadline = earlier = datetime.now(UTC) + timedelta(seconds=5)
    runners.run(shell("true"), ctx, timeout=30)
    assert ctx.deadline == earlier
    ctx = make_ctx()
    runners.run(shell("true"), ctx)
    assert ctx.deadline is None
    assert recorders[1].calls[-1] == (None, None)


def test_task_logger_records_are_not_lost_to_a_non_propagating_cronwell_logger(
    py_runner: PythonRunner,
) -> None:
    cronwell_logger = logging.getLogger("cronwell")
    saved = cronwell_logger.propagate
    cronwell_logger.propagate = False
    try:
        outcome = py_runner.run(python("tests.funcs:async_work", 1), make_ctx(), timeout=5)
    finally:
        cronwell_logger.propagate = saved
    assert "WARNING cronwell.task.demo: async log" in outcome.output
