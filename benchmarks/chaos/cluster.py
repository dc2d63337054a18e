"""The processes under test: ``cronwell serve`` instances started, killed, frozen and
stopped by the harness, and a private PostgreSQL cluster it can take down.

Every service writes its stdout and stderr to files in the scenario's folder (``<name>.out``,
``<name>.err``, appended across restarts), which keeps pipes from filling and leaves the
logs to read when something fails. Each start gets a new instance id (``chaos-<name><n>``),
as the default id of a new process would be, so the ledger tells incarnations apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0


class ChaosError(Exception):
    """The harness could not set a scenario up (a service would not start, a database
    would not answer): the scenario has no figures."""


@dataclass
class ServiceConfig:
    """What every service of a scenario shares."""

    database_url: str
    tasks_file: Path
    folder: Path
    lease_ttl: float
    poll_interval: float = 1.0
    shutdown_grace: float = 5.0

    def env(self, instance_id: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "CRONWELL_DATABASE_URL": self.database_url,
                "CRONWELL_INSTANCE_ID": instance_id,
                "CRONWELL_LEASE_TTL": str(self.lease_ttl),
                "CRONWELL_POLL_INTERVAL": str(self.poll_interval),
                "CRONWELL_SHUTDOWN_GRACE": str(self.shutdown_grace),
                "CRONWELL_TIMEZONE": "UTC",
                "CRONWELL_MAINTENANCE_CRON": "",
                # the chaos tasks come from a tasks file: operator configuration that may
                # name shell commands and this package's functions
                "CRONWELL_ALLOW_SHELL": "1",
                "CRONWELL_API_FUNCTIONS": "benchmarks.chaos",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
                ),
            }
        )
        env.pop("CRONWELL_API_TOKEN", None)
        return env


@dataclass
class Service:
    """One ``cronwell serve`` slot, started again after each kill."""

    name: str
    config: ServiceConfig
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    instance_id: str = ""
    api_url: str | None = None
    instance_ids: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start ``cronwell serve`` and wait until it says it runs and where its API is."""
        self.starts += 1
        self.instance_id = f"chaos-{self.name}{self.starts}"
        self.instance_ids.append(self.instance_id)
        out = self.config.folder / f"{self.name}.out"
        err = self.config.folder / f"{self.name}.err"
        offset = out.stat().st_size if out.exists() else 0
        with out.open("ab") as stdout, err.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cronwell",
                    "serve",
                    "--tasks",
                    str(self.config.tasks_file),
                    "--port",
                    "0",
                    "--log-level",
                    "WARNING",
                ],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=self.config.folder,
                env=self.config.env(self.instance_id),
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            text = out.read_bytes()[offset:].decode(errors="replace")
            for line in text.splitlines():
                if line.startswith("API on "):
                    self.api_url = line.split()[2].removesuffix("/api/v1")
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.terminate_now()
        raise ChaosError(f"{self.name}: cronwell serve did not start:\n{self.log_tail()}")

    def kill(self) -> float:
        """``kill -9`` the service; the instant it was sent (epoch seconds)."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        return at

    def freeze(self) -> float:
        """SIGSTOP: the process stays, silent (the lease-expiry path)."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGSTOP)
        return at

    def thaw(self) -> float:
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGCONT)
        return at

    def stop(self) -> int | None:
        """SIGTERM and wait: a clean stop. The exit code, or ``None`` if it had to be
        killed after :data:`STOP_TIMEOUT_S`."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGCONT)
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.terminate_now()
            code = None
        self.proc = None
        return code

    def terminate_now(self) -> None:
        """Kill the process if it still runs (clean-up after a failure)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        err = self.config.folder / f"{self.name}.err"
        text = err.read_text(errors="replace") if err.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# -- a private PostgreSQL cluster -----------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has ``initdb`` and ``pg_ctl``."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    usable = [p for p in found if (p / "initdb").exists() and (p / "pg_ctl").exists()]
    return usable[-1] if usable else None


def free_port(first: int = 55432) -> int:
    """The first port from ``first`` on which nothing listens on 127.0.0.1."""
    for port in range(first, first + 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ChaosError(f"no free port in {first}-{first + 199} for a private PostgreSQL")


class PrivateCluster:
    """A PostgreSQL cluster of the harness's own in a new temporary folder (trust auth,
    127.0.0.1 on a free port, its socket in the folder), so an outage never touches a
    shared server.
    As root, its programs run as the ``postgres`` OS user (``runuser``)."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise ChaosError("no PostgreSQL server programs under /usr/lib/postgresql/*/bin")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            raise ChaosError("running as root needs runuser to start PostgreSQL as postgres")
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="cronwell-chaos-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create(self) -> None:
        """initdb and start."""
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        # fsync=off only matters when the machine crashes; a commit is still written to
        # the kernel before it is acknowledged (synchronous_commit stays on), so an
        # immediate stop loses nothing a client was told is committed
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(ChaosError):
            self.stop("fast")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bin / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise ChaosError(f"{program} failed: {(done.stderr or done.stdout).strip()}")
