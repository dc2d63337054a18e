"""Turning callables into stored references for Python actions."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def function_reference(func: Callable[..., Any]) -> str:
    """``"package.module:qualified.name"`` for ``func``. Partials name their function;
    callable objects name their class. The reference is informational for closures and
    lambdas (other processes cannot import them; the registering process calls the object)."""
    target: Any = func
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if module is None or qualname is None:
        module, qualname = type(target).__module__, type(target).__qualname__
    return f"{module}:{qualname}"


def display_name(func: Callable[..., Any]) -> str:
    """A short name for a task created from ``func`` without an id."""
    return (
        function_reference(func)
        .rsplit(":", 1)[-1]
        .replace("<locals>.", "")
        .replace("<", "")
        .replace(">", "")
    )
