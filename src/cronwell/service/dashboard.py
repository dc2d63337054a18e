"""What the dashboard shows, read through the store and the engine: the overview, a page
of tasks in a chosen order, a task's details and its occurrence timeline for a day.

The engine that schedules knows every task's next occurrence in a heap, so the leader
lists tasks by next fire without computing one per task; a standby computes them, for
fleets up to :data:`STANDBY_SORT_LIMIT` tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from cronwell.clock import Clock
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.schedule import Preview
from cronwell.domain.stats import TaskStats
from cronwell.domain.task import Task
from cronwell.domain.timezones import canonical_timezone, zone
from cronwell.engine import Engine
from cronwell.service.status import SchedulerStatus
from cronwell.service.tasks import TaskService
from cronwell.service.timeline import MAX_ROWS, Timeline, build_timeline, day_bounds
from cronwell.store import NotificationRecord, Store
from cronwell.store.overview import TASK_STATES, TaskState, TaskStateCounts

Sort = Literal["next", "status", "id"]
SORTS: tuple[Sort, ...] = ("next", "status", "id")
PAGE_SIZE = 50
#: A standby computes each task's next fire to sort by it, up to this many tasks.
STANDBY_SORT_LIMIT = 10_000
FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ABANDONED, RunStatus.MISSED)
# runs under way: going here or on a worker, or waiting in a Celery queue for one
_GOING = (RunStatus.RUNNING, RunStatus.QUEUED)


@dataclass(frozen=True)
class TaskQuery:
    """A tasks page's filters, order and page (1-based)."""

    tag: str | None = None
    state: TaskState | None = None
    text: str | None = None
    sort: Sort = "next"
    page: int = 1
    per_page: int = PAGE_SIZE


@dataclass(frozen=True)
class TaskRow:
    task: Task
    next_fire: datetime | None
    last_run: Run | None


@dataclass(frozen=True)
class TaskList:
    rows: list[TaskRow]
    total: int
    query: TaskQuery
    note: str | None = None  # why the order asked for could not be given

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.per_page))


@dataclass(frozen=True)
class Overview:
    status: SchedulerStatus
    counts: TaskStateCounts
    auto_paused: list[Task]
    failing: list[Task]
    upcoming: list[tuple[datetime, Task]] | None
    running: list[Run]
    failures: list[Run]
    failures_total: int
    failed_alerts: list[NotificationRecord]
    by_hour: dict[tuple[datetime, str], int]
    now: datetime


@dataclass(frozen=True)
class TaskDetail:
    task: Task
    preview: Preview
    stats: TaskStats
    chart: list[Run]  # the last 100 runs, oldest first
    recent: list[Run]
    run_total: int
    running: list[Run] = field(default_factory=list)


class DashboardService:
    """The dashboard's reads over one store, its engine and its task service."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        engine: Engine,
        tasks: TaskService,
        status: Callable[[], SchedulerStatus],
    ) -> None:
        self._store = store
        self._clock = clock
        self._engine = engine
        self._tasks = tasks
        self._status = status

    def overview(self, *, upcoming: int = 20, listed: int = 20) -> Overview:
        now = self._clock.now()
        since = now - timedelta(hours=24)
        store = self._store
        return Overview(
            status=self._status(),
            counts=store.task_state_counts(),
            auto_paused=self._tasks_in("auto_paused", listed),
            failing=self._tasks_in("failing", listed, order="failing"),
            upcoming=self._upcoming(upcoming, now),
            running=store.list_runs(status=_GOING, limit=listed),
            failures=store.list_runs(status=FAILURES, since=since, limit=listed),
            failures_total=store.count_runs(status=FAILURES, since=since),
            failed_alerts=store.list_notifications(status="failed", limit=10),
            by_hour=store.runs_by_hour(since.replace(minute=0, second=0, microsecond=0), now),
            now=now,
        )

    def _tasks_in(
        self, state: TaskState, limit: int, order: Literal["id", "failing"] = "id"
    ) -> list[Task]:
        ids = self._store.task_ids(state=state, order=order, limit=limit)
        return _in_order(self._store.find_tasks(ids), ids)

    def _upcoming(self, count: int, now: datetime) -> list[tuple[datetime, Task]] | None:
        """The soonest fires across all tasks; ``None`` on a standby of a large fleet."""
        fires = self._engine.soonest_fires(count)
        if fires is not None:
            return fires
        if self._store.count_tasks(enabled=True) > STANDBY_SORT_LIMIT:
            return None
        pairs = _by_next_fire(self._store.list_tasks(enabled=True), now)
        return [(when, task) for when, task in pairs if when is not None][:count]

    # -- the tasks page ---------------------------------------------------------------------

    def task_list(self, query: TaskQuery) -> TaskList:
        """A page of the tasks that match ``query``, in its order: ``next`` (soonest next
        fire first, then the tasks that will not fire, by id), ``status`` (the longest
        failure streaks first, then by id) or ``id``.

        A filtered page reads the ids of all the matching tasks in one statement (their
        count is its length); an unfiltered one counts the tasks and reads one page."""
        store = self._store
        order: Literal["id", "failing"] = "failing" if query.sort == "status" else "id"
        matching: list[str] | None = None
        if query.tag or query.text or query.state:
            matching = store.task_ids(
                tag=query.tag, text=query.text, state=query.state, order=order
            )
            total = len(matching)
        else:
            total = store.count_tasks_in()
        offset = (query.page - 1) * query.per_page
        now = self._clock.now()
        note = None
        if query.sort == "next":
            found = self._next_fire_page(query, matching, total, now)
            if found is not None:
                return TaskList(self._rows(found, now), total, query)
            note = (
                f"This instance stands by and does not hold the schedule of {total:,} "
                "tasks in memory: they are listed by id. The scheduling instance lists "
                "them by next fire."
            )
        if matching is not None:
            ids = matching[offset : offset + query.per_page]
        else:
            ids = store.task_ids(order=order, limit=query.per_page, offset=offset)
        tasks = _in_order(store.find_tasks(ids), ids)
        pairs = [(t.next_fire_after(now) if t.enabled else None, t) for t in tasks]
        return TaskList(self._rows(pairs, now), total, query, note)

    def _next_fire_page(
        self, query: TaskQuery, matching: list[str] | None, total: int, now: datetime
    ) -> list[tuple[datetime | None, Task]] | None:
        """The page by next fire of the tasks of ids ``matching`` (all tasks when
        ``None``), or ``None`` on a standby of more than :data:`STANDBY_SORT_LIMIT`."""
        offset = (query.page - 1) * query.per_page
        end = offset + query.per_page
        fires = self._engine.soonest_fires(end, matching)
        if fires is None:  # a standby: compute the next fires of a fleet it can afford to
            if total > STANDBY_SORT_LIMIT:
                return None
            every = self._store.find_tasks(self._all(matching))
            return _by_next_fire(every, now)[offset:end]
        timed: list[tuple[datetime | None, Task]] = list(fires[offset:end])
        if len(fires) == end or len(fires) >= total:
            return timed
        # past the tasks that will fire (fewer than asked for: all of them are in fires),
        # the others (paused, done) by id
        firing = {t.id for _, t in fires}
        rest = [task_id for task_id in self._all(matching) if task_id not in firing]
        start = max(0, offset - len(fires))
        ids = rest[start : start + query.per_page - len(timed)]
        timed += [(None, t) for t in _in_order(self._store.find_tasks(ids), ids)]
        return timed

    def _all(self, matching: list[str] | None) -> list[str]:
        return self._store.task_ids() if matching is None else matching

    def _rows(self, pairs: list[tuple[datetime | None, Task]], now: datetime) -> list[TaskRow]:
        latest = self._store.latest_runs([task.id for _, task in pairs])
        return [TaskRow(task, when, latest.get(task.id)) for when, task in pairs]

    # -- one task -----------------------------------------------------------------------------

    def task_detail(self, task_id: str, *, fires: int = 10, recent: int = 20) -> TaskDetail:
        task = self._tasks.get(task_id)
        chart = self._store.list_runs(task_id=task_id, limit=100)
        return TaskDetail(
            task=task,
            preview=task.preview(fires, self._clock.now()),
            stats=self._store.task_stats(task_id),
            chart=list(reversed(chart)),
            recent=chart[:recent],
            run_total=self._store.count_runs(task_id=task_id),
            running=self._store.list_runs(task_id=task_id, status=_GOING, limit=10),
        )

    def timeline(self, task_id: str, day: date, zone_name: str) -> Timeline:
        """Every occurrence of ``task_id`` on local ``day`` of ``zone_name`` and its fate
        (see :mod:`cronwell.service.timeline` for what can and cannot be known)."""
        task = self._tasks.get(task_id)
        name = canonical_timezone(zone_name)
        tz = zone(name)
        start, end = day_bounds(day, tz)
        runs = self._store.list_runs(task_id=task_id, since=start, until=end, limit=MAX_ROWS)
        return build_timeline(task, day, tz, name, runs, self._clock.now())


def parse_state(value: str | None) -> TaskState | None:
    return next((s for s in TASK_STATES if s == value), None)


def _in_order(tasks: list[Task], ids: list[str]) -> list[Task]:
    by_id = {task.id: task for task in tasks}
    return [by_id[i] for i in ids if i in by_id]


def _by_next_fire(tasks: list[Task], now: datetime) -> list[tuple[datetime | None, Task]]:
    pairs = [(t.next_fire_after(now) if t.enabled else None, t) for t in tasks]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(pairs, key=lambda pair: (pair[0] or far, pair[1].id))
