"""Turning callables into stored references for Python actions."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

MAIN_PREFIX = "__main__:"


def function_reference(func: Callable[..., Any]) -> str:
    """``"package.module:qualified.name"`` for ``func``. Partials name their function;
    callable objects name their class. The reference is informational for closures and
    lambdas (other processes cannot import them; the registering process calls the object).

    A function of the program being run is ``__main__``'s, a name no other process can
    import; run as a module (``python -m package.module``) it is named by that module
    instead, which others can import. Run as a script (``python app.py``) it stays
    ``__main__:func`` (see :func:`is_main_reference`)."""
    target: Any = func
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None)
    if module is None or qualname is None:
        module, qualname = type(target).__module__, type(target).__qualname__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        name = getattr(spec, "name", None)
        if isinstance(name, str) and name and name != "__main__":
            module = name  # python -m package runs (importable) package.__main__
    return f"{module}:{qualname}"


def is_main_reference(ref: str) -> bool:
    """True for ``__main__:func``: a function only the process that stored it can call."""
    return ref.startswith(MAIN_PREFIX)


def display_name(func: Callable[..., Any]) -> str:
    """A short name for a task created from ``func`` without an id."""
    return (
        function_reference(func)
        .rsplit(":", 1)[-1]
        .replace("<locals>.", "")
        .replace("<", "")
        .replace(">", "")
    )
