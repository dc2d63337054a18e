"""Alerts (DESIGN rule 8): what happened, to whom it goes, and when it is worth saying.

A task alerts on state, not on every event: once when it starts failing (or is missed)
and once when it recovers, with the failures in between counted in the recovery notice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cronwell.domain.run import RunStatus


class AlertEvent(StrEnum):
    FAILED = "failed"  # an occurrence failed after its retries
    RECOVERED = "recovered"  # first success after failures
    MISSED = "missed"  # an occurrence was missed (scheduler down or late)
    TIMED_OUT = "timed_out"
    AUTO_PAUSED = "auto_paused"
    RETRYING = "retrying"  # opt-in: an attempt failed and another is scheduled
    SUCCEEDED = "succeeded"  # opt-in: every success (the Discord seed's send_alert=True)
    LONG_RUNNING = "long_running"  # a run goes past a set duration
    STARTED = "started"  # scheduler events
    STOPPED = "stopped"
    LEADER_CHANGED = "leader_changed"
    CONFIG_REJECTED = "config_rejected"  # a reload of `serve --tasks` files was refused
    SUMMARY = "summary"  # the schedule summary posted at start
    TEST = "test"  # `cronwell alerts test`
    RESULT = "result"  # a task's result delivered (Task.deliver), not an alert
    MESSAGE = "message"  # sent by application code (Cronwell.notify), not an alert
    DELIVERY_FAILED = "delivery_failed"  # a result could not be delivered after its retries


DEFAULT_EVENTS = frozenset(
    {
        AlertEvent.FAILED,
        AlertEvent.RECOVERED,
        AlertEvent.MISSED,
        AlertEvent.TIMED_OUT,
        AlertEvent.AUTO_PAUSED,
    }
)

Severity = Literal["success", "failure", "warning", "info"]

SEVERITY: dict[AlertEvent, Severity] = {
    AlertEvent.FAILED: "failure",
    AlertEvent.TIMED_OUT: "failure",
    AlertEvent.AUTO_PAUSED: "failure",
    AlertEvent.RECOVERED: "success",
    AlertEvent.SUCCEEDED: "success",
    AlertEvent.MISSED: "warning",
    AlertEvent.RETRYING: "warning",
    AlertEvent.LONG_RUNNING: "warning",
    AlertEvent.STARTED: "info",
    AlertEvent.STOPPED: "warning",
    AlertEvent.LEADER_CHANGED: "info",
    AlertEvent.CONFIG_REJECTED: "warning",
    AlertEvent.SUMMARY: "info",
    AlertEvent.TEST: "info",
    AlertEvent.RESULT: "info",
    AlertEvent.MESSAGE: "info",
    AlertEvent.DELIVERY_FAILED: "failure",
}


class AlertTarget(BaseModel):
    """Where a task's alerts go: ``to`` is a channel name from the settings (``dev``,
    ``alerts``) or an Apprise URL; ``events`` the events it wants (the defaults when left
    out: failed, recovered, missed, timed_out, auto_paused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str
    events: frozenset[AlertEvent] = DEFAULT_EVENTS

    @field_validator("to")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an alert target needs a channel name or an Apprise URL")
        return value.strip()

    def wants(self, event: AlertEvent) -> bool:
        return event in self.events


def state_events(
    status: RunStatus,
    *,
    retrying: bool,
    failures_before: int,
    failures: int,
    auto_paused: bool,
) -> list[AlertEvent]:
    """The events one stored run gives, alerting on state rather than on every event:
    ``failed``/``timed_out`` only for the first failed occurrence of a streak (the later
    ones are counted in the ``recovered`` notice), ``recovered`` for the first success after
    a streak. ``retrying`` and ``succeeded`` are for targets that opt in."""
    events: list[AlertEvent] = []
    if retrying:
        events.append(AlertEvent.RETRYING)
    elif status is RunStatus.SUCCEEDED:
        events.append(AlertEvent.SUCCEEDED)
        if failures_before > 0:
            events.append(AlertEvent.RECOVERED)
    elif status in (RunStatus.FAILED, RunStatus.ABANDONED) and failures == 1:
        events.append(AlertEvent.FAILED)
    elif status is RunStatus.TIMED_OUT and failures == 1:
        events.append(AlertEvent.TIMED_OUT)
    elif status is RunStatus.MISSED:
        events.append(AlertEvent.MISSED)
    if auto_paused:
        events.append(AlertEvent.AUTO_PAUSED)
    return events


class Alert(BaseModel):
    """One notification, before it is rendered for a target."""

    model_config = ConfigDict(frozen=True)

    event: AlertEvent
    title: str
    task_id: str | None = None
    task_name: str | None = None
    schedule: str | None = Field(None, description="The schedule in words.")
    occurrence: datetime | None = Field(None, description="In the task's zone.")
    attempt: int | None = None
    duration: float | None = None
    error: str | None = None
    output_excerpt: str | None = None
    failures: int | None = Field(None, description="Failed occurrences before a recovery.")
    run_id: int | None = None
    link: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        return SEVERITY[self.event]
