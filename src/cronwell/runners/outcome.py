"""What a runner returns: how one run of an action ended."""

from __future__ import annotations

from dataclasses import dataclass

from cronwell.domain.run import RunStatus


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a run ended. ``status`` is ``SUCCEEDED``, ``FAILED`` or ``TIMED_OUT``, or
    ``INTERRUPTED`` for a run stopped by ``cancel(run_id)``.

    ``error`` is one line (``"ValueError: boom"``, ``"exit code 3"``,
    ``"HTTP 503 Service Unavailable (expected 2xx)"``, ``"timed out after 2s"``).
    ``output`` is at most the runner's ``output_limit`` bytes (UTF-8) of what the action
    printed or logged, prefixed with ``"…[N bytes truncated]\\n"`` when older output was
    dropped. ``return_value`` is a short text form of what the action returned.
    ``exception_type`` names the class of the exception a Python action raised
    (``"ValueError"`` for builtins, else ``"module.QualName"``, as ``Task.retry_on`` is
    matched); None when it raised none, for shell and HTTP actions, and when the function
    could not be found.
    """

    status: RunStatus
    error: str | None = None
    traceback: str | None = None
    output: str = ""
    return_value: str | None = None
    exception_type: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED
