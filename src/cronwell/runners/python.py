"""The Python runner: calls a function named by a Python action.

With ``isolation="process"`` the function runs in a child process with a hard timeout and
can be cancelled: see :mod:`cronwell.runners.isolated`. The rest of this docstring is about
the default, ``isolation="thread"``.

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

``Outcome.exception_type`` names the class of the exception the function raised
(:func:`exception_type_name`), for ``Task.retry_on``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from cronwell.domain.action import PythonAction
from cronwell.domain.run import RunStatus, summarize_return_value
from cronwell.errors import FunctionNotFoundError
from cronwell.runners.base import DEFAULT_OUTPUT_LIMIT, limit_deadline, timed_out_message
from cronwell.runners.capture import OutputBuffer, capture
from cronwell.runners.context import DeadlineExceeded, RunContext
from cronwell.runners.functions import (
    call_arguments,
    describe_exception,
    exception_type_name,
    format_traceback,
    resolve_function,
)
from cronwell.runners.isolated import ChildProcessRunner
from cronwell.runners.outcome import Outcome

Resolver = Callable[[str, str], Callable[..., Any]]
LoopProvider = Callable[[], asyncio.AbstractEventLoop | None]


def _default_resolver(task_id: str, ref: str) -> Callable[..., Any]:
    return resolve_function(ref)


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
    """Runs Python actions. ``resolve(task_id, ref)`` finds the function of a thread-isolated
    action (the dispatcher passes one that looks in its registry of in-process functions
    first; the default imports ``ref`` with :func:`resolve_function`); a process-isolated
    action's function is always imported by reference in the child. ``loop_provider``
    returns the application's event loop, if it has one, for async functions.
    ``kill_grace``, ``executable`` and ``on_process`` are for child processes (see
    :class:`~cronwell.runners.isolated.ChildProcessRunner`). See the module docstring for
    how timeouts work."""

    def __init__(
        self,
        resolve: Resolver | None = None,
        *,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        loop_provider: LoopProvider | None = None,
        cancel_grace: float = 1.0,
        kill_grace: float = 5.0,
        executable: str | None = None,
        on_process: Callable[[int, int], None] | None = None,
    ) -> None:
        self._resolve = resolve or _default_resolver
        self.output_limit = output_limit
        self._loop_provider = loop_provider
        self.cancel_grace = cancel_grace
        self._background: _BackgroundLoop | None = None
        self._lock = threading.Lock()
        self._children = ChildProcessRunner(
            output_limit, kill_grace=kill_grace, executable=executable, on_process=on_process
        )

    def run(self, action: PythonAction, ctx: RunContext, *, timeout: float | None) -> Outcome:
        """Call the action's function; every failure is an :class:`Outcome`."""
        if action.isolation == "process":
            return self._children.run(action, ctx, timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        limit_deadline(ctx, timeout)
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
                    exception_type=exception_type_name(exc),
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
                    status,
                    error=error,
                    traceback=format_traceback(exc),
                    output=buffer.getvalue(),
                    exception_type=exception_type_name(exc),
                )
        if timeout is not None and not awaited and _passed(deadline):
            return Outcome(
                RunStatus.TIMED_OUT,
                error=timed_out_message(timeout),
                output=buffer.getvalue(),
                return_value=summarize_return_value(result),
            )
        ctx.keep_returned(result)
        return Outcome(
            RunStatus.SUCCEEDED,
            output=buffer.getvalue(),
            return_value=summarize_return_value(result),
        )

    def cancel(self, run_id: int) -> bool:
        """Stop a process-isolated run (see
        :meth:`~cronwell.runners.isolated.ChildProcessRunner.cancel`): it ends
        ``interrupted``. False if no child process of that run is running — a function
        running in a thread cannot be stopped."""
        return self._children.cancel(run_id)

    def running(self) -> list[int]:
        """Ids of the runs whose child process is running."""
        return self._children.running()

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
