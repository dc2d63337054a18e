"""A scenario's stage: its folder, database, tasks file, ledger and services, and what
every scenario does with them (find the leader, stop everything cleanly, clear up children
left behind, gather the figures).

The tasks are ``chaos-…``: every-second load tasks whose Python action writes the ledger,
and long ones (a shell command, a child-process function) with retries.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.chaos import db
from benchmarks.chaos.checks import Fault, Figures, assess
from benchmarks.chaos.cluster import ChaosError, Service, ServiceConfig
from benchmarks.chaos.ledger import RECORD, Execution, read

PREFIX = "chaos-"


@dataclass
class Options:
    """What the whole run shares."""

    admin_url: str
    folder: Path
    lease_ttl: float = 5.0
    poll_interval: float = 1.0
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)


def load_tasks(count: int, ledger_path: Path) -> list[dict[str, Any]]:
    """``count`` every-second tasks whose action records itself in the ledger."""
    return [
        {
            "id": f"{PREFIX}load-{index:02d}",
            "every": "1s",
            "action": {
                "kind": "python",
                "func": RECORD,
                "kwargs": {"ledger": str(ledger_path)},
            },
        }
        for index in range(count)
    ]


def slow_tasks(count: int, ledger_path: Path, seconds: float, every: float) -> list[dict[str, Any]]:
    """``count`` tasks whose action (in a thread) takes ``seconds``, every ``every``."""
    return [
        {
            "id": f"{PREFIX}slow-{index:02d}",
            "every": f"{every:g}s",
            "action": {
                "kind": "python",
                "func": RECORD,
                "kwargs": {"ledger": str(ledger_path), "sleep": seconds},
            },
        }
        for index in range(count)
    ]


def long_tasks(
    ledger_path: Path, seconds: float, every: float, retries: int
) -> list[dict[str, Any]]:
    """A shell command and a child-process function that each run ``seconds``, retried
    one second after a failure or abandon (no backoff, no jitter); downtime is only
    recorded (``catchup="none"``)."""
    policies = {
        "every": f"{every:g}s",
        "catchup": "none",
        "retries": retries,
        "retry_delay": 1.0,
        "retry_max_delay": 1.0,
        "retry_jitter": 0.0,
        "timeout": seconds * 4 + 30,
    }
    command = f"{sys.executable} -m benchmarks.chaos.ledger {ledger_path} --sleep {seconds:g}"
    return [
        {"id": f"{PREFIX}shell", **policies, "action": {"kind": "shell", "command": command}},
        {
            "id": f"{PREFIX}process",
            **policies,
            "action": {
                "kind": "python",
                "func": RECORD,
                "kwargs": {"ledger": str(ledger_path), "sleep": seconds},
                "isolation": "process",
            },
        },
    ]


@dataclass
class Stage:
    name: str
    options: Options
    database_url: str
    folder: Path
    services: dict[str, Service] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    # last moment a process of an execution was seen alive, by pid
    seen_alive: dict[int, float] = field(default_factory=dict)

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.jsonl"

    @property
    def tasks_file(self) -> Path:
        return self.folder / "tasks.json"

    def write_tasks(self, tasks: list[dict[str, Any]]) -> None:
        self.tasks_file.write_text(json.dumps({"tasks": tasks}, indent=1))

    def service(self, name: str) -> Service:
        config = ServiceConfig(
            database_url=self.database_url,
            tasks_file=self.tasks_file,
            folder=self.folder,
            lease_ttl=self.options.lease_ttl,
            poll_interval=self.options.poll_interval,
        )
        self.services[name] = Service(name, config)
        return self.services[name]

    # -- leadership ---------------------------------------------------------------------

    def leader(self) -> Service | None:
        """The live service whose current instance holds the lease."""
        holder = db.lease_holder(self.database_url)
        return next(
            (s for s in self.services.values() if s.alive and s.instance_id == holder), None
        )

    def wait_leader(self, timeout: float) -> Service | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.leader()
            if found is not None:
                return found
            time.sleep(0.1)
        return None

    # -- the end ------------------------------------------------------------------------

    def stop_all(self) -> list[int | None]:
        """SIGTERM every service, standbys first (the leader last, so nobody takes over
        from it): their exit codes."""
        leader = self.leader()
        ordered = sorted(self.services.values(), key=lambda s: s is leader)
        return [s.stop() for s in ordered if s.proc is not None]

    def look_for_survivors(self) -> list[int]:
        """Pids of executions with no end line whose process still runs; notes when each
        was seen."""
        now = time.time()
        alive = []
        for execution in read(self.ledger):
            if execution.end is None and is_action_process(execution.pid):
                self.seen_alive[execution.pid] = now
                alive.append(execution.pid)
        return alive

    def kill_survivors(self) -> int:
        """Kill the process groups of executions still running after their services
        stopped (children the service did not take with it); how many there were."""
        survivors = self.look_for_survivors()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        return len(survivors)

    def executions(self) -> list[Execution]:
        found = read(self.ledger)
        for execution in found:
            if execution.end is None and execution.pid in self.seen_alive:
                execution.end = self.seen_alive[execution.pid]
        return found

    def figures(self, span: tuple[float, float], stop_codes: Sequence[int | None]) -> Figures:
        """The common figures, once every service is stopped."""
        left_behind = self.kill_survivors()
        rows = db.run_rows(self.database_url, PREFIX)
        figures = assess(
            self.executions(), rows, db.tasks(self.database_url, PREFIX), span, self.faults
        )
        figures["running"] = db.count_running(self.database_url)
        figures["children_left"] = left_behind
        figures["unclean_stops"] = sum(1 for code in stop_codes if code != 0)
        figures["span_s"] = round(span[1] - span[0], 1)
        return figures


def is_action_process(pid: int) -> bool:
    """Whether ``pid`` is a live process running one of the chaos actions."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z" and (b"benchmarks.chaos" in command or b"cronwell.runners.child" in command)


@contextlib.contextmanager
def staged(options: Options, name: str, database_url: str) -> Iterator[Stage]:
    """A stage on ``database_url`` whose services are killed (and children cleared) however
    the scenario ends."""
    folder = options.folder / name
    folder.mkdir(parents=True, exist_ok=True)
    stage = Stage(name, options, database_url, folder)
    try:
        yield stage
    finally:
        for service in stage.services.values():
            service.terminate_now()
        stage.kill_survivors()


def sleep_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))


def require(value: Any, what: str, stage: Stage) -> Any:
    """``value``, or a :class:`ChaosError` naming ``what`` did not happen, with logs."""
    if value:
        return value
    logs = "\n".join(f"--- {s.name}\n{s.log_tail(10)}" for s in stage.services.values())
    raise ChaosError(f"{stage.name}: {what}\n{logs}")
