"""Real Celery workers for tests: ``celery -A cronwell.contrib.celery worker`` subprocesses
on the RabbitMQ or Redis of this machine, and the brokers' addresses.

A worker is started in a session of its own, so that :meth:`CeleryWorker.kill` can
SIGKILL it with its pool's child processes, as when its machine dies. Each test sends to
a queue of its own, so messages left by another test never reach its workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]

BROKERS = {
    "rabbitmq": os.environ.get("CRONWELL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"),
    "redis": os.environ.get("CRONWELL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}


def broker_problem(url: str) -> str | None:
    """Why the broker at ``url`` cannot be used, or ``None`` when it answers."""
    parsed = urlsplit(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (5672 if url.startswith("amqp") else 6379)
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as exc:
        return f"broker unreachable at {host}:{port}: {exc}"


def unique_queue() -> str:
    return f"cw-test-{uuid.uuid4().hex[:12]}"


class CeleryWorker:
    """One ``celery worker`` process (prefork, ``concurrency`` children) on ``queue``."""

    def __init__(
        self,
        database_url: str,
        broker: str,
        queue: str,
        *,
        name: str = "w1",
        concurrency: int = 1,
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.lines: list[str] = []
        self._ready = threading.Event()
        env = {
            **os.environ,
            "CRONWELL_DATABASE_URL": database_url,
            "CRONWELL_CELERY_BROKER": broker,
            "CRONWELL_CELERY_QUEUE": queue,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cronwell.contrib.celery",
            "worker",
            "-Q",
            queue,
            "-c",
            str(concurrency),
            "-n",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._log = (log_dir / f"{name}.log").open("w") if log_dir else None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if self._log is not None:
                self._log.write(line)
                self._log.flush()
            if " ready." in line:
                self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self._ready.wait(timeout):
            raise AssertionError(
                f"celery worker {self.name} did not start:\n{''.join(self.lines[-40:])}"
            )

    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        """SIGKILL the worker and its pool's children at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL for whatever is left."""
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        self.kill()
        if self._log is not None:
            self._log.close()


def read_ledger(path: Path) -> list[tuple[int, int, int]]:
    """The ledger's lines ``(run_id, attempt, pid)``, one per execution started."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        run_id, attempt, pid = line.split()
        rows.append((int(run_id), int(attempt), int(pid)))
    return rows
