"""The engine: APScheduler 3 as a timer over cronwell's own tables (DESIGN rule 1).

* Tasks are read from the store into a fresh :class:`~cronwell.engine.jobstore.HeapJobStore`
  (APScheduler's ``MemoryJobStore`` inserts in O(n)); every job names the one entry point
  :func:`cronwell.engine.entry.fire` with the task id as its argument.
* A new ``BackgroundScheduler`` is built for each :meth:`Engine.start`, since APScheduler 3
  cannot be restarted after ``shutdown()``.
* Due jobs are intercepted by :class:`~cronwell.engine.executor.DispatchExecutor`, which
  hands the task and every due occurrence time to the dispatcher; APScheduler's own instance
  counting and misfire handling are bypassed (the dispatcher records those as run rows).
* A sync thread polls the store's change log (every ``poll_interval``, or at once when
  :meth:`wake` is called in this process or, on PostgreSQL, when a change made by another
  process is notified) so that changes made by the CLI or another process reach the running
  engine, and claims pending runs (manual runs queued elsewhere).
* A standby reads the lease each poll without writing, and tries to take it only once it
  lapses (or its holder is known dead).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler

from cronwell.clock import Clock
from cronwell.dispatch import Dispatcher, Fire, HandOver
from cronwell.dispatch.heartbeat import HEARTBEAT_INTERVAL
from cronwell.domain.events import EventBus, LeadershipChanged
from cronwell.domain.run import RunReason, RunStatus
from cronwell.domain.task import Task
from cronwell.engine import entry
from cronwell.engine.executor import DispatchExecutor
from cronwell.engine.jobstore import HeapJobStore
from cronwell.engine.one_offs import OneOffRemover
from cronwell.engine.recovery import (
    HOSTNAME,
    catch_up,
    gone_from_this_host,
    mark_live,
    recover_dead_instances,
    recover_own_leftovers,
    report_abandoned,
)
from cronwell.engine.trigger import TaskTrigger, first_fire_floor
from cronwell.errors import SchedulerStateError
from cronwell.gcpause import collection_paused
from cronwell.store import ChangeListener, LeaseState, Store

log = logging.getLogger(__name__)
_ENTRY_POINT = "cronwell.engine.entry:fire"
_NO_KWARGS: dict[str, Any] = {}
LEASE = "scheduler"
# the leader stops firing at this fraction of the TTL after its last successful renewal was
# asked for, before the lease can lapse in database time
_LEASE_MARGIN = 0.8
# a standby whose next look would come after the lease lapses looks this long after it
# lapses instead (database and local time may differ by a little)
_JUST_AFTER = 0.01
# seconds a new leader waits for the catch-up of its previous term to end
_CATCHUP_JOIN = 5.0


class _LeaseTaken(Exception):
    """Another instance took the lease while this one was loading its tasks."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(holder)
        self.holder = holder


class Engine:
    """Schedules the enabled tasks of one store and feeds their occurrences to a dispatcher.

    It publishes :class:`~cronwell.domain.events.LeadershipChanged` on ``events`` when it
    gains the scheduler lease after standing by, and when it loses it (not at its own start
    and stop, which the runtime announces itself)."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        clock: Clock,
        *,
        instance_id: str,
        poll_interval: float = 1.0,
        lease_ttl: float = 15.0,
        events: EventBus | None = None,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._instance_id = instance_id
        self._poll_interval = poll_interval
        self._scheduler: BackgroundScheduler | None = None
        self._tasks: dict[str, Task] = {}
        self._revision = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sync_thread: threading.Thread | None = None
        self._catchup_thread: threading.Thread | None = None
        # set when this term of leadership ends: its catch-up stops handing work over, and
        # what it handed over is withdrawn when the lease was lost
        self._term_over = HandOver()
        self._next_look: float | None = None  # seconds, sooner than a poll, for a standby
        self._listener: ChangeListener | None = None
        self._lock = threading.RLock()
        self.started_at: datetime | None = None
        self._started = False
        # whether this start has looked for runs left under its own id: only its first term
        # does, as a later term (after a lost lease) has runs of its own in flight
        self._own_leftovers_checked = False
        self._holder: str | None = None
        self._renew_at = 0.0
        self._lease_deadline = 0.0
        self._lease_ttl = lease_ttl
        self._events = events if events is not None else EventBus()
        # one-offs removed after their run; its handlers are the caller's to subscribe
        # (after those that alert on the same runs), its sweep runs at each term
        self.one_offs = OneOffRemover(store, clock, self.wake)

    @property
    def running(self) -> bool:
        """Started, as the scheduling leader or standing by."""
        return self._started

    @property
    def is_leader(self) -> bool:
        """This instance holds the scheduler lease and fires tasks."""
        return self._scheduler is not None

    @property
    def leader(self) -> str | None:
        """The instance that schedules, as last seen."""
        return self._instance_id if self.is_leader else self._holder

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start: schedule when this instance gets the scheduler lease, else stand by and
        take over when the lease lapses (DESIGN rule 9)."""
        with self._lock:
            if self._started:
                raise SchedulerStateError("The engine is already running.")
            now = self._clock.now()
            self._store.register_instance(self._instance_id, HOSTNAME, os.getpid(), now)
            mark_live(self._instance_id)
            self._stop.clear()
            self._own_leftovers_checked = False
            self._try_lead(first=True)
            self._started = True
            self.started_at = self._clock.now()
            self._sync_thread = threading.Thread(
                target=self._sync_loop, name="cronwell-sync", daemon=True
            )
            self._sync_thread.start()
            self._listener = self._store.listen_for_changes(self.wake)

    def _try_lead(self, first: bool = False) -> None:
        """Take the lease if it is free, lapsed, or held by an instance known dead; lead
        if granted. Caller holds the lock."""
        granted, holder = self._store.acquire_lease(LEASE, self._instance_id, self._lease_ttl)
        if not granted and holder is not None and self._holder_gone(holder):
            granted, holder = self._store.acquire_lease(
                LEASE, self._instance_id, self._lease_ttl, take_from=holder
            )
        if not granted:
            self._stand_by_for(holder)
            return
        try:
            self._lead()
        except _LeaseTaken as taken:
            log.warning(
                "the scheduler lease lapsed while tasks were loading; standing by",
                extra={"action": "standing_by", "leader": taken.holder},
            )
            self._holder = taken.holder
            self._tasks = {}
            return
        except BaseException:
            self._store.release_lease(LEASE, self._instance_id)
            raise
        self._holder = self._instance_id
        if not first:
            self._events.publish(LeadershipChanged(self._instance_id, leading=True))

    def _holder_gone(self, holder: str) -> bool:
        records = {r.instance_id: r for r in self._store.list_instances()}
        return gone_from_this_host(records.get(holder))

    def _stand_by_for(self, holder: str | None) -> None:
        if holder != self._holder:
            log.warning(
                "another instance schedules on this database; this one stands by and "
                "takes over if it stops%s",
                " (with SQLite, one instance schedules at a time)" if self._store.is_sqlite else "",
                extra={"action": "standing_by", "leader": holder},
            )
        self._holder = holder

    def _look_at_lease(self) -> None:
        """As a standby: read the lease (no lock, no write) and try to take it only when
        it is free or lapsed, or its holder is a process of this host that no longer
        exists. When it lapses before the next poll, the next look comes just after it
        lapses. Caller holds the lock."""
        lease: LeaseState = self._store.read_lease(LEASE)
        holder = lease.current_holder
        if holder is None or holder == self._instance_id or self._holder_gone(holder):
            self._try_lead()
            return
        if lease.seconds_left < self._poll_interval:
            self._next_look = lease.seconds_left + _JUST_AFTER
        self._stand_by_for(holder)

    def _lead(self) -> None:
        """Load every enabled task, recover what dead instances left and what was missed,
        and start firing. The lease is renewed once the tasks are loaded, which may take a
        good part of its TTL, and the deadline counts from that renewal, not from the
        first grant. Caller holds the lock."""
        scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": HeapJobStore()},
            executors={"default": DispatchExecutor(self._on_due)},
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1},
        )
        revision = self._store.current_revision()
        now = self._clock.now()
        with collection_paused():  # loading starts collections that find nothing to free
            every_task = {t.id: t for t in self._store.list_tasks(shared_lists=True)}
            abandoned = []
            if not self._own_leftovers_checked:
                abandoned = recover_own_leftovers(self._store, self._instance_id, now, every_task)
                self._own_leftovers_checked = True
            abandoned += recover_dead_instances(self._store, self._instance_id, now, every_task)
            report_abandoned(self._dispatcher, abandoned, every_task)
            removed = self.one_offs.sweep(every_task.values(), now)
            tasks = [t for t in every_task.values() if t.enabled and t.id not in removed]
            self._tasks = {}
            self._load_jobs(tasks, scheduler, now)
        asked = time.monotonic()
        granted, holder = self._store.acquire_lease(LEASE, self._instance_id, self._lease_ttl)
        if not granted:
            raise _LeaseTaken(holder)
        previous = self._catchup_thread
        if previous is not None:  # the catch-up of an earlier term, told to stop
            previous.join(_CATCHUP_JOIN)
        self._term_over = HandOver()
        # Before the scheduler starts: it fires what is due at once, and a fire checked
        # against a deadline not yet set was dropped without a row.
        self._renew_at = time.monotonic() + self._lease_ttl / 3
        self._lease_deadline = asked + self._lease_ttl * _LEASE_MARGIN
        scheduler.start()
        # What fell due up to `now` is the catch-up's, what falls due after it the
        # scheduler's: catching up in the background keeps new occurrences on time.
        self._catchup_thread = threading.Thread(
            target=self._catch_up,
            args=(tasks, now, self._term_over),
            name="cronwell-catchup",
            daemon=True,
        )
        self._catchup_thread.start()
        # assigned only once running, so a failed start leaves a clean, stopped engine
        self._scheduler = scheduler
        self._revision = revision
        entry.set_active(self)
        log.info(
            "engine scheduling",
            extra={
                "action": "engine_started",
                "tasks": len(self._tasks),
                "instance_id": self._instance_id,
            },
        )

    def _catch_up(self, tasks: list[Task], now: datetime, term_over: HandOver) -> None:
        """Catch up on a thread of its own until done or until ``term_over`` is set: a
        leader that stops hands nothing more to the dispatcher, and one that lost the
        lease withdraws what the dispatcher has not begun (the next leader's catch-up finds
        what is not recorded)."""
        try:
            catch_up(
                self._store,
                self._dispatcher,
                tasks,
                now,
                self._instance_id,
                term_over,
                outages=self._dispatcher.outage.spans(),
            )
        except Exception:
            # the next start finds the same gap again: catch-up reads what is recorded
            log.exception("catch-up failed", extra={"action": "catch_up_failed"})

    def _stop_scheduler(self) -> None:
        """APScheduler is paused before its shutdown so that its loop cannot make one more
        pass and drop what falls due then. Caller holds the lock."""
        self._term_over.set()
        scheduler = self._scheduler
        if scheduler is None:
            return
        scheduler.pause()
        scheduler.shutdown(wait=False)
        self._scheduler = None
        self._tasks = {}
        entry.set_active(None)

    def _step_down(self) -> None:
        """The lease was lost (this instance could not renew it in time): stop firing and
        catching up at once, so that two leaders never fire together. Caller holds the
        lock."""
        self._term_over.revoke()
        self._stop_scheduler()
        log.error("lost the scheduler lease; standing by", extra={"action": "lease_lost"})
        self._events.publish(LeadershipChanged(self._instance_id, leading=False))

    def stop(self) -> None:
        """Stop firing and give the lease up; running actions are the dispatcher's to
        finish."""
        with self._lock:
            if not self._started:
                return
            self._stop.set()
            self._wake.set()
            was_leader = self.is_leader
            self._stop_scheduler()
            self._started = False
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._sync_thread is not None:
            self._sync_thread.join()
            self._sync_thread = None
        if self._catchup_thread is not None:  # what it found is recorded before the
            self._catchup_thread.join()  # dispatcher stops
            self._catchup_thread = None
        # given up whether or not this instance still counts itself leader: one that
        # stepped down for a late renewal may hold the row yet (only its own is deleted)
        try:
            self._store.release_lease(LEASE, self._instance_id)
        except Exception:
            if was_leader:
                log.warning(
                    "cannot release the lease; it lapses by itself",
                    extra={"action": "lease_release_failed"},
                )
        self.started_at = None
        log.info("engine stopped", extra={"action": "engine_stopped"})

    def wake(self) -> None:
        """Look at the store's change log now instead of at the next poll."""
        self._wake.set()

    # -- queries --------------------------------------------------------------------------

    def next_fire_times(self) -> dict[str, datetime | None]:
        """Each scheduled task's next occurrence, in UTC."""
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                return {}
            return {job.id: job.next_run_time for job in scheduler.get_jobs()}

    def soonest_fires(
        self, count: int, among: Collection[str] | None = None
    ) -> list[tuple[datetime, Task]] | None:
        """Up to ``count`` scheduled tasks (only those of ids ``among`` when it is given)
        with their next occurrence, soonest first; ``None`` when this engine schedules
        nothing (a standby, a stopped engine), whose caller must compute next fires itself."""
        with self._lock:
            scheduler = self._scheduler
            if scheduler is None:
                return None
            tasks = self._tasks
            store: HeapJobStore = scheduler._jobstores["default"]
            with scheduler._jobstores_lock:
                entries = store.soonest(count, among)
            return [
                (datetime.fromtimestamp(when, UTC), tasks[job_id])
                for when, job_id in entries
                if job_id in tasks
            ]

    def scheduled_tasks(self) -> list[Task]:
        """The tasks this engine schedules (none while standing by)."""
        with self._lock:
            return list(self._tasks.values())

    def scheduled_task_ids(self) -> set[str]:
        with self._lock:
            return set(self._tasks)

    # -- firing ---------------------------------------------------------------------------

    def _on_due(self, task_id: str, run_times: Sequence[datetime]) -> None:
        if time.monotonic() >= self._lease_deadline:
            # The lease may have lapsed (renewal stalled): another instance may lead now, so
            # this one fires nothing; the sync thread steps down, and the new leader's
            # catch-up records what falls due meanwhile.
            self._wake.set()
            return
        task = self._tasks.get(task_id)
        if task is None:  # removed between APScheduler's look-up and now
            return
        self._dispatcher.submit([Fire(task, t.astimezone(UTC)) for t in run_times])

    def fire_now(self, task_id: str) -> None:
        task = self._tasks.get(task_id) or self._store.get_task(task_id)
        self._dispatcher.submit([Fire(task, self._clock.now(), reason=RunReason.MANUAL)])

    def _schedule(
        self,
        task: Task,
        scheduler: BackgroundScheduler | None = None,
        first_after: datetime | None = None,
    ) -> None:
        scheduler = scheduler or self._scheduler
        assert scheduler is not None
        self._tasks[task.id] = task
        if first_after is None:
            first_after = first_fire_floor(task, self._clock.now())
        scheduler.add_job(
            _ENTRY_POINT,
            trigger=TaskTrigger(task, first_after),
            id=task.id,
            name=task.name,
            args=(task.id,),
            replace_existing=True,
        )

    def _load_jobs(self, tasks: list[Task], scheduler: BackgroundScheduler, now: datetime) -> None:
        """Put a job per task straight into the job store of a scheduler not yet started,
        as APScheduler's own ``import_jobs`` does: ``add_job`` validates its arguments and
        resolves the entry point per call, work repeated for every task at start-up."""
        jobs = []
        for task in tasks:
            trigger = TaskTrigger(task, now)
            job = Job.__new__(Job)
            job._scheduler = scheduler
            job._jobstore_alias = "default"
            job.id = task.id
            job.func_ref = _ENTRY_POINT
            job.func = entry.fire
            job.trigger = trigger
            job.executor = "default"
            job.args = (task.id,)
            job.kwargs = _NO_KWARGS  # never changed: one dict for all jobs
            job.name = task.name
            job.misfire_grace_time = None
            job.coalesce = False
            job.max_instances = 1
            job.next_run_time = trigger.get_next_fire_time(None, now)
            jobs.append(job)
            self._tasks[task.id] = task
        scheduler._jobstores["default"].add_jobs(jobs)

    def _unschedule(self, task_id: str) -> None:
        scheduler = self._scheduler
        assert scheduler is not None
        self._tasks.pop(task_id, None)
        # APScheduler may already have dropped it (a one-off that fired, an ended task)
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job(task_id)

    # -- keeping up with the store -----------------------------------------------------------

    def _sync_loop(self) -> None:
        next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
        while not self._stop.is_set():
            wait = self._poll_interval
            if self._next_look is not None:
                wait, self._next_look = min(wait, self._next_look), None
            self._wake.wait(wait)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._keep_lease()
                if time.monotonic() >= next_heartbeat:
                    next_heartbeat = time.monotonic() + HEARTBEAT_INTERVAL
                    self.heartbeat()
                self.sync()
            except Exception as exc:
                if not self._dispatcher.outage.report(exc):  # an outage is logged as one
                    log.exception(
                        "cannot read changes from the store; will retry",
                        extra={"action": "sync_failed"},
                    )
            else:
                self._dispatcher.outage.recovered()

    def _keep_lease(self) -> None:
        """Renew the lease well inside its TTL while leading (a third of it); stand by
        ready to take it over otherwise."""
        with self._lock:
            if self._stop.is_set():
                return
            if not self.is_leader:
                self._look_at_lease()
                return
            if time.monotonic() >= self._lease_deadline:
                self._step_down()  # renewals kept failing or came too late
                return
            if time.monotonic() < self._renew_at:
                return
            asked = time.monotonic()
            try:
                granted, holder = self._store.acquire_lease(
                    LEASE, self._instance_id, self._lease_ttl
                )
            except Exception as exc:
                granted, holder = False, None
                if not self._dispatcher.outage.report(exc):
                    log.exception("cannot renew the lease", extra={"action": "lease_renew_failed"})
                if time.monotonic() < self._renew_at + self._lease_ttl / 3:
                    return  # one failed renewal leaves a third of the TTL: try again
            if granted:
                self._renew_at = time.monotonic() + self._lease_ttl / 3
                self._lease_deadline = asked + self._lease_ttl * _LEASE_MARGIN
            else:
                self._holder = holder
                self._step_down()

    def heartbeat(self) -> None:
        """Tell other instances this one is alive, and, as the leader, take care of the
        runs of any that died (abandoned, retried if allowed)."""
        now = self._clock.now()
        self._store.heartbeat(self._instance_id, HOSTNAME, os.getpid(), now)
        self.one_offs.retry()
        if not self.is_leader:
            return
        with self._lock:
            tasks = dict(self._tasks)
        abandoned = recover_dead_instances(self._store, self._instance_id, now, tasks)
        if abandoned:
            report_abandoned(self._dispatcher, abandoned, tasks)
            self.wake()

    def sync(self) -> None:
        """Apply task changes made since the last look and start pending runs now due."""
        revision, changed = self._store.changes_since(self._revision)
        with self._lock:
            if self._scheduler is None:
                return
            for task_id in sorted(changed):
                try:
                    self._apply_change(task_id)
                except Exception:  # one unreadable task must not hold back the others
                    log.exception(
                        "cannot apply a task change",
                        extra={"action": "task_sync_failed", "task_id": task_id},
                    )
            self._revision = revision
        self._start_due_runs()

    def _apply_change(self, task_id: str) -> None:
        task = self._store.find_task(task_id)
        current = self._tasks.get(task_id)
        if task is None or not task.enabled:
            self._unschedule(task_id)
        elif current is not None and current.version != task.version and task.same_timing(current):
            # a new name, description or tags: the job and its next fire time stay
            self._tasks[task_id] = task
        elif current is None or current.version != task.version:
            self._schedule(task)

    def _start_due_runs(self) -> None:
        for run in self._store.claim_due_runs(self._clock.now(), self._instance_id):
            task = self._tasks.get(run.task_id) or self._store.find_task(run.task_id)
            if task is None:
                self._store.finish_run(
                    run.id,
                    status=RunStatus.FAILED,
                    finished_at=self._clock.now(),
                    duration=None,
                    error=f"Task {run.task_id!r} was deleted before this run could start.",
                )
                continue
            if not task.enabled and run.reason != RunReason.MANUAL:
                # paused tasks do not fire: a retry or queued run of one is recorded skipped
                self._store.finish_run(
                    run.id,
                    status=RunStatus.SKIPPED,
                    finished_at=self._clock.now(),
                    duration=None,
                    reason=RunReason.PAUSED,
                    error="Not run: the task was paused.",
                )
                continue
            self._dispatcher.execute_claimed(run, task)
