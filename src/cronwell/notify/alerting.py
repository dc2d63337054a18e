"""Deciding what to alert about and where (DESIGN rule 8). Rendering and delivery are the
:class:`~cronwell.notify.delivery.Notifier`'s; this module turns run events
(:mod:`cronwell.domain.events`) and scheduler events into alerts for the right targets,
and pings the heartbeat URL."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from cronwell.clock import Clock
from cronwell.domain.alerts import DEFAULT_EVENTS, Alert, AlertEvent, state_events
from cronwell.domain.durations import format_duration
from cronwell.domain.events import RunFinished, RunsRecorded, RunStarted
from cronwell.domain.run import Run
from cronwell.domain.task import Task
from cronwell.notify.delivery import DeliveryRecord, Notifier
from cronwell.notify.redact import redact_url
from cronwell.settings import Settings
from cronwell.store import Store

log = logging.getLogger(__name__)

# a task missing many occurrences at once (a catch-up) alerts once, not per occurrence
_MISSED_QUIET = timedelta(minutes=10)
# how long a task's p95 duration is trusted before it is read again (long_running_factor)
_P95_TTL = 300.0
_OUTPUT_EXCERPT = 1000


class Alerting:
    """Turns what happens into alerts: task outcomes (state-based), scheduler events, the
    schedule summary at start, and the heartbeat ping."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        notifier: Notifier,
        is_running: Callable[[int], bool] = lambda _run_id: False,
    ) -> None:
        self._settings = settings
        self._is_running = is_running
        self._p95: dict[str, tuple[float, float | None]] = {}  # task -> (read at, p95)
        self._store = store
        self._clock = clock
        self.notifier = notifier
        self._last_missed: dict[str, datetime] = {}
        self._last_failed: dict[str, datetime | None] = {}  # for reminders, per task
        self._stop = threading.Event()
        self._pinger: threading.Thread | None = None
        self._watch: list[tuple[float, int, Task, datetime, float]] = []  # long runs, a heap
        self._watch_cond = threading.Condition()
        self._watcher: threading.Thread | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    def start_delivery(self) -> None:
        """Deliver alerts from now on (any process that runs tasks, the CLI's too)."""
        self.notifier.start()

    def start(self) -> None:
        """Deliver alerts, watch long runs and ping the heartbeat URL (a running
        scheduler)."""
        self.start_delivery()
        with self._watch_cond:
            if self._watcher is None:
                self._watcher = threading.Thread(
                    target=self._watch_loop, name="cronwell-long-runs", daemon=True
                )
                self._watcher.start()
        if self._settings.heartbeat_url and self._pinger is None:
            self._stop.clear()
            self._pinger = threading.Thread(
                target=self._ping_loop, name="cronwell-heartbeat-ping", daemon=True
            )
            self._pinger.start()

    def stop(self) -> None:
        """Stop pinging (the scheduler stopped: the dead man's switch must notice)."""
        self._stop.set()
        if self._pinger is not None:
            self._pinger.join(timeout=5)
            self._pinger = None

    def close(self) -> None:
        self.stop()
        with self._watch_cond:
            self._closed = True
            self._watch.clear()
            self._watch_cond.notify_all()
        self.notifier.close()

    # -- run events -----------------------------------------------------------------------

    def on_finished(self, finished: RunFinished) -> None:
        """Alert for one stored run, as its task's targets want. Called on the dispatcher's
        writer thread: it only queues deliveries."""
        run = finished.run
        events = state_events(
            run.status,
            retrying=finished.retrying,
            failures_before=finished.failures_before,
            failures=finished.failures,
            auto_paused=finished.auto_paused,
        )
        events += self._reminder(finished)
        self._send(events, run.task_id, finished.task, lambda: finished)

    def on_recorded(self, grid: RunsRecorded) -> None:
        """Alert for the rows of a batch (a fleet's missed occurrences) as :meth:`on_finished`
        would, row by row, without a run object for rows that alert nobody: such rows
        carry no failure counts, so their events follow from their template's status, and
        a task that missed several occurrences alerts for its first one only
        (``_MISSED_QUIET``)."""
        events_of = [
            state_events(t.status, retrying=False, failures_before=0, failures=0, auto_paused=False)
            for t in grid.templates
        ]
        # _first_missed would say so too, but this loop runs once per missed row (a row per
        # task and missed occurrence after an outage): a set lookup is what it can afford
        missed_seen: set[str] = set()
        for row in grid.rows:
            task_id, events = row[1], events_of[row[2]]
            if events == [AlertEvent.MISSED]:
                if task_id in missed_seen:
                    continue
                missed_seen.add(task_id)
            if not events:
                continue
            try:  # one task's failure must not silence the rest of the fleet
                self._send(events, task_id, grid.tasks.get(task_id), partial(grid.finished, row))
            except Exception:
                log.exception(
                    "alerting failed", extra={"action": "listener_failed", "task_id": task_id}
                )

    def _send(
        self,
        events: list[AlertEvent],
        task_id: str,
        task: Task | None,
        finished: Callable[[], RunFinished],
    ) -> None:
        """Queue an alert for each of ``events`` that a target of the task wants;
        ``finished`` is only made for those."""
        if AlertEvent.MISSED in events and not self._first_missed(task_id):
            # checked before any look-up: catch-ups are big
            events = [event for event in events if event is not AlertEvent.MISSED]
        if not events:
            return
        task = task or self._store.find_task(task_id)
        if task is None:
            return
        for event in events:
            if event in (AlertEvent.FAILED, AlertEvent.TIMED_OUT):
                self._last_failed[task.id] = self._clock.now()
            targets = self._targets(task, event)
            if targets:
                told = finished()
                self.notifier.send(self._alert(event, task, told.run, told), targets)

    # -- long runs --------------------------------------------------------------------------

    def on_started(self, started: RunStarted) -> None:
        """Watch the run for ``long_running`` when its task asks for it (one thread watches
        every run, in deadline order)."""
        run_id, task, started_at = started.run_id, started.task, started.started_at
        limit = self._long_running_limit(task)
        if limit is None:
            return
        with self._watch_cond:
            if self._closed:
                return
            heapq.heappush(self._watch, (time.monotonic() + limit, run_id, task, started_at, limit))
            self._watch_cond.notify_all()

    def _watch_loop(self) -> None:
        while True:
            with self._watch_cond:
                while not self._closed and (
                    not self._watch or self._watch[0][0] > time.monotonic()
                ):
                    timeout = self._watch[0][0] - time.monotonic() if self._watch else None
                    self._watch_cond.wait(timeout)
                if self._closed:
                    return
                _, run_id, task, started_at, limit = heapq.heappop(self._watch)
            try:
                self._check_long_run(run_id, task, started_at, limit)
            except Exception:
                log.exception("long-run check failed", extra={"action": "long_run_failed"})

    def _long_running_limit(self, task: Task) -> float | None:
        limits = [task.long_running] if task.long_running else []
        if task.long_running_factor:
            p95 = self._task_p95(task.id)
            if p95:
                limits.append(task.long_running_factor * p95)
        return min(limits) if limits else None

    def _task_p95(self, task_id: str) -> float | None:
        now = time.monotonic()
        cached = self._p95.get(task_id)
        if cached is None or now - cached[0] > _P95_TTL:
            cached = (now, self._store.task_stats(task_id).p95_duration)
            self._p95[task_id] = cached
        return cached[1]

    def _check_long_run(self, run_id: int, task: Task, started_at: datetime, limit: float) -> None:
        if not self._is_running(run_id):
            return
        targets = self._targets(task, AlertEvent.LONG_RUNNING)
        if not targets:
            return
        alert = Alert(
            event=AlertEvent.LONG_RUNNING,
            title=f"{task.name} is still running after {format_duration(limit)}",
            task_id=task.id,
            task_name=task.name,
            schedule=task.schedule.describe(),
            duration=(self._clock.now() - started_at).total_seconds(),
            run_id=run_id,
            link=self._link(run_id),
        )
        self.notifier.send(alert, targets)

    def _link(self, run_id: int) -> str | None:
        base = self._settings.dashboard_url
        return f"{base.rstrip('/')}/runs/{run_id}" if base else None

    def _reminder(self, finished: RunFinished) -> list[AlertEvent]:
        """A task still failing alerts again after ``alert_reminder`` seconds, counted from
        the last failure alert queued for it (read from the log once per task)."""
        every = self._settings.alert_reminder
        if every is None or finished.failures <= 1 or finished.retrying:
            return []
        task_id = finished.run.task_id
        if task_id not in self._last_failed:
            logged = [
                n.created_at
                for event in (AlertEvent.FAILED, AlertEvent.TIMED_OUT)
                for n in self._store.list_notifications(task_id=task_id, event=event.value, limit=1)
            ]
            self._last_failed[task_id] = max(logged, default=None)
        last = self._last_failed[task_id]
        if last is not None and self._clock.now() - last < timedelta(seconds=every):
            return []
        return [AlertEvent.FAILED]

    def _first_missed(self, task_id: str) -> bool:
        now = self._clock.now()
        last = self._last_missed.get(task_id)
        if last is not None and now - last < _MISSED_QUIET:
            return False
        self._last_missed[task_id] = now
        return True

    def _targets(self, task: Task, event: AlertEvent) -> list[str]:
        targets = [target.to for target in task.alerts if target.wants(event)]
        if event in DEFAULT_EVENTS:
            targets += self._settings.alert_channels
        return list(dict.fromkeys(targets))

    def _alert(self, event: AlertEvent, task: Task, run: Run, finished: RunFinished) -> Alert:
        verb = {
            AlertEvent.FAILED: "failed",
            AlertEvent.TIMED_OUT: "timed out",
            AlertEvent.RECOVERED: "recovered",
            AlertEvent.SUCCEEDED: "succeeded",
            AlertEvent.MISSED: "missed an occurrence",
            AlertEvent.RETRYING: f"failed attempt {run.attempt}; retrying",
            AlertEvent.AUTO_PAUSED: "was paused after repeated failures",
        }.get(event, event.value)
        output = run.output or ""
        link = self._link(run.id)
        failures = finished.failures_before if event is AlertEvent.RECOVERED else finished.failures
        return Alert(
            event=event,
            title=f"{task.name} {verb}",
            task_id=task.id,
            task_name=task.name,
            schedule=task.schedule.describe(),
            occurrence=run.scheduled_for.astimezone(task.tz),
            attempt=run.attempt,
            duration=run.duration,
            error=run.error,
            output_excerpt=output[-_OUTPUT_EXCERPT:] or None,
            failures=failures,
            run_id=run.id,
            link=link,
            # a run on a Celery worker names it (and its queue)
            details={"worker": f"{run.instance_id} (queue {run.queue})"} if run.queue else {},
        )

    # -- scheduler events -------------------------------------------------------------------

    def scheduler_event(self, event: AlertEvent, text: str, **details: Any) -> None:
        """``started``, ``stopped``, ``leader_changed``, ``config_rejected`` to the
        scheduler channels."""
        targets = self._settings.scheduler_channels
        if targets:
            self.notifier.send(Alert(event=event, title=text, details=details), targets)

    def delivery_failed(self, task: Task, run: Run, record: DeliveryRecord) -> None:
        """A result of ``run`` was given up on after its retries: alert as a failed run
        does, to the task's targets that want ``failed`` (or ``delivery_failed``) and the
        alert channels. The run itself stays as it is."""
        targets = [
            target.to
            for target in task.alerts
            if target.wants(AlertEvent.FAILED) or target.wants(AlertEvent.DELIVERY_FAILED)
        ]
        targets = list(dict.fromkeys([*targets, *self._settings.alert_channels]))
        if not targets:
            return
        alert = Alert(
            event=AlertEvent.DELIVERY_FAILED,
            title=f"{task.name}: result not delivered to {record.target}",
            task_id=task.id,
            task_name=task.name,
            schedule=task.schedule.describe(),
            occurrence=run.scheduled_for.astimezone(task.tz),
            attempt=run.attempt,
            error=record.error,
            run_id=run.id,
            link=self._link(run.id),
            details={"target": record.target, "delivery attempts": record.attempts},
        )
        self.notifier.send(alert, targets)

    def post_summary(self, summary: str) -> None:
        """The schedule summary to ``summary_channel`` (the Discord bot seed's start post)."""
        channel = self._settings.summary_channel
        if channel:
            alert = Alert(
                event=AlertEvent.SUMMARY, title="Scheduled tasks", details={"summary": summary}
            )
            self.notifier.send(alert, [channel])

    def send_to(self, alert: Alert, targets: Sequence[str]) -> None:
        self.notifier.send(alert, targets)

    # -- heartbeat ----------------------------------------------------------------------------

    def _ping_loop(self) -> None:
        import httpx  # only a process that pings loads it

        url = self._settings.heartbeat_url
        assert url is not None
        with httpx.Client(timeout=10.0) as client:
            while True:
                try:
                    client.get(url).raise_for_status()
                except httpx.HTTPError as exc:
                    log.warning(
                        "heartbeat ping failed",
                        extra={
                            "action": "heartbeat_ping_failed",
                            "target": redact_url(url),
                            "error": type(exc).__name__,
                        },
                    )
                if self._stop.wait(self._settings.heartbeat_interval):
                    return
