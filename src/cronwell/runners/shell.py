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
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from cronwell.domain.action import ShellAction
from cronwell.domain.run import RunStatus
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, timed_out_message
from cronwell.runners.capture import OutputBuffer
from cronwell.runners.context import RunContext
from cronwell.runners.outcome import Outcome

_READ_SIZE = 64 * 1024
# How often the output loop checks whether the command exited while its pipe is still held
# open by a process it left behind.
_POLL_INTERVAL = 0.1


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False


class _Pipe:
    """The read end of the command's output pipe, copied into a buffer without blocking."""

    def __init__(self, stream: IO[bytes], buffer: OutputBuffer) -> None:
        self._stream = stream
        self._fd = stream.fileno()
        self._buffer = buffer
        os.set_blocking(self._fd, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self.open = True

    def pump(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for output, then copy what is available (at most a
        few reads, so the caller gets to check the clock)."""
        if self.open and self._selector.select(max(0.0, wait)):
            self._copy(max_reads=16)

    def drain(self) -> None:
        """Copy what is already in the pipe, without waiting for more."""
        self._copy(max_reads=None)

    def _copy(self, max_reads: int | None) -> None:
        reads = 0
        while self.open and (max_reads is None or reads < max_reads):
            reads += 1
            try:
                chunk = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                return
            if not chunk:
                self._eof()
                return
            self._buffer.write_bytes(chunk)

    def _eof(self) -> None:
        self.open = False
        self._selector.unregister(self._fd)

    def close(self) -> None:
        self.open = False
        self._selector.close()
        self._stream.close()


class ShellRunner:
    """Runs shell actions; see the module docstring. ``cancel(run_id)`` stops a running
    command (for shutdown)."""

    def __init__(
        self, output_limit: int = DEFAULT_OUTPUT_LIMIT, *, kill_grace: float = 5.0
    ) -> None:
        self.output_limit = output_limit
        self.kill_grace = kill_grace
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()

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
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=action.cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            return Outcome(RunStatus.FAILED, error=_start_error(argv[0], action.cwd, exc))
        assert process.stdout is not None
        entry = _Running(process)
        with self._lock:
            self._running[ctx.run_id] = entry
        buffer = OutputBuffer(self.output_limit)
        pipe = _Pipe(process.stdout, buffer)
        try:
            exited = _wait(process, pipe, deadline)
            if not exited:
                _terminate(process, pipe, self.kill_grace)
            pipe.drain()
        finally:
            pipe.close()
            if process.poll() is None:  # only if something above raised
                _killpg(process.pid, signal.SIGKILL)
                process.wait()
            entry.done.set()
            with self._lock:
                self._running.pop(ctx.run_id, None)
        output = buffer.getvalue()
        code = process.returncode
        if not exited and timeout is not None and not entry.cancelled:
            return Outcome(RunStatus.TIMED_OUT, error=timed_out_message(timeout), output=output)
        if code == 0:
            return Outcome(RunStatus.SUCCEEDED, output=output)
        error = _exit_description(code)
        if entry.cancelled:
            error = f"cancelled ({error})"
        return Outcome(RunStatus.FAILED, error=error, output=output)

    def cancel(self, run_id: int) -> bool:
        """Stop the command of a run: SIGTERM to its process group, SIGKILL after
        ``kill_grace`` seconds. Blocks until then at most. The run ends ``failed``
        ("cancelled (…)"). False if no command of that run is running."""
        with self._lock:
            entry = self._running.get(run_id)
        if entry is None:
            return False
        entry.cancelled = True
        pgid = entry.process.pid
        _killpg(pgid, signal.SIGTERM)
        entry.done.wait(self.kill_grace)
        _killpg(pgid, signal.SIGKILL)
        return True

    def running(self) -> list[int]:
        """Ids of the runs whose command is running."""
        with self._lock:
            return list(self._running)


def _wait(process: subprocess.Popen[bytes], pipe: _Pipe, until: float | None) -> bool:
    """Copy output until the process exits; False if ``until`` (monotonic) came first."""
    while True:
        if process.poll() is not None:
            return True
        now = time.monotonic()
        if until is not None and now >= until:
            return False
        if pipe.open:
            wait = _POLL_INTERVAL if until is None else min(_POLL_INTERVAL, until - now)
            pipe.pump(wait)
        else:
            try:
                process.wait(None if until is None else until - now)
            except subprocess.TimeoutExpired:
                return False
            return True


def _terminate(process: subprocess.Popen[bytes], pipe: _Pipe, grace: float) -> None:
    """SIGTERM the process group, keep reading output for up to ``grace`` seconds while it
    exits, then SIGKILL whatever is left of the group."""
    _killpg(process.pid, signal.SIGTERM)
    _wait(process, pipe, time.monotonic() + grace)
    # also members that outlived the group leader (they ignored SIGTERM)
    _killpg(process.pid, signal.SIGKILL)
    process.wait()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    return f"exit code {code}"


def _start_error(executable: str, cwd: str | None, exc: OSError) -> str:
    if cwd is not None and exc.filename == cwd:
        return f"cannot run the command in {cwd!r}: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return f"cannot run {executable!r}: no such executable"
    if isinstance(exc, PermissionError):
        return f"cannot run {executable!r}: permission denied"
    return f"cannot run {executable!r}: {exc.strerror or exc}"
