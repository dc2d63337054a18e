"""The OpenAPI document's finishing touches: readable operation ids, and the bearer scheme
that ``/docs`` offers to authorize with when the API needs a token."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

# endpoint function names that read poorly as operation ids
_RENAMED = {
    "status": "get_status",
    "create_tasks": "create_tasks_bulk",
    "task_stats": "get_task_stats",
    "task_preview": "preview_task",
    "pause": "pause_task",
    "resume": "resume_task",
    "preview": "preview_expression",
    "plan": "plan_tasks",
    "apply": "apply_tasks",
    "reload": "reload_tasks_files",
}
BEARER = "bearerToken"


def operation_id(route: APIRoute) -> str:
    """``list_tasks``, ``get_run``, ``pause_task``… instead of
    ``list_tasks_api_v1_tasks_get``."""
    return _RENAMED.get(route.name, route.name)


def document(app: FastAPI, *, secured: bool) -> dict[str, Any]:
    """The app's OpenAPI document, built once. With ``secured`` (a token is set), every
    operation under ``/api`` requires the bearer scheme (their 401 is declared already)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    if secured:
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[BEARER] = {
            "type": "http",
            "scheme": "bearer",
            "description": "The service's CRONWELL_API_TOKEN.",
        }
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            for operation in operations.values():
                operation["security"] = [{BEARER: []}]
    app.openapi_schema = schema
    return schema
