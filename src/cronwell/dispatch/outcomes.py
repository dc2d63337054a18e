"""Who hears of stored runs, and what they hear: three kinds of listener.

A run listener hears of each run once its final row is stored (or only of runs ending in
the statuses it asked for); an outcome listener hears of each stored run with what followed
from it (:class:`RunOutcome`), or of a whole grid of rows at once (:class:`RecordedGrid`);
a start listener hears when an action begins. Listeners are other code: one that raises is
logged, and the others still hear.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cronwell.domain.delivery import Result
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.errors import InvalidInputError
from cronwell.store import NewRun, RunGrid

log = logging.getLogger(__name__)

RunListener = Callable[[Run], None]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """A run once stored, with what followed from it: what alerts are made of.

    ``failures_before``/``failures`` count the task's failed occurrences in a row before and
    after this run; ``retrying`` says another attempt is scheduled; ``task`` is ``None`` for
    rows recorded without running (missed, skipped) when the caller had no task at hand.
    ``results`` are what a succeeded run of a task with ``deliver`` targets delivers.
    """

    run: Run
    task: Task | None = None
    retrying: bool = False
    failures_before: int = 0
    failures: int = 0
    auto_paused: bool = False
    results: tuple[Result, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedGrid:
    """What one :class:`~cronwell.store.RunGrid` stored: ``rows`` holds the
    ``(run_id, task_id, template index)`` of each row written (duplicates of recorded
    occurrences are left out), ``templates`` the runs those rows repeat for another task,
    and ``tasks`` the tasks at hand.

    A catch-up of a fleet stores tens of thousands of such rows at once, and a run and an
    outcome object per row would cost more than storing the row: listeners that can take
    the rows together (alerts, metrics) are given this instead, and the copies are only
    made for those that cannot."""

    templates: Sequence[Run]
    rows: Sequence[tuple[int, str, int]]
    tasks: Mapping[str, Task]

    def run(self, row: tuple[int, str, int]) -> Run:
        """The stored run of one of ``rows``."""
        run_id, task_id, index = row
        return self.templates[index].model_copy(
            update={"id": run_id, "task_id": task_id, "counters": {}}
        )

    def outcome(self, row: tuple[int, str, int]) -> RunOutcome:
        """What followed from one of ``rows``: nothing, as such rows run nothing."""
        return RunOutcome(self.run(row), self.tasks.get(row[1]))


OutcomeListener = Callable[[RunOutcome], None]
GridListener = Callable[[RecordedGrid], None]
StartListener = Callable[[int, Task, datetime], None]


class Listeners:
    """The listeners of one dispatcher, and the telling of them."""

    def __init__(self) -> None:
        self._outcome_listeners: list[tuple[OutcomeListener, GridListener | None]] = []
        self._start_listeners: list[StartListener] = []
        self._listeners: list[tuple[RunListener, frozenset[RunStatus] | None]] = []

    def add_listener(
        self, listener: RunListener, statuses: Iterable[RunStatus | str] | str | None = None
    ) -> None:
        """Call ``listener(run)`` with every run once its final row is stored, or only
        with those that end in one of ``statuses``."""
        self._listeners.append((listener, None if statuses is None else _statuses(statuses)))

    def add_outcome_listener(
        self, listener: OutcomeListener, on_grid: GridListener | None = None
    ) -> None:
        """Call ``listener(outcome)`` for every stored run with what followed from it
        (retry scheduled, failure counts, automatic pause), off the run's thread; or,
        when ``on_grid`` is given, ``on_grid(recorded)`` once for the rows of a grid."""
        self._outcome_listeners.append((listener, on_grid))

    def add_start_listener(self, listener: StartListener) -> None:
        """Call ``listener(run_id, task, started_at)`` when an action begins (on the run's
        thread: it must return at once)."""
        self._start_listeners.append(listener)

    def started(self, run_id: int, task: Task, started_at: datetime) -> None:
        """Tell start listeners that ``run_id``'s action begins."""
        for listener in list(self._start_listeners):
            try:
                listener(run_id, task, started_at)
            except Exception:
                log.exception(
                    "start listener failed",
                    extra={"action": "listener_failed", "task_id": task.id},
                )

    def tell_outcomes(self, outcomes: Sequence[RunOutcome]) -> None:
        listeners = [listener for listener, _ in self._outcome_listeners]
        for outcome in outcomes:
            for listener in listeners:
                call_safely(listener, outcome, "outcome", outcome.run.task_id)

    def notify(self, runs: Sequence[Run]) -> None:
        listeners = list(self._listeners)
        for run in runs:
            for listener, statuses in listeners:
                if _wants(statuses, run):
                    call_safely(listener, run, "run", run.task_id)

    def tell_grid(
        self, grid: RunGrid, stored: Sequence[tuple[int, str, int]], tasks: Mapping[str, Task]
    ) -> None:
        """Tell listeners of the rows of ``grid`` stored as ``stored`` (their ids)."""
        # the rows differ from their template's only in id and task: copied, not validated
        recorded = RecordedGrid([row_to_run(0, row) for row in grid.rows], stored, tasks)
        wanted = [
            [listener for listener, statuses in self._listeners if _wants(statuses, run)]
            for run in recorded.templates
        ]
        if any(wanted):  # a run is copied for each row only when someone wants it
            for row in recorded.rows:
                if listeners := wanted[row[2]]:
                    run = recorded.run(row)
                    for listener in listeners:
                        call_safely(listener, run, "run", row[1])
        for on_outcome, on_grid in list(self._outcome_listeners):
            if on_grid is not None:
                call_safely(on_grid, recorded, "outcome", None)
                continue
            for row in recorded.rows:
                call_safely(on_outcome, recorded.outcome(row), "outcome", row[1])


_A = TypeVar("_A")


def call_safely(
    listener: Callable[[_A], None], argument: _A, kind: str, task_id: str | None
) -> None:
    """Listeners are other code: one that raises is logged, and the others still hear."""
    try:
        listener(argument)
    except Exception:
        log.exception(
            "%s listener failed", kind, extra={"action": "listener_failed", "task_id": task_id}
        )


def _statuses(names: Iterable[RunStatus | str] | RunStatus | str) -> frozenset[RunStatus]:
    """The statuses a run listener asked for: final ones only, as listeners hear of a
    run once its final row is stored."""
    names = [str(names)] if isinstance(names, str) else [str(name) for name in names]
    final = [status.value for status in RunStatus if status.is_terminal]
    unknown = [name for name in names if name not in final]
    if unknown or not names:
        raise InvalidInputError(
            f"A run listener hears of runs once they end: it can ask for {', '.join(final)}"
            + (f"; not {', '.join(map(repr, unknown))}." if unknown else ", not for none.")
        )
    return frozenset(RunStatus(name) for name in names)


def _wants(statuses: frozenset[RunStatus] | None, run: Run) -> bool:
    return statuses is None or run.status in statuses


def row_to_run(run_id: int, row: NewRun) -> Run:
    return Run(
        id=run_id,
        task_id=row.task_id,
        scheduled_for=row.scheduled_for,
        attempt=row.attempt,
        status=row.status,
        reason=row.reason,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        instance_id=row.instance_id,
    )
