"""Seed 004 rebuilt (``examples/seeds/004_trading_service``): the trading framework's
scheduler service as ``cronwell serve --tasks tasks.toml`` on PostgreSQL, with a 2-second
bar instead of 5 minutes, a local notification service receiving what fires, and the
operator commands the seed's CLI had."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from tests.support.receiver import Receiver, receiver, receiver_factory
from tests.support.waiting import wait_until

from cronwell.domain.run import RunStatus
from cronwell.store import Store

__all__ = ["receiver", "receiver_factory"]  # fixtures

SEED = Path(__file__).resolve().parents[2] / "examples" / "seeds" / "004_trading_service"
START = 30.0  # seconds a loaded machine may take to start a service


def _cronwell(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cronwell", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.postgres
def test_the_trading_service_evaluates_alerts_delivers_what_fires_and_rearms(
    postgres_database: str, tmp_path: Path, receiver_factory: Callable[..., Receiver]
) -> None:
    notifier = receiver_factory()
    folder = tmp_path / "trading"
    shutil.copytree(SEED, folder)
    tasks = folder / "tasks.toml"
    # a 2-second bar instead of a 5-minute one: the schedule is the only change
    text = tasks.read_text()
    assert 'cron = "*/5 * * * *"' in text
    tasks.write_text(text.replace('cron = "*/5 * * * *"', 'cron = "*/2 * * * * *"'))
    env = {
        **os.environ,
        "PYTHONPATH": str(folder),
        "CRONWELL_DATABASE_URL": postgres_database,
        "CRONWELL_TIMEZONE": "UTC",
        "CRONWELL_POLL_INTERVAL": "0.2",
        "CRONWELL_SHUTDOWN_GRACE": "2",
        "CRONWELL_CHANNELS": json.dumps(
            {"notify": notifier.url("json", "api/notify"), "ops": notifier.url("json", "ops")}
        ),
        "TRADING_PRICES": str(folder / "prices.json"),
        "TRADING_ALERTS": str(folder / "rules.json"),
    }
    validated = _cronwell("validate", "tasks.toml", env=env, cwd=folder)
    assert validated.returncode == 0, validated.stdout + validated.stderr

    out = tmp_path / "serve.out"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cronwell", "serve", "--tasks", "tasks.toml", "--port", "0"],
            env=env,
            cwd=folder,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    store = Store(postgres_database)
    try:

        def api() -> str | None:
            found = re.search(r"API on (http://\S+)/api/v1", out.read_text())
            assert proc.poll() is None, out.read_text()
            return found.group(1) if found else None

        base = wait_until(api, timeout=START, what="the service to listen")
        assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200

        def succeeded() -> int:
            return len(store.list_runs(task_id="evaluate-alerts", status=RunStatus.SUCCEEDED))

        def notices() -> list[object]:
            return [r.json() for r in notifier.requests if r.path == "/api/notify"]

        # prices inside every rule: runs succeed and nothing is delivered
        wait_until(lambda: succeeded() >= 2, timeout=START, what="two quiet evaluations")
        assert notices() == []

        # BTC breaks out above 100,000: one notice, then quiet while it stays above
        (folder / "prices.json").write_text(json.dumps({"BTCUSD": 101500, "AAPL": 190}))
        wait_until(lambda: len(notices()) == 1, timeout=START, what="the breakout notice")
        (notice,) = notices()
        assert "BTCUSD above 100000" in json.dumps(notice)
        seen = succeeded()
        wait_until(lambda: succeeded() >= seen + 2, timeout=START, what="two more evaluations")
        assert len(notices()) == 1  # disarmed until the price crosses back

        # back below, then above again: rearmed, a second notice
        (folder / "prices.json").write_text(json.dumps({"BTCUSD": 99000, "AAPL": 190}))
        seen = succeeded()
        wait_until(lambda: succeeded() >= seen + 1, timeout=START, what="the price back below")
        (folder / "prices.json").write_text(json.dumps({"BTCUSD": 100200, "AAPL": 190}))
        wait_until(lambda: len(notices()) == 2, timeout=START, what="the notice after rearm")

        # the seed's CLI: status and reload
        status = _cronwell("status", env=env, cwd=folder)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "tasks: 2 (0 paused)" in status.stdout  # the seed's one and the built-in maintenance
        assert "evaluate-alerts" in status.stdout  # among the next fires
        reloaded = _cronwell("reload", "--url", base, env=env, cwd=folder)
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        assert store.list_runs(task_id="evaluate-alerts", status=RunStatus.FAILED) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=START) == 0, out.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
            store.close()
