"""The deployment files in ``deploy/``: the systemd unit passes ``systemd-analyze verify``,
``cronwell serve`` speaks systemd's readiness protocol as its ``Type=notify`` promises, and
the Dockerfile builds and runs where a container engine is available."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.waiting import wait_until

from cronwell.cli import sdnotify

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
START = 30.0  # seconds a loaded machine may take to start a service


def test_the_systemd_unit_verifies_cleanly(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    unit = (DEPLOY / "cronwell.service").read_text()
    assert "Type=notify" in unit
    assert "Restart=on-failure" in unit
    assert "ProtectSystem=strict" in unit
    assert "DynamicUser=yes" in unit
    assert "EnvironmentFile=/etc/cronwell/cronwell.env" in unit
    # verify checks that ExecStart's program exists: point it at this checkout's cronwell
    cronwell = Path(sys.executable).with_name("cronwell")
    assert "/opt/cronwell/bin/cronwell" in unit
    (tmp_path / "cronwell.service").write_text(
        unit.replace("/opt/cronwell/bin/cronwell", str(cronwell))
    )
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "cronwell.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # an unknown key or a bad value is only a warning for systemd: none may appear
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed on this machine")
    broken = tmp_path / "broken.service"
    broken.write_text("[Service]\nExecStart=/bin/true\nProtectSystm=strict\n")
    result = subprocess.run(
        [analyze, "verify", str(broken)], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Unknown key 'ProtectSystm'" in result.stderr


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(START)
    yield sock
    sock.close()


def test_sd_notify_without_systemd_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock")
    assert sdnotify.notify("READY=1") is False  # a vanished socket never stops the service


def test_sd_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"cronwell-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.notify("STATUS=hello") is True
        assert sock.recv(4096) == b"STATUS=hello"


def test_serve_says_ready_once_its_api_answers_and_stopping_on_sigterm(
    tmp_path: Path, notify_socket: socket.socket
) -> None:
    out = tmp_path / "serve.out"
    env = {
        **os.environ,
        "CRONWELL_DATABASE_URL": f"sqlite:///{tmp_path / 'cronwell.db'}",
        "CRONWELL_TIMEZONE": "UTC",
        "CRONWELL_SHUTDOWN_GRACE": "2",
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
    }
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronwell", "serve", "--port", "0"],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        ready = notify_socket.recv(4096).decode()
        assert ready.splitlines()[0] == "READY=1"
        assert re.fullmatch(r"STATUS=\d+ task\(s\), leader", ready.splitlines()[1])
        # by the time systemd hears READY=1, the API answers
        found = re.search(r"API on (http://\S+)/api/v1", out.read_text())
        assert found is not None, out.read_text()
        assert httpx.get(f"{found.group(1)}/readyz", timeout=10).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert notify_socket.recv(4096) == b"STOPPING=1"
        assert proc.wait(timeout=START) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _container_engine() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no container runtime: the docker command is not installed")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60, check=False)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["docker info failed"])[-1]
        pytest.skip(f"no container engine answers docker info: {reason}")
    return docker


def test_the_docker_image_builds_runs_as_non_root_and_becomes_healthy() -> None:
    docker = _container_engine()
    tag = f"cronwell-test:{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [docker, "build", "-f", str(DEPLOY / "Dockerfile"), "-t", tag, str(ROOT)],
        check=True,
        timeout=1800,
    )
    name = f"cronwell-test-{uuid.uuid4().hex[:12]}"
    try:
        subprocess.run(
            [docker, "run", "-d", "--name", name, "-e", "CRONWELL_API_TOKEN=" + "t" * 32, tag],
            check=True,
            timeout=120,
        )
        user = subprocess.run(
            [docker, "exec", name, "id", "-u"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() != "0"

        def health() -> str:
            return subprocess.run(
                [docker, "inspect", "-f", "{{.State.Health.Status}}", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()

        assert wait_until(lambda: health() == "healthy", timeout=120, what="a healthy container")
    finally:
        subprocess.run([docker, "rm", "-f", name], capture_output=True, check=False)
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, check=False)
