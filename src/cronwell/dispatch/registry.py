"""Functions registered in this process, found by task id before any import.

A task created from a callable (``@cw.task``, ``add_job(func)``) stores an importable
reference for other processes to read, but the process that registered it keeps the object
itself here: closures, lambdas and ``functools.partial`` objects work where they were made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class FunctionRegistry:
    """Map of task id to callable, safe across threads: a look-up is one dict operation,
    which is atomic, and every run looks its function up here without a lock; changes and
    :meth:`references` (read by the API's allow-list) take one."""

    def __init__(self) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}
        self._references: dict[str, str] = {}
        self._lock = threading.Lock()

    def register(
        self, task_id: str, func: Callable[..., Any], reference: str | None = None
    ) -> None:
        """Call ``func`` for ``task_id``; ``reference`` is the ``pkg.mod:func`` stored for
        it, which the API then accepts as a registered function."""
        with self._lock:
            self._functions[task_id] = func
            if reference is None:
                self._references.pop(task_id, None)
            else:
                self._references[task_id] = reference

    def unregister(self, task_id: str) -> None:
        with self._lock:
            self._functions.pop(task_id, None)
            self._references.pop(task_id, None)

    def get(self, task_id: str) -> Callable[..., Any] | None:
        return self._functions.get(task_id)

    def reference(self, task_id: str) -> str | None:
        return self._references.get(task_id)

    def references(self) -> frozenset[str]:
        """The stored references of every registered function."""
        with self._lock:
            return frozenset(self._references.values())

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._functions
