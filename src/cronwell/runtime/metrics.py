"""Prometheus metrics of one Cronwell, in a registry of its own (no process globals, so two
instances in one process, as in tests, never mix their figures).

Counted as runs are recorded by this process: runs by task and final status, run duration,
lateness (start minus scheduled time). Read at each scrape: tasks by state, alerts sent and
failed, whether this instance is the leader, whether the database answered, and the runs
waiting in each Celery queue for a worker.

Counting needs nothing but the standard library; prometheus-client (the ``server`` extra)
is imported at the first scrape, so an embedded Cronwell runs without it.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cronwell.domain.events import RunFinished, RunsRecorded
from cronwell.domain.run import Run
from cronwell.errors import CronwellError
from cronwell.extras import require

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import HistogramMetricFamily, Metric

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# seconds; runs of cron jobs span milliseconds to hours
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
# seconds; a healthy scheduler starts within milliseconds, a loaded one within seconds
LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300)


class Metrics:
    """The metrics; feed :meth:`on_finished` every stored run, serve :meth:`exposition`.

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
        queue_depths: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        self._tally = _RunTally()
        self._state = _StateCollector(instance_id, count_tasks, is_leader, alerts, queue_depths)
        self._registry: CollectorRegistry | None = None
        self._registry_lock = threading.Lock()

    def on_finished(self, finished: RunFinished) -> None:
        self._tally.add_run(finished.run)

    def on_recorded(self, grid: RunsRecorded) -> None:
        """The rows of a batch, counted together: each differs from its template only in
        its id and task."""
        statuses = [run.status.value for run in grid.templates]
        per_task = collections.Counter((task_id, statuses[i]) for _, task_id, i in grid.rows)
        per_template = collections.Counter(i for _, _, i in grid.rows)
        self._tally.add_many(per_task, [(grid.templates[i], n) for i, n in per_template.items()])

    @property
    def registry(self) -> CollectorRegistry:
        """The Prometheus registry of these metrics, made at first use."""
        with self._registry_lock:
            if self._registry is None:
                require("prometheus_client", "server", "the Prometheus metrics")
                from prometheus_client import CollectorRegistry

                registry = CollectorRegistry(auto_describe=True)
                registry.register(self._state)
                registry.register(self._tally)
                self._registry = registry
            return self._registry

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        registry = self.registry  # first: the sentence naming the extra when it is missing
        from prometheus_client import generate_latest

        return generate_latest(registry)


class _RunTally:
    """``cronwell_runs_total{task_id, status}`` and the duration and lateness histograms,
    kept as plain numbers under one lock and read at scrape time. They are counted on the
    writer thread, for every run of a burst: prometheus-client's labelled Counter makes a
    child (locks and a timestamp) per new task and status, and its histograms take a lock
    per bucket and look for the bucket in Python."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the writer and a catch-up may both record runs
        self._runs: collections.Counter[tuple[str, str]] = collections.Counter()
        self._duration = _Buckets(DURATION_BUCKETS)
        self._lateness = _Buckets(LATENESS_BUCKETS)

    def add_run(self, run: Run) -> None:
        with self._lock:
            self._runs[run.task_id, run.status.value] += 1
            self._observe(run, 1)

    def add_many(
        self, per_task: Mapping[tuple[str, str], int], runs: Iterable[tuple[Run, int]]
    ) -> None:
        """Count runs by ``(task id, status)``, and observe each of ``runs`` ``n`` times."""
        with self._lock:
            self._runs.update(per_task)
            for run, n in runs:
                self._observe(run, n)

    def _observe(self, run: Run, n: int) -> None:
        if run.duration is not None:
            self._duration.observe(run.duration, n)
        if run.started_at is not None:
            late = (run.started_at - run.scheduled_for).total_seconds()
            self._lateness.observe(max(0.0, late), n)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily

        runs = CounterMetricFamily(
            "cronwell_runs",
            "Runs recorded by this instance, by task and final status.",
            labels=["task_id", "status"],
        )
        with self._lock:
            counts = sorted(self._runs.items())
            duration = self._duration.family(
                "cronwell_run_duration_seconds", "Seconds from a run's start to its end."
            )
            lateness = self._lateness.family(
                "cronwell_run_lateness_seconds",
                "Seconds from a run's scheduled time to its start.",
            )
        for (task_id, status), count in counts:
            runs.add_metric([task_id, status], count)
        yield runs
        yield duration
        yield lateness


class _Buckets:
    """A histogram's figures: a count per bucket (values up to its bound; the last bucket
    has none) and their sum. The caller holds the lock."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = tuple(float(bound) for bound in bounds)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += n
        self._sum += value * n

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        """The figures as Prometheus wants them: cumulative, ending with ``+Inf``."""
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        bounds = [*map(floatToGoString, self._bounds), "+Inf"]
        cumulative = list(itertools.accumulate(self._counts))
        return HistogramMetricFamily(
            name,
            documentation,
            buckets=list(zip(bounds, cumulative, strict=True)),
            sum_value=self._sum,
        )


@dataclass(frozen=True)
class _StateCollector:
    """Figures read when scraped rather than counted as they happen."""

    instance_id: str
    count_tasks: Callable[[bool | None], int]
    is_leader: Callable[[], bool]
    alerts: Callable[[], tuple[int, int]]
    queue_depths: Callable[[], Mapping[str, int]]

    def describe(self) -> list[Metric]:
        return []  # read at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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
        depth = GaugeMetricFamily(
            "cronwell_queue_depth",
            "Runs sent to a Celery queue that no worker has taken yet, by queue.",
            labels=["queue"],
        )
        for queue, count in sorted(self.queue_depths().items()):
            depth.add_metric([queue], float(count))
        yield depth
