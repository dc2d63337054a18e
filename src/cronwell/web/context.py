"""What every dashboard handler shares: the Cronwell it shows, its sessions, and the
rendering of a page or fragment with the values every template uses."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cronwell.api.errors import status_code
from cronwell.errors import CronwellError
from cronwell.runtime import Cronwell
from cronwell.service.dashboard import DashboardService
from cronwell.service.status import SchedulerStatus, scheduler_status
from cronwell.version import __version__
from cronwell.web.render import render
from cronwell.web.security import COOKIE, SESSION_AGE, Session, Sessions

log = logging.getLogger(__name__)


class Dashboard:
    """The dashboard of one :class:`Cronwell`."""

    def __init__(self, cw: Cronwell) -> None:
        self.cw = cw
        self.token = cw.settings.api_token
        self.readonly = cw.settings.dashboard_readonly
        self.sessions = Sessions(self.token)
        self._service: DashboardService | None = None

    @property
    def service(self) -> DashboardService:
        if self._service is None:
            cw = self.cw
            self._service = DashboardService(
                cw.store, cw.clock, cw.engine, cw.service, self._status
            )
        return self._service

    def _status(self) -> SchedulerStatus:
        """Who schedules, as ``cw.status()`` says it but without each task's next fire
        (the overview lists the soonest ones from the engine's heap)."""
        cw, engine = self.cw, self.cw.engine
        return scheduler_status(
            cw.store,
            cw.clock.now(),
            {},
            instance_id=cw.settings.instance_id,
            running=cw.running,
            is_leader=engine.is_leader,
            started_at=engine.started_at,
        )

    def session(self, request: Request) -> Session:
        session: Session = request.state.session
        return session

    def page(
        self, request: Request, template: str, code: int = 200, **context: Any
    ) -> HTMLResponse:
        session = self.session(request)
        html = render(
            template,
            request=request,
            root=root_of(request),
            path=route_path(request),
            csrf=self.sessions.csrf(session),
            readonly=self.readonly,
            token_required=bool(self.token),
            signed_in=session.signed_in,
            version=__version__,
            instance=self.cw.settings.instance_id,
            now=self.cw.clock.now(),
            **context,
        )
        return HTMLResponse(html, code, headers={"Cache-Control": "no-store"})

    def error(
        self, request: Request, exc: CronwellError | None, status: int = 0, message: str = ""
    ) -> HTMLResponse:
        code = status or (status_code(exc) if exc is not None else 500)
        title = type(exc).__name__ if exc is not None else "Error"
        return self.page(
            request, "error.html", code, title=title, message=message or str(exc), status=code
        )

    def set_cookie(self, request: Request, response: Response, session: Session | None) -> None:
        if session is None:
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
            return
        response.set_cookie(
            COOKIE,
            self.sessions.dump(session),
            max_age=SESSION_AGE,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def redirect(request: Request, path: str, **query: Any) -> RedirectResponse:
    """A 303 to the dashboard's ``path`` (after a form's POST: the browser GETs the page
    again), under the prefix the dashboard is mounted at."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    target = root_of(request) + path + ("?" + urlencode(given) if given else "")
    return RedirectResponse(target, 303)


def root_of(request: Request) -> str:
    """The prefix the dashboard is served under: ``""`` at the root of ``cronwell serve``,
    ``"/scheduler"`` when its app is mounted there. Every link and redirect starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def route_path(request: Request) -> str:
    """The request's path below :func:`root_of` (``/tasks/x`` for ``/scheduler/tasks/x``)."""
    path = request.url.path
    root = root_of(request)
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
