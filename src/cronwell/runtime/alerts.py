"""The alerting side of :class:`cronwell.Cronwell`: scheduler notices, the delivery log,
test alerts and the check of the channels tasks name."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cronwell.domain.alerts import Alert, AlertEvent, Severity
from cronwell.domain.delivery import DeliveryFormat
from cronwell.domain.events import AlertDelivered, LeadershipChanged
from cronwell.notify.delivery import DeliveryRecord
from cronwell.store import NotificationRecord

if TYPE_CHECKING:
    from cronwell.engine import Engine
    from cronwell.notify.alerting import Alerting
    from cronwell.notify.results import ResultDelivery
    from cronwell.service import TaskService
    from cronwell.settings import Settings
    from cronwell.store import Store

log = logging.getLogger(__name__)


class AlertsMixin:
    """Mixin for :class:`cronwell.Cronwell`; the attributes are the ones it builds."""

    settings: Settings
    alerting: Alerting
    result_delivery: ResultDelivery
    engine: Engine
    store: Store
    _service: TaskService

    if TYPE_CHECKING:

        def _ensure_ready(self) -> None: ...

    def notifications(
        self, *, task_id: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[NotificationRecord]:
        """The notifications log, newest first (targets and errors redacted)."""
        self._ensure_ready()
        return self.store.list_notifications(task_id=task_id, status=status, limit=limit)

    def notify(
        self,
        target: str | Sequence[str],
        title: str,
        body: str = "",
        *,
        level: Severity = "info",
        format: DeliveryFormat = "markdown",
    ) -> None:
        """Send a message from application code through a channel (its name in
        ``CRONWELL_CHANNELS``, e.g. ``"alerts"`` or ``"dev"``) or an Apprise URL, or a list
        of them: ``cw.notify("alerts", "Market data update", report)``. ``level`` (info,
        success, warning, failure) colours it where the service shows colours; ``format``
        is the body's (markdown, text, html). Returns at once: a background thread
        delivers it with retries, and each target's outcome is a row of the notifications
        log (event ``message``)."""
        self._ensure_ready()
        targets = [target] if isinstance(target, str) else list(target)
        self.result_delivery.message(targets, title, body, level=level, body_format=format)

    def test_alert(self, target: str) -> DeliveryRecord:
        """Send a test message to ``target`` (a channel name or an Apprise URL) now."""
        alert = Alert(
            event=AlertEvent.TEST,
            title="cronwell test alert",
            details={"instance": self.settings.instance_id},
        )
        return self.alerting.notifier.deliver_now(alert, target)

    def _log_delivery(self, delivered: AlertDelivered) -> None:
        record = delivered.record
        try:
            self._ensure_ready()
            self.store.record_notification(
                NotificationRecord(
                    created_at=record.created_at,
                    event=record.event,
                    target=record.target,
                    status=record.status,
                    attempts=record.attempts,
                    title=record.title,
                    task_id=record.task_id,
                    run_id=record.run_id,
                    error=record.error,
                )
            )
        except Exception:  # the log must never break delivery
            log.exception("cannot record a delivery", extra={"action": "notification_log_failed"})

    def _leadership_changed(self, changed: LeadershipChanged) -> None:
        verb = "now schedules" if changed.leading else "lost the scheduler lease and stands by"
        self.alerting.scheduler_event(
            AlertEvent.LEADER_CHANGED, f"cronwell {self.settings.instance_id} {verb}"
        )

    def _warn_unknown_channels(self) -> None:
        """Say once at start which channels are named but not configured, instead of a
        failed delivery per alert later."""
        named = set(self.settings.alert_channels) | set(self.settings.scheduler_channels)
        if self.settings.summary_channel:
            named.add(self.settings.summary_channel)
        # the leader has every task in memory already; a standby reads them
        tasks = (
            self.engine.scheduled_tasks() if self.engine.is_leader else self._service.list_tasks()
        )
        for task in tasks:
            if task.alerts:  # most have none: no empty generator per task
                named.update(t.to for t in task.alerts)
            if task.deliver:
                named.update(t.to for t in task.deliver)
        missing = sorted(n for n in named if "://" not in n and n not in self.settings.channels)
        if missing:
            log.warning(
                "alert channels named but not configured (set CRONWELL_CHANNELS): %s",
                ", ".join(missing),
                extra={"action": "unknown_channels", "channels": ",".join(missing)},
            )
