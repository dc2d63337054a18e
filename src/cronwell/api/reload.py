"""``POST /api/v1/reload``: apply the service's tasks files again (``serve --tasks``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from cronwell.api.schemas import errors
from cronwell.errors import SchedulerStateError
from cronwell.runtime.reload import TasksFiles

PATH = "/api/v1/reload"


class Reloaded(BaseModel):
    """The plan a reload applied: the tasks created (with their definition and next fire
    times), updated (each changed field as ``[old, new]``, secrets masked), deleted, and
    how many were already as declared."""

    files: list[str] = Field(description="The tasks files applied.")
    create: list[dict[str, Any]]
    update: list[dict[str, Any]]
    delete: list[dict[str, Any]]
    unchanged: int


def install(app: FastAPI, files: TasksFiles | None) -> None:
    """Add the reload endpoint; without tasks files it answers 409."""

    @app.post(
        PATH,
        tags=["scheduler"],
        responses={
            **errors(409),
            409: {**errors(409)[409], "description": "The service has no tasks file."},
            422: {
                **errors()[422],
                "description": "The tasks files have problems: nothing changed, the service "
                "goes on with what it had; the message lists every problem, one per line, "
                "as FILE:LINE: task ID: sentence.",
            },
        },
    )
    def reload() -> Reloaded:
        """Apply the service's tasks files (``cronwell serve --tasks FILE``) again, as
        SIGHUP does: in one transaction, the tasks of the files' source are created,
        updated, and deleted when no longer declared; tasks of other sources (the API's,
        the CLI's) are never touched. Files with a problem change nothing (422), are
        logged, and are announced as a ``config_rejected`` alert."""
        if files is None:
            raise SchedulerStateError(
                "This service was started without a tasks file (cronwell serve --tasks "
                "FILE): there is nothing to reload."
            )
        plan = files.apply(reason="api")
        return Reloaded(files=[str(p) for p in files.paths], **plan.as_json())
