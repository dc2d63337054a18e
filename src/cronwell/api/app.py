"""The FastAPI app: health, tasks, runs, previews and scheduler status under ``/api/v1``.

Built by :func:`create_app` around one :class:`~cronwell.runtime.Cronwell` (no import-time
globals). Blocking store calls run in FastAPI's thread pool (plain ``def`` endpoints).
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from cronwell.api import errors
from cronwell.domain.run import RunStatus
from cronwell.domain.schedule import cron
from cronwell.domain.task import STATE_FIELDS
from cronwell.domain.timezones import canonical_timezone
from cronwell.errors import ForbiddenError, InvalidInputError, TaskExistsError
from cronwell.notify.redact import public_task
from cronwell.runtime import Cronwell

API = "/api/v1"
log = logging.getLogger(__name__)


def create_app(cw: Cronwell) -> FastAPI:
    """An app serving ``cw``'s tasks and runs."""
    app = FastAPI(
        title="cronwell",
        version="0.1.0",
        description="Tasks, runs and the scheduler's state.",
    )
    errors.install(app)
    token = cw.settings.api_token

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        """Every endpoint under /api needs ``Authorization: Bearer <CRONWELL_API_TOKEN>``
        when a token is set; compared in constant time, never logged."""
        if token and request.url.path.startswith("/api/"):
            given = request.headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.encode(), token.encode()
            ):
                log.warning(
                    "API request without a valid token",
                    extra={
                        "action": "api_unauthorized",
                        "path": request.url.path,
                        "client": request.client.host if request.client else None,
                    },
                )
                return JSONResponse(
                    errors.error_body(
                        "UnauthorizedError",
                        "This API needs the header 'Authorization: Bearer <token>' with the "
                        "token in CRONWELL_API_TOKEN.",
                    ),
                    401,
                )
        return await call_next(request)

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

    def checked(body: dict[str, Any]) -> dict[str, Any]:
        action = body.get("action")
        if (
            isinstance(action, dict)
            and action.get("kind") == "shell"
            and not cw.settings.allow_shell
        ):
            raise ForbiddenError(
                "Shell tasks run any command, so the API accepts them only when the service "
                "runs with CRONWELL_ALLOW_SHELL=1."
            )
        return body

    @app.post(f"{API}/tasks", tags=["tasks"], status_code=201)
    def create_task(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Create a task from its JSON definition; 409 if the id exists."""
        body = {k: v for k, v in checked(body).items() if k not in STATE_FIELDS}
        task_id = body.get("id")
        if isinstance(task_id, str) and cw.service.find(task_id) is not None:
            raise TaskExistsError(task_id)  # POST creates; PUT replaces
        return public_task(cw.service.save(body))

    @app.put(f"{API}/tasks/{{task_id}}", tags=["tasks"])
    def update_task(task_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Replace a task's definition. Send the ``version`` you read: a task changed since
        by someone else answers 409."""
        body = dict(checked(body))
        if body.setdefault("id", task_id) != task_id:
            raise InvalidInputError(
                f"The body's id {body['id']!r} differs from the URL's {task_id!r}."
            )
        version = body.get("version")
        if not isinstance(version, int):
            raise InvalidInputError("Send the task's current 'version' to update it.")
        cw.service.get(task_id)
        definition = {k: v for k, v in body.items() if k not in STATE_FIELDS}
        return public_task(
            cw.service.save(definition, replace_existing=True, expected_version=version)
        )

    @app.delete(f"{API}/tasks/{{task_id}}", tags=["tasks"], status_code=204)
    def delete_task(task_id: str) -> Response:
        """Delete a task; its run history stays."""
        cw.service.delete(task_id)
        return Response(status_code=204)

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
