"""The chaos harness's short version (``make chaos`` is the long one): real ``cronwell
serve`` processes on PostgreSQL, ``kill -9``'d as the leader under every-second load, and
killed during shell and child-process runs with retries. The actions write an execution
ledger; the harness compares it with the run history (benchmarks/chaos/checks.py).

Durations are not asserted here (``make chaos`` reports the failover gap against its
target); what is asserted is that nothing is lost, doubled, run side by side or left
``running``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks.chaos import faults, scenarios
from benchmarks.chaos.report import Outcome
from benchmarks.chaos.stage import Options

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(150)]


@pytest.fixture
def options(postgres_server: str, tmp_path: Path) -> Options:
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    return Options(admin, tmp_path, lease_ttl=3.0, say=lambda _text: None)


def shown(outcome: Outcome, options: Options) -> str:
    """The figures, and the tail of each service's log, for a failure message."""
    logs = "\n".join(
        f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
        for path in sorted((options.folder / outcome.scenario).glob("*.err"))
    )
    return json.dumps(outcome.figures, indent=1, default=str) + "\n" + logs


def test_killing_the_leader_loses_and_doubles_no_occurrence(options: Options) -> None:
    outcome = scenarios.kill_leader(options, duration=15.0, kill_every=5.0, tasks=5)
    figures = outcome.figures
    assert figures["faults"] >= 2, shown(outcome, options)
    assert figures["occurrences"] >= 50, shown(outcome, options)
    assert figures["failover_missing"] == 0, shown(outcome, options)  # every kill had a successor
    for lost_or_doubled in ("unrecorded", "duplicates", "overlaps", "wrong_status", "running"):
        assert figures[lost_or_doubled] == 0, f"{lost_or_doubled}: {shown(outcome, options)}"


def test_killing_the_service_mid_run_never_runs_two_attempts_at_once(options: Options) -> None:
    outcome = faults.kill_during_runs(options, kills=2, seconds=8.0, every=3.0)
    figures = outcome.figures
    assert figures["faults"] == 2, shown(outcome, options)
    assert figures["executions"] >= 4, shown(outcome, options)
    for lost_or_doubled in ("overlaps", "duplicates", "unrecorded", "running"):
        assert figures[lost_or_doubled] == 0, f"{lost_or_doubled}: {shown(outcome, options)}"
