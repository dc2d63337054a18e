"""What the end of a run becomes: the row's update and the stored run, built from the
runner's :class:`~cronwell.runners.Outcome`."""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from cronwell.dispatch.fire import Started
from cronwell.domain.delivery import Result
from cronwell.domain.durations import format_duration
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.runners import Outcome
from cronwell.store import RunUpdate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Finished:
    """A run's end, ready to write: its row's update and the run as stored."""

    update: RunUpdate
    run: Run
    task: Task
    exception_type: str | None = None
    # the action returned: its slot is freed by the writer (see LocalDispatcher._settle),
    # unless the watchdog already recorded the run timed out, in which case this result is
    # dropped
    returned: bool = False
    results: tuple[Result, ...] = ()  # for the task's deliver targets

    @property
    def run_id(self) -> int:
        return self.update.run_id


class Returned(NamedTuple):
    """What a worker hands the writer when an action returned: the parts of its
    :class:`Finished`, which the writer builds once the fires due now are recorded, so
    that the worker goes on to its next action at once."""

    run_id: int
    started: Started
    outcome: Outcome
    counters: dict[str, float]
    reason: str | None
    finished_at: datetime
    returned: bool = True  # as Finished.returned: its slot is the writer's to free
    results: tuple[Result, ...] = ()  # as Finished.results

    @property
    def task(self) -> Task:
        return self.started.fire.task


RESULTS = (Finished, Returned)


def finished(
    run_id: int,
    started: Started,
    outcome: Outcome,
    counters: dict[str, float],
    reason: str | None,
    *,
    instance_id: str,
    finished_at: datetime,
    returned: bool = False,
    results: tuple[Result, ...] = (),
) -> Finished:
    """The end of ``run_id`` as ``outcome`` says, at ``finished_at``; ``reason`` replaces
    the fire's own when given (shutdown, replaced)."""
    fire = started.fire
    status = outcome.status
    if type(status) is not RunStatus:  # a runner of one's own may give text; the enum call
        status = RunStatus(status)  # is made only then, as it costs even on a member
    run = Run.of_fields(
        {
            "id": run_id,
            "task_id": fire.task.id,
            "scheduled_for": fire.scheduled_for,
            "attempt": fire.attempt,
            "status": status,
            "reason": reason or fire.reason,
            "started_at": started.started_at,
            "finished_at": finished_at,
            "duration": (finished_at - started.started_at).total_seconds(),
            "error": outcome.error,
            "traceback": outcome.traceback,
            "output": outcome.output,
            "return_value": outcome.return_value,
            "counters": counters,  # floats: RunContext.report made them so
            "instance_id": instance_id,
        }
    )
    update = RunUpdate(
        run_id=run_id,
        status=run.status,
        started_at=started.started_at,
        finished_at=finished_at,
        duration=run.duration,
        error=run.error,
        traceback=run.traceback,
        output=run.output,
        return_value=run.return_value,
        counters=counters,
        reason=reason,
    )
    exception_type = getattr(outcome, "exception_type", None)
    return Finished(update, run, fire.task, exception_type, returned, results)


def ended_elsewhere(run: Run, task: Task) -> Finished:
    """A run whose end a remote worker (or the leader, for it) stored: as stored. A Python
    action's error starts with its exception's class name, which ``retry_on`` looks at."""
    update = RunUpdate(
        run_id=run.id,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at or run.scheduled_for,
        duration=run.duration,
        error=run.error,
        reason=run.reason,
    )
    head = (run.error or "").partition(":")[0]
    exception_type = head if head.isidentifier() else None
    return Finished(update, run, task, exception_type)


def interrupted(
    run_id: int, started: Started, *, instance_id: str, finished_at: datetime
) -> Finished:
    """A run stopped by a shutdown."""
    outcome = Outcome(status=RunStatus.INTERRUPTED, error="stopped by a shutdown")
    return finished(
        run_id,
        started,
        outcome,
        {},
        RunReason.SHUTDOWN,
        instance_id=instance_id,
        finished_at=finished_at,
    )


def built(item: Finished | Returned, instance_id: str) -> Finished:
    """``item`` as a :class:`Finished`: built now from a worker's :class:`Returned`."""
    if isinstance(item, Finished):
        return item
    return finished(
        item.run_id,
        item.started,
        item.outcome,
        item.counters,
        item.reason,
        instance_id=instance_id,
        finished_at=item.finished_at,
        returned=True,
        results=item.results,
    )


def timed_out(
    run_id: int, started: Started, *, instance_id: str, finished_at: datetime
) -> Finished:
    """A function in a thread that ignored its deadline: recorded ``timed_out`` while it
    still runs (a thread cannot be killed), its result to be ignored."""
    task = started.fire.task
    outcome = Outcome(
        status=RunStatus.TIMED_OUT,
        error=f"timed out after {format_duration(task.timeout or 0)}; the function did not "
        "stop at its deadline and still runs in its thread, its result will be ignored "
        "(check ctx.check() in loops, or use isolation='process' for a hard timeout)",
    )
    return finished(
        run_id, started, outcome, {}, None, instance_id=instance_id, finished_at=finished_at
    )


def internal_error(exc: BaseException) -> Outcome:
    """A failed outcome for a bug in cronwell itself (not in the action), with its
    traceback, so the run is still recorded."""
    return Outcome(
        status=RunStatus.FAILED,
        error=f"cronwell internal error: {type(exc).__name__}: {exc}",
        traceback=traceback.format_exc(),
    )


def log_end(run: Run) -> None:
    """Log how a run of this process ended (a warning unless it succeeded)."""
    extra = {
        "action": f"run_{run.status.value}",
        "task_id": run.task_id,
        "run_id": run.id,
        "attempt": run.attempt,
        "duration": round(run.duration or 0.0, 3),
    }
    if run.status is RunStatus.SUCCEEDED:
        log.info("run succeeded", extra=extra)
    else:
        log.warning("run ended %s: %s", run.status.value, run.error, extra=extra)
