"""Per-run output capture: ``print()`` output and log records of code running in a run.

:func:`install` (process-wide, idempotent) replaces ``sys.stdout`` and ``sys.stderr`` with
proxies and adds a logging handler. Both look at a :class:`contextvars.ContextVar`: inside
``with capture(buffer):`` what the current thread — or asyncio task — writes goes into
``buffer``; everywhere else it passes through to the original stream untouched. Threads
have their own context, so two runs in two threads never mix their output; asyncio tasks
copy the context of the code that created them, so tasks a captured coroutine starts are
captured too.

Not captured: writes to the underlying binary stream (``sys.stdout.buffer``) or straight to
file descriptors 1 and 2, output of threads the action starts itself (plain threads start
with an empty context; ``asyncio.to_thread`` copies it and is captured), and records below
the level of the logger that emits them. Task loggers (``cronwell.task.*``) are set to INFO
at install time unless a level was configured for them.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO, cast

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TASK_LOGGER = "cronwell.task"

_bound: ContextVar[OutputBuffer | None] = ContextVar("cronwell_output_buffer", default=None)
_install_lock = threading.Lock()


class OutputBuffer:
    """Keeps the last ``limit`` bytes written to it and counts the bytes it dropped.

    Text is stored UTF-8 encoded, in a deque of chunks trimmed from the left as it grows, so
    a write costs O(its length) whatever has been written before. Thread-safe.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("OutputBuffer limit must be at least 1 byte")
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()
        # the last log record written here: a record reaching the capture handler through
        # two loggers (a task logger and the root logger) is written once
        self.last_record: logging.LogRecord | None = None

    @property
    def dropped(self) -> int:
        """Bytes written but no longer kept."""
        return self._dropped

    @property
    def size(self) -> int:
        """Bytes kept (at most ``limit``)."""
        return self._size

    def write(self, text: str) -> int:
        """Append text; returns its length in characters, like a text stream."""
        self.write_bytes(text.encode("utf-8", "backslashreplace"))
        return len(text)

    def write_bytes(self, data: bytes) -> None:
        """Append raw bytes (decoded as UTF-8, with replacement, when read)."""
        if not data:
            return
        with self._lock:
            if len(data) >= self.limit:
                # nothing kept so far survives: keep only the tail of this chunk
                self._dropped += self._size + len(data) - self.limit
                self._chunks.clear()
                self._chunks.append(data[-self.limit :])
                self._size = self.limit
            else:
                self._chunks.append(data)
                self._size += len(data)
            self._trim()

    def _trim(self) -> None:
        excess = self._size - self.limit
        while excess > 0:
            first = self._chunks[0]
            if len(first) <= excess:
                self._chunks.popleft()
                self._size -= len(first)
                self._dropped += len(first)
                excess -= len(first)
            else:
                self._chunks[0] = first[excess:]
                self._size -= excess
                self._dropped += excess
                excess = 0
        # never start in the middle of a UTF-8 sequence: drop its continuation bytes too
        if self._dropped and self._chunks:
            first = self._chunks[0]
            skip = 0
            while skip < len(first) and skip < 3 and 0x80 <= first[skip] < 0xC0:
                skip += 1
            if skip:
                self._chunks[0] = first[skip:]
                self._size -= skip
                self._dropped += skip
                if not self._chunks[0]:
                    self._chunks.popleft()

    def getvalue(self) -> str:
        """What is kept, decoded, prefixed with ``"…[N bytes truncated]\\n"`` when ``N``
        older bytes were dropped."""
        with self._lock:
            data = b"".join(self._chunks)
            dropped = self._dropped
        text = data.decode("utf-8", "replace")
        return f"…[{dropped} bytes truncated]\n{text}" if dropped else text

    def __str__(self) -> str:
        return self.getvalue()


class _StreamProxy:
    """Stands in for ``sys.stdout``/``sys.stderr``: writes go to the buffer bound to the
    current context, or to the original stream when none is bound."""

    def __init__(self, original: TextIO) -> None:
        self._cronwell_original = original

    @property
    def original(self) -> TextIO:
        return self._cronwell_original

    def write(self, text: str) -> int:
        buffer = _bound.get()
        if buffer is None:
            return self._cronwell_original.write(text)
        return buffer.write(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _bound.get() is None:
            self._cronwell_original.flush()

    def isatty(self) -> bool:
        return _bound.get() is None and self._cronwell_original.isatty()

    def __getattr__(self, name: str) -> Any:
        # everything else (encoding, fileno, buffer, …) is the original stream's
        return getattr(self._cronwell_original, name)


class _CaptureHandler(logging.Handler):
    """Appends formatted records to the buffer bound to the current context."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _bound.get()
        if buffer is None or buffer.last_record is record:
            return
        buffer.last_record = record
        try:
            buffer.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


_handler = _CaptureHandler()
_task_logger = logging.getLogger(TASK_LOGGER)


def install() -> None:
    """Set up capture for the whole process. Idempotent and cheap: runners call it before
    each run, which also repairs it when something (a test harness, ``logging.basicConfig
    (force=True)``) replaced the streams or the root handlers in between."""
    if _installed():
        return  # the usual case, checked without the lock every worker thread would share
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _StreamProxy):
                setattr(sys, name, cast(TextIO, _StreamProxy(stream)))
        # The task loggers get the handler too because the service's logging set-up stops
        # "cronwell" records from propagating to the root logger.
        task_logger = logging.getLogger(TASK_LOGGER)
        for logger in (logging.getLogger(), task_logger):
            if _handler not in logger.handlers:
                logger.addHandler(_handler)
        if task_logger.level == logging.NOTSET:
            task_logger.setLevel(logging.INFO)


def _installed() -> bool:
    # Loggers are process-wide singletons: looked up once, not through logging's lock.
    # Checked before every run: no generator or tuple, which would cost more than the checks.
    stdout, stderr = sys.stdout, sys.stderr
    return (
        (stdout is None or isinstance(stdout, _StreamProxy))
        and (stderr is None or isinstance(stderr, _StreamProxy))
        and _handler in logging.root.handlers
        and _handler in _task_logger.handlers
        and _task_logger.level != logging.NOTSET
    )


def uninstall() -> None:
    """Undo :func:`install` (for tests and embedding applications that want their streams
    back)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if isinstance(stream, _StreamProxy):
                setattr(sys, name, stream.original)
        for logger in (logging.getLogger(), logging.getLogger(TASK_LOGGER)):
            logger.removeHandler(_handler)


def current_buffer() -> OutputBuffer | None:
    """The buffer bound to the current thread or asyncio task, if any."""
    return _bound.get()


@contextmanager
def capture(buffer: OutputBuffer) -> Iterator[OutputBuffer]:
    """Send this thread's (or asyncio task's) ``print()`` output and log records to
    ``buffer`` for the duration of the block. Installs capture if needed."""
    install()
    token = _bound.set(buffer)
    try:
        yield buffer
    finally:
        _bound.reset(token)
