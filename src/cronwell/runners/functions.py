"""Finding and calling the function of a Python action, and describing how it failed.

Shared by the thread path (:mod:`cronwell.runners.python`) and the child-process path
(:mod:`cronwell.runners.isolated`), so both inject ``ctx`` and report exceptions alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import threading
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from cronwell.errors import FunctionNotFoundError
from cronwell.runners.base import one_line
from cronwell.runners.context import RunContext

_HERE = Path(__file__).parent
# Frames of these files at the top of a traceback are the runner's, not the user's.
_INTERNAL_FILES = frozenset(
    {
        *(str(_HERE / name) for name in ("functions.py", "python.py", "isolated.py", "child.py")),
        concurrent.futures._base.__file__,
        *(str(p) for p in Path(asyncio.__file__).parent.glob("*.py")),
    }
)


def resolve_function(ref: str) -> Callable[..., Any]:
    """Import ``"package.module:attr.attr"`` and return the callable it names.

    Raises :class:`FunctionNotFoundError` with a sentence naming what failed: the module
    (``cannot import module 'x.y': No module named 'x'``), the attribute
    (``module 'x' has no attribute 'f'``) or the object (``'x:f' is not callable``).
    """
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise FunctionNotFoundError(
            f"{ref!r} is not a function reference of the form 'package.module:function'."
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # an ImportError, or anything the import raised
        reason = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
        raise FunctionNotFoundError(
            f"cannot import module {module_name!r}: {one_line(reason)}"
        ) from exc
    path = module_name
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FunctionNotFoundError(
                f"module {module_name!r} has no attribute {part!r}"
                if path == module_name
                else f"{path!r} has no attribute {part!r} (looking up {ref!r})"
            ) from None
        path = f"{path}.{part}" if path != module_name else f"{module_name}:{part}"
    if not callable(obj):
        raise FunctionNotFoundError(f"{ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


_KEYWORD_ONLY = -1
_ctx_cache: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()
_ctx_cache_lock = threading.Lock()


def ctx_parameter(func: Callable[..., Any]) -> int | None:
    """Where ``func`` declares a parameter named ``ctx``: its index among the positional
    parameters, ``-1`` if it is keyword-only, ``None`` if there is none. Cached per
    function; ``functools.partial`` objects are inspected through."""
    try:  # a look-up is one dict operation; only writes take the lock
        return _ctx_cache[func]
    except (KeyError, TypeError):
        pass
    answer: int | None = None
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        params = []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for index, param in enumerate(params):
        if param.name == "ctx" and param.kind in positional:
            answer = index
        elif param.name == "ctx" and param.kind is inspect.Parameter.KEYWORD_ONLY:
            answer = _KEYWORD_ONLY
    try:
        with _ctx_cache_lock:
            _ctx_cache[func] = answer
    except TypeError:  # not weak-referenceable or not hashable: don't cache
        pass
    return answer


def wants_ctx(func: Callable[..., Any]) -> bool:
    """Whether ``func`` declares a parameter named ``ctx``."""
    return ctx_parameter(func) is not None


def call_arguments(
    func: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], ctx: RunContext
) -> tuple[list[Any], dict[str, Any]]:
    """The arguments to call ``func`` with: the action's, plus ``ctx`` where ``func``
    declares it. A positional ``ctx`` takes its own slot and the action's positional
    arguments fill the other parameters in order (``def job(ctx, label)`` with
    ``args=["x"]`` gets ``label="x"``); when fewer arguments come before it, or it is
    keyword-only, ``ctx`` is passed by keyword. An explicit ``ctx`` in ``kwargs`` wins."""
    index = ctx_parameter(func)
    if index is None or "ctx" in kwargs:
        return list(args), dict(kwargs)
    if index != _KEYWORD_ONLY and len(args) >= index:
        return [*args[:index], ctx, *args[index:]], dict(kwargs)
    return list(args), {**kwargs, "ctx": ctx}


def describe_exception(exc: BaseException) -> str:
    """``"ValueError: boom"`` — one line."""
    message = one_line(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def exception_type_name(exc: BaseException) -> str:
    """The qualified name of the exception's class: ``module.QualName``, or just the name
    for builtins (``"ValueError"``, ``"requests.exceptions.ConnectionError"``). What
    ``Task.retry_on`` is matched against."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def format_traceback(exc: BaseException) -> str:
    """The exception's traceback without the runner's own frames at the top."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _INTERNAL_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


__all__ = [
    "call_arguments",
    "ctx_parameter",
    "describe_exception",
    "exception_type_name",
    "format_traceback",
    "resolve_function",
    "wants_ctx",
]
