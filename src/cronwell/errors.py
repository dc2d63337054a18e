"""One error hierarchy for cronwell.

Every error a user can meet derives from :class:`CronwellError` and carries a message a
person can act on. The CLI maps these classes to exit codes in one place
(``cronwell.cli.errors``); the HTTP API maps them to status codes in one place.
"""

from __future__ import annotations


class CronwellError(Exception):
    """Root of every error cronwell raises on purpose."""


class InvalidInputError(CronwellError):
    """Something handed to cronwell (a task, a schedule, a CLI argument) is not valid."""


class InvalidCronExpressionError(InvalidInputError):
    """A cron expression cannot be parsed; the message names the field and the value."""

    def __init__(self, expression: str, message: str, field: str | None = None) -> None:
        self.expression = expression
        self.field = field
        super().__init__(message)


class UnknownTimezoneError(InvalidInputError):
    """A time zone name is not in the IANA database; the message suggests close names."""

    def __init__(self, name: str, suggestions: list[str], *, where: str | None = None) -> None:
        self.name = name
        self.suggestions = suggestions
        self.where = where
        hint = f" Did you mean {', '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        prefix = f"{where}: " if where else ""
        super().__init__(f"{prefix}Unknown time zone {name!r}.{hint}")


class UnnamedTimezoneError(InvalidInputError):
    """A zone object without an IANA name (a fixed offset, a zone read from a file of its
    own): the message says what to pass instead."""


class InvalidScheduleError(InvalidInputError):
    """A schedule other than a cron expression is not valid (bad interval, naive datetime…)."""


class InvalidTaskError(InvalidInputError):
    """A task definition is not valid; the message lists each problem."""


class FunctionNotFoundError(InvalidInputError):
    """A Python action names a function that cannot be imported or is not registered."""


class ConfigError(CronwellError):
    """Settings or a tasks file are malformed."""


class ForbiddenError(CronwellError):
    """The caller may not do this (a shell task through the API without permission, a
    missing or wrong API token)."""


class UnauthorizedError(ForbiddenError):
    """No valid API token was given."""


class NotFoundError(CronwellError):
    """A task or run does not exist."""


class TaskNotFoundError(NotFoundError, KeyError):
    """No such task. Also a ``KeyError``, like APScheduler's ``JobLookupError``, so code
    written for APScheduler that catches it keeps working."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"No task with id {task_id!r}.")

    def __str__(self) -> str:
        return str(self.args[0])


class RunNotFoundError(NotFoundError):
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"No run with id {run_id}.")


class ConflictError(CronwellError):
    """The change conflicts with what is stored (an existing id, a stale version)."""


class TaskExistsError(ConflictError):
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(
            f"A different task with id {task_id!r} already exists; replace it with "
            "replace_existing=True (CLI: --replace) or choose another id."
        )


class StaleVersionError(ConflictError):
    """An update was based on a version of the task that is no longer the stored one."""

    def __init__(self, task_id: str, stored_version: int, sent_version: int) -> None:
        self.task_id = task_id
        self.stored_version = stored_version
        self.sent_version = sent_version
        super().__init__(
            f"Task {task_id!r} was changed by someone else (version {stored_version} is stored, "
            f"you sent {sent_version}); reload it and try again."
        )


class DatabaseUnavailableError(CronwellError):
    """The database cannot be reached or used; the message names it with the password hidden."""


class ServiceUnavailableError(CronwellError):
    """A running cronwell service (its HTTP API) cannot be reached or did not answer."""


class SchedulerStateError(CronwellError):
    """The scheduler was asked to do something its state does not allow (start twice…)."""


class MissingExtraError(CronwellError, ImportError):
    """An optional integration was used without the package it needs; the message names the
    extra to install (``pip install 'cronwell[django]'``)."""
