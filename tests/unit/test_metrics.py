"""Metrics: figures read at scrape time keep answering when the database does not, and
runs are counted into the buckets and series Prometheus expects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.support.metrics import samples

from cronwell.domain.events import RunFinished, RunsRecorded
from cronwell.domain.run import Run, RunStatus
from cronwell.errors import DatabaseUnavailableError
from cronwell.runtime.metrics import Metrics

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_a_database_outage_shows_as_down_not_as_an_error() -> None:
    def unreachable(_enabled: bool | None) -> int:
        raise DatabaseUnavailableError("Cannot reach the database sqlite:///x.db: gone")

    metrics = Metrics(
        instance_id="m-1", count_tasks=unreachable, is_leader=lambda: False, alerts=lambda: (3, 1)
    )
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    assert families["cronwell_database_up"].samples[0].value == 0
    assert "cronwell_tasks" not in families
    assert families["cronwell_alerts_sent"].samples[0].value == 3
    assert families["cronwell_alerts_failed"].samples[0].value == 1
    assert families["cronwell_leader"].samples[0].labels == {"instance_id": "m-1"}


def _metrics() -> Metrics:
    return Metrics(
        instance_id="m-1", count_tasks=lambda _: 0, is_leader=lambda: True, alerts=lambda: (0, 0)
    )


def _run(task_id: str, status: RunStatus, late: float | None, duration: float | None) -> Run:
    started = None if late is None else NOW + timedelta(seconds=late)
    return Run(
        id=1,
        task_id=task_id,
        scheduled_for=NOW,
        status=status,
        started_at=started,
        finished_at=NOW,
        duration=duration,
    )


def test_runs_fall_in_the_buckets_prometheus_means() -> None:
    """A bucket counts values up to and including its bound, cumulatively, ``+Inf`` all."""
    metrics = _metrics()
    for late, duration in ((0.005, 0.01), (0.0051, 2.0), (-1.0, 99_999.0)):
        metrics.on_finished(RunFinished(_run("t", RunStatus.SUCCEEDED, late, duration)))
    figures = samples(metrics.exposition().decode())

    def bucket(name: str, le: str) -> float:
        return figures[(f"cronwell_run_{name}_seconds_bucket", (("le", le),))]

    assert [bucket("lateness", le) for le in ("0.001", "0.005", "0.01", "+Inf")] == [1, 2, 3, 3]
    assert [bucket("duration", le) for le in ("0.01", "1.0", "5.0", "14400.0", "+Inf")] == [
        1,
        1,
        2,
        2,
        3,
    ]
    assert figures[("cronwell_run_duration_seconds_count", ())] == 3
    assert figures[("cronwell_run_duration_seconds_sum", ())] == pytest.approx(100_001.01)
    assert figures[("cronwell_run_lateness_seconds_sum", ())] == pytest.approx(0.0101)  # early: 0


def test_a_grid_counts_each_row_for_its_own_task() -> None:
    metrics = _metrics()
    templates = [_run("", RunStatus.MISSED, None, None), _run("", RunStatus.SKIPPED, None, None)]
    rows = [(1, "a", 0), (2, "a", 1), (3, "b", 0), (4, "b", 0), (5, "c", 1)]
    metrics.on_recorded(RunsRecorded(templates, rows, {}))
    metrics.on_finished(RunFinished(_run("a", RunStatus.MISSED, None, None)))
    figures = samples(metrics.exposition().decode())
    runs = {
        labels: value for (name, labels), value in figures.items() if name == "cronwell_runs_total"
    }
    assert runs == {
        (("status", "missed"), ("task_id", "a")): 2,
        (("status", "skipped"), ("task_id", "a")): 1,
        (("status", "missed"), ("task_id", "b")): 2,
        (("status", "skipped"), ("task_id", "c")): 1,
    }
    assert figures[("cronwell_run_lateness_seconds_count", ())] == 0  # they never started


def test_a_grid_of_started_rows_is_observed_once_a_row() -> None:
    metrics = _metrics()
    templates = [_run("", RunStatus.SUCCEEDED, 0.2, 3.0), _run("", RunStatus.MISSED, None, None)]
    metrics.on_recorded(RunsRecorded(templates, [(1, "a", 0), (2, "b", 0), (3, "b", 1)], {}))
    figures = samples(metrics.exposition().decode())
    assert figures[("cronwell_run_duration_seconds_count", ())] == 2
    assert figures[("cronwell_run_duration_seconds_sum", ())] == pytest.approx(6.0)
    assert figures[("cronwell_run_lateness_seconds_bucket", (("le", "0.25"),))] == 2
    assert figures[("cronwell_run_lateness_seconds_bucket", (("le", "0.1"),))] == 0
