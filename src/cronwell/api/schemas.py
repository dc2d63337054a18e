"""The API's bodies, typed for the OpenAPI document: what each endpoint takes and answers,
with examples. Tasks, runs and statistics are the domain models themselves."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

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


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    """pydantic reads a number as seconds since 1970; a query parameter documented as an
    ISO 8601 date-time must be one."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(
            f"{value!r} is not a date-time: give an ISO 8601 date-time with its offset, such "
            "as 2026-11-23T08:00:00Z"
        )
    return value


#: A date-time query parameter: ISO 8601 with an offset (RFC 3339), not a number, not naive.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_not_a_number)]


class TaskUpdate(Task):
    """A task's new definition for ``PUT``: a task as created, plus the ``version`` read."""

    version: int = Field(
        description="The version you read; if the task changed since, the answer is 409."
    )

    def as_task(self) -> Task:
        """The plain :class:`Task`, with the same fields marked as given."""
        return Task.model_construct(_fields_set=set(self.model_fields_set), **dict(self))


class Problem(BaseModel):
    """One problem of a tasks document."""

    file: str | None = Field(description="The file, when the document is one.")
    line: int | None = Field(description="The line in the file, when the parser tells it.")
    task: str | None = Field(description="The task's id, or #N for the N-th task.")
    message: str


class ErrorDetail(BaseModel):
    type: str = Field(description="The error's class, e.g. TaskNotFoundError.")
    message: str = Field(description="A sentence saying what is wrong and how to fix it.")
    problems: list[Problem] | None = Field(
        None, description="For a tasks document with problems (DocumentError): every one."
    )


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
    """A page of runs, newest first; ``total``: the runs that match, on every page."""

    items: list[Run]
    total: int
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


class DeclaredTasks(BaseModel):
    """A tasks document for ``POST /plan`` and ``POST /apply``: the task definitions (as
    in a tasks file, shorthands such as ``cron`` and ``every`` included), the ``source``
    they are labelled with, and whether to ``prune`` the tasks of that source that are
    not declared."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # as the schema says: prune is a boolean, not 0 or "yes"
        json_schema_extra={
            "examples": [
                {
                    "tasks": [
                        {
                            "id": "nightly-report",
                            "cron": "0 2 * * *",
                            "action": {"kind": "http", "url": "https://example.com/report"},
                            "timezone": "Europe/Paris",
                        }
                    ],
                    "source": "reports",
                    "prune": True,
                }
            ]
        },
    )

    tasks: list[dict[str, Any]] = Field(
        description="Task definitions, as in a tasks document (see `cronwell schema`)."
    )
    source: str = Field(
        "api", min_length=1, max_length=200, description="Label of the declared tasks."
    )
    prune: bool = Field(False, description="Delete the tasks of this source that are not declared.")


class PlanOut(BaseModel):
    """What an apply changes (or changed): tasks created (with their definition and next
    fire times), updated (each changed field as ``[old, new]``, secrets masked), deleted,
    and how many were already as declared."""

    create: list[dict[str, Any]]
    update: list[dict[str, Any]]
    delete: list[dict[str, Any]]
    unchanged: int


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
        422: "The request is not valid (a field, a parameter, or a body that is not JSON); "
        "the message says what to change.",
        503: "The database does not answer.",
    }
    return {
        code: {"model": ErrorBody, "description": described[code]}
        for code in sorted({401, 422, 503, *codes})
    }
