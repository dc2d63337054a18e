"""Child processes in their own process group, shared by the shell runner and the Python
runner's child-process isolation (DESIGN rule 7).

:class:`Pipes` copies what a process writes to its pipes into sinks (an
:class:`~cronwell.runners.capture.OutputBuffer`, a result buffer) without blocking.
:class:`ProcessGroups` waits for a process while doing so, stops its whole group at a
deadline — SIGTERM, then SIGKILL ``kill_grace`` seconds later if the process has not exited
— and lets another thread stop it the same way (:meth:`ProcessGroups.cancel`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

log = logging.getLogger(__name__)

_READ_SIZE = 64 * 1024
# How often the wait loop checks whether the process exited while its pipes are still held
# open by a process it left behind.
_POLL_INTERVAL = 0.1

Sink = Callable[[bytes], None]


class Pipes:
    """Read ends of the pipes a process writes to, each copied into its sink as data
    arrives. A pipe at end of file is dropped; :meth:`close` closes them all."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._sinks: dict[int, Sink] = {}
        self._owned: list[IO[bytes] | int] = []

    def add(self, stream: IO[bytes] | int, sink: Sink) -> None:
        """Read ``stream`` (a binary file or a file descriptor, closed by :meth:`close`)
        into ``sink``."""
        fd = stream if isinstance(stream, int) else stream.fileno()
        self._owned.append(stream)
        os.set_blocking(fd, False)
        self._selector.register(fd, selectors.EVENT_READ)
        self._sinks[fd] = sink

    @property
    def open(self) -> bool:
        """Whether a pipe has not reached end of file yet."""
        return bool(self._sinks)

    def pump(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for data, then copy what is available (at most a
        few reads per pipe, so the caller gets to check the clock)."""
        if not self._sinks:
            return
        for key, _ in self._selector.select(max(0.0, wait)):
            self._copy(key.fd, max_reads=16)

    def drain(self) -> None:
        """Copy what is already in the pipes, without waiting for more."""
        for fd in list(self._sinks):
            self._copy(fd, max_reads=None)

    def _copy(self, fd: int, max_reads: int | None) -> None:
        sink = self._sinks.get(fd)
        reads = 0
        while sink is not None and (max_reads is None or reads < max_reads):
            reads += 1
            try:
                chunk = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                return
            if not chunk:
                self._selector.unregister(fd)
                del self._sinks[fd]
                return
            sink(chunk)

    def close(self) -> None:
        self._sinks.clear()
        self._selector.close()
        for stream in self._owned:
            if isinstance(stream, int):
                with contextlib.suppress(OSError):
                    os.close(stream)
            else:
                stream.close()
        self._owned.clear()


@dataclass(frozen=True)
class Ended:
    """How a supervised process ended. ``returncode`` is ``Popen``'s (negative: killed by
    that signal). ``timed_out``: the deadline came first and the group was stopped.
    ``cancelled``: :meth:`ProcessGroups.cancel` stopped it (a cancelled process is never
    also ``timed_out``)."""

    returncode: int
    timed_out: bool
    cancelled: bool


@dataclass
class _Running:
    process: subprocess.Popen[bytes]
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False


class ProcessGroups:
    """The processes being waited for, by run id. Each must lead its own process group
    (``start_new_session=True``): stopping one signals its whole group."""

    def __init__(self, kill_grace: float = 5.0) -> None:
        self.kill_grace = kill_grace
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()

    def supervise(
        self,
        run_id: int,
        process: subprocess.Popen[bytes],
        pipes: Pipes,
        deadline: float | None,
    ) -> Ended:
        """Copy the process's output through ``pipes`` until it exits, stopping its group
        at ``deadline`` (``time.monotonic()``), then close ``pipes``. Meanwhile
        :meth:`cancel` can stop it under ``run_id``. The process never outlives this call,
        even when it is interrupted (``KeyboardInterrupt``); processes of its group still
        running after it exited on its own are left alone."""
        entry = _Running(process)
        with self._lock:
            self._running[run_id] = entry
        exited = False
        try:
            exited = _wait(process, pipes, deadline)
            if not exited:
                _terminate(process, pipes, self.kill_grace)
            pipes.drain()
        finally:
            pipes.close()
            if process.poll() is None:  # only if something above raised
                killpg(process.pid, signal.SIGKILL)
                process.wait()
            entry.done.set()
            with self._lock:
                if self._running.get(run_id) is entry:
                    del self._running[run_id]
        return Ended(
            returncode=process.returncode,
            timed_out=not exited and not entry.cancelled,
            cancelled=entry.cancelled,
        )

    def cancel(self, run_id: int) -> bool:
        """Stop the process of a run: SIGTERM to its process group, SIGKILL after
        ``kill_grace`` seconds. Blocks until then at most. False if no process of that run
        is running."""
        with self._lock:
            entry = self._running.get(run_id)
        if entry is None:
            return False
        entry.cancelled = True
        pgid = entry.process.pid
        killpg(pgid, signal.SIGTERM)
        entry.done.wait(self.kill_grace)
        killpg(pgid, signal.SIGKILL)
        return True

    def running(self) -> list[int]:
        """Ids of the runs whose process is running."""
        with self._lock:
            return list(self._running)


def _wait(process: subprocess.Popen[bytes], pipes: Pipes, until: float | None) -> bool:
    """Copy output until the process exits; False if ``until`` (monotonic) came first."""
    while True:
        if process.poll() is not None:
            return True
        now = time.monotonic()
        if until is not None and now >= until:
            return False
        if pipes.open:
            wait = _POLL_INTERVAL if until is None else min(_POLL_INTERVAL, until - now)
            pipes.pump(wait)
        else:
            try:
                process.wait(None if until is None else until - now)
            except subprocess.TimeoutExpired:
                return False
            return True


def _terminate(process: subprocess.Popen[bytes], pipes: Pipes, grace: float) -> None:
    """SIGTERM the process group, keep reading output for up to ``grace`` seconds while it
    exits, then SIGKILL whatever is left of the group."""
    killpg(process.pid, signal.SIGTERM)
    _wait(process, pipes, time.monotonic() + grace)
    # also members that outlived the group leader (they ignored SIGTERM)
    killpg(process.pid, signal.SIGKILL)
    process.wait()


def started(on_process: Callable[[int, int], None] | None, run_id: int, pgid: int) -> None:
    """Tell ``on_process`` that the process group ``pgid`` of run ``run_id`` started; its
    failure is logged, never the run's."""
    if on_process is None:
        return
    try:
        on_process(run_id, pgid)
    except Exception:
        log.exception(
            "cannot record the process group of a run",
            extra={"action": "process_record_failed", "run_id": run_id, "pgid": pgid},
        )


def killpg(pgid: int, sig: signal.Signals) -> None:
    """Signal a process group that may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def exit_description(code: int) -> str:
    """``"exit code 3"``, ``"killed by signal SIGKILL"``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    return f"exit code {code}"
