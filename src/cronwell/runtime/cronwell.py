"""The library entry point: :class:`Cronwell` builds and wires everything from settings.

::

    cw = Cronwell()                       # ./cronwell.db, the system's time zone

    @cw.task(cron="0 8 * * 1-5")          # 08:00 Monday to Friday, crontab's meaning
    def morning_report(ctx):
        ctx.report(processed=10)

    cw.start()                            # background threads; or `async with cw:`
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import Any, TypeVar

from cronwell import gcpause
from cronwell.clock import Clock, SystemClock
from cronwell.dispatch import CatchUpSizes, FunctionRegistry, LocalDispatcher
from cronwell.dispatch.celery import celery_publisher
from cronwell.dispatch.processes import ProcessRecorder
from cronwell.domain.action import Action, HttpAction, PythonAction, ShellAction
from cronwell.domain.alerts import AlertEvent
from cronwell.domain.durations import parse_duration
from cronwell.domain.events import (
    AlertDelivered,
    EventBus,
    LeadershipChanged,
    RunFinished,
    RunStarted,
    TaskChanged,
)
from cronwell.domain.schedule import AnySchedule, IntervalSchedule, Schedule, cron, once
from cronwell.domain.task import DEFAULT_SOURCE, SYSTEM_SOURCE, Task
from cronwell.domain.timezones import system_timezone, zone_key
from cronwell.engine import Engine
from cronwell.engine.recovery import HOSTNAME, mark_gone, mark_live
from cronwell.errors import ConfigError, ConflictError, InvalidTaskError, SchedulerStateError
from cronwell.notify.alerting import Alerting
from cronwell.notify.delivery import Notifier
from cronwell.notify.message import TemplateSet
from cronwell.notify.results import ResultDelivery
from cronwell.runners import HttpRunner, PythonRunner, Runners, ShellRunner, resolve_function
from cronwell.runners.base import Runner
from cronwell.runtime.alerts import AlertsMixin
from cronwell.runtime.compat import ApschedulerCompat
from cronwell.runtime.declared import Declarations, check_app_source, sync_source, sync_tasks
from cronwell.runtime.declaring import DeclarationChecks
from cronwell.runtime.defaults import TaskDefaults
from cronwell.runtime.events import EventsMixin
from cronwell.runtime.functions import display_name, function_reference
from cronwell.runtime.maintenance import FUNCTION as MAINTENANCE_FUNCTION
from cronwell.runtime.maintenance import maintenance_task, prune_history
from cronwell.runtime.metrics import Metrics
from cronwell.runtime.operations import TaskOperations
from cronwell.service import TaskService
from cronwell.service.allowlist import ActionPolicy
from cronwell.service.declared import Definition, Plan, Problem
from cronwell.settings import Settings, load_settings
from cronwell.store import ListenRetry, Store

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Cronwell(TaskOperations, AlertsMixin, EventsMixin, ApschedulerCompat):
    """A scheduler with durable tasks and run history.

    ``database_url`` defaults to ``CRONWELL_DATABASE_URL`` or ``sqlite:///cronwell.db``;
    ``timezone`` (the zone of tasks that name none) to ``CRONWELL_TIMEZONE`` or the system
    zone. A zone is an IANA name or a zone object that has one (``ZoneInfo``, pytz,
    dateutil; see :func:`~cronwell.domain.timezones.zone_key`), here and wherever a task
    takes a zone. Nothing connects until the first operation that needs the database.

    The tasks the application stores are labelled ``source`` (default ``app``; give each
    application sharing a database its own). With ``declared=True`` the tasks declared
    before :meth:`start` (``@cw.task``, ``add_task``, ``add_tasks``, ``add_job`` and the
    other APScheduler-style calls) are gathered, not stored, and :meth:`start` makes the
    database hold exactly them for ``source``: a task no longer declared is deleted (its
    run history stays). See :mod:`cronwell.runtime.declared`.

    ``task_defaults`` (task fields: ``{"retries": 3, "timeout": "10m", "overlap":
    "queue_one"}``) and APScheduler's ``job_defaults`` (``coalesce``, ``max_instances``,
    ``misfire_grace_time``, with APScheduler's meaning) fill what the tasks this object
    declares leave out; see :mod:`cronwell.runtime.defaults`.

    The process's garbage collector stays as the application set it, unless the
    ``gc_hold`` setting (``CRONWELL_GC_HOLD=true``) lets cronwell hold it off through bulk
    loads and bursts of fires (see :mod:`cronwell.gcpause`; the Cronwell made last decides,
    as the collector is the process's).

    ``catchup_sizes`` (how a catch-up is cut into pieces, see
    :class:`~cronwell.dispatch.CatchUpSizes`) and ``listen_retry`` (how a lost change
    listener reconnects on PostgreSQL, see :class:`~cronwell.store.ListenRetry`) are
    left at their defaults in an application: they are there for tests and benchmarks
    that need a catch-up cut finer or a listener kept down.
    """

    def __init__(
        self,
        database_url: str | None = None,
        timezone: str | tzinfo | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        max_workers: int | None = None,
        poll_interval: float | None = None,
        instance_id: str | None = None,
        declared: bool = False,
        source: str = DEFAULT_SOURCE,
        task_defaults: Mapping[str, Any] | None = None,
        job_defaults: Mapping[str, Any] | None = None,
        catchup_sizes: CatchUpSizes | None = None,
        listen_retry: ListenRetry | None = None,
    ) -> None:
        self.source = check_app_source(source)
        self._task_defaults = TaskDefaults(task_defaults, job_defaults)
        # a bad zone is named as the caller gave it: the argument, the settings object,
        # or the environment variable
        where = "CRONWELL_TIMEZONE"
        if settings is not None:
            where = "Settings.timezone"
        elif timezone is not None:
            where = "Cronwell(timezone=...)"
            timezone = zone_key(timezone, where=where)
        self.settings = settings or load_settings(
            database_url=database_url,
            timezone=timezone,
            max_workers=max_workers,
            poll_interval=poll_interval,
            instance_id=instance_id,
        )
        if self.settings.lease_ttl < 3 * self.settings.poll_interval:
            raise ConfigError(
                f"CRONWELL_LEASE_TTL ({self.settings.lease_ttl:g}s) must be at least three "
                f"poll intervals ({3 * self.settings.poll_interval:g}s), or the lease would "
                "lapse between renewals."
            )
        # the collector is the process's: held off only where the settings allow it (an
        # embedded Cronwell leaves it alone unless CRONWELL_GC_HOLD says otherwise)
        gcpause.configure(bool(self.settings.gc_hold))
        zone_name = self.settings.timezone
        self.timezone: str = zone_key(zone_name, where=where) if zone_name else system_timezone()
        self.clock: Clock = clock or SystemClock()
        # the tasks declared before start() when declared=True; None once synced
        self._declarations = Declarations(self.clock) if declared else None
        self.registry = FunctionRegistry()
        self.store = Store(self.settings.database_url, listen_retry=listen_retry)
        self._loop: asyncio.AbstractEventLoop | None = None
        limit = self.settings.output_limit
        # the process group of each run's child, on its row (DESIGN rule 7)
        recorder = ProcessRecorder(self.store, HOSTNAME)
        self._runners = Runners(
            python=PythonRunner(
                self._resolve,
                output_limit=limit,
                loop_provider=self._app_loop,
                on_process=recorder,
            ),
            shell=ShellRunner(output_limit=limit, on_process=recorder),
            http=HttpRunner(output_limit=limit),
        )
        # what happens (runs, task changes, leadership, deliveries), told to subscribers
        self.events = events = EventBus()
        self.dispatcher = LocalDispatcher(
            self.store,
            self._runners,
            self.clock,
            instance_id=self.settings.instance_id,
            max_workers=self.settings.max_workers,
            events=events,
            publisher=celery_publisher(self.settings),
            default_executor=self.settings.executor,
            default_queue=self.settings.celery_queue,
            catchup_sizes=catchup_sizes,
        )
        self.engine = Engine(
            self.store,
            self.dispatcher,
            self.clock,
            instance_id=self.settings.instance_id,
            poll_interval=self.settings.poll_interval,
            lease_ttl=self.settings.lease_ttl,
            events=events,
        )
        events.subscribe(TaskChanged, self._task_changed)
        events.subscribe(LeadershipChanged, self._leadership_changed)
        events.subscribe(AlertDelivered, self._log_delivery)
        self._service = TaskService(
            self.store,
            self.clock,
            self.dispatcher,
            default_timezone=self.timezone,
            instance_id=self.settings.instance_id,
            is_registered=self.registry.__contains__,
            on_change=self.engine.wake,
            policy=ActionPolicy(
                allow_shell=self.settings.allow_shell,
                functions=self.settings.api_functions,
                registered=self.registry.references,
            ),
        )
        self.alerting = Alerting(
            self.settings,
            self.store,
            self.clock,
            Notifier(
                channels=self.settings.channels,
                clock=self.clock,
                events=events,
                templates=(
                    TemplateSet.from_directory(self.settings.alert_templates)
                    if self.settings.alert_templates
                    else None
                ),
            ),
            is_running=self.dispatcher.is_running,
        )
        events.subscribe(RunFinished, self.alerting.on_finished, batch=self.alerting.on_recorded)
        events.subscribe(RunStarted, self.alerting.on_started)
        notifier = self.alerting.notifier
        self.metrics = Metrics(
            instance_id=self.settings.instance_id,
            count_tasks=lambda enabled: self.store.count_tasks(enabled=enabled),
            is_leader=lambda: self.engine.is_leader,
            alerts=lambda: (notifier.sent, notifier.failed),
            queue_depths=self.store.remote.queue_depths,
        )
        events.subscribe(RunFinished, self.metrics.on_finished, batch=self.metrics.on_recorded)
        # results of successful runs (Task.deliver) and notify(): a notifier of their own
        self.result_delivery = ResultDelivery(
            Notifier(channels=self.settings.channels, clock=self.clock, events=events),
            on_failed=self.alerting.delivery_failed,
        )
        results = self.result_delivery
        events.subscribe(RunFinished, results.on_finished, batch=results.on_recorded)
        # a one-off is removed once the above have heard of its final run
        one_offs = self.engine.one_offs
        events.subscribe(RunFinished, one_offs.on_finished, batch=one_offs.on_recorded)
        self._ready = False
        self._ready_lock = threading.Lock()
        self._checks = DeclarationChecks(lambda: self.service, self.clock)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`shutdown`."""
        return self.engine.running

    @property
    def service(self) -> TaskService:
        """The use cases over this instance's store (opens the database on first use)."""
        self._ensure_ready()
        return self._service

    def start(self) -> None:
        """Start scheduling on background threads and return at once."""
        if self.running:
            raise SchedulerStateError("This Cronwell instance is already running.")
        self._ensure_ready()
        self._declare_maintenance()
        if self._declarations is not None:
            sync_tasks(self._service, self.registry, self._declarations, source=self.source)
            self._declarations = None  # from now on, add_task stores at once
        self.alerting.start()
        self.dispatcher.start()
        try:
            self.engine.start()
        except BaseException:
            self.dispatcher.shutdown()
            self.alerting.stop()
            raise
        self._warn_unknown_channels()
        role = (
            "scheduling"
            if self.engine.is_leader
            else f"standing by while {self.engine.leader} schedules"
        )
        self.alerting.scheduler_event(
            AlertEvent.STARTED,
            f"cronwell started ({self.settings.instance_id}, {role})",
            tasks=len(self.engine.scheduled_task_ids()),
        )
        if self.settings.summary_channel:  # reading every task costs: only when wanted
            self.alerting.post_summary(self._service.summary())

    async def start_async(self) -> None:
        """Start from inside a running event loop; async task functions then run on it."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.start)

    def shutdown(self, wait: bool = True) -> None:
        """Stop firing. With ``wait``, running runs get up to ``shutdown_grace`` seconds
        (settings) to finish; then shell commands and child processes are killed and what
        is still going is recorded ``interrupted``. Nothing is left ``running``."""
        was_running = self.running
        self.engine.stop()
        self.dispatcher.shutdown(wait=wait, grace=self.settings.shutdown_grace)
        self.alerting.stop()
        # the results of the last runs go out before the process may exit
        self.result_delivery.flush()
        if was_running:
            self.alerting.scheduler_event(
                AlertEvent.STOPPED, f"cronwell stopped ({self.settings.instance_id})"
            )
            # delivered before returning: a process often exits right after, and the
            # delivery thread with it
            self.alerting.notifier.flush()

    def close(self) -> None:
        """Shut down and release the database and runner resources."""
        self.shutdown(wait=True)
        self.result_delivery.close()  # before the alerts: a lost result alerts
        self.alerting.close()
        self._runners.close()
        if self._ready and not self.store.read_only:
            self._forget_instance()
            mark_gone(self.settings.instance_id)
        self.store.close()

    def _forget_instance(self) -> None:
        """A clean exit leaves nothing running: drop this process's instance record so the
        table does not grow with every CLI command."""
        try:
            if self.settings.instance_id not in self.store.instances_with_work():
                self.store.remove_instances([self.settings.instance_id])
        except Exception:
            log.warning("cannot remove the instance record", extra={"action": "forget_failed"})

    async def __aenter__(self) -> Cronwell:
        await self.start_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.shutdown)

    def __enter__(self) -> Cronwell:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def wrap_runner(self, kind: str, wrap: Callable[[Runner], Runner]) -> None:
        """Run every action of ``kind`` (``"python"``, ``"shell"``, ``"http"``) through
        ``wrap(runner)``, a runner that calls the current one, in the thread that runs the
        action: how an integration puts its framework's hygiene around actions
        (:mod:`cronwell.contrib.django` closes stale database connections around Python
        actions). Call it before :meth:`start`."""
        self._runners.wrap(kind, wrap)

    # -- defining tasks -------------------------------------------------------------------

    def task(
        self,
        schedule: AnySchedule | str | None = None,
        *,
        cron: str | None = None,
        every: float | str | timedelta | None = None,
        at: datetime | None = None,
        id: str | None = None,
        replace_existing: bool = True,
        **options: Any,
    ) -> Callable[[F], F]:
        """Decorator: schedule the function it wraps. Give one of ``schedule`` (a schedule
        object or crontab string), ``cron``, ``every`` (a duration) or ``at`` (an aware
        datetime). Other keywords are :class:`Task` fields (``timezone``, ``tags``…). The id
        defaults to the function's name. Re-declaring the same task on every start is fine."""

        def register(func: F) -> F:
            self.add_task(
                id or display_name(func),
                schedule=_schedule_from(schedule, cron, every, at),
                func=func,
                replace_existing=replace_existing,
                **options,
            )
            return func

        return register

    def add_task(
        self,
        task: Task | str,
        *,
        schedule: AnySchedule | str | None = None,
        func: Callable[..., Any] | str | None = None,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        shell: str | list[str] | None = None,
        http: str | None = None,
        action: Action | None = None,
        replace_existing: bool = False,
        **fields: Any,
    ) -> Task:
        """Store a task and schedule it. Either a whole :class:`Task`, or an id with a
        ``schedule`` and exactly one of ``func`` (a callable or ``"pkg.mod:func"``),
        ``shell`` (a command), ``http`` (a URL for a GET) or ``action``. With
        ``declared=True`` and before :meth:`start`, the task is gathered and returned
        unstored (see the class).

        A callable is stored by its importable name. One of a script run as ``python
        app.py`` is ``__main__:func``, which only this process can call: that logs a
        warning (``action="main_module_function"``) once per task; run the script as a
        module (``python -m package.module``) instead.

        A one-off with ``remove_after_run`` that already ran and was removed, declared
        again (as an application does at every start), is not stored again: the task
        comes back as declared, unstored, and its run stays the only one."""
        if isinstance(task, Task):
            if self._ran_and_removed(task.id, task.schedule):
                return self.service.build(task)
            return self._store_task(task, replace_existing)
        if schedule is None:
            raise InvalidTaskError(f"Task {task!r} needs a schedule.")
        given = [x for x in (func, shell, http, action) if x is not None]
        if len(given) != 1:
            raise InvalidTaskError(
                f"Task {task!r} needs exactly one of func=, shell=, http= or action=."
            )
        previous = self.registry.get(task)
        previous_reference = self.registry.reference(task)
        if func is not None:
            ref = func if isinstance(func, str) else function_reference(func)
            action = PythonAction(func=ref, args=list(args), kwargs=dict(kwargs or {}))
            if callable(func):
                # registered before saving: saving checks that the function can be found
                self.registry.register(task, func, ref)
                replace_existing = replace_existing or (
                    self._declarations is None and self._checks.renamed_from_main(task, func, ref)
                )
            self._checks.warn_main_function(task, ref)
        elif shell is not None:
            action = ShellAction(command=shell)
        elif http is not None:
            action = HttpAction(url=http)
        as_schedule = _as_schedule(schedule)
        data = {"id": task, "schedule": as_schedule, "action": action}
        data.update(self._task_defaults.apply(fields))
        if self._ran_and_removed(task, as_schedule):
            return self.service.build(data)
        try:
            return self._store_task(data, replace_existing)
        except BaseException:
            if previous is not None:  # the stored task keeps the function it had
                self.registry.register(task, previous, previous_reference)
            else:
                self.registry.unregister(task)
            raise

    def add_tasks(self, tasks: Iterable[Task | dict[str, Any]]) -> int:
        """Store many new tasks in one transaction and return how many; all or none (an
        invalid task or a taken id stores nothing). For fleets of generated tasks, where
        :meth:`add_task` per task would cost one transaction each. With ``declared=True``
        and before :meth:`start`, they are gathered as :meth:`add_task` gathers one."""
        tasks = self._with_defaults(tasks)
        if self._declarations is not None:
            return self._declarations.add_all([self._service.build(task) for task in tasks])
        return self.service.create_many(tasks, source=self.source)

    def sync(
        self,
        tasks: Iterable[Task | Mapping[str, Any]],
        *,
        source: str | None = None,
        prune: bool = True,
    ) -> Plan:
        """Make the database hold exactly ``tasks`` (:class:`Task` objects or dicts, see
        :mod:`cronwell.runtime.declared`) for ``source`` (default: this application's) in
        one transaction, and return the plan applied. With ``prune``, the stored tasks of
        ``source`` not among them are deleted (their run history stays); other sources'
        tasks never are. Updated tasks keep their history and failure state; a second call
        with the same tasks changes nothing; an invalid one stores nothing."""
        name = sync_source(source, self.source, gathering=self._declarations is not None)
        tasks = self._with_defaults(tasks)
        return sync_tasks(self.service, self.registry, tasks, source=name, prune=prune)

    # -- internals ------------------------------------------------------------------------

    def _ensure_ready(self) -> None:
        with self._ready_lock:
            if not self._ready:
                self.alerting.start_delivery()
                self.result_delivery.start()
                self.store.upgrade()
                # known to others, so runs this process leaves behind if it dies are found;
                # a process that cannot write the database runs nothing to be found
                if not self.store.read_only:
                    mark_live(self.settings.instance_id)
                    self.store.register_instance(
                        self.settings.instance_id,
                        socket.gethostname(),
                        os.getpid(),
                        self.clock.now(),
                    )
                self._ready = True

    def check_task(self, data: Task | dict[str, Any]) -> Task:
        """``data`` checked as adding it would check it, without opening the database (so
        that a command refusing it creates no database)."""
        return self._service.check(data)

    def check_definitions(self, definitions: Sequence[Definition]) -> list[Problem]:
        """Every problem of a tasks document, found without opening the database."""
        return self._service.validate(definitions)

    def plan(self, definitions: Sequence[Definition], **options: Any) -> Plan:
        """What applying ``definitions`` would change (:meth:`TaskService.plan`). A
        database that does not exist yet is neither created nor migrated: everything
        declared is then to be created."""
        if self.store.has_schema():
            return self.service.plan(definitions, **options)
        return self._service.plan(definitions, empty=True, **options)

    def _with_defaults(self, tasks: Iterable[Any]) -> Iterable[Any]:
        """``tasks`` with the scheduler-wide defaults of what each dict leaves out; whole
        tasks, and anything else (which the call then refuses), as they are."""
        if not self._task_defaults.active or isinstance(tasks, Task | Mapping):
            return tasks
        return [self._task_defaults.apply(dict(t)) if isinstance(t, Mapping) else t for t in tasks]

    def _ran_and_removed(self, task_id: str, schedule: Schedule) -> bool:
        """A one-off stored at once that already ran and was removed, declared again; the
        sync at start settles gathered ones (``declared=True``) without asking."""
        return self._declarations is None and self._checks.ran_and_removed(task_id, schedule)

    def _store_task(self, data: Task | dict[str, Any], replace_existing: bool) -> Task:
        """Save ``data`` as this application's, or gather it (``declared=True``, before
        :meth:`start`): built and checked now, stored by the sync at start."""
        declarations = self._declarations
        if declarations is not None:
            return declarations.add(self._service.build(data), replace_existing=replace_existing)
        return self.service.save(data, replace_existing=replace_existing, source=self.source)

    def _declare_maintenance(self) -> None:
        task = maintenance_task(self.settings, self.timezone)
        if task is None:
            return
        self.registry.register(
            task.id, functools.partial(prune_history, store=self.store), MAINTENANCE_FUNCTION
        )
        try:
            self._service.save(task, replace_existing=True, source=SYSTEM_SOURCE)
        except ConflictError:  # another instance starting at this moment stored it first
            self._service.save(task, replace_existing=True, source=SYSTEM_SOURCE)

    def _resolve(self, task_id: str, ref: str) -> Callable[..., Any]:
        return self.registry.get(task_id) or resolve_function(ref)

    def _app_loop(self) -> asyncio.AbstractEventLoop | None:
        loop = self._loop
        return loop if loop is not None and loop.is_running() else None


def _schedule_from(
    schedule: AnySchedule | str | None,
    cron_text: str | None,
    every_value: float | str | timedelta | None,
    at: datetime | None,
) -> AnySchedule:
    given = [x for x in (schedule, cron_text, every_value, at) if x is not None]
    if len(given) != 1:
        raise InvalidTaskError("Give exactly one of a schedule, cron=, every= or at=.")
    if schedule is not None:
        return _as_schedule(schedule)
    if cron_text is not None:
        return cron(cron_text)
    if every_value is not None:
        return IntervalSchedule(seconds=parse_duration(every_value, "every"))
    assert at is not None
    return once(at)


def _as_schedule(schedule: AnySchedule | str) -> AnySchedule:
    if isinstance(schedule, str):
        return cron(schedule)
    if isinstance(schedule, Schedule):
        return schedule
    raise InvalidTaskError(f"Not a schedule: {schedule!r}")
