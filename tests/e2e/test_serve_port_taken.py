"""``cronwell serve`` whose API port is taken stops before it schedules anything: the port
is bound first, and the scheduler starts only once the service is up (issue 20)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cronwell import Cronwell, every
from cronwell.clock import FrozenClock
from cronwell.domain.run import RunStatus


def test_a_taken_port_exits_6_before_any_catch_up_runs(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'taken.db'}"
    marker = tmp_path / "caught-up"
    # a task stored three hours ago: the next start catches up its latest occurrence
    earlier = Cronwell(
        database_url, timezone="UTC", clock=FrozenClock(datetime.now(UTC) - timedelta(hours=3))
    )
    earlier.add_task("hourly", schedule=every(hours=1), shell=f"touch {marker}", catchup="latest")
    earlier.close()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cronwell", "serve", "--port", str(port)],
            env={
                **os.environ,
                "CRONWELL_DATABASE_URL": database_url,
                "CRONWELL_TIMEZONE": "UTC",
                "CRONWELL_SHUTDOWN_GRACE": "5",
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 6, done.stderr
    assert f"127.0.0.1:{port}" in done.stderr
    assert "in use" in done.stderr
    assert not marker.exists()
    assert "cronwell is running" not in done.stdout
    after = Cronwell(database_url, timezone="UTC")
    try:
        runs = after.runs("hourly", limit=10)
        assert [r for r in runs if r.status is not RunStatus.MISSED] == []
    finally:
        after.close()
