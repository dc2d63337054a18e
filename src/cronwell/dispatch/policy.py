"""The overlap decision (DESIGN rule 5): what becomes of a fire, given the runs in flight.

:func:`decide` is pure: it reads the slots and the time it is given and changes nothing.
The dispatcher applies the :class:`Plan` it returns (takes a slot, reserves the queue place,
stops the runs a replacement supersedes) before it decides the next fire of a batch.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from cronwell.dispatch.fire import Fire
from cronwell.dispatch.slots import Slots
from cronwell.domain.run import RunReason, RunStatus

# fires that follow the overlap policy (catch-up runs of catchup='all' run side by side)
_SCHEDULED = frozenset({RunReason.SCHEDULE})


class Plan(NamedTuple):
    """What to record for a fire: the row's ``status`` and ``reason``. ``RUNNING`` starts
    the action (with ``replaces``, after the task's runs in flight are stopped for it);
    ``PENDING`` waits in the task's queue place (overlap='queue_one'); a terminal status
    is recorded and nothing runs."""

    status: RunStatus
    reason: str
    replaces: bool = False


MISSED_LATE = Plan(RunStatus.MISSED, RunReason.LATE)
QUEUE = Plan(RunStatus.PENDING, RunReason.QUEUED)
SKIP_MAX_INSTANCES = Plan(RunStatus.SKIPPED, RunReason.MAX_INSTANCES)
SKIP_OVERLAP = Plan(RunStatus.SKIPPED, RunReason.OVERLAP)
SHUTDOWN = Plan(RunStatus.INTERRUPTED, RunReason.SHUTDOWN)
SUPERSEDED = Plan(RunStatus.INTERRUPTED, RunReason.REPLACED)
UNRECORDED = Plan(RunStatus.MISSED, RunReason.DATABASE_UNAVAILABLE)
# one plan per reason a run starts for: a burst decides thousands of fires alike
_RUN: dict[str, Plan] = {
    reason: Plan(RunStatus.RUNNING, reason)
    for reason in (
        RunReason.SCHEDULE,
        RunReason.MANUAL,
        RunReason.CATCHUP,
        RunReason.RETRY,
        RunReason.QUEUED,
    )
}
_REPLACE: dict[str, Plan] = {
    reason: Plan(RunStatus.RUNNING, reason, replaces=True) for reason in _RUN
}


def run(reason: str) -> Plan:
    """The plan that starts a fire of ``reason``."""
    return _RUN.get(reason) or Plan(RunStatus.RUNNING, reason)


def decide(fire: Fire, slots: Slots, now: datetime) -> Plan:
    """Run ``fire``, or record why not.

    A scheduled occurrence later than its task's ``misfire_grace`` (strictly) is missed.
    Fewer than ``max_instances`` runs of the task in flight, or a fire that is not a
    scheduled occurrence (manual, catch-up, retry): it runs. Otherwise ``overlap`` decides:
    ``queue_one`` takes the task's one queue place if it is free, ``replace`` runs in place
    of the runs in flight, and the rest is skipped (``max_instances`` when the task allows
    several runs or ``overlap='allow'``, else ``overlap``)."""
    task = fire.task
    reason = fire.reason
    lateness = (now - fire.scheduled_for).total_seconds()
    if reason == RunReason.SCHEDULE and lateness > task.misfire_grace:
        return MISSED_LATE
    if slots.running[task.id] < task.max_instances or reason not in _SCHEDULED:
        return _RUN.get(reason) or Plan(RunStatus.RUNNING, reason)
    # max_instances runs of the task are going: the overlap policy decides
    if task.overlap == "queue_one" and task.id not in slots.queued:
        return QUEUE
    if task.overlap == "replace":
        return _REPLACE.get(reason) or Plan(RunStatus.RUNNING, reason, replaces=True)
    if task.max_instances > 1 or task.overlap == "allow":
        return SKIP_MAX_INSTANCES
    return SKIP_OVERLAP
