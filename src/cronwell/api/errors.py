"""HTTP status codes for cronwell's errors, in one place (DESIGN rule 11), and the one JSON
shape every error answer has: ``{"error": {"type": ..., "message": ...}}``; an invalid tasks
document adds ``problems``, each ``{"file", "line", "task", "message"}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cronwell.errors import (
    ConfigError,
    ConflictError,
    CronwellError,
    DatabaseUnavailableError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    SchedulerStateError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from cronwell.service.declared import DocumentError

_STATUS: tuple[tuple[type[CronwellError], int], ...] = (
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (DatabaseUnavailableError, 503),
    (ConfigError, 500),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (SchedulerStateError, 409),
    (ServiceUnavailableError, 503),
)


def status_code(error: CronwellError) -> int:
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return 500


def error_body(kind: str, message: str) -> dict[str, dict[str, Any]]:
    return {"error": {"type": kind, "message": message}}


def install(app: FastAPI) -> None:
    """Answer every cronwell error, and request validation errors, in the one shape."""

    async def cronwell_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CronwellError)
        body = error_body(type(exc).__name__, str(exc))
        if isinstance(exc, DocumentError):
            body["error"]["problems"] = [problem.as_json() for problem in exc.problems]
        return JSONResponse(body, status_code(exc))

    async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return JSONResponse(error_body("InvalidRequest", problems), 422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        """Starlette's own answers (an unknown path, a method a file does not serve, a body
        that cannot be read) in the one shape; a body that cannot be parsed is a 422, like
        any other invalid request."""
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            return JSONResponse(
                error_body("InvalidRequest", f"body: {exc.detail}; send a JSON document."), 422
            )
        kind, message = "HTTPError", str(exc.detail)
        if exc.status_code == 404:
            kind = "NotFound"
            message = (
                f"Nothing at {request.url.path}: the API is under /api/v1 (see /docs), "
                "the dashboard at /."
            )
        elif exc.status_code == 405:
            kind = "MethodNotAllowed"
            message = f"{request.url.path} does not answer {request.method}."
        return JSONResponse(error_body(kind, message), exc.status_code, headers=exc.headers)

    app.add_exception_handler(CronwellError, cronwell_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
