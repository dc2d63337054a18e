"""Django's database connection hygiene around Python actions.

Django closes a request's database connections when they are broken or older than
``CONN_MAX_AGE`` (``close_old_connections``, on the request_started and request_finished
signals). A task function using the ORM in cronwell's worker threads gets the same around
each run: a connection the database dropped overnight is not handed to the next run, and
with ``CONN_MAX_AGE = 0`` (Django's default) none stays open between runs.

Connections belong to a thread: this covers functions that run in the action's thread
(plain functions). An async function runs on an event loop's thread, where the ORM is
called through ``sync_to_async``, which manages its own.
"""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from cronwell.runners import Outcome, RunContext, Runner


class CloseOldConnections:
    """A runner that calls ``runner`` between two ``close_old_connections()``, in the
    thread that runs the action."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def run(self, action: Any, ctx: RunContext, *, timeout: float | None) -> Outcome:
        close_old_connections()
        try:
            return self._runner.run(action, ctx, timeout=timeout)
        finally:
            close_old_connections()

    def cancel(self, run_id: int) -> bool:
        cancel = getattr(self._runner, "cancel", None)
        return bool(cancel(run_id)) if callable(cancel) else False

    def running(self) -> list[int]:
        running = getattr(self._runner, "running", None)
        return list(running()) if callable(running) else []

    def close(self) -> None:
        close = getattr(self._runner, "close", None)
        if callable(close):
            close()
