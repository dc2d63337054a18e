"""Runners: execute one action (``python``, ``shell`` or ``http``) and report how it ended.

A runner never raises for a failure of the user's action: exceptions, non-zero exits, bad
HTTP statuses and timeouts are all :class:`Outcome` values. Timeouts belong to the runner
(DESIGN rule 7): shell commands are killed with their process group, HTTP requests use the
client's timeout, Python functions get a cooperative deadline (``ctx.check()``) in a
thread, and a hard one in a child process (``PythonAction(isolation="process")``).
Shell commands and child processes can be cancelled (:meth:`Runners.cancel`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cronwell.domain.action import HttpAction, PythonAction, ShellAction
from cronwell.runners.base import Runner, limit_deadline
from cronwell.runners.capture import OutputBuffer, capture
from cronwell.runners.capture import install as install_capture
from cronwell.runners.context import DeadlineExceeded, RunContext
from cronwell.runners.functions import exception_type_name, resolve_function
from cronwell.runners.http import HttpRunner
from cronwell.runners.isolated import ChildProcessRunner, Terminated
from cronwell.runners.outcome import Outcome
from cronwell.runners.python import PythonRunner
from cronwell.runners.shell import ShellRunner


class Runners:
    """One runner per action kind, chosen by ``action.kind``. Missing runners are built
    with their defaults."""

    def __init__(
        self,
        python: Runner | None = None,
        shell: Runner | None = None,
        http: Runner | None = None,
    ) -> None:
        self.python: Runner = python if python is not None else PythonRunner()
        self.shell: Runner = shell if shell is not None else ShellRunner()
        self.http: Runner = http if http is not None else HttpRunner()

    def for_kind(self, kind: str) -> Runner:
        """The runner of an action kind (``"python"``, ``"shell"`` or ``"http"``)."""
        runners = {"python": self.python, "shell": self.shell, "http": self.http}
        try:
            return runners[kind]
        except KeyError:
            raise ValueError(f"No runner for actions of kind {kind!r}.") from None

    def wrap(self, kind: str, wrap: Callable[[Runner], Runner]) -> None:
        """Put ``wrap(runner)`` in place of the runner of ``kind``: a runner that calls the
        current one inside what a host framework needs around each action. The wrapper is
        asked for ``cancel`` and ``close`` as the runner it replaces would be."""
        setattr(self, kind, wrap(self.for_kind(kind)))

    def run(
        self,
        action: PythonAction | ShellAction | HttpAction,
        ctx: RunContext,
        timeout: float | None = None,
    ) -> Outcome:
        """Execute ``action`` with the runner of its kind, within ``timeout`` seconds (None:
        no limit). ``ctx.deadline`` becomes ``now + timeout`` unless it is set earlier."""
        limit_deadline(ctx, timeout)
        return self.for_kind(action.kind).run(action, ctx, timeout=timeout)

    def cancel(self, run_id: int) -> bool:
        """Stop a run's shell command or child process (see :meth:`ShellRunner.cancel`
        and :meth:`PythonRunner.cancel`): SIGTERM to its process group, SIGKILL after the
        runner's ``kill_grace``; the run ends ``interrupted``. Blocks until the process is
        gone, or ``kill_grace`` at most. False if the run has nothing that can be stopped
        (not running, a thread-isolated Python function, an HTTP request)."""
        for runner in (self.shell, self.python):
            cancel: Any = getattr(runner, "cancel", None)
            if callable(cancel) and cancel(run_id):
                return True
        return False

    def close(self) -> None:
        """Release what the runners hold: the private event loop, the HTTP client."""
        for runner in (self.python, self.shell, self.http):
            close: Any = getattr(runner, "close", None)
            if callable(close):
                close()


__all__ = [
    "ChildProcessRunner",
    "DeadlineExceeded",
    "HttpRunner",
    "Outcome",
    "OutputBuffer",
    "PythonRunner",
    "RunContext",
    "Runner",
    "Runners",
    "ShellRunner",
    "Terminated",
    "capture",
    "exception_type_name",
    "install_capture",
    "resolve_function",
]
