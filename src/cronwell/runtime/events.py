"""The events side of :class:`cronwell.Cronwell`: ``on_run`` and ``subscribe``, over the
one :class:`~cronwell.domain.events.EventBus` that the dispatcher, the engine and the
notifiers publish on."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from cronwell.domain.events import (
    EventBus,
    RunFinished,
    RunsRecorded,
    Subscription,
    TaskChanged,
    final_statuses,
)
from cronwell.domain.run import Run, RunStatus

if TYPE_CHECKING:
    from cronwell.engine import Engine

E = TypeVar("E")

log = logging.getLogger(__name__)


class EventsMixin:
    """Mixin for :class:`cronwell.Cronwell`; ``events`` is the bus it builds."""

    events: EventBus
    engine: Engine

    def on_run(
        self,
        listener: Callable[[Run], None],
        statuses: Iterable[RunStatus | str] | str | None = None,
    ) -> Subscription:
        """Call ``listener(run)`` for every run of this process once it is recorded, or
        only for runs that end in one of ``statuses`` (as APScheduler's listener mask
        does): ``on_run(page, statuses=["failed", "timed_out"])``. It hears what
        ``subscribe(RunFinished, lambda event: listener(event.run), statuses=statuses)``
        would, the rows of a catch-up without an event object each; ``.unsubscribe()``
        on what it returns stops the calls.

        A listener is called on the thread that records runs, which every fire waits for:
        it must return quickly. A catch-up records each missed occurrence, up to 100 a task
        (90,000 rows for 10,000 tasks down ten minutes); a listener that leaves out
        ``missed`` spares a run object per row."""
        wanted = None if statuses is None else final_statuses(statuses)

        def on_finished(event: RunFinished) -> None:
            listener(event.run)

        def on_recorded(recorded: RunsRecorded) -> None:
            # the listener takes runs, not events: a run per wanted row and nothing more
            told = [wanted is None or run.status in wanted for run in recorded.templates]
            if not any(told):
                return
            for row in recorded.rows:
                if told[row[2]]:
                    try:
                        listener(recorded.run(row))
                    except Exception:
                        log.exception(
                            "run listener failed",
                            extra={"action": "listener_failed", "task_id": row[1]},
                        )

        return self.events.subscribe(RunFinished, on_finished, statuses=wanted, batch=on_recorded)

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], None],
        *,
        statuses: Iterable[RunStatus | str] | str | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` for every event of ``event_type`` this process
        publishes, one of :mod:`cronwell.domain.events`: ``RunStarted``, ``RunFinished``
        (a stored run with what followed: ``retrying``, ``failures``, ``auto_paused``),
        ``RunsRecorded``, ``TaskChanged``, ``LeadershipChanged``, ``AlertDelivered``::

            from cronwell.domain.events import RunFinished

            cw.subscribe(RunFinished, page, statuses=["failed"])

        ``statuses`` (``RunFinished`` only) keeps the runs that end in one of them. A handler
        that raises is logged and the others still hear; handlers run on the thread that
        publishes (run events on the one that records runs), so they must return quickly.
        ``.unsubscribe()`` on what it returns stops the calls."""
        return self.events.subscribe(event_type, handler, statuses=statuses)

    def _task_changed(self, _changed: TaskChanged) -> None:
        self.engine.wake()  # the engine takes a new look at the tasks' schedules
