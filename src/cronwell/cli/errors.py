"""CLI exit codes for cronwell's errors, in one place (DESIGN rule 11)."""

from __future__ import annotations

from cronwell.errors import (
    ConfigError,
    ConflictError,
    CronwellError,
    DatabaseUnavailableError,
    InvalidInputError,
    NotFoundError,
    SchedulerStateError,
    ServiceUnavailableError,
    UnauthorizedError,
)

EXIT_OK = 0
EXIT_RUN_FAILED = 1  # a run started from the CLI did not succeed
EXIT_USAGE = 2  # also what Click uses for bad options
EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT

_EXIT_CODES: tuple[tuple[type[CronwellError], int], ...] = (
    (InvalidInputError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (DatabaseUnavailableError, 5),
    (ConfigError, 6),
    (SchedulerStateError, 7),
    (ServiceUnavailableError, 5),
    (UnauthorizedError, 8),
)


def exit_code(error: CronwellError) -> int:
    """The process exit code for ``error`` (1 for anything not listed)."""
    for cls, code in _EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1
