"""What happens in a running cronwell, as events, and the bus that tells subscribers.

One small vocabulary of frozen events, in the style of APScheduler 4's, each with who
publishes it and when:

- :class:`RunStarted`: the dispatcher, on the run's thread, as an action begins.
- :class:`RunFinished`: the dispatcher, once a run's final row is stored, with what
  followed from it (a retry scheduled, the failure streak, an automatic pause).
- :class:`RunsRecorded`: the dispatcher, once a batch of rows that ran nothing (a
  catch-up's missed occurrences) is stored, as one event for the whole batch.
- :class:`TaskChanged`: the dispatcher, when it changed tasks itself (retries scheduled, a
  task paused after repeated failures).
- :class:`LeadershipChanged`: the engine, when it gains the scheduler lease after standing
  by, or loses it.
- :class:`AlertDelivered`: a notifier, once an alert, a result or a message reached one
  target or was given up on (a line of the notifications log).

:class:`EventBus` is the one way to hear of them: ``bus.subscribe(RunFinished, handler)``.
Handlers are other code: one that raises is logged, and the others still hear. They run on
the thread that publishes (the dispatcher's history writer, which every fire waits for, for
RunFinished and RunsRecorded; the run's worker for RunStarted), so they must return
quickly.

A catch-up stores tens of thousands of rows at once, and an event object per row would cost
more than storing the row: a :class:`RunsRecorded` carries them as a grid (a few template
runs, and one ``(run_id, task_id, template)`` triple per row). A subscriber that can take
the rows together passes ``batch=`` to :meth:`EventBus.subscribe`; the others hear a
:class:`RunFinished` per row, made only for rows whose status they asked for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from cronwell.domain.delivery import DeliveryRecord, Result
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import InvalidInputError

__all__ = [
    "AlertDelivered",
    "Event",
    "EventBus",
    "LeadershipChanged",
    "RunFinished",
    "RunStarted",
    "RunsRecorded",
    "Subscription",
    "TaskChanged",
    "final_statuses",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunStarted:
    """Run ``run_id`` of ``task`` begins its action at ``started_at`` (after the wait for
    a worker and the task's jitter)."""

    run_id: int
    task: Task
    started_at: datetime


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A run once its final row is stored, with what followed from it: what alerts, metrics
    and result deliveries are made of.

    ``failures_before``/``failures`` count the task's failed occurrences in a row before and
    after this run; ``retrying`` says another attempt is scheduled; ``auto_paused`` that the
    task was paused for its failures. ``task`` is ``None`` for rows recorded without running
    (missed, skipped) when the recorder had no task at hand. ``results`` are what a
    succeeded run of a task with ``deliver`` targets delivers.
    """

    run: Run
    task: Task | None = None
    retrying: bool = False
    failures_before: int = 0
    failures: int = 0
    auto_paused: bool = False
    results: tuple[Result, ...] = ()


@dataclass(frozen=True, slots=True)
class RunsRecorded:
    """A batch of stored rows that ran nothing (a catch-up's missed occurrences).

    ``rows`` holds the ``(run_id, task_id, template index)`` of each row written (duplicates
    of occurrences already recorded are left out), ``templates`` the runs those rows repeat
    for another task (each row differs from its template only in its id and task), and
    ``tasks`` the tasks at hand."""

    templates: Sequence[Run]
    rows: Sequence[tuple[int, str, int]]
    tasks: Mapping[str, Task]

    def run(self, row: tuple[int, str, int]) -> Run:
        """The stored run of one of ``rows``."""
        run_id, task_id, index = row
        return self.templates[index].model_copy(
            update={"id": run_id, "task_id": task_id, "counters": {}}
        )

    def finished(self, row: tuple[int, str, int]) -> RunFinished:
        """One of ``rows`` as a :class:`RunFinished`: nothing followed, as it ran nothing."""
        return RunFinished(self.run(row), self.tasks.get(row[1]))


@dataclass(frozen=True, slots=True)
class TaskChanged:
    """The dispatcher changed ``task_ids`` itself: ``retry_scheduled`` (a retry row is due
    later) or ``auto_paused`` (paused after repeated failures). The engine takes a new
    look at its schedule at once."""

    task_ids: tuple[str, ...]
    change: Literal["retry_scheduled", "auto_paused"]


@dataclass(frozen=True, slots=True)
class LeadershipChanged:
    """Instance ``instance_id`` gained the scheduler lease after standing by
    (``leading``), or lost it and stands by."""

    instance_id: str
    leading: bool


@dataclass(frozen=True, slots=True)
class AlertDelivered:
    """An alert, a task's result or an application message reached one target, or was
    given up on (``record.status``): one line of the notifications log."""

    record: DeliveryRecord


Event = RunStarted | RunFinished | RunsRecorded | TaskChanged | LeadershipChanged | AlertDelivered

_E = TypeVar("_E")


class Subscription:
    """One handler subscribed to one event type; :meth:`unsubscribe` ends it."""

    __slots__ = ("_bus", "batch", "event_type", "handler", "statuses")

    def __init__(
        self,
        bus: EventBus,
        event_type: type[Any],
        handler: Callable[[Any], None],
        statuses: frozenset[RunStatus] | None,
        batch: Callable[[RunsRecorded], None] | None,
    ) -> None:
        self._bus = bus
        self.event_type = event_type
        self.handler = handler
        self.statuses = statuses
        self.batch = batch

    def unsubscribe(self) -> None:
        """Hear nothing more (no error when already unsubscribed)."""
        self._bus.unsubscribe(self)


class EventBus:
    """Subscriptions by event type, and the telling of them.

    Subscribing and unsubscribing copy the handler lists, so publishing reads them without
    a lock from any thread; a handler subscribed while an event is being told hears the
    next one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: dict[type[Any], tuple[Subscription, ...]] = {}

    def subscribe(
        self,
        event_type: type[_E],
        handler: Callable[[_E], None],
        *,
        statuses: Iterable[RunStatus | str] | str | None = None,
        batch: Callable[[RunsRecorded], None] | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` for every event of ``event_type``, in subscription order.

        For :class:`RunFinished` only: ``statuses`` keeps the runs that end in one of them
        (final statuses: a run is finished once its final row is stored), and ``batch``
        takes each :class:`RunsRecorded` whole instead of a :class:`RunFinished` per row.
        """
        if (statuses is not None or batch is not None) and event_type is not RunFinished:
            raise InvalidInputError("Only RunFinished subscriptions take statuses or batch.")
        wanted = None if statuses is None else final_statuses(statuses)
        subscription = Subscription(self, event_type, handler, wanted, batch)
        with self._lock:
            present = self._subscriptions.get(event_type, ())
            self._subscriptions[event_type] = (*present, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """End ``subscription`` (no error when it already ended)."""
        with self._lock:
            present = self._subscriptions.get(subscription.event_type, ())
            self._subscriptions[subscription.event_type] = tuple(
                s for s in present if s is not subscription
            )

    def wants(self, event_type: type[Any]) -> bool:
        """Whether anyone hears ``event_type`` (so a publisher can skip making events)."""
        return bool(self._subscriptions.get(event_type))

    def publish(self, event: Event) -> None:
        """Tell ``event``'s subscribers (and, for :class:`RunsRecorded`, those of
        :class:`RunFinished`)."""
        if isinstance(event, RunsRecorded):
            self._publish_recorded(event)
            return
        told: Any = event  # a RunFinished when a subscription has statuses
        for subscription in self._subscriptions.get(type(event), ()):
            statuses = subscription.statuses
            if statuses is not None and told.run.status not in statuses:
                continue
            try:
                subscription.handler(told)
            except Exception:
                _failed(subscription, getattr(getattr(told, "run", None), "task_id", None))

    def publish_all(self, event_type: type[_E], events: Sequence[_E]) -> None:
        """Tell ``events``, all of ``event_type``, to its subscribers: each subscriber
        hears them in order, one subscriber after the other."""
        if not events:
            return
        told: Sequence[Any] = events
        for subscription in self._subscriptions.get(event_type, ()):
            handler, statuses = subscription.handler, subscription.statuses
            for event in told:
                if statuses is not None and event.run.status not in statuses:
                    continue
                try:
                    handler(event)
                except Exception:
                    _failed(subscription, getattr(getattr(event, "run", None), "task_id", None))

    def _publish_recorded(self, recorded: RunsRecorded) -> None:
        """Batches go to those who take them whole; a :class:`RunFinished` is made per row
        only when a subscriber without ``batch`` asked for that row's status, and once for
        all such subscribers."""
        for subscription in self._subscriptions.get(RunsRecorded, ()):
            _call(subscription, subscription.handler, recorded)
        per_row: list[Subscription] = []
        for subscription in self._subscriptions.get(RunFinished, ()):
            if subscription.batch is not None:
                _call(subscription, subscription.batch, recorded)
            else:
                per_row.append(subscription)
        if not per_row:
            return
        wanted = [
            [s for s in per_row if s.statuses is None or run.status in s.statuses]
            for run in recorded.templates
        ]
        if not any(wanted):
            return
        for row in recorded.rows:
            if subscriptions := wanted[row[2]]:
                finished = recorded.finished(row)
                for subscription in subscriptions:
                    try:
                        subscription.handler(finished)
                    except Exception:
                        _failed(subscription, row[1])


def _call(subscription: Subscription, handler: Callable[[Any], None], event: object) -> None:
    try:
        handler(event)
    except Exception:
        _failed(subscription, None)


def _failed(subscription: Subscription, task_id: str | None) -> None:
    log.exception(
        "%s handler failed",
        subscription.event_type.__name__,
        extra={"action": "listener_failed", "task_id": task_id},
    )


def final_statuses(names: Iterable[RunStatus | str] | RunStatus | str) -> frozenset[RunStatus]:
    """The statuses a :class:`RunFinished` subscriber asked for: final ones only, as a run
    is finished once its final row is stored."""
    names = [str(names)] if isinstance(names, str) else [str(name) for name in names]
    final = [status.value for status in RunStatus if status.is_terminal]
    unknown = [name for name in names if name not in final]
    if unknown or not names:
        raise InvalidInputError(
            f"A run listener hears of runs once they end: it can ask for {', '.join(final)}"
            + (f"; not {', '.join(map(repr, unknown))}." if unknown else ", not for none.")
        )
    return frozenset(RunStatus(name) for name in names)
