"""**scale** — many stored tasks: creating them, starting on a database that holds them,
memory per task, and listing and searching them.

Each step runs in its own process (see :mod:`benchmarks.isolate`):

* ``cronwell_create`` — ``Cronwell.add_tasks`` of N tasks (one transaction), then list
  pages (``service.list_tasks(limit=50, offset=...)``), a text search, a tag filter and
  ``store.count_tasks`` (median of 5, in ms);
* ``cronwell_start`` — a fresh process on the filled database: time from ``cw.start()``
  until the engine has scheduled all N tasks (``engine.scheduled_task_ids()``; the engine
  loads and schedules them inside ``start()``), and RSS after start minus RSS before it,
  per task;
* ``cronwell_api`` — tasks created over HTTP (a real uvicorn server, ``ApiServer``, httpx):
  one POST per task, and one request for all when the API has a bulk endpoint.

Every task fires daily at a time at least two hours away, so nothing fires meanwhile. The
APScheduler baselines add N ``cron`` jobs to a ``MemoryJobStore`` (which is also what its
start-up costs: nothing persists) and to a ``SQLAlchemyJobStore`` (fewer), and time
``get_jobs()``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks import aps
from benchmarks.common import (
    STAMP,
    Figures,
    fresh_database,
    lease_kept,
    median_ms,
    peak_rss_bytes,
    rss_bytes,
    stamp,
    timed,
    wait_until,
)
from benchmarks.results import (
    CRONWELL,
    MEMORY,
    NO_BACKEND,
    SQLALCHEMY,
    Headline,
    Result,
    measure,
)

# the SQLAlchemyJobStore inserts one job per transaction: a smaller fleet for it
SQLALCHEMY_MAX_N = 10_000


CREATE = Headline(
    "tasks/s", {CRONWELL: "tasks_per_s", MEMORY: "jobs_per_s", SQLALCHEMY: "jobs_per_s"}, True
)
START = Headline(
    "tasks scheduled/s",
    {CRONWELL: "scheduled_per_s", MEMORY: "jobs_per_s", SQLALCHEMY: "scheduled_per_s"},
    True,
)
RSS = Headline("B RSS/task", dict.fromkeys((CRONWELL, MEMORY, SQLALCHEMY), "rss_per_task_b"), False)
PAGE = Headline(
    "ms/page (APScheduler: get_jobs)",
    {CRONWELL: "list_middle_page_ms", MEMORY: "get_jobs_ms", SQLALCHEMY: "get_jobs_ms"},
    False,
)
SEARCH = Headline(
    "ms/text search",
    {CRONWELL: "search_text_ms", MEMORY: "search_ms", SQLALCHEMY: "search_ms"},
    False,
)
API = Headline("tasks/s", {CRONWELL: "post_tasks_per_s"}, True)
# each comparison: its name, headline, the step whose figures it reads, the figures shown
_VIEWS: tuple[tuple[str, Headline, str, tuple[str, ...]], ...] = (
    ("create", CREATE, "create", ("n", "add_tasks_s", "add_jobs_s")),
    ("start", START, "start", ("n", "startup_s", "add_jobs_s", "leader_after_start")),
    ("memory", RSS, "start", ("n", "rss_per_task_b", "rss_after_start_mb")),
    (
        "list page",
        PAGE,
        "list",
        (
            "list_first_page_ms",
            "list_middle_page_ms",
            "list_last_page_ms",
            "count_ms",
            "get_jobs_ms",
        ),
    ),
    ("search", SEARCH, "list", ("search_text_ms", "count_text_ms", "filter_tag_ms", "search_ms")),
)
_API_KEYS = (
    "n",
    "post_tasks_per_s",
    "post_p50_ms",
    "post_p99_ms",
    "bulk_endpoint",
    "bulk_tasks_per_s",
)
_FORMATS = {
    "n": "N {:,}",
    "add_tasks_s": "add_tasks {} s",
    "add_jobs_s": "add_job × N {} s",
    "startup_s": "start-up {} s",
    "leader_after_start": "leader after start: {}",
    "rss_per_task_b": "{:,} B/task",
    "rss_after_start_mb": "RSS {} MB",
    "list_first_page_ms": "first page {} ms",
    "list_middle_page_ms": "middle page {} ms",
    "list_last_page_ms": "last page {} ms",
    "count_ms": "count {} ms",
    "search_text_ms": "text search {} ms",
    "count_text_ms": "text count {} ms",
    "filter_tag_ms": "tag filter {} ms",
    "get_jobs_ms": "get_jobs {} ms",
    "search_ms": "get_jobs+filter {} ms",
    "post_tasks_per_s": "{} POST/s",
    "post_p50_ms": "p50 {} ms",
    "post_p99_ms": "p99 {} ms",
    "bulk_endpoint": "bulk {}",
    "bulk_tasks_per_s": "{} tasks/s",
}


def run(n: int, api_n: int, backends: list[str]) -> list[Result]:
    """Create, start, memory, list and search for N tasks on each backend (the
    SQLAlchemyJobStore baseline with at most ``SQLALCHEMY_MAX_N``), the API with ``api_n``
    tasks, the memory baseline once."""
    sqla_n = min(n, SQLALCHEMY_MAX_N)
    steps: list[dict[str, Result]] = []
    api: list[Result] = []
    for backend in backends:
        with fresh_database(backend) as url:
            created = _measure(backend, CRONWELL, "cronwell_create", n=n, url=url)
            started = _measure(backend, CRONWELL, "cronwell_start", n=n, url=url)
        steps.append({"create": created, "start": started, "list": created})
        with fresh_database(backend) as url:
            api.append(_measure(backend, CRONWELL, "cronwell_api", n=api_n, url=url))
        with fresh_database(backend) as url:
            created = _measure(
                backend, SQLALCHEMY, "apscheduler_sqlalchemy_create", n=sqla_n, url=url
            )
            started = _measure(
                backend, SQLALCHEMY, "apscheduler_sqlalchemy_start", n=sqla_n, url=url
            )
        # the SQLAlchemyJobStore is listed and searched once started
        steps.append({"create": created, "start": started, "list": started})
    memory = _measure(NO_BACKEND, MEMORY, "apscheduler_memory", n=n)
    steps.append(dict.fromkeys(("create", "start", "list"), memory))
    results = [
        _derive(step[source], f"scale {label} {n:,}", headline, keys)
        for label, headline, source, keys in _VIEWS
        for step in steps
    ]
    return results + [_derive(r, f"api create {api_n:,}", API, _API_KEYS) for r in api]


def _measure(backend: str, system: str, function: str, **kwargs: object) -> Result:
    """One child process; its figures are shown under several comparisons by _derive."""
    target = f"benchmarks.scale:{function}"
    keys = tuple(_FORMATS)
    return measure(
        f"scale {function}", backend, system, target, CREATE, lambda f: _summary(f, keys), **kwargs
    )


def _derive(source: Result, scenario: str, headline: Headline, keys: tuple[str, ...]) -> Result:
    figures = source.figures
    failed = "error" in figures or "skipped" in figures
    summary = source.summary if failed else _summary(figures, keys)
    return Result(scenario, source.backend, source.system, figures, summary, headline)


def _summary(figures: Figures, keys: tuple[str, ...]) -> str:
    shown = [_FORMATS[k].format(figures[k]) for k in keys if figures.get(k) is not None]
    return ", ".join(shown)


def _when(i: int) -> tuple[int, int]:
    """Hour and minute (UTC) of task ``i``: between 2 and 22 hours from now."""
    return (datetime.now(UTC).hour + 2 + i % 20) % 24, i % 60


def task_json(i: int) -> dict[str, Any]:
    """Task ``i`` of the fleet as the API and ``add_tasks`` take it."""
    hour, minute = _when(i)
    return {
        "id": f"scale-{i:07d}",
        "name": f"Report for customer {i}",
        "schedule": {"kind": "cron", "cron": f"{minute} {hour} * * *"},
        "action": {"kind": "python", "func": STAMP},
        "tags": [f"team-{i % 20}"],
        "timezone": "UTC",
    }


def cronwell_create(n: int, url: str) -> Figures:
    """Store N tasks with ``add_tasks``, then time list, search and count queries."""
    from cronwell import Cronwell, Task

    cw = Cronwell(url, timezone="UTC")
    service = cw.service
    rss_before = rss_bytes()
    began = time.perf_counter()
    tasks = [Task.model_validate(task_json(i)) for i in range(n)]
    build_s = time.perf_counter() - began
    add_s = timed(lambda: cw.add_tasks(tasks))
    rss_after = rss_bytes()
    tasks.clear()
    gc.collect()
    queries: dict[str, Callable[[], object]] = {
        "list_first_page_ms": lambda: service.list_tasks(limit=50, offset=0),
        "list_middle_page_ms": lambda: service.list_tasks(limit=50, offset=n // 2),
        "list_last_page_ms": lambda: service.list_tasks(limit=50, offset=max(0, n - 50)),
        "search_text_ms": lambda: service.list_tasks(text="customer 4242", limit=50),
        "filter_tag_ms": lambda: service.list_tasks(tag="team-3", limit=50),
        "count_ms": cw.store.count_tasks,
        "count_text_ms": lambda: cw.store.count_tasks(text="customer 4242"),
    }
    figures: Figures = {name: median_ms(query) for name, query in queries.items()}
    cw.close()
    return {
        "n": n,
        "build_tasks_s": round(build_s, 3),
        "add_tasks_s": round(add_s, 3),
        "tasks_per_s": round(n / add_s, 1),
        "rss_growth_during_add_per_task_b": round((rss_after - rss_before) / n),
        **figures,
    }


def cronwell_start(n: int, url: str) -> Figures:
    """Start a Cronwell on a database holding N tasks; start-up time and RSS per task."""
    from cronwell import Cronwell

    cw = Cronwell(url, timezone="UTC")
    cw.service  # noqa: B018 - migrations (a no-op) before measuring
    gc.collect()
    rss_before = rss_bytes()
    began = time.perf_counter()
    cw.start()
    start_returned = time.perf_counter() - began
    scheduled = wait_until(lambda: len(cw.engine.scheduled_task_ids()) >= n, timeout=600)
    startup = time.perf_counter() - began
    gc.collect()
    rss_after = rss_bytes()
    next_fires_ms = median_ms(cw.engine.next_fire_times, repeat=3)
    kept = lease_kept(cw)
    close_s = round(timed(cw.close), 3) if kept else None
    return {
        "n": n,
        "all_scheduled": scheduled,
        "leader_after_start": kept,
        "start_returned_s": round(start_returned, 3),
        "startup_s": round(startup, 3),
        "scheduled_per_s": round(n / startup, 1),
        "rss_per_task_b": round((rss_after - rss_before) / n),
        "rss_after_start_mb": round(rss_after / 2**20, 1),
        "peak_rss_mb": round(peak_rss_bytes() / 2**20, 1),
        "next_fire_times_ms": next_fires_ms,
        "close_s": close_s,
    }


def cronwell_api(n: int, url: str) -> Figures:
    """Create N tasks over HTTP, one POST each; and in one request if a bulk endpoint
    exists (a POST route whose path says bulk, batch or import)."""
    import httpx

    from cronwell import Cronwell
    from cronwell.api.app import create_app
    from cronwell.api.server import ApiServer
    from cronwell.settings import Settings

    # the API creates Python tasks only for the functions its allow-list names
    allowed = [STAMP.split(":")[0]]
    cw = Cronwell(settings=Settings(database_url=url, timezone="UTC", api_functions=allowed))
    cw.service  # noqa: B018 - migrations before measuring
    bulk = _bulk_route(create_app(cw))
    server = ApiServer(cw, "127.0.0.1", 0)
    base = server.start()
    per_task: list[float] = []
    figures: Figures = {"n": n, "bulk_endpoint": bulk}
    with httpx.Client(base_url=base, timeout=60) as client:
        began = time.perf_counter()
        for i in range(n):
            sent = time.perf_counter()
            response = client.post("/api/v1/tasks", json=task_json(i))
            per_task.append(time.perf_counter() - sent)
            if response.status_code != 201:
                figures["error"] = f"POST answered {response.status_code}: {response.text[:200]}"
                break
        total = time.perf_counter() - began
        per_task.sort()
        figures |= {
            "post_tasks_per_s": round(len(per_task) / total, 1),
            "post_p50_ms": round(1000 * per_task[len(per_task) // 2], 2),
            "post_p99_ms": round(1000 * per_task[int(len(per_task) * 0.99)], 2),
            "list_page_ms": median_ms(lambda: client.get("/api/v1/tasks?limit=50&offset=0")),
        }
        if bulk is not None:
            figures |= _post_bulk(client, bulk, n)
    server.stop()
    cw.close()
    return figures


def _bulk_route(app: Any) -> str | None:
    for route in app.routes:
        path = getattr(route, "path", "")
        if "POST" in getattr(route, "methods", ()) and any(
            word in path for word in ("bulk", "batch", "import")
        ):
            return str(path)
    return None


def _post_bulk(client: Any, path: str, n: int) -> Figures:
    """One request with N more tasks; the body shape is not known in advance, so a list
    and ``{"tasks": [...]}`` are tried."""
    items = [task_json(i) for i in range(n, 2 * n)]
    for body in (items, {"tasks": items}):
        began = time.perf_counter()
        response = client.post(path, json=body)
        elapsed = time.perf_counter() - began
        if response.status_code < 300:
            return {"bulk_s": round(elapsed, 3), "bulk_tasks_per_s": round(n / elapsed, 1)}
    return {"bulk_error": f"{response.status_code}: {response.text[:200]}"}


def apscheduler_memory(n: int) -> Figures:
    """Add N cron jobs to a paused scheduler on a ``MemoryJobStore``; time, RSS per job,
    ``get_jobs()``."""
    from apscheduler.triggers.cron import CronTrigger

    sched = aps.scheduler()
    sched.start(paused=True)
    gc.collect()
    rss_before = rss_bytes()

    def add_all() -> None:
        for i in range(n):
            hour, minute = _when(i)
            trigger = CronTrigger(hour=hour, minute=minute, timezone=UTC)
            sched.add_job(stamp, trigger, id=f"scale-{i:07d}", name=f"Report for customer {i}")

    add_s = timed(add_all)
    gc.collect()
    rss_after = rss_bytes()
    figures = _listing(sched)
    sched.shutdown()
    return {
        "n": n,
        "add_jobs_s": round(add_s, 3),
        "jobs_per_s": round(n / add_s, 1),
        "rss_per_task_b": round((rss_after - rss_before) / n),
        **figures,
    }


def apscheduler_sqlalchemy_create(n: int, url: str) -> Figures:
    """Add N cron jobs to a ``SQLAlchemyJobStore`` (one transaction per job)."""
    from apscheduler.triggers.cron import CronTrigger

    sched = aps.scheduler(url)
    sched.start(paused=True)

    def add_all() -> None:
        for i in range(n):
            hour, minute = _when(i)
            trigger = CronTrigger(hour=hour, minute=minute, timezone=UTC)
            sched.add_job(STAMP, trigger, id=f"scale-{i:07d}", name=f"Report for customer {i}")

    add_s = timed(add_all)
    sched.shutdown()
    return {"n": n, "add_jobs_s": round(add_s, 3), "jobs_per_s": round(n / add_s, 1)}


def apscheduler_sqlalchemy_start(n: int, url: str) -> Figures:
    """Start a scheduler on a ``SQLAlchemyJobStore`` holding N jobs; ``get_jobs()`` loads
    (unpickles) them all."""
    sched = aps.scheduler(url)
    gc.collect()
    rss_before = rss_bytes()
    start_s = timed(sched.start)
    figures = _listing(sched)
    gc.collect()
    rss_after = rss_bytes()
    sched.shutdown()
    return {
        "n": n,
        "startup_s": round(start_s, 3),
        "scheduled_per_s": round(n / start_s, 1),
        "rss_per_task_b": round((rss_after - rss_before) / n),
        **figures,
    }


def _listing(sched: Any) -> Figures:
    """APScheduler lists every job at once (no paging, no search): ``get_jobs()``, and a
    search as ``get_jobs()`` filtered by name."""
    return {
        "jobs_found": len(sched.get_jobs()),
        "get_jobs_ms": median_ms(sched.get_jobs, repeat=3),
        "search_ms": median_ms(
            lambda: [j for j in sched.get_jobs() if "customer 4242" in j.name], repeat=3
        ),
    }
