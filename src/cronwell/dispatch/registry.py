"""Functions registered in this process, found by task id before any import.

A task created from a callable (``@cw.task``, ``add_job(func)``) stores an importable
reference for other processes to read, but the process that registered it keeps the object
itself here: closures, lambdas and ``functools.partial`` objects work where they were made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FunctionRegistry:
    """Map of task id to callable, safe across threads without a lock: each operation is
    one dict operation, which is atomic, and every run looks its function up here."""

    def __init__(self) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}

    def register(self, task_id: str, func: Callable[..., Any]) -> None:
        self._functions[task_id] = func

    def unregister(self, task_id: str) -> None:
        self._functions.pop(task_id, None)

    def get(self, task_id: str) -> Callable[..., Any] | None:
        return self._functions.get(task_id)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._functions
