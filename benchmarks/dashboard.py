"""**dashboard** — the dashboard's tasks page with N tasks stored: the time the server takes
to render a page of 50 (request to last byte, through the ASGI app in process, no network),
for each order and filter, median of 5, in ms. The target is 50 ms with 100,000 tasks on
both backends.

One child process per backend stores N tasks (those of the scale scenario: daily at a time
two to twenty-two hours away, twenty tags), marks a few failing, starts a leader (the tasks
page sorts by next fire from the leader's schedule) and then asks for the pages. On
PostgreSQL it first runs ``VACUUM ANALYZE`` on the tasks table, as autovacuum does within a
minute of a bulk load: the planner needs the table's statistics, and an index-only scan
its visibility map. There is no APScheduler counterpart: it has no dashboard.
"""

from __future__ import annotations

from typing import Any

from benchmarks.common import Figures, fresh_database, lease_kept, median_ms, wait_until
from benchmarks.results import CRONWELL, Headline, Result, measure

PAGE = Headline("ms/tasks page of 50", {CRONWELL: "next_first_ms"}, False)
PAGES = {
    "next_first_ms": "/tasks",
    "next_page_100_ms": "/tasks?page=100",
    "status_first_ms": "/tasks?sort=status",
    "id_middle_ms": "/tasks?sort=id&page={middle}",
    "tag_ms": "/tasks?tag=team-3",
    "text_ms": "/tasks?q=customer%204242",
    "failing_ms": "/tasks?state=failing",
    "overview_ms": "/",
}
_FORMATS = {
    "n": "N {:,}",
    "next_first_ms": "by next fire {} ms",
    "next_page_100_ms": "page 100 {} ms",
    "status_first_ms": "by status {} ms",
    "id_middle_ms": "by id, middle page {} ms",
    "tag_ms": "tag {} ms",
    "text_ms": "text {} ms",
    "failing_ms": "failing {} ms",
    "overview_ms": "overview {} ms",
}


def run(n: int, backends: list[str]) -> list[Result]:
    results = []
    for backend in backends:
        with fresh_database(backend) as url:
            results.append(
                measure(
                    f"dashboard tasks page {n:,}",
                    backend,
                    CRONWELL,
                    "benchmarks.dashboard:cronwell_pages",
                    PAGE,
                    _summary,
                    n=n,
                    url=url,
                )
            )
    return results


def _summary(figures: Figures) -> str:
    return ", ".join(_FORMATS[k].format(figures[k]) for k in _FORMATS if k in figures)


def cronwell_pages(n: int, url: str) -> Figures:
    """Store N tasks, lead, then time each tasks page (and the overview) over HTTP."""
    from fastapi.testclient import TestClient

    from benchmarks.scale import task_json
    from cronwell import Cronwell, Task
    from cronwell.api import create_app

    cw = Cronwell(url, timezone="UTC", instance_id="bench-dashboard")
    cw.add_tasks([Task.model_validate(task_json(i)) for i in range(n)])
    for i in range(0, n, max(1, n // 20)):  # a few failing tasks for the status order
        for _ in range(1 + i % 3):
            cw.store.record_occurrence_result(task_json(i)["id"], failed=True)
    if url.startswith("postgresql"):
        _vacuum_analyze(url)
    cw.start()
    figures: dict[str, Any] = {"n": n}
    try:
        if not wait_until(lambda: len(cw.engine.scheduled_task_ids()) >= n, timeout=600):
            return {"n": n, "error": "the leader did not schedule every task"}
        figures["leader"] = lease_kept(cw)
        with TestClient(create_app(cw)) as client:
            for name, path in PAGES.items():
                target = path.format(middle=max(1, n // 100))

                def get(target: str = target) -> None:
                    response = client.get(target)
                    assert response.status_code == 200, (target, response.status_code)

                get()  # the first request builds what later ones reuse (templates)
                figures[name] = median_ms(get)
    finally:
        cw.close()
    return figures


def _vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cronwell_tasks")
