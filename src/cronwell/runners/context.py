"""What a Python action receives as ``ctx``: the run it is part of, a logger whose records
land in the run's output, counters it can report and a cooperative deadline."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cronwell.clock import utc_now
from cronwell.domain.delivery import Result
from cronwell.domain.run import occurrence_key
from cronwell.domain.task import Task
from cronwell.errors import CronwellError, InvalidInputError


class DeadlineExceeded(CronwellError):
    """Raised by :meth:`RunContext.check` once the run's deadline has passed. A Python action
    that lets it propagate ends as ``timed_out``."""


@dataclass
class RunContext:
    """What a Python action receives as ``ctx`` (if its signature has a parameter named
    ``ctx``).

    ``occurrence_key`` is the same on every instance and every attempt of an occurrence
    (``task_id@ISO-8601-UTC``): use it for idempotency. Records sent to ``logger``
    (``cronwell.task.<task id>``, INFO and above) are captured into the run's output.
    ``deadline`` is cooperative: long loops should call :meth:`check`. What the action
    passes to :meth:`deliver` (or else returns) goes to the task's ``deliver`` targets once
    the run succeeded.
    """

    task: Task
    run_id: int
    scheduled_for: datetime
    attempt: int
    deadline: datetime | None = None
    counters: dict[str, float] = field(default_factory=dict)
    results: list[Result] | None = None  # made by the first deliver()

    @classmethod
    def for_run(
        cls,
        task: Task,
        run_id: int,
        scheduled_for: datetime,
        attempt: int = 1,
        *,
        deadline: datetime | None = None,
    ) -> RunContext:
        """The context of one run of ``task``."""
        return cls(
            task=task,
            run_id=run_id,
            scheduled_for=scheduled_for,
            attempt=attempt,
            deadline=deadline,
        )

    @cached_property
    def occurrence_key(self) -> str:
        """``task_id@ISO-8601-UTC``, made when first read: most actions never read it, and
        formatting it is a noticeable part of a trivial action's run."""
        return occurrence_key(self.task.id, self.scheduled_for)

    @property
    def task_id(self) -> str:
        return self.task.id

    @cached_property
    def logger(self) -> logging.Logger:
        """``cronwell.task.<task id>``, looked up when first used: most actions never log
        through it, and the look-up takes logging's module lock."""
        return task_logger(self.task.id)

    def report(self, **counters: float) -> None:
        """Record counters for this run (``ctx.report(processed=100, failed=5)``). A name
        reported again is overwritten. Values must be finite ints or floats (not bools)."""
        for name, value in counters.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(
                    f"Counter {name!r} must be a number, not {type(value).__name__} {value!r}."
                )
            if not math.isfinite(value):
                raise InvalidInputError(f"Counter {name!r} must be a finite number, not {value}.")
        self.counters.update((name, float(value)) for name, value in counters.items())

    def deliver(self, value: Any, *, title: str | None = None) -> None:
        """Deliver ``value`` (text, or anything JSON can show) to the task's ``deliver``
        targets once this run has succeeded, with ``title`` (default: the task's name and
        the occurrence). Each call is one more result; an action that calls it has its
        return value left undelivered. Nothing goes out if the run does not succeed."""
        if title is not None and not isinstance(title, str):
            raise InvalidInputError(f"A result's title must be text, not {title!r}.")
        if self.results is None:
            self.results = []
        self.results.append(Result(value, title))

    def keep_returned(self, value: Any) -> None:
        """Deliver what the action returned, unless it called :meth:`deliver` or returned
        ``None``; only for a task that has ``deliver`` targets (runners call it)."""
        if self.task.deliver and self.results is None and value is not None:
            self.results = [Result(value)]

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` if the run's deadline has passed."""
        if self.deadline is not None and utc_now() >= self.deadline:
            raise DeadlineExceeded(
                f"Run {self.run_id} of task {self.task_id!r} passed its deadline "
                f"({self.deadline.isoformat()})."
            )


def task_logger(task_id: str) -> logging.Logger:
    """The logger handed to a task's Python actions: ``cronwell.task.<task id>``."""
    return logging.getLogger(f"cronwell.task.{task_id}")
