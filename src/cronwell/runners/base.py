"""The interface every runner implements."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from cronwell.clock import utc_now
from cronwell.runners.context import RunContext
from cronwell.runners.outcome import Outcome

DEFAULT_OUTPUT_LIMIT = 64 * 1024


@runtime_checkable
class Runner(Protocol):
    """Executes one kind of action. ``run`` never raises for a failure of the user's action:
    every failure (an exception, a non-zero exit, a bad status, a timeout) is an
    :class:`Outcome`. Only programming errors in cronwell itself raise."""

    def run(self, action: Any, ctx: RunContext, *, timeout: float | None) -> Outcome: ...


def limit_deadline(ctx: RunContext, timeout: float | None) -> None:
    """Set ``ctx.deadline`` to ``now + timeout`` unless it is already earlier (or no
    timeout is given)."""
    if timeout is None:
        return
    deadline = utc_now() + timedelta(seconds=timeout)
    if ctx.deadline is None or deadline < ctx.deadline:
        ctx.deadline = deadline


def format_seconds(seconds: float) -> str:
    """``2`` → ``"2s"``, ``0.25`` → ``"0.25s"``."""
    return f"{seconds:g}s"


def timed_out_message(timeout: float) -> str:
    return f"timed out after {format_seconds(timeout)}"


def one_line(text: str, limit: int = 1000) -> str:
    """The first line of ``text``, marked with ``…`` when more was cut, at most ``limit``
    characters."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    cut = len(lines) > 1
    if len(first) > limit:
        first, cut = first[: limit - 1], True
    return first + " …" if cut else first
