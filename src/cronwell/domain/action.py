"""Actions: what a task does. ``python`` calls a function, ``shell`` runs a command,
``http`` sends a request. Each kind has one runner in :mod:`cronwell.runners`."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cronwell.domain.jsonschema import kind_required
from cronwell.domain.masking import mask_url
from cronwell.errors import InvalidInputError

_FUNC_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_<][\w.<>]*")  # matched whole


class _Action(BaseModel):
    # non-finite numbers as the store has always written them (Infinity, NaN), not null
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="constants",
        json_schema_extra=kind_required,
    )

    def summary(self) -> str:
        """A one-line description of what the action does."""
        raise NotImplementedError

    @property
    def cancellable(self) -> bool:
        """Whether a running action can be stopped from outside (a process can be killed,
        a thread cannot): what the ``replace`` overlap policy and shutdowns rely on."""
        raise NotImplementedError


class PythonAction(_Action):
    """Call ``func``: an importable ``"package.module:function"`` reference. Functions
    registered in the running process (``@cw.task`` or ``add_job(callable)``) are found by
    task id first, so closures and lambdas work in the process that registered them."""

    kind: Literal["python"] = "python"
    func: str
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    isolation: Literal["thread", "process"] = Field(
        "thread",
        description="'thread': a worker thread of the scheduler (cooperative timeout); "
        "'process': a child process, killed at the timeout. A process needs an importable "
        "function and JSON arguments.",
    )

    @field_validator("func")
    @classmethod
    def _reference(cls, value: str) -> str:
        if not _FUNC_REF.fullmatch(value):
            raise InvalidInputError(
                f"Python action function {value!r} is not a reference of the form "
                "'package.module:function'."
            )
        return value

    @field_validator("args", "kwargs")
    @classmethod
    def _json(cls, value: Any) -> Any:
        if not value:
            return value  # the usual case, and valid JSON
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"Arguments of a Python action are stored as JSON and must be JSON values: {exc}. "
                "Bind other objects with functools.partial in the registering process instead."
            ) from None
        return value

    def summary(self) -> str:
        return f"python {self.func}" + (" (child process)" if self.isolation == "process" else "")

    @property
    def cancellable(self) -> bool:
        return self.isolation == "process"


class ShellAction(_Action):
    """Run ``command``: a string goes through ``/bin/sh -c``; a list is executed directly.
    The exit code decides success (0) or failure."""

    kind: Literal["shell"] = "shell"
    command: str | list[str]
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        if (isinstance(value, str) and not value.strip()) or (
            isinstance(value, list) and not value
        ):
            raise InvalidInputError("A shell action needs a command.")
        return value

    def summary(self) -> str:
        return "shell " + (
            self.command if isinstance(self.command, str) else " ".join(self.command)
        )

    @property
    def cancellable(self) -> bool:
        return True


class HttpAction(_Action):
    """Send one HTTP request. Success is a response status in ``expect_status`` (any 2xx
    when empty); the status and an excerpt of the body are recorded."""

    kind: Literal["http"] = "http"
    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any | None = Field(default=None, alias="json")
    expect_status: list[int] = Field(default_factory=list)
    timeout: float = Field(30.0, gt=0)

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        ser_json_inf_nan="constants",
        json_schema_extra=kind_required,
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise InvalidInputError(
                f"HTTP action URL {value!r} must start with http:// or https://"
            )
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        method = value.upper()
        if method not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}:
            raise InvalidInputError(f"Unknown HTTP method {value!r}.")
        return method

    def accepts(self, status: int) -> bool:
        return status in self.expect_status if self.expect_status else 200 <= status < 300

    def summary(self) -> str:
        return f"http {self.method} {mask_url(self.url)}"  # shown in tables, alerts

    @property
    def cancellable(self) -> bool:
        return False


Action = Annotated[PythonAction | ShellAction | HttpAction, Field(discriminator="kind")]
