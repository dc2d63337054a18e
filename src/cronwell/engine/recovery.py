"""What an engine does about the past when it starts (DESIGN rule 5): runs left ``running``
by a process that died become ``abandoned`` (and are retried if the task allows), and the
occurrences missed while no scheduler ran become ``missed`` rows or catch-up runs.

A run whose child process group was recorded on this host is abandoned only once that group
is gone (DESIGN rule 7): recovery kills it first if it still runs, and says so in the run's
error. A group that survives SIGKILL (a process stuck in the kernel) keeps its run
``running``, and so without a retry, until a later recovery (every heartbeat) finds it
gone. A group on another host cannot be checked from here: its run is abandoned when that
host's instance has been silent for ``INSTANCE_TTL``, and that host's own lifeline has
killed the group when its cronwell process died."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cronwell.dispatch import Dispatcher, Fire
from cronwell.dispatch.followups import retry_row
from cronwell.dispatch.history import unrun_rows
from cronwell.domain.occurrences import occurrences_between
from cronwell.domain.policies import plan_catchup, should_retry
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.runners.orphans import GroupFate, stop_orphaned_group
from cronwell.store import InstanceRecord, NewRun, Store

log = logging.getLogger(__name__)

HOSTNAME = socket.gethostname()
# how long an instance on another host may stay silent before its runs count as abandoned
INSTANCE_TTL = timedelta(seconds=60)
# missed occurrences recorded one by one per task; older ones are summed up in one row
MAX_MISSED_ROWS = 100


# instances alive in this very process (several Cronwell objects may share one process)
_LIVE_HERE: set[str] = set()
# an outage of the database seen by this process: from, to (None while it lasts)
Span = tuple[datetime, datetime | None]
_A_SECOND = timedelta(seconds=1)
_UNSEEN: Any = object()  # an outage of tasks alike not looked at yet


def mark_live(instance_id: str) -> None:
    _LIVE_HERE.add(instance_id)


def mark_gone(instance_id: str) -> None:
    _LIVE_HERE.discard(instance_id)


def is_dead(record: InstanceRecord | None, database_now: datetime) -> bool:
    """An instance is dead when it left no record, when it ran on this host and its process
    is gone (or the pid is now this process's: a restarted container), or when it ran
    elsewhere and has not been heard of for ``INSTANCE_TTL``. Every process heartbeats while
    it runs something, so a live one is never silent that long. Heartbeats are stamped
    with the database's clock, and ``database_now`` is read from it too: neither host's
    own clock takes part."""
    if record is None:
        return True
    if record.hostname == HOSTNAME:
        if record.pid == os.getpid():  # this process, or an earlier one with its pid
            return record.instance_id not in _LIVE_HERE
        return not _process_exists(record.pid)
    return database_now - record.last_seen > INSTANCE_TTL


def gone_from_this_host(record: InstanceRecord | None) -> bool:
    """Proven dead without comparing clocks: a process of this host that no longer exists.
    Only this may take a lease before it lapses (DESIGN rule 9: database time decides)."""
    if record is None or record.hostname != HOSTNAME:
        return False
    if record.pid == os.getpid():
        return record.instance_id not in _LIVE_HERE
    return not _process_exists(record.pid)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead_instances(
    store: Store, instance_id: str, now: datetime, tasks: dict[str, Task]
) -> list[Run]:
    """Mark the runs of dead instances ``abandoned``, queue retries for those whose task
    allows one, and release what they had queued (overlap='queue_one'). Returns the
    abandoned runs."""
    suspects = store.instances_with_work() - {instance_id}
    if not suspects:
        return []
    records = {r.instance_id: r for r in store.list_instances()}
    database_now = store.database_now()
    dead = sorted(i for i in suspects if is_dead(records.get(i), database_now))
    return _abandon(store, dead, now, tasks, instance_id)


def recover_own_leftovers(
    store: Store, instance_id: str, now: datetime, tasks: dict[str, Task]
) -> list[Run]:
    """At start, rows under this instance's own id are left by an earlier process that
    used the same id (``CRONWELL_INSTANCE_ID``): nothing of this process runs yet."""
    if instance_id not in store.instances_with_work():
        return []
    return _abandon(store, [instance_id], now, tasks, instance_id, forget=False)


def _abandon(
    store: Store,
    dead: list[str],
    now: datetime,
    tasks: dict[str, Task],
    instance_id: str,
    forget: bool = True,
) -> list[Run]:
    if not dead:
        return []
    alive, notes = _stop_process_groups(store, dead)
    abandoned = store.abandon_runs(dead, now, keep=alive, notes=notes)
    store.release_queued(dead, now)
    retries = list(_retries(abandoned, tasks, instance_id))
    if retries:
        store.insert_runs(retries)
    if forget:
        store.remove_instances(dead)
    for run in abandoned:
        log.warning(
            "run abandoned by a process that died",
            extra={
                "action": "run_abandoned",
                "task_id": run.task_id,
                "run_id": run.id,
                "instance_id": run.instance_id,
            },
        )
    return abandoned


def _stop_process_groups(store: Store, dead: list[str]) -> tuple[set[int], dict[int, str]]:
    """Kill the recorded process groups of the dead instances' running runs that still run
    on this host. Returns the ids of the runs whose group survived (to stay ``running``)
    and a note for the error of each run whose group was killed."""
    alive: set[int] = set()
    notes: dict[int, str] = {}
    for process in store.running_processes(dead):
        if process.host != HOSTNAME:
            continue
        fate = stop_orphaned_group(process.pgid, run_id=process.run_id, task_id=process.task_id)
        extra = {
            "task_id": process.task_id,
            "run_id": process.run_id,
            "pgid": process.pgid,
        }
        if fate is GroupFate.KILLED:
            notes[process.run_id] = f"Its process group {process.pgid} was killed at recovery."
            log.warning(
                "the process group of an abandoned run was still running; killed it",
                extra={"action": "orphan_killed", **extra},
            )
        elif fate is GroupFate.ALIVE:
            alive.add(process.run_id)
            log.error(
                "the process group of a dead instance's run survives SIGKILL; the run stays "
                "running, without a retry, until the group is gone",
                extra={"action": "orphan_alive", **extra},
            )
    return alive, notes


def report_abandoned(dispatcher: Dispatcher, runs: list[Run], tasks: dict[str, Task]) -> None:
    """Abandoned runs count as failures (or are retried) and alert like any other: the
    dispatcher announces those whose task is known."""
    known = [(run, tasks[run.task_id]) for run in runs if run.task_id in tasks]
    dispatcher.report_external(
        [(run, task, will_retry_abandoned(run, task)) for run, task in known]
    )


def will_retry_abandoned(run: Run, task: Task) -> bool:
    return should_retry(RunStatus.ABANDONED, run.attempt, task.retries, task.retry_on, None)


def _retries(runs: Iterable[Run], tasks: dict[str, Task], instance_id: str) -> Iterable[NewRun]:
    for run in runs:
        task = tasks.get(run.task_id)
        if task is None or not will_retry_abandoned(run, task):
            continue
        after = run.finished_at or run.scheduled_for
        yield retry_row(run, task, after=after, instance_id=instance_id)


@dataclass
class _Gap:
    """What tasks that share a schedule, a policy and an outage missed: the same
    occurrences (``total`` of them, ``newest`` the latest), the same ones to run now and
    the same rows but for the task id."""

    rows: list[NewRun]
    newest: datetime
    total: int
    run: list[datetime]
    task_ids: list[str] = field(default_factory=list)
    fires: list[Fire] = field(default_factory=list)


def _gap(
    task: Task, since: datetime, now: datetime, instance_id: str, outages: Sequence[Span]
) -> _Gap | None:
    """What ``task`` missed since ``since``: ``None`` when nothing. Occurrences inside one
    of ``outages`` were missed for the database, the others for want of a scheduler."""
    span = occurrences_between(task, since, now, limit=MAX_MISSED_ROWS)
    if not span.recent:
        return None
    plan = plan_catchup(span.recent, task.catchup, now, task.catchup_window)
    rows = unrun_rows(
        task,
        span,
        plan.missed,
        status=RunStatus.MISSED,
        reason=RunReason.SCHEDULER_DOWN,
        why="no scheduler was running",
        now=now,
        instance_id=instance_id,
    )
    if outages:
        rows = [_for_outage(row, outages) for row in rows]
    total = span.total if span.total is not None else len(span.recent)
    return _Gap(rows, span.recent[-1], total, plan.run)


def _for_outage(row: NewRun, outages: Sequence[Span]) -> NewRun:
    """``row`` with reason ``database_unavailable`` when its occurrence fell inside one of
    ``outages`` (after the database last answered, before it answered again)."""
    when = row.scheduled_for
    if row.reason == RunReason.SCHEDULER_DOWN and any(
        start < when and (end is None or when <= end) for start, end in outages
    ):
        return replace(
            row,
            reason=RunReason.DATABASE_UNAVAILABLE,
            error="Not run: the database was unreachable.",
        )
    return row


def catch_up(
    store: Store,
    dispatcher: Dispatcher,
    tasks: Iterable[Task],
    now: datetime,
    instance_id: str,
    stop: threading.Event | None = None,
    outages: Sequence[Span] = (),
) -> int:
    """Record what each task missed up to ``now`` since its last recorded occurrence (or
    its last change: a resume, a new definition) and run what its ``catchup`` policy says.
    Occurrences after ``now`` are the scheduler's, which fires beside the catch-up: the
    rows of its first fires, recorded before the history is read here, do not count as
    where the gap ends (that would leave the gap without rows). Returns
    the number of missed occurrences found. Once ``stop`` is set, it hands nothing more to
    the dispatcher: the next start finds what is not recorded and catches it up.
    ``outages`` are the spans in which this process found the database unreachable: what
    fell due inside them is recorded ``missed``/``database_unavailable``."""
    tasks = list(tasks)
    last = store.last_occurrences([t.id for t in tasks], until=now)
    found = 0
    # Tasks that share a schedule, a policy and an outage (a fleet of identical tasks) have
    # the same occurrences, plan and rows but for the task id: the calendar is walked and
    # the plan made once for them, with one look-up a task (comparing the schedules is
    # most of what a look-up costs), and their rows are written as one grid.
    gaps: dict[tuple[object, ...], _Gap | None] = {}
    by_id = {task.id: task for task in tasks}
    debug = log.isEnabledFor(logging.DEBUG)
    for task in tasks:
        since = _since(task, last.get(task.id))
        if since is None or since >= now:
            continue
        alike = (
            task.schedule,
            task.timezone,
            task.start_date,
            task.end_date,
            since,
            task.catchup,
            task.catchup_window,
        )
        gap = gaps.get(alike, _UNSEEN)
        if gap is _UNSEEN:
            gap = gaps[alike] = _gap(task, since, now, instance_id, outages)
        if gap is None:
            continue
        found += gap.total
        gap.task_ids.append(task.id)
        gap.fires += [Fire(task, when, reason=RunReason.CATCHUP) for when in gap.run]
        if debug:
            log.debug(
                "occurrences missed while no scheduler ran",
                extra={
                    "action": "missed_occurrences",
                    "task_id": task.id,
                    "missed": gap.total,
                    "catch_up_runs": len(gap.run),
                },
            )
    found_gaps = [gap for gap in gaps.values() if gap is not None]
    caught_up = sum(len(gap.task_ids) for gap in found_gaps)
    runs = sum(len(gap.fires) for gap in found_gaps)
    if caught_up:  # one line for the outage: the rows say the rest, task by task
        log.warning(
            "%d occurrences of %d tasks fell due while no scheduler ran; %d run now",
            found,
            caught_up,
            runs,
            extra={
                "action": "missed_occurrences",
                "tasks": caught_up,
                "missed": found,
                "catch_up_runs": runs,
            },
        )
    # the most recent gaps first: a task due every second that came due while the engine
    # started runs before the rows of a fleet of every-minute tasks are all stored
    ordered: list[_Gap] = sorted(found_gaps, key=_newest_first)
    dispatcher.hand_over(ordered, by_id, stop)
    return found


def _newest_first(gap: _Gap) -> tuple[float, int]:
    return -gap.newest.timestamp(), len(gap.task_ids)


def _since(task: Task, last_occurrence: datetime | None) -> datetime | None:
    """Occurrences after this instant were not handled by any scheduler: after the last one
    recorded, and after the task's last change (less a second, as a one-off created "for
    now" counts)."""
    changed = task.updated_at - _A_SECOND if task.updated_at else None
    if last_occurrence is None or changed is None:
        return last_occurrence or changed
    return max(last_occurrence, changed)
