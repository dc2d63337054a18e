"""Children never outlive their run's record (DESIGN rule 7): a real ``cronwell serve`` is
killed with SIGKILL at a random moment of a shell run and of a process-isolated Python run,
both with retries, and restarted, twice (the second kill hits the retries of the first).
Each attempt writes an execution ledger (start, a tick every 0.1 s, end; with its
occurrence key, attempt and pid): no two attempts of one occurrence may overlap in time,
and the killed attempts' processes must be gone."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest
from tests.support.processes import alive
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.store import Store

SHELL_JOB = """\
echo "start $CRONWELL_OCCURRENCE_KEY $CRONWELL_ATTEMPT $$ $(date +%s.%N)" >> "$LEDGER"
i=0
while [ $i -lt 80 ]; do
    sleep 0.1
    echo "tick $CRONWELL_OCCURRENCE_KEY $CRONWELL_ATTEMPT $$ $(date +%s.%N)" >> "$LEDGER"
    i=$((i + 1))
done
echo "end $CRONWELL_OCCURRENCE_KEY $CRONWELL_ATTEMPT $$ $(date +%s.%N)" >> "$LEDGER"
"""

PYTHON_JOB = """\
import os
import time


def work(ctx):
    def line(event):
        entry = f"{event} {ctx.occurrence_key} {ctx.attempt} {os.getpid()} {time.time()}"
        with open(os.environ["LEDGER"], "a") as ledger:
            ledger.write(entry + "\\n")

    line("start")
    for _ in range(80):
        time.sleep(0.1)
        line("tick")
    line("end")
"""

TASKS = """\
[[tasks]]
id = "shell-ledger"
every = "4s"
retries = 2
retry_delay = "0.1s"
retry_jitter = 0
catchup = "none"
action = {{ kind = "shell", command = "sh {script}" }}

[[tasks]]
id = "child-ledger"
every = "4s"
retries = 2
retry_delay = "0.1s"
retry_jitter = 0
catchup = "none"
action = {{ kind = "python", func = "ledgerjob:work", isolation = "process" }}
"""


@dataclass
class Attempt:
    key: str
    attempt: int
    pid: int
    times: list[float] = field(default_factory=list)
    ended: bool = False


NONE = Attempt("", 0, 0)


def read_ledger(path: Path) -> dict[tuple[str, int], Attempt]:
    attempts: dict[tuple[str, int], Attempt] = {}
    if not path.exists():
        return attempts
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:  # a line cut short by the kill
            continue
        event, key, attempt, pid, at = parts
        entry = attempts.setdefault((key, int(attempt)), Attempt(key, int(attempt), int(pid)))
        entry.times.append(float(at))
        entry.ended = entry.ended or event == "end"
    return attempts


def overlaps(attempts: dict[tuple[str, int], Attempt]) -> list[str]:
    """Attempts of one occurrence whose ledger lines interleave in time."""
    by_key: dict[str, list[Attempt]] = defaultdict(list)
    for entry in attempts.values():
        by_key[entry.key].append(entry)
    found = []
    for key, entries in by_key.items():
        entries.sort(key=lambda e: e.attempt)
        for earlier, later in pairwise(entries):
            if max(earlier.times) > min(later.times):
                found.append(
                    f"{key}: attempt {earlier.attempt} (pid {earlier.pid}) wrote until "
                    f"{max(earlier.times):.2f}, attempt {later.attempt} started at "
                    f"{min(later.times):.2f}"
                )
    return found


class Service:
    """``cronwell serve`` on an SQLite file, with the ledger's location in its environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "service.db"
        self.ledger = tmp_path / "ledger.txt"
        script = tmp_path / "ledger.sh"
        script.write_text(SHELL_JOB)
        (tmp_path / "ledgerjob.py").write_text(PYTHON_JOB)
        self.tasks = tmp_path / "tasks.toml"
        self.tasks.write_text(textwrap.dedent(TASKS.format(script=script)))
        self.env = {
            **os.environ,
            "CRONWELL_DATABASE_URL": f"sqlite:///{self.db}",
            "CRONWELL_TIMEZONE": "UTC",
            "CRONWELL_POLL_INTERVAL": "0.2",
            "CRONWELL_SHUTDOWN_GRACE": "1",
            "CRONWELL_ALLOW_SHELL": "1",
            "CRONWELL_API_FUNCTIONS": "ledgerjob",
            "PYTHONPATH": os.pathsep.join(
                [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
            "LEDGER": str(self.ledger),
        }
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cronwell", "serve", "--tasks", str(self.tasks), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=self.env,
        )
        assert self.proc.stdout is not None
        assert "cronwell is running" in self.proc.stdout.readline()

    def stop(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.communicate(timeout=30)
        self.proc = None


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = Service(tmp_path)
    yield svc
    if svc.proc is not None and svc.proc.poll() is None:
        svc.proc.kill()
        svc.proc.wait()
    # what an orphan of the old behaviour would leave running after the test
    for entry in read_ledger(svc.ledger).values():
        if not entry.ended and alive(entry.pid):
            os.kill(entry.pid, signal.SIGKILL)


def test_killing_the_service_never_lets_two_attempts_of_an_occurrence_overlap(
    service: Service,
) -> None:
    def running() -> list[Attempt]:
        return [e for e in read_ledger(service.ledger).values() if not e.ended and alive(e.pid)]

    service.start()
    # both tasks in the middle of an attempt: a shell command and a child process
    wait_until(
        lambda: {e.key.split("@")[0] for e in running()} == {"shell-ledger", "child-ledger"},
        timeout=15,
        what="both tasks running",
    )
    for _ in range(2):  # the second kill hits the retries of the first
        threading.Event().wait(random.uniform(0.0, 1.5))  # a random moment of the runs
        service.stop(signal.SIGKILL)
        killed = [e for e in read_ledger(service.ledger).values() if not e.ended]
        killed = [e for e in killed if (e.key, e.attempt + 1) not in read_ledger(service.ledger)]
        # the children die with the service, before anything restarts
        wait_until(lambda: not running(), timeout=5, what="the killed service's children to die")
        service.start()

        # each killed attempt is retried, and the retry runs a little
        def retried(killed: list[Attempt] = killed) -> bool:
            ledger = read_ledger(service.ledger)
            return all(len(ledger.get((e.key, e.attempt + 1), NONE).times) >= 3 for e in killed)

        wait_until(retried, timeout=20, what="the retries of the killed attempts")
    service.stop(signal.SIGTERM)
    assert overlaps(read_ledger(service.ledger)) == []
    store = Store(f"sqlite:///{service.db}")
    try:
        abandoned = store.list_runs(status=RunStatus.ABANDONED)
        assert sorted(r.task_id for r in abandoned) == ["child-ledger"] * 2 + ["shell-ledger"] * 2
        for run in abandoned:
            assert run.pgid is not None and run.pgid > 0
            assert run.host is not None
        assert store.list_runs(status=RunStatus.RUNNING) == []
    finally:
        store.close()
