"""The shell runner: runs a shell action's command in its own process group.

A string command goes through ``/bin/sh -c``; a list is executed directly. stdin is
``/dev/null``; stdout and stderr share one pipe, read as the command runs into an
:class:`OutputBuffer` that keeps the last ``output_limit`` bytes. The environment is the
service's plus the action's ``env`` plus ``CRONWELL_TASK_ID``, ``CRONWELL_RUN_ID``,
``CRONWELL_OCCURRENCE_KEY`` and ``CRONWELL_ATTEMPT``.

Exit code 0 is success. On timeout (DESIGN rule 7) the whole process group gets SIGTERM,
then SIGKILL ``kill_grace`` seconds later if the command has not exited by then. Processes
a command leaves running in the background after it exits are not killed (as with cron),
but their output is no longer read: redirect it if they must keep writing.

The command runs under a :mod:`~cronwell.runners.reaper`, the leader of its process group,
which kills the whole group when the cronwell process dies (its lifeline, see
:mod:`cronwell.runners.lifeline`): a command never outlives the process that records its
run (unless ``sys.executable`` is empty, in an embedding interpreter that does not know
where Python is: the command is then a direct child). Background processes a command
leaves after it exits are outside this: its reaper is gone with it. Once the command has
started, ``on_process(run_id, pgid)`` (if given) is called with its process group id, so
the run's row can record it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable

from cronwell.domain.action import ShellAction
from cronwell.domain.run import RunStatus
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, timed_out_message
from cronwell.runners.capture import OutputBuffer
from cronwell.runners.context import RunContext
from cronwell.runners.lifeline import lifeline_fd
from cronwell.runners.outcome import Outcome
from cronwell.runners.process import Pipes, ProcessGroups, exit_description, started

REAPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reaper.py")
# what the reaper exits with when it cannot execute the command (it says why on a pipe)
_CANNOT_EXECUTE = 127
ProcessStarted = Callable[[int, int], None]


class ShellRunner:
    """Runs shell actions; see the module docstring. ``cancel(run_id)`` stops a running
    command (for shutdowns and the ``replace`` overlap policy)."""

    def __init__(
        self,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        *,
        kill_grace: float = 5.0,
        on_process: ProcessStarted | None = None,
    ) -> None:
        self.output_limit = output_limit
        self._groups = ProcessGroups(kill_grace)
        self._on_process = on_process

    @property
    def kill_grace(self) -> float:
        """Seconds between SIGTERM and SIGKILL when a command is stopped."""
        return self._groups.kill_grace

    def run(self, action: ShellAction, ctx: RunContext, *, timeout: float | None) -> Outcome:
        """Run the command and wait for it; every failure is an :class:`Outcome`."""
        argv = (
            ["/bin/sh", "-c", action.command]
            if isinstance(action.command, str)
            else list(action.command)
        )
        if action.cwd is not None and not os.path.isdir(action.cwd):
            return Outcome(
                RunStatus.FAILED,
                error=f"cannot run the command: working directory {action.cwd!r} does not exist",
            )
        env = {
            **os.environ,
            **action.env,
            "CRONWELL_TASK_ID": ctx.task_id,
            "CRONWELL_RUN_ID": str(ctx.run_id),
            "CRONWELL_OCCURRENCE_KEY": ctx.occurrence_key,
            "CRONWELL_ATTEMPT": str(ctx.attempt),
        }
        deadline = None if timeout is None else time.monotonic() + timeout
        lifeline = lifeline_fd()
        error_read, error_write = os.pipe()
        # an embedding interpreter may not know its executable: the command then runs
        # without its reaper, as a direct child (it does not die with cronwell)
        reaped = [sys.executable, "-I", "-S", REAPER, str(lifeline), str(error_write)]
        try:
            process = subprocess.Popen(
                [*reaped, *argv] if sys.executable else argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=action.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=(lifeline, error_write),
            )
        except OSError as exc:
            os.close(error_read)
            return Outcome(RunStatus.FAILED, error=_start_error(argv[0], action.cwd, exc))
        finally:
            os.close(error_write)
        assert process.stdout is not None
        buffer = OutputBuffer(self.output_limit)
        failure = bytearray()
        pipes = Pipes()
        pipes.add(process.stdout, buffer.write_bytes)
        pipes.add(error_read, failure.extend)
        started(self._on_process, ctx.run_id, process.pid)
        ended = self._groups.supervise(ctx.run_id, process, pipes, deadline)
        output = buffer.getvalue()
        if ended.returncode == _CANNOT_EXECUTE and failure:
            return Outcome(
                RunStatus.FAILED, error=_start_error(argv[0], action.cwd, _os_error(failure))
            )
        if ended.timed_out and timeout is not None:
            return Outcome(RunStatus.TIMED_OUT, error=timed_out_message(timeout), output=output)
        if ended.returncode == 0:
            return Outcome(RunStatus.SUCCEEDED, output=output)
        error = exit_description(ended.returncode)
        if ended.cancelled:
            return Outcome(RunStatus.INTERRUPTED, error=f"cancelled ({error})", output=output)
        return Outcome(RunStatus.FAILED, error=error, output=output)

    def cancel(self, run_id: int) -> bool:
        """Stop the command of a run: SIGTERM to its process group, SIGKILL after
        ``kill_grace`` seconds. Blocks until then at most. The run ends ``interrupted``
        (``"cancelled (killed by signal SIGTERM)"``), or ``succeeded`` if the command
        still exited 0. False if no command of that run is running."""
        return self._groups.cancel(run_id)

    def running(self) -> list[int]:
        """Ids of the runs whose command is running."""
        return self._groups.running()


def _os_error(report: bytes | bytearray) -> OSError:
    """The error the reaper reported (``errno``, NUL, file name) when it could not execute
    the command."""
    number, _, filename = bytes(report).partition(b"\0")
    try:
        code = int(number)
    except ValueError:
        code = errno.EIO
    name = os.fsdecode(filename) or None
    return OSError(code, os.strerror(code), name)


def _start_error(executable: str, cwd: str | None, exc: OSError) -> str:
    if cwd is not None and exc.filename == cwd:
        return f"cannot run the command in {cwd!r}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"cannot run {executable!r}: no such executable"
    if isinstance(exc, PermissionError):
        return f"cannot run {executable!r}: permission denied"
    return f"cannot run {executable!r}: {exc.strerror or exc}"
