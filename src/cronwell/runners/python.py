"""The Python runner: calls a function named by a Python action.

Sync functions run in the calling thread (the dispatcher runs each run in a worker
thread). Async functions — coroutine functions, or any callable returning an awaitable —
run on the application's event loop when ``loop_provider()`` returns a running one, else on
a private event loop the runner starts in one background thread on first use.

The function gets the action's ``args`` and ``kwargs`` and, if it declares a parameter
named ``ctx``, the :class:`RunContext` (see :func:`call_arguments`).

Timeouts (DESIGN rule 7) are cooperative for Python: with a timeout, ``ctx.deadline`` is
set to ``start + timeout`` (or kept if the dispatcher set an earlier one).

* async: the task is cancelled at the timeout and the run ends ``timed_out``; the runner
  waits up to ``cancel_grace`` seconds for the coroutine to unwind, so that the output of
  its ``finally`` blocks is kept, but not longer.
* sync: a thread cannot be killed, so the runner waits for the function. A function that
  raises :class:`DeadlineExceeded` (from ``ctx.check()``) or returns after the deadline ends
  ``timed_out``; its return value or exception is still recorded.

``SystemExit`` raised by user code is a failure like any exception (in a coroutine too,
where it would otherwise stop the event loop). ``KeyboardInterrupt`` propagates to the
caller: in a worker thread only an explicit ``raise`` produces it, and in the main thread
(``cronwell run`` in a terminal) Ctrl-C must still stop the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import inspect
import threading
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from cronwell.clock import utc_now
from cronwell.domain.action import PythonAction
from cronwell.domain.run import RunStatus, summarize_return_value
from cronwell.errors import FunctionNotFoundError
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, one_line, timed_out_message
from cronwell.runners.capture import OutputBuffer, capture
from cronwell.runners.context import DeadlineExceeded, RunContext
from cronwell.runners.outcome import Outcome

Resolver = Callable[[str, str], Callable[..., Any]]
LoopProvider = Callable[[], asyncio.AbstractEventLoop | None]

# Frames of these files at the top of a traceback are the runner's, not the user's.
_INTERNAL_FILES = frozenset(
    {
        __file__,
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


def _default_resolver(task_id: str, ref: str) -> Callable[..., Any]:
    return resolve_function(ref)


_KEYWORD_ONLY = -1
_ctx_cache: weakref.WeakKeyDictionary[Any, int | None] = weakref.WeakKeyDictionary()
_ctx_cache_lock = threading.Lock()


def ctx_parameter(func: Callable[..., Any]) -> int | None:
    """Where ``func`` declares a parameter named ``ctx``: its index among the positional
    parameters, ``-1`` if it is keyword-only, ``None`` if there is none. Cached per
    function; ``functools.partial`` objects are inspected through."""
    try:
        with _ctx_cache_lock:
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


def format_traceback(exc: BaseException) -> str:
    """The exception's traceback without the runner's own frames at the top."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in _INTERNAL_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class _BackgroundLoop:
    """An event loop running forever in one daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(started,), name="cronwell-python-async", daemon=True
        )
        self._thread.start()
        started.wait()

    def _main(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(started.set)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()


class PythonRunner:
    """Runs Python actions. ``resolve(task_id, ref)`` finds the function (the dispatcher
    passes one that looks in its registry of in-process functions first; the default
    imports ``ref`` with :func:`resolve_function`). ``loop_provider`` returns the
    application's event loop, if it has one, for async functions. See the module docstring
    for how timeouts work."""

    def __init__(
        self,
        resolve: Resolver | None = None,
        *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        loop_provider: LoopProvider | None = None,
        cancel_grace: float = 1.0,
    ) -> None:
        self._resolve = resolve or _default_resolver
        self.output_limit = output_limit
        self._loop_provider = loop_provider
        self.cancel_grace = cancel_grace
        self._background: _BackgroundLoop | None = None
        self._lock = threading.Lock()

    def run(self, action: PythonAction, ctx: RunContext, *, timeout: float | None) -> Outcome:
        """Call the action's function; every failure is an :class:`Outcome`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if timeout is not None:
            wall_deadline = utc_now() + timedelta(seconds=timeout)
            if ctx.deadline is None or wall_deadline < ctx.deadline:
                ctx.deadline = wall_deadline
        buffer = OutputBuffer(self.output_limit)
        with capture(buffer):
            try:
                func = self._resolve(ctx.task_id, action.func)
            except FunctionNotFoundError as exc:
                return Outcome(RunStatus.FAILED, error=str(exc), output=buffer.getvalue())
            except Exception as exc:
                return Outcome(
                    RunStatus.FAILED,
                    error=f"cannot resolve {action.func!r}: {describe_exception(exc)}",
                    traceback=format_traceback(exc),
                    output=buffer.getvalue(),
                )
            args, kwargs = call_arguments(func, action.args, action.kwargs, ctx)
            awaited = False
            try:
                result = func(*args, **kwargs)
                if inspect.isawaitable(result):
                    awaited = True
                    result = self._await(result, buffer, deadline)
            except _AsyncTimeout:
                return Outcome(
                    RunStatus.TIMED_OUT,
                    error=timed_out_message(timeout or 0.0),
                    output=buffer.getvalue(),
                )
            except KeyboardInterrupt:
                raise
            except DeadlineExceeded as exc:
                return Outcome(
                    RunStatus.TIMED_OUT,
                    error=describe_exception(exc)
                    if timeout is None
                    else timed_out_message(timeout),
                    traceback=format_traceback(exc),
                    output=buffer.getvalue(),
                )
            except (Exception, SystemExit, concurrent.futures.CancelledError) as exc:
                # A sync function cannot be stopped at its deadline: one failing after it
                # counts as timed out, with the failure kept as detail.
                if timeout is not None and not awaited and _passed(deadline):
                    status = RunStatus.TIMED_OUT
                    error = f"{timed_out_message(timeout)} (then raised {describe_exception(exc)})"
                else:
                    status, error = RunStatus.FAILED, describe_exception(exc)
                return Outcome(
                    status, error=error, traceback=format_traceback(exc), output=buffer.getvalue()
                )
        if timeout is not None and not awaited and _passed(deadline):
            return Outcome(
                RunStatus.TIMED_OUT,
                error=timed_out_message(timeout),
                output=buffer.getvalue(),
                return_value=summarize_return_value(result),
            )
        return Outcome(
            RunStatus.SUCCEEDED,
            output=buffer.getvalue(),
            return_value=summarize_return_value(result),
        )

    def _await(
        self, awaitable: Awaitable[Any], buffer: OutputBuffer, deadline: float | None
    ) -> Any:
        """Run ``awaitable`` on the application's loop or the private one and wait for it;
        raises :class:`_AsyncTimeout` after cancelling it when ``deadline`` passes."""
        finished = threading.Event()
        loop = self._loop_for_call()
        future = asyncio.run_coroutine_threadsafe(_bound(awaitable, buffer, finished), loop)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return _result(future, remaining)
        except concurrent.futures.TimeoutError:
            if not future.cancel() and future.done():
                return _result(future, 0)  # it finished in the meantime
            # give the coroutine a moment to unwind so its cleanup output is kept
            finished.wait(self.cancel_grace)
            raise _AsyncTimeout from None

    def _loop_for_call(self) -> asyncio.AbstractEventLoop:
        if self._loop_provider is not None:
            loop = self._loop_provider()
            if loop is not None and loop.is_running() and not loop.is_closed():
                try:
                    calling_loop = asyncio.get_running_loop()
                except RuntimeError:
                    calling_loop = None
                # Waiting for a loop from its own thread would deadlock: use the private one.
                if calling_loop is not loop:
                    return loop
        with self._lock:
            if self._background is None or not self._background.alive:
                self._background = _BackgroundLoop()
            return self._background.loop

    def close(self) -> None:
        """Stop the private event loop, cancelling what still runs on it. The runner starts
        a new one if it is used again."""
        with self._lock:
            background, self._background = self._background, None
        if background is not None:
            background.stop()


class _AsyncTimeout(Exception):
    pass


class _Escaped(Exception):
    """Carries a ``SystemExit`` or ``KeyboardInterrupt`` out of a coroutine to the thread
    waiting for it."""

    def __init__(self, inner: BaseException) -> None:
        super().__init__(repr(inner))
        self.inner = inner


def _result(future: concurrent.futures.Future[Any], timeout: float | None) -> Any:
    try:
        return future.result(timeout=timeout)
    except _Escaped as escaped:
        raise escaped.inner from None


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


def _bound(
    awaitable: Awaitable[Any], buffer: OutputBuffer, finished: threading.Event
) -> Coroutine[Any, Any, Any]:
    async def run() -> Any:
        try:
            with capture(buffer):
                return await awaitable
        except (SystemExit, KeyboardInterrupt) as exc:
            # raised out of a task, these would stop the whole event loop
            raise _Escaped(exc) from exc
        finally:
            finished.set()

    return run()


__all__ = [
    "PythonRunner",
    "call_arguments",
    "ctx_parameter",
    "describe_exception",
    "format_traceback",
    "resolve_function",
    "wants_ctx",
]
