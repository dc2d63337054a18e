"""Python actions in a child process (``PythonAction.isolation == "process"``).

The function runs in a fresh ``python -u -m cronwell.runners.child`` (the interpreter of
the scheduler, ``sys.executable``, unless another is given), leader of its own process
group, so it can be stopped at its timeout — a hard one, unlike the thread path — or
cancelled (DESIGN rule 7).

The job goes to the child as JSON on its stdin: the function reference, the action's
``args`` and ``kwargs``, the run context (the task as JSON, run id, ``scheduled_for``,
attempt, occurrence key, deadline) and the parent's ``sys.path`` (also in ``PYTHONPATH``),
so whatever the parent can import the child can too. The child imports the function by
reference — never through the parent's registry of in-process functions — calls it like the
thread path does (``ctx`` injected by :func:`~cronwell.runners.functions.call_arguments`,
coroutine functions run with :func:`asyncio.run`), and reports how it ended (status, error,
exception type, traceback, return value, counters) as JSON on a pipe of its own (a file
descriptor passed with ``pass_fds``), which nothing the function prints can corrupt. stdin
of the function is ``/dev/null``; its environment is the scheduler's (``PYTHONPATH`` as
the scheduler had it, so subprocesses of the function do not inherit cronwell's) plus
``CRONWELL_TASK_ID``, ``CRONWELL_RUN_ID``, ``CRONWELL_OCCURRENCE_KEY`` and
``CRONWELL_ATTEMPT``, as for shell actions.

Output: the child's stdout and stderr share one pipe, read as it runs into an
:class:`OutputBuffer` that keeps the last ``output_limit`` bytes; the child's log records
(INFO and above for ``ctx.logger``, the root logger's level for others, from any thread)
are written to its stderr in the thread path's format.

Stopping: at the timeout, or on :meth:`ChildProcessRunner.cancel`, the process group gets
SIGTERM, which the child turns into a :class:`Terminated` exception in the function so its
``finally`` blocks run and its counters are reported; SIGKILL follows ``kill_grace``
seconds later if the child has not exited. Counters are lost when the child dies without
reporting (SIGKILL, a crash, ``os._exit``). A child that dies that way ends ``failed``
(``"child process exited with code 3"``, ``"killed by signal SIGKILL"``) with its output.

The child dies with the cronwell process that started it: it watches the read end of that
process's lifeline (:mod:`cronwell.runners.lifeline`, passed like the result pipe) from a
thread, and at its end of file sends SIGKILL to its own process group, the function's
subprocesses included. Once the child has started, ``on_process(run_id, pgid)`` (if given)
is called with its process group id, so the run's row can record it.

Startup costs an interpreter and ``import cronwell`` (about a second, most of it the
import): process isolation is for functions that run long enough to need a hard timeout,
or must not share the scheduler's memory. The timeout counts from the start of the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import IO, Any

from cronwell.domain.action import PythonAction
from cronwell.domain.delivery import Result
from cronwell.domain.run import RunStatus, summarize_return_value
from cronwell.domain.task import Task
from cronwell.errors import FunctionNotFoundError
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, limit_deadline, timed_out_message
from cronwell.runners.capture import LOG_FORMAT, TASK_LOGGER, OutputBuffer
from cronwell.runners.context import DeadlineExceeded, RunContext
from cronwell.runners.functions import (
    call_arguments,
    describe_exception,
    exception_type_name,
    format_traceback,
    resolve_function,
)
from cronwell.runners.lifeline import lifeline_fd, watch
from cronwell.runners.outcome import Outcome
from cronwell.runners.process import Pipes, ProcessGroups, exit_description, killpg, started

CHILD_MODULE = "cronwell.runners.child"
JOB_VERSION = 2
# A result larger than this is not a result the child wrote (it bounds what is kept).
_RESULT_LIMIT = 16 * 1024 * 1024
_TERMINATED_ERROR = "terminated by signal SIGTERM"


class Terminated(BaseException):
    """Raised in a child process's main thread when it gets SIGTERM (its run timed out or
    was cancelled), so the function unwinds and its ``finally`` blocks run. A
    ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` does not catch it."""


# -- the parent --------------------------------------------------------------------------------


class ChildProcessRunner:
    """Runs Python actions in child processes; see the module docstring. ``executable`` is
    the Python interpreter to start (default ``sys.executable``); it must be able to
    import cronwell."""

    def __init__(
        self,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        *,
        kill_grace: float = 5.0,
        executable: str | None = None,
        on_process: Callable[[int, int], None] | None = None,
    ) -> None:
        self.output_limit = output_limit
        self.executable = executable or sys.executable
        self._groups = ProcessGroups(kill_grace)
        self._on_process = on_process

    @property
    def kill_grace(self) -> float:
        """Seconds between SIGTERM and SIGKILL when a child is stopped."""
        return self._groups.kill_grace

    def run(self, action: PythonAction, ctx: RunContext, *, timeout: float | None) -> Outcome:
        """Run the action's function in a child process and wait for it; every failure is
        an :class:`Outcome`. Counters the function reported are added to ``ctx.counters``."""
        limit_deadline(ctx, timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        lifeline = lifeline_fd()
        read_fd, write_fd = os.pipe()
        try:
            payload = json.dumps(_job(action, ctx, timeout, write_fd, lifeline)).encode()
            process = subprocess.Popen(
                [self.executable, "-u", "-m", CHILD_MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_child_env(ctx),
                start_new_session=True,
                close_fds=True,
                pass_fds=(write_fd, lifeline),
            )
        except OSError as exc:
            os.close(read_fd)
            reason = exc.strerror or str(exc)
            return Outcome(
                RunStatus.FAILED,
                error=f"cannot start a child process ({self.executable!r}): {reason}",
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child has its copy; EOF comes when it closes it
        assert process.stdin is not None
        assert process.stdout is not None
        output = OutputBuffer(self.output_limit)
        result = _Collected(_RESULT_LIMIT)
        pipes = Pipes()
        try:
            pipes.add(process.stdout, output.write_bytes)
            pipes.add(read_fd, result.write)
            # a thread, so that a job larger than the pipe never blocks reading the output
            threading.Thread(
                target=_feed, args=(process.stdin, payload), name="cronwell-child-job", daemon=True
            ).start()
        except BaseException:
            pipes.close()
            killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        started(self._on_process, ctx.run_id, process.pid)
        ended = self._groups.supervise(ctx.run_id, process, pipes, deadline)
        reported = _Reported.parse(result.getvalue())
        if reported is not None:
            ctx.counters.update(reported.counters)
            if reported.results:
                ctx.results = list(reported.results)
        text = output.getvalue()
        if ended.cancelled and (reported is None or reported.status is not RunStatus.SUCCEEDED):
            return Outcome(
                RunStatus.INTERRUPTED,
                error="cancelled",
                traceback=reported.traceback if reported else None,
                output=text,
            )
        if ended.timed_out:
            return Outcome(
                RunStatus.TIMED_OUT,
                error=timed_out_message(timeout or 0.0),
                traceback=reported.traceback if reported else None,
                output=text,
                return_value=reported.return_value if reported else None,
            )
        if reported is None:
            return Outcome(RunStatus.FAILED, error=_died(ended.returncode), output=text)
        return Outcome(
            reported.status,
            error=reported.error,
            traceback=reported.traceback,
            output=text,
            return_value=reported.return_value,
            exception_type=reported.exception_type,
        )

    def cancel(self, run_id: int) -> bool:
        """Stop the child process of a run: SIGTERM to its process group, SIGKILL after
        ``kill_grace`` seconds. Blocks until then at most. The run ends ``interrupted``
        (``"cancelled"``), or ``succeeded`` if the function had returned already. False if
        no child of that run is running."""
        return self._groups.cancel(run_id)

    def running(self) -> list[int]:
        """Ids of the runs whose child process is running."""
        return self._groups.running()


def _job(
    action: PythonAction, ctx: RunContext, timeout: float | None, result_fd: int, lifeline: int
) -> Any:
    return {
        "version": JOB_VERSION,
        "func": action.func,
        "args": action.args,
        "kwargs": action.kwargs,
        "task": ctx.task.model_dump(mode="json"),
        "run_id": ctx.run_id,
        "scheduled_for": ctx.scheduled_for.isoformat(),
        "attempt": ctx.attempt,
        "deadline": None if ctx.deadline is None else ctx.deadline.isoformat(),
        "timeout": timeout,
        "sys_path": list(sys.path),
        "pythonpath": os.environ.get("PYTHONPATH"),
        "result_fd": result_fd,
        "lifeline_fd": lifeline,
    }


def _child_env(ctx: RunContext) -> dict[str, str]:
    # PYTHONPATH lets the child import cronwell itself before it reads the job (which then
    # restores the parent's sys.path exactly, in order).
    path = os.pathsep.join(dict.fromkeys(p for p in sys.path if p and os.pathsep not in p))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "CRONWELL_TASK_ID": ctx.task_id,
        "CRONWELL_RUN_ID": str(ctx.run_id),
        "CRONWELL_OCCURRENCE_KEY": ctx.occurrence_key,
        "CRONWELL_ATTEMPT": str(ctx.attempt),
    }


def _feed(stream: IO[bytes], payload: bytes) -> None:
    # BrokenPipeError: the child died (or was stopped) before reading its job
    with contextlib.suppress(OSError, ValueError):
        try:
            stream.write(payload)
        finally:
            stream.close()


def _died(code: int) -> str:
    if code < 0:
        return exit_description(code)
    if code == 0:
        return "child process exited with code 0 without reporting how the function ended"
    return f"child process exited with code {code}"


class _Collected:
    """Bytes from a pipe, up to a limit (past it the collection is marked spoiled)."""

    def __init__(self, limit: int) -> None:
        self._data = bytearray()
        self._limit = limit
        self.spoiled = False

    def write(self, chunk: bytes) -> None:
        if len(self._data) + len(chunk) > self._limit:
            self.spoiled = True
            return
        self._data += chunk

    def getvalue(self) -> bytes:
        return b"" if self.spoiled else bytes(self._data)


@dataclass(frozen=True)
class _Reported:
    """What the child reported about the function."""

    status: RunStatus
    error: str | None = None
    exception_type: str | None = None
    traceback: str | None = None
    return_value: str | None = None
    counters: dict[str, float] = field(default_factory=dict)
    results: tuple[Result, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> _Reported | None:
        """The report, or None if there is none or it is cut short (the child died while
        writing it)."""
        try:
            raw = json.loads(data)
            status = RunStatus(raw["status"])
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(raw, dict):
            return None

        def text(name: str) -> str | None:
            value = raw.get(name)
            return value if isinstance(value, str) else None

        counters = raw.get("counters")
        results = raw.get("results")
        return cls(
            status=status,
            error=text("error"),
            exception_type=text("exception_type"),
            traceback=text("traceback"),
            return_value=text("return_value"),
            counters={
                str(name): float(value)
                for name, value in (counters.items() if isinstance(counters, dict) else ())
                if isinstance(value, int | float) and not isinstance(value, bool)
            },
            results=tuple(
                Result(item.get("value"), item.get("title"))
                for item in (results if isinstance(results, list) else ())
                if isinstance(item, dict)
            ),
        )


# -- the child ---------------------------------------------------------------------------------


def child_main() -> int:
    """The child process: read the job from stdin, run it, report on the result pipe.
    Returns the exit code (2 when the job cannot be read)."""
    data = sys.stdin.buffer.read()
    _detach_stdin()
    try:
        job = json.loads(data)
        if job["version"] != JOB_VERSION:
            raise ValueError(f"job version {job['version']!r}, expected {JOB_VERSION}")
        result_fd = int(job["result_fd"])
        os.set_inheritable(result_fd, False)  # not for the function's own subprocesses
        watch(int(job["lifeline_fd"]))
        sys.path[:] = [str(p) for p in job["sys_path"]]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        print(f"cronwell: cannot read the job of this child process: {exc!r}", file=sys.stderr)
        return 2
    if job.get("pythonpath") is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = str(job["pythonpath"])
    signal.signal(signal.SIGTERM, _raise_terminated)
    _log_to_stderr()
    try:
        result = run_job(job)
    except Terminated:  # between the function and here: nothing left to report but that
        result = {"status": RunStatus.FAILED.value, "error": _TERMINATED_ERROR}
    # the report must be written whole; a SIGTERM from now on only ends the process
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _send(result_fd, result)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return 0


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Call the job's function (in the child process) and describe how it ended, as the
    JSON object the parent reads."""
    try:
        ctx = _context(job)
    except Exception as exc:
        return _report(
            RunStatus.FAILED,
            error="cannot rebuild the run's context in the child process: "
            + describe_exception(exc),
            traceback=format_traceback(exc),
        )
    timeout = job.get("timeout")
    try:
        func = resolve_function(str(job["func"]))
        args, kwargs = call_arguments(func, list(job["args"]), dict(job["kwargs"]), ctx)
        value = func(*args, **kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
    except FunctionNotFoundError as exc:
        return _report(RunStatus.FAILED, ctx, error=str(exc))
    except Terminated as exc:
        return _report(
            RunStatus.FAILED, ctx, error=_TERMINATED_ERROR, traceback=format_traceback(exc)
        )
    except DeadlineExceeded as exc:
        return _report(
            RunStatus.TIMED_OUT,
            ctx,
            error=describe_exception(exc) if timeout is None else timed_out_message(timeout),
            traceback=format_traceback(exc),
            exception_type=exception_type_name(exc),
        )
    except BaseException as exc:  # SystemExit and KeyboardInterrupt are failures here too
        return _report(
            RunStatus.FAILED,
            ctx,
            error=describe_exception(exc),
            traceback=format_traceback(exc),
            exception_type=exception_type_name(exc),
        )
    ctx.keep_returned(value)
    return _report(RunStatus.SUCCEEDED, ctx, return_value=summarize_return_value(value))


def _context(job: dict[str, Any]) -> RunContext:
    task = Task.model_validate(job["task"])
    deadline = job.get("deadline")
    return RunContext(
        task=task,
        run_id=int(job["run_id"]),
        scheduled_for=datetime.fromisoformat(job["scheduled_for"]),
        attempt=int(job["attempt"]),
        deadline=None if deadline is None else datetime.fromisoformat(deadline),
    )


def _report(
    status: RunStatus,
    ctx: RunContext | None = None,
    *,
    error: str | None = None,
    traceback: str | None = None,
    exception_type: str | None = None,
    return_value: str | None = None,
) -> dict[str, Any]:
    return {
        "status": status.value,
        "error": error,
        "exception_type": exception_type,
        "traceback": traceback,
        "return_value": return_value,
        "counters": dict(ctx.counters) if ctx is not None else {},
        # JSON carries them to the parent: what JSON cannot show is sent as its text
        "results": [
            {"value": _json_safe(r.value), "title": r.title}
            for r in ((ctx.results or ()) if ctx is not None else ())
        ]
        if status is RunStatus.SUCCEEDED
        else [],
    }


def _json_safe(value: Any) -> Any:
    """``value`` as JSON would read it back; text for what JSON cannot show."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated("received SIGTERM")


def _detach_stdin() -> None:
    """Give the function ``/dev/null`` as stdin, like shell actions."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
    finally:
        os.close(devnull)


class _OnceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record once, though it hangs on the task loggers and the root logger
    (records of task loggers reach both unless ``cronwell`` stops propagation)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self._last: logging.LogRecord | None = None

    def handle(self, record: logging.LogRecord) -> bool:
        if record is self._last:
            return False
        self._last = record
        return super().handle(record)


def _log_to_stderr() -> None:
    handler = _OnceHandler()
    tasks = logging.getLogger(TASK_LOGGER)
    for logger in (logging.getLogger(), tasks):
        logger.addHandler(handler)
    if tasks.level == logging.NOTSET:
        tasks.setLevel(logging.INFO)


def _send(fd: int, result: dict[str, Any]) -> None:
    data = json.dumps(result).encode()
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:  # the parent is gone: nobody to tell
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
