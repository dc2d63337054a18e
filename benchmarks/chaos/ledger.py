"""The execution ledger: one line per start and end of an action, appended by the action
itself to a file opened with ``O_APPEND`` (one ``write`` per line, so lines of concurrent
writers never interleave), independent of cronwell's own record of the run.

A line is JSON: ``{"event": "start"|"end", "key": occurrence key, "attempt": n,
"instance": CRONWELL_INSTANCE_ID, "pid": ..., "run_id": ..., "token": ..., "t": epoch}``.
``token`` is unique per execution and pairs its start with its end.

Python actions call :func:`record` (thread or child process); shell actions run
``python -m benchmarks.chaos.ledger LEDGER [--sleep S]``, which reads the occurrence from
the ``CRONWELL_*`` variables the shell runner sets.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORD = "benchmarks.chaos.ledger:record"


def record(ctx: Any, ledger: str, sleep: float = 0.0) -> None:
    """The chaos tasks' Python action: a start line, ``sleep`` seconds, an end line."""
    _execute(ledger, ctx.occurrence_key, int(ctx.attempt), int(ctx.run_id), sleep)


def _execute(ledger: str, key: str, attempt: int, run_id: int, sleep: float) -> None:
    token = secrets.token_hex(8)
    _append(ledger, "start", key, attempt, run_id, token)
    if sleep > 0:
        time.sleep(sleep)
    _append(ledger, "end", key, attempt, run_id, token)


def _append(ledger: str, event: str, key: str, attempt: int, run_id: int, token: str) -> None:
    line = {
        "event": event,
        "key": key,
        "attempt": attempt,
        "instance": os.environ.get("CRONWELL_INSTANCE_ID", ""),
        "pid": os.getpid(),
        "run_id": run_id,
        "token": token,
        "t": time.time(),
    }
    data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# -- reading ------------------------------------------------------------------------------


@dataclass
class Execution:
    """One execution of an action, from its ledger lines. ``end`` is when it wrote its end
    line, or else the last moment the harness saw its process alive, or ``None``."""

    key: str
    attempt: int
    instance: str
    pid: int
    token: str
    start: float
    end: float | None = None

    @property
    def task_id(self) -> str:
        return self.key.rpartition("@")[0]

    @property
    def scheduled_for(self) -> datetime:
        when = self.key.rpartition("@")[2].removesuffix("Z")
        return datetime.fromisoformat(when).replace(tzinfo=UTC)

    @property
    def until(self) -> float:
        """The end of the interval the execution surely covered."""
        return self.start if self.end is None else self.end


def read(ledger: Path) -> list[Execution]:
    """Every execution in ``ledger``, in order of start (a torn last line is ignored)."""
    if not ledger.exists():
        return []
    return executions(ledger.read_text().splitlines())


def executions(lines: Iterable[str]) -> list[Execution]:
    found: dict[str, Execution] = {}
    for text in lines:
        try:
            line = json.loads(text)
        except ValueError:
            continue
        token = str(line["token"])
        if line["event"] == "start":
            found[token] = Execution(
                key=str(line["key"]),
                attempt=int(line["attempt"]),
                instance=str(line["instance"]),
                pid=int(line["pid"]),
                token=token,
                start=float(line["t"]),
            )
        elif token in found:
            found[token].end = float(line["t"])
    return sorted(found.values(), key=lambda e: e.start)


def main() -> None:
    parser = argparse.ArgumentParser(description="A shell action of the chaos harness.")
    parser.add_argument("ledger")
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    _execute(
        args.ledger,
        os.environ["CRONWELL_OCCURRENCE_KEY"],
        int(os.environ["CRONWELL_ATTEMPT"]),
        int(os.environ["CRONWELL_RUN_ID"]),
        args.sleep,
    )


if __name__ == "__main__":
    main()
