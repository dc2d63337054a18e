"""The dashboard's actions, POST only, each with the session's CSRF token: pause, resume,
run now, delete (after typing the task's id), send a test alert, sign in and out.
``CRONWELL_DASHBOARD_READONLY=1`` refuses every action but signing in and out."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from cronwell.errors import CronwellError
from cronwell.web.context import Dashboard, is_htmx, redirect
from cronwell.web.security import CSRF_FIELD, Session, parse_form, safe_next, token_matches

log = logging.getLogger(__name__)

Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


def install(app: FastAPI, dash: Dashboard) -> None:
    """Add the actions to ``app`` (left out of the OpenAPI document)."""
    cw = dash.cw

    async def checked(request: Request, *, action: bool = True) -> dict[str, str] | Response:
        """The form posted, or the page that refuses it: a missing or wrong CSRF token
        (403), an action in read-only mode (403)."""
        form = parse_form(await request.body())
        if not dash.sessions.csrf_ok(dash.session(request), form.get(CSRF_FIELD)):
            log.warning(
                "dashboard form without a valid CSRF token",
                extra={"action": "dashboard_csrf_refused", "path": request.url.path},
            )
            return dash.error(
                request,
                None,
                403,
                "This form has expired or did not come from this dashboard: reload the "
                "page and try again.",
            )
        if action and dash.readonly:
            return dash.error(
                request,
                None,
                403,
                "This dashboard is read-only (CRONWELL_DASHBOARD_READONLY=1): it changes nothing.",
            )
        return form

    def task_action(name: str, act: Callable[[str], object]) -> None:
        async def handler(request: Request, task_id: str) -> Response:
            form = await checked(request)
            if isinstance(form, Response):
                return form
            try:
                await run_in_threadpool(act, task_id)
            except CronwellError as exc:
                return dash.error(request, exc)
            log.info(
                "dashboard action",
                extra={"action": f"dashboard_{name}", "task_id": task_id},
            )
            if is_htmx(request) and name == "run":
                detail = await run_in_threadpool(dash.service.task_detail, task_id)
                return dash.page(request, "_task_runs.html", d=detail, t=detail.task)
            return redirect(request, f"/tasks/{task_id}")

        app.post(f"/tasks/{{task_id}}/{name}", include_in_schema=False)(handler)

    def run_now(task_id: str) -> None:
        cw.service.authorize(cw.service.get(task_id), doing="run")
        cw.service.queue_run(task_id)

    task_action("pause", cw.service.pause)
    task_action("resume", cw.service.resume)
    task_action("run", run_now)

    @app.post("/tasks/{task_id}/delete", include_in_schema=False)
    async def delete(request: Request, task_id: str) -> Response:
        form = await checked(request)
        if isinstance(form, Response):
            return form
        try:
            task = await run_in_threadpool(cw.service.get, task_id)
            if form.get("confirm", "").strip() != task_id:
                return dash.page(request, "delete.html", 422, t=task, wrong=True)
            await run_in_threadpool(cw.service.delete, task_id)
        except CronwellError as exc:
            return dash.error(request, exc)
        log.info("dashboard action", extra={"action": "dashboard_delete", "task_id": task_id})
        return redirect(request, "/tasks", deleted=task_id)

    @app.post("/alerts/test", include_in_schema=False)
    async def test_alert(request: Request) -> Response:
        form = await checked(request)
        if isinstance(form, Response):
            return form
        channel = form.get("channel", "")
        if channel not in cw.settings.channels:
            return dash.error(request, None, 422, f"No channel named {channel!r} is configured.")
        record = await run_in_threadpool(cw.test_alert, channel)
        records = await run_in_threadpool(lambda: cw.store.list_notifications(limit=200))
        return dash.page(
            request,
            "alerts.html",
            records=records,
            channels=sorted(cw.settings.channels),
            status="",
            task="",
            event="",
            sent=record,
        )

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        if not dash.token or dash.session(request).signed_in:
            return redirect(request, safe_next(next))
        return dash.page(request, "login.html", next=safe_next(next), wrong=False)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await checked(request, action=False)
        if isinstance(form, Response):
            return form
        target = safe_next(form.get("next"))
        if not dash.token:
            return redirect(request, target)
        if not token_matches(form.get("token", ""), dash.token):
            log.warning(
                "dashboard sign-in with a wrong token",
                extra={
                    "action": "dashboard_login_refused",
                    "client": request.client.host if request.client else None,
                },
            )
            return dash.page(request, "login.html", 401, next=target, wrong=True)
        response = redirect(request, target)
        dash.set_cookie(request, response, Session.new(signed_in=True))  # a new id: no fixation
        request.state.session_set = True
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await checked(request, action=False)
        if isinstance(form, Response):
            return form
        response = redirect(request, "/login" if dash.token else "/")
        dash.set_cookie(request, response, None)
        request.state.session_set = True
        return response
