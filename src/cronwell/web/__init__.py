"""The web dashboard, served by ``cronwell serve`` at ``/`` on the API's port.

Pages are rendered on the server from Jinja2 templates, through the same service layer as
the API; htmx (vendored in ``static/``, as is the one CSS file) only improves them, and
every page reads with JavaScript off. ``/docs`` serves Swagger UI from files shipped in a
package, not from a CDN. :func:`install` adds all of it to the API's FastAPI app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from cronwell.runtime import Cronwell
from cronwell.web import actions, pages
from cronwell.web.context import Dashboard, redirect, root_of, route_path
from cronwell.web.render import STATIC, render
from cronwell.web.security import COOKIE, HEADERS, Session

# the paths of the dashboard's pages: a session (and a sign-in when a token is set)
_PAGES = ("/tasks", "/runs", "/alerts", "/login", "/logout")


def is_page(path: str) -> bool:
    return path == "/" or any(path == p or path.startswith(p + "/") for p in _PAGES)


def install(app: FastAPI, cw: Cronwell) -> None:
    """Serve the dashboard of ``cw``, its static files and offline ``/docs`` from ``app``
    (built with ``docs_url=None``), and send the security headers on every answer."""
    dash = Dashboard(cw)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    swagger = _swagger_files()
    if swagger is not None:
        app.mount("/docs/assets", StaticFiles(directory=swagger), name="docs-assets")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI from the package's files; its start-up script is a file too, so the
        page keeps to the content security policy."""
        html = render(
            "docs.html", root=root_of(request), openapi_url=app.openapi_url, found=swagger
        )
        return HTMLResponse(html)

    @app.middleware("http")
    async def sessions(request: Request, call_next: Any) -> Any:
        """The dashboard's pages get the visitor's session (a new one for a first visit);
        with a token set, a visitor who has not signed in is sent to the sign-in page."""
        path = route_path(request)
        if not is_page(path):
            return await call_next(request)
        session = dash.sessions.load(request.cookies.get(COOKIE))
        fresh = session is None
        if session is None:
            session = Session.new()
        request.state.session = session
        response: Response
        if dash.token and not session.signed_in and path != "/login":
            if request.method in ("GET", "HEAD"):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect(request, "/login", next=target)
            else:
                response = dash.error(request, None, 401, "Sign in first: /login.")
        else:
            response = await call_next(request)
        if fresh and not getattr(request.state, "session_set", False):
            dash.set_cookie(request, response, session)
        return response

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    pages.install(app, dash)
    actions.install(app, dash)


def _swagger_files() -> Path | None:
    """Swagger UI's script and stylesheet, from the ``fastapi-offline`` package."""
    try:
        import fastapi_offline
    except ImportError:  # pragma: no cover - a dependency of cronwell
        return None
    folder = Path(fastapi_offline.__file__).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


__all__ = ["install", "is_page"]
