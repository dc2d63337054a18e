"""The API's bodies, typed for the OpenAPI document: what each endpoint takes and answers,
with examples. Tasks, runs and statistics are the domain models themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from cronwell.domain.run import Run, RunStatus
from cronwell.domain.schedule import Preview
from cronwell.domain.task import Task

TASK_EXAMPLE: dict[str, Any] = {
    "id": "nightly-report",
    "name": "Nightly report",
    "schedule": {"kind": "cron", "cron": "0 2 * * *"},
    "action": {"kind": "python", "func": "reports.jobs:nightly"},
    "timezone": "Europe/Paris",
    "tags": ["reports"],
    "timeout": "10m",
    "retries": 2,
    "alerts": ["ops"],
}


class ErrorDetail(BaseModel):
    type: str = Field(description="The error's class, e.g. TaskNotFoundError.")
    message: str = Field(description="A sentence saying what is wrong and how to fix it.")


class ErrorBody(BaseModel):
    """The one shape of every error answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"type": "TaskNotFoundError", "message": "No task with id 'nope'."}}
            ]
        }
    )

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"ready": True, "problems": []},
                {"ready": False, "problems": ["the engine is not running"]},
            ]
        }
    )

    ready: bool
    problems: list[str] = Field(description="Why the service is not ready; empty when it is.")


class TaskPage(BaseModel):
    """A page of tasks ordered by id; ``total`` counts every match."""

    items: list[Task]
    total: int
    limit: int
    offset: int


class RunPage(BaseModel):
    """A page of runs, newest first."""

    items: list[Run]
    limit: int
    offset: int


class RunQueued(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"run_id": 4211, "status": "pending"}]}
    )

    run_id: int
    status: RunStatus


class BulkCreated(BaseModel):
    created: int = Field(description="How many tasks were stored (all of them, or none).")


class PreviewOut(BaseModel):
    """A schedule's next fire times in its zone; ``dst_adjusted`` lists the indexes of the
    times a DST change moved."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "expression": "0 8 * * 1-5",
                    "description": "At 08:00 on Monday through Friday",
                    "timezone": "Europe/Paris",
                    "times": ["2026-11-23T08:00:00+01:00", "2026-11-24T08:00:00+01:00"],
                    "dst_adjusted": [],
                }
            ]
        }
    )

    expression: str
    description: str
    timezone: str
    times: list[datetime]
    dst_adjusted: list[int]

    @classmethod
    def of(cls, preview: Preview) -> PreviewOut:
        return cls(
            expression=preview.expression,
            description=preview.description,
            timezone=preview.timezone,
            times=preview.times,
            dst_adjusted=preview.dst_adjusted,
        )


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes an endpoint may answer besides those every
    endpoint under ``/api`` may: 401 (token), 422 (request) and 503 (database)."""
    described = {
        401: "No valid bearer token.",
        403: "Not allowed by the service's settings.",
        404: "No such task or run.",
        409: "The task exists, or changed since it was read.",
        422: "The request is not valid; the message says what to change.",
        503: "The database does not answer.",
    }
    return {
        code: {"model": ErrorBody, "description": described[code]}
        for code in sorted({401, 422, 503, *codes})
    }
