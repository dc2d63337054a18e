"""The FastAPI app: health, tasks, runs, previews and scheduler status under ``/api/v1``.

Built by :func:`create_app` around one :class:`~cronwell.runtime.Cronwell` (no import-time
globals). Blocking store calls run in FastAPI's thread pool (plain ``def`` endpoints).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Body, FastAPI, Path, Query, Request, Response
from fastapi.params import Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from cronwell.api import errors as api_errors
from cronwell.api import openapi
from cronwell.api import reload as api_reload
from cronwell.api.schemas import (
    TASK_EXAMPLE,
    BulkCreated,
    DeclaredTasks,
    Health,
    IsoDateTime,
    PlanOut,
    PreviewOut,
    Readiness,
    RunPage,
    RunQueued,
    TaskPage,
    TaskUpdate,
    errors,
)
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.schedule import CRON_DESCRIPTION, cron
from cronwell.domain.stats import TaskStats
from cronwell.domain.task import Task
from cronwell.domain.timezones import canonical_timezone
from cronwell.errors import InvalidInputError, TaskExistsError
from cronwell.notify.redact import redacted_task
from cronwell.runtime import Cronwell
from cronwell.runtime.metrics import CONTENT_TYPE
from cronwell.runtime.reload import TasksFiles
from cronwell.service.declared import definitions_from_data
from cronwell.service.status import SchedulerStatus
from cronwell.version import __version__
from cronwell.web import install as install_web

API = "/api/v1"
MAX_INT = 2**63 - 1  # the databases' integers
log = logging.getLogger(__name__)


def create_app(
    cw: Cronwell,
    *,
    reload: TasksFiles | None = None,
    dependencies: Sequence[Depends] | None = None,
) -> FastAPI:
    """An app serving ``cw``'s tasks and runs; ``reload``: the tasks files that
    ``POST /api/v1/reload`` applies again; ``dependencies``: FastAPI dependencies every
    route runs first (a host application's own authentication, when mounted in it)."""
    app = FastAPI(
        title="cronwell",
        version=__version__,
        description="Tasks, runs and the scheduler's state.",
        dependencies=dependencies,
        docs_url=None,  # the dashboard serves /docs from local files
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    api_errors.install(app)
    token = cw.settings.api_token
    app.openapi = lambda: openapi.document(app, secured=bool(token))  # type: ignore[method-assign]

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        """Every endpoint under /api needs ``Authorization: Bearer <CRONWELL_API_TOKEN>``
        when a token is set; compared in constant time, never logged. The path is read
        below the mount point, so the check holds where a host application mounts the app."""
        if token and _route_path(request.scope).startswith("/api/"):
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
                    api_errors.error_body(
                        "UnauthorizedError",
                        "This API needs the header 'Authorization: Bearer <token>' with the "
                        "token in CRONWELL_API_TOKEN.",
                    ),
                    401,
                )
        return await call_next(request)

    @app.middleware("http")
    async def methods(request: Request, call_next: Any) -> Any:
        """``OPTIONS`` on a known path answers 204 with ``Allow`` (no CORS: browsers on
        other origins get no grant); a method the path does not serve answers 405 with
        ``Allow`` listing every method of the path, in the one error shape."""
        allowed = _methods_of(app, request.scope)
        if not allowed or request.method in allowed:
            return await call_next(request)
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return JSONResponse(
            api_errors.error_body(
                "MethodNotAllowed",
                f"{request.url.path} answers {allow}, not {request.method}.",
            ),
            405,
            headers={"Allow": allow},
        )

    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        """The process answers."""
        return Health()

    @app.get(
        "/readyz", tags=["health"], response_model=Readiness, responses={503: {"model": Readiness}}
    )
    def readyz() -> JSONResponse:
        """Ready when the database answers, its migrations are current, and the engine runs
        (scheduling or standing by); otherwise 503 with the reasons."""
        problems: list[str] = []
        try:
            cw.store.check()
            if not cw.store.is_current():
                problems.append("database migrations are not current; run cronwell db upgrade")
        except Exception as exc:
            problems.append(str(exc))
        if not cw.running:
            problems.append("the engine is not running")
        body = Readiness(ready=not problems, problems=problems)
        return JSONResponse(body.model_dump(), 200 if not problems else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text."}},
    )
    def metrics() -> Response:
        """Runs by task and status, run duration and lateness histograms, tasks by state,
        alerts sent and failed, leader gauge: Prometheus's text format."""
        return Response(cw.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get(f"{API}/status", tags=["scheduler"], responses=errors())
    def status() -> SchedulerStatus:
        """Running, this instance, leader or standby, version, uptime, next fires."""
        return cw.status()

    @app.get(f"{API}/tasks", tags=["tasks"], responses=errors())
    def list_tasks(
        tag: str | None = None,
        enabled: Annotated[bool | None, Query(description="false lists paused tasks.")] = None,
        q: Annotated[str | None, Query(description="Text in the id or name.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    ) -> TaskPage:
        """Tasks ordered by id, a page at a time."""
        items = cw.service.list_tasks(tag=tag, enabled=enabled, text=q, limit=limit, offset=offset)
        total = cw.store.count_tasks(tag=tag, enabled=enabled, text=q)
        return TaskPage(
            items=[redacted_task(t) for t in items], total=total, limit=limit, offset=offset
        )

    @app.get(f"{API}/tasks/{{task_id}}", tags=["tasks"], responses=errors(404))
    def get_task(task_id: str) -> Task:
        return redacted_task(cw.service.get(task_id))

    @app.post(
        f"{API}/tasks",
        tags=["tasks"],
        status_code=201,
        responses={**errors(403, 409), 201: _LOCATION},
    )
    def create_task(
        task: Annotated[Task, Body(openapi_examples=_TASK_EXAMPLES)], response: Response
    ) -> Task:
        """Create a task from its definition; 409 if the id exists. State fields
        (``version``, ``created_at``...) are cronwell's and ignored here. ``Location``
        gives the new task's URL."""
        if cw.service.find(cw.service.authorize(task).id) is not None:
            raise TaskExistsError(task.id)  # POST creates; PUT replaces
        saved = redacted_task(cw.service.save(task, source="api"))
        response.headers["Location"] = f"{API}/tasks/{quote(saved.id)}"
        return saved

    @app.post(
        f"{API}/tasks/bulk",
        tags=["tasks"],
        status_code=201,
        responses={**errors(403, 409), 201: _LOCATION},
    )
    def create_tasks(tasks: list[Task], response: Response) -> BulkCreated:
        """Create many tasks in one transaction: all of them, or none when one is invalid
        or its id is taken. ``Location`` is the tasks listing."""
        checked = [cw.service.authorize(t) for t in tasks]  # every one before any import
        created = BulkCreated(created=cw.service.create_many(checked, source="api"))
        response.headers["Location"] = f"{API}/tasks"
        return created

    @app.put(f"{API}/tasks/{{task_id}}", tags=["tasks"], responses=errors(403, 404, 409))
    def update_task(
        task_id: str, body: Annotated[TaskUpdate, Body(openapi_examples=_UPDATE_EXAMPLES)]
    ) -> Task:
        """Replace a task's definition. Send the ``version`` you read: a task changed since
        by someone else answers 409. Masked secrets (``***``) sent back keep their stored
        values."""
        task = body.as_task()
        if cw.service.authorize(task, doing="update").id != task_id:
            raise InvalidInputError(
                f"The body's id {task.id!r} differs from the URL's {task_id!r}."
            )
        cw.service.get(task_id)
        saved = cw.service.save(task, replace_existing=True, expected_version=task.version)
        return redacted_task(saved)

    @app.delete(
        f"{API}/tasks/{{task_id}}",
        tags=["tasks"],
        status_code=204,
        response_class=Response,
        responses=errors(404),
    )
    def delete_task(task_id: str) -> Response:
        """Delete a task; its run history stays."""
        cw.service.delete(task_id)
        return Response(status_code=204)

    @app.get(f"{API}/tasks/{{task_id}}/stats", tags=["tasks"], responses=errors(404))
    def task_stats(task_id: str) -> TaskStats:
        """Runs, failures, success rate, average and p95 duration, last success and failure."""
        return cw.service.stats(task_id)

    @app.get(f"{API}/tasks/{{task_id}}/preview", tags=["tasks"], responses=errors(404))
    def task_preview(task_id: str, n: Annotated[int, Query(ge=1, le=1000)] = 5) -> PreviewOut:
        """The task's next ``n`` fire times in its zone."""
        return PreviewOut.of(cw.service.preview(task_id, n))

    @app.post(f"{API}/tasks/{{task_id}}/pause", tags=["tasks"], responses=errors(404))
    def pause(task_id: str) -> Task:
        return redacted_task(cw.service.pause(task_id))

    @app.post(f"{API}/tasks/{{task_id}}/resume", tags=["tasks"], responses=errors(404))
    def resume(
        task_id: str,
        catch_up: Annotated[
            bool, Query(description="Run what the pause skipped, per the catch-up policy.")
        ] = False,
    ) -> Task:
        return redacted_task(cw.service.resume(task_id, catch_up=catch_up))

    @app.post(
        f"{API}/tasks/{{task_id}}/run",
        tags=["tasks"],
        status_code=202,
        responses={**errors(403, 404), 202: _LOCATION},
    )
    def run_task(task_id: str, response: Response) -> RunQueued:
        """Queue a run for the scheduling instance; returns its id. A task whose action the
        API could not create (a shell command without CRONWELL_ALLOW_SHELL, a function
        outside the registered ones and CRONWELL_API_FUNCTIONS) answers 403: it keeps
        running on its schedule, but the API does not start it."""
        cw.service.authorize(cw.service.get(task_id), doing="run")
        run = cw.service.queue_run(task_id)
        response.headers["Location"] = f"{API}/runs/{run.id}"
        return RunQueued(run_id=run.id, status=run.status)

    @app.get(f"{API}/preview", tags=["schedules"], responses=errors())
    def preview(
        expression: Annotated[
            str, Query(description=CRON_DESCRIPTION, examples=["0 8 * * 1-5"], min_length=1)
        ],
        timezone: Annotated[str, Query(examples=["Europe/Paris"])] = "UTC",
        n: Annotated[int, Query(ge=1, le=1000)] = 5,
        after: Annotated[
            IsoDateTime | None, Query(description="Fire times after this instant; now if unset.")
        ] = None,
    ) -> PreviewOut:
        """A crontab expression in words and its next fire times (no task needed)."""
        return PreviewOut.of(cron(expression).preview(n, after, canonical_timezone(timezone)))

    def declared(body: DeclaredTasks, *, apply: bool) -> PlanOut:
        definitions, problems = definitions_from_data(body.tasks)
        run = cw.service.apply if apply else cw.service.plan
        plan = run(
            definitions, source=body.source, prune=body.prune, authorize=True, problems=problems
        )
        return PlanOut(**plan.as_json())

    @app.post(f"{API}/plan", tags=["tasks as code"], responses=errors(403))
    def plan(body: DeclaredTasks) -> PlanOut:
        """What applying these declared tasks would change; writes nothing. Checked as
        ``POST /apply`` checks them: the same answer, the same errors (422 listing every
        problem, 403 for an action the API may not create)."""
        return declared(body, apply=False)

    @app.post(f"{API}/apply", tags=["tasks as code"], responses=errors(403, 409))
    def apply(body: DeclaredTasks) -> PlanOut:
        """Make the database hold these declared tasks, in one transaction: create,
        update, and with ``prune`` delete the tasks of ``source`` not declared. All or
        nothing; applying the same document again changes nothing. Each task's action
        must be one the API may create (CRONWELL_ALLOW_SHELL, CRONWELL_API_FUNCTIONS),
        or nothing is stored (403)."""
        return declared(body, apply=True)

    @app.get(f"{API}/runs", tags=["runs"], responses=errors())
    def list_runs(
        task_id: str | None = None,
        status: RunStatus | None = None,
        since: Annotated[
            IsoDateTime | None, Query(description="Scheduled at or after (ISO 8601 date-time).")
        ] = None,
        until: Annotated[
            IsoDateTime | None, Query(description="Scheduled before (ISO 8601 date-time).")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    ) -> RunPage:
        """Runs, newest first."""
        runs = cw.service.list_runs(
            task_id=task_id, status=status, since=since, until=until, limit=limit, offset=offset
        )
        total = cw.store.count_runs(task_id=task_id, status=status, since=since, until=until)
        return RunPage(items=runs, total=total, limit=limit, offset=offset)

    @app.get(f"{API}/runs/{{run_id}}", tags=["runs"], responses=errors(404))
    def get_run(run_id: Annotated[int, Path(ge=1, le=MAX_INT)]) -> Run:
        """One run with its error, traceback and the tail of its output."""
        return cw.service.get_run(run_id)

    api_reload.install(app, reload)
    install_web(app, cw)  # the dashboard at /, its static files and /docs
    return app


def _route_path(scope: Scope) -> str:
    """The request's path below the app's mount point (``root_path``), as routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _methods_of(app: FastAPI, scope: Scope) -> set[str]:
    """The methods the routes matching ``scope``'s path serve (empty: an unknown path).
    A path without parameters wins over a template that also matches it: ``/tasks/bulk``
    is the bulk endpoint for every method, not the task named ``bulk``."""
    static: set[str] = set()
    templated: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, BaseRoute):
            match, _ = route.matches({**scope, "method": "GET"})
            if match is not Match.NONE:
                methods = getattr(route, "methods", None) or set()
                path = getattr(route, "path", "")
                (templated if "{" in path else static).update(methods)
    return static or templated


_LOCATION = {
    "headers": {
        "Location": {"description": "The URL of what was made.", "schema": {"type": "string"}}
    }
}
_TASK_EXAMPLES = {"nightly": {"summary": "A nightly Python job", "value": TASK_EXAMPLE}}
_UPDATE_EXAMPLES = {
    "nightly": {
        "summary": "Move the nightly job to 03:00",
        "value": {
            **TASK_EXAMPLE,
            "schedule": {"kind": "cron", "cron": "0 3 * * *"},
            "version": 1,
        },
    }
}
