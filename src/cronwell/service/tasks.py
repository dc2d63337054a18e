"""Task and run use cases, shared by the library, the CLI and the API.

Every change is validated here (DESIGN rule 11): the task model checks its own fields, and a
Python action's function must be importable (or registered in this process) when the task is
created, not when it first fires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cronwell.clock import Clock
from cronwell.dispatch import Dispatcher
from cronwell.dispatch.history import unrun_rows
from cronwell.domain.action import PythonAction
from cronwell.domain.declared import declared_digest, entry_text, is_plain
from cronwell.domain.occurrences import occurrences_between
from cronwell.domain.policies import plan_catchup
from cronwell.domain.run import Run, RunReason, RunStatus
from cronwell.domain.schedule import IntervalSchedule, OnceSchedule, Preview
from cronwell.domain.secrets import restore_secrets
from cronwell.domain.stats import TaskStats
from cronwell.domain.summary import summarize
from cronwell.domain.task import DEFAULT_SOURCE, SOURCE_MAX, SYSTEM_SOURCE, Task
from cronwell.errors import InvalidInputError, InvalidScheduleError, TaskExistsError
from cronwell.gcpause import collection_paused
from cronwell.runners import resolve_function
from cronwell.service.allowlist import ActionPolicy
from cronwell.service.declared import (
    Definition,
    DocumentError,
    Plan,
    Problem,
    check_definitions,
    export_definition,
)
from cronwell.service.declared.dump import declared_form
from cronwell.service.declared.plan import make_plan
from cronwell.store import NewRun, Store

if TYPE_CHECKING:
    from cronwell.store.records import StoredDefinition

# a one-off "for now" computed a moment before saving is not in the past
_PAST_TOLERANCE = timedelta(seconds=1)
# skipped occurrences of a paused span recorded one by one; older ones are summed up
_MAX_SKIPPED_ROWS = 100

# progress(phase, done, total) of plan and apply: "checking" counts definitions,
# "storing" the changes written (0 of N before the one transaction, N of N after it)
Progress = Callable[[str, int, int], None]


class TaskService:
    """Operations on tasks and runs over one store.

    ``on_change`` is called after every stored change so that an engine in this process
    picks it up at once; other processes see it through the store's change log.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        dispatcher: Dispatcher,
        *,
        default_timezone: str,
        instance_id: str,
        is_registered: Callable[[str], bool] = lambda _task_id: False,
        on_change: Callable[[], None] = lambda: None,
        policy: ActionPolicy | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._dispatcher = dispatcher
        self._default_timezone = default_timezone
        self._instance_id = instance_id
        self._is_registered = is_registered
        self._on_change = on_change
        self._policy = policy or ActionPolicy(allow_shell=False, functions=())

    # -- tasks ----------------------------------------------------------------------------

    def authorize(self, task: Task, *, doing: str = "create") -> Task:
        """Refuse (:class:`~cronwell.errors.ForbiddenError`) a task whose action a remote
        caller may not create, change or run: a shell command without
        ``CRONWELL_ALLOW_SHELL``, a Python function neither registered in this process nor
        in ``CRONWELL_API_FUNCTIONS`` (see :mod:`cronwell.service.allowlist`). Every remote
        door calls it first; nothing is imported before it answers. Returns ``task``."""
        self._policy.check(task, doing=doing)
        return task

    def build(self, data: Task | dict[str, Any]) -> Task:
        """A task from a model or a plain dict, with the default time zone applied when the
        definition names none."""
        if isinstance(data, Task):
            if "timezone" in data.model_fields_set:
                return data
            return data.model_copy(update={"timezone": self._default_timezone})
        data = dict(data)
        data.setdefault("timezone", self._default_timezone)
        return Task.parse(data)

    def save(
        self,
        data: Task | dict[str, Any],
        *,
        replace_existing: bool = False,
        expected_version: int | None = None,
        source: str | None = None,
    ) -> Task:
        """Create a task, or replace it when ``replace_existing``. Saving a definition equal
        to the stored one changes nothing (so an application may declare its tasks on every
        start); a different one with the same id raises :class:`TaskExistsError` unless
        ``replace_existing``. A new task is labelled ``source`` (default ``app``, the
        library); a replaced one keeps the source it has."""
        task = self.build(data)
        existing = self._store.find_task(task.id)
        task = task.model_copy(
            update={"source": (source or DEFAULT_SOURCE) if existing is None else None}
        )
        if existing is not None and "enabled" not in task.model_fields_set:
            # re-declaring a task in code does not resume one an operator paused
            task = task.model_copy(update={"enabled": existing.enabled})
        task = self._complete(restore_secrets(task, existing), existing)
        self._validate_function(task)
        now = self._clock.now()
        if existing is not None and existing.same_definition(task) and expected_version is None:
            return existing
        if existing is not None and not replace_existing and expected_version is None:
            raise TaskExistsError(task.id)
        _reject_past_one_off(task, now)
        if existing is None:
            stored = self._store.insert_task(task, now)
        else:
            stored = self._store.update_task(task, now, expected_version=expected_version)
        self._on_change()
        return stored

    def check(self, data: Task | dict[str, Any]) -> Task:
        """``data`` as :meth:`save` would store it new, checked as it checks it (definition,
        zone, importable function, a one-off's time) without reading the database."""
        task = self._complete(self.build(data), None)
        self._validate_function(task)
        _reject_past_one_off(task, self._clock.now())
        return task

    def create_many(
        self, items: Iterable[Task | dict[str, Any]], *, source: str | None = None
    ) -> int:
        """Create many new tasks in one transaction (imports, generated fleets) and return
        how many: each is checked as :meth:`save` checks one, then all are stored or, when
        one is invalid or its id is taken, none is. They are labelled ``source`` (default
        ``app``)."""
        label = source or DEFAULT_SOURCE
        now = self._clock.now()
        resolved: set[str] = set()
        batch: list[Task] = []
        with collection_paused():  # tens of thousands of new objects
            for item in items:
                task = self._complete(restore_secrets(self.build(item), None), None)
                task = task.model_copy(update={"source": label})
                action = task.action
                if isinstance(action, PythonAction) and action.func not in resolved:
                    self._validate_function(task)
                    if not self._is_registered(task.id):
                        resolved.add(action.func)  # found by import: the same for every task
                _reject_past_one_off(task, now)
                batch.append(task)
            count = self._store.bulk_insert_tasks(batch, now)
        if count:
            self._on_change()
        return count

    # -- declared tasks (tasks as code) ----------------------------------------------------

    def validate(
        self, definitions: Sequence[Definition], *, authorize: bool = False
    ) -> list[Problem]:
        """Every problem of ``definitions`` a creation would find (fields, cron, zone,
        function importable, duplicate ids); no database access at all. ``authorize``:
        check each task with :meth:`authorize` first (a remote caller)."""
        return check_definitions(
            definitions,
            default_timezone=self._default_timezone,
            is_registered=self._is_registered,
            authorize=self.authorize if authorize else None,
        )[1]

    def plan(
        self,
        definitions: Sequence[Definition],
        *,
        source: str | None = None,
        prune: bool = False,
        scope: Collection[str] | None = None,
        authorize: bool = False,
        progress: Progress | None = None,
        problems: Sequence[Problem] = (),
        empty: bool = False,
    ) -> Plan:
        """What :meth:`apply` would change; writes nothing. Raises
        :class:`~cronwell.service.declared.DocumentError` with every problem. ``empty``:
        the database does not exist yet, so everything declared is new and nothing is read.

        Each task is labelled ``source``, or, when it is ``None``, the source of its
        document (the file's name). With ``prune``, the stored tasks of the ``scope``
        sources (default: ``source``, or the documents' sources) that are not declared are
        deleted; cronwell's own tasks never are. ``problems`` found while reading the
        definitions (:func:`~cronwell.service.declared.read_documents`) are reported with
        the others. ``progress`` is told how many definitions are checked, now and then."""
        with collection_paused():  # as many tasks read, built and compared
            return self._plan(
                definitions,
                source=source,
                prune=prune,
                scope=scope,
                authorize=authorize,
                progress=progress,
                problems=problems,
                empty=empty,
            )

    def _plan(
        self,
        definitions: Sequence[Definition],
        *,
        source: str | None,
        prune: bool,
        scope: Collection[str] | None,
        authorize: bool,
        progress: Progress | None,
        problems: Sequence[Problem],
        empty: bool,
    ) -> Plan:
        """:meth:`plan`, with :attr:`Plan.declared`: the entries of the tasks it creates,
        updates, or finds as declared by comparing them in full."""
        if scope is None:
            scope = {source} if source else {d.source for d in definitions if d.source}
        for name in {source, *scope} - {None}:
            _check_source(str(name), prune=prune)
        ids = [d.id for d in definitions if d.id is not None]
        found = [] if empty else self._store.find_declared(ids, sorted(scope) if prune else [])
        rows = {row.id: row for row in found}
        zone = self._default_timezone
        # a task whose digest its entry gives again is as declared: nothing to build,
        # validate or compare (most of a re-apply's time, entry by entry)
        known = set() if authorize else _known(definitions, rows, source, zone)
        compared = [row.id for row in found if row.id not in known]
        stored = {task.id: task for task in self._store.find_tasks(compared)}

        def as_stored(definition: Definition, data: dict[str, Any]) -> Task | None:
            # a definition exactly as stored (an export) needs no second validation
            task = stored.get(definition.id or "")
            return task if task is not None and declared_form(task) == data else None

        total = len(definitions)
        checked = check_definitions(
            definitions,
            default_timezone=zone,
            is_registered=self._is_registered,
            authorize=self.authorize if authorize else None,
            progress=None if progress is None else lambda done: progress("checking", done, total),
            stored=as_stored,
            known=lambda definition: definition.id in known,
        )
        if problems or checked.problems:
            raise DocumentError([*problems, *checked.problems])
        plan, conflicts = make_plan(
            checked.built,
            list(stored.values()),
            source=source,
            scope=scope,
            prune=prune,
            complete=self._complete,
            now=self._clock.now(),
        )
        if conflicts:
            raise DocumentError(conflicts)
        plan.unchanged += len(checked.known)
        plan.declared = _entries(checked.built, rows, zone)
        return plan

    def apply(
        self,
        definitions: Sequence[Definition],
        *,
        source: str | None = None,
        prune: bool = False,
        scope: Collection[str] | None = None,
        authorize: bool = False,
        progress: Progress | None = None,
        problems: Sequence[Problem] = (),
    ) -> Plan:
        """Make the database hold ``definitions`` (see :meth:`plan`) in one transaction,
        and return the plan applied: all of it or, when anything is invalid or changed
        meanwhile, nothing. Applying it again changes nothing. Updated tasks keep their
        run history and failure state; one whose name, description, tags or source alone
        change keeps its catch-up anchor. Past one-off times are accepted: such a task is
        stored as a one-off that has fired and will not fire again. ``progress`` is told
        how many definitions are checked, then how many changes are stored."""
        with collection_paused():  # as many tasks read, built, compared and stored
            plan = self.plan(
                definitions,
                source=source,
                prune=prune,
                scope=scope,
                authorize=authorize,
                progress=progress,
                problems=problems,
            )
            changes = len(plan.create) + len(plan.update) + len(plan.delete)
            if progress is not None and changes:
                progress("storing", 0, changes)
            if changes or plan.declared:
                self._store.apply_tasks(
                    plan.create,
                    [(c.task, c.timing) for c in plan.update if c.task is not None],
                    plan.delete,
                    self._clock.now(),
                    plan.declared,
                )
            if progress is not None and changes:
                progress("storing", changes, changes)
        if plan.has_changes:
            self._on_change()
        return plan

    def export(self, *, tag: str | None = None, source: str | None = None) -> list[dict[str, Any]]:
        """The definitions of the stored tasks (with ``tag``, of ``source``), by id, as
        :func:`~cronwell.service.declared.dump_document` writes them; cronwell's own
        tasks are left out. Secrets are written as stored: an export is a backup."""
        return [
            export_definition(task)
            for task in self._store.list_tasks(tag=tag)
            if task.source != SYSTEM_SOURCE and (source is None or task.source == source)
        ]

    def get(self, task_id: str) -> Task:
        return self._store.get_task(task_id)

    def find(self, task_id: str) -> Task | None:
        return self._store.find_task(task_id)

    def list_tasks(
        self,
        *,
        tag: str | None = None,
        enabled: bool | None = None,
        text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Task]:
        return self._store.list_tasks(
            tag=tag, enabled=enabled, text=text, limit=limit, offset=offset
        )

    def pause(self, task_id: str) -> Task:
        """Stop firing ``task_id`` until resumed; occurrences meanwhile are not run."""
        task = self._store.set_enabled(task_id, False, self._clock.now())
        self._on_change()
        return task

    def resume(self, task_id: str, *, catch_up: bool = False) -> Task:
        """Fire ``task_id`` again, from now on. The occurrences that fell while it was
        paused are recorded ``skipped`` (reason ``paused``); with ``catch_up`` its
        ``catchup`` policy decides which of them run now instead."""
        before = self.get(task_id)
        now = self._clock.now()
        runs: list[NewRun] = []
        if not before.enabled and before.updated_at is not None:
            runs = self._paused_span(before, before.updated_at, now, catch_up)
        task = self._store.set_enabled(task_id, True, now, runs=runs)
        self._on_change()
        return task

    def _paused_span(
        self, task: Task, since: datetime, now: datetime, catch_up: bool
    ) -> list[NewRun]:
        """The rows of the occurrences that fell while ``task`` was paused: ``skipped``,
        or ``pending`` catch-up runs due ``now`` as its policy says. Stored with the
        resume itself (one transaction), so that no engine fires the latest of them
        as a new occurrence in between."""
        span = occurrences_between(task, since, now, limit=_MAX_SKIPPED_ROWS)
        if not span.recent:
            return []
        plan = plan_catchup(
            span.recent, task.catchup if catch_up else "none", now, task.catchup_window
        )
        rows = unrun_rows(
            task,
            span,
            plan.missed,
            status=RunStatus.SKIPPED,
            reason=RunReason.PAUSED,
            why="the task was paused",
            now=now,
            instance_id=self._instance_id,
        )
        rows += [
            NewRun(
                task_id=task.id,
                scheduled_for=when,
                status=RunStatus.PENDING,
                reason=RunReason.CATCHUP,
                due_at=now,
                instance_id=self._instance_id,
            )
            for when in plan.run
        ]
        return rows

    def delete(self, task_id: str) -> None:
        """Remove the task; its run history stays."""
        self._store.delete_task(task_id, self._clock.now())
        self._on_change()

    def preview(self, task_id: str, n: int = 5, after: datetime | None = None) -> Preview:
        return self.get(task_id).preview(n, after or self._clock.now())

    def summary(self) -> str:
        return summarize(self._store.list_tasks(), self._clock.now())

    # -- runs -----------------------------------------------------------------------------

    def run_now(self, task_id: str) -> Run:
        """Run the task in the calling thread now, record it, and return the finished run."""
        task = self.get(task_id)
        self._validate_function(task)
        return self._dispatcher.run_inline(task, self._clock.now(), RunReason.MANUAL)

    def queue_run(self, task_id: str) -> Run:
        """Ask the scheduling instance to run the task as soon as it can; returns the
        ``pending`` run it will pick up."""
        task = self.get(task_id)
        now = self._clock.now()
        (run_id,) = self._store.insert_runs(
            [
                NewRun(
                    task_id=task.id,
                    scheduled_for=now,
                    status=RunStatus.PENDING,
                    reason=RunReason.MANUAL,
                    due_at=now,
                )
            ]
        )
        assert run_id is not None, "a manual run at a fresh instant cannot collide"
        self._on_change()
        return self._store.get_run(run_id)

    def list_runs(
        self,
        *,
        task_id: str | None = None,
        status: RunStatus | Sequence[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Run]:
        return self._store.list_runs(
            task_id=task_id, status=status, since=since, until=until, limit=limit, offset=offset
        )

    def get_run(self, run_id: int) -> Run:
        return self._store.get_run(run_id)

    def stats(self, task_id: str) -> TaskStats:
        """Run count, failures, success rate, average and p95 duration, last success and
        failure, consecutive failures."""
        self.get(task_id)  # a sentence for an unknown id
        return self._store.task_stats(task_id)

    # -- helpers --------------------------------------------------------------------------

    def _complete(self, task: Task, existing: Task | None) -> Task:
        """Give an interval without an anchor one: the stored task's when the schedule is
        otherwise the same (so re-declaring a task keeps its rhythm), else now + period."""
        schedule = task.schedule
        if not isinstance(schedule, IntervalSchedule) or schedule.anchor is not None:
            return task
        anchor = None
        if (
            existing is not None
            and isinstance(existing.schedule, IntervalSchedule)
            and existing.schedule.period == schedule.period
        ):
            anchor = existing.schedule.anchor
        if anchor is None:
            now = self._clock.now()
            if schedule.period >= timedelta(seconds=1):  # whole seconds read cleanly
                now = now.replace(microsecond=0)
            anchor = now + schedule.period
        new_schedule = schedule.model_copy(update={"anchor": anchor})
        return task.model_copy(update={"schedule": new_schedule})

    def _validate_function(self, task: Task) -> None:
        """A Python action's function must be found now, not at 3 a.m. (rule 11)."""
        if isinstance(task.action, PythonAction) and not self._is_registered(task.id):
            resolve_function(task.action.func)


def _known(
    definitions: Sequence[Definition],
    rows: dict[str, StoredDefinition],
    source: str | None,
    zone: str,
) -> set[str]:
    """The ids of the ``definitions`` whose stored task holds the digest of their entry
    (:mod:`cronwell.domain.declared`) and their source: declared once, as stored."""
    counts = Counter(d.id for d in definitions)
    known: set[str] = set()
    for definition in definitions:
        row = rows.get(definition.id or "")
        if row is None or row.declared is None or counts[row.id] > 1:
            continue
        if row.source == SYSTEM_SOURCE or row.source != (
            source or definition.source or DEFAULT_SOURCE
        ):
            continue
        entry = entry_text(definition.data, zone)
        if declared_digest(entry, row.definition) == row.declared:
            known.add(row.id)
    return known


def _entries(
    built: Sequence[tuple[Definition, Task]], rows: dict[str, StoredDefinition], zone: str
) -> dict[str, str]:
    """The entry of each built definition (created, updated, or found as declared in full)
    whose stored task does not hold its digest yet, if it is plain."""
    entries: dict[str, str] = {}
    for definition, task in built:
        if not (definition.parsed or is_plain(definition.data)):
            continue
        entry = entry_text(definition.data, zone)
        row = rows.get(task.id)
        if row is not None and row.declared == declared_digest(entry, row.definition):
            continue
        entries[task.id] = entry
    return entries


def _check_source(name: str, *, prune: bool) -> None:
    if not name.strip() or len(name) > SOURCE_MAX:
        raise InvalidInputError(
            f"A source is a label of 1 to {SOURCE_MAX} characters, not {name!r}."
        )
    if prune and name == SYSTEM_SOURCE:
        raise InvalidInputError(
            f"The source {SYSTEM_SOURCE!r} is cronwell's own (the maintenance task); "
            "choose another source."
        )


def _reject_past_one_off(task: Task, now: datetime) -> None:
    """A one-off whose time has passed would never fire; say so instead of storing it."""
    schedule = task.schedule
    if isinstance(schedule, OnceSchedule) and schedule.at < now - _PAST_TOLERANCE:
        raise InvalidScheduleError(
            f"Task {task.id!r} is set to run once at {schedule.at.isoformat()}, which is in "
            "the past; give a future time (or run it now with run_now / `cronwell tasks run`)."
        )
