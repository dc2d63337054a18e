"""Actions that Celery workers run in tests: each execution appends ``run_id attempt pid``
to a ledger file first (one short ``O_APPEND`` write, whole even from several processes),
so a test can count executions, whichever worker made them."""

from __future__ import annotations

import os
import time

from cronwell.runners import RunContext


def record(ctx: RunContext, ledger: str, seconds: float = 0.0) -> int:
    """Note this execution, then take ``seconds``."""
    line = f"{ctx.run_id} {ctx.attempt} {os.getpid()}\n".encode()
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    if seconds:
        time.sleep(seconds)
    return ctx.run_id


def stubborn(ctx: RunContext, ledger: str, seconds: float) -> None:
    """Note this execution, then take ``seconds`` whatever it is told (a soft time limit
    is swallowed): only killing its process stops it."""
    record(ctx, ledger)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:
            continue


def fail_first(ctx: RunContext, ledger: str, seconds: float) -> int:
    """Note this execution, take ``seconds``, then fail on the first attempt only."""
    record(ctx, ledger, seconds)
    if ctx.attempt == 1:
        raise RuntimeError("the first attempt fails")
    return ctx.attempt
