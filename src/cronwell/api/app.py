"""The FastAPI app: health, tasks, runs, previews and scheduler status under ``/api/v1``.

Built by :func:`create_app` around one :class:`~cronwell.runtime.Cronwell` (no import-time
globals). Blocking store calls run in FastAPI's thread pool (plain ``def`` endpoints).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse

from cronwell.api import errors
from cronwell.domain.run import RunStatus
from cronwell.domain.schedule import cron
from cronwell.domain.timezones import canonical_timezone
from cronwell.notify.redact import public_task
from cronwell.runtime import Cronwell

API = "/api/v1"


def create_app(cw: Cronwell) -> FastAPI:
    """An app serving ``cw``'s tasks and runs."""
    app = FastAPI(
        title="cronwell",
        version="0.1.0",
        description="Tasks, runs and the scheduler's state.",
    )
    errors.install(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready when the database answers, its migrations are current, and the engine runs
        (scheduling or standing by); otherwise 503 with the reason."""
        problems: list[str] = []
        try:
            cw.store.check()
            if not cw.store.is_current():
                problems.append("database migrations are not current; run cronwell db upgrade")
        except Exception as exc:
            problems.append(str(exc))
        if not cw.running:
            problems.append("the engine is not running")
        body: dict[str, Any] = {"ready": not problems, "problems": problems}
        return JSONResponse(body, 200 if not problems else 503)

    @app.get(f"{API}/status", tags=["scheduler"])
    def status() -> dict[str, Any]:
        """Running, this instance, leader or standby, next fires."""
        engine = cw.engine
        next_fires = sorted(
            ((t, when) for t, when in engine.next_fire_times().items() if when),
            key=lambda item: item[1],
        )[:10]
        return {
            "running": cw.running,
            "instance_id": cw.settings.instance_id,
            "role": "leader" if engine.is_leader else "standby" if cw.running else "stopped",
            "leader": engine.leader,
            "version": "0.1.0",
            "started_at": engine.started_at.isoformat() if engine.started_at else None,
            "next_fires": [{"task_id": t, "at": when.isoformat()} for t, when in next_fires],
        }

    @app.get(f"{API}/tasks", tags=["tasks"])
    def list_tasks(
        tag: str | None = None,
        enabled: bool | None = None,
        q: Annotated[str | None, Query(description="Text in the id or name.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Tasks ordered by id, a page at a time."""
        service = cw.service
        items = service.list_tasks(tag=tag, enabled=enabled, text=q, limit=limit, offset=offset)
        total = cw.store.count_tasks(tag=tag, enabled=enabled, text=q)
        return {
            "items": [public_task(t) for t in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @app.get(f"{API}/tasks/{{task_id}}", tags=["tasks"])
    def get_task(task_id: str) -> dict[str, Any]:
        return public_task(cw.service.get(task_id))

    @app.get(f"{API}/tasks/{{task_id}}/stats", tags=["tasks"])
    def task_stats(task_id: str) -> dict[str, Any]:
        return cw.service.stats(task_id).model_dump(mode="json")

    @app.get(f"{API}/tasks/{{task_id}}/preview", tags=["tasks"])
    def task_preview(task_id: str, n: Annotated[int, Query(ge=1, le=1000)] = 5) -> dict[str, Any]:
        return cw.service.preview(task_id, n).as_json()

    @app.post(f"{API}/tasks/{{task_id}}/pause", tags=["tasks"])
    def pause(task_id: str) -> dict[str, Any]:
        return public_task(cw.service.pause(task_id))

    @app.post(f"{API}/tasks/{{task_id}}/resume", tags=["tasks"])
    def resume(task_id: str, catch_up: bool = False) -> dict[str, Any]:
        return public_task(cw.service.resume(task_id, catch_up=catch_up))

    @app.post(f"{API}/tasks/{{task_id}}/run", tags=["tasks"], status_code=202)
    def run_task(task_id: str) -> dict[str, Any]:
        """Queue a run for the scheduling instance; returns its id."""
        run = cw.service.queue_run(task_id)
        return {"run_id": run.id, "status": run.status.value}

    @app.get(f"{API}/preview", tags=["schedules"])
    def preview(
        expression: str,
        timezone: str = "UTC",
        n: Annotated[int, Query(ge=1, le=1000)] = 5,
        after: datetime | None = None,
    ) -> dict[str, Any]:
        """A crontab expression in words and its next fire times (no task needed)."""
        return cron(expression).preview(n, after, canonical_timezone(timezone)).as_json()

    @app.get(f"{API}/runs", tags=["runs"])
    def list_runs(
        task_id: str | None = None,
        status: RunStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Runs, newest first."""
        runs = cw.service.list_runs(
            task_id=task_id, status=status, since=since, until=until, limit=limit, offset=offset
        )
        return {
            "items": [r.model_dump(mode="json") for r in runs],
            "limit": limit,
            "offset": offset,
        }

    @app.get(f"{API}/runs/{{run_id}}", tags=["runs"])
    def get_run(run_id: int) -> dict[str, Any]:
        return cw.service.get_run(run_id).model_dump(mode="json")

    return app
