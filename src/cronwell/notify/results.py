"""Task results delivered to their destinations (``Task.deliver``), and the messages
application code sends with ``Cronwell.notify``.

Once a run's row is stored ``succeeded``, each of its results (what the action returned or
passed to ``ctx.deliver``; a shell or HTTP action's output) is rendered in each target's
format and queued on a :class:`~cronwell.notify.delivery.Notifier` of its own, so results
never wait behind alerts nor count as alerts. Network targets go through Apprise (any
schema, those an application registers too); ``file:///`` targets are written atomically.
Each delivery is a row of the notifications log (event ``result``, redacted target,
attempts); one given up on after its retries is reported to ``on_failed``, which alerts
as a failed run does. A delivery never changes its run.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from cronwell.domain.action import PythonAction
from cronwell.domain.alerts import Alert, AlertEvent, Severity
from cronwell.domain.delivery import EXTENSIONS, DeliveryRecord, Result
from cronwell.domain.events import RunFinished, RunsRecorded
from cronwell.domain.run import Run, RunStatus
from cronwell.domain.task import Task
from cronwell.notify.delivery import Notifier
from cronwell.notify.message import Rendered, fenced

FailedDelivery = Callable[[Task, Run, DeliveryRecord], None]
_TAG = re.compile(r"<[A-Za-z][^>]*>")


class ResultDelivery:
    """Delivers the results of successful runs, and application messages, through
    ``notifier``; ``on_failed(task, run, record)`` hears of each result given up on."""

    def __init__(self, notifier: Notifier, on_failed: FailedDelivery | None = None) -> None:
        self.notifier = notifier
        self._on_failed = on_failed

    def start(self) -> None:
        self.notifier.start()

    def flush(self, timeout: float = 5.0) -> bool:
        return self.notifier.flush(timeout)

    def close(self) -> None:
        self.notifier.close()

    # -- results --------------------------------------------------------------------------

    def on_finished(self, finished: RunFinished) -> None:
        """Queue the results of one stored run, if it succeeded and its task delivers.
        Called on the dispatcher's writer thread: it only renders and queues."""
        task, run = finished.task, finished.run
        if task is None or not task.deliver or run.status is not RunStatus.SUCCEEDED:
            return
        results = finished.results or _output_of(task, run)
        on_failed = None
        if self._on_failed is not None:
            listener = self._on_failed

            def on_failed(record: DeliveryRecord) -> None:
                listener(task, run, record)

        for index, result in enumerate(results, start=1):
            title = result.title or default_title(task, run)
            envelope = Alert(
                event=AlertEvent.RESULT,
                title=title,
                task_id=task.id,
                task_name=task.name,
                run_id=run.id,
            )
            for target in task.deliver:
                rendered = Rendered(
                    title=title,
                    body=render_value(result.value, target.format),
                    notify_type="info",
                    body_format=target.format,
                    file_name=file_name(task, run, target.format, index),
                )
                self.notifier.deliver(envelope, rendered, [target.to], on_failed)

    def on_recorded(self, grid: RunsRecorded) -> None:
        """Rows recorded in a batch (missed, skipped) ran nothing: nothing to deliver."""

    # -- messages ---------------------------------------------------------------------------

    def message(
        self,
        targets: Sequence[str],
        title: str,
        body: str,
        *,
        level: Severity = "info",
        body_format: str = "markdown",
    ) -> None:
        """Queue a message from application code for ``targets`` (channel names or Apprise
        URLs); logged as event ``message``."""
        rendered = Rendered(
            title=title, body=body or title, notify_type=level, body_format=body_format
        )
        envelope = Alert(event=AlertEvent.MESSAGE, title=title)
        self.notifier.deliver(envelope, rendered, targets)


def _output_of(task: Task, run: Run) -> list[Result]:
    """A shell or HTTP action's result: its output, when it printed anything."""
    if isinstance(task.action, PythonAction) or not (run.output or "").strip():
        return []
    return [Result(run.output)]


def default_title(task: Task, run: Run) -> str:
    """``task name — 2026-01-15 09:00`` (the occurrence in the task's zone)."""
    when = run.scheduled_for.astimezone(task.tz)
    return f"{task.name} — {when:%Y-%m-%d %H:%M}"


def file_name(task: Task, run: Run, format_name: str, index: int = 1) -> str:
    """The file one run's result gets in a ``file:///`` folder:
    ``<task id>-<occurrence, UTC>.<ext>`` (``-2``, ``-3``… for a run's further results);
    the occurrence's microseconds appear only when it has some."""
    when = run.scheduled_for.astimezone(UTC)
    stamp = when.strftime("%Y%m%dT%H%M%S")
    if when.microsecond:
        stamp += f".{when.microsecond:06d}"
    suffix = f"-{index}" if index > 1 else ""
    return f"{task.id}-{stamp}Z{suffix}.{EXTENSIONS[format_name]}"


def render_value(value: Any, format_name: str) -> str:
    """``value`` as the body of a delivery in ``format_name``:

    * ``json``: a JSON document (a string that already is one is kept as it is);
    * ``markdown`` and ``text``: a string as it is, anything else as indented JSON (in a
      fenced block for Markdown);
    * ``html``: a string with HTML tags as it is, other text read as Markdown and turned
      into HTML; anything else as JSON in ``<pre>``.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if format_name == "json":
        if isinstance(value, str) and _is_json(value):
            return value
        return _json(value)
    if isinstance(value, str):
        if format_name == "html" and not _TAG.search(value):
            return _markdown_to_html(value)
        return value
    text = _json(value)
    if format_name == "markdown":
        return fenced(text, "json")
    if format_name == "html":
        return f"<pre>{html.escape(text)}</pre>"
    return text


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _markdown_to_html(text: str) -> str:
    from apprise import NotifyFormat  # only a process that delivers HTML loads it
    from apprise.conversion import convert_between

    convert: Any = convert_between  # untyped
    return str(convert(NotifyFormat.MARKDOWN, NotifyFormat.HTML, text))
