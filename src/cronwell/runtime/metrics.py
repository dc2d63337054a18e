"""Prometheus metrics of one Cronwell, in a registry of its own (no process globals, so two
instances in one process, as in tests, never mix their figures).

Counted as runs are recorded by this process: runs by task and final status, run duration,
lateness (start minus scheduled time). Read at each scrape: tasks by state, alerts sent and
failed, whether this instance is the leader, whether the database answered.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cronwell.dispatch import RecordedGrid, RunOutcome
from cronwell.domain.run import Run
from cronwell.errors import CronwellError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds; runs of cron jobs span milliseconds to hours
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
# seconds; a healthy scheduler starts within milliseconds, a loaded one within seconds
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300)


class Metrics:
    """The metrics; feed :meth:`on_outcome` every stored run, serve :meth:`exposition`.

    Histograms carry no task label: with thousands of tasks, per-task buckets would make
    more series than most Prometheus servers should keep (per-task figures are in the task
    statistics).
    """

    def __init__(
        self,
        *,
        instance_id: str,
        count_tasks: Callable[[bool | None], int],
        is_leader: Callable[[], bool],
        alerts: Callable[[], tuple[int, int]],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # a plain tally, read at scrape time: prometheus-client's labelled Counter made a
        # child (locks and a timestamp) per new task and status, ~20 µs on the writer
        # thread for each task of a burst
        self._runs: collections.Counter[tuple[str, str]] = collections.Counter()
        self._runs_lock = threading.Lock()
        self._duration = Histogram(
            "cronwell_run_duration_seconds",
            "Seconds from a run's start to its end.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self._lateness = Histogram(
            "cronwell_run_lateness_seconds",
            "Seconds from a run's scheduled time to its start.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(instance_id, count_tasks, is_leader, alerts))
        self.registry.register(_RunsCollector(self._runs, self._runs_lock))

    def on_outcome(self, outcome: RunOutcome) -> None:
        run = outcome.run
        with self._runs_lock:  # the writer and a catch-up may both record runs
            self._runs[run.task_id, run.status.value] += 1
        self._observe(run)

    def on_grid(self, grid: RecordedGrid) -> None:
        """The rows of a grid, counted together: each differs from its template only in
        its id and task."""
        counted = collections.Counter(
            (task_id, grid.templates[index].status.value) for _, task_id, index in grid.rows
        )
        with self._runs_lock:
            self._runs.update(counted)
        if any(t.duration is not None or t.started_at is not None for t in grid.templates):
            for _, _, index in grid.rows:
                self._observe(grid.templates[index])

    def _observe(self, run: Run) -> None:
        if run.duration is not None:
            self._duration.observe(run.duration)
        if run.started_at is not None:
            late = (run.started_at - run.scheduled_for).total_seconds()
            self._lateness.observe(max(0.0, late))

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


@dataclass(frozen=True, eq=False)  # registered by identity
class _RunsCollector(Collector):
    """``cronwell_runs_total{task_id, status}`` from :class:`Metrics`' tally."""

    runs: collections.Counter[tuple[str, str]]
    lock: threading.Lock

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "cronwell_runs",
            "Runs recorded by this instance, by task and final status.",
            labels=["task_id", "status"],
        )
        with self.lock:
            counts = sorted(self.runs.items())
        for (task_id, status), count in counts:
            family.add_metric([task_id, status], count)
        yield family


@dataclass(frozen=True)
class _StateCollector(Collector):
    """Figures read when scraped rather than counted as they happen."""

    instance_id: str
    count_tasks: Callable[[bool | None], int]
    is_leader: Callable[[], bool]
    alerts: Callable[[], tuple[int, int]]

    def describe(self) -> list[Metric]:
        return []  # read at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        leader = GaugeMetricFamily(
            "cronwell_leader",
            "1 when this instance holds the scheduler lease and fires tasks.",
            labels=["instance_id"],
        )
        leader.add_metric([self.instance_id], 1.0 if self.is_leader() else 0.0)
        yield leader
        sent, failed = self.alerts()
        yield CounterMetricFamily(
            "cronwell_alerts_sent", "Alert deliveries that succeeded.", value=sent
        )
        yield CounterMetricFamily(
            "cronwell_alerts_failed", "Alert deliveries that failed after retries.", value=failed
        )
        up = GaugeMetricFamily("cronwell_database_up", "1 when the database answered.")
        try:
            enabled = self.count_tasks(True)
            paused = self.count_tasks(False)
        except CronwellError:
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        tasks = GaugeMetricFamily("cronwell_tasks", "Stored tasks by state.", labels=["state"])
        tasks.add_metric(["enabled"], enabled)
        tasks.add_metric(["paused"], paused)
        yield tasks
